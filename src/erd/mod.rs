//! Entity-relationship diagrams of a schema: Mermaid `erDiagram` or Graphviz DOT, with the
//! tables, their key columns and the foreign keys with their cardinality. Plain Rust over the
//! schema facts the lint gathers.
pub mod api;

use crate::lint::rules::{Column, ForeignKey, Table};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Mermaid,
    Dot,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "mermaid" => Some(Format::Mermaid),
            "dot" | "graphviz" => Some(Format::Dot),
            _ => None,
        }
    }
}

/// How a foreign key's two ends count: a child row has exactly one parent (NOT NULL) or at
/// most one; a parent has any number of children, or at most one when the key is unique.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cardinality {
    pub parent_required: bool,
    pub child_unique: bool,
}

pub fn cardinality(t: &Table, fk: &ForeignKey) -> Cardinality {
    let cols: Vec<&Column> = fk.columns.iter().filter_map(|c| t.column(c)).collect();
    let pk_cols: Vec<&Column> = t.columns.iter().filter(|c| c.pk).collect();
    Cardinality {
        parent_required: !cols.is_empty() && cols.iter().all(|c| c.not_null),
        // unique alone, or the whole primary key
        child_unique: (cols.len() == 1
            && (cols[0].unique_alone || (cols[0].pk && pk_cols.len() == 1)))
            || (!pk_cols.is_empty() && pk_cols.len() == cols.len() && cols.iter().all(|c| c.pk)),
    }
}

/// `character varying(120)` -> `varchar`: one word, as both formats want it.
pub fn short_type(t: &str) -> String {
    let head = t.split('(').next().unwrap_or(t).trim();
    let tail = if t.ends_with("[]") { "[]" } else { "" };
    let name = match head.trim_end_matches("[]") {
        "character varying" => "varchar",
        "character" => "char",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "time with time zone" => "timetz",
        "double precision" => "float8",
        "bit varying" => "varbit",
        other => other,
    };
    format!("{}{tail}", name.replace([' ', '"', '.'], "_"))
}

fn key_marks(t: &Table, c: &Column) -> Vec<&'static str> {
    let mut m = Vec::new();
    if c.pk {
        m.push("PK");
    }
    if t.fks.iter().any(|f| f.columns.contains(&c.name)) {
        m.push("FK");
    }
    if c.unique_alone && !c.pk {
        m.push("UK");
    }
    m
}

/// The columns a diagram shows: keys; a table without any shows its first column.
fn shown(t: &Table) -> Vec<&Column> {
    let keys: Vec<&Column> = t
        .columns
        .iter()
        .filter(|c| !key_marks(t, c).is_empty())
        .collect();
    if keys.is_empty() {
        t.columns.iter().take(1).collect()
    } else {
        keys
    }
}

/// Entity names: the table's name, schema-qualified when two schemas share it; characters a
/// Mermaid name cannot hold become `_`.
fn names(tables: &[Table]) -> HashMap<(String, String), String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in tables {
        *count.entry(t.name.as_str()).or_default() += 1;
    }
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    tables
        .iter()
        .map(|t| {
            let n = if count[t.name.as_str()] > 1 {
                clean(&format!("{}_{}", t.schema, t.name))
            } else {
                clean(&t.name)
            };
            ((t.schema.clone(), t.name.clone()), n)
        })
        .collect()
}

pub fn render(tables: &[Table], format: Format) -> String {
    match format {
        Format::Mermaid => mermaid(tables),
        Format::Dot => dot(tables),
    }
}

fn mermaid(tables: &[Table]) -> String {
    let names = names(tables);
    let mut out = String::from("erDiagram\n");
    for t in tables {
        let name = &names[&(t.schema.clone(), t.name.clone())];
        out.push_str(&format!("    {name} {{\n"));
        for c in shown(t) {
            let marks = key_marks(t, c).join(", ");
            let col: String = c
                .name
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || ch == '_' {
                        ch
                    } else {
                        '_'
                    }
                })
                .collect();
            out.push_str(&format!(
                "        {} {col}{}{marks}\n",
                short_type(&c.data_type),
                if marks.is_empty() { "" } else { " " }
            ));
        }
        out.push_str("    }\n");
    }
    for t in tables {
        for fk in &t.fks {
            let Some(parent) = names.get(&(fk.ref_schema.clone(), fk.ref_table.clone())) else {
                continue;
            };
            let child = &names[&(t.schema.clone(), t.name.clone())];
            let c = cardinality(t, fk);
            let left = if c.parent_required { "||" } else { "|o" };
            let right = if c.child_unique { "o|" } else { "o{" };
            out.push_str(&format!(
                "    {parent} {left}--{right} {child} : \"{}\"\n",
                fk.columns.join(", ")
            ));
        }
    }
    out
}

