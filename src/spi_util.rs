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
    let owner = extension_owner()?;
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

/// Schema that pgvector is installed in.
pub fn vector_schema() -> Result<String, pgrx::spi::Error> {
    Ok(Spi::get_one::<String>(
        "SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'vector'",
    )?
    .unwrap_or_else(|| "public".into()))
}
