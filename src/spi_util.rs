//! Small helpers every capability uses around SPI.
use pgrx::prelude::*;

/// The role that owns the extension (and so its state tables).
fn extension_owner() -> Result<pg_sys::Oid, pgrx::spi::Error> {
    Ok(Spi::get_one::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'ai_architect'",
    )?
    .unwrap_or(pg_sys::InvalidOid))
}

/// Restores the caller's identity when dropped, also when an ERROR unwinds through.
struct RestoreUser {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for RestoreUser {
    fn drop(&mut self) {
        // SAFETY: restores exactly what GetUserIdAndSecContext returned.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) }
    }
}

/// Runs `f` with the extension owner's rights, as a restricted operation (no SET ROLE, no
/// temporary objects): how a function that any role may call writes the state tables that
/// no role but the owner may write. Callers check the caller's own rights first.
pub fn as_extension_owner<R, E: From<pgrx::spi::Error>>(
    f: impl FnOnce() -> Result<R, E>,
) -> Result<R, E> {
    as_role(extension_owner()?, f)
}

/// Runs `f` as `role` (a restricted operation), restoring the current identity afterwards.
pub fn as_role<R, E>(role: pg_sys::Oid, f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
    let owner = role;
    let mut user = pg_sys::InvalidOid;
    let mut context = 0i32;
    // SAFETY: plain reads and writes of the backend's current user, on the main thread; the
    // guard restores them, and transaction abort restores them if anything escapes.
    let _guard = unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        RestoreUser { user, context }
    };
    f()
}

/// pgvector's cosine-distance operator and type, qualified with the schema it lives in, for
/// queries that run with a pinned search_path: `(column <=> $1::real[]::vector)`.
pub struct VectorSql {
    pub distance: String,
    pub vector: String,
}

impl VectorSql {
    pub fn new() -> Result<VectorSql, pgrx::spi::Error> {
        let vs = crate::sqlparse::ident(&vector_schema()?);
        Ok(VectorSql {
            distance: format!("OPERATOR({vs}.<=>)"),
            vector: format!("{vs}.vector"),
        })
    }

    /// SQL for the cosine distance between `column` and the real[] parameter `$n`.
    pub fn distance_to(&self, column: &str, param: usize) -> String {
        format!(
            "({column} {} ${param}::real[]::{})",
            self.distance, self.vector
        )
    }
}

/// What this background process says it is doing, in its row of pg_stat_activity (`query`,
/// with `state` active when `running`): how a worker tells a DBA what it waits for.
pub fn report_activity(running: bool, text: &str) {
    let text = std::ffi::CString::new(text.replace('\0', "")).unwrap_or_default();
    let state = if running {
        pg_sys::BackendState::STATE_RUNNING
    } else {
        pg_sys::BackendState::STATE_IDLE
    };
    // SAFETY: the backend's own activity slot, written from its main thread.
    unsafe { pg_sys::pgstat_report_activity(state, text.as_ptr()) };
}

/// Schema that pgvector is installed in.
/// The role that opened the session (the person a function acts for; SET ROLE keeps it).
pub fn session_user() -> Result<String, pgrx::spi::Error> {
    Ok(Spi::get_one::<String>("SELECT session_user::text")?.unwrap_or_default())
}

/// The role whose rights are in effect now (after SET ROLE, inside SECURITY DEFINER).
pub fn current_user() -> Result<String, pgrx::spi::Error> {
    Ok(Spi::get_one::<String>("SELECT current_user::text")?.unwrap_or_default())
}

pub fn vector_schema() -> Result<String, pgrx::spi::Error> {
    Ok(extension_schema("vector")?.unwrap_or_else(|| "public".into()))
}

/// Schema an extension is installed in (unquoted), or None when it is not installed here.
pub fn extension_schema(extension: &str) -> Result<Option<String>, pgrx::spi::Error> {
    Spi::get_one_with_args::<String>(
        "SELECT (SELECT n.nspname::text FROM pg_catalog.pg_extension e
                   JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1)",
        &[extension.into()],
    )
}

