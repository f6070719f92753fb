//! Bounded state. Retention over random histories of the approval workflow, the usage log and
//! conversations: `ai.run_audit()` removes what the settings no longer keep and never a backup
//! an execution inside its rollback window needs, nor an audit entry (the chain still
//! verifies); a role's conversations stay under `ai_architect.chat_quota` however many turns
//! it takes, and store a bounded preview of each result.
use ai_architect_integration::{connect, err_of, Rng, TestDb};
use postgres::Client;
use std::collections::BTreeMap;

const DAY: f64 = 86_400.0;
/// The quota test: the role's quota, the turns it has stored before, the real turns it takes.
const QUOTA_KB: i64 = 128;
const STORED_TURNS: i64 = 100_000;
const REAL_TURNS: i64 = 400;
const AGES_DAYS: [f64; 6] = [0.5, 3.0, 10.0, 40.0, 100.0, 200.0];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Pending,
    Approved,
    Rejected,
    Cancelled,
    Expired,
    Executed,
    Failed,
    RolledBack,
    RollbackAsked,
}
const FATES: [Fate; 9] = [
    Fate::Pending,
    Fate::Approved,
    Fate::Rejected,
    Fate::Cancelled,
    Fate::Expired,
    Fate::Executed,
    Fate::Failed,
    Fate::RolledBack,
    Fate::RollbackAsked,
];

struct Request {
    id: i64,
    row: i32,
    fate: Fate,
    age_days: f64,
    execution: Option<i64>,
    backups: i64,
}

