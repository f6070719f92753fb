//! The catalog itself: reading the user schema (the one introspection), describing it, embedding
//! what changed and storing it as the extension owner; and searching it for a question.
use super::describe::{self, Table};
use super::plan::{self, Desired};
use super::search;
use crate::error::UserError;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, VectorSql};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

const SEP: char = '\u{1f}';

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("the introspection returned unexpected data: {0}")]
    Decode(String),
    #[error("you must own {0} to describe it")]
    NotOwner(String),
    #[error("column \"{column}\" of {table} does not exist")]
    NoColumn { table: String, column: String },
    #[error("k must be between 1 and 1000, got {0}")]
    BadK(i32),
    #[error("{0} must not be NULL")]
    Null(&'static str),
}

impl UserError for CatalogError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            CatalogError::Spi(_) | CatalogError::Decode(_) => {
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
            }
            CatalogError::NotOwner(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            CatalogError::NoColumn { .. } => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            CatalogError::BadK(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            CatalogError::Null(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            CatalogError::NotOwner(t) => {
                Some(format!("ask the owner of {t}, or COMMENT ON it if you may"))
            }
            CatalogError::NoColumn { table, .. } => Some(format!("\\d {table} lists its columns")),
            _ => None,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, CatalogError>;

/// Counts of one refresh, per kind of object.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Counts {
    pub added: i32,
    pub updated: i32,
    pub removed: i32,
    pub unchanged: i32,
}

/// Identifier of the embedding model, part of every content hash: a new model re-embeds all.
fn model_id() -> String {
    let (libdir, sharedir) = crate::status::server::server_dirs();
    let dirs = crate::status::Dirs {
        libdir: &libdir,
        sharedir: &sharedir,
    };
    let model =
        crate::status::file_status("ai_architect.model_path", &crate::guc::model_path(), &dirs);
    format!("all-MiniLM-L6-v2:{}", model.sha256.unwrap_or_default())
}

struct Kind {
    name: &'static str,
    desired: Vec<Desired>,
    rows: Vec<Value>,
}

fn key(parts: &[&str]) -> String {
    parts.join(&SEP.to_string())
}

/// Builds what the catalog should contain for `tables` (all in the refreshed scope).
fn desired(tables: &[Table], model: &str) -> [Kind; 4] {
    let mut schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    schemas.dedup();
    let mut kinds = [
        Kind {
            name: "schema",
            desired: vec![],
            rows: vec![],
        },
        Kind {
            name: "table",
            desired: vec![],
            rows: vec![],
        },
        Kind {
            name: "column",
            desired: vec![],
            rows: vec![],
        },
        Kind {
            name: "relationship",
            desired: vec![],
            rows: vec![],
        },
    ];
    // what is compared with the stored row: the text's hash, and the oid the row's privileges
    // are checked on (a table dropped and created again under its name has a new one)
    let mut push = |k: usize, key: String, text: String, row: Value| {
        let hash = describe::content_hash(model, &text);
        let mut row = row;
        row["description"] = json!(text);
        row["content_hash"] = json!(hash);
        let state = match row.get("table_oid") {
            Some(oid) => format!("{hash}:{oid}"),
            None => hash,
        };
        kinds[k].desired.push(Desired {
            key,
            text,
            hash: state,
        });
        kinds[k].rows.push(row);
    };
    for s in &schemas {
        push(
            0,
            key(&[s]),
            describe::schema_text(s),
            json!({"schema_name": s}),
        );
    }
    for t in tables {
        push(
            1,
            key(&[&t.schema, &t.name]),
            describe::table_text(t),
            json!({"schema_name": t.schema, "table_name": t.name, "table_oid": t.oid, "relkind": t.relkind,
                   "comment": t.comment, "human_description": t.human, "row_estimate": t.rows}),
        );
        for c in &t.columns {
            push(
                2,
                key(&[&t.schema, &t.name, &c.name]),
                describe::column_text(c),
                json!({"schema_name": t.schema, "table_name": t.name, "table_oid": t.oid, "column_name": c.name,
                       "attnum": c.attnum, "ordinal": c.attnum, "data_type": c.data_type, "is_nullable": !c.not_null,
                       "is_primary_key": c.pk, "comment": c.comment, "human_description": c.human,
                       "sample_values": c.samples}),
            );
        }
        for f in &t.fks {
            push(
                3,
                key(&[&t.schema, &t.name, &f.name]),
                describe::relationship_text(t, f),
                json!({"schema_name": t.schema, "table_name": t.name, "constraint_name": f.name,
                       "from_columns": f.columns, "to_schema": f.ref_schema, "to_table": f.ref_table,
                       "to_columns": f.ref_columns, "on_delete": f.on_delete, "on_update": f.on_update}),
            );
        }
    }
    kinds
}

/// What is stored of kind $2, in schemas $1 and of relations $3 (NULL: all).
const EXISTING: &str = "
SELECT coalesce(jsonb_object_agg(k, h), '{}') FROM (
  SELECT 'schema' AS kind, schema_name::text AS k, content_hash AS h FROM ai.catalog_schemas
   WHERE $1::text[] IS NULL OR schema_name = ANY ($1)
  UNION ALL
  SELECT 'table', schema_name || chr(31) || table_name, content_hash || ':' || table_oid FROM ai.catalog_tables
   WHERE ($1::text[] IS NULL OR schema_name = ANY ($1)) AND ($3::oid[] IS NULL OR table_oid = ANY ($3))
  UNION ALL
  SELECT 'column', t.schema_name || chr(31) || t.table_name || chr(31) || c.column_name,
         c.content_hash || ':' || c.table_oid
    FROM ai.catalog_columns c JOIN ai.catalog_tables t ON t.id = c.table_id
   WHERE ($1::text[] IS NULL OR t.schema_name = ANY ($1)) AND ($3::oid[] IS NULL OR t.table_oid = ANY ($3))
  UNION ALL
  SELECT 'relationship', t.schema_name || chr(31) || t.table_name || chr(31) || r.constraint_name, r.content_hash
    FROM ai.catalog_relationships r JOIN ai.catalog_tables t ON t.id = r.from_table_id
   WHERE ($1::text[] IS NULL OR t.schema_name = ANY ($1)) AND ($3::oid[] IS NULL OR t.table_oid = ANY ($3))
) x WHERE x.kind = $2";

const UPSERT_SCHEMAS: &str = "
INSERT INTO ai.catalog_schemas AS s (schema_name, schema_oid, description, content_hash, embedding, updated_at)
SELECT x.schema_name, n.oid, x.description, x.content_hash, {embedding}, now()
  FROM jsonb_to_recordset($1::jsonb) AS x(schema_name name, description text, content_hash text, vector_at integer)
  JOIN pg_catalog.pg_namespace n ON n.nspname = x.schema_name
ON CONFLICT (schema_name) DO UPDATE SET
  schema_oid = EXCLUDED.schema_oid, description = EXCLUDED.description, content_hash = EXCLUDED.content_hash,
  embedding = coalesce(EXCLUDED.embedding, s.embedding),
  updated_at = CASE WHEN EXCLUDED.embedding IS NULL THEN s.updated_at ELSE now() END";

const UPSERT_TABLES: &str = "
INSERT INTO ai.catalog_tables AS t (schema_id, schema_name, table_name, table_oid, relkind, comment,
       human_description, row_estimate, description, content_hash, embedding, updated_at)
SELECT s.id, x.schema_name, x.table_name, x.table_oid, x.relkind, x.comment, x.human_description,
       x.row_estimate, x.description, x.content_hash, {embedding}, now()
  FROM jsonb_to_recordset($1::jsonb) AS x(schema_name name, table_name name, table_oid oid, relkind \"char\", comment text,
       human_description text, row_estimate bigint, description text, content_hash text, vector_at integer)
  JOIN ai.catalog_schemas s ON s.schema_name = x.schema_name
ON CONFLICT (schema_name, table_name) DO UPDATE SET
  values_sampled_at = CASE WHEN t.content_hash = EXCLUDED.content_hash AND t.table_oid = EXCLUDED.table_oid
                           THEN t.values_sampled_at END,
  schema_id = EXCLUDED.schema_id, table_oid = EXCLUDED.table_oid, relkind = EXCLUDED.relkind,
  comment = EXCLUDED.comment, human_description = EXCLUDED.human_description,
  row_estimate = EXCLUDED.row_estimate, description = EXCLUDED.description, content_hash = EXCLUDED.content_hash,
  embedding = coalesce(EXCLUDED.embedding, t.embedding),
  updated_at = CASE WHEN EXCLUDED.embedding IS NULL THEN t.updated_at ELSE now() END";

const UPSERT_COLUMNS: &str = "
INSERT INTO ai.catalog_columns AS c (table_id, table_oid, column_name, attnum, ordinal, data_type, is_nullable,
       is_primary_key, comment, human_description, sample_values, description, content_hash, embedding, updated_at)
SELECT t.id, x.table_oid, x.column_name, x.attnum, x.ordinal, x.data_type, x.is_nullable, x.is_primary_key,
       x.comment, x.human_description, x.sample_values, x.description, x.content_hash, {embedding}, now()
  FROM jsonb_to_recordset($1::jsonb) AS x(schema_name name, table_name name, table_oid oid, column_name name, attnum smallint,
       ordinal int, data_type text, is_nullable boolean, is_primary_key boolean, comment text, human_description text,
       sample_values text[], description text, content_hash text, vector_at integer)
  JOIN ai.catalog_tables t ON t.schema_name = x.schema_name AND t.table_name = x.table_name
ON CONFLICT (table_id, column_name) DO UPDATE SET
  table_oid = EXCLUDED.table_oid, attnum = EXCLUDED.attnum, ordinal = EXCLUDED.ordinal,
  data_type = EXCLUDED.data_type, is_nullable = EXCLUDED.is_nullable, is_primary_key = EXCLUDED.is_primary_key,
  comment = EXCLUDED.comment, human_description = EXCLUDED.human_description,
  sample_values = EXCLUDED.sample_values, description = EXCLUDED.description,
  content_hash = EXCLUDED.content_hash, embedding = coalesce(EXCLUDED.embedding, c.embedding),
  updated_at = CASE WHEN EXCLUDED.embedding IS NULL THEN c.updated_at ELSE now() END";

const UPSERT_RELATIONSHIPS: &str = "
INSERT INTO ai.catalog_relationships AS r (constraint_name, from_table_id, from_columns, to_table_id, to_columns,
       on_delete, on_update, description, content_hash, embedding, updated_at)
SELECT x.constraint_name, f.id, x.from_columns, t.id, x.to_columns, x.on_delete, x.on_update,
       x.description, x.content_hash, {embedding}, now()
  FROM jsonb_to_recordset($1::jsonb) AS x(schema_name name, table_name name, constraint_name name, from_columns name[],
       to_schema name, to_table name, to_columns name[], on_delete text, on_update text, description text,
       content_hash text, vector_at integer)
  JOIN ai.catalog_tables f ON f.schema_name = x.schema_name AND f.table_name = x.table_name
  JOIN ai.catalog_tables t ON t.schema_name = x.to_schema AND t.table_name = x.to_table
ON CONFLICT (from_table_id, constraint_name) DO UPDATE SET
  from_columns = EXCLUDED.from_columns, to_table_id = EXCLUDED.to_table_id, to_columns = EXCLUDED.to_columns,
  on_delete = EXCLUDED.on_delete, on_update = EXCLUDED.on_update, description = EXCLUDED.description,
  content_hash = EXCLUDED.content_hash, embedding = coalesce(EXCLUDED.embedding, r.embedding),
  updated_at = CASE WHEN EXCLUDED.embedding IS NULL THEN r.updated_at ELSE now() END";

/// Deletes removed objects; $1 are keys as built by `key()`.
const DELETES: [&str; 4] = [
    "DELETE FROM ai.catalog_schemas WHERE schema_name::text = ANY ($1)",
    "DELETE FROM ai.catalog_tables WHERE schema_name || chr(31) || table_name = ANY ($1)",
    "DELETE FROM ai.catalog_columns c USING ai.catalog_tables t
      WHERE t.id = c.table_id AND t.schema_name || chr(31) || t.table_name || chr(31) || c.column_name = ANY ($1)",
    "DELETE FROM ai.catalog_relationships r USING ai.catalog_tables t
      WHERE t.id = r.from_table_id AND t.schema_name || chr(31) || t.table_name || chr(31) || r.constraint_name = ANY ($1)",
];

const UPSERTS: [&str; 4] = [
    UPSERT_SCHEMAS,
    UPSERT_TABLES,
    UPSERT_COLUMNS,
    UPSERT_RELATIONSHIPS,
];

/// The catalog version DDL has reached (event triggers bump the sequence).
const CURRENT_VERSION: &str = "SELECT last_value FROM ai.catalog_version";

/// True when DDL happened since the last refresh (a change it recorded is visible: its
/// transaction committed), or the catalog was never built.
pub fn catalog_is_stale() -> std::result::Result<bool, pgrx::spi::Error> {
    Ok(Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM ai.catalog_changes) OR refreshed_at IS NULL FROM ai.catalog_state",
    )?
    .unwrap_or(true))
}

