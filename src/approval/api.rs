//! SQL surface of the approval workflow: requests, decisions, execution with a backup of every
//! row touched, rollback. State lives in tables only the extension owner may write; these
//! functions check the caller's own rights and then write as the owner. The statement itself,
//! the backups' reads and the restores run with the caller's rights.
use super::decide::{approve, cancel, escalate, reject};
use super::execute::execute;
use super::request::request_batched;
use super::rollback::{request_rollback, rollback};
use super::store::ApprovalError;
use super::store::{pinned, req, status};
use crate::error::OrRaise;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Asks for a risky statement to be approved: runs ai.impact ('exact'), stores the statement,
/// its hash, the impact and the risk, and routes it by ai.approval_policy. Returns its id.
/// With `batch_rows`, an UPDATE or DELETE runs in batches of that many rows by its table's
/// key, each in a transaction of its own.
#[pg_extern(volatile, name = "request")]
pub(super) fn request_sql(
    sql: Option<&str>,
    reason: default!(Option<&str>, "NULL"),
    batch_rows: default!(Option<i64>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.request");
    pinned(|sp| request_batched(sp, req("sql", sql)?, reason, batch_rows)).or_raise("ai.request")
}

/// Files the advice of `ai.suggest_indexes`, `ai.insights` and `ai.lint_schema` as requests
/// of the caller's (one per statement, with its impact and risk; an open request for the same
/// statement is not filed twice), and says for each what became of it. Nothing runs.
#[pg_extern(volatile, name = "apply_advice")]
pub(super) fn apply_advice_sql(
    sources: default!(Vec<String>, "ARRAY['indexes', 'insights', 'lint']"),
    reason: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(object, String),
        name!(statement, String),
        name!(request, Option<i64>),
        name!(already_requested, bool),
        name!(risk_level, Option<String>),
        name!(error, Option<String>),
    ),
> {
    crate::error::primary_only("ai.apply_advice");
    let filed = pinned(|sp| super::advice::apply(sp, &sources, reason)).or_raise("ai.apply_advice");
    TableIterator::new(filed.into_iter().map(|f| {
        (
            f.source.to_string(),
            f.object,
            f.statement,
            f.request,
            f.already,
            f.risk_level,
            f.error,
        )
    }))
}

/// Approves a pending request (never the requester's own; one person counts once).
#[pg_extern(volatile, name = "approve")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn approve_sql(request: Option<i64>, comment: default!(Option<&str>, "NULL")) -> String {
    crate::error::primary_only("ai.approve");
    req("request", request)
        .and_then(|id| approve(id, comment))
        .or_raise("ai.approve")
}

/// Rejects a pending request; the comment says why.
#[pg_extern(volatile, name = "reject")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn reject_sql(request: Option<i64>, comment: Option<&str>) -> String {
    crate::error::primary_only("ai.reject");
    req("request", request)
        .and_then(|id| Ok((id, req("comment", comment)?)))
        .and_then(|(id, c)| reject(id, c))
        .or_raise("ai.reject")
}

/// Raises a pending request's risk level by one, so that it routes to more senior approvers.
#[pg_extern(volatile, name = "escalate")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn escalate_sql(request: Option<i64>, reason: Option<&str>) -> String {
    crate::error::primary_only("ai.escalate");
    req("request", request)
        .and_then(|id| Ok((id, req("reason", reason)?)))
        .and_then(|(id, r)| escalate(id, r))
        .or_raise("ai.escalate")
}

/// Withdraws a pending or approved request (requester only).
#[pg_extern(volatile, name = "cancel")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn cancel_sql(request: Option<i64>) -> String {
    crate::error::primary_only("ai.cancel");
    req("request", request)
        .and_then(cancel)
        .or_raise("ai.cancel")
}

/// Runs an approved request: backs up every row it will touch, runs it with time limits,
/// checks the rows per table against the analysis; all or nothing.
#[pg_extern(volatile, name = "execute")]
pub(super) fn execute_sql(request: Option<i64>) -> JsonB {
    crate::error::primary_only("ai.execute");
    JsonB(pinned(|sp| execute(sp, req("request", request)?)).or_raise("ai.execute"))
}

/// Restores the rows an execution touched from its backup (refuses rows changed since,
/// unless `force`).
#[pg_extern(volatile, name = "rollback")]
pub(super) fn rollback_sql(execution: Option<i64>, force: default!(bool, false)) -> JsonB {
    crate::error::primary_only("ai.rollback");
    JsonB(pinned(|sp| rollback(sp, req("execution", execution)?, force)).or_raise("ai.rollback"))
}

/// Asks for the rollback of an execution to be approved (when ai.approval_policy says a
/// rollback at its level needs approval); ai.execute() of the approved request runs it.
#[pg_extern(volatile, name = "request_rollback")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn request_rollback_sql(
    execution: Option<i64>,
    reason: default!(Option<&str>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.request_rollback");
    req("execution", execution)
        .and_then(|e| request_rollback(e, reason))
        .or_raise("ai.request_rollback")
}

/// One request with its decisions and executions (with the progress of one running outside
/// a transaction block; one whose background worker is gone is marked failed first).
#[pg_extern(volatile, name = "request_status")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn request_status_sql(request: Option<i64>) -> JsonB {
    JsonB(
        req("request", request)
            .and_then(|id| {
                super::online::reap()?;
                status(id)
            })
            .or_raise("ai.request_status"),
    )
}

/// The requests, newest first, a page at a time: at most `max_rows` of them, older than
/// `before_id` when given (pass the last id of a page to get the next); `state` filters
/// (expired requests show as expired).
#[pg_extern(stable, name = "requests")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn requests_sql(
    state: default!(Option<&str>, "NULL"),
    max_rows: default!(i32, 100),
    before_id: default!(Option<i64>, "NULL"),
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
    if !(1..=10_000).contains(&max_rows) {
        Err::<(), _>(ApprovalError::MaxRows(max_rows)).or_raise("ai.requests");
    }
    let rows = as_extension_owner(|| {
        Spi::connect(|c| {
            let t = c.select(
                "SELECT r.id, r.st, r.risk_level, r.requester::text,
                        (SELECT count(DISTINCT a.approver) FROM ai.approvals a WHERE a.request_id = r.id AND a.decision = 'approve'),
                        coalesce(p.required_approvals, 1), r.created_at, r.expires_at, r.reason, r.normalized_sql
                   FROM (SELECT q.*, CASE WHEN q.state IN ('pending', 'approved') AND q.expires_at < now()
                                          THEN 'expired' ELSE q.state END AS st
                           FROM ai.approval_requests q
                          WHERE $3::int8 IS NULL OR q.id < $3::int8) r
                   LEFT JOIN ai.approval_policy p ON p.risk_level = r.risk_level
                  WHERE $1::text IS NULL OR r.st = $1::text
                  ORDER BY r.id DESC
                  LIMIT $2::int4",
                None,
                &[state.into(), max_rows.into(), before_id.into()],
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
    TableIterator::new(rows)
}
