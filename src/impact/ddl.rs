//! What a DDL statement does to the relations it names: the lock it takes on each, whether
//! it rewrites or scans the table, whether data goes away, the inverse statement, and the
//! findings of the `squawk` migration linter. Plain Rust over the AST.
use super::statement::ident_name;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnOption, DataType, Expr, ObjectName,
    ObjectType, RenameTableNameKind, Statement, TableConstraint, Visit, Visitor,
};
use std::ops::ControlFlow;

/// PostgreSQL's table-level lock modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// From pg_locks.mode (`AccessShareLock` ...).
    pub fn from_pg(mode: &str) -> Option<LockMode> {
        LockMode::ALL.into_iter().find(|m| {
            let camel: String = m
                .as_str()
                .split(' ')
                .map(|w| w[..1].to_string() + &w[1..].to_lowercase())
                .collect();
            format!("{camel}Lock") == mode
        })
    }

    /// The conflict table of the PostgreSQL documentation (13.3.1).
    pub fn conflicts_with(&self, other: LockMode) -> bool {
        use LockMode::*;
        let (a, b) = if *self <= other {
            (*self, other)
        } else {
            (other, *self)
        };
        match a {
            AccessShare => b == AccessExclusive,
            RowShare => b >= Exclusive,
            RowExclusive => b >= Share,
            ShareUpdateExclusive => b >= ShareUpdateExclusive,
            Share => b == ShareUpdateExclusive || b >= ShareRowExclusive,
            ShareRowExclusive | Exclusive | AccessExclusive => true,
        }
    }
}

/// How to undo one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Inverse {
    Sql(String),
    /// needs the object's current definition from the catalog
    ColumnType {
        table: String,
        column: String,
    },
    ColumnDefault {
        table: String,
        column: String,
    },
    Constraint {
        table: String,
        name: String,
    },
    Index {
        name: String,
    },
    /// the index's definition, built again with CREATE INDEX CONCURRENTLY
    IndexConcurrently {
        name: String,
    },
    View {
        name: String,
    },
    /// nothing to undo (e.g. VALIDATE CONSTRAINT)
    Nothing,
    /// no inverse: why, and what a backup must hold
    Irreversible(String),
}

/// One thing the statement does to one relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// the relation, as written
    pub table: String,
    pub action: String,
    pub lock: LockMode,
    pub rewrites: bool,
    /// reads every row (validation, index build) while holding the lock
    pub scans: bool,
    pub destroys_data: bool,
    pub inverse: Inverse,
    /// the relation does not exist yet (CREATE)
    pub creates: bool,
}

impl Step {
    fn new(
        table: &ObjectName,
        action: impl Into<String>,
        lock: LockMode,
        inverse: Inverse,
    ) -> Step {
        Step {
            table: table.to_string(),
            action: action.into(),
            lock,
            rewrites: false,
            scans: false,
            destroys_data: false,
            inverse,
            creates: false,
        }
    }
}

/// Functions whose value differs per row: a column default calling one rewrites the table.
const VOLATILE: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v4",
    "uuid_generate_v1",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "random_normal",
];

