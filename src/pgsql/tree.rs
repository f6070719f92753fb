//! The walk over PostgreSQL's analysed and rewritten query tree: every function a statement
//! can call (directly, through operators, casts and coercions, aggregates, window functions,
//! sort and grouping operators, domain CHECK constraints, view bodies, row-level policies,
//! CTEs, sublinks, functions in FROM) and every relation it names, each by OID.
//!
//! Only OIDs are collected while PostgreSQL's walkers run; names and volatility are read
//! afterwards in one query each ([`super::describe`]).
use super::policy::Command;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::c_void;

/// OIDs found in one statement's tree.
#[derive(Default)]
pub struct Found {
    pub functions: Vec<(pg_sys::Oid, &'static str)>,
    pub relations: Vec<pg_sys::Oid>,
    pub domains: Vec<pg_sys::Oid>,
    pub modifying_cte: bool,
    pub row_locks: bool,
    /// nesting inside an allowed system view's body: nothing is recorded there
    trusted: u32,
    via: &'static str,
}

impl Found {
    fn function(&mut self, oid: pg_sys::Oid, via: &'static str) {
        if self.trusted == 0
            && oid != pg_sys::InvalidOid
            && !self.functions.iter().any(|f| f.0 == oid)
        {
            self.functions.push((oid, via));
        }
    }

    fn relation(&mut self, oid: pg_sys::Oid) {
        if self.trusted == 0 && oid != pg_sys::InvalidOid && !self.relations.contains(&oid) {
            self.relations.push(oid);
        }
    }
}

/// The command of a top-level analysed query.
pub fn command(q: *mut pg_sys::Query) -> Command {
    // SAFETY: q is a valid Query from the plan source.
    let t = unsafe { (*q).commandType };
    match t {
        pg_sys::CmdType::CMD_SELECT if unsafe { (*q).utilityStmt.is_null() } => Command::Select,
        pg_sys::CmdType::CMD_INSERT => Command::Insert,
        pg_sys::CmdType::CMD_UPDATE => Command::Update,
        pg_sys::CmdType::CMD_DELETE => Command::Delete,
        pg_sys::CmdType::CMD_MERGE => Command::Merge,
        _ => Command::Utility,
    }
}

/// Walks one analysed query (and everything below it) into `found`. `allowed_view` says
/// whether a system view's body is trusted as a unit (its OID, relkind known to be a view).
pub fn walk_query(
    q: *mut pg_sys::Query,
    found: &mut Found,
    allowed_view: &dyn Fn(pg_sys::Oid) -> bool,
) {
    let mut ctx = Ctx {
        found,
        allowed_view,
    };
    // SAFETY: q is a valid analysed Query; the walker only reads it.
    unsafe { query(q, &mut ctx) };
}

/// Walks a stand-alone expression (a domain's CHECK constraint) into `found`.
pub fn walk_expr(
    node: *mut pg_sys::Node,
    via: &'static str,
    found: &mut Found,
    allowed_view: &dyn Fn(pg_sys::Oid) -> bool,
) {
    let mut ctx = Ctx {
        found,
        allowed_view,
    };
    ctx.found.via = via;
    // SAFETY: node is a valid expression tree read from pg_constraint.conbin.
    unsafe {
        walker(node, &mut ctx as *mut Ctx as *mut c_void);
    }
}

struct Ctx<'a> {
    found: &'a mut Found,
    allowed_view: &'a dyn Fn(pg_sys::Oid) -> bool,
}

unsafe fn query(q: *mut pg_sys::Query, ctx: &mut Ctx) {
    if (*q).hasModifyingCTE {
        ctx.found.modifying_cte = true;
    }
    if !(*q).rowMarks.is_null() {
        ctx.found.row_locks = true;
    }
    let flags = (pg_sys::QTW_EXAMINE_RTES_BEFORE
        | pg_sys::QTW_IGNORE_RT_SUBQUERIES
        | pg_sys::QTW_EXAMINE_SORTGROUP) as i32;
    pg_sys::query_tree_walker(q, Some(walker), ctx as *mut Ctx as *mut c_void, flags);
}

/// The view a subquery range-table entry was expanded from, if any.
#[cfg(feature = "pg15")]
unsafe fn view_of(rte: *mut pg_sys::RangeTblEntry) -> Option<pg_sys::Oid> {
    // PostgreSQL 15 clears relid on the expanded entry; the view's body keeps the view as
    // its first range-table entry (OLD), where the permission checks moved.
    let sub = (*rte).subquery;
    if sub.is_null() {
        return None;
    }
    let rt = pgrx::PgList::<pg_sys::RangeTblEntry>::from_pg((*sub).rtable);
    let first = rt.head()?;
    ((*first).rtekind == pg_sys::RTEKind::RTE_RELATION
        && (*first).relkind as u8 == pg_sys::RELKIND_VIEW
        && !(*first).inFromCl)
        .then(|| (*first).relid)
}

