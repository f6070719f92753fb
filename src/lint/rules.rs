//! The schema lint's rules, over the facts of the one schema introspection
//! (catalog/schema.sql). Plain Rust: each rule says what it found and, where one statement fixes
//! it, that statement.
use crate::catalog::text::words;
use crate::sqlparse::ident;
use serde::Deserialize;

/// A table with more columns than this is reported as very wide.
pub const WIDE_TABLE_COLUMNS: usize = 50;
/// A text column with 2 to this many distinct values (and enough rows) is enum-like.
pub const ENUM_LIKE_VALUES: f64 = 10.0;
pub const ENUM_LIKE_MIN_ROWS: i64 = 100;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Column {
    pub name: String,
    #[serde(default)]
    pub name_quoted: bool,
    pub keyword: Option<String>,
    #[serde(rename = "type")]
    pub data_type: String,
    pub base: String,
    pub length: Option<i32>,
    #[serde(default)]
    pub not_null: bool,
    #[serde(default)]
    pub identity: bool,
    #[serde(default)]
    pub pk: bool,
    #[serde(default)]
    pub checked: bool,
    #[serde(default)]
    pub unique_alone: bool,
    pub serial_sequence: Option<String>,
    pub null_frac: Option<f64>,
    pub n_distinct: Option<f64>,
    pub values: Option<Vec<String>>,
    pub values_freq: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    #[serde(default)]
    pub ref_schema: String,
    #[serde(default)]
    pub ref_table: String,
    pub indexed: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Table {
    pub schema: String,
    pub name: String,
    #[serde(default)]
    pub name_quoted: bool,
    pub keyword: Option<String>,
    pub rows: i64,
    #[serde(default)]
    pub analyzed: bool,
    pub has_pk: bool,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub fks: Vec<ForeignKey>,
}

/// An index ai.insights would drop as a duplicate or a redundant one (index_health.sql).
#[derive(Debug, Clone)]
pub struct IndexFinding {
    pub kind: String,
    pub schema: String,
    pub index: String,
    pub detail: String,
    pub drop_sql: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: &'static str,
    pub object: String,
    pub message: String,
    pub fix_sql: Option<String>,
}

impl Table {
    fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
    fn object(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    fn in_a_foreign_key(&self, column: &str) -> bool {
        self.fks
            .iter()
            .any(|f| f.columns.iter().any(|c| c == column))
    }
}

/// `InvoiceLine` / `Invoice Line` / `invoice-line` -> `invoice_line`.
pub fn snake_case(name: &str) -> String {
    let s: String = words(name)
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let s = s
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    match s.chars().next() {
        Some(c) if c.is_ascii_digit() => format!("_{s}"),
        None => "_".into(),
        _ => s,
    }
}

/// Reserved (R) and type-or-function-name (T) keywords need quotes as names.
fn reserved(keyword: &Option<String>) -> bool {
    matches!(keyword.as_deref(), Some("R") | Some("T"))
}

const MONEY_WORDS: &[&str] = &[
    "price", "amount", "cost", "total", "balance", "fee", "salary", "wage", "payment", "revenue",
    "tax", "discount", "charge", "money", "budget", "invoice", "paid", "refund",
];

fn sounds_like_money(column: &str) -> bool {
    let w = words(column).to_lowercase();
    w.split(' ')
        .any(|p| MONEY_WORDS.iter().any(|m| p == *m || p == format!("{m}s")))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Every finding for these tables, in table order, then the index findings.
pub fn lint(tables: &[Table], indexes: &[IndexFinding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in tables {
        table_rules(t, &mut out);
        for c in &t.columns {
            column_rules(t, c, &mut out);
        }
        for fk in &t.fks {
            fk_rules(t, fk, &mut out);
        }
    }
    for i in indexes {
        let (rule, severity) = match i.kind.as_str() {
            "duplicate" => ("duplicate_index", "medium"),
            "redundant" => ("redundant_index", "low"),
            _ => continue,
        };
        out.push(Finding {
            rule,
            severity,
            object: format!("{}.{}", i.schema, i.index),
            message: format!("index {}: {}", i.index, i.detail),
            fix_sql: Some(i.drop_sql.clone()),
        });
    }
    out
}

fn table_rules(t: &Table, out: &mut Vec<Finding>) {
    if !t.has_pk {
        // an existing unique, not-null id column becomes the key; otherwise a new identity
        let id = [format!("{}_id", t.name), "id".into()]
            .into_iter()
            .find_map(|n| t.column(&n).filter(|c| c.not_null && c.unique_alone));
        let fix = match id {
            Some(c) => format!(
                "ALTER TABLE {} ADD PRIMARY KEY ({})",
                t.qualified(),
                ident(&c.name)
            ),
            None => {
                let name = if t.column("id").is_none() {
                    "id".to_string()
                } else {
                    format!("{}_id", snake_case(&t.name))
                };
                format!(
                    "ALTER TABLE {} ADD COLUMN {} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                    t.qualified(),
                    ident(&name)
                )
            }
        };
        out.push(Finding {
            rule: "no_primary_key",
            severity: "high",
            object: t.object(),
            message: format!(
                "{} has no primary key: its rows cannot be told apart, replicated logically or restored one by one",
                t.object()
            ),
            fix_sql: Some(fix),
        });
    }
    if t.columns.len() > WIDE_TABLE_COLUMNS {
        out.push(Finding {
            rule: "wide_table",
            severity: "low",
            object: t.object(),
            message: format!(
                "{} has {} columns (more than {WIDE_TABLE_COLUMNS}): groups of columns read together may belong in tables of their own",
                t.object(),
                t.columns.len()
            ),
            fix_sql: None,
        });
    }
    name_rules(t, None, &t.name, t.name_quoted, &t.keyword, out);
}

/// Names that need quotes: mixed case, other characters, reserved words.
fn name_rules(
    t: &Table,
    column: Option<&Column>,
    name: &str,
    quoted: bool,
    keyword: &Option<String>,
    out: &mut Vec<Finding>,
) {
    let object = match column {
        Some(c) => format!("{}.{}", t.object(), c.name),
        None => t.object(),
    };
    let what = if column.is_some() { "column" } else { "table" };
    let rename = |to: &str| match column {
        Some(c) => format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            t.qualified(),
            ident(&c.name),
            ident(to)
        ),
        None => format!("ALTER TABLE {} RENAME TO {}", t.qualified(), ident(to)),
    };
    if reserved(keyword) {
        let to = match column {
            Some(_) => format!("{}_{}", snake_case(&t.name), name),
            None if name.ends_with('s') => format!("{name}_table"),
            None => format!("{name}s"),
        };
        out.push(Finding {
            rule: "reserved_word",
            severity: "low",
            object,
            message: format!(
                "{what} {name:?} is a reserved word in PostgreSQL: every query must quote it"
            ),
            fix_sql: Some(rename(&to)),
        });
    } else if quoted {
        let mixed =
            name.chars().any(|c| c.is_uppercase()) && name.chars().any(|c| c.is_lowercase());
        let (rule, why) = if mixed {
            ("mixed_case_name", "mixes upper and lower case")
        } else {
            (
                "name_needs_quoting",
                "has characters a plain identifier cannot",
            )
        };
        out.push(Finding {
            rule,
            severity: "low",
            object,
            message: format!("{what} {name:?} {why}: every query must quote it exactly"),
            fix_sql: Some(rename(&snake_case(name))),
        });
    }
}

fn column_rules(t: &Table, c: &Column, out: &mut Vec<Finding>) {
    let object = format!("{}.{}", t.object(), c.name);
    let alter = |what: String| {
        format!(
            "ALTER TABLE {} ALTER COLUMN {} {what}",
            t.qualified(),
            ident(&c.name)
        )
    };
    match c.base.as_str() {
        "timestamp" => out.push(Finding {
            rule: "timestamp_without_time_zone",
            severity: "low",
            object: object.clone(),
            message: format!(
                "{} is timestamp without time zone: its values mean different instants to sessions in different time zones (the fix assumes the stored values are UTC; change the zone in it if they are not)",
                c.name
            ),
            fix_sql: Some(alter(format!("TYPE timestamptz USING {} AT TIME ZONE 'UTC'", ident(&c.name)))),
        }),
        "bpchar" => out.push(Finding {
            rule: "char_n",
            severity: "low",
            object: object.clone(),
            message: format!(
                "{} is {}: char(n) pads with spaces and is no faster; varchar(n) or text with a CHECK keeps the limit (the fix drops the padding: values compare as they did, their length changes)",
                c.name, c.data_type
            ),
            fix_sql: Some(alter(match c.length {
                Some(n) => format!("TYPE varchar({n})"),
                None => "TYPE text".into(),
            })),
        }),
        "float4" | "float8" if sounds_like_money(&c.name) => out.push(Finding {
            rule: "money_as_float",
            severity: "medium",
            object: object.clone(),
            message: format!(
                "{} looks like money but is {}: binary floating point cannot hold 0.10 exactly, sums drift (the fix assumes two decimal places and amounts below 10^12: values are rounded to cents, a larger one fails the change)",
                c.name, c.data_type
            ),
            fix_sql: Some(alter("TYPE numeric(14,2)".into())),
        }),
        _ => {}
    }
    if let (Some(seq), false) = (&c.serial_sequence, c.identity) {
        // advice only: the identity's sequence must start past max() in the same transaction
        // as the change (rows inserted between the lint and the change would collide), which
        // one statement cannot say
        let (t_lit, c_lit) = (literal(&t.qualified()), literal(&c.name));
        out.push(Finding {
            rule: "serial_column",
            severity: "low",
            object: object.clone(),
            message: format!(
                "{} is a serial (a default from sequence {seq}): an identity column is standard SQL, owned by its column and needs no grant on a sequence. \
                 In one transaction: ALTER TABLE {t} ALTER COLUMN {n} DROP DEFAULT, ALTER COLUMN {n} ADD GENERATED BY DEFAULT AS IDENTITY; \
                 SELECT setval(pg_get_serial_sequence({t_lit}, {c_lit}), coalesce(max({n}), 0) + 1, false) FROM {t}; DROP SEQUENCE {seq}",
                c.name,
                t = t.qualified(),
                n = ident(&c.name)
            ),
            fix_sql: None,
        });
    }
    if matches!(c.base.as_str(), "text" | "varchar")
        && !c.checked
        && !t.in_a_foreign_key(&c.name)
        && t.rows >= ENUM_LIKE_MIN_ROWS
    {
        if let Some(n) = c
            .n_distinct
            .filter(|n| (1.0..=ENUM_LIKE_VALUES).contains(n))
        {
            let values = c.values.clone().unwrap_or_default();
            // a CHECK only when the statistics saw every value, and validated on the real
            // rows as it is added: a value the sample missed (or one written since) makes the
            // change fail before anything is enforced — never NOT VALID, under which the rows
            // holding such a value could not be updated any more
            let all_seen = c.values_freq.unwrap_or(0.0) + c.null_frac.unwrap_or(0.0) >= 0.999;
            let fix = (all_seen && !values.is_empty()).then(|| {
                format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IN ({}))",
                    t.qualified(),
                    ident(&format!(
                        "{}_{}_check",
                        snake_case(&t.name),
                        snake_case(&c.name)
                    )),
                    ident(&c.name),
                    values
                        .iter()
                        .map(|v| literal(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            out.push(Finding {
                rule: "enum_like_text",
                severity: "low",
                object: object.clone(),
                message: format!(
                    "{} holds {} distinct values in {} rows ({}): a CHECK, an enum or a lookup table states them",
                    c.name,
                    n as i64,
                    t.rows,
                    values.join(", ")
                ),
                fix_sql: fix,
            });
        }
    }
    name_rules(t, Some(c), &c.name, c.name_quoted, &c.keyword, out);
}

fn fk_rules(t: &Table, fk: &ForeignKey, out: &mut Vec<Finding>) {
    let cols = fk
        .columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    if !fk.indexed {
        out.push(Finding {
            rule: "fk_without_index",
            severity: "medium",
            object: format!("{}.{}", t.object(), fk.name),
            message: format!(
                "foreign key {} ({}) has no index starting with its columns: every delete or key update of the parent scans {}",
                fk.name,
                fk.columns.join(", "),
                t.object()
            ),
            fix_sql: Some(format!(
                "CREATE INDEX CONCURRENTLY {} ON {} ({cols})",
                ident(&format!("{}_{}_idx", snake_case(&t.name), snake_case(&fk.columns.join("_")))),
                t.qualified()
            )),
        });
    }
    let columns: Vec<&Column> = fk.columns.iter().filter_map(|c| t.column(c)).collect();
    let always_filled = t.analyzed
        && t.rows > 0
        && !columns.is_empty()
        && columns
            .iter()
            .all(|c| !c.not_null && c.null_frac == Some(0.0));
    if always_filled {
        for c in columns {
            out.push(Finding {
                rule: "nullable_fk_always_filled",
                severity: "low",
                object: format!("{}.{}", t.object(), c.name),
                message: format!(
                    "{} (foreign key {}) may be NULL, yet the statistics find it filled in all {} rows: NOT NULL would say every row has one",
                    c.name, fk.name, t.rows
                ),
                fix_sql: Some(format!("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL", t.qualified(), ident(&c.name))),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, base: &str) -> Column {
        Column {
            name: name.into(),
            data_type: base.into(),
            base: base.into(),
            ..Default::default()
        }
    }

    fn table(name: &str, columns: Vec<Column>) -> Table {
        Table {
            schema: "s".into(),
            name: name.into(),
            rows: 1000,
            analyzed: true,
            has_pk: true,
            columns,
            ..Default::default()
        }
    }

    fn rules(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_clean_table_has_no_findings() {
        let t = table("track", vec![col("track_id", "int8"), col("name", "text")]);
        assert!(lint(&[t], &[]).is_empty());
    }

    #[test]
    fn a_table_without_a_key_gets_its_unique_id_or_a_new_identity() {
        let mut id = col("id", "int8");
        id.not_null = true;
        id.unique_alone = true;
        let mut t = table("t", vec![id]);
        t.has_pk = false;
        let f = lint(&[t.clone()], &[]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("ALTER TABLE s.t ADD PRIMARY KEY (id)")
        );
        t.columns[0].unique_alone = false;
        let f = lint(&[t], &[]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("ALTER TABLE s.t ADD COLUMN t_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
        );
    }

    #[test]
    fn types_a_dba_would_change() {
        let mut ch = col("code", "bpchar");
        ch.data_type = "character(3)".into();
        ch.length = Some(3);
        let t = table(
            "sale",
            vec![
                col("sold_at", "timestamp"),
                ch,
                col("unit_price", "float8"),
                col("weight", "float8"),
            ],
        );
        let f = lint(&[t], &[]);
        assert_eq!(
            rules(&f),
            ["timestamp_without_time_zone", "char_n", "money_as_float"]
        );
        assert_eq!(
            f[1].fix_sql.as_deref(),
            Some("ALTER TABLE s.sale ALTER COLUMN code TYPE varchar(3)")
        );
    }

    #[test]
    fn serial_is_advice_that_sets_the_identity_from_max_in_one_transaction() {
        let mut c = col("id", "int4");
        c.serial_sequence = Some("s.t_id_seq".into());
        let f = lint(&[table("t", vec![c.clone()])], &[]);
        assert_eq!(f[0].rule, "serial_column");
        assert!(f[0].fix_sql.is_none(), "{:?}", f[0]);
        assert!(
            f[0].message.contains("In one transaction: ALTER TABLE s.t ALTER COLUMN id DROP DEFAULT, ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY; SELECT setval(pg_get_serial_sequence('s.t', 'id'), coalesce(max(id), 0) + 1, false) FROM s.t; DROP SEQUENCE s.t_id_seq"),
            "{}",
            f[0].message
        );
        c.identity = true;
        assert!(lint(&[table("t", vec![c])], &[]).is_empty());
    }

    #[test]
    fn names_that_need_quotes() {
        let mut a = col("order", "int4");
        a.keyword = Some("R".into());
        a.name_quoted = true;
        let mut b = col("TrackId", "int4");
        b.name_quoted = true;
        let mut c = col("unit price", "int4");
        c.name_quoted = true;
        let f = lint(&[table("line", vec![a, b, c])], &[]);
        assert_eq!(
            rules(&f),
            ["reserved_word", "mixed_case_name", "name_needs_quoting"]
        );
        assert_eq!(
            f.iter()
                .map(|f| f.fix_sql.clone().unwrap())
                .collect::<Vec<_>>(),
            [
                "ALTER TABLE s.line RENAME COLUMN \"order\" TO line_order",
                "ALTER TABLE s.line RENAME COLUMN \"TrackId\" TO track_id",
                "ALTER TABLE s.line RENAME COLUMN \"unit price\" TO unit_price",
            ]
        );
    }

    #[test]
    fn foreign_keys_without_index_and_always_filled() {
        let mut c = col("artist_id", "int4");
        c.null_frac = Some(0.0);
        let mut t = table("album", vec![c]);
        t.fks = vec![ForeignKey {
            name: "album_artist_fk".into(),
            columns: vec!["artist_id".into()],
            indexed: false,
            ..Default::default()
        }];
        let f = lint(&[t.clone()], &[]);
        assert_eq!(rules(&f), ["fk_without_index", "nullable_fk_always_filled"]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("CREATE INDEX CONCURRENTLY album_artist_id_idx ON s.album (artist_id)")
        );
        // one NULL in the statistics: nullable on purpose
        t.columns[0].null_frac = Some(0.01);
        t.fks[0].indexed = true;
        assert!(lint(&[t], &[]).is_empty());
    }

    #[test]
    fn enum_like_text_gets_a_check_only_when_every_value_was_seen() {
        let mut c = col("status", "text");
        c.n_distinct = Some(3.0);
        c.values = Some(vec!["new".into(), "paid".into(), "it's".into()]);
        c.values_freq = Some(1.0);
        let f = lint(&[table("orders", vec![c.clone()])], &[]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("ALTER TABLE s.orders ADD CONSTRAINT orders_status_check CHECK (status IN ('new', 'paid', 'it''s'))")
        );
        c.values_freq = Some(0.9);
        assert_eq!(
            lint(&[table("orders", vec![c.clone()])], &[])[0].fix_sql,
            None
        );
        c.checked = true;
        assert!(lint(&[table("orders", vec![c])], &[]).is_empty());
    }

    #[test]
    fn snake_case_of_names() {
        assert_eq!(snake_case("InvoiceLine"), "invoice_line");
        assert_eq!(snake_case("Unit Price"), "unit_price");
        assert_eq!(snake_case("2fa-Code"), "_2fa_code");
    }
}
