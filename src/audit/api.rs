//! SQL surface of the audit trail: ai.verify_audit() (the chain is written and verified in
//! [`super::log`]).
use super::log::verify;
use crate::error::OrRaise;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Recomputes the whole hash chain: `{"ok", "entries", "first_broken": {"id", "reason"}}`.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn verify_audit() -> JsonB {
    JsonB(crate::error::time_limited("ai.verify_audit", verify).or_raise("ai.verify_audit"))
}
