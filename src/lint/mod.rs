//! The schema lint: what a DBA would point out in a schema review (missing keys, unindexed
//! foreign keys, types and names that cause trouble), each finding with the statement that
//! fixes it where one does.
pub mod api;
pub mod facts;
pub mod rules;
