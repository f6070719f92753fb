//! The executor: a background worker started for one execution (see `online.rs`). Connected
//! as the extension owner, it waits for the transaction that started it to commit, checks
//! the statement is still the approved one, runs it as a top-level command with the runner's
//! rights, and records how it ended — with any index a failed build left INVALID, dropped
//! concurrently unless the request said to keep it.
use super::online::{left_invalid, EXECUTOR_TYPE};
use super::store::{load, log, sha256_hex, transition, ApprovalError, Result};
use super::workflow::State;
use crate::spi_util::report_activity;
use crate::spi_util::CaughtPgError;
use crate::spi_util::Spi;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What the starting transaction hands the worker (its `bgw_extra`).
struct Ticket {
    execution: i64,
    database: pg_sys::Oid,
    owner: pg_sys::Oid,
    xid: String,
}

impl Ticket {
    fn parse(s: &str) -> Option<Ticket> {
        let mut it = s.split(' ');
        let execution = it.next()?.parse().ok()?;
        let database = pg_sys::Oid::from(it.next()?.parse::<u32>().ok()?);
        let owner = pg_sys::Oid::from(it.next()?.parse::<u32>().ok()?);
        let xid = it.next()?.to_string();
        Some(Ticket {
            execution,
            database,
            owner,
            xid,
        })
    }
}

