//! Executing an approved request: the statement analysed again and held against its
//! approved snapshot (drift), then run with a backup of every row it changes — as the role
//! that requested it (or, when the owner says so, as the executor) and with the search_path
//! it was analysed under.
use super::decide::approvals_still_count;
use super::request::snapshot_mode;
use super::rollback::rollback_execution;
use super::store::{
    denied, load, log, merge_stays_in_its_table, requester_or_approver, rows_per_table, rule,
    sha256_hex, transition, ApprovalError, Request, Result,
};
use super::workflow::{self, Rule, State};
use crate::guc::ExecuteAs;
use crate::impact::analyse as impact;
use crate::spi_util::Spi;
use crate::spi_util::{
    as_extension_owner, as_role, current_user, in_subtransaction, role_path, SearchPath,
};
use crate::sqlparse::{self, Kind};
use pgrx::pg_sys;
use pgrx::JsonB;
use pgrx::PgSqlErrorCode;
use serde_json::{json, Value};
use std::panic::AssertUnwindSafe;

/// Runs an approved request; see the module documentation.
pub fn execute(sp: &SearchPath, id: i64) -> Result<Value> {
    super::online::reap()?;
    let req = load(id, true)?;
    match req.state.effective(req.past_expiry) {
        State::Approved => {}
        State::Expired => return Err(denied("executed", id, ApprovalError::Expired(id))),
        s => {
            return Err(denied(
                "executed",
                id,
                ApprovalError::WrongState {
                    id,
                    state: s.as_str().into(),
                    action: "executed",
                },
            ))
        }
    }
    // an approved rollback request: the rollback is what runs
    if let Some(exec) = req.rollback_of {
        approvals_still_count(id, &rule(&req.risk)?)?;
        let out = rollback_execution(sp, exec, false)?;
        transition(
            id,
            State::Approved,
            State::Executed,
            Some("the rollback ran"),
        )?;
        log("executed", id, &req.sha, json!({"rollback_of": exec}))?;
        return Ok(out);
    }
    // the statement is the one approved, and PostgreSQL reads it as one statement of that kind
    let reading = impact::read(&req.sql)?;
    if sha256_hex(&req.normalized) != req.sha || !same_statement(&reading, &req) {
        return Err(denied("executed", id, ApprovalError::Tampered(id)));
    }
    // the approvals still hold (membership is checked again now)
    let r = rule(&req.risk)?;
    approvals_still_count(id, &r)?;
    let kind = reading.kind;
    if matches!(kind, Kind::Ddl | Kind::Truncate)
        && req.impact["rollback_plan"]["reversible"] != json!(true)
        && !r.allow_irreversible
    {
        return Err(denied(
            "executed",
            id,
            ApprovalError::Irreversible(req.risk.clone()),
        ));
    }
    // the requester's rights are lent only to the requester and the approvers of its level
    if crate::guc::execute_as() == ExecuteAs::Requester {
        requester_or_approver(&req, "executed")?;
    }
    let runner = Runner::of(&req, sp)?;
    let rsp = SearchPath::pin_for(runner.path.clone());
    let out = if reading.online.is_some() || req.impact["batch"].is_object() {
        start_online(&rsp, &runner, &req, &reading, &r)
    } else {
        run(&rsp, &runner, &req, &reading, &r)
    };
    rsp.restore();
    out
}

/// A statement that runs outside a transaction block: its rollback plan taken now (a
/// dropped index's definition), then handed to a background worker.
fn start_online(
    sp: &SearchPath,
    runner: &Runner,
    req: &Request,
    reading: &impact::Reading,
    r: &Rule,
) -> Result<Value> {
    let batched = req.impact["batch"].is_object();
    let mode = if batched {
        snapshot_mode(reading)
    } else {
        crate::impact::model::Mode::Estimate
    };
    let (now, _) = runner.run(|| impact::analyse_in(sp, &req.sql, mode))?;
    // a batched statement: the rows to touch, all batches together, against the approval
    if batched {
        if let Some((reason, drift)) = drifted(req, &now, r) {
            transition(req.id, State::Approved, State::Failed, Some(&reason))?;
            log(
                "execution_failed",
                req.id,
                &req.sha,
                json!({"reason": reason, "drift": drift}),
            )?;
            return Ok(
                json!({"request": req.id, "status": "failed", "reason": reason, "drift": drift}),
            );
        }
    }
    // SAFETY: reads the backend's current user id.
    let me = unsafe { pg_sys::GetUserId() };
    let role = runner.role.as_ref().map_or(me, |(oid, _)| *oid);
    let name = runner.name()?;
    super::online::start(
        req,
        &super::online::Runner {
            role,
            name: &name,
            search_path: &runner.path,
        },
        &now["rollback_plan"],
    )
}

