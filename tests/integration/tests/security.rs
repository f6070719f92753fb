//! Attacks a plain role can try through ai_architect, with dblink installed so that code run
//! with a superuser's rights could make the attacker a superuser: a planted sample, a planted
//! workload statement, and SQL constructs that a name deny list misses. Each must leave the
//! attacker without new rights and the server unchanged.
use ai_architect_integration::{connect, host, port, TestDb};
use postgres::Client;

/// A database with dblink, pg_stat_statements and HypoPG, a table `m`, and an attacker role
/// that owns a schema with an IMMUTABLE function which, run by a superuser, makes the
/// attacker a superuser through a dblink connection (outside the rolled-back transaction).
struct Setup {
    db: TestDb,
    attacker: String,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let db = TestDb::new(tag);
        let attacker = format!("{}_att", db.name);
        let mut su = db.connect("postgres");
        su.batch_execute(&format!(
            "CREATE EXTENSION dblink; CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE EXTENSION hypopg;
             CREATE ROLE \"{attacker}\" LOGIN;
             CREATE TABLE public.m (x int, y text);
             INSERT INTO public.m SELECT g, 'v' || g FROM generate_series(1, 20000) g;
             ANALYZE public.m;
             GRANT SELECT ON public.m TO \"{attacker}\";
             CREATE SCHEMA att AUTHORIZATION \"{attacker}\";
             GRANT USAGE ON SCHEMA att TO PUBLIC;"
        ))
        .unwrap();
        let mut a = db.connect(&attacker);
        let conn = format!(
            "host={} port={} dbname={} user=postgres",
            host(),
            port(),
            db.name
        );
        a.batch_execute(&format!(
            "CREATE FUNCTION att.evil(n int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
             BEGIN
               PERFORM public.dblink_exec('{conn}', 'ALTER ROLE \"{attacker}\" SUPERUSER');
               RETURN n;
             END $f$;"
        ))
        .unwrap();
        Setup { db, attacker }
    }

    fn attacker_is_superuser(&self) -> bool {
        let mut su = self.db.connect("postgres");
        su.query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
            &[&self.attacker],
        )
        .unwrap()
        .get(0)
    }

    /// The function really escalates when a superuser runs it (so the tests below could fail).
    fn prove_the_weapon_works(&self) {
        let mut su = self.db.connect("postgres");
        su.batch_execute("SELECT att.evil(1)").unwrap();
        assert!(
            self.attacker_is_superuser(),
            "the attack function must work"
        );
        su.batch_execute(&format!("ALTER ROLE \"{}\" NOSUPERUSER", self.attacker))
            .unwrap();
        assert!(!self.attacker_is_superuser());
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // the role owns objects in the database: the database goes first, then the role
        let mut admin = connect("postgres", "postgres");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.db.name
        ));
        let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", self.attacker));
    }
}

fn ask(c: &mut Client, q: &str) -> serde_json::Value {
    let r = c
        .query_one("SELECT ai.ask($1, false)::text", &[&q])
        .unwrap();
    serde_json::from_str(r.get::<_, &str>(0)).unwrap()
}

