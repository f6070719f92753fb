//! SQL surface of the conversation: ai.chat and ai.chat_history. Every tool runs with the
//! caller's rights (ai.ask's SQL read-only, ai.impact without running anything); the turns
//! are written as the extension owner into ai.chat_messages, where row-level security shows
//! each person only their own sessions.
use super::turn::{chat_turn, ChatError, Result};
use crate::error::OrRaise;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, SearchPath};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::JsonB;

/// One turn of a conversation with the architect. The message goes to the tool it is for
/// (ask, impact, insights, suggest_indexes, lint); a follow-up ("and in 2023?", "only for
/// Germany", "show them", "sorted by total") is read against the session's previous
/// question. Returns the tool, the question as understood, a short answer, the tool's whole
/// result and the usage row (ai.query_usage_stats) of an ask.
#[pg_extern(volatile)]
fn chat(session: Option<&str>, message: Option<&str>) -> JsonB {
    crate::error::primary_only("ai.chat");
    let sp = SearchPath::pin();
    let r = (|| {
        let session = session
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ChatError::Empty("session"))?;
        if session.chars().count() > 200 {
            return Err(ChatError::LongSession);
        }
        let message = message
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ChatError::Empty("message"))?;
        let chars = message.chars().count();
        if chars > super::turn::MAX_MESSAGE_CHARS {
            return Err(ChatError::LongMessage(chars));
        }
        chat_turn(&sp, session, message)
    })();
    sp.restore();
    JsonB(r.or_raise("ai.chat"))
}

/// The caller's conversations (one session, or all of them), turn by turn, until they expire.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)]
fn chat_history(
    session: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(session, String),
        name!(turn, i32),
        name!(speaker, String),
        name!(content, String),
        name!(tool, Option<String>),
        name!(usage_id, Option<i64>),
        name!(created_at, Option<TimestampWithTimeZone>),
    ),
> {
    let rows = (|| -> Result<Vec<_>> {
        let user = crate::spi_util::session_user()?;
        as_extension_owner(|| {
            Spi::connect(|c| {
                let mut out = Vec::new();
                for r in c.select(
                    "SELECT m.session, m.turn, m.speaker, m.content, m.tool, m.usage_id, m.created_at
                       FROM ai.chat_messages m
                      WHERE m.user_name = $1 AND ($2::text IS NULL OR m.session = $2)
                        AND (SELECT max(l.created_at) FROM ai.chat_messages l
                              WHERE l.user_name = m.user_name AND l.session = m.session)
                            >= now() - $3 * interval '1 second'
                      ORDER BY m.session, m.turn, m.speaker DESC",
                    None,
                    &[user.as_str().into(), session.into(), (crate::guc::chat_session_ttl_s() as i64).into()],
                )? {
                    out.push((
                        r.get::<String>(1)?.unwrap_or_default(),
                        r.get::<i32>(2)?.unwrap_or(0),
                        r.get::<String>(3)?.unwrap_or_default(),
                        r.get::<String>(4)?.unwrap_or_default(),
                        r.get::<String>(5)?,
                        r.get::<i64>(6)?,
                        r.get::<TimestampWithTimeZone>(7)?,
                    ));
                }
                Ok::<_, ChatError>(out)
            })
        })
    })()
    .or_raise("ai.chat_history");
    TableIterator::new(rows)
}
