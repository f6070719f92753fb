//! Statements PostgreSQL runs only as a top-level command, outside any transaction block —
//! `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY` (and
//! `REINDEX SCHEMA | DATABASE | SYSTEM`), `VACUUM`, and `ANALYZE` — read from the raw parse
//! tree: what they act on, and how.
use super::nodes::{string, target, Target};
use pgrx::pg_sys;

/// What one such statement does, as PostgreSQL's raw parser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Online {
    CreateIndex {
        table: Target,
        /// `None`: PostgreSQL chooses the name
        name: Option<String>,
        unique: bool,
        if_not_exists: bool,
    },
    DropIndex {
        index: Target,
        if_exists: bool,
        cascade: bool,
    },
    Reindex {
        /// index, table, schema, database or system
        object: &'static str,
        /// the index or table (for schema, database, system: `None`)
        relation: Option<Target>,
        /// the schema or database
        name: Option<String>,
        concurrently: bool,
    },
    Vacuum {
        /// `VACUUM` (false: `ANALYZE`)
        vacuum: bool,
        full: bool,
        analyze: bool,
        /// empty: every table the role may vacuum
        tables: Vec<Target>,
    },
}

/// The statement, when it is one of the kinds above.
///
/// # Safety
/// `node` is a raw parse tree node (`RawStmt.stmt`).
pub(super) unsafe fn online(node: *mut pg_sys::Node) -> Option<Online> {
    use pg_sys::NodeTag::*;
    match (*node).type_ {
        T_IndexStmt => {
            let i = node as *mut pg_sys::IndexStmt;
            (*i).concurrent.then(|| Online::CreateIndex {
                table: target((*i).relation),
                name: (!(*i).idxname.is_null()).then(|| string((*i).idxname)),
                unique: (*i).unique,
                if_not_exists: (*i).if_not_exists,
            })
        }
        T_DropStmt => {
            let d = node as *mut pg_sys::DropStmt;
            if !(*d).concurrent || (*d).removeType != pg_sys::ObjectType::OBJECT_INDEX {
                return None;
            }
            // PostgreSQL drops one index concurrently per statement
            let names = pgrx::PgList::<pg_sys::List>::from_pg((*d).objects);
            let first = names.get_ptr(0)?;
            let mut parts: Vec<String> = pgrx::PgList::<pg_sys::Node>::from_pg(first)
                .iter_ptr()
                .filter(|n| (**n).type_ == T_String)
                .map(|n| string((*(n as *mut pg_sys::String)).sval))
                .collect();
            let name = parts.pop()?;
            Some(Online::DropIndex {
                index: Target {
                    schema: parts.pop(),
                    catalog: parts.pop(),
                    name,
                    alias: None,
                    only: false,
                },
                if_exists: (*d).missing_ok,
                cascade: (*d).behavior == pg_sys::DropBehavior::DROP_CASCADE,
            })
        }
        T_ReindexStmt => {
            let r = node as *mut pg_sys::ReindexStmt;
            let concurrently = option((*r).params, "concurrently");
            use pg_sys::ReindexObjectType::*;
            let object = match (*r).kind {
                REINDEX_OBJECT_INDEX => "index",
                REINDEX_OBJECT_TABLE => "table",
                REINDEX_OBJECT_SCHEMA => "schema",
                REINDEX_OBJECT_DATABASE => "database",
                _ => "system",
            };
            // REINDEX of one index or table may run in a transaction block unless CONCURRENTLY
            if !concurrently && matches!(object, "index" | "table") {
                return None;
            }
            Some(Online::Reindex {
                object,
                relation: (!(*r).relation.is_null()).then(|| target((*r).relation)),
                name: (!(*r).name.is_null()).then(|| string((*r).name)),
                concurrently,
            })
        }
        T_VacuumStmt => {
            let v = node as *mut pg_sys::VacuumStmt;
            let on = |k: &str| option((*v).options, k);
            let tables = pgrx::PgList::<pg_sys::VacuumRelation>::from_pg((*v).rels)
                .iter_ptr()
                .filter(|r| !(**r).relation.is_null())
                .map(|r: *mut pg_sys::VacuumRelation| target((*r).relation))
                .collect();
            Some(Online::Vacuum {
                vacuum: (*v).is_vacuumcmd,
                full: on("full"),
                analyze: on("analyze") || !(*v).is_vacuumcmd,
                tables,
            })
        }
        _ => None,
    }
}

/// A boolean option of a statement's option list (`(CONCURRENTLY)`, `(FULL, ANALYZE)`), as
/// PostgreSQL reads it; false when absent.
unsafe fn option(list: *mut pg_sys::List, name: &str) -> bool {
    pgrx::PgList::<pg_sys::DefElem>::from_pg(list)
        .iter_ptr()
        .filter(|d| string((**d).defname).eq_ignore_ascii_case(name))
        // SAFETY: defGetBoolean reads the option's argument (PostgreSQL's ERROR if not boolean)
        .map(|d| pg_sys::defGetBoolean(d))
        .last()
        .unwrap_or(false)
}
