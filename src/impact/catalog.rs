//! What the catalog says about the relations a statement names: their kind, size, columns,
//! key and the caller's rights; the foreign-key graph; the planner's row estimates.
use super::cascade::{Action, Edge, Table};
use super::error::ImpactError;
use super::error::Result;
use crate::spi_util::Spi;
use crate::spi_util::{in_rolled_back_subtransaction, CaughtPgError, SearchPath};
use pgrx::JsonB;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;

/// One relation, as the catalog describes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Rel {
    pub(super) oid: i64,
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) rows: f64,
    pub(super) bytes: i64,
    pub(super) readable: bool,
    pub(super) can: BTreeMap<String, bool>,
    pub(super) system: bool,
    pub(super) root: i64,
    pub(super) columns: Vec<Col>,
    pub(super) pk: Vec<String>,
    pub(super) updatable: i32,
    pub(super) base: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Col {
    pub(super) name: String,
    pub(super) generated: bool,
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
    pub(super) fn table(&self) -> Table {
        Table::new(&self.schema, &self.name)
    }
}

pub(super) const REL_SQL: &str = "
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
pub(super) fn resolve(sp: &SearchPath, written: &str) -> Result<Rel> {
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
pub(super) struct EdgeRow {
    pub(super) constraint: String,
    pub(super) parent_schema: String,
    pub(super) parent: String,
    pub(super) child_schema: String,
    pub(super) child: String,
    pub(super) parent_cols: Vec<String>,
    pub(super) child_cols: Vec<String>,
    pub(super) on_delete: String,
    pub(super) on_update: String,
    pub(super) child_oid: i64,
}

pub(super) const EDGES_SQL: &str = "
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

pub(super) struct Graph {
    pub(super) edges: Vec<Edge>,
    pub(super) oids: HashMap<Table, i64>,
}

pub(super) fn graph() -> Result<Graph> {
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
    // the statement itself, prepared and planned by PostgreSQL (never its text in another);
    // planning folds IMMUTABLE calls, so what it reaches (views and row-level policies
    // expanded) is judged against the allow list first, and the planning is rolled back
    let lists = crate::pgsql::lists().map_err(|e| CaughtPgError::internal(e.to_string()))?;
    let plan = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        crate::pgsql::prepare(sql, sp.caller(), |p| {
            crate::pgsql::policy::check_calls(&p.facts, &lists)?;
            p.explain_json(false, false)
        })
        .and_then(|r| r)
    }))?;
    plan.map_err(caught)
}

/// A gateway error as a caught one; a refusal of the allow list keeps a code of its own, so
/// that [`refused`] tells it apart.
pub(super) fn caught(e: crate::pgsql::PgSqlError) -> CaughtPgError {
    match e {
        crate::pgsql::PgSqlError::Refused(_) => CaughtPgError {
            code: pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            ..CaughtPgError::internal(e.to_string())
        },
        e => CaughtPgError::internal(e.to_string()),
    }
}

/// Whether a plan or a count was not made because the allow list refuses what it would run:
/// the analysis goes on without that figure, and says so.
pub(super) fn refused(e: &CaughtPgError) -> bool {
    e.code == pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE
}

/// Planner estimate of the rows a query returns (EXPLAIN only: nothing runs).
pub(super) fn explain_rows(sp: &SearchPath, sql: &str) -> std::result::Result<f64, CaughtPgError> {
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
