//! SQL samples: question/SQL pairs that answer similar questions directly, rated by feedback.
use super::{check_k, required, MemoryError};
use crate::embed::session::embed_texts;
use crate::error::OrRaise;
use crate::spi_util::Spi;
use crate::spi_util::{
    as_extension_owner, as_role, in_subtransaction, read_only, SearchPath, VectorSql,
};
use crate::sqlparse;
use pgrx::prelude::*;

type Result<T> = std::result::Result<T, MemoryError>;

/// Validates and stores a sample; `sp` gives the caller's search_path for the SQL.
pub fn add(
    sp: &SearchPath,
    question: &str,
    query: &str,
    tags: Vec<String>,
    source: &str,
    from_usage: Option<i64>,
) -> Result<i64> {
    if question.trim().is_empty() {
        return Err(MemoryError::Empty("question"));
    }
    let stmt = sqlparse::parse_query(query)?;
    let tables = sqlparse::relations(&stmt);
    // judged by PostgreSQL's analysis against the allow list and planned as the caller (the
    // author), with the caller's search_path: a sample can only ever be one safe SELECT
    let lists = crate::pgsql::lists()?;
    let facts = in_subtransaction(std::panic::AssertUnwindSafe(|| {
        read_only(|| {
            crate::pgsql::checked_select(query, sp.caller(), &lists, |p| {
                p.total_cost()?;
                Ok(p.facts.clone())
            })
        })
    }));
    let facts = match facts {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return Err(MemoryError::Plan(format!("{e} ({})", e.hint()))),
        Err(e) => return Err(MemoryError::Plan(e.message)),
    };
    // every relation it reads, views and functions' tables included: visibility follows them
    let oids: Vec<pg_sys::Oid> = facts
        .relations
        .iter()
        .map(|r| pg_sys::Oid::from(r.oid))
        .collect();
    let complexity = super::complexity(&stmt);
    // the role whose rights planned it; the sample is planned again as this role later
    let author: String = Spi::get_one("SELECT current_user::text")?.unwrap_or_default();
    // what the extension's owner, a superuser or a curator adds is reviewed; what anyone
    // else adds (and every feedback correction) is a proposal until a curator reviews it
    let review = if source != "feedback" && crate::spi_util::is_curator()? {
        "reviewed"
    } else {
        "proposed"
    };
    let mut vectors = embed_texts(&[Some(question), Some(query)]).into_iter();
    let (qv, sv) = (vectors.next().flatten(), vectors.next().flatten());
    let id = as_extension_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.sql_samples (question, query, question_embedding, query_embedding, complexity, tags,
                                         tables, table_oids, source, from_usage_id, search_path, created_by, checked_at,
                                         review, reviewed_by, reviewed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(),
                     $13, CASE WHEN $13 = 'reviewed' THEN $12 END, CASE WHEN $13 = 'reviewed' THEN now() END) RETURNING id",
            &[
                question.into(),
                query.trim().trim_end_matches(';').into(),
                qv.into(),
                sv.into(),
                complexity.into(),
                tags.into(),
                tables.into(),
                oids.into(),
                source.into(),
                from_usage.into(),
                sp.caller().into(),
                author.as_str().into(),
                review.into(),
            ],
        )
        .map_err(MemoryError::from)
    })?;
    Ok(id.unwrap_or_default())
}

/// Stores a question with the SQL that answers it. The SQL must be one query that plans
/// against the current schema; both texts are embedded. Returns the sample's id.
#[pg_extern(volatile)]
fn add_sample(
    question: Option<&str>,
    query: Option<&str>,
    tags: default!(Option<Vec<String>>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.add_sample");
    let sp = SearchPath::pin();
    let id = required("question", question)
        .and_then(|q| Ok((q, required("query", query)?)))
        .and_then(|(q, sql)| add(&sp, q, sql, tags.unwrap_or_default(), "user", None))
        .or_raise("ai.add_sample");
    sp.restore();
    id
}

/// Samples closest to a question (by the question embeddings), best first; stale ones
/// (their SQL no longer plans) are left out. Only samples over tables the caller may read.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn similar_samples(
    question: &str,
    k: default!(i32, 5),
) -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(question, String),
        name!(query, String),
        name!(similarity, f64),
        name!(avg_rating, Option<f64>),
        name!(source, String),
    ),
> {
    let rows = similar(question, k, false).or_raise("ai.similar_samples");
    TableIterator::new(rows)
}

type SampleRow = (i64, String, String, f64, Option<f64>, String);

