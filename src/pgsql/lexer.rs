//! PostgreSQL's own lexer over a statement's text: where each token begins, which are
//! keywords, how deep each sits in parentheses (and CASE … END). Comments and whitespace are
//! the lexer's to skip; string forms (`E''`, `U&''`, dollar quotes, `0x1F` on 16 and later) are
//! its to read. Used to cut a statement into the clauses its raw parse tree says it has.
use super::PgSqlError;
use pgrx::pg_sys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// a keyword, lower case (reserved or not: the lexer does not know how the grammar uses it)
    Keyword(String),
    /// a one-character token: `( ) [ ] , ; . + - * / % ^ < > = :`
    Char(u8),
    /// an identifier, a constant, an operator, a parameter
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// byte offset of its first character in the text
    pub start: usize,
    /// nesting outside it: an opening `(` and its `)` are both at the outer depth
    pub depth: u32,
}

impl Token {
    pub fn is_keyword(&self, k: &str) -> bool {
        matches!(&self.kind, Kind::Keyword(w) if w == k)
    }

    pub fn is_char(&self, c: u8) -> bool {
        self.kind == Kind::Char(c)
    }
}

/// Sets each token's depth from the ones before it.
pub fn with_depths(mut toks: Vec<Token>) -> Vec<Token> {
    let mut depth: u32 = 0;
    for t in toks.iter_mut() {
        let closes = t.is_char(b')') || t.is_char(b']') || t.is_keyword("end");
        if closes {
            depth = depth.saturating_sub(1);
        }
        t.depth = depth;
        if t.is_char(b'(') || t.is_char(b'[') || t.is_keyword("case") {
            depth += 1;
        }
    }
    toks
}

/// The first token at or after `from`, outside all parentheses, for which `pred` holds.
pub fn find_top(toks: &[Token], from: usize, pred: impl Fn(&Token) -> bool) -> Option<usize> {
    (from..toks.len()).find(|&i| toks[i].depth == 0 && pred(&toks[i]))
}

/// A clause's text as written, trimmed; a last line holding `--` keeps a newline after it, so
/// that text appended after the clause is never taken into a line comment.
pub fn clause_text(s: &str) -> String {
    let t = s.trim();
    if t.lines().last().is_some_and(|l| l.contains("--")) {
        format!("{t}\n")
    } else {
        t.to_string()
    }
}

/// Keyword tokens are numbered from here, one per entry of PostgreSQL's keyword list, above
/// every token number its grammar uses.
const KEYWORD_BASE: usize = 20_000;

/// The tokens of `sql` by PostgreSQL's lexer, under the caller's settings (the caller pins
/// standard_conforming_strings). A lexical error is PostgreSQL's ERROR.
pub fn tokens(sql: &str) -> Result<Vec<Token>, PgSqlError> {
    let text = super::cstring(sql)?;
    let mut out = Vec::new();
    // SAFETY: scanner_init copies the NUL-terminated text into its own buffer and reads the
    // keyword list; the token table it is given outlives the scan; core_yylex writes the
    // token's value and offset; scanner_finish frees the scanner.
    unsafe {
        let list = std::ptr::addr_of!(pg_sys::ScanKeywords);
        let n = (*list).num_keywords.max(0) as usize;
        let numbers: Vec<u16> = (0..n).map(|i| (KEYWORD_BASE + i) as u16).collect();
        let mut extra = pg_sys::core_yy_extra_type::default();
        let scanner = pg_sys::scanner_init(text.as_ptr(), &mut extra, list, numbers.as_ptr());
        loop {
            let mut value = pg_sys::core_YYSTYPE::default();
            let mut at: std::ffi::c_int = 0;
            let t = pg_sys::core_yylex(&mut value, &mut at, scanner);
            if t <= 0 {
                break;
            }
            let t = t as usize;
            let kind = if (KEYWORD_BASE..KEYWORD_BASE + n).contains(&t) {
                Kind::Keyword(
                    std::ffi::CStr::from_ptr(value.keyword)
                        .to_string_lossy()
                        .into_owned(),
                )
            } else if t < 256 {
                Kind::Char(t as u8)
            } else {
                Kind::Other
            };
            out.push(Token {
                kind,
                start: at.max(0) as usize,
                depth: 0,
            });
        }
        pg_sys::scanner_finish(scanner);
    }
    Ok(with_depths(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: Kind, start: usize) -> Token {
        Token {
            kind,
            start,
            depth: 0,
        }
    }

    #[test]
    fn parentheses_and_case_nest() {
        let kw = |w: &str, s| t(Kind::Keyword(w.into()), s);
        let toks = with_depths(vec![
            kw("where", 0),
            t(Kind::Char(b'('), 6),
            kw("case", 7),
            kw("when", 12),
            kw("end", 20),
            t(Kind::Char(b')'), 23),
            kw("returning", 25),
        ]);
        let depths: Vec<u32> = toks.iter().map(|t| t.depth).collect();
        assert_eq!(depths, vec![0, 0, 1, 2, 1, 0, 0]);
        assert_eq!(find_top(&toks, 1, |t| t.is_keyword("when")), None);
        assert_eq!(find_top(&toks, 0, |t| t.is_keyword("returning")), Some(6));
    }

    #[test]
    fn a_trailing_line_comment_keeps_its_newline() {
        assert_eq!(clause_text("  a = 1 -- why\n  "), "a = 1 -- why\n");
        assert_eq!(clause_text(" a = 1 /* why */ "), "a = 1 /* why */");
        assert_eq!(clause_text("a = 1\n"), "a = 1");
    }
}
