//! The vocabulary: what a word means in this database, said once by a curator — a table, a
//! column, an expression that stands as one (`length` = `milliseconds`), a measure
//! (`revenue` = `sum(unit_price * quantity)`), a filter (`active` = `support_rep_id IS NOT
//! NULL`) or the relationship two tables' join stands for (`billed`: invoice → customer).
//! `ai.ask` reads it before anything else in a question. Every meaning is judged by
//! PostgreSQL's analyser like any other SQL (`crate::pgsql::expr`); a curator's word is
//! reviewed at once, anyone else's is a proposal until a curator reviews it.
//!
//! This file is plain Rust (the word, the kind); `store.rs` reads and writes the table and
//! `api.rs` is the SQL surface.
pub mod api;
pub mod store;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VocabularyError {
    #[error("'{0}' is not a word to teach: {1}")]
    BadWord(String, &'static str),
    #[error("kind must be table, column, measure, filter or relationship, got '{0}'")]
    BadKind(String),
    #[error("{0}")]
    Meaning(String),
    #[error("{0} must not be NULL")]
    Null(&'static str),
    #[error("you may not SELECT from {0}")]
    NoPrivilege(String),
    #[error("only the extension's owner, a superuser or a member of role {0} reviews words")]
    NotCurator(String),
    #[error("no word with id {0}")]
    NoWord(i64),
    #[error("{0}")]
    Spi(String),
}

impl From<pgrx::spi::Error> for VocabularyError {
    fn from(e: pgrx::spi::Error) -> Self {
        VocabularyError::Spi(e.to_string())
    }
}

impl crate::error::UserError for VocabularyError {
    fn sqlstate(&self) -> pgrx::PgSqlErrorCode {
        use pgrx::PgSqlErrorCode::*;
        match self {
            VocabularyError::BadWord(..)
            | VocabularyError::BadKind(_)
            | VocabularyError::Meaning(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            VocabularyError::Null(_) => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            VocabularyError::NoPrivilege(_) | VocabularyError::NotCurator(_) => {
                ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            VocabularyError::NoWord(_) => ERRCODE_NO_DATA_FOUND,
            VocabularyError::Spi(_) => ERRCODE_INTERNAL_ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            VocabularyError::BadWord(..) => Some("teach one to four words of a question, e.g. 'revenue' or 'billed'".into()),
            VocabularyError::Meaning(_) => Some(
                "write one expression over the table's columns: a column (milliseconds), an expression (unit_price * quantity), a measure (sum(unit_price * quantity)), a filter (status = 'archived'); leave meaning NULL for the table itself; kind => 'relationship' with the other table's name".into(),
            ),
            VocabularyError::NoPrivilege(_) => Some("a word is taught by someone who may read its table".into()),
            VocabularyError::NotCurator(role) => Some(format!("ask a member of {role} to review it: ai.review_word(id, true)")),
            _ => None,
        }
    }
}

pub const KINDS: &[&str] = &["table", "column", "measure", "filter", "relationship"];

/// The word as stored: trimmed, lower case, single spaces; one to four words of letters,
/// digits, `-` or `'`, not all of them words every question has.
pub fn normalise(word: &str) -> Result<String, VocabularyError> {
    let w = word.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let bad = |why| Err(VocabularyError::BadWord(word.to_string(), why));
    if w.is_empty() {
        return bad("it is empty");
    }
    let parts: Vec<&str> = w.split(' ').collect();
    if parts.len() > 4 {
        return bad("it has more than four words");
    }
    if !w
        .chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '\'')
    {
        return bad("it holds punctuation");
    }
    if parts
        .iter()
        .all(|p| crate::ask::engine::words::is_function_word(p))
    {
        return bad("every question has it (a function word)");
    }
    Ok(w)
}

/// The kind a meaning has, from what PostgreSQL says about it: NULL is the table itself, an
/// aggregate a measure, a boolean a filter, anything else a column. `asked` (the curator's
/// word for it) must agree.
pub fn kind_of(
    asked: Option<&str>,
    has_meaning: bool,
    aggregate: bool,
    category: Option<char>,
) -> Result<&'static str, VocabularyError> {
    let inferred = match (has_meaning, aggregate, category) {
        (false, _, _) => "table",
        (true, true, _) => "measure",
        (true, false, Some('B')) => "filter",
        (true, false, _) => "column",
    };
    let Some(asked) = asked.map(|a| a.trim().to_lowercase()) else {
        return Ok(inferred);
    };
    let Some(&asked) = KINDS.iter().find(|k| **k == asked) else {
        return Err(VocabularyError::BadKind(asked));
    };
    let ok = asked == inferred
        // a boolean expression may be shown as a column
        || (asked == "column" && inferred == "filter");
    if !ok {
        return Err(VocabularyError::Meaning(format!(
            "the meaning is a {inferred} (PostgreSQL's analysis), not a {asked}"
        )));
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_normalised_and_function_words_refused() {
        assert_eq!(normalise("  Unit   Price ").unwrap(), "unit price");
        assert_eq!(normalise("billed").unwrap(), "billed");
        assert!(normalise("the").is_err());
        assert!(normalise("").is_err());
        assert!(normalise("a b c d e").is_err());
        assert!(normalise("x; drop").is_err());
    }

    #[test]
    fn the_kind_follows_the_analysis() {
        assert_eq!(kind_of(None, false, false, None).unwrap(), "table");
        assert_eq!(kind_of(None, true, true, Some('N')).unwrap(), "measure");
        assert_eq!(kind_of(None, true, false, Some('B')).unwrap(), "filter");
        assert_eq!(kind_of(None, true, false, Some('N')).unwrap(), "column");
        assert_eq!(kind_of(Some("column"), true, false, Some('B')).unwrap(), "column");
        assert!(kind_of(Some("measure"), true, false, Some('N')).is_err());
        assert!(kind_of(Some("colour"), true, false, Some('N')).is_err());
    }
}
