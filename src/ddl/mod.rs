//! Schema changes in plain language: ai.propose_ddl turns an intent into DDL in the schema's
//! own naming style, shows its impact and files it as an approval request. Nothing runs
//! until the request is approved and executed.
pub mod api;
pub mod grammar;
pub mod propose;
