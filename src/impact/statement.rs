//! What a data-changing statement aims at: its target table, the rows it selects (as a
//! read-only query), the columns it assigns, its source rows. Plain Rust over the parts
//! PostgreSQL's parser found ([`crate::pgsql::Parts`]): every clause is the statement's own
//! text, placed in a query of the same grammar (a FROM list in a FROM list, a condition in a
//! WHERE), never a rendering by another parser.
use crate::pgsql::{Parts, Target};
use sqlparser::ast::Ident;

/// An UPDATE or DELETE: rows of one table chosen by a WHERE clause (and USING / FROM items).
#[derive(Debug, Clone, PartialEq)]
pub struct Modify {
    /// the target as written (resolved later through the caller's search_path)
    pub target: String,
    pub alias: Option<String>,
    pub only: bool,
    /// the statement's WITH clause, as written
    pub with: Option<String>,
    /// USING (DELETE) or FROM (UPDATE) items, as written
    pub from: Option<String>,
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
        match (&self.from, &self.selection) {
            (None, None) => {}
            (None, Some(w)) => sql.push_str(&format!(" WHERE {w}")),
            (Some(from), w) => {
                sql.push_str(&format!(" WHERE EXISTS (SELECT 1 FROM {from}"));
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

pub fn shape(p: &Parts) -> Shape {
    let modify = |with: &Option<String>,
                  t: &Target,
                  from: &Option<String>,
                  filter: &Option<String>,
                  changed: Vec<String>,
                  returning: bool| Modify {
        target: t.written(),
        alias: t.alias.as_deref().map(crate::sqlparse::ident),
        only: t.only,
        with: with.clone(),
        from: from.clone(),
        selection: filter.clone(),
        changed,
        returning,
    };
    let prefix = |with: &Option<String>| with.as_ref().map(|w| format!("{w} ")).unwrap_or_default();
    match p {
        Parts::Delete {
            with,
            target,
            using,
            filter,
            returning,
        } => Shape::Delete(modify(with, target, using, filter, Vec::new(), *returning)),
        Parts::Update {
            with,
            target,
            changed,
            from,
            filter,
            returning,
        } => Shape::Update(modify(
            with,
            target,
            from,
            filter,
            changed.clone(),
            *returning,
        )),
        Parts::Insert {
            with,
            target,
            columns,
            values_rows,
            source,
            on_conflict,
            returning,
        } => Shape::Insert(Insert {
            target: target.written(),
            columns: columns.clone(),
            values_rows: *values_rows,
            source_sql: source
                .as_ref()
                .map(|s| format!("{}SELECT * FROM ({s}) AS source", prefix(with))),
            on_conflict: *on_conflict,
            returning: *returning,
        }),
        Parts::Merge {
            with,
            target,
            source,
            on,
        } => {
            let as_alias = target
                .alias
                .as_deref()
                .map(|a| format!(" AS {}", crate::sqlparse::ident(a)))
                .unwrap_or_default();
            Shape::Merge {
                target: target.written(),
                matched_sql: format!(
                    "{}SELECT {}.* FROM {}{as_alias} WHERE EXISTS (SELECT 1 FROM {source} WHERE {on})",
                    prefix(with),
                    target.reference(),
                    target.written(),
                ),
            }
        }
        Parts::Truncate { tables, cascade } => Shape::Truncate {
            tables: tables.iter().map(Target::written).collect(),
            cascade: *cascade,
            only: tables.iter().any(|t| t.only),
        },
        Parts::Select => Shape::Select,
        Parts::Utility { .. } => Shape::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, alias: Option<&str>) -> Target {
        Target {
            catalog: None,
            schema: None,
            name: name.into(),
            alias: alias.map(str::to_string),
            only: false,
        }
    }

    fn modify(s: Shape) -> Modify {
        match s {
            Shape::Delete(m) | Shape::Update(m) => m,
            other => panic!("not an UPDATE/DELETE: {other:?}"),
        }
    }

    #[test]
    fn delete_rows_are_a_query() {
        let m = modify(shape(&Parts::Delete {
            with: None,
            target: table("customer", None),
            using: None,
            filter: Some("country = 'France'".into()),
            returning: false,
        }));
        assert_eq!(
            m.rows_sql(),
            "SELECT customer.* FROM customer WHERE country = 'France'"
        );
        let m = modify(shape(&Parts::Delete {
            with: None,
            target: Target {
                schema: Some("public".into()),
                ..table("customer", Some("c"))
            },
            using: Some("invoice i".into()),
            filter: Some("i.customer_id = c.customer_id AND i.total > 0x1F".into()),
            returning: true,
        }));
        assert_eq!(
            m.rows_sql(),
            "SELECT c.* FROM public.customer AS c WHERE EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id AND i.total > 0x1F)"
        );
        assert!(m.returning);
        let m = modify(shape(&Parts::Delete {
            with: None,
            target: Target {
                only: true,
                ..table("T", None)
            },
            using: None,
            filter: None,
            returning: false,
        }));
        assert_eq!(m.rows_sql(), "SELECT \"T\".* FROM ONLY \"T\"");
        assert_eq!(m.selection, None);
    }

    #[test]
    fn update_assignments_and_ctes() {
        let m = modify(shape(&Parts::Update {
            with: Some("WITH gone AS (SELECT id FROM old)".into()),
            target: table("track", None),
            changed: vec!["name".into(), "Composer".into()],
            from: Some("gone".into()),
            filter: Some("track.id = gone.id -- the old ones\n".into()),
            returning: false,
        }));
        assert_eq!(m.changed, vec!["name", "Composer"]);
        assert_eq!(
            m.rows_sql(),
            "WITH gone AS (SELECT id FROM old) SELECT track.* FROM track WHERE EXISTS (SELECT 1 FROM gone WHERE track.id = gone.id -- the old ones\n)"
        );
    }

    #[test]
    fn inserts_count_their_source() {
        let i = |values_rows, source: Option<&str>| Parts::Insert {
            with: Some("WITH x AS (SELECT 1 AS a)".into()),
            target: table("t", None),
            columns: vec![],
            values_rows,
            source: source.map(str::to_string),
            on_conflict: true,
            returning: false,
        };
        match shape(&i(None, Some("SELECT a FROM x"))) {
            Shape::Insert(i) => {
                assert_eq!(
                    i.source_sql.as_deref(),
                    Some("WITH x AS (SELECT 1 AS a) SELECT * FROM (SELECT a FROM x) AS source")
                );
                assert!(i.on_conflict);
            }
            s => panic!("{s:?}"),
        }
        match shape(&i(Some(2), None)) {
            Shape::Insert(i) => assert_eq!((i.values_rows, i.source_sql), (Some(2), None)),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn truncate_merge_and_others() {
        assert_eq!(
            shape(&Parts::Truncate {
                tables: vec![
                    table("a", None),
                    Target {
                        only: true,
                        ..table("b", None)
                    }
                ],
                cascade: true,
            }),
            Shape::Truncate {
                tables: vec!["a".into(), "b".into()],
                cascade: true,
                only: true
            }
        );
        assert_eq!(
            shape(&Parts::Merge {
                with: None,
                target: table("t", Some("x")),
                source: "s AS y".into(),
                on: "x.id = y.id".into(),
            }),
            Shape::Merge {
                target: "t".into(),
                matched_sql:
                    "SELECT x.* FROM t AS x WHERE EXISTS (SELECT 1 FROM s AS y WHERE x.id = y.id)"
                        .into()
            }
        );
        assert_eq!(shape(&Parts::Select), Shape::Select);
        assert_eq!(
            shape(&Parts::Utility {
                tag: "CREATE INDEX".into(),
                relations: None,
                online: None,
            }),
            Shape::Other
        );
    }
}
