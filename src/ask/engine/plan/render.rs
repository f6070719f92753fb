//! Stage 5, SQL: the plan as one SELECT (joins along foreign keys, DISTINCT where a join
//! fans out, NOT EXISTS for negation), its confidence and its explanation.
use super::*;

/// The highest confidence of an answer that leaves question words unexplained.
pub(super) const UNEXPLAINED_CAP: f64 = 0.5;

impl Analysis<'_> {
    pub(super) fn col_ref(&self, c: Col) -> String {
        // placeholder alias, fixed once the FROM clause knows its aliases
        column_sql(
            &self.s.tables[c.0].columns[c.1],
            &format!("\u{1}{}\u{2}", c.0),
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn render(
        mut self,
        subject: usize,
        measure: Option<Measure>,
        group: Option<Group>,
        rows_of: Option<usize>,
        order: Option<(String, bool)>,
        order_measure: bool,
        having: Option<String>,
        wheres: Vec<(usize, String)>,
        extra_cols: Vec<Col>,
        negation: Option<usize>,
    ) -> Result<Answer, NotUnderstood> {
        let s = self.s;
        // the root: the grouped table when counting its children, else the subject
        let root = match (&group, &measure) {
            (Some(Group::Table(g)), Some(_)) => *g,
            _ => subject,
        };
        let mut from = From::new(s, root);
        from.prefer = self.named_keys();
        let measure_table = match &measure {
            Some(Measure::Count(t)) => Some(*t),
            Some(Measure::CountDistinct(c) | Measure::Of(_, c)) => Some(c.0),
            None => None,
        };
        let filter_tables: Vec<usize> = wheres.iter().map(|w| w.0).collect();
        // the negated table is reached inside NOT EXISTS; conditions on its side go there too
        let neg_path = negation
            .and_then(|n| super::sql::path_preferring(s, &[subject], n, &from.prefer));
        let neg_tables: Vec<usize> = neg_path
            .as_ref()
            .map(|p| p.iter().map(|st| st.to).collect())
            .unwrap_or_default();
        let mut missing = Vec::new();
        // a denied table no foreign key reaches: the SQL cannot deny it
        if let (Some(n), None) = (negation, &neg_path) {
            missing.push(n);
        }
        // "how many albums each artist has": an artist with none counts 0 (a LEFT JOIN); a sum,
        // an average or an extreme of nothing is no figure, so "revenue per genre" leaves out
        // the genres without sales (a JOIN)
        let counted = matches!(measure, Some(Measure::Count(_) | Measure::CountDistinct(_)));
        if subject != root && !from.add(s, subject, counted && filter_tables.is_empty()) {
            missing.push(subject);
        }
        if let Some(t) = measure_table {
            let outer = counted
                && root != t
                && matches!(group, Some(Group::Table(_)))
                && !filter_tables.contains(&t);
            if !from.add(s, t, outer) {
                missing.push(t);
            }
        }
        if let Some(Group::Column(c)) = &group {
            if !from.add(s, c.0, false) {
                missing.push(c.0);
            }
        }
        if let Some(c) = self.order_col {
            if !from.add(s, c.0, false) {
                missing.push(c.0);
            }
        }
        for &t in &filter_tables {
            if neg_tables.contains(&t) && !from.has(t) {
                continue;
            }
            if !from.add(s, t, false) {
                missing.push(t);
            }
        }
        for &c in &extra_cols {
            from.add(s, c.0, false);
        }
        if !missing.is_empty() {
            self.guesses.push("tables not connected by foreign keys");
        }
        let fix = |text: &str, from: &From| -> String {
            let mut out = String::new();
            let mut rest = text;
            while let Some(a) = rest.find('\u{1}') {
                out.push_str(&rest[..a]);
                let b = rest[a..].find('\u{2}').map(|b| a + b).unwrap_or(a);
                let t: usize = rest[a + 1..b].parse().unwrap_or(0);
                out.push_str(from.alias_of(t));
                rest = &rest[b + 1..];
            }
            out.push_str(rest);
            out
        };
        let col = |c: Col, from: &From| column_sql(&s.tables[c.0].columns[c.1], from.alias_of(c.0));
        let mut select: Vec<String> = Vec::new();
        let mut group_by: Vec<String> = Vec::new();
        let tname = |t: usize| crate::catalog::text::words(&s.tables[t].name).replace(' ', "_");
        // an aggregate of a column and its alias: `max(s.age)`, `max_age`
        let aggregate = |a: Agg, c: Col| {
            (
                format!("{}({})", a.sql(), col(c, &from)),
                format!("{}_{}", a.sql(), s.tables[c.0].columns[c.1].name.to_lowercase()),
            )
        };
        let measure_sql = measure.as_ref().map(|m| match m {
            Measure::Count(t) => {
                let pk = self.pk(*t);
                let counted = if pk.len() == 1 && (from.fans_out || from.joins.iter().any(|j| j.1))
                {
                    // a join that fans out repeats rows of the counted table
                    let inner_only = !from.joins.iter().any(|j| j.1);
                    let repeats = (*t != root && inner_only) || (*t == subject && subject == root);
                    // "courses with the most students": through a bridge (enrolments) a student
                    // comes back once per bridge row
                    let bridged = *t != root
                        && super::sql::path(s, &[root], *t).is_some_and(|p| {
                            p.iter()
                                .position(|st| st.fans_out)
                                .is_some_and(|k| p[k + 1..].iter().any(|st| !st.fans_out))
                        });
                    let d = if from.fans_out && (repeats || bridged) {
                        "DISTINCT "
                    } else {
                        ""
                    };
                    format!("count({d}{})", col((*t, pk[0]), &from))
                } else {
                    "count(*)".to_string()
                };
                (counted, format!("{}_count", tname(*t)))
            }
            Measure::CountDistinct(c) => (
                format!("count(DISTINCT {})", col(*c, &from)),
                format!("{}_count", s.tables[c.0].columns[c.1].name.to_lowercase()),
            ),
            Measure::Of(a, c) => aggregate(*a, *c),
        });
        let mut distinct = false;
        match &group {
            Some(Group::Table(g)) => {
                for c in self.pk(*g).into_iter().chain(self.labels(*g)) {
                    let e = col((*g, c), &from);
                    if !group_by.contains(&e) {
                        group_by.push(e);
                    }
                }
                // "the contestant numbers and names of the contestants who ...": a key the
                // question names is shown, not only grouped on
                for c in self.shown_columns(*g) {
                    select.push(col((*g, c), &from));
                }
            }
            Some(Group::Column(c)) => {
                let e = col(*c, &from);
                group_by.push(e.clone());
                select.push(e);
            }
            None => {}
        }
        if let Some((m, alias)) = &measure_sql {
            select.push(format!("{m} AS {}", ident(alias)));
        }
        if let Some(Measure::Of(_, c)) = &measure {
            for (a, _) in &self.more_aggs {
                let (e, alias) = aggregate(*a, *c);
                select.push(format!("{e} AS {}", ident(&alias)));
            }
        }
        if let (Some(_), Some(c)) = (rows_of, self.list_col) {
            for &r in self.range_cols.iter().filter(|&&r| r != c) {
                select.push(col(r, &from));
            }
            select.push(col(c, &from));
            distinct = true;
        } else if rows_of.is_some() && !self.list_cols.is_empty() {
            // the columns listed, in their order (after the range each row is of); rows
            // repeat only through a join
            for c in self.range_cols.iter().chain(&self.list_cols).chain(&self.order_col) {
                let e = col(*c, &from);
                if !select.contains(&e) {
                    select.push(e);
                }
            }
            distinct = from.fans_out;
        } else if let Some(t) = rows_of {
            // "all the information about": every stored column, in the table's order
            let whole = self.all_columns.is_some() && measure.is_none() && group.is_none();
            let shown: Vec<usize> = if whole {
                let cols = &s.tables[t].columns;
                (0..cols.len())
                    .filter(|&c| cols[c].expr.is_none())
                    .collect()
            } else {
                self.shown_columns(t)
            };
            for c in shown {
                select.push(col((t, c), &from));
            }
            if let Some(c) = self.order_col {
                let e = col(c, &from);
                if !select.contains(&e) {
                    select.push(e);
                }
            }
            for c in &extra_cols {
                let e = col(*c, &from);
                if !select.contains(&e) && measure.is_none() {
                    select.push(e);
                }
            }
            distinct = from.fans_out;
        }
        if self.distinct && rows_of.is_some() {
            distinct = true;
        }
        // every column of what, when nothing is listed: not understood, and said so
        if let Some((at, n)) = self.all_columns {
            if rows_of.is_none()
                || self.list_col.is_some()
                || !self.list_cols.is_empty()
                || measure.is_some()
                || group.is_some()
            {
                self.unplaced_function_words.extend(at..at + n);
            }
        }
        let mut conds: Vec<String> = wheres
            .iter()
            .filter(|w| !neg_tables.contains(&w.0) || from.has(w.0))
            .map(|w| fix(&w.1, &from))
            .collect();
        if let Some(p) = &neg_path {
            if let Some(sub) = self.not_exists(subject, p, &from, &wheres) {
                conds.push(sub);
            }
        }
        // a share of rows: the conditions become the filter of the numerator
        let mut share_text = None;
        let mut share_select = None;
        if let Some(sh) = self.share {
            let plain = group.is_none()
                && neg_path.is_none()
                && !from.fans_out
                && having.is_none()
                && order.is_none()
                && self.order_col.is_none()
                && matches!(measure, None | Some(Measure::Count(_)));
            // (of two conditions or more, which one is the whole and which the part — "the
            // percentage of Rosaceae plants with white flowers" — is not decided here)
            let parts = if sh.ratio {
                conds.len() == 2
            } else {
                conds.len() == 1
            };
            if plain && parts {
                let (expr, alias, text) = if sh.ratio {
                    (
                        format!(
                            "count(*) FILTER (WHERE {})::numeric / NULLIF(count(*) FILTER (WHERE {}), 0)",
                            conds[0], conds[1]
                        ),
                        "ratio",
                        "the ratio of the rows where the first condition holds to those where the second does",
                    )
                } else {
                    let f = format!("count(*) FILTER (WHERE {})", conds.join(" AND "));
                    if sh.percent {
                        (
                            format!("100.0 * {f} / NULLIF(count(*), 0)"),
                            "percentage",
                            "the percentage of rows where the conditions hold",
                        )
                    } else {
                        (
                            format!("{f}::numeric / NULLIF(count(*), 0)"),
                            "fraction",
                            "the fraction (0 to 1) of rows where the conditions hold",
                        )
                    }
                };
                share_select = Some(format!("{expr} AS {alias}"));
                share_text = Some(text);
                conds.clear();
            } else {
                // a share of what, among what: not understood, and said so
                self.used[sh.pos] = false;
            }
        }
        let mut sql = match share_select {
            Some(ref head) => format!("SELECT {head}\nFROM {}", from.render(s)),
            None => format!(
                "SELECT {}{}\nFROM {}",
                if distinct { "DISTINCT " } else { "" },
                select.join(", "),
                from.render(s)
            ),
        };
        if !conds.is_empty() {
            sql.push_str(&format!("\nWHERE {}", conds.join("\n  AND ")));
        }
        if !group_by.is_empty() {
            sql.push_str(&format!("\nGROUP BY {}", group_by.join(", ")));
        }
        if let (Some(h), Some((m, _))) = (&having, &measure_sql) {
            sql.push_str(&format!("\nHAVING {m} {h}"));
        }
        let order_text = match (&order, &measure_sql) {
            (Some((_, desc)), Some((_, alias))) if order_measure => Some(format!(
                "{} {}",
                ident(alias),
                if *desc {
                    "DESC NULLS LAST"
                } else {
                    "ASC NULLS LAST"
                }
            )),
            (Some((text, desc)), _) if !text.is_empty() => Some(format!(
                "{} {}",
                fix(text, &from),
                if *desc { "DESC" } else { "ASC" }
            )),
            (Some((_, desc)), _) if self.order_col.is_some() => {
                let c = self.order_col.unwrap_or((0, 0));
                Some(format!(
                    "{} {} NULLS LAST",
                    col(c, &from),
                    if *desc { "DESC" } else { "ASC" }
                ))
            }
            _ => None,
        };
        if let Some(o) = &order_text {
            let tie = if let Some(g) = group_by.first() {
                format!(", {g}")
            } else {
                String::new()
            };
            sql.push_str(&format!("\nORDER BY {o}{tie}"));
        } else if let Some((_, alias)) = measure_sql.as_ref().filter(|_| !group_by.is_empty()) {
            sql.push_str(&format!(
                "\nORDER BY {} DESC NULLS LAST, {}",
                ident(alias),
                group_by[0]
            ));
        }
        if let Some(l) = self.limit.filter(|_| order_text.is_some()) {
            sql.push_str(&format!("\nLIMIT {l}"));
        } else if self.limit.is_some() {
            // "the top 5" of no order: the limit asked for is not in the SQL
            match self.limit_words {
                Some((at, n)) => self.unplaced(at..at + n, "a limit without an ordering"),
                None => self.guesses.push("a limit without an ordering"),
            }
        }
        // "on average how many molecules …": an average the SQL does not compute
        for (a, p) in self.agg.into_iter().chain(self.more_aggs.clone()) {
            if a == Agg::Avg && self.used[p] && !sql.contains("avg(") {
                self.unplaced(p..p + 1, "an average the SQL does not compute");
            }
        }
        self.account_for_words(&sql, &from, &neg_tables);
        // "what is the hardiness of the Oak" answered with trait_name = 'Hardiness': every
        // column shown is one its own condition pins to the value the question gave
        let pinned = measure_sql.is_none()
            && share_select.is_none()
            && !select.is_empty()
            && select.iter().all(|c| {
                conds.iter().any(|w| {
                    w.strip_prefix(&format!("{c} = '"))
                        .is_some_and(|v| v.ends_with('\'') && !v.contains(" AND "))
                })
            });
        let steps = from.joins.iter().map(|(st, _)| st).chain(neg_path.iter().flatten());
        let two_ways = steps.map(|st| st.fk).any(|fk| self.an_unnamed_one_of_two(fk))
            || self.two_routes(&from);
        // "visitors who did not visit any museum opened after 2010" read as visits joined and
        // none at all: a table both joined and denied answers nothing asked
        let denied_and_joined = neg_tables.iter().any(|t| from.tables.contains(t));
        // "countries that are not playing cartoons by X" lists a column's values: a country
        // with one such channel and one other is both; which one is meant is a guess
        // (one column listed that is the rows' key or label names the rows themselves)
        let one_value = match self.list_cols.as_slice() {
            [c] => !s.tables[c.0].columns[c.1].pk && !self.labels(c.0).contains(&c.1),
            _ => false,
        };
        let denied_per_value = negation.is_some() && (self.list_col.is_some() || one_value);
        let unexplained = self.unexplained();
        let content = (0..self.toks.len())
            .filter(|&i| self.is_content(i))
            .count()
            .max(1);
        let mut confidence = 1.0 - unexplained.len() as f64 / content as f64;
        confidence -= 0.2 * self.guesses.len() as f64;
        if !unexplained.is_empty() {
            // a word left out may change the answer: below the default threshold (0.6), so
            // ai.ask shows the attempt and the words instead of running it
            confidence = confidence.min(UNEXPLAINED_CAP);
        }
        if !missing.is_empty() {
            confidence = confidence.min(0.2);
        }
        if two_ways || denied_and_joined || denied_per_value || pinned {
            // "high schoolers with at least 3 friends" over friend(student_id, friend_id):
            // which side is the student's is a guess, and a wrong one counts the other side
            confidence = confidence.min(UNEXPLAINED_CAP);
        }
        let confidence = (confidence.clamp(0.0, 1.0) * 100.0).round() / 100.0;
        let tables: Vec<String> = from
            .tables
            .iter()
            .chain(neg_tables.iter())
            .map(|&t| format!("{}.{}", s.tables[t].schema, s.tables[t].name))
            .fold(Vec::new(), |mut v, x| {
                if !v.contains(&x) {
                    v.push(x);
                }
                v
            });
        let mut explanation = self.explain(
            subject,
            &measure,
            &group,
            &conds,
            negation.filter(|_| neg_path.is_some()),
            &order_text,
            &tables,
        );
        if let Some(t) = share_text {
            explanation = format!("Computes {t} in {}. {explanation}", tables.join(", "));
        }
        let mut assumed: Vec<String> = Vec::new();
        for &i in &self.assumed {
            if self.used[i] && !assumed.contains(&self.toks[i].text) {
                assumed.push(self.toks[i].text.clone());
            }
        }
        let answer = Answer {
            sql,
            confidence,
            tables,
            explanation,
            unexplained,
            assumed,
        };
        Ok(answer)
    }

    pub(super) fn not_exists(
        &self,
        subject: usize,
        p: &[super::sql::Step],
        from: &From,
        wheres: &[(usize, String)],
    ) -> Option<String> {
        let s = self.s;
        let first = p.first()?;
        let mut inner = From::new(s, first.to);
        inner.aliases[0] = super::sql::alias(&s.tables[first.to].name, &from.aliases);
        for st in &p[1..] {
            let taken: Vec<String> = from
                .aliases
                .iter()
                .chain(inner.aliases.iter())
                .cloned()
                .collect();
            inner.tables.push(st.to);
            inner
                .aliases
                .push(super::sql::alias(&s.tables[st.to].name, &taken));
            inner.joins.push((*st, false));
        }
        let fk = &s.fks[first.fk];
        let link: Vec<String> = fk
            .from_columns
            .iter()
            .zip(&fk.to_columns)
            .map(|(fc, tc)| {
                let (sub_col, outer_col) = if fk.from == subject {
                    (tc, fc)
                } else {
                    (fc, tc)
                };
                format!(
                    "{}.{} = {}.{}",
                    inner.alias_of(first.to),
                    ident(sub_col),
                    from.alias_of(subject),
                    ident(outer_col)
                )
            })
            .collect();
        let mut conds = link;
        for w in wheres.iter().filter(|w| inner.has(w.0) && !from.has(w.0)) {
            let mut text = w.1.clone();
            let tag = format!("\u{1}{}\u{2}", w.0);
            text = text.replace(&tag, inner.alias_of(w.0));
            conds.push(text);
        }
        Some(format!(
            "{}EXISTS (SELECT 1 FROM {} WHERE {})",
            if self.semi { "" } else { "NOT " },
            inner.render(s).replace("\n  ", " "),
            conds.join(" AND ")
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn explain(
        &self,
        subject: usize,
        measure: &Option<Measure>,
        group: &Option<Group>,
        conds: &[String],
        negation: Option<usize>,
        order: &Option<String>,
        tables: &[String],
    ) -> String {
        let s = self.s;
        let tw = |t: usize| crate::catalog::text::words(&s.tables[t].name);
        let cw = |c: &Col| format!("{}.{}", s.tables[c.0].name, s.tables[c.0].columns[c.1].name);
        let what = match measure {
            Some(Measure::Count(t)) => format!("Counts {} rows", tw(*t)),
            Some(Measure::CountDistinct(c)) => format!("Counts the distinct values of {}", cw(c)),
            Some(Measure::Of(a, c)) => format!("Computes the {} of {}", a.word(), cw(c)),
            None => format!("Lists {} rows", tw(subject)),
        };
        let mut out = what;
        match group {
            Some(Group::Table(g)) => out.push_str(&format!(" per {}", tw(*g))),
            Some(Group::Column(c)) => out.push_str(&format!(" per {}", cw(c))),
            None => {}
        }
        if tables.len() > 1 {
            out.push_str(&format!(", joining {} along foreign keys", tables.len()));
        }
        if !conds.is_empty() && negation.is_none() {
            out.push_str(&format!(", where {}", conds.len()));
            out.push_str(if conds.len() == 1 {
                " condition holds"
            } else {
                " conditions hold"
            });
        }
        if let Some(n) = negation {
            let no = if self.semi { "a" } else { "no" };
            out.push_str(&format!(", keeping those with {no} {}", tw(n)));
        }
        if let Some(o) = order {
            out.push_str(&format!(", ordered by {o}"));
            if let Some(l) = self.limit {
                out.push_str(&format!(", first {l}"));
            }
        }
        out.push('.');
        out
    }
}

/// Whether `sql` holds the number `n` as a whole token (not as part of a longer number, a
/// name or a date: the bound DATE '2024-01-01' of "in 2023" does not hold 2024).
pub(super) fn holds_number(sql: &str, n: &str) -> bool {
    let b = sql.as_bytes();
    sql.match_indices(n).any(|(at, _)| {
        let before = at.checked_sub(1).map(|k| b[k]);
        let after = b.get(at + n.len()).copied();
        let part =
            |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
        !part(before) && !part(after)
    })
}
