//! Every file of `src/` that runs SQL through SPI, and what it runs it over. The test below
//! fails when a file starts running SQL without being listed here (or stops, and still is),
//! so a new path that runs SQL is a decision someone wrote down, and docs/security.md's list of
//! paths stays true.
//!
//! What the kinds mean:
//! - `gateway`: PostgreSQL's parser and analyser, the allow list, planning and running of a
//!   checked statement (this folder);
//! - `judged`: SQL over user objects (views, policies, tables of others) that passes the
//!   gateway first, read-only, in a subtransaction that is rolled back;
//! - `catalogs`: system catalogs and statistics views only (names, types, pg_stats, plans
//!   of nothing), never a user relation;
//! - `state`: the extension's own tables in schema `ai`;
//! - `approved`: an approved change, run as its requester (docs/security.md).

/// (file under src/, kinds, what it runs)
#[allow(dead_code)] // read by the test below and by people
pub const SQL_SITES: &[(&str, &str, &str)] = &[
    ("pgsql/mod.rs", "gateway", "SPI_prepare of the text judged, the allow lists"),
    ("pgsql/expr.rs", "gateway", "the type category of a taught expression's analysed tree"),
    ("pgsql/run.rs", "gateway", "facts of a prepared statement; plan, EXPLAIN, cursor of exactly it"),
    ("spi_util.rs", "catalogs", "the extension's owner and schema, session_user"),
    ("ask/context.rs", "judged catalogs state", "values of views and tables with row-level security through the gateway, as the caller; the catalog the caller may read"),
    ("ask/answer.rs", "judged state", "answers through the gateway; samples; usage log"),
    ("advisor/workload.rs", "catalogs", "the workload from pg_stat_statements, roles' search_paths, tables, indexes, statistics"),
    ("advisor/hypo.rs", "judged catalogs", "workload statements judged then EXPLAINed as their role with HypoPG's hypothetical indexes"),
    ("impact/count.rs", "judged approved", "exact counts through the gateway; the dry run runs the caller's own statement, rolled back"),
    ("impact/catalog.rs", "judged catalogs", "EXPLAIN of the judged statement; foreign keys, triggers, rules"),
    ("impact/touches.rs", "catalogs", "name resolution, rules, identity columns"),
    ("impact/error.rs", "catalogs", "the caller's search_path, for a hint"),
    ("impact/online.rs", "catalogs", "the tables and indexes a statement outside a transaction block names"),
    ("impact/rollback_plan.rs", "catalogs", "definitions to restore (pg_get_*def)"),
    ("monitor/statements.rs", "judged catalogs", "ai.explain through the gateway; pg_stat_statements"),
    ("monitor/insights.rs", "catalogs state", "activity, index health, regressions; pg_stat_statements snapshots"),
    ("approval/api.rs", "state", "the request queue"),
    ("approval/store.rs", "state", "change requests, transitions, notifications"),
    ("approval/request.rs", "judged state", "a request's impact (through the gateway) and its row"),
    ("approval/decide.rs", "state", "approvals, rejections, escalations"),
    ("approval/notify.rs", "state", "notifications"),
    ("approval/execute.rs", "approved state", "the approved statement as its requester"),
    ("approval/backup.rs", "approved state", "row backups of the approved statement's target"),
    ("approval/restore.rs", "approved state", "restores a request's own backup"),
    ("approval/rollback.rs", "approved state", "rollback of an executed request"),
    ("approval/advice.rs", "state", "the advice functions' statements (as the caller), each filed through ai.request's path; open requests for the same statement"),
    ("approval/batch.rs", "approved state catalogs", "the approved UPDATE or DELETE by key range, as its requester (the next bound, then each batch with its backup); progress; standbys' replay lag"),
    ("approval/online.rs", "catalogs state", "executions handed to a background worker; which workers still run; indexes left INVALID"),
    ("approval/executor.rs", "approved state", "in a background worker: the approved statement (or its inverse) outside a transaction block, as its runner (pgsql/toplevel.rs)"),
    ("audit/api.rs", "state", "the trail's entries, a page at a time"),
    ("audit/log.rs", "state", "the hash-chained audit log"),
    ("audit/chain.rs", "state", "the audit head"),
    ("catalog/refresh.rs", "catalogs state", "the catalog tables, descriptions, the catalog's search"),
    ("catalog/schema.rs", "catalogs", "the one introspection of the user schema (catalog, lint, diagram)"),
    ("catalog/values.rs", "judged catalogs state", "each table's text values through the gateway as its owner (a restricted operation, read-only, rolled back); the index of values, looked up for the caller's columns"),
    ("catalog/describe.rs", "catalogs state", "descriptions of tables and columns"),
    ("chat/api.rs", "state", "the caller's chat history"),
    ("chat/turn.rs", "state", "chat messages: the previous turn, the history, the new turn"),
    ("ddl/propose.rs", "catalogs state", "key-naming style, files requests"),
    ("embed/assets.rs", "catalogs", "the installation's directories"),
    ("embed/vector.rs", "catalogs", "pgvector's type"),
    ("lint/facts.rs", "catalogs", "index health, schema existence"),
    ("memory/optimizations.rs", "state", "the optimization log"),
    ("memory/patterns_api.rs", "state", "fix patterns and guardian rules"),
    ("memory/samples.rs", "judged state", "samples, judged at add and at use"),
    ("vocabulary/store.rs", "judged catalogs state", "taught words, their meaning judged as the teacher (nothing runs); the table's columns and foreign keys"),
    ("metrics/api.rs", "catalogs state", "counters"),
    ("retention/sweep.rs", "state", "removes what the retention settings no longer keep"),
    ("status/api.rs", "catalogs", "version, worker"),
    ("worker/audit.rs", "state", "the audit run (calls the functions above)"),
    ("worker/mod.rs", "catalogs", "the worker's database and role"),
];

#[cfg(test)]
mod tests {
    use super::SQL_SITES;
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Whether the file's own code (tests aside) calls SPI.
    fn runs_sql(text: &str) -> bool {
        let code = text.split("#[cfg(test)]").next().unwrap_or(text);
        // (written in two halves so that this file does not name them itself)
        [
            concat!("Spi", "::"),
            concat!("SPI", "_"),
            "client.select(",
            "c.select(",
            ".update(",
        ]
        .iter()
        .any(|needle| code.contains(needle))
    }

    #[test]
    fn every_file_that_runs_sql_is_listed_with_what_it_runs_it_over() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut unlisted = Vec::new();
        let mut stale = Vec::new();
        for p in &all {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel.starts_with("pg_tests") || rel == "pgsql/sites.rs" {
                continue; // the tests run SQL of their own; this file names the rest
            }
            let text = std::fs::read_to_string(p).unwrap();
            let listed = SQL_SITES.iter().any(|s| s.0 == rel);
            match (runs_sql(&text), listed) {
                (true, false) => unlisted.push(rel),
                (false, true) => stale.push(rel),
                _ => {}
            }
        }
        assert!(
            unlisted.is_empty(),
            "files that run SQL but are not in pgsql/sites.rs (say what they run it over): {unlisted:?}"
        );
        assert!(
            stale.is_empty(),
            "listed in pgsql/sites.rs but run no SQL: {stale:?}"
        );
        for (file, kinds, _) in SQL_SITES {
            for k in kinds.split(' ') {
                assert!(
                    ["gateway", "judged", "catalogs", "state", "approved"].contains(&k),
                    "{file}: unknown kind {k}"
                );
            }
        }
    }
}
