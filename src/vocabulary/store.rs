//! ai.vocabulary: teaching, reviewing and forgetting words, and reading them for a question.
use super::{kind_of, normalise, VocabularyError};
use crate::ask::engine::vocabulary::Entry;
use crate::spi_util::is_curator;
use crate::pgsql::expr::{self, Over};
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, in_subtransaction, read_only, SearchPath};
use pgrx::prelude::*;

type Result<T> = std::result::Result<T, VocabularyError>;

/// A table as the caller sees it: its names, its columns, whether they may SELECT from it.
struct TableFacts {
    schema: String,
    name: String,
    columns: Vec<String>,
    readable: bool,
}

fn table_facts(oid: pg_sys::Oid) -> Result<TableFacts> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT n.nspname::text, c.relname::text,
                    pg_catalog.has_table_privilege(c.oid, 'SELECT'),
                    (SELECT coalesce(pg_catalog.array_agg(a.attname::text ORDER BY a.attnum), '{}')
                       FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = $1 AND c.relkind IN ('r', 'p', 'v', 'm')",
            None,
            &[oid.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some(TableFacts {
            schema: r.get::<String>(1)?.unwrap_or_default(),
            name: r.get::<String>(2)?.unwrap_or_default(),
            readable: r.get::<bool>(3)?.unwrap_or(false),
            columns: r.get::<Vec<String>>(4)?.unwrap_or_default(),
        }))
    })?
    .ok_or_else(|| {
        VocabularyError::Meaning(format!(
            "relation {oid:?} is not a table, a view or a materialized view"
        ))
    })
}

/// What a meaning resolved to, ready to store.
#[derive(Default)]
struct Resolved {
    kind: &'static str,
    other: Option<pg_sys::Oid>,
    template: Option<String>,
    aggregate: Option<String>,
    data_type: Option<String>,
    /// the attribute numbers of the columns the meaning reads
    columns: Vec<i16>,
}

fn resolve(
    sp: &SearchPath,
    table: pg_sys::Oid,
    facts: &TableFacts,
    meaning: Option<&str>,
    kind: Option<&str>,
) -> Result<Resolved> {
    let meaning = meaning.map(str::trim).filter(|m| !m.is_empty());
    if kind.is_some_and(|k| k.trim().eq_ignore_ascii_case("relationship")) {
        let other = meaning.ok_or(VocabularyError::Null("meaning (the other table)"))?;
        // the other table's name, resolved as the caller would
        let oid = sp
            .as_caller(|| {
                Spi::get_one_with_args::<pg_sys::Oid>(
                    "SELECT pg_catalog.to_regclass($1)::oid",
                    &[other.into()],
                )
            })?
            .ok_or_else(|| VocabularyError::Meaning(format!("no table named {other}")))?;
        let other_facts = table_facts(oid)?;
        if !other_facts.readable {
            return Err(VocabularyError::NoPrivilege(format!(
                "{}.{}",
                other_facts.schema, other_facts.name
            )));
        }
        let linked = Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                             WHERE contype = 'f' AND ((conrelid = $1 AND confrelid = $2) OR (conrelid = $2 AND confrelid = $1)))",
            &[table.into(), oid.into()],
        )?
        .unwrap_or(false);
        if !linked || oid == table {
            return Err(VocabularyError::Meaning(format!(
                "{}.{} and {}.{} are not joined by a foreign key (a relationship is the join the question's tables already follow)",
                facts.schema, facts.name, other_facts.schema, other_facts.name
            )));
        }
        return Ok(Resolved {
            kind: "relationship",
            other: Some(oid),
            ..Default::default()
        });
    }
    let Some(text) = meaning else {
        return Ok(Resolved {
            kind: kind_of(kind, false, false, None)?,
            ..Default::default()
        });
    };
    let lists = crate::pgsql::lists()?;
    let over = Over {
        oid: table.to_u32(),
        schema: &facts.schema,
        name: &facts.name,
        columns: &facts.columns,
    };
    // judged as the caller, with the caller's search_path; nothing is planned or run
    let judged = in_subtransaction(std::panic::AssertUnwindSafe(|| {
        read_only(|| expr::expression(text, &over, sp.caller(), &lists))
    }));
    let e = match judged {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return Err(VocabularyError::Meaning(e.to_string())),
        Err(e) => return Err(VocabularyError::Meaning(e.message)),
    };
    let kind = kind_of(kind, true, e.aggregate.is_some(), Some(e.category))?;
    if matches!(e.aggregate.as_deref(), Some("sum" | "avg")) && e.category != 'N' {
        return Err(VocabularyError::Meaning(format!(
            "a measure sums or averages numbers; this one is of type {}",
            e.data_type
        )));
    }
    Ok(Resolved {
        kind,
        other: None,
        template: Some(e.template),
        aggregate: e.aggregate,
        data_type: Some(e.data_type),
        columns: e.columns,
    })
}

