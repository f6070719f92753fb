//! The guard on SQL written by someone else, inside a real server: what PostgreSQL's analysis
//! finds (ai.check_sql) and what the allow list makes of it.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::Value;

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn check(sql: &str) -> Value {
        Spi::get_one_with_args::<pgrx::JsonB>("SELECT ai.check_sql($1)", &[sql.into()])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .map(|j| j.0)
            .unwrap_or(Value::Null)
    }

    fn signatures(v: &Value) -> Vec<String> {
        v["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["signature"].as_str().unwrap(),
                    f["via"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn fixture() {
        run("CREATE SCHEMA g; CREATE TABLE g.t (a int, b text)");
        run("CREATE FUNCTION g.vol(int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN $1; END $$");
        run("CREATE FUNCTION g.opf(int, int) RETURNS bool LANGUAGE sql AS 'SELECT true'");
        run("CREATE OPERATOR g.### (leftarg = int, rightarg = int, function = g.opf)");
        run("CREATE DOMAIN g.d AS int CHECK (g.vol(VALUE) > 0)");
        run("CREATE DOMAIN g.d2 AS g.d");
        run("CREATE VIEW g.v AS SELECT g.vol(a) AS a FROM g.t");
    }

    #[pg_test]
    fn every_way_of_reaching_a_function_is_seen() {
        fixture();
        let cases = [
            ("SELECT g.vol(1)", "g.vol(integer) call"),
            ("SELECT a FROM g.t ORDER BY g.vol(a)", "g.vol(integer) call"),
            ("SELECT * FROM g.vol(1)", "g.vol(integer) call"),
            (
                "SELECT 1 OPERATOR(g.###) 2",
                "g.opf(integer,integer) operator",
            ),
            ("SELECT 5::g.d", "g.vol(integer) domain check"),
            ("SELECT 5::g.d2", "g.vol(integer) domain check"),
            ("SELECT * FROM g.v", "g.vol(integer) call"),
            (
                "SELECT (SELECT max(g.vol(a)) FROM g.t)",
                "g.vol(integer) call",
            ),
            (
                "WITH c AS (SELECT g.vol(1) AS x) SELECT x FROM c",
                "g.vol(integer) call",
            ),
            (
                "SELECT count(*) FILTER (WHERE g.vol(a) > 0) FROM g.t",
                "g.vol(integer) call",
            ),
            (
                "SELECT row_number() OVER (PARTITION BY g.vol(a)) FROM g.t",
                "g.vol(integer) call",
            ),
            (r#"SELECT "g".U&"vo\006c"(1)"#, "g.vol(integer) call"),
        ];
        for (sql, want) in cases {
            let v = check(sql);
            assert_eq!(v["allowed"], false, "{sql}: {v}");
            assert!(signatures(&v).contains(&want.to_string()), "{sql}: {v}");
        }
    }

    #[pg_test]
    fn plain_selects_pass_and_show_what_they_use() {
        fixture();
        let v = check("SELECT upper(b), count(*) FROM g.t WHERE a > 1 GROUP BY 1 ORDER BY 2 DESC");
        assert_eq!(v["allowed"], true, "{v}");
        assert_eq!(v["command"], "SELECT");
        assert_eq!(v["relations"][0]["name"], "g.t");
        let s = signatures(&v);
        assert!(s.iter().any(|f| f.starts_with("upper(text)")), "{s:?}");
        assert!(s.iter().any(|f| f.starts_with("count()")), "{s:?}");
        assert!(s.iter().any(|f| f.ends_with("operator")), "{s:?}");
        // a system view's body is PostgreSQL's; the secret catalogs are refused
        assert_eq!(check("SELECT rolname FROM pg_roles")["allowed"], true);
        assert_eq!(check("SELECT pid FROM pg_stat_activity")["allowed"], true);
        let v = check("SELECT rolpassword FROM pg_authid");
        assert_eq!(v["allowed"], false);
        assert!(
            v["refusal"]
                .as_str()
                .unwrap()
                .contains("pg_catalog.pg_authid"),
            "{v}"
        );
    }

    #[pg_test]
    fn the_allow_list_admits_a_listed_function() {
        fixture();
        assert_eq!(check("SELECT g.vol(1)")["allowed"], false);
        run("INSERT INTO ai.allowed_functions (func, reason) VALUES ('g.vol(integer)', 'test')");
        assert_eq!(check("SELECT g.vol(1)")["allowed"], true);
        // the deny list wins over it
        run("INSERT INTO ai.denied_functions VALUES ('vol', 'test')");
        let v = check("SELECT g.vol(1)");
        assert_eq!(v["allowed"], false);
        assert!(v["refusal"].as_str().unwrap().contains("denied"), "{v}");
    }

    #[pg_test]
    fn statements_other_than_one_select_are_refused() {
        fixture();
        for (sql, want) in [
            ("SELECT * INTO g.copy FROM g.t", "SELECT INTO"),
            (
                "WITH d AS (DELETE FROM g.t RETURNING *) SELECT * FROM d",
                "modifies data",
            ),
            ("SELECT * FROM g.t FOR SHARE", "locks rows"),
            ("DELETE FROM g.t", "this is DELETE"),
            ("SET work_mem = '1MB'", "this is SET"),
        ] {
            let v = check(sql);
            assert_eq!(v["allowed"], false, "{sql}: {v}");
            assert!(v["refusal"].as_str().unwrap().contains(want), "{sql}: {v}");
        }
    }

    #[pg_test]
    #[should_panic(expected = "expected exactly one SQL statement, found 2")]
    fn two_statements_are_refused() {
        check("SELECT 1; SELECT pg_notify('x', 'y')");
    }

    #[pg_test]
    #[should_panic(expected = "unterminated quoted string")]
    fn a_backslash_never_escapes_a_quote() {
        // with standard_conforming_strings off, PostgreSQL would read \\' as a quote and the
        // rest as a second statement; ai_architect always parses with it on
        run("SET standard_conforming_strings = off");
        check(r"SELECT 'a\' || '; SELECT pg_notify(''x'', ''y''); --");
    }

    fn ask(question: &str) -> Value {
        Spi::get_one_with_args::<pgrx::JsonB>("SELECT ai.ask($1)", &[question.into()])
            .unwrap_or_else(|e| panic!("{question}: {e}"))
            .map(|j| j.0)
            .unwrap_or(Value::Null)
    }

    #[pg_test]
    fn reading_leaves_a_writable_transaction_writable_and_a_read_only_one_answers() {
        run(
            "CREATE SCHEMA ro; CREATE TABLE ro.item (id int PRIMARY KEY, name text);
             INSERT INTO ro.item VALUES (1, 'a'), (2, 'b')",
        );
        run("SELECT ai.add_sample('how many items are there', 'SELECT count(*) FROM ro.item')");
        let a = ask("how many items are there");
        assert_eq!(a["rows"][0]["count"], 2, "{a}");
        assert!(a["usage_id"].as_i64().is_some(), "{a}");
        // the query ran read-only; the transaction it ran in is as writable as before
        run("INSERT INTO ro.item VALUES (3, 'c')");
        assert_eq!(
            Spi::get_one::<String>("SHOW transaction_read_only")
                .unwrap()
                .unwrap(),
            "off"
        );
        // in a read-only transaction the answer comes without the usage log, and a catalog
        // made stale by DDL is used as it is
        run("CREATE TABLE ro.extra (id int)");
        run("SET transaction_read_only = on");
        let a = ask("how many items are there");
        assert_eq!(a["rows"][0]["count"], 3, "{a}");
        assert!(a.get("usage_id").is_none_or(Value::is_null), "{a}");
        let hits = Spi::get_one::<i64>("SELECT count(*) FROM ai.search_catalog('item name')")
            .unwrap()
            .unwrap();
        assert!(hits > 0);
    }

    #[pg_test]
    #[should_panic(expected = "a dry run runs the statement, and this transaction is read-only")]
    fn a_dry_run_in_a_read_only_transaction_is_refused() {
        run(
            "CREATE TABLE public.ro_dry (id int PRIMARY KEY); INSERT INTO public.ro_dry VALUES (1)",
        );
        run("SET transaction_read_only = on");
        run("SELECT ai.impact('DELETE FROM public.ro_dry', 'dry_run')");
    }
}
