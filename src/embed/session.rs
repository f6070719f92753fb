//! This backend's embedding engine: loaded on first use and reused, reloaded when a path or
//! the thread count changes; the texts of every capability are embedded through it. Only this
//! (main) thread ever calls PostgreSQL.
use super::engine::{self, EmbedError, Engine, EngineConfig};
use crate::error::OrRaise;
use crate::guc;
use std::cell::RefCell;

/// Texts tokenized between two checks for cancellation.
const TOKENIZE_CHUNK: usize = 256;

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// The engine's files as the settings name them now.
fn current_config() -> Result<EngineConfig, super::assets::AssetError> {
    let (libdir, sharedir) = crate::status::server::server_dirs();
    let expand =
        |g: &'static str, raw: String| super::assets::expand_path(g, &raw, &libdir, &sharedir);
    Ok(EngineConfig {
        onnxruntime: expand(engine::GUC_RUNTIME, guc::onnxruntime_path())?,
        model: expand(engine::GUC_MODEL, guc::model_path())?,
        tokenizer: expand(engine::GUC_TOKENIZER, guc::tokenizer_path())?,
        threads: guc::embedding_threads(),
    })
}

/// Runs `f` with this backend's engine, loading it first when needed.
pub fn with_engine<R>(f: impl FnOnce(&mut Engine) -> Result<R, EmbedError>) -> R {
    const F: &str = "ai.embed";
    let config = current_config().or_raise(F);
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|e| e.config() != &config) {
            *slot = None;
            *slot = Some(Engine::load(&config).or_raise(F));
        }
        f(slot.as_mut().expect("loaded above")).or_raise(F)
    })
}

/// Embeds every non-NULL text, in batches of `embedding_batch_size` sorted by token count (so
/// that a batch pads as little as it can); checks for cancellation (statement_timeout,
/// pg_cancel_backend) between tokenized chunks and between batches.
pub fn embed_texts(texts: &[Option<&str>]) -> Vec<Option<Vec<f32>>> {
    let present: Vec<(usize, &str)> = texts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .collect();
    let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
    if present.is_empty() {
        return out;
    }
    let started = std::time::Instant::now();
    with_engine(|engine| {
        // tokenized first (a few ms per hundred texts), then batched by token count
        let mut encodings = Vec::with_capacity(present.len());
        for chunk in present.chunks(TOKENIZE_CHUNK) {
            pgrx::check_for_interrupts!();
            let strs: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
            encodings.extend(engine.tokenize(&strs)?);
        }
        let lengths: Vec<usize> = encodings.iter().map(|e| e.get_ids().len()).collect();
        let batches = engine::length_sorted_batches(&lengths, guc::embedding_batch_size());
        let many = batches.len() > 1;
        for batch in batches {
            pgrx::check_for_interrupts!();
            let refs: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
            for (&i, v) in batch.iter().zip(engine.embed_encodings(&refs)?) {
                out[present[i].0] = Some(v);
            }
        }
        if many {
            engine::release_free_memory();
        }
        Ok(())
    });
    crate::metrics::counters::record_embedding(present.len(), started.elapsed().as_micros() as u64);
    out
}
