//! The impact analysis's errors, as a user reads them (SQLSTATE and hint).
use crate::error::UserError;
use crate::spi_util::Spi;
use crate::sqlparse;
use pgrx::PgSqlErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Sql(#[from] sqlparse::SqlError),
    #[error("mode must be 'estimate', 'exact' or 'dry_run', got '{0}'")]
    BadMode(String),
    #[error("relation \"{0}\" does not exist")]
    UnknownTable(String),
    #[error("permission denied: you have no SELECT right on {0}")]
    NoSelect(String),
    #[error("view {view} cannot be the target of {op}: it is not automatically updatable")]
    NotUpdatable { view: String, op: &'static str },
    #[error("the {0} analysis did not finish within ai_architect.impact_timeout_ms ({1} ms)")]
    Timeout(&'static str, u64),
    #[error("{0} cannot be dry-run: it cannot run inside a transaction block")]
    NoTransaction(String),
    #[error("{0} statements cannot be dry-run")]
    NotDryRunnable(&'static str),
    #[error("a dry run runs the statement, and {0}")]
    ReadOnly(&'static str),
    #[error("counting the rows failed: {0}")]
    Count(String),
    #[error("the introspection returned unexpected data: {0}")]
    Decode(String),
    #[error("{0} must not be NULL")]
    Null(&'static str),
    #[error("{0}")]
    PgSql(#[from] crate::pgsql::PgSqlError),
    #[error("the analysis of this DDL acts on {ours}, which PostgreSQL's reading of it does not name ({pg})")]
    NamedDifferently { ours: String, pg: String },
    #[error("PostgreSQL reads this text as {pg}, the analysis as {ours}")]
    ReadDifferently { pg: String, ours: &'static str },
}

impl UserError for ImpactError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use ImpactError::*;
        match self {
            Spi(_) | Decode(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            Sql(e) => e.sqlstate(),
            NoTransaction(_) | NotDryRunnable(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            BadMode(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            UnknownTable(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            NoSelect(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            NotUpdatable { .. } => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Timeout(..) => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            ReadOnly(_) => PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            Count(_) => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            Null(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            PgSql(_) | ReadDifferently { .. } | NamedDifferently { .. } => {
                PgSqlErrorCode::ERRCODE_SYNTAX_ERROR
            }
        }
    }
    fn hint(&self) -> Option<String> {
        use ImpactError::*;
        match self {
            Sql(e) => Some(e.hint().to_string()),
            PgSql(e) => Some(e.hint()),
            NamedDifferently { .. } => Some("write the names plainly (schema-qualified, quoted only where needed); the statement is not analysed, so that what is approved is what runs".into()),
            ReadDifferently { .. } => Some("write the statement plainly (standard_conforming_strings is on for everything ai_architect parses and runs)".into()),
            BadMode(_) => Some("'estimate' asks the planner, 'exact' counts the rows, 'dry_run' runs it and rolls back".into()),
            UnknownTable(t) => Some(format!(
                "check the name and your search_path ({}); qualify it with its schema, e.g. public.{t}",
                current_search_path()
            )),
            NoSelect(t) => Some(format!("ask for SELECT on {t}: the analysis reads the rows the statement would touch")),
            NotUpdatable { .. } => Some("target its base table, or give the view an INSTEAD OF trigger".into()),
            Timeout(..) => Some("raise ai_architect.impact_timeout_ms, or use mode => 'estimate'".into()),
            NoTransaction(_) => Some("use mode => 'estimate' or 'exact'; the linter and lock analysis still apply".into()),
            NotDryRunnable(_) => Some("dry runs take INSERT, UPDATE, DELETE, MERGE, TRUNCATE and DDL".into()),
            ReadOnly(_) => Some("use mode => 'exact' (counts the rows without running the statement), or a writable transaction on the primary".into()),
            Count(_) => Some("the WHERE clause must be readable as a query; try mode => 'dry_run'".into()),
            _ => None,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ImpactError>;

/// The caller's search_path, for a hint.
pub(super) fn current_search_path() -> String {
    Spi::get_one::<String>("SELECT current_setting('search_path')")
        .ok()
        .flatten()
        .unwrap_or_default()
}
