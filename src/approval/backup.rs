//! How a backup is taken: the before-image of every row an execution changes, read with the
//! executor's rights just before the statement runs (and row-locked, so that no concurrent
//! change slips in between, wherever the executor may lock them); the statement itself; the
//! after-images; the check of what really happened against the analysis.
//!
//! A row image is the row's text, as PostgreSQL prints a record (each value by its type's
//! output function, in the order of the table's row type), written under fixed session
//! settings ([`row_images`]): a timestamptz, a float8, a bytea or a json reads back byte for
//! byte whatever the executor's or the roller-back's TimeZone, extra_float_digits or
//! bytea_output; a restore reads it back with the row type's input function.
use super::rows::table_shapes;
use super::rows::{pk_object, row_text};
use super::rows::{table_names, xact_per_table};
use super::store::{rows_per_table, ApprovalError, Result};
use crate::impact::model::Capture;
use crate::spi_util::Spi;
use crate::spi_util::{
    as_extension_owner, in_rolled_back_subtransaction, row_images, with_setting, with_timeout,
    SearchPath,
};
use crate::sqlparse::Kind;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;

/// Whether to lock the rows of `c` (a row lock needs the UPDATE right); a table the executor
/// may not lock is noted in `unlocked`.
fn lock_or_note(c: &Capture, unlocked: &mut Vec<String>) -> Result<bool> {
    let lock = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.has_table_privilege($1::pg_catalog.oid, 'UPDATE')",
        &[c.oid.into()],
    )?
    .unwrap_or(false);
    if !lock {
        unlocked.push(c.display.clone());
    }
    Ok(lock)
}

/// The select list of a row-image query over alias `c`: `[{pk, row}]`, `row` the image.
fn image_list(pk: &[String], columns: &[String]) -> String {
    format!(
        "coalesce(jsonb_agg(jsonb_build_object('pk', {}, 'row', {})), '[]')",
        pk_object("c", pk),
        row_text("c", columns)
    )
}

/// A query returning one jsonb, run with the executor's rights under the row-image
/// settings; `[]` when it returns NULL.
fn images(sp: &SearchPath, q: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Value> {
    Ok(
        row_images(|| sp.as_caller(|| Spi::get_one_with_args::<JsonB>(q, args)))?
            .map(|j| j.0)
            .unwrap_or(json!([])),
    )
}

/// The rows of `rows_sql` as `[{pk, row}]`, locked FOR UPDATE when `lock`.
fn before_images(sp: &SearchPath, c: &Capture, rows_sql: &str, lock: bool) -> Result<Value> {
    let q = format!(
        "SELECT {list} FROM (SELECT * FROM ({rows_sql}) AS c{lock}) AS c",
        list = image_list(&c.pk, &c.columns),
        lock = if lock { " FOR UPDATE" } else { "" }
    );
    images(sp, &q, &[])
}

/// Current rows of `c` by key, as `[{pk, row}]`, read with the caller's rights.
fn read_rows(sp: &SearchPath, c: &Capture, keys: &Value, lock: bool) -> Result<Value> {
    let q = format!(
        "SELECT {list}
           FROM (SELECT * FROM {t} AS c WHERE {pk} IN (SELECT value FROM jsonb_array_elements($1)){lock}) AS c",
        list = image_list(&c.pk, &c.columns),
        pk = pk_object("c", &c.pk),
        t = c.qualified,
        lock = if lock { " FOR UPDATE" } else { "" }
    );
    images(sp, &q, &[JsonB(keys.clone()).into()])
}

fn store_backup(exec_id: i64, c: &Capture, operation: &str, rows: &Value) -> Result<()> {
    let (row_col, after_col) = if operation == "insert" {
        ("NULL", "x.row")
    } else {
        ("x.row", "NULL")
    };
    as_extension_owner(|| {
        Spi::run_with_args(
            &format!(
                "INSERT INTO ai.backups (execution_id, table_oid, table_name, operation, depth, pk, row_data, row_after)
                 SELECT $1, $2::oid, $3, $4, $5, x.pk, {row_col}, {after_col} FROM jsonb_to_recordset($6) AS x(pk jsonb, row text)"
            ),
            &[
                exec_id.into(),
                c.oid.into(),
                c.display.clone().into(),
                operation.into(),
                (c.depth as i32).into(),
                JsonB(rows.clone()).into(),
            ],
        )?;
        Ok::<_, ApprovalError>(())
    })
}

/// Keys (jsonb objects) as a set of their texts.
fn key_set<'a>(keys: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    keys.into_iter().map(|k| k.to_string()).collect()
}