/// The relations DDL touched (`ai.catalog_changes`) and the ones linked to them by a foreign
/// key, now or in the catalog (a foreign key's row in the catalog is its referencing table's,
/// and names the table it references): what a refresh after DDL reads.
const AFFECTED: &str = "
WITH touched AS (
  SELECT x.oid FROM pg_catalog.unnest($1::pg_catalog.oid[]) x(oid)
  UNION SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = ANY ($1::pg_catalog.oid[])
)
SELECT coalesce(pg_catalog.array_agg(DISTINCT a.oid), '{}') FROM (
  SELECT oid FROM touched
  UNION SELECT k.confrelid FROM pg_catalog.pg_constraint k WHERE k.contype = 'f' AND k.conrelid IN (SELECT oid FROM touched)
  UNION SELECT k.conrelid FROM pg_catalog.pg_constraint k WHERE k.contype = 'f' AND k.confrelid IN (SELECT oid FROM touched)
  UNION SELECT t.table_oid FROM ai.catalog_relationships r
          JOIN ai.catalog_tables f ON f.id = r.from_table_id JOIN ai.catalog_tables t ON t.id = r.to_table_id
         WHERE f.table_oid IN (SELECT oid FROM touched)
  UNION SELECT f.table_oid FROM ai.catalog_relationships r
          JOIN ai.catalog_tables f ON f.id = r.from_table_id JOIN ai.catalog_tables t ON t.id = r.to_table_id
         WHERE t.table_oid IN (SELECT oid FROM touched)
) a";

