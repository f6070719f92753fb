//! ai.impact: what a statement will touch. This is the plain-Rust core — the foreign-key
//! cascade walk with its counting SQL, risk grading and sensitive-column detection — written
//! ahead of the SQL surface (ai.impact / ai.impact_report), which gathers the facts.
#![allow(dead_code)] // used by ai.impact, whose SQL surface is the next step
pub mod cascade;
pub mod risk;
pub mod sensitive;