/// The keys of a `[{pk, row}]` list.
fn keys_of(rows: &Value) -> BTreeSet<String> {
    key_set(rows.as_array().into_iter().flatten().map(|r| &r["pk"]))
}

fn as_keys(keys: &BTreeSet<String>) -> Value {
    Value::Array(
        keys.iter()
            .filter_map(|k| serde_json::from_str(k).ok())
            .collect(),
    )
}

/// After a DELETE or UPDATE of the target `c`: every backed-up row is gone (DELETE), or is
/// this (sub)transaction's new version where its key still finds it (UPDATE). With the counts
/// already equal, that makes the changed rows exactly the backed-up ones; otherwise the
/// statement is undone (the caller's subtransaction rolls back) with an error.
fn same_rows_as_backed_up(sp: &SearchPath, c: &Capture, keys: &BTreeSet<String>) -> Result<()> {
    let pk = pk_object("c", &c.pk);
    let backed_up = JsonB(as_keys(keys));
    let problem = if c.operation == "delete" {
        let q = format!(
            "SELECT coalesce(jsonb_agg({pk}), '[]') FROM {t} AS c
              WHERE {pk} IN (SELECT value FROM jsonb_array_elements($1))",
            t = c.qualified
        );
        let left = images(sp, &q, &[backed_up.into()])?;
        let n = left.as_array().map_or(0, |a| a.len());
        (n > 0).then(|| format!("{n} backed-up row(s) of {} are still there", c.display))
    } else {
        // a backed-up row still under its key must be this (sub)transaction's new version; one
        // whose key changed (an UPDATE of the key) is not under it any more
        // SAFETY: reads the current (sub)transaction's id.
        let xid = u32::from(unsafe { pg_sys::GetCurrentTransactionIdIfAny() });
        let q = format!(
            "SELECT coalesce(jsonb_agg({pk}), '[]') FROM {t} AS c
              WHERE {pk} IN (SELECT value FROM jsonb_array_elements($1))
                AND c.xmin <> $2::text::pg_catalog.xid",
            t = c.qualified
        );
        let untouched = images(sp, &q, &[backed_up.into(), xid.to_string().into()])?;
        let n = untouched.as_array().map_or(0, |a| a.len());
        (n > 0).then(|| format!("{n} backed-up row(s) of {} were not changed", c.display))
    };
    problem.map_or(Ok(()), |p| Err(verification_failed(p)))
}

/// The keys of the rows of `c` this (sub)transaction wrote (inserted, or updated to a new
/// version), found by the transaction id PostgreSQL stamped on them: the statement that
/// wrote them ran exactly as approved, with nothing added to it.
fn written_here(sp: &SearchPath, c: &Capture) -> Result<Value> {
    // SAFETY: reads the current (sub)transaction's id.
    let xid = u32::from(unsafe { pg_sys::GetCurrentTransactionIdIfAny() });
    let q = format!(
        "SELECT coalesce(jsonb_agg({pk}), '[]') FROM {t} AS c WHERE c.xmin = $1::text::pg_catalog.xid",
        pk = pk_object("c", &c.pk),
        t = c.qualified
    );
    images(sp, &q, &[xid.to_string().into()])
}

