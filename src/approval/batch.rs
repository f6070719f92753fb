//! Batched execution of an approved UPDATE or DELETE: the approved statement restricted to
//! consecutive ranges of its table's primary key, `rows` at a time, each batch in a
//! transaction of its own with its own backup and audit entry (run by the executor's
//! background worker, see `executor.rs`). A batch is the approved text itself — its target,
//! assignments and WHERE clause as written — with the key range added to its WHERE clause;
//! the approvers see that form in the request's impact (`batch.statement`), and the executor
//! derives it again from the approved text and refuses to run when the two differ.
use super::store::{ApprovalError, Result};
use crate::impact::model::Capture;
use crate::pgsql::Parts;
use crate::spi_util::Spi;
use serde_json::{json, Value};

/// What a request made with `batch_rows` runs in batches: refused for statements that cannot
/// be cut by their key (not an UPDATE or DELETE of one table by its own WHERE clause, with a
/// primary key the UPDATE leaves alone).
pub(super) fn plan(sql: &str, rows: i64, captures: &[Capture]) -> Result<Value> {
    if !(1..=1_000_000).contains(&rows) {
        return Err(ApprovalError::Batch(format!(
            "batch_rows must be between 1 and 1000000, got {rows}"
        )));
    }
    let target = captures
        .iter()
        .find(|c| c.depth == 0 && matches!(c.operation, "delete" | "update"))
        .ok_or_else(|| {
            ApprovalError::Batch(
                "it cannot run in batches: only an UPDATE or a DELETE of a table does".into(),
            )
        })?;
    let key = key_of(target)?;
    let template = statement(sql, &key.0, Some("$after"), Some("$upto"))?;
    Ok(json!({
        "rows": rows,
        "key": key.0,
        "key_types": key.1,
        "statement": template,
    }))
}

/// The primary key columns of the statement's own table (its analysis's target), with their
/// types.
fn key_of(target: &Capture) -> Result<(Vec<String>, Vec<String>)> {
    let rows: Vec<(String, String)> = Spi::connect(|c| {
        let t = c.select(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
               FROM pg_catalog.pg_index i
               JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = $1::pg_catalog.oid AND i.indisprimary
              ORDER BY k.n",
            None,
            &[target.oid.into()],
        )?;
        let mut out = Vec::new();
        for r in t {
            out.push((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
            ));
        }
        Ok::<_, ApprovalError>(out)
    })?;
    if rows.is_empty() {
        return Err(ApprovalError::NoPrimaryKey(target.display.clone()));
    }
    Ok(rows.into_iter().unzip())
}

/// The approved statement restricted to keys after `after` and up to `upto` (SQL literals;
/// `None`: no bound on that side).
pub(super) fn statement(
    sql: &str,
    key: &[String],
    after: Option<&str>,
    upto: Option<&str>,
) -> Result<String> {
    let not = |why: &str| ApprovalError::Batch(format!("it cannot run in batches: {why}"));
    let (target, filter, changed) = match crate::pgsql::parts(sql)? {
        Parts::Delete {
            with: None,
            target,
            using: None,
            filter,
            returning: false,
        } => (target, filter, Vec::new()),
        Parts::Update {
            with: None,
            target,
            changed,
            from: None,
            filter,
            returning: false,
        } => (target, filter, changed),
        Parts::Delete { .. } | Parts::Update { .. } => {
            return Err(not(
                "a batch is the statement's own table cut by its key; WITH, USING, FROM and RETURNING do not fit",
            ))
        }
        _ => return Err(not("only an UPDATE or a DELETE runs in batches")),
    };
    if target.only {
        return Err(not("ONLY leaves out partitions and children"));
    }
    if let Some(c) = changed.iter().find(|c| key.contains(c)) {
        return Err(not(&format!("it changes the key column {c}")));
    }
    let reference = target.reference();
    let cols: Vec<String> = key
        .iter()
        .map(|k| format!("{reference}.{}", crate::sqlparse::ident(k)))
        .collect();
    let tuple = |v: &[String]| {
        if v.len() == 1 {
            v[0].clone()
        } else {
            format!("({})", v.join(", "))
        }
    };
    let k = tuple(&cols);
    let mut range = Vec::new();
    if let Some(a) = after {
        range.push(format!("{k} > {a}"));
    }
    if let Some(u) = upto {
        range.push(format!("{k} <= {u}"));
    }
    let range = if range.is_empty() {
        "true".to_string()
    } else {
        range.join(" AND ")
    };
    let text = crate::pgsql::one_statement(sql)?.text;
    Ok(match filter {
        Some(f) => {
            let head = text.strip_suffix(f.as_str()).ok_or_else(|| {
                not("its WHERE clause is not the end of its text (a trailing comment?)")
            })?;
            format!("{head}({f}) AND {range}")
        }
        None => format!("{text} WHERE {range}"),
    })
}

