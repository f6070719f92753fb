//! SQL surface of the DDL proposals: ai.propose_ddl. The schema is read with the caller's
//! rights; the DDL is judged by PostgreSQL's parser and filed with ai.request (which analyses
//! its impact) as the caller, so approval, separation of duties and execution follow the
//! workflow's rules like any other request.
use super::propose::{propose, ProposeError};
use crate::error::OrRaise;
use crate::spi_util::SearchPath;
use pgrx::prelude::*;
use pgrx::JsonB;

/// A schema change in plain language ("add a table track_review with a rating from 1 to 5 and
/// a comment, linked to track"): the DDL in the schema's naming style (keys, types, CHECKs,
/// an index for each foreign key), its impact, and an approval request for it (`request`).
/// Nothing runs until the request is approved and executed. A statement on a table the
/// proposal itself creates (the new table's foreign-key index) is listed under `then`, to
/// request once the table exists. An intent outside the grammar goes to the configured model
/// (ai_architect.llm_base_url), and its statements are judged the same way.
#[pg_extern(volatile)]
fn propose_ddl(intent: Option<&str>) -> JsonB {
    crate::error::primary_only("ai.propose_ddl");
    let sp = SearchPath::pin();
    let r = crate::error::time_limited("ai.propose_ddl", || {
        let intent = intent
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ProposeError::Empty)?;
        propose(&sp, intent)
    });
    sp.restore();
    JsonB(r.or_raise("ai.propose_ddl"))
}
