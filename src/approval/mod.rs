//! The approval workflow: requests routed by risk, decisions with separation of duties,
//! execution with a backup of every row touched, rollback. `workflow` holds the rules in plain
//! Rust; `api` is the SQL surface.
pub mod api;
mod backup;
mod decide;
mod execute;
mod notify;
mod restore;
mod rollback;
pub mod workflow;
