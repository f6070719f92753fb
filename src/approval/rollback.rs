//! Rolling an execution back: by its stored inverse DDL, or row by row from its backup
//! (see `restore`), when the policy allows it without a request of its own.
use super::request::route;
use super::store::{load, log, requester_or_approver, rule, transition, ApprovalError, Result};
use super::workflow::State;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, SearchPath};
use crate::sqlparse::Kind;
use pgrx::JsonB;
use serde_json::{json, Value};

/// Restores the rows an execution touched; see the module documentation.
/// ai.rollback: refused when the policy wants the rollback approved first.
pub fn rollback(sp: &SearchPath, exec_id: i64, force: bool) -> Result<Value> {
    super::online::reap()?;
    let risk = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<String>(
            "SELECT (SELECT r.risk_level FROM ai.executions e JOIN ai.approval_requests r ON r.id = e.request_id WHERE e.id = $1)",
            &[exec_id.into()],
        )?)
    })?
    .ok_or(ApprovalError::NoExecution(exec_id))?;
    if rule(&risk)?.rollback_needs_approval {
        return Err(ApprovalError::RollbackNeedsApproval(exec_id));
    }
    rollback_execution(sp, exec_id, force)
}

/// Asks for the rollback of an execution to be approved, as a request of its own (same
/// statement, impact and risk level as the execution's request).
pub fn request_rollback(exec_id: i64, reason: Option<&str>) -> Result<i64> {
    let orig = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "SELECT (SELECT request_id FROM ai.executions WHERE id = $1 AND status = 'succeeded')",
            &[exec_id.into()],
        )?)
    })?
    .ok_or(ApprovalError::NoExecution(exec_id))?;
    window_open(exec_id)?;
    let req = load(orig, false)?;
    let r = rule(&req.risk)?;
    let ttl = crate::guc::approval_ttl_s() as i64;
    let id = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.approval_requests (sql, normalized_sql, sql_sha256, reason, impact, risk_level, expires_at, rollback_of)
             SELECT sql, normalized_sql, sql_sha256, $2, impact, risk_level, now() + $3 * interval '1 second', $4
               FROM ai.approval_requests WHERE id = $1 RETURNING id",
            &[orig.into(), reason.into(), ttl.into(), exec_id.into()],
        )?)
    })?
    .ok_or(ApprovalError::NotFound(orig))?;
    log(
        "rollback_requested",
        id,
        &req.sha,
        json!({"execution": exec_id, "of_request": orig, "reason": reason}),
    )?;
    route(id, &req.sha, &r, json!({}))?;
    Ok(id)
}

/// An execution is rolled back inside `ai_architect.rollback_window` only: its backup is
/// removed after that.
fn window_open(exec_id: i64) -> Result<()> {
    let closed = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<bool>(
            "SELECT (SELECT finished_at < now() - $2 * interval '1 second' FROM ai.executions WHERE id = $1)",
            &[exec_id.into(), crate::guc::rollback_window_s().into()],
        )?)
    })?
    .unwrap_or(false);
    if closed {
        return Err(ApprovalError::WindowClosed(exec_id));
    }
    Ok(())
}

pub(super) fn rollback_execution(sp: &SearchPath, exec_id: i64, force: bool) -> Result<Value> {
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT (SELECT jsonb_build_object('request', e.request_id, 'status', e.status, 'plan', e.rollback_plan,
                                               'batches', e.detail #> '{batches,done}', 'batch_of', e.detail -> 'batch_of')
                       FROM ai.executions e WHERE e.id = $1 FOR UPDATE)",
            &[exec_id.into()],
        )?)
    })?
    .map(|j| j.0)
    .filter(|v| !v.is_null())
    .ok_or(ApprovalError::NoExecution(exec_id))?;
    if let Some(run) = v["batch_of"].as_i64() {
        return Err(ApprovalError::Batch(format!(
            "execution {exec_id} is one batch of execution {run}: roll the whole run back with ai.rollback({run})"
        )));
    }
    window_open(exec_id)?;
    let id = v["request"].as_i64().unwrap_or_default();
    let req = load(id, true)?;
    // a statement run in batches that failed part way: the batches done are rolled back
    let partial = v["status"] == "failed" && v["batches"].as_i64().unwrap_or(0) > 0;
    let from = if partial {
        State::Failed
    } else {
        State::Executed
    };
    if !(v["status"] == "succeeded" || partial) || req.state != from {
        return Err(ApprovalError::WrongState {
            id,
            state: req.state.as_str().into(),
            action: "rolled back",
        });
    }
    requester_or_approver(&req, "rolled back")?;
    let reading = crate::impact::analyse::read(&req.sql)?;
    let report = if matches!(reading.kind, Kind::Ddl) || reading.online.is_some() {
        // the plan as the execution resolved it: every name schema-qualified
        let plan = if v["plan"].is_object() {
            &v["plan"]
        } else {
            &req.impact["rollback_plan"]
        };
        let inverse: Vec<String> = plan["inverse"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        // an inverse that runs outside a transaction block (an index dropped or built
        // concurrently) is run by a background worker, as the caller
        if let Some(s) = inverse.iter().find(|s| {
            matches!(
                crate::pgsql::parts(s),
                Ok(crate::pgsql::Parts::Utility {
                    online: Some(_),
                    ..
                })
            )
        }) {
            // SAFETY: reads the backend's current user id.
            let me = unsafe { pgrx::pg_sys::GetUserId() };
            return super::online::start_rollback(&req, exec_id, s, me, force);
        }
        for s in &inverse {
            crate::spi_util::with_search_path("pg_catalog, pg_temp", || {
                crate::pgsql::pinned(|| Spi::run(s))
            })?;
        }
        json!({"inverse": inverse})
    } else {
        super::restore::restore_rows(sp, exec_id, force)?
    };
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.executions SET status = 'rolled_back', rolled_back_at = clock_timestamp(), rollback_report = $2
              WHERE id = $1 OR (detail ->> 'batch_of')::int8 = $1",
            &[exec_id.into(), JsonB(report.clone()).into()],
        )?;
        Ok::<_, ApprovalError>(())
    })?;
    transition(
        id,
        from,
        State::RolledBack,
        Some(if force {
            "rolled back (forced)"
        } else {
            "rolled back"
        }),
    )?;
    log(
        "rolled_back",
        id,
        &req.sha,
        json!({"execution": exec_id, "force": force, "report": report}),
    )?;
    Ok(json!({"request": id, "execution": exec_id, "status": "rolled_back", "restored": report}))
}