/// Inside a subtransaction: back up, run (under `statement_ms`), check. Any error undoes all
/// of it.
pub(super) fn run_with_backup(
    sp: &SearchPath,
    exec_id: i64,
    sql: &str,
    reading: &crate::impact::analyse::Reading,
    captures: &[Capture],
    expected: &Value,
    statement_ms: u64,
) -> Result<Value> {
    let mut unlocked = Vec::new();
    // the keys backed up of the statement's own target, to hold against what it changed
    let mut target_keys: Option<(&Capture, BTreeSet<String>)> = None;
    // before-images, read with the caller's rights, rows locked until the end of the transaction
    for c in captures.iter().filter(|c| c.operation != "insert") {
        let Some(rows_sql) = &c.rows_sql else {
            continue;
        };
        let lock = lock_or_note(c, &mut unlocked)?;
        let rows = before_images(sp, c, rows_sql, lock)?;
        if c.depth == 0 && matches!(c.operation, "delete" | "update") && !c.pk.is_empty() {
            target_keys = Some((c, keys_of(&rows)));
        }
        // a MERGE's matched rows are kept as updates; those it deleted are marked afterwards
        let op = if c.operation == "merge" {
            "update"
        } else {
            c.operation
        };
        store_backup(exec_id, c, op, &rows)?;
    }
    let target_insert = captures
        .iter()
        .find(|c| c.operation == "insert" && c.depth == 0);
    if let Some(c) = target_insert {
        if c.pk.is_empty() {
            return Err(ApprovalError::NoPrimaryKey(c.display.clone()));
        }
    }
    let lock_ms = crate::guc::execute_lock_timeout_ms();
    let limits = |f: &mut dyn FnMut() -> Result<Option<Value>>| -> Result<Option<Value>> {
        with_setting(c"lock_timeout", &lock_ms.to_string(), || {
            with_timeout(statement_ms, || sp.as_caller(&mut *f))
        })
    };
    // the statement exactly as approved, under the session's own settings
    let run = || -> Result<()> {
        limits(&mut || {
            crate::pgsql::pinned(|| Spi::run(sql))?;
            Ok(None)
        })?;
        Ok(())
    };
    // an upsert updates the rows its keys meet: a first run, always rolled back, finds the
    // rows it writes; those that are still there after the rollback existed before, and their
    // before-images are taken (locked) like an UPDATE's
    let mut upserted: Option<BTreeSet<String>> = None;
    if let (Some(c), true) = (target_insert, reading.upsert) {
        let probe = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
            run()?;
            written_here(sp, c)
        }));
        let keys = match probe {
            Ok(Ok(k)) => k,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(ApprovalError::Decode(e.message)),
        };
        let lock = lock_or_note(c, &mut unlocked)?;
        let existing = read_rows(sp, c, &keys, lock)?;
        upserted = Some(keys_of(&existing));
        store_backup(exec_id, c, "update", &existing)?;
    }
    let before = xact_per_table()?;
    run()?;
    let inserted_keys: Option<Value> = match target_insert {
        Some(c) => Some(written_here(sp, c)?),
        None => None,
    };
    Spi::run("SET CONSTRAINTS ALL IMMEDIATE")?;
    // what really happened, per table, against what the analysis said
    let after = xact_per_table()?;
    let mut rows = serde_json::Map::new();
    let names = table_names(&after.keys().copied().collect::<Vec<_>>())?;
    let mut by_trigger: Vec<(i64, (i64, i64, i64))> = Vec::new();
    let mut target_delta = (0, 0, 0);
    let delta = |oid: &i64, n: &(i64, i64, i64)| {
        let b = before.get(oid).copied().unwrap_or((0, 0, 0));
        (n.0 - b.0, n.1 - b.1, n.2 - b.2)
    };
    // distinct rows, like the analysis: a row updated and then deleted counts once
    let kept = crate::impact::count::kept_where_changed_twice(
        after.iter().map(|(oid, n)| (*oid, delta(oid, n))),
    );
    for (oid, n) in &after {
        let d = delta(oid, n);
        if d != (0, 0, 0) {
            let twice = crate::impact::count::changed_twice(d, kept.get(oid).copied());
            rows.insert(
                names.get(oid).cloned().unwrap_or_else(|| oid.to_string()),
                json!(d.0 + d.1 + d.2 - twice),
            );
            if target_insert.is_some_and(|c| c.oid == *oid) {
                target_delta = d;
            }
            if !captures.iter().any(|c| c.oid == *oid) {
                by_trigger.push((*oid, d));
            }
        }
    }
    // a capture's table's counters, over all its partitions
    let delta_of = |c: &Capture| after.get(&c.oid).map_or((0, 0, 0), |n| delta(&c.oid, n));
    let wanted = rows_per_table(expected);
    for (t, n) in &wanted {
        let got = rows.get(t).and_then(|v| v.as_i64()).unwrap_or(0);
        if got != *n && !matches!(reading.kind, Kind::Ddl | Kind::Truncate) {
            return Err(ApprovalError::Decode(format!(
                "verification failed: {t} had {got} rows changed, the analysis said {n}; the statement was undone"
            )));
        }
    }
    // the rows it changed are the rows backed up, not only as many: a WHERE evaluated again
    // (random(), now(), a concurrent writer) may have met other rows
    if let Some((c, keys)) = &target_keys {
        same_rows_as_backed_up(sp, c, keys)?;
        // and as many as backed up: no changed row is missing from the backup
        as_many_as_backed_up(exec_id, c, delta_of(c))?;
    }
    // rows triggers inserted into other tables: found by this subtransaction's xid, removed
    // by a rollback like the statement's own inserts; other trigger changes cannot be undone
    let mut unprotected = Vec::new();
    // SAFETY: reads the current (sub)transaction's id.
    let xid = unsafe { pg_sys::GetCurrentTransactionIdIfAny() };
    let shapes = table_shapes(&by_trigger.iter().map(|t| t.0).collect::<Vec<_>>())?;
    for (oid, d) in &by_trigger {
        let Some(t) = shapes.get(oid) else { continue };
        if d.1 == 0 && d.2 == 0 && !t.pk.is_empty() {
            let q = format!(
                "SELECT {list} FROM {q} AS c WHERE c.xmin = $1::text::xid",
                list = image_list(&t.pk, &t.all_columns),
                q = t.qualified
            );
            let found = images(sp, &q, &[u32::from(xid).to_string().into()])?;
            let c = Capture {
                oid: *oid,
                qualified: t.qualified.clone(),
                display: t.display.clone(),
                operation: "insert",
                rows_sql: None,
                pk: t.pk.clone(),
                columns: t.all_columns.clone(),
                depth: 1,
            };
            store_backup(exec_id, &c, "insert", &found)?;
        } else {
            unprotected.push(t.display.clone());
        }
    }
    if !unprotected.is_empty() {
        rows.insert(
            "unprotected".into(),
            json!(format!(
                "triggers updated or deleted rows of {}: a rollback does not restore those",
                unprotected.join(", ")
            )),
        );
    }
    if !unlocked.is_empty() {
        rows.insert(
            "unlocked".into(),
            json!(format!(
                "rows of {} were backed up without a row lock (no UPDATE right to lock them)",
                unlocked.join(", ")
            )),
        );
    }
    // after-images of inserted rows; an upsert's rows are split into the ones it inserted
    // and the ones it updated, and the counters must agree with that split
    if let (Some(keys), Some(c)) = (&inserted_keys, target_insert) {
        let returned = key_set(keys.as_array().into_iter().flatten());
        let existed = upserted.clone().unwrap_or_default();
        let updated: BTreeSet<String> = returned.intersection(&existed).cloned().collect();
        let inserted: BTreeSet<String> = returned.difference(&existed).cloned().collect();
        if upserted.is_some()
            && (target_delta.0 != inserted.len() as i64 || target_delta.1 != updated.len() as i64)
        {
            return Err(ApprovalError::Decode(format!(
                "verification failed: {} had {} rows inserted and {} updated, the backup expected {} and {}; the statement was undone",
                c.display,
                target_delta.0,
                target_delta.1,
                inserted.len(),
                updated.len()
            )));
        }
        let after_rows = read_rows(sp, c, &as_keys(&inserted), false)?;
        store_backup(exec_id, c, "insert", &after_rows)?;
        if upserted.is_some() {
            // rows met by the probe but left alone by the real run need no restore
            as_extension_owner(|| {
                Spi::run_with_args(
                    "DELETE FROM ai.backups WHERE execution_id = $1 AND table_oid = $2::oid AND operation = 'update'
                        AND NOT (pk IN (SELECT value FROM jsonb_array_elements($3)))",
                    &[exec_id.into(), c.oid.into(), JsonB(as_keys(&updated)).into()],
                )?;
                Ok::<_, ApprovalError>(())
            })?;
            set_after_images(sp, exec_id, c)?;
        }
    }
    for c in captures
        .iter()
        .filter(|c| c.operation == "update" || c.operation == "merge")
    {
        set_after_images(sp, exec_id, c)?;
    }
    for c in captures.iter().filter(|c| c.operation == "merge") {
        merge_after(sp, exec_id, c, xid, delta_of(c))?;
    }
    Ok(Value::Object(rows))
}

