//! The command line: what the server serves, to whom, and over which transport.

use crate::tools::Set;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
ai-architect-mcp: ai_architect's tools for AI agents, over the Model Context Protocol

usage: ai-architect-mcp [--dsn DSN] [--tools SETS] [--read-only] [--max-rows N]
                        [--max-connections N] [--statement-timeout MS]
                        [--http [ADDR:]PORT|unix:PATH [--token-file FILE] [--allow-origin O]...]
                        [--console [ADDR:]PORT [--cert FILE --key FILE]]

  --dsn DSN          the PostgreSQL connection (a libpq key=value string or a URL);
                     without it the PG* environment variables (PGHOST, PGPORT, PGUSER,
                     PGDATABASE, PGPASSWORD, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT,
                     PGSSLKEY) name it. Every tool runs as that role (or as a token's
                     role, below). sslmode disable, prefer, require, verify-ca and
                     verify-full mean what they mean to libpq.
  --tools SETS       comma-separated: database, impact, approval, monitor (default: all)
  --read-only        hide every tool that writes; the connection opens with
                     default_transaction_read_only = on
  --http [ADDR:]PORT serve streamable HTTP at http://ADDR:PORT/mcp instead of stdio
                     (a port alone: on 127.0.0.1); needs --token-file, on loopback too
                     (every local process can reach loopback)
  --http unix:PATH   serve it on a unix socket instead, created with mode 0600: the file's
                     permissions decide who connects (--token-file optional)
  --token-file FILE  the bearer tokens a request must carry, one per line:
                     TOKEN [ROLE | LOGIN-DSN]. A token with a ROLE runs its calls as that
                     role (SET ROLE: the connection's role must be a member of it); one
                     with a DSN (key=value pairs or a URL; host, port and database default
                     to --dsn's) logs in as its own user. Separation of duties counts
                     logins: tokens sharing one login are one person. Tokens are at least
                     16 characters; keep the file readable by this server's user only.
  --console [ADDR:]PORT  serve the web console for people at http://ADDR:PORT/ (a port
                     alone: on 127.0.0.1) instead of MCP: each person logs in with a
                     PostgreSQL role and its own password, and every page runs as that
                     role. --dsn names host, port and database, never a user
  --cert FILE --key FILE  serve the console over TLS (PEM certificate chain and key)
  --allow-origin O   a browser origin (scheme://host[:port]) allowed to call; a request
                     with any other Origin header is refused (repeatable; default: none)
  --max-rows N       rows a tool returns at most (default 100, as ai.ask); bytes are capped
                     by the server's ai_architect.ask_max_bytes
  --max-connections N  PostgreSQL connections open at once (default 8); more calls wait
  --statement-timeout MS  statement_timeout of every call's connection (default 30000)
  --help             this text
";

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Stdio,
    /// the web console for people: each session logs in as a PostgreSQL role
    Console {
        listen: SocketAddr,
        /// TLS: certificate chain and key (PEM)
        cert: Option<(PathBuf, PathBuf)>,
    },
    Http {
        listen: Listen,
        /// every token a request may carry, with the role its calls run as (None: the
        /// connection's own)
        tokens: Vec<Token>,
        /// browser origins allowed (any other Origin header is refused)
        origins: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub secret: String,
    /// SET ROLE to this role on the server's own login
    pub role: Option<String>,
    /// a login of its own (a DSN; what it leaves out comes from --dsn)
    pub login: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub dsn: Option<String>,
    pub sets: Vec<Set>,
    pub read_only: bool,
    pub transport: Transport,
    pub max_rows: usize,
    pub max_connections: usize,
    pub statement_timeout_ms: u64,
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
    let mut http: Option<Listen> = None;
    let mut console: Option<SocketAddr> = None;
    let mut cert: Option<PathBuf> = None;
    let mut key: Option<PathBuf> = None;
    let mut token_file: Option<PathBuf> = None;
    let mut origins: Vec<String> = Vec::new();
    let mut max_rows = 100usize;
    let mut max_connections = 8usize;
    let mut statement_timeout_ms = 30_000u64;
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
                if let Some(path) = v.strip_prefix("unix:") {
                    if path.is_empty() {
                        return Err("--http unix:PATH: name the socket's path".into());
                    }
                    http = Some(Listen::Unix(PathBuf::from(path)));
                    continue;
                }
                // a port alone is served on loopback
                let addr = match v.parse::<u16>() {
                    Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
                    Err(_) => v.parse::<SocketAddr>(),
                };
                http = Some(Listen::Tcp(addr.map_err(|_| {
                    format!("--http {v}: not a port, an address and port, or unix:PATH (for example 8808, 127.0.0.1:8808 or unix:/run/ai-mcp.sock)")
                })?))
            }
            "--console" => {
                let v = value("--console")?;
                let addr = match v.parse::<u16>() {
                    Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
                    Err(_) => v.parse::<SocketAddr>(),
                };
                console = Some(addr.map_err(|_| {
                    format!("--console {v}: not a port or an address and port (for example 8809 or 127.0.0.1:8809)")
                })?)
            }
            "--cert" => cert = Some(PathBuf::from(value("--cert")?)),
            "--key" => key = Some(PathBuf::from(value("--key")?)),
            "--allow-origin" => {
                let v = value("--allow-origin")?;
                if !(v.starts_with("http://") || v.starts_with("https://") || v == "null") {
                    return Err(format!(
                        "--allow-origin {v}: an origin is scheme://host[:port], for example https://app.example.com"
                    ));
                }
                origins.push(v)
            }
            "--max-connections" => {
                let v = value("--max-connections")?;
                max_connections = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| format!("--max-connections {v}: a number from 1 to 1000"))?
            }
            "--statement-timeout" => {
                let v = value("--statement-timeout")?;
                statement_timeout_ms = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=86_400_000).contains(n))
                    .ok_or_else(|| {
                        format!("--statement-timeout {v}: milliseconds from 1 to 86400000")
                    })?
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
    let transport = match (http, console) {
        (Some(_), Some(_)) => {
            return Err("--http and --console: run one server for each".into());
        }
        (None, Some(listen)) => {
            if token_file.is_some() {
                return Err("--token-file is for --http: the console's people log in as their PostgreSQL roles".into());
            }
            let cert = match (cert, key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => return Err("--cert and --key go together (PEM files)".into()),
            };
            Transport::Console { listen, cert }
        }
        (None, None) => {
            if token_file.is_some() || !origins.is_empty() {
                return Err(
                    "--token-file and --allow-origin are for --http; stdio has no requests to check"
                        .into(),
                );
            }
            Transport::Stdio
        }
        (Some(listen), None) => {
            let tokens = match &token_file {
                None => Vec::new(),
                Some(f) => {
                    let text =
                        read_file(f).map_err(|e| format!("--token-file {}: {e}", f.display()))?;
                    tokens(&text).map_err(|e| format!("--token-file {}: {e}", f.display()))?
                }
            };
            if tokens.is_empty() {
                if let Listen::Tcp(addr) = listen {
                    return Err(format!(
                        "--http {addr}: HTTP needs --token-file, on loopback too (every local process can reach it); or serve on a unix socket: --http unix:PATH"
                    ));
                }
            }
            Transport::Http {
                listen,
                tokens,
                origins,
            }
        }
    };
    Ok(Some(Options {
        dsn,
        sets,
        read_only,
        transport,
        max_rows,
        max_connections,
        statement_timeout_ms,
    }))
}

