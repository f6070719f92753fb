//! How a rollback is applied: the rows an execution inserted are removed, the rows it
//! deleted are inserted again, the rows it updated are put back, each step one statement
//! over all tables (foreign keys are checked when it ends);
//! every step changes only rows that are still what the execution left (unless forced), so a
//! change that lands between the conflict check and the restore fails the rollback instead
//! of being overwritten; then every row is compared with its backup. Row images are read and
//! written under the fixed settings of [`row_images`].
use super::rows::{pk_object, row_text};
use super::rows::{table_shapes, Shape};
use super::store::{ApprovalError, Result};
use crate::impact::cascade::column_list;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, row_images, SearchPath};
use pgrx::JsonB;
use serde_json::{json, Value};

#[derive(Debug, Clone, serde::Deserialize)]
struct BackupSet {
    table_oid: i64,
    operation: String,
    rows: Value,
}

pub(super) fn restore_rows(sp: &SearchPath, exec_id: i64, force: bool) -> Result<Value> {
    row_images(|| restore(sp, exec_id, force))
}

fn restore(sp: &SearchPath, exec_id: i64, force: bool) -> Result<Value> {
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT coalesce(jsonb_agg(jsonb_build_object('table_oid', table_oid::int8, 'operation', operation,
                    'rows', rows) ORDER BY table_oid, operation), '[]')
               FROM (SELECT table_oid, operation,
                            jsonb_agg(jsonb_build_object('pk', pk, 'before', row_data, 'after', row_after)) AS rows
                       FROM (SELECT DISTINCT ON (table_oid, operation, pk) *
                               FROM ai.backups
                              -- an execution in batches: each batch's backup, first image of a row first
                              WHERE execution_id = $1
                                 OR execution_id IN (SELECT id FROM ai.executions WHERE (detail ->> 'batch_of')::int8 = $1)
                              ORDER BY table_oid, operation, pk, id) b
                      GROUP BY table_oid, operation) s",
            &[exec_id.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(json!([]));
    let sets: Vec<BackupSet> =
        serde_json::from_value(v).map_err(|e| ApprovalError::Decode(e.to_string()))?;
    let oids: Vec<i64> = sets.iter().map(|s| s.table_oid).collect();
    let tables = table_shapes(&oids)?;
    // conflicts: rows that changed since the execution
    let mut conflicts = Vec::new();
    for s in &sets {
        let Some(t) = tables.get(&s.table_oid) else {
            continue;
        };
        let cond = match s.operation.as_str() {
            // a deleted row is back under the same key
            "delete" => "c IS NOT NULL".to_string(),
            // an updated or inserted row is no longer what the execution left
            _ => format!(
                "(c IS NULL AND x.after IS NOT NULL AND '{}' = 'update') OR (c IS NOT NULL AND NOT ({}))",
                s.operation,
                as_left(t)
            ),
        };
        let q = format!(
            "SELECT coalesce(jsonb_agg(x.pk), '[]') FROM jsonb_to_recordset($1) AS x(pk jsonb, before text, after text)
               LEFT JOIN {q} AS c ON {pk} = x.pk WHERE {cond}",
            q = t.qualified,
            pk = pk_object("c", &t.pk)
        );
        let found = sp
            .as_caller(|| Spi::get_one_with_args::<JsonB>(&q, &[JsonB(s.rows.clone()).into()]))?
            .map(|j| j.0)
            .unwrap_or(json!([]));
        for pk in found.as_array().cloned().unwrap_or_default() {
            conflicts.push(format!(
                "{} {} ({} by the execution)",
                t.display, pk, s.operation
            ));
        }
    }
    if !conflicts.is_empty() && !force {
        let n = conflicts.len();
        conflicts.truncate(20);
        return Err(ApprovalError::Conflicts(n, conflicts));
    }
    let mut report = serde_json::Map::new();
    // runs a step and adds what it did to the report, per table; `every`: each row of a
    // backup set must be reached (unforced)
    let mut apply = |steps: &[Step], name: &str, every: bool| -> Result<()> {
        for (st, n) in together(sp, steps)? {
            if every {
                all_of(&st.table.display, name, n, st.set, force)?;
            }
            let e = report
                .entry(st.table.display.clone())
                .or_insert_with(|| json!({}));
            e[name] = json!(e[name].as_i64().unwrap_or(0) + n);
        }
        Ok(())
    };
    // Each step is one statement over every table it touches: PostgreSQL checks foreign
    // keys at the end of a statement, so rows that reference each other (a self-reference,
    // a cycle, a child and its parent) come and go together, in whatever order.
    // 1. remove inserted rows
    let removals: Vec<Step> = sets
        .iter()
        .filter(|s| s.operation == "insert")
        .map(|s| {
            let t = &tables[&s.table_oid];
            let sql = format!(
                "DELETE FROM {q} AS c USING jsonb_to_recordset(${{n}}) AS x(pk jsonb, after text)
                  WHERE {pk} = x.pk AND ({guard}) RETURNING 1",
                q = t.qualified,
                pk = pk_object("c", &t.pk),
                guard = unchanged(t, force)
            );
            Step {
                set: s,
                table: t,
                sql,
            }
        })
        .collect();
    apply(&removals, "removed", true)?;
    // 2. re-insert deleted rows (forced: rows back under the same key are overwritten)
    let deleted: Vec<&BackupSet> = sets.iter().filter(|s| s.operation == "delete").collect();
    if force {
        for s in &deleted {
            let t = &tables[&s.table_oid];
            let q = format!(
                "DELETE FROM {q} AS c WHERE {pk} IN (SELECT x.pk FROM jsonb_to_recordset($1) AS x(pk jsonb))",
                q = t.qualified,
                pk = pk_object("c", &t.pk)
            );
            sp.as_caller(|| Spi::run_with_args(&q, &[JsonB(s.rows.clone()).into()]))?;
        }
    }
    let inserts: Vec<Step> = deleted
        .iter()
        .map(|s| {
            let t = &tables[&s.table_oid];
            let sql = format!(
                "INSERT INTO {q} ({cols}) OVERRIDING SYSTEM VALUE
                 SELECT {rcols} FROM jsonb_to_recordset(${{n}}) AS x(before text),
                      LATERAL (SELECT (x.before::{q}).*) AS r RETURNING 1",
                q = t.qualified,
                cols = column_list(None, &t.columns),
                rcols = column_list(Some("r"), &t.columns)
            );
            Step {
                set: s,
                table: t,
                sql,
            }
        })
        .collect();
    apply(&inserts, "reinserted", false)?;
    // 3. put updated rows back
    let resets: Vec<Step> = sets
        .iter()
        .filter(|s| s.operation == "update")
        .filter_map(|s| {
            let t = &tables[&s.table_oid];
            let set_cols: Vec<String> = t
                .columns
                .iter()
                .filter(|c| !t.pk.contains(c))
                .cloned()
                .collect();
            if set_cols.is_empty() {
                return None;
            }
            let sql = format!(
                "UPDATE {q} AS c SET ({cols}) = ROW({rcols})
                   FROM jsonb_to_recordset(${{n}}) AS x(pk jsonb, before text, after text),
                        LATERAL (SELECT (x.before::{q}).*) AS r
                  WHERE {pk} = x.pk AND ({guard}) RETURNING 1",
                q = t.qualified,
                cols = column_list(None, &set_cols),
                rcols = column_list(Some("r"), &set_cols),
                pk = pk_object("c", &t.pk),
                guard = unchanged(t, force)
            );
            Some(Step {
                set: s,
                table: t,
                sql,
            })
        })
        .collect();
    apply(&resets, "reset", true)?;
    Spi::run("SET CONSTRAINTS ALL IMMEDIATE")?;
    // verify: every restored row equals its before-image, every inserted row is gone
    for s in &sets {
        let t = &tables[&s.table_oid];
        let q = if s.operation == "insert" {
            format!(
                "SELECT count(*) FROM jsonb_to_recordset($1) AS x(pk jsonb) JOIN {q} AS c ON {pk} = x.pk",
                q = t.qualified,
                pk = pk_object("c", &t.pk)
            )
        } else {
            format!(
                "SELECT count(*) FROM jsonb_to_recordset($1) AS x(pk jsonb, before text)
                  WHERE NOT EXISTS (SELECT 1 FROM {q} AS c WHERE {pk} = x.pk AND {image} = x.before)",
                q = t.qualified,
                pk = pk_object("c", &t.pk),
                image = row_text("c", &t.all_columns)
            )
        };
        let bad = count_over(sp, &q, s)?;
        if bad > 0 {
            return Err(ApprovalError::Decode(format!(
                "verification failed: {bad} rows of {} differ from their backup after the restore; nothing was restored",
                t.display
            )));
        }
    }
    Ok(
        json!({"tables": Value::Object(report), "conflicts_overwritten": if force { conflicts.len() } else { 0 }}),
    )
}

/// One table's part of a restore step: a data-modifying statement returning a row per row
/// it changed, its backup set as `${n}`.
struct Step<'a> {
    set: &'a BackupSet,
    table: &'a Shape,
    sql: String,
}

