//! Monitoring over time with real top-level statements: a statement that becomes slower
//! between two pg_stat_statements snapshots is reported as a regression.
use ai_architect_integration::TestDb;

#[test]
fn a_slower_statement_is_a_regression() {
    let db = TestDb::new("regr");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE TABLE big (id int PRIMARY KEY, a int, pad text);
         INSERT INTO big SELECT g, g % 100000, repeat('x', 40) FROM generate_series(1, 300000) g;
         CREATE INDEX big_a ON big (a);
         ANALYZE big;",
    )
    .unwrap();
    let run = |c: &mut postgres::Client| {
        for i in 0..12 {
            c.query("SELECT count(*) FROM big WHERE a = $1", &[&(i * 7)])
                .unwrap();
        }
    };
    run(&mut c);
    let first: String = c
        .query_one("SELECT ai.snapshot_stats()::text", &[])
        .unwrap()
        .get(0);
    assert!(first.contains("snapshot_id"), "{first}");
    // the index goes: the same statement now scans the table
    c.batch_execute("DROP INDEX big_a").unwrap();
    run(&mut c);
    let second: serde_json::Value = serde_json::from_str(
        &c.query_one("SELECT ai.snapshot_stats()::text", &[])
            .unwrap()
            .get::<_, String>(0),
    )
    .unwrap();
    assert!(second["calls"].as_i64().unwrap() >= 12, "{second}");
    let found = c
        .query(
            "SELECT finding FROM ai.insights() WHERE category = 'query_regression' AND finding LIKE '%FROM big WHERE a = $1%'",
            &[],
        )
        .unwrap();
    assert_eq!(found.len(), 1, "no regression reported");
    let finding: String = found[0].get(0);
    assert!(finding.contains("above its baseline"), "{finding}");
    // deltas, not totals: the second snapshot counts only what ran since the first
    let deltas: Vec<i64> = c
        .query(
            "SELECT q.d_calls FROM ai.stat_snapshot_queries q
              WHERE q.query LIKE 'SELECT count(*) FROM big WHERE a = $1%'
                AND q.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              ORDER BY q.snapshot_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(deltas, vec![12, 12]);
}
