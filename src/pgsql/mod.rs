//! What PostgreSQL says about a piece of SQL: the one place that decides it.
//!
//! SQL that ai_architect did not write itself (a model's answer, a stored sample, a workload
//! statement, an approved request) is judged here by PostgreSQL's own parser, analyser and
//! rewriter, never by a text parser of another grammar:
//! - [`statements`]: the raw parser's statements and their command tags (how many, what);
//! - [`parts`]: a row-changing statement's target and clauses, cut from the text as written
//!   with PostgreSQL's lexer and proven equal to the raw parser's clauses;
//! - [`prepare`]: `SPI_prepare` under pinned settings (standard_conforming_strings on, the
//!   given search_path) parses, analyses and rewrites the text — views, rules and row-level
//!   policies expanded, every name resolved to an OID — and [`tree`] walks the result for
//!   every function and relation ([`policy::Facts`]);
//! - [`policy`]: the allow list those facts are judged against;
//! - [`Prepared`]: the checked statement itself, to plan, EXPLAIN or run. What runs is the
//!   very tree that was checked: the text is never pasted into a larger statement, and a plan
//!   that PostgreSQL would have to analyse again (a concurrent schema change) is refused.
mod api;
mod columns;
pub mod expr;
mod lexer;
mod nodes;
pub mod online;
mod parts;
pub mod policy;
mod run;
pub mod sites;
mod toplevel;
mod tree;

pub use columns::columns_read;
pub use online::Online;
pub use parts::{parts, Parts, Target};
pub use policy::{Command, Facts, Lists, Refusal};
pub use toplevel::run_top_level;

use crate::spi_util::Spi;
use pgrx::pg_sys;
use std::ffi::CString;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgSqlError {
    #[error("the SQL text is empty")]
    Empty,
    #[error("expected exactly one SQL statement, found {0}")]
    Multiple(usize),
    #[error("the SQL text contains a NUL byte")]
    Nul,
    #[error(
        "the statement changed while it was checked (a concurrent schema change); run it again"
    )]
    Changed,
    #[error("WHERE CURRENT OF refers to a cursor position, which a statement analysed on its own does not have")]
    CurrentOf,
    #[error("the statement's {0} could not be told apart from the rest of its text")]
    Unreadable(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("not one expression over its table: {0}")]
    NotAnExpression(String),
    #[error("reading the catalog failed: {0}")]
    Spi(String),
}

impl PgSqlError {
    pub fn hint(&self) -> String {
        match self {
            PgSqlError::Empty => "pass one SQL statement".into(),
            PgSqlError::Multiple(_) => {
                "send one statement per call; remove the extra ';'-separated statements".into()
            }
            PgSqlError::Nul => "remove the NUL byte".into(),
            PgSqlError::Changed => "the check and the run must see the same schema".into(),
            PgSqlError::CurrentOf => "name the row by its key instead, e.g. WHERE id = 42".into(),
            PgSqlError::Unreadable(_) => {
                "write the clause plainly (a simpler form of the statement), or analyse it with mode => 'dry_run'".into()
            }
            PgSqlError::NotAnExpression(_) => {
                "write one expression over the table's columns, e.g. unit_price * quantity, status = 'archived' or sum(unit_price * quantity)".into()
            }
            PgSqlError::Refused(r) => r.hint(),
            PgSqlError::Spi(_) => {
                "an internal query of the check failed; the message says which".into()
            }
        }
    }
}

/// One statement as PostgreSQL's raw parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStatement {
    /// the command tag: SELECT, INSERT, CREATE INDEX, SELECT INTO, ...
    pub tag: String,
    pub command: Command,
    /// its own text, as the parser delimited it (without the `;`)
    pub text: String,
}

fn cstring(sql: &str) -> Result<CString, PgSqlError> {
    CString::new(sql).map_err(|_| PgSqlError::Nul)
}