/// What a refresh reads.
pub enum Reach {
    /// every relation of these schemas (None: of every user schema)
    Schemas(Option<Vec<String>>),
    /// these relations (pg_class oids) and those linked to them
    Relations(Vec<pg_sys::Oid>),
}

/// The refresh itself, with the extension owner's rights (it reads every user schema and
/// writes the catalog). Returns counts per kind.
pub fn refresh(schemas: Option<Vec<String>>) -> Result<Vec<(&'static str, Counts)>> {
    refresh_reach(Reach::Schemas(schemas))
}

fn refresh_reach(reach: Reach) -> Result<Vec<(&'static str, Counts)>> {
    as_extension_owner(|| {
        one_writer()?;
        let version: i64 = Spi::get_one(CURRENT_VERSION)
            .map_err(CatalogError::Spi)?
            .unwrap_or(0);
        // a refresh of everything covers every change recorded so far
        let covers: Option<i64> = match &reach {
            Reach::Schemas(None) => Spi::get_one("SELECT max(id) FROM ai.catalog_changes")?,
            _ => None,
        };
        let (schemas, only) = match &reach {
            Reach::Schemas(s) => (s.clone(), None),
            Reach::Relations(touched) => {
                let affected: Vec<pg_sys::Oid> =
                    Spi::get_one_with_args(AFFECTED, &[touched.clone().into()])?.unwrap_or_default();
                (None, Some(affected))
            }
        };
        let doc = super::schema::schema_facts(&super::schema::Scope {
            schemas: schemas.clone(),
            kinds: &["r", "p", "v", "m", "f"],
            visible_only: false,
            descriptions: true,
            tables: only.clone(),
        })?;
        let tables: Vec<Table> =
            serde_json::from_value(doc).map_err(|e| CatalogError::Decode(e.to_string()))?;
        let model = model_id();
        let kinds = desired(&tables, &model);

        // plan every kind, then embed everything that changed in one batched call; after DDL
        // the stored rows compared are those of the relations read (and their schemas)
        let mut plans = Vec::new();
        let mut existing_states = Vec::new();
        let read_schemas: Vec<String> = {
            let mut v: Vec<String> = tables.iter().map(|t| t.schema.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        for k in kinds.iter() {
            let (sch, rel): (Option<Vec<String>>, Option<Vec<pg_sys::Oid>>) = match &only {
                None => (schemas.clone(), None),
                Some(_) if k.name == "schema" => (Some(read_schemas.clone()), None),
                Some(o) => (None, Some(o.clone())),
            };
            let existing: JsonB =
                Spi::get_one_with_args(EXISTING, &[sch.into(), k.name.into(), rel.into()])?
                    .unwrap_or(JsonB(json!({})));
            let existing: HashMap<String, String> = serde_json::from_value(existing.0)
                .map_err(|e| CatalogError::Decode(e.to_string()))?;
            plans.push(plan::plan(&existing, &k.desired));
            existing_states.push(existing);
        }
        // tables and columns whose text changed are embedded (each distinct text once);
        // schemas and relationships are described, not embedded (nothing searches them)
        let mut todo: Vec<(usize, usize)> = Vec::new();
        for k in [1, 2] {
            let existing = &existing_states[k];
            for &i in plans[k].add.iter().chain(&plans[k].update) {
                let stored = existing
                    .get(&kinds[k].desired[i].key)
                    .and_then(|s| s.split(':').next());
                if stored != kinds[k].rows[i]["content_hash"].as_str() {
                    todo.push((k, i));
                }
            }
        }
        let mut distinct: Vec<&str> = todo
            .iter()
            .map(|&(k, i)| kinds[k].desired[i].text.as_str())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        // the values questions name: of the tables that are new or changed (their catalog row
        // is written below), of those analysed since they were read, and of every relation a
        // DDL statement touched (its owner, its row-level security); read while the model
        // embeds (on a thread of its own), after the values of removed tables went
        let mut values_due: Vec<pg_sys::Oid> = super::values::due()?;
        for &i in plans[1].add.iter().chain(&plans[1].update) {
            if let Some(oid) = kinds[1].rows[i]["table_oid"].as_u64() {
                values_due.push(pg_sys::Oid::from(oid as u32));
            }
        }
        if let Reach::Relations(touched) = &reach {
            values_due.extend(touched.iter().copied());
        }
        values_due.sort_unstable_by_key(|o| u32::from(*o));
        values_due.dedup();
        if !plans[1].remove.is_empty() {
            Spi::run_with_args(
                "DELETE FROM ai.catalog_values v USING ai.catalog_tables t
                  WHERE v.table_oid = t.table_oid AND t.schema_name || chr(31) || t.table_name = ANY ($1)",
                &[plans[1].remove.clone().into()],
            )?;
        }
        let (vectors, values_read) = crate::embed::session::embed_texts_during(
            &distinct.iter().map(|t| Some(*t)).collect::<Vec<_>>(),
            || super::values::store(&values_due),
        );
        let (_, values_indexed) = values_read?;
        // each distinct text's vector once; a row's is written out with the row (a vector's
        // text is ~4 KB: one per row held at once would be tens of MB at thousands of columns)
        let by_text: HashMap<&str, Vec<f32>> = distinct
            .iter()
            .copied()
            .zip(vectors)
            .filter_map(|(t, v)| Some((t, v?)))
            .collect();
        let embedded: HashSet<(usize, usize)> = todo.iter().copied().collect();
        let vector = crate::spi_util::VectorSql::new()?.vector;
        // every vector the model gives has its length
        let dims = by_text.values().next().map_or(0, |v| v.len()) as i32;

        // removals first (children before parents), then upserts (parents before children)
        // of what changed; every schema row, so that its oid follows the schema
        for k in (0..4).rev() {
            if !plans[k].remove.is_empty() {
                Spi::run_with_args(DELETES[k], &[plans[k].remove.clone().into()])?;
            }
        }
        for (k, kind) in kinds.iter().enumerate() {
            let rows: Vec<usize> = if k == 0 {
                (0..kind.rows.len()).collect()
            } else {
                plans[k].add.iter().chain(&plans[k].update).copied().collect()
            };
            // in statements of a bounded size, each its own JSON text
            let sql = UPSERTS[k].replace("{embedding}", &plan::vector_from_list(&vector));
            for chunk in rows.chunks(plan::UPSERT_ROWS) {
                let (json, vectors) = plan::rows_json(chunk.iter().map(|&i| {
                    let v = if embedded.contains(&(k, i)) {
                        by_text.get(kind.desired[i].text.as_str())
                    } else {
                        None
                    };
                    (&kind.rows[i], v.map(|v| v.as_slice()))
                }));
                crate::spi_util::in_scratch_context(|| {
                    Spi::run_with_args(&sql, &[json.into(), vectors.into(), dims.into()])
                })?;
            }
        }
        // a schema whose last table went
        if only.is_some() {
            Spi::run(
                "DELETE FROM ai.catalog_schemas s
                  WHERE NOT EXISTS (SELECT 1 FROM ai.catalog_tables t WHERE t.schema_id = s.id)",
            )?;
        }
        // what the catalog says of a table's size follows ANALYZE, not only DDL
        Spi::run(
            "UPDATE ai.catalog_tables t SET row_estimate = GREATEST(c.reltuples, 0)::bigint
               FROM pg_catalog.pg_class c
              WHERE c.oid = t.table_oid AND t.row_estimate IS DISTINCT FROM GREATEST(c.reltuples, 0)::bigint",
        )?;
        // the values read above are marked once their tables' rows are written
        super::values::mark(&values_due, &values_indexed)?;
        // descriptions of tables and columns that no longer exist go too
        Spi::run(
            "DELETE FROM ai.catalog_descriptions d WHERE NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = d.schema_name AND c.relname = d.table_name
                  AND (d.column_name = '' OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = d.column_name AND NOT a.attisdropped)))",
        )?;
        // SQL samples are checked against the schema whenever it changed
        if plans
            .iter()
            .any(|p| !(p.add.is_empty() && p.update.is_empty() && p.remove.is_empty()))
        {
            crate::memory::samples::recheck().map_err(|e| CatalogError::Decode(e.to_string()))?;
        }
        if let Some(upto) = covers {
            Spi::run_with_args("DELETE FROM ai.catalog_changes WHERE id <= $1", &[upto.into()])?;
        }
        Spi::run_with_args(
            "UPDATE ai.catalog_state SET refreshed_version = GREATEST(refreshed_version, $1), refreshed_at = now()",
            &[version.into()],
        )?;
        Ok(kinds
            .iter()
            .zip(&plans)
            .map(|(k, p)| {
                (
                    k.name,
                    Counts {
                        added: p.add.len() as i32,
                        updated: p.update.len() as i32,
                        removed: p.remove.len() as i32,
                        unchanged: p.unchanged.len() as i32,
                    },
                )
            })
            .collect())
    })
}

