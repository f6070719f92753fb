//! Logging in with a PostgreSQL role and its own password, and out.
use super::html::{esc, page};
use super::session::{self, Session};
use super::web::*;
use super::App;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

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
