//! The periodic architect on a cluster of its own (it is crashed and restarted): the
//! background worker runs audits and snapshots, survives kill -9 and a restart, never runs
//! at the same time as another audit, and pg_cron can schedule ai.run_audit(). Then the
//! loop a DBA sees: advice, the index created, its gain measured.
use ai_architect_integration::{version, wait_for, Cluster};
use postgres::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn worker_pid(c: &mut Client) -> Option<i32> {
    c.query_opt(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ai_architect worker'",
        &[],
    )
    .unwrap()
    .map(|r| r.get(0))
}

/// Pairs of audits whose runs overlapped in time.
fn overlapping_runs(c: &mut Client) -> i64 {
    count(
        c,
        "SELECT count(*) FROM ai.audit_runs a JOIN ai.audit_runs b ON a.id < b.id
          WHERE tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)",
    )
}

fn worker_runs(c: &mut Client) -> i64 {
    count(
        c,
        "SELECT count(*) FROM ai.audit_runs WHERE backend_type = 'ai_architect worker'",
    )
}

fn audit(c: &mut Client) -> Value {
    let s: String = c
        .query_one("SELECT ai.run_audit()::text", &[])
        .unwrap()
        .get(0);
    serde_json::from_str(&s).unwrap()
}

/// ai.run_audit() until it is not skipped (the worker may hold the audit lock for a moment).
fn audit_now(c: &mut Client) -> Value {
    let start = Instant::now();
    loop {
        let r = audit(c);
        if r.get("skipped").is_none() {
            return r;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "always skipped");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn worker_cron_and_the_measured_gain() {
    let cl = Cluster::new(
        "it-worker",
        28817,
        &[
            "shared_preload_libraries = 'pg_stat_statements,pg_cron,ai_architect'",
            "cron.database_name = 'aiw'",
            "cron.use_background_workers = on",
            "max_worker_processes = 16",
            "ai_architect.audit_database = 'aiw'",
            "ai_architect.audit_interval = '3s'",
            "ai_architect.snapshot_interval = '1s'",
            "ai_architect.audit_slow_query_ms = 1",
            "ai_architect.audit_slow_query_calls = 5",
        ],
    );
    let mut admin = cl.connect("postgres");
    // the worker connects as its own non-superuser role (ai_architect.worker_role)
    admin
        .batch_execute("CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor")
        .unwrap();
    admin.batch_execute("CREATE DATABASE aiw").unwrap();
    let mut c = cl.connect("aiw");
    // the worker (restarted once the database exists) waits quietly for the extension
    wait_for("the worker", Duration::from_secs(30), || {
        worker_pid(&mut c).is_some()
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !cl.log().contains("ai_architect worker: audit failed"),
        "{}",
        cl.log()
    );
    c.batch_execute(
        "CREATE EXTENSION ai_architect CASCADE; CREATE EXTENSION hypopg; CREATE EXTENSION pg_stat_statements; CREATE EXTENSION pg_cron;",
    )
    .unwrap();

    // 1. the worker audits and snapshots on its own
    wait_for("a worker audit", Duration::from_secs(90), || {
        worker_runs(&mut c) >= 1
    });
    wait_for("snapshots", Duration::from_secs(30), || {
        count(&mut c, "SELECT count(*) FROM ai.stat_snapshots") >= 2
    });
    let (who, sup): (String, bool) = {
        let r = c
            .query_one(
                "SELECT a.usename::text, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
                  WHERE a.backend_type = 'ai_architect worker'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((who.as_str(), sup), ("ai_architect_worker", false));
    let v: String = c
        .query_one("SELECT ai.version()::text", &[])
        .unwrap()
        .get(0);
    assert!(v.contains("\"running\": true"), "{v}");

    // 2. never two audits at once: while one holds the lock, the others skip
    let mut holder = cl.connect("aiw");
    holder.batch_execute("BEGIN").unwrap();
    let started = audit_now(&mut holder);
    assert!(started["run_id"].as_i64().unwrap() > 0, "{started}");
    let before = worker_runs(&mut c);
    let mut other = cl.connect("aiw");
    assert_eq!(
        audit(&mut other),
        serde_json::json!({"skipped": "already running"})
    );
    std::thread::sleep(Duration::from_secs(5)); // longer than the audit interval
    assert_eq!(
        worker_runs(&mut c),
        before,
        "the worker ran while another audit held the lock"
    );
    holder.batch_execute("COMMIT").unwrap();
    wait_for("the worker's next audit", Duration::from_secs(30), || {
        worker_runs(&mut c) > before
    });
    let overlaps = overlapping_runs(&mut c);
    assert_eq!(overlaps, 0);

    // 3. kill -9 of the worker: the postmaster restarts everything, the worker comes back
    let pid = worker_pid(&mut c).unwrap();
    drop((c, holder, other, admin));
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(1));
    let mut c = cl.wait_ready("aiw", Duration::from_secs(60));
    let runs = worker_runs(&mut c);
    wait_for("the worker after kill -9", Duration::from_secs(60), || {
        worker_pid(&mut c).is_some_and(|p| p != pid)
    });
    wait_for("an audit after kill -9", Duration::from_secs(60), || {
        worker_runs(&mut c) > runs
    });

    // 4. a server restart
    drop(c);
    cl.pg_ctl(&["-m", "fast", "restart"]);
    let mut c = cl.wait_ready("aiw", Duration::from_secs(60));
    let runs = worker_runs(&mut c);
    wait_for(
        "the worker after a restart",
        Duration::from_secs(60),
        || worker_pid(&mut c).is_some(),
    );
    wait_for("an audit after a restart", Duration::from_secs(60), || {
        worker_runs(&mut c) > runs
    });

    // 4b. SIGHUP: a reload applies new settings; audit_interval = 0 stops the audits
    // (ALTER SYSTEM cannot share a query string with another statement)
    c.batch_execute("ALTER SYSTEM SET ai_architect.audit_interval = 0")
        .unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let paused = worker_runs(&mut c);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        worker_runs(&mut c),
        paused,
        "audits continued with audit_interval = 0"
    );
    c.batch_execute("ALTER SYSTEM SET ai_architect.audit_interval = '2s'")
        .unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    wait_for(
        "audits again after a reload",
        Duration::from_secs(30),
        || worker_runs(&mut c) > paused,
    );
    let pid_now = worker_pid(&mut c);
    assert!(pid_now.is_some(), "the reload kept the worker running");

    // 5. pg_cron: the README's recipe schedules, and a job every minute (the finest schedule
    //    of pg_cron 1.4) runs the audit
    let id: i64 = c
        .query_one(
            "SELECT cron.schedule('ai-audit', '0 2 * * 0', 'SELECT ai.run_audit()')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(id > 0);
    c.batch_execute("SELECT cron.schedule('ai-audit-now', '* * * * *', 'SELECT ai.run_audit()')")
        .unwrap();
    wait_for(
        "an audit started by pg_cron",
        Duration::from_secs(100),
        || {
            count(&mut c, "SELECT count(*) FROM ai.audit_runs WHERE backend_type NOT IN ('ai_architect worker', 'client backend')")
            >= 1
        },
    );
    // pg_cron records the job's status after the job's own transaction has committed
    wait_for(
        "pg_cron to record the job as succeeded",
        Duration::from_secs(30),
        || {
            count(
                &mut c,
                "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                  WHERE j.jobname = 'ai-audit-now' AND d.status = 'succeeded'",
            ) >= 1
        },
    );
    c.batch_execute("SELECT cron.unschedule('ai-audit-now')")
        .unwrap();
    let overlaps = overlapping_runs(&mut c);
    assert_eq!(overlaps, 0, "worker, pg_cron and sessions never overlapped");

    // 6. advice, the index created, the gain measured from the snapshots
    c.batch_execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, total numeric, note text);
         INSERT INTO orders SELECT g, g % 5000, g % 100, 'n' FROM generate_series(1, 300000) g;
         ANALYZE orders;",
    )
    .unwrap();
    let workload = |c: &mut Client| {
        for i in 0..40 {
            c.query(
                "SELECT id, total FROM orders WHERE customer_id = $1",
                &[&(i as i32)],
            )
            .unwrap();
        }
    };
    workload(&mut c);
    let r = audit_now(&mut c);
    let sql = r["index_suggestions"][0]["index_sql"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    assert!(sql.contains("(customer_id)"), "{sql}");
    // the same advice is recognised, not repeated
    let again = audit_now(&mut c);
    assert!(again["known_findings"].as_i64().unwrap() >= 1, "{again}");
    let logged: i64 = c
        .query_one(
            "SELECT count(*) FROM ai.optimization_log WHERE kind = 'index' AND action_sql = $1",
            &[&sql],
        )
        .unwrap()
        .get(0);
    assert_eq!(logged, 1);
    let slow = count(
        &mut c,
        "SELECT count(*) FROM ai.optimization_log WHERE kind = 'slow_query'",
    );
    assert!(
        slow >= 1,
        "the 40 sequential scans are slow by the test's threshold"
    );
    c.batch_execute(&sql).unwrap();
    let status = |c: &mut Client| -> String {
        c.query_one(
            "SELECT status FROM ai.optimization_log WHERE action_sql = $1",
            &[&sql],
        )
        .unwrap()
        .get(0)
    };
    // the next audit (the worker's or this one) notices the index
    wait_for("the advice marked applied", Duration::from_secs(30), || {
        audit_now(&mut c);
        status(&mut c) != "suggested"
    });
    workload(&mut c);
    wait_for("the gain measured", Duration::from_secs(60), || {
        audit_now(&mut c);
        status(&mut c) == "verified"
    });
    let gain: f64 = c
        .query_one(
            "SELECT gain_pct FROM ai.optimization_log WHERE action_sql = $1",
            &[&sql],
        )
        .unwrap()
        .get(0);
    assert!(gain > 50.0, "{gain}");
}

/// A server preloaded without the worker's role (as "Installing into your own server" left
/// it in 0.2.0: a FATAL every five seconds, forever): the worker says once what is missing and
/// the exact statement that fixes it, no FATAL, at most three lines in a minute; ai.version()
/// says the same; the worker starts as soon as the role exists.
#[test]
fn without_its_role_the_worker_says_so_once_and_starts_when_it_exists() {
    let cl = Cluster::new(
        "it-worker-quiet",
        28822,
        &["shared_preload_libraries = 'pg_stat_statements,ai_architect'"],
    );
    let mut admin = cl.connect("postgres");
    admin
        .batch_execute("CREATE EXTENSION ai_architect CASCADE")
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(60));
    let log = cl.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ai_architect worker") || l.contains("ai_architect_worker"))
        .collect();
    assert!(
        lines.len() <= 3 && !log.contains("FATAL"),
        "{} lines in {:?}:\n{log}",
        lines.len(),
        started.elapsed()
    );
    assert!(
        log.contains("CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor"),
        "{log}"
    );
    let v = version(&mut admin);
    assert_eq!(v["worker"]["running"], false, "{v}");
    assert!(
        v["worker"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("waits for its role"),
        "{v}"
    );
    admin
        .batch_execute("CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor")
        .unwrap();
    wait_for(
        "the worker connected as its role",
        Duration::from_secs(30),
        || {
            count(
            &mut admin,
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ai_architect worker' AND usename = 'ai_architect_worker'",
        ) == 1
        },
    );
    // a unit of its work that fails (the catalog refresh without its model) is said once, with
    // the fix, then waits a minute (doubling up to an hour) instead of failing at every wake-up
    admin
        .batch_execute("ALTER SYSTEM SET ai_architect.model_path = '/nonexistent/model.onnx'")
        .unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    admin
        .batch_execute("CREATE TABLE public.fresh (id int PRIMARY KEY, label text)")
        .unwrap();
    wait_for("the failure is said", Duration::from_secs(40), || {
        cl.log().contains("catalog refresh failed")
    });
    std::thread::sleep(Duration::from_secs(25)); // two more wake-ups
    let log = cl.log();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("catalog refresh failed"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(
        said[0].contains("model_path") && said[0].contains("next try in 60 s"),
        "{log}"
    );
    let v = version(&mut admin);
    assert!(
        v["worker"]["failing"]
            .as_str()
            .unwrap_or("")
            .contains("catalog refresh failing"),
        "{v}"
    );
    // one count per failing unit (here also the audit's parts without pg_stat_statements)
    let units = v["worker"]["failing"]
        .as_str()
        .unwrap_or("")
        .matches(" failing: ")
        .count();
    let failing: f64 = admin
        .query_one(
            "SELECT value FROM ai.metrics() WHERE metric = 'ai_worker_failing'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(units >= 1 && failing == units as f64, "{failing} {v}");
}

/// What the worker cannot do for a reason outside it — pg_stat_statements not created in its
/// database, a webhook that does not answer — it says once in the log, with the fix, and tries
/// again later (a minute, doubling), while ai.version() shows it; the queued messages wait
/// (no attempt is spent on an endpoint that does not answer) and are sent once it answers.
#[test]
fn what_the_worker_cannot_do_it_says_once_with_the_fix_and_tries_again_later() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed); // nothing listens there: the webhook does not answer
    let cl = Cluster::new(
        "it-worker-parts",
        28823,
        &[
            "shared_preload_libraries = 'pg_stat_statements,ai_architect'",
            "ai_architect.audit_interval = '5s'",
            &format!("ai_architect.approval_webhook_url = 'http://127.0.0.1:{port}/hook/s3cret'"),
            "ai_architect.approval_webhook_timeout_ms = 2000",
        ],
    );
    let mut admin = cl.connect("postgres");
    admin
        .batch_execute(
            "CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor;
             CREATE EXTENSION ai_architect CASCADE;
             CREATE TABLE public.t (id int PRIMARY KEY);
             INSERT INTO public.t SELECT generate_series(1, 10);",
        )
        .unwrap();
    let request: i64 = admin
        .query_one(
            "SELECT ai.request('DELETE FROM public.t WHERE id = 1', 'clean up')",
            &[],
        )
        .unwrap()
        .get(0);
    // its state changes (pending, then approved: a low risk needs no approval) are queued
    let queued = count(
        &mut admin,
        &format!("SELECT count(*) FROM ai.notification_outbox WHERE request_id = {request}"),
    );
    assert!(queued >= 1);
    let lines = |log: &str, what: &str| log.lines().filter(|l| l.contains(what)).count();
    wait_for("both failures said", Duration::from_secs(60), || {
        let log = cl.log();
        lines(&log, "webhook delivery failed") > 0 && lines(&log, "audit snapshot failed") > 0
    });
    std::thread::sleep(Duration::from_secs(20)); // four more audits, two more wake-ups
    let log = cl.log();
    assert_eq!(lines(&log, "webhook delivery failed"), 1, "{log}");
    assert_eq!(lines(&log, "audit snapshot failed"), 1, "{log}");
    let hook = log
        .lines()
        .find(|l| l.contains("webhook delivery failed"))
        .unwrap();
    assert!(
        hook.contains(&format!(
            "http://127.0.0.1:{port} did not answer (Connection Failed"
        )) && hook.contains(&format!("{queued} message(s) wait"))
            && hook.contains("next try in 60 s")
            && !hook.contains("s3cret"),
        "{hook}"
    );
    let snap = log
        .lines()
        .find(|l| l.contains("audit snapshot failed"))
        .unwrap();
    assert!(
        snap.contains("CREATE EXTENSION pg_stat_statements"),
        "{snap}"
    );
    let (attempts, sent): (i64, i64) = admin
        .query_one(
            "SELECT sum(attempts), count(sent_at) FROM ai.notification_outbox WHERE request_id = $1",
            &[&request],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((attempts, sent), (0, 0));
    let failing = version(&mut admin)["worker"]["failing"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        failing.contains("webhook delivery failing") && failing.contains("audit snapshot failing"),
        "{failing}"
    );

    // an audit skipped because another session's runs (it holds the audit's lock) says
    // nothing about the parts: they are not reported working again
    let mut holder = cl.connect("postgres");
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            0x6169_5f72_756e_6175_i64
        ))
        .unwrap();
    std::thread::sleep(Duration::from_secs(12)); // two audit intervals
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(!cl.log().contains("works again"), "{}", cl.log());
    // fixed: the next audit says so; the endpoint answers: the message goes at the next try
    admin
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .unwrap();
    wait_for("the snapshot works again", Duration::from_secs(30), || {
        cl.log().contains("audit snapshot works again")
    });
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write;
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let (head, body) = ai_architect_integration::read_http_request(&mut s);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            if tx.send((head, body)).is_err() {
                break;
            }
        }
    });
    let (head, body) = rx
        .recv_timeout(Duration::from_secs(90))
        .expect("the message was sent once the endpoint answered");
    assert!(head.starts_with("POST /hook/s3cret"), "{head}");
    let message: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(message["request"], request, "{body}");
    wait_for("the worker says it", Duration::from_secs(20), || {
        cl.log().contains("webhook delivery works again")
    });
    // the worker says it from inside the transaction that records the messages sent: the
    // rows show once that transaction commits, a moment later
    let sent = format!(
        "SELECT count(sent_at) FROM ai.notification_outbox WHERE request_id = {request}"
    );
    wait_for("the messages recorded as sent", Duration::from_secs(20), || {
        count(&mut admin, &sent) == queued
    });
}
