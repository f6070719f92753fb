//! The hostile schema: an unprivileged attacker owns a schema in which every kind of object
//! PostgreSQL runs code from carries a payload, and every `ai.*` function is called over it by
//! a superuser, a `pg_monitor` member, a plain reader, a curator and an approver. The payload's effects outlive a
//! rollback (a row written through dblink, a sequence step) or leak when a subtransaction is
//! kept (a session search_path, a session advisory lock): if any of them is seen for a victim,
//! the attacker's code ran with the victim's rights through ai_architect.
//!
//! Each object kind first shows that the weapon is real: the victim touching the object
//! directly fires it. Then every function is called and nothing may fire.
//!
//! A new object kind is one line of `OBJECTS`; a new function is one line of `CALLS` (or of
//! `NOT_OVER_USER_OBJECTS`, with the reason): the test fails when a function of the extension
//! is in neither.
use ai_architect_integration::{connect, extension_functions, host, port, TestDb};
use postgres::Client;

/// (kind, the attacker's DDL, what a victim does that runs it directly: the weapon's proof,
/// None where PostgreSQL itself never runs it as the victim). `{p}` stands for a payload call
/// naming the kind.
const OBJECTS: &[(&str, &str, Option<&str>)] = &[
    (
        "view",
        "CREATE VIEW att.customer_view AS SELECT c.id, {p}::text AS country FROM att.base c",
        // (a column the query does not use is never computed: the query reads it)
        Some("SELECT max(country) FROM att.customer_view"),
    ),
    (
        "security_barrier_view",
        "CREATE VIEW att.barrier_view WITH (security_barrier) AS
           SELECT id, country FROM att.base WHERE {p} IS NOT NULL",
        Some("SELECT count(*) FROM att.barrier_view"),
    ),
    (
        "aggregate",
        "CREATE FUNCTION att.agg_step(s text, v text) RETURNS text LANGUAGE sql IMMUTABLE
           AS $$ SELECT coalesce(s, '') || {p} $$;
         CREATE AGGREGATE att.agg(text) (sfunc = att.agg_step, stype = text);
         CREATE VIEW att.agg_view AS SELECT att.agg(country) AS country FROM att.base",
        Some("SELECT * FROM att.agg_view"),
    ),
    (
        "operator",
        "CREATE FUNCTION att.op_f(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE
           AS $$ SELECT {p} IS NOT NULL $$;
         CREATE OPERATOR att.=== (leftarg = text, rightarg = text, function = att.op_f);
         CREATE VIEW att.operator_view AS SELECT id, country FROM att.base WHERE country OPERATOR(att.===) 'x'",
        Some("SELECT count(*) FROM att.operator_view"),
    ),
    (
        "policy",
        "CREATE TABLE att.policied (id int PRIMARY KEY, country text);
         INSERT INTO att.policied SELECT g, 'Germany' FROM generate_series(1, 50) g;
         ALTER TABLE att.policied ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON att.policied USING ({p} IS NOT NULL)",
        Some("SELECT count(*) FROM att.policied"),
    ),
    (
        "materialized_view",
        "CREATE MATERIALIZED VIEW att.mat AS SELECT id, {p}::text AS country FROM att.base",
        // REFRESH runs the query as the view's owner, never as the one who refreshes
        None,
    ),
    (
        "domain_check",
        "CREATE DOMAIN att.country_d AS text CHECK ({p} IS NOT NULL);
         CREATE TABLE att.domained (id int PRIMARY KEY, country att.country_d)",
        Some("INSERT INTO att.domained VALUES (1000, 'Germany')"),
    ),
    (
        "column_default",
        "CREATE TABLE att.defaulted (id int PRIMARY KEY, country text DEFAULT {p})",
        Some("INSERT INTO att.defaulted (id) VALUES (1000)"),
    ),
    (
        "generated_column",
        "CREATE TABLE att.generated (id int PRIMARY KEY, country text,
                                     g text GENERATED ALWAYS AS ({p}) STORED)",
        Some("INSERT INTO att.generated (id, country) VALUES (1000, 'Germany')"),
    ),
    (
        "trigger",
        "CREATE TABLE att.triggered (id int PRIMARY KEY, country text);
         INSERT INTO att.triggered SELECT g, 'Germany' FROM generate_series(1, 50) g;
         CREATE FUNCTION att.trg() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM {p}; RETURN NEW; END $$;
         CREATE TRIGGER t BEFORE UPDATE ON att.triggered FOR EACH ROW EXECUTE FUNCTION att.trg()",
        Some("UPDATE att.triggered SET country = country WHERE id = 1"),
    ),
    (
        "rule",
        "CREATE TABLE att.ruled (id int PRIMARY KEY, country text);
         INSERT INTO att.ruled SELECT g, 'Germany' FROM generate_series(1, 50) g;
         CREATE RULE r AS ON UPDATE TO att.ruled DO ALSO SELECT {p}",
        Some("UPDATE att.ruled SET country = country WHERE id = 1"),
    ),
    (
        "sequence_default",
        "CREATE FUNCTION att.next_id() RETURNS bigint LANGUAGE plpgsql AS
           $$ BEGIN PERFORM {p}; RETURN nextval('att.ids'); END $$;
         CREATE SEQUENCE att.ids;
         CREATE TABLE att.sequenced (id bigint PRIMARY KEY DEFAULT att.next_id(), country text)",
        Some("INSERT INTO att.sequenced (country) VALUES ('Germany')"),
    ),
];

