//! The measures a question names after its subject ("top 5 customers by total spent"), a
//! column named with its table ("by client sector"), and whether a column has one value per
//! row of the subject: the helpers composition asks about what was linked.
use super::*;

impl Analysis<'_> {
    /// "by number of invoices", "by total spent", "by unit price" after a top-N.
    pub(super) fn measure_after(
        &mut self,
        b: usize,
        subject: usize,
        named: &[usize],
    ) -> Option<Measure> {
        if let Some(p) = self.count_at.filter(|p| *p >= b.saturating_sub(1)) {
            if let Some((_, t)) = self.table_after(p, 2) {
                self.count_at = None;
                return Some(Measure::Count(t));
            }
        }
        let agg = self
            .agg
            .filter(|(_, p)| *p >= b.saturating_sub(1))
            .map(|x| x.0);
        let col = self
            .mentions
            .iter()
            .filter(|m| m.start >= b && m.start <= b + 4)
            .find_map(|m| self.pick_kind(m, Kind::numeric, subject, named));
        let col = col.or_else(|| {
            self.money_at.and_then(|_| {
                let mut scope = vec![subject];
                scope.extend(named.iter().copied());
                scope.extend((0..self.s.tables.len()).filter(|t| {
                    super::sql::path(self.s, &[subject], *t).is_some_and(|p| p.len() <= 2)
                }));
                self.class_column(Class::Money, &scope)
            })
        });
        if let Some(col) = col {
            self.consume_column_mention(col);
            if let Some((_, p)) = self.agg {
                if self.w(p) == "total" {
                    self.take(p, 1);
                }
            }
            let a = agg.unwrap_or(if col.0 == subject { Agg::Max } else { Agg::Sum });
            return Some(Measure::Of(a, col));
        }
        if let Some((_, t)) = self.table_after(b, 2) {
            return Some(Measure::Count(t));
        }
        None
    }

    /// "by client sector": the table named and then one of its columns is that column.
    pub(super) fn own_column(&self, m: Mention) -> Mention {
        let Target::Table(t) = m.target else {
            return m;
        };
        let own = self
            .mentions
            .iter()
            .find(|n| n.start == m.start + 1)
            .and_then(|n| match &n.target {
                Target::Columns(c) => c.iter().find(|x| x.0 .0 == t).map(|x| (n.start, x.0)),
                _ => None,
            });
        match own {
            Some((start, col)) => Mention {
                start,
                len: 1,
                target: Target::Columns(vec![(col, 1.0)]),
            },
            None => m,
        }
    }

    /// `col` has one value per row of `subject`: its own column, or one reached through
    /// foreign keys that never fan out.
    pub(super) fn one_per_row(&self, subject: usize, col: Col) -> bool {
        col.0 == subject
            || super::sql::path(self.s, &[subject], col.0)
                .is_some_and(|p| p.iter().all(|s| !s.fans_out))
    }
}
