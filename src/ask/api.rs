//! SQL surface of ai.ask: ai.ask, ai.generate_sql, ai.ask_table.
//!
//! The question is embedded once; the catalog the caller may read (row-level security on the
//! catalog tables) gives the schema, the closest stored samples give examples. A sample close
//! enough answers directly; otherwise the LLM when one is configured, else the in-process
//! engine. Whatever its source, the SQL runs only when it is one safe SELECT that plans under
//! the cost limit, as the caller (these functions are SECURITY INVOKER), search_path pinned,
//! read-only, in a subtransaction that is rolled back, under statement_timeout_ms, rows and
//! bytes capped.
use super::adapt;
use super::engine::{self, NotUnderstood, ValueHit};
use super::prompt::{self, CatTable};
use crate::error::{OrRaise, UserError};
use crate::guc;
use crate::llm::{self, LlmError};
use crate::pgsql::{self, Lists, PgSqlError};
use crate::spi_util::Spi;
use crate::spi_util::{
    as_extension_owner, in_rolled_back_subtransaction, read_only, timeout_is_ours,
    with_search_path, with_timeout, SearchPath, VectorSql,
};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Map, Value};
use std::panic::AssertUnwindSafe;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Catalog(#[from] crate::catalog::api::CatalogError),
    #[error("{0}")]
    Memory(#[from] crate::memory::MemoryError),
    #[error("the question is empty")]
    Empty,
    #[error("max_rows must be between 1 and 100000, got {0}")]
    BadMaxRows(i32),
    #[error("{0}")]
    Llm(#[from] LlmError),
    #[error("the question was not understood (words not understood: {words}); closest tables: {closest}")]
    NotUnderstood { words: String, closest: String },
    #[error("refused: {0}")]
    Refused(PgSqlError),
    #[error("the LLM gave no usable SQL in {attempts} attempt(s); last problem: {last}")]
    LlmGaveUp { attempts: usize, last: String },
    #[error("the generated query does not plan: {0}")]
    Plan(String),
    #[error("the generated query's estimated cost {cost:.0} is above ai_architect.ask_max_cost ({max:.0})")]
    TooCostly { cost: f64, max: f64 },
    #[error("the generated query was canceled after {0} ms")]
    Timeout(u64),
    #[error("the generated query failed: {0}")]
    Run(String),
}

impl UserError for AskError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            AskError::Spi(_) => ERRCODE_INTERNAL_ERROR,
            AskError::Catalog(e) => e.sqlstate(),
            AskError::Memory(e) => e.sqlstate(),
            AskError::Empty | AskError::BadMaxRows(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            AskError::Llm(LlmError::Cancelled) => ERRCODE_QUERY_CANCELED,
            AskError::Llm(LlmError::Timeout(_)) => ERRCODE_CONNECTION_FAILURE,
            AskError::Llm(LlmError::Transport { .. }) => ERRCODE_CONNECTION_FAILURE,
            AskError::Llm(_) | AskError::LlmGaveUp { .. } => ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            AskError::NotUnderstood { .. } => ERRCODE_DATA_EXCEPTION,
            AskError::Refused(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AskError::Plan(_) => ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
            AskError::TooCostly { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            AskError::Timeout(_) => ERRCODE_QUERY_CANCELED,
            AskError::Run(_) => ERRCODE_DATA_EXCEPTION,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            AskError::Catalog(e) => return e.hint(),
            AskError::Memory(e) => return e.hint(),
            AskError::Empty => "ask a question, e.g. ai.ask('how many customers are there?')".into(),
            AskError::BadMaxRows(_) => "pass max_rows between 1 and 100000".into(),
            AskError::Llm(LlmError::Http { .. }) => "check ai_architect.llm_base_url, llm_model and llm_api_key".into(),
            AskError::Llm(LlmError::Transport { .. } | LlmError::Timeout(_)) => {
                "check that the LLM server runs; ai_architect.llm_timeout_ms sets the wait; RESET ai_architect.llm_base_url uses the in-process engine".into()
            }
            AskError::Llm(LlmError::TooLarge(_)) => "ai_architect.llm_max_response_bytes sets the limit".into(),
            AskError::Llm(_) => "the server at ai_architect.llm_base_url must speak the OpenAI chat-completions API".into(),
            AskError::NotUnderstood { .. } => {
                "use the names of tables and columns (ai.search_catalog shows what is there), or teach it with ai.add_sample(question, sql); it chooses among the tables on your search_path (SET ai_architect.ask_schemas = '*' for every schema)".into()
            }
            AskError::Refused(u) => u.hint(),
            AskError::LlmGaveUp { .. } => "rephrase the question, or raise ai_architect.llm_max_attempts".into(),
            AskError::TooCostly { .. } => "narrow the question, or raise ai_architect.ask_max_cost".into(),
            AskError::Timeout(_) => "narrow the question, or raise ai_architect.statement_timeout_ms".into(),
            _ => return None,
        })
    }
}

pub type Result<T> = std::result::Result<T, AskError>;

/// The search_path of SQL the extension writes with every name qualified: nothing the caller
/// or anyone else creates can shadow a name in it.
const SAFE_PATH: &str = "pg_catalog, pg_temp";

/// A query for a question, before it runs.
#[derive(Debug, Clone, Default)]
struct Generated {
    sql: Option<String>,
    source: &'static str,
    confidence: f64,
    tables: Vec<String>,
    explanation: String,
    sample_id: Option<i64>,
    similarity: Option<f64>,
    /// Set when the engine is not confident: the words it did not understand.
    not_understood: Option<Vec<String>>,
    /// The engine's words it could not account for, also when it answered.
    unexplained: Vec<String>,
    closest: Vec<String>,
    attempts: usize,
}

/// The schemas a question may choose tables from, as PostgreSQL reads them: those of the
/// caller's own search_path (not of the pinned one these functions run under), or of
/// `ai_architect.ask_schemas`; None (every schema) only when that setting is `*`. Schemas
/// that do not exist or that the caller may not use are left out, and so is pg_temp.
fn schemas_in_scope(sp: &SearchPath) -> Result<Option<Vec<String>>> {
    let path = match guc::ask_schemas() {
        Some(s) if s.trim() == "*" => return Ok(None),
        Some(s) => s,
        None => sp.caller().to_string(),
    };
    let schemas = with_search_path(&path, || {
        Spi::get_one::<Vec<String>>("SELECT pg_catalog.current_schemas(false)::pg_catalog.text[]")
    })?;
    Ok(Some(schemas.unwrap_or_default()))
}

/// Whether any of `names` (lower case) is a table or a column the caller could ask about: in
/// the catalog, in the schemas in scope (see [`schemas_in_scope`]).
pub fn names_in_scope(sp: &SearchPath, names: &[String]) -> Result<bool> {
    let in_scope = schemas_in_scope(sp)?;
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM ai.catalog_tables t
                 WHERE ($2::pg_catalog.text[] IS NULL OR t.schema_name::text = ANY ($2::pg_catalog.text[]))
                   AND (pg_catalog.lower(t.table_name) = ANY ($1::pg_catalog.text[])
                        OR EXISTS (SELECT 1 FROM ai.catalog_columns c
                                    WHERE c.table_id = t.id AND pg_catalog.lower(c.column_name) = ANY ($1::pg_catalog.text[]))))",
        &[names.to_vec().into(), in_scope.into()],
    )?
    .unwrap_or(false))
}

