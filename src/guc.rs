//! Every `ai_architect.*` setting: one place to read what can be configured.
//!
//! Paths may start with `$libdir` or `$sharedir`, expanded like PostgreSQL's own
//! `dynamic_library_path`, so the defaults follow the installation they belong to.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{CStr, CString};

pub const DEFAULT_MODEL_PATH: &CStr = c"$sharedir/extension/ai_architect/model.onnx";
pub const DEFAULT_TOKENIZER_PATH: &CStr = c"$sharedir/extension/ai_architect/tokenizer.json";
pub const DEFAULT_ONNXRUNTIME_PATH: &CStr = c"$libdir/libonnxruntime.so.1.31.1";

static MODEL_PATH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_MODEL_PATH));
static TOKENIZER_PATH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_TOKENIZER_PATH));
static ONNXRUNTIME_PATH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_ONNXRUNTIME_PATH));
static EMBEDDING_THREADS: GucSetting<i32> = GucSetting::<i32>::new(1);
static EMBEDDING_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(32);
static LLM_BASE_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_MODEL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"gpt-4o-mini"));
static LLM_API_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static AUDIT_HMAC_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(30_000);
static STATEMENT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(5_000);
static IMPACT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
static WORK_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
static APPROVAL_TTL_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static CHAT_SESSION_TTL_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static APPROVAL_WEBHOOK_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static APPROVAL_WEBHOOK_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(5_000);
static EXECUTE_STATEMENT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
static EXECUTE_LOCK_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(2_000);
static EXECUTE_LOCK_RETRY_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
static EXECUTE_TIMEOUT_CEILING_MS: GucSetting<i32> = GucSetting::<i32>::new(600_000);
static ONLINE_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(21_600_000);
static KEEP_INVALID_INDEXES: GucSetting<bool> = GucSetting::<bool>::new(false);
static BATCH_PAUSE_MS: GucSetting<i32> = GucSetting::<i32>::new(0);
static BATCH_MAX_REPLAY_LAG: GucSetting<i32> = GucSetting::<i32>::new(16_384);
static CURATOR_ROLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"ai_curator"));
static WORKER_ROLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"ai_architect_worker"));
static AUDIT_DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
static AUDIT_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static SNAPSHOT_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(3_600);
static SNAPSHOT_RETENTION_DAYS: GucSetting<i32> = GucSetting::<i32>::new(30);
static ROLLBACK_WINDOW_S: GucSetting<i32> = GucSetting::<i32>::new(7 * 86_400);
static REQUEST_RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(90 * 86_400);
static USAGE_RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(90 * 86_400);
static CHAT_RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(30 * 86_400);
static CHAT_QUOTA_KB: GucSetting<i32> = GucSetting::<i32>::new(8 * 1024);
static AUDIT_SLOW_QUERY_MS: GucSetting<i32> = GucSetting::<i32>::new(100);
static AUDIT_SLOW_QUERY_CALLS: GucSetting<i32> = GucSetting::<i32>::new(10);
static LLM_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(3);
static LLM_SEND_SAMPLE_VALUES: GucSetting<bool> = GucSetting::<bool>::new(false);
static LLM_MAX_RESPONSE_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);
static ASK_SAMPLE_THRESHOLD: GucSetting<f64> = GucSetting::<f64>::new(0.92);
static ASK_MIN_CONFIDENCE: GucSetting<f64> = GucSetting::<f64>::new(0.6);
static ASK_MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);
static ASK_VALUES_PER_COLUMN: GucSetting<i32> = GucSetting::<i32>::new(1000);
static ASK_MAX_COST: GucSetting<f64> = GucSetting::<f64>::new(1e7);
static ADVISOR_SEARCH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"greedy"));
static ASK_SCHEMAS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static EXECUTE_AS: GucSetting<ExecuteAs> = GucSetting::<ExecuteAs>::new(ExecuteAs::Requester);

/// Whose rights an approved statement runs with (`ai_architect.execute_as`).
#[derive(pgrx::PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExecuteAs {
    /// the role that made the request (the default): approval is consent, never privilege
    #[name = c"requester"]
    Requester,
    /// the role that calls ai.execute: functions the statement reaches run with its rights
    #[name = c"executor"]
    Executor,
}

