//! Words a curator taught (`ai.vocabulary`), resolved to the schema the engine is given. A
//! column or a measure becomes a column of its table (a real one, or its expression standing
//! as one); a filter a condition; a relationship the join it names. The engine reads them
//! before anything else in a question.
use super::sql::ident;
use super::words::tokenize;
use super::{Column, Kind, Schema};

/// Stands for the alias of the entry's table in a template (what `ai.teach` stored).
pub use crate::pgsql::expr::PLACEHOLDER;

/// One stored entry, as read for the caller.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub word: String,
    /// table, column, measure, filter or relationship
    pub kind: String,
    pub schema: String,
    pub table: String,
    /// a relationship's other table
    pub other: Option<(String, String)>,
    pub template: Option<String>,
    pub aggregate: Option<String>,
    pub data_type: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    Table(usize),
    Column(usize, usize),
    /// A condition on the table, its SQL with the table's alias placeholder of the engine.
    Filter {
        table: usize,
        sql: String,
    },
    /// The word names the relationship of two tables: understood when the SQL joins both.
    Relationship(usize, usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Taught {
    /// The word's stems, as the question's tokens have them.
    pub stems: Vec<String>,
    pub meaning: Meaning,
}

/// Adds the entries whose tables are in `s` (others are about tables out of scope).
pub fn apply(s: &mut Schema, entries: &[Entry]) {
    let find = |s: &Schema, schema: &str, name: &str| {
        s.tables
            .iter()
            .position(|t| t.schema == schema && t.name == name)
    };
    for e in entries {
        let Some(t) = find(s, &e.schema, &e.table) else {
            continue;
        };
        let stems: Vec<String> = tokenize(&e.word).into_iter().map(|t| t.stem).collect();
        if stems.is_empty() {
            continue;
        }
        let meaning = match (e.kind.as_str(), &e.template) {
            ("table", _) => Meaning::Table(t),
            ("relationship", _) => {
                match e.other.as_ref().and_then(|(sc, n)| find(s, sc, n)) {
                    Some(o) => Meaning::Relationship(t, o),
                    None => continue,
                }
            }
            ("filter", Some(tpl)) => Meaning::Filter {
                table: t,
                sql: engine_placeholder(tpl, t),
            },
            ("column" | "measure", Some(tpl)) => {
                let plain = s.tables[t]
                    .columns
                    .iter()
                    .position(|c| c.expr.is_none() && *tpl == format!("{PLACEHOLDER}.{}", ident(&c.name)));
                match (plain, &e.aggregate) {
                    (Some(c), None) => Meaning::Column(t, c),
                    _ => {
                        s.tables[t].columns.push(Column {
                            name: e.word.replace(' ', "_"),
                            kind: Kind::of(e.data_type.as_deref().unwrap_or("")),
                            pk: false,
                            notes: e.note.clone(),
                            similarity: 0.0,
                            expr: Some(tpl.clone()),
                            agg: e.aggregate.clone(),
                        });
                        Meaning::Column(t, s.tables[t].columns.len() - 1)
                    }
                }
            }
            _ => continue,
        };
        s.vocabulary.push(Taught { stems, meaning });
    }
}

/// A template with the engine's alias placeholder of table `t` (fixed when the FROM clause
/// knows its aliases).
pub fn engine_placeholder(template: &str, t: usize) -> String {
    enclosed(&template.replace(PLACEHOLDER, &format!("\u{1}{t}\u{2}")))
}

/// An expression in parentheses; a line comment in it ends before the closing one.
fn enclosed(sql: &str) -> String {
    if sql.contains("--") {
        format!("({sql}\n)")
    } else {
        format!("({sql})")
    }
}

/// A column's SQL with `alias` for its table: `alias.name`, or its expression in parentheses.
pub fn column_sql(c: &Column, alias: &str) -> String {
    match &c.expr {
        Some(t) => enclosed(&t.replace(PLACEHOLDER, alias)),
        None => format!("{alias}.{}", ident(&c.name)),
    }
}
