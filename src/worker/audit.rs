//! `ai.run_audit()`: the periodic architect. One run takes a statistics snapshot, finds slow
//! and regressed statements, collects the insights and the index advice, remembers new
//! findings (with embeddings, annotated with similar past optimizations), recognises advice
//! already given instead of repeating it, and measures the real gain of advised indexes that
//! now exist, and removes what the retention settings no longer keep. Runs never overlap: a
//! second one returns at once.
use crate::advisor::workload as advisor;
use crate::embed::session::embed_texts;
use crate::error::{OrRaise, UserError};
use crate::guc;
use crate::monitor::insights as monitor;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, in_subtransaction, VectorSql};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use serde_json::{json, Value};
use std::time::Instant;

/// Transaction-level advisory lock key of the audit ("ai_runau").
const AUDIT_LOCK: i64 = 0x6169_5f72_756e_6175;
/// Past optimizations at least this similar annotate a new finding.
const SIMILAR: f64 = 0.85;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Spi(#[from] pgrx::spi::Error),
}

impl UserError for AuditError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    }
}

/// Runs the audit now; returns what it found. `{"skipped": "already running"}` when another
/// run holds the audit lock (the background worker, pg_cron, another session).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn run_audit() -> pgrx::JsonB {
    crate::error::primary_only("ai.run_audit");
    pgrx::JsonB(crate::error::time_limited("ai.run_audit", audit).or_raise("ai.run_audit"))
}

struct Finding {
    kind: &'static str,
    target: String,
    query_text: Option<String>,
    recommendation: String,
    action_sql: Option<String>,
    before: Value,
}

