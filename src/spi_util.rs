//! Small helpers every capability uses around SPI.
use pgrx::prelude::*;

/// The role that owns the extension (and so its state tables).
fn extension_owner() -> Result<pg_sys::Oid, pgrx::spi::Error> {
    Ok(Spi::get_one::<pg_sys::Oid>("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'ai_architect'")?
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
pub fn as_extension_owner<R, E: From<pgrx::spi::Error>>(f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
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
            context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
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
        let vs = pgrx::spi::quote_identifier(&vector_schema()?);
        Ok(VectorSql { distance: format!("OPERATOR({vs}.<=>)"), vector: format!("{vs}.vector") })
    }

    /// SQL for the cosine distance between `column` and the real[] parameter `$n`.
    pub fn distance_to(&self, column: &str, param: usize) -> String {
        format!("({column} {} ${param}::real[]::{})", self.distance, self.vector)
    }
}

/// Schema that pgvector is installed in.
pub fn vector_schema() -> Result<String, pgrx::spi::Error> {
    Ok(Spi::get_one::<String>(
        "SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'vector'",
    )?
    .unwrap_or_else(|| "public".into()))
}

/// A PostgreSQL error caught inside [`in_subtransaction`].
#[derive(Debug, Clone)]
pub struct CaughtPgError {
    pub message: String,
}

/// Runs `f` in a subtransaction: an ERROR inside rolls back just that work and comes back as
/// a value (the PL/pgSQL EXCEPTION block pattern), so callers can explain it in their terms.
pub fn in_subtransaction<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> Result<R, CaughtPgError> {
    use pgrx::pg_sys::panic::CaughtError;
    // SAFETY: the standard internal-subtransaction protocol: remember the memory context and
    // resource owner, begin, and on either path release or roll back, then restore both.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        pgrx::PgTryBuilder::new(std::panic::AssertUnwindSafe(move || {
            let r = f();
            pg_sys::ReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            Ok(r)
        }))
        .catch_others(move |e| {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            let report = match &e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
                CaughtError::RustPanic { ereport, .. } => ereport,
            };
            Err(CaughtPgError { message: report.message().to_string() })
        })
        .execute()
    }
}

/// EXPLAINs `sql` (no execution) with the current user's rights; the planner's error if
/// it does not plan.
pub fn explains_cleanly(sql: &str) -> Result<(), CaughtPgError> {
    let sql = format!("EXPLAIN (FORMAT JSON) {sql}");
    in_subtransaction(move || Spi::run(&sql)).and_then(|r| {
        r.map_err(|e| CaughtPgError { message: e.to_string() })
    })
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
    let value = std::ffi::CString::new(value).unwrap_or_default();
    // SAFETY: set_config_option copies the strings; ERROR level reports a bad value.
    unsafe {
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
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
            if p.is_null() { String::new() } else { std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned() }
        };
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
