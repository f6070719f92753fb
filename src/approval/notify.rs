//! Telling others: a NOTIFY and a webhook message per state change (sent after commit by
//! ai.deliver_notifications), and the expiry of requests nobody decided in time.
use super::store::{log, notify, ApprovalError, Result};
use super::workflow::State;
use crate::error::OrRaise;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

/// Sends queued webhook messages (oldest first, at most `max`). A message the endpoint refuses
/// (an HTTP error status) counts an attempt and is given up after 5; an endpoint that does not
/// answer (refused connection, unknown host, timeout) stops the batch and counts no attempt:
/// the messages wait for it, and `unreachable` says why.
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
    // a connection per message: an endpoint that closes kept-alive connections (many do)
    // would otherwise make the next message look like an endpoint that does not answer
    let agent = ureq::AgentBuilder::new()
        .timeout(timeout)
        .max_idle_connections(0)
        .build();
    let (mut sent, mut failed) = (0, 0);
    let mut unreachable: Option<String> = None;
    for m in batch.as_array().cloned().unwrap_or_default() {
        let id = m["id"].as_i64().unwrap_or_default();
        let error = match agent.post(&url).send_json(m["payload"].clone()) {
            Ok(_) => None,
            Err(ureq::Error::Status(code, _)) => Some(format!("HTTP {code}")),
            Err(ureq::Error::Transport(t)) => {
                // ureq's own text starts with the whole URL: only what went wrong is kept
                let what = match std::error::Error::source(&t) {
                    Some(cause) => format!("{}: {cause}", t.kind()),
                    None => t.kind().to_string(),
                };
                let why = format!("{} did not answer ({what})", endpoint(&url));
                Spi::run_with_args(
                    "UPDATE ai.notification_outbox SET last_error = $2 WHERE id = $1",
                    &[id.into(), why.clone().into()],
                )?;
                unreachable = Some(why);
                break;
            }
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
    Ok(json!({"sent": sent, "failed": failed, "unreachable": unreachable}))
}

/// The background worker's delivery: the queued messages, as the extension's owner (the
/// worker's role has no rights on the queue). An endpoint that does not answer is an error
/// (the worker says it once and waits, longer each time); the messages stay queued.
pub fn deliver_queued() -> std::result::Result<(), String> {
    if crate::guc::approval_webhook_url().is_none() {
        return Ok(());
    }
    let r = as_extension_owner(|| deliver(100)).map_err(|e| e.to_string())?;
    match r["unreachable"].as_str() {
        None => Ok(()),
        Some(why) => {
            let waiting = as_extension_owner(|| {
                Spi::get_one::<i64>(
                    "SELECT count(*) FROM ai.notification_outbox WHERE sent_at IS NULL AND attempts < 5",
                )
            })
            .ok()
            .flatten()
            .unwrap_or(0);
            Err(format!(
                "{why}; {waiting} message(s) wait and are sent when it answers (hint: check the endpoint, or ai_architect.approval_webhook_url)"
            ))
        }
    }
}

/// A webhook URL as it may be logged: scheme, host and port (a path or user part may hold a
/// secret).
fn endpoint(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        format!("the webhook {host}")
    } else {
        format!("the webhook {scheme}://{host}")
    }
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
pub(super) fn expire_requests_sql() -> i64 {
    crate::error::primary_only("ai.expire_requests");
    expire().or_raise("ai.expire_requests")
}

/// Sends the queued webhook messages; schedule it with pg_cron (e.g. every minute).
#[pg_extern(volatile, name = "deliver_notifications")]
#[search_path(pg_catalog, pg_temp)]
pub(super) fn deliver_notifications_sql(max: default!(i64, 100)) -> JsonB {
    crate::error::primary_only("ai.deliver_notifications");
    JsonB(
        crate::error::time_limited("ai.deliver_notifications", || deliver(max))
            .or_raise("ai.deliver_notifications"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_endpoint_is_shown_without_its_secrets() {
        assert_eq!(
            super::endpoint("https://bot:s3cret@hooks.example.com:8443/T0/B1/xyz?token=abc"),
            "the webhook https://hooks.example.com:8443"
        );
        assert_eq!(
            super::endpoint("http://127.0.0.1:9/hook"),
            "the webhook http://127.0.0.1:9"
        );
    }
}
