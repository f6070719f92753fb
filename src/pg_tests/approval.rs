//! The approval workflow inside a real server: the lifecycle, separation of duties, tampering,
//! drift, backups and rollback, the audit chain.
use pgrx::prelude::*;

#[pg_schema]
pub(crate) mod tests {
    use crate::pg_tests::impact::tests::{fingerprint, setup};
    use pgrx::prelude::*;
    use serde_json::Value;

    pub(crate) fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The test schema, a senior role and three people: alice asks, bob and carol are seniors.
    fn people() {
        setup();
        run("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ai_senior') THEN CREATE ROLE ai_senior; END IF; END $$");
        for who in ["alice", "bob", "carol", "dave"] {
            run(&format!("CREATE ROLE {who}"));
            run(&format!("GRANT USAGE ON SCHEMA imp TO {who}"));
            run(&format!("GRANT ALL ON ALL TABLES IN SCHEMA imp TO {who}"));
            run(&format!(
                "GRANT ALL ON ALL SEQUENCES IN SCHEMA imp TO {who}"
            ));
        }
        run("GRANT ai_senior TO bob, carol");
    }

    pub(crate) fn as_user<R>(who: &str, f: impl FnOnce() -> R) -> R {
        run(&format!("SET SESSION AUTHORIZATION {who}"));
        let r = f();
        run("RESET SESSION AUTHORIZATION");
        r
    }

    pub(crate) fn one<T: pgrx::IntoDatum + pgrx::FromDatum>(sql: &str) -> T {
        Spi::get_one::<T>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap()
    }

    pub(crate) fn json(sql: &str) -> Value {
        one::<pgrx::JsonB>(sql).0
    }