/// Who an approved statement runs as, and the search_path its names resolve through.
struct Runner {
    /// None: the executor, with its own rights (`ai_architect.execute_as = executor`)
    role: Option<(pg_sys::Oid, String)>,
    path: String,
}

impl Runner {
    fn of(req: &Request, sp: &SearchPath) -> Result<Runner> {
        let stored = req.impact["search_path"].as_str().map(str::to_string);
        match crate::guc::execute_as() {
            ExecuteAs::Executor => Ok(Runner {
                role: None,
                path: stored.unwrap_or_else(|| role_path(sp.caller())),
            }),
            ExecuteAs::Requester => {
                // requests made before the role was kept name their session user
                let name = req.impact["requested_as"]
                    .as_str()
                    .unwrap_or(&req.requester)
                    .to_string();
                let oid = Spi::get_one_with_args::<pg_sys::Oid>(
                    "SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1",
                    &[name.clone().into()],
                )?
                .ok_or_else(|| ApprovalError::RunnerGone(name.clone()))?;
                Ok(Runner {
                    role: Some((oid, name)),
                    path: stored.unwrap_or_else(|| role_path("\"$user\", public")),
                })
            }
        }
    }

    /// Runs `f` with the runner's rights (a restricted operation when it is the requester).
    fn run<R, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        match &self.role {
            Some((oid, _)) => as_role(*oid, f),
            None => f(),
        }
    }

    fn name(&self) -> Result<String> {
        match &self.role {
            Some((_, n)) => Ok(n.clone()),
            None => Ok(current_user()?),
        }
    }
}

/// The approved statement, run: the rows to touch now held against the approved snapshot,
/// then the statement with its backup, all as the runner.
fn run(
    sp: &SearchPath,
    runner: &Runner,
    req: &Request,
    reading: &impact::Reading,
    r: &Rule,
) -> Result<Value> {
    let id = req.id;
    let ran_as = runner.name()?;
    // an attempt that cannot take its locks in execute_lock_timeout_ms is rolled back (readers
    // queued behind it go on), logged, and made again after a pause, for execute_lock_retry_ms
    let budget_ms = crate::guc::execute_lock_retry_ms();
    // an executor may lower the time limit of a statement it runs for another role, not raise
    // it beyond the owner's ceiling
    // SAFETY: reads the backend's current user id.
    let me = unsafe { pg_sys::GetUserId() };
    let statement_ms = crate::guc::execute_statement_timeout_ms_for(
        runner.role.as_ref().is_some_and(|(oid, _)| *oid != me),
    );
    let began = std::time::Instant::now();
    let mut attempts: Vec<Value> = Vec::new();
    let exec_id = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.executions (request_id, status, error) VALUES ($1, 'failed', 'running') RETURNING id",
            &[id.into()],
        )?)
    })?
    .unwrap_or_default();
    let (now, outcome, elapsed) = loop {
        // the rows to touch now, against the approved snapshot
        let (now, captures) =
            runner.run(|| impact::analyse_in(sp, &req.sql, snapshot_mode(reading)))?;
        runner.run(|| merge_stays_in_its_table(sp, reading, &now, &captures))?;
        if let Some((reason, d)) = drifted(req, &now, r) {
            finish_failed(id, exec_id, &req.sha, &reason, json!({"drift": d}))?;
            return Ok(
                json!({"request": id, "execution": exec_id, "status": "failed", "reason": reason, "drift": d}),
            );
        }
        let started = std::time::Instant::now();
        // an Err becomes an ERROR inside, so that the subtransaction rolls back the backups and
        // whatever part of the statement ran
        let outcome = runner.run(|| {
            Ok::<_, ApprovalError>(in_subtransaction(AssertUnwindSafe(|| {
                super::backup::run_with_backup(
                    sp,
                    exec_id,
                    &req.sql,
                    reading,
                    &captures,
                    &now,
                    statement_ms,
                )
                .unwrap_or_else(|e| pgrx::error!("{e}"))
            })))
        })?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = &outcome {
            if e.code == PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE {
                let attempt = json!({
                    "execution": exec_id,
                    "attempt": attempts.len() + 1,
                    "error": e.message,
                    "blocked_by": blockers(&now),
                });
                log("execute_attempt", id, &req.sha, attempt.clone())?;
                attempts.push(attempt);
                let pause = (250u64 << (attempts.len() - 1).min(5)).min(5_000);
                if began.elapsed().as_millis() as u64 + pause < budget_ms {
                    Spi::run_with_args(
                        "SELECT pg_catalog.pg_sleep($1)",
                        &[(pause as f64 / 1000.0).into()],
                    )?;
                    continue;
                }
            }
        }
        break (now, outcome, elapsed);
    };
    let result = match outcome {
        Ok(rows) => Ok(rows),
        Err(e) if e.is_cancel() && !e.message.contains("statement timeout") => e.rethrow(),
        Err(e) if e.code == PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE => Err(format!(
            "its locks could not be taken in {} attempt(s) over {:.1} s (ai_architect.execute_lock_timeout_ms each, ai_architect.execute_lock_retry_ms in all); held by: {}",
            attempts.len(),
            began.elapsed().as_secs_f64(),
            held_by(&attempts)
        )),
        Err(e) => Err(e.message),
    };
    let tries = attempts.len() + usize::from(result.is_ok());
    match result {
        Ok(rows) => {
            as_extension_owner(|| {
                Spi::run_with_args(
                    "UPDATE ai.executions SET status = 'succeeded', error = NULL, txid = pg_catalog.pg_current_xact_id(),
                            finished_at = clock_timestamp(), duration_ms = $2, rows_by_table = $3, rollback_plan = $4
                      WHERE id = $1",
                    &[exec_id.into(), elapsed.into(), JsonB(rows.clone()).into(), JsonB(now["rollback_plan"].clone()).into()],
                )?;
                Ok::<_, ApprovalError>(())
            })?;
            transition(id, State::Approved, State::Executed, None)?;
            log(
                "executed",
                id,
                &req.sha,
                json!({"execution": exec_id, "rows_by_table": rows, "duration_ms": elapsed, "ran_as": ran_as, "attempts": tries}),
            )?;
            Ok(
                json!({"request": id, "execution": exec_id, "status": "succeeded", "rows_by_table": rows, "duration_ms": elapsed, "ran_as": ran_as, "attempts": tries, "blocked_by": attempts}),
            )
        }
        Err(reason) => {
            finish_failed(
                id,
                exec_id,
                &req.sha,
                &reason,
                json!({"ran_as": ran_as, "attempts": tries}),
            )?;
            Ok(
                json!({"request": id, "execution": exec_id, "status": "failed", "reason": reason, "ran_as": ran_as, "attempts": tries, "blocked_by": attempts}),
            )
        }
    }
}

