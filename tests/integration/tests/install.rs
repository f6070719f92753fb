//! The extension as a client sees it: many sessions at once, non-superuser roles,
//! and a server where the library is not preloaded.
use ai_architect_integration::{connect, version, Cluster, TestDb};
use std::process::Command;

#[test]
fn concurrent_sessions_all_see_a_working_runtime() {
    let db = TestDb::new("conc");
    let name = db.name.clone();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let name = name.clone();
            std::thread::spawn(move || {
                let mut c = connect(&name, "postgres");
                let mut sums = Vec::new();
                for _ in 0..10 {
                    let v = version(&mut c);
                    assert_eq!(v["onnxruntime"]["loads"], true, "{v}");
                    assert_eq!(v["embeddings_ready"], true, "{v}");
                    sums.push(v["model"]["sha256"].as_str().unwrap().to_string());
                }
                sums
            })
        })
        .collect();
    let all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(all.len(), 60);
    assert!(all.iter().all(|s| s == &all[0] && s.len() == 64));
}

#[test]
fn an_ordinary_login_role_reads_status_but_cannot_write_state() {
    let db = TestDb::new("priv");
    let role = format!("ai_it_user_{}", std::process::id());
    let mut admin = db.connect("postgres");
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"
        ))
        .unwrap();
    {
        let mut user = db.connect(&role);
        let v = version(&mut user);
        assert_eq!(v["extension_version"], v["installed_version"]);
        for stmt in [
            "INSERT INTO ai.audit_log (action, hash) VALUES ('forged', '\\x00')",
            "UPDATE ai.approval_policy SET required_approvals = 0",
            "DELETE FROM ai.sql_samples",
            "TRUNCATE ai.backups",
        ] {
            let err = user.batch_execute(stmt).unwrap_err();
            let msg = err
                .as_db_error()
                .map(|e| e.message().to_string())
                .unwrap_or_default();
            assert!(msg.starts_with("permission denied"), "{stmt}: {msg}");
        }
        let err = user
            .batch_execute("SET ai_architect.llm_base_url = 'http://127.0.0.1:1/'")
            .unwrap_err();
        let msg = err
            .as_db_error()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        assert!(msg.contains("permission denied"), "{msg}");
    }
    // the policy is intact
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM ai.approval_policy WHERE required_approvals = 0",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();
}

/// A second, throw-away cluster without shared_preload_libraries: CREATE EXTENSION works,
/// and ai.version() says there is no background worker and why.
#[test]
fn works_without_preloading() {
    let cluster = Cluster::new("it-nopreload", 28816, &[]);
    let mut c = cluster.connect("postgres");
    let preload: String = c
        .query_one("SHOW shared_preload_libraries", &[])
        .unwrap()
        .get(0);
    assert!(!preload.contains("ai_architect"));
    c.batch_execute("CREATE EXTENSION ai_architect CASCADE")
        .unwrap();
    let v = version(&mut c);
    assert_eq!(v["preloaded"], false, "{v}");
    assert_eq!(v["worker"]["running"], false);
    assert!(
        v["worker"]["detail"]
            .as_str()
            .unwrap()
            .contains("shared_preload_libraries"),
        "{v}"
    );
    assert_eq!(v["onnxruntime"]["loads"], true, "{v}");
    c.batch_execute("DROP EXTENSION ai_architect").unwrap();
}

