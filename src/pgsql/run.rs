//! Facts about a prepared statement, and planning, EXPLAIN and execution of exactly that
//! statement (the checked tree, never its text inside another statement).
use super::policy::{Facts, Function, Relation, Volatility};
use super::tree::{self, Found};
use super::{PgSqlError, Prepared};
use crate::spi_util::Spi;
use pgrx::pg_sys;
use serde_json::Value;

/// Names, kinds and volatility for the OIDs one walk found.
pub(super) fn facts(source: *mut pg_sys::CachedPlanSource) -> Result<Facts, PgSqlError> {
    let allowed_views = allowed_system_views();
    let allowed = |oid: pg_sys::Oid| allowed_views.contains(&oid);
    let mut found = Found::default();
    // SAFETY: source is the plan's CachedPlanSource; its query_list holds analysed Queries.
    let (command, tag) = unsafe {
        let queries = pgrx::PgList::<pg_sys::Query>::from_pg((*source).query_list);
        let mut command = super::Command::Utility;
        for q in queries.iter_ptr() {
            if (*q).canSetTag {
                command = tree::command(q);
            }
            tree::walk_query(q, &mut found, &allowed);
        }
        let tag = std::ffi::CStr::from_ptr(pg_sys::GetCommandTagName((*source).commandTag))
            .to_string_lossy()
            .into_owned();
        // SELECT ... INTO is a CREATE TABLE AS that reports itself as SELECT
        let tag = if command == super::Command::Utility && tag == "SELECT" {
            "SELECT INTO".to_string()
        } else {
            tag
        };
        (command, tag)
    };
    // a domain's CHECK constraints run on every coercion to it (and to domains over it)
    let mut seen = Vec::new();
    while let Some(d) = found.domains.iter().copied().find(|d| !seen.contains(d)) {
        seen.push(d);
        let checks: Vec<(String, Option<pg_sys::Oid>)> = Spi::connect(|c| {
            let mut v = Vec::new();
            for r in c.select(
                "SELECT con.conbin::text, t.typbasetype
                   FROM pg_catalog.pg_type t
                   LEFT JOIN pg_catalog.pg_constraint con ON con.contypid = t.oid AND con.contype = 'c'
                  WHERE t.oid = $1",
                None,
                &[d.into()],
            )? {
                let bin = r.get::<String>(1)?.unwrap_or_default();
                let base = r.get::<pg_sys::Oid>(2)?;
                v.push((bin, base));
            }
            Ok::<_, pgrx::spi::Error>(v)
        })
        .unwrap_or_default();
        for (bin, base) in checks {
            if !bin.is_empty() {
                let c = std::ffi::CString::new(bin).unwrap_or_default();
                // SAFETY: conbin is nodeToString output; stringToNode rebuilds the tree.
                let node = unsafe { pg_sys::stringToNode(c.as_ptr()) } as *mut pg_sys::Node;
                tree::walk_expr(node, "domain check", &mut found, &allowed);
            }
            if let Some(b) = base.filter(|b| *b != pg_sys::InvalidOid) {
                if !found.domains.contains(&b) && is_domain(b) {
                    found.domains.push(b);
                }
            }
        }
    }
    let functions = describe_functions(&found.functions)?;
    let relations = describe_relations(&found.relations)?;
    Ok(Facts {
        command,
        tag,
        functions,
        relations,
        modifying_cte: found.modifying_cte,
        row_locks: found.row_locks,
    })
}

thread_local! {
    static ALLOWED_VIEWS: std::cell::RefCell<Option<Vec<pg_sys::Oid>>> =
        const { std::cell::RefCell::new(None) };
}

/// The OIDs of the system views on the allow list, trusted as a unit: read once per backend.
/// They are initdb's (an OID below 16384, which no later object is ever given, even after
/// the OID counter wraps around), so the set cannot change while the server runs.
fn allowed_system_views() -> Vec<pg_sys::Oid> {
    if let Some(v) = ALLOWED_VIEWS.with(|c| c.borrow().clone()) {
        return v;
    }
    let read = Spi::connect(|c| {
        let mut v = Vec::new();
        for r in c.select(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'v' AND c.oid < 16384
                AND (n.nspname = 'information_schema' OR (n.nspname || '.' || c.relname) = ANY ($1))",
            None,
            &[super::policy::SYSTEM_RELATIONS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into()],
        )? {
            if let Some(o) = r.get::<pg_sys::Oid>(1)? {
                v.push(o);
            }
        }
        Ok::<_, pgrx::spi::Error>(v)
    });
    // a failed read is not remembered (and trusts no view)
    match read {
        Ok(v) => {
            ALLOWED_VIEWS.with(|c| *c.borrow_mut() = Some(v.clone()));
            v
        }
        Err(_) => Vec::new(),
    }
}

