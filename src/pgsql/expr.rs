//! An expression written over one table (`unit_price * quantity`,
//! `sum(invoice_line.unit_price * invoice_line.quantity)`, `status = 'archived'`), as a
//! curator teaches it: judged by PostgreSQL's lexer, parser and analyser like any other SQL
//! (one expression, the allow list, the caller's rights, no other table, no subquery), and
//! turned into a template whose every column reference is qualified by a placeholder — proven
//! to mean exactly what was written by comparing the two analysed trees.
use super::lexer::{self, Kind, Token};
use super::{policy, Lists, PgSqlError, Prepared};
use crate::spi_util::Spi;
use pgrx::pg_sys;

/// Stands for the alias of the expression's table in a template.
pub const PLACEHOLDER: &str = "\u{1}\u{2}";

/// Aggregates a taught measure may be one of.
pub const AGGREGATES: &[&str] = &["sum", "avg", "min", "max"];

/// What PostgreSQL says about a taught expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    /// its type as format_type prints it (of the aggregate when there is one)
    pub data_type: String,
    /// pg_type.typcategory of that type: 'N' numeric, 'B' boolean, 'S' string, 'D' date/time
    pub category: char,
    /// the aggregate, when the expression is one of [`AGGREGATES`] over a row expression
    pub aggregate: Option<String>,
    /// the row expression, every column reference written `PLACEHOLDER.column`
    pub template: String,
    /// the attribute numbers of the table's columns it reads, ascending
    pub columns: Vec<i16>,
}

/// The table an expression is over.
pub struct Over<'a> {
    pub oid: u32,
    pub schema: &'a str,
    pub name: &'a str,
    pub columns: &'a [String],
}

fn bad(why: impl Into<String>) -> PgSqlError {
    PgSqlError::NotAnExpression(why.into())
}

/// Judges `text` as an expression over `table` for the current role, with `search_path`.
pub fn expression(
    text: &str,
    table: &Over,
    search_path: &str,
    lists: &Lists,
) -> Result<Expression, PgSqlError> {
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(bad("it contains a control character"));
    }
    let toks = super::pinned(|| lexer::tokens(text))?;
    balanced(&toks)?;
    let q = format!("{}.{}", ident(table.schema), ident(table.name));
    // as written, the table is named as in its FROM clause (`track.x`, `public.track.x`)
    let as_written = |e: &str| format!("SELECT (\n{e}\n) FROM {q}");
    let probe = |e: &str, alias: &str| format!("SELECT (\n{e}\n) FROM {q} AS {alias}");
    // one aggregate of a row expression, as PostgreSQL's analysis says (not a function
    // that merely bears an aggregate's name)
    let whole = judge(&as_written(text), table.oid, search_path, lists)?;
    let split = split_aggregate(text, &toks)
        .filter(|(agg, _)| whole.aggregates && (AGGREGATES.contains(&agg.as_str()) || agg == "count"));
    let (aggregate, inner) = match split {
        Some((agg, _)) if agg == "count" => {
            return Err(bad("count(...) is not a measure a word can name (a question counts rows by itself)"))
        }
        Some((agg, inner)) => (Some(agg), inner),
        None => (None, text.to_string()),
    };
    // the row expression: no aggregate, window, subquery or set-returning function
    let row = match &aggregate {
        Some(_) => Some(judge(&as_written(&inner), table.oid, search_path, lists)?),
        None => None,
    };
    let row = row.as_ref().unwrap_or(&whole);
    let columns = row.columns.clone();
    if row.aggregates {
        return Err(bad(
            "it holds an aggregate inside a larger expression (write one aggregate of a row expression, e.g. sum(price * quantity))",
        ));
    }
    let inner_toks = super::pinned(|| lexer::tokens(&inner))?;
    let alias = "ai_t";
    let mut template = None;
    for keywords in [true, false] {
        let t = qualify(&inner, &inner_toks, table, keywords);
        let again = judge(
            &probe(&t.replace(PLACEHOLDER, alias), alias),
            table.oid,
            search_path,
            lists,
        );
        if again.is_ok_and(|a| a.tree == row.tree) {
            template = Some(t);
            break;
        }
    }
    let template = template.ok_or_else(|| {
        bad("its column references could not be qualified without changing its meaning (qualify them with the table's name)")
    })?;
    Ok(Expression {
        data_type: whole.data_type,
        category: whole.category,
        aggregate,
        template,
        columns,
    })
}