/// The caller's view of the catalog: the tables of the schemas in scope (see
/// [`schemas_in_scope`]), with the similarity of each to the question.
fn load_catalog(sp: &SearchPath, qvec: &[f32]) -> Result<Vec<CatTable>> {
    crate::catalog::api::refresh_if_stale("ai.ask")?;
    let in_scope = schemas_in_scope(sp)?;
    let v = VectorSql::new()?;
    let sql = format!(
        "WITH visible AS (
           SELECT t.* FROM ai.catalog_tables t
            WHERE $2::pg_catalog.text[] IS NULL OR t.schema_name::text = ANY ($2::pg_catalog.text[]))
         SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'schema', t.schema_name, 'name', t.table_name, 'relkind', t.relkind::text,
           'notes', nullif(concat_ws('. ', t.comment, t.human_description), ''),
           'rows', coalesce(t.row_estimate, 0),
           'similarity', CASE WHEN t.embedding IS NULL THEN 0 ELSE 1 - {} END,
           'columns', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'name', c.column_name, 'data_type', c.data_type, 'nullable', c.is_nullable,
                 'pk', c.is_primary_key, 'notes', nullif(concat_ws('. ', c.comment, c.human_description), ''),
                 'samples', coalesce(pg_catalog.to_jsonb(c.sample_values), '[]'),
                 'similarity', CASE WHEN c.embedding IS NULL THEN 0 ELSE 1 - {} END) ORDER BY c.ordinal)
               FROM ai.catalog_columns c WHERE c.table_id = t.id), '[]'),
           'fks', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'columns', pg_catalog.to_jsonb(r.from_columns), 'ref_schema', rt.schema_name,
                 'ref_table', rt.table_name, 'ref_columns', pg_catalog.to_jsonb(r.to_columns)) ORDER BY r.constraint_name)
               FROM ai.catalog_relationships r JOIN ai.catalog_tables rt ON rt.id = r.to_table_id
              WHERE r.from_table_id = t.id), '[]')
         ) ORDER BY t.schema_name, t.table_name), '[]')
         FROM visible t",
        v.distance_to("t.embedding", 1),
        v.distance_to("c.embedding", 1)
    );
    let j = Spi::get_one_with_args::<JsonB>(&sql, &[qvec.to_vec().into(), in_scope.into()])?
        .map(|j| j.0)
        .unwrap_or(Value::Null);
    let tables: Vec<CatTable> =
        serde_json::from_value(j).map_err(|e| AskError::Run(format!("catalog decode: {e}")))?;
    Ok(tables
        .into_iter()
        .filter(|t| !t.columns.is_empty())
        .collect())
}

