//! SQL surface of the approval workflow: requests, decisions, execution with a backup of every
//! row touched, rollback. State lives in tables only the extension owner may write; these
//! functions check the caller's own rights and then write as the owner. The statement itself,
//! the backups' reads and the restores run with the caller's rights.
use super::workflow::{self, Rule, State};
use crate::audit::api::{self as audit, AuditError};
use crate::error::{OrRaise, UserError};
use crate::impact::api::{self as impact, ImpactError, Mode};
use crate::spi_util::{as_extension_owner, in_subtransaction, SearchPath};
use crate::sqlparse::{self, Kind};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Impact(#[from] ImpactError),
    #[error("{0}")]
    Sql(#[from] sqlparse::SqlError),
    #[error("{0}")]
    Audit(#[from] AuditError),
    #[error("{0}")]
    PgSql(#[from] crate::pgsql::PgSqlError),
    #[error("request {0} does not exist")]
    NotFound(i64),
    #[error("execution {0} does not exist")]
    NoExecution(i64),
    #[error("request {id} is {state}: it cannot be {action}")]
    WrongState {
        id: i64,
        state: String,
        action: &'static str,
    },
    #[error("request {0} expired")]
    Expired(i64),
    #[error("request {0} is yours: the requester never approves or rejects their own request")]
    OwnRequest(i64),
    #[error("approving a {risk} request takes membership in role {role}")]
    NotApprover { risk: String, role: String },
    #[error("you already approved request {0}: one person counts once, whatever roles they hold")]
    AlreadyApproved(i64),
    #[error("request {0} is not yours and you may not decide on it: you cannot escalate it")]
    NotEscalator(i64),
    #[error("only the requester ({0}) may cancel it")]
    NotRequester(String),
    #[error("{0} statements do not go through the approval workflow")]
    NotAllowed(&'static str),
    #[error("{0} has no primary key: its rows cannot be backed up and restored one by one")]
    NoPrimaryKey(String),
    #[error("request {0} was changed after it was made: its statement no longer matches its hash")]
    Tampered(i64),
    #[error("request {id} no longer has the approvals it needs: {why}")]
    ApprovalsLost { id: i64, why: String },
    #[error("the impact of this DDL is irreversible and the {0} policy does not allow irreversible statements")]
    Irreversible(String),
    #[error("{0} rows changed since the execution; nothing was restored")]
    Conflicts(usize, Vec<String>),
    #[error("this MERGE also changes {0}: only its target's rows can be backed up")]
    MergeReachesOthers(String),
    #[error("rolling back execution {0} needs its own approved request")]
    RollbackNeedsApproval(i64),
    #[error("{0} must not be NULL")]
    Null(&'static str),
    #[error("the backup holds unexpected data: {0}")]
    Decode(String),
}

impl UserError for ApprovalError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use ApprovalError::*;
        match self {
            Spi(_) | Decode(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            Impact(e) => e.sqlstate(),
            Sql(e) => e.sqlstate(),
            Audit(e) => e.sqlstate(),
            NotFound(_) | NoExecution(_) => PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            WrongState { .. }
            | Expired(_)
            | ApprovalsLost { .. }
            | Irreversible(_)
            | Conflicts(..) => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            OwnRequest(_) | NotApprover { .. } | NotRequester(_) | NotEscalator(_) => {
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            AlreadyApproved(_) => PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            NotAllowed(_) | NoPrimaryKey(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Tampered(_) => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            RollbackNeedsApproval(_) => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            MergeReachesOthers(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Null(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            PgSql(_) => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
        }
    }
    fn detail(&self) -> Option<String> {
        match self {
            ApprovalError::Conflicts(_, rows) => Some(rows.join("; ")),
            _ => None,
        }
    }
    fn hint(&self) -> Option<String> {
        use ApprovalError::*;
        match self {
            Impact(e) => e.hint(),
            Sql(e) => Some(e.hint().to_string()),
            PgSql(e) => Some(e.hint()),
            Expired(_) => Some("make a new request with ai.request(); ai_architect.approval_ttl sets how long one lives".into()),
            OwnRequest(_) => Some("ask another person to approve it".into()),
            NotEscalator(_) => Some("the requester, or a member of the approver role of its risk level, escalates a request".into()),
            NotApprover { role, .. } => Some(format!("an administrator grants {role} to approvers; ai.approval_policy names the role per risk level")),
            NotAllowed(_) => Some("the workflow takes INSERT, UPDATE, DELETE, MERGE, TRUNCATE and DDL".into()),
            MergeReachesOthers(_) => Some("split it into INSERT / UPDATE / DELETE statements, whose cascades are backed up".into()),
            NoPrimaryKey(_) => Some("add a primary key to the table before changing it through the workflow".into()),
            Tampered(_) => Some("request the statement again; ai.verify_audit() shows whether the trail was touched too".into()),
            Irreversible(level) => Some(format!("an owner may set allow_irreversible for {level} in ai.approval_policy")),
            Conflicts(..) => Some("review the rows listed; ai.rollback(execution, force => true) overwrites them".into()),
            WrongState { .. } => Some("ai.request_status(id) shows its history".into()),
            RollbackNeedsApproval(e) => Some(format!(
                "the policy of its risk level says so: SELECT ai.request_rollback({e}), have it approved, then ai.execute() it"
            )),
            _ => None,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, ApprovalError>;

fn req<T>(name: &'static str, v: Option<T>) -> Result<T> {
    v.ok_or(ApprovalError::Null(name))
}

/// A denied attempt leaves a server-log line even though its transaction rolls back.
fn denied(action: &str, id: i64, e: ApprovalError) -> ApprovalError {
    let user = Spi::get_one::<String>("SELECT session_user::text")
        .ok()
        .flatten()
        .unwrap_or_default();
    pgrx::log!("ai_architect: denied {action} of request {id} by {user}: {e}");
    e
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone)]
struct Request {
    id: i64,
    sql: String,
    normalized: String,
    sha: String,
    impact: Value,
    risk: String,
    state: State,
    requester: String,
    past_expiry: bool,
    rollback_of: Option<i64>,
}

fn load(id: i64, lock: bool) -> Result<Request> {
    let q = format!(
        "SELECT jsonb_build_object('sql', sql, 'normalized', normalized_sql, 'sha', sql_sha256, 'impact', impact,
                'risk', risk_level, 'state', state, 'requester', requester, 'past_expiry', expires_at < now(),
                'rollback_of', rollback_of)
           FROM ai.approval_requests WHERE id = $1 {}",
        if lock { "FOR UPDATE" } else { "" }
    );
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            &format!("SELECT ({q})"),
            &[id.into()],
        )?)
    })?
    .map(|j| j.0)
    .filter(|v| !v.is_null())
    .ok_or(ApprovalError::NotFound(id))?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(Request {
        id,
        sql: s("sql"),
        normalized: s("normalized"),
        sha: s("sha"),
        impact: v["impact"].clone(),
        risk: s("risk"),
        state: State::parse(&s("state")).ok_or_else(|| ApprovalError::Decode(s("state")))?,
        requester: s("requester"),
        past_expiry: v["past_expiry"].as_bool().unwrap_or(false),
        rollback_of: v["rollback_of"].as_i64(),
    })
}

fn rule(risk: &str) -> Result<Rule> {
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT (SELECT to_jsonb(p) FROM ai.approval_policy p WHERE risk_level = $1)",
            &[risk.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(Value::Null);
    Ok(Rule {
        required: v["required_approvals"].as_u64().unwrap_or(1) as u32,
        role: v["approver_role"].as_str().map(str::to_string),
        tolerance_pct: v["row_tolerance_pct"].as_f64().unwrap_or(10.0),
        allow_irreversible: v["allow_irreversible"].as_bool().unwrap_or(false),
        rollback_needs_approval: v["rollback_needs_approval"].as_bool().unwrap_or(false),
    })
}

fn session_user() -> Result<String> {
    Ok(Spi::get_one::<String>("SELECT session_user::text")?.unwrap_or_default())
}

fn is_member(role: &str) -> Result<bool> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)
                AND pg_catalog.pg_has_role(session_user, $1, 'MEMBER')",
        &[role.into()],
    )?
    .unwrap_or(false))
}

/// Moves a request from `from` to `to` atomically; false when another session moved it first.
fn transition(id: i64, from: State, to: State, reason: Option<&str>) -> Result<bool> {
    debug_assert!(from.may_become(to));
    let moved = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "WITH m AS (UPDATE ai.approval_requests SET state = $3, decided_at = now(), state_reason = coalesce($4, state_reason)
                         WHERE id = $1 AND state = $2 RETURNING id)
             SELECT count(*) FROM m",
            &[id.into(), from.as_str().into(), to.as_str().into(), reason.into()],
        )?)
    })?;
    if moved == Some(1) {
        notify(id, to)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

/// `NOTIFY ai_approvals` with a json payload (delivered at commit), and, when a webhook is
/// configured, a message in the outbox (sent after commit by ai.deliver_notifications).
fn notify(id: i64, state: State) -> Result<()> {
    let by = session_user()?;
    let payload = json!({"request": id, "state": state.as_str(), "by": by});
    Spi::run_with_args(
        "SELECT pg_catalog.pg_notify('ai_approvals', $1)",
        &[payload.to_string().into()],
    )?;
    if crate::guc::approval_webhook_url().is_some() {
        let db = Spi::get_one::<String>("SELECT current_database()::text")?.unwrap_or_default();
        let text = format!(
            "ai_architect ({db}): request {id} is {} (by {by})",
            state.as_str()
        );
        let mut message = payload;
        message["text"] = json!(text);
        as_extension_owner(|| {
            Spi::run_with_args(
                "INSERT INTO ai.notification_outbox (request_id, payload) VALUES ($1, $2)",
                &[id.into(), JsonB(message).into()],
            )?;
            Ok::<_, ApprovalError>(())
        })?;
    }
    Ok(())
}

/// Sends queued webhook messages (oldest first, at most `max`); each is tried up to 5 times.
pub fn deliver(max: i64) -> Result<Value> {
    let Some(url) = crate::guc::approval_webhook_url() else {
        return Ok(
            json!({"sent": 0, "failed": 0, "note": "ai_architect.approval_webhook_url is not set"}),
        );
    };
    let batch = Spi::get_one_with_args::<JsonB>(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'payload', payload) ORDER BY id), '[]') FROM (
            SELECT id, payload FROM ai.notification_outbox WHERE sent_at IS NULL AND attempts < 5
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) q",
        &[max.into()],
    )?
    .map(|j| j.0)
    .unwrap_or(json!([]));
    let timeout = std::time::Duration::from_millis(crate::guc::approval_webhook_timeout_ms());
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let (mut sent, mut failed) = (0, 0);
    for m in batch.as_array().cloned().unwrap_or_default() {
        let id = m["id"].as_i64().unwrap_or_default();
        let error = match agent.post(&url).send_json(m["payload"].clone()) {
            Ok(_) => None,
            Err(ureq::Error::Status(code, _)) => Some(format!("HTTP {code}")),
            Err(e) => Some(e.to_string()),
        };
        if error.is_none() {
            sent += 1;
        } else {
            failed += 1;
        }
        Spi::run_with_args(
            "UPDATE ai.notification_outbox SET attempts = attempts + 1, last_error = $2,
                    sent_at = CASE WHEN $2 IS NULL THEN clock_timestamp() END WHERE id = $1",
            &[id.into(), error.into()],
        )?;
        pgrx::check_for_interrupts!();
    }
    Ok(json!({"sent": sent, "failed": failed}))
}

