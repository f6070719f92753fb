//! What the advisor gathers: the workload from pg_stat_statements (each statement planned as
//! the role that ran it), the tables and indexes from the catalog, column statistics for
//! representative parameter values; and the advice itself, which evaluates candidates with
//! HypoPG ([`super::hypo`]) and selects ([`super::select`]). Nothing of the user's workload is
//! executed.
use super::candidates::{self, Candidate, Existing, QueryUses};
use super::hypo::{as_planner, drop_hypothetical, explain, hypothetical_indexes, Hypo, Planner};
use super::params;
use super::select::{self, Problem, Selection};
use super::AdvisorError;
use crate::guc;
use crate::spi_util::Spi;
use crate::spi_util::{
    extension_schema, in_rolled_back_subtransaction, in_subtransaction, SearchPath,
};
use crate::sqlparse::{self, Kind};
use pgrx::prelude::*;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

type Result<T> = std::result::Result<T, AdvisorError>;

/// Schemas whose tables and queries are not the user's workload.
pub(super) const SYSTEM_SCHEMAS: &str = "'pg_catalog', 'information_schema', 'ai', 'pg_toast'";

/// One statement of the workload, made plannable.
pub struct WorkQuery {
    pub queryid: Option<i64>,
    pub text: String,
    pub calls: f64,
    pub mean_ms: f64,
    pub(super) explain_sql: String,
    pub(super) uses: QueryUses,
    pub base: f64,
    /// who it is planned as, and with which search_path
    pub(super) planner: Planner,
}

/// A table the workload reads.
#[derive(Clone)]
pub(super) struct Table {
    pub(super) oid: pg_sys::Oid,
    pub(super) qualified: String,
    pub(super) columns: Vec<String>,
    /// share of updates that are not HOT (and so write every index)
    pub(super) non_hot: f64,
}

pub struct Advice {
    pub queries: Vec<WorkQuery>,
    pub skipped: Vec<(String, String)>,
    /// workload statements of roles the caller may not plan as (not read, not planned)
    pub not_assumed: i64,
    pub candidates: Vec<Candidate>,
    pub sizes: Vec<i64>,
    pub selection: Selection,
    pub problem: Problem,
    pub relation: HashMap<String, String>,
    pub drops: Vec<DropAdvice>,
    pub days: Option<f64>,
    pub elapsed_ms: f64,
    pub strategy: String,
}

pub struct DropAdvice {
    pub kind: String,
    pub schema: String,
    pub table: String,
    pub index: String,
    pub columns: Vec<String>,
    pub bytes: i64,
    pub detail: String,
    pub sql: String,
}

pub(super) fn hypopg_schema() -> Result<String> {
    extension_schema("hypopg")?
        .map(|s| crate::sqlparse::ident(&s))
        .ok_or(AdvisorError::NoHypopg)
}

pub fn stat_statements_schema() -> Result<String> {
    extension_schema("pg_stat_statements")?
        .map(|s| crate::sqlparse::ident(&s))
        .ok_or(AdvisorError::NoStatStatements)
}

/// The advice: gathers the workload, generates and evaluates candidates, selects.
pub fn advise(query: Option<&str>, max_indexes: i32, workload_size: i32) -> Result<Advice> {
    if !(1..=50).contains(&max_indexes) {
        return Err(AdvisorError::OutOfRange("max_indexes", 1, 50));
    }
    if !(1..=10_000).contains(&workload_size) {
        return Err(AdvisorError::OutOfRange("workload_size", 1, 10_000));
    }
    let strategy = guc::advisor_search();
    if !["greedy", "exhaustive", "per_query"].contains(&strategy.as_str()) {
        return Err(AdvisorError::Strategy(strategy));
    }
    let started = Instant::now();
    // HypoPG's indexes live in the backend, outside any transaction: whatever way the advice
    // ends (an answer, an error, a cancel), the ones it made go away, so that no later
    // EXPLAIN of this session sees them
    let hs = hypopg_schema()?;
    let before = hypothetical_indexes(&hs)?;
    let sp = SearchPath::pin();
    let r = in_subtransaction(AssertUnwindSafe(|| {
        advise_in(
            &sp,
            query,
            max_indexes as usize,
            workload_size as i64,
            strategy,
            started,
        )
    }));
    sp.restore();
    let left = hypothetical_indexes(&hs)?;
    for oid in left.difference(&before) {
        drop_hypothetical(&hs, *oid)?;
    }
    match r {
        Ok(r) => r,
        Err(e) => e.rethrow(),
    }
}

