//! Stage 4b, the conditions: each value, comparison, date and taught filter the question
//! holds, placed on a column of the tables in scope (a WHERE part) or on a count per subject
//! (a HAVING); what finds no column is left unexplained.
use super::*;

/// What the conditions give the plan.
pub(super) struct Conditions {
    /// the WHERE parts, each with the table it reads
    pub wheres: Vec<(usize, String)>,
    /// columns a condition compares, shown beside the answer
    pub extra_cols: Vec<Col>,
    /// one column's values said together ("from India and China"): the column, its place
    /// among the wheres and the values
    pub eq_values: Vec<(Col, usize, Vec<String>)>,
    /// the question's negation was a value's ("whose nationality is not 'USA'")
    pub negated_value: bool,
}

/// The parts of the plan a condition can change: a count per subject ("more than 10 tracks").
pub(super) struct Shape<'a> {
    pub measure: &'a mut Option<Measure>,
    pub group: &'a mut Option<Group>,
    pub having: &'a mut Option<String>,
    pub count_passing: &'a mut bool,
}

impl Analysis<'_> {
    pub(super) fn conditions(
        &mut self,
        subject: usize,
        named: &[usize],
        negated: Option<(usize, usize)>,
        shape: Shape<'_>,
    ) -> Conditions {
        let mut wheres: Vec<(usize, String)> = Vec::new();
        let mut extra_cols: Vec<Col> = Vec::new();
        self.value_tables = self
            .conds
            .iter()
            .filter_map(|c| match c {
                Cond::Eq { pos, alts, .. } if alts.iter().all(|a| a.0 == alts[0].0) => {
                    alts.first().map(|a| (*pos, a.0))
                }
                _ => None,
            })
            .collect();
        let mut conds = std::mem::take(&mut self.conds);
        conds.sort_by_key(|c| match c {
            Cond::Eq { pos, .. }
            | Cond::Cmp { pos, .. }
            | Cond::Date { pos, .. }
            | Cond::Filter { pos, .. } => *pos,
        });
        let ratio = self.share.is_some_and(|s| s.ratio);
        // "lost or returned", "from India and China": one column, either value
        let mut eq_values: Vec<(Col, usize, Vec<String>)> = Vec::new();
        // "whose nationality is not 'USA'", "people who are not from Russia": the negation
        // is the value's, when no table follows it
        let mut negated_value = false;
        // the first date condition: its column, its place among the wheres and its bounds
        let mut first_date: Option<(Col, usize, (Option<String>, Option<String>))> = None;
        for c in conds {
            match c {
                Cond::Filter { pos, table, sql } => {
                    // "Is the molecule with the most double bonds carcinogenic?", "… and is it
                    // carcinogenic?": what the question asks about the rows, not which rows
                    let asked = (0..pos).any(|k| {
                        matches!(self.w(k), "is" | "are" | "was" | "were")
                            && (k == 0 || self.w(k - 1) == "and")
                    });
                    if asked {
                        self.unplaced(pos..pos + 1, "the predicate of a yes/no question");
                        continue;
                    }
                    // "molecules that are not carcinogenic": the negation is the filter's
                    let not = !negated_value
                        && negated.is_none()
                        && self.negation_at.is_some_and(|p| pos > p && pos <= p + 4);
                    negated_value |= not;
                    let sql = if not { format!("NOT {sql}") } else { sql };
                    wheres.push((table, sql));
                }
                Cond::Eq { pos, alts, value } => {
                    let col = self.pick(
                        &alts.iter().map(|c| (*c, 1.0)).collect::<Vec<_>>(),
                        subject,
                        named,
                    );
                    let not = !negated_value
                        && negated.is_none()
                        && self.negation_at.is_some_and(|p| pos > p && pos <= p + 4);
                    let fans_out = || {
                        super::sql::path(self.s, &[subject], col.0)
                            .is_some_and(|p| p.iter().any(|st| st.fans_out))
                    };
                    if not && fans_out() {
                        // "countries that do not speak English" is no row of another language:
                        // a negation over a one-to-many join is not read
                        negated_value = true;
                        self.unplaced(pos..pos + 1, "a negated value across a one-to-many join");
                        continue;
                    }
                    if not {
                        negated_value = true;
                        wheres.push((
                            col.0,
                            format!("{} <> {}", self.col_ref(col), literal(&value)),
                        ));
                        continue;
                    }
                    // "channels playing cartoons by A and B": one row cannot hold both, but one
                    // channel may have a row of each: both or either is the question's to say
                    let and = (pos.saturating_sub(5)..pos)
                        .rev()
                        .map(|k| self.w(k))
                        .find(|w| matches!(*w, "and" | "or" | "either"))
                        == Some("and");
                    let again = eq_values.iter().any(|e| e.0 == col);
                    if again && and && fans_out() {
                        self.unplaced(pos..pos + 1, "both or either across a one-to-many join");
                    }
                    // "the molecules between TR004 and TR010", "from molecule id TR000 to
                    // TR050": a range of the column's values (from … to only of codes that
                    // number things: "flights from APG to ASY" go from one to the other)
                    let numbered = |v: &str| v.chars().any(|c| c.is_ascii_digit());
                    // the column's one value before this one, where a range would start
                    let start = eq_values.iter().position(|e| e.0 == col && e.2.len() == 1);
                    let between = matches!(self.w(pos.wrapping_sub(1)), "and" | "to")
                        && (pos.saturating_sub(5)..pos).any(|k| self.w(k) == "between")
                        || self.w(pos.wrapping_sub(1)) == "to"
                            && numbered(&value)
                            && start.is_some_and(|k| numbered(&eq_values[k].2[0]))
                            && (pos.saturating_sub(7)..pos).any(|k| self.w(k) == "from");
                    if let Some(k) = start.filter(|_| between) {
                        let (_, at, first) = eq_values.remove(k);
                        wheres[at].1 = format!(
                            "{} BETWEEN {} AND {}",
                            self.col_ref(col),
                            literal(&first[0]),
                            literal(&value)
                        );
                        // which of the range each row is, shown ("the bond type for molecules
                        // from TR000 to TR050": per molecule)
                        if !self.range_cols.contains(&col) {
                            self.range_cols.push(col);
                        }
                        continue;
                    }
                    if let Some(e) = eq_values.iter_mut().find(|e| e.0 == col).filter(|_| !ratio) {
                        e.2.push(value);
                        wheres[e.1].1 =
                            format!("{} IN ({})", self.col_ref(col), literal_list(&e.2));
                        // "the families of the Oak and the Beech": which row is whose, shown
                        if col.0 != subject && !extra_cols.contains(&col) {
                            extra_cols.push(col);
                        }
                        continue;
                    }
                    eq_values.push((col, wheres.len(), vec![value.clone()]));
                    wheres.push((
                        col.0,
                        format!("{} = {}", self.col_ref(col), literal(&value)),
                    ));
                }
                Cond::Cmp {
                    pos,
                    op,
                    value,
                    upper,
                    scale,
                    class,
                    noun,
                    end,
                    times,
                } => {
                    // "admitted more than 5 times": rows of the table whose column the verb
                    // names ("admitted_at"), counted per subject
                    let noun = noun.or_else(|| {
                        let (at, t) = self
                            .mentions
                            .iter()
                            .enumerate()
                            .rev()
                            .filter(|(_, m)| times && m.start < pos && m.start + 3 >= pos)
                            .find_map(|(at, m)| match &m.target {
                                Target::Columns(c) => c
                                    .iter()
                                    .map(|x| x.0 .0)
                                    .find(|&t| {
                                        t != subject
                                            && super::sql::path(self.s, &[subject], t)
                                                .is_some_and(|p| p.len() == 1 && p[0].fans_out)
                                    })
                                    .map(|t| (at, t)),
                                _ => None,
                            })?;
                        // the verb's column is explained by the count of its rows
                        self.mentions[at].target = Target::Table(t);
                        Some(t)
                    });
                    if times && noun.is_none() {
                        // how often what happened: not understood
                        self.used[end - 1] = false;
                        continue;
                    }
                    if let Some(t) = noun {
                        // "how many plants have more than 2 uses": the plants that pass the
                        // count per plant, counted
                        if t != subject
                            && shape.group.is_none()
                            && *shape.measure == Some(Measure::Count(subject))
                        {
                            *shape.measure = None;
                            *shape.count_passing = true;
                        }
                        // more than 10 tracks: a count per subject
                        shape.measure.get_or_insert(Measure::Count(t));
                        shape.group.get_or_insert(Group::Table(subject));
                        // "between one and two paragraphs": both bounds
                        *shape.having = Some(match upper {
                            Some(u) => format!("BETWEEN {} AND {}", number(value), number(u)),
                            None => format!("{op} {}", number(value)),
                        });
                        continue;
                    }
                    let near = self
                        .mentions
                        .iter()
                        .rev()
                        .filter(|m| (m.start < pos && m.start + 4 >= pos) || m.start == end)
                        .find_map(|m| self.pick_kind(m, Kind::numeric, subject, named));
                    let col = near
                        .or_else(|| class.and_then(|k| self.class_column(k, &scope_tables(subject, named))))
                        .or_else(|| self.only_measure_column(subject));
                    let Some(col) = col else {
                        // "sales more than 300000" with no column for it: a condition left out
                        self.unplaced(pos..end, "comparison without a column");
                        continue;
                    };
                    self.consume_column_mention(col);
                    let mut scale = scale;
                    let cname = self.s.tables[col.0].columns[col.1].name.to_lowercase();
                    if scale != 1.0 {
                        // the question's unit into the column's
                        scale /= if cname.contains("milli") || cname.ends_with("_ms") {
                            1.0
                        } else if cname.contains("sec") {
                            1_000.0
                        } else if cname.contains("min") {
                            60_000.0
                        } else {
                            scale
                        };
                    }
                    let v = value * scale;
                    let text = match upper {
                        Some(u) => format!(
                            "{} BETWEEN {} AND {}",
                            self.col_ref(col),
                            number(v),
                            number(u * scale)
                        ),
                        None => format!("{} {op} {}", self.col_ref(col), number(v)),
                    };
                    extra_cols.push(col);
                    wheres.push((col.0, text));
                }
                Cond::Date { pos, class, lo, hi } => {
                    let near = self
                        .mentions
                        .iter()
                        .filter(|m| m.start + 3 >= pos && m.start <= pos + 2)
                        .find_map(|m| self.pick_kind(m, Kind::temporal, subject, named));
                    let mut scope = Vec::new();
                    if let Some(Measure::Count(t) | Measure::Of(_, (t, _))) = shape.measure {
                        scope.push(*t);
                    }
                    scope.extend(scope_tables(subject, named));
                    let col = near
                        .or_else(|| class.and_then(|k| self.class_column(k, &scope)))
                        .or_else(|| self.class_column(Class::When, &scope))
                        .or_else(|| self.any_temporal(&scope));
                    let Some(col) = col else {
                        self.unplaced(pos..pos + 1, "date without a date column");
                        continue;
                    };
                    self.consume_column_mention(col);
                    let c = self.col_ref(col);
                    let mut parts = Vec::new();
                    // a year kept as a number
                    let year = |e: String| -> String {
                        if self.s.tables[col.0].columns[col.1].kind != Kind::Integer {
                            e
                        } else if let Some(y) = e.strip_prefix("DATE '") {
                            y.chars().take(4).collect()
                        } else {
                            format!("extract(year from {e})::int")
                        }
                    };
                    let (lo, hi) = (lo.map(year), hi.map(year));
                    if let Some(lo) = &lo {
                        parts.push(format!("{c} >= {lo}"));
                    }
                    if let Some(hi) = &hi {
                        parts.push(format!("{c} < {hi}"));
                    }
                    let text = parts.join(" AND ");
                    // "after 2013 or before 2008": either bound, on the same column
                    let either = pos > 0 && self.w(pos - 1) == "or";
                    match first_date.as_ref().filter(|d| d.0 == col) {
                        Some(&(_, at, _)) if either => {
                            wheres[at].1 = format!("({} OR {text})", wheres[at].1);
                            self.take(pos - 1, 1);
                        }
                        // "born before 1945 and after 1955": no row is both
                        Some((_, _, (lo0, hi0))) if super::literals::disjoint(lo0, hi0, &lo, &hi) => {
                            self.unplaced(pos..pos + 1, "bounds no row meets");
                        }
                        Some(_) => wheres.push((col.0, text)),
                        None => {
                            first_date = Some((col, wheres.len(), (lo, hi)));
                            wheres.push((col.0, text));
                        }
                    }
                }
            }
        }
        Conditions {
            wheres,
            extra_cols,
            eq_values,
            negated_value,
        }
    }
}

/// The tables a class of column is looked for in: the subject and the tables named.
pub(super) fn scope_tables(subject: usize, named: &[usize]) -> Vec<usize> {
    let mut v = vec![subject];
    v.extend(named.iter().copied());
    v.dedup();
    v
}

/// Values as a list of SQL literals: `'a', 'b'`.
pub(super) fn literal_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| literal(v))
        .collect::<Vec<_>>()
        .join(", ")
}
