//! The index of values that questions name ("archived", "Germany", "AC/DC"): read from each
//! table when the catalog is refreshed, so that a question finds them with one index lookup
//! instead of reading user tables, whatever the size of the schema.
//!
//! Who reads what:
//! - at refresh time each plain table, partitioned table or materialized view without
//!   row-level security is read through the gateway (PostgreSQL's analyser, the allow list),
//!   read-only, in a subtransaction that is rolled back, under the statement timeout, with
//!   the **table owner's** rights as a restricted operation — how ANALYZE reads a table. Such
//!   a read runs no code but PostgreSQL's own (no view, no policy, no trigger fires on
//!   SELECT); views and tables with row-level security are not read here (ai.ask reads those
//!   through the gateway as the caller, as before), foreign tables never;
//! - at question time the lookup returns only values of columns the caller may SELECT, and
//!   never of a table that has row-level security now — the rule pg_stats applies to its
//!   most common values. The table itself is the owner's alone.
//!
//! A table is read again when its definition changes (the catalog refresh after DDL) and
//! when ANALYZE has run on it since it was read (its data changed materially).
use crate::pgsql::{self, Lists, PgSqlError};
use crate::spi_util::Spi;
use crate::spi_util::{
    as_role, in_rolled_back_subtransaction, in_scratch_context, read_only, with_timeout, OwnTimer,
};
use pgrx::pg_sys;
use std::panic::AssertUnwindSafe;

/// Rows of a table read for its values (the first ones, in physical order).
pub const ROWS_READ: i64 = 20_000;
/// Longest value kept: a question names values of a few words.
pub const MAX_CHARS: i64 = 64;

/// The search_path the reads are analysed with: every name in them is qualified.
const SAFE_PATH: &str = "pg_catalog, pg_temp";

/// One text column of a table to read.
#[derive(Debug, Clone, PartialEq)]
pub struct TextColumn {
    pub attnum: i16,
    pub name: String,
}

/// Text columns read by one statement: its one row of arrays stays far under the byte cap
/// (8 columns of 20,000 values of at most 65 characters: ~11 MB of JSON for plain text).
pub const COLUMNS_PER_READ: usize = 8;

/// One read of (at most [`COLUMNS_PER_READ`] of) a table's text columns: one row, one array
/// per column (`v0`, `v1`, …) of the first [`ROWS_READ`] rows' values, each cut at one
/// character more than [`MAX_CHARS`] (so that a longer one is known as such and dropped by
/// [`tally`]). Counting and ranking happen in [`tally`], not in SQL: the statement stays the
/// cheapest PostgreSQL can run (a scan and an aggregate, no sort).
pub fn sample_sql(relation: &str, columns: &[TextColumn]) -> String {
    let q = crate::sqlparse::ident;
    let list = columns
        .iter()
        .map(|c| q(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "pg_catalog.array_agg(pg_catalog.\"left\"(x.{}::pg_catalog.text, {})) AS v{i}",
                q(&c.name),
                MAX_CHARS + 1
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {arrays} FROM (SELECT {list} FROM {relation} LIMIT {ROWS_READ}) x")
}

/// One column's values as read: the `per_column` most frequent (ties by value in byte order:
/// no locale is consulted) of those that are not NULL, blank (spaces only, as `btrim` sees
/// it) or longer than [`MAX_CHARS`] characters; and whether the column is [`categorical`]
/// (its distinct values among those kept for counting). `None` when no value qualifies.
pub fn tally<'a>(
    values: impl IntoIterator<Item = Option<&'a str>>,
    per_column: usize,
) -> Option<(Vec<String>, bool)> {
    let mut counts: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut read = 0u32;
    for v in values.into_iter().flatten() {
        if v.trim_matches(' ').is_empty() || v.chars().nth(MAX_CHARS as usize).is_some() {
            continue;
        }
        read += 1;
        *counts.entry(v).or_insert(0) += 1;
    }
    if counts.is_empty() {
        return None;
    }
    let cat = categorical(counts.len() as f64, read as f64);
    let mut ranked: Vec<(&str, u32)> = counts.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.truncate(per_column);
    Some((ranked.into_iter().map(|(v, _)| v.to_string()).collect(), cat))
}

/// Whether a column with `distinct` values among `read` is a category rather than a name.
pub fn categorical(distinct: f64, read: f64) -> bool {
    distinct <= 100.0 || distinct <= 0.2 * read
}

/// A table as the refresh finds it in pg_class.
struct Relation {
    oid: pg_sys::Oid,
    qualified: String,
    owner: pg_sys::Oid,
    readable: bool,
    columns: Vec<TextColumn>,
}

const RELATIONS: &str = "
SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
       c.relowner, c.relkind IN ('r', 'p', 'm') AND NOT c.relrowsecurity
         AND (c.relkind <> 'm' OR c.relispopulated),
       coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(a.attnum, a.attname::text) ORDER BY a.attnum)
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    AND a.atttypid = ANY ($2)), '[]')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = ANY ($1)";

