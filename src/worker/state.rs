//! The worker's state in shared memory, and what it says while it waits: read by
//! `ai.version()` as well as by the worker (this file imports nothing of the extension but its
//! settings and the identifier quoting).
use crate::guc;
use pgrx::atomics::PgAtomic;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where the worker is, in shared memory (so that a restarted worker and `ai.version()` see it).
pub(super) static STATE: PgAtomic<AtomicU32> =
    unsafe { PgAtomic::new(c"ai_architect_worker_state") };
// 0, the state after the server starts: the next start checks that its role and database
// exist before connecting.
/// The check passed: the next start connects.
pub(super) const READY: u32 = 1;
/// Connected and working.
pub(super) const RUNNING: u32 = 2;
/// Waiting, with a WARNING now and then, for its role to be created.
pub(super) const NO_ROLE: u32 = 3;
/// Waiting for its database to be created.
pub(super) const NO_DATABASE: u32 = 4;
/// How often a missing role or database is looked for again (a cheap catalog lookup).
pub(super) const RECHECK: Duration = Duration::from_secs(5);
/// The WARNING that says what is missing comes at most once per period, which doubles from
/// FIRST_WARN up to MAX_WARN.
pub(super) const FIRST_WARN: Duration = Duration::from_secs(60);
pub(super) const MAX_WARN: Duration = Duration::from_secs(3600);

/// What `ai.version()` says of the worker when it is not simply running: None when it is
/// running or starting. Only when the library is preloaded (the state lives in shared memory
/// then only).
pub fn waiting_for() -> Option<String> {
    let (db, role) = (guc::audit_database(), guc::worker_role());
    match STATE.get().load(Ordering::Relaxed) {
        NO_ROLE => Some(missing_role(&role)),
        NO_DATABASE => Some(missing_database(&db)),
        _ => None,
    }
}

pub(super) fn missing_role(role: &str) -> String {
    format!(
        "the background worker waits for its role {role:?}: CREATE ROLE {} LOGIN IN ROLE pg_monitor; (or set ai_architect.worker_role to an existing non-superuser role and reload)",
        crate::sqlparse::ident(role)
    )
}

pub(super) fn missing_database(db: &str) -> String {
    format!(
        "the background worker waits for its database {db:?}: create it, or set ai_architect.audit_database to the database ai_architect is installed in and reload"
    )
}
