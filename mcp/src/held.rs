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

/// What a destructive tool does before its statement.
pub enum Before {
    /// not a destructive tool (or no id): run the statement
    Run,
    /// do not run it: answer this instead (`execute` of a request that is not approved)
    Hold(Value),
    /// run it once the person behind the client confirms this question (where it can ask);
    /// the answer if they do not
    Confirm(String, Value),
}

/// Before the tool's statement: `execute` of a request that is not approved does not run; an
/// approved one, and a rollback, are confirmed first where the client can ask.
pub async fn before(
    tool: &Tool,
    args: &Map<String, Value>,
    client: &Client,
) -> Result<Before, tokio_postgres::Error> {
    match (tool.name, id(args, "request"), id(args, "execution")) {
        ("execute", Some(request), _) => {
            let status = status(client, request).await?;
            let state = status["state"].as_str().unwrap_or_default().to_string();
            if state == "approved" {
                return Ok(Before::Confirm(
                    format!(
                        "Run request {request} now? {} (risk {}, {} rows by its impact analysis)",
                        status["statement"].as_str().unwrap_or_default(),
                        status["risk_level"].as_str().unwrap_or("?"),
                        status["rows_touched"]
                    ),
                    json!({"request": request, "state": state, "executed": false}),
                ));
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
            Ok(Before::Hold(json!({
                "request": request,
                "state": state,
                "executed": false,
                "why": why
            })))
        }
        ("rollback", _, Some(execution)) => Ok(Before::Confirm(
            format!(
                "Roll back execution {execution} now? The rows it changed are restored from its backup."
            ),
            json!({"execution": execution, "rolled_back": false}),
        )),
        _ => Ok(Before::Run),
    }
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
