//! The impact of a statement PostgreSQL runs only outside a transaction block (as its raw
//! parser reads it): the table each one locks and how, what it reads, and how to undo it —
//! the index a concurrent build creates is dropped concurrently, the one a concurrent drop
//! removes is built again concurrently from its definition, and a rebuild, VACUUM or ANALYZE
//! leaves nothing to undo.
use super::catalog::{rel, resolve, Rel};
use super::ddl::{Inverse, LockMode, Step};
use super::error::Result;
use super::model::Analysis;
use crate::pgsql::{Online, Target};
use crate::spi_util::SearchPath;
use crate::spi_util::Spi;

pub(super) fn online(sp: &SearchPath, a: &mut Analysis, o: &Online) -> Result<()> {
    use LockMode::*;
    match o {
        Online::CreateIndex {
            table,
            name,
            unique,
            ..
        } => {
            let t = resolve(sp, &table.written())?;
            let qualified = name.as_ref().map(|n| {
                format!(
                    "{}.{}",
                    crate::sqlparse::ident(&t.schema),
                    crate::sqlparse::ident(n)
                )
            });
            let action = format!(
                "create {}index{} concurrently",
                if *unique { "unique " } else { "" },
                qualified
                    .as_ref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default()
            );
            step(
                a,
                &t,
                table,
                action,
                ShareUpdateExclusive,
                true,
                match qualified {
                    Some(n) => Inverse::Sql(format!("DROP INDEX CONCURRENTLY {n}")),
                    None => Inverse::Irreversible(
                        "the index has no name in the statement: name it to undo it by name".into(),
                    ),
                },
            );
            a.warnings.push(
                "runs outside a transaction block (by the executor's background worker): two scans of the table and a wait for every transaction older than the build; reads and writes go on meanwhile".into(),
            );
            if *unique {
                a.warnings.push(
                    "a duplicate key fails the build and leaves an INVALID index, which the executor reports and drops (ai_architect.keep_invalid_indexes keeps it)".into(),
                );
            }
        }
        Online::DropIndex { index, .. } => {
            let i = resolve(sp, &index.written())?;
            let t = table_of(&i)?;
            let qualified = i.qualified();
            step(
                a,
                &t,
                index,
                format!("drop index {qualified} concurrently"),
                ShareUpdateExclusive,
                false,
                Inverse::IndexConcurrently { name: qualified },
            );
            a.warnings.push(
                "runs outside a transaction block (by the executor's background worker): waits for every transaction using the index; reads and writes go on meanwhile".into(),
            );
        }
        Online::Reindex {
            object,
            relation,
            name,
            concurrently,
        } => {
            let lock = if *concurrently {
                ShareUpdateExclusive
            } else {
                AccessExclusive
            };
            match relation {
                Some(r) => {
                    let found = resolve(sp, &r.written())?;
                    let t = if found.kind == "i" || found.kind == "I" {
                        table_of(&found)?
                    } else {
                        found.clone()
                    };
                    step(
                        a,
                        &t,
                        r,
                        format!(
                            "rebuild {} {}{}",
                            object,
                            found.qualified(),
                            if *concurrently { " concurrently" } else { "" }
                        ),
                        lock,
                        true,
                        Inverse::Nothing,
                    );
                }
                None => a.warnings.push(format!(
                    "rebuilds every index of {object} {}, one table at a time",
                    name.as_deref().unwrap_or("(the current database)")
                )),
            }
            a.warnings.push(
                "runs outside a transaction block (by the executor's background worker); a rebuild changes no data: nothing to undo".into(),
            );
        }
        Online::Vacuum {
            vacuum,
            full,
            analyze,
            tables,
        } => {
            let what = match (vacuum, full, analyze) {
                (true, true, true) => "vacuum full and analyze",
                (true, true, false) => "vacuum full (rewrites the table)",
                (true, false, true) => "vacuum and analyze",
                (true, false, false) => "vacuum",
                _ => "analyze",
            };
            let lock = if *full {
                AccessExclusive
            } else {
                ShareUpdateExclusive
            };
            for w in tables {
                let t = resolve(sp, &w.written())?;
                step(a, &t, w, what.into(), lock, true, Inverse::Nothing);
                if *full {
                    if let Some(s) = a.ddl_steps.last_mut() {
                        s.rewrites = true;
                    }
                }
            }
            if tables.is_empty() {
                a.warnings.push(format!(
                    "{what}: every table of the database the role may process"
                ));
            }
            a.warnings.push(
                "runs outside a transaction block (by the executor's background worker); it changes no rows: nothing to undo".into(),
            );
        }
    }
    Ok(())
}

/// The table an index belongs to.
fn table_of(index: &Rel) -> Result<Rel> {
    let t = Spi::get_one_with_args::<i64>(
        "SELECT (SELECT indrelid::int8 FROM pg_catalog.pg_index WHERE indexrelid = $1::pg_catalog.oid)",
        &[index.oid.into()],
    )?;
    match t {
        Some(t) => rel(t),
        None => Ok(index.clone()),
    }
}

fn step(
    a: &mut Analysis,
    table: &Rel,
    written: &Target,
    action: String,
    lock: LockMode,
    scans: bool,
    inverse: Inverse,
) {
    let why = format!("{action}{}", if scans { ", reads every row" } else { "" });
    match a.locks.iter_mut().find(|(l, _, _)| l.oid == table.oid) {
        Some((_, m, w)) => {
            if lock > *m {
                *m = lock;
            }
            w.push_str(&format!("; {why}"));
        }
        None => a.locks.push((table.clone(), lock, why)),
    }
    if a.target.is_none() {
        a.target = Some(table.clone());
    }
    a.ddl_steps.push(Step {
        table: written.written(),
        action,
        lock,
        rewrites: false,
        scans,
        destroys_data: false,
        inverse,
        creates: false,
    });
}
