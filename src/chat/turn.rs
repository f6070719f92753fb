//! One turn of the conversation: the previous turn and the history of the caller's session, the
//! tool the message routes to (run with the caller's rights), the answer, and the turn stored
//! as the extension owner; expired sessions of the caller are forgotten.
use super::followup::{self, Tool};
use crate::error::UserError;
use crate::llm::Message;
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, SearchPath};
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Value};

/// Turns kept per session; older ones are deleted as new ones come.
pub const KEPT_TURNS: i32 = 50;

/// A message is at most this many characters.
pub const MAX_MESSAGE_CHARS: usize = 65_536;

/// Turns given to a model as the conversation so far.
pub(super) const PROMPT_TURNS: i64 = 6;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0} must not be NULL or empty")]
    Empty(&'static str),
    #[error("a session name is at most 200 characters")]
    LongSession,
    #[error("a message is at most {MAX_MESSAGE_CHARS} characters, this one has {0}")]
    LongMessage(usize),
    #[error("{0}")]
    NothingToFollow(#[from] followup::NothingToFollow),
}

impl UserError for ChatError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            ChatError::Spi(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            ChatError::Empty(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            ChatError::LongSession | ChatError::LongMessage(_) => {
                PgSqlErrorCode::ERRCODE_STRING_DATA_RIGHT_TRUNCATION
            }
            ChatError::NothingToFollow(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ChatError::NothingToFollow(_) => Some(
                "ask a whole question first (\"How many invoices were issued in 2022?\"); sessions expire after ai_architect.chat_session_ttl".into(),
            ),
            ChatError::LongMessage(_) => Some(
                "ask one question per message; a long statement goes to ai.impact() or ai.request() directly".into(),
            ),
            ChatError::Empty("session") => Some("name the conversation, e.g. ai.chat('sales', 'How many invoices?')".into()),
            _ => None,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, ChatError>;

/// The previous turn of a session: its number, the question it answered (for ask turns).
pub(super) struct Previous {
    turn: i32,
    question: Option<String>,
}

pub(super) fn forget_expired(user: &str) -> Result<()> {
    as_extension_owner(|| {
        Spi::run_with_args(
            "DELETE FROM ai.chat_messages m
              WHERE m.user_name = $1
                AND m.session IN (SELECT session FROM ai.chat_messages WHERE user_name = $1
                                   GROUP BY session HAVING max(created_at) < now() - $2 * interval '1 second')",
            &[user.into(), (crate::guc::chat_session_ttl_s() as i64).into()],
        )
    })?;
    Ok(())
}

/// Keeps the caller's stored turns within `ai_architect.chat_quota`: whole turns, the oldest
/// first, until the rest fits. Bounded work: a role's rows are bounded by the quota itself.
fn within_quota(user: &str) -> std::result::Result<(), pgrx::spi::Error> {
    Spi::run_with_args(
        "DELETE FROM ai.chat_messages m
          USING (SELECT session, turn
                   FROM (SELECT session, turn,
                                sum(sum(pg_column_size(c.*))) OVER (ORDER BY max(c.id) DESC) AS upto
                           FROM ai.chat_messages c WHERE c.user_name = $1
                          GROUP BY session, turn) t
                  WHERE upto > $2) old
          WHERE m.user_name = $1 AND m.session = old.session AND m.turn = old.turn",
        &[user.into(), crate::guc::chat_quota_bytes().into()],
    )
}

pub(super) fn previous(user: &str, session: &str) -> Result<Option<Previous>> {
    let v = as_extension_owner(|| {
        Spi::get_one_with_args::<JsonB>(
            "SELECT (SELECT jsonb_build_object('turn', turn,
                        'question', (SELECT u.question FROM ai.chat_messages u
                                      WHERE u.user_name = $1 AND u.session = $2 AND u.speaker = 'user' AND u.tool = 'ask'
                                        AND u.question IS NOT NULL
                                      ORDER BY u.turn DESC LIMIT 1))
               FROM ai.chat_messages WHERE user_name = $1 AND session = $2 ORDER BY turn DESC LIMIT 1)",
            &[user.into(), session.into()],
        )
    })?;
    Ok(v.map(|j| j.0).filter(|v| !v.is_null()).map(|v| Previous {
        turn: v["turn"].as_i64().unwrap_or(0) as i32,
        question: v["question"].as_str().map(str::to_string),
    }))
}

/// The last turns, oldest first, as a model's conversation: the user's question, the SQL
/// that answered it.
pub(super) fn history(user: &str, session: &str) -> Result<Vec<Message>> {
    let v = as_extension_owner(|| {
        Spi::get_one_with_args::<JsonB>(
            "SELECT coalesce(jsonb_agg(jsonb_build_array(speaker, content) ORDER BY turn, speaker DESC), '[]')
               FROM (SELECT turn, speaker, CASE WHEN speaker = 'assistant' THEN coalesce(result ->> 'sql', content)
                                                ELSE coalesce(question, content) END AS content
                       FROM ai.chat_messages WHERE user_name = $1 AND session = $2 AND tool = 'ask'
                      ORDER BY turn DESC, speaker LIMIT $3) t",
            &[user.into(), session.into(), (2 * PROMPT_TURNS).into()],
        )
    })?
    .map(|j| j.0)
    .unwrap_or_default();
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|p| Message {
            role: if p[0] == "assistant" {
                "assistant"
            } else {
                "user"
            },
            content: p[1].as_str().unwrap_or_default().to_string(),
        })
        .collect())
}

