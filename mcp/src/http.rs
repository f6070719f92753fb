//! Streamable HTTP at /mcp, on TCP or on a unix socket. On TCP every request must carry
//! `Authorization: Bearer <token>`, loopback included (every local process can reach it);
//! tokens are compared in constant time, and a token may name the role its calls run as or
//! a login of its own. On
//! a unix socket (created with mode 0600) the file's permissions decide, and tokens are
//! optional. A request with an `Origin` header not in --allow-origin is refused.

use crate::connection::{self, Tls};
use crate::options::{Listen, Options, Token};
use crate::server::Architect;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

/// Who a request is from: the role its token names, or the login it has of its own (neither:
/// the server's connection as configured). Put into the request's extensions by
/// [`check_token`]; the tool call reads it from there.
#[derive(Clone)]
pub struct Identity {
    pub role: Option<String>,
    pub login: Option<Login>,
}

/// A token's own login: its connection settings, ready to connect.
#[derive(Clone)]
pub struct Login {
    pub pg: tokio_postgres::Config,
    pub tls: postgres_openssl::MakeTlsConnector,
}

/// A token the server accepts, with who its calls run as.
#[derive(Clone)]
pub struct Admitted {
    secret: String,
    identity: Identity,
}

/// The tokens with their identities; a login that cannot be made into a connection is an
/// error now, not at the first call (the token's secret is never shown: its place is).
pub fn admitted(
    tokens: &[Token],
    opts: &Options,
    base: &tokio_postgres::Config,
    base_tls: &Tls,
) -> Result<Vec<Admitted>, String> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let login = match &t.login {
                None => None,
                Some(dsn) => {
                    let (pg, tls) = connection::login(opts, dsn, base, base_tls)
                        .and_then(|(pg, tls)| Ok((pg, connection::connector(&tls)?)))
                        .map_err(|e| format!("--token-file, token {}: {e}", i + 1))?;
                    Some(Login { pg, tls })
                }
            };
            Ok(Admitted {
                secret: t.secret.clone(),
                identity: Identity {
                    role: t.role.clone(),
                    login,
                },
            })
        })
        .collect()
}

pub async fn serve(
    listen: Listen,
    tokens: Vec<Admitted>,
    origins: Vec<String>,
    opts: Options,
    pg: tokio_postgres::Config,
    tls: postgres_openssl::MakeTlsConnector,
) -> Result<(), String> {
    let ct = tokio_util::sync::CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(ct.child_token())
        // browsers send Origin: only the listed ones may call (none by default)
        .with_allowed_origins(origins)
        .enforce_origin_validation();
    if !tokens.is_empty() {
        // reached by other names than loopback's: the token is the check
        config = config.disable_allowed_hosts();
    }
    let architect = Architect::new(opts, pg, tls);
    let service = StreamableHttpService::new(
        move || Ok(architect.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(middleware::from_fn_with_state(
                Arc::new(tokens),
                check_token,
            ));
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        ct.cancel();
    };
    match listen {
        Listen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("--http {addr}: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            eprintln!("ai-architect-mcp: serving MCP at http://{bound}/mcp");
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| e.to_string())
        }
        Listen::Unix(path) => {
            let shown = path.display().to_string();
            if path.exists() {
                return Err(format!(
                    "--http unix:{shown}: the file exists (another server's socket? remove it first)"
                ));
            }
            // created with mode 0600 (owner only): the umask is set around the bind
            // SAFETY: umask only changes this process's file-creation mask.
            let old = unsafe { libc_umask(0o177) };
            let bound = tokio::net::UnixListener::bind(&path);
            unsafe { libc_umask(old) };
            let listener = bound.map_err(|e| format!("--http unix:{shown}: {e}"))?;
            eprintln!("ai-architect-mcp: serving MCP at unix:{shown} (path /mcp)");
            let r = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| e.to_string());
            let _ = std::fs::remove_file(&path);
            r
        }
    }
}

extern "C" {
    #[link_name = "umask"]
    fn libc_umask(mask: u32) -> u32;
}

async fn check_token(
    State(tokens): State<Arc<Vec<Admitted>>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !tokens.is_empty() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // every token is compared, so the time does not tell which one matched
        let mut found: Option<&Admitted> = None;
        for t in tokens.iter() {
            if same(given.as_bytes(), t.secret.as_bytes()) {
                found = Some(t);
            }
        }
        let Some(t) = found else {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid bearer token is required\n",
            )
                .into_response();
        };
        request.extensions_mut().insert(t.identity.clone());
    }
    next.run(request).await
}

/// Equal, in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!super::same(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!super::same(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!super::same(b"", b"x"));
    }
}
