//! ALTER EXTENSION ai_architect UPDATE from each release — its install script, run by its own
//! library (built from the release commit by `scripts/setup.sh previous`) — on a database where
//! that release wrote samples, patterns, requests, executions with backups, conversations and
//! audit entries: every row is kept, an old backup still rolls back, the audit chain verifies
//! and goes on, and the schema is exactly the one a fresh install gives.
use ai_architect_integration::Cluster;
use postgres::Client;

/// Everything about the extension's objects that an upgrade must get right, as text.
const SHAPE: &str = "
WITH members AS (
  SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
   WHERE d.deptype = 'e' AND e.extname = 'ai_architect')
SELECT string_agg(line, E'\\n' ORDER BY line) FROM (
  SELECT format('column %s.%s %s %s %s %s', c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid)) AS line
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('relation %s %s %s %s', c.relname, c.relkind, c.relacl, c.relrowsecurity)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  SELECT format('constraint %s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_constraint k ON k.conrelid = c.oid
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(t.oid))
    FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
  UNION ALL
  SELECT format('policy %s %s %s %s', p.polname, p.polcmd, pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    FROM members m JOIN pg_policy p ON m.classid = 'pg_class'::regclass AND p.polrelid = m.objid
  UNION ALL
  SELECT format('function %s -> %s %s strict=%s secdef=%s %s %s %s %s %s', p.oid::regprocedure, pg_get_function_result(p.oid),
                p.provolatile, p.proisstrict, p.prosecdef, p.proparallel, p.proconfig, p.proacl,
                pg_get_function_arguments(p.oid), CASE WHEN p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
                                                        THEN p.probin || ' ' || p.prosrc ELSE md5(p.prosrc) END)
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  UNION ALL
  SELECT format('event trigger %s %s %s', t.evtname, t.evtevent, t.evtfoid::regproc)
    FROM members m JOIN pg_event_trigger t ON m.classid = 'pg_event_trigger'::regclass AND t.oid = m.objid
  UNION ALL
  SELECT format('dumped %s', x::regclass) FROM pg_extension e, unnest(e.extconfig) x WHERE e.extname = 'ai_architect'
) s";

fn text(c: &mut Client, sql: &str) -> String {
    c.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get::<_, Option<String>>(0)
        .unwrap_or_default()
}

