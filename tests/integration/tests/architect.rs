//! The conversational architect on Chinook with several roles: follow-ups without a model,
//! the turns a model is given, private and expiring sessions, tool routing; DDL proposals
//! through the approval workflow; the diagram rendered by Graphviz; the postgres_exporter
//! queries and the Grafana dashboard built on them.
use ai_architect_integration::{connect, load_chinook, read_http_request, TestDb};
use postgres::Client;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// A database with Chinook and login roles that may read it; the roles go after the database.
struct Fixture {
    db: Option<TestDb>,
    roles: Vec<String>,
}

impl Fixture {
    fn new(tag: &str, names: &[&str]) -> Fixture {
        let db = TestDb::new(tag);
        let mut c = db.connect("postgres");
        load_chinook(&mut c);
        let mut roles = Vec::new();
        for n in names {
            let r = format!("{n}_{}", db.name.rsplit('_').take(2).collect::<Vec<_>>().join("_"));
            c.batch_execute(&format!(
                "CREATE ROLE {r} LOGIN; GRANT SELECT, REFERENCES ON ALL TABLES IN SCHEMA public TO {r}; GRANT CREATE ON SCHEMA public TO {r}"
            ))
            .unwrap();
            roles.push(r);
        }
        Fixture { db: Some(db), roles }
    }
    fn connect(&self, user: &str) -> Client {
        self.db.as_ref().unwrap().connect(user)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.db.take();
        let mut c = connect("postgres", "postgres");
        for r in &self.roles {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {r}"));
        }
    }
}

fn chat(c: &mut Client, session: &str, message: &str) -> Result<Value, String> {
    c.query_one("SELECT ai.chat($1, $2)::text", &[&session, &message])
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
        .map_err(|e| e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string()))
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn follow_ups_are_read_against_the_previous_question() {
    let f = Fixture::new("chat_follow", &[]);
    let mut c = f.connect("postgres");
    let year = |y: i32| format!("SELECT count(*) FROM invoice WHERE extract(year FROM invoice_date) = {y}");
    let t1 = chat(&mut c, "sales", "How many invoices were issued in 2022?").unwrap();
    assert_eq!(t1["tool"], "ask");
    assert_eq!(t1["result"]["rows"][0]["invoice_count"], count(&mut c, &year(2022)), "{t1}");
    let t2 = chat(&mut c, "sales", "and in 2023?").unwrap();
    assert_eq!(t2["question"], "How many invoices were issued in 2023");
    assert_eq!((t2["follow_up"].as_str(), t2["follow_up_of"].as_i64()), (Some("replaced"), Some(1)));
    assert_eq!(t2["result"]["rows"][0]["invoice_count"], count(&mut c, &year(2023)), "{t2}");
    let germany = format!("{} AND billing_country = 'Germany'", year(2023));
    let t3 = chat(&mut c, "sales", "only for Germany").unwrap();
    assert_eq!(t3["result"]["rows"][0]["invoice_count"], count(&mut c, &germany), "{t3}");
    let t4 = chat(&mut c, "sales", "show them").unwrap();
    assert_eq!(t4["question"], "List the invoices issued in 2023 for Germany");
    assert_eq!(t4["result"]["row_count"], count(&mut c, &germany), "{t4}");
    let t5 = chat(&mut c, "sales", "sorted by total").unwrap();
    let sql = t5["result"]["sql"].as_str().unwrap();
    assert!(sql.contains("ORDER BY i.total ASC"), "{t5}");
    let totals: Vec<f64> = t5["result"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["total"].as_str().map_or_else(|| r["total"].as_f64().unwrap(), |s| s.parse().unwrap()))
        .collect();
    assert_eq!(totals.len() as i64, count(&mut c, &germany));
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    // each ask turn links to its usage row, which holds the question as resolved
    let usage = t5["usage_id"].as_i64().unwrap();
    let q: String = c
        .query_one("SELECT question FROM ai.query_usage_stats WHERE id = $1", &[&usage])
        .unwrap()
        .get(0);
    assert_eq!(q, "List the invoices issued in 2023 for Germany sorted by total");
    let turns = count(&mut c, "SELECT count(*) FROM ai.chat_history('sales')");
    assert_eq!(turns, 10);
}

