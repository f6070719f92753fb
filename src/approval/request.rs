//! A new request: its impact taken with the requester's rights, stored with its hash, routed
//! by the approval policy.
use super::store::notify;
use super::store::{
    log, merge_stays_in_its_table, rule, sha256_hex, transition, ApprovalError, Result,
};
use super::workflow::{Rule, State};
use crate::impact::analyse as impact;
use crate::impact::model::Mode;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, current_user, role_path, SearchPath};
use crate::sqlparse::Kind;
use pgrx::JsonB;
use serde_json::{json, Value};

/// A new request is pending (NOTIFY and webhook); when its level needs no approval it is
/// approved at once, `details` going into the audit entry.
pub(super) fn route(id: i64, sha: &str, r: &Rule, details: Value) -> Result<()> {
    notify(id, State::Pending)?;
    if r.required == 0 {
        transition(
            id,
            State::Pending,
            State::Approved,
            Some("approved automatically: the policy needs no approval"),
        )?;
        log("auto_approved", id, sha, details)?;
    }
    Ok(())
}

/// A new request; with `batch_rows`, one whose UPDATE or DELETE runs in batches of that many
/// rows (see `batch.rs`).
pub fn request_batched(
    sp: &SearchPath,
    sql: &str,
    reason: Option<&str>,
    batch_rows: Option<i64>,
) -> Result<i64> {
    let path = role_path(sp.caller());
    let rsp = SearchPath::pin_for(path.clone());
    let r = store_request(&rsp, sql, reason, &path, batch_rows);
    rsp.restore();
    r.map(|(id, _)| id)
}

/// A new request's id and the impact it was made with (what its approvers see).
///
/// The statement is analysed with the requester's search_path made safe (pg_catalog first,
/// temporary schemas last), and the request keeps that path and the requester's current
/// role: an approved statement runs with both (`ai_architect.execute_as`), so its names
/// mean what they meant to its approvers, whoever executes it.
pub fn request_with_impact(
    sp: &SearchPath,
    sql: &str,
    reason: Option<&str>,
) -> Result<(i64, Value)> {
    let path = role_path(sp.caller());
    let rsp = SearchPath::pin_for(path.clone());
    let r = store_request(&rsp, sql, reason, &path, None);
    rsp.restore();
    r
}

fn store_request(
    sp: &SearchPath,
    sql: &str,
    reason: Option<&str>,
    path: &str,
    batch_rows: Option<i64>,
) -> Result<(i64, Value)> {
    let reading = impact::read(sql)?;
    match reading.kind {
        Kind::Insert | Kind::Update | Kind::Delete | Kind::Truncate | Kind::Ddl => {}
        Kind::Merge => {}
        // VACUUM, ANALYZE
        Kind::Other if reading.online.is_some() => {}
        Kind::Select => return Err(ApprovalError::NotAllowed("SELECT")),
        Kind::Copy => return Err(ApprovalError::NotAllowed("COPY")),
        Kind::Other => return Err(ApprovalError::NotAllowed("utility")),
    }
    let (mut doc, captures) = impact::analyse_in(sp, sql, snapshot_mode(&reading))?;
    doc["requested_as"] = json!(current_user()?);
    doc["search_path"] = json!(path);
    merge_stays_in_its_table(sp, &reading, &doc, &captures)?;
    // every row is backed up and restored by its key, inserted ones too
    if let Some(c) = captures.iter().find(|c| c.pk.is_empty()) {
        return Err(ApprovalError::NoPrimaryKey(c.display.clone()));
    }
    if let Some(n) = batch_rows {
        doc["batch"] = sp.as_caller(|| super::batch::plan(sql, n, &captures))?;
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
    route(id, &sha, &r, json!({"risk_level": risk}))?;
    Ok((id, doc))
}

/// The rows per table a request is approved for: exact counts; for MERGE and INSERT … ON
/// CONFLICT, whose actions depend on each row, a dry run (rolled back) is the exact count.
pub(super) fn snapshot_mode(r: &impact::Reading) -> Mode {
    if r.kind == Kind::Merge || r.upsert {
        Mode::DryRun
    } else {
        Mode::Exact
    }
}
