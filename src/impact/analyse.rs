//! The impact analysis itself: gathers the facts the plain-Rust core works on (names resolved
//! through the caller's search_path, the foreign-key graph, planner estimates, exact counts, a
//! rolled-back dry run, triggers, locks...) and assembles the jsonb document. Everything that
//! reads user tables runs with the caller's rights, so nothing the caller cannot SELECT is
//! revealed.
use super::catalog::json_one;
use super::count;
use super::ddl::{self};
use super::document::document;
use super::error::{ImpactError, Result};
use super::model::{Analysis, Capture, Mode};
use super::risk::Policy;
use super::rollback_plan::rollback_plan;
use super::statement::{self, Shape};
use super::touches::{blockers, insert, merge, modify, other, select, truncate};
use crate::pgsql::Parts;
use crate::spi_util::SearchPath;
use crate::sqlparse::{self, Kind};
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn analyse(sql: &str, mode: Mode) -> Result<Value> {
    analyse_with_captures(sql, mode).map(|(v, _)| v)
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

/// How PostgreSQL reads one statement: its kind and its parts; for a utility statement (DDL)
/// also the form the DDL analysis works on, whose kind PostgreSQL's tag confirms.
pub struct Reading {
    pub kind: Kind,
    pub parts: Parts,
    /// an INSERT … ON CONFLICT: some of its rows may update rows that were there before
    pub upsert: bool,
    pub utility: Option<sqlparse::Parsed>,
    /// a statement PostgreSQL runs only outside a transaction block, as its parser reads it
    pub online: Option<crate::pgsql::Online>,
    /// the statement as shown, stored and hashed: PostgreSQL's own delimitation of the text
    /// (DDL: the form the DDL analysis read)
    pub text: String,
}

/// Reads `sql` with PostgreSQL's raw parser (standard_conforming_strings on). Row-changing
/// statements are taken apart by PostgreSQL alone; DDL is read by the DDL analysis too, and
/// refused where the two disagree on what it is.
pub fn read(sql: &str) -> Result<Reading> {
    let parts = crate::pgsql::parts(sql)?;
    let (kind, utility) = match &parts {
        Parts::Delete { .. } => (Kind::Delete, None),
        Parts::Update { .. } => (Kind::Update, None),
        Parts::Insert { .. } => (Kind::Insert, None),
        Parts::Merge { .. } => (Kind::Merge, None),
        Parts::Truncate { .. } => (Kind::Truncate, None),
        Parts::Select => (Kind::Select, None),
        Parts::Utility {
            online: Some(o), ..
        } => (
            match o {
                crate::pgsql::Online::Vacuum { .. } => Kind::Other,
                _ => Kind::Ddl,
            },
            None,
        ),
        Parts::Utility { .. } => {
            let parsed = sqlparse::parse_statement(sql)?;
            let kind = sqlparse::kind(&parsed.stmt);
            agrees_with_postgres(sql, kind)?;
            (kind, Some(parsed))
        }
    };
    let upsert = matches!(
        parts,
        Parts::Insert {
            on_conflict: true,
            ..
        }
    );
    let online = match &parts {
        Parts::Utility { online, .. } => online.clone(),
        _ => None,
    };
    let text = match &utility {
        Some(p) => p.stmt.to_string(),
        None => crate::pgsql::one_statement(sql)?.text,
    };
    Ok(Reading {
        kind,
        parts,
        upsert,
        utility,
        online,
        text,
    })
}

/// What PostgreSQL's analyser finds in the statement under the caller's search_path
/// (functions, relations), in a subtransaction that is rolled back; `None` for a statement it
/// does not analyse (DDL) or cannot (a name that does not exist).
fn analysed(sp: &SearchPath, sql: &str) -> Option<crate::pgsql::Facts> {
    let facts =
        crate::spi_util::in_rolled_back_subtransaction(std::panic::AssertUnwindSafe(|| {
            crate::pgsql::prepare(sql, sp.caller(), |p| p.facts.clone())
        }));
    facts.ok()?.ok()
}

fn analyse_pinned(sp: &SearchPath, sql: &str, mode: Mode) -> Result<(Value, Vec<Capture>)> {
    let reading = read(sql)?;
    let kind = reading.kind;
    let shape = statement::shape(&reading.parts);
    let facts = match (&reading.utility, &reading.online) {
        (None, None) => analysed(sp, sql),
        _ => None,
    };
    // the relations PostgreSQL resolved the statement's names to (views expanded)
    let read_relations: Vec<String> = facts
        .iter()
        .flat_map(|f| f.relations.iter())
        .map(|r| {
            format!(
                "{}.{}",
                sqlparse::ident(&r.schema),
                sqlparse::ident(&r.name)
            )
        })
        .collect();
    let mut a = Analysis {
        kind,
        mode,
        statement: reading.text.clone(),
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
        if reading.online.is_some() {
            return Err(ImpactError::NoTransaction(
                a.statement.chars().take(60).collect(),
            ));
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
        Shape::Delete(m) | Shape::Update(m) => modify(
            sp,
            &mut a,
            m,
            matches!(shape, Shape::Delete(_)),
            &read_relations,
        )?,
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
        Shape::Select => select(sp, &mut a, &read_relations)?,
        Shape::Other if reading.online.is_some() => {
            if let Some(o) = &reading.online {
                super::online::online(sp, &mut a, o)?;
            }
        }
        Shape::Other => match &reading.utility {
            Some(p) => {
                let named = match &reading.parts {
                    Parts::Utility { relations, .. } => relations.as_deref(),
                    _ => None,
                };
                other(sp, &mut a, &p.stmt, sql, named)?
            }
            None => return Err(ImpactError::NotDryRunnable("utility")),
        },
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
    let mut doc = document(&a, &policy)?;
    let functions = functions_called(facts);
    let foreign: Vec<String> = functions
        .iter()
        .filter(|f| f["built_in"] == json!(false))
        .filter_map(|f| f["signature"].as_str().map(str::to_string))
        .collect();
    if !foreign.is_empty() {
        if let Some(w) = doc["warnings"].as_array_mut() {
            w.push(json!(format!(
                "runs {} function(s) that are not built in, with the rights of the role it runs as (an approved request: its requester, unless ai_architect.execute_as = executor): {}",
                foreign.len(),
                foreign.join(", ")
            )));
        }
    }
    doc["functions"] = json!(functions);
    Ok((doc, captures))
}

/// Every function the statement calls as PostgreSQL's analyser and rewriter see it (views,
/// row-level policies, column defaults, domain checks and operators expanded; trigger and
/// rule bodies are listed with the triggers): signature, volatility, how it is reached, and
/// whether it is built in. Whoever executes the statement runs them with their own rights.
/// Empty for a statement PostgreSQL does not analyse (DDL).
fn functions_called(facts: Option<crate::pgsql::Facts>) -> Vec<Value> {
    let Some(mut functions) = facts.map(|f| f.functions) else {
        return Vec::new();
    };
    functions.sort_by(|a, b| a.signature.cmp(&b.signature));
    functions.dedup_by(|a, b| a.oid == b.oid);
    functions
        .iter()
        .map(|f| {
            json!({
                "signature": f.signature,
                "volatility": format!("{:?}", f.volatility).to_lowercase(),
                "via": f.via,
                "built_in": f.builtin(),
            })
        })
        .collect()
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