/// The `k` samples closest to `question`. With `usable`, only those ai.ask may use for the
/// caller: reviewed ones and the caller's own.
pub fn similar(question: &str, k: i32, usable: bool) -> Result<Vec<SampleRow>> {
    let k = check_k(k)?;
    let qv = embed_texts(&[Some(question)])
        .pop()
        .flatten()
        .unwrap_or_default();
    let d = VectorSql::new()?.distance_to("question_embedding", 1);
    let sql = format!(
        "SELECT id, question, query, 1 - {d}, avg_rating, source
           FROM ai.sql_samples WHERE NOT stale AND question_embedding IS NOT NULL
            AND review <> 'rejected'
            AND (NOT $3 OR review = 'reviewed' OR created_by = current_user)
          ORDER BY {d}, id LIMIT $2"
    );
    Spi::connect(|c| {
        let mut out = Vec::new();
        for r in c.select(&sql, None, &[qv.into(), (k as i64).into(), usable.into()])? {
            out.push((
                r.get::<i64>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<f64>(4)?.unwrap_or_default(),
                r.get::<f64>(5)?,
                r.get::<String>(6)?.unwrap_or_default(),
            ));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(MemoryError::from)
}

/// Rates an ai.ask answer. Updates the sample's rating when the answer came from one; a
/// correct answer, or a correction that plans, becomes a new sample (source 'feedback').
/// Returns the feedback id.
#[pg_extern(volatile)]
fn feedback(
    usage_id: Option<i64>,
    rating: Option<i32>,
    is_correct: Option<bool>,
    correction: default!(Option<&str>, "NULL"),
    comment: default!(Option<&str>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.feedback");
    let sp = SearchPath::pin();
    let id = required("usage_id", usage_id)
        .and_then(|u| Ok((u, required("rating", rating)?)))
        .and_then(|(u, r)| record_feedback(&sp, u, r, is_correct, correction, comment))
        .or_raise("ai.feedback");
    sp.restore();
    id
}

fn record_feedback(
    sp: &SearchPath,
    usage_id: i64,
    rating: i32,
    is_correct: Option<bool>,
    correction: Option<&str>,
    comment: Option<&str>,
) -> Result<i64> {
    if !(1..=5).contains(&rating) {
        return Err(MemoryError::Rating(rating));
    }
    let caller: String = Spi::get_one("SELECT current_user::text")?.unwrap_or_default();
    let caller_is_super: bool =
        Spi::get_one("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")?
            .unwrap_or(false);
    // the usage row, read with the owner's rights; it must be the caller's own
    let usage = as_extension_owner(|| {
        Spi::connect(|c| {
            let t = c.select(
                "SELECT question, generated_sql, sample_id, user_name::text FROM ai.query_usage_stats WHERE id = $1",
                None,
                &[usage_id.into()],
            )?;
            if t.is_empty() {
                return Ok(None);
            }
            let r = t.first();
            Ok::<_, pgrx::spi::Error>(Some((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?,
                r.get::<i64>(3)?,
                r.get::<String>(4)?.unwrap_or_default(),
            )))
        })
        .map_err(MemoryError::from)
    })?;
    let (question, answer_sql, sample_id, asked_by) =
        usage.ok_or(MemoryError::NoUsage(usage_id))?;
    if asked_by != caller && !caller_is_super {
        return Err(MemoryError::NotYours(usage_id));
    }
    let correction = correction.map(str::trim).filter(|c| !c.is_empty());
    // what to learn from: a correction, or a correct answer that did not come from a sample
    let candidate = match (correction, is_correct) {
        (Some(c), _) => Some(c.to_string()),
        (None, Some(true)) if sample_id.is_none() => answer_sql.clone(),
        _ => None,
    };
    // the one word the question left unexplained, as the column the correction reads
    if let Some(c) = correction {
        match crate::vocabulary::store::propose_from_correction(sp, usage_id, answer_sql.as_deref(), c) {
            Ok(Ok(id)) => pgrx::info!("ai.feedback: proposed word {id} (ai.review_word reviews it)"),
            Ok(Err(why)) if !why.is_empty() => {
                pgrx::notice!("ai.feedback: no word proposed: {why}")
            }
            Ok(Err(_)) => {}
            Err(e) => pgrx::notice!("ai.feedback: no word proposed: {e}"),
        }
    }
    let mut promoted: Option<i64> = None;
    if let Some(sql) = candidate {
        match add(
            sp,
            &question,
            &sql,
            vec!["feedback".into()],
            "feedback",
            Some(usage_id),
        ) {
            Ok(id) => promoted = Some(id),
            Err(e) => pgrx::notice!("ai.feedback: not kept as a sample: {e}"),
        }
    }
    let id = as_extension_owner(|| {
        let id = Spi::get_one_with_args::<i64>(
            "INSERT INTO ai.query_feedback (usage_id, sample_id, rating, is_correct, corrected_sql, comment, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                usage_id.into(),
                sample_id.into(),
                (rating as i16).into(),
                is_correct.into(),
                correction.into(),
                comment.into(),
                caller.clone().into(),
            ],
        )?;
        if let Some(sid) = sample_id {
            Spi::run_with_args(
                "UPDATE ai.sql_samples s SET avg_rating = f.avg, feedback_count = f.n, last_feedback_at = now(), updated_at = now()
                   FROM (SELECT avg(rating)::float8 AS avg, count(*)::int AS n FROM ai.query_feedback WHERE sample_id = $1) f
                  WHERE s.id = $1",
                &[sid.into()],
            )?;
        }
        Ok::<_, MemoryError>(id.unwrap_or_default())
    })?;
    if let Some(p) = promoted {
        pgrx::info!("ai.feedback: kept as sample {p}");
    }
    Ok(id)
}

/// EXPLAINs every sample again (after schema changes): those that no longer plan are
/// flagged stale with the reason, those that plan again are cleared. Returns the counts.
pub fn recheck() -> Result<(i64, i64)> {
    as_extension_owner(|| {
        // each sample is planned as the role that added it, never with the owner's rights:
        // planning can run the caller's functions (constant folding)
        let samples: Vec<(i64, String, String, Option<pg_sys::Oid>)> = Spi::connect(|c| {
            let mut v = Vec::new();
            for r in c.select(
                "SELECT s.id, s.query, s.search_path, r.oid
                   FROM ai.sql_samples s LEFT JOIN pg_catalog.pg_roles r ON r.rolname = s.created_by ORDER BY s.id",
                None,
                &[],
            )? {
                v.push((
                    r.get::<i64>(1)?.unwrap_or_default(),
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<pg_sys::Oid>(4)?,
                ));
            }
            Ok::<_, pgrx::spi::Error>(v)
        })?;
        let (mut ok, mut stale) = (0, 0);
        for (id, query, path, author) in samples {
            let reason = match author {
                None => Some("the role that added it no longer exists".to_string()),
                Some(role) => as_role(role, || {
                    Ok::<_, MemoryError>(plans_as_checked(&query, &path))
                })?
                .err(),
            };
            if reason.is_some() {
                stale += 1
            } else {
                ok += 1
            }
            Spi::run_with_args(
                "UPDATE ai.sql_samples SET stale = $2 IS NOT NULL, stale_reason = $2, checked_at = now() WHERE id = $1",
                &[id.into(), reason.into()],
            )?;
        }
        Ok((ok, stale))
    })
}

/// Whether a stored query still passes the check and plans (as the current role): the
/// reason when not.
fn plans_as_checked(query: &str, path: &str) -> std::result::Result<(), String> {
    let lists = crate::pgsql::lists().map_err(|e| e.to_string())?;
    let r = in_subtransaction(std::panic::AssertUnwindSafe(|| {
        read_only(|| crate::pgsql::checked_select(query, path, &lists, |p| p.total_cost()))
    }));
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.message),
    }
}

/// A curator's decision on a sample: `approve` makes it usable by every ai.ask whose
/// caller may read its tables; otherwise it is rejected and never used. Returns the new state.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn review_sample(id: i64, approve: bool) -> String {
    crate::error::primary_only("ai.review_sample");
    review(id, approve).or_raise("ai.review_sample")
}

fn review(id: i64, approve: bool) -> Result<String> {
    if !crate::spi_util::is_curator()? {
        return Err(MemoryError::NotCurator(crate::guc::curator_role()));
    }
    let state = if approve { "reviewed" } else { "rejected" };
    let done = as_extension_owner(|| {
        Spi::get_one_with_args::<i64>(
            "UPDATE ai.sql_samples SET review = $2, reviewed_by = current_user, reviewed_at = now(), updated_at = now()
              WHERE id = $1 RETURNING id",
            &[id.into(), state.into()],
        )
        .map_err(MemoryError::from)
    })?;
    match done {
        Some(_) => Ok(state.to_string()),
        None => Err(MemoryError::NoSample(id)),
    }
}

/// Checks every sample against the current schema; returns how many plan and how many are stale.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn check_samples() -> TableIterator<'static, (name!(valid, i64), name!(stale, i64))> {
    crate::error::primary_only("ai.check_samples");
    let (ok, stale) = recheck().or_raise("ai.check_samples");
    TableIterator::once((ok, stale))
}
