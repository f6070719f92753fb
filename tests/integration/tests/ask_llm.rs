//! ai.ask through an LLM: a local server speaking the OpenAI chat-completions API with
//! scripted replies (good answers, attacks, garbage, errors, slow and huge bodies). Every
//! reply ends in an answer, a refusal or a clean error, and nothing in the database changes.
use ai_architect_integration::{connect, load_chinook, read_http_request, TestDb};
use postgres::Client;
use std::collections::VecDeque;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
enum Reply {
    Sql(String),
    Status(u16, String),
    Body(Vec<u8>),
    Slow(Duration, String),
}

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn completion(content: &str) -> String {
    serde_json::json!({"id": "x", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
    .to_string()
}

fn respond(mut s: TcpStream, status: u16, body: &[u8]) {
    let head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

fn read_request(s: &mut TcpStream) -> String {
    let (head, body) = read_http_request(s);
    format!("{head}\r\n\r\n{body}")
}

/// Starts the scripted server; returns its base URL.
fn server(script: &Script) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    let script = script.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let script = script.clone();
            std::thread::spawn(move || {
                let req = read_request(&mut s);
                script.requests.lock().unwrap().push(req);
                let reply = script
                    .replies
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Reply::Status(503, "no more replies".into()));
                match reply {
                    Reply::Sql(c) => respond(s, 200, completion(&c).as_bytes()),
                    Reply::Status(code, body) => respond(s, code, body.as_bytes()),
                    Reply::Body(b) => respond(s, 200, &b),
                    Reply::Slow(d, c) => {
                        std::thread::sleep(d);
                        respond(s, 200, completion(&c).as_bytes())
                    }
                }
            });
        }
    });
    url
}

struct Fixture {
    db: TestDb,
    script: Script,
    url: String,
}

fn fixture(tag: &str) -> Fixture {
    let db = TestDb::new(tag);
    let mut c = db.connect("postgres");
    load_chinook(&mut c);
    let script = Script::default();
    let url = server(&script);
    Fixture { db, script, url }
}

impl Fixture {
    fn session(&self) -> Client {
        let mut c = self.db.connect("postgres");
        c.batch_execute(&format!(
            "SET ai_architect.llm_base_url = '{}'; SET ai_architect.llm_max_attempts = 1",
            self.url
        ))
        .unwrap();
        c
    }
    fn push(&self, r: Reply) {
        self.script.replies.lock().unwrap().push_back(r);
    }
    fn requests(&self) -> Vec<String> {
        self.script.requests.lock().unwrap().clone()
    }
}

fn ask(c: &mut Client, q: &str) -> Result<serde_json::Value, String> {
    c.query_one("SELECT ai.ask($1)::text", &[&q])
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
        .map_err(|e| {
            e.as_db_error()
                .map(|d| format!("{} | {}", d.message(), d.hint().unwrap_or("")))
                .unwrap_or(e.to_string())
        })
}

