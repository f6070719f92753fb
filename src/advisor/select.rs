//! Choosing indexes for a whole workload: plain Rust over a cost oracle (the planner with
//! hypothetical indexes, in production; a table of numbers, in the tests).
//!
//! Costs are not additive (two indexes on one table compete for the same queries), so every
//! step asks the oracle for the cost of each query under the whole configuration. A query is
//! only re-asked when the indexes relevant to it change, which the cache key captures.
use std::collections::HashMap;

/// The planner's answer for one query under one set of hypothetical indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub cost: f64,
    /// candidates the plan uses
    pub used: Vec<usize>,
}

pub trait Oracle {
    /// Plans query `q` with exactly the candidates `config` (sorted) present.
    fn plan(&mut self, q: usize, config: &[usize]) -> Option<Plan>;
}

#[derive(Debug, Clone)]
pub struct Problem {
    /// calls of each query (its weight)
    pub weights: Vec<f64>,
    /// cost of each query with no new index
    pub base: Vec<f64>,
    /// for each candidate, the queries it could serve
    pub relevant: Vec<Vec<usize>>,
    /// write and size price of each candidate, in the same unit as weight × cost
    pub penalty: Vec<f64>,
    pub max_indexes: usize,
    /// the smallest net gain worth an index
    pub min_gain: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub candidate: usize,
    /// weighted cost removed when it was added
    pub gain: f64,
    pub penalty: f64,
    /// queries whose plan uses it, with their cost before and after it was added
    pub helped: Vec<(usize, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub chosen: Vec<Chosen>,
    /// cost of each query with the chosen indexes
    pub final_cost: Vec<f64>,
    pub evaluations: usize,
}

impl Selection {
    pub fn workload_cost(&self, p: &Problem) -> f64 {
        weighted(p, &self.final_cost)
    }
}

pub fn weighted(p: &Problem, costs: &[f64]) -> f64 {
    costs.iter().zip(&p.weights).map(|(c, w)| c * w).sum()
}

/// Memoises the oracle on (query, relevant part of the configuration).
struct Cached<'o, O: Oracle> {
    oracle: &'o mut O,
    memo: HashMap<(usize, Vec<usize>), Option<Plan>>,
    calls: usize,
}

impl<O: Oracle> Cached<'_, O> {
    fn plan(&mut self, q: usize, config: Vec<usize>) -> Option<Plan> {
        if let Some(p) = self.memo.get(&(q, config.clone())) {
            return p.clone();
        }
        self.calls += 1;
        let p = self.oracle.plan(q, &config);
        self.memo.insert((q, config), p.clone());
        p
    }
}

/// The candidates of `set` that could matter to query `q`, sorted.
fn config_for(p: &Problem, q: usize, set: &[usize]) -> Vec<usize> {
    let mut c: Vec<usize> = set
        .iter()
        .copied()
        .filter(|&i| p.relevant[i].contains(&q))
        .collect();
    c.sort_unstable();
    c
}

/// Greedy selection: repeatedly add the candidate with the largest net gain over the whole
/// workload, given what is already chosen; stop at `max_indexes` or when the best net gain
/// falls below `min_gain`.
pub fn greedy(p: &Problem, oracle: &mut impl Oracle) -> Selection {
    let mut o = Cached {
        oracle,
        memo: HashMap::new(),
        calls: 0,
    };
    let mut chosen: Vec<Chosen> = Vec::new();
    let mut set: Vec<usize> = Vec::new();
    let mut cur = p.base.clone();
    while set.len() < p.max_indexes {
        let mut best: Option<(f64, Chosen, Vec<(usize, f64)>)> = None;
        for c in 0..p.relevant.len() {
            if set.contains(&c) {
                continue;
            }
            let mut gain = 0.0;
            let mut helped = Vec::new();
            let mut new_costs = Vec::new();
            for &q in &p.relevant[c] {
                let mut with = set.clone();
                with.push(c);
                let Some(plan) = o.plan(q, config_for(p, q, &with)) else {
                    continue;
                };
                let cost = plan.cost.min(cur[q]);
                gain += p.weights[q] * (cur[q] - cost);
                if plan.used.contains(&c) && cost < cur[q] {
                    helped.push((q, cur[q], cost));
                }
                new_costs.push((q, cost));
            }
            let net = gain - p.penalty[c];
            if helped.is_empty() {
                continue;
            }
            if best.as_ref().is_none_or(|(b, ..)| net > *b) {
                best = Some((
                    net,
                    Chosen {
                        candidate: c,
                        gain,
                        penalty: p.penalty[c],
                        helped,
                    },
                    new_costs,
                ));
            }
        }
        match best {
            Some((net, pick, costs)) if net >= p.min_gain && net > 0.0 => {
                for (q, c) in costs {
                    cur[q] = c;
                }
                set.push(pick.candidate);
                chosen.push(pick);
            }
            _ => break,
        }
    }
    Selection {
        chosen,
        final_cost: cur,
        evaluations: o.calls,
    }
}

