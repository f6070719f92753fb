//! The in-process question → SQL engine: deterministic, no model, works on schemas it has
//! never seen. Plain Rust; the caller hands it the schema the user may read (with catalog
//! similarities) and the values of text columns that phrases of the question equal.
//!
//! 1. literals: quoted strings, numbers, dates ("in 2023", "last month", "older than 6
//!    months"), comparisons ("more than 10 tracks", "longer than 5 minutes");
//! 2. value linking: a phrase equal to a stored value becomes `column = 'value'`;
//! 3. schema linking: phrases → tables and columns through names, a small thesaurus and the
//!    comments and descriptions of the catalog;
//! 4. intent: count, list, sum / avg / min / max, top-N and superlatives, grouping ("per",
//!    "each", "by"), negation ("never", "without", "no");
//! 5. SQL: joins along the shortest foreign-key path, DISTINCT where a join fans out.
//!
//! Every question word is either understood or counted against the confidence; a question
//! the engine cannot place is an error that says what it did not understand.
mod legend;
mod plan;
pub mod sql;
pub mod vocabulary;
pub mod words;

pub use plan::answer;
use words::tokenize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Numeric,
    Date,
    Timestamp,
    Bool,
    Other,
}

impl Kind {
    pub fn of(data_type: &str) -> Kind {
        let t = data_type.to_lowercase();
        if t.starts_with("timestamp") {
            Kind::Timestamp
        } else if t == "date" {
            Kind::Date
        } else if ["integer", "bigint", "smallint"].contains(&t.as_str()) {
            Kind::Integer
        } else if t.starts_with("numeric")
            || t.starts_with("decimal")
            || t == "real"
            || t == "double precision"
            || t == "money"
        {
            Kind::Numeric
        } else if t.starts_with("character") || t == "text" || t == "name" || t == "citext" {
            Kind::Text
        } else if t == "boolean" {
            Kind::Bool
        } else {
            Kind::Other
        }
    }
    pub fn numeric(self) -> bool {
        matches!(self, Kind::Integer | Kind::Numeric)
    }
    pub fn temporal(self) -> bool {
        matches!(self, Kind::Date | Kind::Timestamp)
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub pk: bool,
    /// Comment and human description.
    pub notes: String,
    /// Similarity of the column's catalog description (its embedding) to the question.
    pub similarity: f64,
    /// A taught expression standing for the column (`vocabulary`): its SQL, every column
    /// reference qualified by the table's placeholder. None for a real column.
    pub expr: Option<String>,
    /// The aggregate a taught measure implies (`sum`, `avg`, `min`, `max`).
    pub agg: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub notes: String,
    pub rows: f64,
    pub columns: Vec<Column>,
    /// Similarity of the table's catalog description to the question (0 when unknown).
    pub similarity: f64,
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub from: usize,
    pub from_columns: Vec<String>,
    pub to: usize,
    pub to_columns: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: Vec<Table>,
    pub fks: Vec<ForeignKey>,
    /// Words a curator taught, read before anything else.
    pub vocabulary: Vec<vocabulary::Taught>,
}

/// A stored value of a text column equal (case-insensitively) to a phrase of the question.
#[derive(Debug, Clone)]
pub struct ValueHit {
    pub table: usize,
    pub column: usize,
    pub value: String,
    /// The phrase, lower case, as [`phrases`] produced it.
    pub phrase: String,
    /// The column holds few distinct values (a category rather than a name).
    pub categorical: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub sql: String,
    pub confidence: f64,
    /// Qualified names of the tables the SQL reads.
    pub tables: Vec<String>,
    pub explanation: String,
    /// Question words the SQL does not account for.
    pub unexplained: Vec<String>,
    /// Question words accounted for by their place rather than by a name: a verb or a word
    /// between two joined tables read as their relationship ("billed", "bought"), a word
    /// sharing its first six letters with a name. The reading to check first.
    pub assumed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotUnderstood {
    /// No table could be linked to the question.
    NoSubject { unexplained: Vec<String> },
}

/// Whether the engine reads `word` by itself, whatever the schema (an intent word such as
/// "average", "most", "total"): such a word, left unexplained, names no column to teach.
pub fn reads_by_itself(word: &str) -> bool {
    matches!(
        answer(word, &Schema::default(), &[]),
        Err(NotUnderstood::NoSubject { unexplained }) if unexplained.is_empty()
    )
}

/// The phrases (1 to 4 consecutive words, lower case, also with the last word in the
/// singular, and every quoted string) whose stored values the engine wants to know about.
pub fn phrases(question: &str) -> Vec<String> {
    let toks = tokenize(question);
    let mut out: Vec<String> = Vec::new();
    for i in 0..toks.len() {
        if toks[i].quoted {
            out.push(toks[i].lower.clone());
            continue;
        }
        for n in 1..=4 {
            if i + n > toks.len() || toks[i..i + n].iter().any(|t| t.quoted) {
                break;
            }
            let span = &toks[i..i + n];
            if span
                .iter()
                .all(|t| words::is_function_word(&t.lower) || t.number.is_some())
            {
                continue;
            }
            let p = span
                .iter()
                .map(|t| t.lower.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let singular = words::singular_phrase(&p);
            for p in std::iter::once(p).chain(singular) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod accounting_tests;
#[cfg(test)]
mod lookup_tests;
#[cfg(test)]
mod relations_tests;
#[cfg(test)]
mod comments_tests;
