//! Stage 4, composition: the subject, the measure, the grouping, the conditions and the
//! ordering, put together from what the earlier stages found; what cannot be placed is left
//! unexplained and lowers the confidence.
use super::conditions::{literal_list, scope_tables, Conditions, Shape};
use super::*;

impl Analysis<'_> {
    pub(super) fn plan(mut self) -> Result<Answer, NotUnderstood> {
        let named: Vec<usize> = self
            .mentions
            .iter()
            .filter_map(|m| match m.target {
                Target::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        // the group key: after per / each / by
        let mut group_mention: Option<Mention> = None;
        for &g in &self.group_at {
            if let Some(m) = self.mention_after(g, 1) {
                group_mention = Some(self.own_column(m.clone()));
            }
        }
        let mut by_measure_at: Option<usize> = None;
        if group_mention.is_none() {
            if let Some(b) = self.by_at {
                let top = self.limit.is_some() || self.sup.is_some() || self.most.is_some();
                if top {
                    by_measure_at = Some(b);
                } else if let Some(m) = self.mention_after(b, 1).filter(|_| {
                    self.count_at.is_some() || self.agg.is_some() || self.money_at.is_some()
                }) {
                    group_mention = Some(self.own_column(m.clone()));
                }
            }
        }
        let negated: Option<(usize, usize)> = self.negation_at.and_then(|p| self.table_after(p, 4));
        // ("the most common flower colour": the lookup table two words on)
        // ("most woodland plants": past a value)
        let value_at = |k: usize| {
            self.conds.iter().any(|c| matches!(c, Cond::Eq { pos, .. } if *pos == k))
        };
        let within = match self.most {
            _ if self.most_common().is_some() => 2,
            Some((p, _)) if value_at(p + 1) => 2,
            _ => 1,
        };
        let most_target: Option<(usize, usize)> =
            self.most.and_then(|(p, _)| self.table_after(p, within));
        let counted: Option<&Mention> = self
            .count_at
            .filter(|p| by_measure_at.is_none_or(|b| p + 1 < b))
            .and_then(|p| self.mention_after(p, 3));
        let reserved = |start: usize| {
            group_mention.as_ref().is_some_and(|m| m.start == start)
                || negated.is_some_and(|(s, _)| s == start)
                || most_target.is_some_and(|(s, _)| s == start)
                || by_measure_at.is_some_and(|b| start >= b && start <= b + 3)
        };
        // "which drugs ...", "top 3 drugs by ...": the first thing named is a column, not a
        // table; its values are listed, or grouped when there is a measure
        let col_subject: Option<Col> = if counted.is_some() || self.agg.is_some() {
            None
        } else {
            self.mentions
                .iter()
                .find(|m| !reserved(m.start))
                .filter(|m| (0..m.start).all(|k| self.used[k] || is_function_word(self.w(k))))
                // "the title of the faculty": a column of the table named next
                .filter(|m| {
                    let of_next = self.mentions.iter().find(|n| n.start > m.start && n.start <= m.start + 3);
                    !matches!((&m.target, of_next.map(|n| &n.target)),
                        (Target::Columns(c), Some(Target::Table(t))) if c.iter().any(|x| x.0 .0 == *t))
                })
                .and_then(|m| match &m.target {
                    Target::Columns(c) => {
                        let fit: Vec<Col> = c
                            .iter()
                            .filter(|x| x.1 >= 1.0)
                            .map(|x| x.0)
                            .filter(|&(t, ci)| {
                                self.s.tables[t].columns[ci].kind == Kind::Text
                                    && !self.labels(t).contains(&ci)
                            })
                            .collect();
                        // "the molecule id of bond TR001_1_7": of the tables holding a column
                        // so named, the one the question's value is in (no join to guess)
                        let valued = |t: usize| {
                            self.conds.iter().any(|k| {
                                matches!(k, Cond::Eq { alts, .. } if alts.iter().all(|a| a.0 == t))
                            })
                        };
                        fit.iter().copied().find(|x| valued(x.0)).or(fit.first().copied())
                    }
                    _ => None,
                })
        };
        // the subject: what is counted, or the first table named for itself
        let mut count_distinct: Option<Vec<(Col, f64)>> = None;
        let mut subject: Option<usize> = match counted.map(|m| &m.target) {
            Some(Target::Table(t)) => Some(*t),
            Some(Target::Columns(c)) => {
                count_distinct = Some(c.clone());
                None
            }
            None => None,
        };
        if let Some(c) = col_subject.filter(|_| subject.is_none()) {
            subject = Some(c.0);
        }
        if subject.is_none() && counted.is_none() {
            // "how many trucks": a value right after the count word, of one table
            subject = self.count_at.and_then(|p| {
                self.conds.iter().find_map(|c| match c {
                    Cond::Eq { pos, alts, .. }
                        if *pos > p && *pos <= p + 3 && alts.iter().all(|a| a.0 == alts[0].0) =>
                    {
                        alts.first().map(|a| a.0)
                    }
                    _ => None,
                })
            });
        }
        if subject.is_none() {
            subject = self
                .mentions
                .iter()
                .find(|m| !reserved(m.start) && matches!(m.target, Target::Table(_)))
                .and_then(|m| match m.target {
                    Target::Table(t) => Some(t),
                    _ => None,
                });
        }
        if subject.is_none() {
            // the table of the best-linked column, of a value, or of the group key
            let from_cols = self
                .mentions
                .iter()
                .filter(|m| !reserved(m.start))
                .find_map(|m| match &m.target {
                    Target::Columns(c) => c
                        .iter()
                        .max_by(|a, b| {
                            (a.1 + self.s.tables[a.0 .0].similarity)
                                .total_cmp(&(b.1 + self.s.tables[b.0 .0].similarity))
                        })
                        .map(|x| x.0 .0),
                    _ => None,
                });
            subject = from_cols.or_else(|| {
                self.conds.iter().find_map(|c| match c {
                    Cond::Eq { alts, .. } => alts.first().map(|x| x.0),
                    _ => None,
                })
            });
            if subject.is_some() {
                self.guesses.push("subject from a column");
            }
        }
        if subject.is_none() {
            if let Some(Target::Table(t)) = group_mention.as_ref().map(|m| &m.target) {
                subject = Some(*t);
            }
        }
        if subject.is_none() && self.most_common().is_some() {
            // "what is the most common habitat": the habitats, one of them chosen below
            subject = most_target.map(|(_, t)| t);
        }
        let unexplained_now = self.unexplained();
        let Some(subject) = subject else {
            return Err(NotUnderstood::NoSubject {
                unexplained: unexplained_now,
            });
        };

        // the measure
        let mut measure: Option<Measure> = None;
        let mut group: Option<Group> = group_mention.as_ref().map(|m| match &m.target {
            Target::Table(t) => Group::Table(*t),
            Target::Columns(c) => Group::Column(self.pick(c, subject, &named)),
        });
        let mut order: Option<(String, bool)> = None;
        let mut rows_of: Option<usize> = None;
        let mut having: Option<String> = None;
        let mut order_measure = false;
        // a count of the subjects a HAVING lets through
        let mut count_passing = false;

        if let Some(c) = &count_distinct {
            let mut col = self.pick(c, subject, &named);
            // "how many different degrees" over degree_summary_name and
            // degree_summary_description, named alike: the name is what is counted
            let quality = |x: Col| c.iter().find(|y| y.0 == x).map_or(0.0, |y| y.1);
            let labels = self.labels(col.0);
            if !labels.contains(&col.1) {
                if let Some(l) = c
                    .iter()
                    .find(|y| y.0 .0 == col.0 && labels.contains(&y.0 .1) && y.1 >= quality(col))
                {
                    col = l.0;
                }
            }
            // "how many triple type bonds": a type the question pins to one value counts
            // the rows that have it
            let pinned = self
                .conds
                .iter()
                .any(|c| matches!(c, Cond::Eq { alts, .. } if alts.as_slice() == [col]));
            measure = Some(if pinned {
                Measure::Count(col.0)
            } else {
                Measure::CountDistinct(col)
            });
        } else if self
            .count_at
            .is_some_and(|p| by_measure_at.is_none_or(|b| p + 1 < b))
        {
            measure = Some(Measure::Count(subject));
        } else if let Some((agg, pos)) = self
            .agg
            .filter(|(_, p)| by_measure_at.is_none_or(|b| p + 1 < b))
        {
            let target = self
                .mentions
                .iter()
                // a taught measure is its own aggregate word
                .filter(|m| {
                    (m.start > pos || self.measure_word == Some(m.start))
                        && m.start <= self.more_aggs.last().map_or(pos, |x| x.1) + 4
                        && !reserved(m.start)
                })
                .find_map(|m| self.pick_kind(m, Kind::numeric, subject, &named));
            let target = target
                .or_else(|| {
                    self.money_at
                        .and_then(|_| self.class_column(Class::Money, &scope_tables(subject, &named)))
                })
                .or_else(|| {
                    // "the total of all invoices": a column called total
                    (agg == Agg::Sum)
                        .then(|| {
                            self.mentions.iter().find_map(|m| match &m.target {
                                Target::Columns(c) if self.w(m.start) == "total" => {
                                    Some(self.pick(c, subject, &named))
                                }
                                _ => None,
                            })
                        })
                        .flatten()
                });
            let target = target.or_else(|| {
                self.sup
                    .and_then(|s| s.class)
                    .or_else(|| self.class_word(pos + 1, 4))
                    .and_then(|c| self.class_column(c, &scope_tables(subject, &named)))
            });
            match target {
                Some(col) => {
                    self.consume_column_mention(col);
                    if agg == Agg::Sum && self.w(pos) == "total" {
                        self.take(pos, 1);
                    }
                    // "the total revenue": a taught word that sums, with the sum said too
                    if agg == Agg::Sum
                        && self.measure_word == Some(pos)
                        && pos > 0
                        && matches!(self.w(pos - 1), "total" | "sum")
                    {
                        // (an adjective here, not a column called total)
                        self.take(pos - 1, 1);
                        self.mentions.retain(|m| !(m.start..m.start + m.len).contains(&(pos - 1)));
                    }
                    measure = Some(Measure::Of(agg, col));
                }
                // "the average of poker players": an aggregate of nothing placed is a word
                // the SQL does not account for, not a guess
                None => self.unplaced(pos..pos + 1, "aggregate without a column"),
            }
        }
        if measure.is_none()
            && self
                .count_at
                .is_none_or(|p| by_measure_at.is_some_and(|b| p + 1 >= b))
        {
            let desc = self.most.map(|m| m.1).unwrap_or(true);
            let common = self.most_common();
            if let Some((_, t)) = most_target.filter(|&(_, t)| t != subject) {
                // which artist has the most albums
                measure = Some(Measure::Count(t));
                if group.is_none() {
                    group = Some(col_subject.map_or(Group::Table(subject), Group::Column));
                }
                order = Some((String::new(), desc));
                order_measure = true;
                self.limit.get_or_insert(1);
            } else if let Some(p) = common {
                // "the most common habitat": the one the most rows that refer to it use;
                // "the most common nationality": the value of a column the most rows hold
                let named_col = self.mention_after(p, 2).and_then(|m| match &m.target {
                    Target::Columns(c) => Some(self.pick(c, subject, &named)),
                    _ => None,
                });
                let counted = match (most_target, named_col) {
                    (Some((_, t)), _) => self.referrer(t, &named).map(|r| (r, Group::Table(t))),
                    (None, Some(col)) if self.s.tables[col.0].columns[col.1].kind == Kind::Text => {
                        self.consume_column_mention(col);
                        Some((col.0, Group::Column(col)))
                    }
                    _ => None,
                };
                match counted {
                    Some((r, g)) => {
                        measure = Some(Measure::Count(r));
                        group = Some(g);
                        order = Some((String::new(), desc));
                        order_measure = true;
                        self.limit.get_or_insert(1);
                    }
                    None => self.unplaced(p - 1..p + 1, "most common of nothing counted"),
                }
            } else if let Some(b) = by_measure_at {
                // top 5 customers by total spent / by number of invoices
                let m = self.measure_after(b, subject, &named);
                match m {
                    Some(Measure::Of(_, col)) if col.0 == subject => {
                        order = Some((self.col_ref(col), true));
                        rows_of = Some(subject);
                    }
                    Some(m) => {
                        measure = Some(m);
                        group.get_or_insert(
                            col_subject.map_or(Group::Table(subject), Group::Column),
                        );
                        order = Some((String::new(), self.sup.map(|s| s.desc).unwrap_or(true)));
                        order_measure = true;
                    }
                    // (the order the question asks for is not in the SQL)
                    None => self.unplaced(b..b + 1, "ordering not understood"),
                }
            } else if let Some((p, desc)) = self.sort_at.filter(|_| self.sup.is_none()) {
                // the invoices of 2023 sorted by total: the rows, in that column's order
                let col = self.mention_after(p, 1).and_then(|m| match &m.target {
                    Target::Columns(c) => Some(self.pick(c, subject, &named)),
                    _ => None,
                });
                match col {
                    Some(col) if self.one_per_row(subject, col) => {
                        self.consume_column_mention(col);
                        order = Some((String::new(), desc));
                        rows_of = Some(subject);
                        self.order_col = Some(col);
                    }
                    _ => self.unplaced(p..p + 1, "sort key not understood"),
                }
            } else if let Some(sup) = self.sup {
                // the longest track, the customer with the highest total; a column that cannot
                // be highest or most expensive ("the most expensive charge type": a text) is
                // not what the superlative orders by
                let orderable = |k: Kind| match sup.class {
                    Some(c) => c.kind_ok(k),
                    None => !matches!(k, Kind::Text | Kind::Bool),
                };
                let col = self
                    .mentions
                    .iter()
                    .filter(|m| m.start > sup.pos && m.start <= sup.pos + 3)
                    .find_map(|m| match &m.target {
                        Target::Columns(c) => {
                            let fit: Vec<(Col, f64)> = c
                                .iter()
                                .filter(|(x, _)| orderable(self.s.tables[x.0].columns[x.1].kind))
                                .cloned()
                                .collect();
                            (!fit.is_empty()).then(|| self.pick(&fit, subject, &named))
                        }
                        _ => None,
                    });
                let col = col.or_else(|| {
                    self.money_at
                        .and_then(|_| self.class_column(Class::Money, &scope_tables(subject, &named)))
                });
                let col = col.or_else(|| {
                    sup.class
                        .and_then(|c| self.class_column(c, &scope_tables(subject, &named)))
                });
                match col {
                    Some(col) if self.one_per_row(subject, col) => {
                        self.consume_column_mention(col);
                        // oldest = the earliest birth date, but the highest age
                        let desc = if sup.class == Some(Class::Birth)
                            && !self.s.tables[col.0].columns[col.1].kind.temporal()
                        {
                            !sup.desc
                        } else {
                            sup.desc
                        };
                        order = Some((String::new(), desc));
                        rows_of = Some(subject);
                        measure = None;
                        self.limit.get_or_insert(1);
                        self.order_col = Some(col);
                    }
                    Some(col) => {
                        self.consume_column_mention(col);
                        measure = Some(Measure::Of(
                            if self.money_at.is_some() {
                                Agg::Sum
                            } else if sup.desc {
                                Agg::Max
                            } else {
                                Agg::Min
                            },
                            col,
                        ));
                        group.get_or_insert(Group::Table(subject));
                        order = Some((String::new(), sup.desc));
                        order_measure = true;
                        self.limit.get_or_insert(1);
                    }
                    None => self.unplaced(sup.pos..sup.pos + 1, "superlative without a column"),
                }
            }
        }
        // conditions
        let Conditions {
            mut wheres,
            extra_cols,
            eq_values,
            negated_value,
        } = self.conditions(
            subject,
            &named,
            negated,
            Shape {
                measure: &mut measure,
                group: &mut group,
                having: &mut having,
                count_passing: &mut count_passing,
            },
        );
        // "neither Aetna nor Cigna": rows whose value is none of them (an empty one included)
        if let Some(p) = self.neither_at {
            let nor = (p + 1..self.toks.len()).find(|&k| self.w(k) == "nor");
            let both: Vec<&(Col, usize, Vec<String>)> =
                eq_values.iter().filter(|e| e.2.len() >= 2).collect();
            if let (Some(k), [e]) = (nor, both.as_slice()) {
                let c = self.col_ref(e.0);
                wheres[e.1].1 = format!("({c} IS NULL OR {c} NOT IN ({}))", literal_list(&e.2));
                self.take(p, 1);
                self.take(k, 1);
            }
        }
        // (a superlative's or "most common"'s column is read there; one column listed with no
        // table named after it is the column's values, below)
        let listed = if measure.is_none()
            && rows_of.is_none_or(|r| r == subject)
            && self.sup.is_none()
            && self.most.is_none()
        {
            Some(self.listed_columns(subject))
                .filter(|l| l.len() > 1 || col_subject.is_none())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        // "the names and ages for every singer": nothing measured per singer, the rows listed
        if !listed.is_empty() && group == Some(Group::Table(subject)) {
            group = None;
        }
        if measure.is_none() && group.is_none() && rows_of.is_none() && listed.is_empty() {
            rows_of = Some(subject);
            if let Some(c) = col_subject {
                self.consume_column_mention(c);
                self.list_col = Some(c);
            }
        }
        // (listed only when nothing is measured)
        if !listed.is_empty() && group.is_none() {
            rows_of = Some(subject);
            for &c in &listed {
                self.consume_column_mention(c);
            }
            self.list_cols = listed;
        }
        if let Some((at, n, desc)) = self.alphabetical {
            // the names listed, in their order: the column listed, else the subject's label
            let col = self
                .list_col
                .or_else(|| self.list_cols.first().copied())
                .or_else(|| self.labels(subject).first().map(|&c| (subject, c)))
                .filter(|_| order.is_none() && measure.is_none() && rows_of == Some(subject));
            match col {
                Some(c) => {
                    self.order_col = Some(c);
                    order = Some((String::new(), desc));
                }
                None => self.unplaced(at..at + n, "alphabetical order of nothing listed"),
            }
        }
        // negation: rows of the subject with no related row in the negated table
        // "a rating of 5": a number right after a numeric column
        for i in 0..self.toks.len() {
            let Some(n) = self.num(i).filter(|_| !self.used[i]) else {
                continue;
            };
            let col = self
                .mentions
                .iter()
                .filter(|m| m.start + 2 >= i && m.start < i)
                .find_map(|m| self.pick_kind(m, Kind::numeric, subject, &named));
            if let Some(col) = col {
                self.consume_column_mention(col);
                self.used[i] = true;
                wheres.push((col.0, format!("{} = {}", self.col_ref(col), number(n))));
            }
        }
        // "not returned": a column that is not filled in
        let mut negated_column = false;
        let mut negated_child: Option<usize> = None;
        if let (Some(p), None, false) = (self.negation_at, negated, negated_value) {
            let col = self
                .mentions
                .iter()
                .filter(|m| m.start > p && m.start <= p + 4)
                .find_map(|m| match &m.target {
                    Target::Columns(c) => Some(self.pick(c, subject, &named)),
                    _ => None,
                });
            let child = col.filter(|c| {
                c.0 != subject
                    && super::sql::path(self.s, &[subject], c.0)
                        .is_some_and(|p| p.iter().any(|s| s.fans_out))
            });
            if let Some(col) = child {
                // "patients who were never admitted": no row in the table of admitted_at
                self.consume_column_mention(col);
                negated_child = Some(col.0);
            } else if let Some(col) = col {
                self.consume_column_mention(col);
                wheres.push((col.0, format!("{} IS NULL", self.col_ref(col))));
                negated_column = true;
            }
        }
        let negation = match (self.negation_at, negated) {
            _ if negated_child.is_some() => negated_child,
            _ if negated_column || negated_value => None,
            (Some(_), Some((_, t))) if t != subject => Some(t),
            // "customers who never bought": the verb after the negation is the relationship
            // to the rows denied; "projects that are not done" says what they are, not what
            // they have
            (Some(p), _)
                if !matches!(
                    self.w(p.wrapping_sub(1)),
                    "is" | "are" | "was" | "were" | "be" | "been" | "being"
                ) =>
            {
                self.main_child(subject)
            }
            _ => None,
        };
        // "students who do not have any friends" with nothing denied: the SQL would list the
        // rows the question excludes
        let denies_nothing = negation.is_none() && !negated_column && !negated_value;
        if let Some(p) = self.negation_at.filter(|_| denies_nothing) {
            self.unplaced(p..p + 1, "negation without a related table");
        }
        if let Some((p, _)) = self
            .most
            .filter(|_| !order_measure && order.is_none() && by_measure_at.is_none())
        {
            // "most" with nothing counted or ordered by it: not understood, not dropped
            let at = (p.saturating_sub(2)..=p)
                .rev()
                .find(|&k| matches!(self.w(k), "most" | "least" | "fewest"))
                .unwrap_or(p);
            self.unplaced(at..at + 1, "most of nothing counted");
        }
        if !matches!(measure, Some(Measure::Of(..))) {
            // aggregates listed after one that found no column: not understood
            for (_, p) in std::mem::take(&mut self.more_aggs) {
                self.used[p] = false;
            }
        }
        let (subject, negation) =
            self.measured_rows(subject, &measure, &group, rows_of, negation, &wheres, &extra_cols);
        let subject_name = self.s.tables[subject].name.clone();
        let mut a = self.render(
            subject,
            measure,
            group,
            rows_of,
            order,
            order_measure,
            having,
            wheres,
            extra_cols,
            negation,
        )?;
        if count_passing {
            let name = ident(&format!("{subject_name}_count"));
            a.sql = format!("SELECT count(*) AS {name}\nFROM (\n{}\n) AS passing", a.sql);
            a.explanation = format!("Counts the rows of this: {}", a.explanation);
        }
        Ok(a)
    }

    /// "The average grade of students who have friends" read from friend(student_id): joined,
    /// a student comes back once per friend and the average counts them again. A sum or an
    /// average of a column of a table the subject's rows refer to is of that table's rows
    /// that have a subject row (`EXISTS`), when nothing else is read beside them: the
    /// measured table and the subject swap, and the subject is reached inside `EXISTS`.
    #[allow(clippy::too_many_arguments)]
    fn measured_rows(
        &mut self,
        subject: usize,
        measure: &Option<Measure>,
        group: &Option<Group>,
        rows_of: Option<usize>,
        negation: Option<usize>,
        wheres: &[(usize, String)],
        extra_cols: &[Col],
    ) -> (usize, Option<usize>) {
        let Some(Measure::Of(Agg::Avg | Agg::Sum, (t, _))) = *measure else {
            return (subject, negation);
        };
        let beside = |x: usize| x == subject || x == t;
        let repeats = || {
            super::sql::path(self.s, &[t], subject)
                .is_some_and(|p| !p.is_empty() && p.iter().all(|st| st.fans_out))
        };
        let plain = group.is_none()
            && rows_of.is_none()
            && negation.is_none()
            && self.share.is_none()
            && self.order_col.is_none()
            && wheres.iter().all(|w| beside(w.0))
            // (a column compared on the subject's side would join it again)
            && extra_cols.iter().all(|c| c.0 == t);
        if t == subject || !plain || !repeats() {
            return (subject, negation);
        }
        self.semi = true;
        (t, Some(subject))
    }

    /// A word the plan asked for but could not place (an aggregate, a superlative, a date
    /// with no column for it): left unexplained, so the answer is not run.
    pub(super) fn unplaced(&mut self, words: std::ops::Range<usize>, guess: &'static str) {
        self.guesses.push(guess);
        for k in words {
            if let Some(u) = self.used.get_mut(k) {
                *u = false;
            }
        }
    }
}