/// The catalog's tables whose values are due: never read, or analysed since they were read.
pub fn due() -> Result<Vec<pg_sys::Oid>, pgrx::spi::Error> {
    Ok(Spi::get_one::<Vec<pg_sys::Oid>>(
        "SELECT coalesce(pg_catalog.array_agg(t.table_oid), '{}') FROM ai.catalog_tables t
           LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = t.table_oid
          WHERE t.values_sampled_at IS NULL
             OR GREATEST(s.last_analyze, s.last_autoanalyze) > t.values_sampled_at",
    )?
    .unwrap_or_default())
}

/// Reads the values of `tables` into ai.catalog_values (replacing what was there) and marks
/// them read in ai.catalog_tables: [`store`], then [`mark`]. Returns how many values were
/// stored.
pub fn read(tables: &[pg_sys::Oid]) -> Result<usize, pgrx::spi::Error> {
    let (stored, indexed) = store(tables)?;
    mark(tables, &indexed)?;
    Ok(stored)
}

/// What [`store`] did: how many values it stored, and the tables whose read succeeded.
pub type Stored = (usize, Vec<pg_sys::Oid>);

/// Reads the values of `tables` into ai.catalog_values (replacing what was there), as the
/// extension owner (the caller's context); each read as described in the module comment. A
/// table need not be in ai.catalog_tables yet. A table that cannot be read (a timeout, a
/// refusal of the gateway, an owner without SELECT) keeps no values and is named in a DEBUG
/// message.
pub fn store(tables: &[pg_sys::Oid]) -> Result<Stored, pgrx::spi::Error> {
    if tables.is_empty() {
        return Ok((0, Vec::new()));
    }
    let per_column = crate::guc::ask_values_per_column();
    let lists = pgsql::lists()?;
    let mut relations = Vec::new();
    Spi::connect(|client| {
        // the text types by OID (a regtype literal would be looked up again for every column)
        let text_types = vec![
            pg_sys::TEXTOID,
            pg_sys::VARCHAROID,
            pg_sys::BPCHAROID,
            pg_sys::NAMEOID,
        ];
        for r in client.select(RELATIONS, None, &[tables.to_vec().into(), text_types.into()])? {
            let cols: pgrx::JsonB = r.get(5)?.unwrap_or(pgrx::JsonB(serde_json::json!([])));
            let columns = cols
                .0
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some(TextColumn {
                        attnum: p.get(0)?.as_i64()? as i16,
                        name: p.get(1)?.as_str()?.to_string(),
                    })
                })
                .collect();
            relations.push(Relation {
                oid: r.get(1)?.unwrap_or(pg_sys::InvalidOid),
                qualified: r.get(2)?.unwrap_or_default(),
                owner: r.get(3)?.unwrap_or(pg_sys::InvalidOid),
                readable: r.get(4)?.unwrap_or(false),
                columns,
            });
        }
        Ok::<(), pgrx::spi::Error>(())
    })?;
    Spi::run_with_args(
        "DELETE FROM ai.catalog_values WHERE table_oid = ANY ($1)",
        &[tables.to_vec().into()],
    )?;
    let mut pending: Vec<(pg_sys::Oid, i16, String, bool)> = Vec::new();
    let mut indexed: Vec<pg_sys::Oid> = Vec::new();
    let mut stored = 0;
    // stored in statements of at most this many values (memory stays bounded)
    const FLUSH: usize = 20_000;
    for rel in &relations {
        if !rel.readable || rel.columns.is_empty() || per_column == 0 {
            continue;
        }
        match in_scratch_context(|| read_one(rel, per_column as usize, &lists)) {
            Ok(found) => {
                pending.extend(found.into_iter().map(|(k, v, c)| (rel.oid, k, v, c)));
                indexed.push(rel.oid);
            }
            Err(why) => pgrx::debug1!("ai_architect: values of {} not kept: {why}", rel.qualified),
        }
        if pending.len() >= FLUSH {
            stored += in_scratch_context(|| insert(&mut pending))?;
            // what the reads and the insert freed goes back to the system: without it the
            // backend's memory creeps up by tens of MB over thousands of tables (freed pieces
            // the next reads' sizes do not fit)
            crate::heap::release_free_memory();
        }
    }
    stored += in_scratch_context(|| insert(&mut pending))?;
    // the planner's statistics follow a large read (without them a question's lookup may
    // scan millions of values instead of using the index on lower(value))
    if stored >= 10_000 {
        Spi::run("ANALYZE ai.catalog_values")?;
    }
    Ok((stored, indexed))
}

