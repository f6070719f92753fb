//! A deterministic grammar for schema changes in plain language, and the DDL each one
//! becomes in the naming style the schema already uses. Plain Rust over the schema facts.
//!
//! - `add a table track_review with a rating from 1 to 5 and a comment, linked to track`
//! - `add a column release_date (date) to album`, `add a required email to customer`
//! - `rename column name of artist to artist_name`
//! - `add an index on invoice (billing_country, invoice_date)`
//! - `make customer.email unique`, `make track.composer required`,
//!   `invoice_line.quantity must be between 1 and 100`
use crate::lint::rules::{snake_case, Table};
use crate::sqlparse::ident;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrammarError {
    #[error("not a change this grammar knows: {0}")]
    Unknown(String),
    #[error("table {0:?} does not exist (or you may not read it)")]
    NoTable(String),
    #[error("table name {0:?} is ambiguous: {1}")]
    Ambiguous(String, String),
    #[error("table {0} already exists")]
    Exists(String),
    #[error("{table} has no column {column:?}")]
    NoColumn { table: String, column: String },
    #[error("{0} has no single-column primary key a new column could reference")]
    NoKey(String),
    #[error("{0}")]
    Bad(String),
}

/// A column as the intent describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColSpec {
    pub name: String,
    pub ty: String,
    pub not_null: bool,
    pub unique: bool,
    pub range: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateTable {
        name: String,
        columns: Vec<ColSpec>,
        links: Vec<String>,
    },
    AddColumn {
        table: String,
        column: ColSpec,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    AddIndex {
        table: String,
        columns: Vec<String>,
        unique: bool,
    },
    SetNotNull {
        table: String,
        column: String,
    },
    AddUnique {
        table: String,
        column: String,
    },
    AddRange {
        table: String,
        column: String,
        low: String,
        high: String,
    },
}

/// One statement of a proposal; `on_new_table`: it names a table an earlier statement of the
/// same proposal creates, so it can only be analysed (and requested) once that one ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub on_new_table: bool,
}

const ARTICLES: &[&str] = &[
    "a", "an", "the", "new", "column", "field", "called", "named",
];

fn words(s: &str) -> Vec<String> {
    s.replace(',', " , ")
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn lower(w: &[String]) -> Vec<String> {
    w.iter().map(|x| x.to_lowercase()).collect()
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().any(|c| c.is_ascii_digit())
}

/// An explicit type word, as PostgreSQL spells it.
fn type_word(w: &str) -> Option<&'static str> {
    Some(match w {
        "text" | "string" | "varchar" => "text",
        "int" | "integer" | "int4" => "integer",
        "bigint" | "int8" => "bigint",
        "numeric" | "decimal" | "money" => "numeric(12,2)",
        "bool" | "boolean" | "flag" => "boolean",
        "date" => "date",
        "timestamp" | "timestamptz" | "datetime" => "timestamptz",
        "uuid" => "uuid",
        "json" | "jsonb" => "jsonb",
        _ => return None,
    })
}

/// The type a column's name suggests.
fn inferred_type(name: &str, ranged: bool) -> &'static str {
    let parts: Vec<&str> = name.split('_').collect();
    let last = *parts.last().unwrap_or(&"");
    let any = |ws: &[&str]| parts.iter().any(|p| ws.contains(p));
    if last == "at" || matches!(name, "created" | "updated" | "timestamp") {
        "timestamptz"
    } else if last == "date" || last == "on" || last == "birthday" {
        "date"
    } else if any(&[
        "price", "amount", "cost", "total", "fee", "salary", "balance",
    ]) {
        "numeric(12,2)"
    } else if parts.first().is_some_and(|p| *p == "is" || *p == "has")
        || matches!(
            name,
            "active" | "enabled" | "verified" | "deleted" | "archived"
        )
    {
        "boolean"
    } else if last == "id" {
        "bigint"
    } else if ranged
        || any(&[
            "rating", "count", "quantity", "qty", "age", "year", "position", "rank", "score",
            "stars", "number", "seconds", "minutes",
        ])
    {
        "integer"
    } else {
        "text"
    }
}

