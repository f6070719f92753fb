//! The PostgreSQL connection every call opens: --dsn, or libpq's PG* environment variables,
//! with libpq's TLS settings (sslmode, sslrootcert, sslcert, sslkey) and a statement timeout.

use crate::options::Options;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use std::time::Duration;

/// libpq's sslmode, as libpq means it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS side of the connection: libpq's settings, which tokio-postgres does not read.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub mode: SslMode,
    pub root_cert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// The TLS settings named in `dsn` (key=value or URL query) or the environment, and the DSN
/// without them (tokio-postgres knows only disable/prefer/require and no certificate files).
fn take_tls(
    dsn: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(Option<String>, Tls), String> {
    const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
    let mut found: [Option<String>; 4] = Default::default();
    let rest = dsn.map(|d| {
        if d.starts_with("postgres://") || d.starts_with("postgresql://") {
            let (base, query) = d.split_once('?').unwrap_or((d, ""));
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .filter(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    match KEYS.iter().position(|x| *x == k) {
                        Some(i) => {
                            found[i] = Some(v.to_string());
                            false
                        }
                        None => true,
                    }
                })
                .collect();
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        } else {
            // key=value pairs; these four never hold spaces or quotes worth keeping
            d.split_whitespace()
                .filter(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    match KEYS.iter().position(|x| *x == k.trim()) {
                        Some(i) => {
                            found[i] = Some(v.trim_matches('\'').to_string());
                            false
                        }
                        None => true,
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
    });
    let [mode, root_cert, cert, key] = found;
    let mode = mode.or_else(|| env("PGSSLMODE"));
    let mode = match mode.as_deref().unwrap_or("prefer") {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(format!(
                "sslmode={other}: one of disable, allow, prefer, require, verify-ca, verify-full"
            ))
        }
    };
    let tls = Tls {
        mode,
        root_cert: root_cert.or_else(|| env("PGSSLROOTCERT")),
        cert: cert.or_else(|| env("PGSSLCERT")),
        key: key.or_else(|| env("PGSSLKEY")),
    };
    Ok((rest, tls))
}

/// The TLS connector for `tls`: no certificate check for prefer and require (unless a root
/// certificate is named, which makes require verify-ca, as in libpq); the chain for
/// verify-ca; the chain and the host name for verify-full.
pub fn connector(tls: &Tls) -> Result<MakeTlsConnector, String> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    let verify = match tls.mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => tls.root_cert.is_some(),
        _ => false,
    };
    if verify {
        match &tls.root_cert {
            Some(f) if f != "system" => b
                .set_ca_file(f)
                .map_err(|e| format!("sslrootcert={f}: {e}"))?,
            _ => b.set_default_verify_paths().map_err(|e| e.to_string())?,
        }
        b.set_verify(SslVerifyMode::PEER);
    } else {
        b.set_verify(SslVerifyMode::NONE);
    }
    if let Some(c) = &tls.cert {
        b.set_certificate_chain_file(c)
            .map_err(|e| format!("sslcert={c}: {e}"))?;
    }
    if let Some(k) = &tls.key {
        b.set_private_key_file(k, SslFiletype::PEM)
            .map_err(|e| format!("sslkey={k}: {e}"))?;
    }
    let mut m = MakeTlsConnector::new(b.build());
    let full = tls.mode == SslMode::VerifyFull;
    m.set_callback(move |cfg, _host| {
        cfg.set_verify_hostname(full);
        Ok(())
    });
    Ok(m)
}

