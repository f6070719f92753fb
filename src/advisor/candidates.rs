//! What a query asks of each table it reads, and the btree indexes that could serve it.
//!
//! Plain Rust over the `sqlparser` AST: every SELECT block (CTEs, subqueries and derived
//! tables included) and the WHERE of an UPDATE or DELETE is read for equality and range
//! predicates, join keys, ORDER BY, GROUP BY and constant predicates (`deleted_at IS NULL`,
//! `NOT archived`, `status = 'active'`). Columns without a qualifier are resolved through a
//! caller-supplied lookup (the catalog), so the module stays free of PostgreSQL.
use crate::impact::statement::ident_name;
use crate::sqlparse::ident as quote;
use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, GroupByExpr, JoinConstraint, JoinOperator, ObjectName,
    ObjectNamePart, OrderByExpr, OrderByKind, OrderBySort, Query, Select, SelectItem, SetExpr,
    Statement, TableFactor, TableWithJoins, UnaryOperator, UpdateTableFromKind, Value, Visit,
    Visitor,
};
use std::ops::ControlFlow;

/// What one query block asks of one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableUse {
    /// The relation as written, folded like PostgreSQL folds it (`public.orders`, `orders`).
    pub table: String,
    pub eq: Vec<String>,
    pub range: Vec<String>,
    pub join: Vec<String>,
    pub order: Vec<(String, bool)>,
    pub group: Vec<String>,
    /// Every column of the table the block mentions (candidates for INCLUDE).
    pub referenced: Vec<String>,
    /// Predicates that do not depend on any parameter, with bare column names.
    pub constant: Vec<String>,
}

impl TableUse {
    /// Whether an index led by `column` could serve this use at all.
    pub fn mentions(&self, column: &str) -> bool {
        self.eq.iter().any(|c| c == column)
            || self.range.iter().any(|c| c == column)
            || self.join.iter().any(|c| c == column)
            || self.order.first().is_some_and(|(c, _)| c == column)
            || self.group.iter().any(|c| c == column)
    }
}

/// How a `$n` parameter is compared with a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamOp {
    Eq,
    /// `column > $n` (a lower bound)
    Lower,
    /// `column < $n` (an upper bound)
    Upper,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub n: usize,
    pub table: String,
    pub column: String,
    pub op: ParamOp,
}

#[derive(Debug, Clone, Default)]
pub struct QueryUses {
    pub uses: Vec<TableUse>,
    pub params: Vec<Param>,
}

impl QueryUses {
    pub fn tables(&self) -> Vec<String> {
        let mut t: Vec<String> = self.uses.iter().map(|u| u.table.clone()).collect();
        t.sort();
        t.dedup();
        t
    }
}

/// Folds a relation name as written (`Public.Orders` → `public.orders`).
pub fn relation_key(n: &ObjectName) -> String {
    n.0.iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => ident_name(i),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads every query block of `stmt`. `has_column(table, column)` resolves unqualified
/// columns when a block reads several tables.
pub fn analyse(stmt: &Statement, has_column: &dyn Fn(&str, &str) -> bool) -> QueryUses {
    let mut out = QueryUses::default();
    let mut ctes = Vec::new();
    let _ = stmt.visit(&mut CteNames(&mut ctes));
    let mut w = Walker {
        has_column,
        ctes: &ctes,
        out: &mut out,
    };
    match stmt {
        Statement::Update(u) => {
            let mut tables = vec![&u.table];
            if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) =
                &u.from
            {
                tables.extend(f.iter());
            }
            w.block(&tables, u.selection.as_ref(), &[], None, &[]);
        }
        Statement::Delete(d) => {
            let mut tables: Vec<&TableWithJoins> = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t.iter().collect(),
            };
            tables.extend(d.using.iter().flatten());
            w.block(&tables, d.selection.as_ref(), &[], None, &[]);
        }
        _ => {}
    }
    // every query (the statement's own, CTEs, subqueries, derived tables)
    let _ = stmt.visit(&mut QueryVisitor(&mut w));
    out
}

