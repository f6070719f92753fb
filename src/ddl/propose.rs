//! ai.propose_ddl's work: the schema as text, the statements from the model (or the grammar),
//! each judged by PostgreSQL's parser, and the request filed.
use super::grammar::{self, GrammarError, Statement};
use crate::approval::request as approval;
use crate::approval::store::ApprovalError;
use crate::error::UserError;
use crate::lint::facts::{tables, LintError};
use crate::pgsql::{self, PgSqlError};
use crate::spi_util::SearchPath;
use crate::spi_util::Spi;
use pgrx::PgSqlErrorCode;
use serde_json::{json, Value};

/// The statements a proposal may hold, by PostgreSQL's command tag.
pub(super) const ALLOWED_TAGS: &[&str] = &["CREATE TABLE", "ALTER TABLE", "CREATE INDEX"];

#[derive(Debug, thiserror::Error)]
pub(super) enum ProposeError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Grammar(#[from] GrammarError),
    #[error("{0}")]
    Schema(#[from] LintError),
    #[error("{0}")]
    PgSql(#[from] PgSqlError),
    #[error("{0}")]
    Approval(#[from] ApprovalError),
    #[error("a proposal holds CREATE TABLE, ALTER TABLE and CREATE INDEX only, not {0}")]
    NotAllowed(String),
    #[error("intent must not be NULL or empty")]
    Empty,
    #[error("{0}")]
    Llm(#[from] crate::llm::LlmError),
    #[error("the model's answer holds no statement")]
    NoDdl,
}

impl UserError for ProposeError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use ProposeError::*;
        match self {
            Spi(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            Grammar(GrammarError::NoTable(_)) => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            Grammar(GrammarError::NoColumn { .. }) => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            Grammar(GrammarError::Exists(_)) => PgSqlErrorCode::ERRCODE_DUPLICATE_TABLE,
            Grammar(GrammarError::Ambiguous(..)) => PgSqlErrorCode::ERRCODE_AMBIGUOUS_ALIAS,
            Grammar(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            Schema(e) => e.sqlstate(),
            PgSql(_) => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            Approval(e) => e.sqlstate(),
            NotAllowed(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Empty => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Llm(crate::llm::LlmError::Cancelled) => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            Llm(_) => PgSqlErrorCode::ERRCODE_CONNECTION_FAILURE,
            NoDdl => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }
    fn hint(&self) -> Option<String> {
        use ProposeError::*;
        match self {
            Grammar(GrammarError::Unknown(_)) | Empty => Some(
                "say it like: add a table track_review with a rating from 1 to 5 and a comment, linked to track; \
                 add a column release_date (date) to album; rename column name of artist to artist_name; \
                 add an index on invoice (billing_country); make customer.email unique; \
                 invoice_line.quantity must be between 1 and 100"
                    .into(),
            ),
            Grammar(GrammarError::Ambiguous(..)) => Some("qualify the table with its schema: schema.table".into()),
            Grammar(GrammarError::NoTable(_)) => Some("ai.erd() shows the tables you may read".into()),
            Approval(e) => e.hint(),
            PgSql(e) => Some(e.hint()),
            _ => None,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, ProposeError>;

/// What PostgreSQL's parser says each statement is; only the allowed kinds pass.
pub(super) fn judge(statements: &[Statement]) -> Result<()> {
    for s in statements {
        let raw = pgsql::one_statement(&s.sql)?;
        if !ALLOWED_TAGS.contains(&raw.tag.as_str()) {
            return Err(ProposeError::NotAllowed(raw.tag));
        }
    }
    Ok(())
}

pub(super) const DDL_RULES: &str = "You write PostgreSQL DDL for a change to the schema below. Answer with the statements only, \
in one ```sql block: CREATE TABLE, ALTER TABLE and CREATE INDEX, nothing else. Follow the schema's naming style \
(key names, foreign-key column names), give every table a primary key, every foreign key an index, and \
CHECK constraints for ranges. Qualify tables with their schema.";

/// The tables as the model sees them: one line each, keys and foreign keys marked.
pub(super) fn schema_text(schema: &[crate::lint::rules::Table]) -> String {
    schema
        .iter()
        .map(|t| {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "{} {}{}",
                        c.name,
                        c.data_type,
                        if c.pk { " PRIMARY KEY" } else { "" }
                    )
                })
                .collect();
            let fks: Vec<String> = t
                .fks
                .iter()
                .map(|f| {
                    format!(
                        "FOREIGN KEY ({}) REFERENCES {}.{}",
                        f.columns.join(", "),
                        f.ref_schema,
                        f.ref_table
                    )
                })
                .collect();
            format!(
                "{}.{}({})",
                t.schema,
                t.name,
                cols.into_iter().chain(fks).collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An intent outside the grammar, given to the configured model; its statements are judged
/// like the grammar's. A statement after a CREATE TABLE of the same answer may name the new
/// table: it waits for it (`then`) when it cannot be analysed yet.
pub(super) fn from_model(
    intent: &str,
    schema: &[crate::lint::rules::Table],
) -> Result<Option<(Vec<Statement>, String)>> {
    let Some(cfg) = crate::ask::answer::model_config() else {
        return Ok(None);
    };
    let messages = [
        crate::llm::Message {
            role: "system",
            content: format!("{DDL_RULES}\n\nTables:\n{}", schema_text(schema)),
        },
        crate::llm::Message {
            role: "user",
            content: intent.to_string(),
        },
    ];
    let answer = crate::ask::answer::ask_model(&cfg, &messages)?;
    let raws = pgsql::statements(&crate::llm::extract_sql(&answer))?;
    if raws.is_empty() {
        return Err(ProposeError::NoDdl);
    }
    let mut out = Vec::new();
    let mut created = false;
    for r in raws.iter().take(20) {
        out.push(Statement {
            sql: r.text.clone(),
            on_new_table: created,
        });
        created |= r.tag == "CREATE TABLE";
    }
    Ok(Some((out, cfg.model)))
}

pub(super) fn propose(sp: &SearchPath, intent: &str) -> Result<Value> {
    let schema = tables(&None)?;
    let default_schema = sp
        .as_caller(|| Spi::get_one::<String>("SELECT current_schema()::text"))?
        .unwrap_or_else(|| "public".into());
    let (statements, source) = match grammar::parse(intent) {
        Ok(change) => (
            grammar::plan(&change, &schema, &default_schema)?,
            "grammar".to_string(),
        ),
        Err(e @ GrammarError::Unknown(_)) => match from_model(intent, &schema)? {
            Some((st, model)) => (st, format!("llm ({model})")),
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    judge(&statements)?;
    let reason = format!("ai.propose_ddl: {intent}");
    let mut requests = Vec::new();
    let mut later = Vec::new();
    for s in &statements {
        if s.on_new_table && source == "grammar" {
            later.push(s);
            continue;
        }
        // the request's own impact analysis; a model's statement on the table its answer
        // creates cannot be analysed yet
        let (id, doc) = match approval::request_with_impact(sp, &s.sql, Some(&reason)) {
            Ok(r) => r,
            Err(ApprovalError::Impact(_)) if s.on_new_table => {
                later.push(s);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        requests.push(json!({
            "request": id,
            "sql": s.sql,
            "risk_level": doc["risk_level"],
            "impact": doc,
        }));
    }
    let first = requests.first().and_then(|r| r["request"].as_i64());
    let state = match first {
        Some(id) => Spi::get_one_with_args::<String>(
            "SELECT ai.request_status($1) ->> 'state'",
            &[id.into()],
        )?,
        None => None,
    };
    let then: Vec<Value> = later
        .iter()
        .map(|s| {
            json!({
                "sql": s.sql,
                "after_request": first,
                "how": format!("once request {} is executed: SELECT ai.request($ddl${}$ddl$, 'ai.propose_ddl: {}')",
                               first.unwrap_or(0), s.sql, intent.replace('\'', "''")),
            })
        })
        .collect();
    Ok(json!({
        "intent": intent,
        "source": source,
        "ddl": statements.iter().map(|s| s.sql.clone()).collect::<Vec<_>>(),
        "request": first,
        "requests": requests,
        "then": then,
        "state": state,
        "next": first.map(|id| match state.as_deref() {
            Some("approved") => format!(
                "the policy of its risk level approved it: SELECT ai.execute({id}) runs it; nothing has run yet"
            ),
            _ => format!("another person approves it (SELECT ai.approve({id})), then SELECT ai.execute({id}); nothing has run yet"),
        }),
    }))
}