fn json(
    c: &mut Client,
    sql: &str,
    args: &[&(dyn postgres::types::ToSql + Sync)],
) -> serde_json::Value {
    let s: String = c.query_one(sql, args).unwrap().get(0);
    serde_json::from_str(&s).unwrap()
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// Plays one request to its fate, as the requester (`c`, a superuser) and an approver.
fn play(c: &mut Client, approver: &mut Client, row: i32, fate: Fate) -> Request {
    let sql = if fate == Fate::Failed {
        format!("UPDATE public.t SET v = -1 WHERE id = {row}")
    } else {
        format!("UPDATE public.t SET v = v + 1 WHERE id = {row}")
    };
    let id: i64 = c
        .query_one("SELECT ai.request($1)", &[&sql])
        .unwrap()
        .get(0);
    let approve = |a: &mut Client| {
        a.query("SELECT ai.approve($1)", &[&id]).unwrap();
    };
    let mut execution = None;
    match fate {
        Fate::Pending => {}
        Fate::Approved => approve(approver),
        Fate::Rejected => {
            approver
                .query("SELECT ai.reject($1, 'no')", &[&id])
                .unwrap();
        }
        Fate::Cancelled => {
            c.query("SELECT ai.cancel($1)", &[&id]).unwrap();
        }
        Fate::Expired => {
            c.execute("UPDATE ai.approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1", &[&id])
                .unwrap();
            c.query("SELECT ai.expire_requests()", &[]).unwrap();
        }
        Fate::Executed | Fate::Failed | Fate::RolledBack | Fate::RollbackAsked => {
            approve(approver);
            let out = json(c, "SELECT ai.execute($1)::text", &[&id]);
            let want = if fate == Fate::Failed {
                "failed"
            } else {
                "succeeded"
            };
            assert_eq!(out["status"], want, "{out}");
            execution = out["execution"].as_i64();
            let e = execution.expect("an execution");
            if fate == Fate::RolledBack {
                c.query("SELECT ai.rollback($1)", &[&e]).unwrap();
            }
            if fate == Fate::RollbackAsked {
                c.query("SELECT ai.request_rollback($1, 'undo')", &[&e])
                    .unwrap();
            }
        }
    }
    let backups = execution.map_or(0, |e| {
        c.query_one(
            "SELECT count(*) FROM ai.backups WHERE execution_id = $1",
            &[&e],
        )
        .unwrap()
        .get(0)
    });
    Request {
        id,
        row,
        fate,
        age_days: 0.0,
        execution,
        backups,
    }
}

/// Moves a request's history `days` into the past.
fn age(c: &mut Client, id: i64, days: f64) {
    let i = format!("{days} days");
    c.execute(
        "UPDATE ai.approval_requests SET created_at = created_at - $2::text::interval,
                decided_at = decided_at - $2::text::interval, expires_at = expires_at - $2::text::interval
          WHERE id = $1",
        &[&id, &i],
    )
    .unwrap();
    c.execute(
        "UPDATE ai.executions SET started_at = started_at - $2::text::interval,
                finished_at = finished_at - $2::text::interval, rolled_back_at = rolled_back_at - $2::text::interval
          WHERE request_id = $1",
        &[&id, &i],
    )
    .unwrap();
}

struct Approver(String);
impl Drop for Approver {
    fn drop(&mut self) {
        let _ = connect("postgres", "postgres")
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

/// One random history under one pair of settings; checks every request, backup, usage row
/// and conversation against what the settings say, the chain, and the rollbacks still owed.
fn history(seed: u64, retention_days: f64, window_days: f64) {
    let db = TestDb::new(&format!("retention_{seed}"));
    let mut rng = Rng(seed);
    let mut c = db.connect("postgres");
    let name = format!("ret_approver_{}", db.name.rsplit('_').next().unwrap_or("x"));
    c.batch_execute(&format!(
        "CREATE ROLE {name} LOGIN;
         UPDATE ai.approval_policy SET required_approvals = 1, approver_role = NULL, rollback_needs_approval = false;
         CREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL CHECK (v >= 0));
         INSERT INTO public.t SELECT g, 0 FROM generate_series(1, 100) g;"
    ))
    .unwrap();
    let _guard = Approver(name.clone());
    let mut approver = db.connect(&name);

    let mut requests = Vec::new();
    for row in 1..=27 {
        let fate = FATES[rng.below(FATES.len() as u64) as usize];
        let mut r = play(&mut c, &mut approver, row, fate);
        r.age_days = AGES_DAYS[rng.below(AGES_DAYS.len() as u64) as usize];
        age(&mut c, r.id, r.age_days);
        requests.push(r);
    }
    // questions asked, some rated; conversations of two people
    let mut usage = BTreeMap::new();
    for i in 0..30 {
        let days = AGES_DAYS[rng.below(6) as usize];
        let rated = rng.chance(0.3);
        let id: i64 = c
            .query_one(
                "INSERT INTO ai.query_usage_stats (question, created_at) VALUES ($1, now() - $2::text::interval) RETURNING id",
                &[&format!("question {i}"), &format!("{days} days")],
            )
            .unwrap()
            .get(0);
        if rated {
            c.execute(
                "INSERT INTO ai.query_feedback (usage_id, rating) VALUES ($1, 4)",
                &[&id],
            )
            .unwrap();
        }
        usage.insert(id, (days, rated));
    }
    let mut sessions = BTreeMap::new();
    for s in 0..12 {
        let (user, session) = (if s % 2 == 0 { "ann" } else { "ben" }, format!("s{s}"));
        let turns = 1 + rng.below(4) as i32;
        let mut last = f64::MAX;
        for turn in 1..=turns {
            let days = AGES_DAYS[rng.below(6) as usize];
            last = last.min(days);
            c.execute(
                "INSERT INTO ai.chat_messages (session, user_name, turn, speaker, content, created_at)
                 VALUES ($1, $2, $3, 'user', 'hello', now() - $4::text::interval)",
                &[&session, &user, &turn, &format!("{days} days")],
            )
            .unwrap();
        }
        sessions.insert((user.to_string(), session), last);
    }

    let (usage_days, chat_days) = (60.0, 20.0);
    c.batch_execute(&format!(
        "SET ai_architect.request_retention = '{}s'; SET ai_architect.rollback_window = '{}s';
         SET ai_architect.usage_retention = '{}s'; SET ai_architect.chat_retention = '{}s';",
        retention_days * DAY,
        window_days * DAY,
        usage_days * DAY,
        chat_days * DAY
    ))
    .unwrap();
    let entries = count(&mut c, "SELECT count(*) FROM ai.audit_log");
    let requests_before = count(&mut c, "SELECT count(*) FROM ai.approval_requests");
    let out = json(&mut c, "SELECT ai.run_audit()::text", &[]);
    let ret = &out["retention"];

    // requests: the finished ones idle past the retention go, unless a rollback may need them
    let mut removed = 0;
    for r in &requests {
        let kept_by_window = matches!(r.fate, Fate::Executed) && r.age_days < window_days;
        let keep = matches!(r.fate, Fate::Pending | Fate::Approved | Fate::RollbackAsked)
            || r.age_days < retention_days
            || kept_by_window;
        let exists = count(
            &mut c,
            &format!(
                "SELECT count(*) FROM ai.approval_requests WHERE id = {}",
                r.id
            ),
        ) == 1;
        assert_eq!(
            exists, keep,
            "seed {seed}: request {} ({:?}, {} days old) kept: {exists}",
            r.id, r.fate, r.age_days
        );
        if !keep {
            removed += 1;
            continue;
        }
        if let Some(e) = r.execution {
            let left = count(
                &mut c,
                &format!("SELECT count(*) FROM ai.backups WHERE execution_id = {e}"),
            );
            let want = if r.age_days < window_days {
                r.backups
            } else {
                0
            };
            assert_eq!(
                left, want,
                "seed {seed}: backups of execution {e} ({:?}, {} days old)",
                r.fate, r.age_days
            );
        }
    }
    assert_eq!(
        ret["requests"].as_i64(),
        Some(removed),
        "seed {seed}: {ret}"
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM ai.approval_requests"),
        requests_before - removed,
        "seed {seed}: the rollback requests stay"
    );
    // the chain is whole: nothing removed from it, and it verifies
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM ai.audit_log"),
        entries,
        "seed {seed}"
    );
    let v = json(&mut c, "SELECT ai.verify_audit()::text", &[]);
    assert_eq!(v["ok"], true, "seed {seed}: {v}");
    // every rollback still owed works; the others are refused with the reason
    for r in requests.iter().filter(|r| {
        r.fate == Fate::Executed && (r.age_days < retention_days || r.age_days < window_days)
    }) {
        let e = r.execution.unwrap();
        let res = c.query("SELECT ai.rollback($1)", &[&e]);
        if r.age_days < window_days {
            res.unwrap_or_else(|err| {
                panic!(
                    "seed {seed}: rollback of execution {e} ({} days old): {err:?}",
                    r.age_days
                )
            });
            let v: i32 = c
                .query_one("SELECT v FROM public.t WHERE id = $1", &[&r.row])
                .unwrap()
                .get(0);
            assert_eq!(v, 0, "seed {seed}: row {} restored", r.row);
        } else {
            let msg = err_of(res);
            assert!(msg.contains("rollback_window"), "seed {seed}: {msg}");
        }
    }
    // questions without feedback go after usage_retention; rated ones stay
    for (id, (days, rated)) in &usage {
        let exists = count(
            &mut c,
            &format!("SELECT count(*) FROM ai.query_usage_stats WHERE id = {id}"),
        ) == 1;
        assert_eq!(
            exists,
            *rated || *days < usage_days,
            "seed {seed}: usage {id} ({days} days, rated {rated})"
        );
    }
    // conversations idle past chat_retention go whole, whoever they belong to
    for ((user, session), last) in &sessions {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM ai.chat_messages WHERE user_name = $1 AND session = $2",
                &[user, session],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            n > 0,
            *last < chat_days,
            "seed {seed}: {user}/{session} last spoke {last} days ago"
        );
    }
    // a second run finds nothing more
    let again = json(&mut c, "SELECT ai.run_audit()::text", &[]);
    assert_eq!(again["retention"]["requests"], 0, "seed {seed}: {again}");
    assert_eq!(again["retention"]["usage"], 0, "seed {seed}: {again}");
}