struct CteNames<'a>(&'a mut Vec<String>);
impl Visitor for CteNames<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(w) = &q.with {
            self.0
                .extend(w.cte_tables.iter().map(|c| ident_name(&c.alias.name)));
        }
        ControlFlow::Continue(())
    }
}

struct QueryVisitor<'w, 'a>(&'w mut Walker<'a>);
impl Visitor for QueryVisitor<'_, '_> {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let order: &[OrderByExpr] = match q.order_by.as_ref().map(|o| &o.kind) {
            Some(OrderByKind::Expressions(e)) => e,
            _ => &[],
        };
        self.0.set_expr(&q.body, order);
        ControlFlow::Continue(())
    }
}

struct Walker<'a> {
    has_column: &'a dyn Fn(&str, &str) -> bool,
    ctes: &'a [String],
    out: &'a mut QueryUses,
}

/// The tables of one block: alias (or bare name) → relation key.
struct Scope {
    tables: Vec<(String, String)>,
}

enum Side {
    Column(usize, String),
    /// free of this block's columns: a parameter, a literal, an outer reference...
    Free,
    /// uses columns of this block in an expression
    Mixed,
}

impl Walker<'_> {
    fn set_expr(&mut self, body: &SetExpr, order: &[OrderByExpr]) {
        match body {
            SetExpr::Select(s) => self.select(s, order),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, &[]);
                self.set_expr(right, &[]);
            }
            _ => {}
        }
    }

    fn select(&mut self, s: &Select, order: &[OrderByExpr]) {
        let tables: Vec<&TableWithJoins> = s.from.iter().collect();
        let group: &[Expr] = match &s.group_by {
            GroupByExpr::Expressions(e, _) => e,
            GroupByExpr::All(_) => &[],
        };
        self.block(
            &tables,
            s.selection.as_ref(),
            order,
            Some(&s.projection),
            group,
        );
    }

    fn block(
        &mut self,
        from: &[&TableWithJoins],
        selection: Option<&Expr>,
        order: &[OrderByExpr],
        projection: Option<&Vec<SelectItem>>,
        group: &[Expr],
    ) {
        let mut scope = Scope { tables: Vec::new() };
        let mut conds: Vec<&Expr> = Vec::new();
        for t in from {
            self.factor(&t.relation, &mut scope);
            for j in &t.joins {
                self.factor(&j.relation, &mut scope);
                if let Some(JoinConstraint::On(e)) = join_constraint(&j.join_operator) {
                    conds.push(e);
                }
            }
        }
        if scope.tables.is_empty() {
            return;
        }
        let first = self.out.uses.len();
        for (_, key) in &scope.tables {
            self.out.uses.push(TableUse {
                table: key.clone(),
                ..Default::default()
            });
        }
        conds.extend(selection);
        let mut conjuncts = Vec::new();
        for c in conds {
            split_and(c, &mut conjuncts);
        }
        for c in conjuncts {
            self.conjunct(c, &scope, first);
        }
        // ORDER BY / GROUP BY: only a list of plain columns of one table can come from an index
        let order_cols: Vec<(Side, bool)> = order
            .iter()
            .map(|o| {
                let desc = matches!(o.options.sort, Some(OrderBySort::Desc));
                (self.side(&o.expr, &scope), desc)
            })
            .collect();
        if let Some(t) = same_table(order_cols.iter().map(|(s, _)| s)) {
            self.out.uses[first + t].order = order_cols
                .into_iter()
                .filter_map(|(s, d)| match s {
                    Side::Column(_, c) => Some((c, d)),
                    _ => None,
                })
                .collect();
        }
        let group_cols: Vec<Side> = group.iter().map(|g| self.side(g, &scope)).collect();
        if let Some(t) = same_table(group_cols.iter()) {
            self.out.uses[first + t].group = group_cols
                .into_iter()
                .filter_map(|s| match s {
                    Side::Column(_, c) => Some(c),
                    _ => None,
                })
                .collect();
        }
        // every column mentioned anywhere in the block
        let mut mentioned: Vec<Vec<String>> = Vec::new();
        let mut exprs: Vec<&Expr> = Vec::new();
        if let Some(p) = projection {
            for item in p {
                match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                        exprs.push(e)
                    }
                    // `*` reads every column: an index cannot cover it
                    _ => mentioned.push(vec!["*".to_string()]),
                }
            }
        }
        exprs.extend(selection);
        exprs.extend(order.iter().map(|o| &o.expr));
        exprs.extend(group.iter());
        for e in exprs {
            let _ = e.visit(&mut Columns(&mut mentioned));
        }
        for parts in mentioned {
            if parts.len() == 1 && parts[0] == "*" {
                for u in &mut self.out.uses[first..] {
                    push(&mut u.referenced, "*");
                }
                continue;
            }
            if let Some((t, c)) = self.resolve(&parts, &scope) {
                push(&mut self.out.uses[first + t].referenced, &c);
            }
        }
    }

    fn factor(&mut self, f: &TableFactor, scope: &mut Scope) {
        if let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = f
        {
            let key = relation_key(name);
            if self.ctes.contains(&key) {
                return;
            }
            let visible = match alias {
                Some(a) => ident_name(&a.name),
                None => key.rsplit('.').next().unwrap_or(&key).to_string(),
            };
            scope.tables.push((visible, key));
        }
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = f
        {
            self.factor(&table_with_joins.relation, scope);
            for j in &table_with_joins.joins {
                self.factor(&j.relation, scope);
            }
        }
    }

    fn resolve(&self, parts: &[String], scope: &Scope) -> Option<(usize, String)> {
        match parts {
            [col] => {
                if scope.tables.len() == 1 {
                    return (self.has_column)(&scope.tables[0].1, col).then(|| (0, col.clone()));
                }
                scope
                    .tables
                    .iter()
                    .position(|(_, key)| (self.has_column)(key, col))
                    .map(|t| (t, col.clone()))
            }
            [.., qual, col] => scope
                .tables
                .iter()
                .position(|(vis, key)| {
                    vis == qual || key == qual || key.ends_with(&format!(".{qual}"))
                })
                .map(|t| (t, col.clone())),
            [] => None,
        }
    }

    fn side(&self, e: &Expr, scope: &Scope) -> Side {
        match e {
            Expr::Nested(inner) => self.side(inner, scope),
            Expr::Identifier(i) => match self.resolve(&[ident_name(i)], scope) {
                Some((t, c)) => Side::Column(t, c),
                None => Side::Free,
            },
            Expr::CompoundIdentifier(ids) => {
                let parts: Vec<String> = ids.iter().map(ident_name).collect();
                match self.resolve(&parts, scope) {
                    Some((t, c)) => Side::Column(t, c),
                    None => Side::Free,
                }
            }
            other => {
                let mut cols = Vec::new();
                let _ = other.visit(&mut Columns(&mut cols));
                if cols.iter().any(|p| self.resolve(p, scope).is_some()) {
                    Side::Mixed
                } else {
                    Side::Free
                }
            }
        }
    }

    fn conjunct(&mut self, e: &Expr, scope: &Scope, first: usize) {
        match e {
            Expr::Nested(inner) => self.conjunct(inner, scope, first),
            Expr::BinaryOp { left, op, right } => {
                let (l, r) = (self.side(left, scope), self.side(right, scope));
                let flipped = |op: &BinaryOperator| match op {
                    BinaryOperator::Lt => BinaryOperator::Gt,
                    BinaryOperator::LtEq => BinaryOperator::GtEq,
                    BinaryOperator::Gt => BinaryOperator::Lt,
                    BinaryOperator::GtEq => BinaryOperator::LtEq,
                    o => o.clone(),
                };
                match (l, r) {
                    (Side::Column(a, ca), Side::Column(b, cb)) if a != b => {
                        if *op == BinaryOperator::Eq {
                            push(&mut self.out.uses[first + a].join, &ca);
                            push(&mut self.out.uses[first + b].join, &cb);
                        }
                    }
                    (Side::Column(t, c), Side::Free) => {
                        self.compare(first + t, &c, op, right, scope)
                    }
                    (Side::Free, Side::Column(t, c)) => {
                        self.compare(first + t, &c, &flipped(op), left, scope)
                    }
                    _ => {}
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                if let Side::Column(t, c) = self.side(expr, scope) {
                    self.compare(first + t, &c, &BinaryOperator::GtEq, low, scope);
                    self.compare(first + t, &c, &BinaryOperator::LtEq, high, scope);
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                if let Side::Column(t, c) = self.side(expr, scope) {
                    push(&mut self.out.uses[first + t].eq, &c);
                    for item in list {
                        self.param(item, first + t, &c, ParamOp::Eq);
                    }
                }
            }
            Expr::InSubquery {
                expr,
                negated: false,
                ..
            } => {
                if let Side::Column(t, c) = self.side(expr, scope) {
                    push(&mut self.out.uses[first + t].eq, &c);
                }
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                if let Side::Column(t, c) = self.side(inner, scope) {
                    let what = if matches!(e, Expr::IsNull(_)) {
                        "IS NULL"
                    } else {
                        "IS NOT NULL"
                    };
                    push(
                        &mut self.out.uses[first + t].constant,
                        &format!("{} {what}", quote(&c)),
                    );
                }
            }
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                if let Side::Column(t, c) = self.side(e, scope) {
                    push(&mut self.out.uses[first + t].constant, &quote(&c));
                }
            }
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => {
                if let Side::Column(t, c) = self.side(expr, scope) {
                    push(
                        &mut self.out.uses[first + t].constant,
                        &format!("NOT {}", quote(&c)),
                    );
                }
            }
            _ => {}
        }
    }

    fn compare(&mut self, u: usize, col: &str, op: &BinaryOperator, other: &Expr, _s: &Scope) {
        match op {
            BinaryOperator::Eq => {
                push(&mut self.out.uses[u].eq, col);
                self.param(other, u, col, ParamOp::Eq);
                if let Some(lit) = literal(other) {
                    push(
                        &mut self.out.uses[u].constant,
                        &format!("{} = {lit}", quote(col)),
                    );
                }
            }
            BinaryOperator::Gt | BinaryOperator::GtEq => {
                push(&mut self.out.uses[u].range, col);
                self.param(other, u, col, ParamOp::Lower);
            }
            BinaryOperator::Lt | BinaryOperator::LtEq => {
                push(&mut self.out.uses[u].range, col);
                self.param(other, u, col, ParamOp::Upper);
            }
            _ => {}
        }
    }

    fn param(&mut self, e: &Expr, u: usize, col: &str, op: ParamOp) {
        let e = match e {
            Expr::Cast { expr, .. } => expr.as_ref(),
            Expr::Nested(inner) => inner.as_ref(),
            e => e,
        };
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse().ok()) {
                    let table = self.out.uses[u].table.clone();
                    if !self.out.params.iter().any(|q| q.n == n) {
                        self.out.params.push(Param {
                            n,
                            table,
                            column: col.to_string(),
                            op,
                        });
                    }
                }
            }
        }
    }
}

fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    use JoinOperator::*;
    match op {
        Join(c) | Inner(c) | Left(c) | LeftOuter(c) | Right(c) | RightOuter(c) | FullOuter(c)
        | Semi(c) | LeftSemi(c) | RightSemi(c) | Anti(c) | LeftAnti(c) | RightAnti(c) => Some(c),
        _ => None,
    }
}

fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(inner, out)
        }
        e => out.push(e),
    }
}

/// A literal constant (not a parameter), as SQL text.
fn literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) if !matches!(v.value, Value::Placeholder(_) | Value::Null) => {
            Some(v.to_string())
        }
        _ => None,
    }
}

fn same_table<'s>(mut sides: impl Iterator<Item = &'s Side>) -> Option<usize> {
    let mut table = None;
    for s in sides.by_ref() {
        match s {
            Side::Column(t, _) if table.is_none() || table == Some(*t) => table = Some(*t),
            _ => return None,
        }
    }
    table
}

struct Columns<'a>(&'a mut Vec<Vec<String>>);
impl Visitor for Columns<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            Expr::Identifier(i) => self.0.push(vec![ident_name(i)]),
            Expr::CompoundIdentifier(ids) => self.0.push(ids.iter().map(ident_name).collect()),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn push(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// A btree index that could serve a query.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Candidate {
    pub table: String,
    pub columns: Vec<String>,
    pub include: Vec<String>,
    pub predicate: Option<String>,
}

