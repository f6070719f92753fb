//! What each kind of statement touches: its target (resolved as the caller wrote it), the
//! rows it changes and the tables its cascades reach, the locks it takes, the DDL it runs.
use super::cascade::{self, Node, Op};
use super::catalog::{explain_rows, graph, json_one, refused, rel, rels, resolve, Graph, Rel};
use super::ddl::{self, LockMode};
use super::error::ImpactError;
use super::error::Result;
use super::model::{each_node, node_key, op_name, Analysis, Mode, Touch};
use super::statement::{self, Modify};
use crate::spi_util::SearchPath;
use crate::spi_util::Spi;

/// The target must exist and be readable; a view must be updatable for `op`.
pub(super) fn target(
    sp: &SearchPath,
    a: &mut Analysis,
    written: &str,
    op: &'static str,
) -> Result<Rel> {
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
pub(super) fn fk_table(t: &Rel, a: &mut Analysis) -> Result<Option<Rel>> {
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

pub(super) fn modify(
    sp: &SearchPath,
    a: &mut Analysis,
    m: &Modify,
    delete: bool,
    read: &[String],
) -> Result<()> {
    let op = if delete { "DELETE" } else { "UPDATE" };
    let t = target(sp, a, &m.target, op)?;
    a.has_where = m.selection.is_some() || m.from.is_some();
    a.changed = m.changed.clone();
    let rows_sql = m.rows_sql();
    let estimated = match explain_rows(sp, &rows_sql) {
        Ok(r) => Some(r),
        Err(e) if e.is_cancel() => e.rethrow(),
        Err(e) if refused(&e) => {
            a.warnings.push(format!(
                "not estimated ({}): the rows it reaches are not planned",
                e.message
            ));
            None
        }
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
    // relations read by USING / FROM / subqueries, as PostgreSQL's analyser resolved them
    for name in read {
        if let Ok(r) = resolve(sp, name) {
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
pub(super) fn cascade_facts(sp: &SearchPath, a: &mut Analysis, g: &Graph) -> Result<()> {
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

pub(super) fn insert(sp: &SearchPath, a: &mut Analysis, i: &statement::Insert) -> Result<()> {
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
        (None, Some(src)) => match explain_rows(sp, src) {
            Ok(n) => Some(n),
            Err(e) if refused(&e) => {
                a.warnings.push(format!("not estimated ({})", e.message));
                None
            }
            Err(e) => return Err(ImpactError::Count(e.message)),
        },
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

pub(super) fn merge(
    sp: &SearchPath,
    a: &mut Analysis,
    written: &str,
    matched_sql: &str,
) -> Result<()> {
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

pub(super) fn truncate(
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

pub(super) fn select(sp: &SearchPath, a: &mut Analysis, read: &[String]) -> Result<()> {
    for name in read {
        let r = resolve(sp, name)?;
        if !r.readable {
            return Err(ImpactError::NoSelect(r.display()));
        }
        a.locks.push((r, LockMode::AccessShare, "read".into()));
    }
    match explain_rows(sp, &a.statement) {
        Ok(estimated) => a.warnings.push(format!(
            "a SELECT changes nothing; the planner expects {estimated:.0} rows"
        )),
        Err(e) if refused(&e) => a.warnings.push(format!(
            "a SELECT changes nothing; not estimated ({})",
            e.message
        )),
        Err(e) => return Err(ImpactError::Count(e.message)),
    }
    Ok(())
}

/// The schema a relation name resolves to through the caller's search_path; for one that does
/// not exist yet, the schema it would be created in.
pub(super) fn schema_of(sp: &SearchPath, written: &str) -> Result<Option<String>> {
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
pub(super) fn qualified(
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

/// Holds the relations the DDL analysis acts on to the ones PostgreSQL's parse tree names:
/// each existing one must be one of them (by OID, both resolved through the caller's
/// search_path), each created one must carry a name PostgreSQL's tree creates.
fn named_by_postgres(
    sp: &SearchPath,
    steps: &[ddl::Step],
    named: &[crate::pgsql::Target],
) -> Result<()> {
    let oids: Vec<_> = named
        .iter()
        .filter_map(|t| resolve(sp, &t.written()).ok())
        .map(|r| r.oid)
        .collect();
    for s in steps {
        let same = if s.creates {
            let last = last_name(&s.table);
            named.iter().any(|t| t.name == last)
        } else {
            // a name that does not resolve is reported by the analysis itself
            resolve(sp, &s.table).map_or(true, |r| oids.contains(&r.oid))
        };
        if !same {
            return Err(ImpactError::NamedDifferently {
                ours: s.table.clone(),
                pg: named
                    .iter()
                    .map(|t| t.written())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// The last part of a written name, folded as PostgreSQL folds it.
fn last_name(written: &str) -> String {
    let w = written.trim();
    match w.strip_suffix('"') {
        Some(rest) => match rest.rfind(".\"") {
            Some(i) => rest[i + 2..].replace("\"\"", "\""),
            None => rest.trim_start_matches('"').replace("\"\"", "\""),
        },
        None => w.rsplit('.').next().unwrap_or(w).to_lowercase(),
    }
}

pub(super) fn other(
    sp: &SearchPath,
    a: &mut Analysis,
    stmt: &sqlparser::ast::Statement,
    sql: &str,
    named: Option<&[crate::pgsql::Target]>,
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
    if let Some(named) = named {
        named_by_postgres(sp, &steps, named)?;
    }
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
pub(super) fn blockers(a: &mut Analysis) {
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_part_of_a_written_name_is_folded_as_postgresql_folds_it() {
        assert_eq!(super::last_name("public.Orders"), "orders");
        assert_eq!(super::last_name("\"public\".\"Orders\""), "Orders");
        assert_eq!(super::last_name("\"We\"\"ird\""), "We\"ird");
        assert_eq!(super::last_name("t"), "t");
    }
}
