//! A question answered: a SQL text from a sample, the model or the engine, validated (one safe
//! SELECT under the cost limit), run read-only as the caller, rolled back, rows and bytes capped,
//! and the call logged.
use super::adapt;
use super::context::{closest, engine_schema, load_catalog, relevant, value_hits};
use super::engine::{self, NotUnderstood};
use super::error::{AskError, Result};
use super::prompt::{self};
use crate::error::UserError;
use crate::guc;
use crate::llm::{self, LlmError};
use crate::pgsql::{self, Lists};
use crate::spi_util::Spi;
use crate::spi_util::{
    as_extension_owner, in_rolled_back_subtransaction, read_only, with_timeout, OwnTimer,
    SearchPath,
};
use pgrx::prelude::*;
use serde_json::{json, Map, Value};
use std::panic::AssertUnwindSafe;
use std::time::Instant;

/// A query for a question, before it runs.
#[derive(Debug, Clone, Default)]
pub(super) struct Generated {
    pub(super) sql: Option<String>,
    pub(super) source: &'static str,
    pub(super) confidence: f64,
    pub(super) tables: Vec<String>,
    pub(super) explanation: String,
    pub(super) sample_id: Option<i64>,
    pub(super) similarity: Option<f64>,
    /// Set when the engine is not confident: the words it did not understand.
    pub(super) not_understood: Option<Vec<String>>,
    /// The engine's words it could not account for, also when it answered.
    pub(super) unexplained: Vec<String>,
    /// The engine's words accounted for by their place, not a name (see `engine::Answer`).
    pub(super) assumed: Vec<String>,
    pub(super) closest: Vec<String>,
    pub(super) attempts: usize,
}

/// Checks that `sql` may run (PostgreSQL's analysis against the allow list) and plans it as
/// the caller: one safe SELECT, under the cost limit.
pub(super) fn validate(sp: &SearchPath, sql: &str, lists: &Lists) -> Result<f64> {
    // planning folds IMMUTABLE calls: rolled back, so nothing it did remains
    let r = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        read_only(|| pgsql::checked_select(sql, sp.caller(), lists, |p| p.total_cost()))
    }));
    let cost = match r {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(AskError::Refused(e)),
        Err(e) if e.is_cancel() => e.rethrow(),
        Err(e) => return Err(AskError::Plan(e.message)),
    };
    let max = guc::ask_max_cost();
    if max > 0.0 && cost > max {
        return Err(AskError::TooCostly { cost, max });
    }
    Ok(cost)
}

/// The configured OpenAI-compatible model, if any (ai_architect.llm_base_url).
pub fn model_config() -> Option<llm::Config> {
    let base_url = guc::llm_base_url().filter(|u| !u.trim().is_empty())?;
    Some(llm::Config {
        base_url,
        model: guc::llm_model(),
        api_key: guc::llm_api_key(),
        timeout: std::time::Duration::from_millis(guc::llm_timeout_ms()),
        max_body: guc::llm_max_response_bytes(),
    })
}

/// One answer of the model; a cancel of the query stops the wait and is PostgreSQL's own.
pub fn ask_model(
    cfg: &llm::Config,
    messages: &[llm::Message],
) -> std::result::Result<String, LlmError> {
    // SAFETY: reads the backend's interrupt flags, on its main thread.
    let mut cancelled = || unsafe {
        pg_sys::InterruptPending != 0
            && (pg_sys::QueryCancelPending != 0 || pg_sys::ProcDiePending != 0)
    };
    match llm::chat(cfg, messages, &mut cancelled) {
        Err(LlmError::Cancelled) => {
            pg_sys::check_for_interrupts!();
            Err(LlmError::Cancelled)
        }
        r => r,
    }
}