fn calls_volatile(e: &Expr) -> bool {
    struct V(bool);
    impl Visitor for V {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                let name = f
                    .name
                    .0
                    .last()
                    .map(|p| p.to_string().to_lowercase())
                    .unwrap_or_default();
                if VOLATILE.contains(&name.trim_matches('"')) {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(false);
    let _ = e.visit(&mut v);
    v.0
}

fn is_serial(t: &DataType) -> bool {
    matches!(
        t.to_string().to_lowercase().as_str(),
        "serial" | "bigserial" | "smallserial" | "serial4" | "serial8" | "serial2"
    )
}

/// The steps of a DDL statement; `None` for statements this analysis does not know.
pub fn steps(stmt: &Statement) -> Option<Vec<Step>> {
    use LockMode::*;
    match stmt {
        Statement::CreateIndex(ci) => {
            let mut s = Step::new(
                &ci.table_name,
                format!(
                    "{}create {}index{}",
                    "",
                    if ci.unique { "unique " } else { "" },
                    ci.name
                        .as_ref()
                        .map(|n| format!(" {n}"))
                        .unwrap_or_default()
                ),
                if ci.concurrently {
                    ShareUpdateExclusive
                } else {
                    Share
                },
                match &ci.name {
                    // an index lives in its table's schema
                    Some(n) => Inverse::Sql(format!(
                        "DROP INDEX {}{}",
                        if ci.concurrently { "CONCURRENTLY " } else { "" },
                        match (ci.table_name.0.len(), n.0.len()) {
                            (2, 1) => format!("{}.{n}", ci.table_name.0[0]),
                            _ => n.to_string(),
                        }
                    )),
                    None => Inverse::Irreversible(
                        "the index has no name in the statement: name it to undo it by name".into(),
                    ),
                },
            );
            s.scans = true;
            Some(vec![s])
        }
        Statement::CreateTable(ct) => {
            let mut out = vec![Step {
                creates: true,
                ..Step::new(
                    &ct.name,
                    "create table",
                    AccessExclusive,
                    Inverse::Sql(format!("DROP TABLE {}", ct.name)),
                )
            }];
            for c in &ct.constraints {
                if let TableConstraint::ForeignKey(fk) = c {
                    out.push(Step::new(
                        &fk.foreign_table,
                        "referenced by a new foreign key",
                        ShareRowExclusive,
                        Inverse::Nothing,
                    ));
                }
            }
            for col in &ct.columns {
                for o in &col.options {
                    if let ColumnOption::ForeignKey(fk) = &o.option {
                        out.push(Step::new(
                            &fk.foreign_table,
                            "referenced by a new foreign key",
                            ShareRowExclusive,
                            Inverse::Nothing,
                        ));
                    }
                }
            }
            Some(out)
        }
        Statement::AlterTable(at) => {
            let t = &at.name;
            let ts = t.to_string();
            let mut out = Vec::new();
            for op in &at.operations {
                let step = match op {
                    AlterTableOperation::AddColumn { column_def, .. } => {
                        let name = column_def.name.to_string();
                        let mut s = Step::new(
                            t,
                            format!("add column {name}"),
                            AccessExclusive,
                            Inverse::Sql(format!("ALTER TABLE {ts} DROP COLUMN {name}")),
                        );
                        s.rewrites = is_serial(&column_def.data_type)
                            || column_def.options.iter().any(|o| match &o.option {
                                ColumnOption::Default(e) => calls_volatile(e),
                                ColumnOption::Generated { .. } => true,
                                _ => false,
                            });
                        s
                    }
                    AlterTableOperation::DropColumn { column_names, .. } => {
                        let names: Vec<String> =
                            column_names.iter().map(|c| c.to_string()).collect();
                        let mut s = Step::new(
                            t,
                            format!("drop column {}", names.join(", ")),
                            AccessExclusive,
                            Inverse::Irreversible(format!(
                                "the values of {} are gone: keep a copy (primary key + column) to restore them",
                                names.join(", ")
                            )),
                        );
                        s.destroys_data = true;
                        s
                    }
                    AlterTableOperation::AlterColumn { column_name, op } => {
                        let c = column_name.to_string();
                        let col = ident_name(column_name);
                        match op {
                            AlterColumnOperation::SetDataType { data_type, .. } => {
                                let mut s = Step::new(
                                    t,
                                    format!("change the type of {c} to {data_type}"),
                                    AccessExclusive,
                                    Inverse::ColumnType {
                                        table: ts.clone(),
                                        column: col,
                                    },
                                );
                                s.rewrites = true;
                                s
                            }
                            AlterColumnOperation::SetNotNull => {
                                let mut s = Step::new(
                                    t,
                                    format!("set {c} NOT NULL"),
                                    AccessExclusive,
                                    Inverse::Sql(format!(
                                        "ALTER TABLE {ts} ALTER COLUMN {c} DROP NOT NULL"
                                    )),
                                );
                                s.scans = true;
                                s
                            }
                            AlterColumnOperation::DropNotNull => Step::new(
                                t,
                                format!("drop NOT NULL of {c}"),
                                AccessExclusive,
                                Inverse::Sql(format!(
                                    "ALTER TABLE {ts} ALTER COLUMN {c} SET NOT NULL"
                                )),
                            ),
                            AlterColumnOperation::SetDefault { .. }
                            | AlterColumnOperation::DropDefault => Step::new(
                                t,
                                format!("change the default of {c}"),
                                AccessExclusive,
                                Inverse::ColumnDefault {
                                    table: ts.clone(),
                                    column: col,
                                },
                            ),
                            other => Step::new(
                                t,
                                format!("alter column {c} {other}"),
                                AccessExclusive,
                                Inverse::Irreversible(
                                    "no automatic inverse for this change".into(),
                                ),
                            ),
                        }
                    }
                    AlterTableOperation::AddConstraint {
                        constraint,
                        not_valid,
                    } => {
                        let name = constraint_name(constraint);
                        let inverse = match &name {
                            Some(n) => {
                                Inverse::Sql(format!("ALTER TABLE {ts} DROP CONSTRAINT {n}"))
                            }
                            None => Inverse::Irreversible(
                                "the constraint has no name in the statement: name it to undo it"
                                    .into(),
                            ),
                        };
                        let kind = constraint_kind(constraint);
                        match constraint {
                            TableConstraint::ForeignKey(fk) => {
                                let mut s =
                                    Step::new(t, format!("add {kind}"), ShareRowExclusive, inverse);
                                s.scans = !not_valid;
                                let mut r = Step::new(
                                    &fk.foreign_table,
                                    "referenced by a new foreign key",
                                    ShareRowExclusive,
                                    Inverse::Nothing,
                                );
                                r.scans = !not_valid;
                                out.push(s);
                                r
                            }
                            _ => {
                                let mut s =
                                    Step::new(t, format!("add {kind}"), AccessExclusive, inverse);
                                s.scans =
                                    !not_valid || !matches!(constraint, TableConstraint::Check(_));
                                s
                            }
                        }
                    }
                    AlterTableOperation::DropConstraint { name, .. } => Step::new(
                        t,
                        format!("drop constraint {name}"),
                        AccessExclusive,
                        Inverse::Constraint {
                            table: ts.clone(),
                            name: ident_name(name),
                        },
                    ),
                    AlterTableOperation::ValidateConstraint { name } => {
                        let mut s = Step::new(
                            t,
                            format!("validate constraint {name}"),
                            ShareUpdateExclusive,
                            Inverse::Nothing,
                        );
                        s.scans = true;
                        s
                    }
                    AlterTableOperation::RenameColumn {
                        old_column_name,
                        new_column_name,
                    } => Step::new(
                        t,
                        format!("rename column {old_column_name} to {new_column_name}"),
                        AccessExclusive,
                        Inverse::Sql(format!(
                            "ALTER TABLE {ts} RENAME COLUMN {new_column_name} TO {old_column_name}"
                        )),
                    ),
                    AlterTableOperation::RenameTable { table_name } => {
                        let new = match table_name {
                            RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => n,
                        };
                        // the new name lives in the old one's schema
                        let old_short = t.0.last().map(|p| p.to_string()).unwrap_or_default();
                        let mut new_full = t.clone();
                        if let (Some(last), Some(n)) = (new_full.0.last_mut(), new.0.last()) {
                            *last = n.clone();
                        }
                        Step::new(
                            t,
                            format!("rename to {new}"),
                            AccessExclusive,
                            Inverse::Sql(format!("ALTER TABLE {new_full} RENAME TO {old_short}")),
                        )
                    }
                    AlterTableOperation::RenameConstraint { old_name, new_name } => Step::new(
                        t,
                        format!("rename constraint {old_name} to {new_name}"),
                        AccessExclusive,
                        Inverse::Sql(format!(
                            "ALTER TABLE {ts} RENAME CONSTRAINT {new_name} TO {old_name}"
                        )),
                    ),
                    other => Step::new(
                        t,
                        other.to_string(),
                        AccessExclusive,
                        Inverse::Irreversible("no automatic inverse for this change".into()),
                    ),
                };
                out.push(step);
            }
            Some(out)
        }
        Statement::Drop {
            object_type, names, ..
        } => {
            let mut out = Vec::new();
            for n in names {
                let step = match object_type {
                    ObjectType::Table => {
                        let mut s = Step::new(
                            n,
                            "drop table",
                            AccessExclusive,
                            Inverse::Irreversible(format!(
                                "the table and its rows are gone: a backup must hold its definition and data (pg_dump --table={n}) and those of every object dropped with it"
                            )),
                        );
                        s.destroys_data = true;
                        s
                    }
                    ObjectType::Index => Step::new(
                        n,
                        "drop index",
                        AccessExclusive,
                        Inverse::Index {
                            name: n.to_string(),
                        },
                    ),
                    ObjectType::View => Step::new(
                        n,
                        "drop view",
                        AccessExclusive,
                        Inverse::View {
                            name: n.to_string(),
                        },
                    ),
                    ObjectType::MaterializedView => Step::new(
                        n,
                        "drop materialized view",
                        AccessExclusive,
                        Inverse::Irreversible(
                            "recreate it from its definition (pg_get_viewdef) and refresh it"
                                .into(),
                        ),
                    ),
                    other => Step::new(
                        n,
                        format!("drop {}", other.to_string().to_lowercase()),
                        AccessExclusive,
                        Inverse::Irreversible(
                            "no automatic inverse: recreate it from its definition".into(),
                        ),
                    ),
                };
                out.push(step);
            }
            Some(out)
        }
        _ => None,
    }
}

fn constraint_name(c: &TableConstraint) -> Option<String> {
    match c {
        TableConstraint::ForeignKey(f) => f.name.as_ref().map(|n| n.to_string()),
        TableConstraint::Check(f) => f.name.as_ref().map(|n| n.to_string()),
        TableConstraint::Unique(f) => f.name.as_ref().map(|n| n.to_string()),
        TableConstraint::PrimaryKey(f) => f.name.as_ref().map(|n| n.to_string()),
        _ => None,
    }
}

fn constraint_kind(c: &TableConstraint) -> &'static str {
    match c {
        TableConstraint::ForeignKey(_) => "foreign key",
        TableConstraint::Check(_) => "check constraint",
        TableConstraint::Unique(_) => "unique constraint",
        TableConstraint::PrimaryKey(_) => "primary key",
        _ => "constraint",
    }
}

/// Whether the statement cannot run inside a transaction block (so it cannot be dry-run).
pub fn needs_own_transaction(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    words.contains(&"CONCURRENTLY")
        || matches!(words.first(), Some(&"VACUUM"))
        || words.windows(2).any(|w| {
            w == ["CREATE", "DATABASE"]
                || w == ["DROP", "DATABASE"]
                || w == ["ALTER", "SYSTEM"]
                || w == ["CREATE", "TABLESPACE"]
        })
}

/// One finding of the migration linter.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// squawk's rule name, e.g. `require-concurrent-index-creation`
    pub rule: String,
    pub message: String,
    pub help: Option<String>,
}