/// The connection's settings. `env` reads an environment variable (a parameter, so that the
/// rules are tested without changing the process's environment).
pub fn config(
    opts: &Options,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(tokio_postgres::Config, Tls), String> {
    let (dsn, tls) = take_tls(opts.dsn.as_deref(), &env)?;
    let mut c = match &dsn {
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
    if matches!(opts.transport, crate::options::Transport::Console { .. }) {
        // the console's people log in as themselves
        if c.get_user().is_some() && dsn.is_some() {
            return Err("--console: the DSN names host, port and database; each person's login supplies user and password".into());
        }
    } else if c.get_user().is_none() {
        c.user(
            &env("PGUSER")
                .or_else(|| env("USER"))
                .ok_or("name the role: --dsn 'user=...' or PGUSER")?,
        );
    }
    finish(&mut c, &tls, opts);
    Ok((c, tls))
}

/// The connection of a token with a login of its own: its DSN must name the user; host, port,
/// database and TLS settings it leaves out are the server's (`base`, `base_tls`).
pub fn login(
    opts: &Options,
    dsn: &str,
    base: &tokio_postgres::Config,
    base_tls: &Tls,
) -> Result<(tokio_postgres::Config, Tls), String> {
    let inherited = |k: &str| match k {
        "PGSSLMODE" => Some(base_tls.mode.name().to_string()),
        "PGSSLROOTCERT" => base_tls.root_cert.clone(),
        "PGSSLCERT" => base_tls.cert.clone(),
        "PGSSLKEY" => base_tls.key.clone(),
        _ => None,
    };
    let (rest, tls) = take_tls(Some(dsn), &inherited)?;
    let mut c = rest
        .unwrap_or_default()
        .parse::<tokio_postgres::Config>()
        .map_err(|e| format!("a token's login: {e} (key=value pairs or a postgresql:// URL)"))?;
    if c.get_user().is_none() {
        return Err("a token's login names its user (user=... or postgresql://USER@...)".into());
    }
    if c.get_hosts().is_empty() {
        for h in base.get_hosts() {
            match h {
                tokio_postgres::config::Host::Tcp(name) => c.host(name),
                tokio_postgres::config::Host::Unix(path) => c.host_path(path),
            };
        }
        for p in base.get_ports() {
            c.port(*p);
        }
    }
    if c.get_dbname().is_none() {
        if let Some(d) = base.get_dbname() {
            c.dbname(d);
        }
    }
    finish(&mut c, &tls, opts);
    Ok((c, tls))
}

/// What every connection of the server has: its name, a connect timeout, the TLS mode, the
/// statement timeout and (with --read-only) read-only transactions.
fn finish(c: &mut tokio_postgres::Config, tls: &Tls, opts: &Options) {
    if c.get_application_name().is_none() {
        c.application_name("ai-architect-mcp");
    }
    if c.get_connect_timeout().is_none() {
        c.connect_timeout(Duration::from_secs(10));
    }
    c.ssl_mode(match tls.mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let mut o = c.get_options().unwrap_or("").to_string();
    o.push_str(&format!(
        " -c statement_timeout={}",
        opts.statement_timeout_ms
    ));
    if opts.read_only {
        o.push_str(" -c default_transaction_read_only=on");
    }
    c.options(o.trim());
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
        let (c, tls) = config(&opts(""), env).unwrap();
        assert_eq!(tls.mode, SslMode::Prefer);
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_dbname(), Some("shop"));
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_application_name(), Some("ai-architect-mcp"));
        assert_eq!(c.get_options(), Some("-c statement_timeout=30000"));
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
        let (c, _) = config(&o, |_| None).unwrap();
        assert_eq!(c.get_user(), Some("bob"));
        assert_eq!(
            c.get_options(),
            Some("-c work_mem=8MB -c statement_timeout=30000 -c default_transaction_read_only=on")
        );
        let o = Options {
            dsn: Some("postgresql://carol@localhost:5432/db".into()),
            ..opts("")
        };
        assert_eq!(config(&o, |_| None).unwrap().0.get_user(), Some("carol"));
        let o = Options {
            dsn: Some("host=/s".into()),
            ..opts("")
        };
        assert!(config(&o, |_| None).unwrap_err().contains("name the role"));
    }

    #[test]
    fn a_tokens_login_names_its_user_and_takes_the_rest_from_the_server() {
        let o = Options {
            dsn: Some("host=/run/pg port=5433 user=srv dbname=shop sslmode=require".into()),
            read_only: true,
            ..opts("")
        };
        let (base, base_tls) = config(&o, |_| None).unwrap();
        let (c, tls) = login(&o, "user=agent_b password='p w'", &base, &base_tls).unwrap();
        assert_eq!(c.get_user(), Some("agent_b"));
        assert_eq!(c.get_password(), Some(&b"p w"[..]));
        assert_eq!(c.get_hosts(), base.get_hosts());
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_dbname(), Some("shop"));
        assert_eq!(tls.mode, SslMode::Require);
        assert_eq!(
            c.get_options(),
            Some("-c statement_timeout=30000 -c default_transaction_read_only=on")
        );
        // what it names is its own
        let (c, tls) = login(
            &o,
            "postgresql://agent_c@db.example.com:6432/other?sslmode=verify-full",
            &base,
            &base_tls,
        )
        .unwrap();
        assert_eq!(
            c.get_hosts(),
            &[tokio_postgres::config::Host::Tcp("db.example.com".into())]
        );
        assert_eq!(
            (c.get_ports(), c.get_dbname()),
            (&[6432][..], Some("other"))
        );
        assert_eq!(tls.mode, SslMode::VerifyFull);
        // a login without a user would silently be the server's own
        assert!(login(&o, "dbname=shop", &base, &base_tls)
            .unwrap_err()
            .contains("names its user"));
    }

    #[test]
    fn libpq_tls_settings_are_honoured() {
        let o = Options {
            dsn: Some("host=db user=u sslmode=verify-full sslrootcert=/etc/ca.pem dbname=d".into()),
            ..opts("")
        };
        let (c, tls) = config(&o, |_| None).unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(c.get_dbname(), Some("d"));
        let o = Options {
            dsn: Some("postgresql://u@db/d?sslmode=disable&application_name=x".into()),
            ..opts("")
        };
        let (c, tls) = config(&o, |_| None).unwrap();
        assert_eq!(tls.mode, SslMode::Disable);
        assert_eq!(c.get_application_name(), Some("x"));
        // the environment, as libpq reads it
        let env = |k: &str| match k {
            "PGUSER" => Some("u".to_string()),
            "PGSSLMODE" => Some("require".to_string()),
            "PGSSLCERT" => Some("/c.pem".to_string()),
            _ => None,
        };
        let (_, tls) = config(&opts(""), env).unwrap();
        assert_eq!(
            (tls.mode, tls.cert.as_deref()),
            (SslMode::Require, Some("/c.pem"))
        );
        let o = Options {
            dsn: Some("user=u sslmode=sometimes".into()),
            ..opts("")
        };
        assert!(config(&o, |_| None).unwrap_err().contains("verify-full"));
        // a connector for each mode (no files needed without verification)
        for mode in [SslMode::Prefer, SslMode::Require, SslMode::VerifyFull] {
            let t = Tls {
                mode,
                root_cert: None,
                cert: None,
                key: None,
            };
            assert!(connector(&t).is_ok());
        }
        let t = Tls {
            mode: SslMode::VerifyCa,
            root_cert: Some("/nonexistent.pem".into()),
            cert: None,
            key: None,
        };
        assert!(connector(&t)
            .err()
            .unwrap_or_default()
            .contains("/nonexistent.pem"));
    }
}
