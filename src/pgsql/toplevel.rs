//! Running one statement PostgreSQL runs only outside a transaction block (see [`online`]) as
//! a top-level command, the way a client's simple query runs it: parsed, analysed, planned
//! and run through a portal in a transaction of its own, which the statement may commit and
//! restart internally (a concurrent index build does). For a background worker that is
//! connected to a database and in no transaction.
//!
//! [`online`]: super::online
use crate::spi_util::CaughtPgError;
use pgrx::pg_sys;
use std::ffi::CString;
use std::panic::AssertUnwindSafe;

/// Runs `sql` as `role` (its rights, not the worker's), stopped after `timeout_ms`. The text
/// must be exactly one statement of the kinds [`super::online`] reads; anything else is
/// refused before it runs. An ERROR comes back as a value with the transaction aborted and
/// the worker's own identity restored.
pub fn run_top_level(sql: &str, role: pg_sys::Oid, timeout_ms: u64) -> Result<(), CaughtPgError> {
    let text = CString::new(sql).map_err(|_| refused("the statement contains a NUL byte"))?;
    let mut me = pg_sys::InvalidOid;
    let mut context = 0i32;
    // SAFETY: reads the worker's identity, restored below on both paths.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut me, &mut context) };
    // SAFETY: the sequence of PostgreSQL's simple-query path (postgres.c) for one statement,
    // outside any transaction; on an ERROR the transaction is aborted as the main loop does.
    let outcome = unsafe {
        pgrx::PgTryBuilder::new(AssertUnwindSafe(|| {
            crate::spi_util::with_timeout(timeout_ms, || {
                pg_sys::StartTransactionCommand();
                pg_sys::SetUserIdAndSecContext(
                    role,
                    context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
                );
                // the trees must outlive the statement's own commits
                let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
                let list =
                    pgrx::PgList::<pg_sys::RawStmt>::from_pg(pg_sys::pg_parse_query(text.as_ptr()));
                let raw = match (list.len(), list.head()) {
                    (1, Some(raw)) if super::online::online((*raw).stmt).is_some() => raw,
                    _ => pgrx::error!(
                        "only one statement that runs outside a transaction block is run this way"
                    ),
                };
                let tag = pg_sys::CreateCommandTag((*raw).stmt);
                pg_sys::BeginCommand(tag, pg_sys::CommandDest::DestNone);
                pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, text.as_ptr());
                let snapshot = pg_sys::analyze_requires_snapshot(raw);
                if snapshot {
                    pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
                }
                let queries = pg_sys::pg_analyze_and_rewrite_fixedparams(
                    raw,
                    text.as_ptr(),
                    std::ptr::null(),
                    0,
                    std::ptr::null_mut(),
                );
                let plans =
                    pg_sys::pg_plan_queries(queries, text.as_ptr(), 0, std::ptr::null_mut());
                if snapshot {
                    pg_sys::PopActiveSnapshot();
                }
                let portal = pg_sys::CreatePortal(c"".as_ptr(), true, true);
                (*portal).visible = false;
                pg_sys::PortalDefineQuery(
                    portal,
                    std::ptr::null(),
                    text.as_ptr(),
                    tag,
                    plans,
                    std::ptr::null_mut(),
                );
                pg_sys::PortalStart(portal, std::ptr::null_mut(), 0, std::ptr::null_mut());
                let receiver = pg_sys::CreateDestReceiver(pg_sys::CommandDest::DestNone);
                pg_sys::MemoryContextSwitchTo(old);
                let mut qc = pg_sys::QueryCompletion::default();
                #[cfg(not(feature = "pg18"))]
                pg_sys::PortalRun(
                    portal,
                    i64::MAX as _,
                    true,
                    true,
                    receiver,
                    receiver,
                    &mut qc,
                );
                #[cfg(feature = "pg18")]
                pg_sys::PortalRun(portal, i64::MAX as _, true, receiver, receiver, &mut qc);
                if let Some(destroy) = (*receiver).rDestroy {
                    destroy(receiver);
                }
                pg_sys::PortalDrop(portal, false);
                pg_sys::CommitTransactionCommand();
                pg_sys::SetUserIdAndSecContext(me, context);
                pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, text.as_ptr());
                Ok(())
            })
        }))
        .catch_others(|e| {
            pg_sys::AbortCurrentTransaction();
            pg_sys::SetUserIdAndSecContext(me, context);
            pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, text.as_ptr());
            Err(CaughtPgError::from(&e))
        })
        .execute()
    };
    outcome
}

fn refused(why: &str) -> CaughtPgError {
    CaughtPgError {
        message: why.to_string(),
        code: pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        detail: None,
        hint: None,
    }
}
