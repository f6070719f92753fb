//! Monitoring: the heaviest statements, plans with their anti-patterns, findings a DBA
//! should act on, and pg_stat_statements kept over time to spot regressions.
pub mod api;
pub mod insights;
pub mod plan;
mod statements;

/// Indexes to drop (unused, duplicate, prefix-redundant); shared with the index advisor.
pub const INDEX_HEALTH_SQL: &str = include_str!("index_health.sql");
/// Every other finding of ai.insights(), one UNION ALL branch per category.
pub const INSIGHTS_SQL: &str = include_str!("insights.sql");

use pgrx::PgSqlErrorCode;

/// One finding of ai.insights().
#[derive(Debug, Clone, PartialEq)]
pub struct Insight {
    pub category: String,
    /// critical, high, medium, low
    pub severity: String,
    pub object: String,
    pub finding: String,
    pub remediation_sql: Option<String>,
}

impl Insight {
    /// The row ai.insights() returns, in its column order.
    pub fn into_row(self) -> (String, String, String, String, Option<String>) {
        (
            self.category,
            self.severity,
            self.object,
            self.finding,
            self.remediation_sql,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("unknown order_by {0:?}")]
    OrderBy(String),
    #[error("limit must be between 1 and 10000")]
    Limit,
    #[error(
        "analyze => true runs the statement, so it is only allowed for a SELECT; this is a {0}"
    )]
    AnalyzeWrite(String),
    #[error("analyze => true refused: {0}")]
    Unsafe(crate::pgsql::PgSqlError),
    #[error("EXPLAIN failed: {0}")]
    Explain(String),
    #[error(transparent)]
    Sql(#[from] crate::sqlparse::SqlError),
    #[error(transparent)]
    Advisor(#[from] crate::advisor::AdvisorError),
    #[error(transparent)]
    Spi(#[from] pgrx::spi::Error),
}

impl crate::error::UserError for MonitorError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            MonitorError::OrderBy(_) | MonitorError::Limit => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            MonitorError::AnalyzeWrite(_) => PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            MonitorError::Explain(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            MonitorError::Unsafe(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            MonitorError::Sql(e) => crate::error::UserError::sqlstate(e),
            MonitorError::Advisor(e) => crate::error::UserError::sqlstate(e),
            MonitorError::Spi(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            MonitorError::OrderBy(_) => {
                Some("one of: total_time, mean_time, calls, rows, io".into())
            }
            MonitorError::AnalyzeWrite(_) => Some(
                "use analyze => false for the plan alone, or ai.impact(sql, 'dry_run') to see what it would change".into(),
            ),
            MonitorError::Explain(_) => Some("the statement must plan in this database".into()),
            MonitorError::Unsafe(u) => Some(u.hint()),
            MonitorError::Sql(e) => crate::error::UserError::hint(e),
            MonitorError::Advisor(e) => crate::error::UserError::hint(e),
            _ => None,
        }
    }
}

/// Findings sort most severe first: critical, high, medium, then the rest.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        _ => 3,
    }
}