/// Marks requests past their expiry as expired, logging each; returns how many.
pub fn expire() -> Result<i64> {
    let expired = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one::<JsonB>(
            "WITH e AS (UPDATE ai.approval_requests SET state = 'expired', decided_at = now(),
                               state_reason = 'not decided within ai_architect.approval_ttl'
                         WHERE state IN ('pending', 'approved') AND expires_at < now() RETURNING id, sql_sha256)
             SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'sha', sql_sha256)), '[]') FROM e",
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(json!([]));
    let list = expired.as_array().cloned().unwrap_or_default();
    for e in &list {
        let id = e["id"].as_i64().unwrap_or_default();
        log(
            "expired",
            id,
            e["sha"].as_str().unwrap_or_default(),
            json!({}),
        )?;
        notify(id, State::Expired)?;
    }
    Ok(list.len() as i64)
}

/// Marks expired requests as such (and logs them); schedule it with pg_cron.
#[pg_extern(volatile, name = "expire_requests")]
#[search_path(pg_catalog, pg_temp)]
fn expire_requests_sql() -> i64 {
    expire().or_raise("ai.expire_requests")
}

/// Sends the queued webhook messages; schedule it with pg_cron (e.g. every minute).
#[pg_extern(volatile, name = "deliver_notifications")]
#[search_path(pg_catalog, pg_temp)]
fn deliver_notifications_sql(max: default!(i64, 100)) -> JsonB {
    JsonB(deliver(max).or_raise("ai.deliver_notifications"))
}

