//! The approval workflow with several real sessions: races, a killed backend, concurrent
//! audit writers, and a property test of execute + rollback over random schemas.
use ai_architect_integration::{connect, err_of, Rng, TestDb};
use postgres::Client;
use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

const SCHEMA: &str = include_str!("../../../pg_test/fixtures/impact_schema.sql");

/// Login roles for one test, dropped after its database.
struct Roles(Vec<String>);

impl Roles {
    fn new(db: &TestDb, names: &[&str], seniors: &[&str]) -> Roles {
        let tag = db.name.rsplit('_').take(2).collect::<Vec<_>>().join("_");
        let mut c = db.connect("postgres");
        // tests run at the same time: the first to create the role wins, the others find it
        c.batch_execute(
            "DO $$ BEGIN CREATE ROLE ai_senior; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        )
        .unwrap();
        let mut out = Vec::new();
        for n in names {
            let r = format!("{n}_{tag}");
            c.batch_execute(&format!(
                "CREATE ROLE {r} LOGIN; GRANT USAGE ON SCHEMA imp TO {r}; GRANT ALL ON ALL TABLES IN SCHEMA imp TO {r};
                 GRANT ALL ON ALL SEQUENCES IN SCHEMA imp TO {r}"
            ))
            .unwrap();
            if seniors.contains(n) {
                c.batch_execute(&format!("GRANT ai_senior TO {r}")).unwrap();
            }
            out.push(r);
        }
        Roles(out)
    }
    fn name(&self, i: usize) -> &str {
        &self.0[i]
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        let mut c = connect("postgres", "postgres");
        for r in &self.0 {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {r}"));
        }
    }
}

fn request(c: &mut Client, sql: &str) -> i64 {
    c.query_one("SELECT ai.request($1)", &[&sql])
        .unwrap()
        .get(0)
}

fn state(c: &mut Client, id: i64) -> String {
    c.query_one("SELECT ai.request_status($1) ->> 'state'", &[&id])
        .unwrap()
        .get(0)
}

fn fingerprint(c: &mut Client, tables: &[&str]) -> String {
    tables
        .iter()
        .map(|t| {
            c.query_one(&format!("SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x"), &[])
                .unwrap()
                .get::<_, String>(0)
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn two_sessions_executing_the_same_request_one_wins() {
    let db = TestDb::new("race");
    db.connect("postgres").batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &["bob"]);
    let mut alice = db.connect(roles.name(0));
    let id = request(&mut alice, "DELETE FROM imp.customer WHERE id = 20");
    db.connect(roles.name(1))
        .query("SELECT ai.approve($1)", &[&id])
        .unwrap();
    let mut first = db.connect(roles.name(0));
    first.batch_execute("BEGIN").unwrap();
    let r: serde_json::Value = serde_json::from_str(
        first
            .query_one("SELECT ai.execute($1)::text", &[&id])
            .unwrap()
            .get::<_, &str>(0),
    )
    .unwrap();
    assert_eq!(r["status"], "succeeded", "{r}");
    // the second session waits on the request's row, then finds it executed
    let (name, dbname) = (roles.name(0).to_string(), db.name.clone());
    let second = thread::spawn(move || {
        let mut c = connect(&dbname, &name);
        err_of(c.query("SELECT ai.execute($1)", &[&id]))
    });
    thread::sleep(Duration::from_millis(500));
    first.batch_execute("COMMIT").unwrap();
    let err = second.join().unwrap();
    assert!(
        err.contains(&format!("request {id} is executed: it cannot be executed")),
        "{err}"
    );
    let n: i64 = db
        .connect("postgres")
        .query_one(
            "SELECT count(*) FROM ai.executions WHERE request_id = $1 AND status = 'succeeded'",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert_eq!(state(&mut alice, id), "executed");
}

#[test]
fn an_expired_request_cannot_be_approved_or_executed() {
    let db = TestDb::new("expiry");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &["bob"]);
    let mut alice = db.connect(roles.name(0));
    let id = request(&mut alice, "DELETE FROM imp.customer WHERE id = 20");
    admin.execute("UPDATE ai.approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1", &[&id]).unwrap();
    let mut bob = db.connect(roles.name(1));
    let err = err_of(bob.query("SELECT ai.approve($1)", &[&id]));
    assert!(err.contains(&format!("request {id} expired")), "{err}");
    assert_eq!(state(&mut alice, id), "expired");
    // the sweep (pg_cron) makes it durable and logs it
    let n: i64 = admin
        .query_one("SELECT ai.expire_requests()", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let stored: String = admin
        .query_one(
            "SELECT state FROM ai.approval_requests WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, "expired");
    let logged: i64 = admin
        .query_one(
            "SELECT count(*) FROM ai.audit_log WHERE action = 'expired' AND object_id = $1",
            &[&id.to_string()],
        )
        .unwrap()
        .get(0);
    assert_eq!(logged, 1);
    // the denial left a line in the server log even though its transaction failed
    let log = std::fs::read_to_string(format!("{}/server.log", ai_architect_integration::host()))
        .unwrap_or_default();
    assert!(
        log.contains(&format!(
            "denied approved of request {id} by {}",
            roles.name(1)
        )),
        "no log line"
    );
}

#[test]
fn a_killed_execution_leaves_nothing_half_done() {
    let db = TestDb::new("kill");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    admin
        .batch_execute("UPDATE ai.approval_policy SET required_approvals = 0")
        .unwrap();
    let roles = Roles::new(&db, &["alice"], &[]);
    let tables = [
        "imp.customer",
        "imp.orders",
        "imp.order_line",
        "imp.ticket",
        "imp.event",
    ];
    let before = fingerprint(&mut admin, &tables);
    let mut alice = db.connect(roles.name(0));
    // a statement that takes a while: every row sleeps 1 ms (the counting in ai.request too)
    let id = request(
        &mut alice,
        "DELETE FROM imp.order_line WHERE id > 0 AND pg_sleep(0.005) IS NOT NULL",
    );
    assert_eq!(state(&mut alice, id), "approved");
    let pid: i32 = alice
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let runner = thread::spawn(move || err_of(alice.query("SELECT ai.execute($1)", &[&id])));
    thread::sleep(Duration::from_millis(1500));
    admin
        .query("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let err = runner.join().unwrap();
    assert!(!err.is_empty(), "the execution should have been killed");
    assert_eq!(fingerprint(&mut admin, &tables), before);
    let (execs, backups): (i64, i64) = {
        let r = admin
            .query_one(
                "SELECT (SELECT count(*) FROM ai.executions), (SELECT count(*) FROM ai.backups)",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((execs, backups), (0, 0));
    let s: String = admin
        .query_one(
            "SELECT state FROM ai.approval_requests WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(s, "approved");
}

#[test]
fn fifty_concurrent_audit_writers_keep_one_chain() {
    let db = TestDb::new("chain");
    db.connect("postgres").batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice"], &[]);
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (name, dbname) = (roles.name(0).to_string(), db.name.clone());
            thread::spawn(move || {
                let mut c = connect(&dbname, &name);
                let sql = format!(
                    "UPDATE imp.orders SET total = total + 1 WHERE id = {}",
                    i + 1
                );
                c.query_one("SELECT ai.request($1)", &[&sql])
                    .unwrap()
                    .get::<_, i64>(0)
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut admin = db.connect("postgres");
    let v: String = admin
        .query_one("SELECT ai.verify_audit()::text", &[])
        .unwrap()
        .get(0);
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["entries"].as_u64().unwrap() >= 50, "{v}");
    // a superuser who disables the guard and edits an entry is caught
    admin
        .batch_execute(
            "ALTER TABLE ai.audit_log DISABLE TRIGGER audit_log_append_only;
             UPDATE ai.audit_log SET details = details || '{\"reason\": \"forged\"}' WHERE id = (SELECT max(id) / 2 FROM ai.audit_log);
             ALTER TABLE ai.audit_log ENABLE TRIGGER audit_log_append_only",
        )
        .unwrap();
    let v: String = admin
        .query_one("SELECT ai.verify_audit()::text", &[])
        .unwrap()
        .get(0);
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["ok"], false, "{v}");
}

/// Two sessions under REPEATABLE READ or SERIALIZABLE, both with their snapshot taken: the
/// first appends and commits; the second, whose snapshot still shows the old chain head,
/// gets a serialization failure instead of chaining a second entry to the same hash. Retried,
/// it succeeds, and the chain verifies.
#[test]
fn appends_under_snapshot_isolation_fail_instead_of_forking_the_chain() {
    let db = TestDb::new("fork");
    db.connect("postgres").batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &[]);
    let mut admin = db.connect("postgres");
    let entries = |c: &mut Client| -> i64 {
        c.query_one("SELECT count(*) FROM ai.audit_log", &[])
            .unwrap()
            .get(0)
    };
    for level in ["REPEATABLE READ", "SERIALIZABLE"] {
        let mut a = db.connect(roles.name(0));
        let mut b = db.connect(roles.name(1));
        let before = entries(&mut admin);
        for c in [&mut a, &mut b] {
            c.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL {level}; SELECT count(*) FROM imp.orders"
            ))
            .unwrap();
        }
        request(
            &mut a,
            "UPDATE imp.orders SET total = total + 1 WHERE id = 1",
        );
        a.batch_execute("COMMIT").unwrap();
        let per_request = entries(&mut admin) - before;
        let e = b
            .query(
                "SELECT ai.request('UPDATE imp.orders SET total = total + 1 WHERE id = 2')",
                &[],
            )
            .expect_err("the second append must not chain to the old head");
        assert_eq!(
            e.code(),
            Some(&postgres::error::SqlState::T_R_SERIALIZATION_FAILURE),
            "{level}: {e:?}"
        );
        b.batch_execute("ROLLBACK").unwrap();
        request(
            &mut b,
            "UPDATE imp.orders SET total = total + 1 WHERE id = 2",
        );
        let v: String = admin
            .query_one("SELECT ai.verify_audit()::text", &[])
            .unwrap()
            .get(0);
        let v: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["ok"], true, "{level}: {v}");
        assert_eq!(
            entries(&mut admin),
            before + 2 * per_request,
            "{level}: the failed append left nothing"
        );
    }
}

/// Random schemas (a chain and a branch of tables linked by CASCADE / SET NULL / SET DEFAULT
/// foreign keys, identity and generated columns), random UPDATE / DELETE statements: after
/// request → execute → rollback every table is exactly as before.
#[test]
fn execute_then_rollback_restores_every_table() {
    let db = TestDb::new("prop");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true",
    )
    .unwrap();
    let cases = std::env::var("AI_PROPERTY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200u64);
    let per_schema = 10;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut done = 0;
    let (mut succeeded, mut cascaded) = (0, 0);
    let mut schema_no = 0;
    while done < cases {
        schema_no += 1;
        let s = format!("p{schema_no}");
        let n = 3 + rng.below(3) as usize; // 3 to 5 tables
        let mut ddl = format!("CREATE SCHEMA {s};");
        for t in 0..n {
            let parent = if t == 0 {
                None
            } else {
                Some(if t >= 2 && rng.below(3) == 0 {
                    rng.below(t as u64 - 1) as usize
                } else {
                    t - 1
                })
            };
            let action = ["CASCADE", "SET NULL", "CASCADE", "SET DEFAULT"][rng.below(4) as usize];
            let fk = match parent {
                Some(p) => format!(", parent_id int DEFAULT NULL REFERENCES {s}.t{p} (id) ON DELETE {action} ON UPDATE CASCADE"),
                None => String::new(),
            };
            let id = if rng.below(2) == 0 {
                "id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            } else {
                "id int PRIMARY KEY"
            };
            ddl.push_str(&format!(
                "CREATE TABLE {s}.t{t} ({id}{fk}, v int NOT NULL, label text, doubled int GENERATED ALWAYS AS (v * 2) STORED);"
            ));
            let rows = 20 + rng.below(60);
            let identity = id.contains("IDENTITY");
            let mut cols: Vec<&str> = Vec::new();
            let mut vals: Vec<String> = Vec::new();
            if !identity {
                cols.push("id");
                vals.push("g".into());
            }
            if let Some(p) = parent {
                cols.push("parent_id");
                vals.push(format!("(SELECT id FROM {s}.t{p} ORDER BY id OFFSET (g * 7) % (SELECT count(*) FROM {s}.t{p}) LIMIT 1)"));
            }
            cols.extend(["v", "label"]);
            vals.extend(["g % 13".to_string(), "'row ' || g".to_string()]);
            ddl.push_str(&format!(
                "INSERT INTO {s}.t{t} ({}) SELECT {} FROM generate_series(1, {rows}) g;",
                cols.join(", "),
                vals.join(", ")
            ));
        }
        c.batch_execute(&ddl)
            .unwrap_or_else(|e| panic!("{ddl}: {e}"));
        let tables: Vec<String> = (0..n).map(|t| format!("{s}.t{t}")).collect();
        let table_refs: Vec<&str> = tables.iter().map(|t| t.as_str()).collect();
        for _ in 0..per_schema {
            let t = rng.below(n as u64);
            let m = 2 + rng.below(6);
            let r = rng.below(m);
            let stmt = match rng.below(4) {
                0 => format!("DELETE FROM {s}.t{t} WHERE id % {m} = {r}"),
                1 => format!(
                    "UPDATE {s}.t{t} SET v = v + 1, label = upper(label) WHERE v % {m} = {r}"
                ),
                2 if t > 0 => format!("UPDATE {s}.t{t} SET parent_id = NULL WHERE id % {m} = {r}"),
                _ => format!("DELETE FROM {s}.t{t} WHERE v < {}", rng.below(13)),
            };
            let before = fingerprint(&mut c, &table_refs);
            let id: i64 = c
                .query_one("SELECT ai.request($1)", &[&stmt])
                .unwrap_or_else(|e| panic!("{stmt}: {e}"))
                .get(0);
            let out: String = c
                .query_one("SELECT ai.execute($1)::text", &[&id])
                .unwrap_or_else(|e| panic!("{stmt}: {e}"))
                .get(0);
            let out: serde_json::Value = serde_json::from_str(&out).unwrap();
            if out["status"] == "succeeded" {
                succeeded += 1;
                if out["rows_by_table"]
                    .as_object()
                    .map(|o| o.len())
                    .unwrap_or(0)
                    > 1
                {
                    cascaded += 1;
                }
                let exec = out["execution"].as_i64().unwrap();
                c.query_one("SELECT ai.rollback($1)", &[&exec])
                    .unwrap_or_else(|e| panic!("{stmt}: rollback: {e}"));
                assert_eq!(
                    fingerprint(&mut c, &table_refs),
                    before,
                    "{stmt}: not restored\n{ddl}"
                );
            } else {
                // a statement that fails (e.g. SET DEFAULT to a missing parent) must change nothing
                assert_eq!(
                    fingerprint(&mut c, &table_refs),
                    before,
                    "{stmt}: failed but changed rows: {out}"
                );
            }
            done += 1;
        }
    }
    // the cases are not vacuous: most ran, many reached other tables through foreign keys
    eprintln!("{done} cases: {succeeded} executed and rolled back, {cascaded} of them across several tables");
    assert!(
        succeeded * 2 >= done && cascaded * 5 >= done,
        "{succeeded} executed, {cascaded} cascaded of {done}"
    );
    let v: String = c
        .query_one("SELECT ai.verify_audit()::text", &[])
        .unwrap()
        .get(0);
    assert!(v.contains("\"ok\": true"), "{v}");
}

/// A one-shot HTTP endpoint: answers `status` to each request and hands the bodies back.
fn endpoint(status: u16, expect: usize) -> (String, thread::JoinHandle<Vec<String>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let mut bodies = Vec::new();
        for _ in 0..expect {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            bodies.push(ai_architect_integration::read_http_request(&mut s).1);
            let _ = s.write_all(
                format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .as_bytes(),
            );
        }
        bodies
    });
    (url, handle)
}

#[test]
fn state_changes_reach_the_webhook_after_commit() {
    let db = TestDb::new("hook");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &["bob"]);
    let (url, server) = endpoint(200, 2);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET ai_architect.approval_webhook_url = '{url}'",
            db.name
        ))
        .unwrap();
    let mut alice = db.connect(roles.name(0));
    let id = request(&mut alice, "DELETE FROM imp.customer WHERE id = 20");
    // a request in a transaction that rolls back queues nothing
    alice.batch_execute("BEGIN").unwrap();
    request(&mut alice, "DELETE FROM imp.customer WHERE id = 21");
    alice.batch_execute("ROLLBACK").unwrap();
    db.connect(roles.name(1))
        .query("SELECT ai.approve($1)", &[&id])
        .unwrap();
    // sessions opened after ALTER DATABASE ... SET see the webhook
    let mut admin = db.connect("postgres");
    let out: String = admin
        .query_one("SELECT ai.deliver_notifications()::text", &[])
        .unwrap()
        .get(0);
    assert!(out.contains("\"sent\": 2"), "{out}");
    let bodies = server.join().unwrap();
    let states: Vec<String> = bodies
        .iter()
        .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap())
        .map(|v| {
            assert!(
                v["text"].as_str().unwrap().starts_with("ai_architect ("),
                "{v}"
            );
            format!("{}:{}", v["request"], v["state"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        states,
        vec![format!("{id}:pending"), format!("{id}:approved")]
    );
    // a failing endpoint: the attempt is counted, the message stays queued
    let (bad, server) = endpoint(500, 1);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET ai_architect.approval_webhook_url = '{bad}'",
            db.name
        ))
        .unwrap();
    let mut alice = db.connect(roles.name(0));
    request(&mut alice, "DELETE FROM imp.customer WHERE id = 22");
    let mut admin = db.connect("postgres");
    let out: String = admin
        .query_one("SELECT ai.deliver_notifications(1)::text", &[])
        .unwrap()
        .get(0);
    assert!(out.contains("\"failed\": 1"), "{out}");
    server.join().unwrap();
    let (attempts, err): (i32, String) = {
        let r = admin
            .query_one("SELECT attempts, last_error FROM ai.notification_outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((attempts, err.as_str()), (1, "HTTP 500"));
    // an endpoint that does not answer: the batch stops at the first message, no attempt is
    // spent, the result says why; the messages wait for it
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET ai_architect.approval_webhook_url = 'http://127.0.0.1:{port}/x'",
            db.name
        ))
        .unwrap();
    let mut alice = db.connect(roles.name(0));
    request(&mut alice, "DELETE FROM imp.customer WHERE id = 23");
    let mut admin = db.connect("postgres");
    let out: serde_json::Value = serde_json::from_str(
        &admin
            .query_one("SELECT ai.deliver_notifications()::text", &[])
            .unwrap()
            .get::<_, String>(0),
    )
    .unwrap();
    assert_eq!(
        (out["sent"].as_i64(), out["failed"].as_i64()),
        (Some(0), Some(0)),
        "{out}"
    );
    assert!(
        out["unreachable"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!(
                "the webhook http://127.0.0.1:{port} did not answer"
            )),
        "{out}"
    );
    let (waiting, attempts): (i64, i64) = admin
        .query_one(
            "SELECT count(*), sum(attempts) FROM ai.notification_outbox WHERE sent_at IS NULL",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((waiting, attempts), (2, 1));
}

#[test]
fn the_whole_lifecycle_across_sessions() {
    let db = TestDb::new("life");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob", "carol"], &["bob", "carol"]);
    let tables = [
        "imp.customer",
        "imp.orders",
        "imp.order_line",
        "imp.line_note",
        "imp.ticket",
        "imp.event",
    ];
    let before = fingerprint(&mut admin, &tables);
    let mut listener = db.connect("postgres");
    listener.batch_execute("LISTEN ai_approvals").unwrap();
    let (mut alice, mut bob) = (db.connect(roles.name(0)), db.connect(roles.name(1)));
    // CRITICAL (writes a sensitive column): two distinct seniors
    let id = request(
        &mut alice,
        "UPDATE imp.customer SET email = NULL WHERE id IN (20, 21)",
    );
    let err = err_of(alice.query("SELECT ai.approve($1)", &[&id]));
    assert!(err.contains("the requester never approves"), "{err}");
    bob.query("SELECT ai.approve($1)", &[&id]).unwrap();
    // bob again, through another role he holds: still one person
    bob.batch_execute("SET ROLE ai_senior").unwrap();
    let err = err_of(bob.query("SELECT ai.approve($1)", &[&id]));
    assert!(err.contains("one person counts once"), "{err}");
    bob.batch_execute("RESET ROLE").unwrap();
    assert_eq!(state(&mut alice, id), "pending");
    let err = err_of(alice.query("SELECT ai.execute($1)", &[&id]));
    assert!(err.contains("is pending: it cannot be executed"), "{err}");
    db.connect(roles.name(2))
        .query("SELECT ai.approve($1, 'ok')", &[&id])
        .unwrap();
    assert_eq!(state(&mut alice, id), "approved");
    let out: String = alice
        .query_one("SELECT ai.execute($1)::text", &[&id])
        .unwrap()
        .get(0);
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_ne!(fingerprint(&mut admin, &tables), before);
    alice
        .query(
            "SELECT ai.rollback($1)",
            &[&out["execution"].as_i64().unwrap()],
        )
        .unwrap();
    assert_eq!(fingerprint(&mut admin, &tables), before);
    assert_eq!(state(&mut alice, id), "rolled_back");
    // every state change was announced
    listener.batch_execute("SELECT 1").unwrap();
    let mut states: Vec<String> = Vec::new();
    {
        use postgres::fallible_iterator::FallibleIterator;
        let mut notes = listener.notifications();
        let mut it = notes.iter();
        while let Some(n) = it.next().unwrap() {
            let v: serde_json::Value = serde_json::from_str(n.payload()).unwrap();
            states.push(v["state"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        states,
        vec!["pending", "approved", "executed", "rolled_back"]
    );
    let v: String = admin
        .query_one("SELECT ai.verify_audit()::text", &[])
        .unwrap()
        .get(0);
    assert!(v.contains("\"ok\": true"), "{v}");
}

#[test]
fn an_edited_statement_and_drift_are_refused() {
    let db = TestDb::new("guard");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &["bob"]);
    let (mut alice, mut bob) = (db.connect(roles.name(0)), db.connect(roles.name(1)));
    let id = request(&mut alice, "DELETE FROM imp.customer WHERE id = 20");
    bob.query("SELECT ai.approve($1)", &[&id]).unwrap();
    admin
        .execute(
            "UPDATE ai.approval_requests SET sql = 'DELETE FROM imp.customer' WHERE id = $1",
            &[&id],
        )
        .unwrap();
    let err = err_of(alice.query("SELECT ai.execute($1)", &[&id]));
    assert!(err.contains("was changed after it was made"), "{err}");
    // drift: more rows match than were approved
    let id = request(
        &mut alice,
        "UPDATE imp.orders SET total = 0 WHERE customer_id = 30",
    );
    if state(&mut alice, id) == "pending" {
        bob.query("SELECT ai.approve($1)", &[&id]).unwrap();
    }
    admin
        .batch_execute("UPDATE imp.orders SET customer_id = 30 WHERE id BETWEEN 1 AND 3")
        .unwrap();
    admin
        .batch_execute("INSERT INTO imp.orders SELECT g, 30, 1 FROM generate_series(300, 310) g")
        .unwrap();
    let out: String = alice
        .query_one("SELECT ai.execute($1)::text", &[&id])
        .unwrap()
        .get(0);
    assert!(
        out.contains("\"status\": \"failed\"") && out.contains("drifted beyond 10%"),
        "{out}"
    );
    assert_eq!(state(&mut alice, id), "failed");
}

/// Approving at the moment a request expires: whichever takes the row first, the request ends
/// expired, never approved, and the trail says so once.
#[test]
fn approve_against_expiry() {
    let db = TestDb::new("expirace");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &["bob"]);
    let mut alice = db.connect(roles.name(0));
    let id = request(&mut alice, "DELETE FROM imp.customer WHERE id = 20");
    admin.execute("UPDATE ai.approval_requests SET expires_at = clock_timestamp() + interval '300 ms' WHERE id = $1", &[&id]).unwrap();
    thread::sleep(Duration::from_millis(400));
    let (bob, dbname) = (roles.name(1).to_string(), db.name.clone());
    let approver = thread::spawn(move || {
        err_of(connect(&dbname, &bob).query("SELECT ai.approve($1)", &[&id]))
    });
    let sweeper = {
        let dbname = db.name.clone();
        thread::spawn(move || {
            connect(&dbname, "postgres")
                .query_one("SELECT ai.expire_requests()", &[])
                .unwrap()
                .get::<_, i64>(0)
        })
    };
    let err = approver.join().unwrap();
    let swept = sweeper.join().unwrap();
    assert!(err.contains("expired"), "{err}");
    assert_eq!(swept, 1);
    let stored: String = admin
        .query_one(
            "SELECT state FROM ai.approval_requests WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, "expired");
    let actions: Vec<String> = admin
        .query(
            "SELECT action FROM ai.audit_log WHERE object_id = $1 ORDER BY id",
            &[&id.to_string()],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, vec!["request", "expired"]);
}

/// Review H-3: the backup and the change must hold the same rows. A WHERE evaluated twice
/// (`ORDER BY random() LIMIT n`) meets other rows at execution than when the backup was read:
/// the counts agree, the rows do not. The execution is undone with an error, for DELETE and
/// for UPDATE, and a deterministic statement still runs.
#[test]
fn a_where_that_meets_other_rows_than_the_backup_is_undone() {
    let db = TestDb::new("nondet");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true;
         CREATE TABLE public.r (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO public.r SELECT g, 0 FROM generate_series(1, 500) g;",
    )
    .unwrap();
    let state = |c: &mut Client| -> (i64, i64) {
        let r = c
            .query_one("SELECT count(*), sum(v)::int8 FROM public.r", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    for sql in [
        "DELETE FROM public.r WHERE id IN (SELECT id FROM public.r ORDER BY random() LIMIT 20)",
        "UPDATE public.r SET v = v + 1 WHERE id IN (SELECT id FROM public.r ORDER BY random() LIMIT 20)",
    ] {
        let id: i64 = c.query_one("SELECT ai.request($1)", &[&sql]).unwrap().get(0);
        let out: String = c
            .query_one("SELECT ai.execute($1)::text", &[&id])
            .unwrap()
            .get(0);
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["status"], "failed", "{sql}: {out}");
        assert!(
            out["reason"].as_str().unwrap_or("").contains("verification failed"),
            "{sql}: {out}"
        );
        assert_eq!(state(&mut c), (500, 0), "{sql}: nothing changed");
    }
    let sql = "DELETE FROM public.r WHERE id <= 20";
    let id: i64 = c
        .query_one("SELECT ai.request($1)", &[&sql])
        .unwrap()
        .get(0);
    c.query("SELECT ai.execute($1)", &[&id]).unwrap();
    assert_eq!(state(&mut c), (480, 0));
}

/// Review H-1: what is approved is what runs. The analysis reads the statement with
/// PostgreSQL's own parser and lexer: the WHERE, USING / FROM and WITH it counts and backs up
/// are the statement's own text, never another parser's rendering. On PostgreSQL 16 and later
/// `0b101`, `0x5`, `0o17` and `1_000` are integers (another parser read them as something else:
/// 0.2.0 counted and backed up other rows than it deleted); every quoting form and comments
/// between tokens are counted exactly as PostgreSQL itself changes rows, and an approved
/// statement with them runs, is backed up and rolled back row for row.
#[test]
fn what_is_approved_is_what_runs_whatever_the_literals() {
    let db = TestDb::new("literals");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "UPDATE ai.approval_policy SET required_approvals = 0;
         CREATE TABLE public.acc (id int PRIMARY KEY, v text);
         INSERT INTO public.acc SELECT g, 'x' FROM generate_series(0, 1200) g;",
    )
    .unwrap();
    let version: i32 = c
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )
        .unwrap()
        .get(0);
    let counted = |c: &mut Client, sql: &str| -> Result<i64, String> {
        // a MERGE's rows per action are known from its dry run
        let mode = if sql.starts_with("MERGE") {
            "dry_run"
        } else {
            "exact"
        };
        let doc: String = c
            .query_one("SELECT ai.impact($1, $2)::text", &[&sql, &mode])
            .map_err(|e| {
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or(e.to_string())
            })?
            .get(0);
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        Ok(doc["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == "public.acc")
            .and_then(|t| t["rows_exact"].as_i64())
            .unwrap_or(-1))
    };
    let real = |c: &mut Client, sql: &str| -> i64 {
        let mut t = c.transaction().unwrap();
        let n = t.execute(sql, &[]).unwrap() as i64;
        t.rollback().unwrap();
        n
    };
    let mut forms = vec![
        "DELETE FROM public.acc WHERE v = E'x' AND id = 5",
        "DELETE FROM public.acc WHERE v = U&'\\0078' AND id IN (5, 6)",
        "DELETE FROM public.acc WHERE v = $$x$$ AND id = 5",
        "DELETE FROM public.acc WHERE v = $q$x$q$ AND id IN (5, 6)",
        "DELETE /* a */ FROM public.acc -- b\n WHERE id /* c */ = 5 -- d\n RETURNING id",
        "DELETE FROM ONLY public.acc a USING (VALUES (7), (8)) AS u(k) WHERE a.id = u.k",
        "UPDATE public.acc SET v = CASE WHEN v IS DISTINCT FROM 'y' THEN 'z' END FROM (SELECT 9 AS k) s WHERE id = s.k",
        "WITH k AS (SELECT 10 AS id) DELETE FROM public.acc WHERE id IN (SELECT id FROM k)",
        "MERGE INTO public.acc a USING (SELECT 11 AS id) s JOIN (SELECT 11 AS id) t ON s.id = t.id ON a.id = s.id WHEN MATCHED THEN DELETE",
    ];
    let newer = [
        "DELETE FROM public.acc WHERE id IN (SELECT 0b101)",
        "DELETE FROM public.acc WHERE id = 0x5",
        "DELETE FROM public.acc WHERE id < 0o17",
        "DELETE FROM public.acc WHERE id = 1_000",
    ];
    if version >= 16 {
        forms.extend(newer);
    } else {
        // PostgreSQL 15's own lexer refuses them ("trailing junk after numeric literal")
        for sql in newer {
            let e = counted(&mut c, sql).expect_err(sql);
            assert!(
                e.contains("trailing junk") || e.contains("syntax"),
                "{sql}: {e}"
            );
        }
    }
    for sql in forms {
        let n = counted(&mut c, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let changed = real(&mut c, sql);
        assert_eq!(
            n, changed,
            "{sql}: counted {n}, PostgreSQL changes {changed}"
        );
        assert!(n > 0, "{sql}");
    }
    // approved, run, backed up and rolled back: the rows PostgreSQL means
    let (sql, gone): (&str, &[i32]) = if version >= 16 {
        (
            "DELETE FROM public.acc WHERE id = 0x5 OR id = 1_000 -- two\n",
            &[5, 1000],
        )
    } else {
        (
            "DELETE FROM public.acc WHERE id = U&'\\0035'::int OR id = 1000 -- two\n",
            &[5, 1000],
        )
    };
    let id: i64 = c
        .query_one("SELECT ai.request($1)", &[&sql])
        .unwrap()
        .get(0);
    let out = execute(&mut c, id);
    assert_eq!(out["status"], "succeeded", "{out}");
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM public.acc WHERE id = ANY($1)",
            &[&gone],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "{out}");
    let total: i64 = c
        .query_one("SELECT count(*) FROM public.acc", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        total, 1199,
        "only the two rows PostgreSQL means are gone: {out}"
    );
    let exec = out["execution"].as_i64().unwrap();
    c.query("SELECT ai.rollback($1)", &[&exec]).unwrap();
    let total: i64 = c
        .query_one("SELECT count(*) FROM public.acc", &[])
        .unwrap()
        .get(0);
    assert_eq!(total, 1201, "the rollback restores exactly them");
}

fn approve_if_pending(approver: &mut Client, id: i64) {
    if state(approver, id) == "pending" {
        approver.query("SELECT ai.approve($1)", &[&id]).unwrap();
    }
    assert_eq!(state(approver, id), "approved");
}

fn execute(c: &mut Client, id: i64) -> serde_json::Value {
    let out: String = c
        .query_one("SELECT ai.execute($1)::text", &[&id])
        .unwrap()
        .get(0);
    serde_json::from_str(&out).unwrap()
}

fn is_superuser(c: &mut Client, role: &str) -> bool {
    c.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])
        .unwrap()
        .get(0)
}

/// Review M-1: an approved statement runs with its requester's rights. Her own function,
/// reached from the statement, tries to make her superuser: run with the executor's rights
/// (`ai_architect.execute_as = executor`, how 0.2.0 ran every request) it does — the weapon
/// is real; with the requester's (the default) it cannot, and the statement still runs. Only
/// the requester and the approvers of its level may have it run with her rights.
#[test]
fn an_approved_statement_runs_with_its_requesters_rights() {
    let db = TestDb::new("runas");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob", "carol"], &["bob"]);
    let alice_name = roles.name(0).to_string();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {alice_name} AUTHORIZATION {alice_name};
             UPDATE ai.approval_policy SET required_approvals = 1 WHERE risk_level = 'CRITICAL'"
        ))
        .unwrap();
    let mut alice = db.connect(&alice_name);
    alice
        .batch_execute(&format!(
            "CREATE TABLE {alice_name}.seen (who name);
             CREATE FUNCTION {alice_name}.tag(t text) RETURNS text LANGUAGE plpgsql AS $f$
             BEGIN
               INSERT INTO {alice_name}.seen VALUES (current_user);
               BEGIN
                 EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '{alice_name}');
               EXCEPTION WHEN insufficient_privilege THEN NULL;
               END;
               RETURN t;
             END $f$"
        ))
        .unwrap();
    let mut bob = db.connect(roles.name(1));
    let tagged =
        |id: i32| format!("UPDATE imp.customer SET name = {alice_name}.tag(name) WHERE id = {id}");

    // the weapon: with the executor's rights her function makes her superuser
    let id = request(&mut alice, &tagged(5));
    approve_if_pending(&mut bob, id);
    admin
        .batch_execute("SET ai_architect.execute_as = executor")
        .unwrap();
    let out = execute(&mut admin, id);
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_eq!(out["ran_as"], "postgres", "{out}");
    assert!(
        is_superuser(&mut admin, &alice_name),
        "the weapon did not fire"
    );
    admin
        .batch_execute(&format!(
            "ALTER ROLE {alice_name} NOSUPERUSER; RESET ai_architect.execute_as; TRUNCATE {alice_name}.seen"
        ))
        .unwrap();

    // the default: her statement, her rights, whoever executes it
    let id = request(&mut alice, &tagged(6));
    let impact: String = admin
        .query_one("SELECT ai.request_status($1) ->> 'runs_as'", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(impact, alice_name, "the request keeps the role it runs as");
    approve_if_pending(&mut bob, id);
    let out = execute(&mut admin, id);
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_eq!(out["ran_as"], alice_name.as_str(), "{out}");
    assert!(
        !is_superuser(&mut admin, &alice_name),
        "her code ran as the executor"
    );
    let seen: Vec<String> = admin
        .query(&format!("SELECT who::text FROM {alice_name}.seen"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seen, vec![alice_name.clone()]);

    // a CRITICAL request (it writes a sensitive column): carol, neither its requester nor a
    // senior, may not have it run with alice's rights; alice may
    let id = request(
        &mut alice,
        "UPDATE imp.customer SET email = NULL WHERE id = 7",
    );
    approve_if_pending(&mut bob, id);
    let mut carol = db.connect(roles.name(2));
    let err = err_of(carol.query("SELECT ai.execute($1)", &[&id]));
    assert!(err.contains("ai_senior"), "{err}");
    assert_eq!(state(&mut alice, id), "approved");
    let out = execute(&mut alice, id);
    assert_eq!(out["status"], "succeeded", "{out}");
}

/// The other way round: an executor cannot make a requester's statement mean something else
/// through their own search_path. The requester is a superuser; the executor puts a schema of
/// their own before pg_catalog with a `lower(text)` that tries to make them superuser. They
/// reach it themselves (the weapon is real); the approved statement resolves its names with
/// the path it was analysed under and never does.
#[test]
fn an_executors_search_path_cannot_borrow_a_requesters_rights() {
    let db = TestDb::new("runpath");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["bob"], &["bob"]);
    let bob_name = roles.name(0).to_string();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {bob_name} AUTHORIZATION {bob_name}"
        ))
        .unwrap();
    let mut bob = db.connect(&bob_name);
    bob.batch_execute(&format!(
        "CREATE TABLE {bob_name}.seen (who name);
         GRANT INSERT ON {bob_name}.seen TO PUBLIC;
         GRANT USAGE ON SCHEMA {bob_name} TO PUBLIC;
         CREATE FUNCTION {bob_name}.lower(t text) RETURNS text LANGUAGE plpgsql AS $f$
         BEGIN
           INSERT INTO {bob_name}.seen VALUES (current_user);
           BEGIN
             EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '{bob_name}');
           EXCEPTION WHEN insufficient_privilege THEN NULL;
           END;
           RETURN t;
         END $f$;
         SET search_path = {bob_name}, pg_catalog, imp;"
    ))
    .unwrap();
    // the weapon: under bob's path, lower() is his
    bob.batch_execute("SELECT lower('X')").unwrap();
    let seen: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {bob_name}.seen"), &[])
        .unwrap()
        .get(0);
    assert_eq!(seen, 1, "bob's lower() is not the one his path finds");
    let id = request(
        &mut admin,
        "UPDATE imp.customer SET name = lower(name) WHERE id = 8",
    );
    approve_if_pending(&mut bob, id);
    let out = execute(&mut bob, id);
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_eq!(out["ran_as"], "postgres", "{out}");
    assert!(
        !is_superuser(&mut admin, &bob_name),
        "bob borrowed the requester's rights"
    );
    let seen: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {bob_name}.seen"), &[])
        .unwrap()
        .get(0);
    assert_eq!(
        seen, 1,
        "the executor's lower() ran in the approved statement"
    );
}

