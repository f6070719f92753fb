//! The columns a query reads, as PostgreSQL's analysis says: each relation's selected
//! columns (what its SELECT privilege is checked on), by table OID and attribute number.
use super::{PgSqlError, Prepared};
use pgrx::pg_sys;

/// (table OID, attnum) of every user column `sql` reads, analysed with `search_path`;
/// nothing is planned or run.
pub fn columns_read(sql: &str, search_path: &str) -> Result<Vec<(u32, i16)>, PgSqlError> {
    super::prepare(sql, search_path, |p| {
        // SAFETY: the plan source is alive inside prepare's callback; only read here.
        unsafe { selected(p) }
    })
}

unsafe fn selected(p: &Prepared) -> Vec<(u32, i16)> {
    let mut out = Vec::new();
    let queries = pgrx::PgList::<pg_sys::Query>::from_pg((*p.source).query_list);
    for q in queries.iter_ptr() {
        for (relid, cols) in permission_entries(q) {
            for attnum in user_attnums(cols) {
                if !out.contains(&(relid.to_u32(), attnum)) {
                    out.push((relid.to_u32(), attnum));
                }
            }
        }
    }
    out
}

/// The user columns (attnum > 0) of a set of attribute numbers offset by
/// FirstLowInvalidHeapAttributeNumber, as PostgreSQL keeps them, ascending.
pub(super) unsafe fn user_attnums(set: *const pg_sys::Bitmapset) -> Vec<i16> {
    let mut out = Vec::new();
    let mut k = -1;
    loop {
        k = pg_sys::bms_next_member(set, k);
        if k < 0 {
            break;
        }
        let attnum = k + pg_sys::FirstLowInvalidHeapAttributeNumber;
        if attnum > 0 {
            out.push(attnum as i16);
        }
    }
    out
}

/// Each relation of the query with the columns selected from it.
#[cfg(feature = "pg15")]
unsafe fn permission_entries(q: *mut pg_sys::Query) -> Vec<(pg_sys::Oid, *mut pg_sys::Bitmapset)> {
    pgrx::PgList::<pg_sys::RangeTblEntry>::from_pg((*q).rtable)
        .iter_ptr()
        .filter(|r| (**r).rtekind == pg_sys::RTEKind::RTE_RELATION)
        .map(|r| ((*r).relid, (*r).selectedCols))
        .collect()
}

/// Each relation of the query with the columns selected from it.
#[cfg(not(feature = "pg15"))]
unsafe fn permission_entries(q: *mut pg_sys::Query) -> Vec<(pg_sys::Oid, *mut pg_sys::Bitmapset)> {
    pgrx::PgList::<pg_sys::RTEPermissionInfo>::from_pg((*q).rteperminfos)
        .iter_ptr()
        .map(|r| ((*r).relid, (*r).selectedCols))
        .collect()
}