/// A PostgreSQL error caught inside [`in_subtransaction`].
#[derive(Debug, Clone)]
pub struct CaughtPgError {
    pub message: String,
    pub code: pgrx::PgSqlErrorCode,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl From<&pgrx::pg_sys::panic::CaughtError> for CaughtPgError {
    /// An ERROR caught by `PgTryBuilder`, as a value.
    fn from(e: &pgrx::pg_sys::panic::CaughtError) -> CaughtPgError {
        use pgrx::pg_sys::panic::CaughtError;
        let report = match e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
            CaughtError::RustPanic { ereport, .. } => ereport,
        };
        CaughtPgError {
            message: report.message().to_string(),
            code: report.sql_error_code(),
            detail: report.detail().map(|d| d.to_string()),
            hint: report.hint().map(|h| h.to_string()),
        }
    }
}

impl CaughtPgError {
    pub fn internal(message: String) -> CaughtPgError {
        CaughtPgError {
            message,
            code: pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            detail: None,
            hint: None,
        }
    }

    /// The query was cancelled: by a timeout or by the user.
    pub fn is_cancel(&self) -> bool {
        self.code == pgrx::PgSqlErrorCode::ERRCODE_QUERY_CANCELED
    }

    /// Raises the error again, unchanged.
    pub fn rethrow(&self) -> ! {
        let mut r = pgrx::pg_sys::panic::ErrorReport::new(self.code, self.message.clone(), "");
        if let Some(d) = &self.detail {
            r = r.set_detail(d.clone());
        }
        r.report(pgrx::PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Runs `f` in a subtransaction: an ERROR inside rolls back just that work and comes back as
/// a value (the PL/pgSQL EXCEPTION block pattern), so callers can explain it in their terms.
pub fn in_subtransaction<R>(
    f: impl FnOnce() -> R + std::panic::UnwindSafe,
) -> Result<R, CaughtPgError> {
    subtransaction(f, true)
}

/// Runs `f` in a subtransaction that is rolled back whatever happens: nothing `f` writes
/// remains. An ERROR comes back as a value.
pub fn in_rolled_back_subtransaction<R>(
    f: impl FnOnce() -> R + std::panic::UnwindSafe,
) -> Result<R, CaughtPgError> {
    subtransaction(f, false)
}

fn subtransaction<R>(
    f: impl FnOnce() -> R + std::panic::UnwindSafe,
    keep: bool,
) -> Result<R, CaughtPgError> {
    // SAFETY: the standard internal-subtransaction protocol: remember the memory context and
    // resource owner, begin, and on either path release or roll back, then restore both.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        pgrx::PgTryBuilder::new(std::panic::AssertUnwindSafe(move || {
            let r = f();
            if keep {
                pg_sys::ReleaseCurrentSubTransaction();
            } else {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
            }
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            Ok(r)
        }))
        .catch_others(move |e| {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            Err(CaughtPgError::from(&e))
        })
        .execute()
    }
}

/// The search_path handling of functions that run SQL text written by the caller.
///
/// Such functions cannot carry `SET search_path` in their definition: the caller's value is
/// what their SQL means. They start by calling [`SearchPath::pin`], which remembers the
/// caller's value and pins `pg_catalog, pg_temp` for the extension's own queries (exactly what
/// a SET clause does), run the caller's SQL inside [`SearchPath::as_caller`], and end with
/// [`SearchPath::restore`]. An ERROR restores everything through transaction abort.
pub struct SearchPath {
    caller: String,
    level: i32,
}

fn set_search_path(value: &str) {
    set_guc(c"search_path", value)
}

/// Sets a setting like SET LOCAL, inside the current GUC nest level.
fn set_guc(name: &std::ffi::CStr, value: &str) {
    let value = std::ffi::CString::new(value).unwrap_or_default();
    // SAFETY: set_config_option copies the strings; ERROR level reports a bad value.
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        );
    }
}

