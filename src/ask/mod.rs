//! ai.ask: a question in plain language becomes one safe, validated SELECT — from a stored
//! sample, an LLM, or the in-process engine — run read-only with the caller's rights.
pub mod adapt;
pub mod answer;
pub mod api;
pub mod context;
pub mod engine;
pub mod error;
pub mod focus;
pub mod prompt;
