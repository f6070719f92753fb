//! Approved statements that PostgreSQL runs only outside a transaction block — CREATE INDEX
//! CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX … CONCURRENTLY, VACUUM — executed by a
//! background worker of their own: with the requester's rights, with progress while they
//! run, a failed build's INVALID index reported and dropped, rollback of each kind, a writer
//! that never waits on the build; and, on a cluster of its own, no free worker slot and a
//! worker killed mid-build.
use ai_architect_integration::{connect, wait_for, Cluster, TestDb};
use postgres::Client;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn json(c: &mut Client, sql: &str, id: i64) -> Value {
    let s: String = c.query_one(sql, &[&id]).unwrap().get(0);
    serde_json::from_str(&s).unwrap()
}

fn status(c: &mut Client, id: i64) -> Value {
    json(c, "SELECT ai.request_status($1)::text", id)
}

/// Waits until the request leaves `running`; its status.
fn settled(c: &mut Client, id: i64) -> Value {
    let start = Instant::now();
    loop {
        let s = status(c, id);
        if s["state"] != "running" && s["executions"][0]["status"] != "rolling_back" {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "still running: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn request(c: &mut Client, sql: &str) -> i64 {
    c.query_one("SELECT ai.request($1, 'test')", &[&sql])
        .unwrap()
        .get(0)
}

fn indexes(c: &mut Client) -> Vec<(String, bool)> {
    c.query(
        "SELECT indexrelid::regclass::text, indisvalid FROM pg_index WHERE indrelid = 'public.big'::regclass ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// A writer through a driver: single-row INSERTs and UPDATEs of `big`, each its own
/// transaction, timed, until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<f64>>,
}

impl Writer {
    fn start(mut c: Client) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut i = 0i64;
            while !s.load(Ordering::Relaxed) {
                i += 1;
                let t = Instant::now();
                if i % 2 == 0 {
                    c.execute(
                        "INSERT INTO big (k, v) VALUES ($1, 'w')",
                        &[&((i % 1000) as i32)],
                    )
                    .unwrap();
                } else {
                    c.execute(
                        "UPDATE big SET v = v WHERE id = $1",
                        &[&(1 + (i * 7919) % 900_000)],
                    )
                    .unwrap();
                }
                out.push(t.elapsed().as_secs_f64() * 1000.0);
                std::thread::sleep(Duration::from_millis(2));
            }
            out
        });
        Writer { stop, handle }
    }

    /// (writes, p99 ms, max ms)
    fn finish(self) -> (usize, f64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut v = self.handle.join().unwrap();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p99 = v[((v.len() as f64) * 0.99) as usize - 1];
        (v.len(), p99, *v.last().unwrap())
    }
}

/// Runs `work` while a writer writes; the writer's (writes, p99, max).
fn with_writer(db: &TestDb, work: impl FnOnce()) -> (usize, f64, f64) {
    let w = Writer::start(db.connect("postgres"));
    std::thread::sleep(Duration::from_millis(300));
    work();
    std::thread::sleep(Duration::from_millis(300));
    w.finish()
}

