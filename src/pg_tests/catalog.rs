//! The catalog after DDL and its index of values, inside a real server.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn one<T: pgrx::datum::FromDatum + pgrx::datum::IntoDatum>(sql: &str) -> T {
        Spi::get_one::<T>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    /// What a full refresh of schema `s` finds to add, update or remove (0 when the catalog
    /// already says what it would).
    fn full_refresh_changes(s: &str) -> i64 {
        one::<i64>(&format!(
            "SELECT (sum(added) + sum(updated) + sum(removed))::bigint FROM ai.refresh_catalog(ARRAY['{s}'])"
        ))
    }

    #[pg_test]
    fn the_refresh_after_ddl_reads_what_changed_and_says_what_a_full_one_says() {
        run("CREATE SCHEMA t_inc");
        run("CREATE TABLE t_inc.base (id int PRIMARY KEY, name text)");
        run("SELECT ai.refresh_catalog(ARRAY['t_inc'])");
        let mut rng = crate::test_rng::Rng(0x5eed_ca7a);
        let mut tables: Vec<String> = vec!["base".into()];
        let mut next = 0;
        for step in 0..30 {
            let pick = |rng: &mut crate::test_rng::Rng, t: &Vec<String>| {
                t[rng.below(t.len() as u64) as usize].clone()
            };
            let sql = match rng.below(7) {
                0 | 1 => {
                    next += 1;
                    let name = format!("t{next}");
                    let parent = pick(&mut rng, &tables);
                    tables.push(name.clone());
                    format!("CREATE TABLE t_inc.{name} (id int PRIMARY KEY, {parent}_id int REFERENCES t_inc.{parent}, label text)")
                }
                2 => format!("ALTER TABLE t_inc.{} ADD COLUMN c{step} text", pick(&mut rng, &tables)),
                3 => format!("COMMENT ON TABLE t_inc.{} IS 'step {step}'", pick(&mut rng, &tables)),
                4 if tables.len() > 2 => {
                    let i = 1 + rng.below(tables.len() as u64 - 1) as usize;
                    let t = tables.remove(i);
                    format!("DROP TABLE t_inc.{t} CASCADE")
                }
                5 if tables.len() > 2 => {
                    let i = 1 + rng.below(tables.len() as u64 - 1) as usize;
                    next += 1;
                    let new = format!("t{next}");
                    let old = std::mem::replace(&mut tables[i], new.clone());
                    format!("ALTER TABLE t_inc.{old} RENAME TO {new}")
                }
                _ => {
                    let (a, b) = (pick(&mut rng, &tables), pick(&mut rng, &tables));
                    format!("ALTER TABLE t_inc.{a} ADD COLUMN ref{step} int REFERENCES t_inc.{b}")
                }
            };
            run(&sql);
            // the refresh a question makes: only what the change touched (no embedding of
            // the rest), then a full one finds nothing left to do
            run("SELECT count(*) FROM ai.search_catalog('anything at all', 5)");
            assert_eq!(one::<bool>("SELECT NOT EXISTS (SELECT 1 FROM ai.catalog_changes)"), true, "{sql}");
            assert_eq!(full_refresh_changes("t_inc"), 0, "step {step}: {sql}");
        }
        // a new table is found by the next question's refresh, with its values
        run("CREATE TABLE t_inc.colour (id int PRIMARY KEY, name text)");
        run("INSERT INTO t_inc.colour VALUES (1, 'vermilion'), (2, 'teal')");
        run("SELECT count(*) FROM ai.search_catalog('colour', 5)");
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM ai.catalog_values v JOIN ai.catalog_tables t ON t.table_oid = v.table_oid
                  WHERE t.schema_name = 't_inc' AND t.table_name = 'colour' AND v.value = 'vermilion'"
            ),
            1
        );
    }

    fn lookup(role: &str, table: &str, phrase: &str) -> Vec<String> {
        let role: pg_sys::Oid = one(&format!("SELECT '{role}'::regrole::oid"));
        let table: pg_sys::Oid = one(&format!("SELECT '{table}'::regclass::oid"));
        crate::catalog::values::lookup(role, &[table], &[phrase.to_string()])
            .unwrap()
            .into_iter()
            .map(|f| f.value)
            .collect()
    }

    #[pg_test]
    fn values_are_looked_up_in_the_index_not_the_table_and_only_as_far_as_the_caller_may_read() {
        run("CREATE SCHEMA t_val");
        run("CREATE TABLE t_val.ticket (id int PRIMARY KEY, status text NOT NULL, owner_name text)");
        run("INSERT INTO t_val.ticket SELECT g, (ARRAY['open','closed','escalated'])[1 + g % 3], 'agent ' || g % 7
               FROM generate_series(1, 300) g");
        run("INSERT INTO t_val.ticket VALUES (1000, 'embargoed', 'agent 0')");
        run("ANALYZE t_val.ticket");
        run("SELECT ai.refresh_catalog(ARRAY['t_val'])");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ai.catalog_values WHERE table_oid = 't_val.ticket'::regclass AND value = 'embargoed'"),
            1
        );
        // a question names a value: found without a single scan of the table
        let scans = "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relid = 't_val.ticket'::regclass";
        let before: i64 = one(scans);
        run("SET LOCAL search_path = t_val, public");
        let sql: String = one("SELECT ai.ask('How many tickets are escalated?', false)->>'sql'");
        assert!(sql.contains("'escalated'"), "{sql}");
        assert_eq!(one::<i64>(scans), before, "the question read the table");

        // who may see a value: SELECT on the column, no row-level security
        run("CREATE ROLE t_val_reader");
        run("CREATE ROLE t_val_partial");
        run("GRANT SELECT ON t_val.ticket TO t_val_reader");
        run("GRANT SELECT (id, owner_name) ON t_val.ticket TO t_val_partial");
        assert_eq!(lookup("t_val_reader", "t_val.ticket", "embargoed"), vec!["embargoed"]);
        assert!(lookup("t_val_partial", "t_val.ticket", "embargoed").is_empty());
        assert_eq!(lookup("t_val_partial", "t_val.ticket", "agent 3"), vec!["agent 3"]);
        // a policy from now on hides rows: the values read before it are not handed out,
        // even before the refresh drops them
        run("CREATE POLICY only_open ON t_val.ticket FOR SELECT USING (status = 'open')");
        run("ALTER TABLE t_val.ticket ENABLE ROW LEVEL SECURITY");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ai.catalog_values WHERE table_oid = 't_val.ticket'::regclass AND value = 'embargoed'"),
            1,
            "the index still holds the value read before the policy"
        );
        assert!(lookup("t_val_reader", "t_val.ticket", "embargoed").is_empty());
        // and the refresh keeps none of a table with row-level security
        run("SELECT count(*) FROM ai.search_catalog('tickets', 5)");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ai.catalog_values WHERE table_oid = 't_val.ticket'::regclass"),
            0
        );
        assert_eq!(
            one::<bool>("SELECT values_indexed FROM ai.catalog_tables WHERE table_oid = 't_val.ticket'::regclass"),
            false
        );
    }

    #[pg_test]
    fn a_table_is_read_for_its_values_as_its_owner() {
        // its owner may not read it (REVOKE from themselves): nothing is kept, nothing fails
        run("CREATE SCHEMA t_own");
        run("CREATE ROLE t_own_owner");
        run("CREATE TABLE t_own.secret (id int PRIMARY KEY, word text)");
        run("INSERT INTO t_own.secret VALUES (1, 'swordfish')");
        run("GRANT USAGE ON SCHEMA t_own TO t_own_owner");
        run("ALTER TABLE t_own.secret OWNER TO t_own_owner");
        run("REVOKE ALL ON t_own.secret FROM t_own_owner");
        run("SELECT ai.refresh_catalog(ARRAY['t_own'])");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ai.catalog_values WHERE table_oid = 't_own.secret'::regclass"),
            0,
            "the superuser's rights were borrowed to read a table its owner may not read"
        );
        // once it may, the next refresh after DDL on the table reads it (GRANT alone is no
        // change of the catalog's)
        run("GRANT SELECT ON t_own.secret TO t_own_owner");
        run("COMMENT ON TABLE t_own.secret IS 'passwords'");
        run("SELECT count(*) FROM ai.search_catalog('secret', 5)");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ai.catalog_values WHERE table_oid = 't_own.secret'::regclass AND value = 'swordfish'"),
            1
        );
    }
}
