//! ai-architect-mcp: ai_architect's database, impact, approval and monitoring tools for AI
//! agents, over the Model Context Protocol (stdio, or streamable HTTP). The server holds no
//! rights of its own: every call runs on a connection as the configured role.

mod confirm;
mod connection;
mod console;
mod held;
mod http;
mod options;
mod output;
mod schemas;
mod server;
mod tools;

use options::{Options, Transport};
use rmcp::ServiceExt;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match options::parse(&args, |p| std::fs::read_to_string(p)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{}", options::USAGE);
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ai-architect-mcp: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let ready = connection::config(&opts, |k| std::env::var(k).ok()).and_then(|(pg, tls)| {
        let admitted = match &opts.transport {
            Transport::Http { tokens, .. } => http::admitted(tokens, &opts, &pg, &tls)?,
            Transport::Stdio | Transport::Console { .. } => Vec::new(),
        };
        Ok((pg, connection::connector(&tls)?, admitted))
    });
    let (pg, tls, admitted) = match ready {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ai-architect-mcp: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(opts, pg, tls, admitted)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ai-architect-mcp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(
    opts: Options,
    pg: tokio_postgres::Config,
    tls: postgres_openssl::MakeTlsConnector,
    admitted: Vec<http::Admitted>,
) -> Result<(), String> {
    match opts.transport.clone() {
        Transport::Stdio => {
            let service = server::Architect::new(opts, pg, tls)
                .serve(rmcp::transport::stdio())
                .await
                .map_err(|e| format!("stdio: {e}"))?;
            service.waiting().await.map_err(|e| format!("stdio: {e}"))?;
            Ok(())
        }
        Transport::Http {
            listen, origins, ..
        } => http::serve(listen, admitted, origins, opts, pg, tls).await,
        Transport::Console { listen, cert } => console::serve(listen, cert, pg, tls).await,
    }
}
