//! What a row-changing statement is made of, as PostgreSQL reads it: its target, the columns
//! it assigns or fills, whether it returns rows, and the text of its WITH, USING / FROM, WHERE,
//! source and join condition.
//!
//! The structure comes from PostgreSQL's raw parser. Each clause's text is a slice of the
//! statement exactly as written (never a rendering by another parser), delimited with
//! PostgreSQL's own lexer ([`super::lexer`]), and each slice is proven to be that clause: it is
//! parsed again on its own (`SELECT 1 FROM <slice>`, `SELECT 1 WHERE <slice>`, ...) and compared
//! node for node with the statement's clause by PostgreSQL's `equal()`. A slice that does not
//! compare equal is an error, never an analysis of something else.
use super::lexer::{self, Token};
pub use super::nodes::Target;
use super::nodes::{string, target};
use super::PgSqlError;
use pgrx::pg_sys;

/// Whether a statement's RETURNING list is there (PostgreSQL 18 wraps it in a clause node).
macro_rules! returns {
    ($s:expr) => {{
        #[cfg(feature = "pg18")]
        let r = !(*$s).returningClause.is_null();
        #[cfg(not(feature = "pg18"))]
        let r = !(*$s).returningList.is_null();
        r
    }};
}

/// The parts of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parts {
    Delete {
        with: Option<String>,
        target: Target,
        using: Option<String>,
        filter: Option<String>,
        returning: bool,
    },
    Update {
        with: Option<String>,
        target: Target,
        /// the columns assigned, as the parser folded them, each once
        changed: Vec<String>,
        from: Option<String>,
        filter: Option<String>,
        returning: bool,
    },
    Insert {
        with: Option<String>,
        target: Target,
        columns: Vec<String>,
        /// a VALUES list (or DEFAULT VALUES): how many rows it adds, known without running it
        values_rows: Option<u64>,
        /// otherwise the query whose rows it adds
        source: Option<String>,
        on_conflict: bool,
        returning: bool,
    },
    Merge {
        with: Option<String>,
        target: Target,
        /// the source table reference (with its alias)
        source: String,
        /// the join condition
        on: String,
    },
    Truncate {
        tables: Vec<Target>,
        cascade: bool,
    },
    Select,
    /// anything else (DDL, utility statements): the command tag, and for the DDL the impact
    /// analysis takes apart (CREATE INDEX, CREATE TABLE, ALTER TABLE, DROP of relations) every
    /// relation PostgreSQL's parse tree names
    Utility {
        tag: String,
        relations: Option<Vec<Target>>,
        /// a statement PostgreSQL runs only outside a transaction block
        online: Option<super::online::Online>,
    },
}

/// The parts of the one statement in `sql` (standard_conforming_strings on).
pub fn parts(sql: &str) -> Result<Parts, PgSqlError> {
    let one = super::one_statement(sql)?;
    let text = super::cstring(sql)?;
    super::pinned(|| {
        let tokens = lexer::tokens(sql)?;
        // SAFETY: raw_parser reads the NUL-terminated text and returns a List of RawStmt in
        // the current memory context; the nodes are only read.
        unsafe {
            let list = pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            let stmts = pgrx::PgList::<pg_sys::RawStmt>::from_pg(list);
            let Some(raw) = stmts.head() else {
                return Err(PgSqlError::Empty);
            };
            let node = (*raw).stmt;
            read(sql, &tokens, node, one.tag)
        }
    })
}