#[test]
fn sessions_are_private_and_expire() {
    let f = Fixture::new("chat_private", &["alice", "bob"]);
    let (alice, bob) = (&f.roles[0], &f.roles[1]);
    let mut a = f.connect(alice);
    let mut b = f.connect(bob);
    chat(&mut a, "s", "How many customers are there?").unwrap();
    assert_eq!(count(&mut a, "SELECT count(*) FROM ai.chat_messages"), 2);
    assert_eq!(count(&mut a, "SELECT count(*) FROM ai.chat_history()"), 2);
    // bob sees none of it, through the table or the function, and his session of the same
    // name has nothing to follow up on
    assert_eq!(count(&mut b, "SELECT count(*) FROM ai.chat_messages"), 0);
    assert_eq!(count(&mut b, "SELECT count(*) FROM ai.chat_history('s')"), 0);
    let e = chat(&mut b, "s", "and in Germany?").unwrap_err();
    assert!(e.contains("follows up on an earlier question, and this session has none"), "{e}");
    // nobody writes the table directly
    let w = b.batch_execute("INSERT INTO ai.chat_messages (session, turn, speaker, content) VALUES ('x', 1, 'user', 'x')");
    assert!(w.is_err());
    // an expired session is forgotten: its turns are gone and a follow-up has nothing to read
    a.batch_execute("SET ai_architect.chat_session_ttl = 1").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(count(&mut a, "SELECT count(*) FROM ai.chat_history()"), 0);
    let e = chat(&mut a, "s", "and in Germany?").unwrap_err();
    assert!(e.contains("has none"), "{e}");
    // the next question starts the session afresh: the expired turns are deleted
    let t = chat(&mut a, "s", "How many artists are there?").unwrap();
    assert_eq!(t["turn"], 1, "{t}");
    assert_eq!(count(&mut a, "SELECT count(*) FROM ai.chat_messages"), 2);
}

#[test]
fn a_session_keeps_its_last_50_turns() {
    let f = Fixture::new("chat_keep", &[]);
    let mut c = f.connect("postgres");
    for _ in 0..53 {
        chat(&mut c, "long", "How many albums are there?").unwrap();
    }
    let r = c
        .query_one("SELECT count(*), min(turn), max(turn) FROM ai.chat_history('long')", &[])
        .unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i32>(1), r.get::<_, i32>(2)), (100, 4, 53));
}

#[test]
fn each_message_goes_to_its_tool_and_nothing_changes() {
    let f = Fixture::new("chat_tools", &[]);
    let mut c = f.connect("postgres");
    let customers = count(&mut c, "SELECT count(*) FROM customer");
    let t = chat(&mut c, "ops", "What happens if I run DELETE FROM customer WHERE country = 'Germany'?").unwrap();
    assert_eq!(t["tool"], "impact");
    assert_eq!(t["result"]["statement_type"], "DELETE", "{t}");
    assert!(t["answer"].as_str().unwrap().contains("risk"), "{t}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM customer"), customers);
    // a statement PostgreSQL cannot read is answered with what it says, and the turn is kept
    let t = chat(&mut c, "ops", "what would DELETE FROM customer WHERE customer_id = 5 do").unwrap();
    assert_eq!(t["tool"], "impact");
    assert!(t["answer"].as_str().unwrap().starts_with("I could not answer: syntax error"), "{t}");
    let t = chat(&mut c, "ops", "lint my schema").unwrap();
    assert_eq!(t["tool"], "lint");
    let findings = t["result"].as_array().unwrap();
    assert!(findings.iter().any(|x| x["rule"] == "nullable_fk_always_filled"), "{t}");
    assert!(t["answer"].as_str().unwrap().starts_with(&format!("{} finding(s)", findings.len())), "{t}");
    assert_eq!(chat(&mut c, "ops", "Which indexes should I add?").unwrap()["tool"], "suggest_indexes");
    assert_eq!(chat(&mut c, "ops", "How is the database health?").unwrap()["tool"], "insights");
    let tools: Vec<String> = c
        .query("SELECT tool FROM ai.chat_history('ops') WHERE speaker = 'assistant' ORDER BY turn", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tools, ["impact", "impact", "lint", "suggest_indexes", "insights"]);
}

/// A chat-completions endpoint that answers each request with the next scripted SQL and
/// keeps the requests.
fn model(replies: Vec<&'static str>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for (s, reply) in l.incoming().zip(replies) {
            let Ok(mut s) = s else { continue };
            let (_, body) = read_http_request(&mut s);
            keep.lock().unwrap().push(body);
            let content = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}).to_string();
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{content}", content.len())
                    .as_bytes(),
            );
        }
    });
    (url, seen)
}

