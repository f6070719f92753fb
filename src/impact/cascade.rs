//! The foreign-key cascade walk: which child rows a DELETE or UPDATE reaches, through which
//! constraint, with which action, and the read-only SQL that counts them exactly.
//!
//! Plain Rust over the FK graph (edges from pg_constraint); the row sets are SQL text built
//! from quoted identifiers and the statement's own row-selecting query, nested level by level.
use crate::sqlparse::quoted;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cascade,
    SetNull,
    SetDefault,
    Restrict,
    NoAction,
}

impl Action {
    /// From pg_constraint.confdeltype / confupdtype.
    pub fn from_pg(c: char) -> Option<Action> {
        match c {
            'c' => Some(Action::Cascade),
            'n' => Some(Action::SetNull),
            'd' => Some(Action::SetDefault),
            'r' => Some(Action::Restrict),
            'a' => Some(Action::NoAction),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Cascade => "CASCADE",
            Action::SetNull => "SET NULL",
            Action::SetDefault => "SET DEFAULT",
            Action::Restrict => "RESTRICT",
            Action::NoAction => "NO ACTION",
        }
    }

    /// RESTRICT and NO ACTION make the statement fail when any child row matches.
    pub fn blocks(&self) -> bool {
        matches!(self, Action::Restrict | Action::NoAction)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    pub schema: String,
    pub name: String,
}

impl Table {
    pub fn new(schema: &str, name: &str) -> Table {
        Table {
            schema: schema.into(),
            name: name.into(),
        }
    }
    pub fn qualified(&self) -> String {
        format!("{}.{}", quoted(&self.schema), quoted(&self.name))
    }
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// One foreign key: `child(child_cols) REFERENCES parent(parent_cols)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub constraint: String,
    pub parent: Table,
    pub parent_cols: Vec<String>,
    pub child: Table,
    pub child_cols: Vec<String>,
    pub on_delete: Action,
    pub on_update: Action,
}

/// What happens to the rows of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Delete,
    /// an UPDATE that changes these columns
    Update(Vec<String>),
}

/// One step of the cascade tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub constraint: String,
    pub table: Table,
    pub action: Action,
    /// what the action does to the child rows: delete, update (SET NULL/DEFAULT, ON UPDATE
    /// CASCADE), or nothing because it blocks
    pub effect: &'static str,
    pub depth: u32,
    /// the edge leads back to a table already on this path (a cycle or a self-reference):
    /// the walk stops there
    pub cycle: bool,
    /// the child's foreign-key columns (those SET NULL / SET DEFAULT / ON UPDATE CASCADE write)
    pub fk_cols: Vec<String>,
    /// `SELECT c.* FROM child AS c WHERE …`: the child rows reached
    pub rows_sql: String,
    /// the same rows as `(tableoid, ctid)`: their identity, to count rows reached by several
    /// paths once
    pub ids_sql: String,
    pub children: Vec<Node>,
}

/// The rows of `table` (alias `c`) that satisfy `pred`.
fn select_rows(table: &Table, what: &str, pred: &str) -> String {
    format!("SELECT {what} FROM {} AS c WHERE {pred}", table.qualified())
}

/// What identifies a row of a table, partitions included: `(tableoid, ctid)`.
pub const ROW_IDENTITY: &str = "c.tableoid, c.ctid";

#[cfg(test)]
impl Node {
    /// SQL that counts the rows this step reaches.
    pub fn count_sql(&self) -> String {
        format!("SELECT count(*) FROM ({}) AS reached", self.rows_sql)
    }
}