#[test]
fn retention_keeps_what_a_rollback_or_the_chain_needs_over_random_histories() {
    // retention longer than the rollback window, shorter, and both short
    history(0x5eed_0000_7e7e_0001, 30.0, 7.0);
    history(0x5eed_0000_7e7e_0002, 5.0, 60.0);
    history(0x5eed_0000_7e7e_0003, 2.0, 1.0);
}

/// One role's conversations stay under its quota however many turns it takes (whole turns go,
/// the oldest first), and a turn stores a preview of its result, not the whole of it. The
/// role starts with 100,000 stored turns (as a version without a quota left them), then takes
/// real turns: each one leaves the role within its quota.
#[test]
fn a_roles_conversations_stay_under_its_quota() {
    // the role goes after the database, where it holds a privilege
    let name = format!("chatter_{}", std::process::id());
    let _guard = Approver(name.clone());
    let db = TestDb::new("chat_quota");
    let mut c = db.connect("postgres");
    c.batch_execute(&format!(
        "CREATE ROLE {name} LOGIN;
         ALTER ROLE {name} IN DATABASE {db} SET ai_architect.chat_quota = '{QUOTA_KB}kB';
         CREATE TABLE public.item (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO public.item SELECT g, repeat('item number ' || g, 20) FROM generate_series(1, 5000) g;
         GRANT SELECT ON public.item TO {name};",
        db = db.name
    ))
    .unwrap();
    let mut u = db.connect(&name);
    // a long answer: returned whole, stored as a bounded preview
    let out = json(&mut u, "SELECT ai.chat('big', 'List the items')::text", &[]);
    let rows = out["result"]["rows"].as_array().map_or(0, |r| r.len());
    assert!(rows >= 20, "{rows} rows returned: {}", out["answer"]);
    let (size, preview, sql): (i32, Option<bool>, Option<String>) = {
        let r = c
            .query_one(
                "SELECT pg_column_size(result)::int, (result ->> 'preview')::boolean, result ->> 'sql'
                   FROM ai.chat_messages WHERE session = 'big' AND speaker = 'assistant'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(preview, Some(true));
    assert_eq!(
        sql.as_deref(),
        out["result"]["sql"].as_str(),
        "the SQL is kept whole"
    );
    assert!(size <= 9 * 1024, "{size} bytes stored");
    c.batch_execute(&format!(
        "INSERT INTO ai.chat_messages (session, user_name, turn, speaker, content) VALUES ('o', 'someone_else', 1, 'user', 'hello');
         INSERT INTO ai.chat_messages (session, user_name, turn, speaker, content, tool, created_at)
         SELECT 'old' || (g % 2000), '{name}', g, sp, 'How many items are there?', 'ask', now() - interval '1 hour'
           FROM generate_series(1, {STORED_TURNS}) g, (VALUES ('user'), ('assistant')) s(sp);"
    ))
    .unwrap();
    // real turns over many sessions, each within the quota
    for i in 0..REAL_TURNS {
        let s = format!("s{}", i % 40);
        u.query("SELECT ai.chat($1, 'How many items are there?')", &[&s])
            .unwrap();
        if i % 50 == 0 || i == REAL_TURNS - 1 {
            let bytes: i64 = c
                .query_one(
                    "SELECT coalesce(sum(pg_column_size(m.*)), 0)::bigint FROM ai.chat_messages m WHERE user_name = $1",
                    &[&name],
                )
                .unwrap()
                .get(0);
            assert!(
                bytes <= QUOTA_KB * 1024,
                "after turn {i}: {bytes} bytes stored for {name}"
            );
        }
    }
    let (kept, old, last): (i64, i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*) FILTER (WHERE speaker = 'user'), count(*) FILTER (WHERE session LIKE 'old%'),
                        count(*) FILTER (WHERE session = $2 AND speaker = 'assistant')
                   FROM ai.chat_messages m WHERE user_name = $1",
                &[&name, &format!("s{}", (REAL_TURNS - 1) % 40)],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(old, 0, "the oldest turns went first");
    assert!(
        kept >= 50,
        "{kept} turns kept: the quota is used, not emptied"
    );
    assert!(
        kept < REAL_TURNS,
        "{kept} turns kept of {REAL_TURNS}: the quota was reached"
    );
    assert!(last >= 1, "the newest turns are kept");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM ai.chat_messages WHERE user_name = 'someone_else'"
        ),
        1,
        "another role's turns are not touched by this one's quota"
    );
    let e = err_of(u.query("SELECT ai.chat('x', repeat('a', 70000))", &[]));
    assert!(e.contains("at most 65536 characters"), "{e}");
}
