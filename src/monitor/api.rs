//! SQL surface of monitoring. Reads run with the caller's rights (pg_stat_statements and
//! pg_stat_activity show other roles' statements only to those allowed to see them); the
//! snapshot history is written as the extension owner.
use super::insights::{collect_insights, snapshot};
use super::statements::{explain_json, top};
use super::Insight;
use crate::error::OrRaise;
use pgrx::prelude::*;

/// The heaviest statements of this database, from pg_stat_statements.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)]
fn top_queries(
    limit: default!(i32, 10),
    order_by: default!(&str, "'total_time'"),
) -> TableIterator<
    'static,
    (
        name!(queryid, Option<i64>),
        name!(query, Option<String>),
        name!(calls, i64),
        name!(total_time_ms, f64),
        name!(mean_time_ms, f64),
        name!(rows, i64),
        name!(cache_hit_pct, Option<f64>),
        name!(pct_of_total_time, Option<f64>),
    ),
> {
    TableIterator::new(top(limit, order_by).or_raise("ai.top_queries"))
}

/// The plan of a statement and the anti-patterns in it. `analyze => true` runs it, which is
/// only allowed for a SELECT, read-only, rolled back, under ai_architect.statement_timeout_ms.
#[pg_extern(volatile)]
fn explain(sql: &str, analyze: default!(bool, false)) -> pgrx::JsonB {
    pgrx::JsonB(explain_json(sql, analyze).or_raise("ai.explain"))
}

/// Findings a DBA should act on, most severe first.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn insights() -> TableIterator<
    'static,
    (
        name!(category, String),
        name!(severity, String),
        name!(object, String),
        name!(finding, String),
        name!(remediation_sql, Option<String>),
    ),
> {
    TableIterator::new(
        crate::error::time_limited("ai.insights", collect_insights)
            .or_raise("ai.insights")
            .into_iter()
            .map(Insight::into_row),
    )
}

/// Stores what pg_stat_statements counted since the previous snapshot.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn snapshot_stats() -> pgrx::JsonB {
    crate::error::primary_only("ai.snapshot_stats");
    pgrx::JsonB(
        crate::error::time_limited("ai.snapshot_stats", snapshot).or_raise("ai.snapshot_stats"),
    )
}