/// pg_dump keeps what users wrote (samples, patterns, descriptions) and a restore into a new
/// database gives it back, with the extension recreated around it.
#[test]
fn dump_and_restore_keep_user_content() {
    let db = TestDb::new("dump");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE TABLE public.item (id int PRIMARY KEY, label text);
         SELECT ai.add_sample('How many items?', 'SELECT count(*) FROM public.item');
         SELECT ai.describe('public.item', 'Things we sell');
         SELECT ai.add_fix_pattern('Lesson', 'performance', 'low', 'a problem', 'a solution');",
    )
    .unwrap();
    let target = TestDb::empty("restored");
    let bindir = std::env::var("AI_PGBIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let host = ai_architect_integration::host();
    let port = ai_architect_integration::port().to_string();
    let dump = Command::new(format!("{bindir}/pg_dump"))
        .args(["-h", &host, "-p", &port, "-U", "postgres", "-Fc", &db.name])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut restore = Command::new(format!("{bindir}/pg_restore"))
        .args([
            "-h",
            &host,
            "-p",
            &port,
            "-U",
            "postgres",
            "--exit-on-error",
            "-d",
            &target.name,
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    restore
        .stdin
        .take()
        .unwrap()
        .write_all(&dump.stdout)
        .unwrap();
    let out = restore.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r = target.connect("postgres");
    let row = r
        .query_one(
            "SELECT (SELECT count(*) FROM ai.sql_samples WHERE question = 'How many items?'),
                    (SELECT count(*) FROM ai.catalog_descriptions WHERE description = 'Things we sell'),
                    (SELECT count(*) FROM ai.fix_patterns WHERE title = 'Lesson'),
                    (SELECT count(*) FROM ai.embedding_models),
                    (SELECT count(*) FROM ai.approval_policy)",
            &[],
        )
        .unwrap();
    let counts: Vec<i64> = (0..5).map(|i| row.get(i)).collect();
    assert_eq!(counts, vec![1, 1, 1, 1, 4]);
    // new rows continue after the restored ones
    let id: i64 = r
        .query_one("SELECT ai.add_sample('again', 'SELECT 1')", &[])
        .unwrap()
        .get(0);
    assert!(id > 1, "{id}");
}

/// pgai keeps its own objects in schema `ai` too. Objects with its names, there before
/// ai_architect, are neither refused nor changed by installing, updating and dropping it:
/// their rows, their owner and their grants stay as they were.
#[test]
fn other_objects_in_schema_ai_are_left_alone() {
    let db = TestDb::empty("pgai");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE SCHEMA ai;
         CREATE TABLE ai.vectorizer (id int PRIMARY KEY, source regclass, config jsonb);
         CREATE TABLE ai.semantic_catalog (id int PRIMARY KEY, catalog_name text);
         CREATE SEQUENCE ai.vectorizer_id_seq;
         CREATE FUNCTION ai.vectorizer_status() RETURNS int LANGUAGE sql AS 'SELECT count(*)::int FROM ai.vectorizer';
         CREATE VIEW ai.vectorizer_errors AS SELECT id FROM ai.vectorizer WHERE config ? 'error';
         INSERT INTO ai.vectorizer VALUES (1, 'pg_class', '{\"embedding\": \"openai\"}'), (2, NULL, '{\"error\": 1}');
         INSERT INTO ai.semantic_catalog VALUES (1, 'default');
         GRANT SELECT ON ai.vectorizer, ai.semantic_catalog, ai.vectorizer_errors TO PUBLIC;
         GRANT USAGE ON SEQUENCE ai.vectorizer_id_seq TO PUBLIC;",
    )
    .unwrap();
    let state = |c: &mut postgres::Client| -> String {
        c.query_one(
            "SELECT string_agg(format('%s %s %s', c.relname, c.relacl, pg_get_userbyid(c.relowner)), '; ' ORDER BY c.relname)
                    || ' | ' || (SELECT format('%s %s', p.proacl, ai.vectorizer_status()) FROM pg_proc p
                                  WHERE p.proname = 'vectorizer_status' AND p.pronamespace = 'ai'::regnamespace)
                    || ' | ' || (SELECT string_agg(v::text, ',' ORDER BY id) FROM ai.vectorizer v)
                    || ' | ' || (SELECT string_agg(s::text, ',') FROM ai.semantic_catalog s)
               FROM pg_class c
              WHERE c.relnamespace = 'ai'::regnamespace
                AND c.relname IN ('vectorizer', 'semantic_catalog', 'vectorizer_id_seq', 'vectorizer_errors')",
            &[],
        )
        .unwrap()
        .get(0)
    };
    let before = state(&mut c);
    c.batch_execute("CREATE EXTENSION ai_architect CASCADE")
        .unwrap();
    assert_eq!(state(&mut c), before, "installing changed pgai's objects");
    let v: String = c
        .query_one("SELECT ai.version()::text", &[])
        .unwrap()
        .get(0);
    assert!(v.contains("0."), "{v}");
    c.batch_execute("ALTER EXTENSION ai_architect UPDATE")
        .unwrap();
    assert_eq!(state(&mut c), before, "updating changed pgai's objects");
    c.batch_execute("DROP EXTENSION ai_architect").unwrap();
    assert_eq!(state(&mut c), before, "dropping changed pgai's objects");
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'ai'::regnamespace",
            &[],
        )
        .unwrap()
        .get(0);
    // two tables, their key indexes, the sequence, the view
    assert_eq!(left, 6, "only pgai's relations remain");
}