/// The key of the `rows`-th row after `after` that the approved statement would change, as a
/// SQL literal (a row constructor for a composite key); `None` when fewer rows are left.
/// Runs with the current user's rights.
pub(super) fn next_bound(
    sql: &str,
    key: &[String],
    types: &[String],
    after: Option<&str>,
    rows: i64,
) -> Result<Option<String>> {
    let (target, filter) = match crate::pgsql::parts(sql)? {
        Parts::Delete { target, filter, .. } | Parts::Update { target, filter, .. } => {
            (target, filter)
        }
        _ => {
            return Err(ApprovalError::Batch(
                "only an UPDATE or a DELETE runs in batches".into(),
            ))
        }
    };
    let reference = target.reference();
    let from = match &target.alias {
        Some(a) => format!("{} AS {}", target.written(), crate::sqlparse::ident(a)),
        None => target.written(),
    };
    let cols: Vec<String> = key
        .iter()
        .map(|k| format!("{reference}.{}", crate::sqlparse::ident(k)))
        .collect();
    let literal: Vec<String> = cols
        .iter()
        .zip(types)
        .map(|(c, t)| {
            format!(
                "pg_catalog.quote_literal({c}::text) || '::' || '{}'",
                t.replace('\'', "''")
            )
        })
        .collect();
    let literal = if literal.len() == 1 {
        literal[0].clone()
    } else {
        format!("'(' || {} || ')'", literal.join(" || ', ' || "))
    };
    let k = if cols.len() == 1 {
        cols[0].clone()
    } else {
        format!("({})", cols.join(", "))
    };
    let mut conds = Vec::new();
    if let Some(f) = filter {
        conds.push(format!("({f})"));
    }
    if let Some(a) = after {
        conds.push(format!("{k} > {a}"));
    }
    let q = format!(
        "SELECT {literal} FROM {from}{} ORDER BY {} OFFSET {} LIMIT 1",
        if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        },
        cols.join(", "),
        rows - 1
    );
    // wrapped: no row left is a NULL, not an error
    Ok(crate::pgsql::pinned(|| {
        Spi::get_one::<String>(&format!("SELECT ({q})"))
    })?)
}

/// What the executor needs to run a request in batches (from its execution's record).
pub(super) struct Batches {
    pub execution: i64,
    pub request: i64,
    pub sha: String,
    pub sql: String,
    pub role: pgrx::pg_sys::Oid,
    pub search_path: String,
    pub rows: i64,
    pub key: Vec<String>,
    pub types: Vec<String>,
    pub statement_ms: u64,
    pub pause_ms: u64,
    pub max_lag: u64,
    pub timeout_ms: u64,
}