/// Runs the steps as one statement, with the executor's rights; the rows each changed.
fn together<'a, 'b>(sp: &SearchPath, steps: &'b [Step<'a>]) -> Result<Vec<(&'b Step<'a>, i64)>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let ctes: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            format!(
                "s{i} AS ({})",
                st.sql.replace("${n}", &format!("${}", i + 1))
            )
        })
        .collect();
    let counts: Vec<String> = (0..steps.len())
        .map(|i| format!("(SELECT count(*) FROM s{i})"))
        .collect();
    let q = format!(
        "WITH {} SELECT ARRAY[{}]::int8[]",
        ctes.join(", "),
        counts.join(", ")
    );
    let args: Vec<pgrx::datum::DatumWithOid> = steps
        .iter()
        .map(|st| JsonB(st.set.rows.clone()).into())
        .collect();
    let n = sp
        .as_caller(|| Spi::get_one_with_args::<Vec<i64>>(&q, &args))?
        .unwrap_or_default();
    Ok(steps
        .iter()
        .zip(n.into_iter().chain(std::iter::repeat(0)))
        .collect())
}

/// The row is still what the execution left (its after-image), unless the rollback is forced.
fn unchanged(t: &Shape, force: bool) -> String {
    if force {
        "true".into()
    } else {
        format!("x.after IS NULL OR {}", as_left(t))
    }
}

/// Row `c` is still the after-image `x.after` the execution left, byte for byte.
fn as_left(t: &Shape) -> String {
    format!("{} = x.after", row_text("c", &t.all_columns))
}

/// A count query over the rows of a backup set (`$1`), with the executor's rights.
fn count_over(sp: &SearchPath, q: &str, s: &BackupSet) -> Result<i64> {
    Ok(sp
        .as_caller(|| Spi::get_one_with_args::<i64>(q, &[JsonB(s.rows.clone()).into()]))?
        .unwrap_or(0))
}

/// Unforced, a step must reach every row of its backup: one it misses changed after the
/// conflict check.
fn all_of(table: &str, step: &str, n: i64, s: &BackupSet, force: bool) -> Result<()> {
    let want = s.rows.as_array().map_or(0, |a| a.len()) as i64;
    if force || n == want {
        return Ok(());
    }
    Err(ApprovalError::Decode(format!(
        "{table}: {} of {want} rows changed while the rollback ran ({step}); nothing was restored",
        want - n
    )))
}