/// Stores a human description (NULL removes it) and re-embeds the object.
pub(super) fn store_description(
    obj: pg_sys::Oid,
    column: Option<&str>,
    text: Option<&str>,
) -> Result<()> {
    let (schema, table, owner): (Option<String>, Option<String>, Option<bool>) = Spi::get_three_with_args(
        "SELECT n.nspname::text, c.relname::text, pg_catalog.pg_has_role(c.relowner, 'USAGE')
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
        &[obj.into()],
    )?;
    let (schema, table) = (schema.unwrap_or_default(), table.unwrap_or_default());
    let qualified = format!(
        "{}.{}",
        crate::sqlparse::ident(&schema),
        crate::sqlparse::ident(&table)
    );
    if owner != Some(true) {
        return Err(CatalogError::NotOwner(qualified));
    }
    if let Some(col) = column {
        let exists: Option<bool> = Spi::get_one_with_args(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
            &[obj.into(), col.into()],
        )?;
        if exists != Some(true) {
            return Err(CatalogError::NoColumn {
                table: qualified,
                column: col.to_string(),
            });
        }
    }
    as_extension_owner(|| {
        Spi::run_with_args(
            "INSERT INTO ai.catalog_descriptions (schema_name, table_name, column_name, description, updated_by)
             VALUES ($1, $2, $3, $4, session_user)
             ON CONFLICT (schema_name, table_name, column_name)
             DO UPDATE SET description = EXCLUDED.description, updated_by = EXCLUDED.updated_by, updated_at = now()",
            &[schema.clone().into(), table.clone().into(), column.unwrap_or("").into(), text.into()],
        )?;
        Spi::run("DELETE FROM ai.catalog_descriptions WHERE description IS NULL")?;
        Ok::<(), CatalogError>(())
    })?;
    refresh_reach(Reach::Relations(vec![obj]))?;
    Ok(())
}

