//! SQL surface of the index advisor, and the facts it gathers: the workload from
//! pg_stat_statements, the tables and indexes from the catalog, the plans from EXPLAIN with
//! HypoPG's hypothetical indexes. Nothing of the user's workload is executed.
use super::candidates::{self, Candidate, Existing, QueryUses};
use super::params;
use super::select::{self, Oracle, Plan, Problem, Selection};
use super::AdvisorError;
use super::Suggestion;
use crate::error::OrRaise;
use crate::guc;
use crate::spi_util::Spi;
use crate::spi_util::{
    extension_schema, in_rolled_back_subtransaction, in_subtransaction, read_only, role_path,
    SearchPath,
};
use crate::sqlparse::{self, Kind};
use pgrx::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

type Result<T> = std::result::Result<T, AdvisorError>;

/// Schemas whose tables and queries are not the user's workload.
const SYSTEM_SCHEMAS: &str = "'pg_catalog', 'information_schema', 'ai', 'pg_toast'";

/// One statement of the workload, made plannable.
pub struct WorkQuery {
    pub queryid: Option<i64>,
    pub text: String,
    pub calls: f64,
    pub mean_ms: f64,
    explain_sql: String,
    uses: QueryUses,
    pub base: f64,
    /// who it is planned as, and with which search_path
    planner: Planner,
}

/// Who plans a statement, and with which search_path. A workload statement is planned as the
/// role that ran it, with that role's own search_path (its configured setting, else the
/// default), never the caller's: the caller cannot choose what another role's names mean.
/// `pg_temp` is searched last (explicitly), so no temporary object shadows a name.
#[derive(Clone, Debug)]
struct Planner {
    /// None: the caller's own statement, planned as the caller
    role: Option<pg_sys::Oid>,
    path: String,
}

impl Planner {
    fn new(sp: &SearchPath, role: Option<pg_sys::Oid>) -> Result<Planner> {
        let path = match role {
            None => sp.caller().to_string(),
            Some(r) => {
                let configured = Spi::get_one_with_args::<String>(
                    "SELECT (SELECT pg_catalog.substr(c, 13)
                       FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
                      WHERE c LIKE 'search_path=%'
                        AND (s.setrole = $1 OR s.setrole = 0)
                        AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database
                                                   WHERE datname = pg_catalog.current_database()))
                      ORDER BY s.setrole <> 0 AND s.setdatabase <> 0 DESC, s.setrole <> 0 DESC
                      LIMIT 1)",
                    &[r.into()],
                )?;
                role_path(configured.as_deref().unwrap_or("\"$user\", public"))
            }
        };
        Ok(Planner { role, path })
    }
}