/// Registers every setting. Called once from `_PG_init`.
pub fn init() {
    GucRegistry::define_string_guc(
        c"ai_architect.model_path",
        c"Path of the ONNX embedding model (all-MiniLM-L6-v2, 384 dimensions).",
        c"May start with $sharedir. Only superusers can change it: the file is read by the server process.",
        &MODEL_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.tokenizer_path",
        c"Path of the tokenizer.json that goes with the embedding model.",
        c"May start with $sharedir. Only superusers can change it.",
        &TOKENIZER_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.onnxruntime_path",
        c"Path of the ONNX Runtime shared library loaded into the backend.",
        c"May start with $libdir. Only superusers can change it: the library is loaded into the server process.",
        &ONNXRUNTIME_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.embedding_threads",
        c"Intra-op threads ONNX Runtime may use per backend for embeddings.",
        c"Keep it low: every backend that embeds gets its own threads.",
        &EMBEDDING_THREADS,
        1,
        16,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.embedding_batch_size",
        c"Texts embedded per ONNX run by ai.embed(text[]) and the catalog.",
        c"Texts are sorted by length first; cancellation is checked between batches.",
        &EMBEDDING_BATCH_SIZE,
        1,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.llm_base_url",
        c"Base URL of an OpenAI-compatible chat-completions API; empty means no LLM.",
        c"Without it ai.ask uses the in-process engine. Only superusers can change it: schema text is sent there.",
        &LLM_BASE_URL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.llm_model",
        c"Model name sent to the LLM API.",
        c"",
        &LLM_MODEL,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: the show hook is a plain function that cannot panic.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"ai_architect.llm_api_key",
            c"API key for the LLM API (superuser only, never shown).",
            c"SHOW prints ******** when a key is set.",
            &LLM_API_KEY,
            GucContext::Suset,
            GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
            None,
            None,
            Some(show_masked),
        );
    }
    // SAFETY: the show hook is a plain function that cannot panic.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"ai_architect.audit_hmac_key",
            c"Key of the HMAC that seals the head of the audit chain (superuser only, never shown).",
            c"Set it in postgresql.conf: without the key, entries cannot be re-chained so that ai.verify_audit() agrees.",
            &AUDIT_HMAC_KEY,
            GucContext::Suset,
            GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
            None,
            None,
            Some(show_masked),
        );
    }
    GucRegistry::define_int_guc(
        c"ai_architect.llm_timeout_ms",
        c"Timeout of one LLM request.",
        c"",
        &LLM_TIMEOUT_MS,
        100,
        600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.llm_max_attempts",
        c"How many answers ai.ask asks the LLM for before giving up.",
        c"An answer that does not parse, is not a safe SELECT or does not plan goes back to the model with the error.",
        &LLM_MAX_ATTEMPTS,
        1,
        10,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"ai_architect.llm_send_sample_values",
        c"Whether the tables sent to the LLM carry sample values of their columns.",
        c"Off by default: only names, types, keys and comments leave the database. Only superusers can change it.",
        &LLM_SEND_SAMPLE_VALUES,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.llm_max_response_bytes",
        c"Largest LLM response body ai.ask reads; a larger one is refused.",
        c"",
        &LLM_MAX_RESPONSE_BYTES,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"ai_architect.ask_sample_threshold",
        c"Similarity from which a stored sample answers ai.ask directly.",
        c"Cosine similarity of the question embeddings, 0 to 1; literals that differ are adapted.",
        &ASK_SAMPLE_THRESHOLD,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"ai_architect.ask_min_confidence",
        c"Confidence below which the in-process engine does not run its SQL.",
        c"ai.ask then returns its best attempt with the words it did not understand, unexecuted.",
        &ASK_MIN_CONFIDENCE,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.ask_max_bytes",
        c"Largest result, in bytes of JSON, that ai.ask returns; the rest is cut (truncated = true).",
        c"",
        &ASK_MAX_BYTES,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.ask_values_per_column",
        c"How many values of each text column the catalog keeps for ai.ask to find (the most frequent).",
        c"Read at refresh time from the first 20,000 rows of each table; 0 keeps none.",
        &ASK_VALUES_PER_COLUMN,
        0,
        100_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"ai_architect.ask_max_cost",
        c"Largest planner cost of a generated query ai.ask runs (0: no limit).",
        c"Checked with EXPLAIN before running.",
        &ASK_MAX_COST,
        0.0,
        1e300,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.statement_timeout_ms",
        c"statement_timeout applied to SQL that ai_architect generates and runs.",
        c"",
        &STATEMENT_TIMEOUT_MS,
        1,
        3_600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.impact_timeout_ms",
        c"Time limit of ai.impact's exact counts and dry runs.",
        c"Past it the analysis stops with an error; the statement is never left half-run.",
        &IMPACT_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.work_timeout_ms",
        c"Time limit of one call of the architect's analyses and of the background worker's work.",
        c"Index advice, lint, ERD, DDL proposals, insights, metrics, audit verification, snapshots, audits, webhook delivery and the catalog refresh inside a question; the caller's sooner statement_timeout stays in charge.",
        &WORK_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.approval_ttl",
        c"How long an approval request lives before it expires.",
        c"",
        &APPROVAL_TTL_S,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.chat_session_ttl",
        c"How long an ai.chat() session lives after its last message.",
        c"An expired session's turns are deleted; its next message starts a new conversation.",
        &CHAT_SESSION_TTL_S,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"ai_architect.approval_webhook_url",
        c"Slack-compatible webhook told about every approval state change.",
        c"Messages are queued with the change and sent after commit by ai.deliver_notifications().",
        &APPROVAL_WEBHOOK_URL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.approval_webhook_timeout_ms",
        c"Timeout of one webhook delivery.",
        c"",
        &APPROVAL_WEBHOOK_TIMEOUT_MS,
        100,
        600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.execute_statement_timeout_ms",
        c"statement_timeout of a statement ai.execute runs.",
        c"",
        &EXECUTE_STATEMENT_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.execute_lock_timeout_ms",
        c"lock_timeout of a statement ai.execute runs.",
        c"",
        &EXECUTE_LOCK_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.execute_timeout_ceiling_ms",
        c"The most execute_statement_timeout_ms can be when ai.execute runs another role's statement.",
        c"An executor may lower the time limit of a statement it runs for its requester, never raise it beyond this. Only superusers change it.",
        &EXECUTE_TIMEOUT_CEILING_MS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.online_timeout_ms",
        c"Time limit of an approved statement that runs outside a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...).",
        c"Such statements are run by a background worker of their own; past this limit the statement is cancelled and the request fails. Only superusers change it.",
        &ONLINE_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.batch_pause_ms",
        c"Pause between two batches of an approved statement run in batches (ai.request(..., batch_rows => n)).",
        c"Read when ai.execute starts the statement.",
        &BATCH_PAUSE_MS,
        0,
        3_600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.batch_max_replay_lag",
        c"Before its next batch, a statement run in batches waits until no standby's replay is further behind than this; 0 does not wait.",
        c"Measured as WAL bytes between the primary's current position and each standby's replay position (pg_stat_replication). Read when ai.execute starts the statement.",
        &BATCH_MAX_REPLAY_LAG,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_bool_guc(
        c"ai_architect.keep_invalid_indexes",
        c"Whether an index a failed concurrent build leaves INVALID is kept (for inspection) instead of dropped.",
        c"Read when ai.execute starts the statement. Either way the execution reports the index.",
        &KEEP_INVALID_INDEXES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.execute_lock_retry_ms",
        c"How long ai.execute keeps trying again when its statement cannot take its locks within execute_lock_timeout_ms; 0 tries once.",
        c"Each attempt waits at most execute_lock_timeout_ms (readers queue behind it no longer), is rolled back, logged in the audit trail with the sessions that held the locks, and followed by a pause that doubles from 250 ms up to 5 s.",
        &EXECUTE_LOCK_RETRY_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"ai_architect.curator_role",
        c"Role whose members review samples (ai.review_sample); their own samples count as reviewed.",
        c"ai.ask uses a sample only when its caller wrote it or a curator reviewed it.",
        &CURATOR_ROLE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.worker_role",
        c"Role the background worker connects as: a non-superuser LOGIN role, member of pg_monitor.",
        c"Create it with: CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor. Without it the worker waits and logs why.",
        &WORKER_ROLE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.audit_database",
        c"Database the background worker connects to for scheduled audits.",
        c"Set it in postgresql.conf; the worker reconnects on reload.",
        &AUDIT_DATABASE,
        // Not Postmaster: a Postmaster setting cannot be defined when the library is loaded
        // into a running server (CREATE EXTENSION without preloading).
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.audit_interval",
        c"Interval between two audits of the background worker; 0 disables them.",
        c"",
        &AUDIT_INTERVAL_S,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.snapshot_interval",
        c"Interval between two pg_stat_statements snapshots of the background worker; 0 disables them.",
        c"The snapshots are what ai.insights() compares to find regressions.",
        &SNAPSHOT_INTERVAL_S,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.snapshot_retention",
        c"Days of pg_stat_statements snapshots ai.snapshot_stats() keeps.",
        c"",
        &SNAPSHOT_RETENTION_DAYS,
        1,
        3650,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ai_architect.rollback_window",
        c"How long after its execution ai.rollback can undo an approved statement.",
        c"The row backups of an execution are kept this long, then removed by ai.run_audit() and the background worker.",
        &ROLLBACK_WINDOW_S,
        60,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.request_retention",
        c"How long finished approval requests are kept after their last change.",
        c"Rejected, expired, cancelled, failed, executed and rolled-back requests; never one whose execution can still be rolled back. Audit entries are never removed.",
        &REQUEST_RETENTION_S,
        60,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.usage_retention",
        c"How long ai.query_usage_stats keeps a question that received no feedback.",
        c"",
        &USAGE_RETENTION_S,
        60,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.chat_retention",
        c"Sessions of ai.chat() idle longer than this are removed, whoever they belong to.",
        c"The ceiling of ai_architect.chat_session_ttl, which each user may lower for their own sessions.",
        &CHAT_RETENTION_S,
        60,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.chat_quota",
        c"Storage one role's ai.chat() turns may take; the oldest turns go first.",
        c"Measured as the stored rows' size.",
        &CHAT_QUOTA_KB,
        64,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.audit_slow_query_ms",
        c"ai.run_audit() reports statements whose mean time is at least this.",
        c"Together with ai_architect.audit_slow_query_calls.",
        &AUDIT_SLOW_QUERY_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"ai_architect.audit_slow_query_calls",
        c"ai.run_audit() reports slow statements only from this many calls on.",
        c"",
        &AUDIT_SLOW_QUERY_CALLS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.advisor_search",
        c"How ai.suggest_indexes chooses among candidates: greedy, exhaustive or per_query.",
        c"greedy: over the whole workload, with write and size costs (the default). exhaustive: every combination up to max_indexes, for small workloads and for checking greedy. per_query: every single-column index any one query's plan would use, the way per-query advisors work; for comparison.",
        &ADVISOR_SEARCH,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ai_architect.ask_schemas",
        c"The schemas ai.ask chooses tables from: empty for those on the caller's search_path, a list like a search_path, or * for every schema the caller can use.",
        c"Read the way PostgreSQL reads a search_path (quotes keep case; schemas that do not exist or that the caller may not use are left out). A question over tables in no listed schema is not understood.",
        &ASK_SCHEMAS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"ai_architect.execute_as",
        c"Whose rights an approved statement runs with: requester (the default) or executor.",
        c"requester: the role that made the request, with the search_path it was analysed under; approval is consent, not privilege, and no function the requester wrote runs with the executor's rights. executor: the role that calls ai.execute (the model of a DBA who runs what developers may not). Only superusers change it.",
        &EXECUTE_AS,
        GucContext::Suset,
        GucFlags::default(),
    );
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn show_masked() -> *const std::ffi::c_char {
    // SAFETY: reading the GUC's own storage, on the main thread, as PostgreSQL does.
    let set = unsafe { !(*LLM_API_KEY.as_ptr()).is_null() && **LLM_API_KEY.as_ptr() != 0 };
    if set {
        c"********".as_ptr()
    } else {
        c"".as_ptr()
    }
}

fn string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .map(|c| c.to_string_lossy().into_owned())
        .filter(|s| !s.trim().is_empty())
}