pub(super) fn advise_in(
    sp: &SearchPath,
    query: Option<&str>,
    max_indexes: usize,
    workload_size: i64,
    strategy: String,
    started: Instant,
) -> Result<Advice> {
    let hs = hypopg_schema()?;
    let mut not_assumed = 0i64;
    let (raw, days) = match query {
        Some(q) => {
            let stmt = sqlparse::parse_one(q).map_err(|e| AdvisorError::BadQuery(e.to_string()))?;
            if !matches!(
                sqlparse::kind(&stmt),
                Kind::Select | Kind::Update | Kind::Delete
            ) {
                return Err(AdvisorError::BadQuery(format!(
                    "{} statements do not read through indexes",
                    sqlparse::kind(&stmt).as_str()
                )));
            }
            (vec![(None, q.to_string(), 1.0, 0.0, None)], None)
        }
        None => {
            let (raw, days, unassumable) = workload(workload_size)?;
            not_assumed = unassumable;
            (raw, days)
        }
    };
    let mut tables: HashMap<String, Option<Table>> = HashMap::new();
    let mut queries = Vec::new();
    let mut skipped = Vec::new();
    let lists = crate::pgsql::lists()?;
    // SAFETY: reads the backend's current user id.
    let me = unsafe { pg_sys::GetUserId() };
    for (queryid, text, calls, mean_ms, role) in raw {
        let text = params::typed_literals_as_casts(&text);
        // the caller's own statements are the caller's to plan, with the caller's search_path
        let role = role.filter(|r| *r != me);
        // a workload statement is analysed and planned as the role that ran it (a
        // restricted operation), with its own search_path, and judged before it is planned
        let planner = Planner::new(sp, role)?;
        match as_planner(role, || prepare(&planner.path, &text, &mut tables)) {
            Ok((explain_sql, uses)) => match explain(&planner, &lists, &explain_sql) {
                Ok(plan) => queries.push(WorkQuery {
                    queryid,
                    text,
                    calls,
                    mean_ms,
                    explain_sql,
                    uses,
                    base: plan.0,
                    planner,
                }),
                Err(e) => skipped.push((text, e)),
            },
            // statements that read no table (SELECT now(), ...) are not worth listing
            Err(e) if e == NO_TABLE && query.is_none() => {}
            Err(e) => skipped.push((text, e)),
        }
    }
    if query.is_some() && queries.is_empty() {
        let why = skipped.first().map(|s| s.1.clone()).unwrap_or_default();
        return Err(AdvisorError::BadQuery(why));
    }
    // candidates, without those an existing index already provides
    let by_name: HashMap<String, Table> = tables
        .values()
        .flatten()
        .map(|t| (t.qualified.clone(), t.clone()))
        .collect();
    let mut existing: HashMap<String, Vec<Existing>> = HashMap::new();
    for t in by_name.values() {
        existing.insert(t.qualified.clone(), existing_indexes(t.oid)?);
    }
    let mut cands: Vec<Candidate> = Vec::new();
    for q in &queries {
        for u in &q.uses.uses {
            for c in candidates::candidates(u) {
                if !cands.contains(&c) && !candidates::covered(&c, &existing[&c.table]) {
                    cands.push(c);
                }
            }
        }
    }
    // a partial index on `column = constant` pays only for a column of a few values (a
    // status), not for one value of many (a customer id)
    cands.retain(
        |c| match c.predicate.as_deref().and_then(|p| p.split_once(" = ")) {
            Some((col, _)) => few_values(&c.table, col.trim_matches('"')),
            None => true,
        },
    );
    let relevant: Vec<Vec<usize>> = cands
        .iter()
        .map(|c| {
            (0..queries.len())
                .filter(|&q| {
                    queries[q]
                        .uses
                        .uses
                        .iter()
                        .any(|u| u.table == c.table && u.mentions(&c.columns[0]))
                })
                .collect()
        })
        .collect();
    let relation: HashMap<String, String> =
        by_name.keys().map(|k| (k.clone(), k.clone())).collect();
    let mut oracle = Hypo {
        hs: &hs,
        lists: &lists,
        defs: cands.iter().map(|c| c.definition(&c.table)).collect(),
        tables: cands.iter().map(|c| c.table.clone()).collect(),
        queries: queries
            .iter()
            .map(|q| (q.explain_sql.clone(), q.uses.tables(), q.planner.clone()))
            .collect(),
        created: HashMap::new(),
        by_oid: HashMap::new(),
    };
    // sizes, and the price of keeping each index
    let mut sizes = Vec::with_capacity(cands.len());
    for i in 0..cands.len() {
        sizes.push(oracle.size(i)?);
    }
    oracle.clear()?;
    let workload_mode = query.is_none();
    let weights: Vec<f64> = queries.iter().map(|q| q.calls).collect();
    let base: Vec<f64> = queries.iter().map(|q| q.base).collect();
    let total: f64 = weights.iter().zip(&base).map(|(w, b)| w * b).sum();
    // rows written to each table in the same window as the workload: pg_stat_statements'
    // INSERT / UPDATE / DELETE statements, updates counted when they are not HOT
    let writes = if workload_mode {
        table_writes(sp, &mut tables)?
    } else {
        HashMap::new()
    };
    let penalty: Vec<f64> = cands
        .iter()
        .zip(&sizes)
        .map(|(c, &bytes)| {
            if !workload_mode {
                return 0.0;
            }
            let writes = writes.get(&c.table).copied().unwrap_or(0.0);
            // an index entry to maintain per written row, and its pages kept warm
            writes * WRITE_COST * (c.columns.len() + c.include.len()) as f64
                + (bytes as f64 / 8192.0) * SIZE_COST_PER_PAGE
        })
        .collect();
    let problem = Problem {
        weights,
        base,
        relevant,
        penalty,
        max_indexes,
        min_gain: total * MIN_GAIN_SHARE,
    };
    let selection = match strategy.as_str() {
        "exhaustive" => select::exhaustive(&problem, &mut oracle, EXHAUSTIVE_LIMIT)
            .map_err(|n| AdvisorError::TooMany(cands.len(), n))?,
        "per_query" => {
            let single: Vec<bool> = cands
                .iter()
                .map(|c| c.columns.len() == 1 && c.include.is_empty() && c.predicate.is_none())
                .collect();
            select::per_query(&problem, &single, &mut oracle)
        }
        _ => select::greedy(&problem, &mut oracle),
    };
    if let Some(e) = oracle.failure() {
        oracle.clear()?;
        return Err(e);
    }
    oracle.clear()?;
    let drops = if workload_mode {
        drop_advice()?
    } else {
        Vec::new()
    };
    Ok(Advice {
        queries,
        skipped,
        not_assumed,
        candidates: cands,
        sizes,
        selection,
        problem,
        relation,
        drops,
        days,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        strategy,
    })
}

