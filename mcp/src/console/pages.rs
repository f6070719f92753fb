//! The console's pages. Every database call is one `ai.*` function with bound parameters, on
//! the signed-in person's own connection; whatever the database refuses is shown with its
//! reason.
use super::html::{self, esc, page};
use super::session::{self, Session};
use super::App;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

type Form = axum::Form<HashMap<String, String>>;

/// The signed-in person of a request.
struct Who {
    id: String,
    user: String,
    csrf: String,
    chat: String,
    client: Arc<Client>,
}

fn who(app: &App, headers: &HeaderMap) -> Option<Who> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let id = session::cookie(cookies, session::COOKIE)?.to_string();
    let mut s = app.sessions.lock().ok()?;
    let sess = s.get(&id, Instant::now())?;
    Some(Who {
        id,
        user: sess.user.clone(),
        csrf: sess.csrf.clone(),
        chat: sess.chat.clone(),
        client: sess.client.clone(),
    })
}

fn to(path: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, path.to_string())],
    )
        .into_response()
}

fn html_page(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn signed_in(w: &Who, title: &str, body: &str) -> Response {
    html_page(StatusCode::OK, page(title, Some((&w.user, &w.csrf)), body))
}

/// The signed-in person of a form's POST, when its CSRF token is the session's.
fn checked(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Who, Response> {
    let Some(w) = who(app, headers) else {
        return Err(to("/login"));
    };
    match form.get("csrf") {
        Some(t) if session::same(t, &w.csrf) => Ok(w),
        _ => Err(html_page(
            StatusCode::FORBIDDEN,
            page(
                "Refused",
                None,
                "<p class=\"error\" data-test=\"csrf-refused\">This form did not come from this console (its CSRF token is missing or wrong); nothing was done.</p>",
            ),
        )),
    }
}

/// The database's refusal as HTML: its message, and its hint when there is one.
fn refusal(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!(
            "<div class=\"error\" data-test=\"error\"><p>{}</p>{}</div>",
            esc(d.message()),
            d.hint()
                .map(|h| format!("<p>{}</p>", esc(h)))
                .unwrap_or_default()
        ),
        None => format!(
            "<div class=\"error\" data-test=\"error\"><p>{}</p></div>",
            esc(&e.to_string())
        ),
    }
}

async fn one_json(
    c: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Value, tokio_postgres::Error> {
    let row = c.query_one(sql, params).await?;
    let s: Option<String> = row.get(0);
    Ok(s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null))
}

pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css")], html::CSS).into_response()
}

pub async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match who(&app, &headers) {
        Some(_) => to("/ask"),
        None => to("/login"),
    }
}

// ---- login ----