/// "a required rating from 1 to 5", "an email (text)", "a price as numeric".
pub fn column_spec(phrase: &[String]) -> Result<ColSpec, GrammarError> {
    let mut spec = ColSpec::default();
    let mut name: Vec<String> = Vec::new();
    let mut ty: Option<&'static str> = None;
    let lw = lower(phrase);
    let mut i = 0;
    while i < lw.len() {
        let w = lw[i].as_str();
        match w {
            _ if ARTICLES.contains(&w) && name.is_empty() => {}
            "required" | "mandatory" => spec.not_null = true,
            "optional" | "nullable" => spec.not_null = false,
            "unique" => spec.unique = true,
            "not" if lw.get(i + 1).is_some_and(|n| n == "null") => {
                spec.not_null = true;
                i += 1;
            }
            "(" | ")" => {}
            "as" | "of" if lw.get(i + 1).and_then(|n| type_word(n)).is_some() => {
                ty = type_word(&lw[i + 1]);
                i += 1;
            }
            "from" | "between" if lw.get(i + 1).is_some_and(|n| is_number(n)) => {
                let low = lw[i + 1].clone();
                let high = lw
                    .get(i + 3)
                    .filter(|_| lw.get(i + 2).is_some_and(|s| s == "to" || s == "and"));
                let Some(high) = high.filter(|h| is_number(h)) else {
                    return Err(GrammarError::Bad(format!(
                        "a range needs two numbers: {}",
                        phrase.join(" ")
                    )));
                };
                spec.range = Some((low, high.clone()));
                i += 3;
            }
            _ if phrase[i].starts_with('(') || (i > 0 && lw[i - 1] == "(") => {
                ty = Some(
                    type_word(w).ok_or_else(|| GrammarError::Bad(format!("unknown type {w:?}")))?,
                );
            }
            _ => name.push(phrase[i].clone()),
        }
        i += 1;
    }
    if name.is_empty() {
        return Err(GrammarError::Bad(format!(
            "a column needs a name: {:?}",
            phrase.join(" ")
        )));
    }
    spec.name = snake_case(&name.join(" "));
    spec.ty = ty
        .unwrap_or_else(|| inferred_type(&spec.name, spec.range.is_some()))
        .to_string();
    Ok(spec)
}

