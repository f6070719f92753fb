//! The allow list: given what PostgreSQL's analyser found in a statement (its kind, every
//! function and every relation, each resolved to an OID), whether ai_architect may run it for
//! someone. Plain Rust: the facts come from [`super::analyse`], the lists from the caller.
//!
//! A statement written by someone else (a model, a stored sample, a workload statement) may:
//! - call built-in functions (OID below 16384, FirstNormalObjectId) that are IMMUTABLE or
//!   STABLE, except those in [`DENIED_BUILTINS`] and in `ai.denied_functions`;
//! - call the few VOLATILE built-ins in [`HARMLESS_VOLATILE`];
//! - call any other function only when an admin listed it in `ai.allowed_functions`;
//! - read user tables, views, materialized views and foreign tables (the executor checks the
//!   caller's SELECT privilege), and system relations only from [`SYSTEM_RELATIONS`] (the
//!   functions and catalogs inside an allowed system view are PostgreSQL's, not checked);
//! - be exactly one plain SELECT: no data-modifying WITH, no row locks, no SELECT INTO.

/// Objects with OIDs below this were created by initdb (PostgreSQL's FirstNormalObjectId).
pub const FIRST_NORMAL_OID: u32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    pub fn from_provolatile(c: u8) -> Volatility {
        match c {
            b'i' => Volatility::Immutable,
            b's' => Volatility::Stable,
            _ => Volatility::Volatile,
        }
    }
}

/// A function the statement calls (directly, through an operator, a cast, a domain's CHECK,
/// an aggregate, a window, a sort or grouping operator, a view's body or a row-level policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `name(argtypes)`, as regprocedure prints it
    pub signature: String,
    pub volatility: Volatility,
    /// how it was reached, for the refusal ("operator", "cast", "domain check", ...)
    pub via: &'static str,
}

impl Function {
    pub fn builtin(&self) -> bool {
        self.oid < FIRST_NORMAL_OID
    }
}

/// A relation the statement names (inside the bodies of allowed system views: not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// pg_class.relkind
    pub kind: char,
}

impl Relation {
    pub fn builtin(&self) -> bool {
        self.oid < FIRST_NORMAL_OID
    }
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// What the statement is, as PostgreSQL's analyser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    /// anything else: DDL, SET, COPY, SELECT INTO (a CREATE TABLE AS), ...
    Utility,
}

impl Command {
    pub fn as_str(&self) -> &'static str {
        match self {
            Command::Select => "SELECT",
            Command::Insert => "INSERT",
            Command::Update => "UPDATE",
            Command::Delete => "DELETE",
            Command::Merge => "MERGE",
            Command::Utility => "a utility statement",
        }
    }
}

/// Everything the analysed and rewritten tree says about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub command: Command,
    /// the command tag PostgreSQL gives it (SELECT, CREATE TABLE AS, SET, ...)
    pub tag: String,
    pub functions: Vec<Function>,
    pub relations: Vec<Relation>,
    /// a WITH clause that writes
    pub modifying_cte: bool,
    /// FOR UPDATE / FOR SHARE anywhere
    pub row_locks: bool,
}

/// Built-in STABLE or IMMUTABLE functions that are refused anyway: each runs a query given
/// as text (which no analysis of the calling statement sees).
pub const DENIED_BUILTINS: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",
];

/// VOLATILE built-ins that only read a clock, a random source, a size or who blocks whom:
/// allowed (monitoring queries use the last two kinds).
pub const HARMLESS_VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_database_size",
    "pg_blocking_pids",
];