/// Every function of the extension that reads, plans or runs anything over user objects,
/// called the way a user would. `{v}` is the victim's name (for per-victim sessions), `{a}`
/// the attacker's.
const CALLS: &[(&str, &str)] = &[
    ("ask", "SELECT ai.ask('How many customers are in Germany?')"),
    ("ask", "SELECT ai.ask('Which countries are there?')"),
    (
        "generate_sql",
        "SELECT ai.generate_sql('How many customer views are in Germany?')",
    ),
    (
        "ask_table",
        "SELECT ai.ask_table('How many customers are in Germany?')",
    ),
    (
        "chat",
        "SELECT ai.chat('hostile-{v}', 'How many customers are in Germany?')",
    ),
    (
        "chat",
        "SELECT ai.chat('hostile-{v}', 'Which indexes should I add?')",
    ),
    ("chat", "SELECT ai.chat('hostile-{v}', 'Lint the schema')"),
    ("chat_history", "SELECT ai.chat_history('hostile-{v}')"),
    ("refresh_catalog", "SELECT ai.refresh_catalog()"),
    (
        "search_catalog",
        "SELECT ai.search_catalog('customers by country')",
    ),
    ("describe", "SELECT ai.describe('att', 'customer_view')"),
    (
        "describe_column",
        "SELECT ai.describe_column('att', 'customer_view', 'country')",
    ),
    (
        "discover_relationships",
        "SELECT ai.discover_relationships()",
    ),
    ("lint_schema", "SELECT ai.lint_schema()"),
    (
        "apply_advice",
        "SELECT count(*) FROM ai.apply_advice(ARRAY['lint', 'insights'])",
    ),
    ("erd", "SELECT ai.erd()"),
    (
        "explain",
        "SELECT ai.explain('SELECT max(country) FROM att.customer_view')",
    ),
    (
        "explain",
        "SELECT ai.explain('SELECT count(*) FROM public.customer WHERE country = ''Germany''')",
    ),
    (
        "explain",
        "SELECT ai.explain('SELECT count(*) FROM att.policied')",
    ),
    (
        "check_sql",
        "SELECT ai.check_sql('SELECT count(*) FROM att.barrier_view')",
    ),
    (
        "impact",
        "SELECT ai.impact('UPDATE att.triggered SET country = country')",
    ),
    (
        "impact",
        "SELECT ai.impact('UPDATE att.ruled SET country = country')",
    ),
    (
        "impact",
        "SELECT ai.impact('DELETE FROM att.policied WHERE id < 10')",
    ),
    (
        "impact",
        "SELECT ai.impact('INSERT INTO att.defaulted (id) VALUES (7)')",
    ),
    (
        "impact_report",
        "SELECT ai.impact_report('UPDATE att.triggered SET country = country')",
    ),
    ("suggest_indexes", "SELECT ai.suggest_indexes()"),
    (
        "suggest_indexes",
        "SELECT ai.suggest_indexes('SELECT * FROM att.customer_view WHERE id = 3')",
    ),
    (
        "suggest_indexes_report",
        "SELECT ai.suggest_indexes_report()",
    ),
    ("insights", "SELECT ai.insights()"),
    ("top_queries", "SELECT ai.top_queries()"),
    ("snapshot_stats", "SELECT ai.snapshot_stats()"),
    ("run_audit", "SELECT ai.run_audit()"),
    ("metrics", "SELECT ai.metrics()"),
    (
        "propose_ddl",
        "SELECT ai.propose_ddl('add an index on att.base country')",
    ),
    (
        "request",
        "SELECT ai.request('UPDATE att.triggered SET country = country WHERE id = 2', 'hostile')",
    ),
    // one of the attacker's own approved requests: it runs as its requester, by contract
    (
        "execute",
        "SELECT ai.execute((SELECT min(id) FROM ai.requests('approved') WHERE requester = '{a}'))",
    ),
    ("check_samples", "SELECT ai.check_samples()"),
    (
        "similar_samples",
        "SELECT ai.similar_samples('customers in Germany')",
    ),
    ("embed", "SELECT ai.embed('customers in Germany')"),
    // a word's meaning is judged (analysed, never run) as the one who teaches it
    (
        "teach",
        "SELECT ai.teach('hostile country', 'att.customer_view', 'country')",
    ),
    (
        "teach",
        "SELECT ai.teach('hostile policy', 'att.policied', 'country = ''Germany''')",
    ),
    (
        "teach",
        "SELECT ai.teach('hostile operator', 'att.base', 'country OPERATOR(att.===) ''x''')",
    ),
    (
        "teach",
        "SELECT ai.teach('hostile aggregate', 'att.base', 'att.agg(country)')",
    ),
    (
        "teach",
        "SELECT ai.teach('hostile domain', 'att.base', 'country::att.country_d')",
    ),
];