/// `history`: earlier turns of a conversation (ai.chat), given to the model before the question.
pub(super) fn generate(
    sp: &SearchPath,
    question: &str,
    lists: &Lists,
    history: &[llm::Message],
) -> Result<Generated> {
    if question.trim().is_empty() {
        return Err(AskError::Empty);
    }
    let qvec = crate::embed::session::embed_texts(&[Some(question)])
        .pop()
        .flatten()
        .unwrap_or_default();
    let cat = load_catalog(sp, &qvec, question)?;
    // only samples the caller wrote or a curator reviewed answer or guide the model
    let samples = crate::memory::samples::similar(question, 5, true)?;
    let top_similarity = samples.first().map(|s| s.3);
    let mut g = Generated {
        similarity: top_similarity,
        closest: closest(&cat),
        ..Default::default()
    };
    // 1. a stored sample: the same question apart from its literals (adapted), or one at
    //    least ask_sample_threshold similar that brings no literal of its own
    let threshold = guc::ask_sample_threshold();
    let pick = samples.iter().find_map(|s| {
        let sql = match adapt::adapt(&s.1, &s.2, question) {
            Some(sql) => sql,
            None if s.3 >= threshold && adapt::same_literals(&s.1, question) => s.2.clone(),
            None => return None,
        };
        validate(sp, &sql, lists).ok()?;
        Some((s, sql))
    });
    if let Some((s, sql)) = pick {
        g.sql = Some(sql.clone());
        g.source = "sample";
        g.confidence = (s.3.max(if s.3 >= threshold { 0.0 } else { 0.9 }) * 100.0).round() / 100.0;
        g.sample_id = Some(s.0);
        g.similarity = Some(s.3);
        g.tables = crate::sqlparse::parse_query(&sql)
            .map(|st| crate::sqlparse::relations(&st))
            .unwrap_or_default();
        g.explanation = format!(
            "Stored sample #{} answers \"{}\" (similarity {:.2}){}.",
            s.0,
            s.1,
            s.3,
            if sql == s.2 {
                ""
            } else {
                ", with its literals adapted"
            }
        );
        return Ok(g);
    }
    // 2. the LLM, when configured
    // the words a curator taught (and the caller's own proposals), before anything else
    let taught = crate::vocabulary::store::for_question()?;
    if let Some(cfg) = model_config() {
        let tables = relevant(&cat, question);
        let examples: Vec<(String, String)> =
            samples.iter().map(|s| (s.1.clone(), s.2.clone())).collect();
        let mut messages = prompt::messages(
            question,
            history,
            &tables,
            &prompt::words(&taught, &tables),
            &examples,
            guc::llm_send_sample_values(),
        );
        let attempts = guc::llm_max_attempts();
        let mut last = String::new();
        for attempt in 1..=attempts {
            let answer = ask_model(&cfg, &messages)?;
            let sql = llm::extract_sql(&answer);
            match validate(sp, &sql, lists) {
                Ok(_) => {
                    g.sql = Some(sql.clone());
                    g.source = "llm";
                    g.confidence = if attempt == 1 { 0.9 } else { 0.75 };
                    g.attempts = attempt;
                    g.tables = crate::sqlparse::parse_query(&sql)
                        .map(|st| crate::sqlparse::relations(&st))
                        .unwrap_or_default();
                    g.explanation = format!(
                        "Written by {} from {} table(s) of the catalog{}.",
                        cfg.model,
                        tables.len(),
                        if attempt > 1 {
                            format!(", accepted at attempt {attempt}")
                        } else {
                            String::new()
                        }
                    );
                    return Ok(g);
                }
                Err(e) => {
                    last = e.to_string();
                    messages.extend(prompt::retry(&answer, &last));
                }
            }
        }
        return Err(AskError::LlmGaveUp { attempts, last });
    }
    // 3. the in-process engine
    let mut schema = engine_schema(&cat);
    engine::vocabulary::apply(&mut schema, &taught);
    let hits = value_hits(&cat, &schema, lists, &engine::phrases(question))?;
    match engine::answer(question, &schema, &hits) {
        Ok(a) => {
            g.source = "engine";
            g.confidence = a.confidence;
            g.tables = a.tables.clone();
            g.explanation = a.explanation.clone();
            g.unexplained = a.unexplained.clone();
            g.assumed = a.assumed.clone();
            if a.confidence < guc::ask_min_confidence() {
                g.not_understood = Some(a.unexplained.clone());
            }
            g.sql = Some(a.sql);
        }
        Err(NotUnderstood::NoSubject { unexplained }) => {
            g.source = "engine";
            g.not_understood = Some(unexplained);
        }
    }
    Ok(g)
}