/// System relations generated SQL may read: the descriptive catalogs and views, never
/// pg_authid, pg_shadow, pg_user_mapping(s), pg_statistic(_ext_data) or pg_largeobject.
pub const SYSTEM_RELATIONS: &[&str] = &[
    // catalogs that describe the schema
    "pg_catalog.pg_namespace",
    "pg_catalog.pg_class",
    "pg_catalog.pg_attribute",
    "pg_catalog.pg_attrdef",
    "pg_catalog.pg_index",
    "pg_catalog.pg_constraint",
    "pg_catalog.pg_type",
    "pg_catalog.pg_enum",
    "pg_catalog.pg_proc",
    "pg_catalog.pg_description",
    "pg_catalog.pg_depend",
    "pg_catalog.pg_inherits",
    "pg_catalog.pg_trigger",
    "pg_catalog.pg_am",
    "pg_catalog.pg_opclass",
    "pg_catalog.pg_operator",
    "pg_catalog.pg_collation",
    "pg_catalog.pg_sequence",
    "pg_catalog.pg_extension",
    "pg_catalog.pg_database",
    "pg_catalog.pg_tablespace",
    "pg_catalog.pg_language",
    "pg_catalog.pg_cast",
    "pg_catalog.pg_partitioned_table",
    // views over them
    "pg_catalog.pg_tables",
    "pg_catalog.pg_views",
    "pg_catalog.pg_matviews",
    "pg_catalog.pg_indexes",
    "pg_catalog.pg_sequences",
    "pg_catalog.pg_roles",
    "pg_catalog.pg_user",
    "pg_catalog.pg_stats",
    "pg_catalog.pg_settings",
    "pg_catalog.pg_locks",
    "pg_catalog.pg_available_extensions",
    "pg_catalog.pg_prepared_statements",
    "pg_catalog.pg_cursors",
    // activity and statistics views (they show others' details only to privileged roles)
    "pg_catalog.pg_stat_activity",
    "pg_catalog.pg_stat_ssl",
    "pg_catalog.pg_stat_database",
    "pg_catalog.pg_stat_all_tables",
    "pg_catalog.pg_stat_user_tables",
    "pg_catalog.pg_stat_sys_tables",
    "pg_catalog.pg_stat_all_indexes",
    "pg_catalog.pg_stat_user_indexes",
    "pg_catalog.pg_statio_all_tables",
    "pg_catalog.pg_statio_user_tables",
    "pg_catalog.pg_statio_user_indexes",
    "pg_catalog.pg_stat_user_functions",
    "pg_catalog.pg_stat_bgwriter",
    "pg_catalog.pg_stat_progress_vacuum",
    "pg_catalog.pg_stat_progress_create_index",
];

/// The schema whose views are all readable (the SQL standard's own descriptive views).
pub const INFORMATION_SCHEMA: &str = "information_schema";

/// Whether a system relation is on the allow list (its body is then trusted as a unit).
pub fn system_relation_allowed(schema: &str, name: &str) -> bool {
    schema == INFORMATION_SCHEMA
        || SYSTEM_RELATIONS
            .iter()
            .any(|r| r.split_once('.') == Some((schema, name)))
}

/// The lists an admin controls, read from the database by the caller of [`check_select`].
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// `ai.denied_functions` patterns (lower case, a trailing `*` is a prefix)
    pub denied: Vec<String>,
    /// OIDs listed in `ai.allowed_functions`
    pub allowed: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only a SELECT may run, this is {0}")]
    NotASelect(String),
    #[error("a WITH clause that modifies data")]
    ModifyingCte,
    #[error("FOR UPDATE / FOR SHARE locks rows")]
    RowLocks,
    #[error("it calls {signature} ({via}), which is denied in ai.denied_functions")]
    DeniedByAdmin {
        signature: String,
        via: &'static str,
    },
    #[error("it calls {signature} ({via}), which runs SQL given as text")]
    RunsText {
        signature: String,
        via: &'static str,
    },
    #[error("it calls {signature} ({via}), a VOLATILE built-in function")]
    VolatileBuiltin {
        signature: String,
        via: &'static str,
    },
    #[error("it calls {signature} ({via}), a function that is not built in and not in ai.allowed_functions")]
    NotAllowed {
        signature: String,
        via: &'static str,
    },
    #[error("it reads {0}, a system relation generated SQL may not read")]
    SystemRelation(String),
}