pub(super) const NO_TABLE: &str = "reads no table that can be indexed";

/// Planner cost units per index entry written (an insert, or an update that is not HOT).
pub(super) const WRITE_COST: f64 = 0.5;
/// Planner cost units per page of index, for the memory it takes from the cache.
pub(super) const SIZE_COST_PER_PAGE: f64 = 0.05;
/// An index must remove at least this share of the workload's cost.
pub(super) const MIN_GAIN_SHARE: f64 = 0.005;
pub(super) const EXHAUSTIVE_LIMIT: usize = 20_000;

/// queryid, text, calls, mean time, and the role to plan it as (None: the caller).
pub(super) type Raw = (Option<i64>, String, f64, f64, Option<pg_sys::Oid>);

/// The top statements of this database by total time, without catalog queries, the
/// extension's own and utility statements; and the days the counters cover.
pub(super) fn workload(limit: i64) -> Result<(Vec<Raw>, Option<f64>, i64)> {
    let ss = stat_statements_schema()?;
    // a statement is planned as its role when that role still exists and the caller may
    // stand in for it: the caller is a superuser, or the role is not one and the caller is a
    // member of it (reading a statement's text, as pg_read_all_stats may, is not the right
    // to act as its author)
    let sql = format!(
        "SELECT s.queryid, s.query, s.calls::float8, s.mean_exec_time, s.userid,
                r.oid IS NOT NULL AND (me.rolsuper OR (NOT r.rolsuper AND
                    pg_catalog.pg_has_role(r.oid, 'MEMBER')))
           FROM {ss}.pg_stat_statements s
           LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
           CROSS JOIN (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = current_user::regrole::oid) me
          WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
            AND s.query ~* '^\\s*(with|select|update|delete)\\M'
            AND s.toplevel
            AND s.query !~* '(pg_catalog|information_schema|hypopg|pg_stat|pg_class|pg_namespace|pg_attribute|pg_index|pg_extension|pg_proc|pg_settings|pg_locks)'
            AND s.query !~* '(^|[^a-z0-9_])ai\\.'
          ORDER BY s.total_exec_time DESC
          LIMIT $1"
    );
    let mut out = Vec::new();
    let mut skipped = 0i64;
    Spi::connect(|c| {
        for r in c.select(&sql, None, &[limit.into()])? {
            if !r.get::<bool>(6)?.unwrap_or(false) {
                skipped += 1;
                continue;
            }
            out.push((
                r.get::<i64>(1)?,
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<f64>(3)?.unwrap_or(0.0),
                r.get::<f64>(4)?.unwrap_or(0.0),
                r.get::<pg_sys::Oid>(5)?,
            ));
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    let days = Spi::get_one::<f64>(&format!(
        "SELECT greatest(extract(epoch FROM now() - stats_reset) / 86400.0, 1.0 / 1440)::float8
           FROM {ss}.pg_stat_statements_info"
    ))?;
    Ok((out, days, skipped))
}

/// Rows written per table (qualified name) by the statements pg_stat_statements counted.
pub(super) fn table_writes(
    sp: &SearchPath,
    tables: &mut HashMap<String, Option<Table>>,
) -> Result<HashMap<String, f64>> {
    let ss = stat_statements_schema()?;
    let sql = format!(
        "SELECT s.query, s.rows::float8 FROM {ss}.pg_stat_statements s
          WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
            AND s.rows > 0 AND s.query ~* '^\\s*(with|insert|update|delete|merge)\\M'
            AND s.query !~* '(^|[^a-z0-9_])ai\\.'
          ORDER BY s.rows DESC LIMIT 1000"
    );
    let mut raw = Vec::new();
    Spi::connect(|c| {
        for r in c.select(&sql, None, &[])? {
            raw.push((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<f64>(2)?.unwrap_or(0.0),
            ));
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    let mut out: HashMap<String, f64> = HashMap::new();
    for (text, rows) in raw {
        let Ok(stmt) = sqlparse::parse_one(&params::typed_literals_as_casts(&text)) else {
            continue;
        };
        let kind = sqlparse::kind(&stmt);
        if !matches!(
            kind,
            Kind::Insert | Kind::Update | Kind::Delete | Kind::Merge
        ) {
            continue;
        }
        let Some(target) = sqlparse::relations(&stmt).into_iter().next() else {
            continue;
        };
        let key = target.to_lowercase();
        if !tables.contains_key(&key) {
            let t = resolve(sp.caller(), &target)?;
            tables.insert(key.clone(), t);
        }
        if let Some(Some(t)) = tables.get(&key) {
            let share = if kind == Kind::Update { t.non_hot } else { 1.0 };
            *out.entry(t.qualified.clone()).or_default() += rows * share;
        }
    }
    Ok(out)
}

/// Parses one statement, resolves its tables, replaces parameters by representative
/// values: the text to EXPLAIN, and what it asks of each table.
pub(super) fn prepare(
    path: &str,
    text: &str,
    tables: &mut HashMap<String, Option<Table>>,
) -> std::result::Result<(String, QueryUses), String> {
    let stmt = sqlparse::parse_one(text).map_err(|e| e.to_string())?;
    match sqlparse::kind(&stmt) {
        Kind::Select | Kind::Update | Kind::Delete => {}
        k => return Err(format!("{} statements are not advised on", k.as_str())),
    }
    let mut names = Vec::new();
    let _ = sqlparser::ast::visit_relations(&stmt, |n| {
        names.push((candidates::relation_key(n), n.to_string()));
        std::ops::ControlFlow::<()>::Continue(())
    });
    for (key, name) in names {
        if !tables.contains_key(&key) {
            let t = resolve(path, &name).map_err(|e| e.to_string())?;
            tables.insert(key, t);
        }
    }
    let lookup = |t: &str, c: &str| {
        tables
            .get(t)
            .and_then(|t| t.as_ref())
            .is_some_and(|t| t.columns.iter().any(|x| x == c))
    };
    let mut uses = candidates::analyse(&stmt, &lookup);
    // only tables that can carry an index, named by their qualified names
    uses.uses
        .retain_mut(|u| match tables.get(&u.table).cloned().flatten() {
            Some(t) => {
                u.table = t.qualified.clone();
                true
            }
            None => false,
        });
    for p in &mut uses.params {
        if let Some(Some(t)) = tables.get(&p.table) {
            p.table = t.qualified.clone();
        }
    }
    if uses.uses.is_empty() {
        return Err(NO_TABLE.into());
    }
    let sql = if text.contains('$') {
        bind(path, text, &uses)?
    } else {
        text.to_string()
    };
    Ok((sql, uses))
}

/// A table by the name a statement uses (with the statement's search_path), when it is one
/// the advisor may index: an ordinary, partitioned or materialized table the caller can read,
/// outside the system schemas.
pub(super) fn resolve(
    path: &str,
    name: &str,
) -> std::result::Result<Option<Table>, pgrx::spi::Error> {
    let oid = crate::spi_util::with_search_path(path, || {
        Spi::get_one_with_args::<pg_sys::Oid>(
            "SELECT pg_catalog.to_regclass($1)::oid",
            &[name.into()],
        )
    });
    let oid = match oid {
        Ok(Some(o)) => o,
        _ => return Ok(None),
    };
    let sql = format!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname),
                ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                coalesce((SELECT (s.n_tup_upd - s.n_tup_hot_upd)::float8 / s.n_tup_upd
                            FROM pg_catalog.pg_stat_user_tables s WHERE s.relid = c.oid AND s.n_tup_upd > 0), 1)
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = $1 AND c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ({SYSTEM_SCHEMAS})
            AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
    );
    Spi::connect(|c| {
        let mut t = None;
        for r in c.select(&sql, None, &[oid.into()])? {
            t = Some(Table {
                oid,
                qualified: r.get::<String>(1)?.unwrap_or_default(),
                columns: r.get::<Vec<String>>(2)?.unwrap_or_default(),
                non_hot: r.get::<f64>(3)?.unwrap_or(1.0),
            });
        }
        Ok(t)
    })
}

/// Replaces `$n` by representative literals of the right type. The types come from the
/// server's own parse analysis (PREPARE, never executed); the values from pg_stats.
pub(super) fn bind(
    path: &str,
    text: &str,
    uses: &QueryUses,
) -> std::result::Result<String, String> {
    let types = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        crate::pgsql::parameter_types(text, path)
    }));
    let types = match types {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(e) => return Err(e.message),
    };
    let mut values = HashMap::new();
    for (i, ty) in types.iter().enumerate() {
        let n = i + 1;
        let from_stats = uses
            .params
            .iter()
            .find(|p| p.n == n)
            .and_then(|p| stats_value(&p.table, &p.column, p.op));
        let v = from_stats.or_else(|| params::default_for(ty).map(str::to_string));
        let v = match v {
            Some(v) => params::literal(&v, ty),
            None => format!("NULL::{ty}"),
        };
        values.insert(n, v);
    }
    params::substitute(text, &values).ok_or_else(|| "the statement does not tokenize".to_string())
}

/// What pg_stats knows of a column: distinct values, most common values, histogram bounds.
/// `table` is the qualified name as the advisor writes it; PostgreSQL itself resolves it, so
/// quoting and dots in names need no parsing here.
pub(super) struct ColumnStats {
    pub(super) n_distinct: Option<f64>,
    pub(super) most_common: Vec<String>,
    pub(super) histogram: Vec<String>,
}

pub(super) fn column_stats(table: &str, column: &str) -> Option<ColumnStats> {
    Spi::connect(|c| {
        let r = c
            .select(
                "SELECT s.n_distinct::float8, s.most_common_vals::text::text[], s.histogram_bounds::text::text[]
                   FROM pg_catalog.pg_class t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
                   JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
                  WHERE t.oid = pg_catalog.to_regclass($1) AND s.attname = $2",
                None,
                &[table.into(), column.into()],
            )?
            .first();
        if r.is_empty() {
            return Ok::<_, pgrx::spi::Error>(None);
        }
        Ok(Some(ColumnStats {
            n_distinct: r.get::<f64>(1)?,
            most_common: r.get::<Vec<String>>(2)?.unwrap_or_default(),
            histogram: r.get::<Vec<String>>(3)?.unwrap_or_default(),
        }))
    })
    .ok()
    .flatten()
}

/// Whether pg_stats says the column holds only a few distinct values.
pub(super) fn few_values(table: &str, column: &str) -> bool {
    column_stats(table, column)
        .and_then(|s| s.n_distinct)
        .is_some_and(|n| (1.0..=FEW_VALUES).contains(&n))
}

/// At most this many distinct values make a column worth partial indexes on its values.
pub(super) const FEW_VALUES: f64 = 20.0;

pub(super) fn stats_value(table: &str, column: &str, op: candidates::ParamOp) -> Option<String> {
    let s = column_stats(table, column)?;
    params::pick(op, &s.most_common, &s.histogram)
}

pub(super) fn existing_indexes(table: pg_sys::Oid) -> Result<Vec<Existing>> {
    let mut out = Vec::new();
    Spi::connect(|c| {
        for r in c.select(
            "SELECT ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
                            FROM generate_series(1, i.indnatts) k ORDER BY k),
                    i.indnkeyatts::int, i.indpred IS NOT NULL
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
               JOIN pg_catalog.pg_am am ON am.oid = c.relam
              WHERE i.indrelid = $1 AND am.amname = 'btree' AND i.indisvalid",
            None,
            &[table.into()],
        )? {
            let cols: Vec<String> = r
                .get::<Vec<String>>(1)?
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    if c.starts_with('"') {
                        c.trim_matches('"').replace("\"\"", "\"")
                    } else {
                        c
                    }
                })
                .collect();
            let nkey = (r.get::<i32>(2)?.unwrap_or(0) as usize).min(cols.len());
            out.push(Existing {
                columns: cols[..nkey].to_vec(),
                include: cols[nkey..].to_vec(),
                partial: r.get::<bool>(3)?.unwrap_or(false),
            });
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    Ok(out)
}

/// Indexes to drop: unused, duplicate, prefix-redundant (shared with ai.insights).
pub fn drop_advice() -> Result<Vec<DropAdvice>> {
    let mut out = Vec::new();
    Spi::connect(|c| {
        for r in c.select(crate::monitor::INDEX_HEALTH_SQL, None, &[])? {
            out.push(DropAdvice {
                kind: r.get::<String>(1)?.unwrap_or_default(),
                schema: r.get::<String>(2)?.unwrap_or_default(),
                table: r.get::<String>(3)?.unwrap_or_default(),
                index: r.get::<String>(4)?.unwrap_or_default(),
                columns: r.get::<Vec<String>>(5)?.unwrap_or_default(),
                bytes: r.get::<i64>(6)?.unwrap_or(0),
                detail: r.get::<String>(7)?.unwrap_or_default(),
                sql: r.get::<String>(8)?.unwrap_or_default(),
            });
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    Ok(out)
}