/// Runs `f` with `path` as search_path (like SET LOCAL, undone when `f` returns).
pub fn with_search_path<R>(path: &str, f: impl FnOnce() -> R) -> R {
    // SAFETY: a nested GUC level, closed right after on the success path; an ERROR closes it
    // through (sub)transaction abort.
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    set_search_path(path);
    let r = f();
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    r
}

impl SearchPath {
    pub fn pin() -> SearchPath {
        // SAFETY: GetConfigOption returns a pointer into GUC storage, copied at once.
        let caller = unsafe {
            let p = pg_sys::GetConfigOption(c"search_path".as_ptr(), false, false);
            if p.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        SearchPath::pin_for(caller)
    }

    /// Pins like [`SearchPath::pin`], with `caller` standing for the caller's search_path:
    /// the path a statement run for someone else resolves its names through.
    pub fn pin_for(caller: String) -> SearchPath {
        // SAFETY: opens a GUC nest level that restore() (or transaction abort) closes.
        let level = unsafe { pg_sys::NewGUCNestLevel() };
        set_search_path("pg_catalog, pg_temp");
        SearchPath { caller, level }
    }

    /// Runs `f` with the caller's search_path in effect.
    pub fn as_caller<R>(&self, f: impl FnOnce() -> R) -> R {
        with_search_path(&self.caller, f)
    }

    /// The caller's search_path, as it was when the function was called.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    pub fn restore(self) {
        // SAFETY: closes the level pin() opened.
        unsafe { pg_sys::AtEOXact_GUC(true, self.level) }
    }
}

/// A role's search_path made safe to plan or run its statements with: pg_catalog first, temporary schemas removed
/// from wherever the setting put them and searched last.
pub fn role_path(setting: &str) -> String {
    let mut parts = vec!["pg_catalog".to_string()];
    for item in split_path(setting) {
        // as PostgreSQL reads it: quotes keep the case, an unquoted name is folded
        let name = if item.starts_with('"') {
            item.trim_matches('"').to_string()
        } else {
            item.to_lowercase()
        };
        let temp = name == "pg_temp" || name.starts_with("pg_temp_");
        if !temp && !item.is_empty() && name != "pg_catalog" {
            parts.push(item);
        }
    }
    parts.push("pg_temp".into());
    parts.join(", ")
}

/// The elements of a search_path setting, split at commas outside double quotes.
fn split_path(setting: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in setting.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(ch),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Runs `f` with settings changed like SET LOCAL, undone when `f` returns (an ERROR undoes
/// them through (sub)transaction abort).
pub fn with_settings<R>(settings: &[(&std::ffi::CStr, &str)], f: impl FnOnce() -> R) -> R {
    // SAFETY: a nested GUC level, closed right after on the success path.
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    for (name, value) in settings {
        set_guc(name, value);
    }
    let r = f();
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    r
}

/// [`with_settings`] for one setting.
pub fn with_setting<R>(name: &std::ffi::CStr, value: &str, f: impl FnOnce() -> R) -> R {
    with_settings(&[(name, value)], f)
}

/// Runs `f` with the transaction read-only: whatever SQL `f` runs cannot write (the
/// executor's own check, `ExecCheckXactReadOnly`). Undone when `f` returns or unwinds. The
/// flag is set directly: since PostgreSQL 16 `transaction_read_only` cannot be saved and
/// restored around a call (GUC_NO_RESET), and SET LOCAL would outlive `f`.
pub fn read_only<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: the backend-local flag, written back as it was.
            unsafe { pg_sys::XactReadOnly = self.0 }
        }
    }
    // SAFETY: backend-local state of the current transaction.
    let _restore = Restore(unsafe { pg_sys::XactReadOnly });
    unsafe { pg_sys::XactReadOnly = true };
    f()
}

