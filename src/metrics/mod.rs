//! Metrics for dashboards: ai.metrics() counts what the architect did (audits, advice and
//! its measured gains, approval requests, questions, embeddings), one row per metric and
//! label set, in the shape postgres_exporter turns into Prometheus series
//! (monitoring/postgres_exporter/queries.yaml).
pub mod api;
pub mod counters;
