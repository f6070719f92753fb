//! Approvals: the queue, a request with its impact, and the decisions the database allows.
use super::html::{self, esc, page};
use super::web::*;
use super::App;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

// ---- approvals ----

pub async fn approvals(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    signed_in(&w, "Approvals", &approvals_html(&w, "").await)
}

async fn approvals_html(w: &Who, note: &str) -> String {
    let mut s = format!(
        "{note}<form method=\"post\" action=\"/approvals/new\" class=\"box\">{}\
         <p><textarea name=\"sql\" data-test=\"request-sql\" placeholder=\"A change to have approved (INSERT, UPDATE, DELETE, DDL, …)\" required></textarea></p>\
         <p><input name=\"reason\" data-test=\"request-reason\" placeholder=\"why\"> <button data-test=\"file-request\">Request approval</button></p></form>",
        html::csrf_field(&w.csrf)
    );
    match w
        .client
        .query(
            "SELECT id, state, risk_level, requester::text, approvals, required, statement FROM ai.requests()",
            &[],
        )
        .await
    {
        Ok(rows) => {
            s.push_str("<table data-test=\"requests\"><thead><tr><th>id</th><th>state</th><th>risk</th><th>requester</th><th>approvals</th><th>statement</th></tr></thead><tbody>");
            for r in rows {
                let id: i64 = r.get(0);
                let st: String = r.get(1);
                let risk: String = r.get(2);
                let by: String = r.get(3);
                let n: i64 = r.get(4);
                let need: i32 = r.get(5);
                let stmt: String = r.get(6);
                s.push_str(&format!(
                    "<tr data-test=\"request-{id}\"><td><a href=\"/approvals/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{n} of {need}</td><td><code>{}</code></td></tr>",
                    esc(&st), esc(&risk), esc(&by), esc(&stmt)
                ));
            }
            s.push_str("</tbody></table>");
        }
        Err(e) => s.push_str(&refusal(&e)),
    }
    s
}

pub async fn new_request(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let sql = form.get("sql").cloned().unwrap_or_default();
    let reason = form.get("reason").cloned().filter(|r| !r.is_empty());
    match w
        .client
        .query_one("SELECT ai.request($1, $2)", &[&sql, &reason])
        .await
    {
        Ok(r) => to(&format!("/approvals/{}", r.get::<_, i64>(0))),
        Err(e) => signed_in(&w, "Approvals", &approvals_html(&w, &refusal(&e)).await),
    }
}

pub async fn request_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    let body = request_html(&w, id, "").await;
    signed_in(&w, &format!("Request {id}"), &body)
}

async fn request_html(w: &Who, id: i64, note: &str) -> String {
    let st = match one_json(&w.client, "SELECT ai.request_status($1)::text", &[&id]).await {
        Ok(v) => v,
        Err(e) => return format!("{note}{}", refusal(&e)),
    };
    let state = st["state"].as_str().unwrap_or("");
    let requester = st["requester"].as_str().unwrap_or("");
    let statement = st["statement"].as_str().unwrap_or("");
    let mut s = format!(
        "{note}<p>State: <b data-test=\"state\">{}</b> · risk <b data-test=\"risk\">{}</b> · requested by <b>{}</b> · {} of {} approvals</p>\
         <pre data-test=\"statement\">{}</pre>",
        esc(state),
        esc(st["risk_level"].as_str().unwrap_or("")),
        esc(requester),
        st["decisions"].as_array().map(|d| d.iter().filter(|x| x["decision"] == "approve").count()).unwrap_or(0),
        st["required_approvals"],
        esc(statement)
    );
    if let Some(reason) = st["reason"].as_str() {
        s.push_str(&format!("<p>Reason: {}</p>", esc(reason)));
    }
    // the impact as the viewer's rights read it now: rows per table, cascade tree, locks,
    // risk, rollback plan
    match w
        .client
        .query_one("SELECT ai.impact_report($1)", &[&statement])
        .await
    {
        Ok(r) => s.push_str(&format!(
            "<h2>Impact</h2><pre data-test=\"impact\">{}</pre>",
            esc(&r.get::<_, String>(0))
        )),
        Err(e) => s.push_str(&format!("<h2>Impact</h2>{}", refusal(&e))),
    }
    let form = |action: &str, label: &str, extra: &str| {
        format!(
            "<form method=\"post\" action=\"/approvals/{id}/{action}\" class=\"box\">{}{extra}<button data-test=\"{action}\">{label}</button></form>",
            html::csrf_field(&w.csrf)
        )
    };
    let comment = "<input name=\"comment\" data-test=\"comment\" placeholder=\"comment\"> ";
    match state {
        "pending" if requester == w.user => s.push_str(
            "<p data-test=\"own-request\">You made this request: another person approves or rejects it.</p>",
        ),
        "pending" => {
            s.push_str(&form("approve", "Approve", comment));
            s.push_str(&form("reject", "Reject", comment));
        }
        "approved" => s.push_str(&form("execute", "Execute", "")),
        "executed" => {
            if let Some(e) = st["executions"]
                .as_array()
                .and_then(|a| a.iter().rev().find(|x| x["status"] == "succeeded"))
                .and_then(|x| x["id"].as_i64())
            {
                s.push_str(&form(
                    "rollback",
                    "Roll back",
                    &format!("<input type=\"hidden\" name=\"execution\" value=\"{e}\">"),
                ));
            }
        }
        _ => {}
    }
    if let Some(ex) = st["executions"].as_array().filter(|a| !a.is_empty()) {
        s.push_str("<h2>Executions</h2><table data-test=\"executions\"><tr><th>id</th><th>status</th><th>by</th><th>rows</th><th>error</th></tr>");
        for e in ex {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e["id"],
                esc(&html::cell(&e["status"])),
                esc(&html::cell(&e["by"])),
                esc(&e["rows_by_table"].to_string()),
                esc(&html::cell(&e["error"]))
            ));
        }
        s.push_str("</table>");
    }
    s
}

pub async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let comment = form.get("comment").cloned().filter(|c| !c.is_empty());
    let done = match action.as_str() {
        "approve" => {
            w.client
                .query_one("SELECT ai.approve($1, $2)::text", &[&id, &comment])
                .await
        }
        "reject" => {
            let c = comment.unwrap_or_else(|| "rejected in the console".into());
            w.client
                .query_one("SELECT ai.reject($1, $2)::text", &[&id, &c])
                .await
        }
        "execute" => {
            w.client
                .query_one("SELECT ai.execute($1)::text", &[&id])
                .await
        }
        "rollback" => {
            let e: i64 = form
                .get("execution")
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            w.client
                .query_one("SELECT ai.rollback($1)::text", &[&e])
                .await
        }
        _ => return html_page(StatusCode::NOT_FOUND, page("Not found", None, "")),
    };
    match done {
        Ok(_) => to(&format!("/approvals/{id}")),
        Err(e) => {
            let body = request_html(&w, id, &refusal(&e)).await;
            signed_in(&w, &format!("Request {id}"), &body)
        }
    }
}
