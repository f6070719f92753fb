//! The console's sessions: one PostgreSQL connection per person, made with their own role and
//! password (the server holds no rights of its own), behind a random session id in an
//! `HttpOnly; SameSite=Strict` cookie, with a CSRF token every form carries, ended after
//! `IDLE` without a request; and the limit on failed logins.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const COOKIE: &str = "ai_console";
/// The login form's double-submit token (before there is a session).
pub const LOGIN_COOKIE: &str = "ai_console_login";
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// Failed logins from one address within `WINDOW` before the next is refused unheard.
pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

pub struct Session {
    pub user: String,
    pub client: Arc<tokio_postgres::Client>,
    pub csrf: String,
    pub last: Instant,
    /// the `ai.chat` session of this login
    pub chat: String,
    /// the questions asked in this login and their answers, newest last (at most 20)
    pub turns: Vec<(String, serde_json::Value)>,
}

/// 32 random bytes, hex.
pub fn token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the system's random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Equal secrets, compared in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, the whole site; Secure over TLS; `None`
/// age removes it.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{}{}",
        if secure { "; Secure" } else { "" },
        match max_age {
            Some(a) => format!("; Max-Age={}", a.as_secs()),
            None => "; Max-Age=0".into(),
        }
    )
}

/// Whether a session last used at `last` has ended by `now`.
pub fn expired(last: Instant, now: Instant) -> bool {
    now.saturating_duration_since(last) > IDLE
}

#[derive(Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
    failures: HashMap<IpAddr, Vec<Instant>>,
}

impl Sessions {
    /// The live session behind `id`, touched; an idle one is ended.
    pub fn get(&mut self, id: &str, now: Instant) -> Option<&mut Session> {
        if self.by_id.get(id).is_some_and(|s| expired(s.last, now)) {
            self.by_id.remove(id);
        }
        let s = self.by_id.get_mut(id)?;
        s.last = now;
        Some(s)
    }

    pub fn insert(&mut self, id: String, s: Session) {
        self.by_id.insert(id, s);
    }

    pub fn remove(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    /// Ends every idle session (their connections close).
    pub fn sweep(&mut self, now: Instant) {
        self.by_id.retain(|_, s| !expired(s.last, now));
        self.failures.retain(|_, v| {
            v.retain(|t| now.duration_since(*t) <= WINDOW);
            !v.is_empty()
        });
    }

    /// Whether `ip` may try to log in now.
    pub fn may_try(&mut self, ip: IpAddr, now: Instant) -> bool {
        let v = self.failures.entry(ip).or_default();
        v.retain(|t| now.duration_since(*t) <= WINDOW);
        v.len() < MAX_FAILURES
    }

    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        self.failures.entry(ip).or_default().push(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_secrets() {
        assert_eq!(cookie("a=1; ai_console=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("ai_console_login=q", COOKIE), None);
        let c = set_cookie(COOKIE, "v", true, Some(IDLE));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert_eq!(token().len(), 64);
        assert_ne!(token(), token());
    }

    #[test]
    fn a_session_ends_after_its_idle_time() {
        let t0 = Instant::now();
        assert!(!expired(t0, t0 + IDLE));
        assert!(expired(t0, t0 + IDLE + Duration::from_secs(1)));
    }

    #[test]
    fn failed_logins_are_limited_per_address_and_forgotten_after_the_window() {
        let mut s = Sessions::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(s.may_try(ip, t0));
            s.failed(ip, t0);
        }
        assert!(!s.may_try(ip, t0));
        assert!(s.may_try("127.0.0.2".parse().unwrap(), t0));
        assert!(s.may_try(ip, t0 + WINDOW + Duration::from_secs(1)));
    }
}
