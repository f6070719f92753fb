//! The tools: what each one is called, what it may change, the arguments it takes and the one
//! SQL statement it runs. Every statement calls an `ai.*` function (or reads the system
//! catalog, for describe_table) with the arguments as bound parameters: nothing an agent
//! sends becomes SQL text here, and every safety rule is the database's.

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    Database,
    Impact,
    Approval,
    Monitor,
}

impl Set {
    pub const ALL: [Set; 4] = [Set::Database, Set::Impact, Set::Approval, Set::Monitor];
    pub fn name(self) -> &'static str {
        match self {
            Set::Database => "database",
            Set::Impact => "impact",
            Set::Approval => "approval",
            Set::Monitor => "monitor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    /// an integer from `min` to `max`
    Int {
        min: i64,
        max: i64,
    },
    /// one of the listed words
    Choice(&'static [&'static str]),
}

#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub doc: &'static str,
}

/// What the statement returns, as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// one value (jsonb, text or a number)
    Value,
    /// a set of rows, read up to the row cap
    Rows,
}

#[derive(Debug)]
pub struct Tool {
    pub name: &'static str,
    pub set: Set,
    pub title: &'static str,
    pub doc: &'static str,
    pub effect: Effect,
    pub args: &'static [Arg],
    /// the `ai.*` function called with named arguments, or a fixed statement (`$1`…)
    pub call: Call,
    pub returns: Returns,
}

impl Tool {
    /// changes something (state of ai_architect or user data): hidden by --read-only
    pub fn writes(&self) -> bool {
        self.effect != Effect::Reads
    }
    pub fn destructive(&self) -> bool {
        self.effect == Effect::ChangesData
    }
    pub fn idempotent(&self) -> bool {
        self.effect == Effect::Reads
    }
}