/// Splits a list at commas and "and" (not the "and" of "between 1 and 5").
fn split_list(w: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for (i, x) in w.iter().enumerate() {
        let l = x.to_lowercase();
        let in_range = l == "and" && i >= 2 && w[i - 2].eq_ignore_ascii_case("between");
        if (l == "," || l == "and") && !in_range {
            if !out.last().unwrap().is_empty() {
                out.push(Vec::new());
            }
        } else {
            out.last_mut().unwrap().push(x.clone());
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn position(lw: &[String], seq: &[&str]) -> Option<usize> {
    (0..lw.len()).find(|&i| {
        seq.iter()
            .enumerate()
            .all(|(j, s)| lw.get(i + j).is_some_and(|w| w == s))
    })
}

fn name_after(w: &[String], i: usize) -> Option<String> {
    w.iter()
        .skip(i)
        .find(|x| !ARTICLES.contains(&x.to_lowercase().as_str()) && x.as_str() != "table")
        .cloned()
}

/// `table.column` or (`column`, `of|in|on`, `table`).
fn table_column(w: &[String]) -> Option<(String, String)> {
    let w: Vec<&String> = w
        .iter()
        .filter(|x| !ARTICLES.contains(&x.to_lowercase().as_str()))
        .collect();
    if let Some((t, c)) = w.first().and_then(|x| x.split_once('.')) {
        return Some((t.to_string(), c.to_string()));
    }
    match w.as_slice() {
        [c, p, t, ..] if ["of", "in", "on"].contains(&p.to_lowercase().as_str()) => {
            Some((t.trim_end_matches("table").to_string(), c.to_string()))
        }
        _ => None,
    }
}

/// The change an intent asks for.
pub fn parse(intent: &str) -> Result<Change, GrammarError> {
    let text = intent.trim().trim_end_matches('.');
    let w = words(text);
    let lw = lower(&w);
    let unknown = || GrammarError::Unknown(text.to_string());
    let verb = lw.first().map(String::as_str).unwrap_or("");
    let adds = matches!(verb, "add" | "create");
    // a table
    if adds && lw.iter().take(4).any(|x| x == "table") {
        let t = lw.iter().position(|x| x == "table").unwrap_or(0);
        let name = name_after(&w, t + 1).ok_or_else(unknown)?;
        let rest_at = w.iter().position(|x| x == &name).unwrap_or(t) + 1;
        let rest = &w[rest_at..];
        let lrest = lower(rest);
        let link_at = ["linked", "related", "connected", "referencing", "belonging"]
            .iter()
            .filter_map(|k| lrest.iter().position(|x| x == k))
            .min();
        let (cols, links) = match link_at {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let cols: Vec<String> = match cols.first().map(|x| x.to_lowercase()) {
            Some(x) if x == "with" => cols[1..].to_vec(),
            _ => cols.to_vec(),
        };
        let columns = split_list(&cols)
            .iter()
            .map(|p| column_spec(p))
            .collect::<Result<Vec<_>, _>>()?;
        let links: Vec<String> = split_list(links)
            .into_iter()
            .flat_map(|p| {
                p.into_iter().filter(|x| {
                    !["to", "a", "an", "the", "each", "one"].contains(&x.to_lowercase().as_str())
                })
            })
            .collect();
        return Ok(Change::CreateTable {
            name: snake_case(&name),
            columns,
            links,
        });
    }
    // an index
    if adds && lw.iter().take(4).any(|x| x == "index") {
        let on = lw.iter().position(|x| x == "on").ok_or_else(unknown)?;
        let table = w.get(on + 1).cloned().ok_or_else(unknown)?;
        let cols: Vec<String> = split_list(&w[on + 2..])
            .into_iter()
            .flatten()
            .filter(|x| x != "(" && x != ")")
            .collect();
        if cols.is_empty() {
            return Err(GrammarError::Bad(
                "name the index's columns: add an index on invoice (invoice_date)".into(),
            ));
        }
        return Ok(Change::AddIndex {
            table,
            columns: cols,
            unique: lw.iter().take(4).any(|x| x == "unique"),
        });
    }
    // a column: "add <spec> to <table>"
    if verb == "add" {
        if let Some(to) = lw.iter().rposition(|x| x == "to") {
            let table = w.get(to + 1).cloned().ok_or_else(unknown)?;
            return Ok(Change::AddColumn {
                table,
                column: column_spec(&w[1..to])?,
            });
        }
    }
    // "rename column a of t to b", "rename t.a to b"
    if verb == "rename" {
        let to = lw.iter().rposition(|x| x == "to").ok_or_else(unknown)?;
        let (table, from) = table_column(&w[1..to]).ok_or_else(unknown)?;
        let new = w.get(to + 1).cloned().ok_or_else(unknown)?;
        return Ok(Change::RenameColumn {
            table,
            from,
            to: snake_case(&new),
        });
    }
    // "make t.c required|unique", "t.c must be between 1 and 5"
    if verb == "make" {
        let (table, column) = table_column(&w[1..]).ok_or_else(unknown)?;
        return match lw.last().map(String::as_str) {
            Some("required" | "mandatory") => Ok(Change::SetNotNull { table, column }),
            Some("null") if position(&lw, &["not", "null"]).is_some() => {
                Ok(Change::SetNotNull { table, column })
            }
            Some("unique") => Ok(Change::AddUnique { table, column }),
            _ => Err(unknown()),
        };
    }
    if let Some(i) = position(&lw, &["must", "be", "between"]) {
        let (table, column) = table_column(&w[..i]).ok_or_else(unknown)?;
        let (low, high) = (lw.get(i + 3), lw.get(i + 5));
        if let (Some(low), Some(high)) =
            (low.filter(|x| is_number(x)), high.filter(|x| is_number(x)))
        {
            return Ok(Change::AddRange {
                table,
                column,
                low: low.clone(),
                high: high.clone(),
            });
        }
    }
    Err(unknown())
}

/// The schema's naming style: a table's key is `id` or `<table>_id`.
fn key_name(schema: &[Table], table: &str) -> String {
    let (mut id, mut named) = (0, 0);
    for t in schema {
        let pk: Vec<_> = t.columns.iter().filter(|c| c.pk).collect();
        if pk.len() == 1 {
            if pk[0].name == "id" {
                id += 1;
            } else if pk[0].name == format!("{}_id", t.name) || pk[0].name.ends_with("_id") {
                named += 1;
            }
        }
    }
    if id > named {
        "id".into()
    } else {
        format!("{table}_id")
    }
}

/// The table a name means: exact, then by its snake_case or singular form.
pub fn find<'a>(schema: &'a [Table], name: &str) -> Result<&'a Table, GrammarError> {
    let (want_schema, want) = match name.split_once('.') {
        Some((s, t)) => (Some(s), t),
        None => (None, name),
    };
    let forms = [
        want.to_string(),
        snake_case(want),
        snake_case(want.trim_end_matches('s')),
    ];
    for f in &forms {
        let hits: Vec<&Table> = schema
            .iter()
            .filter(|t| &t.name == f && want_schema.is_none_or(|s| t.schema == s))
            .collect();
        match hits.len() {
            0 => continue,
            1 => return Ok(hits[0]),
            _ => {
                return Err(GrammarError::Ambiguous(
                    name.into(),
                    hits.iter()
                        .map(|t| format!("{}.{}", t.schema, t.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                ))
            }
        }
    }
    Err(GrammarError::NoTable(name.into()))
}

fn qualified(t: &Table) -> String {
    format!("{}.{}", ident(&t.schema), ident(&t.name))
}

fn column_sql(c: &ColSpec) -> String {
    let mut s = format!("{} {}", ident(&c.name), c.ty);
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    if c.unique {
        s.push_str(" UNIQUE");
    }
    if let Some((lo, hi)) = &c.range {
        s.push_str(&format!(
            " CHECK ({} BETWEEN {lo} AND {hi})",
            ident(&c.name)
        ));
    }
    s
}

fn existing_column(t: &Table, name: &str) -> Result<String, GrammarError> {
    let c = snake_case(name);
    t.columns
        .iter()
        .find(|x| x.name == name || x.name == c)
        .map(|x| x.name.clone())
        .ok_or_else(|| GrammarError::NoColumn {
            table: format!("{}.{}", t.schema, t.name),
            column: name.into(),
        })
}

/// The statements of a change, in order. `default_schema`: where a new table goes when it
/// links to none.
pub fn plan(
    change: &Change,
    schema: &[Table],
    default_schema: &str,
) -> Result<Vec<Statement>, GrammarError> {
    let now = |sql: String| Statement {
        sql,
        on_new_table: false,
    };
    Ok(match change {
        Change::CreateTable {
            name,
            columns,
            links,
        } => {
            let parents = links
                .iter()
                .map(|l| find(schema, l))
                .collect::<Result<Vec<_>, _>>()?;
            let target_schema = parents
                .first()
                .map_or(default_schema.to_string(), |p| p.schema.clone());
            if schema
                .iter()
                .any(|t| t.schema == target_schema && &t.name == name)
            {
                return Err(GrammarError::Exists(format!("{target_schema}.{name}")));
            }
            let q = format!("{}.{}", ident(&target_schema), ident(name));
            let mut lines = vec![format!(
                "{} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                ident(&key_name(schema, name))
            )];
            let mut indexes = Vec::new();
            for p in &parents {
                let pk: Vec<_> = p.columns.iter().filter(|c| c.pk).collect();
                let [pk] = pk.as_slice() else {
                    return Err(GrammarError::NoKey(format!("{}.{}", p.schema, p.name)));
                };
                let fk = if pk.name == "id" {
                    format!("{}_id", p.name)
                } else {
                    pk.name.clone()
                };
                lines.push(format!(
                    "{} {} NOT NULL REFERENCES {} ({})",
                    ident(&fk),
                    pk.data_type,
                    qualified(p),
                    ident(&pk.name)
                ));
                indexes.push(Statement {
                    sql: format!(
                        "CREATE INDEX {} ON {q} ({})",
                        ident(&format!("{name}_{fk}_idx")),
                        ident(&fk)
                    ),
                    on_new_table: true,
                });
            }
            lines.extend(columns.iter().map(column_sql));
            let mut out = vec![now(format!(
                "CREATE TABLE {q} (\n    {}\n)",
                lines.join(",\n    ")
            ))];
            out.extend(indexes);
            out
        }
        Change::AddColumn { table, column } => {
            let t = find(schema, table)?;
            if t.column(&column.name).is_some() {
                return Err(GrammarError::Bad(format!(
                    "{}.{} already has a column {}",
                    t.schema, t.name, column.name
                )));
            }
            if column.not_null {
                // NOT NULL on a table with rows needs a value for them
                return Err(GrammarError::Bad(format!(
                    "a required column on {} needs a default for the rows it has: add it optional, fill it, then make {}.{} required",
                    t.name, t.name, column.name
                )));
            }
            vec![now(format!(
                "ALTER TABLE {} ADD COLUMN {}",
                qualified(t),
                column_sql(column)
            ))]
        }
        Change::RenameColumn { table, from, to } => {
            let t = find(schema, table)?;
            let from = existing_column(t, from)?;
            vec![now(format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {}",
                qualified(t),
                ident(&from),
                ident(to)
            ))]
        }
        Change::AddIndex {
            table,
            columns,
            unique,
        } => {
            let t = find(schema, table)?;
            let cols = columns
                .iter()
                .map(|c| existing_column(t, c))
                .collect::<Result<Vec<_>, _>>()?;
            vec![now(format!(
                "CREATE {}INDEX {} ON {} ({})",
                if *unique { "UNIQUE " } else { "" },
                ident(&format!(
                    "{}_{}_{}",
                    t.name,
                    cols.join("_"),
                    if *unique { "key" } else { "idx" }
                )),
                qualified(t),
                cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
            ))]
        }
        Change::SetNotNull { table, column } => {
            let t = find(schema, table)?;
            let c = existing_column(t, column)?;
            vec![now(format!(
                "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL",
                qualified(t),
                ident(&c)
            ))]
        }
        Change::AddUnique { table, column } => {
            let t = find(schema, table)?;
            let c = existing_column(t, column)?;
            vec![now(format!(
                "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})",
                qualified(t),
                ident(&format!("{}_{c}_key", t.name)),
                ident(&c)
            ))]
        }
        Change::AddRange {
            table,
            column,
            low,
            high,
        } => {
            let t = find(schema, table)?;
            let c = existing_column(t, column)?;
            vec![now(format!(
                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} BETWEEN {low} AND {high})",
                qualified(t),
                ident(&format!("{}_{c}_check", t.name)),
                ident(&c)
            ))]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::rules::Column;

    fn chinook() -> Vec<Table> {
        let t = |name: &str, cols: &[(&str, &str, bool)]| Table {
            schema: "public".into(),
            name: name.into(),
            has_pk: true,
            columns: cols
                .iter()
                .map(|(n, ty, pk)| Column {
                    name: n.to_string(),
                    data_type: ty.to_string(),
                    pk: *pk,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        vec![
            t(
                "track",
                &[
                    ("track_id", "integer", true),
                    ("name", "character varying(200)", false),
                ],
            ),
            t(
                "album",
                &[("album_id", "integer", true), ("title", "text", false)],
            ),
            t(
                "customer",
                &[("customer_id", "integer", true), ("email", "text", false)],
            ),
        ]
    }

    fn sql(intent: &str) -> Vec<String> {
        plan(&parse(intent).unwrap(), &chinook(), "public")
            .unwrap()
            .into_iter()
            .map(|s| s.sql)
            .collect()
    }

    #[test]
    fn the_issue_example() {
        let s = plan(
            &parse(
                "add a table track_review with a rating from 1 to 5 and a comment, linked to track",
            )
            .unwrap(),
            &chinook(),
            "public",
        )
        .unwrap();
        assert_eq!(
            s[0].sql,
            "CREATE TABLE public.track_review (\n    track_review_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    track_id integer NOT NULL REFERENCES public.track (track_id),\n    rating integer CHECK (rating BETWEEN 1 AND 5),\n    comment text\n)"
        );
        assert_eq!(
            s[1],
            Statement {
                sql: "CREATE INDEX track_review_track_id_idx ON public.track_review (track_id)"
                    .into(),
                on_new_table: true
            }
        );
        assert!(!s[0].on_new_table);
    }

    #[test]
    fn columns_types_and_modifiers() {
        let c = column_spec(&words("a required unique email")).unwrap();
        assert_eq!(
            (c.name.as_str(), c.ty.as_str(), c.not_null, c.unique),
            ("email", "text", true, true)
        );
        assert_eq!(column_spec(&words("a release date")).unwrap().ty, "date");
        assert_eq!(column_spec(&words("a price")).unwrap().ty, "numeric(12,2)");
        assert_eq!(
            column_spec(&words("a launch (timestamp)")).unwrap().ty,
            "timestamptz"
        );
        assert_eq!(
            column_spec(&words("a weight as numeric")).unwrap().ty,
            "numeric(12,2)"
        );
        assert_eq!(
            column_spec(&words("a score between 0 and 10"))
                .unwrap()
                .range,
            Some(("0".into(), "10".into()))
        );
        assert!(column_spec(&words("a size (blob)")).is_err());
    }

    #[test]
    fn changes_to_existing_tables() {
        assert_eq!(
            sql("add a column release_date (date) to album"),
            ["ALTER TABLE public.album ADD COLUMN release_date date"]
        );
        assert_eq!(
            sql("rename column name of track to track_name"),
            ["ALTER TABLE public.track RENAME COLUMN name TO track_name"]
        );
        assert_eq!(
            sql("rename track.name to title"),
            ["ALTER TABLE public.track RENAME COLUMN name TO title"]
        );
        assert_eq!(
            sql("add an index on tracks (name)"),
            ["CREATE INDEX track_name_idx ON public.track (name)"]
        );
        assert_eq!(
            sql("make customer.email unique"),
            ["ALTER TABLE public.customer ADD CONSTRAINT customer_email_key UNIQUE (email)"]
        );
        assert_eq!(
            sql("make customer.email required"),
            ["ALTER TABLE public.customer ALTER COLUMN email SET NOT NULL"]
        );
        assert_eq!(
            sql("album.title must be between 1 and 5"),
            ["ALTER TABLE public.album ADD CONSTRAINT album_title_check CHECK (title BETWEEN 1 AND 5)"]
        );
    }

    #[test]
    fn what_it_refuses() {
        assert!(matches!(
            parse("drop everything"),
            Err(GrammarError::Unknown(_))
        ));
        let p = |i: &str| plan(&parse(i).unwrap(), &chinook(), "public");
        assert!(matches!(
            p("add a table track with a name"),
            Err(GrammarError::Exists(_))
        ));
        assert!(matches!(
            p("add a table x with a name, linked to nothing"),
            Err(GrammarError::NoTable(_))
        ));
        assert!(matches!(
            p("add an index on track (nope)"),
            Err(GrammarError::NoColumn { .. })
        ));
        assert!(matches!(
            p("add a required note to track"),
            Err(GrammarError::Bad(_))
        ));
    }

    #[test]
    fn the_key_follows_the_schema_style() {
        let mut s = chinook();
        for t in &mut s {
            t.columns[0].name = "id".into();
        }
        let st = plan(
            &parse("create table review with a comment, linked to track").unwrap(),
            &s,
            "public",
        )
        .unwrap();
        assert!(st[0].sql.contains("    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    track_id integer NOT NULL REFERENCES public.track (id)"), "{}", st[0].sql);
    }

    /// Generated intents over the test schema: each plans to statements PostgreSQL's grammar
    /// (as the impact analysis reads DDL) takes as exactly one statement, or is refused with
    /// an error; random word salad never panics.
    #[test]
    fn generated_intents_give_parseable_ddl_or_an_error() {
        use sqlparser::dialect::PostgreSqlDialect;
        use sqlparser::parser::Parser;
        let mut seed: u64 = 0xdd1_5eed;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let names = [
            "note",
            "rating",
            "release date",
            "price",
            "is active",
            "created at",
            "score",
            "Order",
            "user",
            "Größe",
            "stars",
        ];
        let mods = ["", "a ", "a required ", "an optional ", "a unique "];
        let tails = [
            "",
            " from 1 to 5",
            " between 0 and 10",
            " (text)",
            " as numeric",
            " (date)",
            " (blob)",
        ];
        let tables = ["track", "album", "customer", "tracks", "nothing"];
        let (mut planned, mut refused) = (0, 0);
        for i in 0..3000 {
            let col = |next: &mut dyn FnMut(usize) -> usize| {
                format!(
                    "{}{}{}",
                    mods[next(mods.len())],
                    names[next(names.len())],
                    tails[next(tails.len())]
                )
            };
            let t = tables[next(tables.len())];
            let intent = match next(7) {
                0 => {
                    let cols: Vec<String> = (0..1 + next(3)).map(|_| col(&mut next)).collect();
                    format!(
                        "add a table t{i} with {}, linked to {t}",
                        cols.join(" and ")
                    )
                }
                1 => format!("add {} to {t}", col(&mut next)),
                2 => format!(
                    "rename column name of {t} to new {}",
                    names[next(names.len())]
                ),
                3 => format!("add an index on {t} (name)"),
                4 => format!(
                    "make {t}.email {}",
                    ["unique", "required", "faster"][next(3)]
                ),
                5 => format!("{t}.title must be between {} and 9", next(5)),
                _ => (0..1 + next(8))
                    .map(|_| names[next(names.len())])
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            match parse(&intent).and_then(|c| plan(&c, &chinook(), "public")) {
                Ok(statements) => {
                    planned += 1;
                    for st in statements {
                        let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &st.sql)
                            .unwrap_or_else(|e| panic!("{intent:?} -> {:?}: {e}", st.sql));
                        assert_eq!(parsed.len(), 1, "{intent:?} -> {:?}", st.sql);
                    }
                }
                Err(_) => refused += 1,
            }
        }
        assert!(
            planned > 500 && refused > 300,
            "planned {planned}, refused {refused}"
        );
    }
}
