//! The destructive tools answer with the handle to follow instead of acting when the request
//! is not theirs to act on yet: `execute` of a request that is not approved returns the
//! request, its state and what it waits for; a `rollback` whose level needs its own approval
//! files that rollback as a request and returns it. The database decides both (the request's
//! state, the rollback policy); nothing here grants or skips a rule.

use crate::tools::Tool;
use serde_json::{json, Map, Value};
use tokio_postgres::Client;

fn id(args: &Map<String, Value>, name: &str) -> Option<i64> {
    args.get(name).and_then(Value::as_i64)
}

/// What the database says about a request (ai.request_status).
async fn status(client: &Client, request: i64) -> Result<Value, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT pg_catalog.to_jsonb(ai.request_status($1::int8))",
            &[&request],
        )
        .await?
        .get(0))
}

/// Before the tool's statement: `execute` of a request that is not approved does not run.
pub async fn before(
    tool: &Tool,
    args: &Map<String, Value>,
    client: &Client,
) -> Result<Option<Value>, tokio_postgres::Error> {
    let (true, Some(request)) = (tool.name == "execute", id(args, "request")) else {
        return Ok(None);
    };
    let status = status(client, request).await?;
    let state = status["state"].as_str().unwrap_or_default().to_string();
    if state == "approved" {
        return Ok(None);
    }
    let why = match state.as_str() {
        "pending" => format!(
            "request {request} is pending: it runs once approved ({} of {} approvals, by members of {}); ask an approver, then call execute again",
            status["decisions"]
                .as_array()
                .map(|d| d.iter().filter(|x| x["decision"] == "approve").count())
                .unwrap_or(0),
            status["required_approvals"],
            status["approver_role"]
        ),
        other => format!("request {request} is {other}: only an approved request runs"),
    };
    Ok(Some(json!({
        "request": request,
        "state": state,
        "executed": false,
        "why": why
    })))
}

/// After the tool's statement failed: a rollback that the policy of its level sends through
/// approval is filed as a request of its own (ai.request_rollback), and that request is the
/// answer.
pub async fn after(
    tool: &Tool,
    args: &Map<String, Value>,
    client: &Client,
    e: &tokio_postgres::Error,
) -> Result<Option<Value>, tokio_postgres::Error> {
    let (true, Some(execution)) = (tool.name == "rollback", id(args, "execution")) else {
        return Ok(None);
    };
    let needs_approval = e.as_db_error().is_some_and(|d| {
        d.code().code() == "55000" && d.hint().is_some_and(|h| h.contains("ai.request_rollback("))
    });
    if !needs_approval {
        return Ok(None);
    }
    let request: i64 = client
        .query_one(
            "SELECT ai.request_rollback($1::int8, 'filed by ai-architect-mcp: the rollback needs approval')",
            &[&execution],
        )
        .await?
        .get(0);
    let status = status(client, request).await?;
    Ok(Some(json!({
        "execution": execution,
        "rolled_back": false,
        "rollback_request": request,
        "request": request,
        "state": status["state"],
        "why": format!(
            "a rollback at this risk level needs its own approval: filed as request {request}; once approved, execute it"
        )
    })))
}

/// What a person confirms before a destructive tool acts: the statement of the request to
/// execute (with its risk and the rows it touches), or the execution to roll back. None for
/// the other tools.
pub async fn question(
    tool: &Tool,
    args: &Map<String, Value>,
    client: &Client,
) -> Result<Option<(String, Value)>, tokio_postgres::Error> {
    match tool.name {
        "execute" => {
            let Some(request) = id(args, "request") else {
                return Ok(None);
            };
            let s = status(client, request).await?;
            Ok(Some((
                format!(
                    "Run request {request} now? {} (risk {}, {} rows by its impact analysis)",
                    s["statement"].as_str().unwrap_or_default(),
                    s["risk_level"].as_str().unwrap_or("?"),
                    s["rows_touched"]
                ),
                json!({"request": request, "state": s["state"], "executed": false}),
            )))
        }
        "rollback" => {
            let Some(execution) = id(args, "execution") else {
                return Ok(None);
            };
            Ok(Some((
                format!(
                    "Roll back execution {execution} now? The rows it changed are restored from its backup."
                ),
                json!({"execution": execution, "rolled_back": false}),
            )))
        }
        _ => Ok(None),
    }
}