#[test]
fn with_a_model_the_earlier_turns_go_into_the_prompt() {
    let f = Fixture::new("chat_llm", &[]);
    let mut c = f.connect("postgres");
    let (url, seen) = model(vec![
        "```sql\nSELECT count(*) AS n FROM public.track WHERE milliseconds > 300000\n```",
        "```sql\nSELECT count(*) AS n FROM public.track WHERE milliseconds > 600000\n```",
    ]);
    c.batch_execute(&format!("SET ai_architect.llm_base_url = '{url}'; SET ai_architect.llm_max_attempts = 1")).unwrap();
    let t1 = chat(&mut c, "m", "How many songs run longer than five minutes?").unwrap();
    assert_eq!(t1["result"]["source"], "llm", "{t1}");
    let t2 = chat(&mut c, "m", "And longer than ten?").unwrap();
    assert_eq!(t2["result"]["source"], "llm", "{t2}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let second: Value = serde_json::from_str(&requests[1]).unwrap();
    let msgs = second["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"], "{second}");
    assert_eq!(msgs[1]["content"], "How many songs run longer than five minutes");
    assert!(msgs[2]["content"].as_str().unwrap().contains("milliseconds > 300000"), "{second}");
    assert_eq!(msgs[3]["content"], "And longer than ten");
    // the first request had no earlier turn
    let first: Value = serde_json::from_str(&requests[0]).unwrap();
    assert_eq!(first["messages"].as_array().unwrap().len(), 2);
}

#[test]
fn a_proposal_runs_only_once_approved_and_executed() {
    let f = Fixture::new("ddl", &["alice", "bob"]);
    let (alice, bob) = (&f.roles[0], &f.roles[1]);
    let mut a = f.connect(alice);
    let mut b = f.connect(bob);
    // a MEDIUM change (an index on an existing table) needs one approval, not the requester's
    let owner_grant = format!("ALTER TABLE invoice OWNER TO {alice}");
    f.connect("postgres").batch_execute(&owner_grant).unwrap();
    let p: Value = serde_json::from_str(
        a.query_one("SELECT ai.propose_ddl('add an index on invoice (billing_country)')::text", &[])
            .unwrap()
            .get::<_, &str>(0),
    )
    .unwrap();
    let id = p["request"].as_i64().unwrap();
    assert_eq!(p["state"], "pending", "{p}");
    assert!(a.batch_execute(&format!("SELECT ai.approve({id})")).is_err(), "the requester approved their own proposal");
    let idx = "SELECT count(*) FROM pg_indexes WHERE indexname = 'invoice_billing_country_idx'";
    assert_eq!(count(&mut a, idx), 0);
    b.batch_execute(&format!("SELECT ai.approve({id})")).unwrap();
    a.batch_execute(&format!("SELECT ai.execute({id})")).unwrap();
    assert_eq!(count(&mut a, idx), 1);
    // a new table: its own request, then the foreign key's index once the table exists
    let p: Value = serde_json::from_str(
        a.query_one(
            "SELECT ai.propose_ddl('add a table track_review with a rating from 1 to 5 and a comment, linked to track')::text",
            &[],
        )
        .unwrap()
        .get::<_, &str>(0),
    )
    .unwrap();
    let id = p["request"].as_i64().unwrap();
    assert_eq!(count(&mut a, "SELECT count(*) FROM pg_class WHERE relname = 'track_review'"), 0);
    if p["state"] == "pending" {
        b.batch_execute(&format!("SELECT ai.approve({id})")).unwrap();
    }
    a.batch_execute(&format!("SELECT ai.execute({id})")).unwrap();
    a.batch_execute("INSERT INTO track_review (track_id, rating, comment) VALUES (1, 5, 'great')").unwrap();
    assert!(a.batch_execute("INSERT INTO track_review (track_id, rating) VALUES (1, 6)").is_err(), "the CHECK is missing");
    let then = p["then"][0]["sql"].as_str().unwrap();
    let next: i64 = a.query_one("SELECT ai.request($1)", &[&then]).unwrap().get(0);
    let state: String = a.query_one("SELECT ai.request_status($1) ->> 'state'", &[&next]).unwrap().get(0);
    if state == "pending" {
        b.batch_execute(&format!("SELECT ai.approve({next})")).unwrap();
    }
    a.batch_execute(&format!("SELECT ai.execute({next})")).unwrap();
    let lint = count(&mut a, "SELECT count(*) FROM ai.lint_schema() WHERE object LIKE 'public.track_review%'");
    assert_eq!(lint, 0, "the proposed table has lint findings");
}

