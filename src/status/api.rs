//! SQL surface of the status capability.
use super::server::{preloaded, server_dirs};
use super::{file_status, runtime_status, Dirs};
use crate::error::OrRaise;
use crate::guc;
use crate::spi_util::Spi;
use pgrx::prelude::*;
use serde_json::json;

/// What is installed and whether it works: versions, the embedding assets with their
/// checksums, whether ONNX Runtime loads, the background worker, the LLM settings.
#[pg_extern(volatile, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn version() -> pgrx::JsonB {
    const F: &str = "ai.version";
    let (libdir, sharedir) = server_dirs();
    let dirs = Dirs {
        libdir: &libdir,
        sharedir: &sharedir,
    };
    let installed: Option<String> = Spi::get_one(
        "SELECT extversion::text FROM pg_catalog.pg_extension WHERE extname = 'ai_architect'",
    )
    .or_raise(F);
    let server: Option<String> =
        Spi::get_one("SELECT pg_catalog.current_setting('server_version')").or_raise(F);
    let worker_pids: Option<i64> = Spi::get_one(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'ai_architect worker'",
    )
    .or_raise(F);
    let waiting = preloaded()
        .then(crate::worker::state::waiting_for)
        .flatten();
    let worker_running = worker_pids.unwrap_or(0) > 0 && waiting.is_none();
    // what fails in the worker's work, as it reports it in its pg_stat_activity row (visible
    // to superusers and members of pg_read_all_stats)
    let failing: Option<String> = Spi::get_one(
        "SELECT string_agg(query, '; ') FROM pg_catalog.pg_stat_activity
          WHERE backend_type = 'ai_architect worker' AND query LIKE '% failing: %'",
    )
    .or_raise(F);
    let preloaded = preloaded();
    let worker_detail = match (preloaded, worker_running) {
        (true, false) if waiting.is_some() => waiting.unwrap_or_default(),
        (_, true) => format!(
            "running in database {:?}: an audit every {} s, a statistics snapshot every {} s",
            guc::audit_database(),
            guc::audit_interval_s(),
            guc::snapshot_interval_s()
        ),
        (true, false) => "ai_architect is preloaded but the background worker is not running (starting, restarting after a crash, or the server is a standby)".to_string(),
        (false, false) => {
            "ai_architect is not in shared_preload_libraries, so no background worker: add it and restart to get scheduled audits".to_string()
        }
    };
    let model = file_status("ai_architect.model_path", &guc::model_path(), &dirs);
    let tokenizer = file_status("ai_architect.tokenizer_path", &guc::tokenizer_path(), &dirs);
    let runtime = runtime_status(
        "ai_architect.onnxruntime_path",
        &guc::onnxruntime_path(),
        &dirs,
    );
    let embeddings_ready = model.error.is_none() && tokenizer.error.is_none() && runtime.loads;
    pgrx::JsonB(json!({
        "extension_version": env!("CARGO_PKG_VERSION"),
        "installed_version": installed,
        "pgrx_version": env!("AI_ARCHITECT_PGRX_VERSION"),
        "postgres_version": server,
        "onnxruntime": runtime,
        "model": model,
        "tokenizer": tokenizer,
        "embeddings_ready": embeddings_ready,
        "preloaded": preloaded,
        "worker": { "running": worker_running, "detail": worker_detail, "failing": failing },
        "llm": {
            "configured": guc::llm_base_url().is_some(),
            "base_url": guc::llm_base_url().map(|u| super::redact_url(&u)),
            "model": guc::llm_model(),
            "api_key_set": guc::llm_api_key().is_some(),
            "timeout_ms": guc::llm_timeout_ms(),
        },
        "settings": {
            "embedding_threads": guc::embedding_threads(),
            "embedding_batch_size": guc::embedding_batch_size(),
            "statement_timeout_ms": guc::statement_timeout_ms(),
            "audit_database": guc::audit_database(),
            "audit_interval_s": guc::audit_interval_s(),
        },
    }))
}
