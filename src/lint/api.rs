//! SQL surface of the schema lint: ai.lint_schema. It reads the catalog with the caller's
//! rights, so it judges only the tables the caller may read, and changes nothing.
use super::facts::findings;
use crate::error::OrRaise;
use pgrx::prelude::*;

/// What a schema review would point out, most severe first: rule, severity, object, message,
/// and the statement that fixes it (NULL when the fix is a decision). Nothing is changed:
/// pass a fix to ai.impact() to see what it would do, ai.request() to have it approved.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)]
fn lint_schema(
    schemas: default!(Option<Vec<String>>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(rule, String),
        name!(severity, String),
        name!(object, String),
        name!(message, String),
        name!(fix_sql, Option<String>),
    ),
> {
    let rows = crate::error::time_limited("ai.lint_schema", || findings(schemas))
        .or_raise("ai.lint_schema");
    TableIterator::new(rows.into_iter().map(|f| {
        (
            f.rule.to_string(),
            f.severity.to_string(),
            f.object,
            f.message,
            f.fix_sql,
        )
    }))
}
