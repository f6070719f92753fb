//! SQL text in, shapes out: one statement, what kind it is, which relations it names, for the
//! pure-Rust parts (impact analysis, the advisor's candidates, the ask engine). Plain Rust over
//! `sqlparser` (PostgreSQL dialect). It never decides what may run: `crate::pgsql` does, with
//! PostgreSQL's own parser and analyser.

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
    #[error("WHERE CURRENT OF refers to a cursor position, which a statement analysed on its own does not have")]
    CurrentOf,
}

impl SqlError {
    pub fn hint(&self) -> &'static str {
        match self {
            SqlError::Empty => "pass one SQL statement",
            SqlError::Multiple(_) => {
                "send one statement per call; remove the extra ';'-separated statements"
            }
            SqlError::Parse(_) => "check the syntax near the position given (PostgreSQL dialect)",
            SqlError::NotAQuery(_) => "only SELECT (or WITH ... SELECT) queries are accepted here",
            SqlError::CurrentOf => "name the row by its key instead, e.g. WHERE id = 42",
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

/// A parsed statement. `ONLY` after `DELETE FROM`, `UPDATE` or `TRUNCATE [TABLE]` is left out
/// (this parser would read it as the table's name): the form requests stored by earlier
/// versions show. Row-changing statements are read by PostgreSQL's parser ([`crate::pgsql`]).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub stmt: Statement,
}

/// Parses `sql` as exactly one PostgreSQL statement, without `ONLY` and refusing
/// `WHERE CURRENT OF`.
pub fn parse_statement(sql: &str) -> Result<Parsed, SqlError> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = match Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() {
        Ok(t) => t,
        Err(_) => return parse_one(sql).map(|stmt| Parsed { stmt }),
    };
    let words: Vec<(usize, Keyword)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => Some((i, w.keyword)),
            Token::Whitespace(_) => None,
            _ => Some((i, Keyword::NoKeyword)),
        })
        .collect();
    let mut drop_token = None;
    for (n, &(i, k)) in words.iter().enumerate() {
        let prev = |back: usize| n.checked_sub(back).map(|m| words[m].1);
        if k == Keyword::OF && prev(1) == Some(Keyword::CURRENT) && prev(2) == Some(Keyword::WHERE)
        {
            return Err(SqlError::CurrentOf);
        }
        if k == Keyword::ONLY
            && drop_token.is_none()
            && ((prev(1) == Some(Keyword::FROM) && prev(2) == Some(Keyword::DELETE))
                || prev(1) == Some(Keyword::UPDATE)
                || prev(1) == Some(Keyword::TRUNCATE)
                || (prev(1) == Some(Keyword::TABLE) && prev(2) == Some(Keyword::TRUNCATE)))
        {
            drop_token = Some(i);
        }
    }
    let Some(skip) = drop_token else {
        return parse_one(sql).map(|stmt| Parsed { stmt });
    };
    // the keyword is cut out of the text as written (a space in its place); everything else
    // stays byte for byte, quotes and comments included
    let at = &tokens[skip].span.start;
    let start = byte_offset(sql, at.line, at.column).ok_or(SqlError::Parse(
        "the position of ONLY could not be found".into(),
    ))?;
    let end = start + "ONLY".len();
    if !sql
        .get(start..end)
        .is_some_and(|w| w.eq_ignore_ascii_case("only"))
    {
        return Err(SqlError::Parse(
            "the position of ONLY could not be found".into(),
        ));
    }
    let text = format!("{} {}", &sql[..start], &sql[end..]);
    parse_one(&text).map(|stmt| Parsed { stmt })
}

/// The byte offset of a tokenizer location (line and column from 1, columns in characters).
fn byte_offset(sql: &str, line: u64, column: u64) -> Option<usize> {
    let mut offset = 0;
    for (n, l) in sql.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            return l
                .char_indices()
                .nth(column.checked_sub(1)? as usize)
                .map(|(i, _)| offset + i);
        }
        offset += l.len();
    }
    None
}

/// Parses `sql` as exactly one PostgreSQL statement.
pub fn parse_one(sql: &str) -> Result<Statement, SqlError> {
    if sql.trim().trim_matches(';').trim().is_empty() {
        return Err(SqlError::Empty);
    }
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| SqlError::Parse(e.to_string()))?;
    match stmts.len() {
        0 => Err(SqlError::Empty),
        1 => Ok(stmts.remove(0)),
        n => Err(SqlError::Multiple(n)),
    }
}

pub fn kind(stmt: &Statement) -> Kind {
    use sqlparser::ast::SetExpr;
    match stmt {
        // WITH ... INSERT / UPDATE / DELETE / MERGE is a data-modifying statement
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                kind(s)
            }
            _ => Kind::Select,
        },
        Statement::Insert(_) => Kind::Insert,
        Statement::Update(_) => Kind::Update,
        Statement::Delete(_) => Kind::Delete,
        Statement::Merge(_) => Kind::Merge,
        Statement::Truncate(_) => Kind::Truncate,
        Statement::Copy { .. } => Kind::Copy,
        s => {
            let text = s.to_string().to_uppercase();
            if [
                "CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER",
            ]
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
                self.0
                    .extend(w.cte_tables.iter().map(|c| c.alias.name.to_string()));
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(Vec::new());
    let _ = stmt.visit(&mut v);
    v.0
}

/// An identifier as SQL: bare when it is a plain lower-case identifier that is not a
/// reserved word, quoted otherwise (so generated SQL stays readable).
pub fn ident(c: &str) -> String {
    // quoted() is the one quoting rule; this only decides when quotes are not needed
    let plain = c
        .chars()
        .next()
        .is_some_and(|f| f.is_ascii_lowercase() || f == '_')
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
    if plain && !RESERVED.contains(&c) {
        c.to_string()
    } else {
        quoted(c)
    }
}