pub fn model_path() -> String {
    string(&MODEL_PATH).unwrap_or_default()
}
pub fn tokenizer_path() -> String {
    string(&TOKENIZER_PATH).unwrap_or_default()
}
pub fn onnxruntime_path() -> String {
    string(&ONNXRUNTIME_PATH).unwrap_or_default()
}
pub fn embedding_threads() -> usize {
    EMBEDDING_THREADS.get().max(1) as usize
}
pub fn embedding_batch_size() -> usize {
    EMBEDDING_BATCH_SIZE.get().max(1) as usize
}
pub fn llm_base_url() -> Option<String> {
    string(&LLM_BASE_URL)
}
pub fn llm_model() -> String {
    string(&LLM_MODEL).unwrap_or_else(|| "gpt-4o-mini".into())
}
pub fn audit_hmac_key() -> Option<String> {
    string(&AUDIT_HMAC_KEY)
}
pub fn llm_api_key() -> Option<String> {
    string(&LLM_API_KEY)
}
pub fn llm_timeout_ms() -> u64 {
    LLM_TIMEOUT_MS.get().max(1) as u64
}
pub fn llm_max_attempts() -> usize {
    LLM_MAX_ATTEMPTS.get().max(1) as usize
}
pub fn llm_send_sample_values() -> bool {
    LLM_SEND_SAMPLE_VALUES.get()
}
pub fn llm_max_response_bytes() -> usize {
    LLM_MAX_RESPONSE_BYTES.get().max(1024) as usize
}
pub fn ask_sample_threshold() -> f64 {
    ASK_SAMPLE_THRESHOLD.get()
}
pub fn ask_min_confidence() -> f64 {
    ASK_MIN_CONFIDENCE.get()
}
pub fn ask_max_bytes() -> usize {
    ASK_MAX_BYTES.get().max(1024) as usize
}
pub fn ask_values_per_column() -> i64 {
    ASK_VALUES_PER_COLUMN.get().max(0) as i64
}
pub fn ask_max_cost() -> f64 {
    ASK_MAX_COST.get()
}
pub fn statement_timeout_ms() -> u64 {
    STATEMENT_TIMEOUT_MS.get().max(1) as u64
}
pub fn impact_timeout_ms() -> u64 {
    IMPACT_TIMEOUT_MS.get().max(1) as u64
}
pub fn work_timeout_ms() -> u64 {
    WORK_TIMEOUT_MS.get().max(1) as u64
}
pub fn approval_ttl_s() -> u64 {
    APPROVAL_TTL_S.get().max(1) as u64
}
pub fn chat_session_ttl_s() -> u64 {
    CHAT_SESSION_TTL_S.get().max(1) as u64
}
pub fn approval_webhook_url() -> Option<String> {
    string(&APPROVAL_WEBHOOK_URL)
}
pub fn approval_webhook_timeout_ms() -> u64 {
    APPROVAL_WEBHOOK_TIMEOUT_MS.get().max(1) as u64
}
/// `execute_statement_timeout_ms`, capped by `execute_timeout_ceiling_ms` when the
/// statement runs for another role than the caller.
pub fn execute_statement_timeout_ms_for(another_role: bool) -> u64 {
    let ms = execute_statement_timeout_ms();
    if another_role {
        ms.min(EXECUTE_TIMEOUT_CEILING_MS.get().max(1) as u64)
    } else {
        ms
    }
}
pub fn execute_statement_timeout_ms() -> u64 {
    EXECUTE_STATEMENT_TIMEOUT_MS.get().max(1) as u64
}
pub fn execute_lock_timeout_ms() -> u64 {
    EXECUTE_LOCK_TIMEOUT_MS.get().max(1) as u64
}
pub fn online_timeout_ms() -> u64 {
    ONLINE_TIMEOUT_MS.get().max(1) as u64
}
pub fn batch_pause_ms() -> u64 {
    BATCH_PAUSE_MS.get().max(0) as u64
}
/// in bytes
pub fn batch_max_replay_lag() -> u64 {
    BATCH_MAX_REPLAY_LAG.get().max(0) as u64 * 1024
}
pub fn keep_invalid_indexes() -> bool {
    KEEP_INVALID_INDEXES.get()
}
pub fn execute_lock_retry_ms() -> u64 {
    EXECUTE_LOCK_RETRY_MS.get().max(0) as u64
}
pub fn curator_role() -> String {
    string(&CURATOR_ROLE).unwrap_or_else(|| "ai_curator".into())
}
pub fn worker_role() -> String {
    string(&WORKER_ROLE).unwrap_or_else(|| "ai_architect_worker".into())
}
pub fn audit_database() -> String {
    string(&AUDIT_DATABASE).unwrap_or_else(|| "postgres".into())
}
pub fn audit_interval_s() -> u64 {
    AUDIT_INTERVAL_S.get().max(0) as u64
}
pub fn snapshot_interval_s() -> u64 {
    SNAPSHOT_INTERVAL_S.get().max(0) as u64
}
pub fn snapshot_retention_days() -> i32 {
    SNAPSHOT_RETENTION_DAYS.get().max(1)
}
pub fn rollback_window_s() -> i64 {
    ROLLBACK_WINDOW_S.get().max(60) as i64
}
pub fn request_retention_s() -> i64 {
    REQUEST_RETENTION_S.get().max(60) as i64
}
pub fn usage_retention_s() -> i64 {
    USAGE_RETENTION_S.get().max(60) as i64
}
pub fn chat_retention_s() -> i64 {
    CHAT_RETENTION_S.get().max(60) as i64
}
pub fn chat_quota_bytes() -> i64 {
    CHAT_QUOTA_KB.get().max(64) as i64 * 1024
}
pub fn audit_slow_query_ms() -> f64 {
    AUDIT_SLOW_QUERY_MS.get().max(0) as f64
}
pub fn audit_slow_query_calls() -> i64 {
    AUDIT_SLOW_QUERY_CALLS.get().max(1) as i64
}
/// `ai_architect.ask_schemas`: None for the caller's search_path.
pub fn ask_schemas() -> Option<String> {
    string(&ASK_SCHEMAS)
}
pub fn execute_as() -> ExecuteAs {
    EXECUTE_AS.get()
}
pub fn advisor_search() -> String {
    string(&ADVISOR_SEARCH).unwrap_or_else(|| "greedy".into())
}
