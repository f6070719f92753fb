//! A time limit on everything: with `ai_architect.work_timeout_ms` at 1 ms, every analysis over
//! a schema of 400 tables stops with SQLSTATE 57014 naming the setting, and leaves nothing
//! behind; with the default it answers.
use ai_architect_integration::TestDb;
use postgres::Client;

/// The analyses, each over the whole schema.
const ANALYSES: [&str; 6] = [
    "SELECT count(*) FROM ai.lint_schema()",
    "SELECT ai.erd()",
    "SELECT count(*) FROM ai.insights()",
    "SELECT count(*) FROM ai.metrics()",
    "SELECT ai.verify_audit()",
    "SELECT count(*) FROM ai.suggest_indexes('SELECT * FROM public.t1 WHERE status = ''x'' AND amount > 5')",
];

fn fails_in_time(c: &mut Client, sql: &str) {
    let e = c
        .query(sql, &[])
        .expect_err(&format!("{sql} stopped by ai_architect.work_timeout_ms"));
    let d = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
    assert_eq!(d.code().code(), "57014", "{sql}: {}", d.message());
    assert!(
        d.message()
            .contains("stopped after ai_architect.work_timeout_ms"),
        "{sql}: {}",
        d.message()
    );
    assert!(
        d.hint().is_some_and(|h| h.contains("work_timeout_ms")),
        "{sql}: {:?}",
        d.hint()
    );
}

#[test]
fn every_analysis_stops_at_the_work_time_limit() {
    let db = TestDb::new("time_limits");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE EXTENSION hypopg;
         DO $$ BEGIN
           FOR i IN 1..400 LOOP
             EXECUTE format('CREATE TABLE public.t%s (id int PRIMARY KEY, parent int %s, status text, amount numeric, created_at timestamptz)',
                            i, CASE WHEN i > 1 THEN format('REFERENCES public.t%s (id)', i - 1) ELSE '' END);
           END LOOP;
         END $$;
         INSERT INTO public.t1 SELECT g, NULL, 'open', g, now() FROM generate_series(1, 20000) g;
         ANALYZE;
         SELECT ai.request(format('UPDATE public.t1 SET amount = %s WHERE id = 1', g)) FROM generate_series(1, 300) g;",
    )
    .unwrap();
    // with the default limit, each answers
    for sql in ANALYSES {
        c.query(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {:?}", e.as_db_error()));
    }
    let runs: i64 = c
        .query_one("SELECT count(*) FROM ai.audit_runs", &[])
        .unwrap()
        .get(0);
    c.batch_execute("SET ai_architect.work_timeout_ms = 1")
        .unwrap();
    let stopped = [
        "SELECT ai.run_audit()",
        // the catalog refresh inside a question: 400 new tables to describe and embed
        "SELECT ai.ask('How many t1 are open?')",
    ];
    for sql in ANALYSES.into_iter().chain(stopped) {
        fails_in_time(&mut c, sql);
    }
    let after: i64 = c
        .query_one("SELECT count(*) FROM ai.audit_runs", &[])
        .unwrap()
        .get(0);
    assert_eq!(after, runs, "a stopped audit leaves no run behind");
    // the caller's own sooner statement_timeout stays in charge, with PostgreSQL's message
    c.batch_execute("SET ai_architect.work_timeout_ms = '1min'; SET statement_timeout = 1")
        .unwrap();
    let e = c
        .query("SELECT count(*) FROM ai.lint_schema()", &[])
        .unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(d.code().code(), "57014");
    assert!(d.message().contains("statement timeout"), "{}", d.message());
}
