//! The one place Rust errors become PostgreSQL errors.
//!
//! Each capability keeps its own `thiserror` enum in plain Rust and implements
//! [`UserError`] for it; `#[pg_extern]` wrappers call [`raise`] so every error a user
//! sees has the function's name, a SQLSTATE and, where we know one, a hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub trait UserError: std::fmt::Display {
    fn sqlstate(&self) -> PgSqlErrorCode;
    fn detail(&self) -> Option<String> {
        None
    }
    fn hint(&self) -> Option<String> {
        None
    }
}

/// An error as a log line or a result says it: the message, then the hint with the fix.
pub fn with_hint(e: &dyn UserError) -> String {
    match e.hint() {
        Some(h) => format!("{e} (hint: {h})"),
        None => e.to_string(),
    }
}

/// Raises `e` as an ERROR from SQL function `func` (e.g. `"ai.version"`). Never returns.
#[track_caller]
pub fn raise(func: &'static str, e: &dyn UserError) -> ! {
    let mut report = ErrorReport::new(e.sqlstate(), format!("{func}: {e}"), func);
    if let Some(d) = e.detail() {
        report = report.set_detail(d);
    }
    if let Some(h) = e.hint() {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

use crate::spi_util::on_standby;

/// The first step of a function that writes ai.* state: on a hot standby, an ERROR naming
/// the standby before anything is done.
#[track_caller]
pub fn primary_only(func: &'static str) {
    if on_standby() {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("{func}: this server is a hot standby (read-only): {func} writes ai_architect's state"),
            func,
        )
        .set_hint("run it on the primary; its effects reach this standby by replication")
        .report(PgLogLevel::ERROR);
    }
}

/// A part of a read-only function that would write (a usage log, a catalog refresh) is left
/// out on a hot standby or in a read-only transaction, with a NOTICE saying so; true when it
/// was left out.
pub fn skipped_when_read_only(func: &str, what: &str) -> bool {
    match crate::spi_util::why_read_only() {
        Some(why) => {
            pgrx::notice!("{func}: {why}: {what}");
            true
        }
        None => false,
    }
}

/// Unwraps a result or raises its error from SQL function `func`.
pub trait OrRaise<T> {
    fn or_raise(self, func: &'static str) -> T;
}

impl<T, E: UserError> OrRaise<T> for Result<T, E> {
    #[track_caller]
    fn or_raise(self, func: &'static str) -> T {
        self.unwrap_or_else(|e| raise(func, &e))
    }
}

impl UserError for pgrx::spi::Error {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    }
}

impl UserError for crate::sqlparse::SqlError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            crate::sqlparse::SqlError::CurrentOf => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            _ => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(crate::sqlparse::SqlError::hint(self).to_string())
    }
}

impl UserError for crate::embed::assets::AssetError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_CONFIG_FILE_ERROR
    }
    fn hint(&self) -> Option<String> {
        Some(crate::embed::assets::AssetError::hint(self))
    }
}

impl UserError for crate::embed::engine::EmbedError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use crate::embed::engine::EmbedError::*;
        match self {
            Runtime { .. } | Model { .. } | Tokenizer { .. } | RuntimeChanged { .. } => {
                PgSqlErrorCode::ERRCODE_CONFIG_FILE_ERROR
            }
            Tokenize(_) | Inference(_) | BadOutput(_) => {
                PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION
            }
        }
    }
    fn hint(&self) -> Option<String> {
        crate::embed::engine::EmbedError::hint(self)
    }
}

/// Runs the work of SQL function `func` under `ai_architect.work_timeout_ms` (the caller's own
/// sooner `statement_timeout` stays in charge). Past the limit the work is cancelled and
/// `func` raises SQLSTATE 57014 naming the setting; nothing it did remains.
pub fn time_limited<R>(func: &'static str, f: impl FnOnce() -> R) -> R {
    use crate::spi_util::{in_subtransaction, with_timeout, OwnTimer};
    let ms = crate::guc::work_timeout_ms();
    let timer = OwnTimer::before(ms);
    match in_subtransaction(std::panic::AssertUnwindSafe(|| with_timeout(ms, f))) {
        Ok(r) => r,
        Err(e) if timer.fired(&e) => {
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
                format!("{func}: stopped after ai_architect.work_timeout_ms ({ms} ms)"),
                func,
            )
            .set_hint("narrow the work (a schema, a table, fewer statements) or raise ai_architect.work_timeout_ms for this session")
            .report(PgLogLevel::ERROR);
            unreachable!("ERROR does not return")
        }
        Err(e) => e.rethrow(),
    }
}
