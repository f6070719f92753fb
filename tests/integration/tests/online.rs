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
    let st = settled(&mut a, cic);
    assert_eq!(st["state"], "rolled_back", "{st}");
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
    let st = settled(&mut a, id);
    assert_eq!(st["state"], "rolled_back", "{st}");
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
        let r = json(&mut a, "SELECT ai.rollback($1)::text", e);
        assert_eq!(
            r["restored"],
            serde_json::json!({"inverse": []}),
            "{sql}: {r}"
        );
        assert_eq!(status(&mut a, id)["state"], "rolled_back", "{sql}: {r}");
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
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    drop(old);
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

fn fingerprint(c: &mut Client, table: &str) -> String {
    c.query_one(
        &format!(
            "SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {table} x"
        ),
        &[],
    )
    .unwrap()
    .get(0)
}

fn audit_count(c: &mut Client, action: &str, id: i64) -> i64 {
    c.query_one(
        "SELECT count(*) FROM ai.audit_log WHERE action = $1 AND object_id = ($2::int8)::text",
        &[&action, &id],
    )
    .unwrap()
    .get(0)
}

#[test]
fn a_batched_statement_commits_batch_by_batch_and_rolls_back_whole() {
    let db = TestDb::new("batches");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE TABLE events (id bigserial PRIMARY KEY, k int NOT NULL, payload text);
         INSERT INTO events (k, payload) SELECT g % 10, repeat('p', 20) || g FROM generate_series(1, 50000) g;
         CREATE TABLE notes (id int PRIMARY KEY, event_id bigint REFERENCES events ON DELETE CASCADE);
         INSERT INTO notes SELECT g, g * 10 FROM generate_series(1, 300) g;
         UPDATE ai.approval_policy SET required_approvals = 0;",
    )
    .unwrap();
    let before = (fingerprint(&mut c, "events"), fingerprint(&mut c, "notes"));

    // what cannot be cut by its key is refused with the reason
    for (sql, why) in [
        ("DELETE FROM events WHERE k = 1 RETURNING id", "RETURNING"),
        (
            "UPDATE events SET id = id + 1000000 WHERE k = 1",
            "key column id",
        ),
        (
            "INSERT INTO events (k) VALUES (1)",
            "only an UPDATE or a DELETE",
        ),
    ] {
        let e = c
            .query_one("SELECT ai.request($1, 'x', batch_rows => 1000)", &[&sql])
            .unwrap_err();
        let d = e.as_db_error().unwrap();
        assert!(d.message().contains(why), "{sql}: {}", d.message());
        assert!(d.hint().unwrap_or("").contains("batch_rows NULL"), "{sql}");
    }

    // a DELETE of 20,000 rows (and the notes they cascade to) in batches of 3,000
    let id: i64 = c
        .query_one(
            "SELECT ai.request('DELETE FROM events WHERE k < 4', 'purge', batch_rows => 3000)",
            &[],
        )
        .unwrap()
        .get(0);
    let s = status(&mut c, id);
    assert_eq!(s["rows_touched"], 20_000 + 300, "{s}");
    let plan: String = c
        .query_one(
            "SELECT impact #>> '{batch,statement}' FROM ai.approval_requests WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        plan,
        "DELETE FROM events WHERE (k < 4) AND events.id > $after AND events.id <= $upto"
    );
    assert_eq!(
        json(&mut c, "SELECT ai.execute($1)::text", id)["status"],
        "running"
    );
    let s = settled(&mut c, id);
    assert_eq!(s["state"], "executed", "{s}");
    let e = &s["executions"][0];
    assert_eq!(e["outside_transaction"]["batches"]["done"], 7, "{e}");
    assert_eq!(
        e["rows_by_table"],
        serde_json::json!({"public.events": 20000, "public.notes": 300}),
        "{e}"
    );
    assert_eq!(e["backed_up_rows"], 20_300, "{e}");
    assert_eq!(audit_count(&mut c, "batch", id), 7);
    let left: i64 = c
        .query_one("SELECT count(*) FROM events WHERE k < 4", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // one call puts every batch back
    let r = json(
        &mut c,
        "SELECT ai.rollback($1)::text",
        e["id"].as_i64().unwrap(),
    );
    assert_eq!(r["status"], "rolled_back", "{r}");
    assert_eq!(
        (fingerprint(&mut c, "events"), fingerprint(&mut c, "notes")),
        before
    );

    // a batch that fails stops the run between batches: what was done is recorded, and the
    // rollback restores it
    c.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF OLD.id = 25005 THEN RAISE EXCEPTION 'row 25005 is held'; END IF; RETURN OLD; END $$;
         CREATE TRIGGER refuse BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .unwrap();
    let id: i64 = c
        .query_one(
            "SELECT ai.request('DELETE FROM events WHERE k >= 5', 'purge', batch_rows => 4000)",
            &[],
        )
        .unwrap()
        .get(0);
    json(&mut c, "SELECT ai.execute($1)::text", id);
    let s = settled(&mut c, id);
    assert_eq!(s["state"], "failed", "{s}");
    let e = &s["executions"][0];
    assert!(
        e["error"].as_str().unwrap().contains("row 25005 is held"),
        "{e}"
    );
    // 12,500 rows of k >= 5 come before id 25005: three whole batches of 4,000 are done, the
    // fourth (with 25005) is undone
    assert_eq!(e["outside_transaction"]["batches"]["done"], 3, "{e}");
    let deleted: i64 = c
        .query_one("SELECT 25000 - count(*) FROM events WHERE k >= 5", &[])
        .unwrap()
        .get(0);
    assert_eq!(deleted, 12_000, "{e}");
    let r = json(
        &mut c,
        "SELECT ai.rollback($1)::text",
        e["id"].as_i64().unwrap(),
    );
    assert_eq!(r["status"], "rolled_back", "{r}");
    assert_eq!(status(&mut c, id)["state"], "rolled_back");
    assert_eq!(
        (fingerprint(&mut c, "events"), fingerprint(&mut c, "notes")),
        before
    );
    let ok: String = c
        .query_one("SELECT ai.verify_audit() ->> 'ok'", &[])
        .unwrap()
        .get(0);
    assert_eq!(ok, "true");
}