/// The engine's view of the same tables.
fn engine_schema(cat: &[CatTable]) -> engine::Schema {
    let find = |s: &str, n: &str| cat.iter().position(|t| t.schema == s && t.name == n);
    let tables = cat
        .iter()
        .map(|t| engine::Table {
            schema: t.schema.clone(),
            name: t.name.clone(),
            notes: t.notes.clone().unwrap_or_default(),
            rows: t.rows,
            similarity: t.similarity,
            columns: t
                .columns
                .iter()
                .map(|c| engine::Column {
                    name: c.name.clone(),
                    kind: engine::Kind::of(&c.data_type),
                    pk: c.pk,
                    notes: c.notes.clone().unwrap_or_default(),
                    similarity: c.similarity,
                })
                .collect(),
        })
        .collect();
    let mut fks = Vec::new();
    for (i, t) in cat.iter().enumerate() {
        for fk in &t.fks {
            if let Some(to) = find(&fk.ref_schema, &fk.ref_table) {
                fks.push(engine::ForeignKey {
                    from: i,
                    from_columns: fk.columns.clone(),
                    to,
                    to_columns: fk.ref_columns.clone(),
                });
            }
        }
    }
    engine::Schema { tables, fks }
}

/// Stored values of text columns equal to phrases of the question: most common values from
/// pg_stats and the distinct values of a bounded sample of each column, read as the caller.
///
/// The sample reads are SQL the extension writes over relations it did not write, so they
/// pass the gateway like any generated SQL: PostgreSQL's analyser and rewriter expand each
/// view and row-level policy, and a relation whose code calls a function the allow list
/// refuses is left out with a NOTICE, never read. Foreign tables are never read (their scan
/// runs code no analyser sees). Everything runs read-only in a subtransaction that is rolled
/// back, so nothing a read did (a GUC set, a lock, a notification) outlives it.
fn value_hits(
    s: &engine::Schema,
    relkinds: &[char],
    lists: &Lists,
    phrases: &[String],
) -> Result<Vec<ValueHit>> {
    if phrases.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = format!(
        "ARRAY[{}]::pg_catalog.text[]",
        phrases
            .iter()
            .map(|p| pgrx::spi::quote_literal(p))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // one read per relation (all its text columns), so a refusal leaves out just that one
    let mut parts: Vec<(usize, String)> = Vec::new();
    for (ti, t) in s.tables.iter().enumerate() {
        if relkinds.get(ti).copied() == Some('f') {
            continue;
        }
        let rel = format!(
            "{}.{}",
            engine::sql::ident(&t.schema),
            engine::sql::ident(&t.name)
        );
        for (ci, c) in t.columns.iter().enumerate() {
            if c.kind != engine::Kind::Text {
                continue;
            }
            let col = engine::sql::ident(&c.name);
            parts.push((
                ti,
                format!(
                    "SELECT {ti} AS t, {ci} AS c, v FROM (SELECT DISTINCT x.{col}::pg_catalog.text AS v
                       FROM (SELECT {col} FROM {rel} LIMIT 20000) x
                      WHERE pg_catalog.lower(x.{col}::pg_catalog.text) OPERATOR(pg_catalog.=) ANY ({wanted})) s"
                ),
            ));
        }
    }
    let mut hits: Vec<ValueHit> = Vec::new();
    let stats = "SELECT s.schemaname::text, s.tablename::text, s.attname::text, v,
                        (CASE WHEN s.n_distinct > 0 THEN s.n_distinct ELSE -s.n_distinct * greatest(c.reltuples, 1) END)::float8,
                        greatest(c.reltuples, 1)::float8
                   FROM pg_catalog.pg_stats s
                   JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
                   JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
                   LEFT JOIN LATERAL pg_catalog.unnest(s.most_common_vals::text::text[]) v ON pg_catalog.lower(v) = ANY ($1)
                  WHERE s.schemaname <> ALL (ARRAY['pg_catalog', 'information_schema', 'ai'])";
    let locate = |schema: &str, table: &str, column: &str| -> Option<(usize, usize)> {
        let ti = s
            .tables
            .iter()
            .position(|t| t.schema == schema && t.name == table)?;
        let ci = s.tables[ti].columns.iter().position(|c| c.name == column)?;
        Some((ti, ci))
    };
    let mut categorical: Vec<(usize, usize)> = Vec::new();
    // one hit per (table, column, value), whichever read found it
    let add = |hits: &mut Vec<ValueHit>, table: usize, column: usize, value: String| {
        if !hits
            .iter()
            .any(|h| h.table == table && h.column == column && h.value == value)
        {
            hits.push(ValueHit {
                table,
                column,
                phrase: value.to_lowercase(),
                value,
                categorical: false,
            });
        }
    };
    let mut run = || -> std::result::Result<(), pgrx::spi::Error> {
        Spi::connect(|client| {
            for r in client.select(stats, None, &[phrases.to_vec().into()])? {
                let (schema, table, column): (String, String, String) = (
                    r.get(1)?.unwrap_or_default(),
                    r.get(2)?.unwrap_or_default(),
                    r.get(3)?.unwrap_or_default(),
                );
                let Some((ti, ci)) = locate(&schema, &table, &column) else {
                    continue;
                };
                let distinct: f64 = r.get(5)?.unwrap_or(f64::MAX);
                let rows: f64 = r.get(6)?.unwrap_or(1.0);
                if (distinct <= 100.0 || distinct <= 0.2 * rows) && !categorical.contains(&(ti, ci))
                {
                    categorical.push((ti, ci));
                }
                if let Some(v) = r.get::<String>(4)? {
                    add(&mut hits, ti, ci, v);
                }
            }
            Ok(())
        })
    };
    // the values the gateway found; a relation it refuses is named in a NOTICE and left out
    let mut sampled: Vec<(usize, usize, String)> = Vec::new();
    let read = |sql: &str| -> std::result::Result<Vec<(usize, usize, String)>, PgSqlError> {
        // (matches of the question's few phrases: far below these bounds)
        pgsql::checked_select(sql, SAFE_PATH, lists, |p| p.rows(100_000, 16 << 20)).map(|r| {
            r.rows
                .iter()
                .filter_map(|row| {
                    Some((
                        row.get("t")?.as_u64()? as usize,
                        row.get("c")?.as_u64()? as usize,
                        row.get("v")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
    };
    let mut reads = || -> std::result::Result<(), PgSqlError> {
        for chunk in parts.chunks(50) {
            let sql = chunk
                .iter()
                .map(|(_, q)| q.as_str())
                .collect::<Vec<_>>()
                .join("\nUNION ALL\n");
            match read(&sql) {
                Ok(v) => sampled.extend(v),
                Err(PgSqlError::Refused(_)) => {
                    // find the relation(s) refused, read the others one by one
                    let mut refused: Vec<usize> = Vec::new();
                    for (ti, q) in chunk {
                        if refused.contains(ti) {
                            continue;
                        }
                        match read(q) {
                            Ok(v) => sampled.extend(v),
                            Err(PgSqlError::Refused(why)) => {
                                refused.push(*ti);
                                let t = &s.tables[*ti];
                                pgrx::notice!(
                                    "ai.ask: values are not looked up in {}.{}: reading it {why}",
                                    t.schema,
                                    t.name
                                );
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    // bounded reads of the caller's tables, under the same limits as the answer; rolled back
    let ms = guc::statement_timeout_ms();
    let outcome = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        read_only(|| {
            with_timeout(ms, || -> Result<()> {
                run()?;
                reads().map_err(|e| AskError::Run(e.to_string()))
            })
        })
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(e) if e.is_cancel() && !timeout_is_ours(ms) => e.rethrow(),
        Err(_) => {} // value linking is best effort: a slow or failing table is skipped
    }
    for (ti, ci, v) in sampled {
        add(&mut hits, ti, ci, v);
    }
    for h in &mut hits {
        h.categorical = categorical.contains(&(h.table, h.column));
    }
    Ok(hits)
}

/// The closest tables, for a question that was not understood.
fn closest(cat: &[CatTable]) -> Vec<String> {
    let mut v: Vec<&CatTable> = cat.iter().collect();
    v.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    v.iter()
        .take(3)
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect()
}

/// The tables the LLM is shown: the most similar ones and the tables they reference.
fn relevant<'a>(cat: &'a [CatTable], question: &str) -> Vec<&'a CatTable> {
    let qtok: std::collections::HashSet<String> = crate::catalog::search::tokens(question)
        .into_iter()
        .collect();
    let mut scored: Vec<(f64, &CatTable)> = cat
        .iter()
        .map(|t| {
            (
                crate::catalog::search::combine(
                    t.similarity,
                    crate::catalog::search::lexical(&qtok, &t.name),
                    0.0,
                ),
                t,
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<&CatTable> = scored.iter().take(6).map(|x| x.1).collect();
    let refs: Vec<&CatTable> = out
        .iter()
        .flat_map(|t| t.fks.iter())
        .filter_map(|fk| {
            cat.iter()
                .find(|c| c.schema == fk.ref_schema && c.name == fk.ref_table)
        })
        .collect();
    for r in refs {
        if out.len() < 10 && !out.iter().any(|t| std::ptr::eq(*t, r)) {
            out.push(r);
        }
    }
    out
}

/// Checks that `sql` may run (PostgreSQL's analysis against the allow list) and plans it as
/// the caller: one safe SELECT, under the cost limit.
fn validate(sp: &SearchPath, sql: &str, lists: &Lists) -> Result<f64> {
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
fn generate(
    sp: &SearchPath,
    question: &str,
    lists: &Lists,
    history: &[llm::Message],
) -> Result<Generated> {
    if question.trim().is_empty() {
        return Err(AskError::Empty);
    }
    let qvec = crate::embed::api::embed_texts(&[Some(question)])
        .pop()
        .flatten()
        .unwrap_or_default();
    let cat = load_catalog(sp, &qvec)?;
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
    if let Some(cfg) = model_config() {
        let tables = relevant(&cat, question);
        let examples: Vec<(String, String)> =
            samples.iter().map(|s| (s.1.clone(), s.2.clone())).collect();
        let mut messages = prompt::messages(
            question,
            history,
            &tables,
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
    let schema = engine_schema(&cat);
    let relkinds: Vec<char> = cat
        .iter()
        .map(|t| t.relkind.chars().next().unwrap_or('r'))
        .collect();
    let hits = value_hits(&schema, &relkinds, lists, &engine::phrases(question))?;
    match engine::answer(question, &schema, &hits) {
        Ok(a) => {
            g.source = "engine";
            g.confidence = a.confidence;
            g.tables = a.tables.clone();
            g.explanation = a.explanation.clone();
            g.unexplained = a.unexplained.clone();
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

struct Executed {
    columns: Vec<String>,
    rows: Vec<Value>,
    truncated: bool,
    elapsed_ms: f64,
}

/// Runs `sql` as the caller: checked again, read-only, rolled back, under the statement
/// timeout, at most `max_rows` rows and ai_architect.ask_max_bytes bytes. What runs is the
/// checked statement itself.
fn execute(sp: &SearchPath, sql: &str, lists: &Lists, max_rows: usize) -> Result<Executed> {
    let ms = guc::statement_timeout_ms();
    let max_bytes = guc::ask_max_bytes();
    let started = Instant::now();
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
        Err(e) if e.is_cancel() => {
            if timeout_is_ours(ms) && elapsed_ms + 50.0 >= ms as f64 {
                Err(AskError::Timeout(ms))
            } else {
                e.rethrow()
            }
        }
        Err(e) => Err(AskError::Run(e.message)),
    }
}

/// Records one ask; `None` when the transaction cannot write (a standby, a read-only
/// transaction).
fn log_usage(
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
    as_extension_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.query_usage_stats (question, generated_sql, source, sample_id, similarity, confidence,
                                               executed, row_count, elapsed_ms, error, user_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, session_user) RETURNING id",
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
            ],
        )
    })
    .ok()
    .flatten()
}

fn check_max_rows(max_rows: i32) -> Result<usize> {
    if (1..=100_000).contains(&max_rows) {
        Ok(max_rows as usize)
    } else {
        Err(AskError::BadMaxRows(max_rows))
    }
}

fn not_understood(g: &Generated) -> AskError {
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