#[test]
fn approved_statements_outside_a_transaction_block_run_in_a_worker_of_their_own() {
    let db = TestDb::new("online");
    let tag = db.name.rsplit('_').take(2).collect::<Vec<_>>().join("_");
    let (alice, bob) = (format!("alice_{tag}"), format!("bob_{tag}"));
    let mut pg = db.connect("postgres");
    pg.batch_execute(&format!(
        "CREATE ROLE {alice} LOGIN; CREATE ROLE {bob} LOGIN;
         CREATE TABLE big (id bigserial PRIMARY KEY, k int, v text);
         INSERT INTO big (k, v) SELECT g % 1000, 'v' || (g % 500000) FROM generate_series(1, 1000000) g;
         CREATE INDEX big_v_idx ON big (v);
         ALTER TABLE big OWNER TO {alice}; GRANT CREATE ON SCHEMA public TO {alice};
         CREATE TABLE theirs (id int PRIMARY KEY, x int);
         GRANT SELECT ON theirs TO {alice};
         UPDATE ai.approval_policy SET required_approvals = 1, approver_role = NULL;"
    ))
    .unwrap();
    pg.batch_execute("VACUUM ANALYZE big").unwrap();
    let mut a = db.connect(&alice);
    let mut b = db.connect(&bob);
    let approve_and_execute = |b: &mut Client, id: i64| -> Value {
        b.execute("SELECT ai.approve($1)", &[&id]).unwrap();
        json(b, "SELECT ai.execute($1)::text", id)
    };

    // PostgreSQL's parser reads what the text parser of 0.2.0 could not
    let doc = json(
        &mut a,
        "SELECT ai.impact('DROP INDEX CONCURRENTLY big_v_idx')::text WHERE $1::int8 IS NOT NULL",
        0,
    );
    assert_eq!(doc["locks"][0]["mode"], "SHARE UPDATE EXCLUSIVE", "{doc}");
    assert_eq!(
        doc["rollback_plan"]["inverse"][0],
        "CREATE INDEX CONCURRENTLY big_v_idx ON public.big USING btree (v)"
    );

    // the requester's rights, not the worker's: the weapon (a superuser may index any table)
    // is real, and the worker does not lend it
    pg.batch_execute("CREATE INDEX CONCURRENTLY theirs_x_by_hand ON theirs (x)")
        .unwrap();
    pg.batch_execute("DROP INDEX theirs_x_by_hand").unwrap();
    let id = request(&mut a, "CREATE INDEX CONCURRENTLY theirs_x ON theirs (x)");
    let started = approve_and_execute(&mut b, id);
    assert_eq!(started["status"], "running", "{started}");
    assert_eq!(started["ran_as"], alice.as_str());
    let s = settled(&mut b, id);
    assert_eq!(s["state"], "failed", "{s}");
    let e = s["executions"][0]["error"].as_str().unwrap();
    assert!(e.contains("must be owner of table theirs"), "{e}");
    let none: Option<String> = pg
        .query_one("SELECT to_regclass('theirs_x')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(none, None);

    // a writer's latency: a plain CREATE INDEX by hand stalls it for the whole build; the
    // same index built concurrently, by hand or through the workflow, does not
    let plain = with_writer(&db, || {
        db.connect("postgres")
            .batch_execute("CREATE INDEX big_k_plain ON big (k); DROP INDEX big_k_plain")
            .unwrap();
    });
    let by_hand = with_writer(&db, || {
        let mut c = db.connect("postgres");
        c.batch_execute("CREATE INDEX CONCURRENTLY big_k_hand ON big (k)")
            .unwrap();
        c.batch_execute("DROP INDEX big_k_hand").unwrap();
    });
    // an old snapshot holds the build in its last wait, long enough to see its progress
    let mut old = db.connect("postgres");
    old.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM theirs")
        .unwrap();
    let mut cic = 0;
    let mut seen = Value::Null;
    let workflow = with_writer(&db, || {
        cic = request(&mut a, "CREATE INDEX CONCURRENTLY big_k_idx ON big (k)");
        assert_eq!(approve_and_execute(&mut b, cic)["status"], "running");
        wait_for(
            "the build waiting for the old snapshot",
            Duration::from_secs(120),
            || {
                let s = status(&mut b, cic);
                assert_eq!(s["state"], "running", "{s}");
                seen = s["executions"][0]["progress"].clone();
                seen["create_index"]["phase"] == "waiting for old snapshots"
            },
        );
        assert_eq!(status(&mut b, cic)["state"], "running");
        old.batch_execute("COMMIT").unwrap();
        settled(&mut b, cic);
    });
    println!(
        "writer latency, {} / {} / {} writes: plain CREATE INDEX by hand p99 {:.1} ms max {:.1} ms; CONCURRENTLY by hand p99 {:.1} ms max {:.1} ms; CONCURRENTLY through the workflow p99 {:.1} ms max {:.1} ms",
        plain.0, by_hand.0, workflow.0, plain.1, plain.2, by_hand.1, by_hand.2, workflow.1, workflow.2
    );
    assert!(
        seen["wait_event"]
            .as_str()
            .unwrap_or("")
            .starts_with("Lock"),
        "{seen}"
    );
    assert!(seen["create_index"]["blocks_total"].is_number(), "{seen}");
    let s = status(&mut b, cic);
    assert_eq!(s["state"], "executed", "{s}");
    assert!(indexes(&mut pg).contains(&("big_k_idx".into(), true)));
    assert!(
        plain.2 > 100.0,
        "the plain build did not stall the writer: {plain:?}"
    );
    assert!(
        workflow.2 < plain.2 / 2.0,
        "the workflow's build stalled the writer like a plain one: {workflow:?} vs {plain:?}"
    );
    assert!(
        workflow.1 <= (by_hand.1 * 3.0).max(by_hand.1 + 25.0),
        "the writer's p99 under the workflow's build {workflow:?} vs by hand {by_hand:?}"
    );

    // a unique build that fails leaves an INVALID index: reported and dropped, or kept
    let id = request(
        &mut a,
        "CREATE UNIQUE INDEX CONCURRENTLY big_v_uniq ON big (v)",
    );
    approve_and_execute(&mut b, id);
    let s = settled(&mut b, id);
    assert_eq!(s["state"], "failed", "{s}");
    assert_eq!(
        s["executions"][0]["outside_transaction"]["invalid_indexes"],
        serde_json::json!([{"index": "public.big_v_uniq", "dropped": true}]),
        "{s}"
    );
    assert!(!indexes(&mut pg).iter().any(|(n, _)| n == "big_v_uniq"));
    let id = request(
        &mut a,
        "CREATE UNIQUE INDEX CONCURRENTLY big_v_uniq ON big (v)",
    );
    b.batch_execute("SET ai_architect.keep_invalid_indexes = on")
        .unwrap();
    approve_and_execute(&mut b, id);
    let s = settled(&mut b, id);
    assert_eq!(
        s["executions"][0]["outside_transaction"]["invalid_indexes"],
        serde_json::json!([{"index": "public.big_v_uniq", "dropped": false}]),
        "{s}"
    );
    assert!(indexes(&mut pg).contains(&("big_v_uniq".into(), false)));
    pg.batch_execute("DROP INDEX big_v_uniq").unwrap();

    // rollback of each kind: a concurrent build is dropped concurrently, a concurrent drop
    // built again from its definition, a rebuild and a VACUUM have nothing to undo
    let exec = |c: &mut Client, id: i64| status(c, id)["executions"][0]["id"].as_i64().unwrap();
    let e = exec(&mut b, cic);
    let r = json(&mut a, "SELECT ai.rollback($1)::text", e);
    assert_eq!(
        r["statement"], "DROP INDEX CONCURRENTLY public.big_k_idx",
        "{r}"
    );
    assert_eq!(settled(&mut a, cic)["state"], "rolled_back");
    assert!(!indexes(&mut pg).iter().any(|(n, _)| n == "big_k_idx"));

    let before: String = pg
        .query_one("SELECT pg_get_indexdef('big_v_idx'::regclass)", &[])
        .unwrap()
        .get(0);
    let id = request(&mut a, "DROP INDEX CONCURRENTLY big_v_idx");
    approve_and_execute(&mut b, id);
    assert_eq!(settled(&mut b, id)["state"], "executed");
    assert!(!indexes(&mut pg).iter().any(|(n, _)| n == "big_v_idx"));
    let e = exec(&mut a, id);
    json(&mut a, "SELECT ai.rollback($1)::text", e);
    assert_eq!(settled(&mut a, id)["state"], "rolled_back");
    let after: String = pg
        .query_one("SELECT pg_get_indexdef('big_v_idx'::regclass)", &[])
        .unwrap()
        .get(0);
    assert_eq!(after, before);

    let oid = |c: &mut Client| -> u32 {
        c.query_one("SELECT 'big_v_idx'::regclass::oid", &[])
            .unwrap()
            .get(0)
    };
    let was = oid(&mut pg);
    for sql in [
        "REINDEX INDEX CONCURRENTLY big_v_idx",
        "VACUUM (ANALYZE) big",
    ] {
        let id = request(&mut a, sql);
        approve_and_execute(&mut b, id);
        let s = settled(&mut b, id);
        assert_eq!(s["state"], "executed", "{sql}: {s}");
        let e = exec(&mut a, id);
        json(&mut a, "SELECT ai.rollback($1)::text", e);
        assert_eq!(status(&mut a, id)["state"], "rolled_back", "{sql}");
    }
    assert_ne!(oid(&mut pg), was, "REINDEX CONCURRENTLY builds a new index");
    let vacuumed: bool = pg
        .query_one("SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'big'", &[])
        .unwrap()
        .get(0);
    assert!(vacuumed);
    let ok: String = pg
        .query_one("SELECT ai.verify_audit() ->> 'ok'", &[])
        .unwrap()
        .get(0);
    assert_eq!(ok, "true");
    drop((a, b, pg, old));
    drop(db);
    let mut c = connect("postgres", "postgres");
    c.batch_execute(&format!("DROP ROLE {alice}; DROP ROLE {bob}"))
        .unwrap();
}

#[test]
fn without_a_worker_slot_it_says_how_and_a_killed_worker_leaves_a_failed_request() {
    // one background worker slot for the whole cluster
    let cluster = Cluster::new(
        "it-online",
        28826,
        &[
            "max_worker_processes = 1",
            "max_logical_replication_workers = 0",
        ],
    );
    let mut c = cluster.connect("postgres");
    c.batch_execute(
        "CREATE EXTENSION ai_architect CASCADE;
         CREATE TABLE big (id bigserial PRIMARY KEY, k int, v text);
         INSERT INTO big (k, v) SELECT g % 1000, 'v' || g FROM generate_series(1, 200000) g;
         CREATE TABLE other (id int PRIMARY KEY);
         UPDATE ai.approval_policy SET required_approvals = 0;",
    )
    .unwrap();
    let count =
        |c: &mut Client| -> i64 { c.query_one("SELECT count(*) FROM big", &[]).unwrap().get(0) };
    let rows = count(&mut c);
    // an old snapshot keeps the build waiting (the index exists, INVALID, meanwhile)
    let mut old = cluster.connect("postgres");
    old.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM other")
        .unwrap();
    let id = request(&mut c, "CREATE INDEX CONCURRENTLY big_k_idx ON big (k)");
    let started = json(&mut c, "SELECT ai.execute($1)::text", id);
    let pid = started["pid"].as_i64().unwrap();
    wait_for("the build waiting", Duration::from_secs(60), || {
        status(&mut c, id)["executions"][0]["progress"]["create_index"]["phase"]
            == "waiting for old snapshots"
    });

    // the one slot is taken: nothing is recorded, and the error says how to run it by hand
    let vac = request(&mut c, "VACUUM big");
    let err = c
        .query_one("SELECT ai.execute($1)::text", &[&vac])
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "53400", "{db:?}");
    assert!(db.message().contains("none can start"), "{}", db.message());
    let hint = db.hint().unwrap_or_default();
    assert!(
        hint.contains("outside any transaction block: VACUUM big"),
        "{hint}"
    );
    let s = status(&mut c, vac);
    assert_eq!(s["state"], "approved", "{s}");
    assert_eq!(s["executions"], serde_json::json!([]));

    // kill -9 of the worker mid-build: the server restarts; the request is failed, the index
    // it left INVALID reported (and kept, for the DBA); nothing else changed
    drop(old);
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    drop(c);
    std::thread::sleep(Duration::from_secs(1));
    let mut c = cluster.wait_ready("postgres", Duration::from_secs(60));
    let s = status(&mut c, id);
    assert_eq!(s["state"], "failed", "{s}");
    let e = &s["executions"][0];
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("ended before the statement finished"),
        "{e}"
    );
    assert_eq!(
        e["outside_transaction"]["invalid_indexes"],
        serde_json::json!(["public.big_k_idx"]),
        "{e}"
    );
    let idx: Vec<(String, bool)> = c
        .query(
            "SELECT indexrelid::regclass::text, indisvalid FROM pg_index WHERE indrelid = 'big'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        idx,
        vec![
            ("big_k_idx".to_string(), false),
            ("big_pkey".to_string(), true)
        ]
    );
    assert_eq!(count(&mut c), rows);
    // the slot is free again: the waiting VACUUM runs
    assert_eq!(
        json(&mut c, "SELECT ai.execute($1)::text", vac)["status"],
        "running"
    );
    assert_eq!(settled(&mut c, vac)["state"], "executed");
    let ok: String = c
        .query_one("SELECT ai.verify_audit() ->> 'ok'", &[])
        .unwrap()
        .get(0);
    assert_eq!(ok, "true");
}