fn is_domain(t: pg_sys::Oid) -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT typtype = 'd' FROM pg_catalog.pg_type WHERE oid = $1",
        &[t.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

fn describe_functions(f: &[(pg_sys::Oid, &'static str)]) -> Result<Vec<Function>, PgSqlError> {
    if f.is_empty() {
        return Ok(Vec::new());
    }
    let oids: Vec<pg_sys::Oid> = f.iter().map(|x| x.0).collect();
    let rows: Vec<(pg_sys::Oid, String, String, String, String)> = Spi::connect(|c| {
        let mut v = Vec::new();
        for r in c.select(
            "SELECT p.oid, n.nspname::text, p.proname::text, p.oid::pg_catalog.regprocedure::text, p.provolatile::text
               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
              WHERE p.oid = ANY ($1)",
            None,
            &[oids.clone().into()],
        )? {
            v.push((
                r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<String>(4)?.unwrap_or_default(),
                r.get::<String>(5)?.unwrap_or_default(),
            ));
        }
        Ok::<_, pgrx::spi::Error>(v)
    })
    .map_err(|e| PgSqlError::Spi(e.to_string()))?;
    Ok(f.iter()
        .map(|(oid, via)| match rows.iter().find(|r| r.0 == *oid) {
            Some(r) => Function {
                oid: oid.to_u32(),
                schema: r.1.clone(),
                name: r.2.clone(),
                signature: r.3.clone(),
                volatility: Volatility::from_provolatile(r.4.bytes().next().unwrap_or(b'v')),
                via,
            },
            // a function that vanished meanwhile: judged as an unknown user function
            None => Function {
                oid: oid.to_u32(),
                schema: String::new(),
                name: format!("function {}", oid.to_u32()),
                signature: format!("function {}", oid.to_u32()),
                volatility: Volatility::Volatile,
                via,
            },
        })
        .collect())
}

fn describe_relations(oids: &[pg_sys::Oid]) -> Result<Vec<Relation>, PgSqlError> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    Spi::connect(|c| {
        let mut v = Vec::new();
        for r in c.select(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = ANY ($1) ORDER BY pg_catalog.array_position($1, c.oid)",
            None,
            &[oids.to_vec().into()],
        )? {
            v.push(Relation {
                oid: r.get::<pg_sys::Oid>(1)?.map(|o| o.to_u32()).unwrap_or(0),
                schema: r.get::<String>(2)?.unwrap_or_default(),
                name: r.get::<String>(3)?.unwrap_or_default(),
                kind: r
                    .get::<String>(4)?
                    .and_then(|k| k.chars().next())
                    .unwrap_or('r'),
            });
        }
        Ok::<_, pgrx::spi::Error>(v)
    })
    .map_err(|e| PgSqlError::Spi(e.to_string()))
}

/// A cached plan, released when dropped.
struct Plan(*mut pg_sys::CachedPlan);

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: SPI_plan_get_cached_plan of an unsaved plan takes no resource owner.
        unsafe { pg_sys::ReleaseCachedPlan(self.0, std::ptr::null_mut()) }
    }
}

impl Prepared {
    fn planned(&self) -> Result<(Plan, *mut pg_sys::PlannedStmt), PgSqlError> {
        self.still_checked()?;
        // SAFETY: plan is this connection's SPI plan; planning happens only now, after the
        // check (the planner folds IMMUTABLE and evaluates STABLE calls).
        unsafe {
            let cplan = pg_sys::SPI_plan_get_cached_plan(self.plan);
            let plan = Plan(cplan);
            self.still_checked()?;
            let stmts = pgrx::PgList::<pg_sys::PlannedStmt>::from_pg((*cplan).stmt_list);
            let stmt = stmts.head().ok_or(PgSqlError::Empty)?;
            // the caller's privileges on every relation, as the executor checks them: a
            // plan is never a way to learn about what one may not read
            check_permissions(stmt);
            Ok((plan, stmt))
        }
    }

    /// The planner's total cost estimate.
    pub fn total_cost(&self) -> Result<f64, PgSqlError> {
        let (_plan, stmt) = self.planned()?;
        // SAFETY: stmt is a PlannedStmt of the live cached plan.
        unsafe {
            if (*stmt).planTree.is_null() {
                return Ok(0.0);
            }
            Ok((*(*stmt).planTree).total_cost)
        }
    }