/// What one tool said: its result, a sentence for the conversation, the usage row.
pub(super) struct Answer {
    result: Value,
    text: String,
    usage_id: Option<i64>,
}

pub(super) fn first_cell(v: &Value) -> Option<String> {
    let row = v["rows"].as_array()?.first()?.as_object()?;
    if row.len() != 1 {
        return None;
    }
    let (k, val) = row.iter().next()?;
    Some(format!(
        "{k}: {}",
        val.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| val.to_string())
    ))
}

pub(super) fn ask_answer(v: Value) -> Answer {
    let usage_id = v["usage_id"].as_i64();
    let text = if let Some(e) = v["error"].as_str() {
        match v["hint"].as_str() {
            Some(h) => format!("I could not answer: {e} ({h})"),
            None => format!("I could not answer: {e}"),
        }
    } else {
        let n = v["row_count"].as_i64().unwrap_or(0);
        match (n, first_cell(&v)) {
            (1, Some(cell)) => cell,
            _ => format!(
                "{n} row{}{}",
                if n == 1 { "" } else { "s" },
                if v["truncated"] == json!(true) {
                    " (the first ones; more exist)"
                } else {
                    ""
                }
            ),
        }
    };
    Answer {
        result: v,
        text,
        usage_id,
    }
}

pub(super) fn run_tool(
    sp: &SearchPath,
    tool: Tool,
    question: &str,
    message: &str,
    hist: &[Message],
) -> Answer {
    let fail = |e: &dyn UserError| Answer {
        text: format!("I could not answer: {e}"),
        result: json!({"error": e.to_string(), "hint": e.hint()}),
        usage_id: None,
    };
    match tool {
        Tool::Ask => match crate::ask::answer::ask_json(sp, question, hist, true, 100) {
            Ok(v) => ask_answer(v),
            Err(e) => fail(&e),
        },
        Tool::Impact => {
            let sql = followup::statement_in(message).unwrap_or_default();
            // what PostgreSQL says of the statement (a syntax error) is the answer, not an ERROR
            // that would lose the conversation's turn
            let analysed = crate::spi_util::in_subtransaction(std::panic::AssertUnwindSafe(|| {
                sp.as_caller(|| crate::impact::analyse::analyse(&sql, crate::impact::model::Mode::Estimate))
            }));
            let analysed = match analysed {
                Ok(r) => r,
                Err(e) if e.is_cancel() => e.rethrow(),
                Err(e) => {
                    return Answer {
                        text: format!("I could not answer: {}", e.message),
                        result: json!({"error": e.message, "hint": e.hint, "sql": sql}),
                        usage_id: None,
                    }
                }
            };
            match analysed {
                Ok(doc) => Answer {
                    text: format!(
                        "{} would touch about {} row(s); risk {}",
                        doc["statement_type"].as_str().unwrap_or("the statement"),
                        doc["rows_touched"],
                        doc["risk_level"].as_str().unwrap_or("?")
                    ),
                    result: doc,
                    usage_id: None,
                },
                Err(e) => fail(&e),
            }
        }
        Tool::Insights => match crate::monitor::insights::collect_insights() {
            Ok(rows) => Answer {
                text: match rows.first() {
                    Some(r) => format!("{} finding(s); the most severe: {} ({})", rows.len(), r.finding, r.object),
                    None => "nothing to report".into(),
                },
                result: json!(rows
                    .iter()
                    .map(|r| json!({"category": r.category, "severity": r.severity, "object": r.object, "finding": r.finding, "remediation_sql": r.remediation_sql}))
                    .collect::<Vec<_>>()),
                usage_id: None,
            },
            Err(e) => fail(&e),
        },
        // the caller's own statements are planned with the caller's search_path
        Tool::SuggestIndexes => match sp.as_caller(|| crate::advisor::workload::advise(None, 5, 200)) {
            Ok(a) => {
                let rows = crate::advisor::report::rows(&a);
                Answer {
                    text: if rows.is_empty() {
                        "no index would help the recorded workload".into()
                    } else {
                        format!(
                            "{} index(es) would help: {}",
                            rows.len(),
                            rows.iter().map(|r| r.index_sql.as_str()).collect::<Vec<_>>().join("; ")
                        )
                    },
                    result: json!(rows
                        .iter()
                        .map(|r| json!({"index_sql": r.index_sql, "table": r.table, "columns": r.columns, "cost_reduction_pct": r.cost_reduction_pct, "reason": r.reason}))
                        .collect::<Vec<_>>()),
                    usage_id: None,
                }
            }
            Err(e) => fail(&e),
        },
        Tool::Lint => match crate::lint::facts::findings(None) {
            Ok(f) => Answer {
                text: if f.is_empty() {
                    "the schema has no finding".into()
                } else {
                    let n = |s: &str| f.iter().filter(|x| x.severity == s).count();
                    format!("{} finding(s): {} high, {} medium, {} low", f.len(), n("high"), n("medium"), n("low"))
                },
                result: json!(f
                    .iter()
                    .map(|x| json!({"rule": x.rule, "severity": x.severity, "object": x.object, "message": x.message, "fix_sql": x.fix_sql}))
                    .collect::<Vec<_>>()),
                usage_id: None,
            },
            Err(e) => fail(&e),
        },
    }
}

