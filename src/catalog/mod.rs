//! The schema catalog: descriptions of user tables, columns, relationships and schemas,
//! embedded for retrieval by ai.search_catalog and ai.ask.
pub mod api;
pub mod describe;
pub mod plan;
pub mod refresh;
pub mod schema;
pub mod search;
pub mod text;
pub mod values;