/// The notifications a listener has received so far, as JSON.
fn announced(listener: &mut Client) -> Vec<serde_json::Value> {
    use postgres::fallible_iterator::FallibleIterator;
    listener.batch_execute("SELECT 1").unwrap();
    let mut out = Vec::new();
    let mut notes = listener.notifications();
    let mut it = notes.iter();
    while let Some(n) = it.next().unwrap() {
        out.push(serde_json::from_str(n.payload()).unwrap());
    }
    out
}

/// One change a statement made to `w.t`, as its row trigger logged it or as a backup holds
/// it: (operation, key, the row before; None for an insert).
type Change = (String, i32, Option<String>);

/// Review H-3, as a property: the backup holds exactly the rows a statement changed, never
/// others and never fewer, whatever its WHERE (`random()`, `ORDER BY random() LIMIT`, a
/// condition on values another session is changing) and for DELETE, UPDATE, INSERT … ON
/// CONFLICT and MERGE, while a concurrent writer inserts, updates and deletes rows of the same
/// table. The oracle is a row trigger that announces every change with its transaction
/// (NOTIFY: delivered at commit, dropped with a rolled-back subtransaction, and writing no
/// table, which a MERGE's backup would refuse): for an
/// execution that succeeds, its logged changes and its backup are the same set; after its
/// rollback (when no later change conflicts) every changed row is as it was. An execution
/// that meets other rows than it backed up must fail and change nothing.
#[test]
fn the_backup_holds_exactly_the_rows_a_statement_changed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let db = TestDb::new("exact");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true;
         CREATE SCHEMA w;
         CREATE TABLE w.t (id int PRIMARY KEY, v int NOT NULL, label text);
         INSERT INTO w.t SELECT g, g % 17, 'row ' || g FROM generate_series(1, 250) g;
         CREATE TABLE w.src (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO w.src SELECT g, g % 11 FROM generate_series(200, 320) g;
         CREATE FUNCTION w.log_change() RETURNS trigger LANGUAGE plpgsql AS $f$
         BEGIN
           PERFORM pg_notify('wlog', json_build_object(
             'xid', pg_current_xact_id()::text, 'op', lower(TG_OP),
             'id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END,
             'old', CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE ROW(OLD.id, OLD.v, OLD.label)::text END)::text);
           RETURN NULL;
         END $f$;
         CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON w.t
           FOR EACH ROW EXECUTE FUNCTION w.log_change();
         ANALYZE w.t, w.src;",
    )
    .unwrap();
    let cases = std::env::var("AI_PROPERTY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150u64);
    let mut listener = db.connect("postgres");
    listener.batch_execute("LISTEN wlog").unwrap();
    let mut rng = Rng(0x5eed_0000_0000_0003);
    let (mut succeeded, mut refused, mut restored) = (0, 0, 0);
    let mut failed: std::collections::BTreeMap<&str, usize> = Default::default();
    for case in 0..cases {
        let (m, r, k) = (2 + rng.below(5), rng.below(2), 1 + rng.below(9));
        let stmt = match rng.below(8) {
            0 => format!("DELETE FROM w.t WHERE id IN (SELECT id FROM w.t ORDER BY random() LIMIT {k})"),
            1 => format!("UPDATE w.t SET v = v + 1 WHERE random() < 0.0{k}"),
            2 => format!("UPDATE w.t SET label = 'u{case}' WHERE v % {m} = {r}"),
            3 => format!("DELETE FROM w.t WHERE v % {m} = {r} AND id % 5 = {}", rng.below(5)),
            4 => format!(
                "INSERT INTO w.t (id, v, label) SELECT id, v, 'up' FROM w.src WHERE id % {m} = {r}
                 ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v + 1"
            ),
            5 => "INSERT INTO w.t (id, v, label) SELECT id, v, 'up' FROM w.src WHERE random() < 0.2
                  ON CONFLICT (id) DO UPDATE SET label = 'upr'"
                .to_string(),
            6 => format!(
                "MERGE INTO w.t t USING w.src s ON t.id = s.id
                 WHEN MATCHED AND s.v % {m} = 0 THEN UPDATE SET v = s.v
                 WHEN MATCHED AND s.v % {m} = 1 THEN DELETE
                 WHEN NOT MATCHED THEN INSERT (id, v, label) VALUES (s.id, s.v, 'm')"
            ),
            _ => "MERGE INTO w.t t USING (SELECT id, v FROM w.src WHERE random() < 0.3) s ON t.id = s.id
                  WHEN MATCHED THEN UPDATE SET v = s.v + 1
                  WHEN NOT MATCHED THEN INSERT (id, v, label) VALUES (s.id, s.v, 'm')"
                .to_string(),
        };
        // a MERGE whose dry run met other rows than its capture is refused up front
        let id: i64 = match c.query_one("SELECT ai.request($1)", &[&stmt]) {
            Ok(row) => row.get(0),
            Err(e)
                if e.as_db_error().is_some_and(|d| {
                    d.message()
                        .contains("only its target's rows can be backed up")
                }) =>
            {
                refused += 1;
                continue;
            }
            Err(e) => panic!("{stmt}: {:?}", e.as_db_error()),
        };
        // a writer changes rows of the same table while the statement is executed
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, dbname, seed) = (stop.clone(), db.name.clone(), rng.next());
            thread::spawn(move || {
                let mut w = connect(&dbname, "postgres");
                w.batch_execute("SET lock_timeout = '50ms'").unwrap();
                let mut rng = Rng(seed | 1);
                while !stop.load(Ordering::Relaxed) {
                    let k = 1 + rng.below(320);
                    let q = match rng.below(3) {
                        0 => format!("UPDATE w.t SET v = v + 1 WHERE id = {k}"),
                        1 => format!(
                            "INSERT INTO w.t VALUES ({k}, {}, 'w') ON CONFLICT DO NOTHING",
                            k % 17
                        ),
                        _ => format!("DELETE FROM w.t WHERE id = {k}"),
                    };
                    let _ = w.batch_execute(&q);
                    thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let out = c.query_one("SELECT ai.execute($1)::text", &[&id]);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let out: serde_json::Value = match out {
            Ok(row) => serde_json::from_str(row.get::<_, &str>(0)).unwrap(),
            Err(e) => {
                let msg = e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_default();
                assert!(
                    msg.contains("only its target's rows can be backed up"),
                    "{stmt}: {e}"
                );
                refused += 1;
                continue;
            }
        };
        if out["status"] != "succeeded" {
            let reason = out["reason"].as_str().unwrap_or("");
            // undone by the workflow's own checks, or by PostgreSQL where the writer raced it
            // (a MERGE's insert meeting the writer's new key)
            let why = [
                "verification failed",
                "drifted",
                "lock timeout",
                "locks could not be taken",
                "duplicate key value",
                "deadlock detected",
            ]
            .into_iter()
            .find(|w| reason.contains(w))
            .unwrap_or_else(|| panic!("{stmt}: {out}"));
            *failed.entry(why).or_insert(0) += 1;
            refused += 1;
            continue;
        }
        succeeded += 1;
        let exec = out["execution"].as_i64().unwrap();
        let xid: String = c
            .query_one(
                "SELECT txid::text FROM ai.executions WHERE id = $1",
                &[&exec],
            )
            .unwrap()
            .get(0);
        let logged: BTreeSet<Change> = announced(&mut listener)
            .into_iter()
            .filter(|n| n["xid"] == xid.as_str())
            .map(|n| {
                (
                    n["op"].as_str().unwrap().to_string(),
                    n["id"].as_i64().unwrap() as i32,
                    n["old"].as_str().map(str::to_string),
                )
            })
            .collect();
        let held: BTreeSet<Change> = c
            .query(
                "SELECT operation, (pk ->> 'id')::int,
                        CASE WHEN operation = 'insert' THEN NULL ELSE row_data END
                   FROM ai.backups WHERE execution_id = $1 AND table_oid = 'w.t'::regclass",
                &[&exec],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(
            held, logged,
            "{stmt}: the backup is not the rows it changed"
        );
        if c.query("SELECT ai.rollback($1)", &[&exec]).is_ok() {
            restored += 1;
            for (op, key, before) in &logged {
                let now: Option<String> = c
                    .query_opt(
                        "SELECT ROW(id, v, label)::text FROM w.t WHERE id = $1",
                        &[key],
                    )
                    .unwrap()
                    .map(|r| r.get(0));
                let want = if op == "insert" { None } else { before.clone() };
                assert_eq!(now, want, "{stmt}: row {key} not restored");
            }
        }
    }
    eprintln!("{cases} cases: {succeeded} executed ({restored} rolled back), {refused} refused; executions that failed: {failed:?}");
    assert!(
        succeeded * 4 >= cases && restored * 3 >= succeeded,
        "{succeeded} executed, {restored} rolled back, {refused} refused of {cases}"
    );
}

/// What was approved is, byte for byte, what runs: an INSERT (and an upsert) runs as its
/// requester wrote it, comments included — nothing is added to find the rows it wrote (they
/// are found by the transaction that wrote them). pg_stat_statements, tracking nested
/// statements, shows the text that ran (its constants as $n); its rollback still removes the
/// rows it inserted and restores the ones it updated.
#[test]
fn an_approved_insert_runs_exactly_as_written() {
    let db = TestDb::new("verbatim");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         -- the local cluster keeps its statistics across runs and restarts: a table full at
         -- pg_stat_statements.max evicts entries, this test's own among them (no other test
         -- uses the shared cluster's statistics while this binary runs)
         SELECT pg_stat_statements_reset();
         UPDATE ai.approval_policy SET required_approvals = 0;
         CREATE TABLE public.lit (id int PRIMARY KEY, v text);
         INSERT INTO public.lit VALUES (1, 'one');
         SET pg_stat_statements.track = 'all';",
    )
    .unwrap();
    let ran = |c: &mut Client, marker: &str| -> Vec<String> {
        c.query(
            "SELECT query FROM pg_stat_statements
              WHERE query LIKE '%' || $1 || '%' AND query NOT LIKE '%ai.%' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&marker],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    for (marker, sql, want) in [
        (
            "approved-7",
            "INSERT INTO public.lit /* approved-7 */ VALUES (7, 'seven')",
            "INSERT INTO public.lit /* approved-7 */ VALUES ($1, $2)",
        ),
        (
            "approved-8",
            "INSERT INTO public.lit AS l /* approved-8 */ VALUES (1, 'uno'), (8, 'eight')\n  ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v",
            "INSERT INTO public.lit AS l /* approved-8 */ VALUES ($1, $2), ($3, $4)\n  ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v",
        ),
    ] {
        let before = fingerprint(&mut c, &["public.lit"]);
        let id = request(&mut c, sql);
        let out = execute(&mut c, id);
        assert_eq!(out["status"], "succeeded", "{sql}: {out}");
        let texts = ran(&mut c, marker);
        assert!(
            texts.iter().any(|t| t == want),
            "{sql}: what ran was {texts:?}"
        );
        c.query("SELECT ai.rollback($1)", &[&out["execution"].as_i64().unwrap()])
            .unwrap();
        assert_eq!(fingerprint(&mut c, &["public.lit"]), before, "{sql}: not restored");
    }
}

/// Lock-safe DDL: an approved ALTER TABLE behind a long transaction waits in short attempts
/// (`execute_lock_timeout_ms` each), each rolled back so that readers queued behind it go on,
/// logged with the session that held the lock, and lands once the blocker commits. Readers
/// arriving meanwhile wait at most about one attempt. With too small a retry budget the
/// request fails and says who held the lock.
#[test]
fn an_alter_behind_a_long_transaction_waits_in_short_attempts_and_lands() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let db = TestDb::new("lockretry");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true;
         CREATE TABLE public.big (id int PRIMARY KEY, v int);
         INSERT INTO public.big SELECT g, g FROM generate_series(1, 10000) g;",
    )
    .unwrap();
    let mut blocker = db.connect("postgres");
    let blocker_pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);

    // the budget runs out: the request fails, naming the session that held the lock
    let id = request(&mut c, "ALTER TABLE public.big ADD COLUMN early text");
    blocker
        .batch_execute("BEGIN; SELECT count(*) FROM public.big")
        .unwrap();
    c.batch_execute(
        "SET ai_architect.execute_lock_timeout_ms = 200; SET ai_architect.execute_lock_retry_ms = 1000",
    )
    .unwrap();
    let out = execute(&mut c, id);
    assert_eq!(out["status"], "failed", "{out}");
    let reason = out["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("could not be taken") && reason.contains(&format!("pid {blocker_pid}")),
        "{out}"
    );
    assert!(out["attempts"].as_u64().unwrap_or(0) >= 2, "{out}");
    blocker.batch_execute("COMMIT").unwrap();

    // enough budget: it lands after the blocker commits, readers never wait long
    let id = request(&mut c, "ALTER TABLE public.big ADD COLUMN note text");
    blocker
        .batch_execute("BEGIN; SELECT count(*) FROM public.big")
        .unwrap();
    let (dbname, stop) = (db.name.clone(), Arc::new(AtomicBool::new(false)));
    let executor = {
        let dbname = dbname.clone();
        thread::spawn(move || {
            let mut e = connect(&dbname, "postgres");
            e.batch_execute(
                "SET ai_architect.execute_lock_timeout_ms = 300; SET ai_architect.execute_lock_retry_ms = 30000",
            )
            .unwrap();
            execute(&mut e, id)
        })
    };
    let reader = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut r = connect(&dbname, "postgres");
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                r.query_one("SELECT count(*) FROM public.big WHERE id < 10", &[])
                    .unwrap();
                worst = worst.max(t.elapsed());
                thread::sleep(Duration::from_millis(20));
            }
            worst
        })
    };
    thread::sleep(Duration::from_millis(2500));
    blocker.batch_execute("COMMIT").unwrap();
    let out = executor.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let worst = reader.join().unwrap();
    assert_eq!(out["status"], "succeeded", "{out}");
    assert!(out["attempts"].as_u64().unwrap_or(0) >= 2, "{out}");
    let seen: Vec<i64> = out["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["blocked_by"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["pid"].as_i64())
        .collect();
    assert!(seen.contains(&(blocker_pid as i64)), "{out}");
    eprintln!(
        "ALTER behind a 2.5 s transaction: {} attempts; a reader's worst wait {worst:?}",
        out["attempts"]
    );
    // about one attempt (300 ms), never the blocker's 2.5 s
    assert!(
        worst < Duration::from_millis(1500),
        "a reader waited {worst:?} behind the ALTER"
    );
    c.query_one("SELECT note FROM public.big LIMIT 1", &[])
        .unwrap();
    let logged: i64 = c
        .query_one(
            "SELECT count(*) FROM ai.audit_log WHERE action = 'execute_attempt' AND object_type = 'request' AND object_id = $1",
            &[&id.to_string()],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        logged as u64,
        out["attempts"].as_u64().unwrap() - 1,
        "{out}"
    );
}