/// A table the workload reads.
#[derive(Clone)]
struct Table {
    oid: pg_sys::Oid,
    qualified: String,
    columns: Vec<String>,
    /// share of updates that are not HOT (and so write every index)
    non_hot: f64,
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

/// Index advice for one query, or for the workload in pg_stat_statements.
#[pg_extern(volatile)]
#[allow(clippy::type_complexity)]
fn suggest_indexes(
    query: default!(Option<&str>, "NULL"),
    max_indexes: default!(i32, 5),
    workload_size: default!(i32, 200),
) -> TableIterator<
    'static,
    (
        name!(index_sql, String),
        name!(table_name, String),
        name!(columns, Vec<String>),
        name!(estimated_size_bytes, i64),
        name!(cost_reduction_pct, Option<f64>),
        name!(time_saved_ms_per_day, Option<f64>),
        name!(queries_helped, i32),
        name!(reason, String),
    ),
> {
    let a = advise(query, max_indexes, workload_size).or_raise("ai.suggest_indexes");
    TableIterator::new(rows(&a).into_iter().map(Suggestion::into_row))
}

/// The same advice as readable text, with each query's planner cost before and after.
#[pg_extern(volatile)]
fn suggest_indexes_report(
    query: default!(Option<&str>, "NULL"),
    max_indexes: default!(i32, 5),
    workload_size: default!(i32, 200),
) -> String {
    let a = advise(query, max_indexes, workload_size).or_raise("ai.suggest_indexes_report");
    report(&a)
}

pub fn rows(a: &Advice) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for ch in &a.selection.chosen {
        let c = &a.candidates[ch.candidate];
        let before: f64 = ch
            .helped
            .iter()
            .map(|(q, b, _)| a.problem.weights[*q] * b)
            .sum();
        let pct = (before > 0.0).then(|| (100.0 * ch.gain / before * 10.0).round() / 10.0);
        let saved = a.days.map(|days| {
            let ms: f64 = ch
                .helped
                .iter()
                .map(|&(q, b, after)| {
                    let w = &a.queries[q];
                    w.calls / days * w.mean_ms * (1.0 - after / b.max(f64::MIN_POSITIVE))
                })
                .sum();
            (ms * 10.0).round() / 10.0
        });
        out.push(Suggestion {
            index_sql: create_sql(a, c),
            table: a.relation[&c.table].clone(),
            columns: c.columns.clone(),
            size_bytes: a.sizes[ch.candidate],
            cost_reduction_pct: pct,
            saved_ms_per_day: saved,
            queries_helped: ch.helped.len() as i32,
            reason: reason(a, ch),
        });
    }
    for d in &a.drops {
        out.push(Suggestion {
            index_sql: d.sql.clone(),
            table: format!(
                "{}.{}",
                crate::sqlparse::ident(&d.schema),
                crate::sqlparse::ident(&d.table)
            ),
            columns: d.columns.clone(),
            size_bytes: d.bytes,
            cost_reduction_pct: None,
            saved_ms_per_day: None,
            queries_helped: 0,
            reason: format!("drop {} ({}): {}", d.index, d.kind, d.detail),
        });
    }
    out
}

fn create_sql(a: &Advice, c: &Candidate) -> String {
    format!(
        "CREATE INDEX CONCURRENTLY {} {}",
        c.name(),
        c.definition(&a.relation[&c.table])
    )
}

fn reason(a: &Advice, ch: &select::Chosen) -> String {
    let c = &a.candidates[ch.candidate];
    let mut parts = Vec::new();
    let used_for: Vec<String> = c
        .columns
        .iter()
        .map(|col| {
            let mut how = Vec::new();
            for q in &ch.helped {
                for u in a.queries[q.0]
                    .uses
                    .uses
                    .iter()
                    .filter(|u| u.table == c.table)
                {
                    if u.eq.contains(col) && !how.contains(&"equality") {
                        how.push("equality")
                    }
                    if u.range.contains(col) && !how.contains(&"range") {
                        how.push("range")
                    }
                    if u.join.contains(col) && !how.contains(&"join") {
                        how.push("join")
                    }
                    if u.order.iter().any(|(o, _)| o == col) && !how.contains(&"order") {
                        how.push("order")
                    }
                    if u.group.contains(col) && !how.contains(&"grouping") {
                        how.push("grouping")
                    }
                }
            }
            if how.is_empty() {
                col.clone()
            } else {
                format!("{col} ({})", how.join("/"))
            }
        })
        .collect();
    parts.push(format!("serves {}", used_for.join(", ")));
    if !c.include.is_empty() {
        parts.push(format!(
            "INCLUDE ({}) for index-only scans",
            c.include.join(", ")
        ));
    }
    if let Some(p) = &c.predicate {
        parts.push(format!("partial: only rows where {p}"));
    }
    parts.push(format!(
        "used by {} quer{} of the workload",
        ch.helped.len(),
        if ch.helped.len() == 1 { "y" } else { "ies" }
    ));
    if ch.penalty > 0.0 {
        parts.push(format!(
            "write and size cost {:.0} of {:.0} gained",
            ch.penalty, ch.gain
        ));
    }
    parts.join("; ")
}

