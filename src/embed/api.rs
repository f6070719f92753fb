//! SQL surface of the embedding engine: `ai.embed(text)` and `ai.embed(text[])`, through this
//! backend's engine ([`super::session`]).
use super::session::embed_texts;
use super::vector::Vector;
use pgrx::prelude::*;

/// The embedding of one text (all-MiniLM-L6-v2, 384 dimensions, L2-normalised).
#[pg_extern(stable, strict, parallel_safe, name = "embed")]
#[search_path(pg_catalog, pg_temp)]
fn embed(input: &str) -> Vector {
    Vector(
        embed_texts(&[Some(input)])
            .pop()
            .flatten()
            .expect("one text in, one vector out"),
    )
}

/// The embeddings of many texts, in order; a NULL element gives a NULL vector.
#[pg_extern(stable, strict, parallel_safe, name = "embed")]
#[search_path(pg_catalog, pg_temp)]
fn embed_batch(inputs: Array<&str>) -> Vec<Option<Vector>> {
    let texts: Vec<Option<&str>> = inputs.iter().collect();
    embed_texts(&texts)
        .into_iter()
        .map(|v| v.map(Vector))
        .collect()
}
