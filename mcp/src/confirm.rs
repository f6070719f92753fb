//! A person confirms a destructive call where the client can ask them (form elicitation): the
//! execution of an approved request, a rollback. On 2025-11-25 the server asks the client
//! (`elicitation/create`) while the call waits; on 2026-07-28, which forbids requests from the
//! server, the call answers `input_required` with the question and the client calls again with
//! the answer. A client that cannot ask anyone is not asked (the tools' destructive annotation
//! is what it has). The answer only withholds: whatever it says, the database still decides
//! whether the request may run.

use rmcp::model::{
    ElicitRequest, ElicitRequestParams, InputRequest, InputRequests, InputRequiredResult,
    InputResponses,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{json, Value};

/// The key of the question in an `input_required` result and in the answer to it.
const KEY: &str = "confirm";

/// What the person said, or that they must be asked first.
pub enum Said {
    /// go on: confirmed, or nobody can be asked
    Go,
    /// not confirmed: the answer to return instead of acting
    No(Value),
    /// 2026-07-28: return this and wait for the call again with the answer
    Ask(InputRequiredResult),
}

fn question(message: &str) -> Result<ElicitRequestParams, String> {
    serde_json::from_value(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "confirm": {"type": "boolean", "title": "Run it", "description": message, "default": false}
            },
            "required": ["confirm"]
        }
    }))
    .map_err(|e| e.to_string())
}

/// Whether the answer is a yes (accept, with confirm = true).
fn yes(answer: &Value) -> bool {
    answer["action"] == "accept" && answer["content"][KEY] == true
}

/// Asks the person behind the client to confirm `message` where the client can; `held` is
/// the answer when they do not.
pub async fn ask(
    cx: &RequestContext<RoleServer>,
    responses: Option<&InputResponses>,
    message: &str,
    held: Value,
) -> Said {
    let can_ask = cx
        .client_capabilities()
        .and_then(|c| c.elicitation)
        // an empty elicitation capability means form elicitation (the 2025-06-18 wire form)
        .is_some_and(|e| e.form.is_some() || e.url.is_none());
    if !can_ask {
        return Said::Go;
    }
    let params = match question(message) {
        Ok(p) => p,
        Err(e) => {
            return Said::No(json!({"why": format!("the confirmation could not be asked: {e}")}))
        }
    };
    let modern = cx.protocol_version().is_some_and(|v| !v.has_initialize());
    let answer: Value = if modern {
        match responses.and_then(|r| r.get(KEY)) {
            Some(a) => a.clone(),
            None => {
                let mut requests = InputRequests::new();
                requests.insert(
                    KEY.into(),
                    InputRequest::Elicitation(ElicitRequest::new(params)),
                );
                return Said::Ask(InputRequiredResult::new(Some(requests), Some(KEY.into())));
            }
        }
    } else {
        match cx.peer.create_elicitation(params).await {
            Ok(r) => serde_json::to_value(r).unwrap_or(Value::Null),
            Err(e) => json!({"action": "cancel", "error": e.to_string()}),
        }
    };
    if yes(&answer) {
        Said::Go
    } else {
        let mut held = held;
        held["why"] = json!(format!(
            "not confirmed by the user ({}); nothing ran",
            answer["action"].as_str().unwrap_or("no answer")
        ));
        Said::No(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_true_is_a_yes() {
        assert!(yes(
            &json!({"action": "accept", "content": {"confirm": true}})
        ));
        assert!(!yes(
            &json!({"action": "accept", "content": {"confirm": false}})
        ));
        assert!(!yes(
            &json!({"action": "accept", "content": {"confirm": "true"}})
        ));
        assert!(!yes(&json!({"action": "decline"})));
        assert!(!yes(
            &json!({"action": "cancel", "content": {"confirm": true}})
        ));
        assert!(question("Run request 7?").is_ok());
    }
}