#[derive(Debug)]
pub enum Call {
    Function(&'static str),
    Statement(&'static str),
}

const fn arg(name: &'static str, kind: Kind, doc: &'static str) -> Arg {
    Arg {
        name,
        kind,
        required: true,
        doc,
    }
}
const fn opt(name: &'static str, kind: Kind, doc: &'static str) -> Arg {
    Arg {
        name,
        kind,
        required: false,
        doc,
    }
}

const TEXT: Kind = Kind::Text;
const BOOL: Kind = Kind::Bool;
const ID: Kind = Kind::Int {
    min: 1,
    max: i64::MAX,
};
const MODES: Kind = Kind::Choice(&["estimate", "exact", "dry_run"]);

/// The largest text argument accepted (a question, a statement).
pub const MAX_TEXT: usize = 100_000;

const DESCRIBE_TABLE: &str = "
SELECT jsonb_build_object(
  'table', c.oid::regclass::text,
  'kind', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                         WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END,
  'description', pg_catalog.obj_description(c.oid, 'pg_class'),
  'rows_estimated', greatest(c.reltuples, 0)::bigint,
  'columns', (SELECT jsonb_agg(jsonb_build_object(
                 'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                 'nullable', NOT a.attnotnull, 'default', pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                 'description', pg_catalog.col_description(c.oid, a.attnum)) ORDER BY a.attnum)
                FROM pg_catalog.pg_attribute a
                LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 AND pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES')),
  'constraints', (SELECT jsonb_agg(jsonb_build_object('name', k.conname, 'definition', pg_catalog.pg_get_constraintdef(k.oid))
                         ORDER BY k.contype, k.conname)
                    FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid),
  'referenced_by', (SELECT jsonb_agg(jsonb_build_object('table', k.conrelid::regclass::text, 'name', k.conname,
                                                        'definition', pg_catalog.pg_get_constraintdef(k.oid)) ORDER BY 1)
                      FROM pg_catalog.pg_constraint k WHERE k.confrelid = c.oid AND k.contype = 'f'),
  'indexes', (SELECT jsonb_agg(pg_catalog.pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid)
                FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid))
  FROM pg_catalog.pg_class c
 WHERE c.oid = pg_catalog.to_regclass($1)
   AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')";

const LINT: &str = "
SELECT jsonb_build_object('statement', i -> 'statement', 'risk', i -> 'risk_level', 'lint', i -> 'lint',
                          'warnings', i -> 'warnings', 'locks', i -> 'locks')
  FROM ai.impact($1) AS i";

/// What a tool may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// nothing
    Reads,
    /// ai_architect's state (a request, a rating, the audit history)
    Writes,
    /// the user's data
    ChangesData,
}

const fn tool(
    effect: Effect,
    name: &'static str,
    set: Set,
    title: &'static str,
    doc: &'static str,
    args: &'static [Arg],
    call: Call,
    returns: Returns,
) -> Tool {
    Tool {
        name,
        set,
        title,
        doc,
        effect,
        args,
        call,
        returns,
    }
}

pub static TOOLS: &[Tool] = &[
    // ---- database ----
    tool(Effect::Reads, "ask", Set::Database, "Ask the database a question",
        "Turns a question in plain language into one SELECT, checked by PostgreSQL's parser \
              and analyser against ai_architect's allow list, and runs it with the rights of the \
              connected role (execute=false returns the SQL only). The answer says how it was \
              made (sample, llm, engine), its confidence, or the words that were not understood. \
              Nothing but reading is possible; the question is recorded in ai_architect's usage log.",
        &[
            arg("question", TEXT, "the question, in plain language"),
            opt("execute", BOOL, "run the query and return its rows (default true)"),
            opt("max_rows", Kind::Int { min: 1, max: 10_000 }, "rows returned at most (default and ceiling: the server's --max-rows)"),
        ],
        Call::Function("ask"), Returns::Value),
    tool(Effect::Reads, "generate_sql", Set::Database, "Write SQL for a question",
        "The validated SELECT ai_architect would run for a question, without running it.",
        &[arg("question", TEXT, "the question, in plain language")],
        Call::Function("generate_sql"), Returns::Value),
    tool(Effect::Reads, "search_catalog", Set::Database, "Find tables and columns",
        "Tables and columns whose names, comments and descriptions match a question \
              (semantic and lexical search over ai_architect's catalog), best first.",
        &[
            arg("question", TEXT, "what to look for"),
            opt("k", Kind::Int { min: 1, max: 100 }, "how many (default 10)"),
        ],
        Call::Function("search_catalog"), Returns::Rows),
    tool(Effect::Reads, "describe_table", Set::Database, "Describe a table",
        "Columns (type, nullability, default, description), constraints, foreign keys that \
              point at it, indexes and the estimated row count of a table or view the connected \
              role may use. The name is resolved like in a query (schema.table or the search path).",
        &[arg("table", TEXT, "the table's name, for example public.invoice")],
        Call::Statement(DESCRIBE_TABLE), Returns::Value),
    tool(Effect::Reads, "explain", Set::Database, "Explain a query",
        "PostgreSQL's plan of a query, with ai_architect's reading of it. analyze=true runs \
              the query (only a statement the allow list accepts for reading) to measure it.",
        &[
            arg("sql", TEXT, "the query"),
            opt("analyze", BOOL, "run it and report measured times and rows (default false)"),
        ],
        Call::Function("explain"), Returns::Value),
    tool(Effect::Reads, "similar_samples", Set::Database, "Stored questions like this one",
        "Stored question/SQL samples closest in meaning to a question, with their ratings.",
        &[
            arg("question", TEXT, "the question"),
            opt("k", Kind::Int { min: 1, max: 100 }, "how many (default 5)"),
        ],
        Call::Function("similar_samples"), Returns::Rows),
    tool(Effect::Writes, "feedback", Set::Database, "Rate an answer",
        "Rates an answer of ask (its usage_id): a rating from 1 to 5, whether it was correct, \
              and optionally the correct SQL. Corrections become samples only after review.",
        &[
            arg("usage_id", ID, "the usage_id the ask answer carried"),
            arg("rating", Kind::Int { min: 1, max: 5 }, "1 (useless) to 5 (exactly right)"),
            arg("is_correct", BOOL, "whether the answer was correct"),
            opt("correction", TEXT, "the SQL that would have been right"),
            opt("comment", TEXT, "a remark"),
        ],
        Call::Function("feedback"), Returns::Value),
    tool(Effect::Writes, "teach", Set::Database, "Say what a word means in this database",
        "Teaches ask a word of this database's questions: the table it names (no meaning), or \
              one expression over the table's columns — a column (milliseconds), an expression, a \
              measure (sum(unit_price * quantity)), a filter (status = 'archived') — judged by \
              PostgreSQL's analyser with the connected role's rights (the allow list, that table \
              only; nothing is run); kind relationship with another table's name names their join. \
              A curator's word is used at once; anyone else's is a proposal used only for them \
              until a curator reviews it. Returns the word's id.",
        &[
            arg("word", TEXT, "one to four words, for example takings"),
            arg("on_table", TEXT, "the table the word is about, for example public.invoice_line"),
            opt("meaning", TEXT, "the expression over its columns (none: the word names the table; for a relationship: the other table)"),
            opt("kind", Kind::Choice(&["table", "column", "measure", "filter", "relationship"]), "only needed for a relationship; otherwise it follows from the expression"),
            opt("note", TEXT, "a remark for people"),
        ],
        Call::Function("teach"), Returns::Value),
    tool(Effect::Reads, "unknown_words", Set::Database, "Words questions used that were not understood",
        "The words ask questions used in the last 30 days that their answers did not account \
              for, most frequent first, with the latest question of each: what is worth teaching. \
              Curators only (it reads everyone's questions).",
        &[opt("max_words", Kind::Int { min: 1, max: 10_000 }, "how many (default 20)")],
        Call::Function("unknown_words"), Returns::Rows),
    // ---- impact ----
    tool(Effect::Reads, "impact", Set::Impact, "What a statement would change",
        "Impact of a statement before it runs: rows per table (estimate from statistics, \
              exact counts, or dry_run: run and rolled back), the foreign-key cascade tree, \
              triggers, locks, risk and the rollback plan. Nothing is changed.",
        &[
            arg("sql", TEXT, "the statement"),
            opt("mode", MODES, "estimate (default), exact or dry_run"),
        ],
        Call::Function("impact"), Returns::Value),
    tool(Effect::Reads, "impact_report", Set::Impact, "What a statement would change, as a report",
        "The impact of a statement as a text report for people.",
        &[
            arg("sql", TEXT, "the statement"),
            opt("mode", MODES, "estimate (default), exact or dry_run"),
        ],
        Call::Function("impact_report"), Returns::Value),
    tool(Effect::Reads, "lint", Set::Impact, "Migration lint of a statement",
        "The migration-safety findings for a statement (a lock that blocks writes, an index \
              built without CONCURRENTLY, a column added with a volatile default, …), its locks, \
              risk and warnings, from the impact analysis. Nothing is changed.",
        &[arg("sql", TEXT, "the statement")],
        Call::Statement(LINT), Returns::Value),
    // ---- approval ----
    tool(Effect::Writes, "request", Set::Approval, "Ask for a change to be approved",
        "Files a statement for approval; its risk decides how many approvers it needs. \
              Returns the request id. Nothing runs until the request is approved and executed.",
        &[
            arg("sql", TEXT, "the statement to run once approved"),
            opt("reason", TEXT, "why it is needed"),
            opt(
                "batch_rows",
                Kind::Int { min: 1, max: 1_000_000 },
                "run an UPDATE or DELETE in batches of this many rows by its table's key, each batch in a transaction of its own",
            ),
        ],
        Call::Function("request"), Returns::Value),
    tool(Effect::Reads, "requests", Set::Approval, "List approval requests",
        "Approval requests the connected role may see, newest first, a page at a time, optionally in one state.",
        &[
            opt(
                "state",
                Kind::Choice(&["pending", "approved", "running", "rejected", "cancelled", "expired", "executed", "failed", "rolled_back"]),
                "only requests in this state",
            ),
            opt("max_rows", Kind::Int { min: 1, max: 10_000 }, "requests per page (default 100)"),
            opt("before_id", ID, "only requests older than this id: the last id of the previous page"),
        ],
        Call::Function("requests"), Returns::Rows),
    tool(Effect::Reads, "request_status", Set::Approval, "One approval request",
        "A request's state, statement, impact, approvals and executions.",
        &[arg("request", ID, "the request id")],
        Call::Function("request_status"), Returns::Value),
    tool(Effect::Writes, "approve", Set::Approval, "Approve a request",
        "Approves a request as the connected role. Separation of duties is the database's: \
              the requester cannot approve their own request, and only a role holding the \
              approver role of the request's risk level can; such an attempt is refused.",
        &[arg("request", ID, "the request id"), opt("comment", TEXT, "a remark")],
        Call::Function("approve"), Returns::Value),
    tool(Effect::Writes, "reject", Set::Approval, "Reject a request",
        "Rejects a request, with the reason (as for approve, the requester cannot decide).",
        &[arg("request", ID, "the request id"), arg("comment", TEXT, "why")],
        Call::Function("reject"), Returns::Value),
    tool(Effect::Writes, "cancel", Set::Approval, "Withdraw a request",
        "Withdraws one's own pending request.",
        &[arg("request", ID, "the request id")],
        Call::Function("cancel"), Returns::Value),
    tool(Effect::ChangesData, "execute", Set::Approval, "Run an approved request",
        "Runs an approved request's statement, exactly as approved, with the rights of the \
              role that requested it and the search_path it was analysed under (unless the \
              server sets ai_architect.execute_as = executor: then with the connected role's), \
              so every function it calls (listed under functions in its impact) runs with those \
              rights; only the requester or an approver of its level may run it. Backs up every \
              row it changes first; returns the execution id, counts, ran_as and the rollback \
              handle. Changes data.",
        &[arg("request", ID, "the request id")],
        Call::Function("execute"), Returns::Value),
    tool(Effect::ChangesData, "rollback", Set::Approval, "Undo an execution",
        "Restores the rows an execution changed from its backup; refuses when they were \
              changed since (force=true overrides, a stronger right). Changes data.",
        &[arg("execution", ID, "the execution id"), opt("force", BOOL, "restore over later changes")],
        Call::Function("rollback"), Returns::Value),
    tool(Effect::Reads, "verify_audit", Set::Approval, "Verify the audit trail",
        "Checks the hash chain of the approval audit trail end to end (for the roles an \
              administrator grants ai.verify_audit to).",
        &[],
        Call::Function("verify_audit"), Returns::Value),
    // ---- monitor ----
    tool(Effect::Reads, "insights", Set::Monitor, "Findings about the database",
        "Current findings (unused and duplicate indexes, bloat, missing foreign-key indexes, \
              slow queries, …) with the SQL that would fix each.",
        &[],
        Call::Function("insights"), Returns::Rows),
    tool(Effect::Reads, "top_queries", Set::Monitor, "The heaviest queries",
        "The top statements from pg_stat_statements (the texts the connected role may see).",
        &[
            opt("limit", Kind::Int { min: 1, max: 1000 }, "how many (default 10)"),
            opt("order_by", Kind::Choice(&["total_time", "mean_time", "calls", "rows"]), "the measure (default total_time)"),
        ],
        Call::Function("top_queries"), Returns::Rows),
    tool(Effect::Reads, "suggest_indexes", Set::Monitor, "Index advice",
        "Indexes that would speed up one query or the recorded workload, each measured with a \
              hypothetical index (HypoPG); nothing is created.",
        &[
            opt("query", TEXT, "one query to advise on (default: the workload)"),
            opt("max_indexes", Kind::Int { min: 1, max: 50 }, "at most this many (default 5)"),
            opt("workload_size", Kind::Int { min: 1, max: 10_000 }, "statements of the workload considered (default 200)"),
        ],
        Call::Function("suggest_indexes"), Returns::Rows),
    tool(Effect::Writes, "run_audit", Set::Monitor, "Run the periodic audit now",
        "Runs the audit the background worker runs: takes a statistics snapshot and records \
              findings and advice in ai_architect's history (members of pg_monitor). Changes no \
              user data.",
        &[],
        Call::Function("run_audit"), Returns::Value),
    tool(Effect::Reads, "version", Set::Monitor, "ai_architect's version and runtime",
        "The extension's version, the server's, and the state of its runtime parts.",
        &[],
        Call::Function("version"), Returns::Value),
];

/// The tools served: those of the chosen sets, without the writing ones when read-only.
pub fn served(sets: &[Set], read_only: bool) -> impl Iterator<Item = &'static Tool> + '_ {
    TOOLS
        .iter()
        .filter(move |t| sets.contains(&t.set) && !(read_only && t.writes()))
}

/// A tool's arguments as JSON Schema.
pub fn input_schema(t: &Tool) -> Map<String, Value> {
    let mut props = Map::new();
    for a in t.args {
        let mut p = match a.kind {
            Kind::Text => json!({"type": "string", "maxLength": MAX_TEXT}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
            Kind::Choice(words) => json!({"type": "string", "enum": words}),
        };
        p["description"] = json!(a.doc);
        props.insert(a.name.into(), p);
    }
    let required: Vec<&str> = t
        .args
        .iter()
        .filter(|a| a.required)
        .map(|a| a.name)
        .collect();
    let mut m = Map::new();
    m.insert("type".into(), json!("object"));
    m.insert("properties".into(), Value::Object(props));
    m.insert("required".into(), json!(required));
    m.insert("additionalProperties".into(), json!(false));
    m
}

/// One statement to run: SQL text written here, and the agent's values as text parameters.
#[derive(Debug, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

/// Checks the arguments against the tool's and builds its statement; an error says what is
/// wrong in words an agent can act on. `max_rows` is the server's row cap.
pub fn statement(
    t: &Tool,
    args: &Map<String, Value>,
    max_rows: usize,
) -> Result<Statement, String> {
    for k in args.keys() {
        if !t.args.iter().any(|a| a.name == k) {
            let known: Vec<&str> = t.args.iter().map(|a| a.name).collect();
            return Err(format!(
                "{}: unknown argument {k:?} (arguments: {})",
                t.name,
                known.join(", ")
            ));
        }
    }
    let mut values: Vec<(&Arg, String)> = Vec::new();
    for a in t.args {
        let v = match args.get(a.name) {
            None | Some(Value::Null) if a.required => {
                return Err(format!(
                    "{}: argument {:?} is required ({})",
                    t.name, a.name, a.doc
                ))
            }
            None | Some(Value::Null) => continue,
            Some(v) => v,
        };
        let text = value_text(t, a, v)?;
        values.push((a, text));
    }
    // ask: the row cap is the server's
    if t.name == "ask" {
        let cap = max_rows.to_string();
        match values.iter_mut().find(|(a, _)| a.name == "max_rows") {
            Some((_, v)) if v.parse::<usize>().map_or(true, |n| n > max_rows) => *v = cap,
            Some(_) => {}
            None => {
                let a = t
                    .args
                    .iter()
                    .find(|a| a.name == "max_rows")
                    .expect("ask has max_rows");
                values.push((a, cap));
            }
        }
    }
    let params: Vec<Option<String>> = values.iter().map(|(_, v)| Some(v.clone())).collect();
    let sql = match t.call {
        Call::Statement(sql) => sql.to_string(),
        Call::Function(f) => {
            let named: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, (a, _))| {
                    format!("\"{}\" => ({}){}", a.name, placeholder(i + 1), cast(a.kind))
                })
                .collect();
            let call = format!("ai.\"{f}\"({})", named.join(", "));
            match t.returns {
                Returns::Value => format!("SELECT pg_catalog.to_jsonb({call})"),
                Returns::Rows => format!(
                    "SELECT pg_catalog.to_jsonb(r) FROM {call} AS r LIMIT {}",
                    max_rows + 1
                ),
            }
        }
    };
    Ok(Statement { sql, params })
}

fn placeholder(n: usize) -> String {
    format!("${n}::text")
}

fn cast(k: Kind) -> &'static str {
    match k {
        Kind::Text | Kind::Choice(_) => "",
        Kind::Bool => "::bool",
        Kind::Int { max, .. } if max > i32::MAX as i64 => "::int8",
        Kind::Int { .. } => "::int4",
    }
}

fn value_text(t: &Tool, a: &Arg, v: &Value) -> Result<String, String> {
    let wrong = |what: &str| {
        format!(
            "{}: argument {:?} must be {what} ({})",
            t.name, a.name, a.doc
        )
    };
    match a.kind {
        Kind::Text => {
            let s = v.as_str().ok_or_else(|| wrong("a string"))?;
            if s.len() > MAX_TEXT {
                return Err(wrong(&format!("at most {MAX_TEXT} bytes")));
            }
            if s.contains('\0') {
                return Err(wrong("text without NUL characters"));
            }
            if a.required && s.trim().is_empty() {
                return Err(wrong("a non-empty string"));
            }
            Ok(s.to_string())
        }
        Kind::Bool => v
            .as_bool()
            .map(|b| b.to_string())
            .ok_or_else(|| wrong("true or false")),
        Kind::Int { min, max } => {
            let n = v
                .as_i64()
                .ok_or_else(|| wrong(&format!("an integer from {min} to {max}")))?;
            if n < min || n > max {
                return Err(wrong(&format!("an integer from {min} to {max}")));
            }
            Ok(n.to_string())
        }
        Kind::Choice(words) => {
            let s = v.as_str().filter(|s| words.contains(s));
            s.map(str::to_string)
                .ok_or_else(|| wrong(&format!("one of {}", words.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> &'static Tool {
        TOOLS.iter().find(|t| t.name == name).unwrap()
    }
    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_four_sets_have_their_tools() {
        let names = |s: Set| served(&[s], false).map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(
            names(Set::Database),
            [
                "ask",
                "generate_sql",
                "search_catalog",
                "describe_table",
                "explain",
                "similar_samples",
                "feedback",
                "teach",
                "unknown_words",
            ]
        );
        assert_eq!(names(Set::Impact), ["impact", "impact_report", "lint"]);
        assert_eq!(
            names(Set::Approval),
            [
                "request",
                "requests",
                "request_status",
                "approve",
                "reject",
                "cancel",
                "execute",
                "rollback",
                "verify_audit"
            ]
        );
        assert_eq!(
            names(Set::Monitor),
            [
                "insights",
                "top_queries",
                "suggest_indexes",
                "run_audit",
                "version"
            ]
        );
    }

    #[test]
    fn read_only_hides_every_writer() {
        let ro: Vec<&str> = served(&Set::ALL, true).map(|t| t.name).collect();
        for w in [
            "feedback",
            "request",
            "approve",
            "reject",
            "cancel",
            "execute",
            "rollback",
            "run_audit",
        ] {
            assert!(!ro.contains(&w), "{w} served read-only");
        }
        assert!(ro.contains(&"ask") && ro.contains(&"impact") && ro.contains(&"verify_audit"));
        // a tool that is destructive or not idempotent writes
        for t in TOOLS {
            assert!(!t.destructive() || t.writes(), "{}", t.name);
            assert!(t.idempotent() || t.writes(), "{}", t.name);
        }
        let destructive: Vec<&str> = TOOLS
            .iter()
            .filter(|t| t.destructive())
            .map(|t| t.name)
            .collect();
        assert_eq!(destructive, ["execute", "rollback"]);
    }

    #[test]
    fn arguments_are_bound_never_written_into_the_sql() {
        let hostile = "x'); DROP TABLE invoice; --";
        let s = statement(
            tool("impact"),
            &args(json!({"sql": hostile, "mode": "exact"})),
            100,
        )
        .unwrap();
        assert_eq!(s.sql, "SELECT pg_catalog.to_jsonb(ai.\"impact\"(\"sql\" => ($1::text), \"mode\" => ($2::text)))");
        assert_eq!(
            s.params,
            vec![Some(hostile.to_string()), Some("exact".into())]
        );
        let s = statement(
            tool("describe_table"),
            &args(json!({"table": hostile})),
            100,
        )
        .unwrap();
        assert!(!s.sql.contains("DROP"));
        assert_eq!(s.params, vec![Some(hostile.to_string())]);
    }

    #[test]
    fn optional_arguments_are_left_to_the_function_default() {
        let s = statement(
            tool("search_catalog"),
            &args(json!({"question": "albums"})),
            100,
        )
        .unwrap();
        assert_eq!(
            s.sql,
            "SELECT pg_catalog.to_jsonb(r) FROM ai.\"search_catalog\"(\"question\" => ($1::text)) AS r LIMIT 101"
        );
        let s = statement(
            tool("rollback"),
            &args(json!({"execution": 7, "force": true})),
            100,
        )
        .unwrap();
        assert!(
            s.sql
                .contains("\"execution\" => ($1::text)::int8, \"force\" => ($2::text)::bool"),
            "{}",
            s.sql
        );
        let s = statement(tool("version"), &Map::new(), 100).unwrap();
        assert_eq!(s.sql, "SELECT pg_catalog.to_jsonb(ai.\"version\"())");
        assert!(s.params.is_empty());
    }

    #[test]
    fn ask_rows_are_capped_by_the_server() {
        let p = |v: Value, cap| statement(tool("ask"), &args(v), cap).unwrap().params;
        assert_eq!(
            p(json!({"question": "q"}), 100),
            vec![Some("q".into()), Some("100".into())]
        );
        assert_eq!(
            p(json!({"question": "q", "max_rows": 5}), 100)[1],
            Some("5".into())
        );
        assert_eq!(
            p(json!({"question": "q", "max_rows": 5000}), 100)[1],
            Some("100".into())
        );
        assert_eq!(
            p(json!({"question": "q", "execute": false}), 20),
            vec![Some("q".into()), Some("false".into()), Some("20".into())]
        );
    }

    #[test]
    fn wrong_arguments_are_refused_with_what_is_wrong() {
        let e = |t: &str, v: Value| statement(tool(t), &args(v), 100).unwrap_err();
        assert!(e("impact", json!({})).contains("\"sql\" is required"));
        assert!(e("impact", json!({"sql": "   "})).contains("non-empty"));
        assert!(e("impact", json!({"sql": 5})).contains("a string"));
        assert!(
            e("impact", json!({"sql": "x", "mode": "run"})).contains("estimate, exact, dry_run")
        );
        assert!(e("impact", json!({"sql": "x", "as_role": "postgres"}))
            .contains("unknown argument \"as_role\""));
        assert!(e(
            "feedback",
            json!({"usage_id": 1, "rating": 6, "is_correct": true})
        )
        .contains("from 1 to 5"));
        assert!(e(
            "feedback",
            json!({"usage_id": 1.5, "rating": 3, "is_correct": true})
        )
        .contains("integer"));
        assert!(e(
            "feedback",
            json!({"usage_id": 1, "rating": 3, "is_correct": "yes"})
        )
        .contains("true or false"));
        assert!(e("approve", json!({"request": 0})).contains("from 1"));
        assert!(e("ask", json!({"question": "a\u{0}b"})).contains("NUL"));
        assert!(e("ask", json!({"question": "x".repeat(MAX_TEXT + 1)})).contains("at most"));
        // null is absent
        assert!(statement(
            tool("approve"),
            &args(json!({"request": 3, "comment": null})),
            100
        )
        .is_ok());
    }

    #[test]
    fn schemas_say_the_same_as_the_checks() {
        let s = input_schema(tool("feedback"));
        assert_eq!(s["required"], json!(["usage_id", "rating", "is_correct"]));
        assert_eq!(s["properties"]["rating"]["maximum"], json!(5));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(
            input_schema(tool("impact"))["properties"]["mode"]["enum"],
            json!(["estimate", "exact", "dry_run"])
        );
    }
}