/// An executor cannot lift the time limit of a statement it runs for another role: the
/// requester's statement takes 1.5 s; the owner's ceiling (`execute_timeout_ceiling_ms`,
/// 500 ms here) holds whatever `execute_statement_timeout_ms` the executor sets, and the
/// execution fails, undone. The requester running her own statement may raise her limit.
#[test]
fn an_executor_cannot_lift_the_time_limit_of_another_roles_statement() {
    let db = TestDb::new("ceiling");
    let mut admin = db.connect("postgres");
    admin.batch_execute(SCHEMA).unwrap();
    let roles = Roles::new(&db, &["alice", "bob"], &["bob"]);
    let alice_name = roles.name(0).to_string();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {alice_name} AUTHORIZATION {alice_name};
             UPDATE ai.approval_policy SET required_approvals = 0;
             ALTER DATABASE \"{}\" SET ai_architect.execute_timeout_ceiling_ms = 500",
            db.name
        ))
        .unwrap();
    let mut alice = db.connect(&alice_name);
    alice
        .batch_execute(&format!(
            "CREATE FUNCTION {alice_name}.slow(t text) RETURNS text LANGUAGE plpgsql AS $f$
             BEGIN PERFORM pg_catalog.pg_sleep(1.5); RETURN t; END $f$;
             SET ai_architect.execute_statement_timeout_ms = 100000"
        ))
        .unwrap();
    let mut bob = db.connect(roles.name(1));
    bob.batch_execute("SET ai_architect.execute_statement_timeout_ms = 100000")
        .unwrap();
    let sql = format!("UPDATE imp.customer SET name = {alice_name}.slow(name) WHERE id = 5");
    let before = fingerprint(&mut admin, &["imp.customer"]);
    let id = request(&mut alice, &sql);
    let out = execute(&mut bob, id);
    assert_eq!(out["status"], "failed", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap_or("")
            .contains("statement timeout"),
        "{out}"
    );
    assert_eq!(fingerprint(&mut admin, &["imp.customer"]), before);
    // her own statement, her own limit
    let id = request(&mut alice, &sql);
    let out = execute(&mut alice, id);
    assert_eq!(out["status"], "succeeded", "{out}");
}

