//! ai.embed through a driver: the reference vectors, cancellation, several sessions.
use ai_architect_integration::{connect, wait_for, TestDb};
use std::time::{Duration, Instant};

/// The independent fp32 reference, held back outside the repository; None (the test says it
/// is skipped) where it is not.
fn reference() -> Option<serde_json::Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/minilm_reference.json"
    );
    match std::fs::read_to_string(path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(_) => {
            eprintln!("skipped: the held-back reference {path} is not here");
            None
        }
    }
}

/// Cosine similarity computed by pgvector between ai.embed's output and the reference.
#[test]
fn every_reference_item_reaches_cosine_0_995() {
    let db = TestDb::new("ref");
    let mut c = db.connect("postgres");
    let Some(fixture) = reference() else { return };
    let items = fixture["items"].as_array().unwrap();
    assert!(items.len() >= 20);
    let texts: Vec<String> = items
        .iter()
        .map(|i| i["text"].as_str().unwrap().to_string())
        .collect();
    let vectors: Vec<String> = items.iter().map(|i| i["embedding"].to_string()).collect();
    // single calls and one batch call, both against the reference
    let rows = c
        .query(
            "WITH b AS MATERIALIZED (SELECT ai.embed($1::text[]) AS v)
             SELECT t.ord, 1 - (ai.embed(t.txt) <=> t.ref::vector) AS single,
                    1 - (b.v[t.ord] <=> t.ref::vector) AS batched
               FROM b, unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(txt, ref, ord)",
            &[&texts, &vectors],
        )
        .unwrap();
    assert_eq!(rows.len(), items.len());
    for r in rows {
        let (ord, single, batched): (i64, f64, f64) = (r.get(0), r.get(1), r.get(2));
        let text = &texts[ord as usize - 1];
        assert!(single >= 0.995, "{text:?}: cosine {single}");
        assert!(batched >= 0.995, "{text:?}: batched cosine {batched}");
    }
}

/// statement_timeout stops a long batch between ONNX runs; the session stays usable
/// and its engine still works.
#[test]
fn a_long_batch_is_cancellable() {
    let db = TestDb::new("cancel");
    let mut c = db.connect("postgres");
    c.batch_execute("SELECT ai.embed('warm up')").unwrap();
    c.batch_execute("SET statement_timeout = '300ms'; SET ai_architect.embedding_batch_size = 4")
        .unwrap();
    let started = Instant::now();
    let msg = error_of(
        &mut c,
        "SELECT ai.embed(array_agg('sentence number ' || g || ' about invoices, customers and tracks'))
           FROM generate_series(1, 20000) g",
    );
    let elapsed = started.elapsed();
    assert!(msg.contains("statement timeout"), "{msg}");
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?} to cancel"
    );
    c.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(embedding_dims(&mut c), 384);
}

/// The dimensions of a vector the session embeds now.
fn embedding_dims(c: &mut postgres::Client) -> i32 {
    c.query_one("SELECT vector_dims(ai.embed('still works'))", &[])
        .unwrap()
        .get(0)
}