/// The best configuration of at most `max_indexes` candidates by trying them all: the
/// reference the greedy choice is measured against. `limit` bounds the configurations tried.
pub fn exhaustive(p: &Problem, oracle: &mut impl Oracle, limit: usize) -> Result<Selection, usize> {
    let n = p.relevant.len();
    let k = p.max_indexes.min(n);
    let total: usize = (1..=k).map(|i| binomial(n, i)).sum();
    if total > limit {
        return Err(total);
    }
    let mut o = Cached {
        oracle,
        memo: HashMap::new(),
        calls: 0,
    };
    let mut best_net = 0.0;
    let mut best: Vec<usize> = Vec::new();
    let mut combo: Vec<usize> = Vec::new();
    fn next(combo: &mut Vec<usize>, n: usize, k: usize) -> bool {
        // the next combination in lexicographic order, growing size 1..=k
        if combo.is_empty() {
            if n == 0 || k == 0 {
                return false;
            }
            combo.push(0);
            return true;
        }
        let len = combo.len();
        for i in (0..len).rev() {
            if combo[i] < n - (len - i) {
                combo[i] += 1;
                for j in i + 1..len {
                    combo[j] = combo[j - 1] + 1;
                }
                return true;
            }
        }
        if len < k {
            *combo = (0..=len).collect();
            return true;
        }
        false
    }
    while next(&mut combo, n, k) {
        let mut net = -combo.iter().map(|&c| p.penalty[c]).sum::<f64>();
        for q in 0..p.base.len() {
            let config = config_for(p, q, &combo);
            if config.is_empty() {
                continue;
            }
            if let Some(plan) = o.plan(q, config) {
                net += p.weights[q] * (p.base[q] - plan.cost.min(p.base[q]));
            }
        }
        if net > best_net + 1e-9 {
            best_net = net;
            best = combo.clone();
        }
    }
    let calls = o.calls;
    // report the best set in greedy's terms (order and attribution)
    let mut restricted = p.clone();
    restricted.max_indexes = best.len();
    restricted.min_gain = f64::MIN_POSITIVE;
    for c in 0..n {
        if !best.contains(&c) {
            restricted.relevant[c].clear();
        }
    }
    let mut s = greedy(&restricted, o.oracle);
    s.evaluations += calls;
    Ok(s)
}

/// What a per-query advisor recommends (the approach of advisors that look at one statement
/// at a time): for each query, every single-column candidate its plan uses when all of them
/// exist, without regard to the rest of the workload, to writes or to size.
pub fn per_query(p: &Problem, single: &[bool], oracle: &mut impl Oracle) -> Selection {
    let mut o = Cached {
        oracle,
        memo: HashMap::new(),
        calls: 0,
    };
    let mut picked: Vec<usize> = Vec::new();
    for q in 0..p.base.len() {
        let all: Vec<usize> = (0..p.relevant.len())
            .filter(|&c| single[c] && p.relevant[c].contains(&q))
            .collect();
        if all.is_empty() {
            continue;
        }
        if let Some(plan) = o.plan(q, all) {
            if plan.cost < p.base[q] {
                for c in plan.used {
                    if !picked.contains(&c) {
                        picked.push(c);
                    }
                }
            }
        }
    }
    let calls = o.calls;
    let mut restricted = p.clone();
    restricted.max_indexes = picked.len();
    restricted.min_gain = f64::MIN;
    for (c, rel) in restricted.relevant.iter_mut().enumerate() {
        if !picked.contains(&c) {
            rel.clear();
        }
    }
    restricted.penalty = vec![0.0; p.penalty.len()];
    let mut s = greedy(&restricted, o.oracle);
    s.evaluations += calls;
    s
}