/// Settings every parse of foreign SQL runs under: a backslash never escapes a quote.
pub fn pinned<R>(f: impl FnOnce() -> R) -> R {
    crate::spi_util::with_settings(
        &[
            (c"standard_conforming_strings", "on"),
            (c"backslash_quote", "off"),
        ],
        f,
    )
}

/// The statements in `sql`, by PostgreSQL's raw parser (standard_conforming_strings on). A
/// syntax error is PostgreSQL's ERROR.
pub fn statements(sql: &str) -> Result<Vec<RawStatement>, PgSqlError> {
    let text = cstring(sql)?;
    pinned(|| {
        // SAFETY: raw_parser reads the NUL-terminated text and returns a List of RawStmt in
        // the current memory context; CreateCommandTag only reads the parse tree.
        unsafe {
            let list = pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            let stmts = pgrx::PgList::<pg_sys::RawStmt>::from_pg(list);
            let mut out = Vec::with_capacity(stmts.len());
            for raw in stmts.iter_ptr() {
                let node = (*raw).stmt;
                let tag = pg_sys::CreateCommandTag(node);
                let name = std::ffi::CStr::from_ptr(pg_sys::GetCommandTagName(tag))
                    .to_string_lossy()
                    .into_owned();
                use pg_sys::NodeTag::*;
                let command = match (*node).type_ {
                    T_SelectStmt if (*(node as *mut pg_sys::SelectStmt)).intoClause.is_null() => {
                        Command::Select
                    }
                    T_InsertStmt => Command::Insert,
                    T_UpdateStmt => Command::Update,
                    T_DeleteStmt => Command::Delete,
                    T_MergeStmt => Command::Merge,
                    _ => Command::Utility,
                };
                // stmt_location / stmt_len: byte offsets into the text; 0 length is "to the end"
                let start = ((*raw).stmt_location.max(0) as usize).min(sql.len());
                let end = match (*raw).stmt_len {
                    0 => sql.len(),
                    n => (start + n as usize).min(sql.len()),
                };
                let text = sql.get(start..end).unwrap_or_default().trim().to_string();
                out.push(RawStatement {
                    tag: name,
                    command,
                    text,
                });
            }
            Ok(out)
        }
    })
}

/// The one statement in `sql` (PostgreSQL's raw parser), or why there is not exactly one.
pub fn one_statement(sql: &str) -> Result<RawStatement, PgSqlError> {
    let mut v = statements(sql)?;
    match v.len() {
        0 => Err(PgSqlError::Empty),
        1 => Ok(v.remove(0)),
        n => Err(PgSqlError::Multiple(n)),
    }
}

/// A statement PostgreSQL has parsed, analysed and rewritten, with what that tree contains.
/// Only valid inside the [`prepare`] call that made it.
pub struct Prepared {
    plan: pg_sys::SPIPlanPtr,
    source: *mut pg_sys::CachedPlanSource,
    checked: *mut pg_sys::List,
    sql: CString,
    pub facts: Facts,
}

impl Prepared {
    /// Refuses when PostgreSQL would analyse the statement again before planning it (so
    /// that what is planned and run is exactly what was checked).
    fn still_checked(&self) -> Result<(), PgSqlError> {
        // SAFETY: source is the plan's one CachedPlanSource, alive while the plan is.
        let ok = unsafe { (*self.source).is_valid && (*self.source).query_list == self.checked };
        if ok {
            Ok(())
        } else {
            Err(PgSqlError::Changed)
        }
    }
}