/// Why nothing can be written here, if it cannot: a hot standby, or a read-only transaction
/// (a standby's transactions are read-only too; it is named first).
pub fn why_read_only() -> Option<&'static str> {
    if on_standby() {
        Some("this server is a hot standby (read-only)")
    } else if unsafe { pg_sys::XactReadOnly } {
        // SAFETY: above, a plain read of backend-local state
        Some("this transaction is read-only")
    } else {
        None
    }
}

// The backend's timeout API (utils/timeout.h), which pgrx does not bind.
mod timeout {
    /// TimeoutId.STATEMENT_TIMEOUT: the fourth predefined reason in PostgreSQL 15 to 18
    /// (utils/timeout.h of each; the timeout tests run on 15, 17 and 18).
    pub const STATEMENT_TIMEOUT: std::ffi::c_int = 3;
    unsafe extern "C-unwind" {
        pub fn enable_timeout_after(id: std::ffi::c_int, delay_ms: std::ffi::c_int);
        pub fn enable_timeout_at(id: std::ffi::c_int, fin_time: pgrx::pg_sys::TimestampTz);
        pub fn disable_timeout(id: std::ffi::c_int, keep_indicator: bool);
        pub fn get_timeout_active(id: std::ffi::c_int) -> bool;
        pub fn get_timeout_finish_time(id: std::ffi::c_int) -> pgrx::pg_sys::TimestampTz;
        pub fn get_timeout_indicator(id: std::ffi::c_int, reset_indicator: bool) -> bool;
    }
}

/// Whether [`with_timeout`] with `ms` arms its own timer (rather than leaving the caller's
/// sooner statement_timeout in charge). A caller's timer that has fired but whose cancellation
/// is not processed yet is no longer active, yet still in charge: arming ours would clear its
/// indicator, and the cancellation would then read "due to user request".
pub fn timeout_is_ours(ms: u64) -> bool {
    use timeout::*;
    // SAFETY: reads of the backend's timeout state, on its main thread.
    unsafe {
        !get_timeout_indicator(STATEMENT_TIMEOUT, false)
            && (!get_timeout_active(STATEMENT_TIMEOUT)
                || pg_sys::GetCurrentTimestamp() + (ms as i64) * 1000
                    < get_timeout_finish_time(STATEMENT_TIMEOUT))
    }
}

/// Tells a cancellation by [`with_timeout`]'s own timer from one by the caller's sooner
/// statement_timeout or by pg_cancel_backend (the same SQLSTATE): taken just before the work.
/// (Asked after the error, [`timeout_is_ours`] cannot tell: a timer that fired is no longer
/// active.)
pub struct OwnTimer {
    ms: u64,
    ours: bool,
    started: std::time::Instant,
}

impl OwnTimer {
    pub fn before(ms: u64) -> OwnTimer {
        OwnTimer {
            ms,
            ours: timeout_is_ours(ms),
            started: std::time::Instant::now(),
        }
    }

    /// Whether `e` is this timer firing: a cancellation, with the timer armed, once `ms` passed.
    pub fn fired(&self, e: &CaughtPgError) -> bool {
        e.is_cancel() && self.ours && self.started.elapsed().as_millis() as u64 + 50 >= self.ms
    }
}

/// Runs `f` in a memory context of its own, deleted when `f` returns or unwinds: what
/// PostgreSQL allocates for one step of a long loop in one SQL call (a table's read: its parse
/// tree, its plan, its row of arrays; a statement's parameters) is freed at once, not when the
/// call ends (a catalog build at 2,000 tables kept ~700 MB of its values reads so).
pub fn in_scratch_context<R>(f: impl FnOnce() -> R) -> R {
    struct Scratch {
        context: pg_sys::MemoryContext,
        previous: pg_sys::MemoryContext,
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            // SAFETY: the previous context outlives this one (its parent); nothing allocated
            // in this one is used after `f` (its results are Rust values).
            unsafe {
                pg_sys::CurrentMemoryContext = self.previous;
                pg_sys::MemoryContextDelete(self.context);
            }
        }
    }
    // SAFETY: a child of the current context, made current on the backend's main thread.
    let _scratch = unsafe {
        let previous = pg_sys::CurrentMemoryContext;
        let context = pg_sys::AllocSetContextCreateExtended(
            previous,
            c"ai_architect scratch".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        pg_sys::CurrentMemoryContext = context;
        Scratch { context, previous }
    };
    f()
}

