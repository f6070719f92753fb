//! Why a question gets no answer: every error of ai.ask with its SQLSTATE and hint.
use crate::error::UserError;
use crate::llm::LlmError;
use crate::pgsql::PgSqlError;
use pgrx::PgSqlErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0}")]
    Spi(#[from] pgrx::spi::Error),
    #[error("{0}")]
    Catalog(#[from] crate::catalog::refresh::CatalogError),
    #[error("{0}")]
    Memory(#[from] crate::memory::MemoryError),
    #[error("the question is empty")]
    Empty,
    #[error("max_rows must be between 1 and 100000, got {0}")]
    BadMaxRows(i32),
    #[error("{0}")]
    Llm(#[from] LlmError),
    #[error("the question was not understood (words not understood: {words}); closest tables: {closest}")]
    NotUnderstood { words: String, closest: String },
    #[error("refused: {0}")]
    Refused(PgSqlError),
    #[error("the LLM gave no usable SQL in {attempts} attempt(s); last problem: {last}")]
    LlmGaveUp { attempts: usize, last: String },
    #[error("the generated query does not plan: {0}")]
    Plan(String),
    #[error("the generated query's estimated cost {cost:.0} is above ai_architect.ask_max_cost ({max:.0})")]
    TooCostly { cost: f64, max: f64 },
    #[error("the generated query was canceled after {0} ms")]
    Timeout(u64),
    #[error("the generated query failed: {0}")]
    Run(String),
}

impl UserError for AskError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            AskError::Spi(_) => ERRCODE_INTERNAL_ERROR,
            AskError::Catalog(e) => e.sqlstate(),
            AskError::Memory(e) => e.sqlstate(),
            AskError::Empty | AskError::BadMaxRows(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            AskError::Llm(LlmError::Cancelled) => ERRCODE_QUERY_CANCELED,
            AskError::Llm(LlmError::Timeout(_)) => ERRCODE_CONNECTION_FAILURE,
            AskError::Llm(LlmError::Transport { .. }) => ERRCODE_CONNECTION_FAILURE,
            AskError::Llm(_) | AskError::LlmGaveUp { .. } => ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            AskError::NotUnderstood { .. } => ERRCODE_DATA_EXCEPTION,
            AskError::Refused(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AskError::Plan(_) => ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
            AskError::TooCostly { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            AskError::Timeout(_) => ERRCODE_QUERY_CANCELED,
            AskError::Run(_) => ERRCODE_DATA_EXCEPTION,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            AskError::Catalog(e) => return e.hint(),
            AskError::Memory(e) => return e.hint(),
            AskError::Empty => "ask a question, e.g. ai.ask('how many customers are there?')".into(),
            AskError::BadMaxRows(_) => "pass max_rows between 1 and 100000".into(),
            AskError::Llm(LlmError::Http { .. }) => "check ai_architect.llm_base_url, llm_model and llm_api_key".into(),
            AskError::Llm(LlmError::Transport { .. } | LlmError::Timeout(_)) => {
                "check that the LLM server runs; ai_architect.llm_timeout_ms sets the wait; RESET ai_architect.llm_base_url uses the in-process engine".into()
            }
            AskError::Llm(LlmError::TooLarge(_)) => "ai_architect.llm_max_response_bytes sets the limit".into(),
            AskError::Llm(_) => "the server at ai_architect.llm_base_url must speak the OpenAI chat-completions API".into(),
            AskError::NotUnderstood { .. } => {
                "use the names of tables and columns (ai.search_catalog shows what is there), or teach a word with ai.teach(word, table, meaning) or a question with ai.add_sample(question, sql); it chooses among the tables on your search_path (SET ai_architect.ask_schemas = '*' for every schema)".into()
            }
            AskError::Refused(u) => u.hint(),
            AskError::LlmGaveUp { .. } => "rephrase the question, or raise ai_architect.llm_max_attempts".into(),
            AskError::TooCostly { .. } => "narrow the question, or raise ai_architect.ask_max_cost".into(),
            AskError::Timeout(_) => "narrow the question, or raise ai_architect.statement_timeout_ms".into(),
            _ => return None,
        })
    }
}

pub type Result<T> = std::result::Result<T, AskError>;
