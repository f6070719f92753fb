//! The findings of ai.insights (catalog and activity checks, index health, query regressions)
//! and the snapshots of pg_stat_statements they are measured against.
use super::plan::regressed;
use super::{severity_rank, Insight, MonitorError, INDEX_HEALTH_SQL, INSIGHTS_SQL};
use crate::advisor::workload::stat_statements_schema;
use crate::guc;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use serde_json::{json, Value};

type Result<T> = std::result::Result<T, MonitorError>;

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