struct Judged {
    data_type: String,
    category: char,
    aggregates: bool,
    /// the analysed expression, without its positions in the text
    tree: String,
    /// the attribute numbers of the columns it reads
    columns: Vec<i16>,
}

fn judge(sql: &str, table: u32, search_path: &str, lists: &Lists) -> Result<Judged, PgSqlError> {
    super::prepare(sql, search_path, |p| {
        policy::check_select(&p.facts, lists)?;
        if let Some(r) = p.facts.relations.iter().find(|r| r.oid != table) {
            return Err(bad(format!(
                "it reads {} (an expression is over its own table only)",
                r.qualified()
            )));
        }
        // SAFETY: the plan source is alive inside prepare's callback; only read here.
        unsafe { target(p) }
    })?
}

unsafe fn target(p: &Prepared) -> Result<Judged, PgSqlError> {
    let queries = pgrx::PgList::<pg_sys::Query>::from_pg((*p.source).query_list);
    let q = match (queries.len(), queries.head()) {
        (1, Some(q)) => q,
        _ => return Err(bad("it is not one expression")),
    };
    if (*q).hasSubLinks || (*q).hasWindowFuncs || (*q).hasTargetSRFs {
        return Err(bad(
            "it holds a subquery, a window function or a set-returning function",
        ));
    }
    let tl = pgrx::PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList);
    let rtable = pgrx::PgList::<pg_sys::RangeTblEntry>::from_pg((*q).rtable);
    let plain = (*q).jointree.is_null() || (*(*q).jointree).quals.is_null();
    let te = match (tl.len(), tl.head()) {
        (1, Some(te)) if rtable.len() == 1 && plain && (*q).groupClause.is_null() => te,
        _ => return Err(bad("it is not one expression")),
    };
    let expr = (*te).expr as *mut pg_sys::Node;
    let typ = pg_sys::exprType(expr);
    let tree = std::ffi::CStr::from_ptr(pg_sys::nodeToString(expr as *const std::ffi::c_void))
        .to_string_lossy()
        .into_owned();
    let data_type = std::ffi::CStr::from_ptr(pg_sys::format_type_be(typ))
        .to_string_lossy()
        .into_owned();
    let category = Spi::get_one_with_args::<String>(
        "SELECT typcategory::text FROM pg_catalog.pg_type WHERE oid = $1",
        &[typ.into()],
    )
    .map_err(|e| PgSqlError::Spi(e.to_string()))?
    .and_then(|c| c.chars().next())
    .unwrap_or('X');
    // the one relation is range table entry 1
    let mut read: *mut pg_sys::Bitmapset = std::ptr::null_mut();
    pg_sys::pull_varattnos(expr, 1, &mut read);
    let columns = super::columns::user_attnums(read);
    Ok(Judged {
        data_type,
        category,
        aggregates: (*q).hasAggs,
        tree: without_locations(&tree),
        columns,
    })
}

