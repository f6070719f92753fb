//! Helpers for the integration tests: connections to the local cluster started by
//! `scripts/cluster.sh` (socket directory in AI_PGHOST, port in AI_PGPORT) and
//! throw-away databases with the extension installed.
use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn host() -> String {
    std::env::var("AI_PGHOST").expect("AI_PGHOST (the cluster's socket directory) must be set; run through make test")
}

pub fn port() -> u16 {
    std::env::var("AI_PGPORT").ok().and_then(|p| p.parse().ok()).unwrap_or(28815)
}

pub fn connect(db: &str, user: &str) -> Client {
    Client::configure()
        .host(&host())
        .port(port())
        .user(user)
        .dbname(db)
        .connect(NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {db} as {user} at {}:{}: {e}", host(), port()))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh database with `CREATE EXTENSION ai_architect CASCADE`, dropped on drop.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        let name = format!("ai_it_{tag}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut admin = connect("postgres", "postgres");
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).unwrap();
        let mut c = connect(&name, "postgres");
        c.batch_execute("CREATE EXTENSION ai_architect CASCADE").unwrap();
        TestDb { name }
    }

    /// A fresh database without the extension (a restore target).
    pub fn empty(tag: &str) -> TestDb {
        let name = format!("ai_it_{tag}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut admin = connect("postgres", "postgres");
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).unwrap();
        TestDb { name }
    }

    pub fn connect(&self, user: &str) -> Client {
        connect(&self.name, user)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut admin = connect("postgres", "postgres");
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
    }
}

pub fn version(c: &mut Client) -> serde_json::Value {
    let row = c.query_one("SELECT ai.version()::text", &[]).unwrap();
    serde_json::from_str(row.get::<_, &str>(0)).unwrap()
}