fn log(action: &str, id: i64, sha: &str, details: Value) -> Result<()> {
    let mut d = details;
    d["sql_sha256"] = json!(sha);
    audit::append(action, Some("request"), Some(id.to_string()), d)?;
    Ok(())
}

/// rows per table of an impact document (summed over paths)
pub(super) fn rows_per_table(doc: &Value) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for t in doc["tables"].as_array().cloned().unwrap_or_default() {
        if t["via"] == "trigger or rule" {
            continue;
        }
        // a dry run's line: what PostgreSQL's row counters said (an execution is checked
        // against the same counters)
        let dry = &t["dry_run"];
        let counted = dry.is_object().then(|| {
            ["inserted", "updated", "deleted"]
                .iter()
                .map(|k| dry[k].as_i64().unwrap_or(0))
                .sum::<i64>()
        });
        let n = counted
            .or(t["rows_exact"].as_i64())
            .or(t["rows_estimated"].as_i64())
            .unwrap_or(0);
        *out.entry(t["table"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += n;
    }
    out
}

pub fn request(sp: &SearchPath, sql: &str, reason: Option<&str>) -> Result<i64> {
    let parsed = sqlparse::parse_statement(sql)?;
    match sqlparse::kind(&parsed.stmt) {
        Kind::Insert | Kind::Update | Kind::Delete | Kind::Truncate | Kind::Ddl => {}
        Kind::Merge => {}
        Kind::Select => return Err(ApprovalError::NotAllowed("SELECT")),
        Kind::Copy => return Err(ApprovalError::NotAllowed("COPY")),
        Kind::Other => return Err(ApprovalError::NotAllowed("utility")),
    }
    let (doc, captures) = impact::analyse_in(sp, sql, snapshot_mode(&parsed))?;
    merge_stays_in_its_table(&parsed, &doc)?;
    // every row is backed up and restored by its key, inserted ones too
    if let Some(c) = captures.iter().find(|c| c.pk.is_empty()) {
        return Err(ApprovalError::NoPrimaryKey(c.display.clone()));
    }
    let normalized = doc["statement"].as_str().unwrap_or(sql).to_string();
    let sha = sha256_hex(&normalized);
    let risk = doc["risk_level"].as_str().unwrap_or("CRITICAL").to_string();
    let r = rule(&risk)?;
    let ttl = crate::guc::approval_ttl_s() as i64;
    let id = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.approval_requests (sql, normalized_sql, sql_sha256, reason, impact, risk_level, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 second') RETURNING id",
            &[sql.into(), normalized.clone().into(), sha.clone().into(), reason.into(), JsonB(doc.clone()).into(), risk.clone().into(), ttl.into()],
        )?)
    })?
    .ok_or(ApprovalError::Decode("no id".into()))?;
    log(
        "request",
        id,
        &sha,
        json!({"risk_level": risk, "rows_touched": doc["rows_touched"], "reason": reason, "required_approvals": r.required}),
    )?;
    notify(id, State::Pending)?;
    if r.required == 0 {
        transition(
            id,
            State::Pending,
            State::Approved,
            Some("approved automatically: the policy needs no approval"),
        )?;
        log("auto_approved", id, &sha, json!({"risk_level": risk}))?;
    }
    Ok(id)
}