/// A node tree's text without its `:location N` fields (offsets into the text).
fn without_locations(tree: &str) -> String {
    let mut out = String::with_capacity(tree.len());
    let mut rest = tree;
    while let Some(i) = rest.find(":location ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + ":location ".len()..];
        let n = after
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(after.len());
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

fn ident(s: &str) -> String {
    crate::sqlparse::ident(s)
}

/// Parentheses and brackets close what they opened, and nothing ends the statement.
fn balanced(toks: &[Token]) -> Result<(), PgSqlError> {
    if toks.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut depth = 0i64;
    for t in toks {
        if t.is_char(b';') {
            return Err(bad("it holds a ';'"));
        }
        if t.is_char(b'(') || t.is_char(b'[') {
            depth += 1;
        } else if t.is_char(b')') || t.is_char(b']') {
            depth -= 1;
            if depth < 0 {
                return Err(bad("a parenthesis closes what it did not open"));
            }
        }
    }
    if depth != 0 {
        return Err(bad("a parenthesis is not closed"));
    }
    Ok(())
}

/// `agg( inner )` as the whole text: the aggregate's name (lower case) and the inner text.
fn split_aggregate(text: &str, toks: &[Token]) -> Option<(String, String)> {
    if toks.len() < 4 || !toks[1].is_char(b'(') || !toks[toks.len() - 1].is_char(b')') {
        return None;
    }
    let (name, _) = identifier(text, &toks[0])?;
    // the '(' after the name closes at the very end
    let mut depth = 0i64;
    for (i, t) in toks.iter().enumerate().skip(1) {
        if t.is_char(b'(') || t.is_char(b'[') {
            depth += 1;
        } else if t.is_char(b')') || t.is_char(b']') {
            depth -= 1;
            if depth == 0 && i != toks.len() - 1 {
                return None;
            }
        }
    }
    let inner = text[toks[1].start + 1..toks[toks.len() - 1].start].trim();
    Some((name, inner.to_string()))
}

/// The identifier a token is (its name as PostgreSQL folds it, and where its text ends), or
/// None for a constant, an operator or a prefixed string (`E'...'`).
fn identifier(text: &str, t: &Token) -> Option<(String, usize)> {
    if !matches!(t.kind, Kind::Other | Kind::Keyword(_)) {
        return None;
    }
    let s = &text[t.start..];
    if let Some(body) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|(_, n)| *n == '"') {
                    chars.next();
                    name.push('"');
                    continue;
                }
                return Some((name, t.start + 1 + i + 1));
            }
            name.push(c);
        }
        return None;
    }
    let first = s.chars().next()?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let len = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(s.len());
    if s[len..].starts_with('\'') || s[len..].starts_with('&') {
        return None;
    }
    Some((s[..len].to_ascii_lowercase(), t.start + len))
}

