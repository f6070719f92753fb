//! What the LLM is told: the relevant tables as `CREATE TABLE` text with their comments, the
//! closest stored samples, and the rules. Plain Rust.
use super::engine::vocabulary::{Entry, PLACEHOLDER};
use crate::llm::Message;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct CatColumn {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub pk: bool,
    pub notes: Option<String>,
    /// pg_attribute.attnum
    #[serde(default)]
    pub attnum: i16,
    #[serde(default)]
    pub samples: Vec<String>,
    /// Similarity of the column's catalog description to the question (0 when unknown).
    #[serde(default)]
    pub similarity: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatForeignKey {
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// One table of the catalog as the caller may see it.
#[derive(Debug, Clone, Deserialize)]
pub struct CatTable {
    pub schema: String,
    pub name: String,
    /// pg_class.relkind: r, p, v, m or f
    #[serde(default)]
    pub relkind: String,
    /// pg_class.oid
    #[serde(default)]
    pub oid: u32,
    /// Its text values are in the catalog's index (ai.catalog_values).
    #[serde(default)]
    pub values_indexed: bool,
    pub notes: Option<String>,
    pub rows: f64,
    pub similarity: f64,
    pub columns: Vec<CatColumn>,
    #[serde(default)]
    pub fks: Vec<CatForeignKey>,
}

fn q(s: &str) -> String {
    super::engine::sql::ident(s)
}

fn comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// `CREATE TABLE` text for one table: columns, types, keys, comments (and a few sample
/// values of each column when `with_values`).
pub fn create_table(t: &CatTable, with_values: bool) -> String {
    let mut out = String::new();
    if let Some(n) = t.notes.as_deref().filter(|n| !n.trim().is_empty()) {
        out.push_str(&format!("-- {}\n", comment(n)));
    }
    out.push_str(&format!("CREATE TABLE {}.{} (\n", q(&t.schema), q(&t.name)));
    let mut lines: Vec<String> = Vec::new();
    for c in &t.columns {
        let mut l = format!("  {} {}", q(&c.name), c.data_type);
        if !c.nullable {
            l.push_str(" NOT NULL");
        }
        let mut notes: Vec<String> = Vec::new();
        if let Some(n) = c.notes.as_deref().filter(|n| !n.trim().is_empty()) {
            notes.push(comment(n));
        }
        if with_values && !c.samples.is_empty() {
            let v: Vec<String> = c
                .samples
                .iter()
                .take(5)
                .map(|s| format!("'{}'", s.replace('\'', "''")))
                .collect();
            notes.push(format!("e.g. {}", v.join(", ")));
        }
        lines.push(if notes.is_empty() {
            l
        } else {
            format!("{l} -- {}", notes.join("; "))
        });
    }
    let pk: Vec<String> = t
        .columns
        .iter()
        .filter(|c| c.pk)
        .map(|c| q(&c.name))
        .collect();
    if !pk.is_empty() {
        lines.push(format!("  PRIMARY KEY ({})", pk.join(", ")));
    }
    for fk in &t.fks {
        lines.push(format!(
            "  FOREIGN KEY ({}) REFERENCES {}.{} ({})",
            fk.columns
                .iter()
                .map(|c| q(c))
                .collect::<Vec<_>>()
                .join(", "),
            q(&fk.ref_schema),
            q(&fk.ref_table),
            fk.ref_columns
                .iter()
                .map(|c| q(c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // a comment after the last comma-less line would swallow nothing: keep commas first
    let n = lines.len();
    for (i, l) in lines.into_iter().enumerate() {
        let (code, note) = match l.find(" -- ") {
            Some(p) => (l[..p].to_string(), l[p..].to_string()),
            None => (l, String::new()),
        };
        out.push_str(&code);
        if i + 1 < n {
            out.push(',');
        }
        out.push_str(&note);
        out.push('\n');
    }
    out.push_str(");");
    out
}

pub const RULES: &str = "You translate questions into PostgreSQL SQL.\n\
Rules:\n\
- Answer with exactly one SELECT statement (WITH ... SELECT is fine) and nothing else, in a ```sql block.\n\
- PostgreSQL dialect. Use only the tables and columns given below, schema-qualified.\n\
- Never modify data or settings: no INSERT, UPDATE, DELETE, DDL, COPY, SET, transaction control, FOR UPDATE.\n\
- Never call file, network, sleep, locking or server-control functions.\n\
- If the question cannot be answered from these tables, answer with: SELECT NULL WHERE false -- cannot answer";

/// What the curators' words mean, one line each, for the words over the tables the model is
/// shown (a relationship: over both of its tables).
pub fn words(taught: &[Entry], tables: &[&CatTable]) -> Vec<String> {
    let shown = |schema: &str, name: &str| tables.iter().any(|t| t.schema == schema && t.name == name);
    let mut out = Vec::new();
    for e in taught {
        if !shown(&e.schema, &e.table) {
            continue;
        }
        let table = format!("{}.{}", q(&e.schema), q(&e.table));
        let expr = e.template.as_deref().map(|t| t.replace(PLACEHOLDER, &table));
        let meaning = match (e.kind.as_str(), &expr, &e.other) {
            ("table", _, _) => format!("the table {table}"),
            ("relationship", _, Some((os, on))) if shown(os, on) => {
                format!("the join of {table} and {}.{} along their foreign key", q(os), q(on))
            }
            ("measure", Some(x), _) => format!("{}({x})", e.aggregate.as_deref().unwrap_or("sum")),
            ("filter", Some(x), _) => format!("the rows of {table} where {x}"),
            ("column", Some(x), _) => x.clone(),
            _ => continue,
        };
        let note = if e.note.is_empty() { String::new() } else { format!(" ({})", comment(&e.note)) };
        out.push(format!("- \"{}\": {meaning}{note}", e.word));
    }
    out
}

/// The conversation for one question.
pub fn messages(
    question: &str,
    history: &[Message],
    tables: &[&CatTable],
    words: &[String],
    samples: &[(String, String)],
    with_values: bool,
) -> Vec<Message> {
    let schema: Vec<String> = tables
        .iter()
        .map(|t| create_table(t, with_values))
        .collect();
    let mut system = format!("{RULES}\n\nTables:\n\n{}", schema.join("\n\n"));
    if !words.is_empty() {
        system.push_str("\n\nWhat words mean in this database (its curators' definitions; use them):\n");
        system.push_str(&words.join("\n"));
    }
    if !samples.is_empty() {
        system.push_str("\n\nExamples of questions answered on this database:\n");
        for (sq, ss) in samples {
            system.push_str(&format!("\nQuestion: {sq}\n```sql\n{ss}\n```\n"));
        }
    }
    let mut out = vec![Message {
        role: "system",
        content: system,
    }];
    // a conversation's earlier turns, so the model reads the question as a follow-up
    out.extend(history.iter().cloned());
    out.push(Message {
        role: "user",
        content: question.to_string(),
    });
    out
}

/// The follow-up after an answer that could not be used.
pub fn retry(answer: &str, error: &str) -> [Message; 2] {
    [
        Message { role: "assistant", content: answer.to_string() },
        Message {
            role: "user",
            content: format!("That SQL cannot be used: {error}\nAnswer again with one corrected SELECT statement."),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> CatTable {
        CatTable {
            schema: "public".into(),
            name: "track".into(),
            relkind: "r".into(),
            oid: 16384,
            values_indexed: true,
            notes: Some("Songs for sale".into()),
            rows: 3503.0,
            similarity: 0.5,
            columns: vec![
                CatColumn {
                    name: "track_id".into(),
                    attnum: 1,
                    data_type: "integer".into(),
                    nullable: false,
                    pk: true,
                    notes: None,
                    samples: vec![],
                    similarity: 0.0,
                },
                CatColumn {
                    name: "name".into(),
                    attnum: 2,
                    data_type: "character varying(200)".into(),
                    nullable: false,
                    pk: false,
                    notes: Some("title of the song".into()),
                    samples: vec!["Balls to the Wall".into()],
                    similarity: 0.0,
                },
                CatColumn {
                    name: "genre_id".into(),
                    attnum: 3,
                    data_type: "integer".into(),
                    nullable: true,
                    pk: false,
                    notes: None,
                    samples: vec![],
                    similarity: 0.0,
                },
            ],
            fks: vec![CatForeignKey {
                columns: vec!["genre_id".into()],
                ref_schema: "public".into(),
                ref_table: "genre".into(),
                ref_columns: vec!["genre_id".into()],
            }],
        }
    }

    #[test]
    fn create_table_text() {
        assert_eq!(
            create_table(&track(), false),
            "-- Songs for sale\nCREATE TABLE public.track (\n  track_id integer NOT NULL,\n  name character varying(200) NOT NULL, -- title of the song\n  genre_id integer,\n  PRIMARY KEY (track_id),\n  FOREIGN KEY (genre_id) REFERENCES public.genre (genre_id)\n);"
        );
        assert!(
            create_table(&track(), true).contains("-- title of the song; e.g. 'Balls to the Wall'")
        );
    }

    #[test]
    fn sample_values_stay_home_unless_allowed() {
        let t = track();
        let m = messages(
            "longest song?",
            &[],
            &[&t],
            &[],
            &[("q".into(), "SELECT 1".into())],
            false,
        );
        assert_eq!(m.len(), 2);
        assert!(!m[0].content.contains("Balls to the Wall"));
        assert!(m[0].content.contains("Question: q\n```sql\nSELECT 1\n```"));
        assert_eq!(m[1].content, "longest song?");
        assert!(messages("x", &[], &[&t], &[], &[], true)[0]
            .content
            .contains("Balls to the Wall"));
    }

    #[test]
    fn the_curators_words_over_the_tables_shown_are_told() {
        let t = track();
        let entry = |word: &str, kind: &str, table: &str, template: Option<&str>, aggregate: Option<&str>| Entry {
            word: word.into(),
            kind: kind.into(),
            schema: "public".into(),
            table: table.into(),
            other: (kind == "relationship").then(|| ("public".to_string(), "album".to_string())),
            template: template.map(|x| x.replace('@', PLACEHOLDER)),
            aggregate: aggregate.map(str::to_string),
            data_type: None,
            note: String::new(),
        };
        let taught = [
            entry("airtime", "column", "track", Some("@.milliseconds"), None),
            entry("playtime", "measure", "track", Some("@.milliseconds / 1000.0"), Some("sum")),
            entry("long", "filter", "track", Some("@.milliseconds > 300000"), None),
            entry("songs", "table", "track", None, None),
            // over a table the model is not shown, or a relationship with one: not told
            entry("takings", "measure", "invoice_line", Some("@.unit_price"), Some("sum")),
            entry("on", "relationship", "track", None, None),
        ];
        let lines = words(&taught, &[&t]);
        assert_eq!(
            lines,
            [
                "- \"airtime\": public.track.milliseconds",
                "- \"playtime\": sum(public.track.milliseconds / 1000.0)",
                "- \"long\": the rows of public.track where public.track.milliseconds > 300000",
                "- \"songs\": the table public.track",
            ]
        );
        let m = messages("total airtime?", &[], &[&t], &lines, &[], false);
        assert!(m[0].content.contains("What words mean in this database"));
        assert!(m[0].content.contains("\"airtime\": public.track.milliseconds"));
        assert!(!messages("x", &[], &[&t], &[], &[], false)[0].content.contains("What words mean"));
    }

    #[test]
    fn a_conversation_goes_between_the_schema_and_the_question() {
        let t = track();
        let history = [
            Message {
                role: "user",
                content: "How many tracks are there?".into(),
            },
            Message {
                role: "assistant",
                content: "SELECT count(*) FROM track".into(),
            },
        ];
        let m = messages("and longer than 5 minutes?", &history, &[&t], &[], &[], false);
        let roles: Vec<&str> = m.iter().map(|m| m.role).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(m[3].content, "and longer than 5 minutes?");
    }
}
