//! Incremental refresh: which objects to embed again, which to drop, which to leave alone.
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub key: String,
    pub text: String,
    pub hash: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// indices into the desired list
    pub add: Vec<usize>,
    pub update: Vec<usize>,
    pub unchanged: Vec<usize>,
    /// keys of existing objects that no longer exist
    pub remove: Vec<String>,
}

/// `existing`: key -> content hash of what is stored now.
pub fn plan(existing: &HashMap<String, String>, desired: &[Desired]) -> Plan {
    let mut p = Plan::default();
    let mut seen = HashSet::new();
    for (i, d) in desired.iter().enumerate() {
        seen.insert(d.key.as_str());
        match existing.get(&d.key) {
            None => p.add.push(i),
            Some(h) if h == &d.hash => p.unchanged.push(i),
            Some(_) => p.update.push(i),
        }
    }
    let mut remove: Vec<String> = existing
        .keys()
        .filter(|k| !seen.contains(k.as_str()))
        .cloned()
        .collect();
    remove.sort();
    p.remove = remove;
    p
}

/// Catalog rows per statement that writes them: ~4.5 KB each with its vector.
pub const UPSERT_ROWS: usize = 500;

/// `rows` as one JSON array, each with its `embedding` (pgvector's text) when it has one.
pub fn rows_json<'a>(
    rows: impl Iterator<Item = (&'a serde_json::Value, Option<&'a [f32]>)>,
) -> String {
    let mut out = String::from("[");
    for (n, (row, vector)) in rows.enumerate() {
        if n > 0 {
            out.push(',');
        }
        let text = row.to_string();
        match (vector, text.strip_suffix('}')) {
            (Some(v), Some(open)) => {
                out.push_str(open);
                if open.len() > 1 {
                    out.push(',');
                }
                out.push_str("\"embedding\":\"");
                out.push_str(&crate::embed::vector::literal(v));
                out.push_str("\"}");
            }
            _ => out.push_str(&text),
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(key: &str, hash: &str) -> Desired {
        Desired {
            key: key.into(),
            text: format!("text of {key}"),
            hash: hash.into(),
        }
    }

    #[test]
    fn classifies_every_object() {
        let existing: HashMap<String, String> = [("a", "1"), ("b", "2"), ("gone", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let desired = vec![d("a", "1"), d("b", "changed"), d("new", "4")];
        let p = plan(&existing, &desired);
        assert_eq!(p.unchanged, vec![0]);
        assert_eq!(p.update, vec![1]);
        assert_eq!(p.add, vec![2]);
        assert_eq!(p.remove, vec!["gone".to_string()]);
    }

    #[test]
    fn nothing_to_do_twice() {
        let desired = vec![d("a", "1"), d("b", "2")];
        let existing: HashMap<String, String> = desired
            .iter()
            .map(|x| (x.key.clone(), x.hash.clone()))
            .collect();
        let p = plan(&existing, &desired);
        assert!(p.add.is_empty() && p.update.is_empty() && p.remove.is_empty());
        assert_eq!(p.unchanged.len(), 2);
    }

    #[test]
    fn rows_are_written_with_their_vectors() {
        let rows = [serde_json::json!({"name": "a}\"b"}), serde_json::json!({}), serde_json::json!({"name": "c"})];
        let v = [0.5f32, -1.0];
        let text = rows_json(rows.iter().zip([Some(&v[..]), Some(&v[..1]), None]));
        let got: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            got,
            serde_json::json!([
                {"name": "a}\"b", "embedding": "[0.5,-1]"},
                {"embedding": "[0.5]"},
                {"name": "c"}
            ])
        );
        assert_eq!(rows_json(std::iter::empty()), "[]");
    }
}
