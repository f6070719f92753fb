//! SQL surface of the impact analysis: ai.impact and ai.impact_report (the analysis is in
//! analyse.rs).
use super::analyse::analyse;
use super::error::{ImpactError, Result};
use super::model::Mode;
use super::report;
use crate::error::OrRaise;
use pgrx::prelude::*;
use pgrx::JsonB;

fn args(sql: Option<&str>, mode: Option<&str>) -> Result<(String, Mode)> {
    let sql = sql.ok_or(ImpactError::Null("sql"))?;
    let mode = Mode::parse(mode.unwrap_or("estimate"))?;
    Ok((sql.to_string(), mode))
}

/// What a statement would touch: rows per table, the cascade tree, triggers, locks, risk
/// and a rollback plan. `mode`: 'estimate' (planner only), 'exact' (read-only counts) or
/// 'dry_run' (runs it in a subtransaction that is always rolled back).
#[pg_extern(volatile)]
fn impact(sql: Option<&str>, mode: default!(Option<&str>, "'estimate'")) -> JsonB {
    let (sql, mode) = args(sql, mode).or_raise("ai.impact");
    JsonB(analyse(&sql, mode).or_raise("ai.impact"))
}

/// ai.impact as a tree readable in psql.
#[pg_extern(volatile)]
fn impact_report(sql: Option<&str>, mode: default!(Option<&str>, "'estimate'")) -> String {
    let (sql, mode) = args(sql, mode).or_raise("ai.impact_report");
    report::render(&analyse(&sql, mode).or_raise("ai.impact_report"))
}