fn int(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

/// Whether release `v`'s library is here for this server (built by `scripts/setup.sh
/// previous` where `v` was released for this PostgreSQL version); says why not otherwise.
fn old_library_here(v: &str, released_for: &[&str]) -> bool {
    let bindir = std::env::var("AI_PGBIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let config = |arg: &str| {
        let out = std::process::Command::new(format!("{bindir}/pg_config"))
            .arg(arg)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (libdir, version) = (config("--pkglibdir"), config("--version"));
    if !released_for
        .iter()
        .any(|m| version.starts_with(&format!("PostgreSQL {m}.")))
    {
        eprintln!("skipped: {v} was released for PostgreSQL {released_for:?}, this is {version}");
        return false;
    }
    if !std::path::Path::new(&format!("{libdir}/ai_architect-{v}.so")).exists() {
        eprintln!("skipped: the {v} library is not built here (scripts/setup.sh previous needs the release commit)");
        return false;
    }
    true
}

/// Every row of every table of the extension, as jsonb, into public.snap.
const SNAPSHOT: &str = "CREATE TABLE public.snap (tbl text, j jsonb);
     DO $$ DECLARE t record; BEGIN
       FOR t IN SELECT c.oid::regclass AS r FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ai_architect'
                  JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid AND c.relkind = 'r'
                 WHERE d.deptype = 'e'
       LOOP EXECUTE format('INSERT INTO public.snap SELECT %L, to_jsonb(t) FROM %s t', t.r, t.r); END LOOP;
     END $$;";

/// Every row in public.snap is still in its table (`strip` names keys of a table's rows that
/// the update rewrote).
fn rows_kept(c: &mut Client, strip: &[(&str, &str)]) {
    let tables: Vec<String> = c
        .query("SELECT DISTINCT tbl FROM public.snap", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in &tables {
        let strip = strip
            .iter()
            .find(|(table, _)| table == t)
            .map(|(_, s)| *s)
            .unwrap_or("");
        let missing = int(
            c,
            &format!(
                "SELECT count(*) FROM public.snap s WHERE s.tbl = '{t}'
                   AND NOT EXISTS (SELECT 1 FROM {t} x WHERE to_jsonb(x) @> (s.j{strip}))"
            ),
        );
        assert_eq!(
            missing, 0,
            "{t}: {missing} rows of the old version are not there any more"
        );
    }
}

/// The updated database's schema is the one a fresh install in database `fresh` gives.
fn same_shape_as_fresh(cl: &Cluster, c: &mut Client) {
    let mut f = cl.connect("fresh");
    f.batch_execute("CREATE EXTENSION ai_architect CASCADE")
        .unwrap();
    let fresh = text(&mut f, SHAPE);
    let upgraded = text(c, SHAPE);
    if fresh != upgraded {
        let a: std::collections::BTreeSet<&str> = fresh.lines().collect();
        let b: std::collections::BTreeSet<&str> = upgraded.lines().collect();
        let only_fresh: Vec<_> = a.difference(&b).collect();
        let only_upgraded: Vec<_> = b.difference(&a).collect();
        panic!("fresh install only: {only_fresh:#?}\nupgrade only: {only_upgraded:#?}");
    }
    assert!(fresh.lines().count() > 300, "{}", fresh.lines().count());
}

/// ALTER EXTENSION ai_architect UPDATE in database `up`, in a session that never ran the old
/// library; returns a new session (the one that updated has both libraries' code loaded).
fn update(cl: &Cluster, from: &str) -> Client {
    let mut c = cl.connect("up");
    c.batch_execute("ALTER EXTENSION ai_architect UPDATE")
        .unwrap();
    let v = text(
        &mut c,
        "SELECT extversion FROM pg_extension WHERE extname = 'ai_architect'",
    );
    assert_ne!(v, from, "still on {from}");
    drop(c);
    cl.connect("up")
}

/// The audit chain verifies.
fn chain_ok(c: &mut Client) {
    let v = text(c, "SELECT ai.verify_audit()::text");
    assert!(v.contains("\"ok\": true"), "{v}");
}

const ROWS: &str = "SELECT string_agg(x::text, '|' ORDER BY x::text) FROM (SELECT o::text AS x FROM shop.orders o UNION ALL SELECT l::text FROM shop.lines l) s";

#[test]
fn an_update_from_0_1_0_keeps_every_row_and_matches_a_fresh_install() {
    if !old_library_here("0.1.0", &["15"]) {
        return;
    }
    // no preloading: a session runs either the 0.1.0 library or the current one, never both
    let cl = Cluster::new("it-upgrade", 28820, &[]);
    let mut admin = cl.connect("postgres");
    admin.batch_execute("CREATE DATABASE up").unwrap();
    admin.batch_execute("CREATE DATABASE fresh").unwrap();

    // 0.1.0 writes its state
    let mut old = cl.connect("up");
    old.batch_execute(
        "CREATE EXTENSION ai_architect VERSION '0.1.0' CASCADE;
         CREATE SCHEMA shop;
         CREATE TABLE shop.orders (id int PRIMARY KEY, total numeric NOT NULL, note text, placed timestamptz, ratio float8);
         CREATE TABLE shop.lines (order_id int REFERENCES shop.orders ON DELETE CASCADE, n int, qty int, PRIMARY KEY (order_id, n));
         INSERT INTO shop.orders SELECT g, g * 1.5, 'order ' || g, timestamptz '2026-01-01 10:00+00' + g * interval '1 hour 0.25 s', g / 7.0
           FROM generate_series(1, 20) g;
         INSERT INTO shop.lines SELECT o, n, o * n FROM generate_series(1, 20) o, generate_series(1, 3) n;
         UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true;",
    )
    .unwrap();
    assert_eq!(
        text(
            &mut old,
            "SELECT extversion FROM pg_extension WHERE extname = 'ai_architect'"
        ),
        "0.1.0"
    );
    assert!(text(&mut old, "SELECT probin FROM pg_proc WHERE proname = 'request' AND pronamespace = 'ai'::regnamespace")
        .ends_with("ai_architect-0.1.0"));
    old.batch_execute(
        "SELECT ai.add_sample('how many orders are there', 'SELECT count(*) FROM shop.orders');
         SELECT ai.add_fix_pattern('Missing index on a foreign key', 'performance', 'medium',
                                   'joins on lines.order_id scan the table', 'CREATE INDEX ON shop.lines (order_id)');
         SELECT ai.execute(ai.request('UPDATE shop.orders SET total = total + 1, ratio = ratio * 3 WHERE id <= 5'));",
    )
    .unwrap();
    let before_delete = text(&mut old, ROWS);
    let exec: i64 = int(
        &mut old,
        "SELECT (ai.execute(ai.request('DELETE FROM shop.orders WHERE id > 15'))->>'execution')::int8",
    );
    // what 0.1.0 left, row by row, to compare after the update
    old.batch_execute(SNAPSHOT).unwrap();
    assert!(
        int(
            &mut old,
            "SELECT count(*) FROM public.snap WHERE tbl = 'ai.backups'"
        ) >= 10
    );
    assert!(
        int(
            &mut old,
            "SELECT count(*) FROM public.snap WHERE tbl = 'ai.audit_log'"
        ) >= 4
    );
    drop(old);

    // the update, in a session that never ran the 0.1.0 library
    let mut c = update(&cl, "0.1.0");

    // every row 0.1.0 wrote is still there (new columns beside it); images became row text
    rows_kept(&mut c, &[("ai.backups", " - 'row_data' - 'row_after'")]);
    let images = int(
        &mut c,
        "SELECT count(*) FROM public.snap s JOIN ai.backups b ON b.id = (s.j->>'id')::int8
          WHERE s.tbl = 'ai.backups' AND s.j->'row_data' <> 'null'
            AND b.row_data IS DISTINCT FROM (SELECT jsonb_populate_record(NULL::shop.orders, s.j->'row_data')::text
                                               WHERE b.table_oid = 'shop.orders'::regclass)
            AND b.table_oid = 'shop.orders'::regclass",
    );
    assert_eq!(
        images, 0,
        "0.1.0 images of shop.orders read back as the same rows"
    );
    assert_eq!(
        text(
            &mut c,
            "SELECT review FROM ai.sql_samples WHERE question = 'how many orders are there'"
        ),
        "reviewed",
        "a superuser's sample counts as reviewed"
    );

    // the chain of 0.1.0 verifies and goes on; a 0.1.0 backup rolls back
    chain_ok(&mut c);
    c.batch_execute(&format!("SELECT ai.rollback({exec})"))
        .unwrap();
    assert_eq!(
        text(&mut c, ROWS),
        before_delete,
        "the 0.1.0 DELETE is undone"
    );
    c.batch_execute(
        "SELECT ai.execute(ai.request('UPDATE shop.orders SET note = note || ''!'' WHERE id = 1'))",
    )
    .unwrap();
    chain_ok(&mut c);
    same_shape_as_fresh(&cl, &mut c);
}

/// 0.2.0 as released (its library built from c69308b), on 15, 17 and 18: requests executed
/// with backups, a conversation, samples and audit entries survive the update; the backup
/// 0.2.0 took rolls back under the current library; the schema is a fresh install's.
#[test]
fn an_update_from_0_2_0_keeps_every_row_and_matches_a_fresh_install() {
    if !old_library_here("0.2.0", &["15", "17", "18"]) {
        return;
    }
    // no preloading: a session runs either the 0.2.0 library or the current one, never both
    let cl = Cluster::new("it-upgrade-020", 28821, &[]);
    let mut admin = cl.connect("postgres");
    admin.batch_execute("CREATE DATABASE up").unwrap();
    admin.batch_execute("CREATE DATABASE fresh").unwrap();
    let mut old = cl.connect("up");
    old.batch_execute(
        "CREATE EXTENSION ai_architect VERSION '0.2.0' CASCADE;
         CREATE SCHEMA shop;
         CREATE TABLE shop.orders (id int PRIMARY KEY, total numeric NOT NULL, note text);
         CREATE TABLE shop.lines (order_id int REFERENCES shop.orders ON DELETE CASCADE, n int, qty int, PRIMARY KEY (order_id, n));
         INSERT INTO shop.orders SELECT g, g * 1.5, 'order ' || g FROM generate_series(1, 20) g;
         INSERT INTO shop.lines SELECT o, n, o * n FROM generate_series(1, 20) o, generate_series(1, 3) n;
         UPDATE ai.approval_policy SET required_approvals = 0, allow_irreversible = true;
         SELECT ai.add_sample('how many orders are there', 'SELECT count(*) FROM shop.orders');
         SELECT ai.execute(ai.request('UPDATE shop.orders SET total = total + 1 WHERE id <= 5'));",
    )
    .unwrap();
    assert_eq!(
        text(
            &mut old,
            "SELECT extversion FROM pg_extension WHERE extname = 'ai_architect'"
        ),
        "0.2.0"
    );
    assert!(text(&mut old, "SELECT probin FROM pg_proc WHERE proname = 'request' AND pronamespace = 'ai'::regnamespace")
        .ends_with("ai_architect-0.2.0"));
    let before_delete = text(&mut old, ROWS);
    let exec = int(
        &mut old,
        "SELECT (ai.execute(ai.request('DELETE FROM shop.orders WHERE id > 15'))->>'execution')::int8",
    );
    let answer = text(
        &mut old,
        "SELECT ai.chat('sales', 'how many orders are there')::text",
    );
    assert!(answer.contains("15"), "{answer}");
    old.batch_execute(SNAPSHOT).unwrap();
    for (table, at_least) in [
        ("ai.backups", 5),
        ("ai.audit_log", 4),
        ("ai.chat_messages", 2),
    ] {
        let n = int(
            &mut old,
            &format!("SELECT count(*) FROM public.snap WHERE tbl = '{table}'"),
        );
        assert!(n >= at_least, "{table}: {n}");
    }
    drop(old);

    let mut c = update(&cl, "0.2.0");
    rows_kept(&mut c, &[]);
    chain_ok(&mut c);
    // the conversation goes on; the 0.2.0 DELETE is undone by the current library
    let history = text(
        &mut c,
        "SELECT string_agg(h::text, ' ') FROM ai.chat_history('sales') h",
    );
    assert!(history.contains("how many orders are there"), "{history}");
    c.batch_execute(&format!("SELECT ai.rollback({exec})"))
        .unwrap();
    assert_eq!(
        text(&mut c, ROWS),
        before_delete,
        "the 0.2.0 DELETE is undone"
    );
    c.batch_execute(
        "SELECT ai.execute(ai.request('UPDATE shop.orders SET note = note || ''!'' WHERE id = 1'))",
    )
    .unwrap();
    chain_ok(&mut c);
    same_shape_as_fresh(&cl, &mut c);
}