/// Inserts `pending` into ai.catalog_values in one statement and empties it. The rows go in
/// the order of the lookup index (lower case, byte order): consecutive entries land on the
/// same index pages, which a large build inserts about a quarter faster than in table order.
fn insert(pending: &mut Vec<(pg_sys::Oid, i16, String, bool)>) -> Result<usize, pgrx::spi::Error> {
    let n = pending.len();
    if n == 0 {
        return Ok(0);
    }
    pending.sort_by_cached_key(|(_, _, v, _)| v.to_lowercase());
    let (mut oids, mut attnums, mut values, mut cats) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (o, k, v, c) in pending.drain(..) {
        oids.push(o);
        attnums.push(k);
        values.push(v);
        cats.push(c);
    }
    Spi::run_with_args(
        "INSERT INTO ai.catalog_values (table_oid, attnum, value, categorical)
         SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]), pg_catalog.unnest($2::pg_catalog.int2[]),
                                 pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::boolean[]))",
        &[oids.into(), attnums.into(), values.into(), cats.into()],
    )?;
    Ok(n)
}

/// Marks `tables` read now in ai.catalog_tables; `indexed`: those whose values were kept.
pub fn mark(tables: &[pg_sys::Oid], indexed: &[pg_sys::Oid]) -> Result<(), pgrx::spi::Error> {
    if tables.is_empty() {
        return Ok(());
    }
    Spi::run_with_args(
        "UPDATE ai.catalog_tables SET values_sampled_at = pg_catalog.clock_timestamp(),
                values_indexed = table_oid = ANY ($2)
          WHERE table_oid = ANY ($1)",
        &[tables.to_vec().into(), indexed.to_vec().into()],
    )
}

/// One table's read: (attnum, value, categorical), in statements of at most
/// [`COLUMNS_PER_READ`] columns, all in one rolled-back subtransaction as the owner.
fn read_one(
    rel: &Relation,
    per_column: usize,
    lists: &Lists,
) -> Result<Vec<(i16, String, bool)>, String> {
    let ms = crate::guc::statement_timeout_ms();
    let timer = OwnTimer::before(ms);
    let outcome = in_rolled_back_subtransaction(AssertUnwindSafe(|| {
        as_role(rel.owner, || {
            read_only(|| {
                with_timeout(ms, || {
                    let mut read = Vec::new();
                    for group in rel.columns.chunks(COLUMNS_PER_READ) {
                        let sql = sample_sql(&rel.qualified, group);
                        let rows =
                            pgsql::checked_select(&sql, SAFE_PATH, lists, |p| p.rows(1, 64 << 20))?;
                        read.push((group, rows));
                    }
                    Ok(read)
                })
            })
        })
    }));
    let read = match outcome {
        Ok(Ok(read)) => read,
        Ok(Err(PgSqlError::Refused(r))) => return Err(format!("the gateway refused it: {r}")),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(e) if e.is_cancel() && !timer.fired(&e) => e.rethrow(),
        Err(e) => return Err(e.message),
    };
    if read.iter().any(|(_, rows)| rows.truncated) {
        return Err("its values exceed the 64 MB read at once".into());
    }
    let mut out = Vec::new();
    for (group, rows) in read {
        let Some(row) = rows.rows.first() else { continue };
        for (i, col) in group.iter().enumerate() {
            let Some(array) = row.get(format!("v{i}")).and_then(|v| v.as_array()) else {
                continue;
            };
            if let Some((values, cat)) = tally(array.iter().map(|v| v.as_str()), per_column) {
                out.extend(values.into_iter().map(|v| (col.attnum, v, cat)));
            }
        }
    }
    Ok(out)
}

/// A value of the index equal (case-insensitively) to one of the question's phrases.
pub struct Found {
    pub table: pg_sys::Oid,
    pub attnum: i16,
    pub value: String,
    pub categorical: bool,
}