/// `"x", "y"`, or with an alias `a."x", a."y"`: quoted column names.
pub fn column_list(alias: Option<&str>, names: &[String]) -> String {
    names
        .iter()
        .map(|c| match alias {
            Some(a) => format!("{a}.{}", quoted(c)),
            None => quoted(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One table on the path from the target to the current node.
struct Step {
    table: Table,
    rows_sql: String,
    deleted: bool,
}

/// The cascade tree of `op` on the rows of `target` selected by `rows_sql` (a query returning
/// whole rows of `target`, e.g. `SELECT * FROM "public"."customer" WHERE country = 'France'`).
///
/// Cycles: an edge back to a table already on the path reaches only rows that the path does
/// not already delete; a self-referencing ON DELETE CASCADE reaches the whole subtree
/// (a recursive query over the key) and the walk goes on from there.
pub fn walk(target: &Table, op: &Op, rows_sql: &str, edges: &[Edge]) -> Vec<Node> {
    let mut path = vec![Step {
        table: target.clone(),
        rows_sql: rows_sql.to_string(),
        deleted: *op == Op::Delete,
    }];
    walk_from(target, op, rows_sql, edges, 1, &mut path, None)
}

/// `(a."x", a."y") = (b."p", b."q")` as `a."x" = b."p" AND a."y" = b."q"`
fn join_on(a: &str, acols: &[String], b: &str, bcols: &[String]) -> String {
    acols
        .iter()
        .zip(bcols)
        .map(|(x, y)| format!("{a}.{} = {b}.{}", quoted(x), quoted(y)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn walk_from(
    parent: &Table,
    op: &Op,
    parent_rows: &str,
    edges: &[Edge],
    depth: u32,
    path: &mut Vec<Step>,
    skip: Option<&str>,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for e in edges
        .iter()
        .filter(|e| &e.parent == parent && Some(e.constraint.as_str()) != skip)
    {
        let action = match op {
            Op::Delete => e.on_delete,
            Op::Update(changed) => {
                if !e.parent_cols.iter().any(|c| changed.contains(c)) {
                    continue; // the referenced key does not change: this FK is not involved
                }
                e.on_update
            }
        };
        let (effect, next) = match (op, action) {
            (_, a) if a.blocks() => ("blocks", None),
            (Op::Delete, Action::Cascade) => ("delete", Some(Op::Delete)),
            (_, _) => ("update", Some(Op::Update(e.child_cols.clone()))),
        };
        let mut pred = format!(
            "({}) IN (SELECT {} FROM ({}) AS p)",
            column_list(Some("c"), &e.child_cols),
            column_list(Some("p"), &e.parent_cols),
            parent_rows
        );
        let earlier = path.iter().rposition(|s| s.table == e.child);
        let cycle = earlier.is_some();
        let self_cascade = e.child == e.parent && effect == "delete";
        if self_cascade {
            // the whole subtree: rows referencing the deleted rows, recursively, by key
            pred = format!(
                "({k}) IN (WITH RECURSIVE reach AS (SELECT {k} FROM {t} AS c WHERE ({fk}) IN (SELECT {pk} FROM ({parent_rows}) AS p) \
                 UNION SELECT {k} FROM {t} AS c JOIN reach AS r ON {on}) SELECT * FROM reach)",
                k = column_list(Some("c"), &e.parent_cols),
                t = e.child.qualified(),
                fk = column_list(Some("c"), &e.child_cols),
                pk = column_list(Some("p"), &e.parent_cols),
                on = join_on("c", &e.child_cols, "r", &e.parent_cols),
            );
        }
        if let Some(k) = earlier {
            // rows the path already deletes are gone before this action reaches them; the
            // key of that table is the one the path's next edge (or this self-reference) used
            if path[k].deleted {
                let key = if e.child == e.parent {
                    Some(e.parent_cols.clone())
                } else {
                    key_after(path, k, edges)
                };
                if let Some(key) = key {
                    pred = format!(
                        "{pred} AND ({}) NOT IN (SELECT {} FROM ({}) AS x)",
                        column_list(Some("c"), &key),
                        column_list(Some("x"), &key),
                        path[k].rows_sql
                    );
                }
            }
        }
        let rows_sql = select_rows(&e.child, "c.*", &pred);
        let ids_sql = select_rows(&e.child, ROW_IDENTITY, &pred);
        let children = match next {
            Some(next) if !cycle => {
                path.push(Step {
                    table: e.child.clone(),
                    rows_sql: rows_sql.clone(),
                    deleted: next == Op::Delete,
                });
                let c = walk_from(&e.child, &next, &rows_sql, edges, depth + 1, path, None);
                path.pop();
                c
            }
            // the subtree of a self-reference goes on to the other children of its rows
            Some(next) if self_cascade => {
                path.push(Step {
                    table: e.child.clone(),
                    rows_sql: rows_sql.clone(),
                    deleted: true,
                });
                let c = walk_from(
                    &e.child,
                    &next,
                    &rows_sql,
                    edges,
                    depth + 1,
                    path,
                    Some(&e.constraint),
                );
                path.pop();
                c
            }
            _ => Vec::new(),
        };
        nodes.push(Node {
            constraint: e.constraint.clone(),
            table: e.child.clone(),
            action,
            effect,
            depth,
            cycle,
            fk_cols: e.child_cols.clone(),
            rows_sql,
            ids_sql,
            children,
        });
    }
    nodes
}

/// The key columns of `path[k]`'s table: those the edge leaving it along the path references.
fn key_after(path: &[Step], k: usize, edges: &[Edge]) -> Option<Vec<String>> {
    let next = path.get(k + 1)?;
    edges
        .iter()
        .find(|e| e.parent == path[k].table && e.child == next.table)
        .map(|e| e.parent_cols.clone())
}

/// The deepest level the tree reaches (0: no cascade).
#[cfg(test)]
pub fn depth(nodes: &[Node]) -> u32 {
    nodes
        .iter()
        .map(|n| n.depth.max(depth(&n.children)))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(
        name: &str,
        parent: &str,
        pcol: &str,
        child: &str,
        ccol: &str,
        del: Action,
        upd: Action,
    ) -> Edge {
        Edge {
            constraint: name.into(),
            parent: Table::new("public", parent),
            parent_cols: vec![pcol.into()],
            child: Table::new("public", child),
            child_cols: vec![ccol.into()],
            on_delete: del,
            on_update: upd,
        }
    }

    fn shop() -> Vec<Edge> {
        use Action::*;
        vec![
            edge(
                "invoice_customer_fk",
                "customer",
                "id",
                "invoice",
                "customer_id",
                Cascade,
                Cascade,
            ),
            edge(
                "line_invoice_fk",
                "invoice",
                "id",
                "invoice_line",
                "invoice_id",
                Cascade,
                NoAction,
            ),
            edge(
                "ticket_customer_fk",
                "customer",
                "id",
                "ticket",
                "customer_id",
                SetNull,
                NoAction,
            ),
            edge(
                "note_invoice_fk",
                "invoice",
                "id",
                "note",
                "invoice_id",
                Restrict,
                Restrict,
            ),
            edge(
                "employee_manager_fk",
                "employee",
                "id",
                "employee",
                "manager_id",
                Cascade,
                NoAction,
            ),
        ]
    }

    #[test]
    fn delete_follows_cascades_and_stops_at_blockers() {
        let root = Table::new("public", "customer");
        let t = walk(
            &root,
            &Op::Delete,
            "SELECT * FROM \"public\".\"customer\" WHERE id = 7",
            &shop(),
        );
        assert_eq!(t.len(), 2);
        let invoice = &t[0];
        assert_eq!(
            (invoice.table.name.as_str(), invoice.effect, invoice.depth),
            ("invoice", "delete", 1)
        );
        let kids: Vec<(&str, &str, u32)> = invoice
            .children
            .iter()
            .map(|n| (n.table.name.as_str(), n.effect, n.depth))
            .collect();
        assert_eq!(
            kids,
            vec![("invoice_line", "delete", 2), ("note", "blocks", 2)]
        );
        let ticket = &t[1];
        assert_eq!((ticket.action, ticket.effect), (Action::SetNull, "update"));
        assert_eq!(depth(&t), 2);
    }

    #[test]
    fn counting_sql_nests_level_by_level() {
        let root = Table::new("public", "customer");
        let t = walk(
            &root,
            &Op::Delete,
            "SELECT * FROM \"public\".\"customer\" WHERE id = 7",
            &shop(),
        );
        assert_eq!(
            t[0].children[0].count_sql(),
            "SELECT count(*) FROM (SELECT c.* FROM \"public\".\"invoice_line\" AS c WHERE (c.\"invoice_id\") IN \
             (SELECT p.\"id\" FROM (SELECT c.* FROM \"public\".\"invoice\" AS c WHERE (c.\"customer_id\") IN \
             (SELECT p.\"id\" FROM (SELECT * FROM \"public\".\"customer\" WHERE id = 7) AS p)) AS p)) AS reached"
        );
    }

    #[test]
    fn update_follows_only_changed_keys() {
        let root = Table::new("public", "customer");
        // changing a non-key column reaches nothing
        assert!(walk(
            &root,
            &Op::Update(vec!["email".into()]),
            "SELECT 1",
            &shop()
        )
        .is_empty());
        // changing the key: ON UPDATE CASCADE rewrites invoice.customer_id; invoice's own key
        // does not change, so the walk stops there; the ticket FK blocks (NO ACTION)
        let t = walk(&root, &Op::Update(vec!["id".into()]), "SELECT 1", &shop());
        let got: Vec<(&str, &str, usize)> = t
            .iter()
            .map(|n| (n.table.name.as_str(), n.effect, n.children.len()))
            .collect();
        assert_eq!(got, vec![("invoice", "update", 0), ("ticket", "blocks", 0)]);
    }

    #[test]
    fn self_references_and_cycles_stop() {
        let root = Table::new("public", "employee");
        let t = walk(&root, &Op::Delete, "SELECT 1", &shop());
        assert_eq!(t.len(), 1);
        assert!(t[0].cycle && t[0].children.is_empty());
        // a self-referencing cascade reaches the whole subtree, minus the rows deleted already
        assert!(
            t[0].rows_sql.starts_with(
                "SELECT c.* FROM \"public\".\"employee\" AS c WHERE (c.\"id\") IN (WITH RECURSIVE reach AS ("
            ),
            "{}",
            t[0].rows_sql
        );
        assert!(t[0].ids_sql.starts_with("SELECT c.tableoid, c.ctid FROM"));
        assert!(
            t[0].rows_sql
                .ends_with("NOT IN (SELECT x.\"id\" FROM (SELECT 1) AS x)"),
            "{}",
            t[0].rows_sql
        );
        use Action::*;
        let ring = vec![
            edge("a_b", "a", "id", "b", "a_id", Cascade, NoAction),
            edge("b_a", "b", "id", "a", "b_id", Cascade, NoAction),
        ];
        let t = walk(&Table::new("public", "a"), &Op::Delete, "SELECT 1", &ring);
        assert_eq!(t[0].children.len(), 1);
        assert!(t[0].children[0].cycle);
        assert_eq!(depth(&t), 2);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quoted("Weird\"Name"), "\"Weird\"\"Name\"");
        assert_eq!(
            Table::new("my schema", "t").qualified(),
            "\"my schema\".\"t\""
        );
        assert_eq!(Action::from_pg('n'), Some(Action::SetNull));
        assert!(Action::NoAction.blocks() && !Action::Cascade.blocks());
    }
}
