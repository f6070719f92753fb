//! SQL surface of the impact analysis: ai.impact and ai.impact_report.
//!
//! Gathers the facts the plain-Rust core works on (names resolved through the caller's
//! search_path, the foreign-key graph, planner estimates, exact counts, a rolled-back dry
//! run, triggers, locks...) and assembles the jsonb document. Everything that reads user
//! tables runs with the caller's rights, so nothing the caller cannot SELECT is revealed.
use super::cascade::{Action, Node};
use super::catalog::{json_one, Rel};
use super::count;
use super::ddl::{self, LockMode};
use super::document::document;
use super::report;
use super::risk::Policy;
use super::rollback_plan::rollback_plan;
use super::statement::{self, Shape};
use super::touches::{blockers, insert, merge, modify, other, select, truncate};
use crate::error::{OrRaise, UserError};
use crate::spi_util::SearchPath;
use crate::spi_util::Spi;
use crate::sqlparse::{self, Kind};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

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
    #[error("a dry run runs the statement, and {0}")]
    ReadOnly(&'static str),
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
            ReadOnly(_) => PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
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
            ReadOnly(_) => Some("use mode => 'exact' (counts the rows without running the statement), or a writable transaction on the primary".into()),
            Count(_) => Some("the WHERE clause must be readable as a query; try mode => 'dry_run'".into()),
            _ => None,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ImpactError>;

pub(super) fn current_search_path() -> String {
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
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Mode::Estimate => "estimate",
            Mode::Exact => "exact",
            Mode::DryRun => "dry_run",
        }
    }
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
    pub(super) kind: Kind,
    pub(super) mode: Mode,
    pub(super) statement: String,
    pub(super) target: Option<Rel>,
    pub(super) touches: Vec<Touch>,
    pub(super) tree: Vec<Node>,
    /// estimate / exact rows per tree node, in walk order
    pub(super) node_rows: HashMap<String, (Option<f64>, Option<i64>, bool)>,
    pub(super) will_fail: Option<bool>,
    pub(super) failure_reason: Option<String>,
    pub(super) warnings: Vec<String>,
    pub(super) locks: Vec<(Rel, LockMode, String)>,
    pub(super) ddl_steps: Vec<ddl::Step>,
    pub(super) lint: Vec<ddl::Finding>,
    pub(super) has_where: bool,
    pub(super) changed: Vec<String>,
    pub(super) insert_columns: Option<Vec<String>>,
    pub(super) partitions: Value,
    pub(super) rollback: Value,
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

pub(super) fn op_name(effect: &str, action: Action) -> String {
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
        if let Some(why) = crate::spi_util::why_read_only() {
            return Err(ImpactError::ReadOnly(why));
        }
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

pub(super) fn load_policy() -> Result<Policy> {
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
