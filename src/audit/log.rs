//! The audit trail in SQL: appending an entry (serialised, hash-chained, as the extension
//! owner) and verifying the chain.
use super::chain::{self, Entry, Stored};
use crate::error::UserError;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("the audit log holds unexpected data: {0}")]
    Decode(String),
}

impl UserError for AuditError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    }
}

/// Appends one entry as the current session user; returns its id. The entry commits or
/// rolls back with the caller's transaction.
pub fn append(
    action: &str,
    object_type: Option<&str>,
    object_id: Option<String>,
    details: Value,
) -> Result<i64, AuditError> {
    as_extension_owner(|| {
        // the head row, locked: appends queue here; under REPEATABLE READ or SERIALIZABLE a
        // head moved by a concurrent append is a serialization failure, never a fork
        let (prev, entries): (Option<Vec<u8>>, Option<i64>) =
            Spi::get_two("SELECT hash, entries FROM ai.audit_head WHERE one FOR UPDATE")?;
        let entries =
            entries.ok_or_else(|| AuditError::Decode("the chain head row is missing".into()))?;
        // the details as jsonb will store them, so the hash covers exactly what is read back
        let stored: Option<String> =
            Spi::get_one_with_args("SELECT $1::jsonb::text", &[JsonB(details).into()])?;
        let details: Value = serde_json::from_str(&stored.unwrap_or_else(|| "{}".into()))
            .map_err(|e| AuditError::Decode(e.to_string()))?;
        let (id, ts_us, actor): (Option<i64>, Option<i64>, Option<String>) = Spi::get_three(
            "SELECT nextval(pg_catalog.pg_get_serial_sequence('ai.audit_log', 'id')),
                    (extract(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::int8, session_user::text",
        )?;
        let entry = Entry {
            id: id.unwrap_or_default(),
            ts_us: ts_us.unwrap_or_default(),
            actor: actor.unwrap_or_default(),
            action: action.to_string(),
            object_type: object_type.map(str::to_string),
            object_id,
            details,
        };
        let hash = chain::hash(prev.as_deref(), &entry);
        Spi::run_with_args(
            "INSERT INTO ai.audit_log (id, ts, actor, action, object_type, object_id, details, prev_hash, hash)
             OVERRIDING SYSTEM VALUE
             VALUES ($1, pg_catalog.to_timestamp(0) + ($2::text || ' microseconds')::interval, $3, $4, $5, $6, $7, $8, $9)",
            &[
                entry.id.into(),
                entry.ts_us.into(),
                entry.actor.clone().into(),
                entry.action.clone().into(),
                entry.object_type.clone().into(),
                entry.object_id.clone().into(),
                JsonB(entry.details.clone()).into(),
                prev.into(),
                hash.clone().into(),
            ],
        )?;
        let n = entries as u64 + 1;
        let mac = crate::guc::audit_hmac_key().map(|k| {
            chain::hmac_sha256(k.as_bytes(), &chain::head_message(entry.id, n, Some(&hash)))
        });
        Spi::run_with_args(
            "UPDATE ai.audit_head SET last_id = $1, entries = $2, hash = $3, mac = $4 WHERE one",
            &[
                entry.id.into(),
                (n as i64).into(),
                hash.clone().into(),
                mac.into(),
            ],
        )?;
        // the head in the server log too: a copy outside the database
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        pgrx::log!(
            "ai_architect audit head: entry {} of {n}, sha256 {hex}",
            entry.id
        );
        Ok(entry.id)
    })
}

pub(super) fn verify() -> Result<Value, AuditError> {
    // a page of entries at a time, by id: memory stays one page whatever the log's size
    const PAGE: i64 = 1000;
    let mut verifier = chain::Verifier::default();
    let mut last: Option<(i64, Vec<u8>)> = None;
    let mut count = 0u64;
    loop {
        let after = last.as_ref().map_or(i64::MIN, |(id, _)| *id);
        let page: Vec<Stored> = as_extension_owner(|| {
            Spi::connect(|c| {
                let table = c.select(
                    "SELECT id, (extract(epoch FROM ts) * 1000000)::int8, actor::text, action, object_type, object_id,
                            details::text, prev_hash, hash
                       FROM ai.audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                    None,
                    &[after.into(), PAGE.into()],
                )?;
                let mut out = Vec::new();
                for r in table {
                    let details: String = r.get(7)?.unwrap_or_else(|| "{}".into());
                    out.push(Stored {
                        entry: Entry {
                            id: r.get(1)?.unwrap_or_default(),
                            ts_us: r.get(2)?.unwrap_or_default(),
                            actor: r.get(3)?.unwrap_or_default(),
                            action: r.get(4)?.unwrap_or_default(),
                            object_type: r.get(5)?,
                            object_id: r.get(6)?,
                            details: serde_json::from_str(&details)
                                .map_err(|e| AuditError::Decode(e.to_string()))?,
                        },
                        prev_hash: r.get(8)?,
                        hash: r.get(9)?.unwrap_or_default(),
                    });
                }
                Ok::<_, AuditError>(out)
            })
        })?;
        let full = page.len() as i64 == PAGE;
        let mut going = true;
        for s in page {
            count += 1;
            last = Some((s.entry.id, s.hash.clone()));
            going = verifier.push(s);
            if !going {
                break;
            }
        }
        pgrx::check_for_interrupts!();
        if !full || !going {
            break;
        }
    }
    let v = verifier.finish();
    let head = as_extension_owner(|| {
        let (last_id, entries, hash, mac): (
            Option<i64>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
        ) = Spi::connect(|c| {
            let r = c
                .select(
                    "SELECT last_id, entries, hash, mac FROM ai.audit_head WHERE one",
                    None,
                    &[],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        Ok::<_, AuditError>(chain::Head {
            last_id: last_id.unwrap_or_default(),
            entries: entries.unwrap_or_default() as u64,
            hash,
            mac,
        })
    })?;
    let key = crate::guc::audit_hmac_key();
    let head_problem = chain::check_head(
        &head,
        count,
        last.as_ref().map(|(id, h)| (*id, h.as_slice())),
        key.as_deref().map(str::as_bytes),
    );
    let first_broken = v
        .first_broken
        .map(|(id, why)| json!({"id": id, "reason": why}))
        .or_else(|| {
            head_problem
                .as_ref()
                .map(|why| json!({"id": head.last_id, "reason": why}))
        });
    Ok(json!({
        "ok": v.ok && head_problem.is_none(),
        "entries": v.entries,
        "head": {"last_id": head.last_id, "entries": head.entries, "sealed": key.is_some()},
        "first_broken": first_broken,
    }))
}