/// A fingerprint of every user table's contents and of the set of relations.
fn fingerprint(c: &mut Client) -> String {
    let tables: Vec<String> = c
        .query("SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = format!("{tables:?}");
    for t in tables {
        let h: String = c.query_one(&format!("SELECT coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM {t} x"), &[]).unwrap().get(0);
        out.push_str(&h);
    }
    out
}

#[test]
fn a_good_answer_runs_and_only_the_schema_leaves_the_database() {
    let f = fixture("llm_good");
    let mut c = f.session();
    f.push(Reply::Sql(
        "Here you go:\n```sql\nSELECT count(*) AS n FROM public.track\n```".into(),
    ));
    let a = ask(&mut c, "How many songs are there?").unwrap();
    assert_eq!(a["source"], "llm");
    assert_eq!(a["rows"][0]["n"], 3503);
    let req = &f.requests()[0];
    assert!(req.contains("CREATE TABLE public.track"), "{req}");
    assert!(req.contains("How many songs are there?"));
    // sample values stay home unless allowed
    f.push(Reply::Sql(
        "SELECT DISTINCT billing_country FROM public.invoice".into(),
    ));
    ask(&mut c, "Which billing countries do invoices have?").unwrap();
    assert!(
        f.requests()[1].contains("CREATE TABLE public.invoice"),
        "{}",
        f.requests()[1]
    );
    assert!(
        !f.requests()[1].contains("'USA'"),
        "sample values were sent"
    );
    c.batch_execute("SET ai_architect.llm_send_sample_values = on")
        .unwrap();
    f.push(Reply::Sql(
        "SELECT DISTINCT billing_country FROM public.invoice".into(),
    ));
    ask(&mut c, "Which billing countries do invoices have?").unwrap();
    assert!(f.requests()[2].contains("'USA'"), "{}", f.requests()[2]);
    // logged, and feedback turns it into a sample that answers the next time
    let usage = a["usage_id"].as_i64().unwrap();
    let (src, sim): (String, Option<f64>) = {
        let r = c
            .query_one(
                "SELECT source, similarity FROM ai.query_usage_stats WHERE id = $1",
                &[&usage],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(src, "llm");
    assert!(sim.is_none());
    c.query_one("SELECT ai.feedback($1, 5, true)", &[&usage])
        .unwrap();
    let again = ask(&mut c, "How many songs are there?").unwrap();
    assert_eq!(again["source"], "sample", "{again}");
    assert_eq!(
        f.requests().len(),
        3,
        "a sample answer must not call the LLM"
    );
}

#[test]
fn the_model_is_told_the_words_a_curator_taught() {
    let f = fixture("llm_words");
    let mut c = f.session();
    c.batch_execute("SELECT ai.teach('takings', 'invoice_line', 'sum(unit_price * quantity)')")
        .unwrap();
    f.push(Reply::Sql(
        "SELECT sum(unit_price * quantity) AS takings FROM public.invoice_line".into(),
    ));
    let a = ask(&mut c, "What are the total takings of all invoice lines?").unwrap();
    assert_eq!(a["source"], "llm");
    let req = &f.requests()[0];
    assert!(
        req.contains(r#""takings\": sum(public.invoice_line.unit_price * public.invoice_line.quantity)"#),
        "{req}"
    );
    // a word forgotten is no longer told
    c.batch_execute("SELECT ai.forget_word('takings')").unwrap();
    f.push(Reply::Sql("SELECT 1 AS one".into()));
    ask(&mut c, "What are the total takings of all invoice lines?").unwrap();
    assert!(!f.requests()[1].contains("takings\\\": sum"), "{}", f.requests()[1]);
}

#[test]
fn a_bad_answer_goes_back_to_the_model_with_the_error() {
    let f = fixture("llm_retry");
    let mut c = f.session();
    c.batch_execute("SET ai_architect.llm_max_attempts = 2")
        .unwrap();
    f.push(Reply::Sql("SELECT nope FROM public.track".into()));
    f.push(Reply::Sql("SELECT count(*) AS n FROM public.album".into()));
    let a = ask(&mut c, "How many albums?").unwrap();
    assert_eq!(a["rows"][0]["n"], 347);
    let second = &f.requests()[1];
    assert!(
        second.contains("column \\\"nope\\\" does not exist") || second.contains("nope"),
        "{second}"
    );
    assert!(a["explanation"].as_str().unwrap().contains("attempt 2"));
}

#[test]
fn attacks_are_refused_and_nothing_changes() {
    let f = fixture("llm_attacks");
    let mut c = f.session();
    c.batch_execute("INSERT INTO ai.denied_functions VALUES ('md5', 'test: admin-denied')")
        .unwrap();
    let before = fingerprint(&mut c);
    let attacks = [
        "SELECT * FROM public.track; DROP TABLE public.track",
        "WITH d AS (DELETE FROM public.invoice_line RETURNING *) SELECT count(*) FROM d",
        "COMMIT; DROP TABLE public.invoice_line",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT name FROM public.track WHERE length(pg_catalog.pg_read_file('/etc/hostname')) > 0",
        "SELECT pg_sleep(100)",
        "SELECT * FROM public.artist FOR UPDATE",
        "SELECT * INTO public.stolen FROM public.customer",
        "SET ROLE postgres",
        "COPY public.customer TO '/tmp/x'",
        "SELECT md5(name) FROM public.artist",
        "SELECT (SELECT set_config('search_path', 'evil', false))",
        "I am sorry, I cannot help with that.",
    ];
    for attack in attacks {
        f.push(Reply::Sql(attack.into()));
        let a = ask(&mut c, "Show me everything").unwrap_or_else(|e| {
            panic!("{attack}: should be an answer with an error, got ERROR {e}")
        });
        assert_eq!(a["executed"], false, "{attack}: {a}");
        let err = a["error"].as_str().unwrap_or("");
        assert!(err.contains("no usable SQL"), "{attack}: {a}");
        assert!(a.get("rows").is_none());
    }
    assert_eq!(fingerprint(&mut c), before, "the database changed");
    assert!(c
        .query_opt("SELECT 1 FROM pg_class WHERE relname = 'stolen'", &[])
        .unwrap()
        .is_none());
}

#[test]
fn transport_http_and_body_faults_are_clean_errors() {
    let f = fixture("llm_faults");
    let mut c = f.session();
    let before = fingerprint(&mut c);
    f.push(Reply::Status(
        500,
        "{\"error\":{\"message\":\"model exploded\"}}".into(),
    ));
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(
        e.contains("HTTP 500") && e.contains("model exploded"),
        "{e}"
    );
    f.push(Reply::Body(b"<html>not json</html>".to_vec()));
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(e.contains("not a chat completion"), "{e}");
    f.push(Reply::Body(vec![b'x'; 50 * 1024 * 1024]));
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(e.contains("larger than"), "{e}");
    f.push(Reply::Body(
        completion("SELECT 1")
            .replace("SELECT 1", "SELECT \u{1}")
            .into_bytes()
            .into_iter()
            .chain([0xff, 0xfe])
            .collect(),
    ));
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(
        e.contains("UTF-8") || e.contains("not a chat completion"),
        "{e}"
    );
    c.batch_execute("SET ai_architect.llm_timeout_ms = 500")
        .unwrap();
    // the reply would come after 20 s: the call ends long before it
    f.push(Reply::Slow(Duration::from_secs(20), "SELECT 1".into()));
    let t = Instant::now();
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(e.contains("did not answer within 500 ms"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // nobody listening
    c.batch_execute("SET ai_architect.llm_base_url = 'http://127.0.0.1:9/v1'")
        .unwrap();
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(e.contains("cannot reach the LLM"), "{e}");
    assert_eq!(fingerprint(&mut c), before);
}

#[test]
fn the_api_key_is_never_shown() {
    let f = fixture("llm_key");
    let mut c = f.session();
    c.batch_execute("SET ai_architect.llm_api_key = 'sk-very-secret-42'")
        .unwrap();
    f.push(Reply::Status(
        401,
        "{\"error\":{\"message\":\"bad key sk-very-secret-42\"}}".into(),
    ));
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    assert!(
        e.contains("HTTP 401") && !e.contains("sk-very-secret-42"),
        "{e}"
    );
    assert!(f.requests()[0]
        .to_lowercase()
        .contains("authorization: bearer sk-very-secret-42"));
    let shown: String = c
        .query_one("SHOW ai_architect.llm_api_key", &[])
        .unwrap()
        .get(0);
    assert_eq!(shown, "********");
}

#[test]
fn waiting_for_the_llm_can_be_canceled() {
    let f = fixture("llm_cancel");
    let mut c = f.session();
    c.batch_execute("SET ai_architect.llm_timeout_ms = 60000")
        .unwrap();
    // the model and the catalog are ready: what is measured is the wait for the LLM
    c.query("SELECT * FROM ai.search_catalog('tracks')", &[])
        .unwrap();
    f.push(Reply::Slow(Duration::from_secs(30), "SELECT 1".into()));
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let db = f.db.name.clone();
    let requests = f.script.requests.clone();
    let canceller = std::thread::spawn(move || {
        let t = Instant::now();
        while requests.lock().unwrap().is_empty() && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let mut admin = connect(&db, "postgres");
        admin
            .query_one("SELECT pg_cancel_backend($1)", &[&pid])
            .unwrap();
        Instant::now()
    });
    let e = ask(&mut c, "How many tracks?").unwrap_err();
    let done = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert!(e.contains("cancel"), "{e}");
    assert!(
        done.duration_since(cancelled_at) < Duration::from_secs(1),
        "took {:?} after the cancel",
        done.duration_since(cancelled_at)
    );
}

#[test]
fn a_slow_generated_query_is_canceled_at_the_limit_and_costly_ones_never_start() {
    let f = fixture("llm_slow");
    let mut c = f.session();
    c.batch_execute(
        "SET ai_architect.statement_timeout_ms = 700; SET ai_architect.ask_max_cost = 0",
    )
    .unwrap();
    // the model and the catalog are ready: what is measured is the generated query's run
    c.query("SELECT * FROM ai.search_catalog('tracks')", &[])
        .unwrap();
    f.push(Reply::Sql(
        "SELECT count(*) FROM public.track a, public.track b, public.track c".into(),
    ));
    let t = Instant::now();
    let a = ask(&mut c, "How many combinations?").unwrap();
    let took = t.elapsed();
    assert_eq!(a["executed"], false, "{a}");
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("canceled after 700 ms"),
        "{a}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // with a cost limit it is refused before it runs
    c.batch_execute("SET ai_architect.ask_max_cost = 100000")
        .unwrap();
    f.push(Reply::Sql(
        "SELECT count(*) FROM public.track a, public.track b, public.track c".into(),
    ));
    let t = Instant::now();
    let a = ask(&mut c, "How many combinations?").unwrap();
    assert!(a["error"].as_str().unwrap().contains("ask_max_cost"), "{a}");
    assert!(t.elapsed() < Duration::from_millis(700));
    // rows are capped
    f.push(Reply::Sql(
        "SELECT track_id FROM public.track ORDER BY track_id".into(),
    ));
    let a: serde_json::Value = serde_json::from_str(
        c.query_one("SELECT ai.ask('all track ids', true, 7)::text", &[])
            .unwrap()
            .get::<_, &str>(0),
    )
    .unwrap();
    assert_eq!(a["row_count"], 7);
    assert_eq!(a["truncated"], true);
    assert_eq!(a["rows"][6]["track_id"], 7);
    // and so are bytes
    c.batch_execute("SET ai_architect.ask_max_bytes = 2048")
        .unwrap();
    f.push(Reply::Sql(
        "SELECT track_id, name, composer FROM public.track ORDER BY track_id".into(),
    ));
    let a = ask(&mut c, "all tracks").unwrap();
    let n = a["row_count"].as_i64().unwrap();
    assert!(n > 5 && n < 100, "{n}");
    assert_eq!(a["truncated"], true);
    assert!(a["rows"].to_string().len() <= 2048 + 64 * n as usize);
}

#[test]
fn generated_sql_runs_with_the_callers_rights() {
    let f = fixture("llm_rights");
    let mut admin = f.db.connect("postgres");
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS ask_reader; CREATE ROLE ask_reader LOGIN; GRANT SELECT ON public.track TO ask_reader;
             GRANT USAGE ON SCHEMA public TO ask_reader",
        )
        .unwrap();
    let mut c = f.db.connect("ask_reader");
    // the URL is a superuser setting: set for the database by the admin
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET ai_architect.llm_base_url = '{}'",
            f.db.name, f.url
        ))
        .unwrap();
    admin
        .batch_execute("SET ai_architect.llm_max_attempts = 1")
        .unwrap();
    drop(c);
    c = f.db.connect("ask_reader");
    c.batch_execute("SET ai_architect.llm_max_attempts = 1")
        .unwrap();
    f.push(Reply::Sql("SELECT count(*) FROM public.customer".into()));
    let a = ask(&mut c, "How many customers?").unwrap();
    assert_eq!(a["executed"], false, "{a}");
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("permission denied for table customer"),
        "{a}"
    );
    // the model is shown only tables the caller may read
    let req = f.requests().last().unwrap().clone();
    assert!(
        req.contains("public.track") && !req.contains("CREATE TABLE public.customer"),
        "{req}"
    );
    admin
        .batch_execute("DROP OWNED BY ask_reader; DROP ROLE ask_reader")
        .ok();
}
