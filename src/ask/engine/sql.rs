//! Rendering: identifiers, literals, join paths along foreign keys, and the SELECT text.
use super::Schema;
use std::collections::{HashMap, VecDeque};

pub use crate::sqlparse::ident;

pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// One step of a join path: through foreign key `fk`, from table `from` to table `to`.
/// `fans_out` when it goes from the referenced table to the referencing one (1 → n).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub fk: usize,
    pub from: usize,
    pub to: usize,
    pub fans_out: bool,
}

/// The shortest foreign-key path from any table in `starts` to `to` (breadth first, foreign
/// keys in catalog order, self-references skipped). `None` when they are not connected.
pub fn path(s: &Schema, starts: &[usize], to: usize) -> Option<Vec<Step>> {
    path_preferring(s, starts, to, &[])
}

/// [`path`], trying the foreign keys in `prefer` before the others: of two keys between the
/// same tables (a plant's flower and leaf colours), the one the question names.
pub fn path_preferring(
    s: &Schema,
    starts: &[usize],
    to: usize,
    prefer: &[usize],
) -> Option<Vec<Step>> {
    if starts.contains(&to) {
        return Some(Vec::new());
    }
    let mut prev: HashMap<usize, Step> = HashMap::new();
    let mut queue: VecDeque<usize> = starts.iter().copied().collect();
    let mut seen: Vec<bool> = vec![false; s.tables.len()];
    for &t in starts {
        seen[t] = true;
    }
    let n = s.fks.len();
    while let Some(t) = queue.pop_front() {
        let order = prefer
            .iter()
            .copied()
            .filter(|&i| i < n)
            .chain((0..n).filter(|i| !prefer.contains(i)));
        for i in order {
            let fk = &s.fks[i];
            if fk.from == fk.to {
                continue;
            }
            let next = if fk.from == t {
                Some((fk.to, false))
            } else if fk.to == t {
                Some((fk.from, true))
            } else {
                None
            };
            if let Some((n, fans_out)) = next {
                if seen[n] {
                    continue;
                }
                seen[n] = true;
                prev.insert(
                    n,
                    Step {
                        fk: i,
                        from: t,
                        to: n,
                        fans_out,
                    },
                );
                if n == to {
                    let mut steps = vec![prev[&n]];
                    let mut cur = t;
                    while !starts.contains(&cur) {
                        let st = prev[&cur];
                        steps.push(st);
                        cur = st.from;
                    }
                    steps.reverse();
                    return Some(steps);
                }
                queue.push_back(n);
            }
        }
    }
    None
}

/// How many shortest paths of tables lead from `a` to `b` (two foreign keys between the
/// same two tables make one step), counted up to 2: with 2, which of them the question means
/// is not decided by the schema (atoms to bonds through their molecule, or through the table
/// of the atoms each bond connects).
pub fn routes(s: &Schema, a: usize, b: usize) -> usize {
    let n = s.tables.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for fk in s.fks.iter().filter(|fk| fk.from != fk.to) {
        for (x, y) in [(fk.from, fk.to), (fk.to, fk.from)] {
            if !next[x].contains(&y) {
                next[x].push(y);
            }
        }
    }
    let mut dist: Vec<Option<usize>> = vec![None; n];
    let mut ways: Vec<usize> = vec![0; n];
    dist[a] = Some(0);
    ways[a] = 1;
    let mut queue: VecDeque<usize> = VecDeque::from([a]);
    while let Some(t) = queue.pop_front() {
        let d = dist[t].unwrap_or(0);
        for &u in &next[t] {
            match dist[u] {
                None => {
                    dist[u] = Some(d + 1);
                    ways[u] = ways[t];
                    queue.push_back(u);
                }
                Some(du) if du == d + 1 => ways[u] = (ways[u] + ways[t]).min(2),
                _ => {}
            }
        }
    }
    ways[b]
}

/// Tables of a query with their aliases and the joins that bring them in.
#[derive(Debug, Clone)]
pub struct From {
    pub root: usize,
    pub tables: Vec<usize>,
    pub aliases: Vec<String>,
    pub joins: Vec<(Step, bool)>,
    pub fans_out: bool,
    /// Foreign keys to follow first (see [`path_preferring`]).
    pub prefer: Vec<usize>,
}

impl From {
    pub fn new(s: &Schema, root: usize) -> From {
        From {
            root,
            tables: vec![root],
            aliases: vec![alias(&s.tables[root].name, &[])],
            joins: Vec::new(),
            fans_out: false,
            prefer: Vec::new(),
        }
    }

    pub fn alias_of(&self, t: usize) -> &str {
        let i = self.tables.iter().position(|x| *x == t).unwrap_or(0);
        &self.aliases[i]
    }

    pub fn has(&self, t: usize) -> bool {
        self.tables.contains(&t)
    }

    /// Joins `t` in along the shortest path from the tables already there; `outer` makes the
    /// new joins LEFT JOINs. False when `t` cannot be reached.
    pub fn add(&mut self, s: &Schema, t: usize, outer: bool) -> bool {
        let Some(steps) = path_preferring(s, &self.tables, t, &self.prefer) else {
            return false;
        };
        for st in steps {
            let a = alias(&s.tables[st.to].name, &self.aliases);
            self.tables.push(st.to);
            self.aliases.push(a);
            self.fans_out |= st.fans_out;
            self.joins.push((st, outer));
        }
        true
    }

    /// The FROM clause text.
    pub fn render(&self, s: &Schema) -> String {
        let q = |t: usize| {
            let tb = &s.tables[t];
            format!(
                "{}.{} {}",
                ident(&tb.schema),
                ident(&tb.name),
                self.alias_of(t)
            )
        };
        let mut out = q(self.root);
        for (st, outer) in &self.joins {
            let fk = &s.fks[st.fk];
            let on: Vec<String> = fk
                .from_columns
                .iter()
                .zip(&fk.to_columns)
                .map(|(fc, tc)| {
                    format!(
                        "{}.{} = {}.{}",
                        self.alias_of(fk.to),
                        ident(tc),
                        self.alias_of(fk.from),
                        ident(fc)
                    )
                })
                .collect();
            out.push_str(&format!(
                "\n  {} {} ON {}",
                if *outer { "LEFT JOIN" } else { "JOIN" },
                q(st.to),
                on.join(" AND ")
            ));
        }
        out
    }
}

/// A short alias from the initials of a table's words (`invoice_line` → `il`), unique
/// among `taken`.
pub fn alias(table: &str, taken: &[String]) -> String {
    let initials: String = crate::catalog::text::words(table)
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    let base = if initials.is_empty() {
        "t".to_string()
    } else {
        initials
    };
    // an alias that would need quotes (a reserved word such as `as`, `do`) gets a suffix
    let base = if ident(&base) != base {
        format!("{base}_")
    } else {
        base
    };
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}{i}"))
        .find(|a| !taken.contains(a))
        .unwrap_or(base)
}