/// The rows per table a request is approved for: exact counts; for MERGE and INSERT … ON
/// CONFLICT, whose actions depend on each row, a dry run (rolled back) is the exact count.
fn snapshot_mode(p: &sqlparse::Parsed) -> Mode {
    if sqlparse::kind(&p.stmt) == Kind::Merge || super::backup::is_upsert(p) {
        Mode::DryRun
    } else {
        Mode::Exact
    }
}

/// A MERGE is backed up through its target's matched rows: one that also changes other tables
/// (cascades, triggers) cannot be restored and is refused.
fn merge_stays_in_its_table(p: &sqlparse::Parsed, doc: &Value) -> Result<()> {
    if sqlparse::kind(&p.stmt) != Kind::Merge {
        return Ok(());
    }
    let others: Vec<String> = doc["tables"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["via"] != "statement" && t["rows_exact"].as_i64().unwrap_or(0) > 0)
        .filter_map(|t| t["table"].as_str().map(str::to_string))
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(ApprovalError::MergeReachesOthers(others.join(", ")))
    }
}

/// Approvals that count: distinct approvers, members of the role when one is required.
fn counted_approvals(id: i64, r: &Rule) -> Result<(u32, Vec<String>)> {
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
fn check_decider(req: &Request, r: &Rule, action: &'static str) -> Result<()> {
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

fn pending(req: &Request, action: &'static str) -> Result<()> {
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

/// Rows inserted, updated and deleted so far in this transaction, per table (partitions
/// added up into their partitioned table).
pub(super) fn xact_per_table() -> Result<BTreeMap<i64, (i64, i64, i64)>> {
    let mut out = BTreeMap::new();
    for r in crate::impact::count::xact_counts()?.into_values() {
        let e = out.entry(r.root).or_insert((0, 0, 0));
        e.0 += r.ins;
        e.1 += r.upd;
        e.2 += r.del;
    }
    Ok(out)
}

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
        let r = rule(&req.risk)?;
        let (count, lost) = counted_approvals(id, &r)?;
        if count < r.required {
            let why = format!(
                "{count} of {} approvals count now; no longer in the role: {}",
                r.required,
                lost.join(", ")
            );
            return Err(denied(
                "executed",
                id,
                ApprovalError::ApprovalsLost { id, why },
            ));
        }
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
    let (count, lost) = counted_approvals(id, &r)?;
    if count < r.required {
        let why = format!(
            "{count} of {} approvals count now; no longer in the role: {}",
            r.required,
            lost.join(", ")
        );
        return Err(denied(
            "executed",
            id,
            ApprovalError::ApprovalsLost { id, why },
        ));
    }
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
    merge_stays_in_its_table(&reparsed, &now)?;
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

fn finish_failed(id: i64, exec_id: i64, sha: &str, reason: &str, extra: Value) -> Result<()> {
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

pub(super) fn table_names(oids: &[i64]) -> Result<BTreeMap<i64, String>> {
    Ok(table_shapes(oids)?
        .into_iter()
        .map(|(oid, t)| (oid, t.display))
        .collect())
}

/// Restores the rows an execution touched; see the module documentation.
/// ai.rollback: refused when the policy wants the rollback approved first.
pub fn rollback(sp: &SearchPath, exec_id: i64, force: bool) -> Result<Value> {
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
    notify(id, State::Pending)?;
    if r.required == 0 {
        transition(
            id,
            State::Pending,
            State::Approved,
            Some("approved automatically: the policy needs no approval"),
        )?;
        log("auto_approved", id, &req.sha, json!({}))?;
    }
    Ok(id)
}

fn rollback_execution(sp: &SearchPath, exec_id: i64, force: bool) -> Result<Value> {
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT (SELECT jsonb_build_object('request', e.request_id, 'status', e.status, 'plan', e.rollback_plan)
                       FROM ai.executions e WHERE e.id = $1 FOR UPDATE)",
            &[exec_id.into()],
        )?)
    })?
    .map(|j| j.0)
    .filter(|v| !v.is_null())
    .ok_or(ApprovalError::NoExecution(exec_id))?;
    let id = v["request"].as_i64().unwrap_or_default();
    let req = load(id, true)?;
    if v["status"] != "succeeded" || req.state != State::Executed {
        return Err(ApprovalError::WrongState {
            id,
            state: req.state.as_str().into(),
            action: "rolled back",
        });
    }
    let me = session_user()?;
    if me != req.requester {
        let r = rule(&req.risk)?;
        if let Some(role) = &r.role {
            if !is_member(role)? {
                return Err(denied(
                    "rolled back",
                    id,
                    ApprovalError::NotApprover {
                        risk: req.risk.clone(),
                        role: role.clone(),
                    },
                ));
            }
        }
    }
    let kind = sqlparse::kind(&sqlparse::parse_statement(&req.sql)?.stmt);
    let report = if matches!(kind, Kind::Ddl) {
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
        for s in &inverse {
            // inside this transaction, a concurrent index build is a plain one
            let s = match s.strip_prefix("DROP INDEX CONCURRENTLY ") {
                Some(rest) => format!("DROP INDEX {rest}"),
                None => s.clone(),
            };
            crate::spi_util::with_search_path("pg_catalog, pg_temp", || {
                crate::pgsql::pinned(|| Spi::run(&s))
            })?;
        }
        json!({"inverse": inverse})
    } else {
        super::restore::restore_rows(sp, exec_id, force)?
    };
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.executions SET status = 'rolled_back', rolled_back_at = clock_timestamp(), rollback_report = $2 WHERE id = $1",
            &[exec_id.into(), JsonB(report.clone()).into()],
        )?;
        Ok::<_, ApprovalError>(())
    })?;
    transition(
        id,
        State::Executed,
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

pub(super) struct Shape {
    pub(super) qualified: String,
    pub(super) display: String,
    pub(super) pk: Vec<String>,
    /// columns a restore writes (generated ones left out)
    pub(super) columns: Vec<String>,
    /// every column, in the order of the row type
    pub(super) all_columns: Vec<String>,
}

pub(super) fn table_shapes(oids: &[i64]) -> Result<BTreeMap<i64, Shape>> {
    Ok(impact::rels(oids)?
        .into_iter()
        .map(|(oid, r)| {
            let shape = Shape {
                qualified: r.qualified(),
                display: r.display(),
                pk: r.primary_key().to_vec(),
                columns: r.writable_columns(),
                all_columns: r.all_columns(),
            };
            (oid, shape)
        })
        .collect())
}

fn status(id: i64) -> Result<Value> {
    let req = load(id, false)?;
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            "SELECT jsonb_build_object(
                 'id', r.id, 'state', r.state, 'risk_level', r.risk_level, 'requester', r.requester, 'reason', r.reason,
                 'statement', r.normalized_sql, 'sql_sha256', r.sql_sha256, 'created_at', r.created_at,
                 'expires_at', r.expires_at, 'decided_at', r.decided_at, 'state_reason', r.state_reason,
                 'rows_touched', r.impact -> 'rows_touched', 'tables', r.impact -> 'tables',
                 'decisions', coalesce((SELECT jsonb_agg(jsonb_build_object('by', a.approver, 'decision', a.decision,
                                 'comment', a.comment, 'at', a.created_at) ORDER BY a.id) FROM ai.approvals a WHERE a.request_id = r.id), '[]'),
                 'executions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', e.id, 'status', e.status, 'by', e.executed_by,
                                 'started_at', e.started_at, 'duration_ms', e.duration_ms, 'rows_by_table', e.rows_by_table,
                                 'error', e.error, 'rolled_back_at', e.rolled_back_at,
                                 'backed_up_rows', (SELECT count(*) FROM ai.backups b WHERE b.execution_id = e.id)) ORDER BY e.id)
                                 FROM ai.executions e WHERE e.request_id = r.id), '[]'))
               FROM ai.approval_requests r WHERE r.id = $1",
            &[id.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(Value::Null);
    let mut v = v;
    let r = rule(&req.risk)?;
    v["state"] = json!(req.state.effective(req.past_expiry).as_str());
    v["required_approvals"] = json!(r.required);
    v["approver_role"] = json!(r.role);
    Ok(v)
}

