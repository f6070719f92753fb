//! The background worker: registered when the library is preloaded, it connects to
//! `ai_architect.audit_database` and, while the extension is installed there, runs the audit
//! every `ai_architect.audit_interval`, snapshots pg_stat_statements every
//! `ai_architect.snapshot_interval` and refreshes the schema catalog after DDL. It sleeps on
//! its latch, reloads settings on SIGHUP, stops on SIGTERM, starts only once recovery is over
//! (never on a standby) and is restarted by the postmaster after a crash.
pub mod audit;

use crate::guc;
use crate::spi_util::in_subtransaction;
use crate::spi_util::Spi;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::prelude::*;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

pub const WORKER_TYPE: &str = "ai_architect worker";
/// How often the worker looks for work it was not woken for (catalog changes).
const POLL: Duration = Duration::from_secs(10);
/// After a crash, the postmaster starts the worker again after this long.
const RESTART: Duration = Duration::from_secs(5);

pub fn init() {
    if !crate::status::api::preloaded() {
        return;
    }
    BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library("ai_architect")
        .set_function("ai_architect_worker_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(RESTART))
        .load();
}

/// What is due, from the times recorded in the database (so a restarted worker continues
/// the schedule instead of starting over).
struct Schedule {
    last_audit: Option<Instant>,
    last_snapshot: Option<Instant>,
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ai_architect_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = guc::audit_database();
    // never the bootstrap superuser: the worker plans other roles' statements (as those
    // roles) and writes only through the extension's functions
    let role = guc::worker_role();
    log!(
        "{WORKER_TYPE}: connecting to database {db:?} as role {role:?} (ai_architect.worker_role)"
    );
    BackgroundWorker::connect_worker_to_spi(Some(&db), Some(&role));
    log!("{WORKER_TYPE}: started in database {db:?} as role {role:?}");
    let mut sched: Option<Schedule> = None;
    let mut wait = Duration::from_millis(100);
    while BackgroundWorker::wait_latch(Some(wait)) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a process to apply a reloaded configuration.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            if guc::audit_database() != db {
                log!("{WORKER_TYPE}: audit_database changed, restarting to connect to it");
                // SAFETY: exit code 1 asks the postmaster to start the worker again.
                unsafe { pg_sys::proc_exit(1) };
            }
        }
        // SAFETY: a plain read of shared recovery state.
        if unsafe { pg_sys::RecoveryInProgress() } {
            wait = POLL;
            continue;
        }
        wait = BackgroundWorker::transaction(AssertUnwindSafe(|| tick(&mut sched)));
    }
    log!("{WORKER_TYPE}: stopping");
}

/// One wake-up: does what is due, returns how long to sleep.
fn tick(sched: &mut Option<Schedule>) -> Duration {
    let installed = Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'ai_architect')",
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !installed {
        // wait quietly; CREATE EXTENSION later is noticed at the next poll
        *sched = None;
        return POLL * 3;
    }
    let s = sched.get_or_insert_with(load_schedule);
    let audit_every = Duration::from_secs(guc::audit_interval_s());
    let snap_every = Duration::from_secs(guc::snapshot_interval_s());
    let due = |last: Option<Instant>, every: Duration| {
        !every.is_zero() && last.is_none_or(|t| t.elapsed() >= every)
    };
    if due(s.last_audit, audit_every) {
        s.last_audit = Some(Instant::now());
        s.last_snapshot = Some(Instant::now()); // the audit takes one
        guarded("audit", || {
            audit::audit().map(|_| ()).map_err(|e| e.to_string())
        });
    } else if due(s.last_snapshot, snap_every) {
        s.last_snapshot = Some(Instant::now());
        guarded("snapshot", || {
            crate::monitor::api::snapshot()
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }
    guarded("catalog refresh", || {
        crate::catalog::api::refresh_if_stale("ai_architect worker").map_err(|e| e.to_string())
    });
    let next = |last: Option<Instant>, every: Duration| {
        if every.is_zero() {
            POLL
        } else {
            every.saturating_sub(last.map(|t| t.elapsed()).unwrap_or_default())
        }
    };
    next(s.last_audit, audit_every)
        .min(next(s.last_snapshot, snap_every))
        .min(POLL)
        .max(Duration::from_millis(50))
}

/// Runs one unit of work in a subtransaction: its ERROR is logged, the worker goes on.
fn guarded(what: &str, f: impl FnOnce() -> Result<(), String>) {
    match in_subtransaction(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warning!("{WORKER_TYPE}: {what} failed: {e}"),
        Err(e) => warning!("{WORKER_TYPE}: {what} failed: {}", e.message),
    }
}

/// The last audit and snapshot as recorded, translated to this process's clock.
fn load_schedule() -> Schedule {
    let ago = |sql: &str| -> Option<Instant> {
        let secs = Spi::get_one::<f64>(sql).ok().flatten()?;
        Instant::now().checked_sub(Duration::from_secs_f64(secs.max(0.0)))
    };
    Schedule {
        last_audit: ago(
            "SELECT extract(epoch FROM now() - max(started_at))::float8 FROM ai.audit_runs
              WHERE backend_type = 'ai_architect worker'",
        ),
        last_snapshot: ago(
            "SELECT extract(epoch FROM now() - max(taken_at))::float8 FROM ai.stat_snapshots",
        ),
    }
}
