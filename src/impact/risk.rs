//! Risk grading: the facts ai.impact gathered in, a level and every rule that fired out.
//! The thresholds are a policy (defaults below; `ai.risk_policy` holds a database's own).

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Low => "LOW",
            Level::Medium => "MEDIUM",
            Level::High => "HIGH",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Thresholds of the grading rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// rows touched from which a statement is at least MEDIUM
    pub medium_rows: u64,
    /// rows touched above which a statement is HIGH
    pub high_rows: u64,
    /// cascade fan-out (child rows per parent row) above which a statement is HIGH
    pub max_fan_out: f64,
    /// an UPDATE/DELETE without WHERE on a table with more rows than this is CRITICAL
    pub unfiltered_rows: u64,
    /// a table this large, or busy, makes an ACCESS EXCLUSIVE lock CRITICAL
    pub large_table_rows: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            medium_rows: 100,
            high_rows: 10_000,
            max_fan_out: 10.0,
            unfiltered_rows: 1_000,
            large_table_rows: 100_000,
        }
    }
}

/// What ai.impact found out about a statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY, DDL, OTHER
    pub kind: String,
    /// target and cascaded rows together
    pub rows_touched: u64,
    /// 0: no cascade; 1: children of the target; 2: grandchildren...
    pub cascade_depth: u32,
    /// the largest ratio of child rows to parent rows along any cascade edge
    pub max_fan_out: f64,
    pub reversible: bool,
    /// a system catalog or the extension's own tables
    pub system_tables: Vec<String>,
    /// DROP TABLE / TRUNCATE / DROP COLUMN: data goes away with no row-level undo
    pub destroys_data: bool,
    pub sensitive_columns: Vec<String>,
    pub has_where: bool,
    /// rows of the statement's target table
    pub target_rows: u64,
    /// tables an ACCESS EXCLUSIVE lock would be taken on: (name, rows, sessions using it now)
    pub access_exclusive: Vec<(String, u64, u32)>,
    /// sensitive columns of rows the statement deletes (the values go with the row)
    pub sensitive_removed: Vec<String>,
    /// migration-linter rules that fired
    pub lint: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub level: Level,
    pub rule: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub level: Level,
    pub reasons: Vec<Reason>,
}