/// The view a subquery range-table entry was expanded from, if any.
#[cfg(not(feature = "pg15"))]
unsafe fn view_of(rte: *mut pg_sys::RangeTblEntry) -> Option<pg_sys::Oid> {
    // since PostgreSQL 16 the expanded entry keeps the view's relid and relkind
    ((*rte).relkind as u8 == pg_sys::RELKIND_VIEW && (*rte).relid != pg_sys::InvalidOid)
        .then(|| (*rte).relid)
}

#[pg_guard]
unsafe extern "C-unwind" fn collect_function(oid: pg_sys::Oid, cx: *mut c_void) -> bool {
    let ctx = &mut *(cx as *mut Ctx);
    let via = ctx.found.via;
    ctx.found.function(oid, via);
    false
}

fn via_of(node: *mut pg_sys::Node) -> &'static str {
    use pg_sys::NodeTag::*;
    // SAFETY: node is a valid node; only its tag (and a FuncExpr's format) are read.
    unsafe {
        match (*node).type_ {
            T_FuncExpr => {
                let f = node as *mut pg_sys::FuncExpr;
                match (*f).funcformat {
                    pg_sys::CoercionForm::COERCE_EXPLICIT_CAST
                    | pg_sys::CoercionForm::COERCE_IMPLICIT_CAST => "cast",
                    _ => "call",
                }
            }
            T_OpExpr | T_DistinctExpr | T_NullIfExpr | T_ScalarArrayOpExpr | T_RowCompareExpr => {
                "operator"
            }
            T_CoerceViaIO | T_ArrayCoerceExpr => "cast",
            T_Aggref => "aggregate",
            T_WindowFunc => "window function",
            _ => "call",
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, cx: *mut c_void) -> bool {
    use pg_sys::NodeTag::*;
    if node.is_null() {
        return false;
    }
    let ctx = &mut *(cx as *mut Ctx);
    match (*node).type_ {
        T_Query => {
            let q = node as *mut pg_sys::Query;
            if !matches!(command(q), Command::Select) {
                // a writing statement nested in another (a WITH clause); the parser flags
                // the outer query too
                ctx.found.modifying_cte = true;
            }
            query(q, ctx);
            return false;
        }
        T_RangeTblEntry => {
            let rte = node as *mut pg_sys::RangeTblEntry;
            match (*rte).rtekind {
                pg_sys::RTEKind::RTE_RELATION => ctx.found.relation((*rte).relid),
                pg_sys::RTEKind::RTE_SUBQUERY => {
                    let view = view_of(rte);
                    if let Some(v) = view {
                        ctx.found.relation(v);
                    }
                    let trust = view.is_some_and(|v| (ctx.allowed_view)(v));
                    if trust {
                        ctx.found.trusted += 1;
                    }
                    if !(*rte).subquery.is_null() {
                        query((*rte).subquery, ctx);
                    }
                    if trust {
                        ctx.found.trusted -= 1;
                    }
                }
                _ => {}
            }
            // range_table_entry_walker goes on into functions, VALUES, TABLESAMPLE and
            // the row-level policies (securityQuals) of this entry
            return false;
        }
        T_SortGroupClause => {
            let s = node as *mut pg_sys::SortGroupClause;
            if (*s).sortop != pg_sys::InvalidOid {
                ctx.found
                    .function(pg_sys::get_opcode((*s).sortop), "sort operator");
            }
            if (*s).eqop != pg_sys::InvalidOid {
                ctx.found
                    .function(pg_sys::get_opcode((*s).eqop), "grouping operator");
            }
            return false;
        }
        T_CoerceToDomain => {
            let d = (*(node as *mut pg_sys::CoerceToDomain)).resulttype;
            if ctx.found.trusted == 0 && !ctx.found.domains.contains(&d) {
                ctx.found.domains.push(d);
            }
        }
        T_NextValueExpr => {
            // an identity column's sequence, in an INSERT's defaults
            ctx.found
                .function(pg_sys::Oid::from(pg_sys::F_NEXTVAL), "identity default");
        }
        _ => {}
    }
    let saved = ctx.found.via;
    ctx.found.via = if saved == "domain check" {
        saved
    } else {
        via_of(node)
    };
    pg_sys::check_functions_in_node(node, Some(collect_function), cx);
    ctx.found.via = saved;
    pg_sys::expression_tree_walker(node, Some(walker), cx)
}
