//! What a data-changing statement aims at: its target table, the rows it selects (as a
//! read-only query), the columns it assigns, its source rows. Plain Rust over the AST.
use crate::sqlparse::Parsed;
use sqlparser::ast::{
    AssignmentTarget, CascadeOption, FromTable, Ident, ObjectName, ObjectNamePart, SetExpr,
    Statement, TableFactor, TableWithJoins, UpdateTableFromKind,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("{0} is not supported by the impact analysis")]
    Unsupported(String),
}

/// An UPDATE or DELETE: rows of one table chosen by a WHERE clause (and USING / FROM items).
#[derive(Debug, Clone, PartialEq)]
pub struct Modify {
    /// the target as written (resolved later through the caller's search_path)
    pub target: String,
    pub alias: Option<String>,
    pub only: bool,
    /// the statement's WITH clause, as written
    pub with: Option<String>,
    /// USING (DELETE) or FROM (UPDATE) items
    pub from: Vec<String>,
    pub selection: Option<String>,
    /// UPDATE: the columns assigned (folded to lower case unless quoted)
    pub changed: Vec<String>,
    pub returning: bool,
}

impl Modify {
    /// A read-only query returning the whole rows of the target the statement touches, each
    /// once: `[WITH …] SELECT t.* FROM target t WHERE [EXISTS (SELECT 1 FROM using WHERE] …)`.
    pub fn rows_sql(&self) -> String {
        let reference = self.alias.as_deref().unwrap_or(&self.target);
        self.select(&format!("{reference}.*"))
    }

    /// The same rows as `(tableoid, ctid)`: their identity.
    pub fn ids_sql(&self) -> String {
        let reference = self.alias.as_deref().unwrap_or(&self.target);
        self.select(&format!("{reference}.tableoid, {reference}.ctid"))
    }

    fn select(&self, what: &str) -> String {
        let mut sql = self
            .with
            .as_ref()
            .map(|w| format!("{w} "))
            .unwrap_or_default();
        sql.push_str(&format!(
            "SELECT {what} FROM {}{}",
            if self.only { "ONLY " } else { "" },
            self.target
        ));
        if let Some(a) = &self.alias {
            sql.push_str(&format!(" AS {a}"));
        }
        match (self.from.is_empty(), &self.selection) {
            (true, None) => {}
            (true, Some(w)) => sql.push_str(&format!(" WHERE {w}")),
            (false, w) => {
                sql.push_str(&format!(
                    " WHERE EXISTS (SELECT 1 FROM {}",
                    self.from.join(", ")
                ));
                if let Some(w) = w {
                    sql.push_str(&format!(" WHERE {w}"));
                }
                sql.push(')');
            }
        }
        sql
    }
}

/// An INSERT: its target and how many rows it would add.
#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub target: String,
    pub columns: Vec<String>,
    /// rows of a VALUES list, known without running anything
    pub values_rows: Option<u64>,
    /// `[WITH …] SELECT * FROM (source) AS source` for INSERT … SELECT: the rows it adds
    pub source_sql: Option<String>,
    pub on_conflict: bool,
    pub returning: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Delete(Modify),
    Update(Modify),
    Insert(Insert),
    Merge {
        target: String,
        /// `SELECT t.* FROM target t WHERE EXISTS (SELECT 1 FROM source WHERE on)`: the target
        /// rows the MERGE matches (the only existing rows it can update or delete)
        matched_sql: String,
    },
    Truncate {
        tables: Vec<String>,
        cascade: bool,
        only: bool,
    },
    Select,
    /// DDL and everything else: see `ddl`
    Other,
}