/// Parses, analyses and rewrites `sql` with `search_path` (and standard_conforming_strings
/// on), collects its facts and calls `f` with the prepared statement, still under those
/// settings (a plan made under another search_path would be analysed again). Parse and
/// analysis errors are PostgreSQL's ERRORs; nothing is planned or run before `f` asks.
pub fn prepare<R>(
    sql: &str,
    search_path: &str,
    f: impl FnOnce(&Prepared) -> R,
) -> Result<R, PgSqlError> {
    let text = cstring(sql)?;
    Spi::connect(|_client| {
        pinned(|| {
            crate::spi_util::with_search_path(search_path, || {
                // SAFETY: SPI is connected (Spi::connect); SPI_prepare parses, analyses and
                // rewrites without planning and returns a plan in the SPI procedure context,
                // freed when the connection closes at the end of this closure.
                let (plan, source, checked) = unsafe {
                    let plan = pg_sys::SPI_prepare(text.as_ptr(), 0, std::ptr::null_mut());
                    if plan.is_null() {
                        return Err(PgSqlError::Empty);
                    }
                    let sources = pgrx::PgList::<pg_sys::CachedPlanSource>::from_pg(
                        pg_sys::SPI_plan_get_plan_sources(plan),
                    );
                    match sources.len() {
                        0 => return Err(PgSqlError::Empty),
                        1 => {}
                        n => return Err(PgSqlError::Multiple(n)),
                    }
                    let source = sources.head().unwrap_or(std::ptr::null_mut());
                    (plan, source, (*source).query_list)
                };
                let facts = run::facts(source)?;
                let p = Prepared {
                    plan,
                    source,
                    checked,
                    sql: text.clone(),
                    facts,
                };
                Ok(f(&p))
            })
        })
    })
}

/// Reads `ai.denied_functions` and `ai.allowed_functions` (both readable by everyone).
pub fn lists() -> Result<Lists, pgrx::spi::Error> {
    let denied = Spi::get_one::<Vec<String>>(
        "SELECT coalesce(pg_catalog.array_agg(pg_catalog.lower(pattern)), '{}') FROM ai.denied_functions",
    )?
    .unwrap_or_default();
    let allowed = Spi::get_one::<Vec<pg_sys::Oid>>(
        "SELECT coalesce(pg_catalog.array_agg(func::oid), '{}') FROM ai.allowed_functions",
    )?
    .unwrap_or_default();
    Ok(Lists {
        denied,
        allowed: allowed.into_iter().map(|o| o.to_u32()).collect(),
    })
}

/// Prepares `sql` and checks it against the allow list for a read-only query; `f` runs only
/// when it passes.
pub fn checked_select<R>(
    sql: &str,
    search_path: &str,
    lists: &Lists,
    f: impl FnOnce(&Prepared) -> Result<R, PgSqlError>,
) -> Result<R, PgSqlError> {
    prepare(sql, search_path, |p| {
        policy::check_select(&p.facts, lists)?;
        f(p)
    })?
}

/// The types PostgreSQL's parse analysis infers for the `$n` parameters of the one statement
/// in `sql` (analysed with `search_path`, nothing planned or run), as format_type prints them.
pub fn parameter_types(sql: &str, search_path: &str) -> Result<Vec<String>, PgSqlError> {
    let text = cstring(sql)?;
    pinned(|| {
        crate::spi_util::with_search_path(search_path, || {
            // SAFETY: raw_parser and parse_analyze_varparams read the text and allocate in
            // the current memory context; parse analysis resolves names and types only.
            unsafe {
                let list =
                    pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
                let stmts = pgrx::PgList::<pg_sys::RawStmt>::from_pg(list);
                match stmts.len() {
                    0 => return Err(PgSqlError::Empty),
                    1 => {}
                    n => return Err(PgSqlError::Multiple(n)),
                }
                let raw = stmts.head().unwrap_or(std::ptr::null_mut());
                let mut types: *mut pg_sys::Oid = std::ptr::null_mut();
                let mut n: std::ffi::c_int = 0;
                pg_sys::parse_analyze_varparams(
                    raw,
                    text.as_ptr(),
                    &mut types,
                    &mut n,
                    std::ptr::null_mut(),
                );
                Ok((0..n.max(0) as usize)
                    .map(|i| {
                        std::ffi::CStr::from_ptr(pg_sys::format_type_be(*types.add(i)))
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect())
            }
        })
    })
}
