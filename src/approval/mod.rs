//! The approval workflow: requests routed by risk, decisions with separation of duties,
//! execution with a backup of every row touched, rollback. `workflow` holds the rules in plain
//! Rust; `api` is the SQL surface.
pub mod api;
mod backup;
mod restore;
pub mod workflow;