impl Batches {
    /// From the execution's detail; the batch form is derived again from the approved text
    /// and must be the one the approvers saw.
    pub(super) fn of(
        execution: i64,
        request: i64,
        sha: &str,
        sql: &str,
        detail: &Value,
    ) -> Result<Batches> {
        let b = &detail["batch"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        let key = strings(&b["key"]);
        let seen = statement(sql, &key, Some("$after"), Some("$upto"))?;
        if b["statement"].as_str() != Some(seen.as_str()) {
            return Err(ApprovalError::Tampered(request));
        }
        Ok(Batches {
            execution,
            request,
            sha: sha.to_string(),
            sql: sql.to_string(),
            role: pgrx::pg_sys::Oid::from(detail["role"].as_u64().unwrap_or_default() as u32),
            search_path: detail["search_path"]
                .as_str()
                .unwrap_or("pg_catalog")
                .to_string(),
            rows: b["rows"].as_i64().unwrap_or(1),
            key,
            types: strings(&b["key_types"]),
            statement_ms: detail["statement_ms"].as_u64().unwrap_or(60_000),
            pause_ms: detail["pause_ms"].as_u64().unwrap_or(0),
            max_lag: detail["max_lag"].as_u64().unwrap_or(0),
            timeout_ms: detail["timeout_ms"].as_u64().unwrap_or(21_600_000),
        })
    }
}

/// One batch, in the current transaction: the next key range as the runner, its exact
/// analysis, the batch run with its backup (in a subtransaction: an error undoes the batch
/// alone and comes back as a value), its progress recorded. Returns the range's upper bound
/// (`None`: that was the last batch) and the rows it changed per table.
pub(super) fn one(
    b: &Batches,
    number: u64,
    after: Option<&str>,
    replay_lag: Option<i64>,
) -> std::result::Result<(Option<String>, Value), crate::spi_util::CaughtPgError> {
    use crate::impact::analyse as impact;
    use crate::spi_util::{as_role, in_subtransaction, SearchPath};
    let sp = SearchPath::pin_for(b.search_path.clone());
    let outcome = in_subtransaction(std::panic::AssertUnwindSafe(|| {
        as_role(b.role, || {
            let upto = sp.as_caller(|| next_bound(&b.sql, &b.key, &b.types, after, b.rows))?;
            let sql = statement(&b.sql, &b.key, after, upto.as_deref())?;
            let reading = impact::read(&sql)?;
            let (now, captures) = impact::analyse_in(&sp, &sql, crate::impact::model::Mode::Exact)?;
            // the batch's own execution, holding its own backup (gone with it if it fails)
            let batch = crate::spi_util::as_extension_owner(|| {
                Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
                    "INSERT INTO ai.executions (request_id, status, detail)
                     VALUES ($1, 'running', jsonb_build_object('batch_of', $2::int8, 'batch', $3::int8, 'statement', $4::text))
                     RETURNING id",
                    &[b.request.into(), b.execution.into(), (number as i64).into(), sql.clone().into()],
                )?)
            })?
            .unwrap_or_default();
            let started = std::time::Instant::now();
            let changed = super::backup::run_with_backup(
                &sp,
                batch,
                &sql,
                &reading,
                &captures,
                &now,
                b.statement_ms,
            )?;
            crate::spi_util::as_extension_owner(|| {
                Spi::run_with_args(
                    "UPDATE ai.executions SET status = 'succeeded', txid = pg_catalog.pg_current_xact_id(),
                            finished_at = clock_timestamp(), duration_ms = $2, rows_by_table = $3
                      WHERE id = $1",
                    &[batch.into(), (started.elapsed().as_secs_f64() * 1000.0).into(), pgrx::JsonB(changed.clone()).into()],
                )
            })?;
            Ok::<_, ApprovalError>((upto, changed))
        })
        .unwrap_or_else(|e| pgrx::error!("batch {number}: {e}"))
    }));
    sp.restore();
    let (upto, changed) = outcome?;
    let record = || -> Result<()> {
        Spi::run_with_args(
            "UPDATE ai.executions SET
                    rows_by_table = (SELECT coalesce(jsonb_object_agg(k, coalesce((rows_by_table ->> k)::int8, 0) + coalesce(($2 ->> k)::int8, 0)), '{}')
                                       FROM (SELECT jsonb_object_keys(rows_by_table) UNION SELECT jsonb_object_keys($2)) t(k)),
                    detail = jsonb_set(detail, '{batches}', jsonb_build_object('done', $3::int8, 'after', $4::text,
                             'rows', coalesce((detail #>> '{batches,rows}')::int8, 0) + (SELECT coalesce(sum(v::int8), 0) FROM jsonb_each_text($2) x(k, v))))
              WHERE id = $1",
            &[b.execution.into(), pgrx::JsonB(changed.clone()).into(), (number as i64).into(), upto.clone().into()],
        )?;
        super::store::log(
            "batch",
            b.request,
            &b.sha,
            json!({"execution": b.execution, "batch": number, "after": after, "upto": upto, "rows_by_table": changed, "replay_lag_before": replay_lag}),
        )
    };
    record().map_err(|e| crate::spi_util::CaughtPgError::internal(e.to_string()))?;
    Ok((upto, changed))
}

/// The WAL bytes the furthest standby still has to replay.
pub(super) fn replay_lag() -> Result<i64> {
    Ok(Spi::get_one::<i64>(
        "SELECT coalesce(max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)), 0)::int8
           FROM pg_catalog.pg_stat_replication",
    )?
    .unwrap_or(0))
}