    #[pg_test]
    fn request_approve_execute_rollback() {
        people();
        let before = fingerprint();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.customer WHERE id IN (20, 21)', 'GDPR erasure')")
        });
        let st = json(&format!("SELECT ai.request_status({id})"));
        assert_eq!(
            (st["state"].as_str(), st["risk_level"].as_str()),
            (Some("pending"), Some("HIGH")),
            "{st:#}"
        );
        assert_eq!(st["approver_role"], "ai_senior");
        // dave is not a senior
        let state: String = as_user("bob", || {
            one(&format!("SELECT ai.approve({id}, 'checked the cascade')"))
        });
        assert_eq!(state, "approved");
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(done["status"], "succeeded", "{done:#}");
        assert_eq!(done["rows_by_table"]["imp.customer"], 2);
        assert_eq!(done["rows_by_table"]["imp.orders"], 8);
        assert_eq!(done["rows_by_table"]["imp.ticket"], 4);
        assert_ne!(fingerprint(), before);
        let exec = done["execution"].as_i64().unwrap();
        let backed: i64 = one(&format!(
            "SELECT count(*) FROM ai.backups WHERE execution_id = {exec}"
        ));
        assert!(backed >= 2 + 8 + 24 + 4 + 4, "{backed}");
        let rb = as_user("alice", || json(&format!("SELECT ai.rollback({exec})")));
        assert_eq!(rb["status"], "rolled_back", "{rb:#}");
        assert_eq!(fingerprint(), before, "the rollback restored every table");
        assert_eq!(
            json(&format!("SELECT ai.request_status({id})"))["state"],
            "rolled_back"
        );
        let v = json("SELECT ai.verify_audit()");
        assert_eq!(v["ok"], true, "{v}");
        let actions: Vec<String> = Spi::connect(|c| {
            c.select(
                &format!("SELECT action FROM ai.audit_log WHERE object_id = '{id}' ORDER BY id"),
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        });
        assert_eq!(
            actions,
            vec!["request", "approval", "approved", "executed", "rolled_back"]
        );
    }

    #[pg_test]
    #[should_panic(
        expected = "is yours: the requester never approves or rejects their own request"
    )]
    fn the_requester_never_approves() {
        people();
        run("GRANT ai_senior TO alice");
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.customer WHERE id = 20')")
        });
        as_user("alice", || {
            one::<String>(&format!("SELECT ai.approve({id})"))
        });
    }

    #[pg_test]
    #[should_panic(
        expected = "ai.approve: approving a HIGH request takes membership in role ai_senior"
    )]
    fn approvers_need_the_role() {
        people();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.customer WHERE id = 20')")
        });
        as_user("dave", || {
            one::<String>(&format!("SELECT ai.approve({id})"))
        });
    }

    #[pg_test]
    #[should_panic(expected = "one person counts once")]
    fn one_person_counts_once() {
        people();
        // CRITICAL: two distinct seniors
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('UPDATE imp.customer SET email = NULL WHERE id = 20')")
        });
        assert_eq!(
            json(&format!("SELECT ai.request_status({id})"))["required_approvals"],
            2
        );
        assert_eq!(
            as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})"))),
            "pending"
        );
        run("SET SESSION AUTHORIZATION bob");
        run("SET ROLE ai_senior");
        one::<String>(&format!("SELECT ai.approve({id})"));
    }

    #[pg_test]
    fn two_seniors_approve_a_critical_request() {
        people();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('UPDATE imp.customer SET email = NULL WHERE id = 20')")
        });
        assert_eq!(
            as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})"))),
            "pending"
        );
        assert_eq!(
            as_user("carol", || one::<String>(&format!(
                "SELECT ai.approve({id})"
            ))),
            "approved"
        );
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(done["status"], "succeeded", "{done:#}");
        assert!(one::<bool>(
            "SELECT email IS NULL FROM imp.customer WHERE id = 20"
        ));
    }

    #[pg_test]
    #[should_panic(expected = "ai.execute: request")]
    fn a_statement_edited_after_approval_is_refused() {
        people();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.customer WHERE id = 20')")
        });
        as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})")));
        run(&format!(
            "UPDATE ai.approval_requests SET sql = 'DELETE FROM imp.customer' WHERE id = {id}"
        ));
        as_user("alice", || json(&format!("SELECT ai.execute({id})")));
    }

    #[pg_test]
    fn drift_beyond_the_tolerance_aborts() {
        people();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.ticket WHERE subject = ''refund''')")
        });
        // LOW needs no approval: approved as soon as requested
        assert_eq!(
            json(&format!("SELECT ai.request_status({id})"))["state"],
            "approved"
        );
        run("UPDATE imp.ticket SET subject = 'refund' WHERE id BETWEEN 1 AND 5");
        let before = fingerprint();
        let r = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(r["status"], "failed", "{r:#}");
        assert!(
            r["reason"].as_str().unwrap().contains("imp.ticket 8 → 13"),
            "{r:#}"
        );
        assert_eq!(fingerprint(), before, "nothing ran");
        assert_eq!(
            json(&format!("SELECT ai.request_status({id})"))["state"],
            "failed"
        );
    }

    #[pg_test]
    fn rollback_refuses_rows_changed_since_unless_forced() {
        people();
        let before = fingerprint();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('UPDATE imp.orders SET total = total * 2 WHERE id <= 3')")
        });
        let st = json(&format!("SELECT ai.request_status({id})"));
        if st["state"] == "pending" {
            as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})")));
        }
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        let exec = done["execution"].as_i64().unwrap();
        run("UPDATE imp.orders SET total = 0 WHERE id = 2");
        let err = crate::spi_util::in_subtransaction(|| {
            as_user("alice", || json(&format!("SELECT ai.rollback({exec})")));
        })
        .unwrap_err();
        assert!(
            err.message.contains("1 rows changed since the execution"),
            "{}",
            err.message
        );
        assert!(err
            .detail
            .unwrap_or_default()
            .contains("imp.orders {\"id\":2}"));
        run("RESET SESSION AUTHORIZATION");
        let rb = as_user("alice", || {
            json(&format!("SELECT ai.rollback({exec}, force => true)"))
        });
        assert_eq!(rb["status"], "rolled_back", "{rb:#}");
        assert_eq!(fingerprint(), before);
    }

    #[pg_test]
    fn identity_and_generated_columns_come_back() {
        people();
        run("CREATE TABLE imp.gen (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id int REFERENCES imp.customer ON DELETE CASCADE,
                                   price numeric, vat numeric GENERATED ALWAYS AS (price * 0.2) STORED)");
        run("INSERT INTO imp.gen (parent_id, price) SELECT i % 50 + 1, i FROM generate_series(1, 30) i");
        run("GRANT ALL ON imp.gen TO alice");
        let snap =
            || one::<String>("SELECT md5(string_agg(g::text, ',' ORDER BY id)) FROM imp.gen g");
        let (b1, b2) = (snap(), fingerprint());
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.customer WHERE id = 30')")
        });
        as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})")));
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(done["rows_by_table"]["imp.gen"], 1, "{done:#}");
        let exec = done["execution"].as_i64().unwrap();
        as_user("alice", || json(&format!("SELECT ai.rollback({exec})")));
        assert_eq!((snap(), fingerprint()), (b1, b2));
    }

    #[pg_test]
    fn inserts_are_rolled_back_by_their_keys() {
        people();
        let before = fingerprint();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('INSERT INTO imp.ticket (id, customer_id, subject) SELECT g, 1, ''bulk'' FROM generate_series(1000, 1149) g')")
        });
        if json(&format!("SELECT ai.request_status({id})"))["state"] == "pending" {
            as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})")));
        }
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(done["rows_by_table"]["imp.ticket"], 150, "{done:#}");
        let rb = as_user("alice", || {
            json(&format!("SELECT ai.rollback({})", done["execution"]))
        });
        assert_eq!(
            rb["restored"]["tables"]["imp.ticket"]["removed"], 150,
            "{rb:#}"
        );
        assert_eq!(fingerprint(), before);
    }

    #[pg_test]
    #[should_panic(expected = "ai.audit_log is append-only: UPDATE is not allowed")]
    fn the_audit_log_is_append_only() {
        people();
        as_user("alice", || {
            one::<i64>("SELECT ai.request('DELETE FROM imp.customer WHERE id = 20')")
        });
        run("UPDATE ai.audit_log SET actor = 'mallory'");
    }

    #[pg_test]
    fn verify_audit_finds_a_changed_entry() {
        people();
        for n in [20, 21, 22] {
            as_user("alice", || {
                one::<i64>(&format!(
                    "SELECT ai.request('DELETE FROM imp.customer WHERE id = {n}')"
                ))
            });
        }
        assert_eq!(json("SELECT ai.verify_audit()")["ok"], true);
        let second: i64 = one("SELECT id FROM ai.audit_log ORDER BY id OFFSET 1 LIMIT 1");
        run("ALTER TABLE ai.audit_log DISABLE TRIGGER audit_log_append_only");
        run(&format!(
            "UPDATE ai.audit_log SET actor = 'mallory' WHERE id = {second}"
        ));
        let v = json("SELECT ai.verify_audit()");
        assert_eq!(v["ok"], false);
        assert_eq!(v["first_broken"]["id"], second);
        assert!(v["first_broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("changed"));
    }

    #[pg_test]
    fn merge_is_backed_up_and_rolled_back() {
        people();
        let before = fingerprint();
        let sql = "MERGE INTO imp.ticket t USING (SELECT g AS id FROM generate_series(75, 90) g) s ON t.id = s.id \
                   WHEN MATCHED AND t.id % 2 = 0 THEN DELETE \
                   WHEN MATCHED THEN UPDATE SET subject = ''merged'' \
                   WHEN NOT MATCHED THEN INSERT (id, customer_id, subject) VALUES (s.id, 1, ''new'')";
        let id: i64 = as_user("alice", || one(&format!("SELECT ai.request('{sql}')")));
        if json(&format!("SELECT ai.request_status({id})"))["state"] == "pending" {
            as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})")));
        }
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        assert_eq!(done["rows_by_table"]["imp.ticket"], 16, "{done:#}");
        let exec = done["execution"].as_i64().unwrap();
        let ops: String = one(&format!(
            "SELECT string_agg(operation || ':' || n, ',' ORDER BY operation) FROM
               (SELECT operation, count(*) AS n FROM ai.backups WHERE execution_id = {exec} GROUP BY 1) s"
        ));
        assert_eq!(ops, "delete:3,insert:10,update:3");
        as_user("alice", || json(&format!("SELECT ai.rollback({exec})")));
        assert_eq!(fingerprint(), before);
    }

    #[pg_test]
    fn a_rollback_can_need_its_own_approval() {
        people();
        run("UPDATE ai.approval_policy SET rollback_needs_approval = true");
        let before = fingerprint();
        let id: i64 = as_user("alice", || {
            one("SELECT ai.request('DELETE FROM imp.customer WHERE id = 20')")
        });
        as_user("bob", || one::<String>(&format!("SELECT ai.approve({id})")));
        let done = as_user("alice", || json(&format!("SELECT ai.execute({id})")));
        let exec = done["execution"].as_i64().unwrap();
        let err = crate::spi_util::in_subtransaction(|| {
            as_user("alice", || json(&format!("SELECT ai.rollback({exec})")));
        })
        .unwrap_err();
        assert!(
            err.message.contains(&format!(
                "rolling back execution {exec} needs its own approved request"
            )),
            "{}",
            err.message
        );
        run("RESET SESSION AUTHORIZATION");
        let rb: i64 = as_user("alice", || {
            one(&format!(
                "SELECT ai.request_rollback({exec}, 'wrong customer')"
            ))
        });
        assert_eq!(
            json(&format!("SELECT ai.request_status({rb})"))["state"],
            "pending"
        );
        as_user("carol", || {
            one::<String>(&format!("SELECT ai.approve({rb})"))
        });
        let out = as_user("alice", || json(&format!("SELECT ai.execute({rb})")));
        assert_eq!(out["status"], "rolled_back", "{out:#}");
        assert_eq!(fingerprint(), before);
        assert_eq!(
            json(&format!("SELECT ai.request_status({id})"))["state"],
            "rolled_back"
        );
        assert_eq!(
            json(&format!("SELECT ai.request_status({rb})"))["state"],
            "executed"
        );
        assert_eq!(json("SELECT ai.verify_audit()")["ok"], true);
    }

    #[pg_test]
    #[should_panic(expected = "ai.request: imp.nokey has no primary key")]
    fn tables_without_a_primary_key_are_refused() {
        people();
        run("CREATE TABLE imp.nokey (a int)");
        run("INSERT INTO imp.nokey VALUES (1)");
        one::<i64>("SELECT ai.request('DELETE FROM imp.nokey WHERE a = 1')");
    }

    #[pg_test]
    fn the_chain_head_catches_removed_entries_and_rewritten_heads() {
        people();
        run("SET ai_architect.audit_hmac_key = 'a key outside the database'");
        for i in 0..4 {
            as_user("alice", || {
                one::<i64>(&format!(
                    "SELECT ai.request('DELETE FROM imp.customer WHERE id = {}')",
                    20 + i
                ))
            });
        }
        let v = json("SELECT ai.verify_audit()");
        assert_eq!(
            (v["ok"].as_bool(), v["head"]["sealed"].as_bool()),
            (Some(true), Some(true)),
            "{v}"
        );
        // ai.verify_audit() fails, for a reason that says this
        let broken_because = |word: &str| {
            let v = json("SELECT ai.verify_audit()");
            assert_eq!(v["ok"], false, "{v}");
            let why = v["first_broken"]["reason"].as_str().unwrap();
            assert!(why.contains(word), "{v}");
        };
        // the newest two entries removed behind the guard's back: the chain itself is intact
        run("ALTER TABLE ai.audit_log DISABLE TRIGGER audit_log_append_only");
        run("DELETE FROM ai.audit_log WHERE id > (SELECT max(id) - 2 FROM ai.audit_log)");
        broken_because("counts");
        // and the head moved back to match: its seal gives it away
        run(
            "UPDATE ai.audit_head SET entries = (SELECT count(*) FROM ai.audit_log),
                    last_id = (SELECT max(id) FROM ai.audit_log),
                    hash = (SELECT hash FROM ai.audit_log ORDER BY id DESC LIMIT 1)",
        );
        broken_because("seal");
        run("ALTER TABLE ai.audit_log ENABLE TRIGGER audit_log_append_only");
        // nobody but the extension writes the head
        let denied = as_user("alice", || {
            crate::spi_util::in_subtransaction(|| Spi::run("UPDATE ai.audit_head SET entries = 0"))
                .is_err()
        });
        assert!(denied);
    }
}