/// The keys of the rows of `c` backed up for `operation`, as a json array.
fn backed_up_keys(exec_id: i64, c: &Capture, operation: &str) -> Result<Value> {
    Ok(as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT coalesce(jsonb_agg(pk), '[]') FROM ai.backups WHERE execution_id = $1 AND table_oid = $2::oid AND operation = $3",
            &[exec_id.into(), c.oid.into(), operation.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(json!([])))
}

/// The after-images of the rows of `c` backed up as updates.
fn set_after_images(sp: &SearchPath, exec_id: i64, c: &Capture) -> Result<()> {
    let keys = backed_up_keys(exec_id, c, "update")?;
    let after_rows = read_rows(sp, c, &keys, false)?;
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.backups b SET row_after = x.row
               FROM jsonb_to_recordset($3) AS x(pk jsonb, row text)
              WHERE b.execution_id = $1 AND b.table_oid = $2::oid AND b.operation = 'update' AND b.pk = x.pk",
            &[exec_id.into(), c.oid.into(), JsonB(after_rows).into()],
        )?;
        Ok::<_, ApprovalError>(())
    })
}

/// Backed-up rows of `c` per operation, all depths (a cascade into the target's own table
/// is backed up under it too).
fn backed_up(exec_id: i64, c: &Capture, operation: &str) -> Result<i64> {
    as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM ai.backups WHERE execution_id = $1 AND table_oid = $2::oid AND operation = $3",
            &[exec_id.into(), c.oid.into(), operation.into()],
        )?)
    })
    .map(Option::unwrap_or_default)
}

