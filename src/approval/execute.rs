//! Executing an approved request: the statement analysed again and held against its
//! approved snapshot (drift), then run with the executor's rights and a backup of every row
//! it changes.
use super::decide::approvals_still_count;
use super::request::snapshot_mode;
use super::rollback::rollback_execution;
use super::store::{
    denied, load, log, merge_stays_in_its_table, rows_per_table, rule, sha256_hex, transition,
    ApprovalError, Result,
};
use super::workflow::{self, State};
use crate::impact::analyse as impact;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, in_subtransaction, SearchPath};
use crate::sqlparse::{self, Kind};
use pgrx::JsonB;
use serde_json::{json, Value};
use std::panic::AssertUnwindSafe;

/// Runs an approved request; see the module documentation.
pub fn execute(sp: &SearchPath, id: i64) -> Result<Value> {
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
    let reparsed = sqlparse::parse_statement(&req.sql)?;
    impact::agrees_with_postgres(&req.sql, sqlparse::kind(&reparsed.stmt))?;
    if sha256_hex(&req.normalized) != req.sha || reparsed.stmt.to_string() != req.normalized {
        return Err(denied("executed", id, ApprovalError::Tampered(id)));
    }
    // the approvals still hold (membership is checked again now)
    let r = rule(&req.risk)?;
    approvals_still_count(id, &r)?;
    let kind = sqlparse::kind(&reparsed.stmt);
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
    // the rows to touch now, against the approved snapshot
    let (now, captures) = impact::analyse_in(sp, &req.sql, snapshot_mode(&reparsed))?;
    merge_stays_in_its_table(sp, &reparsed, &now, &captures)?;
    let drift = workflow::drift(
        &rows_per_table(&req.impact),
        &rows_per_table(&now),
        r.tolerance_pct,
    );
    let exec_id = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.executions (request_id, status, error) VALUES ($1, 'failed', 'running') RETURNING id",
            &[id.into()],
        )?)
    })?
    .unwrap_or_default();
    if !drift.is_empty() {
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
        finish_failed(id, exec_id, &req.sha, &reason, json!({"drift": d}))?;
        return Ok(
            json!({"request": id, "execution": exec_id, "status": "failed", "reason": reason, "drift": d}),
        );
    }
    let started = std::time::Instant::now();
    // an Err becomes an ERROR inside, so that the subtransaction rolls back the backups and
    // whatever part of the statement ran
    let outcome = in_subtransaction(AssertUnwindSafe(|| {
        super::backup::run_with_backup(sp, exec_id, &req.sql, &reparsed, &captures, &now)
            .unwrap_or_else(|e| pgrx::error!("{e}"))
    }));
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let result = match outcome {
        Ok(rows) => Ok(rows),
        Err(e) if e.is_cancel() && !e.message.contains("statement timeout") => e.rethrow(),
        Err(e) => Err(e.message),
    };
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
                json!({"execution": exec_id, "rows_by_table": rows, "duration_ms": elapsed}),
            )?;
            Ok(
                json!({"request": id, "execution": exec_id, "status": "succeeded", "rows_by_table": rows, "duration_ms": elapsed}),
            )
        }
        Err(reason) => {
            finish_failed(id, exec_id, &req.sha, &reason, json!({}))?;
            Ok(json!({"request": id, "execution": exec_id, "status": "failed", "reason": reason}))
        }
    }
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