fn report(a: &Advice) -> String {
    // (+ 0.0: an empty workload prints 0, not -0)
    let total_before = select::weighted(&a.problem, &a.problem.base) + 0.0;
    let total_after = a.selection.workload_cost(&a.problem) + 0.0;
    let mut s = String::new();
    s.push_str(&format!(
        "Index advice ({} search) for {} quer{} ({} skipped), in {:.0} ms\n",
        a.strategy,
        a.queries.len(),
        if a.queries.len() == 1 { "y" } else { "ies" },
        a.skipped.len(),
        a.elapsed_ms
    ));
    if a.not_assumed > 0 {
        s.push_str(&format!(
            "   {} workload statement(s) of roles you may not plan as were left out (a superuser's, or a role you are not a member of)\n",
            a.not_assumed
        ));
    }
    s.push_str(&format!(
        "workload planner cost now: {:.0}\nwith the advised indexes: {:.0} ({:.1}% less)\n",
        total_before,
        total_after,
        if total_before > 0.0 {
            100.0 * (total_before - total_after) / total_before
        } else {
            0.0
        }
    ));
    if a.selection.chosen.is_empty() {
        s.push_str("\nNo new index pays for itself on this workload.\n");
    }
    for (i, (ch, row)) in a.selection.chosen.iter().zip(rows(a)).enumerate() {
        s.push_str(&format!(
            "\n{}. {}\n   {}\n",
            i + 1,
            row.index_sql,
            row.reason
        ));
        s.push_str(&format!(
            "   size ~{}, cost -{:.1}% on the queries it serves{}\n",
            pretty_bytes(row.size_bytes),
            row.cost_reduction_pct.unwrap_or(0.0),
            row.saved_ms_per_day
                .map(|ms| format!(", ~{ms:.0} ms saved per day"))
                .unwrap_or_default()
        ));
        let mut helped = ch.helped.clone();
        helped.sort_by(|x, y| {
            let gx = a.problem.weights[x.0] * (x.1 - x.2);
            let gy = a.problem.weights[y.0] * (y.1 - y.2);
            gy.total_cmp(&gx)
        });
        for (q, before, after) in helped.iter().take(5) {
            let w = &a.queries[*q];
            s.push_str(&format!(
                "   {:>10.1} -> {:<10.1} x{:<6} {}\n",
                before,
                after,
                w.calls,
                one_line(&w.text, 70)
            ));
        }
        if helped.len() > 5 {
            s.push_str(&format!("   ... and {} more\n", helped.len() - 5));
        }
    }
    if !a.drops.is_empty() {
        s.push_str("\nIndexes to drop:\n");
        for d in &a.drops {
            s.push_str(&format!("   {}  -- {}: {}\n", d.sql, d.kind, d.detail));
        }
    }
    if !a.skipped.is_empty() {
        s.push_str("\nNot analysed:\n");
        for (q, why) in a.skipped.iter().take(10) {
            s.push_str(&format!("   {}: {}\n", one_line(q, 50), why));
        }
        if a.skipped.len() > 10 {
            s.push_str(&format!("   ... and {} more\n", a.skipped.len() - 10));
        }
    }
    s
}

fn one_line(q: &str, n: usize) -> String {
    let flat: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > n {
        format!("{}...", flat.chars().take(n).collect::<String>())
    } else {
        flat
    }
}

pub fn pretty_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / 1024.0 / 1024.0 / 1024.0)
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.0} kB", b / 1024.0)
    }
}