unsafe fn read(
    sql: &str,
    toks: &[Token],
    node: *mut pg_sys::Node,
    tag: String,
) -> Result<Parts, PgSqlError> {
    use pg_sys::NodeTag::*;
    let spans = Spans { sql, toks };
    match (*node).type_ {
        T_DeleteStmt => {
            let d = node as *mut pg_sys::DeleteStmt;
            no_current_of((*d).whereClause)?;
            let at = spans.clauses(
                "delete",
                &[
                    ("using", !(*d).usingClause.is_null()),
                    ("where", !(*d).whereClause.is_null()),
                ],
            )?;
            let with = spans.with(at.start)?;
            let using = at.clause("using");
            let filter = at.clause("where");
            prove_with(&with, (*d).withClause)?;
            prove_from(&using, (*d).usingClause.cast(), "USING")?;
            prove_where(&filter, (*d).whereClause)?;
            Ok(Parts::Delete {
                with,
                target: target((*d).relation),
                using,
                filter,
                returning: returns!(d),
            })
        }
        T_UpdateStmt => {
            let u = node as *mut pg_sys::UpdateStmt;
            no_current_of((*u).whereClause)?;
            let at = spans.clauses(
                "update",
                &[
                    ("set", true),
                    ("from", !(*u).fromClause.is_null()),
                    ("where", !(*u).whereClause.is_null()),
                ],
            )?;
            let with = spans.with(at.start)?;
            let from = at.clause("from");
            let filter = at.clause("where");
            prove_with(&with, (*u).withClause)?;
            prove_from(&from, (*u).fromClause.cast(), "FROM")?;
            prove_where(&filter, (*u).whereClause)?;
            let mut changed: Vec<String> = Vec::new();
            for t in pgrx::PgList::<pg_sys::ResTarget>::from_pg((*u).targetList).iter_ptr() {
                let name = string((*t).name);
                if !changed.contains(&name) {
                    changed.push(name);
                }
            }
            Ok(Parts::Update {
                with,
                target: target((*u).relation),
                changed,
                from,
                filter,
                returning: returns!(u),
            })
        }
        T_InsertStmt => {
            let i = node as *mut pg_sys::InsertStmt;
            let columns = pgrx::PgList::<pg_sys::ResTarget>::from_pg((*i).cols)
                .iter_ptr()
                .map(|t| string((*t).name))
                .collect::<Vec<_>>();
            let select = (*i).selectStmt as *mut pg_sys::SelectStmt;
            let values_rows = if select.is_null() {
                Some(1) // DEFAULT VALUES
            } else if plain_values(select) {
                Some(pgrx::PgList::<pg_sys::List>::from_pg((*select).valuesLists).len() as u64)
            } else {
                None
            };
            let start = spans.keyword_at_top("insert", 0)?;
            let with = spans.with(start)?;
            prove_with(&with, (*i).withClause)?;
            let source = if values_rows.is_none() {
                let s = spans.insert_source(
                    start,
                    !(*i).cols.is_null(),
                    (*i).override_ != pg_sys::OverridingKind::OVERRIDING_NOT_SET,
                    !(*i).onConflictClause.is_null(),
                )?;
                prove_source(&s, select.cast())?;
                Some(s)
            } else {
                None
            };
            Ok(Parts::Insert {
                with,
                target: target((*i).relation),
                columns,
                values_rows,
                source,
                on_conflict: !(*i).onConflictClause.is_null(),
                returning: returns!(i),
            })
        }
        T_MergeStmt => {
            let m = node as *mut pg_sys::MergeStmt;
            let start = spans.keyword_at_top("merge", 0)?;
            let with = spans.with(start)?;
            prove_with(&with, (*m).withClause)?;
            let (source, on) = spans.merge_source(start)?;
            let list = pg_sys::lappend(std::ptr::null_mut(), (*m).sourceRelation.cast());
            prove_from(&Some(source.clone()), list, "USING")?;
            prove_where(&Some(on.clone()), (*m).joinCondition)?;
            Ok(Parts::Merge {
                with,
                target: target((*m).relation),
                source,
                on,
            })
        }
        T_TruncateStmt => {
            let t = node as *mut pg_sys::TruncateStmt;
            Ok(Parts::Truncate {
                tables: pgrx::PgList::<pg_sys::RangeVar>::from_pg((*t).relations)
                    .iter_ptr()
                    .map(|r| target(r))
                    .collect(),
                cascade: (*t).behavior == pg_sys::DropBehavior::DROP_CASCADE,
            })
        }
        T_SelectStmt if (*(node as *mut pg_sys::SelectStmt)).intoClause.is_null() => {
            Ok(Parts::Select)
        }
        _ => Ok(Parts::Utility {
            tag,
            relations: ddl_relations(node),
            online: super::online::online(node),
        }),
    }
}

