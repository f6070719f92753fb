//! The planner with HypoPG's hypothetical indexes: EXPLAIN (never execution) of each judged
//! statement as its role, with exactly the hypothetical indexes a question needs; and the
//! cleanup of the ones a run made.
use super::select::{Oracle, Plan};
use super::AdvisorError;
use crate::spi_util::Spi;
use crate::spi_util::{in_rolled_back_subtransaction, read_only};
use crate::spi_util::{role_path, SearchPath};
use pgrx::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

type Result<T> = std::result::Result<T, AdvisorError>;

/// Drops one hypothetical index of this backend.
pub(super) fn drop_hypothetical(hs: &str, oid: u32) -> Result<()> {
    Spi::run_with_args(
        &format!("SELECT {hs}.hypopg_drop_index($1)"),
        &[pg_sys::Oid::from(oid).into()],
    )?;
    Ok(())
}

/// The hypothetical indexes of this backend (through the function: the view
/// hypopg_list_indexes is not readable by every role that may advise).
pub(super) fn hypothetical_indexes(hs: &str) -> Result<std::collections::BTreeSet<u32>> {
    Ok(Spi::get_one::<Vec<pg_sys::Oid>>(&format!(
        "SELECT coalesce(array_agg(h.indexrelid), '{{}}') FROM {hs}.hypopg() AS h"
    ))?
    .unwrap_or_default()
    .into_iter()
    .map(|o| o.to_u32())
    .collect())
}

/// EXPLAIN (no execution) as the planner's role with its search_path: total cost and the
/// hypothetical indexes (by oid) the plan uses. PostgreSQL's analyser and rewriter judge the
/// statement first (every function it calls, views and row-level policies expanded, against
/// the allow list), so planning, which folds IMMUTABLE calls, runs no code the allow list
/// refuses; the planning is read-only and rolled back.
pub(super) fn explain(
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
pub(super) fn index_names(node: &Value, out: &mut Vec<u32>) {
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

/// The planner with HypoPG: keeps exactly the hypothetical indexes a question needs.
pub(super) struct Hypo<'a> {
    pub(super) hs: &'a str,
    pub(super) lists: &'a crate::pgsql::Lists,
    pub(super) defs: Vec<String>,
    pub(super) tables: Vec<String>,
    /// the EXPLAIN text of each query and the tables it reads
    pub(super) queries: Vec<(String, Vec<String>, Planner)>,
    pub(super) created: HashMap<usize, u32>,
    pub(super) by_oid: HashMap<u32, usize>,
}

thread_local! {
    pub(super) static FAILURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

impl Hypo<'_> {
    pub(super) fn create(&mut self, c: usize) -> Result<u32> {
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

    pub(super) fn drop(&mut self, c: usize) -> Result<()> {
        if let Some(oid) = self.created.remove(&c) {
            self.by_oid.remove(&oid);
            drop_hypothetical(self.hs, oid)?;
        }
        Ok(())
    }

    pub(super) fn size(&mut self, c: usize) -> Result<i64> {
        let oid = self.create(c)?;
        let s = Spi::get_one_with_args::<i64>(
            &format!("SELECT {}.hypopg_relation_size($1)", self.hs),
            &[pg_sys::Oid::from(oid).into()],
        )?
        .unwrap_or(0);
        self.drop(c)?;
        Ok(s)
    }

    pub(super) fn clear(&mut self) -> Result<()> {
        let all: Vec<usize> = self.created.keys().copied().collect();
        for c in all {
            self.drop(c)?;
        }
        Ok(())
    }

    pub(super) fn failure(&self) -> Option<AdvisorError> {
        FAILURE
            .with(|f| f.borrow_mut().take())
            .map(AdvisorError::Pg)
    }

    pub(super) fn try_plan(&mut self, q: usize, config: &[usize]) -> Result<Option<Plan>> {
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

/// Who plans a statement, and with which search_path. A workload statement is planned as the
/// role that ran it, with that role's own search_path (its configured setting, else the
/// default), never the caller's: the caller cannot choose what another role's names mean.
/// `pg_temp` is searched last (explicitly), so no temporary object shadows a name.
#[derive(Clone, Debug)]
pub(super) struct Planner {
    /// None: the caller's own statement, planned as the caller
    pub(super) role: Option<pg_sys::Oid>,
    pub(super) path: String,
}

impl Planner {
    pub(super) fn new(sp: &SearchPath, role: Option<pg_sys::Oid>) -> Result<Planner> {
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

/// Runs `f` as `role` (a restricted operation) when given, else as the caller.
pub(super) fn as_planner<R>(role: Option<pg_sys::Oid>, f: impl FnOnce() -> R) -> R {
    match role {
        Some(r) => crate::spi_util::as_role(r, || Ok::<R, std::convert::Infallible>(f()))
            .unwrap_or_else(|e| match e {}),
        None => f(),
    }
}
