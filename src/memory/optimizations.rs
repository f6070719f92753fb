//! The optimization memory: advice given before and what it gained, so a periodic audit can
//! say "seen before" instead of repeating itself.
use super::{check_k, required, MemoryError};
use crate::embed::session::embed_texts;
use crate::error::OrRaise;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, VectorSql};
use pgrx::prelude::*;

/// Remembers a recommendation for a query (and the gain it brought, in percent, when known).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn remember_optimization(
    query_text: Option<&str>,
    recommendation: Option<&str>,
    performance_gain: default!(Option<f64>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.remember_optimization");
    required("query_text", query_text)
        .and_then(|q| Ok((q, required("recommendation", recommendation)?)))
        .and_then(|(q, r)| remember(q, r, performance_gain))
        .or_raise("ai.remember_optimization")
}

pub fn remember(
    query_text: &str,
    recommendation: &str,
    gain: Option<f64>,
) -> Result<i64, MemoryError> {
    if query_text.trim().is_empty() {
        return Err(MemoryError::Empty("query_text"));
    }
    if recommendation.trim().is_empty() {
        return Err(MemoryError::Empty("recommendation"));
    }
    let v = embed_texts(&[Some(query_text)]).pop().flatten();
    as_extension_owner(|| {
        Ok(Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.optimization_log (kind, query_text, recommendation, gain_pct, status, embedding, created_by,
                                              after_metrics)
             VALUES ('query_rewrite', $1, $2, $3, CASE WHEN $3 IS NULL THEN 'suggested' ELSE 'verified' END, $4,
                     session_user, CASE WHEN $3 IS NULL THEN NULL ELSE jsonb_build_object('gain_pct', $3) END)
             RETURNING id",
            &[query_text.into(), recommendation.into(), gain.into(), v.into()],
        )?
        .unwrap_or_default())
    })
}

/// Past recommendations for queries like this one, closest first.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn similar_optimizations(
    query: &str,
    k: default!(i32, 5),
) -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(query_text, String),
        name!(recommendation, String),
        name!(performance_gain, Option<f64>),
        name!(similarity, f64),
        name!(created_at, pgrx::datum::TimestampWithTimeZone),
    ),
> {
    let rows = similar(query, k).or_raise("ai.similar_optimizations");
    TableIterator::new(rows)
}

type Row = (
    i64,
    String,
    String,
    Option<f64>,
    f64,
    pgrx::datum::TimestampWithTimeZone,
);

fn similar(query: &str, k: i32) -> Result<Vec<Row>, MemoryError> {
    let k = check_k(k)?;
    let v = embed_texts(&[Some(query)])
        .pop()
        .flatten()
        .unwrap_or_default();
    let d = VectorSql::new()?.distance_to("embedding", 1);
    let sql = format!(
        "SELECT id, query_text, recommendation, gain_pct, 1 - {d}, created_at
           FROM ai.optimization_log WHERE embedding IS NOT NULL AND query_text IS NOT NULL
          ORDER BY {d}, id LIMIT $2"
    );
    Spi::connect(|c| {
        let mut out = Vec::new();
        for r in c.select(&sql, None, &[v.into(), (k as i64).into()])? {
            out.push((
                r.get::<i64>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<f64>(4)?,
                r.get::<f64>(5)?.unwrap_or_default(),
                r.get::<pgrx::datum::TimestampWithTimeZone>(6)?
                    .expect("created_at is NOT NULL"),
            ));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(MemoryError::from)
}
