//! SQL surface of ai.ask: ai.ask, ai.generate_sql, ai.ask_table.
//!
//! The question is embedded once; the catalog the caller may read (row-level security on the
//! catalog tables) gives the schema, the closest stored samples give examples. A sample close
//! enough answers directly; otherwise the LLM when one is configured, else the in-process
//! engine. Whatever its source, the SQL runs only when it is one safe SELECT that plans under
//! the cost limit, as the caller (these functions are SECURITY INVOKER), search_path pinned,
//! read-only, in a subtransaction that is rolled back, under statement_timeout_ms, rows and
//! bytes capped.
use super::answer::{ask_json, generate, log_usage, not_understood, validate};
use super::error::Result;
use crate::error::OrRaise;
use crate::pgsql::{self};
use crate::spi_util::SearchPath;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::Value;
use std::time::Instant;

/// Answers a question in plain language with one safe SELECT, run read-only as the caller
/// (unless `execute` is false). Returns the SQL, where it came from, a confidence, the tables,
/// an explanation and the rows; a question that is not understood, SQL that is refused or a
/// query that fails comes back with `executed: false` and `error` / `hint`, logged like every
/// ask in ai.query_usage_stats (rate it with ai.feedback(usage_id, ...)).
#[pg_extern(volatile)]
fn ask(
    question: Option<&str>,
    execute: default!(bool, true),
    max_rows: default!(i32, 100),
) -> JsonB {
    let sp = SearchPath::pin();
    let v = ask_json(&sp, question.unwrap_or(""), &[], execute, max_rows).or_raise("ai.ask");
    sp.restore();
    JsonB(v)
}

/// The SQL ai.ask would run for a question; nothing is executed. An ERROR when the question is
/// not understood or no safe SQL can be produced.
#[pg_extern(volatile)]
fn generate_sql(question: Option<&str>) -> String {
    let sp = SearchPath::pin();
    let started = Instant::now();
    let r = (|| -> Result<String> {
        let lists = pgsql::lists()?;
        let g = generate(&sp, question.unwrap_or(""), &lists, &[])?;
        if g.not_understood.is_some() {
            return Err(not_understood(&g));
        }
        let sql = g.sql.clone().unwrap_or_default();
        if g.source == "engine" {
            validate(&sp, &sql, &lists)?;
        }
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        log_usage(question.unwrap_or(""), &g, None, None, total_ms);
        Ok(sql)
    })()
    .or_raise("ai.generate_sql");
    sp.restore();
    r
}

/// ai.ask for psql: one row per result row (a jsonb object), so `SELECT * FROM
/// ai.ask_table('...')` reads like a table. The SQL and its explanation go out as a NOTICE. An
/// ERROR when the question cannot be answered.
#[pg_extern(volatile)]
fn ask_table(
    question: Option<&str>,
    max_rows: default!(i32, 100),
) -> SetOfIterator<'static, JsonB> {
    let sp = SearchPath::pin();
    let v = ask_json(&sp, question.unwrap_or(""), &[], true, max_rows).or_raise("ai.ask_table");
    sp.restore();
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        let mut r = pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("ai.ask_table: {e}"),
            "ai.ask_table",
        );
        if let Some(h) = v.get("hint").and_then(Value::as_str) {
            r = r.set_hint(h.to_string());
        }
        if let Some(s) = v.get("sql").and_then(Value::as_str) {
            r = r.set_detail(format!("SQL: {s}"));
        }
        r.report(pgrx::PgLogLevel::ERROR);
    }
    pgrx::notice!(
        "{} [{} {:.2}] {}",
        v["explanation"].as_str().unwrap_or(""),
        v["source"].as_str().unwrap_or(""),
        v["confidence"].as_f64().unwrap_or(0.0),
        v["sql"].as_str().unwrap_or("").replace('\n', " ")
    );
    let rows = v
        .get("rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    SetOfIterator::new(rows.into_iter().map(JsonB))
}