fn login_page(status: StatusCode, token: &str, error: Option<&str>, secure: bool) -> Response {
    let body = format!(
        "{}<form method=\"post\" action=\"/login\" class=\"box\">\
         <input type=\"hidden\" name=\"login_token\" value=\"{}\">\
         <p><label>PostgreSQL role <input name=\"user\" data-test=\"user\" autocomplete=\"username\" required></label></p>\
         <p><label>Password <input name=\"password\" type=\"password\" data-test=\"password\" autocomplete=\"current-password\" required></label></p>\
         <p><button data-test=\"login\">Log in</button></p></form>\
         <p>You log in as your own PostgreSQL role: every page shows what that role may see and do.</p>",
        error
            .map(|e| format!("<p class=\"error\" data-test=\"login-error\">{}</p>", esc(e)))
            .unwrap_or_default(),
        esc(token)
    );
    let mut res = html_page(status, page("Log in", None, &body));
    if let Ok(v) = session::set_cookie(
        session::LOGIN_COOKIE,
        token,
        secure,
        Some(std::time::Duration::from_secs(3600)),
    )
    .parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn login_form(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if who(&app, &headers).is_some() {
        return to("/ask");
    }
    login_page(StatusCode::OK, &session::token(), None, app.secure)
}

pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let now = Instant::now();
    let fresh = session::token();
    // the login form's own token, sent back as a cookie and a field (double submit)
    let sent = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| session::cookie(c, session::LOGIN_COOKIE))
        .unwrap_or("");
    let field = form.get("login_token").map(String::as_str).unwrap_or("x");
    if sent.is_empty() || !session::same(sent, field) {
        return login_page(
            StatusCode::FORBIDDEN,
            &fresh,
            Some("This form did not come from this console; log in again."),
            app.secure,
        );
    }
    if !app
        .sessions
        .lock()
        .map(|mut s| s.may_try(peer.ip(), now))
        .unwrap_or(false)
    {
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &fresh,
            Some("Too many failed logins from this address: wait a minute."),
            app.secure,
        );
    }
    let user = form.get("user").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let mut cfg = app.base.clone();
    cfg.user(&user).password(password.as_bytes());
    let connected = if user.is_empty() {
        None
    } else {
        cfg.connect(app.tls.clone()).await.ok()
    };
    let Some((client, conn)) = connected else {
        if let Ok(mut s) = app.sessions.lock() {
            s.failed(peer.ip(), now);
        }
        // the same words whatever was wrong: no telling which roles exist
        return login_page(
            StatusCode::UNAUTHORIZED,
            &fresh,
            Some("The database refused this role and password."),
            app.secure,
        );
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let id = session::token();
    let sess = Session {
        user: user.clone(),
        client: Arc::new(client),
        csrf: session::token(),
        last: now,
        chat: format!("console-{}", &session::token()[..16]),
        turns: Vec::new(),
    };
    if let Ok(mut s) = app.sessions.lock() {
        s.insert(id.clone(), sess);
    }
    let mut res = to("/ask");
    for c in [
        session::set_cookie(session::COOKIE, &id, app.secure, Some(session::IDLE)),
        session::set_cookie(session::LOGIN_COOKIE, "", app.secure, None),
    ] {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if let Ok(mut s) = app.sessions.lock() {
        s.remove(&w.id);
    }
    let mut res = to("/login");
    if let Ok(v) = session::set_cookie(session::COOKIE, "", app.secure, None).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---- ask ----

fn turn_html(question: &str, v: &Value, csrf: &str) -> String {
    let r = &v["result"];
    let mut s = format!(
        "<section class=\"turn\"><p><b>Q:</b> {}</p><p data-test=\"reply\">{}</p>",
        esc(question),
        esc(v["answer"].as_str().unwrap_or(""))
    );
    if let Some(sql) = r["sql"].as_str() {
        s.push_str(&format!("<pre data-test=\"sql\">{}</pre>", esc(sql)));
    }
    if let Some(e) = r["explanation"].as_str() {
        s.push_str(&format!("<p>{}</p>", esc(e)));
    }
    let columns: Vec<String> = r["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    match r["rows"].as_array() {
        Some(rows) if r["error"].is_null() => {
            s.push_str(&html::table("answer", &columns, rows));
            if r["truncated"] == Value::Bool(true) {
                s.push_str("<p>More rows existed: the first ones are shown.</p>");
            }
            if let Some(svg) = html::chart(&columns, rows) {
                s.push_str(&svg);
            }
        }
        _ => {
            let mut why = String::new();
            for k in ["error", "hint"] {
                if let Some(t) = r[k].as_str() {
                    why.push_str(&format!("<p>{}</p>", esc(t)));
                }
            }
            for k in ["unexplained", "not_understood"] {
                if let Some(words) = r[k].as_array().filter(|a| !a.is_empty()) {
                    let w: Vec<String> = words.iter().map(html::cell).collect();
                    why.push_str(&format!(
                        "<p>Words not understood: <span data-test=\"unexplained\">{}</span></p>",
                        esc(&w.join(", "))
                    ));
                }
            }
            if !why.is_empty() || r["sql"].is_null() {
                s.push_str(&format!(
                    "<div class=\"refused\" data-test=\"refused\">{why}</div>"
                ));
            }
        }
    }
    if let Some(u) = v["usage_id"].as_i64() {
        s.push_str(&format!(
            "<form method=\"post\" action=\"/feedback\" class=\"inline\">{}<input type=\"hidden\" name=\"usage_id\" value=\"{u}\">\
             <button name=\"rating\" value=\"5\" data-test=\"feedback-good\">Right</button> \
             <button name=\"rating\" value=\"1\" data-test=\"feedback-bad\">Wrong</button></form>",
            html::csrf_field(csrf)
        ));
    }
    s.push_str("</section>");
    s
}

fn ask_html(w: &Who, turns: &[(String, Value)], note: &str) -> String {
    let mut s = format!(
        "{note}<form method=\"post\" action=\"/ask\" class=\"box\">{}\
         <p><textarea name=\"question\" data-test=\"question\" placeholder=\"Ask about the data in plain words\" required></textarea></p>\
         <p><button data-test=\"send\">Ask</button></p></form>",
        html::csrf_field(&w.csrf)
    );
    for (q, v) in turns.iter().rev() {
        s.push_str(&turn_html(q, v, &w.csrf));
    }
    s
}

fn turns_of(app: &App, id: &str) -> Vec<(String, Value)> {
    app.sessions
        .lock()
        .ok()
        .and_then(|mut s| s.get(id, Instant::now()).map(|x| x.turns.clone()))
        .unwrap_or_default()
}

pub async fn ask_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    let turns = turns_of(&app, &w.id);
    signed_in(&w, "Ask", &ask_html(&w, &turns, ""))
}

pub async fn ask(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = form.get("question").cloned().unwrap_or_default();
    let note = match one_json(&w.client, "SELECT ai.chat($1, $2)::text", &[&w.chat, &q]).await {
        Ok(v) => {
            if let Ok(mut s) = app.sessions.lock() {
                if let Some(sess) = s.get(&w.id, Instant::now()) {
                    sess.turns.push((q, v));
                    let n = sess.turns.len();
                    if n > 20 {
                        sess.turns.drain(..n - 20);
                    }
                }
            }
            String::new()
        }
        Err(e) => refusal(&e),
    };
    let turns = turns_of(&app, &w.id);
    signed_in(&w, "Ask", &ask_html(&w, &turns, &note))
}

pub async fn feedback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let usage: i64 = form
        .get("usage_id")
        .and_then(|u| u.parse().ok())
        .unwrap_or(0);
    let rating: i32 = form.get("rating").and_then(|r| r.parse().ok()).unwrap_or(0);
    let correct = rating >= 4;
    let note = match w
        .client
        .query_one(
            "SELECT ai.feedback($1, $2, $3)",
            &[&usage, &rating, &correct],
        )
        .await
    {
        Ok(_) => {
            "<p class=\"ok\" data-test=\"feedback-saved\">Thank you: your rating is recorded.</p>"
                .to_string()
        }
        Err(e) => refusal(&e),
    };
    let turns = turns_of(&app, &w.id);
    signed_in(&w, "Ask", &ask_html(&w, &turns, &note))
}

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