pub(super) fn chat_turn(sp: &SearchPath, session: &str, message: &str) -> Result<Value> {
    let user = crate::spi_util::session_user()?;
    // one turn at a time per session
    Spi::run_with_args(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7243))",
        &[format!("ai.chat {user} {session}").into()],
    )?;
    forget_expired(&user)?;
    let prev = previous(&user, session)?;
    let turn = prev.as_ref().map_or(1, |p| p.turn + 1);
    let tool = followup::route(message, &mut |names| {
        crate::ask::context::names_in_scope(sp, names).unwrap_or(false)
    });
    let with_model = crate::guc::llm_base_url().is_some_and(|u| !u.trim().is_empty());
    let (question, follow_up) = if tool == Tool::Ask {
        let r = followup::resolve(prev.as_ref().and_then(|p| p.question.as_deref()), message)?;
        // a model reads the follow-up itself, with the earlier turns before it
        let q = if with_model {
            followup::clean(message)
        } else {
            r.question
        };
        (q, r.follow_up)
    } else {
        (message.trim().to_string(), None)
    };
    let hist = if tool == Tool::Ask && with_model {
        history(&user, session)?
    } else {
        Vec::new()
    };
    let answer = run_tool(sp, tool, &question, message, &hist);
    let follow_up_of = follow_up.and(prev.as_ref().map(|p| p.turn));
    as_extension_owner(|| {
        Spi::run_with_args(
            "INSERT INTO ai.chat_messages (session, user_name, turn, speaker, content, question, follow_up_of, tool, usage_id, result)
             VALUES ($1, $2, $3, 'user', $4, $5, $6, $7, NULL, NULL),
                    ($1, $2, $3, 'assistant', $8, NULL, NULL, $7, $9, $10)",
            &[
                session.into(),
                user.as_str().into(),
                turn.into(),
                message.into(),
                question.as_str().into(),
                follow_up_of.into(),
                tool.as_str().into(),
                answer.text.as_str().into(),
                answer.usage_id.into(),
                JsonB(super::preview::preview(&answer.result, super::preview::STORED_RESULT_BYTES)).into(),
            ],
        )?;
        Spi::run_with_args(
            "DELETE FROM ai.chat_messages WHERE user_name = $1 AND session = $2 AND turn <= $3",
            &[
                user.as_str().into(),
                session.into(),
                (turn - KEPT_TURNS).into(),
            ],
        )?;
        within_quota(&user)
    })?;
    Ok(json!({
        "session": session,
        "turn": turn,
        "tool": tool.as_str(),
        "question": question,
        "follow_up": follow_up,
        "follow_up_of": follow_up_of,
        "answer": answer.text,
        "result": answer.result,
        "usage_id": answer.usage_id,
    }))
}