#[test]
fn a_batched_delete_waits_for_a_replica_that_falls_behind() {
    let primary = Cluster::new("it-batch-primary", 28827, &[]);
    let mut c = primary.connect("postgres");
    c.batch_execute(
        "CREATE EXTENSION ai_architect CASCADE;
         CREATE TABLE events (id bigserial PRIMARY KEY, k int NOT NULL, payload text);
         INSERT INTO events (k, payload) SELECT g % 6, 'event ' || g FROM generate_series(1, 600000) g;
         UPDATE ai.approval_policy SET required_approvals = 0;",
    )
    .unwrap();
    let standby = primary.standby("it-batch-standby", 28828, &[]);
    let mut s = standby.wait_ready("postgres", Duration::from_secs(60));
    let lag = |c: &mut Client| -> i64 {
        c.query_one(
            "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), -1)::int8 FROM pg_stat_replication",
            &[],
        )
        .unwrap()
        .get(0)
    };
    wait_for("the standby to catch up", Duration::from_secs(60), || {
        lag(&mut c) == 0
    });
    // the replay lag, sampled from the primary while the batches run
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let mut p = primary.connect("postgres");
        std::thread::spawn(move || {
            let mut max = 0i64;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(lag(&mut p));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    let bound: i64 = 8 * 1024 * 1024;
    c.batch_execute("SET ai_architect.batch_max_replay_lag = '8MB'")
        .unwrap();
    let id: i64 = c
        .query_one(
            "SELECT ai.request('DELETE FROM events WHERE k < 5', 'purge', batch_rows => 20000)",
            &[],
        )
        .unwrap()
        .get(0);
    let wal0: String = c
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    let started = Instant::now();
    json(&mut c, "SELECT ai.execute($1)::text", id);
    let done = |c: &mut Client| -> i64 {
        status(c, id)["executions"][0]["outside_transaction"]["batches"]["done"]
            .as_i64()
            .unwrap_or(0)
    };
    wait_for("three batches", Duration::from_secs(120), || {
        done(&mut c) >= 3
    });
    // the standby stops replaying: once it is 8 MB behind, the batches wait
    s.batch_execute("SELECT pg_wal_replay_pause()").unwrap();
    wait_for("the lag past the bound", Duration::from_secs(120), || {
        lag(&mut c) > bound
    });
    // the batch in flight when the lag passed the bound finishes; no other starts, and the
    // execution says what it waits for
    let activity = |c: &mut Client| -> String {
        status(c, id)["executions"][0]["progress"]["activity"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let waiting = "a standby's replay is ";
    wait_for("the batches waiting for the standby", Duration::from_secs(120), || {
        activity(&mut c).contains(waiting)
    });
    let held = done(&mut c);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        done(&mut c),
        held,
        "a batch ran while the standby was behind"
    );
    let said = activity(&mut c);
    assert!(
        said.starts_with(&format!("waiting after batch {held}: {waiting}"))
            && said.ends_with("more than ai_architect.batch_max_replay_lag (8388608 bytes)"),
        "{said}"
    );
    assert_eq!(status(&mut c, id)["state"], "running");
    s.batch_execute("SELECT pg_wal_replay_resume()").unwrap();
    let st = settled(&mut c, id);
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let max_lag = sampler.join().unwrap();
    assert_eq!(st["state"], "executed", "{st}");
    let e = &st["executions"][0];
    assert_eq!(
        e["rows_by_table"],
        serde_json::json!({"public.events": 500000}),
        "{e}"
    );
    let batches = e["outside_transaction"]["batches"]["done"]
        .as_i64()
        .unwrap();
    assert_eq!(batches, 26, "{e}");
    let wal: i64 = c
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::int8",
            &[&wal0],
        )
        .unwrap()
        .get(0);
    let per_batch = wal / batches;
    println!(
        "batched DELETE of 500,000 rows, 26 batches of 20,000, in {:.1} s ({:.0} rows/s with the standby paused 2.5 s); WAL {:.1} MB ({:.1} MB a batch); replay lag bound 8 MB, largest lag seen {:.1} MB",
        took.as_secs_f64(),
        500_000.0 / took.as_secs_f64(),
        wal as f64 / 1048576.0,
        per_batch as f64 / 1048576.0,
        max_lag as f64 / 1048576.0
    );
    // no batch started while a standby was further behind than the bound (each batch's audit
    // entry holds the lag the worker saw before starting it)
    let before: Vec<i64> = c
        .query(
            "SELECT (details ->> 'replay_lag_before')::int8 FROM ai.audit_log
              WHERE action = 'batch' AND object_id = ($1::int8)::text AND details ? 'replay_lag_before'
                AND details ->> 'replay_lag_before' IS NOT NULL",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(before.len() as i64, batches - 1, "{before:?}");
    assert!(before.iter().all(|l| *l <= bound), "{before:?}");
    // what the standby lagged by at most is reported; it is the bound, the batch in flight and
    // how far replay falls behind while that batch writes (far from the whole run's WAL, which
    // a paused standby would reach without the wait)
    assert!(max_lag < wal / 4, "lag {max_lag} of {wal} bytes of WAL");
    wait_for("the standby to replay it", Duration::from_secs(60), || {
        s.query_one("SELECT count(*) FROM events WHERE k < 5", &[])
            .map(|r| r.get::<_, i64>(0) == 0)
            .unwrap_or(false)
    });
}

#[test]
fn advice_is_filed_as_requests_in_one_call_and_nothing_runs() {
    let db = TestDb::new("advice");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, k int);
         INSERT INTO parent SELECT g FROM generate_series(1, 100) g;
         INSERT INTO child SELECT g, 1 + g % 100, g FROM generate_series(1, 5000) g;
         CREATE INDEX child_k ON child (k); CREATE INDEX child_k_id ON child (k, id);
         ANALYZE parent, child;
         UPDATE ai.approval_policy SET required_approvals = 1;",
    )
    .unwrap();
    let rows = |c: &mut Client| -> Vec<(String, String, Option<i64>, bool, Option<String>)> {
        c.query(
            "SELECT source, statement, request, already_requested, error FROM ai.apply_advice() ORDER BY source, statement",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
    };
    let first = rows(&mut c);
    let find = |v: &[(String, String, Option<i64>, bool, Option<String>)], s: &str| {
        v.iter()
            .find(|r| r.1 == s)
            .unwrap_or_else(|| panic!("{s} not in {v:?}"))
            .clone()
    };
    // the lint's fixes keep CONCURRENTLY, and pass ai.request as they are
    let build = find(
        &first,
        "CREATE INDEX CONCURRENTLY child_parent_id_idx ON public.child (parent_id)",
    );
    let dropped = find(&first, "DROP INDEX CONCURRENTLY public.child_k");
    assert!(
        build.2.is_some() && dropped.2.is_some() && !build.3,
        "{first:?}"
    );
    // a source that cannot answer here says so (no HypoPG in this database)
    let idx = first.iter().find(|r| r.0 == "indexes").unwrap();
    assert!(
        idx.4
            .as_deref()
            .unwrap_or("")
            .to_lowercase()
            .contains("hypopg"),
        "{idx:?}"
    );
    // nothing ran
    let exists = |c: &mut Client, n: &str| -> bool {
        c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&n])
            .unwrap()
            .get(0)
    };
    assert!(!exists(&mut c, "child_parent_id_idx") && exists(&mut c, "child_k"));
    for id in [build.2.unwrap(), dropped.2.unwrap()] {
        assert_eq!(status(&mut c, id)["state"], "pending");
    }
    // again: the open requests are named, not filed twice
    let again = rows(&mut c);
    assert_eq!(find(&again, &build.1).2, build.2);
    assert!(find(&again, &build.1).3);
    // approved and executed, the advice is applied the way a DBA would
    let tag = db.name.rsplit('_').take(2).collect::<Vec<_>>().join("_");
    let bob = format!("bob_{tag}");
    c.batch_execute(&format!("CREATE ROLE {bob} LOGIN"))
        .unwrap();
    let mut b = db.connect(&bob);
    b.execute("SELECT ai.approve($1)", &[&build.2.unwrap()])
        .unwrap();
    json(&mut c, "SELECT ai.execute($1)::text", build.2.unwrap());
    assert_eq!(settled(&mut c, build.2.unwrap())["state"], "executed");
    assert!(exists(&mut c, "child_parent_id_idx"));
    drop((b, c));
    drop(db);
    connect("postgres", "postgres")
        .batch_execute(&format!("DROP ROLE {bob}"))
        .unwrap();
}