/// Functions that read or write only the extension's own state (or nothing at all), with
/// the reason they are not called over the hostile schema. An approved request runs as its
/// requester by contract (docs/security.md); the approval tests cover who runs what.
const NOT_OVER_USER_OBJECTS: &[(&str, &str)] = &[
    ("add_fix_pattern", "writes ai.fix_patterns"),
    ("audit_entries", "reads ai.audit_log"),
    ("add_guardian_rule", "writes ai.guardian_rules"),
    (
        "add_sample",
        "judged like generated SQL; the samples tests cover it",
    ),
    ("approve", "changes a request's state"),
    ("cancel", "changes a request's state"),
    ("check_guardian_rules", "matches text against stored rules"),
    ("deliver_notifications", "sends stored notifications"),
    ("escalate", "changes a request's state"),
    ("expire_requests", "changes requests' state"),
    ("feedback", "writes ai.query_usage_stats"),
    ("forget_word", "deletes words from ai.vocabulary"),
    ("record_pattern_application", "writes ai.fix_patterns"),
    ("reject", "changes a request's state"),
    ("relate_patterns", "writes ai.fix_patterns"),
    ("related_patterns", "reads ai.fix_patterns"),
    ("remember_optimization", "writes ai.optimization_log"),
    ("request_rollback", "restores a request's own backup"),
    ("request_status", "reads ai.change_requests"),
    ("requests", "reads ai.change_requests"),
    ("review_pattern", "writes ai.fix_patterns"),
    ("review_sample", "changes a sample's state"),
    ("review_word", "changes a word's state"),
    ("rollback", "restores a request's own backup"),
    ("search_patterns", "reads ai.fix_patterns"),
    ("similar_optimizations", "reads ai.optimization_log"),
    ("unknown_words", "reads ai.query_usage_stats"),
    ("verify_audit", "reads ai.audit_log"),
    ("version", "reads nothing"),
];