/// One ranked catalog entry.
pub struct Hit {
    pub kind: &'static str,
    pub schema: String,
    pub table: String,
    pub column: Option<String>,
    pub score: f64,
    pub similarity: f64,
    pub lexical: f64,
    pub description: String,
}

/// Refreshes the catalog when DDL made it stale. On a hot standby or in a read-only
/// transaction the catalog is used as it is, with a NOTICE from SQL function `func`.
/// After DDL only the relations it touched (and those linked to them) are read again, unless
/// a change could not be narrowed down (a schema, a type): then everything is. Tables
/// analysed since their values were read are read again (no DDL needed).
pub fn refresh_if_stale(func: &str) -> Result<()> {
    let (stale, due) = as_extension_owner(|| {
        Ok::<_, CatalogError>((catalog_is_stale()?, super::values::due()?))
    })?;
    if (stale || !due.is_empty())
        && !crate::error::skipped_when_read_only(
            func,
            "the catalog is not refreshed here (a writable transaction on the primary refreshes it; the stale one is used)",
        )
    {
        // a refresh under way elsewhere is waited for, then only what it left is done
        let (stale, due) = as_extension_owner(|| {
            one_writer()?;
            Ok::<_, CatalogError>((catalog_is_stale()?, super::values::due()?))
        })?;
        if stale {
            refresh_changed()?;
        } else if !due.is_empty() {
            as_extension_owner(|| super::values::read(&due).map_err(CatalogError::from))?;
        }
    }
    Ok(())
}

