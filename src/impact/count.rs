//! How rows are counted: one `tables` line per table and operation, whatever the number of
//! foreign-key paths that reach its rows, a partitioned table reported as itself with its
//! partitions beside it; exact counts by read-only queries; dry-run counts from the
//! transaction's own row counters.
//!
//! Rows reached by several paths are counted once: every row set also has its identity form
//! (`tableoid, ctid`), and a line reached by several paths counts the UNION of those.
use super::cascade::ROW_IDENTITY;
use super::catalog::{explain_plan, json_one, rel, rels};
use super::error::{ImpactError, Result};
use super::model::Touch;
use super::model::{each_node, node_key, Analysis};
use crate::spi_util::Spi;
use crate::spi_util::{
    in_rolled_back_subtransaction, in_subtransaction, read_only, with_timeout, OwnTimer,
    CaughtPgError, SearchPath,
};
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;

/// The operation a line reports, as the word the counters use.
fn counter_of(operation: &str) -> Option<usize> {
    if operation.starts_with("INSERT") {
        Some(0)
    } else if operation.starts_with("UPDATE") {
        Some(1)
    } else if operation.starts_with("DELETE") {
        Some(2)
    } else {
        None
    }
}

/// Folds the lines of one table (partitions into their partitioned table) and one operation
/// into one line: its rows are the union of the paths' rows, its paths all of them.
pub(super) fn merge_touches(a: &mut Analysis) -> Result<()> {
    let roots: Vec<i64> = a
        .touches
        .iter()
        .filter(|t| t.rel.root != t.rel.oid)
        .map(|t| t.rel.root)
        .collect();
    let root_rels = rels(&roots)?;
    let mut out: Vec<Touch> = Vec::new();
    for mut t in std::mem::take(&mut a.touches) {
        if t.rel.root != t.rel.oid {
            if let Some(r) = root_rels.get(&t.rel.root) {
                // a partition reached by its own foreign key: the rows are its table's
                t.rel = r.clone();
            }
        }
        let same = out
            .iter_mut()
            .find(|o| o.rel.oid == t.rel.oid && o.operation == t.operation && o.via == t.via);
        let Some(o) = same else {
            out.push(t);
            continue;
        };
        o.paths.push(t.path.clone());
        o.estimated = match (o.estimated, t.estimated) {
            (Some(x), Some(y)) => Some((x + y).min(o.rel.rows.max(x).max(y))),
            (x, y) => x.or(y),
        };
        o.ids_sql = match (o.ids_sql.take(), t.ids_sql) {
            (Some(x), Some(y)) => Some(format!("{x} UNION {y}")),
            _ => None,
        };
        o.rows_sql = o.ids_sql.as_ref().map(|ids| {
            format!(
                "SELECT c.* FROM {} AS c WHERE ({ROW_IDENTITY}) IN ({ids})",
                o.rel.qualified()
            )
        });
        if o.rows_sql.is_none() {
            a.warnings.push(format!(
                "{}: several paths reach its rows and they cannot be told apart; not counted exactly",
                o.rel.display()
            ));
        }
    }
    a.touches = out;
    Ok(())
}

/// The leaf partitions of a partitioned table: oid → (schema, name).
fn leaves(oid: i64) -> Result<BTreeMap<i64, (String, String)>> {
    let v = json_one(
        "SELECT coalesce(jsonb_agg(jsonb_build_array(t.relid::int8, n.nspname, c.relname)), '[]')
           FROM pg_catalog.pg_partition_tree($1::pg_catalog.oid) t
           JOIN pg_catalog.pg_class c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE t.isleaf",
        &[oid.into()],
    )?;
    let rows: Vec<(i64, String, String)> =
        serde_json::from_value(v).map_err(|e| ImpactError::Decode(e.to_string()))?;
    Ok(rows.into_iter().map(|(o, s, n)| (o, (s, n))).collect())
}

fn display(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}

