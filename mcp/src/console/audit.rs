//! Audit: the hash chain verified, its entries filtered by action.
use super::html::{self, esc};
use super::web::*;
use super::App;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

// ---- audit ----

pub async fn audit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    let mut s = String::new();
    match one_json(&w.client, "SELECT ai.verify_audit()::text", &[]).await {
        Ok(v) if v["ok"] == Value::Bool(true) => s.push_str(&format!(
            "<p class=\"ok\" data-test=\"audit-ok\">The audit chain is intact: {} entries, each hash recomputed.</p>",
            v["entries"]
        )),
        Ok(v) => s.push_str(&format!(
            "<p class=\"error\" data-test=\"audit-broken\">The audit chain is broken at entry {}: {}</p>",
            v["first_broken"]["id"],
            esc(&html::cell(&v["first_broken"]["reason"]))
        )),
        Err(e) => s.push_str(&refusal(&e)),
    }
    let action = q.get("action").cloned().filter(|a| !a.is_empty());
    s.push_str(&format!(
        "<form method=\"get\" action=\"/audit\"><input name=\"action\" data-test=\"audit-action\" placeholder=\"action (request, approved, executed, …)\" value=\"{}\"> <button data-test=\"audit-filter\">Filter</button></form>",
        esc(action.as_deref().unwrap_or(""))
    ));
    match w
        .client
        .query(
            "SELECT id, at::text, actor, action, coalesce(object_type || ' ' || object_id, ''), details::text FROM ai.audit_entries($1, 200)",
            &[&action],
        )
        .await
    {
        Ok(rows) => {
            s.push_str("<table data-test=\"audit-entries\"><thead><tr><th>id</th><th>at</th><th>by</th><th>action</th><th>object</th><th>details</th></tr></thead><tbody>");
            for r in rows {
                s.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    r.get::<_, i64>(0),
                    esc(&r.get::<_, String>(1)),
                    esc(&r.get::<_, String>(2)),
                    esc(&r.get::<_, String>(3)),
                    esc(&r.get::<_, String>(4)),
                    esc(&r.get::<_, String>(5))
                ));
            }
            s.push_str("</tbody></table>");
        }
        Err(e) => s.push_str(&refusal(&e)),
    }
    signed_in(&w, "Audit", &s)
}