    /// EXPLAIN (FORMAT JSON [, VERBOSE] [, ANALYZE, BUFFERS]) of exactly this statement, as
    /// the JSON document EXPLAIN prints. With `analyze` it runs (the caller makes that
    /// read-only and rolls it back).
    pub fn explain_json(&self, verbose: bool, analyze: bool) -> Result<Value, PgSqlError> {
        if self.facts.command == super::Command::Utility {
            // EXPLAIN takes only planned statements (SELECT, INSERT, UPDATE, DELETE, MERGE)
            return Err(PgSqlError::Refused(super::Refusal::NotASelect(
                self.facts.tag.clone(),
            )));
        }
        let started = std::time::Instant::now();
        let (_plan, stmt) = self.planned()?;
        let planning_ms = started.elapsed().as_secs_f64() * 1000.0;
        // SAFETY: the documented ExplainState protocol (NewExplainState, Begin/End output)
        // around ExplainOnePlan, which runs the plan itself for ANALYZE, as EXPLAIN does.
        let text = unsafe {
            let es = pg_sys::NewExplainState();
            (*es).format = pg_sys::ExplainFormat::EXPLAIN_FORMAT_JSON;
            (*es).verbose = verbose;
            (*es).analyze = analyze;
            (*es).buffers = analyze;
            (*es).timing = analyze;
            (*es).summary = analyze;
            (*es).costs = true;
            pg_sys::ExplainBeginOutput(es);
            explain_one_plan(stmt, es, self.sql.as_ptr());
            pg_sys::ExplainEndOutput(es);
            std::ffi::CStr::from_ptr((*(*es).str_).data)
                .to_string_lossy()
                .into_owned()
        };
        let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if analyze {
            if let Some(top) = v.get_mut(0).and_then(Value::as_object_mut) {
                top.insert(
                    "Planning Time".into(),
                    serde_json::json!((planning_ms * 1000.0).round() / 1000.0),
                );
            }
        }
        Ok(v)
    }

    /// Runs the statement and returns at most `max_rows` rows (each a JSON object, as
    /// row_to_json makes it; repeated column names get _2, _3, ...) and at most `max_bytes`
    /// of JSON text; `truncated` says whether more were there.
    pub fn rows(&self, max_rows: usize, max_bytes: usize) -> Result<Rows, PgSqlError> {
        self.still_checked()?;
        // SAFETY: SPI is connected; the cursor runs this plan read-only and is closed before
        // returning; tuples are read from SPI_tuptable right after each fetch.
        unsafe {
            let portal = pg_sys::SPI_cursor_open(
                std::ptr::null(),
                self.plan,
                std::ptr::null_mut(),
                std::ptr::null(),
                true,
            );
            // opening planned it: refuse before a row is fetched if that was not our tree
            if let Err(e) = self.still_checked() {
                pg_sys::SPI_cursor_close(portal);
                return Err(e);
            }
            let mut out = Rows::default();
            let mut desc: Option<pg_sys::TupleDesc> = None;
            let mut bytes = 0usize;
            'fetch: loop {
                let want =
                    fetch_size(max_rows, out.rows.len(), bytes, max_bytes) as std::ffi::c_long;
                pg_sys::SPI_cursor_fetch(portal, true, want);
                let n = pg_sys::SPI_processed as usize;
                let tt = pg_sys::SPI_tuptable;
                if n == 0 || tt.is_null() {
                    break;
                }
                let d = *desc.get_or_insert_with(|| {
                    let (d, names) = renamed_desc((*tt).tupdesc);
                    out.columns = names;
                    d
                });
                for i in 0..n {
                    let tuple = *(*tt).vals.add(i);
                    let text = row_json(tuple, (*tt).tupdesc, d);
                    if out.rows.len() == max_rows || bytes + text.len() > max_bytes {
                        out.truncated = true;
                        break 'fetch;
                    }
                    bytes += text.len();
                    out.rows
                        .push(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
                }
                pg_sys::SPI_freetuptable(tt);
            }
            if desc.is_none() {
                // no row: the columns still come from the result's description
                let (_, names) = renamed_desc((*portal).tupDesc);
                out.columns = names;
            }
            pg_sys::SPI_cursor_close(portal);
            Ok(out)
        }
    }
}

/// How many rows the next fetch asks for: one more than the row cap leaves (to see whether
/// more were there), at most 1,000, and no more than the byte cap leaves room for at the
/// size of the rows read so far (one at first), so that the cap bounds what is read, not
/// only what is returned.
fn fetch_size(max_rows: usize, fetched: usize, bytes: usize, max_bytes: usize) -> usize {
    let by_rows = (max_rows + 1).saturating_sub(fetched).min(1000);
    if fetched == 0 {
        return by_rows.min(1);
    }
    let per_row = (bytes / fetched).max(1);
    let by_bytes = max_bytes.saturating_sub(bytes) / per_row + 1;
    by_rows.min(by_bytes).max(1)
}

/// Rows read by [`Prepared::rows`].
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Value>,
    pub truncated: bool,
}

