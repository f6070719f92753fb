//! ai.impact: what a statement will touch. A plain-Rust core — the statement's shape, the
//! foreign-key cascade walk with its counting SQL, DDL locks and lint, risk grading,
//! sensitive-column detection, the text report — and `api`, which gathers the facts.
pub mod analyse;
pub mod api;
pub mod cascade;
pub(crate) mod catalog;
pub(crate) mod count;
pub mod ddl;
mod document;
pub mod error;
pub mod model;
mod online;
pub mod report;
pub mod risk;
mod rollback_plan;
pub mod sensitive;
pub mod statement;
mod touches;