/// `text` with every reference to a column of `table` written `PLACEHOLDER.column`: bare
/// names get the placeholder, `table.` and `schema.table.` qualifiers become it. Keywords that
/// name a column (`year`, `name`) are qualified only when `keywords`.
fn qualify(text: &str, toks: &[Token], table: &Over, keywords: bool) -> String {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let text_of = |t: &Token| &text[t.start..];
    let after_cast = |i: usize| {
        i > 0 && (text_of(&toks[i - 1]).starts_with("::") || toks[i - 1].is_keyword("as"))
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let Some((name, end)) = identifier(text, t) else {
            i += 1;
            continue;
        };
        let prev_dot = i > 0 && toks[i - 1].is_char(b'.');
        let next_dot = toks.get(i + 1).is_some_and(|n| n.is_char(b'.'));
        let next_call = toks.get(i + 1).is_some_and(|n| n.is_char(b'('));
        if prev_dot || next_call || after_cast(i) {
            i += 1;
            continue;
        }
        if next_dot {
            // schema.table.column
            let second = toks.get(i + 2).and_then(|n| identifier(text, n));
            let third_dot = toks.get(i + 3).is_some_and(|n| n.is_char(b'.'));
            if let (Some((tname, tend)), true) = (&second, third_dot) {
                if name == table.schema && tname == table.name {
                    edits.push((t.start, *tend, PLACEHOLDER.to_string()));
                    i += 3;
                    continue;
                }
            }
            if name == table.name {
                edits.push((t.start, end, PLACEHOLDER.to_string()));
            }
            i += 2;
            continue;
        }
        let is_keyword = matches!(t.kind, Kind::Keyword(_));
        if table.columns.contains(&name) && (keywords || !is_keyword) {
            edits.push((t.start, t.start, format!("{PLACEHOLDER}.")));
        }
        i += 1;
    }
    let mut out = text.to_string();
    for (from, to, with) in edits.into_iter().rev() {
        out.replace_range(from..to, &with);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(kind: Kind, start: usize) -> Token {
        Token {
            kind,
            start,
            depth: 0,
        }
    }
    fn over<'a>(cols: &'a [String]) -> Over<'a> {
        Over {
            oid: 1,
            schema: "public",
            name: "invoice_line",
            columns: cols,
        }
    }

    #[test]
    fn locations_are_left_out_of_the_tree() {
        assert_eq!(
            without_locations("{VAR :varno 1 :location 7} {CONST :location -1}"),
            "{VAR :varno 1 } {CONST }"
        );
    }

    #[test]
    fn qualifiers_become_the_placeholder() {
        let cols = vec!["unit_price".to_string(), "quantity".to_string()];
        // invoice_line.unit_price * quantity
        let text = "invoice_line.unit_price * quantity";
        let toks = vec![
            tok(Kind::Other, 0),
            tok(Kind::Char(b'.'), 12),
            tok(Kind::Other, 13),
            tok(Kind::Char(b'*'), 24),
            tok(Kind::Other, 26),
        ];
        assert_eq!(
            qualify(text, &toks, &over(&cols), true),
            format!("{PLACEHOLDER}.unit_price * {PLACEHOLDER}.quantity")
        );
        // round(quantity) and 'quantity' stay what they are
        let text = "round(quantity) || 'quantity'";
        let toks = vec![
            tok(Kind::Other, 0),
            tok(Kind::Char(b'('), 5),
            tok(Kind::Other, 6),
            tok(Kind::Char(b')'), 14),
            tok(Kind::Other, 16),
            tok(Kind::Other, 19),
        ];
        assert_eq!(
            qualify(text, &toks, &over(&cols), true),
            format!("round({PLACEHOLDER}.quantity) || 'quantity'")
        );
    }

    #[test]
    fn one_aggregate_of_the_whole_text_is_split_off() {
        let text = "sum(a * b)";
        let toks = vec![
            tok(Kind::Other, 0),
            tok(Kind::Char(b'('), 3),
            tok(Kind::Other, 4),
            tok(Kind::Char(b'*'), 6),
            tok(Kind::Other, 8),
            tok(Kind::Char(b')'), 9),
        ];
        assert_eq!(
            split_aggregate(text, &toks),
            Some(("sum".into(), "a * b".into()))
        );
        // sum(a) / sum(b) is not one aggregate
        let text = "sum(a) / sum(b)";
        let toks = vec![
            tok(Kind::Other, 0),
            tok(Kind::Char(b'('), 3),
            tok(Kind::Other, 4),
            tok(Kind::Char(b')'), 5),
            tok(Kind::Char(b'/'), 7),
            tok(Kind::Other, 9),
            tok(Kind::Char(b'('), 12),
            tok(Kind::Other, 13),
            tok(Kind::Char(b')'), 14),
        ];
        assert_eq!(split_aggregate(text, &toks), None);
    }

    #[test]
    fn unbalanced_text_is_refused() {
        let open = vec![tok(Kind::Char(b'('), 0), tok(Kind::Other, 1)];
        assert!(balanced(&open).is_err());
        let close = vec![tok(Kind::Other, 0), tok(Kind::Char(b')'), 1)];
        assert!(balanced(&close).is_err());
        let semi = vec![tok(Kind::Other, 0), tok(Kind::Char(b';'), 1)];
        assert!(balanced(&semi).is_err());
    }
}
