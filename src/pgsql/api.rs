//! SQL surface of the check: ai.check_sql tells whether ai_architect would run a statement
//! for someone, and what PostgreSQL's analysis found in it.
use super::{policy, PgSqlError};
use crate::error::{OrRaise, UserError};
use crate::spi_util::{in_subtransaction, SearchPath};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use serde_json::{json, Value};
use std::panic::AssertUnwindSafe;

impl UserError for PgSqlError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            PgSqlError::Refused(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            PgSqlError::Changed => PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            PgSqlError::Spi(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            PgSqlError::Unreadable(_) | PgSqlError::CurrentOf => {
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED
            }
            _ => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(PgSqlError::hint(self))
    }
}

/// Whether ai_architect would run `sql` for someone as a read-only query (a model's answer,
/// a sample, ai.explain(..., analyze)): `allowed`, and if not `refusal` and `hint`; with the
/// statement's command and every function (signature, volatility, how it is reached) and
/// relation PostgreSQL's analysis found, names resolved with the caller's search_path.
/// Nothing is planned or run. A syntax or name error is PostgreSQL's ERROR.
#[pg_extern(volatile, strict)]
fn check_sql(sql: &str) -> pgrx::JsonB {
    let sp = SearchPath::pin();
    let lists = super::lists().or_raise("ai.check_sql");
    let r = in_subtransaction(AssertUnwindSafe(|| {
        super::prepare(sql, sp.caller(), |p| p.facts.clone())
    }));
    let facts = match r {
        Ok(r) => r.or_raise("ai.check_sql"),
        Err(e) => e.rethrow(),
    };
    sp.restore();
    let verdict = policy::check_select(&facts, &lists);
    let functions: Vec<Value> = facts
        .functions
        .iter()
        .map(|f| {
            json!({"oid": f.oid, "signature": f.signature, "schema": f.schema,
                   "volatility": format!("{:?}", f.volatility).to_lowercase(), "via": f.via,
                   "allowed": policy::check_function(f, &lists).is_ok()})
        })
        .collect();
    let relations: Vec<Value> = facts
        .relations
        .iter()
        .map(|r| {
            json!({"oid": r.oid, "name": r.qualified(), "kind": r.kind.to_string(),
                   "allowed": policy::check_relation(r).is_ok()})
        })
        .collect();
    let mut out = json!({
        "allowed": verdict.is_ok(),
        "command": facts.tag,
        "functions": functions,
        "relations": relations,
    });
    if let Err(e) = verdict {
        out["refusal"] = json!(e.to_string());
        out["hint"] = json!(e.hint());
    }
    pgrx::JsonB(out)
}
