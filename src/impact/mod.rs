//! ai.impact: what a statement will touch. This is the plain-Rust core — risk grading and
//! sensitive-column detection — written ahead of the SQL surface (ai.impact /
//! ai.impact_report), which gathers the facts these functions grade.
#![allow(dead_code)] // used by ai.impact, whose SQL surface is the next step
pub mod risk;
pub mod sensitive;