pub fn audit() -> Result<Value, AuditError> {
    let got = Spi::get_one_with_args::<bool>(
        "SELECT pg_try_advisory_xact_lock($1)",
        &[AUDIT_LOCK.into()],
    )?
    .unwrap_or(false);
    if !got {
        return Ok(json!({"skipped": "already running"}));
    }
    let started = Instant::now();
    let run_id = as_extension_owner(|| {
        Spi::get_one::<i64>(
            "INSERT INTO ai.audit_runs (backend_type, application)
             SELECT backend_type, current_setting('application_name')
               FROM pg_stat_activity WHERE pid = pg_backend_pid()
             RETURNING id",
        )
    })?
    .unwrap_or(0);
    let mut warnings: Vec<String> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();

    let snapshot = monitor::snapshot().unwrap_or_else(|e| {
        warnings.push(format!("snapshot: {}", crate::error::with_hint(&e)));
        Value::Null
    });
    let slow = slow_queries().unwrap_or_else(|e| {
        warnings.push(format!("slow queries: {}", crate::error::with_hint(&e)));
        Vec::new()
    });
    for (queryid, query, mean, calls) in &slow {
        findings.push(Finding {
            kind: "slow_query",
            target: format!("queryid {queryid}"),
            query_text: Some(query.clone()),
            recommendation: format!(
                "mean {mean:.1} ms over {calls} calls (threshold {} ms): look at its plan with ai.explain and at ai.suggest_indexes(<query>)",
                guc::audit_slow_query_ms()
            ),
            action_sql: None,
            before: json!({"queryid": queryid, "mean_ms": mean, "calls": calls}),
        });
    }
    let regressions = monitor::regressions().unwrap_or_else(|e| {
        warnings.push(format!("regressions: {}", crate::error::with_hint(&e)));
        Vec::new()
    });
    for r in &regressions {
        findings.push(Finding {
            kind: "regression",
            target: format!("queryid {}", r.queryid),
            query_text: Some(r.query.clone()),
            recommendation: format!(
                "mean time {:.2} ms, {:.0}% above its baseline {:.2} ms",
                r.mean_ms,
                100.0 * (r.mean_ms / r.baseline_ms - 1.0),
                r.baseline_ms
            ),
            action_sql: None,
            before: json!({"queryid": r.queryid, "mean_ms": r.baseline_ms, "now_ms": r.mean_ms}),
        });
    }
    let insights = monitor::collect_insights().unwrap_or_else(|e| {
        warnings.push(format!("insights: {}", crate::error::with_hint(&e)));
        Vec::new()
    });
    for crate::monitor::Insight {
        category,
        severity,
        object,
        finding,
        remediation_sql: sql,
    } in &insights
    {
        // sessions come and go: they belong in the report, not in the history
        if [
            "long_running",
            "idle_in_transaction",
            "lock_wait",
            "query_regression",
        ]
        .contains(&category.as_str())
        {
            continue;
        }
        findings.push(Finding {
            kind: if category.ends_with("_index") && category != "fk_without_index" {
                "drop_index"
            } else {
                "insight"
            },
            target: object.clone(),
            query_text: None,
            recommendation: format!("[{severity}] {category}: {finding}"),
            action_sql: sql.clone(),
            before: json!({"category": category, "severity": severity}),
        });
    }
    let mut suggested = Vec::new();
    // the workload's statements name tables as the applications do: with the session's
    // default search_path, not the one this function pins
    let default_path = Spi::get_one::<String>(
        "SELECT (SELECT reset_val FROM pg_settings WHERE name = 'search_path')",
    )?
    .unwrap_or_else(|| "\"$user\", public".into());
    match crate::spi_util::with_search_path(&default_path, || advisor::advise(None, 5, 200)) {
        Ok(a) => {
            if a.not_assumed > 0 {
                warnings.push(format!(
                    "index advice: {} workload statement(s) left out: their roles cannot be planned as by {} (a superuser's, or a role it is not a member of)",
                    a.not_assumed,
                    Spi::get_one::<String>("SELECT current_user::text")?.unwrap_or_default()
                ));
            }
            // the CREATE rows come first, one per chosen index, in the same order
            for (ch, row) in a
                .selection
                .chosen
                .iter()
                .zip(crate::advisor::report::rows(&a))
            {
                let queries: Vec<Value> = ch
                    .helped
                    .iter()
                    .map(|(q, before, after)| {
                        let w = &a.queries[*q];
                        json!({"queryid": w.queryid, "mean_ms": w.mean_ms, "calls": w.calls,
                               "cost_before": before, "cost_after": after})
                    })
                    .collect();
                suggested.push(
                    json!({"index_sql": row.index_sql, "cost_reduction_pct": row.cost_reduction_pct,
                                      "queries_helped": row.queries_helped}),
                );
                findings.push(Finding {
                    kind: "index",
                    target: row.table.clone(),
                    query_text: ch.helped.first().map(|(q, ..)| a.queries[*q].text.clone()),
                    recommendation: row.reason.clone(),
                    action_sql: Some(row.index_sql.clone()),
                    before: json!({"queries": queries, "cost_reduction_pct": row.cost_reduction_pct}),
                });
            }
        }
        Err(e) => warnings.push(format!("index advice: {}", crate::error::with_hint(&e))),
    }

    let (new_ids, known) = remember(&findings, &mut warnings)?;
    let verified = verify_indexes()?;
    let retention = crate::retention::sweep::sweep().unwrap_or_else(|e| {
        warnings.push(format!("retention: {}", crate::error::with_hint(&e)));
        Value::Null
    });
    let result = json!({
        "run_id": run_id,
        "elapsed_ms": (started.elapsed().as_secs_f64() * 1000.0).round(),
        "snapshot": snapshot,
        "slow_queries": slow.iter().map(|(id, q, m, c)| json!({"queryid": id, "query": q, "mean_ms": m, "calls": c})).collect::<Vec<_>>(),
        "regressions": regressions.iter().map(|r| json!({"queryid": r.queryid, "mean_ms": r.mean_ms, "baseline_ms": r.baseline_ms})).collect::<Vec<_>>(),
        "insights": insights.len(),
        "index_suggestions": suggested,
        "new_findings": new_ids.len(),
        "known_findings": known,
        "verified": verified,
        "retention": retention,
        "warnings": warnings,
    });
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.audit_runs SET finished_at = clock_timestamp(), result = $2 WHERE id = $1",
            &[run_id.into(), pgrx::JsonB(result.clone()).into()],
        )
    })?;
    Ok(result)
}

