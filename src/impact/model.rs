//! What an impact analysis is made of: the statement's mode, the tables it touches, the
//! cascade tree's keys, and the row sets an execution backs up. Shared by the analysis's
//! parts and by the approval workflow; it imports none of them.
use super::cascade::{Action, Node};
use super::catalog::Rel;
use super::ddl::{self, LockMode};
use super::error::{ImpactError, Result};
use crate::sqlparse::Kind;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

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

/// The rows of one table an execution must back up: how to select them and their key.
#[derive(Debug, Clone)]
pub struct Capture {
    pub oid: i64,
    /// schema-qualified, quoted
    pub qualified: String,
    pub display: String,
    /// `delete`, `update` or `insert`
    pub operation: &'static str,
    /// a read-only query returning the rows (None for INSERT: its rows are found by the transaction that wrote them)
    pub rows_sql: Option<String>,
    pub pk: Vec<String>,
    /// every column of the relation, in the order of its row type (the row image's order)
    pub columns: Vec<String>,
    /// 0 for the target, n for a table n foreign keys away
    pub depth: usize,
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
