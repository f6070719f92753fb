//! SQL text in, facts out: exactly one statement, what kind it is, which relations it names.
//! Plain Rust over `sqlparser` (PostgreSQL dialect); every capability that accepts SQL from
//! a user or a model goes through here first.
use sqlparser::ast::{Statement, Visit};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqlError {
    #[error("the SQL text is empty")]
    Empty,
    #[error("expected exactly one SQL statement, found {0}")]
    Multiple(usize),
    #[error("the SQL does not parse: {0}")]
    Parse(String),
    #[error("expected a query (SELECT), got {0}")]
    NotAQuery(String),
}

impl SqlError {
    pub fn hint(&self) -> &'static str {
        match self {
            SqlError::Empty => "pass one SQL statement",
            SqlError::Multiple(_) => "send one statement per call; remove the extra ';'-separated statements",
            SqlError::Parse(_) => "check the syntax near the position given (PostgreSQL dialect)",
            SqlError::NotAQuery(_) => "only SELECT (or WITH ... SELECT) queries are accepted here",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Truncate,
    Copy,
    Ddl,
    Other,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Select => "SELECT",
            Kind::Insert => "INSERT",
            Kind::Update => "UPDATE",
            Kind::Delete => "DELETE",
            Kind::Merge => "MERGE",
            Kind::Truncate => "TRUNCATE",
            Kind::Copy => "COPY",
            Kind::Ddl => "DDL",
            Kind::Other => "OTHER",
        }
    }
}

/// Parses `sql` as exactly one PostgreSQL statement.
pub fn parse_one(sql: &str) -> Result<Statement, SqlError> {
    if sql.trim().trim_matches(';').trim().is_empty() {
        return Err(SqlError::Empty);
    }
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| SqlError::Parse(e.to_string()))?;
    match stmts.len() {
        0 => Err(SqlError::Empty),
        1 => Ok(stmts.remove(0)),
        n => Err(SqlError::Multiple(n)),
    }
}

pub fn kind(stmt: &Statement) -> Kind {
    match stmt {
        Statement::Query(_) => Kind::Select,
        Statement::Insert(_) => Kind::Insert,
        Statement::Update(_) => Kind::Update,
        Statement::Delete(_) => Kind::Delete,
        Statement::Merge(_) => Kind::Merge,
        Statement::Truncate(_) => Kind::Truncate,
        Statement::Copy { .. } => Kind::Copy,
        s => {
            let text = s.to_string().to_uppercase();
            if ["CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER"]
                .iter()
                .any(|p| text.starts_with(p))
            {
                Kind::Ddl
            } else {
                Kind::Other
            }
        }
    }
}

/// Parses a query: one statement, and a SELECT.
pub fn parse_query(sql: &str) -> Result<Statement, SqlError> {
    let stmt = parse_one(sql)?;
    match kind(&stmt) {
        Kind::Select => Ok(stmt),
        k => Err(SqlError::NotAQuery(k.as_str().to_string())),
    }
}

/// Relations the statement names, as written (CTE names included), deduplicated, in order.
pub fn relations(stmt: &Statement) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let _ = sqlparser::ast::visit_relations(stmt, |name| {
        let n = name.to_string();
        if !out.contains(&n) {
            out.push(n);
        }
        ControlFlow::<()>::Continue(())
    });
    let ctes = cte_names(stmt);
    out.retain(|r| !ctes.contains(r));
    out
}

fn cte_names(stmt: &Statement) -> Vec<String> {
    struct V(Vec<String>);
    impl sqlparser::ast::Visitor for V {
        type Break = ();
        fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
            if let Some(w) = &q.with {
                self.0.extend(w.cte_tables.iter().map(|c| c.alias.name.to_string()));
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(Vec::new());
    let _ = stmt.visit(&mut v);
    v.0
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_only() {
        assert_eq!(parse_one("   ;  "), Err(SqlError::Empty));
        assert_eq!(parse_one("SELECT 1; SELECT 2").unwrap_err(), SqlError::Multiple(2));
        assert!(matches!(parse_one("SELEC 1"), Err(SqlError::Parse(_))));
        assert!(parse_one("SELECT 1;").is_ok());
    }

    #[test]
    fn classifies_statements() {
        let k = |s: &str| kind(&parse_one(s).unwrap());
        assert_eq!(k("WITH x AS (SELECT 1) SELECT * FROM x"), Kind::Select);
        assert_eq!(k("INSERT INTO t VALUES (1)"), Kind::Insert);
        assert_eq!(k("UPDATE t SET a = 1"), Kind::Update);
        assert_eq!(k("DELETE FROM t WHERE a = 1"), Kind::Delete);
        assert_eq!(k("TRUNCATE t"), Kind::Truncate);
        assert_eq!(k("CREATE INDEX i ON t (a)"), Kind::Ddl);
        assert_eq!(k("ALTER TABLE t ADD COLUMN b int"), Kind::Ddl);
        assert_eq!(k("DROP TABLE t"), Kind::Ddl);
        assert_eq!(k("SET search_path = x"), Kind::Other);
    }

    #[test]
    fn queries_only_when_asked() {
        assert!(parse_query("SELECT 1").is_ok());
        assert_eq!(parse_query("DELETE FROM t").unwrap_err(), SqlError::NotAQuery("DELETE".into()));
    }

    #[test]
    fn lists_relations_without_ctes() {
        let s = parse_one(
            "WITH big AS (SELECT * FROM invoice WHERE total > 10)
             SELECT c.first_name FROM customer c JOIN big b ON b.customer_id = c.customer_id
             WHERE EXISTS (SELECT 1 FROM public.invoice_line l WHERE l.invoice_id = b.invoice_id)",
        )
        .unwrap();
        assert_eq!(relations(&s), vec!["invoice", "customer", "public.invoice_line"]);
    }
}