fn slow_queries() -> Result<Vec<(i64, String, f64, i64)>, crate::advisor::AdvisorError> {
    let ss = advisor::stat_statements_schema()?;
    let mut out = Vec::new();
    Spi::connect(|c| {
        for r in c.select(
            &format!(
                "SELECT queryid, query, mean_exec_time, calls FROM {ss}.pg_stat_statements
                  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND toplevel AND mean_exec_time >= $1 AND calls >= $2 AND queryid IS NOT NULL
                    AND query !~* '(^|[^a-z0-9_])ai\\.' AND query !~* 'pg_catalog\\.|hypopg'
                  ORDER BY total_exec_time DESC LIMIT 20"
            ),
            None,
            &[
                guc::audit_slow_query_ms().into(),
                guc::audit_slow_query_calls().into(),
            ],
        )? {
            out.push((
                r.get::<i64>(1)?.unwrap_or(0),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<f64>(3)?.unwrap_or(0.0),
                r.get::<i64>(4)?.unwrap_or(0),
            ));
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    Ok(out)
}

/// Stores the findings not already on record; returns the new ids and how many were known.
fn remember(
    findings: &[Finding],
    warnings: &mut Vec<String>,
) -> Result<(Vec<i64>, usize), AuditError> {
    let mut fresh = Vec::new();
    let mut known = 0usize;
    for f in findings {
        // the history is the extension's state: read with the owner's rights, so that a
        // monitoring role (the background worker's among them) can run the audit
        let seen = as_extension_owner(|| {
            Spi::get_one_with_args::<i64>(
                "SELECT max(id) FROM ai.optimization_log
                  WHERE kind = $1 AND coalesce(target, '') = $2 AND coalesce(action_sql, '') = coalesce($3, '')
                    AND status IN ('suggested', 'applied')",
                &[f.kind.into(), f.target.clone().into(), f.action_sql.clone().into()],
            )
        })?;
        match seen {
            Some(_) => known += 1,
            None => fresh.push(f),
        }
    }
    let texts: Vec<String> = fresh
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f.recommendation,
                f.query_text.as_deref().unwrap_or(""),
                f.action_sql.as_deref().unwrap_or("")
            )
        })
        .collect();
    let refs: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
    let vectors: Vec<Option<Vec<f32>>> =
        match in_subtransaction(std::panic::AssertUnwindSafe(|| embed_texts(&refs))) {
            Ok(v) => v,
            Err(e) if e.is_cancel() => e.rethrow(),
            Err(e) => {
                warnings.push(format!("findings stored without embeddings: {}", e.message));
                vec![None; fresh.len()]
            }
        };
    let vsql = VectorSql::new()?;
    let d = vsql.distance_to("embedding", 1);
    let mut ids = Vec::new();
    for (f, v) in fresh.iter().zip(vectors) {
        let mut rationale = None;
        if let Some(v) = &v {
            let similar = as_extension_owner(|| {
                Spi::connect(|c| {
                    let r = c
                    .select(
                        &format!(
                            "SELECT id, gain_pct, 1 - {d} FROM ai.optimization_log
                              WHERE embedding IS NOT NULL AND gain_pct IS NOT NULL ORDER BY {d} LIMIT 1"
                        ),
                        None,
                        &[v.clone().into()],
                    )?
                    .first();
                    if r.is_empty() {
                        return Ok::<_, pgrx::spi::Error>(None);
                    }
                    Ok(Some((
                        r.get::<i64>(1)?.unwrap_or(0),
                        r.get::<f64>(2)?.unwrap_or(0.0),
                        r.get::<f64>(3)?.unwrap_or(0.0),
                    )))
                })
            })?;
            if let Some((id, gain, sim)) = similar.filter(|s| s.2 >= SIMILAR) {
                rationale = Some(format!(
                    "a similar optimization (#{id}, similarity {sim:.2}) gained {gain:.0}% when it was applied"
                ));
            }
        }
        let id = as_extension_owner(|| {
            Spi::get_one_with_args::<i64>(
                "INSERT INTO ai.optimization_log (kind, target, query_text, recommendation, action_sql, rationale,
                                                  before_metrics, embedding, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, session_user) RETURNING id",
                &[
                    f.kind.into(),
                    f.target.clone().into(),
                    f.query_text.clone().into(),
                    f.recommendation.clone().into(),
                    f.action_sql.clone().into(),
                    rationale.into(),
                    pgrx::JsonB(f.before.clone()).into(),
                    v.into(),
                ],
            )
        })?;
        ids.extend(id);
    }
    Ok((ids, known))
}

