//! ai.impact with other sessions around: the locks in the way, time limits while waiting.
use ai_architect_integration::TestDb;
use postgres::Client;

const SCHEMA: &str = include_str!("../../../pg_test/fixtures/impact_schema.sql");

fn impact(c: &mut Client, sql: &str, mode: &str) -> Result<serde_json::Value, String> {
    match c.query_one("SELECT ai.impact($1, $2)::text", &[&sql, &mode]) {
        Ok(row) => Ok(serde_json::from_str(row.get::<_, &str>(0)).unwrap()),
        Err(e) => Err(e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string())),
    }
}

fn pid(c: &mut Client) -> i64 {
    c.query_one("SELECT pg_backend_pid()::int8", &[])
        .unwrap()
        .get(0)
}

#[test]
fn locks_name_the_sessions_in_the_way() {
    let db = TestDb::new("locks");
    let mut holder = db.connect("postgres");
    holder.batch_execute(SCHEMA).unwrap();
    let holder_pid = pid(&mut holder);
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM imp.orders")
        .unwrap();
    let mut c = db.connect("postgres");
    let doc = impact(
        &mut c,
        "ALTER TABLE imp.orders ADD COLUMN note text",
        "estimate",
    )
    .unwrap();
    let lock = &doc["locks"][0];
    assert_eq!(
        (lock["table"].as_str(), lock["mode"].as_str()),
        (Some("imp.orders"), Some("ACCESS EXCLUSIVE"))
    );
    let blocked: Vec<i64> = lock["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(blocked, vec![holder_pid], "{doc:#}");
    assert_eq!(doc["risk_level"], "CRITICAL");
    assert!(
        doc["risk_reasons"]
            .to_string()
            .contains("1 session(s) are using it now"),
        "{doc:#}"
    );
    // a plain UPDATE does not conflict with a reader
    let doc = impact(
        &mut c,
        "UPDATE imp.orders SET total = 0 WHERE id = 1",
        "estimate",
    )
    .unwrap();
    assert!(
        doc["locks"][0]["blocked_by"].as_array().unwrap().is_empty(),
        "{doc:#}"
    );
    holder.batch_execute("ROLLBACK").unwrap();
    let doc = impact(
        &mut c,
        "ALTER TABLE imp.orders ADD COLUMN note text",
        "estimate",
    )
    .unwrap();
    assert!(doc["locks"][0]["blocked_by"].as_array().unwrap().is_empty());
}

#[test]
fn a_dry_run_waiting_on_a_row_lock_stops_at_the_time_limit() {
    let db = TestDb::new("wait");
    let mut holder = db.connect("postgres");
    holder.batch_execute(SCHEMA).unwrap();
    holder
        .batch_execute("BEGIN; UPDATE imp.orders SET total = -1 WHERE id = 150")
        .unwrap();
    let mut c = db.connect("postgres");
    c.batch_execute("SET ai_architect.impact_timeout_ms = 300; SET statement_timeout = '20s'")
        .unwrap();
    let err = impact(&mut c, "DELETE FROM imp.orders WHERE id = 150", "dry_run").unwrap_err();
    assert!(
        err.contains(
            "the dry_run analysis did not finish within ai_architect.impact_timeout_ms (300 ms)"
        ),
        "{err}"
    );
    // the session is fine, and its own statement_timeout is in force again
    c.batch_execute("SET statement_timeout = '200ms'").unwrap();
    let err = c.batch_execute("SELECT pg_sleep(2)").unwrap_err();
    assert!(err
        .as_db_error()
        .unwrap()
        .message()
        .contains("statement timeout"));
    // the caller's sooner statement_timeout stays in charge and is reported as its own
    c.batch_execute("SET ai_architect.impact_timeout_ms = 60000; SET statement_timeout = '300ms'")
        .unwrap();
    let err = impact(&mut c, "DELETE FROM imp.orders WHERE id = 150", "dry_run").unwrap_err();
    assert!(
        err.contains("canceling statement due to statement timeout"),
        "{err}"
    );
    // and a cancel request is the caller's, not the analysis running out of time
    c.batch_execute("RESET statement_timeout").unwrap();
    let pid = pid(&mut c);
    let mut other = db.connect("postgres");
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        other
            .query_one("SELECT pg_cancel_backend($1::int8::int)", &[&pid])
            .unwrap()
            .get::<_, bool>(0)
    });
    let err = impact(&mut c, "DELETE FROM imp.orders WHERE id = 150", "dry_run").unwrap_err();
    assert!(err.contains("canceling statement due to user request"), "{err}");
    assert!(canceller.join().unwrap());
    holder.batch_execute("ROLLBACK").unwrap();
    c.batch_execute("RESET statement_timeout").unwrap();
    let doc = impact(&mut c, "DELETE FROM imp.orders WHERE id = 150", "dry_run").unwrap();
    assert_eq!(doc["will_fail"], false);
    let n: i64 = c
        .query_one("SELECT count(*) FROM imp.orders WHERE id = 150", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