/// Teaches (or, for anyone but a curator, or with `proposal`, proposes) what `word` means on
/// `table`. A curator's word replaces the meaning reviewed before for the same word and table.
pub fn teach(
    sp: &SearchPath,
    word: &str,
    table: pg_sys::Oid,
    meaning: Option<&str>,
    kind: Option<&str>,
    note: Option<&str>,
    usage_id: Option<i64>,
) -> Result<i64> {
    let word = normalise(word)?;
    let facts = table_facts(table)?;
    if !facts.readable {
        return Err(VocabularyError::NoPrivilege(format!(
            "{}.{}",
            facts.schema, facts.name
        )));
    }
    let r = resolve(sp, table, &facts, meaning, kind)?;
    let review = if usage_id.is_none() && is_curator().map_err(|e| VocabularyError::Spi(e.to_string()))? {
        "reviewed"
    } else {
        "proposed"
    };
    let meaning = meaning.map(str::trim).filter(|m| !m.is_empty());
    let me = caller()?;
    let id = as_extension_owner(|| {
        if review == "reviewed" {
            Spi::run_with_args(
                "DELETE FROM ai.vocabulary WHERE word = $1 AND table_oid = $2 AND review = 'reviewed'",
                &[word.as_str().into(), table.into()],
            )?;
        }
        Spi::get_one_with_args::<i64>(
            &format!(
                "INSERT INTO ai.vocabulary (word, kind, table_oid, other_oid, meaning, template, aggregate, data_type,
                                            note, search_path, usage_id, review, created_by, reviewed_by, reviewed_at,
                                            columns, columns_then)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                         CASE WHEN $12 = 'reviewed' THEN $13 END, CASE WHEN $12 = 'reviewed' THEN now() END,
                         $14, {COLUMNS_NOW})
                 RETURNING id",
                COLUMNS_NOW = columns_now("$3", "$14::int2[]")
            ),
            &[
                word.as_str().into(),
                r.kind.into(),
                table.into(),
                r.other.into(),
                meaning.into(),
                r.template.into(),
                r.aggregate.into(),
                r.data_type.into(),
                note.into(),
                sp.caller().into(),
                usage_id.into(),
                review.into(),
                me.as_str().into(),
                (!r.columns.is_empty()).then_some(r.columns).into(),
            ],
        )
        .map_err(VocabularyError::from)
    })?;
    Ok(id.unwrap_or_default())
}

/// Each column of `columns` (attribute numbers of table `table`) as it is now: its name and
/// its type, NULL for one dropped since; NULL when there are none. A meaning is used only while
/// this is what it was when taught: a column renamed (two swapped), dropped or of another type
/// since would make it mean something else, or nothing.
fn columns_now(table: &str, columns: &str) -> String {
    format!(
        "(SELECT pg_catalog.array_agg(a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY u.k)
            FROM pg_catalog.unnest({columns}) WITH ORDINALITY AS u(attnum, k)
            LEFT JOIN pg_catalog.pg_attribute a
              ON a.attrelid = {table} AND a.attnum = u.attnum AND NOT a.attisdropped)"
    )
}