/// The work, as the worker found it when it claimed the execution.
struct Work {
    request: i64,
    sha: String,
    rollback: bool,
    statement: String,
    role: pg_sys::Oid,
    timeout_ms: u64,
    keep_invalid: bool,
    /// the table whose indexes it builds: (oid, its indexes before)
    table: Option<i64>,
    /// an UPDATE or DELETE run in batches
    batches: Option<super::batch::Batches>,
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ai_architect_executor_main(_arg: pg_sys::Datum) {
    // PostgreSQL's own handlers: SIGTERM ends the process, SIGINT cancels the statement
    // SAFETY: called once, at the start of a background worker.
    unsafe { pg_sys::BackgroundWorkerUnblockSignals() };
    let Some(t) = Ticket::parse(BackgroundWorker::get_extra()) else {
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(t.database), Some(t.owner));
    if !launcher_committed(&t) {
        return;
    }
    let work = BackgroundWorker::transaction(|| claim(&t).unwrap_or_else(|e| e.raise()));
    let Some(work) = work else { return };
    let began = Instant::now();
    let outcome = match &work.batches {
        Some(b) => run_batches(b, began),
        None => crate::pgsql::run_top_level(&work.statement, work.role, work.timeout_ms),
    };
    let elapsed = began.elapsed();
    // a failed build's INVALID index: found, then dropped outside any transaction block
    let mut invalid: Vec<Value> = Vec::new();
    if outcome.is_err() {
        let found = BackgroundWorker::transaction(|| {
            found_invalid(&t, &work).unwrap_or_else(|e| e.raise())
        });
        for name in found {
            let mut entry = json!({"index": name, "dropped": false});
            if !work.keep_invalid {
                match crate::pgsql::run_top_level(
                    &format!("DROP INDEX CONCURRENTLY {name}"),
                    work.role,
                    work.timeout_ms,
                ) {
                    Ok(()) => entry["dropped"] = json!(true),
                    Err(e) => entry["error"] = json!(e.message),
                }
            }
            invalid.push(entry);
        }
    }
    BackgroundWorker::transaction(|| {
        finish(&t, &work, outcome, elapsed, invalid).unwrap_or_else(|e| e.raise())
    });
}

/// Runs the batches one transaction each, pausing between them as the execution was told to
/// and while a standby's replay lags further behind than allowed; stops at the first batch
/// that fails (the ones done stay done, and recorded).
fn run_batches(
    b: &super::batch::Batches,
    began: Instant,
) -> std::result::Result<(), CaughtPgError> {
    // each batch pins the requester's search_path for itself; the worker's own queries
    // resolve in pg_catalog
    BackgroundWorker::transaction(|| own_path().unwrap_or_else(|e| e.raise()));
    let mut after: Option<String> = None;
    let mut number = 0u64;
    // the standbys' replay lag seen just before a batch starts (recorded with the batch)
    let mut lag: Option<i64> = None;
    loop {
        number += 1;
        report_activity(true, &format!("batch {number}"));
        let (upto, _) =
            BackgroundWorker::transaction(|| super::batch::one(b, number, after.as_deref(), lag))?;
        let Some(upto) = upto else { return Ok(()) };
        after = Some(upto);
        report_activity(false, &format!("pausing after batch {number}"));
        std::thread::sleep(Duration::from_millis(b.pause_ms));
        if b.max_lag > 0 {
            loop {
                let now = BackgroundWorker::transaction(|| super::batch::replay_lag().unwrap_or(0));
                lag = Some(now);
                if now <= b.max_lag as i64 {
                    break;
                }
                // what ai.request_status shows as the execution's activity meanwhile
                report_activity(
                    false,
                    &format!(
                        "waiting after batch {number}: a standby's replay is {now} bytes behind, more than ai_architect.batch_max_replay_lag ({} bytes)",
                        b.max_lag
                    ),
                );
                if began.elapsed() > Duration::from_millis(b.timeout_ms) {
                    return Err(CaughtPgError::internal(format!(
                        "stopped after batch {number}: a standby's replay stayed more than ai_architect.batch_max_replay_lag behind until ai_architect.online_timeout_ms"
                    )));
                }
                pgrx::check_for_interrupts!();
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Waits for the transaction that started the worker; false when it rolled back (nothing
/// was recorded, nothing is run).
fn launcher_committed(t: &Ticket) -> bool {
    loop {
        let status = BackgroundWorker::transaction(|| {
            Spi::get_one_with_args::<String>(
                "SELECT pg_catalog.pg_xact_status($1::xid8)",
                &[t.xid.clone().into()],
            )
            .ok()
            .flatten()
        });
        match status.as_deref() {
            Some("in progress") => std::thread::sleep(Duration::from_millis(20)),
            Some("committed") => return true,
            _ => return false,
        }
    }
}

trait Raise<T> {
    fn raise(self) -> T;
}
impl<T> Raise<T> for ApprovalError {
    fn raise(self) -> T {
        pgrx::error!("{EXECUTOR_TYPE}: {self}")
    }
}

/// Takes the execution this worker was started for, and settles what it runs: the approved
/// statement (checked against its hash and read by PostgreSQL as a statement of that kind
/// again) or the execution's inverse.
fn claim(t: &Ticket) -> Result<Option<Work>> {
    // SAFETY: reads this process's id.
    let me = unsafe { pg_sys::MyProcPid };
    let row = Spi::get_one_with_args::<JsonB>(
        "WITH u AS (UPDATE ai.executions SET detail = detail || '{\"claimed\": true}'
                     WHERE id = $1 AND status IN ('running', 'rolling_back') AND pid = $2
                     RETURNING jsonb_build_object('request', request_id, 'status', status, 'detail', detail) AS j)
         SELECT (SELECT j FROM u)",
        &[t.execution.into(), me.into()],
    )?;
    let Some(JsonB(row)) = row else {
        return Ok(None);
    };
    let request = row["request"].as_i64().unwrap_or_default();
    let detail = &row["detail"];
    let rollback = row["status"] == "rolling_back";
    let req = load(request, false)?;
    let (statement, role) = if rollback {
        (
            detail["rollback"]["statement"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            detail["rollback"]["role"].as_u64().unwrap_or_default(),
        )
    } else {
        let reading = crate::impact::analyse::read(&req.sql)?;
        if sha256_hex(&req.normalized) != req.sha
            || reading.text != req.normalized
            || reading.online.is_none() == detail["batch"].is_null()
        {
            return Err(ApprovalError::Tampered(request));
        }
        (req.sql.clone(), detail["role"].as_u64().unwrap_or_default())
    };
    let batches = if detail["batch"].is_object() && !rollback {
        Some(super::batch::Batches::of(
            t.execution,
            request,
            &req.sha,
            &req.sql,
            detail,
        )?)
    } else {
        None
    };
    let path = detail["search_path"].as_str().unwrap_or("pg_catalog");
    // the table whose indexes the statement builds, and its indexes now
    let table = match crate::pgsql::parts(&statement)? {
        crate::pgsql::Parts::Utility {
            online: Some(o), ..
        } => crate::spi_util::with_search_path(path, || built_on(&o))?,
        _ => None,
    };
    if let Some(table) = table {
        Spi::run_with_args(
            "UPDATE ai.executions SET detail = detail || jsonb_build_object('table', $2::int8,
                    'indexes_before', (SELECT coalesce(jsonb_agg(indexrelid::int8), '[]') FROM pg_catalog.pg_index WHERE indrelid = $2::pg_catalog.oid))
              WHERE id = $1",
            &[t.execution.into(), table.into()],
        )?;
    }
    // the statement's session: its names resolve as they did for its approvers
    Spi::run_with_args(
        "SELECT pg_catalog.set_config('lock_timeout', '0', false),
                pg_catalog.set_config('standard_conforming_strings', 'on', false),
                pg_catalog.set_config('application_name', $2, false),
                pg_catalog.set_config('search_path', $1, false)",
        &[
            path.into(),
            format!("{EXECUTOR_TYPE} {}", t.execution).into(),
        ],
    )?;
    Ok(Some(Work {
        request,
        sha: req.sha,
        rollback,
        statement,
        role: pg_sys::Oid::from(role as u32),
        timeout_ms: detail["timeout_ms"]
            .as_u64()
            .unwrap_or_else(crate::guc::online_timeout_ms),
        keep_invalid: detail["keep_invalid"].as_bool().unwrap_or(false),
        table,
        batches,
    }))
}

/// The table a statement builds indexes on (resolved through the search_path set).
fn built_on(o: &crate::pgsql::Online) -> Result<Option<i64>> {
    use crate::pgsql::Online;
    let name = match o {
        Online::CreateIndex { table, .. } => table.written(),
        Online::Reindex {
            relation: Some(r), ..
        } => r.written(),
        _ => return Ok(None),
    };
    Ok(Spi::get_one_with_args::<i64>(
        "SELECT (SELECT coalesce(i.indrelid, c.oid)::int8 FROM pg_catalog.pg_class c
                   LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
                  WHERE c.oid = pg_catalog.to_regclass($1))",
        &[name.into()],
    )?)
}

/// The worker's own queries resolve names in pg_catalog only, whatever the statement's
/// search_path was.
fn own_path() -> Result<()> {
    Spi::run("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)")?;
    Ok(())
}

fn found_invalid(t: &Ticket, work: &Work) -> Result<Vec<String>> {
    own_path()?;
    if work.table.is_none() {
        return Ok(Vec::new());
    }
    let detail = Spi::get_one_with_args::<JsonB>(
        "SELECT detail FROM ai.executions WHERE id = $1",
        &[t.execution.into()],
    )?
    .map(|j| j.0)
    .unwrap_or(Value::Null);
    Ok(left_invalid(&detail)?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect())
}

/// Records how the statement ended: the execution, the request's state, the audit trail.
fn finish(
    t: &Ticket,
    work: &Work,
    outcome: std::result::Result<(), CaughtPgError>,
    elapsed: Duration,
    invalid: Vec<Value>,
) -> Result<()> {
    own_path()?;
    let ms = elapsed.as_secs_f64() * 1000.0;
    let id = work.request;
    match (work.rollback, outcome) {
        (false, Ok(())) => {
            // an index PostgreSQL named: its inverse names it now
            let plan = Spi::get_one_with_args::<JsonB>(
                "SELECT CASE WHEN e.rollback_plan -> 'reversible' = 'true' OR NOT e.detail ? 'table' THEN e.rollback_plan
                        ELSE coalesce((SELECT jsonb_build_object('reversible', true, 'capture', '[]'::jsonb, 'notes', '[]'::jsonb,
                                         'inverse', jsonb_build_array('DROP INDEX CONCURRENTLY ' || pg_catalog.format('%I.%I', n.nspname, c.relname)))
                                 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
                                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                                WHERE i.indrelid = (e.detail ->> 'table')::pg_catalog.oid
                                  AND NOT (i.indexrelid::int8 IN (SELECT x::int8 FROM jsonb_array_elements_text(e.detail -> 'indexes_before') x))
                                ORDER BY i.indexrelid DESC LIMIT 1), e.rollback_plan) END
                   FROM ai.executions e WHERE e.id = $1",
                &[t.execution.into()],
            )?
            .map(|j| j.0)
            .unwrap_or(Value::Null);
            Spi::run_with_args(
                "UPDATE ai.executions SET status = 'succeeded', finished_at = clock_timestamp(), duration_ms = $2, rollback_plan = $3 WHERE id = $1",
                &[t.execution.into(), ms.into(), JsonB(plan).into()],
            )?;
            transition(id, State::Running, State::Executed, None)?;
            log(
                "executed",
                id,
                &work.sha,
                json!({"execution": t.execution, "duration_ms": ms, "outside_transaction": true}),
            )?;
        }
        (false, Err(e)) => {
            let reason = e.message.clone();
            Spi::run_with_args(
                "UPDATE ai.executions SET status = 'failed', error = $2, finished_at = clock_timestamp(), duration_ms = $3,
                        detail = detail || jsonb_build_object('invalid_indexes', $4::jsonb, 'sqlstate', $5::text)
                  WHERE id = $1",
                &[t.execution.into(), reason.clone().into(), ms.into(), JsonB(json!(invalid)).into(), format!("{:?}", e.code).into()],
            )?;
            transition(id, State::Running, State::Failed, Some(&reason))?;
            log(
                "execution_failed",
                id,
                &work.sha,
                json!({"execution": t.execution, "reason": reason, "invalid_indexes": invalid}),
            )?;
        }
        (true, Ok(())) => {
            let report = json!({"inverse": [work.statement], "duration_ms": ms});
            Spi::run_with_args(
                "UPDATE ai.executions SET status = 'rolled_back', rolled_back_at = clock_timestamp(), rollback_report = $2 WHERE id = $1",
                &[t.execution.into(), JsonB(report.clone()).into()],
            )?;
            transition(id, State::Executed, State::RolledBack, Some("rolled back"))?;
            log(
                "rolled_back",
                id,
                &work.sha,
                json!({"execution": t.execution, "report": report}),
            )?;
        }
        (true, Err(e)) => {
            let report = json!({"failed": e.message, "statement": work.statement, "invalid_indexes": invalid});
            Spi::run_with_args(
                "UPDATE ai.executions SET status = 'succeeded', rollback_report = $2 WHERE id = $1",
                &[t.execution.into(), JsonB(report.clone()).into()],
            )?;
            log(
                "rollback_failed",
                id,
                &work.sha,
                json!({"execution": t.execution, "report": report}),
            )?;
        }
    }
    Ok(())
}