impl Refusal {
    pub fn hint(&self) -> String {
        match self {
            Refusal::DeniedByAdmin { .. } => {
                "the extension owner removes the pattern from ai.denied_functions to allow it".into()
            }
            Refusal::NotAllowed { signature, .. } => format!(
                "if it is safe for everyone to run, the extension owner allows it: \
                 INSERT INTO ai.allowed_functions (func, reason) VALUES ('{signature}'::regprocedure, '...')"
            ),
            Refusal::RunsText { .. } | Refusal::VolatileBuiltin { .. } => {
                "built-in functions must be IMMUTABLE or STABLE (a few harmless VOLATILE ones, such as random() and clock_timestamp(), are allowed); see the README's threat model".into()
            }
            Refusal::SystemRelation(_) => {
                "system catalogs outside the documented list are never read for someone; an admin may expose what is safe through a view of their own".into()
            }
            _ => "only one read-only SELECT (or WITH ... SELECT) is ever run".into(),
        }
    }
}

fn matches(name: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// Whether one function may be called, under `lists`.
pub fn check_function(f: &Function, lists: &Lists) -> Result<(), Refusal> {
    let name = f.name.to_lowercase();
    if lists.denied.iter().any(|p| matches(&name, p)) {
        return Err(Refusal::DeniedByAdmin {
            signature: f.signature.clone(),
            via: f.via,
        });
    }
    if lists.allowed.contains(&f.oid) {
        return Ok(());
    }
    if !f.builtin() {
        return Err(Refusal::NotAllowed {
            signature: f.signature.clone(),
            via: f.via,
        });
    }
    if DENIED_BUILTINS.contains(&name.as_str()) {
        return Err(Refusal::RunsText {
            signature: f.signature.clone(),
            via: f.via,
        });
    }
    if f.volatility == Volatility::Volatile && !HARMLESS_VOLATILE.contains(&name.as_str()) {
        return Err(Refusal::VolatileBuiltin {
            signature: f.signature.clone(),
            via: f.via,
        });
    }
    Ok(())
}

/// Whether one relation may be read.
pub fn check_relation(r: &Relation) -> Result<(), Refusal> {
    if r.builtin() && !system_relation_allowed(&r.schema, &r.name) {
        return Err(Refusal::SystemRelation(r.qualified()));
    }
    Ok(())
}

/// Whether a statement written by someone else may run as a read-only query for the caller.
pub fn check_select(facts: &Facts, lists: &Lists) -> Result<(), Refusal> {
    if facts.command != Command::Select {
        return Err(Refusal::NotASelect(if facts.command == Command::Utility {
            facts.tag.clone()
        } else {
            facts.command.as_str().to_string()
        }));
    }
    if facts.modifying_cte {
        return Err(Refusal::ModifyingCte);
    }
    if facts.row_locks {
        return Err(Refusal::RowLocks);
    }
    check_calls(facts, lists)
}

/// Whether every relation a statement reads and every function it calls (views and policies
/// expanded) may be reached, whatever the statement's kind: what planning another role's
/// UPDATE or DELETE needs, since the planner folds IMMUTABLE calls.
pub fn check_calls(facts: &Facts, lists: &Lists) -> Result<(), Refusal> {
    for r in &facts.relations {
        check_relation(r)?;
    }
    for f in &facts.functions {
        check_function(f, lists)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(oid: u32, name: &str, v: Volatility) -> Function {
        Function {
            oid,
            schema: "pg_catalog".into(),
            name: name.into(),
            signature: format!("{name}()"),
            volatility: v,
            via: "call",
        }
    }

    fn facts(functions: Vec<Function>, relations: Vec<Relation>) -> Facts {
        Facts {
            command: Command::Select,
            tag: "SELECT".into(),
            functions,
            relations,
            modifying_cte: false,
            row_locks: false,
        }
    }

    #[test]
    fn builtins_by_volatility() {
        let l = Lists::default();
        assert!(check_function(&f(1, "upper", Volatility::Immutable), &l).is_ok());
        assert!(check_function(&f(2, "now", Volatility::Stable), &l).is_ok());
        assert!(check_function(&f(3, "random", Volatility::Volatile), &l).is_ok());
        assert!(matches!(
            check_function(&f(4, "pg_read_file", Volatility::Volatile), &l),
            Err(Refusal::VolatileBuiltin { .. })
        ));
        assert!(matches!(
            check_function(&f(5, "pg_notify", Volatility::Volatile), &l),
            Err(Refusal::VolatileBuiltin { .. })
        ));
        assert!(matches!(
            check_function(&f(6, "query_to_xml", Volatility::Stable), &l),
            Err(Refusal::RunsText { .. })
        ));
        assert!(matches!(
            check_function(&f(7, "ts_stat", Volatility::Volatile), &l),
            Err(Refusal::RunsText { .. })
        ));
    }

    #[test]
    fn user_functions_need_the_allow_list_and_the_deny_list_wins() {
        let evil = Function {
            schema: "public".into(),
            ..f(20000, "evil", Volatility::Immutable)
        };
        assert!(matches!(
            check_function(&evil, &Lists::default()),
            Err(Refusal::NotAllowed { .. })
        ));
        let allowed = Lists {
            allowed: vec![20000],
            ..Default::default()
        };
        assert!(check_function(&evil, &allowed).is_ok());
        let both = Lists {
            allowed: vec![20000],
            denied: vec!["ev*".into()],
        };
        assert!(matches!(
            check_function(&evil, &both),
            Err(Refusal::DeniedByAdmin { .. })
        ));
        // an admin can deny a built-in too
        let deny_upper = Lists {
            denied: vec!["upper".into()],
            ..Default::default()
        };
        assert!(check_function(&f(1, "UPPER", Volatility::Immutable), &deny_upper).is_err());
    }

    #[test]
    fn read_only_monitoring_is_allowed_on_purpose() {
        let l = Lists::default();
        for name in ["pg_blocking_pids", "pg_database_size"] {
            assert!(
                check_function(&f(9, name, Volatility::Volatile), &l).is_ok(),
                "{name}"
            );
        }
        let rel = |schema: &str, name: &str| Relation {
            oid: 12000,
            schema: schema.into(),
            name: name.into(),
            kind: 'v',
        };
        assert!(check_relation(&rel("pg_catalog", "pg_stat_ssl")).is_ok());
        // pg_group lists role memberships by OID: pg_roles is the documented view, and
        // pg_auth_members is not on the list either
        assert!(check_relation(&rel("pg_catalog", "pg_group")).is_err());
    }

    #[test]
    fn relations() {
        let rel = |oid, schema: &str, name: &str| Relation {
            oid,
            schema: schema.into(),
            name: name.into(),
            kind: 'r',
        };
        assert!(check_relation(&rel(30000, "public", "pg_authid")).is_ok());
        assert!(check_relation(&rel(1259, "pg_catalog", "pg_class")).is_ok());
        assert!(check_relation(&rel(12000, "information_schema", "tables")).is_ok());
        for secret in ["pg_authid", "pg_shadow", "pg_user_mappings", "pg_statistic"] {
            assert_eq!(
                check_relation(&rel(1260, "pg_catalog", secret)),
                Err(Refusal::SystemRelation(format!("pg_catalog.{secret}")))
            );
        }
    }

    #[test]
    fn statement_shape() {
        let l = Lists::default();
        assert!(check_select(&facts(vec![], vec![]), &l).is_ok());
        let mut x = facts(vec![], vec![]);
        x.command = Command::Utility;
        x.tag = "CREATE TABLE AS".into();
        assert_eq!(
            check_select(&x, &l),
            Err(Refusal::NotASelect("CREATE TABLE AS".into()))
        );
        let mut x = facts(vec![], vec![]);
        x.modifying_cte = true;
        assert_eq!(check_select(&x, &l), Err(Refusal::ModifyingCte));
        let mut x = facts(vec![], vec![]);
        x.row_locks = true;
        assert_eq!(check_select(&x, &l), Err(Refusal::RowLocks));
        let x = facts(vec![f(4, "pg_sleep", Volatility::Volatile)], vec![]);
        assert!(check_select(&x, &l).is_err());
    }

    #[test]
    fn refusals_say_how_to_allow() {
        let e = Refusal::NotAllowed {
            signature: "public.f(integer)".into(),
            via: "call",
        };
        assert!(e.hint().contains("ai.allowed_functions"));
        assert!(e.to_string().contains("public.f(integer)"));
    }
}
