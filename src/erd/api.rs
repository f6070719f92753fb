//! SQL surface of the diagrams: ai.erd. Reads the catalog with the caller's rights, so it
//! draws only the tables the caller may read.
use super::{render, Format};
use crate::error::{OrRaise, UserError};
use crate::lint::facts::{tables, LintError};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

#[derive(Debug, thiserror::Error)]
enum ErdError {
    #[error("{0}")]
    Schema(#[from] LintError),
    #[error("unknown format {0:?}")]
    Format(String),
    #[error("there is no table to draw")]
    Empty,
}

impl UserError for ErdError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            ErdError::Schema(e) => e.sqlstate(),
            ErdError::Format(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ErdError::Empty => PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ErdError::Schema(e) => e.hint(),
            ErdError::Format(_) => Some("format => 'mermaid' (the default) or 'dot'".into()),
            ErdError::Empty => Some("the schemas hold no table you may read".into()),
        }
    }
}

/// An entity-relationship diagram of the tables the caller may read: Mermaid `erDiagram`
/// (paste it into any Markdown that renders Mermaid) or Graphviz DOT (`dot -Tsvg`).
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn erd(
    schemas: default!(Option<Vec<String>>, "NULL"),
    format: default!(&str, "'mermaid'"),
) -> String {
    crate::error::time_limited("ai.erd", || {
        let f = Format::parse(format).ok_or_else(|| ErdError::Format(format.to_string()))?;
        let t = tables(&schemas)?;
        if t.is_empty() {
            return Err(ErdError::Empty);
        }
        Ok(render(&t, f))
    })
    .or_raise("ai.erd")
}