#[test]
fn a_planted_sample_never_runs_as_someone_else() {
    let s = Setup::new("sec_sample");
    s.prove_the_weapon_works();
    let q = "How many m are there?";
    let mut a = s.db.connect(&s.attacker);
    let usage: i64 = ask(&mut a, q)["usage_id"].as_i64().expect("a usage id");
    // 1. the escalation: a correction that calls the attacker's function
    a.batch_execute(&format!(
        "SELECT ai.feedback({usage}, 5, false, 'SELECT att.evil(count(*)::int) AS count FROM public.m')"
    ))
    .unwrap();
    let mut su = s.db.connect("postgres");
    let evil_samples: i64 = su
        .query_one(
            "SELECT count(*) FROM ai.sql_samples WHERE query ~ 'evil'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        evil_samples, 0,
        "a correction the allow list refuses is not kept"
    );
    let r = su
        .query_one("SELECT ai.ask($1)::text", &[&q])
        .unwrap()
        .get::<_, String>(0);
    assert!(!r.contains("evil"), "{r}");
    assert!(!s.attacker_is_superuser(), "escalated through a sample");

    // 2. a sample written before the allow list (stored as reviewed) is checked when used
    su.batch_execute(&format!(
        "INSERT INTO ai.sql_samples (question, query, question_embedding, source, created_by, review)
         VALUES ('{q}', 'SELECT att.evil(count(*)::int) AS count FROM public.m', ai.embed('{q}')::vector(384),
                 'user', '{}', 'reviewed')",
        s.attacker
    ))
    .unwrap();
    let r: serde_json::Value = serde_json::from_str(
        &su.query_one("SELECT ai.ask($1)::text", &[&q])
            .unwrap()
            .get::<_, String>(0),
    )
    .unwrap();
    assert_ne!(r["source"], "sample", "{r}");
    assert!(
        !s.attacker_is_superuser(),
        "escalated through a stored sample"
    );
    su.batch_execute("DELETE FROM ai.sql_samples WHERE query ~ 'evil'")
        .unwrap();

    // 3. a harmless-looking but wrong correction is a proposal: only its author uses it
    let planted = "SELECT count(*) - count(*) AS count FROM public.m";
    a.batch_execute(&format!(
        "SELECT ai.feedback({usage}, 5, false, '{planted}')"
    ))
    .unwrap();
    let (id, review): (i64, String) = {
        let r = su
            .query_one(
                "SELECT id, review FROM ai.sql_samples WHERE query = $1",
                &[&planted],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(review, "proposed");
    let mine = ask(&mut a, q);
    assert_eq!(
        mine["sample_id"], id,
        "the author's own proposal answers the author: {mine}"
    );
    let theirs = ask(&mut su, q);
    assert_ne!(
        theirs["sample_id"], id,
        "someone else's proposal answered: {theirs}"
    );
    // the attacker cannot review it; a curator can
    let e = a
        .batch_execute(&format!("SELECT ai.review_sample({id}, true)"))
        .unwrap_err();
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("reviews samples"), "{msg}");
    su.batch_execute(&format!("SELECT ai.review_sample({id}, true)"))
        .unwrap();
    let theirs = ask(&mut su, q);
    assert_eq!(
        theirs["sample_id"], id,
        "a reviewed sample answers everyone: {theirs}"
    );
    // rejected: used by nobody, not even its author
    su.batch_execute(&format!("SELECT ai.review_sample({id}, false)"))
        .unwrap();
    assert_ne!(ask(&mut a, q)["sample_id"], id);
    assert!(!s.attacker_is_superuser());
}

#[test]
fn a_planted_workload_statement_is_planned_as_its_author() {
    let s = Setup::new("sec_advisor");
    s.prove_the_weapon_works();
    let mut a = s.db.connect(&s.attacker);
    // harmless while the attacker runs it (so that it is counted), then armed
    a.batch_execute(
        "CREATE OR REPLACE FUNCTION att.evil(n int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
         BEGIN RETURN n; END $f$",
    )
    .unwrap();
    for _ in 0..20 {
        a.batch_execute("SELECT count(*) FROM public.m WHERE x = att.evil(5)")
            .unwrap();
    }
    let mut su = s.db.connect("postgres");
    let seen: i64 = su
        .query_one(
            "SELECT count(*) FROM pg_stat_statements WHERE query ~ 'att.evil'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(seen > 0, "the planted statement is in the workload");
    for _ in 0..20 {
        su.batch_execute("SELECT count(*) FROM public.m WHERE y = 'v7'")
            .unwrap();
    }
    // the function escalates again from now on, whoever plans it
    let conn = format!(
        "host={} port={} dbname={} user=postgres",
        host(),
        port(),
        s.db.name
    );
    a.batch_execute(&format!(
        "CREATE OR REPLACE FUNCTION att.evil(n int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
         BEGIN
           PERFORM public.dblink_exec('{conn}', 'ALTER ROLE \"{}\" SUPERUSER');
           RETURN n;
         END $f$",
        s.attacker
    ))
    .unwrap();
    let report: String = su
        .query_one("SELECT ai.suggest_indexes_report()", &[])
        .unwrap()
        .get(0);
    assert!(
        !s.attacker_is_superuser(),
        "escalated through the advisor: {report}"
    );
    su.batch_execute("SELECT ai.run_audit()").unwrap();
    assert!(!s.attacker_is_superuser(), "escalated through the audit");

    // a monitoring role (pg_monitor) plans the attacker's statement as the attacker and
    // leaves the superuser's out, counted in the report
    let monitor = format!("{}_mon", s.db.name);
    su.batch_execute(&format!(
        "CREATE ROLE \"{monitor}\" LOGIN IN ROLE pg_monitor"
    ))
    .unwrap();
    let mut m = s.db.connect(&monitor);
    let report: String = m
        .query_one("SELECT ai.suggest_indexes_report()", &[])
        .unwrap()
        .get(0);
    assert!(
        !s.attacker_is_superuser(),
        "escalated through a monitoring role"
    );
    assert!(report.contains("were left out"), "{report}");
    drop(m);
    su.batch_execute(&format!("DROP ROLE \"{monitor}\""))
        .unwrap();
}

/// Server state that a rolled-back transaction does not restore.
fn outside_state(c: &mut Client) -> String {
    c.query_one(
        "SELECT concat_ws('|',
            (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()),
            (SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings WHERE source = 'session'),
            (SELECT string_agg(rolname || rolsuper::text, ',' ORDER BY rolname) FROM pg_roles))",
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn constructs_a_name_deny_list_missed_are_refused() {
    let s = Setup::new("sec_guard");
    let mut su = s.db.connect("postgres");
    su.batch_execute(
        "CREATE FUNCTION public.vol(int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN $1; END $$;
         CREATE FUNCTION public.opf(int, int) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RETURN true; END $$;
         CREATE OPERATOR public.### (leftarg = int, rightarg = int, function = public.opf);
         CREATE DOMAIN public.dd AS int CHECK (public.vol(VALUE) > 0);
         CREATE VIEW public.vv AS SELECT public.vol(x) AS v FROM public.m;
         CREATE FUNCTION public.srf() RETURNS SETOF int LANGUAGE sql AS $$ SELECT 1 $$;
         CREATE SEQUENCE public.seq;
         LISTEN ai_sec;",
    )
    .unwrap();
    let before = outside_state(&mut su);
    let refused = [
        r#"SELECT U&"pg\005fread_file"('/etc/hostname')"#,
        "SELECT * FROM ts_stat('select to_tsvector(''a'')')",
        "SELECT ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery')",
        "SELECT pg_stat_reset()",
        "SELECT pg_stat_reset_single_table_counters('public.m'::regclass)",
        "SELECT pg_notify('ai_sec', 'x')",
        r#"SELECT U&"set\005fconfig"('work_mem', '7MB', false)"#,
        "SELECT * FROM pg_authid",
        "SELECT * FROM pg_shadow",
        "SELECT * FROM pg_user_mappings",
        "SELECT * FROM pg_statistic",
        "SELECT public.vol(1)",
        "SELECT x FROM public.m ORDER BY public.vol(x) LIMIT 1",
        "SELECT * FROM public.srf()",
        "SELECT 1 OPERATOR(public.###) 2",
        "SELECT 5::public.dd",
        "SELECT * FROM public.vv LIMIT 1",
        "SELECT count(*) FILTER (WHERE public.vol(x) > 0) FROM public.m",
        "SELECT (SELECT public.vol(1))",
        "WITH t AS (SELECT public.vol(1) AS a) SELECT * FROM t",
        "SELECT att.evil(1)",
        "SELECT pg_catalog.pg_sleep(0.01)",
        "SELECT lo_import('/etc/hostname')",
        "SELECT pg_advisory_lock(1)",
        "SELECT nextval('public.seq')",
        "SELECT dblink_exec('dbname=postgres', 'SELECT 1')",
        "SELECT query_to_xml('select 1', true, true, '')",
        "SELECT 1; SELECT 2",
        "WITH d AS (DELETE FROM public.m RETURNING *) SELECT count(*) FROM d",
        "SELECT * FROM public.m FOR UPDATE",
        "SELECT * INTO public.stolen FROM public.m",
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT pg_terminate_backend(pg_backend_pid())",
    ];
    for q in refused {
        let r = su.query_one("SELECT ai.explain($1, true)::text", &[&q]);
        let e = match r {
            Ok(row) => panic!("{q}: ran: {}", row.get::<_, String>(0)),
            Err(e) => e,
        };
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("refused") || msg.contains("only allowed for a SELECT"),
            "{q}: {msg}"
        );
    }
    assert_eq!(
        outside_state(&mut su),
        before,
        "something outside the transaction changed"
    );
    assert!(su.notifications().is_empty(), "a notification was sent");
    assert!(!s.attacker_is_superuser());
    // plain SELECTs are never refused
    let allowed = [
        "SELECT now(), random(), clock_timestamp() > now() - interval '1 day', gen_random_uuid() IS NOT NULL",
        "SELECT to_char(date '2024-03-01', 'YYYY-MM'), date_trunc('month', now()), extract(year FROM now())",
        "SELECT upper(y), length(y), y || 'x', substr(y, 1, 2), regexp_replace(y, 'v', 'w') FROM public.m LIMIT 3",
        "SELECT jsonb_build_object('a', x), to_jsonb(m), row_to_json(m) FROM public.m LIMIT 2",
        "SELECT x, row_number() OVER (ORDER BY x), sum(x) OVER (PARTITION BY x % 3) FROM public.m LIMIT 5",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), mode() WITHIN GROUP (ORDER BY x % 7) FROM public.m",
        "WITH t AS (SELECT x FROM public.m WHERE x < 10) SELECT count(*), avg(x)::numeric(10,2) FROM t",
        "SELECT * FROM generate_series(1, 3) g JOIN public.m ON m.x = g",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
        "SELECT rolname FROM pg_roles LIMIT 1",
        "SELECT pg_size_pretty(pg_total_relation_size('public.m'))",
        "SELECT x::text::int, CAST(y AS varchar(3)), x IN (1, 2), x BETWEEN 1 AND 5 FROM public.m LIMIT 1",
        "SELECT count(DISTINCT y), string_agg(y, ',' ORDER BY y) FROM (SELECT y FROM public.m LIMIT 5) s",
    ];
    for q in allowed {
        su.query_one("SELECT ai.explain($1, true)::text", &[&q])
            .unwrap_or_else(|e| panic!("{q}: {e:?}"));
    }
}

/// Review M-8: ai.ask chooses among the tables of the schemas on the caller's search_path,
/// never among every schema it can read unless asked (`ai_architect.ask_schemas`). 0.2.0
/// read the path under its own pinned one and so always fell back to every schema.
#[test]
fn a_question_chooses_among_the_tables_on_the_callers_search_path() {
    let db = TestDb::new("scope");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE SCHEMA a; CREATE SCHEMA b;
         CREATE TABLE a.customer (id int PRIMARY KEY, name text);
         INSERT INTO a.customer SELECT g, 'c' || g FROM generate_series(1, 3) g;
         CREATE TABLE b.invoice (id int PRIMARY KEY, total numeric);
         INSERT INTO b.invoice SELECT g, g FROM generate_series(1, 7) g;
         ANALYZE; SELECT ai.refresh_catalog();",
    )
    .unwrap();
    let ask = |c: &mut Client, q: &str| -> serde_json::Value {
        let s: String = c
            .query_one("SELECT ai.ask($1)::text", &[&q])
            .unwrap()
            .get(0);
        serde_json::from_str(&s).unwrap()
    };
    // the one value of a one-row, one-column answer
    let count = |out: &serde_json::Value| {
        out["rows"][0]
            .as_object()
            .and_then(|r| r.values().next().cloned())
    };
    c.batch_execute("SET search_path = a").unwrap();
    let out = ask(&mut c, "How many invoices are there?");
    assert!(
        !out["sql"].as_str().unwrap_or("").contains("invoice"),
        "answered from a schema off the search_path: {out}"
    );
    assert!(
        out["hint"].as_str().unwrap_or("").contains("ask_schemas"),
        "{out}"
    );
    // the path's own tables answer
    let out = ask(&mut c, "How many customers are there?");
    assert_eq!(count(&out), Some(3.into()), "{out}");
    // a path without tables is not "every schema"
    c.batch_execute("SET search_path = nosuch").unwrap();
    let out = ask(&mut c, "How many customers are there?");
    assert!(
        out["sql"].is_null(),
        "answered from a schema off the search_path: {out}"
    );
    c.batch_execute("SET search_path = a").unwrap();
    // asked for: one schema by name, or every schema
    for scope in ["b", "*"] {
        c.batch_execute(&format!("SET ai_architect.ask_schemas = '{scope}'"))
            .unwrap();
        let out = ask(&mut c, "How many invoices are there?");
        assert_eq!(count(&out), Some(7.into()), "{scope}: {out}");
    }
    // a listed schema that does not exist is left out, as PostgreSQL leaves it out of a path
    c.batch_execute("SET ai_architect.ask_schemas = 'nosuch, a'")
        .unwrap();
    let out = ask(&mut c, "How many customers are there?");
    assert_eq!(count(&out), Some(3.into()), "{out}");
}
