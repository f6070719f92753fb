//! The tamper-evident audit trail: append-only, hash-chained (`chain`, plain Rust), written
//! and verified through `api`.
pub mod api;
pub mod chain;
pub mod log;
