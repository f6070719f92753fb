//! Index advice, plans and insights inside a real server with HypoPG.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::Value;

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// 100k orders of 2,000 customers, four statuses; analysed.
    fn shop() {
        run("CREATE EXTENSION IF NOT EXISTS hypopg");
        run("CREATE SCHEMA adv");
        run("CREATE TABLE adv.customers (id int PRIMARY KEY, country text NOT NULL)");
        run("CREATE TABLE adv.orders (id bigint PRIMARY KEY, customer_id int REFERENCES adv.customers,
                 status text NOT NULL, created_at timestamptz NOT NULL, total numeric NOT NULL, note text)");
        run("INSERT INTO adv.customers SELECT g, (ARRAY['BR','DE','FR','US'])[1 + g % 4] FROM generate_series(0, 1999) g");
        run("INSERT INTO adv.orders SELECT g, g % 2000, (ARRAY['open','paid','shipped','cancelled'])[1 + g % 4],
                 timestamptz '2026-01-01' + g * interval '1 minute', g % 1000, 'n'
               FROM generate_series(1, 100000) g");
        run("ANALYZE adv.customers, adv.orders");
    }

    type Advice = (String, Vec<String>, Option<f64>, i32);

    fn advice(sql: &str) -> Vec<Advice> {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c
                .select(
                    "SELECT index_sql, columns, cost_reduction_pct, queries_helped FROM ai.suggest_indexes($1)",
                    None,
                    &[sql.into()],
                )
                .unwrap()
            {
                out.push((
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<Vec<String>>(2).unwrap().unwrap(),
                    r.get::<f64>(3).unwrap(),
                    r.get::<i32>(4).unwrap().unwrap(),
                ));
            }
            out
        })
    }

    #[pg_test]
    fn equality_then_range_for_one_query() {
        shop();
        let a =
            advice("SELECT id, total FROM adv.orders WHERE customer_id = $1 AND created_at >= $2");
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].1, vec!["customer_id", "created_at"], "{a:?}");
        assert!(
            a[0].0
                .starts_with("CREATE INDEX CONCURRENTLY orders_customer_id_created_at"),
            "{a:?}"
        );
        assert!(a[0].2.unwrap() > 50.0, "{a:?}");
        // the same advice again: stable name
        let b =
            advice("SELECT id, total FROM adv.orders WHERE customer_id = $1 AND created_at >= $2");
        assert_eq!(a, b);
        // nothing of the hypothetical indexes is left behind
        let left: i64 = Spi::get_one("SELECT count(*) FROM hypopg_list_indexes")
            .unwrap()
            .unwrap();
        assert_eq!(left, 0);
    }

    /// A cancel while hypothetical indexes exist (planning a query whose constant folding
    /// sleeps once one does) leaves none behind.
    #[pg_test]
    fn a_cancelled_advice_leaves_no_hypothetical_index() {
        shop();
        run("CREATE FUNCTION adv.slow_when_hypothetical() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
             BEGIN
               IF EXISTS (SELECT 1 FROM hypopg_list_indexes) THEN PERFORM pg_sleep(3); END IF;
               RETURN 7;
             END $$");
        // the owner allows it (else the advisor refuses to plan a call of it at all)
        run("INSERT INTO ai.allowed_functions (func, reason)
             VALUES ('adv.slow_when_hypothetical()'::regprocedure, 'slow while planning')");
        let r = crate::spi_util::with_timeout(1000, || {
            crate::spi_util::in_subtransaction(|| {
                advice("SELECT id FROM adv.orders WHERE customer_id = adv.slow_when_hypothetical()")
            })
        });
        let e = r.expect_err("the advice was cancelled");
        assert!(e.is_cancel(), "{e:?}");
        let left: i64 = Spi::get_one("SELECT count(*) FROM hypopg_list_indexes")
            .unwrap()
            .unwrap();
        assert_eq!(left, 0);
    }

    #[pg_test]
    fn existing_indexes_cover_candidates() {
        shop();
        run("CREATE INDEX orders_by_customer ON adv.orders (customer_id, created_at, total)");
        let a = advice("SELECT id FROM adv.orders WHERE customer_id = 7");
        assert!(a.is_empty(), "an index led by customer_id exists: {a:?}");
    }

    #[pg_test]
    fn joins_and_partial_indexes() {
        shop();
        let a = advice(
            "SELECT c.country, count(*) FROM adv.customers c JOIN adv.orders o ON o.customer_id = c.id
              WHERE o.status = 'open' AND o.created_at > '2026-02-01' GROUP BY c.country",
        );
        assert!(!a.is_empty());
        let sql: Vec<&str> = a.iter().map(|x| x.0.as_str()).collect();
        assert!(sql.iter().any(|s| s.contains("adv.orders")), "{sql:?}");
        // status has four values: a partial index on it is a candidate, a customer id is not
        let b = advice(
            "SELECT id FROM adv.orders WHERE customer_id = 42 AND created_at > '2026-02-01'",
        );
        assert!(
            b.iter().all(|x| !x.0.contains("WHERE customer_id")),
            "{b:?}"
        );
    }

    #[pg_test]
    #[should_panic(expected = "HypoPG is not installed")]
    fn hypopg_is_required() {
        run("DROP EXTENSION IF EXISTS hypopg");
        run("CREATE TABLE t (a int)");
        advice("SELECT * FROM t WHERE a = 1");
    }

    #[pg_test]
    #[should_panic(expected = "do not read through indexes")]
    fn inserts_are_not_advised_on() {
        shop();
        advice("INSERT INTO adv.customers VALUES (1, 'x')");
    }

    #[pg_test]
    #[should_panic(expected = "the query cannot be advised on")]
    fn unknown_tables_are_an_error() {
        run("CREATE EXTENSION IF NOT EXISTS hypopg");
        advice("SELECT * FROM nowhere WHERE a = 1");
    }

    #[pg_test]
    fn the_report_shows_before_and_after() {
        shop();
        let r: String = Spi::get_one(
            "SELECT ai.suggest_indexes_report('SELECT * FROM adv.orders WHERE customer_id = 5')",
        )
        .unwrap()
        .unwrap();
        assert!(r.contains("workload planner cost now:"), "{r}");
        assert!(
            r.contains("CREATE INDEX CONCURRENTLY orders_customer_id_idx"),
            "{r}"
        );
        assert!(r.contains("->"), "{r}");
    }

    fn insights() -> Vec<(String, String, String, Option<String>)> {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c
                .select(
                    "SELECT category, severity, object, remediation_sql FROM ai.insights()",
                    None,
                    &[],
                )
                .unwrap()
            {
                out.push((
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<String>(2).unwrap().unwrap(),
                    r.get::<String>(3).unwrap().unwrap(),
                    r.get::<String>(4).unwrap(),
                ));
            }
            out
        })
    }

    #[pg_test]
    fn insights_find_planted_problems() {
        shop();
        run("CREATE INDEX planted_unused ON adv.orders (note)");
        run("CREATE INDEX planted_dup_a ON adv.orders (total)");
        run("CREATE INDEX planted_dup_b ON adv.orders (total)");
        run("CREATE TABLE adv.nokey (a int)");
        run("CREATE TABLE adv.counter (id int GENERATED BY DEFAULT AS IDENTITY (MAXVALUE 1000) PRIMARY KEY)");
        run("SELECT setval(pg_get_serial_sequence('adv.counter', 'id'), 960)");
        let found = insights();
        let has = |cat: &str, obj: &str| found.iter().find(|f| f.0 == cat && f.2.contains(obj));
        // adv.orders.customer_id references customers and has no index
        let fk = has("fk_without_index", "adv.orders (customer_id)")
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(
            fk.3.as_deref(),
            Some("CREATE INDEX CONCURRENTLY ON adv.orders (customer_id)")
        );
        assert!(has("unused_index", "planted_unused").is_some(), "{found:?}");
        let dup = has("duplicate_index", "planted_dup_b").unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(
            dup.3.as_deref(),
            Some("DROP INDEX CONCURRENTLY adv.planted_dup_b")
        );
        assert!(has("no_primary_key", "adv.nokey").is_some(), "{found:?}");
        let seq = has("sequence_overflow", "counter_id_seq").unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(seq.1, "critical");
        // most severe first
        assert_eq!(found[0].1, "critical", "{found:?}");
        // the FK finding goes away with its index
        run("CREATE INDEX ON adv.orders (customer_id)");
        assert!(insights()
            .iter()
            .all(|f| f.0 != "fk_without_index" || !f.2.contains("adv.orders")));
    }

    #[pg_test]
    fn the_advisor_also_says_what_to_drop() {
        shop();
        run("CREATE INDEX drop_me_a ON adv.orders (status)");
        run("CREATE INDEX drop_me_b ON adv.orders (status, total)");
        run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        let drops: Vec<String> = Spi::connect(|c| {
            c.select(
                "SELECT index_sql FROM ai.suggest_indexes() WHERE index_sql LIKE 'DROP%'",
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        });
        assert!(
            drops.contains(&"DROP INDEX CONCURRENTLY adv.drop_me_a".to_string()),
            "{drops:?}"
        );
    }

    fn explain(sql: &str, analyze: bool) -> Value {
        Spi::get_one_with_args::<pgrx::JsonB>(
            "SELECT ai.explain($1, $2)",
            &[sql.into(), analyze.into()],
        )
        .unwrap()
        .unwrap()
        .0
    }

    #[pg_test]
    fn explain_flags_anti_patterns() {
        shop();
        let e = explain(
            "SELECT * FROM adv.orders WHERE note = 'x' AND customer_id = 3",
            false,
        );
        assert_eq!(e["analyzed"], false);
        assert_eq!(
            e["findings"][0]["issue"], "seq_scan_selective_filter",
            "{e}"
        );
        assert_eq!(e["findings"][0]["relation"], "adv.orders");
        let a = explain("SELECT count(*) FROM adv.orders WHERE total < 10", true);
        assert_eq!(a["analyzed"], true);
        assert!(a["execution_ms"].as_f64().is_some(), "{a}");
        let issues: Vec<&str> = a["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["issue"].as_str().unwrap())
            .collect();
        assert!(issues.contains(&"rows_removed_by_filter"), "{issues:?}");
        // the plan of a DELETE is fine; nothing is deleted
        let d = explain("DELETE FROM adv.orders", false);
        assert_eq!(d["statement"], "DELETE");
        let n: i64 = Spi::get_one("SELECT count(*) FROM adv.orders")
            .unwrap()
            .unwrap();
        assert_eq!(n, 100000);
    }

    #[pg_test]
    #[should_panic(expected = "only allowed for a SELECT")]
    fn explain_analyze_refuses_writes() {
        shop();
        explain("DELETE FROM adv.orders", true);
    }

    #[pg_test]
    #[should_panic(expected = "read-only transaction")]
    fn explain_analyze_runs_read_only() {
        // a function that writes, allowed by an admin and called from a SELECT: the
        // read-only transaction is the second line of defence
        run("CREATE TABLE adv_t (a int)");
        run("CREATE FUNCTION adv_w() RETURNS int LANGUAGE sql AS 'INSERT INTO adv_t VALUES (1) RETURNING 1'");
        run("INSERT INTO ai.allowed_functions (func, reason) VALUES ('adv_w()'::regprocedure, 'test')");
        explain("SELECT adv_w()", true);
    }

    #[pg_test]
    #[should_panic(
        expected = "it calls adv_w2() (call), a function that is not built in and not in ai.allowed_functions"
    )]
    fn explain_analyze_refuses_functions_not_allowed() {
        run("CREATE FUNCTION adv_w2() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'");
        explain("SELECT adv_w2()", true);
    }

    #[pg_test]
    #[should_panic(
        expected = "it calls pg_sleep(double precision) (call), a VOLATILE built-in function"
    )]
    fn explain_analyze_refuses_volatile_builtins() {
        explain("SELECT pg_sleep(30)", true);
    }

    #[pg_test]
    #[should_panic(expected = "denied in ai.denied_functions")]
    fn explain_analyze_refuses_what_the_admin_denied() {
        run("INSERT INTO ai.denied_functions VALUES ('md5', 'test')");
        explain("SELECT md5('x')", true);
    }

    #[pg_test]
    #[should_panic(expected = "unknown order_by")]
    fn top_queries_checks_its_order() {
        run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        run("SELECT * FROM ai.top_queries(5, 'speed')");
    }
}
