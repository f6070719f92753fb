//! ALTER EXTENSION ai_architect UPDATE from 0.1.0 as released — its install script, run by
//! its own library (built from the release commit by `scripts/setup.sh previous`) — on a
//! database where 0.1.0 wrote samples, patterns, requests, executions with backups and audit
//! entries: every row is kept, a 0.1.0 backup still rolls back, the audit chain verifies and
//! goes on, and the schema is exactly the one a fresh install gives.
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

#[test]
fn an_update_from_0_1_0_keeps_every_row_and_matches_a_fresh_install() {
    let bindir = std::env::var("AI_PGBIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let out = std::process::Command::new(format!("{bindir}/pg_config"))
        .arg("--pkglibdir")
        .output()
        .unwrap();
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = std::process::Command::new(format!("{bindir}/pg_config"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !version.starts_with("PostgreSQL 15.") {
        eprintln!("skipped: 0.1.0 was released for PostgreSQL 15 only, this is {version}");
        return;
    }
    if !std::path::Path::new(&format!("{libdir}/ai_architect-0.1.0.so")).exists() {
        eprintln!("skipped: the 0.1.0 library is not built here (scripts/setup.sh previous needs the release commit)");
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
    let before_delete = text(
        &mut old,
        "SELECT string_agg(x::text, '|' ORDER BY x::text) FROM (SELECT o::text AS x FROM shop.orders o UNION ALL SELECT l::text FROM shop.lines l) s",
    );
    let exec: i64 = int(
        &mut old,
        "SELECT (ai.execute(ai.request('DELETE FROM shop.orders WHERE id > 15'))->>'execution')::int8",
    );
    // what 0.1.0 left, row by row, to compare after the update
    old.batch_execute(
        "CREATE TABLE public.snap (tbl text, j jsonb);
         DO $$ DECLARE t record; BEGIN
           FOR t IN SELECT c.oid::regclass AS r FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ai_architect'
                      JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid AND c.relkind = 'r'
                     WHERE d.deptype = 'e'
           LOOP EXECUTE format('INSERT INTO public.snap SELECT %L, to_jsonb(t) FROM %s t', t.r, t.r); END LOOP;
         END $$;",
    )
    .unwrap();
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
    let mut c = cl.connect("up");
    c.batch_execute("ALTER EXTENSION ai_architect UPDATE")
        .unwrap();
    let v = text(
        &mut c,
        "SELECT extversion FROM pg_extension WHERE extname = 'ai_architect'",
    );
    assert_ne!(v, "0.1.0");
    drop(c);
    let mut c = cl.connect("up");

    // every row 0.1.0 wrote is still there (new columns beside it); images became row text
    let tables: Vec<String> = c
        .query("SELECT DISTINCT tbl FROM public.snap", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in &tables {
        let strip = if t == "ai.backups" {
            " - 'row_data' - 'row_after'"
        } else {
            ""
        };
        let missing = int(
            &mut c,
            &format!(
                "SELECT count(*) FROM public.snap s WHERE s.tbl = '{t}'
                   AND NOT EXISTS (SELECT 1 FROM {t} x WHERE to_jsonb(x) @> (s.j{strip}))"
            ),
        );
        assert_eq!(
            missing, 0,
            "{t}: {missing} rows of 0.1.0 are not there any more"
        );
    }
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
    let ok = |c: &mut Client| {
        let v = text(c, "SELECT ai.verify_audit()::text");
        assert!(v.contains("\"ok\": true"), "{v}");
    };
    ok(&mut c);
    c.batch_execute(&format!("SELECT ai.rollback({exec})"))
        .unwrap();
    assert_eq!(
        text(
            &mut c,
            "SELECT string_agg(x::text, '|' ORDER BY x::text) FROM (SELECT o::text AS x FROM shop.orders o UNION ALL SELECT l::text FROM shop.lines l) s",
        ),
        before_delete,
        "the 0.1.0 DELETE is undone"
    );
    c.batch_execute(
        "SELECT ai.execute(ai.request('UPDATE shop.orders SET note = note || ''!'' WHERE id = 1'))",
    )
    .unwrap();
    ok(&mut c);

    // the schema is the one a fresh install gives
    let mut f = cl.connect("fresh");
    f.batch_execute("CREATE EXTENSION ai_architect CASCADE")
        .unwrap();
    let fresh = text(&mut f, SHAPE);
    let upgraded = text(&mut c, SHAPE);
    if fresh != upgraded {
        let a: std::collections::BTreeSet<&str> = fresh.lines().collect();
        let b: std::collections::BTreeSet<&str> = upgraded.lines().collect();
        let only_fresh: Vec<_> = a.difference(&b).collect();
        let only_upgraded: Vec<_> = b.difference(&a).collect();
        panic!("fresh install only: {only_fresh:#?}\nupgrade only: {only_upgraded:#?}");
    }
    assert!(fresh.lines().count() > 300, "{}", fresh.lines().count());
}
