//! A hot standby: a streaming replica of a primary with ai_architect and the Chinook sample.
//! What only reads works there (questions answered and run, impact estimates, the catalog,
//! plans, insights); what would write degrades with a NOTICE (the usage log, a catalog
//! refresh) or is refused with an ERROR naming the standby (requests, feedback, samples);
//! the background worker waits, and audits once the standby is promoted.
use ai_architect_integration::{load_chinook, wait_for, Cluster};
use postgres::Client;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client that keeps the NOTICEs it receives.
fn with_notices(cl: &Cluster, db: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let c = postgres::Config::new()
        .host(&cl.dir.display().to_string())
        .port(cl.port)
        .user("postgres")
        .dbname(db)
        .notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()))
        .connect(postgres::NoTls)
        .unwrap();
    (c, seen)
}

fn error_of(c: &mut Client, sql: &str) -> (String, String) {
    let e = c.batch_execute(sql).expect_err(sql);
    let d = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
    (d.code().code().to_string(), d.message().to_string())
}

#[test]
fn a_hot_standby_reads_degrades_and_refuses_clearly() {
    let conf = [
        "shared_preload_libraries = 'pg_stat_statements,ai_architect'",
        "ai_architect.audit_database = 'shop'",
        "ai_architect.audit_interval = '2s'",
        "ai_architect.snapshot_interval = '1h'",
        "max_worker_processes = 16",
    ];
    let primary = Cluster::new("it-primary", 28818, &conf);
    let mut admin = primary.connect("postgres");
    admin
        .batch_execute("CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor")
        .unwrap();
    admin.batch_execute("CREATE DATABASE shop").unwrap();
    let mut p = primary.connect("shop");
    load_chinook(&mut p);
    p.batch_execute(
        "CREATE EXTENSION ai_architect CASCADE; CREATE EXTENSION pg_stat_statements;
         SELECT count(*) FROM ai.refresh_catalog();
         SELECT ai.add_sample('how many artists are there', 'SELECT count(*) AS artists FROM artist');",
    )
    .unwrap();
    let lsn: String = p
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    let standby = primary.standby("it-standby", 28819, &[]);
    let mut s = standby.wait_ready("shop", Duration::from_secs(60));
    wait_for("the standby to replay", Duration::from_secs(60), || {
        s.query_one(
            "SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
            &[&lsn],
        )
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false)
    });
    let audits = |c: &mut Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM ai.audit_runs WHERE backend_type = 'ai_architect worker'",
            &[],
        )
        .unwrap()
        .get(0)
    };

    // reads work: a question answered from a sample and run, an engine answer, an estimate,
    // the catalog, a plan, insights
    let (mut r, notices) = with_notices(&standby, "shop");
    let a: serde_json::Value = serde_json::from_str(
        &r.query_one(
            "SELECT ai.ask('how many artists are there', true)::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0),
    )
    .unwrap();
    assert_eq!(a["rows"][0]["artists"], 275, "{a}");
    assert!(
        a["usage_id"].is_null(),
        "nothing is logged on a standby: {a}"
    );
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.contains("hot standby") && n.contains("not logged")),
        "{:?}",
        notices.lock().unwrap()
    );
    let a: serde_json::Value = serde_json::from_str(
        &r.query_one(
            "SELECT ai.ask('how many tracks are there', true)::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0),
    )
    .unwrap();
    assert_eq!(
        a["rows"][0].as_object().unwrap().values().next().unwrap(),
        3503,
        "{a}"
    );
    let i: String = r
        .query_one(
            "SELECT ai.impact('DELETE FROM invoice_line WHERE invoice_id < 10', 'estimate')::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        i.contains("\"invoice_line\"") || i.contains("public.invoice_line"),
        "{i}"
    );
    let hits: i64 = r
        .query_one(
            "SELECT count(*) FROM ai.search_catalog('music tracks and their albums', 5)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(hits, 5);
    let i: String = r
        .query_one(
            "SELECT ai.impact('DELETE FROM invoice_line WHERE invoice_id < 10', 'exact')::text",
            &[],
        )
        .unwrap()
        .get(0);
    let n: i64 = r
        .query_one(
            "SELECT count(*) FROM invoice_line WHERE invoice_id < 10",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(i.contains(&format!("\"rows_exact\": {n}")), "{n}: {i}");
    let g: String = r
        .query_one(
            "SELECT ai.generate_sql('how many tracks are there')::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(g.to_lowercase().contains("count("), "{g}");
    let similar: i64 = r
        .query_one(
            "SELECT count(*) FROM ai.similar_samples('how many artists', 3)",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(similar >= 1);
    let v: String = r
        .query_one("SELECT ai.verify_audit()::text", &[])
        .unwrap()
        .get(0);
    assert!(v.contains("\"ok\": true"), "{v}");
    let plan: String = r
        .query_one(
            "SELECT ai.explain('SELECT * FROM track WHERE album_id = 3')::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(plan.contains("track"), "{plan}");
    r.query("SELECT * FROM ai.insights()", &[]).unwrap();

    // a catalog that is stale on the standby is used as replicated, with a NOTICE (the
    // primary's worker refreshes a stale catalog every 2 s: its writer lock is held here until
    // the standby has been asked, so that the refresh cannot replay first)
    let mut hold = primary.connect("shop");
    hold.batch_execute("BEGIN; LOCK TABLE ai.catalog_values IN SHARE UPDATE EXCLUSIVE MODE")
        .unwrap();
    p.batch_execute("CREATE TABLE playlist_note (playlist_id int, note text)")
        .unwrap();
    let lsn: String = p
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    wait_for("the DDL to replay", Duration::from_secs(60), || {
        r.query_one(
            "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
            &[&lsn],
        )
        .unwrap()
        .get::<_, bool>(0)
    });
    notices.lock().unwrap().clear();
    r.query("SELECT * FROM ai.search_catalog('playlist notes', 3)", &[])
        .unwrap();
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.contains("hot standby") && n.contains("not refreshed")),
        "{:?}",
        notices.lock().unwrap()
    );
    hold.batch_execute("COMMIT").unwrap();

    // writes: a clear ERROR naming the standby, nothing else
    for sql in [
        "SELECT ai.request('DELETE FROM invoice_line WHERE invoice_id = 1')",
        "SELECT ai.feedback(1, 5, true)",
        "SELECT ai.add_sample('how many genres', 'SELECT count(*) FROM genre')",
        "SELECT * FROM ai.refresh_catalog()",
        "SELECT ai.impact('DELETE FROM invoice_line WHERE invoice_id = 1', 'dry_run')",
    ] {
        let (code, msg) = error_of(&mut r, sql);
        assert_eq!(code, "25006", "{sql}: {msg}");
        assert!(msg.contains("hot standby"), "{sql}: {msg}");
    }

    // the worker waits on the standby (the primary stopped, nothing replicates) and audits
    // once it is promoted
    drop(p);
    primary.pg_ctl(&["stop", "-m", "fast"]);
    let on_standby = audits(&mut r);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(audits(&mut r), on_standby, "no audit runs on the standby");
    assert!(
        !standby.log().contains("ai_architect worker: audit failed"),
        "{}",
        standby.log()
    );
    drop(r);
    drop(s);
    standby.pg_ctl(&["promote"]);
    let mut promoted = standby.wait_ready("shop", Duration::from_secs(60));
    wait_for("an audit after promotion", Duration::from_secs(90), || {
        audits(&mut promoted) > on_standby
    });
    let id: i64 = promoted
        .query_one(
            "SELECT ai.request('DELETE FROM invoice_line WHERE invoice_id = 1')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(id > 0);
}