/// Planner estimates per partition for the lines of partitioned tables: the rows of the
/// first scan of each partition under the line's own alias.
pub(super) fn partition_estimates(sp: &SearchPath, a: &mut Analysis) -> Result<()> {
    for t in a.touches.iter_mut().filter(|t| t.rel.kind == "p") {
        let leaves = leaves(t.rel.oid)?;
        let mut parts: BTreeMap<String, Value> = leaves
            .values()
            .map(|(s, n)| (display(s, n), json!({"partition": display(s, n)})))
            .collect();
        if let (Some(sql), true) = (&t.rows_sql, t.rel.readable) {
            if let Ok(plan) = explain_plan(sp, sql) {
                let mut seen = std::collections::HashSet::new();
                // EXPLAIN names the relation without its schema
                let by_name: HashMap<&str, String> = leaves
                    .values()
                    .map(|(s, n)| (n.as_str(), display(s, n)))
                    .collect();
                scans(&plan[0]["Plan"], &mut |node| {
                    let Some(name) = node["Relation Name"].as_str().and_then(|n| by_name.get(n))
                    else {
                        return;
                    };
                    if seen.insert(name.clone()) {
                        if let Some(p) = parts.get_mut(name) {
                            p["rows_estimated"] =
                                json!(node["Plan Rows"].as_f64().unwrap_or(0.0).round() as i64);
                        }
                    }
                });
            }
        }
        t.partitions = Some(parts);
    }
    Ok(())
}

/// Pre-order walk of an EXPLAIN (FORMAT JSON) plan.
fn scans(node: &Value, f: &mut dyn FnMut(&Value)) {
    f(node);
    for c in node["Plans"].as_array().into_iter().flatten() {
        scans(c, f);
    }
}

