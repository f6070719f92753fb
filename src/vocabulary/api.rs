//! SQL surface of the vocabulary.
use super::{store, VocabularyError};
use crate::error::OrRaise;
use crate::spi_util::SearchPath;
use pgrx::prelude::*;
use pgrx::PgRelation;

fn required<T>(name: &'static str, v: Option<T>) -> Result<T, VocabularyError> {
    v.ok_or(VocabularyError::Null(name))
}

/// Says what `word` means on `on_table`: the table itself (meaning NULL), a column or an
/// expression over its columns, a measure (one aggregate of one), a filter (a boolean
/// expression), or with kind => 'relationship' the table whose join the word names. The
/// meaning is judged by PostgreSQL's analyser as the caller (the allow list, this table only).
/// A curator's word is used by ai.ask at once; anyone else's is a proposal
/// (ai.review_word). Returns the word's id.
#[pg_extern(volatile)]
fn teach(
    word: Option<&str>,
    on_table: Option<PgRelation>,
    meaning: default!(Option<&str>, "NULL"),
    kind: default!(Option<&str>, "NULL"),
    note: default!(Option<&str>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.teach");
    let sp = SearchPath::pin();
    let id = required("word", word)
        .and_then(|w| Ok((w, required("on_table", on_table)?.oid())))
        .and_then(|(w, t)| store::teach(&sp, w, t, meaning, kind, note, None))
        .or_raise("ai.teach");
    sp.restore();
    id
}

/// A curator's decision on a proposed word: `approve` makes ai.ask use it for everyone who may
/// read its table (replacing the meaning reviewed before); otherwise it is rejected.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn review_word(id: i64, approve: bool) -> String {
    crate::error::primary_only("ai.review_word");
    store::review(id, approve).or_raise("ai.review_word")
}

/// Forgets a word (on one table, or everywhere when on_table is NULL): a curator any meaning,
/// anyone else their own proposals. Returns how many meanings were forgotten.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn forget_word(word: Option<&str>, on_table: default!(Option<PgRelation>, "NULL")) -> i64 {
    crate::error::primary_only("ai.forget_word");
    required("word", word)
        .and_then(|w| store::forget(w, on_table.map(|t| t.oid())))
        .or_raise("ai.forget_word")
}

/// The words questions used that their answers did not account for, most frequent first,
/// with the latest question that used each: what is worth teaching. Curators only.
#[pg_extern(stable, strict)]
#[search_path(pg_catalog, pg_temp)]
fn unknown_words(
    since: default!(pgrx::datum::Interval, "'30 days'"),
    max_words: default!(i32, 20),
) -> TableIterator<
    'static,
    (
        name!(word, String),
        name!(questions, i64),
        name!(latest_question, String),
    ),
> {
    let secs = since.as_micros() as f64 / 1e6;
    let rows = store::unknown_words(secs, max_words.clamp(1, 10_000) as i64)
        .or_raise("ai.unknown_words");
    TableIterator::new(rows)
}