fn verification_failed(what: String) -> ApprovalError {
    ApprovalError::Decode(format!(
        "verification failed: {what} (the statement met other rows than the backup holds: a \
         non-deterministic condition or a concurrent change); the statement was undone"
    ))
}

/// After a DELETE or UPDATE: the target's table had as many rows deleted (updated) as the
/// backup holds for it, `d` being its (inserted, updated, deleted) counters over all its
/// partitions; a row moved to another partition counts as one deleted and one inserted.
/// With [`same_rows_as_backed_up`], the changed rows are exactly the backed-up ones.
fn as_many_as_backed_up(exec_id: i64, c: &Capture, d: (i64, i64, i64)) -> Result<()> {
    let (changed, moved_ok) = match c.operation {
        "delete" => (d.2, true),
        _ => (d.1 + d.2, d.0 == d.2),
    };
    let held = backed_up(exec_id, c, c.operation)?;
    if changed != held || !moved_ok {
        return Err(verification_failed(format!(
            "{} had {changed} row(s) {}d, the backup holds {held}",
            c.display, c.operation
        )));
    }
    Ok(())
}

/// After a MERGE: matched rows that are gone were deleted; matched rows it left alone need no
/// restore; rows of this subtransaction that were not matched before were inserted. The
/// target's counters `d` (inserted, updated, deleted) must agree with that split, or a row
/// the MERGE changed is missing from the backup (it met other rows than were backed up).
fn merge_after(
    sp: &SearchPath,
    exec_id: i64,
    c: &Capture,
    xid: pg_sys::TransactionId,
    d: (i64, i64, i64),
) -> Result<()> {
    let matched = backed_up_keys(exec_id, c, "update")?;
    let untouched = images(
        sp,
        &format!(
            "SELECT coalesce(jsonb_agg({pk}), '[]') FROM {t} AS c
              WHERE {pk} IN (SELECT value FROM jsonb_array_elements($1)) AND c.xmin <> $2::text::pg_catalog.xid",
            pk = pk_object("c", &c.pk),
            t = c.qualified
        ),
        &[JsonB(matched).into(), u32::from(xid).to_string().into()],
    )?;
    let known = as_extension_owner(|| {
        Spi::run_with_args(
            "DELETE FROM ai.backups WHERE execution_id = $1 AND table_oid = $2::oid AND operation = 'update'
                AND pk IN (SELECT value FROM jsonb_array_elements($3))",
            &[exec_id.into(), c.oid.into(), JsonB(untouched).into()],
        )?;
        Spi::run_with_args(
            "UPDATE ai.backups SET operation = 'delete'
              WHERE execution_id = $1 AND table_oid = $2::oid AND operation = 'update' AND row_after IS NULL",
            &[exec_id.into(), c.oid.into()],
        )?;
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT coalesce(jsonb_agg(pk), '[]') FROM ai.backups WHERE execution_id = $1 AND table_oid = $2::oid",
            &[exec_id.into(), c.oid.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(json!([]));
    let q = format!(
        "SELECT {list} FROM {t} AS c
          WHERE c.xmin = $1::text::xid AND NOT ({pk} IN (SELECT value FROM jsonb_array_elements($2)))",
        list = image_list(&c.pk, &c.columns),
        pk = pk_object("c", &c.pk),
        t = c.qualified
    );
    let inserted = images(
        sp,
        &q,
        &[u32::from(xid).to_string().into(), JsonB(known).into()],
    )?;
    let split = (
        inserted.as_array().map_or(0, |a| a.len()) as i64,
        backed_up(exec_id, c, "update")?,
        backed_up(exec_id, c, "delete")?,
    );
    // a row moved to another partition counts as deleted and inserted as well as updated
    let moved = d.2 - split.2;
    if moved < 0 || d != (split.0 + moved, split.1 - moved, split.2 + moved) {
        return Err(verification_failed(format!(
            "{} had {} row(s) inserted, {} updated and {} deleted; the backup holds {}, {} and {}",
            c.display, d.0, d.1, d.2, split.0, split.1, split.2
        )));
    }
    store_backup(exec_id, c, "insert", &inserted)
}