/// Makes this transaction the catalog's one writer until it ends: a second refresh waits here
/// for the first to commit (two at once each kept the values they read, twice). Questions,
/// which only read the catalog, never wait. Run as the extension owner.
fn one_writer() -> Result<()> {
    Spi::run("LOCK TABLE ai.catalog_values IN SHARE UPDATE EXCLUSIVE MODE")?;
    Ok(())
}

/// The refresh after DDL: what `ai.catalog_changes` names, then those changes are consumed.
/// A catalog that was never built, or a change it cannot narrow down, reads everything.
fn refresh_changed() -> Result<()> {
    let (upto, everything, relids): (Option<i64>, Option<bool>, Option<Vec<pg_sys::Oid>>) =
        as_extension_owner(|| {
            Ok::<_, CatalogError>(Spi::get_three(
                "SELECT max(id), bool_or(everything) OR NOT EXISTS (SELECT 1 FROM ai.catalog_tables),
                        coalesce(array_agg(DISTINCT relid) FILTER (WHERE relid IS NOT NULL), '{}')
                   FROM ai.catalog_changes",
            )?)
        })?;
    match (upto, everything) {
        (Some(upto), Some(false)) => {
            refresh_reach(Reach::Relations(relids.unwrap_or_default()))?;
            as_extension_owner(|| {
                Spi::run_with_args("DELETE FROM ai.catalog_changes WHERE id <= $1", &[upto.into()])
                    .map_err(CatalogError::from)
            })?;
        }
        // (a refresh of everything consumes the changes it covers itself)
        _ => {
            refresh(None)?;
        }
    }
    Ok(())
}

