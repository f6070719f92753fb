//! The PostgreSQL connection every call opens: --dsn, or libpq's PG* environment variables.

use crate::options::Options;
use std::time::Duration;

/// The connection's settings. `env` reads an environment variable (a parameter, so that the
/// rules are tested without changing the process's environment).
pub fn config(
    opts: &Options,
    env: impl Fn(&str) -> Option<String>,
) -> Result<tokio_postgres::Config, String> {
    let mut c = match &opts.dsn {
        Some(dsn) => dsn
            .parse::<tokio_postgres::Config>()
            .map_err(|e| format!("--dsn: {e} (a libpq key=value string or a postgresql:// URL)"))?,
        None => {
            let mut c = tokio_postgres::Config::new();
            let host = env("PGHOST").unwrap_or_else(|| "/var/run/postgresql".into());
            for h in host.split(',') {
                c.host(h);
            }
            if let Some(p) = env("PGPORT") {
                c.port(
                    p.parse()
                        .map_err(|_| format!("PGPORT={p}: not a port number"))?,
                );
            }
            if let Some(d) = env("PGDATABASE") {
                c.dbname(&d);
            }
            if let Some(p) = env("PGPASSWORD") {
                c.password(p);
            }
            c.user(
                &env("PGUSER")
                    .or_else(|| env("USER"))
                    .ok_or("name the role: --dsn 'user=...' or PGUSER")?,
            );
            c
        }
    };
    if c.get_user().is_none() {
        c.user(
            &env("PGUSER")
                .or_else(|| env("USER"))
                .ok_or("name the role: --dsn 'user=...' or PGUSER")?,
        );
    }
    if c.get_application_name().is_none() {
        c.application_name("ai-architect-mcp");
    }
    if c.get_connect_timeout().is_none() {
        c.connect_timeout(Duration::from_secs(10));
    }
    if opts.read_only {
        let mut o = c.get_options().unwrap_or("").to_string();
        o.push_str(" -c default_transaction_read_only=on");
        c.options(o.trim());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::parse;

    fn opts(args: &str) -> Options {
        let a: Vec<String> = args.split_whitespace().map(String::from).collect();
        parse(&a, |_| Err(std::io::Error::other("no file")))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn the_environment_names_the_connection() {
        let env = |k: &str| match k {
            "PGHOST" => Some("/tmp/sock".to_string()),
            "PGPORT" => Some("5433".to_string()),
            "PGUSER" => Some("alice".to_string()),
            "PGDATABASE" => Some("shop".to_string()),
            _ => None,
        };
        let c = config(&opts(""), env).unwrap();
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_dbname(), Some("shop"));
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_application_name(), Some("ai-architect-mcp"));
        assert_eq!(c.get_options(), None);
        assert!(config(&opts(""), |k| (k == "PGPORT").then(|| "x".into()))
            .unwrap_err()
            .contains("PGPORT"));
    }

    #[test]
    fn a_dsn_wins_and_read_only_is_the_connections_default() {
        let o = Options {
            dsn: Some("host=/s user=bob dbname=d options='-c work_mem=8MB'".into()),
            read_only: true,
            ..opts("")
        };
        let c = config(&o, |_| None).unwrap();
        assert_eq!(c.get_user(), Some("bob"));
        assert_eq!(
            c.get_options(),
            Some("-c work_mem=8MB -c default_transaction_read_only=on")
        );
        let o = Options {
            dsn: Some("postgresql://carol@localhost:5432/db".into()),
            ..opts("")
        };
        assert_eq!(config(&o, |_| None).unwrap().get_user(), Some("carol"));
        let o = Options {
            dsn: Some("host=/s".into()),
            ..opts("")
        };
        assert!(config(&o, |_| None).unwrap_err().contains("name the role"));
    }
}