struct Hostile {
    db: TestDb,
    attacker: String,
    /// (role, its kind) of every victim
    victims: Vec<(String, &'static str)>,
}

impl Hostile {
    fn new() -> Hostile {
        let db = TestDb::new("hostile");
        let attacker = format!("{}_att", db.name);
        let reader = format!("{}_reader", db.name);
        let monitor = format!("{}_mon", db.name);
        let curator = format!("{}_cur", db.name);
        let approver = format!("{}_appr", db.name);
        let mut su = db.connect("postgres");
        // tests run at the same time: the first to create a shared role wins
        for shared in ["ai_curator", "ai_senior"] {
            su.batch_execute(&format!(
                "DO $$ BEGIN CREATE ROLE {shared}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ))
            .unwrap();
        }
        su.batch_execute(&format!(
            "CREATE EXTENSION dblink; CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
             CREATE EXTENSION hypopg;
             CREATE ROLE \"{attacker}\" LOGIN;
             CREATE ROLE \"{reader}\" LOGIN;
             CREATE ROLE \"{monitor}\" LOGIN IN ROLE pg_monitor;
             CREATE ROLE \"{curator}\" LOGIN IN ROLE ai_curator;
             CREATE ROLE \"{approver}\" LOGIN IN ROLE ai_senior;
             UPDATE ai.approval_policy SET required_approvals = 0;
             CREATE SCHEMA att AUTHORIZATION \"{attacker}\";
             GRANT USAGE ON SCHEMA att TO PUBLIC;
             CREATE TABLE public.customer (id int PRIMARY KEY, name text, country text);
             INSERT INTO public.customer SELECT g, 'c' || g, CASE WHEN g % 3 = 0 THEN 'Germany' ELSE 'France' END
               FROM generate_series(1, 300) g;
             GRANT SELECT ON public.customer TO PUBLIC;"
        ))
        .unwrap();
        let conn = format!(
            "host={} port={} dbname={} user=postgres",
            host(),
            port(),
            db.name
        );
        let mut a = db.connect(&attacker);
        // the payload: harmless for its owner, and for anyone else every effect that
        // outlives a rollback or leaks out of a kept subtransaction
        a.batch_execute(&format!(
            "CREATE TABLE att.fired (kind text, victim text);
             CREATE SEQUENCE att.fired_seq;
             GRANT USAGE ON SEQUENCE att.fired_seq TO PUBLIC;
             CREATE FUNCTION att.payload(kind text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
             BEGIN
               IF current_user <> '{attacker}' THEN
                 -- what a read-only transaction allows first, then what it refuses
                 PERFORM pg_catalog.set_config('search_path', 'att, public', false);
                 PERFORM pg_catalog.pg_advisory_lock(4242);
                 BEGIN  -- dblink connects without a password only for a superuser
                   PERFORM public.dblink_exec('{conn}',
                     pg_catalog.format('INSERT INTO att.fired VALUES (%L, %L)', kind, current_user));
                 EXCEPTION WHEN OTHERS THEN NULL;
                 END;
                 BEGIN  -- refused in a read-only transaction
                   PERFORM pg_catalog.nextval('att.fired_seq');
                 EXCEPTION WHEN OTHERS THEN NULL;
                 END;
               END IF;
               RETURN 'Germany';
             END $f$;
             GRANT EXECUTE ON FUNCTION att.payload(text) TO PUBLIC;
             CREATE TABLE att.base (id int PRIMARY KEY, country text);
             INSERT INTO att.base SELECT g, 'Germany' FROM generate_series(1, 50) g;"
        ))
        .unwrap();
        for (kind, ddl, _) in OBJECTS {
            a.batch_execute(&ddl.replace("{p}", &format!("att.payload('{kind}')")))
                .unwrap_or_else(|e| panic!("the {kind} fixture: {e}"));
        }
        a.batch_execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA att TO PUBLIC;
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA att TO PUBLIC;",
        )
        .unwrap();
        su.batch_execute("ANALYZE; SELECT ai.refresh_catalog()")
            .unwrap();
        let victims = vec![
            ("postgres".into(), "superuser"),
            (monitor, "pg_monitor member"),
            (reader, "plain reader"),
            (curator, "curator"),
            (approver, "approver"),
        ];
        // the attacker's requests, approved (the policy needs none here): one per victim, and
        // one to show what running it with the executor's rights would do
        for _ in 0..=victims.len() {
            a.batch_execute(
                "SELECT ai.request('UPDATE att.triggered SET country = country WHERE id = 3', 'mine')",
            )
            .unwrap();
        }
        Hostile {
            db,
            attacker,
            victims,
        }
    }

    /// The payloads that ran for someone other than the attacker since the last call: (kind,
    /// victim) from the rows a superuser's run wrote through dblink, and ("?", "N runs") when
    /// the sequence every run steps moved further than those rows account for.
    fn fired(&self) -> Vec<(String, String)> {
        let mut su = self.db.connect("postgres");
        let rows = su
            .query("DELETE FROM att.fired RETURNING kind, victim", &[])
            .unwrap();
        let mut out: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let steps: i64 = su
            .query_one(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM att.fired_seq",
                &[],
            )
            .unwrap()
            .get(0);
        su.batch_execute("SELECT pg_catalog.setval('att.fired_seq', 1, false)")
            .unwrap();
        if steps as usize > out.len() {
            out.push((
                "?".into(),
                format!("{} run(s) by a non-superuser", steps as usize - out.len()),
            ));
        }
        out
    }

    /// A victim's session, with the attacker's schema on its search_path after its own.
    fn session(&self, victim: &str) -> Client {
        let mut c = self.db.connect(victim);
        c.batch_execute("SET search_path = public, att").unwrap();
        c
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let mut admin = connect("postgres", "postgres");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.db.name
        ));
        let mut roles = vec![self.attacker.clone()];
        roles.extend(
            self.victims
                .iter()
                .filter(|v| v.0 != "postgres")
                .map(|v| v.0.clone()),
        );
        for r in roles {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{r}\""));
        }
    }
}

