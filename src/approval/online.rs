//! Approved statements that PostgreSQL runs only outside a transaction block (CREATE INDEX
//! CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX … CONCURRENTLY, VACUUM, ANALYZE) and the
//! rollbacks that are such statements: `ai.execute` records the execution as `running`,
//! starts a background worker of its own for it (`executor.rs`) and returns; the worker waits
//! for that transaction to commit, runs the statement as a top-level command with the
//! runner's rights, and records how it ended. An execution whose worker is gone (a crash, a
//! kill, a restart) is found by [`reap`] and marked failed, with any index it left INVALID.
use super::store::{log, transition, ApprovalError, Request, Result};
use super::workflow::State;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::{pg_sys, JsonB};
use serde_json::{json, Value};

/// The background worker type of an executor (pg_stat_activity.backend_type).
pub const EXECUTOR_TYPE: &str = "ai_architect executor";

/// Who runs the statement and how.
pub(super) struct Runner<'a> {
    pub role: pg_sys::Oid,
    pub name: &'a str,
    pub search_path: &'a str,
}

/// Starts the approved `req`'s statement in a background worker: the execution is recorded
/// as `running` (the request too), and the worker waits for this transaction to commit.
/// Without a free worker slot nothing is recorded and the error says how to run the
/// statement by hand.
pub(super) fn start(req: &Request, runner: &Runner, plan: &Value) -> Result<Value> {
    if let Some(why) = crate::spi_util::why_read_only() {
        return Err(ApprovalError::NoWorker {
            why: format!("the transaction is read-only ({why})"),
            statement: req.sql.clone(),
        });
    }
    // SAFETY: reads the backend's current user id.
    let me = unsafe { pg_sys::GetUserId() };
    let mut detail = json!({
        "job": "execute",
        "statement": req.sql,
        "role": u32::from(runner.role),
        "ran_as": runner.name,
        "search_path": runner.search_path,
        "timeout_ms": crate::guc::online_timeout_ms(),
        "keep_invalid": crate::guc::keep_invalid_indexes(),
        "executed_by": crate::spi_util::session_user()?,
    });
    if req.impact["batch"].is_object() {
        detail["batch"] = req.impact["batch"].clone();
        detail["statement_ms"] = json!(crate::guc::execute_statement_timeout_ms_for(
            runner.role != me
        ));
        detail["pause_ms"] = json!(crate::guc::batch_pause_ms());
        detail["max_lag"] = json!(crate::guc::batch_max_replay_lag());
    }
    let exec_id = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.executions (request_id, status, detail, rollback_plan) VALUES ($1, 'running', $2, $3) RETURNING id",
            &[req.id.into(), JsonB(detail).into(), JsonB(plan.clone()).into()],
        )?)
    })?
    .unwrap_or_default();
    transition(
        req.id,
        State::Approved,
        State::Running,
        Some("running in a background worker"),
    )?;
    let pid = launch(exec_id, &req.sql)?;
    log(
        "execution_started",
        req.id,
        &req.sha,
        json!({"execution": exec_id, "pid": pid, "ran_as": runner.name}),
    )?;
    Ok(json!({
        "request": req.id,
        "execution": exec_id,
        "status": "running",
        "pid": pid,
        "ran_as": runner.name,
        "hint": format!("it runs outside this transaction, once it commits; ai.request_status({}) shows its progress", req.id),
    }))
}

/// Starts the rollback of execution `exec_id` of `req` — `statement`, a statement that runs
/// outside a transaction block — in a background worker, as `role`.
pub(super) fn start_rollback(
    req: &Request,
    exec_id: i64,
    statement: &str,
    role: pg_sys::Oid,
    force: bool,
) -> Result<Value> {
    let by = crate::spi_util::session_user()?;
    let moved = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "WITH u AS (UPDATE ai.executions SET status = 'rolling_back',
                    detail = (detail - 'claimed') || jsonb_build_object('rollback', jsonb_build_object('statement', $2::text, 'role', $3::int8, 'by', $4::text, 'force', $5::bool))
              WHERE id = $1 AND status = 'succeeded' RETURNING id)
             SELECT (SELECT id FROM u)",
            &[exec_id.into(), statement.into(), (u32::from(role) as i64).into(), by.into(), force.into()],
        )?)
    })?;
    if moved.is_none() {
        return Err(ApprovalError::WrongState {
            id: req.id,
            state: "being rolled back".into(),
            action: "rolled back",
        });
    }
    let pid = launch(exec_id, statement)?;
    log(
        "rollback_started",
        req.id,
        &req.sha,
        json!({"execution": exec_id, "pid": pid, "statement": statement}),
    )?;
    Ok(json!({
        "request": req.id,
        "execution": exec_id,
        "status": "rolling_back",
        "pid": pid,
        "statement": statement,
        "hint": format!("it runs outside this transaction, once it commits; ai.request_status({}) shows its progress", req.id),
    }))
}