// ---- advice ----

pub async fn advice(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    signed_in(&w, "Advice", &advice_html(&w, "").await)
}

async fn advice_html(w: &Who, note: &str) -> String {
    let mut s = format!(
        "{note}<form method=\"post\" action=\"/advice/file\" class=\"box\">{}<input type=\"hidden\" name=\"all\" value=\"1\">\
         <button data-test=\"file-all\">File all advice as requests</button> (nothing runs before its approvals)</form>",
        html::csrf_field(&w.csrf)
    );
    let sections: [(&str, &str, &str); 3] = [
        ("Index advice", "index-advice", "SELECT table_name, index_sql, coalesce(round(cost_reduction_pct::numeric, 1)::text || '% less cost: ', '') || coalesce(reason, '') FROM ai.suggest_indexes()"),
        ("Insights", "insights", "SELECT object, remediation_sql, severity || ': ' || finding FROM ai.insights()"),
        ("Schema lint", "lint", "SELECT object, fix_sql, severity || ': ' || message FROM ai.lint_schema()"),
    ];
    for (title, test, sql) in sections {
        s.push_str(&format!("<h2>{title}</h2>"));
        match w.client.query(sql, &[]).await {
            Ok(rows) if rows.is_empty() => s.push_str("<p>Nothing to advise.</p>"),
            Ok(rows) => {
                s.push_str(&format!(
                    "<table data-test=\"{test}\"><thead><tr><th>object</th><th>finding</th><th>statement</th><th></th></tr></thead><tbody>"
                ));
                for r in rows {
                    let object: Option<String> = r.get(0);
                    let stmt: Option<String> = r.get(1);
                    let finding: Option<String> = r.get(2);
                    let file = match &stmt {
                        Some(st) => format!(
                            "<form method=\"post\" action=\"/advice/file\" class=\"inline\">{}<input type=\"hidden\" name=\"statement\" value=\"{}\"><button data-test=\"file-advice\">File as request</button></form>",
                            html::csrf_field(&w.csrf),
                            esc(st)
                        ),
                        None => String::new(),
                    };
                    s.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{file}</td></tr>",
                        esc(object.as_deref().unwrap_or("")),
                        esc(finding.as_deref().unwrap_or("")),
                        esc(stmt.as_deref().unwrap_or(""))
                    ));
                }
                s.push_str("</tbody></table>");
            }
            Err(e) => s.push_str(&refusal(&e)),
        }
    }
    s.push_str("<h2>Diagram</h2><p><img src=\"/advice/erd.svg\" alt=\"entity-relationship diagram of the schema\" data-test=\"erd\"></p>");
    s
}

pub async fn file_advice(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if form.contains_key("all") {
        return match w
            .client
            .query(
                "SELECT request FROM ai.apply_advice() WHERE request IS NOT NULL",
                &[],
            )
            .await
        {
            Ok(_) => to("/approvals"),
            Err(e) => signed_in(&w, "Advice", &advice_html(&w, &refusal(&e)).await),
        };
    }
    let stmt = form.get("statement").cloned().unwrap_or_default();
    match w
        .client
        .query_one(
            "SELECT ai.request($1, 'filed from the console''s advice')",
            &[&stmt],
        )
        .await
    {
        Ok(r) => to(&format!("/approvals/{}", r.get::<_, i64>(0))),
        Err(e) => signed_in(&w, "Advice", &advice_html(&w, &refusal(&e)).await),
    }
}

/// The schema diagram, drawn by Graphviz (`dot`) on the server, served as an image: an SVG
/// shown through `<img>` runs no script.
pub async fn erd_svg(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    let dot: String = match w.client.query_one("SELECT ai.erd(NULL, 'dot')", &[]).await {
        Ok(r) => r.get(0),
        Err(e) => return (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    };
    let run = async {
        let mut child = tokio::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        use tokio::io::AsyncWriteExt;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(dot.as_bytes()).await?;
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(20), run).await {
        Ok(Ok(out)) if out.status.success() => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            out.stdout,
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the diagram could not be drawn: Graphviz (dot) is not installed here or did not finish",
        )
            .into_response(),
    }
}
