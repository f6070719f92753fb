//! Stage 5, SQL: the plan as one SELECT (joins along foreign keys, DISTINCT where a join
//! fans out, NOT EXISTS for negation), its confidence and its explanation.
use super::*;

impl Analysis<'_> {
    pub(super) fn col_ref(&self, c: Col) -> String {
        // placeholder alias, fixed once the FROM clause knows its aliases
        format!(
            "\u{1}{}\u{2}.{}",
            c.0,
            ident(&self.s.tables[c.0].columns[c.1].name)
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
        let measure_table = match &measure {
            Some(Measure::Count(t)) => Some(*t),
            Some(Measure::CountDistinct(c) | Measure::Of(_, c)) => Some(c.0),
            None => None,
        };
        let filter_tables: Vec<usize> = wheres.iter().map(|w| w.0).collect();
        // the negated table is reached inside NOT EXISTS; conditions on its side go there too
        let neg_path = negation.and_then(|n| super::sql::path(s, &[subject], n));
        let neg_tables: Vec<usize> = neg_path
            .as_ref()
            .map(|p| p.iter().map(|st| st.to).collect())
            .unwrap_or_default();
        let mut missing = Vec::new();
        if subject != root && !from.add(s, subject, filter_tables.is_empty()) {
            missing.push(subject);
        }
        if let Some(t) = measure_table {
            let outer =
                root != t && matches!(group, Some(Group::Table(_))) && !filter_tables.contains(&t);
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
        let col = |c: Col, from: &From| {
            format!(
                "{}.{}",
                from.alias_of(c.0),
                ident(&s.tables[c.0].columns[c.1].name)
            )
        };
        let mut select: Vec<String> = Vec::new();
        let mut group_by: Vec<String> = Vec::new();
        let tname = |t: usize| crate::catalog::describe::words(&s.tables[t].name).replace(' ', "_");
        let measure_sql = measure.as_ref().map(|m| match m {
            Measure::Count(t) => {
                let pk = self.pk(*t);
                let counted = if pk.len() == 1 && (from.fans_out || from.joins.iter().any(|j| j.1))
                {
                    // a join that fans out repeats rows of the counted table
                    let inner_only = !from.joins.iter().any(|j| j.1);
                    let repeats = (*t != root && inner_only) || (*t == subject && subject == root);
                    let d = if from.fans_out && repeats {
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
            Measure::Of(a, c) => (
                format!("{}({})", a.sql(), col(*c, &from)),
                format!(
                    "{}_{}",
                    a.sql(),
                    s.tables[c.0].columns[c.1].name.to_lowercase()
                ),
            ),
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
                for c in self.labels(*g) {
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
        if let Some(t) = rows_of {
            for c in self.labels(t) {
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
        let mut sql = format!(
            "SELECT {}{}\nFROM {}",
            if distinct { "DISTINCT " } else { "" },
            select.join(", "),
            from.render(s)
        );
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
            self.guesses.push("a limit without an ordering");
        }
        let unexplained = self.unexplained();
        let content = self
            .toks
            .iter()
            .filter(|t| !is_function_word(&t.lower) && t.number.is_none())
            .count()
            .max(1);
        let mut confidence = 1.0 - unexplained.len() as f64 / content as f64;
        confidence -= 0.2 * self.guesses.len() as f64;
        if !missing.is_empty() {
            confidence = confidence.min(0.2);
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
        let explanation = self.explain(
            subject,
            &measure,
            &group,
            &conds,
            negation,
            &order_text,
            &tables,
        );
        let answer = Answer {
            sql,
            confidence,
            tables,
            explanation,
            unexplained,
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
            "NOT EXISTS (SELECT 1 FROM {} WHERE {})",
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
        let tw = |t: usize| crate::catalog::describe::words(&s.tables[t].name);
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
            out.push_str(&format!(", keeping those with no {}", tw(n)));
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
