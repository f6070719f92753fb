//! The approval workflow's kernel: its errors, a request as stored, its state transitions,
//! the audit entries and the status document. Every part of the workflow imports it; it
//! imports none of them. State lives in tables only the extension owner may write; these
//! functions check the caller's own rights and then write as the owner.
use super::workflow::{Rule, State};
use crate::audit::log::{self as audit, AuditError};
use crate::error::UserError;
use crate::guc::ExecuteAs;
use crate::impact::error::ImpactError;
use crate::impact::model::Capture;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, SearchPath};
use crate::sqlparse;
use crate::sqlparse::Kind;
use pgrx::JsonB;
use pgrx::PgSqlErrorCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

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
    #[error("execution {0} finished more than ai_architect.rollback_window ago: it can no longer be rolled back")]
    WindowClosed(i64),
    #[error("{0} must not be NULL")]
    Null(&'static str),
    #[error("max_rows must be between 1 and 10000, got {0}")]
    MaxRows(i32),
    #[error(
        "the role {0}, which made this request and whose rights it runs with, no longer exists"
    )]
    RunnerGone(String),
    #[error("the backup holds unexpected data: {0}")]
    Decode(String),
    #[error("{0}")]
    Batch(String),
    #[error("this statement runs outside a transaction block, by a background worker, and none can start: {why}")]
    NoWorker { why: String, statement: String },
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
            RollbackNeedsApproval(_) | RunnerGone(_) | WindowClosed(_) => {
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            MergeReachesOthers(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            NoWorker { .. } => PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            Batch(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Null(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            MaxRows(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
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
            MaxRows(_) => Some("page through the queue: pass the last id you saw as before_id".into()),
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
            Batch(_) => Some("batches take an UPDATE or DELETE of one table with a primary key, by its own WHERE clause (no WITH, USING, FROM, RETURNING), that leaves the key alone; leave batch_rows NULL to run it as one statement".into()),
            NoWorker { statement, .. } => Some(format!(
                "nothing was run or recorded; try again when a worker slot is free (max_worker_processes), or run it yourself as a statement of its own, outside any transaction block: {statement}"
            )),
            RunnerGone(_) => Some("make the request again as a role that exists; ai_architect.execute_as = executor (superuser) runs approved statements with the executor's rights instead".into()),
            WindowClosed(_) => Some(
                "its row backup is kept for the rollback window only; to undo it now, request a statement that restores the rows (ai.request)".into(),
            ),
            RollbackNeedsApproval(e) => Some(format!(
                "the policy of its risk level says so: SELECT ai.request_rollback({e}), have it approved, then ai.execute() it"
            )),
            _ => None,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, ApprovalError>;

pub(super) fn req<T>(name: &'static str, v: Option<T>) -> Result<T> {
    v.ok_or(ApprovalError::Null(name))
}

/// A denied attempt leaves a server-log line even though its transaction rolls back.
pub(super) fn denied(action: &str, id: i64, e: ApprovalError) -> ApprovalError {
    let user = crate::spi_util::session_user().unwrap_or_default();
    pgrx::log!("ai_architect: denied {action} of request {id} by {user}: {e}");
    e
}

pub(super) fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone)]
pub(super) struct Request {
    pub(super) id: i64,
    pub(super) sql: String,
    pub(super) normalized: String,
    pub(super) sha: String,
    pub(super) impact: Value,
    pub(super) risk: String,
    pub(super) state: State,
    pub(super) requester: String,
    pub(super) past_expiry: bool,
    pub(super) rollback_of: Option<i64>,
}

pub(super) fn load(id: i64, lock: bool) -> Result<Request> {
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

pub(super) fn rule(risk: &str) -> Result<Rule> {
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

/// Refuses `action` on a request unless the caller is its requester or a member of the
/// approver role of its risk level (anyone, when the level names no role).
pub(super) fn requester_or_approver(req: &Request, action: &'static str) -> Result<()> {
    if session_user()? == req.requester {
        return Ok(());
    }
    match rule(&req.risk)?.role {
        Some(role) if !is_member(&role)? => Err(denied(
            action,
            req.id,
            ApprovalError::NotApprover {
                risk: req.risk.clone(),
                role,
            },
        )),
        _ => Ok(()),
    }
}

pub(super) fn session_user() -> Result<String> {
    Ok(crate::spi_util::session_user()?)
}

pub(super) fn is_member(role: &str) -> Result<bool> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)
                AND pg_catalog.pg_has_role(session_user, $1, 'MEMBER')",
        &[role.into()],
    )?
    .unwrap_or(false))
}

/// Moves a request from `from` to `to` atomically; false when another session moved it first.
pub(super) fn transition(id: i64, from: State, to: State, reason: Option<&str>) -> Result<bool> {
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

pub(super) fn log(action: &str, id: i64, sha: &str, details: Value) -> Result<()> {
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
        let n = t["rows_exact"]
            .as_i64()
            .or(t["rows_estimated"].as_i64())
            .unwrap_or(0);
        *out.entry(t["table"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += n;
    }
    out
}

/// A MERGE is backed up through its target's matched rows: one that also changes other tables
/// or other rows of its own (cascades, triggers) cannot be restored and is refused. Its dry
/// run (the snapshot of a MERGE) says what it changed.
pub(super) fn merge_stays_in_its_table(
    sp: &SearchPath,
    reading: &crate::impact::analyse::Reading,
    doc: &Value,
    captures: &[Capture],
) -> Result<()> {
    if reading.kind != Kind::Merge {
        return Ok(());
    }
    let lines = doc["tables"].as_array().cloned().unwrap_or_default();
    let mut others: Vec<String> = lines
        .iter()
        .filter(|t| t["via"] != "statement" && t["rows_exact"].as_i64().unwrap_or(0) > 0)
        .filter_map(|t| t["table"].as_str().map(str::to_string))
        .collect();
    // its own table: no more rows updated or deleted than the MERGE matched
    for c in captures.iter().filter(|c| c.operation == "merge") {
        let Some(rows_sql) = &c.rows_sql else {
            continue;
        };
        let matched = sp
            .as_caller(|| {
                Spi::get_one::<i64>(&format!("SELECT count(*) FROM ({rows_sql}) AS matched"))
            })?
            .unwrap_or(0);
        let changed: i64 = lines
            .iter()
            .filter(|t| t["via"] == "statement" && t["table"] == json!(c.display))
            .map(|t| {
                t["dry_run"]["updated"].as_i64().unwrap_or(0)
                    + t["dry_run"]["deleted"].as_i64().unwrap_or(0)
            })
            .sum();
        if changed > matched {
            others.push(format!("other rows of {}", c.display));
        }
    }
    if others.is_empty() {
        Ok(())
    } else {
        Err(ApprovalError::MergeReachesOthers(others.join(", ")))
    }
}

pub(super) fn status(id: i64) -> Result<Value> {
    let req = load(id, false)?;
    let v = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<JsonB>(
            &format!("SELECT jsonb_build_object(
                 'id', r.id, 'state', r.state, 'past_expiry', r.expires_at < now(), 'risk_level', r.risk_level, 'requester', r.requester, 'reason', r.reason,
                 'statement', r.normalized_sql, 'sql_sha256', r.sql_sha256, 'created_at', r.created_at,
                 'expires_at', r.expires_at, 'decided_at', r.decided_at, 'state_reason', r.state_reason,
                 'rows_touched', r.impact -> 'rows_touched', 'tables', r.impact -> 'tables',
                 'functions', r.impact -> 'functions', 'search_path', r.impact -> 'search_path',
                 'requested_as', coalesce(r.impact ->> 'requested_as', r.requester),
                 'decisions', coalesce((SELECT jsonb_agg(jsonb_build_object('by', a.approver, 'decision', a.decision,
                                 'comment', a.comment, 'at', a.created_at) ORDER BY a.id) FROM ai.approvals a WHERE a.request_id = r.id), '[]'),
                 'executions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', e.id, 'status', e.status, 'by', e.executed_by,
                                 'started_at', e.started_at, 'duration_ms', e.duration_ms, 'rows_by_table', e.rows_by_table,
                                 'error', e.error, 'rolled_back_at', e.rolled_back_at, 'pid', e.pid,
                                 'outside_transaction', CASE WHEN e.detail <> '{{}}' THEN e.detail - 'role' - 'claimed' - 'indexes_before' - 'table' END,
                                 'progress', {progress}, 'rollback_report', e.rollback_report,
                                 'backed_up_rows', (SELECT count(*) FROM ai.backups b WHERE b.execution_id = e.id
                                        OR b.execution_id IN (SELECT c.id FROM ai.executions c WHERE (c.detail ->> 'batch_of')::int8 = e.id))) ORDER BY e.id)
                                 FROM ai.executions e WHERE e.request_id = r.id AND NOT e.detail ? 'batch_of'), '[]'))
               FROM ai.approval_requests r WHERE r.id = $1", progress = PROGRESS_SQL),
            &[id.into()],
        )?)
    })?
    .map(|j| j.0)
    .unwrap_or(Value::Null);
    let mut v = v;
    let r = rule(&req.risk)?;
    // the state of the same read as the rest of the document (a background worker may have
    // moved the request since `load`)
    let state = v["state"]
        .as_str()
        .and_then(State::parse)
        .unwrap_or(req.state)
        .effective(v["past_expiry"].as_bool().unwrap_or(req.past_expiry));
    if let Some(o) = v.as_object_mut() {
        o.remove("past_expiry");
    }
    v["state"] = json!(state.as_str());
    v["required_approvals"] = json!(r.required);
    v["approver_role"] = json!(r.role);
    v["runs_as"] = match crate::guc::execute_as() {
        ExecuteAs::Requester => v["requested_as"].clone(),
        ExecuteAs::Executor => json!("the executor"),
    };
    Ok(v)
}

