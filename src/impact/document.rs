//! The jsonb document ai.impact returns, assembled from an analysis.
use super::cascade::Node;
use super::catalog::{json_one, Rel};
use super::ddl::LockMode;
use super::error::Result;
use super::model::{each_node, node_key, Analysis, Touch};
use super::risk::{self, Facts, Policy};
use super::sensitive;
use crate::sqlparse::Kind;
use serde_json::{json, Value};
use std::collections::HashMap;

pub(super) fn tree_json(
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

pub(super) fn document(a: &Analysis, policy: &Policy) -> Result<Value> {
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