/// The role calling (captured before switching to the extension's owner).
fn caller() -> Result<String> {
    Ok(Spi::get_one::<String>("SELECT current_user::text")?.unwrap_or_default())
}

fn curator() -> Result<bool> {
    is_curator().map_err(|e| VocabularyError::Spi(e.to_string()))
}

/// A curator's decision on a proposed word. Approving replaces the meaning reviewed before for
/// the same word and table.
pub fn review(id: i64, approve: bool) -> Result<String> {
    if !curator()? {
        return Err(VocabularyError::NotCurator(crate::guc::curator_role()));
    }
    let state = if approve { "reviewed" } else { "rejected" };
    let me = caller()?;
    let done = as_extension_owner(|| {
        if approve {
            Spi::run_with_args(
                "DELETE FROM ai.vocabulary o USING ai.vocabulary v
                  WHERE v.id = $1 AND o.id <> v.id AND o.word = v.word AND o.table_oid = v.table_oid
                    AND o.review = 'reviewed'",
                &[id.into()],
            )?;
        }
        Spi::get_one_with_args::<i64>(
            "UPDATE ai.vocabulary SET review = $2, reviewed_by = $3, reviewed_at = now()
              WHERE id = $1 RETURNING id",
            &[id.into(), state.into(), me.as_str().into()],
        )
        .map_err(VocabularyError::from)
    })?;
    match done {
        Some(_) => Ok(state.to_string()),
        None => Err(VocabularyError::NoWord(id)),
    }
}

/// Forgets a word (on one table, or on all): a curator forgets any meaning, anyone else only
/// their own proposals. Returns how many meanings went.
pub fn forget(word: &str, table: Option<pg_sys::Oid>) -> Result<i64> {
    let word = normalise(word)?;
    let all = curator()?;
    let me = caller()?;
    let n = as_extension_owner(|| {
        Spi::get_one_with_args::<i64>(
            "WITH gone AS (
                DELETE FROM ai.vocabulary
                 WHERE word = $1 AND ($2::oid IS NULL OR table_oid = $2)
                   AND ($3 OR (review = 'proposed' AND created_by = $4))
                RETURNING 1)
             SELECT count(*) FROM gone",
            &[word.as_str().into(), table.into(), all.into(), me.as_str().into()],
        )
        .map_err(VocabularyError::from)
    })?;
    Ok(n.unwrap_or(0))
}

