//! Decisions on a request: approvals that count (distinct approvers, members of the role),
//! separation of duties, rejection, escalation to the next level, cancellation.
use super::store::notify;
use super::store::{
    denied, is_member, load, log, rule, session_user, transition, ApprovalError, Request, Result,
};
use super::workflow::{self, Rule, State};
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use pgrx::JsonB;
use serde_json::{json, Value};

/// Before an execution: the approvals still count (membership is checked again now), else
/// the execution is refused.
pub(super) fn approvals_still_count(id: i64, r: &Rule) -> Result<()> {
    let (count, lost) = counted_approvals(id, r)?;
    if count >= r.required {
        return Ok(());
    }
    let why = format!(
        "{count} of {} approvals count now; no longer in the role: {}",
        r.required,
        lost.join(", ")
    );
    Err(denied(
        "executed",
        id,
        ApprovalError::ApprovalsLost { id, why },
    ))
}

/// Approvals that count: distinct approvers, members of the role when one is required.
pub(super) fn counted_approvals(id: i64, r: &Rule) -> Result<(u32, Vec<String>)> {
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT coalesce(jsonb_agg(DISTINCT approver::text), '[]') FROM ai.approvals WHERE request_id = $1 AND decision = 'approve'",
            &[id.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(Value::Null);
    let mut counted = 0;
    let mut lost = Vec::new();
    for a in v.as_array().cloned().unwrap_or_default() {
        let a = a.as_str().unwrap_or_default().to_string();
        let ok = match &r.role {
            Some(role) => Spi::get_one_with_args::<bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)
                        AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2)
                        AND pg_catalog.pg_has_role($1, $2, 'MEMBER')",
                &[a.clone().into(), role.clone().into()],
            )?
            .unwrap_or(false),
            None => true,
        };
        if ok {
            counted += 1;
        } else {
            lost.push(a);
        }
    }
    Ok((counted, lost))
}

/// May the session user decide on a request of this risk (role membership)?
pub(super) fn check_decider(req: &Request, r: &Rule, action: &'static str) -> Result<()> {
    let me = session_user()?;
    if me == req.requester {
        return Err(denied(action, req.id, ApprovalError::OwnRequest(req.id)));
    }
    if let Some(role) = &r.role {
        if !is_member(role)? {
            return Err(denied(
                action,
                req.id,
                ApprovalError::NotApprover {
                    risk: req.risk.clone(),
                    role: role.clone(),
                },
            ));
        }
    }
    Ok(())
}

pub(super) fn pending(req: &Request, action: &'static str) -> Result<()> {
    match req.state.effective(req.past_expiry) {
        State::Pending => Ok(()),
        State::Expired => Err(denied(action, req.id, ApprovalError::Expired(req.id))),
        s => Err(ApprovalError::WrongState {
            id: req.id,
            state: s.as_str().into(),
            action,
        }),
    }
}

pub fn approve(id: i64, comment: Option<&str>) -> Result<String> {
    let req = load(id, true)?;
    pending(&req, "approved")?;
    let r = rule(&req.risk)?;
    check_decider(&req, &r, "approved")?;
    let inserted = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "WITH i AS (INSERT INTO ai.approvals (request_id, approver, decision, comment) VALUES ($1, session_user, 'approve', $2)
                        ON CONFLICT DO NOTHING RETURNING id)
             SELECT count(*) FROM i",
            &[id.into(), comment.into()],
        )?)
    })?;
    if inserted != Some(1) {
        return Err(denied("approved", id, ApprovalError::AlreadyApproved(id)));
    }
    let (count, _) = counted_approvals(id, &r)?;
    log(
        "approval",
        id,
        &req.sha,
        json!({"comment": comment, "approvals": count, "required": r.required}),
    )?;
    if count >= r.required && transition(id, State::Pending, State::Approved, None)? {
        log("approved", id, &req.sha, json!({"approvals": count}))?;
        return Ok("approved".into());
    }
    Ok("pending".into())
}

pub fn reject(id: i64, comment: &str) -> Result<String> {
    let req = load(id, true)?;
    pending(&req, "rejected")?;
    let r = rule(&req.risk)?;
    check_decider(&req, &r, "rejected")?;
    as_extension_owner(|| {
        Spi::run_with_args(
            "INSERT INTO ai.approvals (request_id, approver, decision, comment) VALUES ($1, session_user, 'reject', $2)
             ON CONFLICT DO NOTHING",
            &[id.into(), comment.into()],
        )?;
        Ok::<_, ApprovalError>(())
    })?;
    transition(id, State::Pending, State::Rejected, Some(comment))?;
    log("rejected", id, &req.sha, json!({"comment": comment}))?;
    Ok("rejected".into())
}

pub fn escalate(id: i64, reason: &str) -> Result<String> {
    let req = load(id, true)?;
    pending(&req, "escalated")?;
    let to = workflow::escalated(&req.risk);
    // the requester, or someone who may decide on it now or at the level it goes to
    if session_user()? != req.requester {
        let mut may = false;
        for level in [req.risk.as_str(), to] {
            if let Some(role) = rule(level)?.role {
                may = may || is_member(&role)?;
            }
        }
        if !may {
            return Err(denied("escalated", id, ApprovalError::NotEscalator(id)));
        }
    }
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.approval_requests SET risk_level = $2, state_reason = $3 WHERE id = $1",
            &[id.into(), to.into(), reason.into()],
        )?;
        Spi::run_with_args(
            "INSERT INTO ai.approvals (request_id, approver, decision, comment) VALUES ($1, session_user, 'escalate', $2)
             ON CONFLICT DO NOTHING",
            &[id.into(), reason.into()],
        )?;
        Ok::<_, ApprovalError>(())
    })?;
    log(
        "escalated",
        id,
        &req.sha,
        json!({"from": req.risk, "to": to, "reason": reason}),
    )?;
    notify(id, State::Pending)?;
    Ok(to.into())
}

pub fn cancel(id: i64) -> Result<String> {
    let req = load(id, true)?;
    if session_user()? != req.requester {
        return Err(denied(
            "cancelled",
            id,
            ApprovalError::NotRequester(req.requester.clone()),
        ));
    }
    let from = match req.state.effective(req.past_expiry) {
        s @ (State::Pending | State::Approved) => s,
        s => {
            return Err(ApprovalError::WrongState {
                id,
                state: s.as_str().into(),
                action: "cancelled",
            })
        }
    };
    transition(
        id,
        from,
        State::Cancelled,
        Some("cancelled by the requester"),
    )?;
    log("cancelled", id, &req.sha, json!({}))?;
    Ok("cancelled".into())
}
