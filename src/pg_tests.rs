//! Tests that run inside a real PostgreSQL server (`cargo pgrx test`).
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn version_json() -> serde_json::Value {
        Spi::get_one::<pgrx::JsonB>("SELECT ai.version()").unwrap().unwrap().0
    }

    #[pg_test]
    fn version_reports_installed_assets() {
        let v = version_json();
        assert_eq!(v["extension_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["pgrx_version"], "0.18.0");
        assert!(v["postgres_version"].as_str().unwrap().starts_with("15"), "{v}");
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
        assert!(v["worker"]["detail"].as_str().unwrap().contains("preloaded"));
    }

    #[pg_test]
    fn version_diagnoses_a_wrong_runtime_path() {
        Spi::run("SET ai_architect.onnxruntime_path = '/nonexistent/libonnxruntime.so'").unwrap();
        let v = version_json();
        assert_eq!(v["onnxruntime"]["loads"], false);
        let err = v["onnxruntime"]["error"].as_str().unwrap();
        assert!(err.contains("ai_architect.onnxruntime_path") && err.contains("/nonexistent/libonnxruntime.so"), "{err}");
        assert_eq!(v["embeddings_ready"], false);
    }

    #[pg_test]
    fn version_diagnoses_a_corrupt_runtime_library() {
        // a real file that is not a shared library
        Spi::run("SET ai_architect.onnxruntime_path = '$sharedir/extension/ai_architect.control'").unwrap();
        let v = version_json();
        assert_eq!(v["onnxruntime"]["loads"], false);
        assert!(v["onnxruntime"]["error"].as_str().unwrap().contains("not a loadable ONNX Runtime library"), "{v}");
    }

    #[pg_test]
    fn version_diagnoses_a_missing_model() {
        Spi::run("SET ai_architect.model_path = '$sharedir/extension/ai_architect/missing.onnx'").unwrap();
        let v = version_json();
        assert_eq!(v["model"]["exists"], false);
        let err = v["model"]["error"].as_str().unwrap();
        assert!(err.contains("ai_architect.model_path") && err.contains("missing.onnx"), "{err}");
        assert!(v["model"]["hint"].as_str().unwrap().contains("reinstall"));
    }

    #[pg_test]
    fn api_key_is_never_shown() {
        Spi::run("SET ai_architect.llm_api_key = 'sk-secret-value'").unwrap();
        let shown = Spi::get_one::<String>("SHOW ai_architect.llm_api_key").unwrap().unwrap();
        assert_eq!(shown, "********");
        let v = version_json();
        assert_eq!(v["llm"]["api_key_set"], true);
        assert!(!v.to_string().contains("sk-secret-value"));
    }

    #[pg_test]
    fn every_setting_is_registered_with_its_default() {
        for (name, default) in [
            ("ai_architect.model_path", "$sharedir/extension/ai_architect/model.onnx"),
            ("ai_architect.tokenizer_path", "$sharedir/extension/ai_architect/tokenizer.json"),
            ("ai_architect.onnxruntime_path", "$libdir/libonnxruntime.so.1.31.1"),
            ("ai_architect.embedding_threads", "1"),
            ("ai_architect.llm_base_url", ""),
            ("ai_architect.llm_model", "gpt-4o-mini"),
            ("ai_architect.llm_timeout_ms", "30s"),
            ("ai_architect.statement_timeout_ms", "5s"),
            ("ai_architect.audit_database", "postgres"),
            ("ai_architect.audit_interval", "1d"),
        ] {
            let v = Spi::get_one::<String>(&format!("SELECT current_setting('{name}')")).unwrap().unwrap();
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
        assert_eq!(n, 10);
    }

    #[pg_test]
    #[should_panic(expected = "permission denied for table sql_samples")]
    fn ordinary_roles_cannot_write_state_tables() {
        Spi::run("CREATE ROLE ai_test_intruder").unwrap();
        Spi::run("SET ROLE ai_test_intruder").unwrap();
        Spi::run("INSERT INTO ai.sql_samples (question, query) VALUES ('q', 'SELECT 1')").unwrap();
    }
}
