//! Index advice for the real workload: candidates from the parsed queries, evaluated with
//! HypoPG's hypothetical indexes, chosen over the whole workload.
pub mod api;
pub mod candidates;
mod hypo;
pub mod params;
pub mod report;
pub mod select;
pub mod workload;

use pgrx::PgSqlErrorCode;

/// One line of index advice: an index to create (or to drop) and what it is expected to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub index_sql: String,
    pub table: String,
    pub columns: Vec<String>,
    pub size_bytes: i64,
    pub cost_reduction_pct: Option<f64>,
    pub saved_ms_per_day: Option<f64>,
    pub queries_helped: i32,
    pub reason: String,
}

/// The row ai.suggest_indexes() returns, in its column order.
pub type SuggestionRow = (
    String,
    String,
    Vec<String>,
    i64,
    Option<f64>,
    Option<f64>,
    i32,
    String,
);

impl Suggestion {
    pub fn into_row(self) -> SuggestionRow {
        (
            self.index_sql,
            self.table,
            self.columns,
            self.size_bytes,
            self.cost_reduction_pct,
            self.saved_ms_per_day,
            self.queries_helped,
            self.reason,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdvisorError {
    #[error("HypoPG is not installed in this database")]
    NoHypopg,
    #[error("pg_stat_statements is not installed in this database")]
    NoStatStatements,
    #[error("{0} must be between {1} and {2}")]
    OutOfRange(&'static str, i64, i64),
    #[error("the query cannot be advised on: {0}")]
    BadQuery(String),
    #[error("an exhaustive search over {0} candidates would plan {1} configurations")]
    TooMany(usize, usize),
    #[error("unknown search strategy {0:?}")]
    Strategy(String),
    #[error(transparent)]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Pg(String),
}

impl crate::error::UserError for AdvisorError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            AdvisorError::NoHypopg | AdvisorError::NoStatStatements => {
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT
            }
            AdvisorError::OutOfRange(..) | AdvisorError::Strategy(_) => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            AdvisorError::BadQuery(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            AdvisorError::TooMany(..) => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            AdvisorError::Spi(_) | AdvisorError::Pg(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(
            match self {
                AdvisorError::NoHypopg => "install it (Debian: postgresql-15-hypopg) and run CREATE EXTENSION hypopg; the advice is checked with hypothetical indexes",
                AdvisorError::NoStatStatements => "add pg_stat_statements to shared_preload_libraries, restart, and CREATE EXTENSION pg_stat_statements; or pass a query: ai.suggest_indexes('SELECT ...')",
                AdvisorError::BadQuery(_) => "pass one SELECT, UPDATE or DELETE that plans in this database",
                AdvisorError::TooMany(..) => "lower max_indexes or use ai_architect.advisor_search = 'greedy'",
                AdvisorError::Strategy(_) => "one of: greedy, exhaustive, per_query",
                _ => return None,
            }
            .to_string(),
        )
    }
}
