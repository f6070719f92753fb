//! SQL surface of the metrics: ai.metrics(). Counts are read as the extension owner (the
//! state tables are its own); what leaves the function is numbers, for monitoring roles.
use super::counters;
use crate::error::OrRaise;
use crate::spi_util::as_extension_owner;
use crate::spi_util::Spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

const METRICS_SQL: &str = include_str!("metrics.sql");

type Row = (String, JsonB, f64, String);

fn collect() -> Result<Vec<Row>, pgrx::spi::Error> {
    let mut out: Vec<Row> = as_extension_owner(|| {
        Spi::connect(|c| {
            let mut rows = Vec::new();
            for r in c.select(METRICS_SQL, None, &[])? {
                rows.push((
                    r.get::<String>(1)?.unwrap_or_default(),
                    r.get::<JsonB>(2)?.unwrap_or(JsonB(json!({}))),
                    r.get::<f64>(3)?.unwrap_or(0.0),
                    r.get::<String>(4)?.unwrap_or_default(),
                ));
            }
            Ok::<_, pgrx::spi::Error>(rows)
        })
    })?;
    let row = |m: &str, v: f64, d: &str| (m.to_string(), JsonB(json!({})), v, d.to_string());
    match counters::embedding() {
        Some((calls, texts, seconds)) => {
            out.push(row(
                "ai_embedding_calls_total",
                calls as f64,
                "calls of the embedding model since the server started",
            ));
            out.push(row(
                "ai_embedding_texts_total",
                texts as f64,
                "texts embedded since the server started",
            ));
            out.push(row(
                "ai_embedding_seconds_total",
                seconds,
                "time spent embedding since the server started, seconds",
            ));
            out.push(row(
                "ai_embedding_counters_available",
                1.0,
                "1: the embedding counters are kept (ai_architect is in shared_preload_libraries)",
            ));
        }
        None => out.push(row(
            "ai_embedding_counters_available",
            0.0,
            "0: add ai_architect to shared_preload_libraries to count embedding calls and time",
        )),
    }
    Ok(out)
}

/// One row per metric and label set: audits run, advice given / applied and its measured
/// gains, approval requests by state and risk, executions, questions by source and outcome,
/// embedding calls and time, conversations. Made for postgres_exporter
/// (monitoring/postgres_exporter/queries.yaml) and the Grafana dashboard built on it.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)]
fn metrics() -> TableIterator<
    'static,
    (
        name!(metric, String),
        name!(labels, JsonB),
        name!(value, f64),
        name!(description, String),
    ),
> {
    TableIterator::new(crate::error::time_limited("ai.metrics", collect).or_raise("ai.metrics"))
}
