//! The background worker: registered when the library is preloaded, it connects to
//! `ai_architect.audit_database` and, while the extension is installed there, runs the audit
//! every `ai_architect.audit_interval`, snapshots pg_stat_statements every
//! `ai_architect.snapshot_interval` (each time removing what the retention settings no longer
//! keep) and refreshes the schema catalog after DDL. It sleeps on
//! its latch, reloads settings on SIGHUP, stops on SIGTERM, starts only once recovery is over
//! (never on a standby) and is restarted by the postmaster after a crash.
pub mod audit;
pub mod backoff;
pub mod state;

use crate::guc;
use crate::spi_util::in_subtransaction;
use crate::spi_util::Spi;
use backoff::Backoff;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::pg_shmem_init;
use pgrx::prelude::*;
use state::{
    missing_database, missing_role, FIRST_WARN, MAX_WARN, NO_DATABASE, NO_ROLE, READY, RECHECK,
    RUNNING, STATE,
};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub const WORKER_TYPE: &str = "ai_architect worker";
/// How often the worker looks for work it was not woken for (catalog changes).
const POLL: Duration = Duration::from_secs(10);
/// After a crash, the postmaster starts the worker again after this long.
const RESTART: Duration = Duration::from_secs(5);

#[allow(unexpected_cfgs)] // the macro also names PostgreSQL versions this build does not have
pub fn init() {
    if !crate::status::server::preloaded() {
        return;
    }
    pg_shmem_init!(STATE);
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
    // A start first checks, connected to no database, that its role and database exist (a
    // missing one would make every restart end in a FATAL, every few seconds, forever); only
    // the start after a passed check connects.
    if STATE.get().swap(RUNNING, Ordering::Relaxed) != READY {
        wait_until_connectable();
        STATE.get().store(READY, Ordering::Relaxed);
        // SAFETY: exit code 1 asks the postmaster to start the worker again, now to connect.
        unsafe { pg_sys::proc_exit(1) };
    }
    let db = guc::audit_database();
    // never the bootstrap superuser: the worker plans other roles' statements (as those
    // roles) and writes only through the extension's functions
    let role = guc::worker_role();
    BackgroundWorker::connect_worker_to_spi(Some(&db), Some(&role));
    log!("{WORKER_TYPE}: started in database {db:?} as role {role:?}");
    let mut sched: Option<Schedule> = None;
    let mut failures = Backoff::new(FIRST_WARN, MAX_WARN);
    let mut reported: Option<String> = None;
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
        wait = BackgroundWorker::transaction(AssertUnwindSafe(|| tick(&mut sched, &mut failures)));
        // a write to this backend's own activity slot: cheap, so each change is shown
        let now_failing = failures.summary(Instant::now());
        if now_failing != reported {
            report_activity(now_failing.as_deref());
            reported = now_failing;
        }
    }
    log!("{WORKER_TYPE}: stopping");
}