/// The words `ai.ask` uses for the caller: reviewed ones and the caller's own proposals, over
/// tables the caller may SELECT (the table's row-level security says so).
pub fn for_question() -> std::result::Result<Vec<Entry>, pgrx::spi::Error> {
    Spi::connect(|c| {
        let mut out = Vec::new();
        for r in c.select(
            &format!("SELECT v.word, v.kind, n.nspname::text, t.relname::text, o_n.nspname::text, o.relname::text,
                    v.template, v.aggregate, v.data_type, coalesce(v.note, '')
               FROM ai.vocabulary v
               JOIN pg_catalog.pg_class t ON t.oid = v.table_oid
               JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
               LEFT JOIN pg_catalog.pg_class o ON o.oid = v.other_oid
               LEFT JOIN pg_catalog.pg_namespace o_n ON o_n.oid = o.relnamespace
              WHERE (v.review = 'reviewed' OR (v.review = 'proposed' AND v.created_by = current_user))
                AND v.columns_then IS NOT DISTINCT FROM {}
              ORDER BY v.review = 'reviewed' DESC, v.id",
                columns_now("v.table_oid", "v.columns")
            ),
            None,
            &[],
        )? {
            let other = match (r.get::<String>(5)?, r.get::<String>(6)?) {
                (Some(s), Some(n)) => Some((s, n)),
                _ => None,
            };
            out.push(Entry {
                word: r.get::<String>(1)?.unwrap_or_default(),
                kind: r.get::<String>(2)?.unwrap_or_default(),
                schema: r.get::<String>(3)?.unwrap_or_default(),
                table: r.get::<String>(4)?.unwrap_or_default(),
                other,
                template: r.get::<String>(7)?,
                aggregate: r.get::<String>(8)?,
                data_type: r.get::<String>(9)?,
                note: r.get::<String>(10)?.unwrap_or_default(),
            });
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
}

/// The words questions used that their answers did not account for, most frequent first
/// (what is worth teaching), since `since` ago. Curators only: it reads everyone's questions.
pub fn unknown_words(since_seconds: f64, limit: i64) -> Result<Vec<(String, i64, String)>> {
    if !curator()? {
        return Err(VocabularyError::NotCurator(crate::guc::curator_role()));
    }
    as_extension_owner(|| {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c.select(
                "SELECT pg_catalog.lower(w), count(*), (pg_catalog.array_agg(u.question ORDER BY u.id DESC))[1]
                   FROM ai.query_usage_stats u, unnest(u.unexplained) AS w
                  WHERE u.created_at > now() - pg_catalog.make_interval(secs => $1)
                  GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2",
                None,
                &[since_seconds.into(), limit.into()],
            )? {
                out.push((
                    r.get::<String>(1)?.unwrap_or_default(),
                    r.get::<i64>(2)?.unwrap_or(0),
                    r.get::<String>(3)?.unwrap_or_default(),
                ));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
        .map_err(VocabularyError::from)
    })
}

/// What a correction sent with `ai.feedback` says about the one word its question left
/// unexplained: when the correction reads exactly one column the answer did not (PostgreSQL's
/// analysis of both, as the caller), that column is proposed as the word's meaning — a
/// proposal like any other, used by its author and by everyone once a curator reviews it.
/// Returns the proposal's id, or why there is none (empty when the question left no word).
pub fn propose_from_correction(
    sp: &SearchPath,
    usage_id: i64,
    answer_sql: Option<&str>,
    correction: &str,
) -> Result<std::result::Result<i64, String>> {
    let unexplained = as_extension_owner(|| {
        Spi::get_one_with_args::<Vec<String>>(
            "SELECT unexplained FROM ai.query_usage_stats WHERE id = $1",
            &[usage_id.into()],
        )
        .map_err(VocabularyError::from)
    })?
    .unwrap_or_default();
    // an intent word the engine could not apply ("average" of nothing it placed) is not the
    // word the correction names
    let words: Vec<String> = unexplained
        .iter()
        .filter_map(|w| normalise(w).ok())
        .filter(|w| !crate::ask::engine::reads_by_itself(w))
        .collect();
    if words.is_empty() {
        // every word was accounted for: nothing to propose, nothing to say
        return Ok(Err(String::new()));
    }
    let [word] = words.as_slice() else {
        return Ok(Err(format!(
            "the question left {} words unexplained (a word is proposed when it left one)",
            words.len()
        )));
    };
    let Some(answer_sql) = answer_sql else {
        return Ok(Err("the answer had no SQL to compare the correction with".into()));
    };
    let read = |sql: &str| {
        in_subtransaction(std::panic::AssertUnwindSafe(|| {
            crate::pgsql::columns_read(sql, sp.caller())
        }))
        .map_err(|e| e.message)
        .and_then(|r| r.map_err(|e| e.to_string()))
    };
    let (answer, corrected) = match (read(answer_sql), read(correction)) {
        (Ok(a), Ok(c)) => (a, c),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    let new: Vec<(u32, i16)> = corrected
        .into_iter()
        .filter(|c| !answer.contains(c))
        .collect();
    let [(table, attnum)] = new.as_slice() else {
        return Ok(Err(format!(
            "the correction reads {} columns the answer did not (a word is proposed when it reads one)",
            new.len()
        )));
    };
    let table = pg_sys::Oid::from(*table);
    let column = Spi::get_one_with_args::<String>(
        "SELECT attname::text FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attnum = $2",
        &[table.into(), (*attnum).into()],
    )?
    .unwrap_or_default();
    let id = teach(
        sp,
        word,
        table,
        Some(&crate::sqlparse::ident(&column)),
        Some("column"),
        Some("proposed from a correction sent with ai.feedback"),
        Some(usage_id),
    )?;
    Ok(Ok(id))
}