fn hypopg_schema() -> Result<String> {
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

/// Drops one hypothetical index of this backend.
fn drop_hypothetical(hs: &str, oid: u32) -> Result<()> {
    Spi::run_with_args(
        &format!("SELECT {hs}.hypopg_drop_index($1)"),
        &[pg_sys::Oid::from(oid).into()],
    )?;
    Ok(())
}

/// The hypothetical indexes of this backend (through the function: the view
/// hypopg_list_indexes is not readable by every role that may advise).
fn hypothetical_indexes(hs: &str) -> Result<std::collections::BTreeSet<u32>> {
    Ok(Spi::get_one::<Vec<pg_sys::Oid>>(&format!(
        "SELECT coalesce(array_agg(h.indexrelid), '{{}}') FROM {hs}.hypopg() AS h"
    ))?
    .unwrap_or_default()
    .into_iter()
    .map(|o| o.to_u32())
    .collect())
}

fn advise_in(
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

const NO_TABLE: &str = "reads no table that can be indexed";

/// Planner cost units per index entry written (an insert, or an update that is not HOT).
const WRITE_COST: f64 = 0.5;
/// Planner cost units per page of index, for the memory it takes from the cache.
const SIZE_COST_PER_PAGE: f64 = 0.05;
/// An index must remove at least this share of the workload's cost.
const MIN_GAIN_SHARE: f64 = 0.005;
const EXHAUSTIVE_LIMIT: usize = 20_000;

/// queryid, text, calls, mean time, and the role to plan it as (None: the caller).
type Raw = (Option<i64>, String, f64, f64, Option<pg_sys::Oid>);

/// The top statements of this database by total time, without catalog queries, the
/// extension's own and utility statements; and the days the counters cover.
fn workload(limit: i64) -> Result<(Vec<Raw>, Option<f64>, i64)> {
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

/// Runs `f` as `role` (a restricted operation) when given, else as the caller.
fn as_planner<R>(role: Option<pg_sys::Oid>, f: impl FnOnce() -> R) -> R {
    match role {
        Some(r) => crate::spi_util::as_role(r, || Ok::<R, std::convert::Infallible>(f()))
            .unwrap_or_else(|e| match e {}),
        None => f(),
    }
}

/// Rows written per table (qualified name) by the statements pg_stat_statements counted.
fn table_writes(
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
fn prepare(
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
fn resolve(path: &str, name: &str) -> std::result::Result<Option<Table>, pgrx::spi::Error> {
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
fn bind(path: &str, text: &str, uses: &QueryUses) -> std::result::Result<String, String> {
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
struct ColumnStats {
    n_distinct: Option<f64>,
    most_common: Vec<String>,
    histogram: Vec<String>,
}

fn column_stats(table: &str, column: &str) -> Option<ColumnStats> {
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
fn few_values(table: &str, column: &str) -> bool {
    column_stats(table, column)
        .and_then(|s| s.n_distinct)
        .is_some_and(|n| (1.0..=FEW_VALUES).contains(&n))
}

/// At most this many distinct values make a column worth partial indexes on its values.
const FEW_VALUES: f64 = 20.0;

fn stats_value(table: &str, column: &str, op: candidates::ParamOp) -> Option<String> {
    let s = column_stats(table, column)?;
    params::pick(op, &s.most_common, &s.histogram)
}

/// EXPLAIN (no execution) as the planner's role with its search_path: total cost and the
/// hypothetical indexes (by oid) the plan uses. PostgreSQL's analyser and rewriter judge the
/// statement first (every function it calls, views and row-level policies expanded, against
/// the allow list), so planning, which folds IMMUTABLE calls, runs no code the allow list
/// refuses; the planning is read-only and rolled back.
fn explain(
    planner: &Planner,
    lists: &crate::pgsql::Lists,
    sql: &str,
) -> std::result::Result<(f64, Vec<u32>), String> {
    // HypoPG shows its indexes to EXPLAIN statements only: the text goes into one, after
    // PostgreSQL's raw parser has confirmed it is one statement and stays one inside EXPLAIN
    match crate::pgsql::one_statement(sql) {
        Ok(s)
            if matches!(
                s.command,
                crate::pgsql::Command::Select
                    | crate::pgsql::Command::Update
                    | crate::pgsql::Command::Delete
            ) => {}
        Ok(s) => return Err(format!("{} statements are not advised on", s.tag)),
        Err(e) => return Err(e.to_string()),
    }
    let q = format!("EXPLAIN (FORMAT JSON) {sql}");
    match crate::pgsql::statements(&q) {
        Ok(v) if v.len() == 1 => {}
        _ => return Err("the statement does not stay one statement inside EXPLAIN".into()),
    }
    let plan = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        read_only(|| {
            as_planner(planner.role, || {
                crate::pgsql::prepare(sql, &planner.path, |p| {
                    crate::pgsql::policy::check_calls(&p.facts, lists)
                })
                .and_then(|judged| judged.map_err(crate::pgsql::PgSqlError::from))
                .map_err(|e| e.to_string())?;
                crate::pgsql::pinned(|| {
                    crate::spi_util::with_search_path(&planner.path, || {
                        Spi::get_one::<pgrx::Json>(&q)
                    })
                })
                .map_err(|e| e.to_string())
            })
        })
    }));
    let plan = match plan {
        Ok(Ok(Some(j))) => j.0,
        Ok(Ok(None)) => Value::Null,
        Ok(Err(e)) => return Err(e),
        Err(e) if e.is_cancel() => e.rethrow(),
        Err(e) => return Err(e.message),
    };
    let top = &plan[0]["Plan"];
    let mut used = Vec::new();
    index_names(top, &mut used);
    Ok((top["Total Cost"].as_f64().unwrap_or(0.0), used))
}

/// HypoPG names its indexes `<oid>btree_...`: the oids of those a plan uses.
fn index_names(node: &Value, out: &mut Vec<u32>) {
    if let Some(name) = node["Index Name"].as_str() {
        if let Some(oid) = name
            .strip_prefix('<')
            .and_then(|r| r.split_once('>'))
            .and_then(|(n, _)| n.parse().ok())
        {
            out.push(oid);
        }
    }
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            index_names(c, out);
        }
    }
}

fn existing_indexes(table: pg_sys::Oid) -> Result<Vec<Existing>> {
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

/// The planner with HypoPG: keeps exactly the hypothetical indexes a question needs.
struct Hypo<'a> {
    hs: &'a str,
    lists: &'a crate::pgsql::Lists,
    defs: Vec<String>,
    tables: Vec<String>,
    /// the EXPLAIN text of each query and the tables it reads
    queries: Vec<(String, Vec<String>, Planner)>,
    created: HashMap<usize, u32>,
    by_oid: HashMap<u32, usize>,
}

thread_local! {
    static FAILURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

impl Hypo<'_> {
    fn create(&mut self, c: usize) -> Result<u32> {
        if let Some(&oid) = self.created.get(&c) {
            return Ok(oid);
        }
        let def = format!("CREATE INDEX {}", self.defs[c]);
        let oid = Spi::get_one_with_args::<pg_sys::Oid>(
            &format!("SELECT indexrelid FROM {}.hypopg_create_index($1)", self.hs),
            &[def.into()],
        )?
        .map(|o| o.to_u32())
        .ok_or_else(|| AdvisorError::Pg("hypopg_create_index returned nothing".into()))?;
        self.created.insert(c, oid);
        self.by_oid.insert(oid, c);
        Ok(oid)
    }

    fn drop(&mut self, c: usize) -> Result<()> {
        if let Some(oid) = self.created.remove(&c) {
            self.by_oid.remove(&oid);
            drop_hypothetical(self.hs, oid)?;
        }
        Ok(())
    }

    fn size(&mut self, c: usize) -> Result<i64> {
        let oid = self.create(c)?;
        let s = Spi::get_one_with_args::<i64>(
            &format!("SELECT {}.hypopg_relation_size($1)", self.hs),
            &[pg_sys::Oid::from(oid).into()],
        )?
        .unwrap_or(0);
        self.drop(c)?;
        Ok(s)
    }

    fn clear(&mut self) -> Result<()> {
        let all: Vec<usize> = self.created.keys().copied().collect();
        for c in all {
            self.drop(c)?;
        }
        Ok(())
    }

    fn failure(&self) -> Option<AdvisorError> {
        FAILURE
            .with(|f| f.borrow_mut().take())
            .map(AdvisorError::Pg)
    }

    fn try_plan(&mut self, q: usize, config: &[usize]) -> Result<Option<Plan>> {
        let qtables = self.queries[q].1.clone();
        // indexes on the query's tables that are not in the configuration go away
        let extra: Vec<usize> = self
            .created
            .keys()
            .copied()
            .filter(|c| !config.contains(c) && qtables.contains(&self.tables[*c]))
            .collect();
        for c in extra {
            self.drop(c)?;
        }
        for &c in config {
            self.create(c)?;
        }
        Ok(
            match explain(&self.queries[q].2, self.lists, &self.queries[q].0) {
                Ok((cost, used)) => Some(Plan {
                    cost,
                    used: used
                        .iter()
                        .filter_map(|o| self.by_oid.get(o).copied())
                        .collect(),
                }),
                Err(_) => None,
            },
        )
    }
}

impl Oracle for Hypo<'_> {
    fn plan(&mut self, q: usize, config: &[usize]) -> Option<Plan> {
        match self.try_plan(q, config) {
            Ok(p) => p,
            Err(e) => {
                FAILURE.with(|f| *f.borrow_mut() = Some(e.to_string()));
                None
            }
        }
    }
}
