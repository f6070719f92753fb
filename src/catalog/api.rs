//! SQL surface of the schema catalog: ai.refresh_catalog, ai.describe, ai.describe_column,
//! ai.search_catalog.
use super::refresh::{refresh, search, store_description, CatalogError};
use crate::error::OrRaise;
use pgrx::prelude::*;
use pgrx::PgRelation;

/// Introspects user schemas (all, or those named), describes every table, view, column and
/// foreign key, embeds what changed since the last refresh and removes what is gone.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn refresh_catalog(
    schemas: default!(Option<Vec<String>>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(kind, String),
        name!(added, i32),
        name!(updated, i32),
        name!(removed, i32),
        name!(unchanged, i32),
    ),
> {
    crate::error::primary_only("ai.refresh_catalog");
    let counts = refresh(schemas).or_raise("ai.refresh_catalog");
    TableIterator::new(
        counts
            .into_iter()
            .map(|(k, c)| (k.to_string(), c.added, c.updated, c.removed, c.unchanged)),
    )
}

/// A human description of a table or view that augments its COMMENT; re-embedded at once.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn describe(obj: Option<PgRelation>, description: Option<&str>) {
    crate::error::primary_only("ai.describe");
    obj.ok_or(CatalogError::Null("obj"))
        .and_then(|o| store_description(o.oid(), None, description))
        .or_raise("ai.describe")
}

/// A human description of a column; re-embedded at once.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn describe_column(tbl: Option<PgRelation>, col: Option<&str>, description: Option<&str>) {
    crate::error::primary_only("ai.describe_column");
    tbl.ok_or(CatalogError::Null("tbl"))
        .and_then(|t| Ok((t, col.ok_or(CatalogError::Null("col"))?)))
        .and_then(|(t, c)| store_description(t.oid(), Some(c), description))
        .or_raise("ai.describe_column")
}

/// The tables and columns most relevant to a question, best first: vector similarity of
/// their descriptions combined with lexical matching of their names.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn search_catalog(
    question: &str,
    k: default!(i32, 10),
) -> TableIterator<
    'static,
    (
        name!(kind, String),
        name!(schema_name, String),
        name!(table_name, String),
        name!(column_name, Option<String>),
        name!(score, f64),
        name!(similarity, f64),
        name!(lexical, f64),
        name!(description, String),
    ),
> {
    let hits = search(question, k).or_raise("ai.search_catalog");
    TableIterator::new(hits.into_iter().map(|h| {
        (
            h.kind.to_string(),
            h.schema,
            h.table,
            h.column,
            h.score,
            h.similarity,
            h.lexical,
            h.description,
        )
    }))
}