/// Sessions embed at the same time, each with its own engine, with identical results.
#[test]
fn concurrent_sessions_agree() {
    let db = TestDb::new("embconc");
    let name = db.name.clone();
    let results: Vec<String> = (0..4)
        .map(|_| {
            let name = name.clone();
            std::thread::spawn(move || {
                let mut c = ai_architect_integration::connect(&name, "postgres");
                c.query_one(
                    "SELECT ai.embed('Which artist has the most albums?')::text",
                    &[],
                )
                .unwrap()
                .get::<_, String>(0)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(results.iter().all(|r| r == &results[0]));
}

/// A model that answers NaN makes the refresh fail as a whole: nothing half-written remains,
/// and the session works again once the setting is reset.
#[test]
fn a_failing_refresh_leaves_nothing_behind() {
    let db = TestDb::new("nanrefresh");
    let mut c = db.connect("postgres");
    c.batch_execute("CREATE TABLE public.thing (id int PRIMARY KEY, label text)")
        .unwrap();
    use_nan_model(&mut c);
    let msg = error_of(&mut c, "SELECT * FROM ai.refresh_catalog()");
    assert!(msg.contains("NaN"), "{msg}");
    assert_eq!(catalog_rows(&mut c), 0);
    c.batch_execute("RESET ai_architect.model_path").unwrap();
    assert_eq!(tables_added(&mut c, ""), 1);
}

/// `n` tables of `rows` rows (two text columns) in schema `beside`, for refreshes long enough
/// to run the model beside the values read.
fn many_tables(c: &mut postgres::Client, n: i32, rows: i32) {
    c.batch_execute(&format!(
        "CREATE SCHEMA beside;
         DO $$ BEGIN
           FOR i IN 1 .. {n} LOOP
             EXECUTE format('CREATE TABLE beside.shelf_%s (id int PRIMARY KEY, label text, colour text)', i);
             EXECUTE format('INSERT INTO beside.shelf_%s SELECT g, ''label '' || g, (ARRAY[''red'',''blue''])[1 + g %% 2]
                               FROM generate_series(1, {rows}) g', i);
           END LOOP;
         END $$;"
    ))
    .unwrap();
}

/// With more than one batch the model embeds on a thread of its own while the backend reads
/// the tables' values: both land as a sequential refresh would leave them.
#[test]
fn a_refresh_reads_values_while_the_model_embeds() {
    let db = TestDb::new("beside");
    let mut c = db.connect("postgres");
    many_tables(&mut c, 24, 50);
    c.batch_execute("SET ai_architect.embedding_batch_size = 2").unwrap();
    assert_eq!(tables_added(&mut c, "ARRAY['beside']"), 24);
    // each table's vector is the one ai.embed gives its text; each table's values are there
    let rows = c
        .query(
            "SELECT t.table_name::text, 1 - (t.embedding <=> ai.embed(t.description)) AS cosine,
                    t.values_indexed, t.values_sampled_at IS NOT NULL,
                    (SELECT count(*) FROM ai.catalog_values v WHERE v.table_oid = t.table_oid)
               FROM ai.catalog_tables t WHERE t.schema_name = 'beside'",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 24);
    for r in rows {
        let (name, cosine, indexed, sampled, values): (String, f64, bool, bool, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        assert!(cosine > 0.9999, "{name}: cosine {cosine}");
        assert!(indexed && sampled, "{name}: values not marked read");
        // 50 labels and 2 colours
        assert_eq!(values, 52, "{name}");
    }
    // a question finds a value at once
    c.batch_execute("SET search_path = beside, public").unwrap();
    let sql: String = c
        .query_one("SELECT ai.ask('How many shelf 7 rows are blue?', false)::text", &[])
        .unwrap()
        .get(0);
    assert!(sql.contains("'blue'"), "{sql}");
}

/// Every vector a refresh writes is its own row's: 300 tables and their columns, written in
/// statements of a few hundred rows each, each row with its vector beside it.
#[test]
fn a_refresh_writes_each_vector_on_its_own_row() {
    let db = TestDb::new("lanes");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE SCHEMA lanes;
         DO $$ BEGIN
           FOR i IN 1 .. 300 LOOP
             EXECUTE format('CREATE TABLE lanes.crate_%s (id int PRIMARY KEY, weight_%s numeric)', i, i % 7);
           END LOOP;
         END $$;
         SET ai_architect.embedding_batch_size = 7;",
    )
    .unwrap();
    assert_eq!(tables_added(&mut c, "ARRAY['lanes']"), 300);
    let (worst, embedded): (f64, i64) = {
        let r = c
            .query_one(
                "SELECT min(1 - (d.embedding <=> ai.embed(d.description))), count(d.embedding) FROM (
                   SELECT t.embedding, t.description FROM ai.catalog_tables t WHERE t.schema_name = 'lanes'
                   UNION ALL
                   SELECT c.embedding, c.description FROM ai.catalog_columns c
                     JOIN ai.catalog_tables t ON t.id = c.table_id WHERE t.schema_name = 'lanes') d",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(embedded, 900);
    assert!(worst > 0.9999, "a vector out of place: cosine {worst}");
}

/// The caller's statement_timeout, firing while the backend reads values beside the model,
/// stops both (it was once taken for the read's own time limit: the table was skipped and the
/// refresh ran on past it): the statement fails with the timeout, nothing of the refresh
/// remains, and the session embeds and refreshes again.
#[test]
fn a_refresh_beside_the_values_read_is_cancellable() {
    let db = TestDb::new("besidecancel");
    let mut c = db.connect("postgres");
    // reading the values of 40 tables of 20,000 rows takes well over a second
    many_tables(&mut c, 40, 20_000);
    c.batch_execute("SELECT ai.embed('warm up')").unwrap();
    c.batch_execute("SET statement_timeout = '700ms'; SET ai_architect.embedding_batch_size = 2")
        .unwrap();
    let started = Instant::now();
    let msg = error_of(&mut c, "SELECT * FROM ai.refresh_catalog(ARRAY['beside'])");
    let elapsed = started.elapsed();
    assert!(msg.contains("statement timeout"), "{msg}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?} to cancel");
    c.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(catalog_rows(&mut c), 0);
    assert_eq!(embedding_dims(&mut c), 384);
    assert_eq!(tables_added(&mut c, "ARRAY['beside']"), 40);
}

/// Two refreshes at once, in two sessions: the second waits for the first to commit, and each
/// value is kept once (before, each kept the values it read: every value twice).
#[test]
fn two_refreshes_at_once_keep_each_value_once() {
    let db = TestDb::new("tworefresh");
    let mut c = db.connect("postgres");
    many_tables(&mut c, 4, 50);
    let mut first = c.transaction().unwrap();
    first
        .batch_execute("SELECT * FROM ai.refresh_catalog(ARRAY['beside'])")
        .unwrap();
    let name = db.name.clone();
    let second = std::thread::spawn(move || {
        let mut other = connect(&name, "postgres");
        other
            .batch_execute("SELECT * FROM ai.refresh_catalog(ARRAY['beside'])")
            .unwrap();
    });
    let mut watcher = db.connect("postgres");
    wait_for("the second refresh to wait for the first", Duration::from_secs(60), || {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'
                    AND query LIKE '%refresh_catalog%'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 1
    });
    first.commit().unwrap();
    second.join().unwrap();
    let (kept, distinct): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*), count(DISTINCT (table_oid, attnum, value)) FROM ai.catalog_values",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    // 4 tables of 50 labels and 2 colours
    assert_eq!((kept, distinct), (4 * 52, 4 * 52));
}

/// A model that fails on its own thread (NaN, beside the values read) fails the refresh as a
/// whole: no catalog row and no value remains.
#[test]
fn a_model_failing_beside_the_values_read_leaves_nothing_behind() {
    let db = TestDb::new("besidenan");
    let mut c = db.connect("postgres");
    many_tables(&mut c, 6, 50);
    use_nan_model(&mut c);
    c.batch_execute("SET ai_architect.embedding_batch_size = 1").unwrap();
    let msg = error_of(&mut c, "SELECT * FROM ai.refresh_catalog(ARRAY['beside'])");
    assert!(msg.contains("NaN"), "{msg}");
    assert_eq!(catalog_rows(&mut c), 0);
}

/// Points the session at a model that answers NaN.
fn use_nan_model(c: &mut postgres::Client) {
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../pg_test/fixtures/nan_output.onnx"
    );
    let bad = std::fs::canonicalize(bad).unwrap();
    c.batch_execute(&format!("SET ai_architect.model_path = '{}'", bad.display()))
        .unwrap();
}

/// The message of the error `sql` raises (it must raise one).
fn error_of(c: &mut postgres::Client, sql: &str) -> String {
    let err = c.batch_execute(sql).unwrap_err();
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default()
}

/// Rows of the catalog: schemas, tables, columns and values.
fn catalog_rows(c: &mut postgres::Client) -> i64 {
    c.query_one(
        "SELECT (SELECT count(*) FROM ai.catalog_tables) + (SELECT count(*) FROM ai.catalog_columns)
              + (SELECT count(*) FROM ai.catalog_schemas) + (SELECT count(*) FROM ai.catalog_values)",
        &[],
    )
    .unwrap()
    .get(0)
}

/// The tables `ai.refresh_catalog(args)` added.
fn tables_added(c: &mut postgres::Client, args: &str) -> i32 {
    c.query_one(
        &format!("SELECT added FROM ai.refresh_catalog({args}) WHERE kind = 'table'"),
        &[],
    )
    .unwrap()
    .get(0)
}