/// Asks for a risky statement to be approved: runs ai.impact ('exact'), stores the statement,
/// its hash, the impact and the risk, and routes it by ai.approval_policy. Returns its id.
#[pg_extern(volatile, name = "request")]
fn request_sql(sql: Option<&str>, reason: default!(Option<&str>, "NULL")) -> i64 {
    pinned(|sp| request(sp, req("sql", sql)?, reason)).or_raise("ai.request")
}

/// Runs `f` with the search_path pinned for the extension's own queries (these functions run
/// the caller's SQL, so they cannot pin it in their definition); `sp` has the caller's.
fn pinned<R>(f: impl FnOnce(&SearchPath) -> Result<R>) -> Result<R> {
    let sp = SearchPath::pin();
    let r = f(&sp);
    sp.restore();
    r
}

/// Approves a pending request (never the requester's own; one person counts once).
#[pg_extern(volatile, name = "approve")]
#[search_path(pg_catalog, pg_temp)]
fn approve_sql(request: Option<i64>, comment: default!(Option<&str>, "NULL")) -> String {
    req("request", request)
        .and_then(|id| approve(id, comment))
        .or_raise("ai.approve")
}

/// Rejects a pending request; the comment says why.
#[pg_extern(volatile, name = "reject")]
#[search_path(pg_catalog, pg_temp)]
fn reject_sql(request: Option<i64>, comment: Option<&str>) -> String {
    req("request", request)
        .and_then(|id| Ok((id, req("comment", comment)?)))
        .and_then(|(id, c)| reject(id, c))
        .or_raise("ai.reject")
}

