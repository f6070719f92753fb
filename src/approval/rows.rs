//! Facts about the tables an execution touches and the SQL of their row images: shared by
//! the backup, the execution and the restore.
use super::store::Result;
use crate::impact::cascade::column_list;
use crate::sqlparse::quoted;
use std::collections::BTreeMap;

/// `jsonb_build_object('k1', c."k1", …)`: a row's primary key as jsonb.
pub(super) fn pk_object(alias: &str, pk: &[String]) -> String {
    let pairs: Vec<String> = pk
        .iter()
        .map(|k| format!("'{}', {alias}.{}", k.replace('\'', "''"), quoted(k)))
        .collect();
    format!("jsonb_build_object({})", pairs.join(", "))
}

/// `ROW(c."a", c."b", …)::text`: the image of row `c` with the given columns (a table's
/// columns in the order of its row type, so that `image::table` reads it back).
pub(super) fn row_text(alias: &str, columns: &[String]) -> String {
    format!("ROW({})::text", column_list(Some(alias), columns))
}

/// Rows inserted, updated and deleted so far in this transaction, per table (partitions
/// added up into their partitioned table).
pub(super) fn xact_per_table() -> Result<BTreeMap<i64, (i64, i64, i64)>> {
    let mut out = BTreeMap::new();
    for r in crate::impact::count::xact_counts()?.into_values() {
        let e = out.entry(r.root).or_insert((0, 0, 0));
        e.0 += r.ins;
        e.1 += r.upd;
        e.2 += r.del;
    }
    Ok(out)
}

pub(super) fn table_names(oids: &[i64]) -> Result<BTreeMap<i64, String>> {
    Ok(table_shapes(oids)?
        .into_iter()
        .map(|(oid, t)| (oid, t.display))
        .collect())
}

/// What a restore needs of a table: its name, key and columns.
pub(super) struct Shape {
    pub(super) qualified: String,
    pub(super) display: String,
    pub(super) pk: Vec<String>,
    /// columns a restore writes (generated ones left out)
    pub(super) columns: Vec<String>,
    /// every column, in the order of the row type
    pub(super) all_columns: Vec<String>,
}

pub(super) fn table_shapes(oids: &[i64]) -> Result<BTreeMap<i64, Shape>> {
    Ok(crate::impact::catalog::rels(oids)?
        .into_iter()
        .map(|(oid, r)| {
            let shape = Shape {
                qualified: r.qualified(),
                display: r.display(),
                pk: r.primary_key().to_vec(),
                columns: r.writable_columns(),
                all_columns: r.all_columns(),
            };
            (oid, shape)
        })
        .collect())
}