pub(super) struct Executed {
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Value>,
    pub(super) truncated: bool,
    pub(super) elapsed_ms: f64,
}

/// Runs `sql` as the caller: checked again, read-only, rolled back, under the statement
/// timeout, at most `max_rows` rows and ai_architect.ask_max_bytes bytes. What runs is the
/// checked statement itself.
pub(super) fn execute(
    sp: &SearchPath,
    sql: &str,
    lists: &Lists,
    max_rows: usize,
) -> Result<Executed> {
    let ms = guc::statement_timeout_ms();
    let max_bytes = guc::ask_max_bytes();
    let started = Instant::now();
    let timer = OwnTimer::before(ms);
    let run = || pgsql::checked_select(sql, sp.caller(), lists, |p| p.rows(max_rows, max_bytes));
    let out =
        in_rolled_back_subtransaction(AssertUnwindSafe(|| read_only(|| with_timeout(ms, run))));
    let elapsed_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    match out {
        Ok(Ok(r)) => Ok(Executed {
            columns: r.columns,
            rows: r.rows,
            truncated: r.truncated,
            elapsed_ms,
        }),
        Ok(Err(e)) => Err(AskError::Refused(e)),
        Err(e) if timer.fired(&e) => Err(AskError::Timeout(ms)),
        Err(e) if e.is_cancel() => e.rethrow(),
        Err(e) => Err(AskError::Run(e.message)),
    }
}

/// Records one ask; `None` when the transaction cannot write (a standby, a read-only
/// transaction).
pub(super) fn log_usage(
    question: &str,
    g: &Generated,
    executed: Option<&Executed>,
    error: Option<&str>,
    total_ms: f64,
) -> Option<i64> {
    if crate::error::skipped_when_read_only(
        "ai.ask",
        "the question is not logged in ai.query_usage_stats (no usage_id: ai.feedback needs a writable transaction on the primary)",
    ) {
        return None;
    }
    // the words it could not account for (refused or not): what is worth teaching
    let words = g.not_understood.as_ref().unwrap_or(&g.unexplained);
    let unexplained = (!words.is_empty()).then(|| words.clone());
    as_extension_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.query_usage_stats (question, generated_sql, source, sample_id, similarity, confidence,
                                               executed, row_count, elapsed_ms, error, user_name, unexplained)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, session_user, $11) RETURNING id",
            &[
                question.into(),
                g.sql.clone().into(),
                (!g.source.is_empty()).then_some(g.source).into(),
                g.sample_id.into(),
                g.similarity.into(),
                g.confidence.into(),
                executed.is_some().into(),
                executed.map(|e| e.rows.len() as i64).into(),
                total_ms.into(),
                error.into(),
                unexplained.into(),
            ],
        )
    })
    .ok()
    .flatten()
}

pub(super) fn check_max_rows(max_rows: i32) -> Result<usize> {
    if (1..=100_000).contains(&max_rows) {
        Ok(max_rows as usize)
    } else {
        Err(AskError::BadMaxRows(max_rows))
    }
}

pub(super) fn not_understood(g: &Generated) -> AskError {
    let words = g.not_understood.clone().unwrap_or_default();
    AskError::NotUnderstood {
        words: if words.is_empty() {
            "(none; too little to go on)".into()
        } else {
            words.join(", ")
        },
        closest: if g.closest.is_empty() {
            "(no readable tables in the schemas in scope)".into()
        } else {
            g.closest.join(", ")
        },
    }
}

