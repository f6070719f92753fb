//! Executions and rollbacks that must give every row back exactly: upserts, tables without a
//! key, values whose text depends on the session (timestamptz, float8, bytea), DDL undone
//! under another search_path; and who may escalate a request.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::pg_tests::approval::tests::{as_user, json, one, run};
    use pgrx::prelude::*;
    use serde_json::Value;

    /// Schema `rb`, alice who asks and executes, bob and carol who approve, dave who does not.
    fn setup() {
        run("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ai_senior') THEN CREATE ROLE ai_senior; END IF; END $$");
        run("CREATE SCHEMA rb");
        run("CREATE TABLE rb.kv (k int PRIMARY KEY, v text NOT NULL)");
        run("INSERT INTO rb.kv VALUES (1, 'orig1'), (2, 'orig2'), (3, 'orig3')");
        run(
            "CREATE TABLE rb.m (id int PRIMARY KEY, x float8, b bytea, at timestamptz, d interval)",
        );
        run("INSERT INTO rb.m VALUES (1, 0.1::float8 + 0.2::float8, '\\x00ff10'::bytea, '2026-03-29 01:30:00+00', '1 day 02:03:04.5'),
                                     (2, 1e-300, '\\x'::bytea, '1999-12-31 23:59:59.999999+00', '-3 mons')");
        run("CREATE TABLE rb.ev (at timestamptz PRIMARY KEY, note text)");
        run("INSERT INTO rb.ev VALUES ('2026-01-01 00:00:00.123456+00', 'a'), ('2026-06-01 12:00:00+00', 'b')");
        run("CREATE TABLE rb.nokey (msg text)");
        for who in ["alice", "bob", "carol", "dave"] {
            run(&format!("CREATE ROLE {who}"));
            run(&format!("GRANT USAGE, CREATE ON SCHEMA rb TO {who}"));
            run(&format!("GRANT ALL ON ALL TABLES IN SCHEMA rb TO {who}"));
        }
        run("GRANT ai_senior TO bob, carol");
    }

    fn table_hash(t: &str) -> String {
        one(&format!(
            "SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x"
        ))
    }

    /// request as alice, approvals as needed, execute as alice: the execution id
    fn execute(sql: &str) -> i64 {
        let id: i64 = as_user("alice", || {
            Spi::get_one_with_args::<i64>("SELECT ai.request($1)", &[sql.into()])
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .unwrap()
        });
        for who in ["bob", "carol"] {
            if json(&format!("SELECT ai.request_status({id})"))["state"] == "pending" {
                as_user(who, || one::<String>(&format!("SELECT ai.approve({id})")));
            }
        }
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(done["status"], "succeeded", "{sql}: {done:#}");
        done["execution"].as_i64().unwrap()
    }

    fn rollback(exec: i64) -> Value {
        let rb = as_user("alice", || json(&format!("SELECT ai.rollback({exec})")));
        assert_eq!(rb["status"], "rolled_back", "{rb:#}");
        rb
    }

    #[pg_test]
    fn an_upsert_rolls_back_to_the_rows_it_overwrote() {
        setup();
        let before = table_hash("rb.kv");
        let exec = execute(
            "INSERT INTO rb.kv VALUES (1, 'new1'), (6, 'new6') ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        );
        assert_eq!(
            one::<String>("SELECT string_agg(k || '=' || v, ',' ORDER BY k) FROM rb.kv"),
            "1=new1,2=orig2,3=orig3,6=new6"
        );
        let rb = rollback(exec);
        assert_eq!(table_hash("rb.kv"), before, "{rb:#}");
        let t = &rb["restored"]["tables"]["rb.kv"];
        assert_eq!(
            (t["removed"].as_i64(), t["reset"].as_i64()),
            (Some(1), Some(1)),
            "{rb:#}"
        );
        // DO NOTHING: only the new row is removed
        let exec = execute("INSERT INTO rb.kv VALUES (2, 'x'), (7, 'new7') ON CONFLICT DO NOTHING");
        rollback(exec);
        assert_eq!(table_hash("rb.kv"), before);
    }

    #[pg_test]
    #[should_panic(expected = "rb.nokey has no primary key")]
    fn an_insert_into_a_table_without_a_key_is_refused() {
        setup();
        as_user("alice", || {
            one::<i64>("SELECT ai.request('INSERT INTO rb.nokey VALUES (''hello'')')")
        });
    }

    #[pg_test]
    fn row_images_do_not_depend_on_the_session() {
        setup();
        let (m, ev) = (table_hash("rb.m"), table_hash("rb.ev"));
        // executed in a session that prints floats rounded, bytea as escapes, another zone
        run("SET extra_float_digits = 0; SET bytea_output = 'escape'; SET TimeZone = 'America/St_Johns'; SET IntervalStyle = 'sql_standard'; SET DateStyle = 'German'");
        let e1 = execute("UPDATE rb.m SET x = 0, b = NULL, at = NULL, d = NULL");
        let e2 = execute("UPDATE rb.ev SET note = 'changed'");
        let e3 = execute("DELETE FROM rb.m WHERE id = 2");
        // rolled back in a session with other settings still
        run("SET extra_float_digits = 1; SET bytea_output = 'hex'; SET TimeZone = 'Asia/Tokyo'; SET IntervalStyle = 'iso_8601'; SET DateStyle = 'SQL, DMY'");
        rollback(e3);
        rollback(e2);
        rollback(e1);
        run("RESET extra_float_digits; RESET bytea_output; RESET TimeZone; RESET IntervalStyle; RESET DateStyle");
        assert_eq!(table_hash("rb.m"), m);
        assert_eq!(table_hash("rb.ev"), ev);
        assert_eq!(one::<f64>("SELECT x FROM rb.m WHERE id = 1"), 0.1 + 0.2);
    }

    #[pg_test]
    #[should_panic(expected = "you cannot escalate it")]
    fn a_bystander_cannot_escalate() {
        setup();
        run("UPDATE ai.approval_policy SET required_approvals = 1 WHERE risk_level = 'LOW'");
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('UPDATE rb.kv SET v = ''z'' WHERE k = 1')")
        });
        as_user("dave", || {
            one::<String>(&format!("SELECT ai.escalate({id}, 'mine now')"))
        });
    }

    #[pg_test]
    fn the_requester_and_approvers_may_escalate() {
        setup();
        // LOW requests wait for one approval, so that they stay pending
        run("UPDATE ai.approval_policy SET required_approvals = 1 WHERE risk_level = 'LOW'");
        let id2: i64 = as_user("alice", || {
            one("SELECT ai.request('UPDATE rb.kv SET v = ''y'' WHERE k = 2')")
        });
        let to: String = as_user("alice", || {
            one(&format!("SELECT ai.escalate({id2}, 'second thoughts')"))
        });
        assert_eq!(to, "MEDIUM");
        let to: String = as_user("bob", || {
            one(&format!("SELECT ai.escalate({id2}, 'needs two')"))
        });
        assert_eq!(to, "HIGH");
    }

    #[pg_test]
    fn ddl_is_undone_on_the_objects_it_changed() {
        setup();
        run("CREATE SCHEMA other");
        run("CREATE TABLE other.kv (k int PRIMARY KEY, v text)");
        run("CREATE INDEX kv_v_idx ON other.kv (v)");
        run("GRANT USAGE, CREATE ON SCHEMA other TO alice");
        run("GRANT ALL ON ALL TABLES IN SCHEMA other TO alice");
        run("ALTER TABLE other.kv OWNER TO alice");
        run("ALTER TABLE rb.kv OWNER TO alice");
        // executed with rb first on the path
        run("SET search_path = rb, public");
        let exec = execute("CREATE INDEX kv_v_idx ON kv (v)");
        // rolled back by someone whose path finds the other schema's index of that name first
        run("SET search_path = other, rb, public");
        rollback(exec);
        run("RESET search_path");
        assert_eq!(
            one::<bool>("SELECT to_regclass('rb.kv_v_idx') IS NULL"),
            true
        );
        assert_eq!(
            one::<bool>("SELECT to_regclass('other.kv_v_idx') IS NOT NULL"),
            true
        );
    }
}