/// What a session shows of a payload that ran in it: its search_path and advisory locks.
fn session_marks(c: &mut Client) -> (String, i64) {
    let path: String = c.query_one("SHOW search_path", &[]).unwrap().get(0);
    let locks: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    (path, locks)
}

#[test]
fn every_function_over_the_hostile_schema_runs_none_of_its_code() {
    let h = Hostile::new();
    // the weapon is real: each object runs the payload for a victim who touches it directly
    for (kind, _, direct) in OBJECTS {
        let Some(direct) = direct else { continue };
        let mut c = h.session("postgres");
        let mut r = h.session(&h.victims[2].0);
        // a superuser is exempt from row-level security: the policy is tried by the reader
        let who = if *kind == "policy" { &mut r } else { &mut c };
        who.batch_execute(&format!("BEGIN; {direct}; ROLLBACK"))
            .unwrap_or_else(|e| panic!("the {kind} weapon: {e}"));
        let fired = h.fired();
        assert!(
            fired.iter().any(|(k, _)| k == kind || (*kind == "policy" && k == "?")),
            "the {kind} payload must run when a victim touches the object directly (fired: {fired:?})"
        );
        // the session advisory lock outlives the rollback (the search_path it set does not)
        let (_, locks) = session_marks(who);
        assert_eq!(locks, 1, "the {kind} payload keeps its lock in the session");
    }
    // a statement of each victim's in pg_stat_statements for the advisor and the audit
    for (v, _) in &h.victims {
        let mut c = h.session(v);
        let _ = c.batch_execute("SELECT count(*) FROM public.customer WHERE country = 'Germany'");
    }
    h.fired();
    let mut succeeded: Vec<(&str, &str)> = Vec::new();
    let mut problems = Vec::new();
    for (victim, what) in &h.victims {
        for (name, call) in CALLS {
            let mut c = h.session(victim);
            let before = session_marks(&mut c);
            let sql = call.replace("{v}", victim).replace("{a}", &h.attacker);
            match c.batch_execute(&sql) {
                Ok(()) => succeeded.push((what, name)),
                Err(_) => {} // refusals are fine; only what ran matters
            }
            let after = session_marks(&mut c);
            for (kind, role) in h.fired() {
                problems.push(format!("{what}: `{sql}` ran the {kind} payload as {role}"));
            }
            if after != before {
                problems.push(format!(
                    "{what}: `{sql}` changed the session: {before:?} -> {after:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // the calls did their work (a test where everything failed would prove nothing)
    for name in [
        "ask",
        "chat",
        "refresh_catalog",
        "lint_schema",
        "erd",
        "suggest_indexes",
        "impact",
        "run_audit",
    ] {
        assert!(
            succeeded.contains(&(&"superuser", name)),
            "ai.{name} ran for the superuser over the hostile schema"
        );
    }
    for name in [
        "ask",
        "chat",
        "lint_schema",
        "erd",
        "impact",
        "explain",
        "execute",
    ] {
        assert!(
            succeeded.contains(&(&"plain reader", name)),
            "ai.{name} ran for the plain reader over the hostile schema"
        );
    }
    assert!(succeeded.contains(&(&"superuser", "execute")));
    // the contract is what kept the attacker's approved request from running as its executor:
    // with the executor's rights (how 0.2.0 ran every request) its trigger fires
    let mut c = h.session("postgres");
    c.batch_execute("SET ai_architect.execute_as = executor")
        .unwrap();
    let sql = CALLS.iter().find(|(n, _)| *n == "execute").unwrap().1;
    c.batch_execute(&sql.replace("{a}", &h.attacker)).unwrap();
    let fired = h.fired();
    assert!(
        fired.iter().any(|(k, v)| k == "trigger" && v == "postgres"),
        "the request's trigger must run as an executor with the executor's rights: {fired:?}"
    );
}

#[test]
fn every_function_of_the_extension_is_called_over_the_hostile_schema_or_says_why_not() {
    let db = TestDb::new("hostile_list");
    let mut c = db.connect("postgres");
    let names = extension_functions(&mut c);
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            !CALLS.iter().any(|(c, _)| c == n) && !NOT_OVER_USER_OBJECTS.iter().any(|(c, _)| c == n)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "functions neither called over the hostile schema nor listed with a reason: {missing:?}"
    );
    let gone: Vec<&str> = CALLS
        .iter()
        .map(|c| c.0)
        .chain(NOT_OVER_USER_OBJECTS.iter().map(|c| c.0))
        .filter(|n| !names.iter().any(|x| x == n))
        .collect();
    assert!(
        gone.is_empty(),
        "listed but not functions of the extension: {gone:?}"
    );
}

/// Review C-2: a `pg_monitor` member shadows another role's table with a temporary one whose
/// row-level policy calls an IMMUTABLE function; the advisor used to plan the victim's
/// statement as the victim under the caller's search_path, folding the function as the victim.
#[test]
fn a_monitoring_role_cannot_make_the_advisor_run_code_as_a_statements_author() {
    let db = TestDb::new("hostile_c2");
    let app = format!("{}_app", db.name);
    let mon = format!("{}_mon", db.name);
    let mut su = db.connect("postgres");
    su.batch_execute(&format!(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE EXTENSION hypopg;
         CREATE ROLE \"{app}\" LOGIN; CREATE ROLE \"{mon}\" LOGIN IN ROLE pg_monitor;
         CREATE SCHEMA app AUTHORIZATION \"{app}\";
         ALTER ROLE \"{app}\" SET search_path = app;"
    ))
    .unwrap();
    let mut a = db.connect(&app);
    a.batch_execute(
        "CREATE TABLE app.accounts (id int PRIMARY KEY, owner text, balance numeric);
         INSERT INTO app.accounts SELECT g, 'o' || g % 100, g FROM generate_series(1, 20000) g;
         ANALYZE app.accounts;",
    )
    .unwrap();
    for i in 0..30 {
        a.batch_execute(&format!("SELECT * FROM accounts WHERE owner = 'o{i}'"))
            .unwrap();
    }
    let mut m = db.connect(&mon);
    m.batch_execute(&format!(
        "SET search_path = pg_temp, app;
         CREATE TEMP TABLE accounts (id int, owner text, balance numeric);
         CREATE FUNCTION pg_temp.g() RETURNS void LANGUAGE plpgsql AS
           $$ BEGIN EXECUTE 'GRANT SELECT ON app.accounts TO \"{mon}\"'; END $$;
         CREATE FUNCTION pg_temp.f(int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS
           $$ BEGIN PERFORM pg_temp.g(); RETURN true; END $$;
         ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON accounts USING (pg_temp.f(1));
         GRANT SELECT ON accounts TO PUBLIC;"
    ))
    .unwrap();
    let _ = m.batch_execute("SELECT ai.suggest_indexes()");
    let _ = m.batch_execute("SELECT ai.chat('c2', 'Which indexes should I add?')");
    let granted: bool = su
        .query_one(
            "SELECT has_table_privilege($1, 'app.accounts', 'SELECT')",
            &[&mon],
        )
        .unwrap()
        .get(0);
    drop(m);
    drop(a);
    let _ = su.batch_execute(&format!(
        "DROP SCHEMA app CASCADE; DROP OWNED BY \"{app}\"; DROP OWNED BY \"{mon}\""
    ));
    drop(su);
    let mut admin = connect("postgres", "postgres");
    let _ = admin.batch_execute(&format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE); DROP ROLE IF EXISTS \"{app}\"; DROP ROLE IF EXISTS \"{mon}\"",
        db.name
    ));
    assert!(
        !granted,
        "the monitoring role granted itself the victim's table through the advisor"
    );
}

/// Review M-2: the catalog keeps no sample values of a table with row-level security, so a
/// value one role's policy hides never reaches another through ai.catalog_columns.
#[test]
fn row_level_security_hides_sample_values_from_the_catalog() {
    let db = TestDb::new("hostile_m2");
    let alice = format!("{}_alice", db.name);
    let mut su = db.connect("postgres");
    su.batch_execute(&format!(
        "CREATE ROLE \"{alice}\" LOGIN;
         CREATE TABLE public.t (tenant text, plan text);
         ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON public.t USING (tenant = current_user);
         GRANT SELECT ON public.t TO \"{alice}\";
         INSERT INTO public.t SELECT 'bob', 'bob-secret-' || (g % 3) FROM generate_series(1, 300) g;
         CREATE TABLE public.open (plan text);
         INSERT INTO public.open SELECT 'open-' || (g % 3) FROM generate_series(1, 300) g;
         GRANT SELECT ON public.open TO \"{alice}\";
         ANALYZE; SELECT ai.refresh_catalog();"
    ))
    .unwrap();
    let mut a = db.connect(&alice);
    let samples: Vec<String> = a
        .query(
            "SELECT coalesce(sample_values::text, '') FROM ai.catalog_columns WHERE column_name = 'plan' ORDER BY table_oid",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    drop(a);
    drop(su);
    let mut admin = connect("postgres", "postgres");
    let _ = admin.batch_execute(&format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE); DROP ROLE IF EXISTS \"{alice}\"",
        db.name
    ));
    // the table without a policy keeps its samples (so the test can fail)
    assert!(samples.iter().any(|s| s.contains("open-")), "{samples:?}");
    assert!(
        !samples.iter().any(|s| s.contains("bob-secret")),
        "{samples:?}"
    );
}

/// Review M-1: the impact (and so the request its approvers read) lists every function the
/// statement runs as PostgreSQL's analyser sees it — a column default, a domain check, an
/// operator — and says that the executor runs those that are not built in with their rights.
#[test]
fn the_impact_lists_the_functions_a_statement_runs() {
    let db = TestDb::new("hostile_m1");
    let mut su = db.connect("postgres");
    su.batch_execute(
        "CREATE FUNCTION public.stamp() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
         CREATE TABLE public.t (id int PRIMARY KEY, note text DEFAULT public.stamp());",
    )
    .unwrap();
    let doc: serde_json::Value = su
        .query_one(
            "SELECT ai.impact('INSERT INTO public.t (id) VALUES (1)')::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap();
    let f = doc["functions"].as_array().expect("a functions list");
    assert!(
        f.iter()
            .any(|f| f["signature"] == "stamp()" || f["signature"] == "public.stamp()"),
        "{f:?}"
    );
    assert!(f.iter().all(|f| f["built_in"] == false), "{f:?}");
    let warned = doc["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap_or("")
            .contains("not built in, with the rights of the role it runs as")
    });
    assert!(warned, "{}", doc["warnings"]);
    let report: String = su
        .query_one(
            "SELECT ai.impact_report('INSERT INTO public.t (id) VALUES (1)')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        report.contains("functions it runs (not built in"),
        "{report}"
    );
    // a statement that calls only built-ins lists them, and warns of nothing
    let doc: serde_json::Value = su
        .query_one(
            "SELECT ai.impact('UPDATE public.t SET note = upper(note)')::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap();
    assert!(doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["built_in"] == true));
    assert!(!doc["warnings"].to_string().contains("not built in"));
}