/// Counts every row set with read-only queries, bounded by impact_timeout_ms.
pub(super) fn exact(sp: &SearchPath, a: &mut Analysis) -> Result<()> {
    let ms = crate::guc::impact_timeout_ms();
    let timer = OwnTimer::before(ms);
    // (line, query): partitioned lines count per partition
    let mut jobs: Vec<(usize, String, bool)> = Vec::new();
    // a row a cascade deletes is not also counted as set null or to its default by another
    // path (a cycle, a self-reference): the UPDATE line of a table leaves out its DELETE
    // line's rows
    let deleted_ids = |t: &Touch| -> Option<String> {
        let lines: Vec<String> = a
            .touches
            .iter()
            .filter(|d| d.rel.oid == t.rel.oid && d.operation.starts_with("DELETE"))
            .filter_map(|d| d.ids_sql.as_ref().map(|ids| format!("({ids})")))
            .collect();
        (!lines.is_empty()).then(|| lines.join(" EXCEPT "))
    };
    for (i, t) in a.touches.iter().enumerate() {
        if !t.rel.readable || t.exact.is_some() || t.operation == "MERGE" {
            continue;
        }
        let ids = match (&t.ids_sql, deleted_ids(t)) {
            (Some(ids), Some(del)) if t.operation.starts_with("UPDATE") => {
                Some(format!("({ids}) EXCEPT {del}"))
            }
            (ids, _) => ids.clone(),
        };
        if let (Some(ids), true) = (&ids, t.rel.kind == "p") {
            jobs.push((
                i,
                format!(
                    "SELECT coalesce(jsonb_object_agg(n.nspname || '.' || r.relname, s.n), '{{}}')::text
                       FROM (SELECT u.tableoid AS o, count(*) AS n FROM ({ids}) AS u GROUP BY 1) AS s
                       JOIN pg_catalog.pg_class r ON r.oid = s.o JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
                ),
                true,
            ));
        } else if let Some(ids) = &ids {
            jobs.push((
                i,
                format!("SELECT count(*)::text FROM ({ids}) AS reached"),
                false,
            ));
        } else if let Some(sql) = &t.rows_sql {
            jobs.push((
                i,
                format!("SELECT count(*)::text FROM ({sql}) AS reached"),
                false,
            ));
        }
    }
    // every visible cascade node that is not a whole line counts on its own: blockers, and
    // paths folded into a line
    let line_sql: std::collections::HashSet<String> = a
        .touches
        .iter()
        .filter_map(|t| t.rows_sql.clone())
        .collect();
    let mut node_jobs: Vec<(String, String)> = Vec::new();
    let tree = a.tree.clone();
    let mut path = a.root_path();
    let node_rows = &a.node_rows;
    each_node(&tree, &mut path, &mut |n, p| {
        let key = node_key(n, p);
        if node_rows.get(&key).map(|x| !x.2).unwrap_or(false) && !line_sql.contains(&n.rows_sql) {
            let q = format!("SELECT count(*)::text FROM ({}) AS reached", n.rows_sql);
            node_jobs.push((key, q));
        }
    });
    // each count reads relations others may have written (views, row-level policies): it
    // passes the gateway like any SQL that is not ours, and a refused one stays uncounted
    let lists = crate::pgsql::lists()?;
    let run = |sql: &str| -> std::result::Result<String, CaughtPgError> {
        let counted = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
            crate::pgsql::checked_select(sql, sp.caller(), &lists, |p| p.rows(1, 1 << 20))
        }));
        match counted {
            Ok(Ok(r)) => Ok(r
                .rows
                .first()
                .and_then(|row| row.as_object()?.values().next().cloned())
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default()),
            // a refusal of the allow list stays told apart: it leaves the count unknown
            Ok(Err(e)) => Err(super::catalog::caught(e)),
            Err(e) if e.is_cancel() => e.rethrow(),
            Err(e) => Err(e),
        }
    };
    let outcome = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        read_only(|| {
            with_timeout(ms, || {
                sp.as_caller(|| {
                    let a1: Vec<(usize, bool, std::result::Result<String, CaughtPgError>)> =
                        jobs.iter().map(|(i, s, p)| (*i, *p, run(s))).collect();
                    let a2: Vec<(String, std::result::Result<String, CaughtPgError>)> =
                        node_jobs.iter().map(|(k, q)| (k.clone(), run(q))).collect();
                    (a1, a2)
                })
            })
        })
    }));
    let (touch_counts, node_counts) = match outcome {
        Ok(r) => r,
        Err(e) if timer.fired(&e) => return Err(ImpactError::Timeout("exact", ms)),
        Err(e) => e.rethrow(),
    };
    for (i, per_partition, r) in touch_counts {
        match r {
            Ok(text) if per_partition => {
                let counts: BTreeMap<String, i64> =
                    serde_json::from_str(&text).map_err(|e| ImpactError::Decode(e.to_string()))?;
                let t = &mut a.touches[i];
                t.exact = Some(counts.values().sum());
                let parts = t.partitions.get_or_insert_with(BTreeMap::new);
                for (name, n) in counts {
                    let p = parts
                        .entry(name.clone())
                        .or_insert_with(|| json!({"partition": name}));
                    p["rows_exact"] = json!(n);
                }
                for p in parts.values_mut() {
                    if p.get("rows_exact").is_none() {
                        p["rows_exact"] = json!(0);
                    }
                }
            }
            Ok(text) => {
                a.touches[i].exact = Some(
                    text.parse::<i64>()
                        .map_err(|e| ImpactError::Decode(e.to_string()))?,
                )
            }
            Err(e) if super::catalog::refused(&e) => a.warnings.push(format!(
                "{} not counted exactly ({}); the planner's estimate stands",
                a.touches[i].rel.display(),
                e.message
            )),
            Err(e) if i == 0 => return Err(ImpactError::Count(e.message)),
            Err(e) => a.warnings.push(format!(
                "{} not counted: {}",
                a.touches[i].rel.display(),
                e.message
            )),
        }
    }
    let mut node_counts: HashMap<String, i64> = node_counts
        .into_iter()
        .filter_map(|(k, r)| r.ok().and_then(|t| t.parse().ok()).map(|n| (k, n)))
        .collect();
    // a cascade node whose rows are a whole line carries the line's count
    let by_sql: HashMap<String, i64> = a
        .touches
        .iter()
        .filter_map(|t| Some((t.rows_sql.clone()?, t.exact?)))
        .collect();
    let mut path = a.root_path();
    each_node(&tree, &mut path, &mut |n, p| {
        if let Some(c) = by_sql.get(&n.rows_sql) {
            node_counts.entry(node_key(n, p)).or_insert(*c);
        }
    });
    for (k, n) in node_counts {
        if let Some(slot) = a.node_rows.get_mut(&k) {
            slot.1 = Some(n);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct XactRow {
    oid: i64,
    pub(crate) root: i64,
    pub(crate) ins: i64,
    pub(crate) upd: i64,
    pub(crate) del: i64,
}

const XACT_SQL: &str = "
SELECT coalesce(jsonb_agg(jsonb_build_object('oid', s.relid::int8,
         'root', coalesce(pg_catalog.pg_partition_root(s.relid), s.relid)::int8,
         'ins', s.n_tup_ins, 'upd', s.n_tup_upd, 'del', s.n_tup_del)), '[]')
  FROM pg_catalog.pg_stat_xact_user_tables s WHERE s.n_tup_ins + s.n_tup_upd + s.n_tup_del > 0
   -- the extension's own bookkeeping (the catalog's record of what DDL touched) is not the
   -- statement's effect
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = s.relid
                      AND d.deptype = 'e' AND e.extname = 'ai_architect')";