/// Runs `f` under a statement timeout of `ms`: past it, the work is cancelled with
/// "canceling statement due to statement timeout" (SQLSTATE 57014). The caller's own
/// statement_timeout, when it would end sooner, stays in charge; it is re-armed afterwards.
pub fn with_timeout<R>(ms: u64, f: impl FnOnce() -> R) -> R {
    use timeout::*;
    struct Rearm(Option<pg_sys::TimestampTz>, bool);
    impl Drop for Rearm {
        fn drop(&mut self) {
            if !self.1 {
                return;
            }
            // SAFETY: puts the caller's timer back (or none), on the backend's main thread.
            unsafe {
                match self.0 {
                    Some(at) => enable_timeout_at(STATEMENT_TIMEOUT, at),
                    None => disable_timeout(STATEMENT_TIMEOUT, false),
                }
            }
        }
    }
    let ours = timeout_is_ours(ms);
    // SAFETY: the timeout API of the backend, used on its main thread as the executor does.
    let _rearm = unsafe {
        let outer = get_timeout_active(STATEMENT_TIMEOUT)
            .then(|| get_timeout_finish_time(STATEMENT_TIMEOUT));
        if ours {
            enable_timeout_after(STATEMENT_TIMEOUT, ms.min(i32::MAX as u64) as i32);
        }
        Rearm(outer, ours)
    };
    f()
}

/// Runs `f` under the settings row images are written and read with: the text of a
/// timestamptz, float8, bytea, date, interval or money then means the same value, byte for
/// byte, in every session.
pub fn row_images<R>(f: impl FnOnce() -> R) -> R {
    with_settings(
        &[
            (c"TimeZone", "UTC"),
            (c"DateStyle", "ISO, YMD"),
            (c"IntervalStyle", "postgres"),
            (c"extra_float_digits", "3"),
            (c"bytea_output", "hex"),
            (c"lc_monetary", "C"),
        ],
        f,
    )
}

