//! Whether SQL that ai_architect did not write itself (a stored sample, a model's answer) may
//! run: exactly one plain SELECT, with nothing anywhere in its tree — CTEs, subqueries,
//! function arguments — that writes, locks rows, leaves the query, or calls a denied function.
//! Plain Rust; the read-only transaction it later runs in is the second line of defence.
use super::{kind, parse_one, Kind, SqlError};
use sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use std::ops::ControlFlow;

/// Functions generated SQL may never call. A trailing `*` is a prefix.
pub const DENIED_FUNCTIONS: &[&str] = &[
    // files and large objects on the server
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_*",
    "pg_stat_file",
    "pg_file_*",
    "pg_logdir_ls",
    "lo_*",
    // other connections and other queries
    "dblink*",
    "query_to_xml*",
    "cursor_to_xml*",
    "table_to_xml*",
    "schema_to_xml*",
    "database_to_xml*",
    // time, settings, sessions, the server
    "pg_sleep*",
    "set_config",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_switch_wal",
    "pg_create_restore_point",
    // locks and sequences
    "pg_advisory*",
    "pg_try_advisory*",
    "nextval",
    "setval",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unsafe {
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("only a SELECT may run, this is {0}")]
    NotASelect(&'static str),
    #[error("a WITH clause that modifies data ({0})")]
    DataModifyingCte(&'static str),
    #[error("SELECT INTO creates a table")]
    SelectInto,
    #[error("FOR UPDATE / FOR SHARE locks rows")]
    Locking,
    #[error("it calls {0}, which generated SQL may not call")]
    Denied(String),
}

impl Unsafe {
    pub fn hint(&self) -> String {
        match self {
            Unsafe::Sql(e) => e.hint().to_string(),
            Unsafe::Denied(_) => {
                "denied: file access, other connections, sleeps, settings, backends, advisory locks, sequences and the functions in ai.denied_functions".into()
            }
            _ => "only one read-only SELECT (or WITH ... SELECT) is ever run".into(),
        }
    }
}

fn matches(name: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn function_name(n: &ObjectName) -> String {
    match n.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.to_lowercase(),
        Some(other) => other.to_string().to_lowercase(),
        None => String::new(),
    }
}

/// Parses `sql` and checks it may run; `extra_denied` extends [`DENIED_FUNCTIONS`] (same
/// syntax, lower case).
pub fn check_select(sql: &str, extra_denied: &[String]) -> Result<Statement, Unsafe> {
    let stmt = parse_one(sql)?;
    match kind(&stmt) {
        Kind::Select => {}
        k => return Err(Unsafe::NotASelect(k.as_str())),
    }
    struct V<'a> {
        extra: &'a [String],
        found: Option<Unsafe>,
    }
    impl V<'_> {
        fn check_name(&mut self, n: &ObjectName) -> ControlFlow<()> {
            let name = function_name(n);
            let denied = DENIED_FUNCTIONS.iter().any(|p| matches(&name, p))
                || self.extra.iter().any(|p| matches(&name, p));
            if denied {
                self.found = Some(Unsafe::Denied(name));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    impl Visitor for V<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            let what = match q.body.as_ref() {
                SetExpr::Insert(_) => Some("INSERT"),
                SetExpr::Update(_) => Some("UPDATE"),
                SetExpr::Delete(_) => Some("DELETE"),
                SetExpr::Merge(_) => Some("MERGE"),
                _ => None,
            };
            if let Some(w) = what {
                self.found = Some(Unsafe::DataModifyingCte(w));
                return ControlFlow::Break(());
            }
            if !q.locks.is_empty() {
                self.found = Some(Unsafe::Locking);
                return ControlFlow::Break(());
            }
            if let SetExpr::Select(s) = q.body.as_ref() {
                if s.into.is_some() {
                    self.found = Some(Unsafe::SelectInto);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                return self.check_name(&f.name);
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            match t {
                // a set-returning function in FROM
                TableFactor::Table {
                    name,
                    args: Some(_),
                    ..
                } => self.check_name(name),
                TableFactor::Function { name, .. } => self.check_name(name),
                _ => ControlFlow::Continue(()),
            }
        }
        fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
            // a nested statement other than a query (e.g. inside a CTE)
            if !matches!(s, Statement::Query(_)) {
                self.found = Some(Unsafe::NotASelect(kind(s).as_str()));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V {
        extra: extra_denied,
        found: None,
    };
    let _ = stmt.visit(&mut v);
    match v.found {
        Some(e) => Err(e),
        None => Ok(stmt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> Result<(), Unsafe> {
        check_select(sql, &[]).map(|_| ())
    }

    #[test]
    fn plain_selects_pass() {
        assert!(check("SELECT name FROM artist WHERE artist_id = 1").is_ok());
        assert!(check("WITH t AS (SELECT 1 AS a) SELECT count(*), max(a) FROM t").is_ok());
        assert!(check("SELECT a.name, (SELECT count(*) FROM album b WHERE b.artist_id = a.artist_id) FROM artist a").is_ok());
        assert!(check("SELECT * FROM generate_series(1, 3)").is_ok());
        assert!(check("SELECT 'pg_sleep(1)' AS text_not_a_call").is_ok());
    }

    #[test]
    fn more_than_one_statement_or_not_a_select() {
        assert_eq!(
            check("SELECT 1; DROP TABLE artist").unwrap_err(),
            Unsafe::Sql(SqlError::Multiple(2))
        );
        assert_eq!(
            check("COMMIT; SELECT 1").unwrap_err(),
            Unsafe::Sql(SqlError::Multiple(2))
        );
        assert_eq!(
            check("DELETE FROM artist").unwrap_err(),
            Unsafe::NotASelect("DELETE")
        );
        assert!(matches!(
            check("SET ROLE postgres").unwrap_err(),
            Unsafe::NotASelect(_)
        ));
        assert!(matches!(
            check("RESET ALL").unwrap_err(),
            Unsafe::NotASelect(_)
        ));
        assert!(matches!(
            check("COPY artist TO '/tmp/x'").unwrap_err(),
            Unsafe::NotASelect(_)
        ));
        assert!(matches!(check("BEGIN").unwrap_err(), Unsafe::NotASelect(_)));
    }

    #[test]
    fn writes_locks_and_into_anywhere() {
        assert!(matches!(
            check("WITH gone AS (DELETE FROM artist RETURNING *) SELECT * FROM gone"),
            Err(Unsafe::DataModifyingCte("DELETE")) | Err(Unsafe::NotASelect(_))
        ));
        assert!(check(
            "WITH x AS (SELECT 1), y AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM x"
        )
        .is_err());
        assert_eq!(
            check("SELECT * INTO copy FROM artist").unwrap_err(),
            Unsafe::SelectInto
        );
        assert_eq!(
            check("SELECT * FROM artist FOR UPDATE").unwrap_err(),
            Unsafe::Locking
        );
        assert_eq!(
            check("SELECT * FROM (SELECT * FROM artist FOR SHARE) s").unwrap_err(),
            Unsafe::Locking
        );
    }

    #[test]
    fn denied_functions_anywhere_in_the_tree() {
        let denied = |sql: &str| match check(sql) {
            Err(Unsafe::Denied(n)) => n,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(denied("SELECT pg_read_file('/etc/passwd')"), "pg_read_file");
        assert_eq!(denied("SELECT pg_catalog.pg_sleep(100)"), "pg_sleep");
        assert_eq!(denied("SELECT name FROM artist WHERE artist_id IN (SELECT pg_sleep_for('1 s')::text::int)"), "pg_sleep_for");
        assert_eq!(
            denied("SELECT length(upper(pg_read_binary_file('x')::text))"),
            "pg_read_binary_file"
        );
        assert_eq!(denied("SELECT * FROM pg_ls_dir('.')"), "pg_ls_dir");
        assert_eq!(
            denied("SELECT set_config('role', 'postgres', false)"),
            "set_config"
        );
        assert_eq!(denied("SELECT lo_import('/etc/passwd')"), "lo_import");
        assert_eq!(
            denied("SELECT * FROM dblink('x', 'DELETE FROM t') AS r(a int)"),
            "dblink"
        );
        assert_eq!(
            denied("SELECT pg_terminate_backend(1)"),
            "pg_terminate_backend"
        );
        assert_eq!(denied("SELECT pg_advisory_lock(1)"), "pg_advisory_lock");
        assert_eq!(
            denied("SELECT query_to_xml('DELETE FROM t', true, true, '')"),
            "query_to_xml"
        );
        assert_eq!(
            denied("WITH t AS (SELECT pg_reload_conf()) SELECT * FROM t"),
            "pg_reload_conf"
        );
        // an admin's own additions
        assert_eq!(
            check_select("SELECT secret_fn(1)", &["secret_*".to_string()]).unwrap_err(),
            Unsafe::Denied("secret_fn".into())
        );
    }
}
