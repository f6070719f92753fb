//! The rollback plan of a document: what to copy before the statement, and the inverse of
//! each DDL step, printed with schema-qualified names.
use super::cascade::{self};
use super::catalog::{Col, Rel};
use super::ddl::Inverse;
use super::error::Result;
use super::model::{Analysis, Touch};
use crate::spi_util::Spi;
use crate::sqlparse::Kind;
use serde_json::{json, Value};

pub(super) fn backup_name(i: usize, t: &Rel) -> String {
    let raw = format!("before_{}_{}", i + 1, t.name.to_lowercase());
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    clean
}

pub(super) fn col_list(t: &Rel, alias: Option<&str>) -> String {
    cascade::column_list(alias, &t.writable_columns())
}

pub(super) fn key_match(t: &Rel, left: &str, right: &str) -> Option<String> {
    if t.pk.is_empty() {
        return None;
    }
    Some(
        t.pk.iter()
            .map(|k| format!("{left}.{q} = {right}.{q}", q = crate::sqlparse::quoted(k)))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// How to undo the statement: what to capture before, and the inverse statements.
pub(super) fn rollback_plan(a: &Analysis) -> Result<Value> {
    let mut capture = Vec::new();
    let mut inverse = Vec::new();
    let mut notes = Vec::new();
    let reversible;
    match a.kind {
        Kind::Delete | Kind::Update => {
            // parents before children: a row goes back after every row it references
            let mut order: Vec<(usize, &Touch)> = a
                .touches
                .iter()
                .enumerate()
                .filter(|(_, t)| t.via != "trigger or rule")
                .collect();
            order.sort_by_key(|(_, t)| t.depth());
            for (i, t) in order {
                let Some(sql) = &t.rows_sql else { continue };
                let b = backup_name(i, &t.rel);
                capture.push(format!("CREATE TABLE {b} AS {sql}"));
                let is_delete = t.operation.starts_with("DELETE");
                if is_delete {
                    inverse.push(format!(
                        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {b}",
                        t.rel.qualified(),
                        col_list(&t.rel, None),
                        col_list(&t.rel, None)
                    ));
                } else {
                    match key_match(&t.rel, "t", "b") {
                        Some(on) => {
                            let cols: Vec<&Col> =
                                t.rel.columns.iter().filter(|c| !c.generated && !t.rel.pk.contains(&c.name)).collect();
                            let set = cols.iter().map(|c| crate::sqlparse::quoted(&c.name)).collect::<Vec<_>>().join(", ");
                            let from = cols.iter().map(|c| format!("b.{}", crate::sqlparse::quoted(&c.name))).collect::<Vec<_>>().join(", ");
                            inverse.push(format!("UPDATE {} AS t SET ({set}) = ROW({from}) FROM {b} AS b WHERE {on}", t.rel.qualified()));
                            if t.path.len() == 1 && a.changed.iter().any(|c| t.rel.pk.contains(c)) {
                                notes.push(format!(
                                    "the statement changes the primary key of {}: keep the old → new key pairs (RETURNING) to match rows back",
                                    t.rel.display()
                                ));
                            }
                        }
                        None => notes.push(format!(
                            "{} has no primary key: updated rows cannot be matched back reliably; add one before changing it",
                            t.rel.display()
                        )),
                    }
                }
            }
            // parents first for re-inserts: the order above is the walk order (target first)
            reversible = true;
            notes.push(
                "run the capture statements in the same transaction, just before the statement"
                    .into(),
            );
            if a.touches.iter().any(|t| t.via == "trigger or rule") {
                notes.push("triggers also changed other tables: capture those rows too".into());
            }
        }
        Kind::Insert => {
            reversible = true;
            if let Some(t) = &a.target {
                let key = if t.pk.is_empty() {
                    notes.push(format!(
                        "{} has no primary key: return a unique column instead",
                        t.display()
                    ));
                    "ctid".to_string()
                } else {
                    t.pk.iter()
                        .map(|k| crate::sqlparse::quoted(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                capture.push(format!(
                    "add RETURNING {key} to the INSERT and keep the keys it returns"
                ));
                inverse.push(format!(
                    "DELETE FROM {} WHERE ({key}) IN (<the returned keys>)",
                    t.qualified()
                ));
            }
        }
        Kind::Merge => {
            reversible = true;
            if let Some(t) = &a.target {
                capture.push(format!(
                    "CREATE TABLE before_1_{} AS SELECT * FROM {}",
                    t.name.to_lowercase(),
                    t.qualified()
                ));
                notes.push("MERGE inserts, updates and deletes: compare the copy with the table afterwards to undo each".into());
            }
        }
        Kind::Truncate => {
            reversible = false;
            for t in &a.touches {
                notes.push(format!(
                    "irreversible without a backup: the backup must hold every row of {} (e.g. pg_dump --data-only --table={})",
                    t.rel.display(),
                    t.rel.display()
                ));
            }
            for (i, t) in a.touches.iter().enumerate() {
                capture.push(format!(
                    "CREATE TABLE {} AS SELECT * FROM {}",
                    backup_name(i, &t.rel),
                    t.rel.qualified()
                ));
                inverse.push(format!(
                    "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}",
                    t.rel.qualified(),
                    col_list(&t.rel, None),
                    col_list(&t.rel, None),
                    backup_name(i, &t.rel)
                ));
            }
        }
        // a statement run outside a transaction block (VACUUM, ANALYZE) has its steps too
        Kind::Ddl | Kind::Other if a.kind == Kind::Ddl || !a.ddl_steps.is_empty() => {
            let mut ok = !a.ddl_steps.is_empty();
            for s in a.ddl_steps.iter().rev() {
                match inverse_sql(&s.inverse)? {
                    Some(Ok(sql)) => inverse.push(sql),
                    Some(Err(why)) => {
                        ok = false;
                        notes.push(format!("{}: {why}", s.action));
                    }
                    None => {}
                }
            }
            if a.ddl_steps.is_empty() {
                notes.push("no automatic inverse for this statement".into());
            }
            reversible = ok;
        }
        Kind::Select => {
            reversible = true;
            notes.push("nothing to undo".into());
        }
        Kind::Ddl | Kind::Copy | Kind::Other => {
            reversible = false;
            notes.push("no automatic inverse for this statement".into());
        }
    }
    Ok(json!({"reversible": reversible, "capture": capture, "inverse": inverse, "notes": notes}))
}

/// An index definition (`pg_get_indexdef`) as a concurrent build.
pub(super) fn concurrently(def: &str) -> String {
    for head in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = def.strip_prefix(head) {
            return format!("{head}CONCURRENTLY {rest}");
        }
    }
    def.to_string()
}

/// The inverse statement of one DDL step, reading current definitions from the catalog.
/// The SQL of an inverse step. Definitions are printed with an empty search_path, so every
/// name in them is schema-qualified.
pub(super) fn inverse_sql(inv: &Inverse) -> Result<Option<std::result::Result<String, String>>> {
    crate::spi_util::with_search_path("pg_catalog", || inverse_sql_qualified(inv))
}

pub(super) fn inverse_sql_qualified(
    inv: &Inverse,
) -> Result<Option<std::result::Result<String, String>>> {
    let one = |sql: &str, args: &[&str]| -> Result<Option<String>> {
        let args: Vec<pgrx::datum::DatumWithOid> = args.iter().map(|a| (*a).into()).collect();
        // wrapped so that no row is a NULL, not an error
        Ok(Spi::get_one_with_args::<String>(
            &format!("SELECT ({sql})"),
            &args,
        )?)
    };
    Ok(match inv {
        Inverse::Sql(s) => Some(Ok(s.clone())),
        Inverse::Nothing => None,
        Inverse::Irreversible(why) => Some(Err(why.clone())),
        Inverse::ColumnType { table, column } => {
            match one(
                "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
                &[table, column],
            )? {
                Some(t) => Some(Ok(format!(
                    "ALTER TABLE {table} ALTER COLUMN {c} TYPE {t} USING {c}::{t}",
                    c = crate::sqlparse::quoted(column)
                ))),
                None => Some(Err(format!("column {column} of {table} not found"))),
            }
        }
        Inverse::ColumnDefault { table, column } => {
            let d = one(
                "SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                  WHERE d.adrelid = pg_catalog.to_regclass($1) AND a.attname = $2",
                &[table, column],
            )?;
            let c = crate::sqlparse::quoted(column);
            Some(Ok(match d {
                Some(d) => format!("ALTER TABLE {table} ALTER COLUMN {c} SET DEFAULT {d}"),
                None => format!("ALTER TABLE {table} ALTER COLUMN {c} DROP DEFAULT"),
            }))
        }
        Inverse::Constraint { table, name } => match one(
            "SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
              WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2",
            &[table, name],
        )? {
            Some(def) => Some(Ok(format!("ALTER TABLE {table} ADD CONSTRAINT {} {def}", crate::sqlparse::quoted(name)))),
            None => Some(Err(format!("constraint {name} of {table} not found"))),
        },
        Inverse::Index { name } => match one("SELECT pg_catalog.pg_get_indexdef(pg_catalog.to_regclass($1))", &[name])? {
            Some(def) => Some(Ok(def)),
            None => Some(Err(format!("index {name} not found"))),
        },
        Inverse::IndexConcurrently { name } => match one("SELECT pg_catalog.pg_get_indexdef(pg_catalog.to_regclass($1))", &[name])? {
            Some(def) => Some(Ok(concurrently(&def))),
            None => Some(Err(format!("index {name} not found"))),
        },
        Inverse::View { name } => match one("SELECT pg_catalog.pg_get_viewdef(pg_catalog.to_regclass($1))", &[name])? {
            Some(def) => Some(Ok(format!("CREATE VIEW {name} AS {}", def.trim()))),
            None => Some(Err(format!("view {name} not found"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::concurrently;

    #[test]
    fn an_index_definition_is_built_again_concurrently() {
        assert_eq!(
            concurrently("CREATE INDEX i ON public.t USING btree (a)"),
            "CREATE INDEX CONCURRENTLY i ON public.t USING btree (a)"
        );
        assert_eq!(
            concurrently("CREATE UNIQUE INDEX u ON s.t USING btree (a) WHERE (b > 0)"),
            "CREATE UNIQUE INDEX CONCURRENTLY u ON s.t USING btree (a) WHERE (b > 0)"
        );
    }
}
