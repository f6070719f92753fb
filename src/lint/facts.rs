//! What the schema lint reads (the one schema introspection, index health) with the caller's
//! rights, and its findings over it, most severe first.
use super::rules::{self, Finding, IndexFinding, Table};
use crate::error::UserError;
use crate::monitor::severity_rank;
use crate::monitor::INDEX_HEALTH_SQL;
use crate::spi_util::Spi;
use pgrx::PgSqlErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("the catalog query returned unexpected data: {0}")]
    Decode(String),
    #[error("schema {0:?} does not exist")]
    NoSchema(String),
}

impl UserError for LintError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            LintError::NoSchema(_) => PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
            _ => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            LintError::NoSchema(_) => {
                Some("\\dn lists the schemas; NULL lints every user schema".into())
            }
            _ => None,
        }
    }
}

/// The tables of `schemas` (NULL: every user schema) the caller may read, with their
/// columns, keys and statistics.
pub fn tables(schemas: &Option<Vec<String>>) -> Result<Vec<Table>, LintError> {
    for s in schemas.iter().flatten() {
        let found = Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[s.as_str().into()],
        )?;
        if found != Some(true) {
            return Err(LintError::NoSchema(s.clone()));
        }
    }
    let doc = crate::catalog::schema::schema_facts(&crate::catalog::schema::Scope {
        schemas: schemas.clone(),
        kinds: &["r", "p"],
        visible_only: true,
        descriptions: false,
        tables: None,
    })?;
    serde_json::from_value(doc).map_err(|e| LintError::Decode(e.to_string()))
}

pub fn findings(schemas: Option<Vec<String>>) -> Result<Vec<Finding>, LintError> {
    let tables = tables(&schemas)?;
    let mut indexes = Vec::new();
    Spi::connect(|c| {
        for r in c.select(INDEX_HEALTH_SQL, None, &[])? {
            let schema = r.get::<String>(2)?.unwrap_or_default();
            if schemas.as_ref().is_some_and(|s| !s.contains(&schema)) {
                continue;
            }
            indexes.push(IndexFinding {
                kind: r.get::<String>(1)?.unwrap_or_default(),
                schema,
                index: r.get::<String>(4)?.unwrap_or_default(),
                detail: r.get::<String>(7)?.unwrap_or_default(),
                // a fix passes ai.request as it is: the workflow runs it concurrently
                drop_sql: r.get::<String>(8)?.unwrap_or_default(),
            });
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    let mut out = rules::lint(&tables, &indexes);
    out.sort_by(|a, b| {
        severity_rank(a.severity)
            .cmp(&severity_rank(b.severity))
            .then(a.object.cmp(&b.object))
            .then(a.rule.cmp(b.rule))
    });
    Ok(out)
}