/// Registers the worker for execution `exec_id` and waits until it has started; records its
/// process id.
fn launch(exec_id: i64, statement: &str) -> Result<i32> {
    let no_worker = |why: String| ApprovalError::NoWorker {
        why,
        statement: statement.to_string(),
    };
    let (db, owner, xid) = Spi::connect(|c| {
        let t = c.select(
            "SELECT (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())::int8,
                    (SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'ai_architect')::int8,
                    pg_catalog.pg_current_xact_id()::text",
            None,
            &[],
        )?;
        let r = t.first();
        Ok::<_, pgrx::spi::Error>((
            r.get::<i64>(1)?.unwrap_or_default(),
            r.get::<i64>(2)?.unwrap_or_default(),
            r.get::<String>(3)?.unwrap_or_default(),
        ))
    })?;
    let ticket = format!("{exec_id} {db} {owner} {xid}");
    // SAFETY: reads this backend's process id.
    let me = unsafe { pg_sys::MyProcPid };
    let worker = BackgroundWorkerBuilder::new(&format!("{EXECUTOR_TYPE} {exec_id}"))
        .set_type(EXECUTOR_TYPE)
        .set_library("ai_architect")
        .set_function("ai_architect_executor_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .set_extra(&ticket)
        .set_notify_pid(me)
        .load_dynamic()
        .map_err(|_| {
            no_worker(
                "no background worker slot is free (max_worker_processes, shared with parallel queries and other extensions)".into(),
            )
        })?;
    let pid = worker
        .wait_for_startup()
        .map_err(|s| no_worker(format!("its background worker did not start ({s:?})")))?;
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.executions SET pid = $2, detail = detail || jsonb_build_object('launched_at', clock_timestamp()) WHERE id = $1",
            &[exec_id.into(), pid.into()],
        )
    })?;
    Ok(pid)
}

/// Marks failed every execution (or rollback) whose background worker is gone — a crash, a
/// kill, a server restart — reporting the indexes it left INVALID, which stay for the DBA to
/// inspect and drop (`DROP INDEX CONCURRENTLY`). Returns how many it found.
pub(super) fn reap() -> Result<usize> {
    if crate::spi_util::why_read_only().is_some() {
        return Ok(0);
    }
    as_extension_owner(|| {
        // a fresh view of the running processes, not one cached earlier in this transaction
        Spi::run("SELECT pg_catalog.pg_stat_clear_snapshot()")?;
        let gone: Vec<(i64, i64, String, Value, Option<i32>)> = Spi::connect(|c| {
            let t = c.select(
                "SELECT e.id, e.request_id, e.status, e.detail, e.pid FROM ai.executions e
                  WHERE e.status IN ('running', 'rolling_back')
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                                     WHERE a.pid = e.pid AND a.backend_type = $1)
                    -- a worker not connected yet is not in pg_stat_activity: a minute's grace
                    AND (e.detail ? 'claimed'
                         OR coalesce((e.detail ->> 'launched_at')::timestamptz, e.started_at) < now() - interval '1 minute')
                  ORDER BY e.id FOR UPDATE OF e SKIP LOCKED",
                None,
                &[EXECUTOR_TYPE.into()],
            )?;
            let mut out = Vec::new();
            for r in t {
                out.push((
                    r.get::<i64>(1)?.unwrap_or_default(),
                    r.get::<i64>(2)?.unwrap_or_default(),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<JsonB>(4)?.map(|j| j.0).unwrap_or(Value::Null),
                    r.get::<i32>(5)?,
                ));
            }
            Ok::<_, ApprovalError>(out)
        })?;
        for (exec_id, request, status, detail, pid) in &gone {
            let reason = format!(
                "its background worker (pid {}) ended before the statement finished: a crash, a kill or a server restart",
                pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
            );
            let invalid = left_invalid(detail)?;
            let sha = Spi::get_one_with_args::<String>(
                "SELECT (SELECT sql_sha256 FROM ai.approval_requests WHERE id = $1)",
                &[(*request).into()],
            )?
            .unwrap_or_default();
            if status == "running" {
                Spi::run_with_args(
                    "UPDATE ai.executions SET status = 'failed', error = $2, finished_at = clock_timestamp(),
                            detail = detail || jsonb_build_object('invalid_indexes', $3::jsonb)
                      WHERE id = $1",
                    &[(*exec_id).into(), reason.clone().into(), JsonB(invalid.clone()).into()],
                )?;
                transition(*request, State::Running, State::Failed, Some(&reason))?;
                log(
                    "execution_failed",
                    *request,
                    &sha,
                    json!({"execution": exec_id, "reason": reason, "invalid_indexes": invalid}),
                )?;
            } else {
                Spi::run_with_args(
                    "UPDATE ai.executions SET status = 'succeeded',
                            rollback_report = jsonb_build_object('failed', $2::text, 'invalid_indexes', $3::jsonb)
                      WHERE id = $1",
                    &[(*exec_id).into(), reason.clone().into(), JsonB(invalid.clone()).into()],
                )?;
                log(
                    "rollback_failed",
                    *request,
                    &sha,
                    json!({"execution": exec_id, "reason": reason, "invalid_indexes": invalid}),
                )?;
            }
        }
        Ok(gone.len())
    })
}

/// The INVALID indexes on the table a statement builds on that were not there when its
/// worker started (`indexes_before`, recorded by the worker), as `schema.name`.
pub(super) fn left_invalid(detail: &Value) -> Result<Value> {
    let Some(table) = detail["table"].as_i64() else {
        return Ok(json!([]));
    };
    let before: Vec<i64> = detail["indexes_before"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    let names = Spi::get_one_with_args::<JsonB>(
        "SELECT coalesce(jsonb_agg(pg_catalog.format('%I.%I', n.nspname, c.relname) ORDER BY c.oid), '[]')
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE i.indrelid = $1::pg_catalog.oid AND NOT i.indisvalid AND NOT (i.indexrelid::int8 = ANY ($2))",
        &[table.into(), before.into()],
    )?;
    Ok(names.map(|j| j.0).unwrap_or_else(|| json!([])))
}
