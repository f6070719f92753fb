//! Differential fuzzing of the guard for SQL written by someone else (ai.check_sql, the check
//! ai.ask, samples and ai.explain(..., analyze) use). SQL texts come from a grammar over a
//! schema with user functions of every volatility, a user operator, domains with CHECKs,
//! views, a table with a row-level policy and dangerous built-ins, then are mutated (unicode
//! escapes, quoting, qualification, comments, dollar quotes, casts, a trailing statement,
//! backslashes, case). For every text the guard accepts:
//! - an independent judgement agrees: PostgreSQL's own dump of the analysed tree
//!   (debug_print_parse, from a Parse message of the extended protocol, which never plans
//!   nor runs), with views, row-level policies and domain CHECKs followed through pg_depend,
//!   finds only allowed functions and relations;
//! - it runs (EXPLAIN ANALYZE through ai.explain, rolled back) and nothing outside the
//!   transaction changes: statistics reset time, notifications, settings, advisory locks,
//!   roles, a sequence.
//!
//!
//! The same texts also go through the paths where ai_architect plans or reads what someone
//! else wrote: every fourth text is planned by the index advisor as a workload statement
//! (`ai.suggest_indexes(sql)`), and every fiftieth becomes a view (owned by a superuser, so
//! that its functions run with the reader's rights) over which the engine of `ai.ask` looks
//! up a value the question names. Whatever the guard decides, neither may leave a trace:
//! no notification, no session setting or advisory lock of the caller's, nothing outside the
//! transaction.
//!
//! `make test` runs a fixed-seed slice (AI_FUZZ_CASES, default 8000); the full run is
//! `make fuzz` (100,000 texts, seed in AI_FUZZ_SEED).
use ai_architect_integration::{Rng, TestDb};
use postgres::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const SCHEMA: &str = "
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE public.t (a int, b text, c date, d jsonb, e numeric);
INSERT INTO public.t SELECT g, 'b' || g, date '2024-01-01' + g, jsonb_build_object('k', g), g / 3.0 FROM generate_series(1, 50) g;
CREATE TABLE public.rls (a int);
INSERT INTO public.rls SELECT generate_series(1, 10);
CREATE SEQUENCE public.fzseq;
CREATE FUNCTION public.uimm(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_notify('fz', 'uimm'); RETURN $1; END $$;
CREATE FUNCTION public.ustab(int) RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN PERFORM pg_notify('fz', 'ustab'); RETURN $1; END $$;
CREATE FUNCTION public.uvol(int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM nextval('public.fzseq'); RETURN $1; END $$;
CREATE FUNCTION public.allowedf(int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT $1 + 1 $$;
CREATE FUNCTION public.uop(int, int) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('public.fzseq'); RETURN true; END $$;
CREATE OPERATOR public.=== (leftarg = int, rightarg = int, function = public.uop);
CREATE DOMAIN public.dbad AS int CHECK (public.uvol(VALUE) > -100000);
CREATE DOMAIN public.dok AS int CHECK (VALUE > -100000);
CREATE DOMAIN public.dnest AS public.dbad;
CREATE VIEW public.v_ok AS SELECT a, upper(b) AS ub FROM public.t;
CREATE VIEW public.v_bad AS SELECT public.uvol(a) AS a FROM public.t;
CREATE VIEW public.v_nest AS SELECT a FROM public.v_bad;
ALTER TABLE public.rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON public.rls USING (public.uvol(a) > 0);
INSERT INTO ai.allowed_functions (func, reason) VALUES ('public.allowedf(integer)'::regprocedure, 'fuzz');
";

/// The role the fuzzed SQL runs as: not a superuser, but holding dangerous rights, so that
/// a text the guard wrongly let through would show its effect.
const GRANTS: &str = "
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r};
GRANT USAGE ON SEQUENCE public.fzseq TO {r};
GRANT pg_read_server_files TO {r};
GRANT EXECUTE ON FUNCTION pg_stat_reset() TO {r};
GRANT EXECUTE ON FUNCTION pg_stat_reset_single_table_counters(oid) TO {r};
GRANT EXECUTE ON FUNCTION pg_ls_dir(text) TO {r};
";

const INT_FUNCS: &[&str] = &[
    "abs",
    "public.uimm",
    "public.ustab",
    "public.uvol",
    "public.allowedf",
    "uimm",
    "allowedf",
];
const DANGEROUS: &[&str] = &[
    "length(pg_notify('fz', 'x')::text)",
    "length(set_config('work_mem', '7MB', false))",
    "length(pg_read_file('/etc/hostname'))",
    "length(pg_stat_reset()::text)",
    "length(pg_stat_reset_single_table_counters('public.t'::regclass)::text)",
    "pg_advisory_lock(7)::text::int",
    "length(pg_advisory_xact_lock(8)::text)",
    "nextval('public.fzseq')::int",
    "length(lo_import('/etc/hostname')::text)",
    "(SELECT count(*) FROM ts_stat('SELECT to_tsvector(''a'')'))::int",
    "length(ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')::text)",
    "length(query_to_xml('SELECT 1', true, true, '')::text)",
    "(SELECT count(*) FROM pg_ls_dir('.'))::int",
    "pg_backend_pid() * 0",
    "(random() * 0)::int",
    "extract(year FROM clock_timestamp())::int * 0",
    "length(md5(b))",
    "length(current_setting('work_mem'))",
];
const FROM_ITEMS: &[&str] = &[
    "public.t",
    "public.v_ok",
    "public.v_bad",
    "public.v_nest",
    "public.rls",
    "generate_series(1, 5) AS a",
    "pg_catalog.pg_class",
    "pg_roles",
    "pg_authid",
    "pg_shadow",
    "pg_statistic",
    "pg_user_mappings",
    "information_schema.tables",
    "pg_stat_activity",
    "public.uvol(1) AS a",
    "public.uimm(2) AS a",
];

fn int_expr(r: &mut Rng, depth: usize) -> String {
    if depth == 0 {
        return match r.below(3) {
            0 => "a".into(),
            1 => format!("{}", r.below(100)),
            _ => "length(b)".into(),
        };
    }
    let d = depth - 1;
    match r.below(12) {
        0 | 1 => format!("{}({})", r.pick(INT_FUNCS), int_expr(r, d)),
        2 => format!(
            "({} {} {})",
            int_expr(r, d),
            r.pick(&["+", "-", "*", "%"]),
            int_expr(r, d)
        ),
        3 => format!(
            "({})::{}",
            int_expr(r, d),
            r.pick(&[
                "public.dok",
                "public.dbad",
                "public.dnest",
                "int",
                "bigint::int",
                "text::int"
            ])
        ),
        4 => format!(
            "CAST({} AS {})",
            int_expr(r, d),
            r.pick(&["int", "public.dok", "public.dbad"])
        ),
        5 => format!("(SELECT max({}) FROM public.t)", int_expr(r, d)),
        6 => format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            cond(r, d),
            int_expr(r, d),
            int_expr(r, d)
        ),
        7 => r.pick(DANGEROUS).to_string(),
        8 => format!("coalesce({}, 0)", int_expr(r, d)),
        9 => format!("greatest({}, {})", int_expr(r, d), int_expr(r, d)),
        10 => format!("(SELECT count(*)::int FROM {})", r.pick(FROM_ITEMS)),
        _ => int_expr(r, 0),
    }
}

fn cond(r: &mut Rng, depth: usize) -> String {
    let d = depth.saturating_sub(1);
    match r.below(6) {
        0 => format!(
            "{} {} {}",
            int_expr(r, d),
            r.pick(&["=", "<", ">", "<>", "==="]),
            int_expr(r, d)
        ),
        1 => format!("{} OPERATOR(public.===) {}", int_expr(r, d), int_expr(r, d)),
        2 => format!(
            "EXISTS (SELECT 1 FROM {} WHERE {})",
            r.pick(FROM_ITEMS),
            cond(r, d)
        ),
        3 => format!("{} IN (SELECT a FROM public.t)", int_expr(r, d)),
        4 => format!("b LIKE 'b%' AND {}", cond(r, d)),
        _ => "true".into(),
    }
}

fn statement(r: &mut Rng) -> String {
    let e = int_expr(r, 3);
    match r.below(10) {
        0 => format!("SELECT {e} AS x FROM public.t WHERE {} LIMIT 3", cond(r, 2)),
        1 => format!(
            "SELECT count(*) FILTER (WHERE {}) FROM public.t",
            cond(r, 2)
        ),
        2 => format!("WITH q AS (SELECT {e} AS x FROM public.t) SELECT x FROM q LIMIT 2"),
        3 => format!("SELECT * FROM {} LIMIT 1", r.pick(FROM_ITEMS)),
        4 => format!("SELECT a, row_number() OVER (ORDER BY {e}) FROM public.t LIMIT 2"),
        5 => format!("SELECT {e} UNION SELECT {}", int_expr(r, 2)),
        6 => format!(
            "SELECT a FROM public.t GROUP BY a HAVING {} LIMIT 2",
            cond(r, 2)
        ),
        7 => format!("SELECT a FROM public.t ORDER BY {e} LIMIT 2"),
        8 => format!(
            "SELECT sum({e}) FROM {} AS s(a)",
            r.pick(&["public.t", "public.v_ok", "public.rls"])
        ),
        _ => format!("SELECT {e}"),
    }
}

fn unicode_ident(name: &str) -> String {
    let mut out = String::from("U&\"");
    for ch in name.chars() {
        if ch == '_' || ch == 'e' {
            out.push_str(&format!("\\{:04x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out.push('"');
    out
}

fn mutate(r: &mut Rng, sql: &str) -> String {
    let mut s = sql.to_string();
    for _ in 0..r.below(4) {
        s = match r.below(11) {
            0 => {
                let names = [
                    "pg_notify",
                    "set_config",
                    "pg_read_file",
                    "uvol",
                    "uimm",
                    "pg_stat_reset",
                    "ts_stat",
                    "upper",
                ];
                let n = r.pick(&names);
                s.replacen(n, &unicode_ident(n), 1)
            }
            1 => s.replacen("public.", "\"public\".", 1),
            2 => s.replacen("length(", "pg_catalog.length(", 1),
            3 => s.replacen(" FROM ", " /* c */ FROM ", 1),
            4 => s.replacen(" AS ", " --c\n AS ", 1),
            5 => s.replacen("'fz'", "$q$fz$q$", 1),
            6 => format!("{s}; SELECT pg_notify('fz', 'tail')"),
            7 => s.replacen("'x'", "'x\\' || pg_notify('fz', 'bs') || '", 1),
            8 => s.replace("SELECT", "select"),
            9 => s.replacen("(a)", "(\"a\")", 1),
            _ => s.replacen("int", "integer", 1),
        };
    }
    s
}

/// Numbers after `key` in a node dump (`:funcid 123`).
fn numbers(dump: &str, key: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = dump;
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(v) = n.parse::<u32>() {
            if v != 0 && !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

const HARMLESS_VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_database_size",
    "pg_blocking_pids",
];
const RUNS_TEXT: &[&str] = &[
    "ts_stat",
    "ts_rewrite",
    "query_to_xml",
    "cursor_to_xml",
    "table_to_xml",
    "schema_to_xml",
    "database_to_xml",
];
const SECRET_RELATIONS: &[&str] = &[
    "pg_authid",
    "pg_shadow",
    "pg_statistic",
    "pg_statistic_ext_data",
    "pg_user_mapping",
    "pg_user_mappings",
    "pg_largeobject",
];

/// The independent judgement of one analysed tree: the reasons it must not run (empty: ok).
fn judge(c: &mut Client, dump: &str, cache: &mut HashMap<String, Vec<String>>) -> Vec<String> {
    // the dump is wrapped at whitespace into lines of about 80 characters
    let dump = &dump.replace('\n', " ");
    let mut why = Vec::new();
    let mut funcs: Vec<u32> = Vec::new();
    for k in [":funcid ", ":aggfnoid ", ":winfnoid "] {
        funcs.extend(numbers(dump, k));
    }
    let mut ops: Vec<u32> = Vec::new();
    for k in [":opno ", ":eqop ", ":sortop "] {
        ops.extend(numbers(dump, k));
    }
    let rels = numbers(dump, ":relid ");
    // every result type in the tree (the domains among them are what casts coerce to;
    // the schema has no columns of a domain type)
    let domains = numbers(dump, ":resulttype ");
    if dump.contains(":hasModifyingCTE true") || dump.contains(":rowMarks (") {
        why.push("writes or locks".into());
    }
    if dump.contains(":utilityStmt {") || !dump.trim_start().starts_with("{QUERY :commandType 1 ") {
        why.push("not a plain SELECT".into());
    }
    // functions reached through views, row-level policies and domain CHECKs (pg_depend)
    let key = format!("{rels:?}{domains:?}");
    let reached = cache.entry(key).or_insert_with(|| {
        let rels: Vec<i64> = rels.iter().map(|x| *x as i64).collect();
        let doms: Vec<i64> = domains.iter().map(|x| *x as i64).collect();
        c.query(
            "WITH RECURSIVE objs(classid, objid) AS (
                 SELECT 'pg_rewrite'::regclass::oid, rw.oid FROM pg_rewrite rw
                  WHERE rw.ev_class = ANY ($1::int8[]::oid[]) AND rw.ev_class >= 16384
                 UNION SELECT 'pg_policy'::regclass::oid, p.oid FROM pg_policy p WHERE p.polrelid = ANY ($1::int8[]::oid[])
                 UNION SELECT 'pg_constraint'::regclass::oid, con.oid FROM pg_constraint con
                  WHERE con.contypid IN (WITH RECURSIVE d(t) AS (SELECT unnest($2::int8[]::oid[]) UNION
                                          SELECT ty.typbasetype FROM pg_type ty JOIN d ON ty.oid = d.t WHERE ty.typtype = 'd')
                                          SELECT t FROM d)
                 UNION SELECT 'pg_rewrite'::regclass::oid, rw.oid
                   FROM objs o JOIN pg_depend dp ON dp.classid = o.classid AND dp.objid = o.objid
                   JOIN pg_rewrite rw ON rw.ev_class = dp.refobjid AND dp.refclassid = 'pg_class'::regclass AND rw.ev_class >= 16384
                  WHERE o.classid = 'pg_rewrite'::regclass AND rw.oid <> o.objid)
             SELECT DISTINCT p.oid::regprocedure::text || '|' || p.oid::text
               FROM objs o JOIN pg_depend dp ON dp.classid = o.classid AND dp.objid = o.objid
               JOIN pg_proc p ON (dp.refclassid = 'pg_proc'::regclass AND p.oid = dp.refobjid)
                              OR (dp.refclassid = 'pg_operator'::regclass AND p.oid = (SELECT oprcode FROM pg_operator WHERE oid = dp.refobjid))",
            &[&rels, &doms],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
    });
    for f in reached.iter() {
        if let Some(oid) = f.rsplit('|').next().and_then(|o| o.parse::<u32>().ok()) {
            funcs.push(oid);
        }
    }
    let ops: Vec<i64> = ops.iter().map(|x| *x as i64).collect();
    let via_ops: Vec<u32> = c
        .query(
            "SELECT oprcode::oid::int8 FROM pg_operator WHERE oid = ANY ($1::int8[]::oid[])",
            &[&ops],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i64>(0) as u32)
        .collect();
    funcs.extend(via_ops);
    funcs.sort();
    funcs.dedup();
    let f64s: Vec<i64> = funcs.iter().map(|x| *x as i64).collect();
    for r in c
        .query(
            "SELECT p.oid::int8, p.proname::text, p.provolatile::text,
                    EXISTS (SELECT 1 FROM ai.allowed_functions a WHERE a.func::oid = p.oid)
               FROM pg_proc p WHERE p.oid = ANY ($1::int8[]::oid[])",
            &[&f64s],
        )
        .unwrap()
    {
        let (oid, name, vol, allowed): (i64, String, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let ok = allowed
            || (oid < 16384
                && !RUNS_TEXT.iter().any(|p| name.starts_with(p))
                && (vol != "v" || HARMLESS_VOLATILE.contains(&name.as_str())));
        if !ok {
            why.push(format!("function {name} ({vol})"));
        }
    }
    let r64: Vec<i64> = rels.iter().map(|x| *x as i64).collect();
    for r in c
        .query("SELECT relname::text FROM pg_class WHERE oid = ANY ($1::int8[]::oid[]) AND oid < 16384", &[&r64])
        .unwrap()
    {
        let name: String = r.get(0);
        if SECRET_RELATIONS.contains(&name.as_str()) {
            why.push(format!("relation {name}"));
        }
    }
    why
}

fn outside_state(c: &mut Client) -> String {
    c.query_one(
        "SELECT concat_ws('|',
            (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()),
            (SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings WHERE source = 'session'),
            (SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory'),
            (SELECT string_agg(rolname || rolsuper::text, ',' ORDER BY rolname) FROM pg_roles),
            (SELECT last_value::text FROM public.fzseq))",
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn the_guard_accepts_only_what_postgres_analysis_allows() {
    let cases: usize = std::env::var("AI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8000);
    let seed: u64 = std::env::var("AI_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_a1a2);
    let db = TestDb::new("fuzz");
    let role = format!("{}_r", db.name);
    let mut su = db.connect("postgres");
    su.batch_execute(SCHEMA).unwrap();
    su.batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
        .unwrap();
    su.batch_execute(&GRANTS.replace("{r}", &format!("\"{role}\"")))
        .unwrap();
    su.batch_execute("SELECT pg_stat_reset()").unwrap();

    // the session under test, and the independent one that only parses
    let notices: Arc<Mutex<Vec<String>>> = Arc::default();
    let heard = notices.clone();
    let mut c = postgres::Config::new()
        .host(&ai_architect_integration::host())
        .port(ai_architect_integration::port())
        .user(&role)
        .dbname(&db.name)
        .notice_callback(move |n| heard.lock().unwrap().push(n.message().to_string()))
        .connect(postgres::NoTls)
        .unwrap();
    c.batch_execute("LISTEN fz").unwrap();
    let dumps: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = dumps.clone();
    let mut ind = postgres::Config::new()
        .host(&ai_architect_integration::host())
        .port(ai_architect_integration::port())
        .user(&role)
        .dbname(&db.name)
        .notice_callback(move |n| {
            sink.lock().unwrap().push((
                n.message().to_string(),
                n.detail().unwrap_or("").to_string(),
            ))
        })
        .connect(postgres::NoTls)
        .unwrap();
    ind.batch_execute(
        "SET debug_print_parse = on; SET debug_pretty_print = off; SET client_min_messages = log",
    )
    .unwrap();
    let mut judge_conn = db.connect("postgres");
    let before = outside_state(&mut judge_conn);

    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut accepted, mut refused, mut errors, mut ran) = (0usize, 0usize, 0usize, 0usize);
    let (mut planned, mut looked_up, mut lookup_refused) = (0usize, 0usize, 0usize);
    let session = |c: &mut Client| -> String {
        c.query_one(
            "SELECT concat_ws('|', current_setting('search_path'), current_setting('work_mem'),
                    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()))",
            &[],
        )
        .unwrap()
        .get(0)
    };
    let clean = session(&mut c);
    // no notification escaped, and the session is as it was
    let no_trace = |c: &mut Client, what: &str| {
        assert!(
            c.notifications().is_empty(),
            "{what}: a notification escaped"
        );
        assert_eq!(session(c), clean, "{what}: the session changed");
    };
    let mut false_accepts: Vec<String> = Vec::new();
    let mut false_refusals: Vec<String> = Vec::new();
    let mut cache = HashMap::new();
    for i in 0..cases {
        let base = statement(&mut rng);
        let sql = if rng.chance(0.6) {
            mutate(&mut rng, &base)
        } else {
            base
        };
        let verdict = match c.query_one("SELECT ai.check_sql($1)::text", &[&sql]) {
            Ok(r) => serde_json::from_str::<serde_json::Value>(r.get::<_, &str>(0)).unwrap(),
            Err(_) => {
                errors += 1;
                continue;
            }
        };
        let ok = verdict["allowed"] == true;
        // PostgreSQL's own tree, from a Parse message (one statement only; never planned)
        dumps.lock().unwrap().clear();
        let independent = match ind.prepare(&sql) {
            Ok(_) => {
                let d = dumps.lock().unwrap();
                let tree = d
                    .iter()
                    .find(|(m, _)| m.starts_with("parse tree"))
                    .map(|x| x.1.clone());
                tree.map(|t| judge(&mut judge_conn, &t, &mut cache))
            }
            Err(_) => Some(vec!["not one statement that analyses".to_string()]),
        };
        let independent = independent.unwrap_or_else(|| panic!("no parse tree dump for {sql}"));
        if ok {
            accepted += 1;
            if !independent.is_empty() {
                false_accepts.push(format!("{sql}  =>  {independent:?}"));
            }
            // it runs (rolled back), and nothing outside the transaction may change
            if c.query_one("SELECT ai.explain($1, true)::text", &[&sql])
                .is_ok()
            {
                ran += 1;
            }
            assert!(
                c.notifications().is_empty(),
                "a notification escaped from {sql}"
            );
        } else {
            refused += 1;
            if independent.is_empty() && false_refusals.len() < 20 {
                false_refusals.push(format!("{sql}  =>  {}", verdict["refusal"]));
            }
        }
        // the planning path: the advisor plans the text as a workload statement
        if i % 4 == 0 {
            if c.query_one("SELECT count(*) FROM ai.suggest_indexes($1)", &[&sql])
                .is_ok()
            {
                planned += 1;
            }
            no_trace(&mut c, &format!("the advisor planning {sql}"));
        }
        // the lookup path: the text as a view whose values a question names
        if i % 50 == 0 {
            let view = format!(
                "DROP VIEW IF EXISTS public.fzv; CREATE VIEW public.fzv AS SELECT q::text AS label FROM ({sql}) AS q;
                 GRANT SELECT ON public.fzv TO \"{role}\""
            );
            if su.batch_execute(&view).is_ok() {
                looked_up += 1;
                notices.lock().unwrap().clear();
                let _ = c.query_one(
                    "SELECT ai.ask('How many fzv have the label Germany?', false)::text",
                    &[],
                );
                // the view is read exactly when the guard accepts reading it (the view runs
                // with its owner's rights: a policy the owner bypasses does not apply)
                let skipped = notices
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|n| n.contains("not looked up in public.fzv"));
                let readable = c
                    .query_one(
                        "SELECT (ai.check_sql('SELECT label FROM public.fzv') ->> 'allowed')::bool",
                        &[],
                    )
                    .unwrap()
                    .get::<_, bool>(0);
                assert_eq!(
                    skipped, !readable,
                    "the lookup and the guard disagree on a view over {sql}"
                );
                if skipped {
                    lookup_refused += 1;
                }
                no_trace(&mut c, &format!("the value lookup over a view of {sql}"));
                assert_eq!(
                    outside_state(&mut judge_conn),
                    before,
                    "the value lookup over a view of {sql}"
                );
            }
        }
        if i % 1000 == 999 {
            assert_eq!(
                outside_state(&mut judge_conn),
                before,
                "state changed by case {i}"
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        outside_state(&mut judge_conn),
        before,
        "something outside the transactions changed"
    );
    eprintln!(
        "guard fuzz: {cases} texts (seed {seed:#x}) in {secs:.1} s: {accepted} accepted ({ran} ran), {refused} refused, {errors} errors; false accepts {}, false refusals {}; {planned} planned by the advisor, {looked_up} views looked up by ai.ask ({lookup_refused} of them refused), no trace",
        false_accepts.len(),
        false_refusals.len()
    );
    assert!(
        false_accepts.is_empty(),
        "accepted but not allowed:\n{}",
        false_accepts.join("\n")
    );
    assert!(
        false_refusals.is_empty(),
        "refused but allowed:\n{}",
        false_refusals.join("\n")
    );
    assert!(
        accepted > cases / 20 && refused > cases / 5,
        "the generator lost its spread"
    );
    assert!(
        planned > cases / 40 && looked_up > cases / 500 && lookup_refused > 0,
        "the planning and lookup paths saw too few texts: {planned} planned, {looked_up} views"
    );
    drop((c, ind, su, judge_conn));
    let mut admin = ai_architect_integration::connect("postgres", "postgres");
    let name = db.name.clone();
    drop(db);
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""));
}