fn dot_escape(s: &str) -> String {
    let mut o = String::new();
    for ch in s.chars() {
        if matches!(ch, '{' | '}' | '|' | '<' | '>' | '"' | '\\' | ' ') {
            o.push('\\');
        }
        o.push(ch);
    }
    o
}

fn dot_id(t: &Table) -> String {
    format!("\"{}.{}\"", t.schema, t.name).replace('\\', "\\\\")
}

fn dot(tables: &[Table]) -> String {
    let mut out = String::from(
        "digraph erd {\n    graph [rankdir=LR];\n    node [shape=record, fontname=\"Helvetica\", fontsize=10];\n    edge [dir=both, fontname=\"Helvetica\", fontsize=9];\n",
    );
    let present: Vec<(String, String)> = tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    for t in tables {
        let rows: String = shown(t)
            .iter()
            .map(|c| {
                let marks = key_marks(t, c).join(",");
                dot_escape(&format!(
                    "{} : {}{}{}",
                    c.name,
                    short_type(&c.data_type),
                    if marks.is_empty() { "" } else { " " },
                    marks
                )) + "\\l"
            })
            .collect();
        let title = if tables
            .iter()
            .any(|o| o.name == t.name && o.schema != t.schema)
        {
            format!("{}.{}", t.schema, t.name)
        } else {
            t.name.clone()
        };
        out.push_str(&format!(
            "    {} [label=\"{{{}|{rows}}}\"];\n",
            dot_id(t),
            dot_escape(&title)
        ));
    }
    for t in tables {
        for fk in &t.fks {
            if !present.contains(&(fk.ref_schema.clone(), fk.ref_table.clone())) {
                continue;
            }
            let c = cardinality(t, fk);
            let parent = format!("\"{}.{}\"", fk.ref_schema, fk.ref_table).replace('\\', "\\\\");
            out.push_str(&format!(
                "    {} -> {parent} [label=\"{}\", arrowtail={}, arrowhead={}];\n",
                dot_id(t),
                fk.columns.join(", ").replace('"', "\\\""),
                if c.child_unique {
                    "teeodot"
                } else {
                    "crowodot"
                },
                if c.parent_required {
                    "teetee"
                } else {
                    "teeodot"
                },
            ));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, pk: bool, not_null: bool) -> Column {
        Column {
            name: name.into(),
            data_type: ty.into(),
            base: ty.into(),
            pk,
            not_null,
            ..Default::default()
        }
    }

    fn chinook_pair() -> Vec<Table> {
        let artist = Table {
            schema: "public".into(),
            name: "artist".into(),
            has_pk: true,
            columns: vec![
                col("artist_id", "integer", true, true),
                col("name", "character varying(120)", false, false),
            ],
            ..Default::default()
        };
        let album = Table {
            schema: "public".into(),
            name: "album".into(),
            has_pk: true,
            columns: vec![
                col("album_id", "integer", true, true),
                col("title", "character varying(160)", false, true),
                col("artist_id", "integer", false, true),
            ],
            fks: vec![ForeignKey {
                name: "album_artist_id_fkey".into(),
                columns: vec!["artist_id".into()],
                ref_schema: "public".into(),
                ref_table: "artist".into(),
                indexed: true,
            }],
            ..Default::default()
        };
        vec![album, artist]
    }

    #[test]
    fn mermaid_shows_keys_and_cardinality() {
        let m = render(&chinook_pair(), Format::Mermaid);
        assert_eq!(
            m,
            "erDiagram\n    album {\n        integer album_id PK\n        integer artist_id FK\n    }\n    artist {\n        integer artist_id PK\n    }\n    artist ||--o{ album : \"artist_id\"\n"
        );
    }

    #[test]
    fn a_nullable_or_unique_key_changes_the_ends() {
        let mut t = chinook_pair();
        t[0].columns[2].not_null = false;
        t[0].columns[2].unique_alone = true;
        assert!(render(&t, Format::Mermaid).contains("artist |o--o| album"));
        assert!(render(&t, Format::Dot).contains("arrowtail=teeodot, arrowhead=teeodot"));
    }

    #[test]
    fn dot_escapes_record_labels() {
        let mut t = chinook_pair();
        t[1].name = "odd|name".into();
        t[0].fks[0].ref_table = "odd|name".into();
        let d = render(&t, Format::Dot);
        assert!(
            d.contains("label=\"{odd\\|name|artist_id\\ :\\ integer\\ PK\\l}\""),
            "{d}"
        );
        assert!(d.contains("\"public.album\" -> \"public.odd|name\" [label=\"artist_id\", arrowtail=crowodot, arrowhead=teetee]"), "{d}");
    }

    #[test]
    fn types_become_one_word() {
        assert_eq!(short_type("character varying(120)"), "varchar");
        assert_eq!(short_type("timestamp with time zone"), "timestamptz");
        assert_eq!(short_type("numeric(10,2)"), "numeric");
        assert_eq!(short_type("text[]"), "text[]");
    }
}