/// Folds an identifier as PostgreSQL does: unquoted names are lower case.
pub fn ident_name(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn last_name(n: &ObjectName) -> String {
    match n.0.last() {
        Some(ObjectNamePart::Identifier(i)) => ident_name(i),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn table_of(t: &TableWithJoins, what: &str) -> Result<(String, Option<String>), ShapeError> {
    if !t.joins.is_empty() {
        return Err(ShapeError::Unsupported(format!(
            "a JOIN in the {what} target"
        )));
    }
    match &t.relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => Ok((name.to_string(), alias.as_ref().map(|a| a.name.to_string()))),
        other => Err(ShapeError::Unsupported(format!("{what} of {other}"))),
    }
}

pub fn shape(p: &Parsed) -> Result<Shape, ShapeError> {
    shape_of(&p.stmt, None, p.only)
}

fn shape_of(stmt: &Statement, with: Option<String>, only: bool) -> Result<Shape, ShapeError> {
    match stmt {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                shape_of(s, q.with.as_ref().map(|w| w.to_string()), only)
            }
            _ => Ok(Shape::Select),
        },
        Statement::Delete(d) => {
            let tables = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            if tables.len() != 1 || !d.tables.is_empty() {
                return Err(ShapeError::Unsupported(
                    "a DELETE from several tables".into(),
                ));
            }
            let (target, alias) = table_of(&tables[0], "DELETE")?;
            Ok(Shape::Delete(Modify {
                target,
                alias,
                only,
                with,
                from: d.using.iter().flatten().map(|t| t.to_string()).collect(),
                selection: d.selection.as_ref().map(|e| e.to_string()),
                changed: Vec::new(),
                returning: d.returning.is_some(),
            }))
        }
        Statement::Update(u) => {
            let (target, alias) = table_of(&u.table, "UPDATE")?;
            let from = match &u.from {
                Some(UpdateTableFromKind::BeforeSet(t))
                | Some(UpdateTableFromKind::AfterSet(t)) => {
                    t.iter().map(|t| t.to_string()).collect()
                }
                None => Vec::new(),
            };
            let mut changed = Vec::new();
            for a in &u.assignments {
                match &a.target {
                    AssignmentTarget::ColumnName(n) => changed.push(last_name(n)),
                    AssignmentTarget::Tuple(ns) => changed.extend(ns.iter().map(last_name)),
                }
            }
            changed.dedup();
            Ok(Shape::Update(Modify {
                target,
                alias,
                only,
                with,
                from,
                selection: u.selection.as_ref().map(|e| e.to_string()),
                changed,
                returning: u.returning.is_some(),
            }))
        }
        Statement::Insert(i) => {
            let target = i.table.to_string();
            let columns = i.columns.iter().map(last_name).collect();
            let (values_rows, source_sql) = match &i.source {
                None => (Some(1), None), // DEFAULT VALUES
                Some(q) => match q.body.as_ref() {
                    SetExpr::Values(v) if q.with.is_none() => (Some(v.rows.len() as u64), None),
                    _ => {
                        let mut src = q.as_ref().clone();
                        let inner_with = src.with.take();
                        let prefix = match (&with, inner_with) {
                            (Some(outer), None) => format!("{outer} "),
                            (None, Some(inner)) => format!("{inner} "),
                            (Some(outer), Some(inner)) => {
                                // both: the inner CTEs are appended to the outer list
                                format!(
                                    "{outer}, {} ",
                                    inner.to_string().trim_start_matches("WITH ").trim_start()
                                )
                            }
                            (None, None) => String::new(),
                        };
                        (
                            None,
                            Some(format!("{prefix}SELECT * FROM ({src}) AS source")),
                        )
                    }
                },
            };
            Ok(Shape::Insert(Insert {
                target,
                columns,
                values_rows,
                source_sql,
                on_conflict: i.on.is_some(),
                returning: i.returning.is_some(),
            }))
        }
        Statement::Merge(m) => match &m.table {
            TableFactor::Table { name, alias, .. } => {
                let alias = alias.as_ref().map(|a| a.name.to_string());
                let reference = alias.clone().unwrap_or_else(|| name.to_string());
                let as_alias = alias.map(|a| format!(" AS {a}")).unwrap_or_default();
                Ok(Shape::Merge {
                    target: name.to_string(),
                    matched_sql: format!(
                        "SELECT {reference}.* FROM {name}{as_alias} WHERE EXISTS (SELECT 1 FROM {} WHERE {})",
                        m.source, m.on
                    ),
                })
            }
            other => Err(ShapeError::Unsupported(format!("MERGE into {other}"))),
        },
        Statement::Truncate(t) => Ok(Shape::Truncate {
            tables: t.table_names.iter().map(|n| n.name.to_string()).collect(),
            cascade: matches!(t.cascade, Some(CascadeOption::Cascade)),
            only: only || t.table_names.iter().any(|n| n.only),
        }),
        _ => Ok(Shape::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlparse::parse_statement;

    fn sh(sql: &str) -> Shape {
        shape(&parse_statement(sql).unwrap()).unwrap()
    }

    fn modify(s: Shape) -> Modify {
        match s {
            Shape::Delete(m) | Shape::Update(m) => m,
            other => panic!("not an UPDATE/DELETE: {other:?}"),
        }
    }

    #[test]
    fn delete_rows_are_a_query() {
        let m = modify(sh("DELETE FROM customer WHERE country = 'France'"));
        assert_eq!(
            m.rows_sql(),
            "SELECT customer.* FROM customer WHERE country = 'France'"
        );
        let m = modify(sh("DELETE FROM public.customer c USING invoice i WHERE i.customer_id = c.customer_id AND i.total > 10 RETURNING c.customer_id"));
        assert_eq!(
            m.rows_sql(),
            "SELECT c.* FROM public.customer AS c WHERE EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id AND i.total > 10)"
        );
        assert!(m.returning);
        let m = modify(sh("DELETE FROM ONLY t"));
        assert_eq!(m.rows_sql(), "SELECT t.* FROM ONLY t");
        assert_eq!(m.selection, None);
    }

    #[test]
    fn update_assignments_and_ctes() {
        let m = modify(sh(
            "WITH gone AS (SELECT id FROM old) UPDATE Track SET (Name, \"Composer\") = ('a', 'b'), unit_price = 1 FROM gone WHERE Track.id = gone.id",
        ));
        assert_eq!(m.changed, vec!["name", "Composer", "unit_price"]);
        assert_eq!(
            m.rows_sql(),
            "WITH gone AS (SELECT id FROM old) SELECT Track.* FROM Track WHERE EXISTS (SELECT 1 FROM gone WHERE Track.id = gone.id)"
        );
    }

    #[test]
    fn inserts_count_their_source() {
        match sh("INSERT INTO genre (genre_id, name) VALUES (1, 'a'), (2, 'b')") {
            Shape::Insert(i) => {
                assert_eq!(i.values_rows, Some(2));
                assert_eq!(i.columns, vec!["genre_id", "name"]);
            }
            s => panic!("{s:?}"),
        }
        match sh("WITH x AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM x ON CONFLICT DO NOTHING") {
            Shape::Insert(i) => {
                assert_eq!(
                    i.source_sql.as_deref(),
                    Some("WITH x AS (SELECT 1 AS a) SELECT * FROM (SELECT a FROM x) AS source")
                );
                assert!(i.on_conflict);
            }
            s => panic!("{s:?}"),
        }
        match sh("INSERT INTO t DEFAULT VALUES") {
            Shape::Insert(i) => assert_eq!(i.values_rows, Some(1)),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn truncate_merge_and_others() {
        assert_eq!(
            sh("TRUNCATE a, b CASCADE"),
            Shape::Truncate {
                tables: vec!["a".into(), "b".into()],
                cascade: true,
                only: false
            }
        );
        assert_eq!(
            sh("MERGE INTO t AS x USING s AS y ON x.id = y.id WHEN MATCHED THEN DELETE"),
            Shape::Merge {
                target: "t".into(),
                matched_sql:
                    "SELECT x.* FROM t AS x WHERE EXISTS (SELECT 1 FROM s AS y WHERE x.id = y.id)"
                        .into()
            }
        );
        assert_eq!(sh("SELECT 1"), Shape::Select);
        assert_eq!(sh("CREATE INDEX ON t (a)"), Shape::Other);
    }
}
