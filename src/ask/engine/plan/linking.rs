//! Stage 3, linking: phrases to stored values, words to tables and columns (names split into
//! words, comments and descriptions of the catalog), and the columns a class or a table implies.
use super::*;

impl Analysis<'_> {
    /// Phrases equal to stored values become equality conditions.
    pub(super) fn values(&mut self, values: &[ValueHit]) {
        let n = self.toks.len();
        for len in (1..=4).rev() {
            for i in 0..n.saturating_sub(len - 1) {
                if self.used[i..i + len].iter().any(|u| *u) {
                    continue;
                }
                let span = &self.toks[i..i + len];
                if len > 1 && span.iter().any(|t| t.quoted) {
                    continue;
                }
                let quoted = span[0].quoted;
                let capital = span.iter().any(|t| t.capitalised()) && i > 0;
                let phrase = span
                    .iter()
                    .map(|t| t.lower.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let singular = words::singular_phrase(&phrase).filter(|_| !quoted);
                let exact = values.iter().any(|v| v.phrase == phrase);
                // "the Package Options of …" over package_option: the column's name, not its
                // value 'Option'
                let own_name = |v: &ValueHit| {
                    let words = col_stems(&self.s.tables[v.table].columns[v.column].name);
                    !quoted
                        && len == 1
                        && i > 0
                        && words.contains(&span[0].stem)
                        && words.contains(&self.toks[i - 1].stem)
                };
                let hits: Vec<&ValueHit> = values
                    .iter()
                    .filter(|v| {
                        v.phrase == phrase || (!exact && singular.as_ref() == Some(&v.phrase))
                    })
                    .filter(|v| !own_name(v))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                // a plain lower-case word that names a table or column is that, not a value
                let names_schema =
                    !quoted && !capital && len == 1 && self.schema_word(&span[0].stem);
                if names_schema || (!quoted && span.iter().all(|t| is_function_word(&t.lower))) {
                    continue;
                }
                // the strongest: quoted or capitalised, a category, in a table the question names
                let mentioned = |t: usize| {
                    let parts = name_stems(&self.s.tables[t].name);
                    self.toks.iter().any(|tok| {
                        parts.contains(&tok.stem)
                            || synonyms(&tok.stem).iter().any(|s| parts.contains(&stem(s)))
                    })
                };
                let score = |v: &ValueHit| -> f64 {
                    let col = &self.s.tables[v.table].columns[v.column];
                    let col_named = col_stems(&col.name)
                        .iter()
                        .any(|c| self.toks.iter().any(|t| &t.stem == c));
                    // "the album 'Let There Be Rock'": the word just before names the table
                    let before = (0..i).rev().find(|&k| {
                        !["the", "a", "an", "named", "called", "titled"]
                            .contains(&self.toks[k].lower.as_str())
                    });
                    let adjacent = before.is_some_and(|k| {
                        let st = &self.toks[k].stem;
                        name_stems(&self.s.tables[v.table].name).contains(st)
                            || col_stems(&col.name).contains(st)
                    });
                    (if mentioned(v.table) { 2.0 } else { 0.0 })
                        + if col_named { 1.0 } else { 0.0 }
                        + if v.categorical { 1.0 } else { 0.0 }
                        + if adjacent { 3.0 } else { 0.0 }
                };
                let best = hits.iter().map(|v| score(v)).fold(f64::MIN, f64::max);
                if !quoted && !capital && best < 1.0 {
                    continue;
                }
                let mut alts: Vec<Col> = Vec::new();
                let mut value = String::new();
                for v in hits.iter().filter(|v| score(v) >= best) {
                    if !alts.contains(&(v.table, v.column)) {
                        alts.push((v.table, v.column));
                        value = v.value.clone();
                    }
                }
                self.conds.push(Cond::Eq {
                    pos: i,
                    alts,
                    value,
                });
                self.take(i, len);
            }
        }
    }

    pub(super) fn schema_word(&self, st: &str) -> bool {
        self.s.tables.iter().any(|t| {
            name_stems(&t.name).iter().any(|p| p == st)
                || t.columns
                    .iter()
                    .any(|c| col_stems(&c.name).iter().any(|p| p == st))
        })
    }

    /// Tables and columns named by the free words, longest phrases first.
    pub(super) fn find_mentions(&mut self) {
        let n = self.toks.len();
        for len in (1..=3).rev() {
            for i in 0..n.saturating_sub(len - 1) {
                if self.used[i..i + len].iter().any(|u| *u)
                    || self.toks[i..i + len].iter().any(|t| t.quoted)
                {
                    continue;
                }
                let stems: Vec<String> = self.toks[i..i + len]
                    .iter()
                    .map(|t| t.stem.clone())
                    .collect();
                if let Some(target) = self.link(&stems) {
                    self.mentions.push(Mention {
                        start: i,
                        len,
                        target,
                    });
                    self.take(i, len);
                }
            }
        }
        self.mentions.sort_by_key(|m| m.start);
    }

    pub(super) fn link(&self, stems: &[String]) -> Option<Target> {
        let variants: Vec<Vec<String>> = if stems.len() == 1 {
            let mut v: Vec<Vec<String>> = synonyms(&stems[0])
                .into_iter()
                .map(|w| vec![stem(w)])
                .collect();
            // "diagnoses", "analyses": the plural of a word in -sis
            if let Some(base) = stems[0].strip_suffix("se").filter(|b| b.len() >= 3) {
                v.push(vec![format!("{base}sis")]);
            }
            v
        } else {
            vec![stems.to_vec()]
        };
        // a table by its name
        for v in &variants {
            let exact: Vec<usize> = (0..self.s.tables.len())
                .filter(|&t| &name_stems(&self.s.tables[t].name) == v)
                .collect();
            if let Some(&t) = exact.iter().max_by(|a, b| {
                self.s.tables[**a]
                    .similarity
                    .total_cmp(&self.s.tables[**b].similarity)
            }) {
                return Some(Target::Table(t));
            }
        }
        // a column by its name, whole or in part
        let generic = [
            "id", "date", "name", "code", "at", "on", "is", "no", "num", "type", "number",
        ];
        let mut cols: Vec<(Col, f64)> = Vec::new();
        for (ti, t) in self.s.tables.iter().enumerate() {
            let tparts = name_stems(&t.name);
            // a taught expression is named by its word only (stage 0)
            for (ci, c) in t
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.expr.is_none())
            {
                let parts = col_stems(&c.name);
                let without_table: Vec<String> = strip_prefix(&parts, &tparts);
                for (vi, v) in variants.iter().enumerate() {
                    let syn = if vi == 0 { 0.0 } else { 0.1 };
                    let q = if &parts == v || &without_table == v {
                        1.0
                    } else if v.len() == 1
                        && parts.len() > 1
                        && parts.last() == Some(&v[0])
                        && !c.pk
                    {
                        0.7
                    } else if v.len() == 1
                        && parts.len() > 1
                        && !generic.contains(&v[0].as_str())
                        && parts.contains(&v[0])
                        && !c.pk
                    {
                        0.6
                    } else {
                        continue;
                    };
                    if parts.last().map(String::as_str) == Some("id")
                        && !v.iter().any(|x| x == "id")
                    {
                        continue;
                    }
                    cols.push(((ti, ci), q - syn));
                    break;
                }
            }
        }
        if !cols.is_empty() {
            return Some(Target::Columns(cols));
        }
        // a table through its comment or description
        if stems.len() == 1 && !is_function_word(&stems[0]) && stems[0].len() > 2 {
            let hits: Vec<usize> = (0..self.s.tables.len())
                .filter(|&t| {
                    crate::catalog::search::tokens(&self.s.tables[t].notes).contains(&stems[0])
                })
                .collect();
            if hits.len() == 1 {
                return Some(Target::Table(hits[0]));
            }
            // a column through its comment or description
            let cols: Vec<(Col, f64)> = self
                .s
                .tables
                .iter()
                .enumerate()
                .flat_map(|(ti, t)| {
                    t.columns
                        .iter()
                        .enumerate()
                        .map(move |(ci, c)| ((ti, ci), c))
                })
                .filter(|(_, c)| crate::catalog::search::tokens(&c.notes).contains(&stems[0]))
                // "whether this molecule is carcinogenic or not" over a text label: the word
                // names one of its values, which the comment does not give
                .filter(|(_, c)| c.kind == Kind::Bool || !is_flag_note(&c.notes))
                .map(|(k, _)| (k, 0.5))
                .collect();
            if !cols.is_empty() && cols.len() <= 2 {
                return Some(Target::Columns(cols));
            }
        }
        None
    }

    pub(super) fn mention_after(&self, pos: usize, within: usize) -> Option<&Mention> {
        self.mentions
            .iter()
            .find(|m| m.start >= pos && m.start <= pos + within)
    }

    /// The table whose rows refer to lookup table `t` (plants to their habitat): the one
    /// named in the question, else the only one; of two keys from it to `t`, the one the
    /// question names. None when that is not decided.
    pub(super) fn referrer(&self, t: usize, named: &[usize]) -> Option<usize> {
        let mut from: Vec<usize> = Vec::new();
        for (i, fk) in self.s.fks.iter().enumerate() {
            if fk.to != t || fk.from == t || from.contains(&fk.from) {
                continue;
            }
            let parallel = self.s.fks.iter().filter(|f| f.from == fk.from && f.to == t).count();
            if parallel == 1 || !self.an_unnamed_one_of_two(i) {
                from.push(fk.from);
            }
        }
        let in_question: Vec<usize> = from.iter().copied().filter(|r| named.contains(r)).collect();
        match (in_question.as_slice(), from.as_slice()) {
            ([r], _) | ([], [r]) => Some(*r),
            _ => None,
        }
    }

    pub(super) fn table_after(&self, pos: usize, within: usize) -> Option<(usize, usize)> {
        self.mentions
            .iter()
            .filter(|m| m.start >= pos && m.start <= pos + within)
            .find_map(|m| match m.target {
                Target::Table(t) => Some((m.start, t)),
                _ => None,
            })
    }

    /// Resolves a column mention to one column: in the subject, in a table the question
    /// names, near the subject, the best match.
    pub(super) fn pick(&self, alts: &[(Col, f64)], subject: usize, named: &[usize]) -> Col {
        let score = |(c, q): &(Col, f64)| -> f64 {
            let hops = super::sql::path(self.s, &[subject], c.0)
                .map(|p| p.len())
                .unwrap_or(9) as f64;
            q + if c.0 == subject { 0.5 } else { 0.0 }
                + if named.contains(&c.0) { 0.4 } else { 0.0 }
                - 0.05 * hops
        };
        alts.iter()
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .map(|x| x.0)
            .unwrap_or((subject, 0))
    }

    /// The best column of a column mention whose kind passes `ok`.
    pub(super) fn pick_kind(
        &self,
        m: &Mention,
        ok: fn(Kind) -> bool,
        subject: usize,
        named: &[usize],
    ) -> Option<Col> {
        let Target::Columns(c) = &m.target else {
            return None;
        };
        let mut fit: Vec<(Col, f64)> = c
            .iter()
            .filter(|(x, _)| ok(self.s.tables[x.0].columns[x.1].kind))
            .cloned()
            .collect();
        // "students that have an age over 20", "a cat that is age 3": the column of the rows
        // just named
        if let Some(t) = self.owner_before(m.start) {
            if fit.iter().any(|x| x.0 .0 == t) {
                fit.retain(|x| x.0 .0 == t);
            }
        }
        (!fit.is_empty()).then(|| self.pick(&fit, subject, named))
    }

    /// The table of the rows a column word is said of, when a table or one table's value
    /// stands just before it, joined by a relative clause ("students that have an age",
    /// "a cat that is age 3", "singers with an age").
    pub(super) fn owner_before(&self, start: usize) -> Option<usize> {
        const LINKS: &[&str] = &[
            "that", "who", "which", "whose", "with", "having", "has", "have", "had", "is", "are",
            "was", "were", "an", "a", "the",
        ];
        let mut k = start;
        let mut linked = false;
        while k > 0 && start - k < 5 {
            k -= 1;
            let w = self.w(k);
            if LINKS.contains(&w) {
                linked |= !matches!(w, "an" | "a" | "the");
                continue;
            }
            if !linked {
                return None;
            }
            let table = self.mentions.iter().find_map(|m| match m.target {
                Target::Table(t) if m.start <= k && k < m.start + m.len => Some(t),
                _ => None,
            });
            let value = || {
                self.value_tables
                    .iter()
                    .find(|&&(p, _)| p <= k && k < p + 4)
                    .map(|&(_, t)| t)
            };
            return table.or_else(value);
        }
        None
    }

    /// The column of `class` in the tables `scope` (first scope table first).
    pub(super) fn class_column(&self, class: Class, scope: &[usize]) -> Option<Col> {
        for &t in scope {
            let tb = &self.s.tables[t];
            let mut best: Option<(usize, usize)> = None;
            for (ci, c) in tb.columns.iter().enumerate() {
                let parts = col_stems(&c.name);
                if c.pk || !class.kind_ok(c.kind) || parts.last().map(String::as_str) == Some("id")
                {
                    continue;
                }
                if let Some(rank) = class
                    .hints()
                    .iter()
                    .position(|h| parts.iter().any(|p| p.starts_with(h)))
                {
                    // equal hints: the column whose description is clearly closer to the
                    // question (embeddings of two descriptions of one table differ by a few
                    // thousandths when neither is meant)
                    let closer = |b: usize| c.similarity >= tb.columns[b].similarity + 0.05;
                    if best.is_none_or(|(r, b)| rank < r || (rank == r && closer(b))) {
                        best = Some((rank, ci));
                    }
                }
            }
            if let Some((_, ci)) = best {
                // "graduate in the next 2 years": a date column described much closer to the
                // question than the one a hint names ("year" in enrolled_year)
                let sim = |ci: usize| tb.columns[ci].similarity;
                let closest = (0..tb.columns.len())
                    .filter(|&k| tb.columns[k].kind.temporal() && class.kind_ok(tb.columns[k].kind))
                    .max_by(|a, b| sim(*a).total_cmp(&sim(*b)));
                if let Some(k) = closest.filter(|&k| sim(k) >= sim(ci) + 0.1) {
                    return Some((t, k));
                }
                return Some((t, ci));
            }
            if class == Class::When || class == Class::Birth {
                let temporal: Vec<usize> = (0..tb.columns.len())
                    .filter(|&ci| tb.columns[ci].kind.temporal())
                    .collect();
                if temporal.len() == 1 && class == Class::When {
                    return Some((t, temporal[0]));
                }
            }
        }
        None
    }

    pub(super) fn consume_column_mention(&mut self, col: Col) {
        let idx = self
            .mentions
            .iter()
            .position(|m| matches!(&m.target, Target::Columns(c) if c.iter().any(|x| x.0 == col)));
        if let Some(i) = idx {
            self.mentions[i].target = Target::Columns(vec![(col, 1.0)]);
        }
    }

    pub(super) fn only_measure_column(&self, t: usize) -> Option<Col> {
        let nums: Vec<usize> = (0..self.s.tables[t].columns.len())
            .filter(|&ci| {
                let c = &self.s.tables[t].columns[ci];
                c.kind.numeric()
                    && !c.pk
                    && col_stems(&c.name).last().map(String::as_str) != Some("id")
            })
            .collect();
        (nums.len() == 1).then(|| (t, nums[0]))
    }

    pub(super) fn any_temporal(&self, scope: &[usize]) -> Option<Col> {
        scope.iter().find_map(|&t| {
            self.s.tables[t]
                .columns
                .iter()
                .position(|c| c.kind.temporal())
                .map(|c| (t, c))
        })
    }

    /// The table whose rows most often refer to `t` (for "customers who never bought").
    pub(super) fn main_child(&self, t: usize) -> Option<usize> {
        self.s
            .fks
            .iter()
            .filter(|f| f.to == t && f.from != t)
            .map(|f| f.from)
            .max_by(|a, b| {
                let ka = (
                    self.s.tables[*a].columns.iter().any(|c| c.kind.temporal()),
                    self.s.tables[*a].rows as i64,
                );
                let kb = (
                    self.s.tables[*b].columns.iter().any(|c| c.kind.temporal()),
                    self.s.tables[*b].rows as i64,
                );
                ka.cmp(&kb)
            })
    }

    pub(super) fn labels(&self, t: usize) -> Vec<usize> {
        let tb = &self.s.tables[t];
        let tname = tb.name.to_lowercase();
        let is_label = |n: &str| {
            let n = n.to_lowercase();
            [
                "name",
                "title",
                "full_name",
                "first_name",
                "last_name",
                "username",
                "label",
                "display_name",
            ]
            .contains(&n.as_str())
                || n == format!("{tname}_name")
                || n.ends_with("_name") && !n.starts_with("file")
                || n.ends_with("_title")
                || n.ends_with("name") && n.len() <= 12 && !n.contains('_') && n != "filename"
        };
        // (a "label" the comment calls a yes/no is a flag, not what the rows are called)
        let labels: Vec<usize> = (0..tb.columns.len())
            .filter(|&c| is_label(&tb.columns[c].name) && !is_flag_note(&tb.columns[c].notes))
            .collect();
        if !labels.is_empty() {
            return labels;
        }
        // "airlines.airline", "cities.city": a text column named as its table holds its name
        let own = name_stems(&tb.name);
        let named: Vec<usize> = (0..tb.columns.len())
            .filter(|&c| tb.columns[c].kind == Kind::Text && col_stems(&tb.columns[c].name) == own)
            .collect();
        if !named.is_empty() {
            return named;
        }
        let pk: Vec<usize> = (0..tb.columns.len())
            .filter(|&c| tb.columns[c].pk)
            .collect();
        if !pk.is_empty() {
            return pk;
        }
        (0..tb.columns.len().min(1)).collect()
    }

    /// The columns that show rows of `t`: its key when the question names it, then its labels
    /// (each once).
    pub(super) fn shown_columns(&self, t: usize) -> Vec<usize> {
        let keys = if self.names_key(t) { self.pk(t) } else { Vec::new() };
        let mut out: Vec<usize> = Vec::new();
        for c in keys.into_iter().chain(self.labels(t)) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// "the names, countries and ages of the singers": the columns of `t` listed before the
    /// table is named, in their order (only function words and words already understood
    /// between them and before the table); empty otherwise.
    pub(super) fn listed_columns(&self, t: usize) -> Vec<Col> {
        let Some(end) = self
            .mentions
            .iter()
            .find(|m| matches!(m.target, Target::Table(x) if x == t))
            .map(|m| m.start)
        else {
            return Vec::new();
        };
        let free = |r: std::ops::Range<usize>| {
            r.into_iter().all(|i| self.used[i] || is_function_word(self.w(i)))
        };
        let mut out: Vec<Col> = Vec::new();
        let mut k = 0;
        for m in self.mentions.iter().filter(|m| m.start < end) {
            let best = match &m.target {
                Target::Columns(cs) => cs
                    .iter()
                    // named by the column's whole name ("names" over first_name and
                    // last_name lists neither)
                    .filter(|x| x.0 .0 == t && x.1 >= 0.9)
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|x| x.0),
                Target::Table(_) => None,
            };
            let Some(c) = best.filter(|_| free(k..m.start)) else {
                return Vec::new();
            };
            if !out.contains(&c) {
                out.push(c);
            }
            k = m.start + m.len;
        }
        if out.is_empty() || !free(k..end) {
            return Vec::new();
        }
        out
    }

    /// Whether the question names a key of `t` to be shown ("the id and name of the
    /// document", "the contestant numbers"): a mention of a primary-key column of `t` among
    /// its candidates, with a word that names a key (id, number, code).
    pub(super) fn names_key(&self, t: usize) -> bool {
        let pk = self.pk(t);
        self.mentions.iter().any(|m| {
            let keyword = (m.start..m.start + m.len).any(|i| {
                matches!(self.w(i), "id" | "ids" | "number" | "numbers" | "code" | "codes")
            });
            // "the document with id 5" is a condition, not a column to show
            let condition = self
                .toks
                .get(m.start + m.len)
                .is_some_and(|t| t.number.is_some() || t.quoted);
            keyword
                && !condition
                && matches!(&m.target, Target::Columns(cs)
                    if cs.iter().any(|((ct, cc), _)| *ct == t && pk.contains(cc)))
        })
    }

    pub(super) fn pk(&self, t: usize) -> Vec<usize> {
        (0..self.s.tables[t].columns.len())
            .filter(|&c| self.s.tables[t].columns[c].pk)
            .collect()
    }
}

/// Stemmed words of a column name.
pub(super) fn col_stems(name: &str) -> Vec<String> {
    name_stems(name)
}

pub(super) fn strip_prefix(parts: &[String], prefix: &[String]) -> Vec<String> {
    if parts.len() > prefix.len() && parts.starts_with(prefix) {
        parts[prefix.len()..].to_vec()
    } else {
        parts.to_vec()
    }
}

/// A comment that describes a yes/no column ("whether …").
pub(super) fn is_flag_note(notes: &str) -> bool {
    notes.trim_start().to_lowercase().starts_with("whether ")
}