/// squawk's migration-safety rules for one statement (style rules left out).
pub fn lint(sql: &str) -> Vec<Finding> {
    use squawk_linter::{Linter, Rule};
    let file = squawk_syntax::SourceFile::parse(sql);
    let style = [
        Rule::PreferBigintOverInt,
        Rule::PreferBigintOverSmallint,
        Rule::PreferIdentity,
        Rule::PreferRobustStmts,
        Rule::PreferTextField,
        Rule::PreferTimestampTz,
        Rule::BanCharField,
        Rule::RequireTimeoutSettings,
        Rule::TransactionNesting,
        Rule::BanUncommittedTransaction,
        Rule::RequireLockTimeout,
        Rule::RequireStatementTimeout,
        Rule::RequireTableSchema,
    ];
    let mut linter = Linter::with_rules(&[], &style);
    let mut found: Vec<Finding> = linter
        .lint(&file, sql)
        .into_iter()
        .map(|v| Finding {
            rule: v.code.to_string(),
            message: v.message,
            help: v.help,
        })
        .collect();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlparse::parse_one;

    fn st(sql: &str) -> Vec<Step> {
        steps(&parse_one(sql).unwrap()).unwrap()
    }

    #[test]
    fn lock_conflicts_follow_the_documentation() {
        use LockMode::*;
        assert!(
            AccessShare.conflicts_with(AccessExclusive) && !AccessShare.conflicts_with(Exclusive)
        );
        assert!(RowExclusive.conflicts_with(Share) && !RowExclusive.conflicts_with(RowExclusive));
        assert!(ShareUpdateExclusive.conflicts_with(ShareUpdateExclusive));
        assert!(!Share.conflicts_with(Share) && Share.conflicts_with(RowExclusive));
        assert!(ShareRowExclusive.conflicts_with(ShareRowExclusive));
        assert!(RowShare.conflicts_with(Exclusive) && !RowShare.conflicts_with(ShareRowExclusive));
        assert_eq!(
            LockMode::from_pg("ShareUpdateExclusiveLock"),
            Some(ShareUpdateExclusive)
        );
        assert_eq!(
            LockMode::from_pg("AccessExclusiveLock"),
            Some(AccessExclusive)
        );
    }

    #[test]
    fn index_builds() {
        let s = st("CREATE INDEX invoice_total_idx ON invoice (total)");
        assert_eq!((s[0].lock, s[0].scans), (LockMode::Share, true));
        assert_eq!(
            s[0].inverse,
            Inverse::Sql("DROP INDEX invoice_total_idx".into())
        );
        let s = st("CREATE INDEX CONCURRENTLY i ON invoice (total)");
        assert_eq!(s[0].lock, LockMode::ShareUpdateExclusive);
        assert!(needs_own_transaction(
            "create index concurrently i on t (a)"
        ));
        assert!(!needs_own_transaction("CREATE INDEX i ON t (a)"));
    }

    #[test]
    fn alter_table_steps() {
        let s = st("ALTER TABLE t ADD COLUMN c int DEFAULT random(), ADD COLUMN d timestamptz DEFAULT now(), ALTER COLUMN e TYPE bigint, \
                    ALTER COLUMN f SET NOT NULL, ADD CONSTRAINT g FOREIGN KEY (x) REFERENCES p (id) NOT VALID, DROP COLUMN h, RENAME COLUMN i TO j");
        let got: Vec<(&str, LockMode, bool, bool, bool)> = s
            .iter()
            .map(|s| {
                (
                    s.table.as_str(),
                    s.lock,
                    s.rewrites,
                    s.scans,
                    s.destroys_data,
                )
            })
            .collect();
        use LockMode::*;
        assert_eq!(
            got,
            vec![
                ("t", AccessExclusive, true, false, false),
                ("t", AccessExclusive, false, false, false),
                ("t", AccessExclusive, true, false, false),
                ("t", AccessExclusive, false, true, false),
                ("t", ShareRowExclusive, false, false, false),
                ("p", ShareRowExclusive, false, false, false),
                ("t", AccessExclusive, false, false, true),
                ("t", AccessExclusive, false, false, false),
            ]
        );
        assert_eq!(
            s[0].inverse,
            Inverse::Sql("ALTER TABLE t DROP COLUMN c".into())
        );
        assert_eq!(
            s[2].inverse,
            Inverse::ColumnType {
                table: "t".into(),
                column: "e".into()
            }
        );
        assert!(matches!(s[6].inverse, Inverse::Irreversible(_)));
        assert_eq!(
            s[7].inverse,
            Inverse::Sql("ALTER TABLE t RENAME COLUMN j TO i".into())
        );
        let r = st("ALTER TABLE app.t RENAME TO u");
        assert_eq!(
            r[0].inverse,
            Inverse::Sql("ALTER TABLE app.u RENAME TO t".into())
        );
    }

    #[test]
    fn drops() {
        let s = st("DROP TABLE a, b");
        assert_eq!(s.len(), 2);
        assert!(s
            .iter()
            .all(|s| s.destroys_data && s.lock == LockMode::AccessExclusive));
        assert_eq!(
            st("DROP INDEX i")[0].inverse,
            Inverse::Index { name: "i".into() }
        );
        assert!(steps(&parse_one("GRANT SELECT ON t TO r").unwrap()).is_none());
    }

    #[test]
    fn the_linter_names_its_rules() {
        let rules = |sql: &str| lint(sql).into_iter().map(|f| f.rule).collect::<Vec<_>>();
        assert!(rules("CREATE INDEX i ON t (a)")
            .contains(&"require-concurrent-index-creation".to_string()));
        assert!(rules("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)")
            .contains(&"constraint-missing-not-valid".to_string()));
        assert!(rules("ALTER TABLE t ALTER COLUMN a TYPE bigint")
            .contains(&"changing-column-type".to_string()));
        assert!(rules("ALTER TABLE t DROP COLUMN a").contains(&"ban-drop-column".to_string()));
        assert!(rules("CREATE INDEX CONCURRENTLY i ON t (a)").is_empty());
    }
}
