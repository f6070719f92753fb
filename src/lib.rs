//! ai_architect: a database architect inside PostgreSQL.
//!
//! This file only wires the capabilities together; each lives in its own module.
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod advisor;
mod approval;
mod ask;
mod audit;
mod catalog;
mod chat;
mod ddl;
mod embed;
mod erd;
mod error;
mod guc;
mod heap;
mod impact;
mod lint;
mod llm;
mod memory;
mod metrics;
mod monitor;
mod pgsql;
mod retention;
mod spi_util;
mod sqlparse;
mod status;
#[cfg(any(test, feature = "pg_test"))]
mod test_rng;
mod vocabulary;
mod worker;

// The state schema, readable SQL in sql/: tables first, privileges last.
extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/catalog_events.sql",
    name = "catalog_events",
    requires = ["schema"]
);
extension_sql_file!("../sql/privileges.sql", name = "privileges", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::init();
    status::server::init();
    metrics::counters::init();
    worker::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'pg_stat_statements,ai_architect'"]
    }
}