fn binomial(n: usize, k: usize) -> usize {
    let mut r: usize = 1;
    for i in 0..k {
        r = r.saturating_mul(n - i) / (i + 1);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Costs from a rule: each query has a base cost and, per candidate, the cost it would
    /// have with that candidate; with several, the cheapest applies.
    struct Table {
        base: Vec<f64>,
        with: Vec<Vec<Option<f64>>>,
        asked: usize,
    }
    impl Oracle for Table {
        fn plan(&mut self, q: usize, config: &[usize]) -> Option<Plan> {
            self.asked += 1;
            let mut best = (self.base[q], Vec::new());
            for &c in config {
                if let Some(cost) = self.with[q][c] {
                    if cost < best.0 {
                        best = (cost, vec![c]);
                    }
                }
            }
            Some(Plan {
                cost: best.0,
                used: best.1,
            })
        }
    }

    fn problem(t: &Table, max: usize) -> Problem {
        let n = t.with[0].len();
        Problem {
            weights: vec![1.0; t.base.len()],
            base: t.base.clone(),
            relevant: (0..n)
                .map(|c| {
                    (0..t.base.len())
                        .filter(|&q| t.with[q][c].is_some())
                        .collect()
                })
                .collect(),
            penalty: vec![1.0; n],
            max_indexes: max,
            min_gain: 5.0,
        }
    }

    fn sample() -> Table {
        // candidate 2 serves both queries almost as well as 0 and 1 each serve one
        Table {
            base: vec![100.0, 100.0],
            with: vec![
                vec![Some(10.0), None, Some(15.0)],
                vec![None, Some(10.0), Some(15.0)],
            ],
            asked: 0,
        }
    }

    #[test]
    fn greedy_counts_benefit_across_queries() {
        let mut t = sample();
        let p = problem(&t, 1);
        let s = greedy(&p, &mut t);
        assert_eq!(s.chosen.len(), 1);
        assert_eq!(
            s.chosen[0].candidate, 2,
            "one index serving both queries wins"
        );
        assert_eq!(s.chosen[0].helped.len(), 2);
        assert_eq!(s.workload_cost(&p), 30.0);
    }

    #[test]
    fn greedy_stops_when_the_gain_is_small() {
        let mut t = sample();
        let p = problem(&t, 5);
        let s = greedy(&p, &mut t);
        // after 2 (170 gained), 0 and 1 would each gain 5 - 1 penalty = 4 < min_gain 5
        assert_eq!(
            s.chosen.iter().map(|c| c.candidate).collect::<Vec<_>>(),
            vec![2]
        );
        let mut p2 = p.clone();
        p2.min_gain = 1.0;
        let s = greedy(&p2, &mut sample());
        assert_eq!(s.chosen.len(), 3);
    }

    #[test]
    fn penalties_can_veto_an_index() {
        let mut t = sample();
        let mut p = problem(&t, 3);
        p.penalty[2] = 1000.0;
        let s = greedy(&p, &mut t);
        let mut picked: Vec<usize> = s.chosen.iter().map(|c| c.candidate).collect();
        picked.sort();
        assert_eq!(picked, vec![0, 1]);
    }

    #[test]
    fn exhaustive_finds_the_optimum_and_greedy_is_close() {
        let mut t = sample();
        let p = problem(&t, 2);
        let e = exhaustive(&p, &mut t, 1000).unwrap();
        assert_eq!(e.workload_cost(&p), 20.0);
        let g = greedy(&p, &mut sample());
        assert!(g.workload_cost(&p) <= 30.0);
        assert!(exhaustive(&p, &mut sample(), 2).is_err());
    }

    #[test]
    fn per_query_takes_every_index_any_plan_uses() {
        let mut t = sample();
        let p = problem(&t, 5);
        let s = per_query(&p, &[true, true, false], &mut t);
        let mut picked: Vec<usize> = s.chosen.iter().map(|c| c.candidate).collect();
        picked.sort();
        assert_eq!(picked, vec![0, 1]);
    }

    #[test]
    fn the_cache_avoids_asking_twice() {
        let mut t = sample();
        let p = problem(&t, 3);
        let s = greedy(&p, &mut t);
        assert_eq!(s.evaluations, t.asked);
        assert!(t.asked <= 8, "{}", t.asked);
    }

    #[test]
    fn combinations_are_counted() {
        assert_eq!(binomial(5, 2), 10);
        assert_eq!(binomial(20, 3), 1140);
    }
}