/// Advised indexes that now exist: first marked applied (from now on the statistics count
/// as "after"), then, once their statements ran again, verified with the measured gain.
fn verify_indexes() -> Result<Vec<Value>, AuditError> {
    let mut open = Vec::new();
    as_extension_owner(|| {
        Spi::connect(|c| {
            for r in c.select(
            "SELECT l.id, l.status, l.before_metrics, l.applied_at::text,
                    to_regclass(format('%s.%s', split_part(substring(l.action_sql FROM ' ON ([^ ]+) '), '.', 1),
                                       substring(l.action_sql FROM 'CONCURRENTLY ([^ ]+) ON'))) IS NOT NULL
               FROM ai.optimization_log l
              WHERE l.kind = 'index' AND l.status IN ('suggested', 'applied') AND l.action_sql IS NOT NULL",
            None,
            &[],
        )? {
            open.push((
                r.get::<i64>(1)?.unwrap_or(0),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<pgrx::JsonB>(3)?.map(|j| j.0).unwrap_or(Value::Null),
                r.get::<String>(4)?,
                r.get::<bool>(5)?.unwrap_or(false),
            ));
        }
            Ok::<_, pgrx::spi::Error>(())
        })
    })?;
    let mut out = Vec::new();
    for (id, status, before, applied_at, exists) in open {
        if !exists {
            continue;
        }
        if status == "suggested" {
            as_extension_owner(|| {
                Spi::run_with_args(
                    "UPDATE ai.optimization_log SET status = 'applied', applied_at = now() WHERE id = $1",
                    &[id.into()],
                )
            })?;
            out.push(json!({"id": id, "status": "applied"}));
            continue;
        }
        // applied: the statements' mean since then, from the snapshots
        let queries = before["queries"].as_array().cloned().unwrap_or_default();
        let (mut b_time, mut b_calls, mut a_time, mut a_calls) = (0.0, 0.0, 0.0, 0.0);
        for q in &queries {
            let Some(qid) = q["queryid"].as_i64() else {
                continue;
            };
            let after = Spi::connect(|c| {
                let r = c
                    .select(
                        "SELECT coalesce(sum(q.d_total_time_ms), 0)::float8, coalesce(sum(q.d_calls), 0)::float8
                           FROM ai.stat_snapshot_queries q JOIN ai.stat_snapshots s ON s.id = q.snapshot_id
                          WHERE q.queryid = $1
                            -- only windows that began after the index was seen
                            AND (SELECT max(p.taken_at) FROM ai.stat_snapshots p WHERE p.id < s.id) >= $2::timestamptz
                            AND q.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                        None,
                        &[qid.into(), applied_at.clone().into()],
                    )?
                    .first();
                Ok::<_, pgrx::spi::Error>((
                    r.get::<f64>(1)?.unwrap_or(0.0),
                    r.get::<f64>(2)?.unwrap_or(0.0),
                ))
            })?;
            if after.1 > 0.0 {
                let calls = q["calls"].as_f64().unwrap_or(1.0).max(1.0);
                b_time += q["mean_ms"].as_f64().unwrap_or(0.0) * calls;
                b_calls += calls;
                a_time += after.0;
                a_calls += after.1;
            }
        }
        if a_calls < 5.0 || b_calls == 0.0 {
            continue;
        }
        let (before_ms, after_ms) = (b_time / b_calls, a_time / a_calls);
        let gain = if before_ms > 0.0 {
            100.0 * (1.0 - after_ms / before_ms)
        } else {
            0.0
        };
        let gain = (gain * 10.0).round() / 10.0;
        as_extension_owner(|| {
            Spi::run_with_args(
                "UPDATE ai.optimization_log SET status = 'verified', verified_at = now(), gain_pct = $2,
                        after_metrics = $3 WHERE id = $1",
                &[
                    id.into(),
                    gain.into(),
                    pgrx::JsonB(json!({"mean_ms_before": before_ms, "mean_ms_after": after_ms, "calls_after": a_calls}))
                        .into(),
                ],
            )
        })?;
        out.push(json!({"id": id, "status": "verified", "gain_pct": gain,
                        "mean_ms_before": before_ms, "mean_ms_after": after_ms}));
    }
    Ok(out)
}