const SEQ_SQL: &str = "
SELECT coalesce(jsonb_object_agg(s.seqrelid::pg_catalog.regclass::text, pg_catalog.pg_sequence_last_value(s.seqrelid)), '{}')
  FROM pg_catalog.pg_sequence s WHERE pg_catalog.has_sequence_privilege(s.seqrelid, 'SELECT')";

/// This transaction's row counters per table that has any (partitions with their root), the
/// extension's own tables left out.
pub(crate) fn xact_counts() -> Result<HashMap<i64, XactRow>> {
    let rows: Vec<XactRow> = serde_json::from_value(json_one(XACT_SQL, &[])?)
        .map_err(|e| ImpactError::Decode(e.to_string()))?;
    Ok(rows.into_iter().map(|r| (r.oid, r)).collect())
}

pub(crate) type Delta = (i64, i64, i64);

fn add(a: &mut Delta, b: Delta) {
    a.0 += b.0;
    a.1 += b.1;
    a.2 += b.2;
}

/// What a table's counters moved since `before`: (inserted, updated, deleted).
fn delta(r: &XactRow, before: &HashMap<i64, XactRow>) -> Delta {
    let b = before.get(&r.oid);
    (
        r.ins - b.map_or(0, |b| b.ins),
        r.upd - b.map_or(0, |b| b.upd),
        r.del - b.map_or(0, |b| b.del),
    )
}

/// Inside the dry run, after the statement: for each table that had rows both updated and
/// deleted, how many rows the run wrote that are still there.
fn survivors(before: &HashMap<i64, XactRow>) -> HashMap<i64, i64> {
    let Ok(Ok(now)) = in_subtransaction(xact_counts) else {
        return HashMap::new();
    };
    let mut per_root: BTreeMap<i64, Delta> = BTreeMap::new();
    for r in now.values() {
        add(per_root.entry(r.root).or_default(), delta(r, before));
    }
    kept_where_changed_twice(per_root)
}

/// For the tables whose counters moved `(inserted, updated, deleted)` with rows both updated
/// and deleted (some may be the same rows), how many rows the current (sub)transaction wrote
/// that are still there: what [`changed_twice`] needs. Others are left out.
pub(crate) fn kept_where_changed_twice(
    deltas: impl IntoIterator<Item = (i64, Delta)>,
) -> HashMap<i64, i64> {
    let mixed: Vec<i64> = deltas
        .into_iter()
        .filter(|(_, d)| d.1 > 0 && d.2 > 0)
        .map(|(oid, _)| oid)
        .collect();
    kept_rows(&mixed)
}

/// For each table (a partitioned one with its partitions), how many rows the current
/// (sub)transaction wrote that are still there: their xmin is its id. Read with the current
/// rights; tables that cannot be read are left out.
fn kept_rows(tables: &[i64]) -> HashMap<i64, i64> {
    let mut out = HashMap::new();
    // SAFETY: reads the current (sub)transaction's id.
    let xid = u32::from(unsafe { pg_sys::GetCurrentTransactionIdIfAny() });
    for &oid in tables {
        let n = in_subtransaction(|| {
            let r = rel(oid)?;
            let q = format!(
                "SELECT count(*) FROM {} AS c WHERE c.xmin = $1::text::pg_catalog.xid",
                r.qualified()
            );
            Ok::<_, ImpactError>(Spi::get_one_with_args::<i64>(
                &q,
                &[xid.to_string().into()],
            )?)
        });
        if let Ok(Ok(Some(n))) = n {
            out.insert(oid, n);
        }
    }
    out
}