/// The live progress of a running execution's worker, for the status document (its wait
/// event, what it says it is doing, PostgreSQL's progress views): SQL over the execution `e`.
const PROGRESS_SQL: &str =
    "CASE WHEN e.status IN ('running', 'rolling_back') THEN jsonb_strip_nulls(jsonb_build_object(
        'wait_event', (SELECT a.wait_event_type || ': ' || a.wait_event FROM pg_catalog.pg_stat_activity a WHERE a.pid = e.pid),
        'activity', (SELECT nullif(a.query, '') FROM pg_catalog.pg_stat_activity a WHERE a.pid = e.pid AND a.state IS NOT NULL),
        'create_index', (SELECT to_jsonb(p) - 'datid' - 'datname' - 'pid' FROM pg_catalog.pg_stat_progress_create_index p WHERE p.pid = e.pid),
        'vacuum', (SELECT to_jsonb(p) - 'datid' - 'datname' - 'pid' FROM pg_catalog.pg_stat_progress_vacuum p WHERE p.pid = e.pid),
        'analyze', (SELECT to_jsonb(p) - 'datid' - 'datname' - 'pid' FROM pg_catalog.pg_stat_progress_analyze p WHERE p.pid = e.pid)))
     END";

/// Runs `f` with the search_path pinned for the extension's own queries (these functions run
/// the caller's SQL, so they cannot pin it in their definition); `sp` has the caller's.
pub(super) fn pinned<R>(f: impl FnOnce(&SearchPath) -> Result<R>) -> Result<R> {
    let sp = SearchPath::pin();
    let r = f(&sp);
    sp.restore();
    r
}

/// Tells listeners (NOTIFY ai_approvals) and the webhook queue that a request changed state.
/// `NOTIFY ai_approvals` with a json payload (delivered at commit), and, when a webhook is
/// configured, a message in the outbox (sent after commit by ai.deliver_notifications).
pub(super) fn notify(id: i64, state: State) -> Result<()> {
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