/// Raises a pending request's risk level by one, so that it routes to more senior approvers.
#[pg_extern(volatile, name = "escalate")]
#[search_path(pg_catalog, pg_temp)]
fn escalate_sql(request: Option<i64>, reason: Option<&str>) -> String {
    req("request", request)
        .and_then(|id| Ok((id, req("reason", reason)?)))
        .and_then(|(id, r)| escalate(id, r))
        .or_raise("ai.escalate")
}

/// Withdraws a pending or approved request (requester only).
#[pg_extern(volatile, name = "cancel")]
#[search_path(pg_catalog, pg_temp)]
fn cancel_sql(request: Option<i64>) -> String {
    req("request", request)
        .and_then(cancel)
        .or_raise("ai.cancel")
}

/// Runs an approved request: backs up every row it will touch, runs it with time limits,
/// checks the rows per table against the analysis; all or nothing.
#[pg_extern(volatile, name = "execute")]
fn execute_sql(request: Option<i64>) -> JsonB {
    JsonB(pinned(|sp| execute(sp, req("request", request)?)).or_raise("ai.execute"))
}

/// Restores the rows an execution touched from its backup (refuses rows changed since,
/// unless `force`).
#[pg_extern(volatile, name = "rollback")]
fn rollback_sql(execution: Option<i64>, force: default!(bool, false)) -> JsonB {
    JsonB(pinned(|sp| rollback(sp, req("execution", execution)?, force)).or_raise("ai.rollback"))
}