/// Connected to no database (the shared catalogs only), waits until the worker's role and
/// database exist, looking again every few seconds (and at once after a reload): a WARNING
/// says what is missing and how to fix it, at most once per period, the period doubling
/// from a minute to an hour. Returns when both exist; exits on SIGTERM.
fn wait_until_connectable() {
    BackgroundWorker::connect_worker_to_spi(None, None);
    let mut period = FIRST_WARN;
    let mut next_warning = Instant::now();
    loop {
        let (db, role) = (guc::audit_database(), guc::worker_role());
        let missing = BackgroundWorker::transaction(|| {
            if !shared_catalog_has(pg_sys::AuthIdRelationId, &role) {
                Some(NO_ROLE)
            } else if !shared_catalog_has(pg_sys::DatabaseRelationId, &db) {
                Some(NO_DATABASE)
            } else {
                None
            }
        });
        let Some(state) = missing else {
            return;
        };
        STATE.get().store(state, Ordering::Relaxed);
        if Instant::now() >= next_warning {
            let why = if state == NO_ROLE {
                missing_role(&role)
            } else {
                missing_database(&db)
            };
            warning!(
                "{WORKER_TYPE}: {why} (this message again in {} min at the earliest)",
                period.as_secs() / 60
            );
            next_warning = Instant::now() + period;
            period = (period * 2).min(MAX_WARN);
        }
        if !BackgroundWorker::wait_latch(Some(RECHECK)) {
            // SAFETY: SIGTERM: a clean exit, not restarted.
            unsafe { pg_sys::proc_exit(0) };
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a process to apply a reloaded configuration.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
    }
}

/// Whether pg_authid or pg_database (shared catalogs, whose rows start with an oid and a name)
/// holds a row named `name`: a plain scan of the table, as a process connected to no database
/// may do (the caches and indexes behind get_role_oid would need a database's pg_class once an
/// invalidation arrives).
fn shared_catalog_has(catalog: pg_sys::Oid, name: &str) -> bool {
    /// The leading columns of both catalogs.
    #[repr(C)]
    struct Named {
        oid: pg_sys::Oid,
        name: pg_sys::NameData,
    }
    let mut found = false;
    // SAFETY: a catalog scan inside the caller's transaction, the relation opened and closed
    // here; each tuple's data is read only while the scan holds it.
    unsafe {
        let rel = pg_sys::table_open(catalog, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
        loop {
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            let header = (*tuple).t_data;
            let row = (header as *const u8).add((*header).t_hoff as usize) as *const Named;
            let n = std::ffi::CStr::from_ptr((*row).name.data.as_ptr());
            if n.to_bytes() == name.as_bytes() {
                found = true;
                break;
            }
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    }
    found
}

/// One wake-up: does what is due, returns how long to sleep.
fn tick(sched: &mut Option<Schedule>, failures: &mut Backoff) -> Duration {
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
        let mut result = None;
        guarded("audit", failures, || {
            result = Some(audit::audit().map_err(told)?);
            Ok(())
        });
        if let Some(r) = result {
            audit_parts(failures, &r);
        }
    } else if due(s.last_snapshot, snap_every) {
        s.last_snapshot = Some(Instant::now());
        guarded("snapshot", failures, || {
            crate::monitor::insights::snapshot()
                .map(|_| ())
                .map_err(told)
        });
        // the audit sweeps too; between audits, each snapshot does
        guarded("retention", failures, || {
            crate::retention::sweep::sweep().map(|_| ()).map_err(told)
        });
    }
    // queued webhook messages (an endpoint that does not answer is tried again later)
    guarded(
        "webhook delivery",
        failures,
        crate::approval::notify::deliver_queued,
    );
    guarded("catalog refresh", failures, || {
        crate::catalog::refresh::refresh_if_stale("ai_architect worker").map_err(told)
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

/// An error as the worker says it: the message and the hint with the fix.
fn told<E: crate::error::UserError>(e: E) -> String {
    crate::error::with_hint(&e)
}

/// The parts of an audit that can fail on their own (a missing pg_stat_statements or HypoPG):
/// the run goes on without them and lists them in its result; the worker also says each in the
/// log, with its fix, once per backoff period, and that it works again once it does.
const AUDIT_PARTS: [(&str, &str); 6] = [
    ("snapshot: ", "audit snapshot"),
    ("slow queries: ", "audit slow queries"),
    ("regressions: ", "audit regressions"),
    ("insights: ", "audit insights"),
    ("index advice: ", "audit index advice"),
    ("retention: ", "audit retention"),
];

fn audit_parts(failures: &mut Backoff, result: &serde_json::Value) {
    if result.get("skipped").is_some() {
        // another session's audit ran instead: this one says nothing about the parts
        return;
    }
    let warnings: Vec<&str> = result["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let now = Instant::now();
    for (prefix, unit) in AUDIT_PARTS {
        match warnings.iter().find_map(|w| w.strip_prefix(prefix)) {
            None => {
                if failures.succeeded(unit) {
                    log!("{WORKER_TYPE}: {unit} works again");
                }
            }
            Some(why) if failures.due(unit, now) => {
                let wait = failures.failed(unit, why, now);
                warning!(
                    "{WORKER_TYPE}: {unit} failed: {why}; said again in {} s at the earliest",
                    wait.as_secs()
                );
            }
            Some(_) => {}
        }
    }
}

/// Runs one unit of work in a subtransaction, under ai_architect.work_timeout_ms, when it is
/// not waiting out a backoff: its ERROR is logged with the fix, once per backoff period (a
/// minute, doubling up to an hour), the worker goes on; a unit that works again says so.
fn guarded(what: &'static str, failures: &mut Backoff, f: impl FnOnce() -> Result<(), String>) {
    let now = Instant::now();
    if !failures.due(what, now) {
        return;
    }
    let err = match in_subtransaction(AssertUnwindSafe(|| {
        crate::spi_util::with_timeout(guc::work_timeout_ms(), f)
    })) {
        Ok(Ok(())) => {
            if failures.succeeded(what) {
                log!("{WORKER_TYPE}: {what} works again");
            }
            return;
        }
        Ok(Err(e)) => e,
        Err(e) => match &e.hint {
            Some(h) => format!("{} (hint: {h})", e.message),
            None => e.message.clone(),
        },
    };
    let wait = failures.failed(what, &err, now);
    warning!(
        "{WORKER_TYPE}: {what} failed: {err}; next try in {} s",
        wait.as_secs()
    );
}

/// Shows what fails in the worker's row of pg_stat_activity (read by ai.version()).
fn report_activity(failing: Option<&str>) {
    crate::spi_util::report_activity(false, failing.unwrap_or(""));
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
