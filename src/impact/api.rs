//! SQL surface of the impact analysis: ai.impact and ai.impact_report.
//!
//! Gathers the facts the plain-Rust core works on (names resolved through the caller's
//! search_path, the foreign-key graph, planner estimates, exact counts, a rolled-back dry
//! run, triggers, locks...) and assembles the jsonb document. Everything that reads user
//! tables runs with the caller's rights, so nothing the caller cannot SELECT is revealed.
use super::cascade::{self, Action, Edge, Node, Op, Table};
use super::count;
use super::ddl::{self, Inverse, LockMode};
use super::report;
use super::risk::{self, Facts, Policy};
use super::sensitive;
use super::statement::{self, Modify, Shape};
use crate::error::{OrRaise, UserError};
use crate::spi_util::{in_subtransaction, CaughtPgError, SearchPath};
use crate::sqlparse::{self, Kind};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;

#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Sql(#[from] sqlparse::SqlError),
    #[error("{0}")]
    Shape(#[from] statement::ShapeError),
    #[error("mode must be 'estimate', 'exact' or 'dry_run', got '{0}'")]
    BadMode(String),
    #[error("relation \"{0}\" does not exist")]
    UnknownTable(String),
    #[error("permission denied: you have no SELECT right on {0}")]
    NoSelect(String),
    #[error("view {view} cannot be the target of {op}: it is not automatically updatable")]
    NotUpdatable { view: String, op: &'static str },
    #[error("the {0} analysis did not finish within ai_architect.impact_timeout_ms ({1} ms)")]
    Timeout(&'static str, u64),
    #[error("{0} cannot be dry-run: it cannot run inside a transaction block")]
    NoTransaction(String),
    #[error("{0} statements cannot be dry-run")]
    NotDryRunnable(&'static str),
    #[error("counting the rows failed: {0}")]
    Count(String),
    #[error("the introspection returned unexpected data: {0}")]
    Decode(String),
    #[error("{0} must not be NULL")]
    Null(&'static str),
    #[error("{0}")]
    PgSql(#[from] crate::pgsql::PgSqlError),
    #[error("PostgreSQL reads this text as {pg}, the analysis as {ours}")]
    ReadDifferently { pg: String, ours: &'static str },
}

impl UserError for ImpactError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use ImpactError::*;
        match self {
            Spi(_) | Decode(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            Sql(e) => e.sqlstate(),
            Shape(_) | NoTransaction(_) | NotDryRunnable(_) => {
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED
            }
            BadMode(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            UnknownTable(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            NoSelect(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            NotUpdatable { .. } => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Timeout(..) => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            Count(_) => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            Null(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            PgSql(_) | ReadDifferently { .. } => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        use ImpactError::*;
        match self {
            Sql(e) => Some(e.hint().to_string()),
            PgSql(e) => Some(e.hint()),
            ReadDifferently { .. } => Some("write the statement plainly (standard_conforming_strings is on for everything ai_architect parses and runs)".into()),
            Shape(_) => Some("analyse a simpler form of the statement, or use mode => 'dry_run'".into()),
            BadMode(_) => Some("'estimate' asks the planner, 'exact' counts the rows, 'dry_run' runs it and rolls back".into()),
            UnknownTable(t) => Some(format!(
                "check the name and your search_path ({}); qualify it with its schema, e.g. public.{t}",
                current_search_path()
            )),
            NoSelect(t) => Some(format!("ask for SELECT on {t}: the analysis reads the rows the statement would touch")),
            NotUpdatable { .. } => Some("target its base table, or give the view an INSTEAD OF trigger".into()),
            Timeout(..) => Some("raise ai_architect.impact_timeout_ms, or use mode => 'estimate'".into()),
            NoTransaction(_) => Some("use mode => 'estimate' or 'exact'; the linter and lock analysis still apply".into()),
            NotDryRunnable(_) => Some("dry runs take INSERT, UPDATE, DELETE, MERGE, TRUNCATE and DDL".into()),
            Count(_) => Some("the WHERE clause must be readable as a query; try mode => 'dry_run'".into()),
            _ => None,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ImpactError>;

fn current_search_path() -> String {
    Spi::get_one::<String>("SELECT current_setting('search_path')")
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Estimate,
    Exact,
    DryRun,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode> {
        match s.trim().to_lowercase().as_str() {
            "estimate" => Ok(Mode::Estimate),
            "exact" => Ok(Mode::Exact),
            "dry_run" | "dry-run" | "dryrun" => Ok(Mode::DryRun),
            _ => Err(ImpactError::BadMode(s.to_string())),
        }
    }
    fn as_str(&self) -> &'static str {
        match self {
            Mode::Estimate => "estimate",
            Mode::Exact => "exact",
            Mode::DryRun => "dry_run",
        }
    }
}

/// One relation, as the catalog describes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Rel {
    pub(super) oid: i64,
    schema: String,
    name: String,
    pub(super) kind: String,
    pub(super) rows: f64,
    bytes: i64,
    pub(super) readable: bool,
    can: BTreeMap<String, bool>,
    system: bool,
    pub(super) root: i64,
    columns: Vec<Col>,
    pk: Vec<String>,
    updatable: i32,
    pub(super) base: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
struct Col {
    name: String,
    generated: bool,
}

impl Rel {
    pub(crate) fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub(crate) fn primary_key(&self) -> &[String] {
        &self.pk
    }
    /// every column, in the order of the row type
    pub(crate) fn all_columns(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
    /// columns that can be written (generated ones left out)
    pub(crate) fn writable_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| c.name.clone())
            .collect()
    }
    pub(crate) fn qualified(&self) -> String {
        Table::new(&self.schema, &self.name).qualified()
    }
    fn table(&self) -> Table {
        Table::new(&self.schema, &self.name)
    }
}

const REL_SQL: &str = "
SELECT coalesce(jsonb_agg(jsonb_build_object(
  'oid', c.oid::int8, 'schema', n.nspname, 'name', c.relname, 'kind', c.relkind,
  'rows', coalesce((SELECT sum(greatest(p.reltuples, 0)) FROM pg_catalog.pg_partition_tree(c.oid) t
                      JOIN pg_catalog.pg_class p ON p.oid = t.relid WHERE t.isleaf), greatest(c.reltuples, 0))::float8,
  'bytes', coalesce((SELECT sum(pg_catalog.pg_total_relation_size(t.relid)) FROM pg_catalog.pg_partition_tree(c.oid) t),
                    pg_catalog.pg_total_relation_size(c.oid))::int8,
  'readable', pg_catalog.has_table_privilege(c.oid, 'SELECT'),
  'can', jsonb_build_object('INSERT', pg_catalog.has_table_privilege(c.oid, 'INSERT'),
                            'UPDATE', pg_catalog.has_table_privilege(c.oid, 'UPDATE'),
                            'DELETE', pg_catalog.has_table_privilege(c.oid, 'DELETE'),
                            'TRUNCATE', pg_catalog.has_table_privilege(c.oid, 'TRUNCATE')),
  'system', n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast')
            OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                          AND d.deptype = 'e' AND e.extname = 'ai_architect'),
  'root', coalesce(pg_catalog.pg_partition_root(c.oid), c.oid)::int8,
  'columns', coalesce((SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'generated', a.attgenerated <> '') ORDER BY a.attnum)
                         FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'),
  'pk', coalesce((SELECT jsonb_agg(a.attname ORDER BY k.i)
                    FROM pg_catalog.pg_index x CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(n, i)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
                   WHERE x.indrelid = c.oid AND x.indisprimary), '[]'),
  'updatable', CASE WHEN c.relkind IN ('v', 'f') THEN pg_catalog.pg_relation_is_updatable(c.oid, true) ELSE 28 END,
  'base', CASE WHEN c.relkind = 'v' THEN (
            SELECT min(d.refobjid)::int8 FROM pg_catalog.pg_rewrite r
              JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
                AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> c.oid
             WHERE r.ev_class = c.oid AND r.rulename = '_RETURN'
            HAVING count(DISTINCT d.refobjid) = 1) END)), '[]')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = ANY ($1::int8[]::pg_catalog.oid[])";

pub(super) fn json_one(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Value> {
    Ok(Spi::get_one_with_args::<JsonB>(sql, args)?
        .map(|j| j.0)
        .unwrap_or(Value::Null))
}

/// The catalog's description of several relations at once.
pub(crate) fn rels(oids: &[i64]) -> Result<HashMap<i64, Rel>> {
    let v = json_one(REL_SQL, &[oids.to_vec().into()])?;
    let list: Vec<Rel> =
        serde_json::from_value(v).map_err(|e| ImpactError::Decode(e.to_string()))?;
    Ok(list.into_iter().map(|r| (r.oid, r)).collect())
}

pub(super) fn rel(oid: i64) -> Result<Rel> {
    rels(&[oid])?
        .remove(&oid)
        .ok_or_else(|| ImpactError::Decode(format!("relation {oid} vanished")))
}

/// Resolves a name as the caller wrote it, through the caller's search_path.
fn resolve(sp: &SearchPath, written: &str) -> Result<Rel> {
    let oid = sp.as_caller(|| {
        Spi::get_one_with_args::<i64>(
            "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid::int8",
            &[written.into()],
        )
    })?;
    match oid {
        Some(o) => rel(o),
        None => Err(ImpactError::UnknownTable(written.to_string())),
    }
}

#[derive(Debug, Clone, Deserialize)]
struct EdgeRow {
    constraint: String,
    parent_schema: String,
    parent: String,
    child_schema: String,
    child: String,
    parent_cols: Vec<String>,
    child_cols: Vec<String>,
    on_delete: String,
    on_update: String,
    child_oid: i64,
}

const EDGES_SQL: &str = "
SELECT coalesce(jsonb_agg(jsonb_build_object(
  'constraint', con.conname, 'parent_schema', pn.nspname, 'parent', pc.relname,
  'child_schema', cn.nspname, 'child', cc.relname, 'child_oid', con.conrelid::int8,
  'parent_cols', (SELECT jsonb_agg(a.attname ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY AS k(n, i)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n),
  'child_cols', (SELECT jsonb_agg(a.attname ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY AS k(n, i)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n),
  'on_delete', con.confdeltype, 'on_update', con.confupdtype) ORDER BY con.conname), '[]')
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
  JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
 WHERE con.contype = 'f' AND con.conparentid = 0";

struct Graph {
    edges: Vec<Edge>,
    oids: HashMap<Table, i64>,
}

fn graph() -> Result<Graph> {
    let rows: Vec<EdgeRow> = serde_json::from_value(json_one(EDGES_SQL, &[])?)
        .map_err(|e| ImpactError::Decode(e.to_string()))?;
    let mut oids = HashMap::new();
    let edges = rows
        .into_iter()
        .map(|r| {
            let child = Table::new(&r.child_schema, &r.child);
            oids.insert(child.clone(), r.child_oid);
            let act = |s: &str| {
                Action::from_pg(s.chars().next().unwrap_or('a')).unwrap_or(Action::NoAction)
            };
            Edge {
                constraint: r.constraint,
                parent: Table::new(&r.parent_schema, &r.parent),
                parent_cols: r.parent_cols,
                child,
                child_cols: r.child_cols,
                on_delete: act(&r.on_delete),
                on_update: act(&r.on_update),
            }
        })
        .collect();
    Ok(Graph { edges, oids })
}

/// The planner's plan of a query, EXPLAIN (FORMAT JSON) (nothing runs).
pub(super) fn explain_plan(
    sp: &SearchPath,
    sql: &str,
) -> std::result::Result<Value, CaughtPgError> {
    // the statement itself, prepared and planned by PostgreSQL (never its text in another)
    let plan = in_subtransaction(AssertUnwindSafe(|| {
        crate::pgsql::prepare(sql, sp.caller(), |p| p.explain_json(false, false)).and_then(|r| r)
    }))?;
    plan.map_err(|e| CaughtPgError::internal(e.to_string()))
}

/// Planner estimate of the rows a query returns (EXPLAIN only: nothing runs).
fn explain_rows(sp: &SearchPath, sql: &str) -> std::result::Result<f64, CaughtPgError> {
    let plan = explain_plan(sp, sql)?;
    let top = &plan[0]["Plan"];
    // a ModifyTable node reports 0 rows; what it modifies is its input's estimate
    let node = if top["Node Type"] == "ModifyTable" {
        &top["Plans"][0]
    } else {
        top
    };
    Ok(node["Plan Rows"].as_f64().unwrap_or(0.0))
}

/// One line of the `tables` list while it is being built.
pub(super) struct Touch {
    pub(super) rel: Rel,
    pub(super) operation: String,
    pub(super) estimated: Option<f64>,
    pub(super) exact: Option<i64>,
    /// the first path that reaches these rows
    pub(super) path: Vec<String>,
    /// the other paths that reach rows of the same table with the same operation
    pub(super) paths: Vec<Vec<String>>,
    pub(super) via: &'static str,
    /// the row-selecting SQL (for exact counts and rollback capture)
    pub(super) rows_sql: Option<String>,
    /// the same rows as `(tableoid, ctid)`
    pub(super) ids_sql: Option<String>,
    pub(super) dry: Option<(i64, i64, i64)>,
    /// a partitioned table's partitions, by name
    pub(super) partitions: Option<BTreeMap<String, Value>>,
}

impl Touch {
    /// How many foreign keys away from the target its rows are, on the longest path.
    pub(super) fn depth(&self) -> usize {
        std::iter::once(&self.path)
            .chain(&self.paths)
            .map(|p| p.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn new(rel: Rel, operation: String, path: Vec<String>, via: &'static str) -> Touch {
        Touch {
            rel,
            operation,
            estimated: None,
            exact: None,
            path,
            paths: Vec::new(),
            via,
            rows_sql: None,
            ids_sql: None,
            dry: None,
            partitions: None,
        }
    }
}

/// The facts gathered about one statement, then turned into jsonb.
pub(super) struct Analysis {
    kind: Kind,
    mode: Mode,
    statement: String,
    target: Option<Rel>,
    pub(super) touches: Vec<Touch>,
    pub(super) tree: Vec<Node>,
    /// estimate / exact rows per tree node, in walk order
    pub(super) node_rows: HashMap<String, (Option<f64>, Option<i64>, bool)>,
    pub(super) will_fail: Option<bool>,
    pub(super) failure_reason: Option<String>,
    pub(super) warnings: Vec<String>,
    locks: Vec<(Rel, LockMode, String)>,
    ddl_steps: Vec<ddl::Step>,
    lint: Vec<ddl::Finding>,
    has_where: bool,
    changed: Vec<String>,
    insert_columns: Option<Vec<String>>,
    partitions: Value,
    rollback: Value,
}

pub(super) fn node_key(n: &Node, path: &[String]) -> String {
    format!("{}|{}", path.join(">"), n.constraint)
}

/// Walks the tree in order, calling `f(node, path_before_node)`.
pub(super) fn each_node<'a>(
    nodes: &'a [Node],
    path: &mut Vec<String>,
    f: &mut dyn FnMut(&'a Node, &[String]),
) {
    for n in nodes {
        f(n, path);
        path.push(n.table.display());
        each_node(&n.children, path, f);
        path.pop();
    }
}

fn op_name(effect: &str, action: Action) -> String {
    match (effect, action) {
        ("delete", _) => "DELETE (cascade)".into(),
        ("update", Action::SetNull) => "UPDATE (set null)".into(),
        ("update", Action::SetDefault) => "UPDATE (set default)".into(),
        ("update", _) => "UPDATE (cascade)".into(),
        _ => format!("blocks ({})", action.as_str()),
    }
}

pub fn analyse(sql: &str, mode: Mode) -> Result<Value> {
    analyse_with_captures(sql, mode).map(|(v, _)| v)
}

/// The rows of one table an execution must back up: how to select them and their key.
#[derive(Debug, Clone)]
pub struct Capture {
    pub oid: i64,
    /// schema-qualified, quoted
    pub qualified: String,
    pub display: String,
    /// `delete`, `update` or `insert`
    pub operation: &'static str,
    /// a read-only query returning the rows (None for INSERT: keys come from RETURNING)
    pub rows_sql: Option<String>,
    pub pk: Vec<String>,
    /// every column of the relation, in the order of its row type (the row image's order)
    pub columns: Vec<String>,
    /// 0 for the target, n for a table n foreign keys away
    pub depth: usize,
}

fn analyse_with_captures(sql: &str, mode: Mode) -> Result<(Value, Vec<Capture>)> {
    let sp = SearchPath::pin();
    let v = analyse_pinned(&sp, sql, mode);
    sp.restore();
    v
}

/// The impact document and the row sets an execution must back up, for a caller that has
/// already pinned the search_path (`sp` holds the caller's).
/// Refuses a text that PostgreSQL's raw parser (standard_conforming_strings on) does not read
/// as exactly one statement of the kind the analysis found.
pub fn agrees_with_postgres(sql: &str, kind: Kind) -> Result<()> {
    use crate::pgsql::Command;
    let pg = crate::pgsql::one_statement(sql)?;
    let same = match pg.command {
        Command::Select => kind == Kind::Select,
        Command::Insert => kind == Kind::Insert,
        Command::Update => kind == Kind::Update,
        Command::Delete => kind == Kind::Delete,
        Command::Merge => kind == Kind::Merge,
        Command::Utility => matches!(kind, Kind::Ddl | Kind::Truncate | Kind::Copy | Kind::Other),
    };
    if same {
        Ok(())
    } else {
        Err(ImpactError::ReadDifferently {
            pg: pg.tag,
            ours: kind.as_str(),
        })
    }
}

pub fn analyse_in(sp: &SearchPath, sql: &str, mode: Mode) -> Result<(Value, Vec<Capture>)> {
    analyse_pinned(sp, sql, mode)
}

fn analyse_pinned(sp: &SearchPath, sql: &str, mode: Mode) -> Result<(Value, Vec<Capture>)> {
    let parsed = sqlparse::parse_statement(sql)?;
    let kind = sqlparse::kind(&parsed.stmt);
    // PostgreSQL's raw parser has the last word on how many statements the text holds and
    // what they are, for the text and for the form the analysis renders and runs
    agrees_with_postgres(sql, kind)?;
    agrees_with_postgres(&parsed.stmt.to_string(), kind)?;
    let shape = statement::shape(&parsed)?;
    let mut a = Analysis {
        kind,
        mode,
        statement: parsed.stmt.to_string(),
        target: None,
        touches: Vec::new(),
        tree: Vec::new(),
        node_rows: HashMap::new(),
        will_fail: Some(false),
        failure_reason: None,
        warnings: Vec::new(),
        locks: Vec::new(),
        ddl_steps: Vec::new(),
        lint: Vec::new(),
        has_where: true,
        changed: Vec::new(),
        insert_columns: None,
        partitions: json!([]),
        rollback: json!({}),
    };
    if mode == Mode::DryRun {
        match kind {
            Kind::Copy => return Err(ImpactError::NotDryRunnable("COPY")),
            Kind::Other => return Err(ImpactError::NotDryRunnable("utility")),
            Kind::Ddl if ddl::needs_own_transaction(sql) => {
                return Err(ImpactError::NoTransaction(
                    a.statement.chars().take(60).collect(),
                ))
            }
            _ => {}
        }
    }
    let policy = load_policy()?;
    match &shape {
        Shape::Delete(m) | Shape::Update(m) => {
            modify(sp, &mut a, m, matches!(shape, Shape::Delete(_)))?
        }
        Shape::Insert(i) => insert(sp, &mut a, i)?,
        Shape::Merge {
            target,
            matched_sql,
        } => merge(sp, &mut a, target, matched_sql)?,
        Shape::Truncate {
            tables,
            cascade,
            only,
        } => truncate(sp, &mut a, tables, *cascade, *only)?,
        Shape::Select => select(sp, &mut a, &parsed.stmt)?,
        Shape::Other => other(sp, &mut a, &parsed.stmt, sql)?,
    }
    count::merge_touches(&mut a)?;
    count::partition_estimates(sp, &mut a)?;
    if mode == Mode::Exact {
        count::exact(sp, &mut a)?;
    }
    if mode == Mode::DryRun {
        count::dry_run(sp, &mut a, sql)?;
    }
    blockers(&mut a);
    // inverse DDL reads definitions of names as the caller wrote them
    let rollback = sp.as_caller(|| rollback_plan(&a))?;
    a.rollback = rollback;
    let captures = a
        .touches
        .iter()
        .filter_map(|t| {
            let operation = if t.operation.starts_with("DELETE") {
                "delete"
            } else if t.operation.starts_with("UPDATE") {
                "update"
            } else if t.operation == "INSERT" {
                "insert"
            } else if t.operation == "MERGE" {
                "merge"
            } else {
                return None;
            };
            Some(Capture {
                oid: t.rel.oid,
                qualified: t.rel.qualified(),
                display: t.rel.display(),
                operation,
                rows_sql: if operation == "insert" {
                    None
                } else {
                    t.rows_sql.clone()
                },
                pk: t.rel.pk.clone(),
                columns: t.rel.all_columns(),
                depth: t.depth(),
            })
        })
        .collect();
    Ok((document(&a, &policy)?, captures))
}

fn load_policy() -> Result<Policy> {
    let v = json_one(
        "SELECT coalesce(jsonb_object_agg(setting, value), '{}') FROM ai.risk_policy",
        &[],
    )?;
    let mut p = Policy::default();
    let get = |k: &str| v.get(k).and_then(|x| x.as_f64());
    if let Some(x) = get("medium_rows") {
        p.medium_rows = x as u64;
    }
    if let Some(x) = get("high_rows") {
        p.high_rows = x as u64;
    }
    if let Some(x) = get("max_fan_out") {
        p.max_fan_out = x;
    }
    if let Some(x) = get("unfiltered_rows") {
        p.unfiltered_rows = x as u64;
    }
    if let Some(x) = get("large_table_rows") {
        p.large_table_rows = x as u64;
    }
    Ok(p)
}

/// The target must exist and be readable; a view must be updatable for `op`.
fn target(sp: &SearchPath, a: &mut Analysis, written: &str, op: &'static str) -> Result<Rel> {
    let t = resolve(sp, written)?;
    if !t.readable {
        return Err(ImpactError::NoSelect(t.display()));
    }
    if t.kind == "v" || t.kind == "f" {
        let bit = match op {
            "UPDATE" => 4,
            "INSERT" => 8,
            _ => 16,
        };
        let instead = Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::pg_catalog.oid AND tgtype & 64 <> 0)",
            &[t.oid.into()],
        )?;
        if t.updatable & bit == 0 && instead != Some(true) {
            return Err(ImpactError::NotUpdatable {
                view: t.display(),
                op,
            });
        }
    }
    if t.can.get(op) == Some(&false) {
        a.warnings.push(format!(
            "you have no {op} right on {}: running the statement would fail",
            t.display()
        ));
    }
    if t.kind == "p" {
        a.partitions = json_one(
            "SELECT coalesce(jsonb_agg(jsonb_build_object('partition', t.relid::pg_catalog.regclass::text, 'level', t.level,
                    'leaf', t.isleaf, 'bound', pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                    'table_rows', greatest(c.reltuples, 0)::int8) ORDER BY t.level, t.relid::pg_catalog.regclass::text), '[]')
               FROM pg_catalog.pg_partition_tree($1::pg_catalog.oid) t JOIN pg_catalog.pg_class c ON c.oid = t.relid
              WHERE t.level > 0",
            &[t.oid.into()],
        )?;
    }
    a.target = Some(t.clone());
    Ok(t)
}

/// The table whose foreign keys matter: a view's single base table, a partition's root.
fn fk_table(t: &Rel, a: &mut Analysis) -> Result<Option<Rel>> {
    if t.kind == "v" {
        return match t.base {
            Some(b) => {
                let b = rel(b)?;
                if b.kind == "v" {
                    fk_table(&b, a)
                } else {
                    Ok(Some(b))
                }
            }
            None => {
                a.warnings.push(format!(
                    "{} reads several relations: cascades through it are not followed; mode => 'dry_run' shows them",
                    t.display()
                ));
                Ok(None)
            }
        };
    }
    if t.root != t.oid {
        return Ok(Some(rel(t.root)?));
    }
    Ok(Some(t.clone()))
}

fn modify(sp: &SearchPath, a: &mut Analysis, m: &Modify, delete: bool) -> Result<()> {
    let op = if delete { "DELETE" } else { "UPDATE" };
    let t = target(sp, a, &m.target, op)?;
    a.has_where = m.selection.is_some() || !m.from.is_empty();
    a.changed = m.changed.clone();
    let rows_sql = m.rows_sql();
    let estimated = match explain_rows(sp, &rows_sql) {
        Ok(r) => Some(r),
        Err(e) if e.is_cancel() => e.rethrow(),
        Err(e) => return Err(ImpactError::Count(e.message)),
    };
    let base = fk_table(&t, a)?;
    let shown = base.clone().unwrap_or_else(|| t.clone());
    if shown.oid != t.oid && t.kind == "v" {
        a.warnings.push(format!(
            "{} is a view: its rows are those of {}",
            t.display(),
            shown.display()
        ));
    }
    a.locks.push((
        shown.clone(),
        LockMode::RowExclusive,
        format!("{op} of its rows (row locks on each)"),
    ));
    a.touches.push(Touch {
        estimated,
        rows_sql: Some(rows_sql.clone()),
        // a view has no row identity of its own
        ids_sql: (!matches!(t.kind.as_str(), "v" | "f")).then(|| m.ids_sql()),
        ..Touch::new(shown.clone(), op.into(), vec![shown.display()], "statement")
    });
    // relations read by USING / FROM / subqueries
    for name in sqlparse::relations(&sqlparse::parse_one(&a.statement)?) {
        if let Ok(r) = resolve(sp, &name) {
            if r.oid != t.oid && !a.locks.iter().any(|(l, _, _)| l.oid == r.oid) {
                a.locks
                    .push((r, LockMode::AccessShare, "read by the statement".into()));
            }
        }
    }
    let Some(base) = base else { return Ok(()) };
    let g = graph()?;
    let walk_op = if delete {
        Op::Delete
    } else {
        Op::Update(m.changed.clone())
    };
    a.tree = cascade::walk(&base.table(), &walk_op, &rows_sql, &g.edges);
    cascade_facts(sp, a, &g)
}

/// Estimates, visibility, locks and `tables` lines for every node of the cascade tree.
fn cascade_facts(sp: &SearchPath, a: &mut Analysis, g: &Graph) -> Result<()> {
    let root = a.root_path();
    let mut visits: Vec<(Node, Vec<String>)> = Vec::new();
    let tree = a.tree.clone();
    let mut path = root.clone();
    each_node(&tree, &mut path, &mut |n, p| {
        visits.push((n.clone(), p.to_vec()))
    });
    let mut oids: Vec<i64> = visits
        .iter()
        .filter_map(|(n, _)| g.oids.get(&n.table).copied())
        .collect();
    oids.sort();
    oids.dedup();
    let known = rels(&oids)?;
    for (n, p) in visits {
        let Some(r) = g.oids.get(&n.table).and_then(|o| known.get(o)).cloned() else {
            continue;
        };
        let key = node_key(&n, &p);
        if !r.readable {
            a.warnings.push(format!(
                "you have no SELECT right on {}: its rows are not counted",
                r.display()
            ));
            a.node_rows.insert(key, (None, None, true));
        } else {
            let est = explain_rows(sp, &n.rows_sql).ok();
            a.node_rows.insert(key, (est, None, false));
        }
        let mut full = p.clone();
        full.push(r.display());
        let lock = if n.action.blocks() {
            (
                LockMode::RowShare,
                format!("checked by {} (rows locked FOR KEY SHARE)", n.constraint),
            )
        } else {
            (
                LockMode::RowExclusive,
                format!("{} via {}", op_name(n.effect, n.action), n.constraint),
            )
        };
        if !a
            .locks
            .iter()
            .any(|(l, m, _)| l.oid == r.oid && *m >= lock.0)
        {
            a.locks.retain(|(l, _, _)| l.oid != r.oid);
            a.locks.push((r.clone(), lock.0, lock.1));
        }
        if !n.action.blocks() {
            let has_identity = r.kind != "f";
            let est = a.node_rows.get(&node_key(&n, &p)).and_then(|x| x.0);
            a.touches.push(Touch {
                estimated: est,
                rows_sql: Some(n.rows_sql.clone()),
                ids_sql: has_identity.then(|| n.ids_sql.clone()),
                ..Touch::new(r, op_name(n.effect, n.action), full, "foreign key")
            });
        }
    }
    Ok(())
}

fn insert(sp: &SearchPath, a: &mut Analysis, i: &statement::Insert) -> Result<()> {
    let t = target(sp, a, &i.target, "INSERT")?;
    a.insert_columns = Some(if i.columns.is_empty() {
        t.columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| c.name.clone())
            .collect()
    } else {
        i.columns.clone()
    });
    let estimated = match (&i.values_rows, &i.source_sql) {
        (Some(n), _) => Some(*n as f64),
        (None, Some(src)) => {
            Some(explain_rows(sp, src).map_err(|e| ImpactError::Count(e.message))?)
        }
        _ => None,
    };
    if i.on_conflict {
        a.warnings.push("ON CONFLICT: rows that conflict are skipped or updated instead; the counts are an upper bound".into());
    }
    a.locks.push((
        t.clone(),
        LockMode::RowExclusive,
        "INSERT of new rows".into(),
    ));
    let g = graph()?;
    if let Some(base) = fk_table(&t, a)? {
        // foreign keys of the target: each new row is checked against its parent
        for e in g.edges.iter().filter(|e| e.child == base.table()) {
            if let Ok(p) = resolve(sp, &e.parent.qualified()) {
                if !a.locks.iter().any(|(l, _, _)| l.oid == p.oid) {
                    a.locks.push((
                        p,
                        LockMode::RowShare,
                        format!("checked by {} (rows locked FOR KEY SHARE)", e.constraint),
                    ));
                }
            }
        }
    }
    a.touches.push(Touch {
        estimated,
        // with ON CONFLICT, some rows may be skipped: only a dry run knows
        exact: i.values_rows.filter(|_| !i.on_conflict).map(|n| n as i64),
        rows_sql: i.source_sql.clone(),
        ..Touch::new(t.clone(), "INSERT".into(), vec![t.display()], "statement")
    });
    Ok(())
}

fn merge(sp: &SearchPath, a: &mut Analysis, written: &str, matched_sql: &str) -> Result<()> {
    let t = target(sp, a, written, "UPDATE")?;
    let estimated = explain_rows(sp, &a.statement).ok();
    if estimated.is_none() {
        a.warnings
            .push("the planner could not estimate this MERGE with your rights".into());
    }
    a.warnings
        .push("MERGE: exact counts per action need mode => 'dry_run'".into());
    a.locks.push((
        t.clone(),
        LockMode::RowExclusive,
        "MERGE of its rows".into(),
    ));
    a.touches.push(Touch {
        estimated,
        // the rows it matches: the ones a backup must hold
        rows_sql: Some(matched_sql.to_string()),
        ..Touch::new(t.clone(), "MERGE".into(), vec![t.display()], "statement")
    });
    Ok(())
}

fn truncate(
    sp: &SearchPath,
    a: &mut Analysis,
    tables: &[String],
    cascade_: bool,
    only: bool,
) -> Result<()> {
    let g = graph()?;
    let mut queue: Vec<(Rel, Vec<String>)> = Vec::new();
    for name in tables {
        let t = target(sp, a, name, "TRUNCATE")?;
        queue.push((t.clone(), vec![t.display()]));
    }
    if only {
        a.warnings
            .push("ONLY: partitions and child tables are left alone".into());
    }
    let mut seen: Vec<i64> = Vec::new();
    while let Some((t, path)) = queue.pop() {
        if seen.contains(&t.oid) {
            continue;
        }
        seen.push(t.oid);
        let q = format!("SELECT * FROM {}", t.qualified());
        let via = if path.len() == 1 {
            "statement"
        } else {
            "TRUNCATE ... CASCADE"
        };
        a.touches.push(Touch {
            estimated: Some(t.rows),
            rows_sql: Some(q),
            ..Touch::new(t.clone(), "TRUNCATE".into(), path.clone(), via)
        });
        a.locks
            .push((t.clone(), LockMode::AccessExclusive, "TRUNCATE".into()));
        for e in g
            .edges
            .iter()
            .filter(|e| e.parent == t.table() && e.child != t.table())
        {
            let Some(&oid) = g.oids.get(&e.child) else {
                continue;
            };
            let child = rel(oid)?;
            if seen.contains(&child.oid) || tables.iter().any(|n| n == &child.display()) {
                continue;
            }
            if cascade_ {
                let mut p = path.clone();
                p.push(child.display());
                queue.push((child, p));
            } else {
                a.will_fail = Some(true);
                a.failure_reason = Some(format!(
                    "this TRUNCATE fails: {} references {} ({}); add CASCADE to truncate it too, or truncate both",
                    child.display(),
                    t.display(),
                    e.constraint
                ));
            }
        }
    }
    Ok(())
}

fn select(sp: &SearchPath, a: &mut Analysis, stmt: &sqlparser::ast::Statement) -> Result<()> {
    for name in sqlparse::relations(stmt) {
        let r = resolve(sp, &name)?;
        if !r.readable {
            return Err(ImpactError::NoSelect(r.display()));
        }
        a.locks.push((r, LockMode::AccessShare, "read".into()));
    }
    let estimated = explain_rows(sp, &a.statement).map_err(|e| ImpactError::Count(e.message))?;
    a.warnings.push(format!(
        "a SELECT changes nothing; the planner expects {estimated:.0} rows"
    ));
    Ok(())
}

/// The schema a relation name resolves to through the caller's search_path; for one that does
/// not exist yet, the schema it would be created in.
fn schema_of(sp: &SearchPath, written: &str) -> Result<Option<String>> {
    Ok(sp.as_caller(|| {
        Spi::get_one_with_args::<String>(
            "SELECT coalesce((SELECT n.nspname::text FROM pg_catalog.pg_class c
                                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                               WHERE c.oid = pg_catalog.to_regclass($1)), pg_catalog.current_schema()::text)",
            &[written.into()],
        )
    })?)
}

/// The statement with every relation it names schema-qualified.
fn qualified(
    sp: &SearchPath,
    stmt: &sqlparser::ast::Statement,
) -> Result<sqlparser::ast::Statement> {
    use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Statement};
    let qualify = |name: &mut ObjectName| -> Result<()> {
        if name.0.len() == 1 {
            if let Some(schema) = schema_of(sp, &name.to_string())? {
                name.0.insert(
                    0,
                    ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
                );
            }
        }
        Ok(())
    };
    let mut q = stmt.clone();
    let mut failed = None;
    let _ = sqlparser::ast::visit_relations_mut(&mut q, |name| {
        if let Err(e) = qualify(name) {
            failed.get_or_insert(e);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if let Statement::Drop { names, .. } = &mut q {
        for n in names.iter_mut() {
            qualify(n)?;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(q),
    }
}

fn other(
    sp: &SearchPath,
    a: &mut Analysis,
    stmt: &sqlparser::ast::Statement,
    sql: &str,
) -> Result<()> {
    a.lint = ddl::lint(sql);
    // names as PostgreSQL resolves them now: the inverse DDL names the same objects whoever
    // runs it, whatever their search_path
    let stmt = &qualified(sp, stmt)?;
    let Some(steps) = ddl::steps(stmt) else {
        a.warnings.push(format!(
            "{} statements are not analysed beyond their kind",
            a.kind.as_str()
        ));
        return Ok(());
    };
    for s in &steps {
        if s.creates {
            continue;
        }
        let r = resolve(sp, &s.table)?;
        // an index names its table's lock
        let (r, on) = if r.kind == "i" || r.kind == "I" {
            let table = Spi::get_one_with_args::<i64>(
                "SELECT indrelid::int8 FROM pg_catalog.pg_index WHERE indexrelid = $1::pg_catalog.oid",
                &[r.oid.into()],
            )?;
            match table {
                Some(t) => (rel(t)?, format!(" (index {})", r.display())),
                None => (r, String::new()),
            }
        } else {
            (r, String::new())
        };
        let why = format!(
            "{}{on}{}{}",
            s.action,
            if s.rewrites {
                ", rewrites the table"
            } else {
                ""
            },
            if s.scans { ", reads every row" } else { "" }
        );
        match a.locks.iter_mut().find(|(l, _, _)| l.oid == r.oid) {
            Some((_, m, w)) => {
                if s.lock > *m {
                    *m = s.lock;
                }
                w.push_str(&format!("; {why}"));
            }
            None => a.locks.push((r.clone(), s.lock, why)),
        }
        if s.destroys_data && !a.touches.iter().any(|t| t.rel.oid == r.oid) {
            a.touches.push(Touch {
                estimated: Some(r.rows),
                rows_sql: Some(format!("SELECT * FROM {}", r.qualified())),
                ..Touch::new(
                    r.clone(),
                    s.action.to_uppercase(),
                    vec![r.display()],
                    "statement",
                )
            });
        }
        if a.target.is_none() {
            a.target = Some(r);
        }
    }
    a.ddl_steps = steps;
    Ok(())
}

/// RESTRICT / NO ACTION children with matching rows make the statement fail.
fn blockers(a: &mut Analysis) {
    if a.mode == Mode::DryRun {
        return;
    }
    let mut failing: Vec<String> = Vec::new();
    let mut maybe: Vec<String> = Vec::new();
    let tree = a.tree.clone();
    let target = a.target.as_ref().map(|t| t.display()).unwrap_or_default();
    let verb = a.kind.as_str();
    let mut path = a.root_path();
    let node_rows = &a.node_rows;
    each_node(&tree, &mut path, &mut |n, p| {
        if !n.action.blocks() {
            return;
        }
        let (est, exact, hidden) = node_rows
            .get(&node_key(n, p))
            .cloned()
            .unwrap_or((None, None, true));
        let parent = p.last().cloned().unwrap_or_else(|| target.clone());
        match exact {
            Some(c) if c > 0 => failing.push(format!(
                "this {verb} fails: {c} rows in {} reference these {parent} rows ({}, ON {} {})",
                n.table.display(),
                n.constraint,
                if verb == "UPDATE" { "UPDATE" } else { "DELETE" },
                n.action.as_str()
            )),
            Some(_) => {}
            None if hidden => maybe.push(format!("{} ({}) may block; you cannot read it", n.table.display(), n.constraint)),
            None => maybe.push(format!(
                "{} may block through {} (ON {} {}): the planner expects {:.0} referencing rows; mode => 'exact' checks",
                n.table.display(),
                n.constraint,
                if verb == "UPDATE" { "UPDATE" } else { "DELETE" },
                n.action.as_str(),
                est.unwrap_or(0.0)
            )),
        }
    });
    if !failing.is_empty() {
        a.will_fail = Some(true);
        a.failure_reason = Some(failing.join("; "));
    } else if !maybe.is_empty() && a.will_fail != Some(true) {
        a.will_fail = if a.mode == Mode::Exact && maybe.iter().all(|m| !m.contains("cannot read")) {
            Some(false)
        } else {
            None
        };
        a.warnings.extend(maybe);
    }
}

fn backup_name(i: usize, t: &Rel) -> String {
    let raw = format!("before_{}_{}", i + 1, t.name.to_lowercase());
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    clean
}

fn col_list(t: &Rel, alias: Option<&str>) -> String {
    t.columns
        .iter()
        .filter(|c| !c.generated)
        .map(|c| match alias {
            Some(a) => format!("{a}.{}", cascade::quote_ident(&c.name)),
            None => cascade::quote_ident(&c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_match(t: &Rel, left: &str, right: &str) -> Option<String> {
    if t.pk.is_empty() {
        return None;
    }
    Some(
        t.pk.iter()
            .map(|k| format!("{left}.{q} = {right}.{q}", q = cascade::quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// How to undo the statement: what to capture before, and the inverse statements.
fn rollback_plan(a: &Analysis) -> Result<Value> {
    let mut capture = Vec::new();
    let mut inverse = Vec::new();
    let mut notes = Vec::new();
    let reversible;
    match a.kind {
        Kind::Delete | Kind::Update => {
            // parents before children: a row goes back after every row it references
            let mut order: Vec<(usize, &Touch)> = a
                .touches
                .iter()
                .enumerate()
                .filter(|(_, t)| t.via != "trigger or rule")
                .collect();
            order.sort_by_key(|(_, t)| t.depth());
            for (i, t) in order {
                let Some(sql) = &t.rows_sql else { continue };
                let b = backup_name(i, &t.rel);
                capture.push(format!("CREATE TABLE {b} AS {sql}"));
                let is_delete = t.operation.starts_with("DELETE");
                if is_delete {
                    inverse.push(format!(
                        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {b}",
                        t.rel.qualified(),
                        col_list(&t.rel, None),
                        col_list(&t.rel, None)
                    ));
                } else {
                    match key_match(&t.rel, "t", "b") {
                        Some(on) => {
                            let cols: Vec<&Col> =
                                t.rel.columns.iter().filter(|c| !c.generated && !t.rel.pk.contains(&c.name)).collect();
                            let set = cols.iter().map(|c| cascade::quote_ident(&c.name)).collect::<Vec<_>>().join(", ");
                            let from = cols.iter().map(|c| format!("b.{}", cascade::quote_ident(&c.name))).collect::<Vec<_>>().join(", ");
                            inverse.push(format!("UPDATE {} AS t SET ({set}) = ROW({from}) FROM {b} AS b WHERE {on}", t.rel.qualified()));
                            if t.path.len() == 1 && a.changed.iter().any(|c| t.rel.pk.contains(c)) {
                                notes.push(format!(
                                    "the statement changes the primary key of {}: keep the old → new key pairs (RETURNING) to match rows back",
                                    t.rel.display()
                                ));
                            }
                        }
                        None => notes.push(format!(
                            "{} has no primary key: updated rows cannot be matched back reliably; add one before changing it",
                            t.rel.display()
                        )),
                    }
                }
            }
            // parents first for re-inserts: the order above is the walk order (target first)
            reversible = true;
            notes.push(
                "run the capture statements in the same transaction, just before the statement"
                    .into(),
            );
            if a.touches.iter().any(|t| t.via == "trigger or rule") {
                notes.push("triggers also changed other tables: capture those rows too".into());
            }
        }
        Kind::Insert => {
            reversible = true;
            if let Some(t) = &a.target {
                let key = if t.pk.is_empty() {
                    notes.push(format!(
                        "{} has no primary key: return a unique column instead",
                        t.display()
                    ));
                    "ctid".to_string()
                } else {
                    t.pk.iter()
                        .map(|k| cascade::quote_ident(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                capture.push(format!(
                    "add RETURNING {key} to the INSERT and keep the keys it returns"
                ));
                inverse.push(format!(
                    "DELETE FROM {} WHERE ({key}) IN (<the returned keys>)",
                    t.qualified()
                ));
            }
        }
        Kind::Merge => {
            reversible = true;
            if let Some(t) = &a.target {
                capture.push(format!(
                    "CREATE TABLE before_1_{} AS SELECT * FROM {}",
                    t.name.to_lowercase(),
                    t.qualified()
                ));
                notes.push("MERGE inserts, updates and deletes: compare the copy with the table afterwards to undo each".into());
            }
        }
        Kind::Truncate => {
            reversible = false;
            for t in &a.touches {
                notes.push(format!(
                    "irreversible without a backup: the backup must hold every row of {} (e.g. pg_dump --data-only --table={})",
                    t.rel.display(),
                    t.rel.display()
                ));
            }
            for (i, t) in a.touches.iter().enumerate() {
                capture.push(format!(
                    "CREATE TABLE {} AS SELECT * FROM {}",
                    backup_name(i, &t.rel),
                    t.rel.qualified()
                ));
                inverse.push(format!(
                    "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}",
                    t.rel.qualified(),
                    col_list(&t.rel, None),
                    col_list(&t.rel, None),
                    backup_name(i, &t.rel)
                ));
            }
        }
        Kind::Ddl => {
            let mut ok = !a.ddl_steps.is_empty();
            for s in a.ddl_steps.iter().rev() {
                match inverse_sql(&s.inverse)? {
                    Some(Ok(sql)) => inverse.push(sql),
                    Some(Err(why)) => {
                        ok = false;
                        notes.push(format!("{}: {why}", s.action));
                    }
                    None => {}
                }
            }
            if a.ddl_steps.is_empty() {
                notes.push("no automatic inverse for this statement".into());
            }
            reversible = ok;
        }
        Kind::Select => {
            reversible = true;
            notes.push("nothing to undo".into());
        }
        Kind::Copy | Kind::Other => {
            reversible = false;
            notes.push("no automatic inverse for this statement".into());
        }
    }
    Ok(json!({"reversible": reversible, "capture": capture, "inverse": inverse, "notes": notes}))
}

/// The inverse statement of one DDL step, reading current definitions from the catalog.
/// The SQL of an inverse step. Definitions are printed with an empty search_path, so every
/// name in them is schema-qualified.
fn inverse_sql(inv: &Inverse) -> Result<Option<std::result::Result<String, String>>> {
    crate::spi_util::with_search_path("pg_catalog", || inverse_sql_qualified(inv))
}

fn inverse_sql_qualified(inv: &Inverse) -> Result<Option<std::result::Result<String, String>>> {
    let one = |sql: &str, args: &[&str]| -> Result<Option<String>> {
        let args: Vec<pgrx::datum::DatumWithOid> = args.iter().map(|a| (*a).into()).collect();
        // wrapped so that no row is a NULL, not an error
        Ok(Spi::get_one_with_args::<String>(
            &format!("SELECT ({sql})"),
            &args,
        )?)
    };
    Ok(match inv {
        Inverse::Sql(s) => Some(Ok(s.clone())),
        Inverse::Nothing => None,
        Inverse::Irreversible(why) => Some(Err(why.clone())),
        Inverse::ColumnType { table, column } => {
            match one(
                "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
                &[table, column],
            )? {
                Some(t) => Some(Ok(format!(
                    "ALTER TABLE {table} ALTER COLUMN {c} TYPE {t} USING {c}::{t}",
                    c = cascade::quote_ident(column)
                ))),
                None => Some(Err(format!("column {column} of {table} not found"))),
            }
        }
        Inverse::ColumnDefault { table, column } => {
            let d = one(
                "SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                  WHERE d.adrelid = pg_catalog.to_regclass($1) AND a.attname = $2",
                &[table, column],
            )?;
            let c = cascade::quote_ident(column);
            Some(Ok(match d {
                Some(d) => format!("ALTER TABLE {table} ALTER COLUMN {c} SET DEFAULT {d}"),
                None => format!("ALTER TABLE {table} ALTER COLUMN {c} DROP DEFAULT"),
            }))
        }
        Inverse::Constraint { table, name } => match one(
            "SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
              WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2",
            &[table, name],
        )? {
            Some(def) => Some(Ok(format!("ALTER TABLE {table} ADD CONSTRAINT {} {def}", cascade::quote_ident(name)))),
            None => Some(Err(format!("constraint {name} of {table} not found"))),
        },
        Inverse::Index { name } => match one("SELECT pg_catalog.pg_get_indexdef(pg_catalog.to_regclass($1))", &[name])? {
            Some(def) => Some(Ok(def)),
            None => Some(Err(format!("index {name} not found"))),
        },
        Inverse::View { name } => match one("SELECT pg_catalog.pg_get_viewdef(pg_catalog.to_regclass($1))", &[name])? {
            Some(def) => Some(Ok(format!("CREATE VIEW {name} AS {}", def.trim()))),
            None => Some(Err(format!("view {name} not found"))),
        },
    })
}

fn tree_json(
    nodes: &[Node],
    path: &mut Vec<String>,
    rows: &HashMap<String, (Option<f64>, Option<i64>, bool)>,
) -> Value {
    Value::Array(
        nodes
            .iter()
            .map(|n| {
                let (est, exact, hidden) = rows
                    .get(&node_key(n, path))
                    .cloned()
                    .unwrap_or((None, None, true));
                path.push(n.table.display());
                let children = tree_json(&n.children, path, rows);
                path.pop();
                json!({
                    "constraint": n.constraint,
                    "table": n.table.display(),
                    "action": n.action.as_str(),
                    "effect": n.effect,
                    "depth": n.depth,
                    "cycle": n.cycle,
                    "rows_estimated": est.map(|e| e.round() as i64),
                    "rows_exact": exact,
                    "hidden": hidden,
                    "children": children,
                })
            })
            .collect(),
    )
}

fn document(a: &Analysis, policy: &Policy) -> Result<Value> {
    let touched: Vec<i64> = {
        let mut v: Vec<i64> = a
            .touches
            .iter()
            .flat_map(|t| [Some(t.rel.oid), t.rel.base].into_iter().flatten())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let triggers = json_one(
        "SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'table', t.tgrelid::pg_catalog.regclass::text, 'name', t.tgname,
                  'timing', CASE WHEN t.tgtype & 2 <> 0 THEN 'BEFORE' WHEN t.tgtype & 64 <> 0 THEN 'INSTEAD OF' ELSE 'AFTER' END,
                  'events', array_remove(ARRAY[CASE WHEN t.tgtype & 4 <> 0 THEN 'INSERT' END, CASE WHEN t.tgtype & 16 <> 0 THEN 'UPDATE' END,
                                               CASE WHEN t.tgtype & 8 <> 0 THEN 'DELETE' END, CASE WHEN t.tgtype & 32 <> 0 THEN 'TRUNCATE' END], NULL),
                  'level', CASE WHEN t.tgtype & 1 <> 0 THEN 'ROW' ELSE 'STATEMENT' END,
                  'enabled', t.tgenabled <> 'D', 'function', t.tgfoid::pg_catalog.regproc::text)
                  ORDER BY t.tgrelid::pg_catalog.regclass::text, t.tgname), '[]')
           FROM pg_catalog.pg_trigger t WHERE t.tgrelid = ANY ($1::int8[]::pg_catalog.oid[]) AND NOT t.tgisinternal",
        &[touched.clone().into()],
    )?;
    let rules = json_one(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('table', r.ev_class::pg_catalog.regclass::text, 'name', r.rulename,
                  'event', CASE r.ev_type WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT' WHEN '4' THEN 'DELETE' ELSE 'SELECT' END,
                  'instead', r.is_instead, 'definition', pg_catalog.pg_get_ruledef(r.oid)) ORDER BY r.rulename), '[]')
           FROM pg_catalog.pg_rewrite r WHERE r.ev_class = ANY ($1::int8[]::pg_catalog.oid[]) AND r.rulename <> '_RETURN'",
        &[touched.clone().into()],
    )?;
    let views = json_one(
        "WITH RECURSIVE dep(oid, depth) AS (
            SELECT DISTINCT r.ev_class, 1 FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
             WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = ANY ($1::int8[]::pg_catalog.oid[])
               AND r.ev_class <> d.refobjid
            UNION
            SELECT r.ev_class, dep.depth + 1 FROM dep JOIN pg_catalog.pg_depend d ON d.refobjid = dep.oid
              AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
              JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND r.ev_class <> dep.oid
             WHERE dep.depth < 8)
         SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object('view', c.oid::pg_catalog.regclass::text,
                  'kind', CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, 'depth', dep.depth)), '[]')
           FROM dep JOIN pg_catalog.pg_class c ON c.oid = dep.oid
          WHERE NOT (dep.oid = ANY ($1::int8[]::pg_catalog.oid[]))",
        &[touched.clone().into()],
    )?;
    let rls = json_one(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('table', c.oid::pg_catalog.regclass::text, 'enabled', c.relrowsecurity,
                  'forced', c.relforcerowsecurity,
                  'policies', coalesce((SELECT jsonb_agg(jsonb_build_object('name', p.polname,
                        'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                        'permissive', p.polpermissive, 'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                        'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) ORDER BY p.polname)
                     FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid), '[]')) ORDER BY c.oid::pg_catalog.regclass::text), '[]')
           FROM pg_catalog.pg_class c WHERE c.oid = ANY ($1::int8[]::pg_catalog.oid[])
            AND (c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid))",
        &[touched.clone().into()],
    )?;
    let publications = json_one(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('publication', p.pubname, 'table', c.oid::pg_catalog.regclass::text,
                  'publishes', array_remove(ARRAY[CASE WHEN p.pubinsert THEN 'INSERT' END, CASE WHEN p.pubupdate THEN 'UPDATE' END,
                        CASE WHEN p.pubdelete THEN 'DELETE' END, CASE WHEN p.pubtruncate THEN 'TRUNCATE' END], NULL))
                  ORDER BY p.pubname), '[]')
           FROM pg_catalog.pg_publication p CROSS JOIN pg_catalog.pg_class c
          WHERE c.oid = ANY ($1::int8[]::pg_catalog.oid[]) AND c.relkind IN ('r', 'p')
            AND (p.puballtables OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr WHERE pr.prpubid = p.oid AND pr.prrelid = c.oid)
                 OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_namespace pn WHERE pn.pnpubid = p.oid AND pn.pnnspid = c.relnamespace))",
        &[touched.clone().into()],
    )?;
    // locks, with the sessions that hold or wait for a conflicting one now
    let mut locks = Vec::new();
    let mut access_exclusive = Vec::new();
    let lock_oids: Vec<i64> = a.locks.iter().map(|l| l.0.oid).collect();
    let held = json_one(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('relation', l.relation::int8, 'pid', l.pid, 'mode', l.mode,
                  'granted', l.granted, 'user', a.usename, 'application', a.application_name, 'state', a.state,
                  'since', a.xact_start, 'query', a.query)), '[]')
           FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'relation' AND l.relation = ANY ($1::int8[]::pg_catalog.oid[])
            AND l.pid <> pg_catalog.pg_backend_pid()
            AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())",
        &[lock_oids.into()],
    )?;
    let held = held.as_array().cloned().unwrap_or_default();
    for (r, mode, why) in &a.locks {
        let blocking: Vec<Value> = held
            .iter()
            .filter(|h| h["relation"].as_i64() == Some(r.oid))
            .filter(|h| {
                h["mode"]
                    .as_str()
                    .and_then(LockMode::from_pg)
                    .is_some_and(|m| m.conflicts_with(*mode))
            })
            .map(|h| {
                let mut h = h.clone();
                if let Some(o) = h.as_object_mut() {
                    o.remove("relation");
                }
                h
            })
            .collect();
        if *mode == LockMode::AccessExclusive {
            access_exclusive.push((r.display(), r.rows as u64, blocking.len() as u32));
        }
        locks.push(json!({
            "table": r.display(),
            "mode": mode.as_str(),
            "reason": why,
            "table_rows": if r.readable { json!(r.rows as i64) } else { Value::Null },
            "table_bytes": if r.readable { json!(r.bytes) } else { Value::Null },
            "blocked_by": blocking,
        }));
    }
    // sensitive columns: written ones, and those of removed rows
    let registered = json_one(
        "SELECT coalesce(jsonb_object_agg(schema_name || '.' || table_name || '.' || column_name, category), '{}') FROM ai.sensitive_columns",
        &[],
    )?;
    let mut sensitive_cols = Vec::new();
    let (mut written, mut removed) = (Vec::new(), Vec::new());
    let mut check = |t: &Rel, col: &str, effect: &str, out: &mut Vec<Value>| {
        let full = format!("{}.{col}", t.display());
        let (category, source) = match registered.get(&full).and_then(|v| v.as_str()) {
            Some(c) => (Some(c.to_string()), "ai.sensitive_columns"),
            None => (sensitive::classify(col).map(|c| c.to_string()), "name"),
        };
        if let Some(category) = category {
            out.push(json!({"table": t.display(), "column": col, "category": category, "source": source, "effect": effect}));
            if effect == "written" {
                written.push(full)
            } else {
                removed.push(full)
            }
        }
    };
    let mut seen = std::collections::HashSet::new();
    for t in &a.touches {
        let cols: Vec<String> = match (a.kind, t.operation.as_str()) {
            (Kind::Update, "UPDATE") => a.changed.clone(),
            (Kind::Insert, "INSERT") => a.insert_columns.clone().unwrap_or_default(),
            (_, op) if op.starts_with("UPDATE (") => {
                // SET NULL / SET DEFAULT / ON UPDATE CASCADE rewrite the foreign-key columns
                let mut v = Vec::new();
                let mut path = a.root_path();
                each_node(&a.tree, &mut path, &mut |n, _| {
                    if n.table == t.rel.table() && n.effect == "update" {
                        v.extend(n.fk_cols.iter().cloned());
                    }
                });
                v
            }
            _ => t.rel.columns.iter().map(|c| c.name.clone()).collect(),
        };
        let effect = if t.operation.starts_with("DELETE")
            || t.operation == "TRUNCATE"
            || t.operation.starts_with("DROP")
        {
            "removed"
        } else {
            "written"
        };
        for c in cols {
            if seen.insert((t.rel.oid, c.clone(), effect)) {
                check(&t.rel, &c, effect, &mut sensitive_cols);
            }
        }
    }
    for s in &a.ddl_steps {
        if let (Some(t), Some(col)) = (
            &a.target,
            s.action
                .strip_prefix("drop column ")
                .or(s.action.strip_prefix("change the type of ")),
        ) {
            let col = col
                .split(' ')
                .next()
                .unwrap_or("")
                .trim_matches('"')
                .to_string();
            if seen.insert((t.oid, col.clone(), "written")) {
                check(t, &col, "written", &mut sensitive_cols);
            }
        }
    }
    // risk
    let rows = |t: &Touch| t.exact.map(|n| n as f64).or(t.estimated).unwrap_or(0.0);
    let rows_touched: f64 = a.touches.iter().map(rows).sum();
    let mut depth = 0u32;
    let mut fan_out = 0.0f64;
    {
        let mut path = a.root_path();
        let mut parent_rows: HashMap<String, f64> = HashMap::new();
        if let Some(t) = a.touches.first() {
            parent_rows.insert(t.path.join(">"), rows(t));
        }
        let nr = &a.node_rows;
        each_node(&a.tree, &mut path, &mut |n, p| {
            let (est, exact, _) = nr
                .get(&node_key(n, p))
                .cloned()
                .unwrap_or((None, None, true));
            let r = exact.map(|x| x as f64).or(est).unwrap_or(0.0);
            let mut here = p.to_vec();
            here.push(n.table.display());
            parent_rows.insert(here.join(">"), r);
            if n.action.blocks() || r < 0.5 {
                return;
            }
            depth = depth.max(n.depth);
            if let Some(pr) = parent_rows.get(&p.join(">")) {
                if *pr >= 1.0 {
                    fan_out = fan_out.max(r / pr);
                }
            }
        });
    }
    let system: Vec<String> = a
        .touches
        .iter()
        .map(|t| &t.rel)
        .chain(
            a.locks
                .iter()
                .filter(|l| l.1 > LockMode::AccessShare)
                .map(|l| &l.0),
        )
        .filter(|r| r.system)
        .map(|r| r.display())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let facts =
        Facts {
            kind: a.kind.as_str().into(),
            rows_touched: rows_touched.round() as u64,
            cascade_depth: depth,
            max_fan_out: fan_out,
            reversible: a.rollback["reversible"].as_bool().unwrap_or(false),
            system_tables: system,
            destroys_data: a.kind == Kind::Truncate || a.ddl_steps.iter().any(|s| s.destroys_data),
            sensitive_columns: written,
            has_where: a.has_where,
            target_rows: a.target.as_ref().map(|t| t.rows as u64).unwrap_or(0).max(
                if a.has_where {
                    0
                } else {
                    a.touches.first().map(rows).unwrap_or(0.0) as u64
                },
            ),
            access_exclusive,
            sensitive_removed: removed,
            lint: a
                .lint
                .iter()
                .map(|f| f.rule.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
    let g = risk::grade(&facts, policy);
    let tables: Vec<Value> = a
        .touches
        .iter()
        .map(|t| {
            let mut v = json!({
                "table": t.rel.display(),
                "operation": t.operation,
                "rows_estimated": t.estimated.map(|e| e.round() as i64),
                "rows_exact": t.exact,
                "table_rows": if t.rel.readable { json!(t.rel.rows as i64) } else { Value::Null },
                "path": if t.path.is_empty() { Value::Null } else { json!(t.path) },
                "via": t.via,
            });
            if let Some((i, u, d)) = t.dry {
                v["dry_run"] = json!({"inserted": i, "updated": u, "deleted": d});
            }
            if !t.paths.is_empty() {
                // every path that reaches these rows; each row is counted once
                let mut all = vec![json!(t.path)];
                all.extend(t.paths.iter().map(|p| json!(p)));
                v["paths"] = json!(all);
            }
            if let Some(parts) = &t.partitions {
                v["partitions"] = json!(parts.values().collect::<Vec<_>>());
            }
            v
        })
        .collect();
    let mut path = a.root_path();
    let ddl_json: Vec<Value> = a
        .ddl_steps
        .iter()
        .map(|s| json!({"table": s.table, "action": s.action, "lock": s.lock.as_str(), "rewrites": s.rewrites, "scans": s.scans, "destroys_data": s.destroys_data}))
        .collect();
    Ok(json!({
        "statement": a.statement,
        "statement_type": a.kind.as_str(),
        "mode": a.mode.as_str(),
        "target": a.target.as_ref().map(|t| t.display()),
        "tables": tables,
        "cascades": tree_json(&a.tree, &mut path, &a.node_rows),
        "cascade_depth": depth,
        "will_fail": a.will_fail,
        "failure_reason": a.failure_reason,
        "triggers": triggers,
        "rules": rules,
        "dependent_views": views,
        "rls_policies": rls,
        "publications": publications,
        "partitions": a.partitions,
        "locks": locks,
        "ddl": ddl_json,
        "lint": a.lint.iter().map(|f| json!({"rule": f.rule, "message": f.message, "help": f.help})).collect::<Vec<_>>(),
        "sensitive_columns": sensitive_cols,
        "rows_touched": facts.rows_touched,
        "risk_level": g.level.as_str(),
        "risk_reasons": g.reasons.iter().map(|r| json!({"level": r.level.as_str(), "rule": r.rule, "detail": r.detail})).collect::<Vec<_>>(),
        "rollback_plan": a.rollback,
        "warnings": a.warnings,
    }))
}

impl Analysis {
    /// The path of the statement's own target (where every cascade path starts).
    pub(super) fn root_path(&self) -> Vec<String> {
        self.touches
            .first()
            .map(|t| t.path.clone())
            .unwrap_or_default()
    }
}

fn args(sql: Option<&str>, mode: Option<&str>) -> Result<(String, Mode)> {
    let sql = sql.ok_or(ImpactError::Null("sql"))?;
    let mode = Mode::parse(mode.unwrap_or("estimate"))?;
    Ok((sql.to_string(), mode))
}

/// What a statement would touch: rows per table, the cascade tree, triggers, locks, risk
/// and a rollback plan. `mode`: 'estimate' (planner only), 'exact' (read-only counts) or
/// 'dry_run' (runs it in a subtransaction that is always rolled back).
#[pg_extern(volatile)]
fn impact(sql: Option<&str>, mode: default!(Option<&str>, "'estimate'")) -> JsonB {
    let (sql, mode) = args(sql, mode).or_raise("ai.impact");
    JsonB(analyse(&sql, mode).or_raise("ai.impact"))
}

/// ai.impact as a tree readable in psql.
#[pg_extern(volatile)]
fn impact_report(sql: Option<&str>, mode: default!(Option<&str>, "'estimate'")) -> String {
    let (sql, mode) = args(sql, mode).or_raise("ai.impact_report");
    report::render(&analyse(&sql, mode).or_raise("ai.impact_report"))
}