/// The whole flow; the result object, or the error that ai.ask reports in it.
pub fn ask_json(
    sp: &SearchPath,
    question: &str,
    history: &[llm::Message],
    execute_it: bool,
    max_rows: i32,
) -> Result<Value> {
    let started = Instant::now();
    let max_rows = check_max_rows(max_rows)?;
    let lists = pgsql::lists()?;
    // a model that gave no usable SQL is answered like refused SQL: in the result, logged
    let (g, gave_up) = match generate(sp, question, &lists, history) {
        Ok(g) => (g, None),
        Err(e @ AskError::LlmGaveUp { .. }) => (
            Generated {
                source: "llm",
                ..Default::default()
            },
            Some(e),
        ),
        Err(e) => return Err(e),
    };
    let mut out = Map::new();
    out.insert("question".into(), json!(question));
    out.insert("sql".into(), json!(g.sql));
    out.insert("source".into(), json!(g.source));
    out.insert("confidence".into(), json!(g.confidence));
    out.insert("tables".into(), json!(g.tables));
    out.insert("explanation".into(), json!(g.explanation));
    if !g.unexplained.is_empty() {
        out.insert("unexplained".into(), json!(g.unexplained));
    }
    if !g.assumed.is_empty() {
        out.insert("assumed".into(), json!(g.assumed));
    }
    if let Some(s) = g.similarity {
        out.insert(
            "sample_similarity".into(),
            json!((s * 1000.0).round() / 1000.0),
        );
    }
    if let Some(id) = g.sample_id {
        out.insert("sample_id".into(), json!(id));
    }
    let failure = |out: &mut Map<String, Value>, g: &Generated, e: AskError| -> Value {
        let total = started.elapsed().as_secs_f64() * 1000.0;
        let usage = log_usage(question, g, None, Some(&e.to_string()), total);
        out.insert("executed".into(), json!(false));
        out.insert("error".into(), json!(e.to_string()));
        out.insert("hint".into(), json!(e.hint()));
        out.insert("usage_id".into(), json!(usage));
        Value::Object(std::mem::take(out))
    };
    if let Some(e) = gave_up {
        return Ok(failure(&mut out, &g, e));
    }
    if g.not_understood.is_some() {
        out.insert("not_understood".into(), json!(g.not_understood));
        out.insert("closest_tables".into(), json!(g.closest));
        let e = not_understood(&g);
        return Ok(failure(&mut out, &g, e));
    }
    let sql = g.sql.clone().unwrap_or_default();
    // the engine's SQL passes the same gate as any other
    if g.source == "engine" {
        if let Err(e) = validate(sp, &sql, &lists) {
            return Ok(failure(&mut out, &g, e));
        }
    }
    if !execute_it {
        out.insert("executed".into(), json!(false));
        let usage = log_usage(
            question,
            &g,
            None,
            None,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        out.insert("usage_id".into(), json!(usage));
        return Ok(Value::Object(out));
    }
    match execute(sp, &sql, &lists, max_rows) {
        Ok(x) => {
            let usage = log_usage(
                question,
                &g,
                Some(&x),
                None,
                started.elapsed().as_secs_f64() * 1000.0,
            );
            out.insert("executed".into(), json!(true));
            out.insert("columns".into(), json!(x.columns));
            out.insert("row_count".into(), json!(x.rows.len()));
            out.insert("truncated".into(), json!(x.truncated));
            out.insert("elapsed_ms".into(), json!(x.elapsed_ms));
            out.insert("rows".into(), Value::Array(x.rows));
            out.insert("usage_id".into(), json!(usage));
            Ok(Value::Object(out))
        }
        Err(e) => Ok(failure(&mut out, &g, e)),
    }
}