/// Rows of a table both updated and then deleted by one statement, from its counters
/// (inserted, updated, deleted) and the rows it wrote that are still there: those count once,
/// as deleted.
pub(crate) fn changed_twice(d: Delta, kept: Option<i64>) -> i64 {
    kept.map_or(0, |l| (d.0 + d.1 - l).clamp(0, d.1))
}

/// Runs the statement in a subtransaction that is always rolled back, and reads what it did
/// from the transaction's own row counters (inserted / updated / deleted per table,
/// cascades and triggers included).
pub(super) fn dry_run(sp: &SearchPath, a: &mut Analysis, sql: &str) -> Result<()> {
    let ms = crate::guc::impact_timeout_ms();
    let timer = OwnTimer::before(ms);
    let before = xact_counts()?;
    let seq_before = json_one(SEQ_SQL, &[])?;
    let started = std::time::Instant::now();
    let outcome = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        with_timeout(ms, || {
            sp.as_caller(|| {
                crate::pgsql::pinned(|| Spi::run(sql))?;
                // deferred constraints are checked at commit: check them now
                Spi::run("SET CONSTRAINTS ALL IMMEDIATE")?;
                Ok::<_, pgrx::spi::Error>(survivors(&before))
            })
        })
    }));
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let mut live = HashMap::new();
    match outcome {
        Ok(Ok(l)) => {
            a.will_fail = Some(false);
            live = l;
        }
        Ok(Err(e)) => {
            a.will_fail = Some(true);
            a.failure_reason = Some(e.to_string());
        }
        Err(e) if timer.fired(&e) => return Err(ImpactError::Timeout("dry_run", ms)),
        Err(e) if e.is_cancel() => e.rethrow(),
        Err(e) => {
            a.will_fail = Some(true);
            a.failure_reason = Some(match &e.detail {
                Some(d) => format!("{} ({d})", e.message),
                None => e.message.clone(),
            });
        }
    }
    a.warnings.push(format!(
        "dry run: the statement ran for {elapsed:.1} ms and was rolled back"
    ));
    let after = xact_counts()?;
    let seq_after = json_one(SEQ_SQL, &[])?;
    if let (Some(b), Some(af)) = (seq_before.as_object(), seq_after.as_object()) {
        let moved: Vec<String> = af
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        if !moved.is_empty() {
            a.warnings.push(format!(
                "sequences are not transactional: the dry run advanced {} (the values are skipped, not reused)",
                moved.join(", ")
            ));
        }
    }
    // deltas per table (partitions added up into their partitioned table) and per partition
    let mut per_root: BTreeMap<i64, Delta> = BTreeMap::new();
    let mut per_leaf: BTreeMap<i64, Vec<(i64, Delta)>> = BTreeMap::new();
    for (oid, r) in &after {
        let d = delta(r, &before);
        if d == (0, 0, 0) {
            continue;
        }
        add(per_root.entry(r.root).or_default(), d);
        if r.root != r.oid {
            per_leaf.entry(r.root).or_default().push((*oid, d));
        }
    }
    // rows updated and then deleted in the same statement (a MERGE, a cascade back into the
    // table) count once, as deleted: the table changed `live + deleted` distinct rows
    let overlap = |root: i64, d: Delta| changed_twice(d, live.get(&root).copied());
    let leaf_rels = rels(
        &per_leaf
            .values()
            .flatten()
            .map(|(o, _)| *o)
            .collect::<Vec<_>>(),
    )?;
    for (root, d) in per_root {
        let lines: Vec<usize> = a
            .touches
            .iter()
            .enumerate()
            .filter(|(_, t)| t.rel.oid == root || t.rel.root == root || t.rel.base == Some(root))
            .map(|(i, _)| i)
            .collect();
        let mut index = lines;
        if index.is_empty() {
            // changed by a trigger or a rule: a line of its own
            let r = rel(root)?;
            if !r.readable {
                a.warnings.push(format!(
                    "the statement also changes rows of {}, which you cannot read",
                    r.display()
                ));
                continue;
            }
            let operation = [("INSERT", d.0), ("UPDATE", d.1), ("DELETE", d.2)]
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(o, _)| *o)
                .collect::<Vec<_>>()
                .join(" + ");
            a.touches
                .push(Touch::new(r, operation, Vec::new(), "trigger or rule"));
            index.push(a.touches.len() - 1);
        }
        // one line: all of it; several (different operations): each its own counter, the rest
        // to the first
        if index.len() > 1 {
            index.sort_by_key(|i| counter_of(&a.touches[*i].operation).is_none());
        }
        let share = |i: usize, of: Delta, a: &Analysis| -> Delta {
            if index.len() == 1 {
                return of;
            }
            match counter_of(&a.touches[i].operation) {
                Some(0) => (of.0, 0, 0),
                Some(1) => (0, of.1, 0),
                Some(2) => (0, 0, of.2),
                _ => (0, 0, 0),
            }
        };
        let mut given: Delta = (0, 0, 0);
        let mut shares = Vec::new();
        for &i in &index {
            let s = share(i, d, a);
            add(&mut given, s);
            shares.push((i, s));
        }
        let rest = (d.0 - given.0, d.1 - given.1, d.2 - given.2);
        add(&mut shares[0].1, rest);
        let mut twice = overlap(root, d);
        if twice > 0 {
            a.warnings.push(format!(
                "{twice} rows of {} were updated and then deleted by the same statement: counted once, as deleted",
                a.touches[index[0]].rel.display()
            ));
        }
        for (i, s) in shares {
            // the rows changed twice come off the line that updated them
            let off = if s.1 > 0 { twice.min(s.1) } else { 0 };
            twice -= off;
            let t = &mut a.touches[i];
            t.exact = Some(s.0 + s.1 + s.2 - off);
            t.dry = Some(s);
        }
        // the partitions' own deltas beside the first line of their table
        if let Some(leaf) = per_leaf.get(&root) {
            let t = &mut a.touches[index[0]];
            let parts = t.partitions.get_or_insert_with(BTreeMap::new);
            for (oid, d) in leaf {
                let Some(r) = leaf_rels.get(oid).filter(|r| r.readable) else {
                    continue;
                };
                let p = parts
                    .entry(r.display())
                    .or_insert_with(|| json!({"partition": r.display()}));
                p["rows_exact"] = json!(d.0 + d.1 + d.2);
                p["dry_run"] = json!({"inserted": d.0, "updated": d.1, "deleted": d.2});
            }
        }
    }
    // tables the analysis expected but the run did not touch
    for t in a.touches.iter_mut() {
        if t.dry.is_none()
            && t.rel.readable
            && t.operation != "TRUNCATE"
            && !t.operation.starts_with("DROP")
        {
            t.exact = Some(0);
            t.dry = Some((0, 0, 0));
        }
        if t.dry.is_some() {
            for p in t.partitions.iter_mut().flat_map(|m| m.values_mut()) {
                if p.get("dry_run").is_none() {
                    p["rows_exact"] = json!(0);
                    p["dry_run"] = json!({"inserted": 0, "updated": 0, "deleted": 0});
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::changed_twice;

    #[test]
    fn a_row_updated_then_deleted_counts_once() {
        // 4 updated, 20 deleted, 2 of the updated rows still there: 2 were deleted afterwards
        assert_eq!(changed_twice((0, 4, 20), Some(2)), 2);
        // an insert and updates all still there
        assert_eq!(changed_twice((1, 4, 20), Some(5)), 0);
        // not measured: nothing taken off
        assert_eq!(changed_twice((0, 4, 20), None), 0);
        // never more than were updated
        assert_eq!(changed_twice((3, 4, 20), Some(0)), 4);
    }
}