/// Ranks the tables and columns the caller may read for `question` (refreshing a stale
/// catalog first).
pub fn search(question: &str, k: i32) -> Result<Vec<Hit>> {
    if !(1..=1000).contains(&k) {
        return Err(CatalogError::BadK(k));
    }
    refresh_if_stale("ai.search_catalog")?;
    let qvec = crate::embed::session::embed_texts(&[Some(question)])
        .pop()
        .flatten()
        .unwrap_or_default();
    let qtokens: HashSet<String> = search::tokens(question).into_iter().collect();
    let v = VectorSql::new()?;
    // Row-level security on the catalog shows only what the caller may read.
    let sql = format!(
        "SELECT 'table'::text, t.schema_name::text, t.table_name::text, NULL::text,
                1 - {}, t.description
           FROM ai.catalog_tables t WHERE t.embedding IS NOT NULL
         UNION ALL
         SELECT 'column', t.schema_name::text, t.table_name::text, c.column_name::text,
                1 - {}, c.description
           FROM ai.catalog_columns c JOIN ai.catalog_tables t ON t.id = c.table_id WHERE c.embedding IS NOT NULL",
        v.distance_to("t.embedding", 1),
        v.distance_to("c.embedding", 1)
    );
    let mut hits = Vec::new();
    Spi::connect(|client| {
        for row in client.select(&sql, None, &[qvec.into()])? {
            let kind: String = row.get(1)?.unwrap_or_default();
            let schema: String = row.get(2)?.unwrap_or_default();
            let table: String = row.get(3)?.unwrap_or_default();
            let column: Option<String> = row.get(4)?;
            let similarity: f64 = row.get(5)?.unwrap_or(0.0);
            let description: String = row.get(6)?.unwrap_or_default();
            let table_lex = search::lexical(&qtokens, &table);
            let (name_lex, context_lex) = match &column {
                Some(c) => (search::lexical(&qtokens, c), table_lex),
                None => (table_lex, 0.0),
            };
            hits.push(Hit {
                kind: if kind == "table" { "table" } else { "column" },
                schema,
                table,
                column,
                score: search::combine(similarity, name_lex, context_lex),
                similarity,
                lexical: name_lex,
                description,
            });
        }
        Ok::<(), pgrx::spi::Error>(())
    })?;
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.table.cmp(&b.table))
    });
    hits.truncate(k as usize);
    Ok(hits)
}
