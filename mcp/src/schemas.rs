//! What each tool's structured result looks like, as JSON Schema (`outputSchema`): the rows of
//! a tool that returns rows, the object or value of the others. Every one of them may instead
//! be the beginning of a result too large to send (`truncated`), and execute and rollback may
//! answer with the request's handle and state instead of acting (see server.rs).

use crate::tools::{Returns, Tool};
use serde_json::{json, Map, Value};

/// The object a result too large to send becomes (output::cap_value).
fn cut() -> Value {
    json!({
        "type": "object",
        "properties": {
            "truncated": {"const": true},
            "bytes": {"type": "integer", "minimum": 0},
            "beginning": {"type": "string"}
        },
        "required": ["truncated", "bytes", "beginning"]
    })
}

/// What a tool that did not act answers (execute of a request not approved, a rollback that
/// needs its own approval, a call the user did not confirm): why, and the handle to follow.
fn held() -> Value {
    json!({
        "type": "object",
        "properties": {
            "request": {"type": "integer"},
            "state": {"type": "string"},
            "executed": {"const": false},
            "rolled_back": {"const": false},
            "rollback_request": {"type": "integer"},
            "why": {"type": "string"}
        },
        "required": ["why"]
    })
}

/// The keys an object result always has, with their JSON types ("": any).
fn object(keys: &[(&str, &str)], more: &[Value]) -> Value {
    let mut props = Map::new();
    for (k, t) in keys {
        let any = t.is_empty();
        props.insert(
            (*k).into(),
            if any { json!({}) } else { json!({ "type": t }) },
        );
    }
    let required: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let mut alternatives = vec![json!({"properties": props, "required": required})];
    alternatives.extend(more.iter().cloned());
    alternatives.push(cut());
    json!({"type": "object", "anyOf": alternatives})
}

/// A result that is one value of a JSON type (on protocol versions that allow results which
/// are not objects).
fn scalar(t: &str) -> Value {
    json!({"anyOf": [{"type": t}, cut()]})
}

/// The tool's output schema.
pub fn output_schema(t: &Tool) -> Map<String, Value> {
    let v = match t.returns {
        Returns::Rows => json!({
            "type": "object",
            "properties": {
                "rows": {"type": "array", "items": {"type": "object"}},
                "row_count": {"type": "integer", "minimum": 0},
                "truncated": {"type": "boolean", "description": "more rows existed than were sent"}
            },
            "required": ["rows", "row_count", "truncated"],
            "additionalProperties": false
        }),
        Returns::Value => match t.name {
            "ask" => object(&[("source", "string")], &[]),
            "describe_table" => object(
                &[
                    ("table", "string"),
                    ("kind", "string"),
                    ("columns", "array"),
                    ("rows_estimated", "integer"),
                ],
                &[],
            ),
            "explain" => object(&[("findings", "array")], &[]),
            "impact" => object(
                &[
                    ("statement_type", "string"),
                    ("tables", "array"),
                    ("will_fail", "boolean"),
                    ("risk_level", "string"),
                ],
                &[],
            ),
            "lint" => object(
                &[("lint", "array"), ("risk", "string"), ("locks", "array")],
                &[],
            ),
            "request_status" => object(
                &[
                    ("id", "integer"),
                    ("state", "string"),
                    ("statement", "string"),
                    ("decisions", "array"),
                    ("executions", "array"),
                ],
                &[],
            ),
            "execute" => object(&[("execution", "integer"), ("status", "string")], &[held()]),
            "rollback" => object(&[("execution", "integer"), ("status", "string")], &[held()]),
            "verify_audit" => object(&[("ok", "boolean"), ("entries", "integer")], &[]),
            "run_audit" => object(&[], &[]),
            "version" => object(
                &[
                    ("extension_version", "string"),
                    ("installed_version", "string"),
                ],
                &[],
            ),
            "generate_sql" | "impact_report" | "approve" | "reject" | "cancel" => scalar("string"),
            "feedback" | "request" | "teach" => scalar("integer"),
            other => unreachable!("tool {other} has no output schema"),
        },
    };
    match v {
        Value::Object(m) => m,
        _ => unreachable!("schemas are objects"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tool has one, and each result shape it allows is an object or one JSON type.
    #[test]
    fn every_tool_has_an_output_schema() {
        for t in crate::tools::TOOLS {
            let s = output_schema(t);
            assert!(
                s.get("type").is_some() || s.get("anyOf").is_some(),
                "{}: {s:?}",
                t.name
            );
        }
    }
}
