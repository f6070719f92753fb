//! The schema lint, the diagrams, the DDL proposals and the metrics inside a real server.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::Value;

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn json(sql: &str) -> Value {
        Spi::get_one::<pgrx::JsonB>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap()
            .0
    }

    type Finding = (String, String, Option<String>);

    fn lint(schema: &str) -> Vec<Finding> {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c
                .select(
                    "SELECT rule, object, fix_sql FROM ai.lint_schema(ARRAY[$1])",
                    None,
                    &[schema.into()],
                )
                .unwrap()
            {
                out.push((
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<String>(2).unwrap().unwrap(),
                    r.get::<String>(3).unwrap(),
                ));
            }
            out
        })
    }

    /// One table per problem the lint knows, and a clean one.
    fn messy() {
        run("CREATE SCHEMA messy");
        run("CREATE TABLE messy.parent (id int PRIMARY KEY, name text NOT NULL)");
        run("CREATE TABLE messy.child (id int PRIMARY KEY, parent_id int REFERENCES messy.parent)");
        run("CREATE TABLE messy.nokey (id int NOT NULL UNIQUE, v text)");
        run(
            r#"CREATE TABLE messy."Shipment" ("ShipmentId" serial PRIMARY KEY, "user" text, status text,
                 amount float8, sent timestamp, code char(3))"#,
        );
        run("CREATE TABLE messy.twins (id int PRIMARY KEY, a int)");
        run("CREATE INDEX twins_a1 ON messy.twins (a)");
        run("CREATE INDEX twins_a2 ON messy.twins (a)");
        run("CREATE TABLE messy.clean (clean_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text NOT NULL)");
        run("INSERT INTO messy.parent SELECT g, 'p' || g FROM generate_series(1, 10) g");
        run("INSERT INTO messy.child SELECT g, 1 + g % 10 FROM generate_series(1, 200) g");
        run(
            r#"INSERT INTO messy."Shipment" ("user", status, amount, sent, code)
                 SELECT 'u' || g % 50, (ARRAY['new','sent','lost'])[1 + g % 3], 1.5, now(), 'abc' FROM generate_series(1, 300) g"#,
        );
        run("INSERT INTO messy.clean (label) SELECT 'x' || g FROM generate_series(1, 300) g");
        run("ANALYZE messy.parent, messy.child, messy.\"Shipment\", messy.clean");
    }

    #[pg_test]
    fn the_lint_finds_each_problem_and_nothing_on_a_clean_table() {
        messy();
        let f = lint("messy");
        let rules: Vec<(&str, &str)> = f.iter().map(|(r, o, _)| (r.as_str(), o.as_str())).collect();
        for want in [
            ("no_primary_key", "messy.nokey"),
            ("fk_without_index", "messy.child.child_parent_id_fkey"),
            ("nullable_fk_always_filled", "messy.child.parent_id"),
            ("duplicate_index", "messy.twins_a2"),
            ("mixed_case_name", "messy.Shipment"),
            ("mixed_case_name", "messy.Shipment.ShipmentId"),
            ("serial_column", "messy.Shipment.ShipmentId"),
            ("reserved_word", "messy.Shipment.user"),
            ("money_as_float", "messy.Shipment.amount"),
            ("timestamp_without_time_zone", "messy.Shipment.sent"),
            ("char_n", "messy.Shipment.code"),
            ("enum_like_text", "messy.Shipment.status"),
        ] {
            assert!(rules.contains(&want), "{want:?} missing from {rules:?}");
        }
        assert!(
            !rules
                .iter()
                .any(|(_, o)| o.starts_with("messy.clean") || o.starts_with("messy.parent")),
            "{rules:?}"
        );
        // 50 distinct users in 300 rows are not enum-like
        assert!(
            !rules.contains(&("enum_like_text", "messy.Shipment.user")),
            "{rules:?}"
        );
    }

    /// Every fix the lint gives goes through the approval workflow as it is (ai.request, then
    /// ai.execute), on tables holding a value the statistics never saw; afterwards every row
    /// of every table can still be updated. The enum-like CHECK meets that value and fails,
    /// enforcing nothing (added NOT VALID, as the lint once proposed it, it would have been
    /// enforced on every later UPDATE of that row); every other fix clears its finding.
    #[pg_test]
    fn every_fix_runs_through_the_workflow_and_leaves_every_row_updatable() {
        messy();
        // written after the statistics were taken: the lint's sample never saw it
        run(
            r#"INSERT INTO messy."Shipment" ("user", status, amount, sent, code)
               VALUES ('late', 'returned', 2.5, now(), 'xyz')"#,
        );
        run("UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true");
        let f = lint("messy");
        let fixes: Vec<&Finding> = f.iter().filter(|x| x.2.is_some()).collect();
        assert!(fixes.len() >= 10, "{f:?}");
        // renames last (columns before their table): the other fixes name the old names
        let mut fixes = fixes;
        fixes.sort_by_key(|x| {
            let fix = x.2.as_deref().unwrap();
            if fix.contains(" RENAME COLUMN ") {
                1
            } else if fix.contains(" RENAME TO ") {
                2
            } else {
                0
            }
        });
        let mut failed: Vec<(String, String)> = Vec::new();
        // an index built or dropped CONCURRENTLY is handed to the executor's background
        // worker, which starts once this transaction commits (never, in this test: its run is
        // tested in tests/integration/tests/online.rs)
        let mut handed_over: Vec<&str> = Vec::new();
        for (rule, object, fix) in fixes.iter().map(|x| (&x.0, &x.1, x.2.as_deref().unwrap())) {
            let id = Spi::get_one_with_args::<i64>("SELECT ai.request($1)", &[fix.into()])
                .unwrap_or_else(|e| panic!("{rule} {object}: ai.request({fix}): {e}"))
                .unwrap();
            let out = json(&format!("SELECT ai.execute({id})"));
            if out["status"] == "running" {
                assert!(fix.contains(" CONCURRENTLY "), "{fix}: {out}");
                handed_over.push(rule.as_str());
            } else if out["status"] != "succeeded" {
                failed.push((rule.clone(), out["reason"].to_string()));
            }
        }
        handed_over.sort();
        handed_over.dedup();
        assert_eq!(handed_over, ["duplicate_index", "fk_without_index"]);
        assert_eq!(
            failed.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["enum_like_text"],
            "{failed:?}"
        );
        assert!(failed[0].1.contains("check constraint"), "{failed:?}");
        // every row of every table still takes an UPDATE
        let updates: Vec<String> = Spi::connect(|c| {
            c.select(
                "SELECT pg_catalog.format('UPDATE %s SET %I = %I', t.oid::regclass, a.attname, a.attname)
                   FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
                   JOIN LATERAL (SELECT attname FROM pg_catalog.pg_attribute
                                  WHERE attrelid = t.oid AND attnum > 0 AND NOT attisdropped
                                    AND attgenerated = '' AND attidentity <> 'a'
                                  ORDER BY attnum LIMIT 1) a ON true
                  WHERE n.nspname = 'messy' AND t.relkind = 'r'",
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        });
        assert!(updates.len() >= 6, "{updates:?}");
        for u in &updates {
            run(u);
        }
        let after = lint("messy");
        assert!(
            after.iter().all(|x| x.2.is_none()
                || ["enum_like_text", "duplicate_index", "fk_without_index"]
                    .contains(&x.0.as_str())),
            "findings with a fix remain after applying them: {after:?}"
        );
    }

    #[pg_test]
    #[should_panic(expected = "does not exist")]
    fn a_schema_that_does_not_exist_is_an_error() {
        Spi::get_one::<i64>("SELECT count(*) FROM ai.lint_schema(ARRAY['nope'])").unwrap();
    }

    #[pg_test]
    fn the_diagram_shows_keys_and_cardinality() {
        messy();
        let m = Spi::get_one::<String>("SELECT ai.erd(ARRAY['messy'])")
            .unwrap()
            .unwrap();
        assert!(m.starts_with("erDiagram\n"), "{m}");
        assert!(
            m.contains("    child {\n        integer id PK\n        integer parent_id FK\n    }"),
            "{m}"
        );
        assert!(m.contains("    parent |o--o{ child : \"parent_id\""), "{m}");
        let d = Spi::get_one::<String>("SELECT ai.erd(ARRAY['messy'], 'dot')")
            .unwrap()
            .unwrap();
        assert!(d.contains("\"messy.child\" -> \"messy.parent\" [label=\"parent_id\", arrowtail=crowodot, arrowhead=teeodot]"), "{d}");
    }

    #[pg_test]
    #[should_panic(expected = "unknown format")]
    fn an_unknown_diagram_format_is_an_error() {
        messy();
        Spi::get_one::<String>("SELECT ai.erd(ARRAY['messy'], 'png')").unwrap();
    }

    #[pg_test]
    fn a_proposal_is_a_request_and_nothing_runs() {
        messy();
        let p = json("SELECT ai.propose_ddl('add a table shipment_note with a required note and a priority from 1 to 3, linked to parent')");
        assert_eq!(p["source"], "grammar");
        let ddl = p["ddl"][0].as_str().unwrap();
        assert!(ddl.starts_with("CREATE TABLE messy.shipment_note (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    parent_id integer NOT NULL REFERENCES messy.parent (id),"), "{ddl}");
        assert!(
            ddl.contains("note text NOT NULL")
                && ddl.contains("priority integer CHECK (priority BETWEEN 1 AND 3)"),
            "{ddl}"
        );
        assert_eq!(
            p["then"][0]["sql"],
            "CREATE INDEX shipment_note_parent_id_idx ON messy.shipment_note (parent_id)"
        );
        let id = p["request"].as_i64().unwrap();
        let st = json(&format!("SELECT ai.request_status({id})"));
        assert!(
            st["statement"]
                .as_str()
                .unwrap()
                .starts_with("CREATE TABLE messy.shipment_note ("),
            "{st}"
        );
        assert_eq!(st["state"], p["state"]);
        assert!(
            Spi::get_one::<bool>("SELECT to_regclass('messy.shipment_note') IS NULL")
                .unwrap()
                .unwrap()
        );
        // an existing table's change is one statement with its impact
        let q = json("SELECT ai.propose_ddl('add an index on child (parent_id)')");
        assert_eq!(
            q["ddl"],
            serde_json::json!(["CREATE INDEX child_parent_id_idx ON messy.child (parent_id)"])
        );
        assert!(q["requests"][0]["impact"]["risk_level"].is_string(), "{q}");
    }

    #[pg_test]
    #[should_panic(expected = "not a change this grammar knows")]
    fn a_proposal_it_does_not_understand_is_an_error() {
        Spi::run("SELECT ai.propose_ddl('make everything faster')").unwrap();
    }

    #[pg_test]
    fn metrics_count_what_happened() {
        let value = |m: &str| {
            Spi::get_one_with_args::<f64>(
                "SELECT sum(value) FROM ai.metrics() WHERE metric = $1",
                &[m.into()],
            )
            .unwrap()
        };
        let before = value("ai_requests").unwrap_or(0.0);
        run("CREATE TABLE m_t (id int PRIMARY KEY)");
        run("SELECT ai.request('ALTER TABLE m_t ADD COLUMN v text')");
        assert_eq!(value("ai_requests"), Some(before + 1.0));
        assert_eq!(value("ai_embedding_counters_available"), Some(1.0));
        let calls = value("ai_embedding_calls_total").unwrap();
        run("SELECT ai.embed('hello')");
        assert_eq!(value("ai_embedding_calls_total"), Some(calls + 1.0));
    }
}