/// The executor's privilege check of a plan's range table (an ERROR on a violation).
#[cfg(feature = "pg15")]
unsafe fn check_permissions(stmt: *mut pg_sys::PlannedStmt) {
    pg_sys::ExecCheckRTPerms((*stmt).rtable, true);
}

/// The executor's privilege check of a plan's range table (an ERROR on a violation).
#[cfg(not(feature = "pg15"))]
unsafe fn check_permissions(stmt: *mut pg_sys::PlannedStmt) {
    pg_sys::ExecCheckPermissions((*stmt).rtable, (*stmt).permInfos, true);
}

#[cfg(any(feature = "pg15", feature = "pg16"))]
unsafe fn explain_one_plan(
    stmt: *mut pg_sys::PlannedStmt,
    es: *mut pg_sys::ExplainState,
    sql: *const std::ffi::c_char,
) {
    pg_sys::ExplainOnePlan(
        stmt,
        std::ptr::null_mut(),
        es,
        sql,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null(),
        std::ptr::null(),
    )
}

#[cfg(any(feature = "pg17", feature = "pg18"))]
unsafe fn explain_one_plan(
    stmt: *mut pg_sys::PlannedStmt,
    es: *mut pg_sys::ExplainState,
    sql: *const std::ffi::c_char,
) {
    pg_sys::ExplainOnePlan(
        stmt,
        std::ptr::null_mut(),
        es,
        sql,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null(),
        std::ptr::null(),
        std::ptr::null(),
    )
}

/// Column `i` (0-based) of a tuple descriptor.
#[cfg(not(feature = "pg18"))]
unsafe fn attribute(d: pg_sys::TupleDesc, i: usize) -> *mut pg_sys::FormData_pg_attribute {
    (*d).attrs.as_mut_ptr().add(i)
}

/// Column `i` (0-based) of a tuple descriptor: since PostgreSQL 18 the full attributes follow
/// the compact ones, reached through TupleDescAttr.
#[cfg(feature = "pg18")]
unsafe fn attribute(d: pg_sys::TupleDesc, i: usize) -> *mut pg_sys::FormData_pg_attribute {
    pg_sys::TupleDescAttr(d, i as std::ffi::c_int)
}

/// A blessed copy of a result description whose repeated column names are made unique (as
/// row_to_json would otherwise repeat keys); the names.
unsafe fn renamed_desc(src: pg_sys::TupleDesc) -> (pg_sys::TupleDesc, Vec<String>) {
    let d = pg_sys::CreateTupleDescCopy(src);
    let mut names: Vec<String> = Vec::new();
    for i in 0..(*d).natts as usize {
        let att = attribute(d, i);
        let base = std::ffi::CStr::from_ptr((*att).attname.data.as_ptr())
            .to_string_lossy()
            .into_owned();
        let mut name = base.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        if name != base {
            let c = std::ffi::CString::new(name.clone()).unwrap_or_default();
            pg_sys::namestrcpy(&mut (*att).attname, c.as_ptr());
        }
        names.push(name);
    }
    (pg_sys::BlessTupleDesc(d), names)
}

unsafe fn row_to_json(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    pg_sys::row_to_json(fcinfo)
}

/// One result row as row_to_json text, read through the renamed description.
unsafe fn row_json(
    tuple: pg_sys::HeapTuple,
    src: pg_sys::TupleDesc,
    renamed: pg_sys::TupleDesc,
) -> String {
    let natts = (*src).natts as usize;
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![false; natts];
    pg_sys::heap_deform_tuple(tuple, src, values.as_mut_ptr(), nulls.as_mut_ptr());
    let t = pg_sys::heap_form_tuple(renamed, values.as_mut_ptr(), nulls.as_mut_ptr());
    let datum = pg_sys::heap_copy_tuple_as_datum(t, renamed);
    pgrx::direct_function_call::<String>(row_to_json, &[Some(datum)]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::fetch_size;

    #[test]
    fn the_byte_cap_bounds_each_fetch() {
        // first one row, to learn its size
        assert_eq!(fetch_size(100, 0, 0, 1 << 20), 1);
        // small rows: as many as the row cap leaves (plus one), at most 1,000
        assert_eq!(fetch_size(100, 1, 50, 1 << 20), 100);
        assert_eq!(fetch_size(10_000, 1, 50, 1 << 30), 1000);
        // rows of 400 kB under a 1 MB cap: room for two more, and one to see the cap
        assert_eq!(fetch_size(100, 1, 400_000, 1_000_000), 2);
        // the cap reached: one row, to report truncation
        assert_eq!(fetch_size(100, 3, 1_000_000, 1_000_000), 1);
        // the row cap reached: one row, to see whether more were there
        assert_eq!(fetch_size(5, 5, 10, 1 << 20), 1);
    }
}