/// Every relation a DDL statement of the kinds the impact analysis takes apart names: the one
/// it creates, alters or drops and the ones its new foreign keys reference. `None` for other
/// statements.
unsafe fn ddl_relations(node: *mut pg_sys::Node) -> Option<Vec<Target>> {
    use pg_sys::NodeTag::*;
    let mut out = Vec::new();
    match (*node).type_ {
        T_IndexStmt => out.push(target((*(node as *mut pg_sys::IndexStmt)).relation)),
        T_CreateStmt => {
            let c = node as *mut pg_sys::CreateStmt;
            out.push(target((*c).relation));
            for e in pgrx::PgList::<pg_sys::Node>::from_pg((*c).tableElts).iter_ptr() {
                referenced(e, &mut out);
            }
        }
        T_AlterTableStmt => {
            let a = node as *mut pg_sys::AlterTableStmt;
            out.push(target((*a).relation));
            for cmd in pgrx::PgList::<pg_sys::AlterTableCmd>::from_pg((*a).cmds).iter_ptr() {
                if !(*cmd).def.is_null() {
                    referenced((*cmd).def, &mut out);
                }
            }
        }
        T_DropStmt => {
            let d = node as *mut pg_sys::DropStmt;
            use pg_sys::ObjectType::*;
            if ![
                OBJECT_TABLE,
                OBJECT_INDEX,
                OBJECT_VIEW,
                OBJECT_MATVIEW,
                OBJECT_SEQUENCE,
                OBJECT_FOREIGN_TABLE,
            ]
            .contains(&(*d).removeType)
            {
                return None;
            }
            for names in pgrx::PgList::<pg_sys::List>::from_pg((*d).objects).iter_ptr() {
                let parts: Vec<String> = pgrx::PgList::<pg_sys::Node>::from_pg(names)
                    .iter_ptr()
                    .filter(|n| (**n).type_ == T_String)
                    .map(|n| string((*(n as *mut pg_sys::String)).sval))
                    .collect();
                let mut it = parts.into_iter().rev();
                let Some(name) = it.next() else { continue };
                let schema = it.next();
                out.push(Target {
                    catalog: it.next(),
                    schema,
                    name,
                    alias: None,
                    only: false,
                });
            }
        }
        _ => return None,
    }
    Some(out)
}

/// The table a foreign key in a column definition or a table constraint references.
unsafe fn referenced(node: *mut pg_sys::Node, out: &mut Vec<Target>) {
    use pg_sys::NodeTag::*;
    match (*node).type_ {
        T_Constraint => {
            let c = node as *mut pg_sys::Constraint;
            if (*c).contype == pg_sys::ConstrType::CONSTR_FOREIGN && !(*c).pktable.is_null() {
                out.push(target((*c).pktable));
            }
        }
        T_ColumnDef => {
            let col = node as *mut pg_sys::ColumnDef;
            for c in pgrx::PgList::<pg_sys::Node>::from_pg((*col).constraints).iter_ptr() {
                referenced(c, out);
            }
        }
        _ => {}
    }
}

/// A VALUES list with nothing around it (no WITH, ORDER BY, LIMIT).
unsafe fn plain_values(s: *mut pg_sys::SelectStmt) -> bool {
    (*s).type_ == pg_sys::NodeTag::T_SelectStmt
        && !(*s).valuesLists.is_null()
        && (*s).withClause.is_null()
        && (*s).sortClause.is_null()
        && (*s).limitCount.is_null()
        && (*s).limitOffset.is_null()
}

unsafe fn no_current_of(w: *mut pg_sys::Node) -> Result<(), PgSqlError> {
    if !w.is_null() && (*w).type_ == pg_sys::NodeTag::T_CurrentOfExpr {
        return Err(PgSqlError::CurrentOf);
    }
    Ok(())
}

/// Where a statement's clauses begin, in the token list.
struct At {
    start: usize,
    slices: Vec<(&'static str, String)>,
}

impl At {
    fn clause(&self, keyword: &str) -> Option<String> {
        self.slices
            .iter()
            .find(|(k, _)| *k == keyword)
            .map(|(_, s)| s.clone())
    }
}

struct Spans<'a> {
    sql: &'a str,
    toks: &'a [Token],
}

