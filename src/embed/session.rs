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
    embed_texts_during(texts, || ()).0
}

/// [`embed_texts`], while this thread does `work` (SPI included): when there is more than one
/// batch the model runs on a thread of its own (it never calls PostgreSQL; every signal is
/// blocked there, so PostgreSQL's handlers run here), this thread runs `work`, then waits for
/// the vectors checking for cancellation. An error raised by `work` or a cancellation stops the
/// model after its current batch before it unwinds.
///
/// `work` must not embed (the engine is busy).
pub fn embed_texts_during<R>(
    texts: &[Option<&str>],
    work: impl FnOnce() -> R,
) -> (Vec<Option<Vec<f32>>>, R) {
    let present: Vec<(usize, &str)> = texts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .collect();
    let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
    if present.is_empty() {
        return (out, work());
    }
    let started = std::time::Instant::now();
    let r = with_engine(|engine| {
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
        let (vectors, r) = if many {
            let (vectors, r) = beside(engine, &encodings, &batches, work);
            (vectors?, r)
        } else {
            let r = work();
            let mut vectors = Vec::new();
            for batch in &batches {
                let refs: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
                vectors.push(engine.embed_encodings(&refs)?);
            }
            (vectors, r)
        };
        for (batch, got) in batches.iter().zip(vectors) {
            for (&i, v) in batch.iter().zip(got) {
                out[present[i].0] = Some(v);
            }
        }
        if many {
            crate::heap::release_free_memory();
        }
        Ok(r)
    });
    crate::metrics::counters::record_embedding(present.len(), started.elapsed().as_micros() as u64);
    (out, r)
}

/// Runs the batches on a thread of their own while this one runs `work`; the vectors per batch.
fn beside<R>(
    engine: &mut Engine,
    encodings: &[tokenizers::Encoding],
    batches: &[Vec<usize>],
    work: impl FnOnce() -> R,
) -> (Result<Vec<Vec<Vec<f32>>>, EmbedError>, R) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    /// Tells the model's thread to stop when this thread unwinds (an ERROR, a cancellation).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let stop_ref = &stop;
        scope.spawn(move || {
            block_signals();
            let mut vectors = Vec::with_capacity(batches.len());
            let mut outcome = Ok(());
            for batch in batches {
                if stop_ref.load(Ordering::Relaxed) {
                    break;
                }
                let refs: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
                match engine.embed_encodings(&refs) {
                    Ok(v) => vectors.push(v),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            let _ = tx.send(outcome.map(|()| vectors));
        });
        let guard = StopOnDrop(&stop);
        let r = work();
        let vectors = loop {
            pgrx::check_for_interrupts!();
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(v) => break v,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(EmbedError::Inference("the embedding thread stopped".into()))
                }
            }
        };
        // (the stop it sets now reaches a thread that has finished)
        drop(guard);
        (vectors, r)
    })
}

/// Blocks every signal on the calling thread: PostgreSQL's handlers must run on the backend's
/// own thread.
fn block_signals() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
