//! The command line: what the server serves, to whom, and over which transport.

use crate::tools::Set;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

pub const USAGE: &str = "\
ai-architect-mcp: ai_architect's tools for AI agents, over the Model Context Protocol

usage: ai-architect-mcp [--dsn DSN] [--tools SETS] [--read-only]
                        [--http [ADDR:]PORT [--token-file FILE]] [--max-rows N]

  --dsn DSN          the PostgreSQL connection (a libpq key=value string or a URL);
                     without it the PG* environment variables (PGHOST, PGPORT, PGUSER,
                     PGDATABASE, PGPASSWORD) name it. Every tool runs as that role.
  --tools SETS       comma-separated: database, impact, approval, monitor (default: all)
  --read-only        hide every tool that writes; the connection opens with
                     default_transaction_read_only = on
  --http [ADDR:]PORT serve streamable HTTP at http://ADDR:PORT/mcp instead of stdio
                     (a port alone: on 127.0.0.1); an address other than loopback needs
                     --token-file
  --token-file FILE  a bearer token (the file's first line) every HTTP request must carry
  --max-rows N       rows a tool returns at most (default 100, as ai.ask); bytes are capped
                     by the server's ai_architect.ask_max_bytes
  --help             this text
";

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Stdio,
    Http {
        addr: SocketAddr,
        token: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub dsn: Option<String>,
    pub sets: Vec<Set>,
    pub read_only: bool,
    pub transport: Transport,
    pub max_rows: usize,
}

/// What the command line asks for, or why it cannot be served. `read_file` reads the token
/// file (a parameter, so that the rules are tested without files).
pub fn parse(
    args: &[String],
    read_file: impl Fn(&PathBuf) -> std::io::Result<String>,
) -> Result<Option<Options>, String> {
    let mut dsn = None;
    let mut sets = Set::ALL.to_vec();
    let mut read_only = false;
    let mut http: Option<SocketAddr> = None;
    let mut token_file: Option<PathBuf> = None;
    let mut max_rows = 100usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value (see --help)"))
        };
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--dsn" => dsn = Some(value("--dsn")?),
            "--tools" => sets = parse_sets(&value("--tools")?)?,
            "--read-only" => read_only = true,
            "--http" => {
                let v = value("--http")?;
                // a port alone is served on loopback
                let addr = match v.parse::<u16>() {
                    Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
                    Err(_) => v.parse::<SocketAddr>(),
                };
                http = Some(addr.map_err(|_| {
                    format!("--http {v}: not a port or an address and port (for example 8808 or 127.0.0.1:8808)")
                })?)
            }
            "--token-file" => token_file = Some(PathBuf::from(value("--token-file")?)),
            "--max-rows" => {
                let v = value("--max-rows")?;
                max_rows = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| format!("--max-rows {v}: a number from 1 to 10000"))?
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let transport = match http {
        None => {
            if token_file.is_some() {
                return Err("--token-file is for --http; stdio has no requests to check".into());
            }
            Transport::Stdio
        }
        Some(addr) => {
            let token = match &token_file {
                None => None,
                Some(f) => {
                    let text =
                        read_file(f).map_err(|e| format!("--token-file {}: {e}", f.display()))?;
                    let t = text.lines().next().unwrap_or("").trim().to_string();
                    if t.len() < 16 {
                        return Err(format!(
                            "--token-file {}: the token must be at least 16 characters",
                            f.display()
                        ));
                    }
                    Some(t)
                }
            };
            if token.is_none() && !is_loopback(addr.ip()) {
                return Err(format!(
                    "--http {addr}: binding to an address other than loopback needs --token-file"
                ));
            }
            Transport::Http { addr, token }
        }
    };
    Ok(Some(Options {
        dsn,
        sets,
        read_only,
        transport,
        max_rows,
    }))
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn parse_sets(v: &str) -> Result<Vec<Set>, String> {
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let set = Set::ALL
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                format!("--tools: unknown tool set {name:?} (database, impact, approval, monitor)")
            })?;
        if !out.contains(&set) {
            out.push(set);
        }
    }
    if out.is_empty() {
        return Err(
            "--tools: name at least one tool set (database, impact, approval, monitor)".into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }
    fn no_file(_: &PathBuf) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ))
    }
    fn token(_: &PathBuf) -> std::io::Result<String> {
        Ok("0123456789abcdef0123\nignored\n".into())
    }

    #[test]
    fn defaults_are_stdio_with_every_set() {
        let o = parse(&[], no_file).unwrap().unwrap();
        assert_eq!(o.transport, Transport::Stdio);
        assert_eq!(o.sets, Set::ALL.to_vec());
        assert!(!o.read_only);
        assert_eq!(o.max_rows, 100);
    }

    #[test]
    fn tool_sets_are_checked() {
        let o = parse(&args("--tools impact,monitor,impact"), no_file)
            .unwrap()
            .unwrap();
        assert_eq!(o.sets, vec![Set::Impact, Set::Monitor]);
        assert!(parse(&args("--tools impact,shell"), no_file)
            .unwrap_err()
            .contains("\"shell\""));
        assert!(parse(&args("--tools ,"), no_file).is_err());
        assert!(parse(&args("--tools"), no_file)
            .unwrap_err()
            .contains("needs a value"));
    }

    #[test]
    fn http_beyond_loopback_needs_a_token() {
        let o = parse(&args("--http 127.0.0.1:8808"), no_file)
            .unwrap()
            .unwrap();
        assert!(matches!(o.transport, Transport::Http { token: None, .. }));
        let o = parse(&args("--http 8808"), no_file).unwrap().unwrap();
        assert_eq!(
            o.transport,
            Transport::Http {
                addr: "127.0.0.1:8808".parse().unwrap(),
                token: None
            }
        );
        let e = parse(&args("--http 0.0.0.0:8808"), no_file).unwrap_err();
        assert!(e.contains("needs --token-file"), "{e}");
        let o = parse(&args("--http 0.0.0.0:8808 --token-file t"), token)
            .unwrap()
            .unwrap();
        assert_eq!(
            o.transport,
            Transport::Http {
                addr: "0.0.0.0:8808".parse().unwrap(),
                token: Some("0123456789abcdef0123".into())
            }
        );
        assert!(parse(&args("--http 0.0.0.0:8808 --token-file t"), no_file)
            .unwrap_err()
            .contains("no such file"));
        let short = |_: &PathBuf| Ok::<_, std::io::Error>("abc".to_string());
        assert!(parse(&args("--http [::1]:8808 --token-file t"), short)
            .unwrap_err()
            .contains("16"));
        assert!(parse(&args("--token-file t"), token)
            .unwrap_err()
            .contains("stdio"));
        assert!(parse(&args("--http localhost"), no_file).is_err());
    }

    #[test]
    fn numbers_and_unknown_flags() {
        assert_eq!(
            parse(&args("--max-rows 5"), no_file)
                .unwrap()
                .unwrap()
                .max_rows,
            5
        );
        assert!(parse(&args("--max-rows 0"), no_file).is_err());
        assert!(parse(&args("--max-rows x"), no_file).is_err());
        assert!(parse(&args("--readonly"), no_file)
            .unwrap_err()
            .contains("unknown argument"));
        assert_eq!(parse(&args("--help"), no_file).unwrap(), None);
    }
}
