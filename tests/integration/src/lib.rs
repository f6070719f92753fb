//! Helpers for the integration tests: connections to the local cluster started by
//! `scripts/cluster.sh` (socket directory in AI_PGHOST, port in AI_PGPORT) and
//! throw-away databases with the extension installed.
use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn host() -> String {
    std::env::var("AI_PGHOST")
        .expect("AI_PGHOST (the cluster's socket directory) must be set; run through make test")
}

pub fn port() -> u16 {
    std::env::var("AI_PGPORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(28815)
}

pub fn connect(db: &str, user: &str) -> Client {
    Client::configure()
        .host(&host())
        .port(port())
        .user(user)
        .dbname(db)
        .connect(NoTls)
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to {db} as {user} at {}:{}: {e}",
                host(),
                port()
            )
        })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh database with `CREATE EXTENSION ai_architect CASCADE`, dropped on drop.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        let name = format!(
            "ai_it_{tag}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect("postgres", "postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        let mut c = connect(&name, "postgres");
        c.batch_execute("CREATE EXTENSION ai_architect CASCADE")
            .unwrap();
        TestDb { name }
    }

    /// A fresh database without the extension (a restore target).
    pub fn empty(tag: &str) -> TestDb {
        let name = format!(
            "ai_it_{tag}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect("postgres", "postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        TestDb { name }
    }

    pub fn connect(&self, user: &str) -> Client {
        connect(&self.name, user)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut admin = connect("postgres", "postgres");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

/// The names of the extension's own functions in schema `ai` (members of the extension, not
/// trigger or event-trigger functions), in order: what the reference and the hostile-schema
/// suite must each account for.
pub fn extension_functions(c: &mut Client) -> Vec<String> {
    c.query(
        "SELECT DISTINCT p.proname::text FROM pg_catalog.pg_proc p
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
           JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ai_architect'
          WHERE d.deptype = 'e' AND p.prokind IN ('f', 'p') AND p.pronamespace = 'ai'::regnamespace
            AND p.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
          ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Loads the Chinook sample into the connected database (its own CREATE DATABASE skipped)
/// and analyzes it.
pub fn load_chinook(c: &mut Client) {
    let path = format!(
        "{}/../../data/chinook/Chinook_PostgreSql.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let sql = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let body = sql.split_once("\\c chinook;").map(|x| x.1).unwrap_or(&sql);
    c.batch_execute(body).unwrap();
    c.batch_execute("ANALYZE").unwrap();
}

/// Reads one HTTP request (head and a Content-Length body) from a test endpoint's socket;
/// returns the head and the body.
pub fn read_http_request(s: &mut std::net::TcpStream) -> (String, String) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(h) = text.find("\r\n\r\n") {
            let len = text[..h]
                .lines()
                .find_map(|l| {
                    l.to_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= h + 4 + len {
                return (text[..h].to_string(), text[h + 4..h + 4 + len].to_string());
            }
        }
        if n == 0 {
            return (text, String::new());
        }
    }
}

/// The message of a failed call (PostgreSQL's, or the driver's), empty when it succeeded.
pub fn err_of<T>(r: Result<T, postgres::Error>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    }
}

pub fn version(c: &mut Client) -> serde_json::Value {
    let row = c.query_one("SELECT ai.version()::text", &[]).unwrap();
    serde_json::from_str(row.get::<_, &str>(0)).unwrap()
}

/// Polls `f` every 250 ms until it is true; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// A throw-away cluster of its own (initdb, a port, a socket in its data directory) for tests
/// that restart or crash the server or need other preloaded libraries. Stopped and removed on
/// drop.
pub struct Cluster {
    pub dir: std::path::PathBuf,
    pub port: u16,
    bindir: std::path::PathBuf,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    std::process::Command::new("sudo")
        .arg("-u")
        .arg("postgres")
        .arg("--")
        .args(args)
        .output()
        .unwrap()
}

impl Cluster {
    /// initdb into target/<name>, append `conf` to postgresql.conf, start.
    pub fn new(name: &str, port: u16, conf: &[&str]) -> Cluster {
        let bindir = std::path::PathBuf::from(
            std::env::var("AI_PGBIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        let target = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
        std::fs::create_dir_all(&target).unwrap();
        let dir = std::fs::canonicalize(target).unwrap().join(name);
        let c = Cluster { dir, port, bindir };
        let d = c.empty_dir();
        c.must(&[&c.bin("initdb"), "-D", &d, "-U", "postgres", "--auth=trust"]);
        c.append_conf(
            &[
                "listen_addresses = ''".to_string(),
                "fsync = off".to_string(),
            ],
            conf,
        );
        c.pg_ctl(&["start"]);
        c
    }

    /// A streaming replica of this cluster (pg_basebackup -R) in target/<name>, on `port`,
    /// with `conf` appended; started, a hot standby.
    pub fn standby(&self, name: &str, port: u16, conf: &[&str]) -> Cluster {
        let target = self.dir.parent().unwrap().to_path_buf();
        let dir = target.join(name);
        let c = Cluster {
            dir,
            port,
            bindir: self.bindir.clone(),
        };
        let d = c.empty_dir();
        c.must(&[
            &c.bin("pg_basebackup"),
            "-D",
            &d,
            "-h",
            &self.dir.display().to_string(),
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ]);
        c.append_conf(&["hot_standby = on".to_string()], conf);
        let _ = std::fs::remove_file(c.dir.join("server.log"));
        c.pg_ctl(&["start"]);
        c
    }

    /// The data directory, empty (a server left there by an earlier run stopped first), the
    /// postgres user's, mode 0700; its path.
    fn empty_dir(&self) -> String {
        use std::os::unix::fs::PermissionsExt;
        let d = self.dir.display().to_string();
        let _ = as_postgres(&[&self.bin("pg_ctl"), "-D", &d, "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(std::process::Command::new("chown")
            .args(["postgres:postgres", &d])
            .status()
            .unwrap()
            .success());
        d
    }

    /// Appends this cluster's port and socket directory, `own` and `conf` to postgresql.conf
    /// (later lines win).
    fn append_conf(&self, own: &[String], conf: &[&str]) {
        let mut lines = vec![
            format!("port = {}", self.port),
            format!("unix_socket_directories = '{}'", self.dir.display()),
        ];
        lines.extend(own.iter().cloned());
        lines.extend(conf.iter().map(|s| s.to_string()));
        let conf_file = self.dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_file).unwrap();
        text.push_str(&format!("\n{}\n", lines.join("\n")));
        std::fs::write(&conf_file, text).unwrap();
    }

    fn bin(&self, name: &str) -> String {
        self.bindir.join(name).display().to_string()
    }

    fn must(&self, args: &[&str]) {
        let out = as_postgres(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// pg_ctl start / restart / stop, waiting for it to finish.
    pub fn pg_ctl(&self, action: &[&str]) {
        let d = self.dir.display().to_string();
        let log = format!("{d}/server.log");
        let mut args = vec![
            self.bin("pg_ctl"),
            "-D".into(),
            d,
            "-l".into(),
            log,
            "-w".into(),
            "-t".into(),
            "60".into(),
        ];
        args.extend(action.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        self.must(&refs);
    }

    pub fn connect(&self, db: &str) -> Client {
        Client::configure()
            .host(&self.dir.display().to_string())
            .port(self.port)
            .user("postgres")
            .dbname(db)
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {db} in {}: {e}", self.dir.display()))
    }

    /// Waits until a connection works (after a crash or a restart).
    pub fn wait_ready(&self, db: &str, timeout: std::time::Duration) -> Client {
        let start = std::time::Instant::now();
        loop {
            let attempt = Client::configure()
                .host(&self.dir.display().to_string())
                .port(self.port)
                .user("postgres")
                .dbname(db)
                .connect(NoTls)
                .and_then(|mut c| c.simple_query("SELECT 1").map(|_| c));
            match attempt {
                Ok(c) => return c,
                Err(_) if start.elapsed() < timeout => {
                    std::thread::sleep(std::time::Duration::from_millis(200))
                }
                Err(e) => panic!("{} not ready after {timeout:?}: {e}", self.dir.display()),
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.display().to_string();
        let _ = as_postgres(&[
            &self.bin("pg_ctl"),
            "-D",
            &d,
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// xorshift64*: a reproducible stream of choices for the property and fuzz tests, without a
/// dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 0 to n - 1
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
    /// true with probability `p`
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}
