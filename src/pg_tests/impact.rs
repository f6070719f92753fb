//! ai.impact inside a real server: exact and dry-run counts against what really happens.
use pgrx::prelude::*;

#[pg_schema]
pub(crate) mod tests {
    use crate::spi_util::in_rolled_back_subtransaction;
    use pgrx::prelude::*;
    use serde_json::Value;
    use std::collections::BTreeMap;

    const SCHEMA: &str = include_str!("../../pg_test/fixtures/impact_schema.sql");
    /// every table of the test schema (partitions through their parent)
    const TABLES: &[&str] = &[
        "customer",
        "orders",
        "order_line",
        "line_note",
        "ticket",
        "invoice",
        "employee",
        "a",
        "b",
        "audit",
        "event",
    ];

    pub(crate) fn setup() {
        Spi::run(SCHEMA).unwrap();
    }

    fn impact(sql: &str, mode: &str) -> Value {
        Spi::get_one_with_args::<pgrx::JsonB>(
            "SELECT ai.impact($1, $2)",
            &[sql.into(), mode.into()],
        )
        .unwrap()
        .unwrap()
        .0
    }

    type Counts = BTreeMap<String, (i64, i64, i64)>;

    /// Runs `sql` for real (then rolls it back), with a row trigger on every table that
    /// records each change: (inserted, updated, deleted) per table, and whether it failed.
    fn really(sql: &str) -> (Counts, bool) {
        let tables: Vec<String> = TABLES.iter().map(|t| format!("imp.{t}")).collect();
        let (per_table, _, failed) = really_on(&tables, sql);
        (per_table, failed)
    }