/// This server is a hot standby (in recovery): nothing can be written here.
pub fn on_standby() -> bool {
    // SAFETY: a plain read of shared recovery state.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// pgrx's `Spi`, as every module of the extension calls it (each imports this one
/// explicitly, over pgrx's prelude). pgrx runs `get_one`, `run` and the like as mutating
/// statements and first asks for a transaction id, which a hot standby cannot give: there,
/// they run as the read-only statements they must be (a write fails as PostgreSQL refuses it;
/// the functions that write refuse first, see `error::primary_only`). On a primary nothing
/// changes.
pub struct Spi;

type SpiResult<T> = Result<T, pgrx::spi::Error>;

impl Spi {
    pub fn get_one<A: FromDatum + IntoDatum>(query: &str) -> SpiResult<Option<A>> {
        Self::get_one_with_args(query, &[])
    }

    pub fn get_one_with_args<A: FromDatum + IntoDatum>(
        query: &str,
        args: &[pgrx::datum::DatumWithOid],
    ) -> SpiResult<Option<A>> {
        if on_standby() {
            pgrx::Spi::connect(|c| c.select(query, Some(1), args)?.first().get_one())
        } else {
            pgrx::Spi::get_one_with_args(query, args)
        }
    }

    pub fn get_two<A: FromDatum + IntoDatum, B: FromDatum + IntoDatum>(
        query: &str,
    ) -> SpiResult<(Option<A>, Option<B>)> {
        if on_standby() {
            pgrx::Spi::connect(|c| c.select(query, Some(1), &[])?.first().get_two::<A, B>())
        } else {
            pgrx::Spi::get_two(query)
        }
    }

    pub fn get_three<
        A: FromDatum + IntoDatum,
        B: FromDatum + IntoDatum,
        C: FromDatum + IntoDatum,
    >(
        query: &str,
    ) -> SpiResult<(Option<A>, Option<B>, Option<C>)> {
        Self::get_three_with_args(query, &[])
    }

    pub fn get_three_with_args<
        A: FromDatum + IntoDatum,
        B: FromDatum + IntoDatum,
        C: FromDatum + IntoDatum,
    >(
        query: &str,
        args: &[pgrx::datum::DatumWithOid],
    ) -> SpiResult<(Option<A>, Option<B>, Option<C>)> {
        if on_standby() {
            pgrx::Spi::connect(|c| {
                c.select(query, Some(1), args)?
                    .first()
                    .get_three::<A, B, C>()
            })
        } else {
            pgrx::Spi::get_three_with_args(query, args)
        }
    }

    pub fn run(query: &str) -> SpiResult<()> {
        Self::run_with_args(query, &[])
    }

    pub fn run_with_args(query: &str, args: &[pgrx::datum::DatumWithOid]) -> SpiResult<()> {
        if on_standby() {
            pgrx::Spi::connect(|c| c.select(query, None, args).map(|_| ()))
        } else {
            pgrx::Spi::run_with_args(query, args)
        }
    }

    pub fn connect<R, F: FnOnce(&pgrx::spi::SpiClient<'_>) -> R>(f: F) -> R {
        pgrx::Spi::connect(f)
    }

    pub fn connect_mut<R, F: FnOnce(&mut pgrx::spi::SpiClient<'_>) -> R>(f: F) -> R {
        pgrx::Spi::connect_mut(f)
    }
}

#[cfg(test)]
mod standby_tests {
    /// Every module that runs SQL through `Spi::` uses the standby-safe one.
    #[test]
    fn every_module_uses_the_standby_safe_spi() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut missing = Vec::new();
        for f in files {
            let name = f.strip_prefix(&root).unwrap().display().to_string();
            if name == "spi_util.rs" || name.starts_with("pg_tests") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            if text.contains("Spi::") && !text.contains("use crate::spi_util::Spi;") {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "pgrx's Spi used directly in {missing:?}"
        );
    }
}

#[cfg(test)]
mod path_tests {
    use super::role_path;

    #[test]
    fn a_role_path_searches_the_catalog_first_and_temporary_objects_last() {
        assert_eq!(
            role_path("\"$user\", public"),
            "pg_catalog, \"$user\", public, pg_temp"
        );
        // wherever the setting puts pg_temp, it is searched last
        assert_eq!(role_path("pg_temp, app"), "pg_catalog, app, pg_temp");
        assert_eq!(
            role_path("PG_TEMP,app , pg_temp_3, pg_catalog"),
            "pg_catalog, app, pg_temp"
        );
        // a quoted name with a comma is one schema; quoted "pg_temp" is the temporary schema
        // too, quoted "PG_TEMP" is not
        assert_eq!(
            role_path("\"a,b\", \"pg_temp\", \"PG_TEMP\""),
            "pg_catalog, \"a,b\", \"PG_TEMP\", pg_temp"
        );
        assert_eq!(role_path(""), "pg_catalog, pg_temp");
    }
}

/// Whether the current role is a curator (reviews samples and words): the extension's owner, a superuser, or a
/// member of the curator role (ai_architect.curator_role).
pub fn is_curator() -> Result<bool, pgrx::spi::Error> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT r.rolsuper
             OR r.oid = (SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'ai_architect')
             OR coalesce(pg_catalog.pg_has_role(r.oid, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1), 'MEMBER'), false)
           FROM pg_catalog.pg_roles r WHERE r.oid = current_user::regrole::oid",
        &[crate::guc::curator_role().into()],
    )?
    .unwrap_or(false))
}
