//! The heaviest statements (pg_stat_statements) and plans of the caller's own statements,
//! read with the caller's rights.
use super::plan::anti_patterns;
use super::MonitorError;
use crate::advisor::workload::stat_statements_schema;
use crate::guc;
use crate::spi_util::Spi;
use crate::spi_util::{in_rolled_back_subtransaction, read_only, with_timeout, SearchPath};
use crate::sqlparse::Kind;
use serde_json::{json, Value};
use std::panic::AssertUnwindSafe;

type Result<T> = std::result::Result<T, MonitorError>;

pub(super) type TopRow = (
    Option<i64>,
    Option<String>,
    i64,
    f64,
    f64,
    i64,
    Option<f64>,
    Option<f64>,
);

pub(super) fn top(limit: i32, order_by: &str) -> Result<Vec<TopRow>> {
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

pub(super) fn explain_json(sql: &str, analyze: bool) -> Result<Value> {
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