#[test]
fn the_diagram_of_chinook_renders() {
    let f = Fixture::new("erd", &[]);
    let mut c = f.connect("postgres");
    let m: String = c.query_one("SELECT ai.erd()", &[]).unwrap().get(0);
    let entities = m.lines().filter(|l| l.ends_with(" {")).count();
    let relations = m.lines().filter(|l| l.contains("--")).count();
    assert_eq!((entities, relations), (11, 11), "{m}");
    assert!(m.contains("    artist ||--o{ album : \"artist_id\""), "{m}");
    assert!(m.contains("    employee |o--o{ employee : \"reports_to\""), "{m}");
    let dot: String = c.query_one("SELECT ai.erd(format => 'dot')", &[]).unwrap().get(0);
    let mut p = std::process::Command::new("dot")
        .args(["-Tsvg"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("graphviz (dot) is installed by make setup");
    p.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(out.status.success(), "dot rejected the diagram: {}", String::from_utf8_lossy(&out.stderr));
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(svg.contains("<svg") && svg.contains("invoice_line"), "{svg}");
}

#[test]
fn every_exporter_query_runs_and_the_dashboard_uses_only_their_series() {
    let f = Fixture::new("metrics", &["monitor"]);
    let mon = &f.roles[0];
    let mut admin = f.connect("postgres");
    // functions are counted for the monitor's sessions (a superuser setting)
    admin
        .batch_execute(&format!(
            "GRANT pg_monitor TO {mon}; ALTER ROLE {mon} SET track_functions = 'all'"
        ))
        .unwrap();
    // something to count
    admin.batch_execute("SELECT ai.ask('How many albums are there?')").unwrap();
    let root = format!("{}/../..", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::read_to_string(format!("{root}/monitoring/postgres_exporter/queries.yaml")).unwrap();
    let queries: BTreeMap<String, serde_yaml::Value> = serde_yaml::from_str(&file).unwrap();
    // the metrics the file documents (its header), each a series of ai_value
    let documented: BTreeSet<String> = file
        .lines()
        .take_while(|l| l.starts_with('#'))
        .flat_map(|l| l.split(|c: char| !(c.is_alphanumeric() || c == '_')))
        .filter(|w| w.starts_with("ai_") && *w != "ai_value" && *w != "ai_architect")
        .map(str::to_string)
        .collect();
    let mut c = f.connect(mon);
    let mut series = BTreeSet::new();
    let mut returned = BTreeSet::new();
    // one scrape, in one transaction: ai.metrics() runs once
    let mut t = c.transaction().unwrap();
    for (name, q) in &queries {
        let sql = q["query"].as_str().unwrap();
        let stmt = t.prepare(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
        let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
        for r in t.query(&stmt, &[]).unwrap_or_else(|e| panic!("{name}: {e}")) {
            if columns.iter().any(|c| c == "metric") {
                returned.insert(r.get::<_, String>("metric"));
            }
        }
        for m in q["metrics"].as_sequence().unwrap() {
            let (col, spec) = m.as_mapping().unwrap().iter().next().unwrap();
            let col = col.as_str().unwrap();
            assert!(columns.iter().any(|c| c == col), "{name}: no column {col} in {columns:?}");
            if spec["usage"].as_str() != Some("LABEL") {
                series.insert(format!("{name}_{col}"));
            }
        }
    }
    let calls: i64 = t
        .query_one(
            "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_xact_user_functions WHERE schemaname = 'ai' AND funcname = 'metrics'",
            &[],
        )
        .unwrap()
        .get(0);
    t.commit().unwrap();
    assert_eq!(calls, 1, "a scrape runs ai.metrics() once");
    assert!(returned.contains("ai_asks"), "{returned:?}");
    for m in &returned {
        assert!(documented.contains(m), "ai.metrics() gives {m}, which the exporter file does not document ({documented:?})");
    }
    let dash: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/monitoring/grafana/ai_architect.json")).unwrap()).unwrap();
    let mut used = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("ai_"))
                .collect();
            assert!(!names.is_empty(), "{expr}");
            for n in names {
                assert!(
                    series.contains(n) || documented.contains(n),
                    "panel {:?} uses {n}, which the exporter does not give ({series:?}, {documented:?})",
                    p["title"]
                );
                used += 1;
            }
        }
    }
    assert!(used >= 14);
}

#[test]
fn an_intent_outside_the_grammar_goes_to_the_model_and_is_judged_the_same_way() {
    let f = Fixture::new("ddl_llm", &[]);
    let mut c = f.connect("postgres");
    let (url, seen) = model(vec![
        "```sql\nCREATE TABLE public.wishlist (wishlist_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  customer_id integer NOT NULL REFERENCES public.customer (customer_id));\nCREATE INDEX wishlist_customer_id_idx ON public.wishlist (customer_id);\n```",
        "```sql\nDROP TABLE public.invoice_line;\n```",
        "```sql\nCREATE TABLE public.x AS SELECT * FROM public.customer;\n```",
    ]);
    c.batch_execute(&format!("SET ai_architect.llm_base_url = '{url}'")).unwrap();
    let p: Value = serde_json::from_str(
        c.query_one("SELECT ai.propose_ddl('customers want to keep a wish list')::text", &[])
            .unwrap()
            .get::<_, &str>(0),
    )
    .unwrap();
    assert!(p["source"].as_str().unwrap().starts_with("llm"), "{p}");
    assert_eq!(p["requests"].as_array().unwrap().len(), 1, "{p}");
    assert!(p["then"][0]["sql"].as_str().unwrap().starts_with("CREATE INDEX wishlist_customer_id_idx"), "{p}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_class WHERE relname = 'wishlist'"), 0);
    // the model was shown the schema
    let req: Value = serde_json::from_str(&seen.lock().unwrap()[0]).unwrap();
    assert!(req["messages"][0]["content"].as_str().unwrap().contains("public.customer(customer_id integer PRIMARY KEY"), "{req}");
    // what the workflow does not take is refused, and nothing is filed
    let requests = count(&mut c, "SELECT count(*) FROM ai.approval_requests");
    for _ in 0..2 {
        let e = c.query_one("SELECT ai.propose_ddl('clean up the old lines')", &[]).unwrap_err();
        let msg = e.as_db_error().unwrap().message().to_string();
        assert!(msg.contains("a proposal holds CREATE TABLE, ALTER TABLE and CREATE INDEX only"), "{msg}");
    }
    assert_eq!(count(&mut c, "SELECT count(*) FROM ai.approval_requests"), requests);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_class WHERE relname = 'invoice_line'"), 1);
}