/// The values equal to `phrases` (lower case) in `tables`, as `caller` may see them: only
/// columns `caller` may SELECT, never of a table with row-level security. Runs as the
/// extension owner (the index is the owner's alone).
pub fn lookup(
    caller: pg_sys::Oid,
    tables: &[pg_sys::Oid],
    phrases: &[String],
) -> Result<Vec<Found>, pgrx::spi::Error> {
    if phrases.is_empty() || tables.is_empty() {
        return Ok(Vec::new());
    }
    // (the tables are a filter here, not in the query: the index on lower(value) is the one
    // way in, whatever the number of tables)
    let wanted: std::collections::HashSet<u32> = tables.iter().map(|o| u32::from(*o)).collect();
    crate::spi_util::as_extension_owner(|| {
        let mut out = Vec::new();
        Spi::connect(|client| {
            for r in client.select(
                "SELECT v.table_oid, v.attnum, v.value, v.categorical
                   FROM ai.catalog_values v JOIN pg_catalog.pg_class c ON c.oid = v.table_oid
                  WHERE pg_catalog.lower(v.value) = ANY ($1)
                    AND NOT c.relrowsecurity
                    AND pg_catalog.has_column_privilege($2, v.table_oid, v.attnum, 'SELECT')",
                None,
                &[phrases.to_vec().into(), caller.into()],
            )? {
                let table: pg_sys::Oid = r.get(1)?.unwrap_or(pg_sys::InvalidOid);
                if !wanted.contains(&u32::from(table)) {
                    continue;
                }
                out.push(Found {
                    table,
                    attnum: r.get(2)?.unwrap_or(0),
                    value: r.get(3)?.unwrap_or_default(),
                    categorical: r.get(4)?.unwrap_or(false),
                });
            }
            Ok::<(), pgrx::spi::Error>(())
        })?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_names_each_column_once_and_quotes_it() {
        let sql = sample_sql(
            "public.\"Odd Table\"",
            &[
                TextColumn { attnum: 2, name: "name".into() },
                TextColumn { attnum: 5, name: "Select".into() },
            ],
        );
        assert!(sql.contains("FROM (SELECT name, \"Select\" FROM public.\"Odd Table\" LIMIT 20000) x"), "{sql}");
        assert!(sql.contains("pg_catalog.array_agg(pg_catalog.\"left\"(x.name::pg_catalog.text, 65)) AS v0, pg_catalog.array_agg(pg_catalog.\"left\"(x.\"Select\"::pg_catalog.text, 65)) AS v1"), "{sql}");
    }

    #[test]
    fn a_tally_keeps_the_most_frequent_values_ties_in_byte_order() {
        let long = "x".repeat(65);
        let exact = "é".repeat(64);
        let read = [
            Some("b"), Some("a"), Some("c"), Some("c"), None, Some("   "), Some(""),
            Some(long.as_str()), Some(exact.as_str()), Some(" d "), Some("B"),
        ];
        let (values, cat) = tally(read, 3).unwrap();
        // c twice; then the ties among the rest by bytes: " d " < "B" < "a" < "b" < "é…"
        assert_eq!(values, vec!["c", " d ", "B"]);
        assert!(cat);
        let (all, _) = tally(read, 100).unwrap();
        assert_eq!(all.len(), 6, "{all:?}");
        assert!(all.contains(&exact), "64 characters (128 bytes) are kept");
        assert!(!all.iter().any(|v| v.chars().count() > 64 || v.trim_matches(' ').is_empty()));
        assert_eq!(tally([None, Some(" ")], 10), None);
    }

    #[test]
    fn a_tally_tells_names_from_categories() {
        let names: Vec<String> = (0..1000).map(|i| format!("name {i}")).collect();
        let (kept, cat) = tally(names.iter().map(|n| Some(n.as_str())), 500).unwrap();
        assert_eq!(kept.len(), 500);
        assert!(!cat);
        let states: Vec<&str> = (0..1000).map(|i| ["open", "closed"][i % 2]).collect();
        assert_eq!(tally(states.into_iter().map(Some), 500), Some((vec!["closed".into(), "open".into()], true)));
    }

    #[test]
    fn a_column_is_categorical_when_it_repeats() {
        assert!(categorical(4.0, 1000.0));
        assert!(categorical(150.0, 1000.0));
        assert!(!categorical(900.0, 1000.0));
        assert!(categorical(3000.0, 20000.0));
    }
}