/// The queue comes a page at a time, newest first: `before_id` continues where a page ended,
/// the state filter applies before the page is cut, and a page size out of range is an ERROR.
#[test]
fn the_queue_pages_newest_first() {
    let db = TestDb::new("pages");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE TABLE public.p (id int PRIMARY KEY, v int);
         INSERT INTO public.p SELECT g, 0 FROM generate_series(1, 10) g;",
    )
    .unwrap();
    let mut ids = Vec::new();
    for i in 1..=7 {
        let sql = format!("UPDATE public.p SET v = {i} WHERE id = {i}");
        let id: i64 = c
            .query_one("SELECT ai.request($1)", &[&sql])
            .unwrap()
            .get(0);
        ids.push(id);
    }
    c.query("SELECT ai.cancel($1)", &[&ids[1]]).unwrap();
    let page = |c: &mut Client, state: Option<&str>, before: Option<i64>| -> Vec<i64> {
        c.query("SELECT id FROM ai.requests($1, 3, $2)", &[&state, &before])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let p = page(&mut c, None, before);
        assert!(p.len() <= 3);
        if p.is_empty() {
            break;
        }
        assert!(p.windows(2).all(|w| w[0] > w[1]), "newest first: {p:?}");
        before = p.last().copied();
        seen.extend(p);
    }
    let mut all = ids.clone();
    all.reverse();
    assert_eq!(seen, all, "every request once, in order");
    let cancelled = page(&mut c, Some("cancelled"), None);
    assert_eq!(cancelled, vec![ids[1]]);
    let e = err_of(c.query("SELECT * FROM ai.requests(NULL, 0)", &[]));
    assert!(e.contains("max_rows must be between 1 and 10000"), "{e}");
}