    /// `really` on the given tables (schema-qualified; a partitioned table through its
    /// partitions): the changes per table and per partition.
    fn really_on(tables: &[String], sql: &str) -> (Counts, Counts, bool) {
        Spi::run(
            "CREATE TEMP TABLE real_changes (tbl text, part text, op text);
             CREATE FUNCTION public.count_change() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO real_changes VALUES (coalesce(pg_partition_root(TG_RELID), TG_RELID)::regclass::text,
                                                  TG_RELID::regclass::text, TG_OP);
                 RETURN NULL;
             END $$",
        )
        .unwrap();
        for t in tables {
            Spi::run(&format!(
                "CREATE TRIGGER zz_count AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION public.count_change()"
            ))
            .unwrap();
        }
        let read = |by: &str| -> Counts {
            let rows = Spi::get_one::<pgrx::JsonB>(&format!(
                "SELECT coalesce(jsonb_object_agg(k, jsonb_build_array(i, u, d)), '{{}}') FROM (
                   SELECT {by} AS k, count(*) FILTER (WHERE op = 'INSERT') AS i, count(*) FILTER (WHERE op = 'UPDATE') AS u,
                          count(*) FILTER (WHERE op = 'DELETE') AS d FROM real_changes GROUP BY 1) s"
            ))
            .unwrap()
            .unwrap()
            .0;
            rows.as_object()
                .unwrap()
                .iter()
                .map(|(t, v)| {
                    (
                        t.clone(),
                        (
                            v[0].as_i64().unwrap(),
                            v[1].as_i64().unwrap(),
                            v[2].as_i64().unwrap(),
                        ),
                    )
                })
                .collect::<Counts>()
        };
        let outcome = in_rolled_back_subtransaction(|| {
            Spi::run(sql).unwrap();
            (read("tbl"), read("part"))
        });
        for t in tables {
            Spi::run(&format!("DROP TRIGGER zz_count ON {t}")).unwrap();
        }
        Spi::run("DROP FUNCTION public.count_change(); DROP TABLE real_changes").unwrap();
        match outcome {
            Ok((t, p)) => (t, p, false),
            Err(_) => (Counts::new(), Counts::new(), true),
        }
    }

    /// rows_exact per table, summed over the paths that reach it
    fn exact_per_table(doc: &Value) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for t in doc["tables"].as_array().unwrap() {
            let n = t["rows_exact"]
                .as_i64()
                .unwrap_or_else(|| panic!("no exact count: {t}"));
            if n > 0 {
                *out.entry(t["table"].as_str().unwrap().to_string())
                    .or_insert(0) += n;
            }
        }
        out
    }

    fn dry_per_table(doc: &Value) -> Counts {
        let mut out = Counts::new();
        for t in doc["tables"].as_array().unwrap() {
            let d = &t["dry_run"];
            let c = (
                d["inserted"].as_i64().unwrap(),
                d["updated"].as_i64().unwrap(),
                d["deleted"].as_i64().unwrap(),
            );
            if c != (0, 0, 0) {
                out.insert(t["table"].as_str().unwrap().to_string(), c);
            }
        }
        out
    }

    const STATEMENTS: &[&str] = &[
        // three levels of CASCADE, SET NULL, a partitioned child, a trigger writing to audit
        "DELETE FROM imp.customer WHERE id IN (20, 21)",
        // RESTRICT with matching rows: fails
        "DELETE FROM imp.customer WHERE id = 3",
        // ON UPDATE CASCADE to a plain and a partitioned table
        "UPDATE imp.customer SET id = id + 1000 WHERE id = 30",
        "UPDATE imp.customer SET name = upper(name) WHERE country = 'FR'",
        // self-reference: the whole subtree goes
        "DELETE FROM imp.employee WHERE id = 2",
        // a cycle: a -> b (CASCADE) -> a (SET NULL on rows already deleted)
        "DELETE FROM imp.a WHERE id = 1",
        // a trigger writing to another table
        "DELETE FROM imp.orders WHERE id BETWEEN 150 AND 160",
        // a partitioned target
        "DELETE FROM imp.event WHERE at < '2026-01-01'",
        // through an updatable view
        "DELETE FROM imp.french_customer WHERE id = 15",
        "INSERT INTO imp.orders (id, customer_id, total) SELECT g, 1, 0 FROM generate_series(1000, 1004) g",
        "INSERT INTO imp.ticket VALUES (500, 1, 'new'), (501, 2, 'new')",
        "UPDATE imp.orders SET total = total + 1 WHERE customer_id IN (SELECT id FROM imp.customer WHERE country = 'FR')",
        "DELETE FROM imp.customer c USING imp.ticket t WHERE t.customer_id = c.id AND t.subject = 'refund' AND c.id > 40",
        "WITH old AS (SELECT id FROM imp.orders WHERE id > 195) DELETE FROM imp.orders o USING old WHERE o.id = old.id",
    ];

    #[pg_test]
    fn exact_counts_equal_what_really_happens() {
        setup();
        for sql in STATEMENTS {
            let (real, failed) = really(sql);
            let doc = impact(sql, "exact");
            assert_eq!(doc["will_fail"].as_bool(), Some(failed), "{sql}: {doc:#}");
            if failed {
                assert!(
                    doc["failure_reason"]
                        .as_str()
                        .unwrap()
                        .contains("imp.invoice"),
                    "{sql}: {doc:#}"
                );
                continue;
            }
            // what ai.impact derives from the statement: everything but trigger side effects
            let mut expected: BTreeMap<String, i64> = real
                .iter()
                .map(|(t, (i, u, d))| (t.clone(), i + u + d))
                .filter(|(_, n)| *n > 0)
                .collect();
            expected.remove("imp.audit");
            assert_eq!(exact_per_table(&doc), expected, "{sql}: {doc:#}");
        }
    }

    #[pg_test]
    fn dry_run_counts_equal_what_really_happens() {
        setup();
        for sql in STATEMENTS {
            let (real, failed) = really(sql);
            let doc = impact(sql, "dry_run");
            assert_eq!(doc["will_fail"].as_bool(), Some(failed), "{sql}: {doc:#}");
            if failed {
                assert!(
                    doc["failure_reason"].as_str().unwrap().contains("invoice"),
                    "{sql}: {doc:#}"
                );
                continue;
            }
            assert_eq!(dry_per_table(&doc), real, "{sql}: {doc:#}");
        }
    }

    pub(crate) fn fingerprint() -> String {
        let per_table: Vec<String> = TABLES
            .iter()
            .map(|t| {
                Spi::get_one::<String>(&format!(
                    "SELECT '{t}:' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM imp.{t} x"
                ))
                .unwrap()
                .unwrap()
            })
            .collect();
        let columns = Spi::get_one::<String>(
            "SELECT string_agg(attrelid::regclass || '.' || attname || ':' || atttypid::regtype, ',' ORDER BY 1)
               FROM pg_attribute WHERE attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'imp'::regnamespace)
                AND attnum > 0 AND NOT attisdropped",
        )
        .unwrap()
        .unwrap();
        format!("{}\n{columns}", per_table.join("\n"))
    }

    #[pg_test]
    fn dry_run_leaves_nothing_behind() {
        setup();
        let before = fingerprint();
        for sql in STATEMENTS.iter().copied().chain([
            "TRUNCATE imp.line_note",
            "ALTER TABLE imp.customer ADD COLUMN vip boolean DEFAULT false",
            "ALTER TABLE imp.customer ALTER COLUMN name TYPE varchar(200)",
            "DROP TABLE imp.line_note",
            "CREATE INDEX orders_total_idx ON imp.orders (total)",
        ]) {
            impact(sql, "dry_run");
            assert_eq!(fingerprint(), before, "{sql} left something behind");
        }
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('imp.orders_total_idx') IS NULL").unwrap(),
            Some(true)
        );
    }

    #[pg_test]
    fn the_cascade_tree_has_actions_depth_and_cycles() {
        setup();
        let doc = impact("DELETE FROM imp.customer WHERE id = 20", "exact");
        let tree = doc["cascades"].as_array().unwrap();
        let find = |nodes: &[Value], table: &str| {
            nodes.iter().find(|n| n["table"] == table).cloned().unwrap()
        };
        let orders = find(tree, "imp.orders");
        assert_eq!(
            (orders["action"].as_str(), orders["depth"].as_i64()),
            (Some("CASCADE"), Some(1))
        );
        let lines = find(orders["children"].as_array().unwrap(), "imp.order_line");
        let notes = find(lines["children"].as_array().unwrap(), "imp.line_note");
        assert_eq!(notes["depth"], 3);
        let invoice = find(orders["children"].as_array().unwrap(), "imp.invoice");
        assert_eq!(
            (
                invoice["action"].as_str(),
                invoice["effect"].as_str(),
                invoice["rows_exact"].as_i64()
            ),
            (Some("RESTRICT"), Some("blocks"), Some(0))
        );
        assert_eq!(find(tree, "imp.ticket")["action"], "SET NULL");
        assert_eq!(doc["cascade_depth"], 3);
        assert_eq!(doc["risk_level"], "HIGH", "{doc:#}");
        let rules: Vec<&str> = doc["risk_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert!(
            rules.contains(&"deep_cascade") && rules.contains(&"sensitive_rows_deleted"),
            "{rules:?}"
        );
        let emp = impact("DELETE FROM imp.employee WHERE id = 2", "estimate");
        assert_eq!(emp["cascades"][0]["cycle"], true);
        let ab = impact("DELETE FROM imp.a WHERE id = 1", "estimate");
        assert_eq!(ab["cascades"][0]["children"][0]["cycle"], true, "{ab:#}");
        // triggers and dependent views are listed
        let trig = &doc["triggers"].as_array().unwrap()[0];
        assert_eq!(
            (trig["name"].as_str(), trig["timing"].as_str()),
            (Some("orders_log"), Some("AFTER"))
        );
        let views: Vec<&str> = doc["dependent_views"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["view"].as_str().unwrap())
            .collect();
        assert!(
            views.contains(&"imp.french_customer") && views.contains(&"imp.order_total"),
            "{views:?}"
        );
        assert!(doc["rollback_plan"]["capture"][0]
            .as_str()
            .unwrap()
            .starts_with("CREATE TABLE before_1_customer AS SELECT"));
    }

    #[pg_test]
    fn estimate_mode_never_runs_the_statement() {
        setup();
        Spi::run("UPDATE ai.risk_policy SET value = 500 WHERE setting = 'unfiltered_rows'")
            .unwrap();
        let doc = impact("DELETE FROM imp.order_line", "estimate");
        assert_eq!(doc["tables"][0]["rows_exact"], Value::Null);
        assert_eq!(doc["tables"][0]["rows_estimated"], 600);
        assert_eq!(doc["risk_level"], "CRITICAL");
        assert!(
            doc["risk_reasons"].to_string().contains("no_where_clause"),
            "{doc:#}"
        );
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM imp.order_line").unwrap(),
            Some(600)
        );
        // RESTRICT children in estimate mode: unknown, with a warning
        let d = impact("DELETE FROM imp.customer WHERE id = 3", "estimate");
        assert_eq!(d["will_fail"], Value::Null);
        assert!(d["warnings"].to_string().contains("may block"), "{d:#}");
    }

    #[pg_test]
    fn risk_follows_sensitive_columns_and_the_policy() {
        setup();
        let d = impact("UPDATE imp.customer SET email = 'x' WHERE id = 1", "exact");
        assert_eq!(d["risk_level"], "CRITICAL");
        assert_eq!(d["sensitive_columns"][0]["column"], "email");
        assert_eq!(d["sensitive_columns"][0]["source"], "name");
        let plain = impact("UPDATE imp.ticket SET subject = 'x' WHERE id = 1", "exact");
        assert_eq!(plain["risk_level"], "LOW", "{plain:#}");
        Spi::run("INSERT INTO ai.sensitive_columns (schema_name, table_name, column_name, category) VALUES ('imp', 'ticket', 'subject', 'health')").unwrap();
        let marked = impact("UPDATE imp.ticket SET subject = 'x' WHERE id = 1", "exact");
        assert_eq!(marked["risk_level"], "CRITICAL");
        assert_eq!(
            marked["sensitive_columns"][0]["source"],
            "ai.sensitive_columns"
        );
        Spi::run("UPDATE ai.risk_policy SET value = 1 WHERE setting = 'medium_rows'").unwrap();
        let strict = impact("UPDATE imp.orders SET total = 0 WHERE id = 1", "exact");
        assert_eq!(strict["risk_level"], "MEDIUM", "{strict:#}");
        // the extension's own tables are CRITICAL
        let own = impact("DELETE FROM ai.sensitive_columns WHERE false", "estimate");
        assert_eq!(own["risk_level"], "CRITICAL");
        assert!(own["risk_reasons"].to_string().contains("system_table"));
    }

    #[pg_test]
    fn ddl_reports_locks_lint_and_inverse() {
        setup();
        let d = impact(
            "ALTER TABLE imp.customer ALTER COLUMN name TYPE varchar(10)",
            "estimate",
        );
        assert_eq!(d["statement_type"], "DDL");
        assert_eq!(d["locks"][0]["mode"], "ACCESS EXCLUSIVE");
        assert_eq!(d["ddl"][0]["rewrites"], true);
        assert!(
            d["lint"].to_string().contains("changing-column-type"),
            "{d:#}"
        );
        assert_eq!(
            d["rollback_plan"]["inverse"][0],
            "ALTER TABLE imp.customer ALTER COLUMN \"name\" TYPE text USING \"name\"::text"
        );
        let i = impact("CREATE INDEX ON imp.orders (total)", "estimate");
        assert_eq!(i["locks"][0]["mode"], "SHARE");
        assert!(i["lint"]
            .to_string()
            .contains("require-concurrent-index-creation"));
        let c = impact(
            "CREATE INDEX CONCURRENTLY ON imp.orders (total)",
            "estimate",
        );
        assert_eq!(c["locks"][0]["mode"], "SHARE UPDATE EXCLUSIVE");
        let drop = impact("DROP TABLE imp.line_note", "estimate");
        assert_eq!(drop["risk_level"], "CRITICAL");
        assert_eq!(drop["rollback_plan"]["reversible"], false);
        let dc = impact(
            "ALTER TABLE imp.orders DROP CONSTRAINT orders_customer_id_fkey",
            "estimate",
        );
        assert!(dc["rollback_plan"]["inverse"][0].as_str().unwrap().contains("FOREIGN KEY (customer_id) REFERENCES imp.customer(id) ON UPDATE CASCADE ON DELETE CASCADE"), "{dc:#}");
        let t = impact("TRUNCATE imp.order_line", "exact");
        assert_eq!(t["will_fail"], true);
        assert!(t["failure_reason"]
            .as_str()
            .unwrap()
            .contains("imp.line_note references imp.order_line"));
        let tc = impact("TRUNCATE imp.order_line CASCADE", "exact");
        assert_eq!(exact_per_table(&tc).get("imp.line_note"), Some(&300));
        // a failing DDL statement in a dry run
        let bad = impact(
            "ALTER TABLE imp.ticket ALTER COLUMN customer_id SET NOT NULL",
            "estimate",
        );
        assert_eq!(bad["will_fail"], false);
        Spi::run("UPDATE imp.ticket SET customer_id = NULL WHERE id = 1").unwrap();
        let bad = impact(
            "ALTER TABLE imp.ticket ALTER COLUMN customer_id SET NOT NULL",
            "dry_run",
        );
        assert_eq!(bad["will_fail"], true);
        assert!(
            bad["failure_reason"]
                .as_str()
                .unwrap()
                .contains("contains null values"),
            "{bad:#}"
        );
    }

    #[pg_test]
    fn the_report_is_a_tree() {
        setup();
        let text = Spi::get_one::<String>(
            "SELECT ai.impact_report('DELETE FROM imp.customer WHERE id = 20', 'exact')",
        )
        .unwrap()
        .unwrap();
        assert!(
            text.starts_with("DELETE — risk HIGH — mode exact"),
            "{text}"
        );
        assert!(
            text.contains("├─ imp.orders via orders_customer_id_fkey [ON CASCADE] delete: 4 rows"),
            "{text}"
        );
        assert!(
            text.contains(
                "│  ├─ imp.invoice via invoice_order_id_fkey [ON RESTRICT] BLOCKS: 0 rows"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "│  └─ imp.order_line via order_line_order_id_fkey [ON CASCADE] delete: 12 rows"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "│     └─ imp.line_note via line_note_line_id_fkey [ON CASCADE] delete: 12 rows"
            ),
            "{text}"
        );
    }

    #[pg_test]
    fn callers_without_select_see_no_counts() {
        setup();
        Spi::run("CREATE ROLE impact_reader").unwrap();
        Spi::run("GRANT USAGE ON SCHEMA imp TO impact_reader").unwrap();
        Spi::run("GRANT SELECT, DELETE ON imp.customer TO impact_reader").unwrap();
        Spi::run("SET LOCAL ROLE impact_reader").unwrap();
        let d = impact("DELETE FROM imp.customer WHERE id = 20", "exact");
        Spi::run("RESET ROLE").unwrap();
        // hidden tables are named (the catalog is public) but carry no counts
        for t in d["tables"].as_array().unwrap() {
            if t["table"] == "imp.customer" {
                assert_eq!(t["rows_exact"], 1);
            } else {
                assert_eq!(
                    (
                        t["rows_exact"].clone(),
                        t["rows_estimated"].clone(),
                        t["table_rows"].clone()
                    ),
                    (Value::Null, Value::Null, Value::Null),
                    "{t}"
                );
            }
        }
        for l in d["locks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["table"] != "imp.customer")
        {
            assert_eq!(l["table_rows"], Value::Null, "{l}");
        }
        let orders = d["cascades"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["table"] == "imp.orders")
            .unwrap();
        assert_eq!(
            (
                orders["rows_exact"].clone(),
                orders["rows_estimated"].clone(),
                orders["hidden"].as_bool()
            ),
            (Value::Null, Value::Null, Some(true))
        );
        assert!(d["warnings"]
            .to_string()
            .contains("no SELECT right on imp.orders"));
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.impact: permission denied: you have no SELECT right on imp.orders"
    )]
    fn a_table_the_caller_cannot_read_is_an_error() {
        setup();
        Spi::run("CREATE ROLE impact_nobody").unwrap();
        Spi::run("GRANT USAGE ON SCHEMA imp TO impact_nobody").unwrap();
        Spi::run("SET LOCAL ROLE impact_nobody").unwrap();
        impact("DELETE FROM imp.orders WHERE id = 1", "estimate");
    }

    #[pg_test]
    #[should_panic(expected = "ai.impact: expected exactly one SQL statement, found 2")]
    fn two_statements_are_an_error() {
        impact("DELETE FROM t; DELETE FROM u", "estimate");
    }

    #[pg_test]
    // PostgreSQL's own parser reads it, and its syntax error (with the position) is the answer
    #[should_panic(expected = "syntax error at or near \"FORM\"")]
    fn unparsable_sql_is_an_error() {
        impact("DELETE FORM t", "estimate");
    }

    #[pg_test]
    #[should_panic(expected = "ai.impact: relation \"no_such_table\" does not exist")]
    fn an_unknown_table_is_an_error() {
        impact("DELETE FROM no_such_table WHERE id = 1", "estimate");
    }

    #[pg_test]
    #[should_panic(expected = "ai.impact: WHERE CURRENT OF refers to a cursor position")]
    fn where_current_of_is_refused() {
        impact("DELETE FROM t WHERE CURRENT OF c", "estimate");
    }

    #[pg_test]
    #[should_panic(expected = "ai.impact: view imp.order_total cannot be the target of DELETE")]
    fn a_view_that_is_not_updatable_is_an_error() {
        setup();
        impact(
            "DELETE FROM imp.order_total WHERE customer_id = 1",
            "estimate",
        );
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.impact: mode must be 'estimate', 'exact' or 'dry_run', got 'fast'"
    )]
    fn an_unknown_mode_is_an_error() {
        impact("SELECT 1", "fast");
    }

    #[pg_test]
    #[should_panic(expected = "cannot be dry-run: it cannot run inside a transaction block")]
    fn concurrent_index_builds_are_not_dry_run() {
        setup();
        impact("CREATE INDEX CONCURRENTLY ON imp.orders (total)", "dry_run");
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.impact: the exact analysis did not finish within ai_architect.impact_timeout_ms (50 ms)"
    )]
    fn exact_counts_stop_at_the_timeout() {
        setup();
        Spi::run("SET LOCAL ai_architect.impact_timeout_ms = 50").unwrap();
        impact(
            // slow, and allowed (pg_sleep is refused before anything runs)
            "DELETE FROM imp.customer WHERE id = (SELECT count(*)::int FROM generate_series(1, 200000000))",
            "exact",
        );
    }

    const DIAMOND: &str = include_str!("../../pg_test/fixtures/impact_diamond.sql");
    const DIAMOND_TABLES: &[&str] = &["dia.customer", "dia.rental", "dia.payment", "dia.review"];

    /// per line: (table, operation) → (rows, partitions as name → rows), in a mode's count
    fn lines(doc: &Value, exact: bool) -> BTreeMap<(String, String), (i64, BTreeMap<String, i64>)> {
        let mut out = BTreeMap::new();
        for t in doc["tables"].as_array().unwrap() {
            let key = (
                t["table"].as_str().unwrap().to_string(),
                t["operation"].as_str().unwrap().to_string(),
            );
            let n = if exact {
                t["rows_exact"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no exact count: {t}"))
            } else {
                t["rows_estimated"].as_i64().unwrap_or(-1)
            };
            let parts = t["partitions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["partition"].as_str().unwrap().to_string(),
                        p[if exact {
                            "rows_exact"
                        } else {
                            "rows_estimated"
                        }]
                        .as_i64()
                        .unwrap_or(-1),
                    )
                })
                .collect();
            assert!(
                out.insert(key.clone(), (n, parts)).is_none(),
                "{key:?} twice: {doc:#}"
            );
        }
        out
    }

    #[pg_test]
    fn rows_reached_by_two_paths_count_once_and_partitions_are_their_table() {
        Spi::run(DIAMOND).unwrap();
        let tables: Vec<String> = DIAMOND_TABLES.iter().map(|t| t.to_string()).collect();
        for sql in [
            "DELETE FROM dia.customer WHERE customer_id <= 50",
            "DELETE FROM dia.customer WHERE customer_id IN (7, 8, 9)",
            "DELETE FROM dia.rental WHERE rental_id % 3 = 0",
        ] {
            let (real, parts, failed) = really_on(&tables, sql);
            assert!(!failed, "{sql}");
            let real_parts = |table: &str| -> BTreeMap<String, i64> {
                parts
                    .iter()
                    .filter(|(p, _)| p.starts_with(&format!("{table}_")))
                    .map(|(p, (i, u, d))| (p.clone(), i + u + d))
                    .collect()
            };
            for mode in ["exact", "dry_run"] {
                let doc = impact(sql, mode);
                let got = lines(&doc, true);
                let per_table: BTreeMap<String, i64> = got
                    .iter()
                    .filter(|(_, (n, _))| *n > 0)
                    .map(|((t, _), (n, _))| (t.clone(), *n))
                    .collect();
                let want: BTreeMap<String, i64> = real
                    .iter()
                    .map(|(t, (i, u, d))| (t.clone(), i + u + d))
                    .collect();
                assert_eq!(per_table, want, "{sql} ({mode}): {doc:#}");
                // the payment line: one, the partitioned table, with its partitions beside it
                let (_, (_, payment_parts)) = got
                    .iter()
                    .find(|((t, _), _)| t == "dia.payment")
                    .unwrap_or_else(|| panic!("{sql} ({mode}): no payment line: {doc:#}"));
                let nonzero: BTreeMap<String, i64> = payment_parts
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(p, n)| (p.clone(), *n))
                    .collect();
                assert_eq!(
                    nonzero,
                    real_parts("dia.payment"),
                    "{sql} ({mode}): {doc:#}"
                );
                assert!(
                    got.keys().all(|(t, _)| !t.contains("payment_p2022")),
                    "{sql} ({mode}): a partition reported as a table: {doc:#}"
                );
            }
            // the estimate has the same lines, and every partition beside its table
            let doc = impact(sql, "estimate");
            let est = lines(&doc, false);
            let (_, (_, payment_parts)) =
                est.iter().find(|((t, _), _)| t == "dia.payment").unwrap();
            assert_eq!(payment_parts.len(), 6, "{doc:#}");
            assert!(payment_parts.values().all(|n| *n >= 0), "{doc:#}");
        }
    }
}
