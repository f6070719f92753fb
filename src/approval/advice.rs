//! Advice filed as requests in one call: the statements `ai.suggest_indexes`, `ai.insights`
//! and `ai.lint_schema` give (index builds and drops kept CONCURRENTLY, run by the executor's
//! background worker once approved) each become a request of the caller's, with its impact
//! and risk — or say why not. Nothing runs: every request waits for its approvals.
use super::request::request_batched;
use super::store::{sha256_hex, ApprovalError, Result};
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, in_subtransaction, SearchPath};
use std::panic::AssertUnwindSafe;

/// The sources of advice, by name, and the query that lists each one's statements (object,
/// statement) with the caller's rights.
pub const SOURCES: &[(&str, &str)] = &[
    (
        "indexes",
        "SELECT table_name, index_sql FROM ai.suggest_indexes() WHERE index_sql IS NOT NULL",
    ),
    (
        "insights",
        "SELECT object, remediation_sql FROM ai.insights() WHERE remediation_sql IS NOT NULL",
    ),
    (
        "lint",
        "SELECT object, fix_sql FROM ai.lint_schema() WHERE fix_sql IS NOT NULL",
    ),
];

/// One piece of advice and what became of it.
pub struct Filed {
    pub source: &'static str,
    pub object: String,
    pub statement: String,
    /// the request filed (or the open one that already asks for the same statement)
    pub request: Option<i64>,
    pub already: bool,
    pub risk_level: Option<String>,
    /// why it was not filed (or why the source gave nothing)
    pub error: Option<String>,
}

pub fn apply(sp: &SearchPath, sources: &[String], reason: Option<&str>) -> Result<Vec<Filed>> {
    if let Some(bad) = sources
        .iter()
        .find(|s| !SOURCES.iter().any(|(n, _)| n == s))
    {
        return Err(ApprovalError::Batch(format!(
            "unknown source of advice {bad:?}: the sources are indexes, insights and lint"
        )));
    }
    let reason = reason.unwrap_or("filed from the advice of ai_architect");
    let mut out = Vec::new();
    for (name, query) in SOURCES
        .iter()
        .filter(|(n, _)| sources.iter().any(|s| s == n))
    {
        // a source that cannot answer here (no HypoPG, no pg_stat_statements) says so once
        let listed = in_subtransaction(AssertUnwindSafe(|| {
            Spi::connect(|c| {
                let mut v = Vec::new();
                for r in c.select(*query, None, &[])? {
                    v.push((
                        r.get::<String>(1)?.unwrap_or_default(),
                        r.get::<String>(2)?.unwrap_or_default(),
                    ));
                }
                Ok::<_, pgrx::spi::Error>(v)
            })
        }));
        let items = match listed {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                out.push(nothing(name, e.to_string()));
                continue;
            }
            Err(e) => {
                out.push(nothing(name, e.message));
                continue;
            }
        };
        for (object, statement) in items {
            out.push(file(sp, name, object, statement, reason)?);
        }
    }
    Ok(out)
}

fn nothing(source: &'static str, error: String) -> Filed {
    Filed {
        source,
        object: String::new(),
        statement: String::new(),
        request: None,
        already: false,
        risk_level: None,
        error: Some(error),
    }
}

/// Files one statement (in a subtransaction: a statement that cannot be requested leaves
/// nothing behind), unless an open request already asks for it.
fn file(
    sp: &SearchPath,
    source: &'static str,
    object: String,
    statement: String,
    reason: &str,
) -> Result<Filed> {
    // the form a request stores and hashes
    let normalized = crate::impact::analyse::read(&statement)
        .map(|r| r.text)
        .unwrap_or_else(|_| statement.clone());
    let open = as_extension_owner(|| {
        Ok::<_, ApprovalError>(Spi::get_one_with_args::<i64>(
            "SELECT (SELECT id FROM ai.approval_requests
                      WHERE sql_sha256 = $1 AND requester = session_user
                        AND state IN ('pending', 'approved', 'running') AND expires_at > now()
                      ORDER BY id DESC LIMIT 1)",
            &[sha256_hex(&normalized).into()],
        )?)
    })?;
    let mut f = Filed {
        source,
        object,
        statement: statement.clone(),
        request: open,
        already: open.is_some(),
        risk_level: None,
        error: None,
    };
    if open.is_none() {
        match in_subtransaction(AssertUnwindSafe(|| {
            request_batched(sp, &statement, Some(reason), None)
                .unwrap_or_else(|e| pgrx::error!("{e}"))
        })) {
            Ok(id) => f.request = Some(id),
            Err(e) => f.error = Some(e.message),
        }
    }
    if let Some(id) = f.request {
        f.risk_level = as_extension_owner(|| {
            Ok::<_, ApprovalError>(Spi::get_one_with_args::<String>(
                "SELECT (SELECT risk_level FROM ai.approval_requests WHERE id = $1)",
                &[id.into()],
            )?)
        })?;
    }
    Ok(f)
}