impl Candidate {
    fn new(table: &str, columns: Vec<String>) -> Candidate {
        Candidate {
            table: table.to_string(),
            columns,
            include: Vec::new(),
            predicate: None,
        }
    }

    /// `CREATE INDEX` text for `relation` (the table's qualified name), without a name.
    pub fn definition(&self, relation: &str) -> String {
        let mut s = format!(
            "ON {relation} USING btree ({})",
            self.columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !self.include.is_empty() {
            s.push_str(&format!(
                " INCLUDE ({})",
                self.include
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(p) = &self.predicate {
            s.push_str(&format!(" WHERE {p}"));
        }
        s
    }

    /// A stable name: the same candidate always gets the same name (at most 63 bytes).
    pub fn name(&self) -> String {
        use sha2::{Digest, Sha256};
        let bare = self.table.rsplit('.').next().unwrap_or(&self.table);
        let mut name = format!("{bare}_{}", self.columns.join("_"));
        if !self.include.is_empty() {
            name.push_str("_cov");
        }
        let tagged = !self.include.is_empty() || self.predicate.is_some() || name.len() > 55;
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let mut clean: String = clean.chars().take(50).collect();
        if tagged {
            let h = Sha256::digest(format!("{self:?}").as_bytes());
            clean.push_str(&format!("_{:02x}{:02x}{:02x}", h[0], h[1], h[2]));
        }
        if self.predicate.is_some() {
            clean.push_str("_part");
        }
        format!("{clean}_idx")
    }
}

/// Candidates for one table use, most specific first: single columns, equality columns
/// together, equality then one range column, equality then the ordering, join keys,
/// grouping, a covering variant (INCLUDE) and partial variants for constant predicates.
pub fn candidates(u: &TableUse) -> Vec<Candidate> {
    let t = &u.table;
    let mut out: Vec<Candidate> = Vec::new();
    let mut add = |c: Candidate| {
        if !c.columns.is_empty() && c.columns.len() <= 4 && !out.contains(&c) {
            out.push(c);
        }
    };
    let eq: Vec<String> = u.eq.iter().take(3).cloned().collect();
    for c in u.eq.iter().chain(&u.range).chain(&u.join) {
        add(Candidate::new(t, vec![c.clone()]));
    }
    if let Some((c, _)) = u.order.first() {
        add(Candidate::new(t, vec![c.clone()]));
    }
    if eq.len() >= 2 {
        add(Candidate::new(t, eq.clone()));
    }
    let mut best = eq.clone();
    if let Some(r) = u.range.iter().find(|r| !eq.contains(r)) {
        let mut cols = eq.clone();
        cols.push(r.clone());
        if !eq.is_empty() {
            add(Candidate::new(t, cols.clone()));
        }
        best = cols;
    } else if !u.order.is_empty() && !eq.is_empty() {
        let mut cols = eq.clone();
        cols.extend(
            u.order
                .iter()
                .map(|(c, _)| c.clone())
                .filter(|c| !eq.contains(c)),
        );
        add(Candidate::new(t, cols.clone()));
        best = cols;
    }
    if u.order.len() > 1 {
        add(Candidate::new(
            t,
            u.order.iter().map(|(c, _)| c.clone()).collect(),
        ));
    }
    for j in &u.join {
        if !eq.is_empty() && !eq.contains(j) {
            let mut cols = eq.clone();
            cols.push(j.clone());
            add(Candidate::new(t, cols));
        }
    }
    if !u.group.is_empty() && u.group.len() <= 3 {
        add(Candidate::new(t, u.group.clone()));
    }
    if best.is_empty() {
        best = u
            .join
            .first()
            .or(u.range.first())
            .cloned()
            .into_iter()
            .collect();
    }
    // covering: the key plus every other column the block reads, when that is a few
    if !best.is_empty() && !u.referenced.iter().any(|c| c == "*") {
        let include: Vec<String> = u
            .referenced
            .iter()
            .filter(|c| !best.contains(c))
            .cloned()
            .collect();
        if !include.is_empty() && include.len() <= 4 {
            let mut c = Candidate::new(t, best.clone());
            c.include = include;
            add(c);
        }
    }
    // partial: constant predicates move into WHERE, the key is what remains
    for p in &u.constant {
        let key: Vec<String> = best
            .iter()
            .filter(|c| !p.starts_with(&format!("{} ", quote(c))) && p != &quote(c))
            .cloned()
            .collect();
        let key = if key.is_empty() {
            u.order.iter().map(|(c, _)| c.clone()).take(2).collect()
        } else {
            key
        };
        if !key.is_empty() {
            let mut c = Candidate::new(t, key);
            c.predicate = Some(p.clone());
            add(c);
        }
    }
    out
}

/// An index that exists: key columns, INCLUDE columns, predicate (normalised text).
#[derive(Debug, Clone)]
pub struct Existing {
    pub columns: Vec<String>,
    pub include: Vec<String>,
    pub partial: bool,
}

/// Whether an existing index already does what `c` would: same or longer key prefix, the
/// INCLUDE columns available, and no predicate that limits it (for a partial candidate, any
/// index with that prefix is enough).
pub fn covered(c: &Candidate, existing: &[Existing]) -> bool {
    existing.iter().any(|e| {
        !e.partial
            && e.columns.len() >= c.columns.len()
            && e.columns[..c.columns.len()] == c.columns[..]
            && c.include
                .iter()
                .all(|i| e.columns.contains(i) || e.include.contains(i))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(sql: &str) -> QueryUses {
        let stmt = crate::sqlparse::parse_one(sql).unwrap();
        let cols = |t: &str, c: &str| match t {
            "orders" => ["id", "customer_id", "status", "created_at", "total"].contains(&c),
            "customers" => ["id", "country", "name"].contains(&c),
            _ => false,
        };
        analyse(&stmt, &cols)
    }

    #[test]
    fn equality_range_and_order() {
        let q = uses(
            "SELECT id, total FROM orders WHERE customer_id = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT $3",
        );
        let u = &q.uses[0];
        assert_eq!(u.table, "orders");
        assert_eq!(u.eq, vec!["customer_id"]);
        assert_eq!(u.range, vec!["created_at"]);
        assert_eq!(u.order, vec![("created_at".to_string(), true)]);
        assert_eq!(
            q.params,
            vec![
                Param {
                    n: 1,
                    table: "orders".into(),
                    column: "customer_id".into(),
                    op: ParamOp::Eq
                },
                Param {
                    n: 2,
                    table: "orders".into(),
                    column: "created_at".into(),
                    op: ParamOp::Lower
                },
            ]
        );
        let c = candidates(u);
        let cols: Vec<Vec<String>> = c.iter().map(|c| c.columns.clone()).collect();
        assert!(
            cols.contains(&vec!["customer_id".to_string(), "created_at".to_string()]),
            "{cols:?}"
        );
        let cov = c.iter().find(|c| !c.include.is_empty()).unwrap();
        assert_eq!(cov.columns, vec!["customer_id", "created_at"]);
        assert_eq!(cov.include, vec!["id", "total"]);
    }

    #[test]
    fn joins_resolve_unqualified_columns_and_aliases() {
        let q = uses(
            "SELECT c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id
              WHERE country = $1 AND o.status IN ($2, $3) GROUP BY c.name",
        );
        let c = q.uses.iter().find(|u| u.table == "customers").unwrap();
        let o = q.uses.iter().find(|u| u.table == "orders").unwrap();
        assert_eq!(c.join, vec!["id"]);
        assert_eq!(c.eq, vec!["country"]);
        assert_eq!(c.group, vec!["name"]);
        assert_eq!(o.join, vec!["customer_id"]);
        assert_eq!(o.eq, vec!["status"]);
        assert_eq!(q.params.len(), 3);
    }

    #[test]
    fn subqueries_ctes_and_dml_are_read() {
        let q = uses(
            "WITH big AS (SELECT customer_id FROM orders WHERE total > $1)
             SELECT * FROM customers WHERE id IN (SELECT customer_id FROM big) AND EXISTS
               (SELECT 1 FROM orders o WHERE o.customer_id = customers.id AND o.status = $2)",
        );
        let tables: Vec<&str> = q.uses.iter().map(|u| u.table.as_str()).collect();
        assert!(!tables.contains(&"big"), "{tables:?}");
        assert!(q
            .uses
            .iter()
            .any(|u| u.table == "orders" && u.range == vec!["total"]));
        assert!(q
            .uses
            .iter()
            .any(|u| u.table == "orders" && u.eq.contains(&"customer_id".to_string())));
        let d = uses("DELETE FROM orders WHERE status = $1 AND created_at < $2");
        assert_eq!(d.uses[0].eq, vec!["status"]);
        assert_eq!(d.uses[0].range, vec!["created_at"]);
        assert_eq!(d.params[1].op, ParamOp::Upper);
    }

    #[test]
    fn constant_predicates_give_partial_candidates() {
        let q = uses("SELECT id FROM orders WHERE status = 'open' AND customer_id = $1");
        let c = candidates(&q.uses[0]);
        let p = c.iter().find(|c| c.predicate.is_some()).unwrap();
        assert_eq!(p.predicate.as_deref(), Some("status = 'open'"));
        assert_eq!(p.columns, vec!["customer_id"]);
        assert!(p
            .definition("public.orders")
            .ends_with("WHERE status = 'open'"));
        let q = uses("SELECT id FROM orders WHERE total IS NULL ORDER BY created_at");
        let c = candidates(&q.uses[0]);
        assert!(c
            .iter()
            .any(|c| c.predicate.as_deref() == Some("total IS NULL")
                && c.columns == vec!["created_at"]));
    }

    #[test]
    fn names_are_stable_and_short() {
        let a = Candidate::new(
            "public.orders",
            vec!["customer_id".into(), "created_at".into()],
        );
        assert_eq!(a.name(), "orders_customer_id_created_at_idx");
        assert_eq!(a.name(), a.clone().name());
        let mut b = a.clone();
        b.predicate = Some("total IS NULL".into());
        assert_ne!(a.name(), b.name());
        let long = Candidate::new(
            "t",
            (0..4)
                .map(|i| format!("a_very_long_column_name_{i}"))
                .collect(),
        );
        assert!(long.name().len() <= 63, "{}", long.name());
        assert_eq!(quote("Order"), "\"Order\"");
        assert_eq!(quote("order"), "\"order\"");
    }

    #[test]
    fn existing_prefixes_cover_candidates() {
        let e = vec![Existing {
            columns: vec!["a".into(), "b".into()],
            include: vec!["c".into()],
            partial: false,
        }];
        let mut c = Candidate::new("t", vec!["a".into()]);
        assert!(covered(&c, &e));
        c.include = vec!["c".into()];
        assert!(covered(&c, &e));
        c.include = vec!["d".into()];
        assert!(!covered(&c, &e));
        assert!(!covered(&Candidate::new("t", vec!["b".into()]), &e));
    }
}