/// Asks for the rollback of an execution to be approved (when ai.approval_policy says a
/// rollback at its level needs approval); ai.execute() of the approved request runs it.
#[pg_extern(volatile, name = "request_rollback")]
#[search_path(pg_catalog, pg_temp)]
fn request_rollback_sql(execution: Option<i64>, reason: default!(Option<&str>, "NULL")) -> i64 {
    req("execution", execution)
        .and_then(|e| request_rollback(e, reason))
        .or_raise("ai.request_rollback")
}

/// One request with its decisions and executions.
#[pg_extern(stable, name = "request_status")]
#[search_path(pg_catalog, pg_temp)]
fn request_status_sql(request: Option<i64>) -> JsonB {
    JsonB(
        req("request", request)
            .and_then(status)
            .or_raise("ai.request_status"),
    )
}

/// The requests, newest first; `state` filters (expired requests show as expired).
#[pg_extern(stable, name = "requests")]
#[search_path(pg_catalog, pg_temp)]
fn requests_sql(
    state: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(state, String),
        name!(risk_level, String),
        name!(requester, String),
        name!(approvals, i64),
        name!(required, i32),
        name!(created_at, pgrx::datum::TimestampWithTimeZone),
        name!(expires_at, pgrx::datum::TimestampWithTimeZone),
        name!(reason, Option<String>),
        name!(statement, String),
    ),
> {
    let rows = as_extension_owner(|| {
        Spi::connect(|c| {
            let t = c.select(
                "SELECT r.id, CASE WHEN r.state IN ('pending', 'approved') AND r.expires_at < now() THEN 'expired' ELSE r.state END,
                        r.risk_level, r.requester::text,
                        (SELECT count(DISTINCT a.approver) FROM ai.approvals a WHERE a.request_id = r.id AND a.decision = 'approve'),
                        coalesce(p.required_approvals, 1), r.created_at, r.expires_at, r.reason, r.normalized_sql
                   FROM ai.approval_requests r LEFT JOIN ai.approval_policy p ON p.risk_level = r.risk_level
                  ORDER BY r.id DESC",
                None,
                &[],
            )?;
            let mut out = Vec::new();
            for r in t {
                out.push((
                    r.get::<i64>(1)?.unwrap_or_default(),
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<String>(4)?.unwrap_or_default(),
                    r.get::<i64>(5)?.unwrap_or_default(),
                    r.get::<i32>(6)?.unwrap_or_default(),
                    r.get::<pgrx::datum::TimestampWithTimeZone>(7)?.unwrap(),
                    r.get::<pgrx::datum::TimestampWithTimeZone>(8)?.unwrap(),
                    r.get::<String>(9)?,
                    r.get::<String>(10)?.unwrap_or_default(),
                ));
            }
            Ok::<_, ApprovalError>(out)
        })
    })
    .or_raise("ai.requests");
    let wanted = state.map(str::to_string);
    TableIterator::new(
        rows.into_iter()
            .filter(move |r| wanted.as_ref().is_none_or(|w| &r.1 == w)),
    )
}