impl Spans<'_> {
    fn unreadable(&self, what: &str) -> PgSqlError {
        PgSqlError::Unreadable(what.to_string())
    }

    /// The text from token `a` up to token `b` (or the end), trimmed; a trailing line comment
    /// keeps its newline so that nothing appended to the slice is commented out.
    fn slice(&self, a: usize, b: usize) -> String {
        let from = self.toks.get(a).map_or(self.sql.len(), |t| t.start);
        let to = self.toks.get(b).map_or(self.sql.len(), |t| t.start);
        lexer::clause_text(self.sql.get(from..to).unwrap_or_default())
    }

    /// The end of the statement: its `;` or the end of the text.
    fn end(&self) -> usize {
        lexer::find_top(self.toks, 0, |t| t.is_char(b';')).unwrap_or(self.toks.len())
    }

    fn keyword_at_top(&self, keyword: &str, from: usize) -> Result<usize, PgSqlError> {
        lexer::find_top(self.toks, from, |t| t.is_keyword(keyword))
            .ok_or_else(|| self.unreadable(&keyword.to_uppercase()))
    }

    /// The WITH clause ahead of the statement's keyword at `start`, if the text begins with one.
    fn with(&self, start: usize) -> Result<Option<String>, PgSqlError> {
        Ok(match self.toks.first() {
            Some(t) if t.is_keyword("with") && start > 0 => Some(self.slice(0, start)),
            _ => None,
        })
    }

    /// Finds the statement keyword and then each present clause's keyword in order, at the top
    /// level, and slices the text between them (RETURNING or the end closes the last one).
    fn clauses(
        &self,
        statement: &'static str,
        present: &[(&'static str, bool)],
    ) -> Result<At, PgSqlError> {
        let start = self.keyword_at_top(statement, 0)?;
        let mut found = Vec::new();
        let mut cur = start;
        for (keyword, there) in present {
            if !there {
                continue;
            }
            let i = if *keyword == "from" {
                // `IS [NOT] DISTINCT FROM` in an assignment is not the FROM clause
                lexer::find_top(self.toks, cur + 1, |t| t.is_keyword("from"))
                    .and_then(|i| self.from_after(i))
            } else {
                lexer::find_top(self.toks, cur + 1, |t| t.is_keyword(keyword))
            }
            .ok_or_else(|| self.unreadable(&keyword.to_uppercase()))?;
            found.push((*keyword, i));
            cur = i;
        }
        let end = lexer::find_top(self.toks, cur + 1, |t| t.is_keyword("returning"))
            .unwrap_or_else(|| self.end());
        found.push(("", end));
        let slices = found
            .windows(2)
            .map(|w| (w[0].0, self.slice(w[0].1 + 1, w[1].1)))
            .collect();
        Ok(At { start, slices })
    }

    /// The first top-level FROM at or after `i` that is not part of `IS [NOT] DISTINCT FROM`.
    fn from_after(&self, mut i: usize) -> Option<usize> {
        loop {
            let distinct = i > 0 && self.toks[i - 1].is_keyword("distinct");
            if !distinct {
                return Some(i);
            }
            i = lexer::find_top(self.toks, i + 1, |t| t.is_keyword("from"))?;
        }
    }

    /// The query an INSERT takes its rows from: after the target, its column list and its
    /// OVERRIDING clause; up to ON CONFLICT, RETURNING or the end.
    fn insert_source(
        &self,
        start: usize,
        columns: bool,
        overriding: bool,
        on_conflict: bool,
    ) -> Result<String, PgSqlError> {
        let into = self.keyword_at_top("into", start)?;
        let mut i = into + 1;
        if columns {
            let open = lexer::find_top(self.toks, i, |t| t.is_char(b'('))
                .ok_or_else(|| self.unreadable("the column list"))?;
            i = lexer::find_top(self.toks, open + 1, |t| t.is_char(b')'))
                .ok_or_else(|| self.unreadable("the column list"))?
                + 1;
        }
        if overriding {
            i = self.keyword_at_top("value", i)? + 1;
        }
        let begin = lexer::find_top(self.toks, i, |t| {
            ["select", "values", "with", "table"]
                .iter()
                .any(|k| t.is_keyword(k))
                || t.is_char(b'(')
        })
        .ok_or_else(|| self.unreadable("the INSERT's query"))?;
        let end = if on_conflict {
            (begin..self.toks.len())
                .rev()
                .find(|&j| {
                    self.toks[j].depth == 0
                        && self.toks[j].is_keyword("on")
                        && self
                            .toks
                            .get(j + 1)
                            .is_some_and(|n| n.is_keyword("conflict"))
                })
                .ok_or_else(|| self.unreadable("ON CONFLICT"))?
        } else {
            lexer::find_top(self.toks, begin, |t| t.is_keyword("returning"))
                .unwrap_or_else(|| self.end())
        };
        Ok(self.slice(begin, end))
    }

    /// A MERGE's source (after USING) and join condition (after the last top-level ON before
    /// the first WHEN).
    fn merge_source(&self, start: usize) -> Result<(String, String), PgSqlError> {
        let using = self.keyword_at_top("using", start)?;
        let when = self.keyword_at_top("when", using)?;
        let on = (using..when)
            .rev()
            .find(|&j| self.toks[j].depth == 0 && self.toks[j].is_keyword("on"))
            .ok_or_else(|| self.unreadable("ON"))?;
        Ok((self.slice(using + 1, on), self.slice(on + 1, when)))
    }
}

/// Parses `probe` (one SELECT) and calls `pick` on it; a probe PostgreSQL does not read as one
/// SELECT is `None`. Runs in a subtransaction that is rolled back: a syntax error in a probe
/// (a slice cut in the wrong place) is caught, not raised.
fn probe<R>(probe: &str, pick: impl FnOnce(*mut pg_sys::SelectStmt) -> R) -> Option<R> {
    let text = super::cstring(probe).ok()?;
    let parsed =
        crate::spi_util::in_rolled_back_subtransaction(std::panic::AssertUnwindSafe(|| {
            // SAFETY: raw_parser reads the NUL-terminated text; the tree is only read.
            unsafe {
                let list =
                    pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
                let stmts = pgrx::PgList::<pg_sys::RawStmt>::from_pg(list);
                let raw = stmts.head()?;
                let node = (*raw).stmt;
                (stmts.len() == 1 && (*node).type_ == pg_sys::NodeTag::T_SelectStmt)
                    .then(|| pick(node.cast()))
            }
        }));
    parsed.ok().flatten()
}

fn proven(ok: Option<bool>, what: &str) -> Result<(), PgSqlError> {
    if ok == Some(true) {
        Ok(())
    } else {
        Err(PgSqlError::Unreadable(what.to_string()))
    }
}

/// SAFETY for the `prove_*` functions: the `clause` pointers are nodes of the statement's raw
/// tree, alive in the current memory context (the probe's subtransaction is a child of it).
unsafe fn prove_with(
    slice: &Option<String>,
    clause: *mut pg_sys::WithClause,
) -> Result<(), PgSqlError> {
    match slice {
        None if clause.is_null() => Ok(()),
        None => Err(PgSqlError::Unreadable("WITH".into())),
        Some(s) => proven(
            probe(&format!("{s}\nSELECT 1"), |q| {
                pg_sys::equal((*q).withClause.cast(), clause.cast())
            }),
            "WITH",
        ),
    }
}

unsafe fn prove_from(
    slice: &Option<String>,
    clause: *mut pg_sys::List,
    what: &str,
) -> Result<(), PgSqlError> {
    match slice {
        None if clause.is_null() => Ok(()),
        None => Err(PgSqlError::Unreadable(what.into())),
        Some(s) => proven(
            probe(&format!("SELECT 1 FROM {s}\n"), |q| {
                pg_sys::equal((*q).fromClause.cast(), clause.cast())
            }),
            what,
        ),
    }
}

unsafe fn prove_where(slice: &Option<String>, clause: *mut pg_sys::Node) -> Result<(), PgSqlError> {
    match slice {
        None if clause.is_null() => Ok(()),
        None => Err(PgSqlError::Unreadable("WHERE".into())),
        Some(s) => proven(
            probe(&format!("SELECT 1 WHERE {s}\n"), |q| {
                pg_sys::equal((*q).whereClause.cast(), clause.cast())
            }),
            "WHERE",
        ),
    }
}

unsafe fn prove_source(slice: &str, select: *mut pg_sys::Node) -> Result<(), PgSqlError> {
    proven(
        probe(&format!("SELECT * FROM ({slice}\n) AS source"), |q| {
            let from = pgrx::PgList::<pg_sys::Node>::from_pg((*q).fromClause);
            from.head().is_some_and(|f| {
                (*f).type_ == pg_sys::NodeTag::T_RangeSubselect
                    && pg_sys::equal(
                        (*(f as *mut pg_sys::RangeSubselect)).subquery.cast(),
                        select.cast(),
                    )
            })
        }),
        "the INSERT's query",
    )
}