/// Tables whose rows to touch now moved beyond the policy's tolerance since the approval:
/// the reason, and each table's counts.
fn drifted(req: &Request, now: &Value, r: &Rule) -> Option<(String, Value)> {
    let drift = workflow::drift(
        &rows_per_table(&req.impact),
        &rows_per_table(now),
        r.tolerance_pct,
    );
    if drift.is_empty() {
        return None;
    }
    let d: Vec<Value> = drift
        .iter()
        .map(|(t, a, n)| json!({"table": t, "approved": a, "now": n}))
        .collect();
    let reason = format!(
        "the rows to touch drifted beyond {}% since the approval: {}",
        r.tolerance_pct,
        drift
            .iter()
            .map(|(t, a, n)| format!("{t} {a} → {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some((reason, Value::Array(d)))
}

/// The sessions that held a lock the statement needs, as the analysis before an attempt saw
/// them: table, pid, user, application, state, since, query (as PostgreSQL shows it to the
/// caller), mode.
fn blockers(doc: &Value) -> Value {
    let mut out = Vec::new();
    for l in doc["locks"].as_array().into_iter().flatten() {
        for b in l["blocked_by"].as_array().into_iter().flatten() {
            let mut b = b.clone();
            b["table"] = l["table"].clone();
            b["needs"] = l["mode"].clone();
            out.push(b);
        }
    }
    Value::Array(out)
}

/// The last attempt's blockers in a sentence.
fn held_by(attempts: &[Value]) -> String {
    let last = attempts
        .last()
        .and_then(|a| a["blocked_by"].as_array())
        .cloned()
        .unwrap_or_default();
    if last.is_empty() {
        return "sessions that took their locks after the analysis".into();
    }
    last.iter()
        .map(|b| {
            format!(
                "pid {} ({}, {} on {}, since {})",
                b["pid"],
                b["user"].as_str().unwrap_or("?"),
                b["mode"].as_str().unwrap_or("?"),
                b["table"].as_str().unwrap_or("?"),
                b["since"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn finish_failed(
    id: i64,
    exec_id: i64,
    sha: &str,
    reason: &str,
    extra: Value,
) -> Result<()> {
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.executions SET status = 'failed', error = $2, finished_at = clock_timestamp() WHERE id = $1",
            &[exec_id.into(), reason.into()],
        )?;
        Ok::<_, ApprovalError>(())
    })?;
    transition(id, State::Approved, State::Failed, Some(reason))?;
    let mut d = extra;
    d["execution"] = json!(exec_id);
    d["reason"] = json!(reason);
    log("execution_failed", id, sha, d)?;
    Ok(())
}

/// Whether the stored request's statement is the one read now: the text PostgreSQL delimits
/// (or, for a request stored by an earlier version, the form that version showed).
fn same_statement(reading: &impact::Reading, req: &Request) -> bool {
    reading.text == req.normalized
        || sqlparse::parse_statement(&req.sql).is_ok_and(|p| p.stmt.to_string() == req.normalized)
}
