//! What a question is answered from: the schemas in scope (the caller's search_path), the part
//! of the catalog the caller may read, closest to the question, and the values it names, looked
//! up through the gateway in a subtransaction that is rolled back.
use super::engine::{self, ValueHit};
use super::error::{AskError, Result};
use super::prompt::CatTable;
use crate::guc;
use crate::pgsql::{self, Lists, PgSqlError};
use crate::spi_util::Spi;
use crate::spi_util::{
    in_rolled_back_subtransaction, read_only, with_search_path, with_timeout, OwnTimer,
    SearchPath, VectorSql,
};
use pgrx::JsonB;
use serde_json::Value;
use std::panic::AssertUnwindSafe;

/// The search_path of SQL the extension writes with every name qualified: nothing the caller
/// or anyone else creates can shadow a name in it.
pub(super) const SAFE_PATH: &str = "pg_catalog, pg_temp";

/// The schemas a question may choose tables from, as PostgreSQL reads them: those of the
/// caller's own search_path (not of the pinned one these functions run under), or of
/// `ai_architect.ask_schemas`; None (every schema) only when that setting is `*`. Schemas
/// that do not exist or that the caller may not use are left out, and so is pg_temp.
pub(super) fn schemas_in_scope(sp: &SearchPath) -> Result<Option<Vec<String>>> {
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
///
/// A schema of more than [`FOCUS_ABOVE`] tables is not loaded whole: the question is
/// answered from its focus (see [`focus`]), so that a question costs about the same on 2,000
/// tables as on 200.
pub(super) fn load_catalog(sp: &SearchPath, qvec: &[f32], question: &str) -> Result<Vec<CatTable>> {
    // inside a question, the refresh too has a time limit
    crate::error::time_limited("ai.ask", || {
        crate::catalog::refresh::refresh_if_stale("ai.ask")
    })?;
    let in_scope = schemas_in_scope(sp)?;
    let v = VectorSql::new()?;
    let focus = focus(&v, qvec, question, &in_scope)?;
    let sql = format!(
        "WITH visible AS (
           SELECT t.* FROM ai.catalog_tables t
            WHERE ($2::pg_catalog.text[] IS NULL OR t.schema_name::text = ANY ($2::pg_catalog.text[]))
              AND ($3::pg_catalog.int8[] IS NULL OR t.id = ANY ($3::pg_catalog.int8[])))
         SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'schema', t.schema_name, 'name', t.table_name, 'relkind', t.relkind::text,
           'oid', t.table_oid::pg_catalog.int8, 'values_indexed', t.values_indexed,
           'notes', nullif(concat_ws('. ', t.comment, t.human_description), ''),
           'rows', coalesce(t.row_estimate, 0),
           'similarity', CASE WHEN t.embedding IS NULL THEN 0 ELSE 1 - {} END,
           'columns', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'name', c.column_name, 'attnum', c.attnum, 'data_type', c.data_type, 'nullable', c.is_nullable,
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
    let j = Spi::get_one_with_args::<JsonB>(
        &sql,
        &[qvec.to_vec().into(), in_scope.clone().into(), focus.into()],
    )?
        .map(|j| j.0)
        .unwrap_or(Value::Null);
    let tables: Vec<CatTable> =
        serde_json::from_value(j).map_err(|e| AskError::Run(format!("catalog decode: {e}")))?;
    Ok(tables
        .into_iter()
        .filter(|t| !t.columns.is_empty())
        .collect())
}

/// Above this many tables in scope, a question is answered from its focus.
pub const FOCUS_ABOVE: i64 = 150;
/// How many of the tables closest to the question (by their description) the focus takes.
const FOCUS_NEAREST: usize = 25;
/// At most this many tables in a focus, neighbours included.
const FOCUS_MAX: usize = 120;

/// The tables a question on a large schema is answered from (catalog ids), or None when the
/// schemas in scope hold at most [`FOCUS_ABOVE`] tables (then all of them): the
/// [`FOCUS_NEAREST`] closest by description, every table whose name has a word of the
/// question (or of its thesaurus), every table holding a value the question names (the index
/// of values, as the caller may see it), then the tables these reference or are referenced
/// by, up to [`FOCUS_MAX`] (`super::focus`).
fn focus(
    v: &VectorSql,
    qvec: &[f32],
    question: &str,
    in_scope: &Option<Vec<String>>,
) -> Result<Option<Vec<i64>>> {
    let mut tables: Vec<super::focus::Candidate> = Vec::new();
    let mut oids: Vec<pgrx::pg_sys::Oid> = Vec::new();
    Spi::connect(|client| {
        for r in client.select(
            &format!(
                "SELECT t.id, t.table_name::text, t.table_oid, coalesce({}, 2) FROM ai.catalog_tables t
                  WHERE $1::pg_catalog.text[] IS NULL OR t.schema_name::text = ANY ($1::pg_catalog.text[])",
                v.distance_to("t.embedding", 2)
            ),
            None,
            &[in_scope.clone().into(), qvec.to_vec().into()],
        )? {
            oids.push(r.get(3)?.unwrap_or(pgrx::pg_sys::InvalidOid));
            tables.push(super::focus::Candidate {
                id: r.get(1)?.unwrap_or(0),
                name: r.get(2)?.unwrap_or_default(),
                distance: r.get(4)?.unwrap_or(2.0),
                holds_value: false,
            });
        }
        Ok::<(), pgrx::spi::Error>(())
    })?;
    if tables.len() as i64 <= FOCUS_ABOVE {
        return Ok(None);
    }
    let phrases = engine::phrases(question);
    let mut words: Vec<String> = Vec::new();
    for p in phrases.iter().filter(|p| !p.contains(' ')) {
        words.push(p.clone());
        words.extend(engine::words::synonyms(p).iter().map(|s| s.to_string()));
    }
    words.sort();
    words.dedup();
    // the tables holding a value the question names, found in the index for the caller
    // SAFETY: reads the backend's current user id: the caller (these functions are invokers)
    let caller = unsafe { pgrx::pg_sys::GetUserId() };
    let holding: std::collections::HashSet<u32> =
        crate::catalog::values::lookup(caller, &oids, &phrases)?
            .into_iter()
            .map(|f| u32::from(f.table))
            .collect();
    for (t, oid) in tables.iter_mut().zip(&oids) {
        t.holds_value = holding.contains(&u32::from(*oid));
    }
    let mut edges: Vec<(i64, i64)> = Vec::new();
    Spi::connect(|client| {
        for r in client.select(
            "SELECT r.from_table_id, r.to_table_id FROM ai.catalog_relationships r",
            None,
            &[],
        )? {
            edges.push((r.get(1)?.unwrap_or(0), r.get(2)?.unwrap_or(0)));
        }
        Ok::<(), pgrx::spi::Error>(())
    })?;
    Ok(Some(super::focus::choose(
        &tables,
        &edges,
        &words,
        FOCUS_NEAREST,
        FOCUS_MAX,
    )))
}

/// The engine's view of the same tables.
pub(super) fn engine_schema(cat: &[CatTable]) -> engine::Schema {
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
                    expr: None,
                    agg: None,
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
    engine::Schema {
        tables,
        fks,
        vocabulary: Vec::new(),
    }
}

/// Stored values of text columns equal to phrases of the question.
///
/// Tables and materialized views are looked up in the catalog's index of values
/// (`crate::catalog::values`: read at refresh time, returned only for columns the caller may
/// SELECT): no user table is read here, whatever the size of the schema. Views and tables
/// with row-level security are not in that index; their values are read here, as the
/// caller, through the gateway like any generated SQL: PostgreSQL's analyser and rewriter
/// expand each view and policy, and a relation whose code calls a function the allow list
/// refuses is left out with a NOTICE, never read. Foreign tables are never read (their scan
/// runs code no analyser sees). Those reads run read-only in a subtransaction that is rolled
/// back, so nothing a read did (a GUC set, a lock, a notification) outlives it.
pub(super) fn value_hits(
    cat: &[CatTable],
    s: &engine::Schema,
    lists: &Lists,
    phrases: &[String],
) -> Result<Vec<ValueHit>> {
    if phrases.is_empty() {
        return Ok(Vec::new());
    }
    let mut hits: Vec<ValueHit> = Vec::new();
    // one hit per (table, column, value), whichever read found it
    let add = |hits: &mut Vec<ValueHit>, table: usize, column: usize, value: String, categorical: bool| {
        if !hits
            .iter()
            .any(|h| h.table == table && h.column == column && h.value == value)
        {
            hits.push(ValueHit {
                table,
                column,
                phrase: value.to_lowercase(),
                value,
                categorical,
            });
        }
    };
    let indexed: Vec<pgrx::pg_sys::Oid> = cat
        .iter()
        .filter(|t| t.values_indexed)
        .map(|t| pgrx::pg_sys::Oid::from(t.oid))
        .collect();
    // SAFETY: reads the backend's current user id: the caller (these functions are invokers)
    let caller = unsafe { pgrx::pg_sys::GetUserId() };
    for f in crate::catalog::values::lookup(caller, &indexed, phrases)? {
        let Some(ti) = cat.iter().position(|t| t.oid == u32::from(f.table)) else {
            continue;
        };
        let Some(ci) = cat[ti].columns.iter().position(|c| c.attnum == f.attnum) else {
            continue;
        };
        add(&mut hits, ti, ci, f.value, f.categorical);
    }
    let wanted = format!(
        "ARRAY[{}]::pg_catalog.text[]",
        phrases
            .iter()
            .map(|p| pgrx::spi::quote_literal(p))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // one read per relation not in the index (all its text columns), so a refusal leaves
    // out just that one
    let mut parts: Vec<(usize, String)> = Vec::new();
    for (ti, t) in s.tables.iter().enumerate() {
        let c = &cat[ti];
        if c.values_indexed || c.relkind == "f" {
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
    if parts.is_empty() {
        return Ok(hits);
    }
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
    // bounded reads of the caller's relations, under the same limits as the answer; rolled back
    let ms = guc::statement_timeout_ms();
    let timer = OwnTimer::before(ms);
    let outcome = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        read_only(|| with_timeout(ms, || reads().map_err(|e| AskError::Run(e.to_string()))))
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) if e.is_cancel() && !timer.fired(&e) => e.rethrow(),
        Err(_) => {} // value linking is best effort: a slow or failing relation is skipped
    }
    for (ti, ci, v) in sampled {
        add(&mut hits, ti, ci, v, false);
    }
    Ok(hits)
}

/// The closest tables, for a question that was not understood.
pub(super) fn closest(cat: &[CatTable]) -> Vec<String> {
    let mut v: Vec<&CatTable> = cat.iter().collect();
    v.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    v.iter()
        .take(3)
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect()
}

/// The tables the LLM is shown: the most similar ones and the tables they reference.
pub(super) fn relevant<'a>(cat: &'a [CatTable], question: &str) -> Vec<&'a CatTable> {
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
