//! The approval workflow: requests routed by risk, decisions with separation of duties,
//! execution with a backup of every row touched, rollback. `workflow` holds the rules in plain
//! Rust; `store` is the kernel every part imports; `api` is the SQL surface, which nothing
//! imports back.
mod advice;
pub mod api;
mod backup;
mod batch;
mod decide;
mod execute;
mod executor;
pub mod notify;
pub mod online;
pub mod request;
mod restore;
mod rollback;
mod rows;
pub mod store;
pub mod workflow;