/// ai.verify_audit() reads the chain a page (1,000 entries) at a time: a chain of several
/// pages verifies whole, and an entry changed on a later page is the one reported.
#[test]
fn the_audit_chain_is_verified_a_page_at_a_time() {
    let db = TestDb::new("pages_audit");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE TABLE public.p (id int PRIMARY KEY, v int);
         INSERT INTO public.p VALUES (1, 0);
         SELECT ai.request(format('UPDATE public.p SET v = %s WHERE id = 1', g)) FROM generate_series(1, 1100) g;",
    )
    .unwrap();
    let verify = |c: &mut Client| -> serde_json::Value {
        let v: String = c
            .query_one("SELECT ai.verify_audit()::text", &[])
            .unwrap()
            .get(0);
        serde_json::from_str(&v).unwrap()
    };
    let n: i64 = c
        .query_one("SELECT count(*) FROM ai.audit_log", &[])
        .unwrap()
        .get(0);
    assert!(n > 2000, "{n} entries: more than two pages");
    let v = verify(&mut c);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"].as_i64(), Some(n), "{v}");
    let forged: i64 = c
        .query_one(
            "SELECT id FROM ai.audit_log ORDER BY id OFFSET 1500 LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    c.batch_execute(&format!(
        "ALTER TABLE ai.audit_log DISABLE TRIGGER audit_log_append_only;
         UPDATE ai.audit_log SET actor = 'mallory' WHERE id = {forged};
         ALTER TABLE ai.audit_log ENABLE TRIGGER audit_log_append_only"
    ))
    .unwrap();
    let v = verify(&mut c);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_broken"]["id"].as_i64(), Some(forged), "{v}");
}
