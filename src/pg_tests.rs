//! Tests that run inside a real PostgreSQL server (`cargo pgrx test`).
use pgrx::prelude::*;

mod advisor;
mod approval;
mod architect;
mod catalog;
mod impact;
mod pgsql;
mod rollback;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn version_json() -> serde_json::Value {
        Spi::get_one::<pgrx::JsonB>("SELECT ai.version()")
            .unwrap()
            .unwrap()
            .0
    }

    #[pg_test]
    fn version_reports_installed_assets() {
        let v = version_json();
        assert_eq!(v["extension_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["pgrx_version"], "0.18.0");
        assert!(
            v["postgres_version"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}.", pg_sys::PG_VERSION_NUM / 10000)),
            "{v}"
        );
        assert_eq!(v["onnxruntime"]["loads"], true, "{v}");
        assert_eq!(v["onnxruntime"]["version"], "1.31.1");
        assert_eq!(v["model"]["exists"], true, "{v}");
        assert_eq!(v["model"]["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(v["tokenizer"]["exists"], true, "{v}");
        assert_eq!(v["embeddings_ready"], true);
    }

    #[pg_test]
    fn version_knows_it_was_preloaded() {
        let v = version_json();
        assert_eq!(v["preloaded"], true, "{v}");
        // the worker is registered and connected to its database (postgres, where it waits
        // for the extension), between two starts, or (this throw-away server has no role for
        // it) waiting for its role, saying how to create it
        let detail = v["worker"]["detail"].as_str().unwrap();
        if v["worker"]["running"] == true {
            assert!(detail.contains("running in database \"postgres\""), "{v}");
        } else {
            assert!(
                detail.contains("preloaded")
                    || detail.contains(
                        "waits for its role \"ai_architect_worker\": CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor"
                    ),
                "{v}"
            );
        }
    }

    #[pg_test]
    fn version_diagnoses_a_wrong_runtime_path() {
        Spi::run("SET ai_architect.onnxruntime_path = '/nonexistent/libonnxruntime.so'").unwrap();
        let v = version_json();
        assert_eq!(v["onnxruntime"]["loads"], false);
        let err = v["onnxruntime"]["error"].as_str().unwrap();
        assert!(
            err.contains("ai_architect.onnxruntime_path")
                && err.contains("/nonexistent/libonnxruntime.so"),
            "{err}"
        );
        assert_eq!(v["embeddings_ready"], false);
    }

    #[pg_test]
    fn version_diagnoses_a_corrupt_runtime_library() {
        // a real file that is not a shared library
        Spi::run("SET ai_architect.onnxruntime_path = '$sharedir/extension/ai_architect.control'")
            .unwrap();
        let v = version_json();
        assert_eq!(v["onnxruntime"]["loads"], false);
        assert!(
            v["onnxruntime"]["error"]
                .as_str()
                .unwrap()
                .contains("not a loadable ONNX Runtime library"),
            "{v}"
        );
    }

    #[pg_test]
    fn version_diagnoses_a_missing_model() {
        Spi::run("SET ai_architect.model_path = '$sharedir/extension/ai_architect/missing.onnx'")
            .unwrap();
        let v = version_json();
        assert_eq!(v["model"]["exists"], false);
        let err = v["model"]["error"].as_str().unwrap();
        assert!(
            err.contains("ai_architect.model_path") && err.contains("missing.onnx"),
            "{err}"
        );
        assert!(v["model"]["hint"].as_str().unwrap().contains("reinstall"));
    }

    #[pg_test]
    fn api_key_is_never_shown() {
        Spi::run("SET ai_architect.llm_api_key = 'sk-secret-value'").unwrap();
        let shown = Spi::get_one::<String>("SHOW ai_architect.llm_api_key")
            .unwrap()
            .unwrap();
        assert_eq!(shown, "********");
        Spi::run("SET ai_architect.llm_base_url = 'https://bob:pa55@llm.internal/v1'").unwrap();
        let v = version_json();
        assert_eq!(v["llm"]["api_key_set"], true);
        assert_eq!(v["llm"]["base_url"], "https://********@llm.internal/v1");
        assert!(!v.to_string().contains("sk-secret-value") && !v.to_string().contains("pa55"));
    }

    #[pg_test]
    fn every_setting_is_registered_with_its_default() {
        for (name, default) in [
            (
                "ai_architect.model_path",
                "$sharedir/extension/ai_architect/model.onnx",
            ),
            (
                "ai_architect.tokenizer_path",
                "$sharedir/extension/ai_architect/tokenizer.json",
            ),
            (
                "ai_architect.onnxruntime_path",
                "$libdir/libonnxruntime.so.1.31.1",
            ),
            ("ai_architect.embedding_threads", "1"),
            ("ai_architect.embedding_batch_size", "32"),
            ("ai_architect.llm_base_url", ""),
            ("ai_architect.llm_model", "gpt-4o-mini"),
            ("ai_architect.llm_timeout_ms", "30s"),
            ("ai_architect.statement_timeout_ms", "5s"),
            ("ai_architect.audit_database", "postgres"),
            ("ai_architect.audit_interval", "1d"),
        ] {
            let v = Spi::get_one::<String>(&format!("SELECT current_setting('{name}')"))
                .unwrap()
                .unwrap();
            assert_eq!(v, default, "{name}");
        }
    }

    #[pg_test]
    fn state_schema_has_vector_indexes() {
        let n = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'ai' AND indexdef LIKE '%USING hnsw%vector_cosine_ops%'",
        )
        .unwrap()
        .unwrap();
        // the catalog's tables (searched by similarity), samples, patterns and the rest; the
        // catalog's columns, schemas and relationships are compared one table at a time or
        // not embedded
        assert_eq!(n, 7);
    }

    #[pg_test]
    #[should_panic(expected = "permission denied for table sql_samples")]
    fn ordinary_roles_cannot_write_state_tables() {
        Spi::run("CREATE ROLE ai_test_intruder").unwrap();
        Spi::run("SET ROLE ai_test_intruder").unwrap();
        Spi::run("INSERT INTO ai.sql_samples (question, query) VALUES ('q', 'SELECT 1')").unwrap();
    }

    fn cos(a: &str, b: &str) -> f64 {
        Spi::get_one::<f64>(&format!(
            "SELECT 1 - (ai.embed({}) <=> ai.embed({}))",
            pgrx::spi::quote_literal(a),
            pgrx::spi::quote_literal(b)
        ))
        .unwrap()
        .unwrap()
    }

    #[pg_test]
    fn embed_gives_a_unit_vector_of_384_dimensions() {
        let dims =
            Spi::get_one::<i32>("SELECT vector_dims(ai.embed('How many invoices per country?'))")
                .unwrap();
        assert_eq!(dims, Some(384));
        let norm =
            Spi::get_one::<f64>("SELECT vector_norm(ai.embed('How many invoices per country?'))")
                .unwrap()
                .unwrap();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        // the empty string is valid input
        assert_eq!(
            Spi::get_one::<i32>("SELECT vector_dims(ai.embed(''))").unwrap(),
            Some(384)
        );
    }

    #[pg_test]
    fn embed_is_null_for_null() {
        assert_eq!(
            Spi::get_one::<bool>("SELECT ai.embed(NULL::text) IS NULL").unwrap(),
            Some(true)
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT ai.embed(NULL::text[]) IS NULL").unwrap(),
            Some(true)
        );
    }

    #[pg_test]
    fn embed_ranks_meaning() {
        let close = cos("A man is eating food.", "A man is eating a piece of bread.");
        let far = cos(
            "A man is eating food.",
            "The stock market fell sharply today.",
        );
        assert!(
            close > 0.6 && far < 0.2 && close > far + 0.4,
            "close {close} far {far}"
        );
    }

    #[pg_test]
    fn batch_keeps_order_and_nulls_and_matches_single_calls() {
        let n = Spi::get_one::<bool>(
            "WITH b AS (SELECT ai.embed(ARRAY['a much longer sentence about invoices and customers', NULL, 'short', '']) AS v)
             SELECT cardinality(v) = 4 AND v[2] IS NULL
                AND (v[1] <=> ai.embed('a much longer sentence about invoices and customers')) < 1e-5
                AND (v[3] <=> ai.embed('short')) < 1e-5
                AND (v[4] <=> ai.embed('')) < 1e-5
             FROM b",
        )
        .unwrap();
        assert_eq!(n, Some(true));
        assert_eq!(
            Spi::get_one::<i32>("SELECT cardinality(ai.embed(ARRAY[]::text[]))").unwrap(),
            Some(0)
        );
    }

    #[pg_test]
    fn batches_of_any_size_give_the_same_vectors() {
        Spi::run("SET ai_architect.embedding_batch_size = 1").unwrap();
        let a = Spi::get_one::<String>(
            "SELECT ai.embed(ARRAY['one', 'two words', 'three words here'])::text",
        )
        .unwrap();
        Spi::run("SET ai_architect.embedding_batch_size = 64").unwrap();
        let same = Spi::get_one::<bool>(&format!(
            "SELECT bool_and((x <=> y) < 1e-5) FROM unnest({}::vector[], ai.embed(ARRAY['one', 'two words', 'three words here'])) AS u(x, y)",
            pgrx::spi::quote_literal(&a.unwrap())
        ))
        .unwrap();
        assert_eq!(same, Some(true));
    }

    #[pg_test]
    #[should_panic(expected = "ai.embed: ai_architect.model_path: cannot load the model")]
    fn embed_with_a_missing_model_is_a_clear_error() {
        Spi::run("SET ai_architect.model_path = '/nonexistent/model.onnx'").unwrap();
        Spi::run("SELECT ai.embed('x')").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.embed: ai_architect.tokenizer_path: cannot load the tokenizer")]
    fn embed_with_a_corrupt_tokenizer_is_a_clear_error() {
        // a real file that is not a tokenizer
        Spi::run("SET ai_architect.tokenizer_path = '$sharedir/extension/ai_architect.control'")
            .unwrap();
        Spi::run("SELECT ai.embed('x')").unwrap();
    }

    fn setup_shop() {
        Spi::run(
            "CREATE SCHEMA t_shop;
             CREATE TABLE t_shop.invoice (id int PRIMARY KEY, total numeric);
             CREATE TABLE t_shop.invoice_line (id int PRIMARY KEY, invoice_id int REFERENCES t_shop.invoice, qty int);",
        )
        .unwrap();
    }

    fn counts(kind: &str) -> (i32, i32, i32, i32) {
        let sql = format!(
            "SELECT added, updated, removed, unchanged FROM ai.refresh_catalog(ARRAY['t_shop']) WHERE kind = '{kind}'"
        );
        Spi::connect(|c| {
            let row = c.select(&sql, None, &[]).unwrap().first();
            Ok::<_, pgrx::spi::Error>((
                row.get::<i32>(1).unwrap().unwrap(),
                row.get::<i32>(2).unwrap().unwrap(),
                row.get::<i32>(3).unwrap().unwrap(),
                row.get::<i32>(4).unwrap().unwrap(),
            ))
        })
        .unwrap()
    }

    #[pg_test]
    fn catalog_refresh_is_incremental() {
        setup_shop();
        assert_eq!(counts("column"), (5, 0, 0, 0));
        assert_eq!(counts("column"), (0, 0, 0, 5));
        Spi::run("COMMENT ON COLUMN t_shop.invoice.total IS 'amount due'").unwrap();
        assert_eq!(counts("column"), (0, 1, 0, 4));
        Spi::run("ALTER TABLE t_shop.invoice_line DROP COLUMN qty").unwrap();
        assert_eq!(counts("column"), (0, 0, 1, 4));
    }

    #[pg_test]
    fn ddl_bumps_the_catalog_version_without_locking() {
        // other tests run DDL at the same time and move last_value: what this session itself
        // drew is currval, which exists only once this session has called nextval
        let last = Spi::get_one::<i64>("SELECT last_value FROM ai.catalog_version")
            .unwrap()
            .unwrap();
        let mine = || {
            Spi::get_one::<i64>("SELECT currval('ai.catalog_version')")
                .unwrap()
                .unwrap()
        };
        Spi::run("CREATE TABLE public.t_bump (x int)").unwrap();
        let after_create = mine();
        assert!(after_create > last);
        Spi::run("DROP TABLE public.t_bump").unwrap();
        let after_drop = mine();
        assert!(after_drop > after_create);
        // temporary objects do not count
        Spi::run("CREATE TEMP TABLE t_tmp (x int)").unwrap();
        assert_eq!(mine(), after_drop);
    }

    #[pg_test]
    fn search_finds_a_table_by_its_plural() {
        setup_shop();
        Spi::run("SELECT * FROM ai.refresh_catalog(ARRAY['t_shop'])").unwrap();
        let top = Spi::get_one::<String>(
            "SELECT table_name FROM ai.search_catalog('total of all invoices', 1)",
        )
        .unwrap();
        assert_eq!(top.as_deref(), Some("invoice"));
    }

    #[pg_test]
    #[should_panic(expected = "ai.search_catalog: k must be between 1 and 1000, got 5000")]
    fn search_rejects_a_silly_k() {
        Spi::run("SELECT * FROM ai.search_catalog('x', 5000)").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.describe: you must own t_shop.invoice to describe it")]
    fn describe_requires_ownership() {
        setup_shop();
        Spi::run("CREATE ROLE t_not_owner; GRANT USAGE ON SCHEMA ai, t_shop TO t_not_owner; SET ROLE t_not_owner").unwrap();
        Spi::run("SELECT ai.describe('t_shop.invoice', 'mine now')").unwrap();
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.add_sample: the query does not plan: relation \"no_such_table\" does not exist"
    )]
    fn add_sample_rejects_sql_that_does_not_plan() {
        Spi::run("SELECT ai.add_sample('q', 'SELECT * FROM no_such_table')").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.add_sample: expected exactly one SQL statement, found 2")]
    fn add_sample_rejects_two_statements() {
        Spi::run("SELECT ai.add_sample('q', 'SELECT 1; SELECT 2')").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.add_guardian_rule: invalid regular expression \"(a\"")]
    fn guardian_rules_reject_bad_regex() {
        Spi::run("SELECT ai.add_guardian_rule('r', '(a', 'unbalanced')").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.feedback: rating must be between 1 and 5, got 0")]
    fn feedback_checks_the_rating() {
        Spi::run("SELECT ai.feedback(1, 0, true)").unwrap();
    }

    #[pg_test]
    fn searches_of_null_find_nothing() {
        for sql in [
            "SELECT NOT EXISTS (SELECT 1 FROM ai.search_catalog(NULL))",
            "SELECT NOT EXISTS (SELECT 1 FROM ai.similar_samples(NULL))",
            "SELECT NOT EXISTS (SELECT 1 FROM ai.similar_optimizations(NULL))",
        ] {
            assert_eq!(Spi::get_one::<bool>(sql).unwrap(), Some(true), "{sql}");
        }
    }

    #[pg_test]
    #[should_panic(expected = "ai.add_sample: question must not be NULL")]
    fn a_null_question_is_an_error() {
        Spi::run("SELECT ai.add_sample(NULL, 'SELECT 1')").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.feedback: rating must not be NULL")]
    fn a_null_rating_is_an_error() {
        Spi::run("SELECT ai.feedback(1, NULL, true)").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.remember_optimization: recommendation must not be NULL")]
    fn a_null_recommendation_is_an_error() {
        Spi::run("SELECT ai.remember_optimization('SELECT 1', NULL)").unwrap();
    }

    #[pg_test]
    #[should_panic(expected = "ai.search_patterns: layer 8 is out of range")]
    fn search_patterns_checks_layers() {
        Spi::run("SELECT * FROM ai.search_patterns('x', layers => ARRAY[8])").unwrap();
    }

    fn use_model(file: &str) {
        let path = format!("{}/pg_test/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        Spi::run(&format!(
            "SET ai_architect.model_path = {}",
            pgrx::spi::quote_literal(&path)
        ))
        .unwrap();
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.embed: the model returned an unexpected output: shape [1, 3, 8], expected [1, 3, 384]"
    )]
    fn a_model_with_wrong_dimensions_is_refused() {
        use_model("wrong_dims.onnx");
        Spi::run("SELECT ai.embed('hello')").unwrap();
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.embed: the model returned an unexpected output: embedding 1 contains NaN or infinity"
    )]
    fn a_model_giving_nan_is_refused() {
        use_model("nan_output.onnx");
        Spi::run("SELECT ai.embed('hello')").unwrap();
    }

    #[pg_test]
    fn null_required_arguments_are_named() {
        for (sql, want) in [
            (
                "SELECT ai.add_fix_pattern(NULL::text, 'performance', 'low', 'p', 's')",
                "ai.add_fix_pattern: title must not be NULL",
            ),
            (
                "SELECT ai.add_guardian_rule('r', NULL, 'd')",
                "ai.add_guardian_rule: regex must not be NULL",
            ),
            (
                "SELECT * FROM ai.check_guardian_rules('x', NULL)",
                "ai.check_guardian_rules: layer must not be NULL",
            ),
            (
                "SELECT ai.relate_patterns(NULL, NULL, 'enhances', 0.5)",
                "ai.relate_patterns: source must not be NULL",
            ),
            (
                "SELECT ai.describe(NULL, 'x')",
                "ai.describe: obj must not be NULL",
            ),
        ] {
            let err = crate::spi_util::in_subtransaction(|| Spi::run(sql)).expect_err(sql);
            assert_eq!(err.message, want, "{sql}");
        }
    }

    #[pg_test]
    fn null_content_violates_no_rule() {
        Spi::run("SELECT ai.add_guardian_rule('any', '.', 'everything matches')").unwrap();
        let n =
            Spi::get_one::<i64>("SELECT count(*) FROM ai.check_guardian_rules(NULL, 3)").unwrap();
        assert_eq!(n, Some(0));
        let n =
            Spi::get_one::<i64>("SELECT count(*) FROM ai.check_guardian_rules('x', 3)").unwrap();
        assert_eq!(n, Some(1));
    }
}
