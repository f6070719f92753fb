//! SQL surface of monitoring. Reads run with the caller's rights (pg_stat_statements and
//! pg_stat_activity show other roles' statements only to those allowed to see them); the
//! snapshot history is written as the extension owner.
use super::plan::{anti_patterns, regressed};
use super::{Insight, MonitorError, INDEX_HEALTH_SQL, INSIGHTS_SQL};
use crate::advisor::workload::stat_statements_schema;
use crate::error::OrRaise;
use crate::guc;
use crate::spi_util::Spi;
use crate::spi_util::{
    as_extension_owner, in_rolled_back_subtransaction, read_only, with_timeout, SearchPath,
};
use crate::sqlparse::Kind;
use pgrx::prelude::*;
use serde_json::{json, Value};
use std::panic::AssertUnwindSafe;

type Result<T> = std::result::Result<T, MonitorError>;

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

type TopRow = (
    Option<i64>,
    Option<String>,
    i64,
    f64,
    f64,
    i64,
    Option<f64>,
    Option<f64>,
);

fn top(limit: i32, order_by: &str) -> Result<Vec<TopRow>> {
    if !(1..=10_000).contains(&limit) {
        return Err(MonitorError::Limit);
    }
    let order = match order_by {
        "total_time" => "total_exec_time",
        "mean_time" => "mean_exec_time",
        "calls" => "calls",
        "rows" => "rows",
        "io" => "shared_blks_read",
        other => return Err(MonitorError::OrderBy(other.to_string())),
    };
    let ss = stat_statements_schema()?;
    let sql = format!(
        "SELECT queryid, query, calls, total_exec_time, mean_exec_time, rows,
                round((100.0 * shared_blks_hit / nullif(shared_blks_hit + shared_blks_read, 0))::numeric, 2)::float8,
                round((100.0 * total_exec_time / nullif(sum(total_exec_time) OVER (), 0))::numeric, 2)::float8
           FROM {ss}.pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          ORDER BY {order} DESC NULLS LAST, queryid
          LIMIT $1"
    );
    Spi::connect(|c| {
        let mut out = Vec::new();
        for r in c.select(&sql, None, &[(limit as i64).into()])? {
            out.push((
                r.get::<i64>(1)?,
                r.get::<String>(2)?,
                r.get::<i64>(3)?.unwrap_or(0),
                r.get::<f64>(4)?.unwrap_or(0.0),
                r.get::<f64>(5)?.unwrap_or(0.0),
                r.get::<i64>(6)?.unwrap_or(0),
                r.get::<f64>(7)?,
                r.get::<f64>(8)?,
            ));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(MonitorError::from)
}

/// The plan of a statement and the anti-patterns in it. `analyze => true` runs it, which is
/// only allowed for a SELECT, read-only, rolled back, under ai_architect.statement_timeout_ms.
#[pg_extern(volatile)]
fn explain(sql: &str, analyze: default!(bool, false)) -> pgrx::JsonB {
    pgrx::JsonB(explain_json(sql, analyze).or_raise("ai.explain"))
}

fn explain_json(sql: &str, analyze: bool) -> Result<Value> {
    let sp = SearchPath::pin();
    let lists = crate::pgsql::lists()?;
    // PostgreSQL's analysis says what the statement is; EXPLAIN ANALYZE runs it, so only
    // a SELECT that passes the same allow list as any SQL ai_architect runs for someone
    let run = || {
        crate::pgsql::prepare(sql, sp.caller(), |p| {
            match p.facts.command {
                crate::pgsql::Command::Utility => {
                    return Err(crate::pgsql::PgSqlError::Refused(
                        crate::pgsql::Refusal::NotASelect(p.facts.tag.clone()),
                    ))
                }
                _ if analyze => crate::pgsql::policy::check_select(&p.facts, &lists)?,
                // planning alone folds IMMUTABLE calls: what it reaches is judged too
                _ => crate::pgsql::policy::check_calls(&p.facts, &lists)?,
            }
            Ok((p.facts.command, p.explain_json(true, analyze)?))
        })
        .and_then(|r| r)
    };
    let out = if analyze {
        in_rolled_back_subtransaction(AssertUnwindSafe(|| {
            read_only(|| with_timeout(guc::statement_timeout_ms(), run))
        }))
    } else {
        in_rolled_back_subtransaction(AssertUnwindSafe(run))
    };
    let (command, plan) = match out {
        Ok(Ok(p)) => p,
        Ok(Err(crate::pgsql::PgSqlError::Refused(crate::pgsql::Refusal::NotASelect(k))))
            if analyze =>
        {
            return Err(MonitorError::AnalyzeWrite(k))
        }
        Ok(Err(e)) if analyze => return Err(MonitorError::Unsafe(e)),
        Ok(Err(e)) => return Err(MonitorError::Explain(e.to_string())),
        Err(e) if e.is_cancel() && !analyze => e.rethrow(),
        Err(e) => return Err(MonitorError::Explain(e.message)),
    };
    let kind = match command {
        crate::pgsql::Command::Select => Kind::Select,
        crate::pgsql::Command::Insert => Kind::Insert,
        crate::pgsql::Command::Update => Kind::Update,
        crate::pgsql::Command::Delete => Kind::Delete,
        crate::pgsql::Command::Merge => Kind::Merge,
        crate::pgsql::Command::Utility => Kind::Other,
    };
    let top = plan[0].clone();
    let rows = |schema: &str, rel: &str| -> Option<f64> {
        Spi::get_one_with_args::<f64>(
            "SELECT greatest(c.reltuples, 0)::float8 FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = $2 AND (n.nspname = $1 OR $1 = '') ORDER BY n.nspname = $1 DESC LIMIT 1",
            &[schema.into(), rel.into()],
        )
        .ok()
        .flatten()
    };
    let findings: Vec<Value> = anti_patterns(&top["Plan"], &rows)
        .iter()
        .map(|f| f.to_json())
        .collect();
    sp.restore();
    Ok(json!({
        "statement": kind.as_str(),
        "analyzed": analyze,
        "total_cost": top["Plan"]["Total Cost"],
        "plan_rows": top["Plan"]["Plan Rows"],
        "planning_ms": top.get("Planning Time"),
        "execution_ms": top.get("Execution Time"),
        "findings": findings,
        "plan": top["Plan"],
    }))
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
        collect_insights()
            .or_raise("ai.insights")
            .into_iter()
            .map(Insight::into_row),
    )
}

pub fn collect_insights() -> Result<Vec<Insight>> {
    let mut out: Vec<Insight> = Vec::new();
    Spi::connect(|c| {
        for r in c.select(INSIGHTS_SQL, None, &["5 minutes".into(), "1 minute".into()])? {
            out.push(Insight {
                category: r.get::<String>(1)?.unwrap_or_default(),
                severity: r.get::<String>(2)?.unwrap_or_default(),
                object: r.get::<String>(3)?.unwrap_or_default(),
                finding: r.get::<String>(4)?.unwrap_or_default(),
                remediation_sql: r.get::<String>(5)?,
            });
        }
        for r in c.select(INDEX_HEALTH_SQL, None, &[])? {
            let kind = r.get::<String>(1)?.unwrap_or_default();
            let bytes = r.get::<i64>(6)?.unwrap_or(0);
            let severity = match kind.as_str() {
                "duplicate" => "medium",
                _ if bytes >= 100 << 20 => "medium",
                _ => "low",
            };
            out.push(Insight {
                category: format!("{kind}_index"),
                severity: severity.into(),
                object: format!(
                    "{}.{}",
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<String>(4)?.unwrap_or_default()
                ),
                finding: r.get::<String>(7)?.unwrap_or_default(),
                remediation_sql: r.get::<String>(8)?,
            });
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    for r in regressions()? {
        out.push(Insight {
            category: "query_regression".into(),
            severity: "high".into(),
            object: format!("queryid {}", r.queryid),
            finding: format!(
                "mean time {:.2} ms over the last {} calls, {:.0}% above its baseline of {:.2} ms: {}",
                r.mean_ms,
                r.calls,
                100.0 * (r.mean_ms / r.baseline_ms - 1.0),
                r.baseline_ms,
                r.query.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            remediation_sql: Some(format!("SELECT ai.explain($q${}$q$)", r.query))
                .filter(|_| !r.query.contains('$')),
        });
    }
    out.sort_by(|a, b| {
        severity_rank(&a.severity)
            .cmp(&severity_rank(&b.severity))
            .then(a.category.cmp(&b.category))
            .then(a.object.cmp(&b.object))
    });
    Ok(out)
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

pub struct Regression {
    pub queryid: i64,
    pub query: String,
    pub mean_ms: f64,
    pub baseline_ms: f64,
    pub calls: i64,
}

/// Statements whose mean time in the latest snapshot is more than 50% above their mean over
/// the earlier snapshots of the baseline window (7 days); both need a few calls.
pub fn regressions() -> Result<Vec<Regression>> {
    let has =
        Spi::get_one::<bool>("SELECT has_table_privilege('ai.stat_snapshot_queries', 'SELECT')")?
            .unwrap_or(false);
    if !has {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    Spi::connect(|c| {
        for r in c.select(
            "WITH last AS (SELECT id, taken_at FROM ai.stat_snapshots ORDER BY id DESC LIMIT 1),
                  win AS (SELECT q.queryid, q.dbid, q.userid, q.query, q.d_calls,
                                 q.d_total_time_ms / q.d_calls AS mean
                            FROM ai.stat_snapshot_queries q JOIN last ON q.snapshot_id = last.id
                           WHERE q.d_calls >= $1
                             AND q.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())),
                  base AS (SELECT q.queryid, q.dbid, q.userid,
                                  sum(q.d_total_time_ms) / sum(q.d_calls) AS mean, sum(q.d_calls) AS calls
                             FROM ai.stat_snapshot_queries q JOIN ai.stat_snapshots s ON s.id = q.snapshot_id, last
                            WHERE s.id < last.id AND s.taken_at >= last.taken_at - interval '7 days' AND q.d_calls > 0
                            GROUP BY 1, 2, 3)
             SELECT w.queryid, w.query, w.mean, b.mean, w.d_calls
               FROM win w JOIN base b USING (queryid, dbid, userid)
              WHERE b.calls >= $1 ORDER BY w.mean / nullif(b.mean, 0) DESC",
            None,
            &[5i64.into()],
        )? {
            let (mean, base) = (
                r.get::<f64>(3)?.unwrap_or(0.0),
                r.get::<f64>(4)?.unwrap_or(0.0),
            );
            if regressed(mean, base) {
                out.push(Regression {
                    queryid: r.get::<i64>(1)?.unwrap_or(0),
                    query: r.get::<String>(2)?.unwrap_or_default(),
                    mean_ms: mean,
                    baseline_ms: base,
                    calls: r.get::<i64>(5)?.unwrap_or(0),
                });
            }
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    Ok(out)
}

/// Stores what pg_stat_statements counted since the previous snapshot.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn snapshot_stats() -> pgrx::JsonB {
    crate::error::primary_only("ai.snapshot_stats");
    pgrx::JsonB(snapshot().or_raise("ai.snapshot_stats"))
}

pub fn snapshot() -> Result<Value> {
    let ss = stat_statements_schema()?;
    let retention = guc::snapshot_retention_days();
    let insert = format!(
        "WITH snap AS (
             INSERT INTO ai.stat_snapshots (stats_reset, taken_by)
             SELECT stats_reset, session_user FROM {ss}.pg_stat_statements_info
             RETURNING id, stats_reset),
         cur AS (SELECT s.queryid, s.dbid, s.userid, s.query, s.calls, s.total_exec_time, s.rows,
                        s.shared_blks_hit, s.shared_blks_read
                   FROM {ss}.pg_stat_statements s WHERE s.queryid IS NOT NULL AND s.toplevel),
         prev AS (SELECT DISTINCT ON (queryid, dbid, userid) q.*
                    FROM ai.stat_snapshot_queries q
                    JOIN cur USING (queryid, dbid, userid)
                   ORDER BY queryid, dbid, userid, snapshot_id DESC),
         ins AS (
             INSERT INTO ai.stat_snapshot_queries
                 (snapshot_id, queryid, dbid, userid, query, calls, total_time_ms, rows, shared_blks_hit,
                  shared_blks_read, d_calls, d_total_time_ms, d_rows, d_shared_blks_hit, d_shared_blks_read)
             SELECT snap.id, c.queryid, c.dbid, c.userid, c.query, c.calls, c.total_exec_time, c.rows,
                    c.shared_blks_hit, c.shared_blks_read,
                    CASE WHEN r.reset THEN c.calls ELSE c.calls - p.calls END,
                    CASE WHEN r.reset THEN c.total_exec_time ELSE c.total_exec_time - p.total_time_ms END,
                    CASE WHEN r.reset THEN c.rows ELSE c.rows - p.rows END,
                    CASE WHEN r.reset THEN c.shared_blks_hit ELSE c.shared_blks_hit - p.shared_blks_hit END,
                    CASE WHEN r.reset THEN c.shared_blks_read ELSE c.shared_blks_read - p.shared_blks_read END
               FROM cur c CROSS JOIN snap
               LEFT JOIN prev p USING (queryid, dbid, userid)
               CROSS JOIN LATERAL (SELECT p.calls IS NULL OR c.calls < p.calls
                                          OR snap.stats_reset IS DISTINCT FROM
                                             (SELECT stats_reset FROM ai.stat_snapshots WHERE id = p.snapshot_id)
                                          AS reset) r
              WHERE p.calls IS NULL OR c.calls <> p.calls OR r.reset
             RETURNING d_calls, d_total_time_ms)
         SELECT (SELECT id FROM snap), count(*)::int, coalesce(sum(d_calls), 0)::bigint,
                coalesce(sum(d_total_time_ms), 0)::float8
           FROM ins"
    );
    as_extension_owner(|| {
        let row = Spi::connect_mut(|c| {
            let r = c.update(&insert, None, &[])?.first();
            Ok::<_, pgrx::spi::Error>((
                r.get::<i64>(1)?.unwrap_or(0),
                r.get::<i32>(2)?.unwrap_or(0),
                r.get::<i64>(3)?.unwrap_or(0),
                r.get::<f64>(4)?.unwrap_or(0.0),
            ))
        })?;
        Spi::run_with_args(
            "UPDATE ai.stat_snapshots SET queries = $2 WHERE id = $1",
            &[row.0.into(), row.1.into()],
        )?;
        let removed = Spi::get_one_with_args::<i64>(
            "WITH d AS (DELETE FROM ai.stat_snapshots WHERE taken_at < now() - make_interval(days => $1)
                        RETURNING 1) SELECT count(*) FROM d",
            &[retention.into()],
        )?
        .unwrap_or(0);
        Ok::<_, MonitorError>(json!({
            "snapshot_id": row.0,
            "statements": row.1,
            "calls": row.2,
            "total_time_ms": (row.3 * 100.0).round() / 100.0,
            "snapshots_removed": removed,
        }))
    })
}
