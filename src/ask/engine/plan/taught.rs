//! Stage 0, the taught vocabulary: a curator's word means what they said, before literals,
//! intent or linking read the question (longest words first).
use super::*;

impl Analysis<'_> {
    pub(super) fn taught(&mut self) {
        let s = self.s;
        let mut order: Vec<usize> = (0..s.vocabulary.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(s.vocabulary[k].stems.len()));
        for k in order {
            let w = &s.vocabulary[k];
            let n = w.stems.len();
            let mut i = 0;
            while i + n <= self.toks.len() {
                let matches = (0..n).all(|j| {
                    let t = &self.toks[i + j];
                    !t.quoted && !self.used[i + j] && t.stem == w.stems[j]
                });
                if !matches {
                    i += 1;
                    continue;
                }
                self.take(i, n);
                match &w.meaning {
                    Meaning::Table(t) => self.mentions.push(Mention {
                        start: i,
                        len: n,
                        target: Target::Table(*t),
                    }),
                    Meaning::Column(t, c) => {
                        self.mentions.push(Mention {
                            start: i,
                            len: n,
                            target: Target::Columns(vec![((*t, *c), 1.0)]),
                        });
                        let agg = match s.tables[*t].columns[*c].agg.as_deref() {
                            Some("sum") => Some(Agg::Sum),
                            Some("avg") => Some(Agg::Avg),
                            Some("min") => Some(Agg::Min),
                            Some("max") => Some(Agg::Max),
                            _ => None,
                        };
                        if let (Some(a), None) = (agg, self.agg) {
                            self.agg = Some((a, i));
                            self.measure_word = Some(i);
                        }
                    }
                    Meaning::Filter { table, sql } => self.conds.push(Cond::Filter {
                        pos: i,
                        table: *table,
                        sql: sql.clone(),
                    }),
                    Meaning::Relationship(a, b) => self.relationships.push((i, n, *a, *b)),
                }
                i += n;
            }
        }
    }
}
