//! The web console: pages for the people ai_architect exists for — a business user who asks
//! questions, an approver who reviews a risky change, a DBA who reads the audit and the week's
//! advice. Each person logs in as a PostgreSQL role with that role's own password; every page
//! runs as that role on that person's own connection, so it shows what the role may see and
//! do, because the database decides. Server-rendered HTML, no script (the
//! Content-Security-Policy allows none), CSRF tokens on every form, no SQL built from form
//! input (every value is a bound parameter of an `ai.*` call).
mod advice;
mod approvals;
mod ask;
mod audit;
mod html;
mod login;
mod session;
mod web;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use session::Sessions;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub struct App {
    /// host, port, database and TLS of every login; the user and password are the person's
    pub base: tokio_postgres::Config,
    pub tls: postgres_openssl::MakeTlsConnector,
    pub sessions: Mutex<Sessions>,
    /// the Host header values a request may carry (DNS rebinding)
    pub hosts: Vec<String>,
    pub secure: bool,
}

pub async fn serve(
    listen: SocketAddr,
    cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    base: tokio_postgres::Config,
    tls: postgres_openssl::MakeTlsConnector,
) -> Result<(), String> {
    let acceptor = match &cert {
        Some((c, k)) => Some(tls_acceptor(c, k)?),
        None => None,
    };
    let mut hosts = vec![listen.to_string()];
    if listen.ip().is_loopback() {
        hosts.push(format!("localhost:{}", listen.port()));
        hosts.push(format!("127.0.0.1:{}", listen.port()));
    }
    let app = Arc::new(App {
        base,
        tls,
        sessions: Mutex::new(Sessions::default()),
        hosts,
        secure: acceptor.is_some(),
    });
    {
        // idle sessions end (and their connections close) even when nobody comes back
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                if let Ok(mut s) = app.sessions.lock() {
                    s.sweep(std::time::Instant::now());
                }
            }
        });
    }
    let router = axum::Router::new()
        .route("/", get(web::home))
        .route("/console.css", get(web::css))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/ask", get(ask::ask_page).post(ask::ask))
        .route("/feedback", post(ask::feedback))
        .route("/approvals", get(approvals::approvals))
        .route("/approvals/new", post(approvals::new_request))
        .route("/approvals/{id}", get(approvals::request_page))
        .route("/approvals/{id}/{action}", post(approvals::decide))
        .route("/audit", get(audit::audit))
        .route("/advice", get(advice::advice))
        .route("/advice/file", post(advice::file_advice))
        .route("/advice/erd.svg", get(advice::erd_svg))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("--console {listen}: {e}"))?;
    if let Some(acceptor) = acceptor {
        eprintln!("ai-architect-mcp: console on https://{listen}/");
        return serve_tls(listener, acceptor, router).await;
    }
    eprintln!("ai-architect-mcp: console on http://{listen}/");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| format!("--console {listen}: {e}"))
}

/// Every request: its Host must be the console's own (a DNS-rebinding page cannot reach it)
/// and an Origin, when sent, this very origin; every response carries the security headers.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !app.hosts.iter().any(|h| *h == host) {
        return (StatusCode::FORBIDDEN, "unknown Host").into_response();
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let scheme = if app.secure { "https" } else { "http" };
        if origin.to_str().ok() != Some(&format!("{scheme}://{host}")) {
            return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the
    // console's own form posts
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The TLS side of the console: the certificate chain and key (PEM), checked now.
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<openssl::ssl::SslAcceptor, String> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut b =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(|e| format!("TLS: {e}"))?;
    b.set_certificate_chain_file(cert)
        .map_err(|e| format!("--cert {}: {e}", cert.display()))?;
    b.set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| format!("--key {}: {e}", key.display()))?;
    b.check_private_key()
        .map_err(|e| format!("--cert and --key do not belong together: {e}"))?;
    Ok(b.build())
}

/// Serves the router over TLS: one handshake per connection, then HTTP/1.1.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: openssl::ssl::SslAcceptor,
    router: axum::Router,
) -> Result<(), String> {
    let acceptor = Arc::new(acceptor);
    loop {
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => a.map_err(|e| format!("--console: {e}"))?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        tokio::spawn(async move {
            let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                return;
            };
            let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else {
                return;
            };
            if std::pin::Pin::new(&mut stream).accept().await.is_err() {
                return;
            }
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
