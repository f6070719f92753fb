//! What the catalog stores about each object: the text that is embedded and its hash.
//! Plain Rust: the introspection query hands over JSON, this turns it into descriptions.

use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Column {
    pub name: String,
    pub attnum: i16,
    #[serde(rename = "type")]
    pub data_type: String,
    pub not_null: bool,
    pub pk: bool,
    pub comment: Option<String>,
    pub human: Option<String>,
    #[serde(default)]
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub relkind: String,
    pub comment: Option<String>,
    pub human: Option<String>,
    pub rows: i64,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub fks: Vec<ForeignKey>,
}

fn kind(relkind: &str) -> &'static str {
    match relkind {
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "p" => "partitioned table",
        _ => "table",
    }
}

fn notes(human: &Option<String>, comment: &Option<String>) -> String {
    [human, comment]
        .iter()
        .filter_map(|s| s.as_deref().map(str::trim).filter(|s| !s.is_empty()))
        .map(|s| format!(" {}", s.trim_end_matches('.').to_string() + "."))
        .collect()
}

/// A schema's own text: its name (its tables have theirs; a list of them here would change
/// with every table created or dropped).
pub fn schema_text(schema: &str) -> String {
    format!("Schema {schema} ({}).", super::text::words(schema))
}

pub fn table_text(t: &Table) -> String {
    // Every name once, in its words: `kestrel_delta_01000 (kestrel delta 01000)` was 17
    // tokens where `kestrel delta 01000` is 7, and the model's time grows with the tokens
    // (the names themselves are in the catalog's own columns).
    let words = super::text::words;
    let mut s = format!(
        "{} {} in schema {}",
        capitalised(kind(&t.relkind)),
        words(&t.name),
        t.schema
    );
    // Row counts change all the time: they are stored beside the text, not in it, so a
    // refresh does not embed a table again because it grew.
    s.push('.');
    s.push_str(&notes(&t.human, &t.comment));
    // the names say what a question means (types, keys and links are the engine's business,
    // read from the catalog itself: a table's text names no other table): a short text
    // embeds several times faster — at 2,000 tables the lists of the tables each belongs to
    // and has many were a quarter of the tokens, and a question found the same tables
    // without them
    let cols: Vec<String> = t.columns.iter().map(|c| words(&c.name)).collect();
    s.push_str(&format!(" Columns: {}.", cols.join(", ")));
    s
}

/// The column alone, not its table: a question is compared with the columns of one table at
/// a time (the table has its own text), and columns alike across tables (`id`, `name`,
/// `created_at`) share one text, embedded once.
pub fn column_text(c: &Column) -> String {
    let mut s = format!("Column {}: {}", super::text::words(&c.name), c.data_type);
    if c.pk {
        s.push_str(", primary key");
    } else if c.not_null {
        s.push_str(", not null");
    }
    s.push('.');
    if !c.samples.is_empty() {
        s.push_str(&format!(" Values such as: {}.", c.samples.join(", ")));
    }
    s.push_str(&notes(&c.human, &c.comment));
    s
}

/// `order_items` -> `order item`: the singular, for sentences about one row.
fn singular(name: &str) -> String {
    let w = super::text::words(name);
    match w.rsplit_once(' ') {
        Some((head, last)) => format!("{head} {}", super::text::stem(last)),
        None => super::text::stem(&w),
    }
}

pub fn relationship_text(t: &Table, fk: &ForeignKey) -> String {
    format!(
        "{} ({}) references {} ({}): {}.{} = {}.{}; each {} belongs to one {}, one {} has many {}. On delete {}, on update {}.",
        t.name,
        super::text::words(&t.name),
        fk.ref_table,
        super::text::words(&fk.ref_table),
        t.name,
        fk.columns.join(", "),
        fk.ref_table,
        fk.ref_columns.join(", "),
        singular(&t.name),
        singular(&fk.ref_table),
        singular(&fk.ref_table),
        super::text::words(&t.name),
        fk.on_delete,
        fk.on_update,
    )
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Content hash of a description, tied to the embedding model that embeds it.
pub fn content_hash(model: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(model.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    crate::embed::assets::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> Table {
        Table {
            oid: 1,
            schema: "public".into(),
            name: "invoice".into(),
            relkind: "r".into(),
            comment: Some("One row per sale".into()),
            human: None,
            rows: 412,
            columns: vec![
                Column {
                    name: "invoice_id".into(),
                    attnum: 1,
                    data_type: "integer".into(),
                    not_null: true,
                    pk: true,
                    comment: None,
                    human: None,
                    samples: vec![],
                },
                Column {
                    name: "customer_id".into(),
                    attnum: 2,
                    data_type: "integer".into(),
                    not_null: true,
                    pk: false,
                    comment: None,
                    human: None,
                    samples: vec![],
                },
                Column {
                    name: "billing_country".into(),
                    attnum: 3,
                    data_type: "character varying(40)".into(),
                    not_null: false,
                    pk: false,
                    comment: None,
                    human: Some("Where the invoice was sent".into()),
                    samples: vec!["USA".into(), "Canada".into()],
                },
            ],
            fks: vec![ForeignKey {
                name: "invoice_customer_id_fkey".into(),
                columns: vec!["customer_id".into()],
                ref_schema: "public".into(),
                ref_table: "customer".into(),
                ref_columns: vec!["customer_id".into()],
                on_delete: "NO ACTION".into(),
                on_update: "NO ACTION".into(),
            }],
        }
    }

    #[test]
    fn splits_identifiers_into_words() {
        assert_eq!(crate::catalog::text::words("invoice_line"), "invoice line");
        assert_eq!(crate::catalog::text::words("InvoiceLine"), "invoice line");
        assert_eq!(
            crate::catalog::text::words("invoiceLineID2"),
            "invoice line id2"
        );
        assert_eq!(crate::catalog::text::words("__a__b"), "a b");
    }

    #[test]
    fn table_text_carries_names_comments_and_columns_not_links() {
        let t = invoice();
        let s = table_text(&t);
        assert!(
            s.starts_with("Table invoice in schema public. One row per sale."),
            "{s}"
        );
        assert!(s.contains("Columns: invoice id, customer id"), "{s}");
        // the tables it is linked to are the engine's business (the catalog's relationships)
        assert!(!s.contains("Belongs") && !s.contains("Has many") && !s.contains("line"), "{s}");
        // each name once, in words: the model's time grows with the tokens
        assert!(!s.contains('_') && s.matches("invoice").count() == 2, "{s}");
    }

    #[test]
    fn column_text_has_samples_and_human_description_first() {
        let t = invoice();
        let s = column_text(&t.columns[2]);
        assert_eq!(
            s,
            "Column billing country: character varying(40). Values such as: USA, Canada. Where the invoice was sent."
        );
    }

    #[test]
    fn relationship_text_reads_as_a_sentence() {
        let mut t = invoice();
        t.name = "order_items".into();
        t.fks[0].ref_table = "orders".into();
        let s = relationship_text(&t, &t.fks[0]);
        assert!(
            s.contains("each order item belongs to one order, one order has many order items"),
            "{s}"
        );
    }

    #[test]
    fn hash_changes_with_text_and_model() {
        let a = content_hash("m1", "x");
        assert_eq!(a, content_hash("m1", "x"));
        assert_ne!(a, content_hash("m1", "y"));
        assert_ne!(a, content_hash("m2", "x"));
    }
}
