//! What every page of the console shares: the signed-in person of a request, the CSRF check
//! of a form, redirects and pages, the database's refusals. Every database call is one `ai.*`
//! function with bound parameters, on the signed-in person's own connection; whatever the
//! database refuses is shown with its reason.
use super::html::{self, esc, page};
use super::session::{self};
use super::App;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

pub(super) type Form = axum::Form<HashMap<String, String>>;

/// The signed-in person of a request.
pub(super) struct Who {
    pub id: String,
    pub user: String,
    pub csrf: String,
    pub chat: String,
    pub client: Arc<Client>,
}

pub(super) fn who(app: &App, headers: &HeaderMap) -> Option<Who> {
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

pub(super) fn to(path: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, path.to_string())],
    )
        .into_response()
}

pub(super) fn html_page(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(super) fn signed_in(w: &Who, title: &str, body: &str) -> Response {
    html_page(StatusCode::OK, page(title, Some((&w.user, &w.csrf)), body))
}

/// The signed-in person of a form's POST, when its CSRF token is the session's.
pub(super) fn checked(
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
pub(super) fn refusal(e: &tokio_postgres::Error) -> String {
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

pub(super) async fn one_json(
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