/// The tokens of a token file: one per line, `TOKEN [ROLE | LOGIN-DSN]`; blank lines and
/// lines starting with `#` are skipped. What follows the token is a DSN when it is a
/// `postgres(ql)://` URL or holds `key=value` pairs, else one role name.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out: Vec<Token> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (secret, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let secret = secret.to_string();
        let (role, login) = if rest.is_empty() {
            (None, None)
        } else if rest.starts_with("postgres://")
            || rest.starts_with("postgresql://")
            || rest.contains('=')
        {
            (None, Some(rest.to_string()))
        } else if rest.contains(char::is_whitespace) {
            return Err(format!(
                "line {}: expected TOKEN [ROLE | LOGIN-DSN] (a DSN holds key=value pairs or is a postgresql:// URL)",
                n + 1
            ));
        } else {
            (Some(rest.to_string()), None)
        };
        if secret.len() < 16 {
            return Err(format!(
                "line {}: the token must be at least 16 characters",
                n + 1
            ));
        }
        if out.iter().any(|t| t.secret == secret) {
            return Err(format!("line {}: the same token twice", n + 1));
        }
        out.push(Token {
            secret,
            role,
            login,
        });
    }
    if out.is_empty() {
        return Err("no token in the file".into());
    }
    Ok(out)
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

    #[test]
    fn the_console_serves_alone_on_loopback_and_tls_takes_both_files() {
        let o = parse(&args("--console 8809 --dsn host=db"), no_file)
            .unwrap()
            .unwrap();
        assert_eq!(
            o.transport,
            Transport::Console {
                listen: "127.0.0.1:8809".parse().unwrap(),
                cert: None
            }
        );
        let o = parse(
            &args("--console 0.0.0.0:443 --cert c.pem --key k.pem"),
            no_file,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(
            o.transport,
            Transport::Console { cert: Some(_), .. }
        ));
        for (a, why) in [
            ("--console 8809 --http 8808", "run one server for each"),
            ("--console 8809 --cert c.pem", "go together"),
            (
                "--console 8809 --token-file t",
                "log in as their PostgreSQL roles",
            ),
            ("--console nope", "not a port"),
        ] {
            let e = parse(&args(a), no_file).unwrap_err();
            assert!(e.contains(why), "{a}: {e}");
        }
        // the DSN names no user: the login supplies it
        let o = parse(&args("--console 8809 --dsn user=admin"), no_file)
            .unwrap()
            .unwrap();
        let e = crate::connection::config(&o, |_| None).unwrap_err();
        assert!(e.contains("each person's login"), "{e}");
        let o = parse(&args("--console 8809 --dsn host=db"), no_file)
            .unwrap()
            .unwrap();
        assert!(crate::connection::config(&o, |_| None).is_ok());
    }
    fn token(_: &PathBuf) -> std::io::Result<String> {
        Ok("0123456789abcdef0123\n".into())
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
    fn http_needs_a_token_on_every_address_or_a_unix_socket() {
        for a in [
            "--http 127.0.0.1:8808",
            "--http 8808",
            "--http 0.0.0.0:8808",
            "--http [::1]:1",
        ] {
            let e = parse(&args(a), no_file).unwrap_err();
            assert!(e.contains("needs --token-file"), "{a}: {e}");
        }
        let o = parse(&args("--http 8808 --token-file t"), token)
            .unwrap()
            .unwrap();
        assert_eq!(
            o.transport,
            Transport::Http {
                listen: Listen::Tcp("127.0.0.1:8808".parse().unwrap()),
                tokens: vec![Token {
                    secret: "0123456789abcdef0123".into(),
                    role: None,
                    login: None
                }],
                origins: vec![]
            }
        );
        // a unix socket's permissions decide: no token needed
        let o = parse(&args("--http unix:/run/x.sock"), no_file)
            .unwrap()
            .unwrap();
        assert_eq!(
            o.transport,
            Transport::Http {
                listen: Listen::Unix("/run/x.sock".into()),
                tokens: vec![],
                origins: vec![]
            }
        );
        assert!(parse(&args("--http unix:"), no_file).is_err());
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
    fn each_token_may_name_its_role() {
        let file = |_: &PathBuf| {
            Ok::<_, std::io::Error>(
                "# agents\nAAAAAAAAAAAAAAAA1 agent_reader\n\nBBBBBBBBBBBBBBBB2\n\
                 CCCCCCCCCCCCCCCC3 user=agent_b password='x y'\n\
                 DDDDDDDDDDDDDDDD4\tpostgresql://agent_c@db.example.com/shop\n"
                    .to_string(),
            )
        };
        let o = parse(&args("--http 9 --token-file t"), file)
            .unwrap()
            .unwrap();
        let Transport::Http { tokens, .. } = o.transport else {
            panic!("http")
        };
        assert_eq!(tokens.len(), 4);
        assert_eq!(tokens[0].role.as_deref(), Some("agent_reader"));
        assert_eq!((&tokens[1].role, &tokens[1].login), (&None, &None));
        assert_eq!(
            tokens[2].login.as_deref(),
            Some("user=agent_b password='x y'")
        );
        assert_eq!(tokens[2].role, None);
        assert_eq!(
            tokens[3].login.as_deref(),
            Some("postgresql://agent_c@db.example.com/shop")
        );
        let twice = |_: &PathBuf| {
            Ok::<_, std::io::Error>("AAAAAAAAAAAAAAAA1 a\nAAAAAAAAAAAAAAAA1 b\n".to_string())
        };
        assert!(parse(&args("--http 9 --token-file t"), twice)
            .unwrap_err()
            .contains("twice"));
        let extra = |_: &PathBuf| Ok::<_, std::io::Error>("AAAAAAAAAAAAAAAA1 a b\n".to_string());
        assert!(parse(&args("--http 9 --token-file t"), extra).is_err());
        let empty = |_: &PathBuf| Ok::<_, std::io::Error>("# nothing\n".to_string());
        assert!(parse(&args("--http 9 --token-file t"), empty)
            .unwrap_err()
            .contains("no token"));
    }

    #[test]
    fn origins_limits_and_timeouts() {
        let o = parse(
            &args("--http 9 --token-file t --allow-origin https://app.example.com --max-connections 3 --statement-timeout 500"),
            token,
        )
        .unwrap()
        .unwrap();
        assert!(
            matches!(&o.transport, Transport::Http { origins, .. } if origins == &["https://app.example.com"])
        );
        assert_eq!(o.max_connections, 3);
        assert_eq!(o.statement_timeout_ms, 500);
        assert!(parse(
            &args("--http 9 --token-file t --allow-origin app.example.com"),
            token
        )
        .is_err());
        assert!(parse(&args("--allow-origin https://a.b"), token).is_err());
        assert!(parse(&args("--max-connections 0"), no_file).is_err());
        assert!(parse(&args("--statement-timeout x"), no_file).is_err());
        let d = parse(&[], no_file).unwrap().unwrap();
        assert_eq!((d.max_connections, d.statement_timeout_ms), (8, 30_000));
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
