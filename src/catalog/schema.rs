//! The one introspection of the user schema ([`SCHEMA_SQL`]): what the catalog embeds, the lint
//! judges and the diagram draws, read by one query so the three agree on what a table is.
use crate::spi_util::Spi;
use pgrx::JsonB;

const SCHEMA_SQL: &str = include_str!("schema.sql");

/// Which relations to read.
pub struct Scope<'a> {
    /// schemas to include (None: every user schema)
    pub schemas: Option<Vec<String>>,
    /// relation kinds (pg_class.relkind)
    pub kinds: &'a [&'a str],
    /// only relations the current role may read (some column of)
    pub visible_only: bool,
    /// the human descriptions of ai.describe (readable by the extension owner only)
    pub descriptions: bool,
    /// only these relations (None: every relation of the schemas)
    pub tables: Option<Vec<pgrx::pg_sys::Oid>>,
}

const TABLE_HUMAN: &str = "(SELECT d.description FROM ai.catalog_descriptions d
    WHERE d.schema_name = r.nspname AND d.table_name = r.relname AND d.column_name = '')";
const COLUMN_HUMAN: &str = "(SELECT d.description FROM ai.catalog_descriptions d
    WHERE d.schema_name = r.nspname AND d.table_name = r.relname AND d.column_name = a.attname)";

/// The relations in `scope` as one jsonb array (see schema.sql for the fields).
pub fn schema_facts(scope: &Scope) -> Result<serde_json::Value, pgrx::spi::Error> {
    let kinds: Vec<String> = scope.kinds.iter().map(|k| k.to_string()).collect();
    let (table, column) = if scope.descriptions {
        (TABLE_HUMAN, COLUMN_HUMAN)
    } else {
        ("NULL::text", "NULL::text")
    };
    let sql = SCHEMA_SQL
        .replace("{table_human}", table)
        .replace("{column_human}", column);
    Ok(Spi::get_one_with_args::<JsonB>(
        &sql,
        &[
            scope.schemas.clone().into(),
            kinds.into(),
            scope.visible_only.into(),
            scope.tables.clone().into(),
        ],
    )?
    .map(|j| j.0)
    .unwrap_or_else(|| serde_json::json!([])))
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_placeholder_is_filled_in_exactly_one_place() {
        for p in ["{table_human}", "{column_human}"] {
            assert_eq!(super::SCHEMA_SQL.matches(p).count(), 1, "{p}");
        }
    }
}
