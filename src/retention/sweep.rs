//! Removes what the retention settings no longer keep, as the extension owner, a bounded
//! amount per run (the next run goes on): row backups whose rollback window closed, finished
//! requests [`super::removable`] lets go (with their approvals, executions, backups and
//! webhook messages), questions without feedback, idle conversations, old audit runs. The
//! audit chain is never touched: entries about a removed request stay, and still verify.
use super::{removable, RequestFacts, Settings, FINAL_STATES};
use crate::guc;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use serde_json::{json, Value};

/// Requests examined per page, and removed at most per run.
const PAGE: i64 = 1_000;
const MAX_REQUESTS: usize = 10_000;
/// Usage rows removed at most per run.
const MAX_USAGE: i64 = 50_000;

type Result<T> = std::result::Result<T, pgrx::spi::Error>;

fn deleted(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<i64> {
    Ok(Spi::get_one_with_args::<i64>(
        &format!("WITH d AS ({sql} RETURNING 1) SELECT count(*) FROM d"),
        args,
    )?
    .unwrap_or(0))
}

/// One pass over every kind of state; returns what it removed.
pub fn sweep() -> Result<Value> {
    let settings = Settings {
        request_retention_s: guc::request_retention_s() as f64,
        rollback_window_s: guc::rollback_window_s() as f64,
    };
    as_extension_owner(|| {
        let backups = deleted(
            "DELETE FROM ai.backups b USING ai.executions e
              WHERE b.execution_id = e.id AND e.finished_at < now() - $1 * interval '1 second'",
            &[guc::rollback_window_s().into()],
        )?;
        let (requests, more_requests) = requests(&settings)?;
        let usage = deleted(
            "DELETE FROM ai.query_usage_stats WHERE id IN (
                 SELECT u.id FROM ai.query_usage_stats u
                  WHERE u.created_at < now() - $1 * interval '1 second'
                    AND NOT EXISTS (SELECT 1 FROM ai.query_feedback f WHERE f.usage_id = u.id)
                  ORDER BY u.id LIMIT $2)",
            &[guc::usage_retention_s().into(), MAX_USAGE.into()],
        )?;
        let chat_turns = deleted(
            "DELETE FROM ai.chat_messages m
              USING (SELECT user_name, session FROM ai.chat_messages GROUP BY 1, 2
                      HAVING max(created_at) < now() - $1 * interval '1 second') idle
              WHERE m.user_name = idle.user_name AND m.session = idle.session",
            &[guc::chat_retention_s().into()],
        )?;
        let audit_runs = deleted(
            "DELETE FROM ai.audit_runs WHERE started_at < now() - $1 * interval '1 day'",
            &[guc::snapshot_retention_days().into()],
        )?;
        Ok(json!({
            "backups": backups,
            "requests": requests,
            "usage": usage,
            "chat_turns": chat_turns,
            "audit_runs": audit_runs,
            "more": more_requests || usage == MAX_USAGE,
        }))
    })
}

/// Finished requests old enough to be candidates, a page at a time in id order; the rule
/// decides which go. Returns how many went and whether the run stopped at its bound.
fn requests(s: &Settings) -> Result<(i64, bool)> {
    let finals: Vec<String> = FINAL_STATES.iter().map(|s| s.to_string()).collect();
    let (mut after, mut gone, mut total) = (0i64, Vec::new(), 0i64);
    loop {
        let page = Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c.select(
                "SELECT r.id, r.state,
                        extract(epoch FROM now() - greatest(r.created_at, r.decided_at,
                                CASE WHEN r.state = 'expired' THEN least(r.expires_at, now()) END,
                                max(e.finished_at), max(e.rolled_back_at)))::float8,
                        extract(epoch FROM now() - max(e.finished_at) FILTER (WHERE e.status = 'succeeded' OR e.detail ? 'batches'))::float8,
                        EXISTS (SELECT 1 FROM ai.approval_requests p JOIN ai.executions pe ON pe.id = p.rollback_of
                                 WHERE pe.request_id = r.id AND p.state IN ('pending', 'approved'))
                   FROM ai.approval_requests r LEFT JOIN ai.executions e ON e.request_id = r.id
                  WHERE r.id > $1 AND r.state = ANY ($2) AND r.created_at < now() - $3 * interval '1 second'
                    AND NOT EXISTS (SELECT 1 FROM ai.executions x WHERE x.request_id = r.id AND x.status IN ('running', 'rolling_back'))
                  GROUP BY r.id ORDER BY r.id LIMIT $4",
                None,
                &[
                    after.into(),
                    finals.clone().into(),
                    (s.request_retention_s as i64).into(),
                    PAGE.into(),
                ],
            )? {
                out.push(RequestFacts {
                    id: r.get::<i64>(1)?.unwrap_or(0),
                    state: r.get::<String>(2)?.unwrap_or_default(),
                    idle_s: r.get::<f64>(3)?.unwrap_or(0.0),
                    undoable_since_s: r.get::<f64>(4)?,
                    rollback_asked: r.get::<bool>(5)?.unwrap_or(true),
                });
            }
            Ok::<_, pgrx::spi::Error>(out)
        })?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() as i64 == PAGE;
        gone.extend(page.iter().filter(|f| removable(f, s)).map(|f| f.id));
        let stop = gone.len() >= MAX_REQUESTS;
        if stop {
            gone.truncate(MAX_REQUESTS);
        }
        if !gone.is_empty() {
            total += remove(&gone)?;
            gone.clear();
        }
        if stop {
            return Ok((total, true));
        }
        if !full {
            break;
        }
    }
    Ok((total, false))
}

/// Removes requests by id, with what hangs off them.
fn remove(ids: &[i64]) -> Result<i64> {
    let ids = ids.to_vec();
    Spi::run_with_args(
        "DELETE FROM ai.notification_outbox WHERE request_id = ANY ($1)",
        &[ids.clone().into()],
    )?;
    // backups go with their executions, approvals with their requests
    Spi::run_with_args(
        "DELETE FROM ai.executions WHERE request_id = ANY ($1)",
        &[ids.clone().into()],
    )?;
    deleted(
        "DELETE FROM ai.approval_requests WHERE id = ANY ($1)",
        &[ids.into()],
    )
}