/// Review M-4: the chat routes by meaning. A message that names the schema's tables or columns
/// is a question about the data, whatever other word it holds ("health", "index"); index
/// advice plans the caller's own workload with the caller's search_path (it planned under the
/// chat's pinned one, where no unqualified name resolves: "no index would help", always).
#[test]
fn the_chat_routes_by_meaning_and_its_index_advice_sees_the_callers_path() {
    let db = TestDb::new("chat_meaning");
    let mut c = db.connect("postgres");
    let hospital = std::fs::read_to_string(format!(
        "{}/../nl2sql/hospital.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE EXTENSION hypopg; CREATE SCHEMA clinic; SET search_path = clinic")
        .unwrap();
    c.batch_execute(&hospital).unwrap();
    c.batch_execute(
        "CREATE TABLE clinic.visit_log (id int PRIMARY KEY, patient_ref int NOT NULL, note text);
         INSERT INTO clinic.visit_log SELECT g, g % 5000, 'n' || g FROM generate_series(1, 200000) g;
         ANALYZE; SELECT ai.refresh_catalog();",
    )
    .unwrap();
    for q in [
        "How many patients have health insurance?",
        "Which patients have a body mass index above 30?",
    ] {
        let t = chat(&mut c, "m", q).unwrap();
        assert_eq!(t["tool"], "ask", "{q}: {t}");
    }
    // the caller's workload: an unqualified name its own search_path resolves
    for k in 0..30 {
        c.query("SELECT note FROM visit_log WHERE patient_ref = $1", &[&k])
            .unwrap();
    }
    let t = chat(&mut c, "m", "Which indexes should I add?").unwrap();
    assert_eq!(t["tool"], "suggest_indexes", "{t}");
    let answer = t["answer"].as_str().unwrap();
    assert!(
        answer.contains("would help") && !answer.starts_with("no index"),
        "{t}"
    );
    assert!(t.to_string().contains("patient_ref"), "{t}");
}