/// An identifier always in double quotes, inner quotes doubled: for SQL that is generated and
/// read back by code rather than people.
pub fn quoted(c: &str) -> String {
    format!("\"{}\"", c.replace('"', "\"\""))
}

/// Every keyword PostgreSQL 15, 17 or 18 does not leave unreserved (reserved, type/function
/// name and column name keywords, from the servers' `kwlist.h`): the words PostgreSQL's own
/// `quote_identifier` quotes.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "merge_action",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Why row-changing statements are read by PostgreSQL's parser (crate::pgsql::parts), not
    /// by this one: it reads literals PostgreSQL 16 and later take as integers as something
    /// else, so a rendering of its tree is another statement (0.2.0 counted and backed up the
    /// rows of that other statement, and ran the text).
    #[test]
    fn this_parser_reads_some_literals_otherwise_than_postgresql() {
        // PostgreSQL 16+: id = 5 both times; this parser: a bit string, and 0 named b101
        for (sql, read_as) in [
            (
                "DELETE FROM t WHERE id = 0x5",
                "DELETE FROM t WHERE id = X'5'",
            ),
            (
                "DELETE FROM t WHERE id IN (SELECT 0b101)",
                "DELETE FROM t WHERE id IN (SELECT 0 AS b101)",
            ),
        ] {
            assert_eq!(parse_one(sql).expect(sql).to_string(), read_as, "{sql}");
        }
    }

    #[test]
    fn identifiers_are_quoted_where_postgresql_would_quote_them() {
        for plain in ["customer", "_x1", "name", "type", "comment"] {
            assert_eq!(ident(plain), plain);
        }
        for (word, q) in [
            ("between", "\"between\""),
            ("position", "\"position\""),
            ("authorization", "\"authorization\""),
            ("user", "\"user\""),
            ("Track", "\"Track\""),
            ("we\"ird", "\"we\"\"ird\""),
            ("1st", "\"1st\""),
        ] {
            assert_eq!(ident(word), q);
        }
        assert_eq!(quoted("customer"), "\"customer\"");
    }

    #[test]
    fn one_statement_only() {
        assert_eq!(parse_one("   ;  "), Err(SqlError::Empty));
        assert_eq!(
            parse_one("SELECT 1; SELECT 2").unwrap_err(),
            SqlError::Multiple(2)
        );
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
        assert_eq!(
            k("WITH x AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM x)"),
            Kind::Delete
        );
        assert_eq!(k("WITH x AS (SELECT 1) UPDATE t SET a = 2"), Kind::Update);
    }

    #[test]
    fn only_is_kept_and_current_of_refused() {
        let p = parse_statement("DELETE FROM ONLY t WHERE id = 1").unwrap();
        assert_eq!(p.stmt.to_string(), "DELETE FROM t WHERE id = 1");
        let p = parse_statement("update  only t set a = 1").unwrap();
        assert_eq!(p.stmt.to_string(), "UPDATE t SET a = 1");
        let p = parse_statement("DELETE FROM \"only\" WHERE id = 1").unwrap();
        assert_eq!(p.stmt.to_string(), "DELETE FROM \"only\" WHERE id = 1");
        assert_eq!(
            parse_statement("DELETE FROM t WHERE CURRENT OF c").unwrap_err(),
            SqlError::CurrentOf
        );
        assert!(parse_statement("SELECT 'where current of c'").is_ok());
    }

    #[test]
    fn only_leaves_the_rest_of_the_text_as_written() {
        // a quote inside a literal, a comment, an E'' string, a dollar quote, several lines:
        // what is analysed is the statement as written, without ONLY
        for (sql, read) in [
            (
                "DELETE FROM ONLY t WHERE v = 'x'' OR true --'",
                "DELETE FROM t WHERE v = 'x'' OR true --'",
            ),
            (
                "UPDATE ONLY t SET a = E'it\\'s' WHERE b = 'é''ö'",
                "UPDATE t SET a = E'it\\'s' WHERE b = 'é''ö'",
            ),
            (
                "delete from\n  only t where v = $$a'b$$ -- only\n and w = 1",
                "DELETE FROM t WHERE v = $$a'b$$ AND w = 1",
            ),
            ("TRUNCATE ONLY \"We\"\"ird\"", "TRUNCATE \"We\"\"ird\""),
        ] {
            let p = parse_statement(sql).unwrap();
            assert_eq!(
                p.stmt.to_string(),
                parse_one(read).unwrap().to_string(),
                "{sql}"
            );
        }
    }

    #[test]
    fn queries_only_when_asked() {
        assert!(parse_query("SELECT 1").is_ok());
        assert_eq!(
            parse_query("DELETE FROM t").unwrap_err(),
            SqlError::NotAQuery("DELETE".into())
        );
        assert!(parse_query("WITH d AS (SELECT 1) DELETE FROM t").is_err());
    }

    #[test]
    fn lists_relations_without_ctes() {
        let s = parse_one(
            "WITH big AS (SELECT * FROM invoice WHERE total > 10)
             SELECT c.first_name FROM customer c JOIN big b ON b.customer_id = c.customer_id
             WHERE EXISTS (SELECT 1 FROM public.invoice_line l WHERE l.invoice_id = b.invoice_id)",
        )
        .unwrap();
        assert_eq!(
            relations(&s),
            vec!["invoice", "customer", "public.invoice_line"]
        );
    }
}
