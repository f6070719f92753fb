//! SQL surface of the audit trail: ai.verify_audit() and ai.audit_entries() (the chain is written and verified in
//! [`super::log`]).
use super::log::verify;
use crate::error::OrRaise;
use crate::spi_util::Spi;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Recomputes the whole hash chain: `{"ok", "entries", "first_broken": {"id", "reason"}}`.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn verify_audit() -> JsonB {
    JsonB(crate::error::time_limited("ai.verify_audit", verify).or_raise("ai.verify_audit"))
}

/// The trail's entries, newest first, a page at a time: at most `max_rows`, older than
/// `before_id` when given, of one `action` when given. Granted like `ai.verify_audit()`.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn audit_entries(
    action: default!(Option<&str>, "NULL"),
    max_rows: default!(i32, 100),
    before_id: default!(Option<i64>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(at, pgrx::datum::TimestampWithTimeZone),
        name!(actor, String),
        name!(action, String),
        name!(object_type, Option<String>),
        name!(object_id, Option<String>),
        name!(details, JsonB),
    ),
> {
    if !(1..=10_000).contains(&max_rows) {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("ai.audit_entries: max_rows must be between 1 and 10000, got {max_rows}"),
            "page through the trail: pass the last id you saw as before_id"
        );
    }
    let rows = crate::spi_util::as_extension_owner(|| {
        Spi::connect(|c| {
            let t = c.select(
                "SELECT id, ts, actor::text, action, object_type, object_id, details FROM ai.audit_log
                  WHERE ($1::text IS NULL OR action = $1) AND ($3::int8 IS NULL OR id < $3)
                  ORDER BY id DESC LIMIT $2",
                None,
                &[action.into(), max_rows.into(), before_id.into()],
            )?;
            let mut out = Vec::new();
            for r in t {
                out.push((
                    r.get::<i64>(1)?.unwrap_or_default(),
                    r.get::<pgrx::datum::TimestampWithTimeZone>(2)?
                        .expect("an entry's time"),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<String>(4)?.unwrap_or_default(),
                    r.get::<String>(5)?,
                    r.get::<String>(6)?,
                    r.get::<JsonB>(7)?.unwrap_or(JsonB(serde_json::json!({}))),
                ));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
    })
    .or_raise("ai.audit_entries");
    TableIterator::new(rows)
}
