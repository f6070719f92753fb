//! SQL surface of the index advisor: ai.suggest_indexes and its text report.
use super::report::{report, rows};
use super::workload::advise;
use super::Suggestion;
use crate::error::OrRaise;
use pgrx::prelude::*;

/// Index advice for one query, or for the workload in pg_stat_statements.
#[pg_extern(volatile)]
#[allow(clippy::type_complexity)]
fn suggest_indexes(
    query: default!(Option<&str>, "NULL"),
    max_indexes: default!(i32, 5),
    workload_size: default!(i32, 200),
) -> TableIterator<
    'static,
    (
        name!(index_sql, String),
        name!(table_name, String),
        name!(columns, Vec<String>),
        name!(estimated_size_bytes, i64),
        name!(cost_reduction_pct, Option<f64>),
        name!(time_saved_ms_per_day, Option<f64>),
        name!(queries_helped, i32),
        name!(reason, String),
    ),
> {
    let a = crate::error::time_limited("ai.suggest_indexes", || {
        advise(query, max_indexes, workload_size)
    })
    .or_raise("ai.suggest_indexes");
    TableIterator::new(rows(&a).into_iter().map(Suggestion::into_row))
}

/// The same advice as readable text, with each query's planner cost before and after.
#[pg_extern(volatile)]
fn suggest_indexes_report(
    query: default!(Option<&str>, "NULL"),
    max_indexes: default!(i32, 5),
    workload_size: default!(i32, 200),
) -> String {
    let a = crate::error::time_limited("ai.suggest_indexes_report", || {
        advise(query, max_indexes, workload_size)
    })
    .or_raise("ai.suggest_indexes_report");
    report(&a)
}