/// The highest matching level wins; every rule that fired is listed, most severe first.
pub fn grade(f: &Facts, p: &Policy) -> Grade {
    let mut reasons = Vec::new();
    let mut fire = |level, rule, detail: String| {
        reasons.push(Reason {
            level,
            rule,
            detail,
        })
    };

    if !f.system_tables.is_empty() {
        fire(
            Level::Critical,
            "system_table",
            format!("touches {}", f.system_tables.join(", ")),
        );
    }
    if f.destroys_data {
        fire(
            Level::Critical,
            "destroys_data",
            format!("{} removes data that no row-level backup restores", f.kind),
        );
    }
    if !f.sensitive_columns.is_empty() {
        fire(
            Level::Critical,
            "sensitive_columns",
            format!("touches {}", f.sensitive_columns.join(", ")),
        );
    }
    if matches!(f.kind.as_str(), "UPDATE" | "DELETE")
        && !f.has_where
        && f.target_rows > p.unfiltered_rows
    {
        fire(
            Level::Critical,
            "no_where_clause",
            format!(
                "{} without WHERE on a table of {} rows (more than {})",
                f.kind, f.target_rows, p.unfiltered_rows
            ),
        );
    }
    for (table, rows, sessions) in &f.access_exclusive {
        if *rows > p.large_table_rows || *sessions > 0 {
            let why = if *sessions > 0 {
                format!("{sessions} session(s) are using it now")
            } else {
                format!("{rows} rows")
            };
            fire(
                Level::Critical,
                "access_exclusive_lock",
                format!("ACCESS EXCLUSIVE lock on {table}: {why}"),
            );
        }
    }
    if f.rows_touched > p.high_rows {
        fire(
            Level::High,
            "many_rows",
            format!(
                "{} rows touched (more than {})",
                f.rows_touched, p.high_rows
            ),
        );
    } else if f.rows_touched >= p.medium_rows {
        fire(
            Level::Medium,
            "some_rows",
            format!(
                "{} rows touched ({} to {})",
                f.rows_touched, p.medium_rows, p.high_rows
            ),
        );
    }
    if f.cascade_depth > 1 {
        fire(
            Level::High,
            "deep_cascade",
            format!("cascades {} levels deep", f.cascade_depth),
        );
    } else if f.cascade_depth == 1 {
        fire(Level::Medium, "cascade", "cascades to child tables".into());
    }
    if f.max_fan_out > p.max_fan_out {
        fire(
            Level::High,
            "fan_out",
            format!(
                "a cascade fans out {:.0}× (more than {:.0}×)",
                f.max_fan_out, p.max_fan_out
            ),
        );
    }
    if !f.reversible {
        fire(
            Level::High,
            "irreversible",
            "no inverse statement restores it".into(),
        );
    }
    if !f.sensitive_removed.is_empty() {
        fire(
            Level::Medium,
            "sensitive_rows_deleted",
            format!("deletes rows holding {}", f.sensitive_removed.join(", ")),
        );
    }
    if !f.lint.is_empty() {
        fire(
            Level::Medium,
            "migration_lint",
            format!("risky migration: {}", f.lint.join(", ")),
        );
    }
    reasons.sort_by(|a, b| b.level.cmp(&a.level));
    Grade {
        level: reasons.first().map(|r| r.level).unwrap_or(Level::Low),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(rows: u64) -> Facts {
        Facts {
            kind: "DELETE".into(),
            rows_touched: rows,
            reversible: true,
            has_where: true,
            target_rows: 5_000,
            ..Default::default()
        }
    }

    fn rules(g: &Grade) -> Vec<&'static str> {
        g.reasons.iter().map(|r| r.rule).collect()
    }

    #[test]
    fn small_reversible_change_is_low() {
        let g = grade(&delete(12), &Policy::default());
        assert_eq!(g.level, Level::Low);
        assert!(g.reasons.is_empty());
    }

    #[test]
    fn row_counts_set_the_floor() {
        assert_eq!(grade(&delete(100), &Policy::default()).level, Level::Medium);
        assert_eq!(
            grade(&delete(10_000), &Policy::default()).level,
            Level::Medium
        );
        assert_eq!(
            grade(&delete(10_001), &Policy::default()).level,
            Level::High
        );
    }

    #[test]
    fn cascades_and_fan_out() {
        let one = Facts {
            cascade_depth: 1,
            max_fan_out: 3.0,
            ..delete(20)
        };
        assert_eq!(grade(&one, &Policy::default()).level, Level::Medium);
        let deep = Facts {
            cascade_depth: 2,
            ..one.clone()
        };
        assert_eq!(grade(&deep, &Policy::default()).level, Level::High);
        let wide = Facts {
            max_fan_out: 40.0,
            ..one
        };
        let g = grade(&wide, &Policy::default());
        assert_eq!(g.level, Level::High);
        assert_eq!(rules(&g), vec!["fan_out", "cascade"]);
    }

    #[test]
    fn critical_rules_and_every_reason_listed() {
        let f = Facts {
            has_where: false,
            target_rows: 412_000,
            rows_touched: 412_000,
            sensitive_columns: vec!["customer.email".into()],
            reversible: false,
            ..delete(0)
        };
        let g = grade(&f, &Policy::default());
        assert_eq!(g.level, Level::Critical);
        assert_eq!(
            rules(&g),
            vec![
                "sensitive_columns",
                "no_where_clause",
                "many_rows",
                "irreversible"
            ]
        );
        assert!(g.reasons[1].detail.contains("412000 rows"));
    }

    #[test]
    fn locks_on_large_or_busy_tables() {
        let ddl = |rows, sessions| Facts {
            kind: "DDL".into(),
            reversible: true,
            access_exclusive: vec![("public.invoice".into(), rows, sessions)],
            ..Default::default()
        };
        assert_eq!(grade(&ddl(50, 0), &Policy::default()).level, Level::Low);
        assert_eq!(
            grade(&ddl(5_000_000, 0), &Policy::default()).level,
            Level::Critical
        );
        let busy = grade(&ddl(50, 3), &Policy::default());
        assert_eq!(busy.level, Level::Critical);
        assert!(busy.reasons[0].detail.contains("3 session(s)"));
    }

    #[test]
    fn deleted_personal_data_and_lint_findings_are_medium() {
        let f = Facts {
            sensitive_removed: vec!["public.customer.email".into()],
            ..delete(3)
        };
        let g = grade(&f, &Policy::default());
        assert_eq!(
            (g.level, rules(&g)),
            (Level::Medium, vec!["sensitive_rows_deleted"])
        );
        let f = Facts {
            lint: vec!["require-concurrent-index-creation".into()],
            ..delete(0)
        };
        assert_eq!(grade(&f, &Policy::default()).level, Level::Medium);
    }

    #[test]
    fn the_policy_moves_the_thresholds() {
        let strict = Policy {
            medium_rows: 10,
            ..Policy::default()
        };
        assert_eq!(grade(&delete(12), &strict).level, Level::Medium);
        assert_eq!(Level::Critical.as_str(), "CRITICAL");
    }
}
