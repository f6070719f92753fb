//! The semantic memory: SQL samples with their feedback, and the optimization history.
//! This file is plain Rust; `samples.rs` and `optimizations.rs` hold the SQL surface.
pub mod optimizations;
pub mod patterns;
pub mod patterns_api;
pub mod samples;

use sqlparser::ast::{Expr, Query, SetExpr, Statement, Visit, Visitor};
use std::ops::ControlFlow;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MemoryError {
    #[error("{0}")]
    Sql(#[from] crate::sqlparse::SqlError),
    #[error("the query does not plan: {0}")]
    Plan(String),
    #[error("rating must be between 1 and 5, got {0}")]
    Rating(i32),
    #[error("no ai.ask answer with usage id {0}")]
    NoUsage(i64),
    #[error("usage {0} belongs to another user")]
    NotYours(i64),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} must not be NULL")]
    Null(&'static str),
    #[error("k must be between 1 and 1000, got {0}")]
    BadK(i32),
    #[error("only the extension's owner, a superuser or a member of role {0} reviews samples")]
    NotCurator(String),
    #[error("no sample with id {0}")]
    NoSample(i64),
    #[error("{0}")]
    Spi(String),
}

impl From<pgrx::spi::Error> for MemoryError {
    fn from(e: pgrx::spi::Error) -> Self {
        MemoryError::Spi(e.to_string())
    }
}

impl crate::error::UserError for MemoryError {
    fn sqlstate(&self) -> pgrx::PgSqlErrorCode {
        use pgrx::PgSqlErrorCode::*;
        match self {
            MemoryError::Sql(_) => ERRCODE_SYNTAX_ERROR,
            MemoryError::Plan(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            MemoryError::Rating(_) | MemoryError::Empty(_) | MemoryError::BadK(_) => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            MemoryError::Null(_) => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            MemoryError::NoUsage(_) => ERRCODE_NO_DATA_FOUND,
            MemoryError::NotYours(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            MemoryError::Spi(_) => ERRCODE_INTERNAL_ERROR,
            MemoryError::NotCurator(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            MemoryError::NoSample(_) => ERRCODE_NO_DATA_FOUND,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            MemoryError::Sql(e) => Some(e.hint().to_string()),
            MemoryError::Plan(_) => Some("the query must plan against the current schema with your privileges: check names and grants".into()),
            MemoryError::Rating(_) => Some("1 = wrong or useless ... 5 = exactly right".into()),
            MemoryError::NoUsage(_) => Some("the usage_id is in the result of ai.ask".into()),
            MemoryError::NotYours(_) => Some("rate only answers to your own questions".into()),
            _ => None,
        }
    }
}

/// A required argument: NULL is an error that names it (not a silent NULL result).
pub fn required<T>(name: &'static str, v: Option<T>) -> Result<T, MemoryError> {
    v.ok_or(MemoryError::Null(name))
}

pub fn check_k(k: i32) -> Result<usize, MemoryError> {
    if (1..=1000).contains(&k) {
        Ok(k as usize)
    } else {
        Err(MemoryError::BadK(k))
    }
}

#[derive(Default)]
struct Shape {
    joins: usize,
    subqueries: usize,
    set_ops: usize,
    ctes: usize,
    aggregates: usize,
    windows: usize,
}

impl Visitor for Shape {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        self.subqueries += 1;
        if let Some(w) = &q.with {
            self.ctes += w.cte_tables.len();
        }
        if let SetExpr::Select(s) = q.body.as_ref() {
            self.joins += s.from.iter().map(|t| t.joins.len()).sum::<usize>()
                + s.from.len().saturating_sub(1);
        }
        if matches!(q.body.as_ref(), SetExpr::SetOperation { .. }) {
            self.set_ops += 1;
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            if f.over.is_some() {
                self.windows += 1;
            }
            let name = f.name.to_string().to_lowercase();
            if [
                "count",
                "sum",
                "avg",
                "min",
                "max",
                "array_agg",
                "string_agg",
            ]
            .contains(&name.as_str())
            {
                self.aggregates += 1;
            }
        }
        ControlFlow::Continue(())
    }
}

/// simple: one table, or one join and no grouping; complex: subqueries, CTEs, set
/// operations, window functions or three joins and more; moderate: the rest.
pub fn complexity(stmt: &Statement) -> &'static str {
    let mut s = Shape::default();
    let _ = stmt.visit(&mut s);
    let nested = s.subqueries.saturating_sub(1);
    if nested > 0 || s.ctes > 0 || s.set_ops > 0 || s.windows > 0 || s.joins >= 3 {
        "complex"
    } else if s.joins >= 1 && s.aggregates > 0 || s.joins == 2 {
        "moderate"
    } else if s.joins <= 1 {
        "simple"
    } else {
        "moderate"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlparse::parse_one;

    fn c(sql: &str) -> &'static str {
        complexity(&parse_one(sql).unwrap())
    }

    #[test]
    fn grades_queries() {
        assert_eq!(c("SELECT count(*) FROM track"), "simple");
        assert_eq!(
            c("SELECT t.name FROM track t JOIN album a ON a.album_id = t.album_id"),
            "simple"
        );
        assert_eq!(
            c("SELECT a.title, count(*) FROM track t JOIN album a ON a.album_id = t.album_id GROUP BY a.title"),
            "moderate"
        );
        assert_eq!(
            c("SELECT * FROM a JOIN b ON true JOIN c ON true JOIN d ON true"),
            "complex"
        );
        assert_eq!(c("SELECT * FROM t WHERE x IN (SELECT y FROM u)"), "complex");
        assert_eq!(
            c("SELECT rank() OVER (ORDER BY total) FROM invoice"),
            "complex"
        );
    }

    #[test]
    fn k_is_bounded() {
        assert_eq!(check_k(5), Ok(5));
        assert_eq!(check_k(0), Err(MemoryError::BadK(0)));
    }
}
