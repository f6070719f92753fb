//! Which tables of a large schema a question is answered from. Plain Rust.
//!
//! The seeds are the tables whose name has words of the question (most words first), those
//! holding a value the question names, and the few closest to it by description; then the
//! tables each seed references or is referenced by (so that the joins between seeds are
//! there), each right after its seed. The first `max` are kept.
//!
//! A table two joins away from every seed is not in the focus; a question that needs it on a
//! large schema is answered without it.
use std::collections::{HashMap, HashSet};

/// A table of the schema in scope.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The catalog's id.
    pub id: i64,
    pub name: String,
    /// Cosine distance of its description to the question (2 when it has none).
    pub distance: f64,
    /// It holds a value the question names.
    pub holds_value: bool,
}

/// The words of a name: `InvoiceLine`, `invoice_line`, `invoice-line` → invoice, line.
pub fn name_words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The ids of the focus, seeds first (see the module comment).
pub fn choose(
    tables: &[Candidate],
    edges: &[(i64, i64)],
    question_words: &[String],
    nearest: usize,
    max: usize,
) -> Vec<i64> {
    let words: HashSet<&str> = question_words.iter().map(String::as_str).collect();
    let lexical = |t: &Candidate| {
        let mut w = name_words(&t.name);
        w.sort();
        w.dedup();
        w.iter().filter(|w| words.contains(w.as_str())).count()
    };
    let mut by_distance: Vec<&Candidate> = tables.iter().collect();
    by_distance.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    let close: HashSet<i64> = by_distance.iter().take(nearest).map(|t| t.id).collect();
    // (words of its name in the question, holds a value, distance)
    let mut seeds: Vec<(usize, bool, f64, i64)> = tables
        .iter()
        .map(|t| (lexical(t), t.holds_value, t.distance, t.id))
        .filter(|(lex, val, _, id)| *lex > 0 || *val || close.contains(id))
        .collect();
    seeds.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(a.2.total_cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let distance: HashMap<i64, f64> = tables.iter().map(|t| (t.id, t.distance)).collect();
    let mut neighbours: HashMap<i64, Vec<i64>> = HashMap::new();
    for &(a, b) in edges {
        if a != b && distance.contains_key(&a) && distance.contains_key(&b) {
            neighbours.entry(a).or_default().push(b);
            neighbours.entry(b).or_default().push(a);
        }
    }
    let mut out: Vec<i64> = Vec::new();
    let mut taken: HashSet<i64> = HashSet::new();
    let mut take = |id: i64, out: &mut Vec<i64>| {
        if out.len() < max && taken.insert(id) {
            out.push(id);
        }
    };
    // each seed, then its neighbours, closest first
    for s in &seeds {
        take(s.3, &mut out);
        let mut n = neighbours.get(&s.3).cloned().unwrap_or_default();
        n.sort_by(|a, b| distance[a].total_cmp(&distance[b]).then(a.cmp(b)));
        n.dedup();
        for id in n {
            take(id, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: i64, name: &str, distance: f64) -> Candidate {
        Candidate {
            id,
            name: name.into(),
            distance,
            holds_value: false,
        }
    }

    #[test]
    fn names_split_on_case_and_punctuation() {
        assert_eq!(name_words("InvoiceLine"), vec!["invoice", "line"]);
        assert_eq!(name_words("invoice_line"), vec!["invoice", "line"]);
        assert_eq!(name_words("kestrel_delta_00100"), vec!["kestrel", "delta", "00100"]);
        assert_eq!(name_words("HTMLPage"), vec!["htmlpage"]);
    }

    #[test]
    fn the_table_named_by_most_words_comes_first_then_its_neighbours() {
        let tables: Vec<Candidate> = (0..500)
            .map(|i| t(i, &format!("w{}_v{}_{:05}", i % 30, (i / 30) % 30, i), 0.5 + (i as f64) / 10_000.0))
            .collect();
        let edges: Vec<(i64, i64)> = (1..500).map(|i| (i, i - 1)).collect();
        let words: Vec<String> = ["w10", "v3", "00100"].iter().map(|s| s.to_string()).collect();
        let f = choose(&tables, &edges, &words, 5, 60);
        assert_eq!(f[0], 100, "{f:?}");
        assert!(f.len() <= 60);
        // its neighbours are there, even though 33 other tables share a word with it
        assert!(f.contains(&99) && f.contains(&101), "{f:?}");
    }

    #[test]
    fn a_table_holding_a_named_value_and_the_nearest_are_seeds() {
        let mut tables = vec![t(1, "alpha", 0.9), t(2, "beta", 0.1), t(3, "gamma", 0.8), t(4, "delta", 0.7)];
        tables[2].holds_value = true;
        let f = choose(&tables, &[], &[], 1, 10);
        assert_eq!(f, vec![3, 2]);
    }

    #[test]
    fn the_focus_is_bounded() {
        let tables: Vec<Candidate> = (0..1000).map(|i| t(i, "same_word", 0.5)).collect();
        let f = choose(&tables, &[], &["same".into()], 10, 120);
        assert_eq!(f.len(), 120);
    }
}
