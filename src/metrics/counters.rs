//! Counters kept in shared memory since the server started: embedding calls, texts and time.
//! Only when the library is preloaded (shared_preload_libraries): a backend that loaded it
//! on its own has no shared memory to add to, and ai.metrics() says so.
use pgrx::atomics::PgAtomic;
use pgrx::pg_shmem_init;
use pgrx::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

static EMBED_CALLS: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"ai_architect_embed_calls") };
static EMBED_TEXTS: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"ai_architect_embed_texts") };
static EMBED_MICROS: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"ai_architect_embed_micros") };

/// From `_PG_init`, while shared_preload_libraries is processed.
#[allow(unexpected_cfgs)] // the macro also names PostgreSQL versions this build does not have
pub fn init() {
    if crate::status::server::preloaded() {
        pg_shmem_init!(EMBED_CALLS);
        pg_shmem_init!(EMBED_TEXTS);
        pg_shmem_init!(EMBED_MICROS);
    }
}

/// One call of the embedding model over `texts` texts that took `micros`.
pub fn record_embedding(texts: usize, micros: u64) {
    if crate::status::server::preloaded() {
        EMBED_CALLS.get().fetch_add(1, Ordering::Relaxed);
        EMBED_TEXTS.get().fetch_add(texts as u64, Ordering::Relaxed);
        EMBED_MICROS.get().fetch_add(micros, Ordering::Relaxed);
    }
}

/// (calls, texts, seconds) since the server started; None when not preloaded.
pub fn embedding() -> Option<(u64, u64, f64)> {
    crate::status::server::preloaded().then(|| {
        (
            EMBED_CALLS.get().load(Ordering::Relaxed),
            EMBED_TEXTS.get().load(Ordering::Relaxed),
            EMBED_MICROS.get().load(Ordering::Relaxed) as f64 / 1e6,
        )
    })
}
