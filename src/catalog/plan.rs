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

/// Catalog rows per statement that writes them (their vectors beside them, each once).
pub const UPSERT_ROWS: usize = 500;

/// `rows` as one JSON array, and the distinct vectors they carry in one flat list: a row with
/// a vector names it by its place in that list (`vector_at`; the SQL slices the list, every
/// vector `dims` long). Floats go to PostgreSQL as a `real[]` parameter, never as text: at
/// thousands of rows printing and parsing them cost seconds, and the columns of a schema
/// share a few texts (a chunk carries each of their vectors once).
pub fn rows_json<'a>(
    rows: impl Iterator<Item = (&'a serde_json::Value, Option<&'a [f32]>)>,
) -> (String, Vec<f32>) {
    let mut out = String::from("[");
    let mut flat: Vec<f32> = Vec::new();
    // (a vector is one per distinct text: the same slice is the same vector)
    let mut placed: HashMap<(*const f32, usize), usize> = HashMap::new();
    for (n, (row, vector)) in rows.enumerate() {
        if n > 0 {
            out.push(',');
        }
        let text = row.to_string();
        match (vector, text.strip_suffix('}')) {
            (Some(v), Some(open)) => {
                let next = placed.len();
                let at = *placed.entry((v.as_ptr(), v.len())).or_insert_with(|| {
                    flat.extend_from_slice(v);
                    next
                });
                out.push_str(open);
                if open.len() > 1 {
                    out.push(',');
                }
                out.push_str(&format!("\"vector_at\":{at}}}"));
            }
            _ => out.push_str(&text),
        }
    }
    out.push(']');
    (out, flat)
}

/// The SQL of a row's vector from [`rows_json`]'s list (`$2`, every vector `$3` long), cast to
/// pgvector's type `vector` (its qualified name).
pub fn vector_from_list(vector: &str) -> String {
    format!(
        "CASE WHEN x.vector_at IS NOT NULL THEN ($2::pg_catalog.float4[])[x.vector_at * $3 + 1 : (x.vector_at + 1) * $3]::{vector} END"
    )
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
        let rows = [
            serde_json::json!({"name": "a}\"b"}),
            serde_json::json!({}),
            serde_json::json!({"name": "c"}),
            serde_json::json!({"name": "d"}),
        ];
        let v = [0.5f32, -1.0];
        let w = [2.0f32, 3.0];
        let (text, flat) =
            rows_json(rows.iter().zip([Some(&v[..]), Some(&w[..]), None, Some(&v[..])]));
        let got: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            got,
            serde_json::json!([
                {"name": "a}\"b", "vector_at": 0},
                {"vector_at": 1},
                {"name": "c"},
                {"name": "d", "vector_at": 0}
            ])
        );
        // each vector once, in the order first met
        assert_eq!(flat, vec![0.5, -1.0, 2.0, 3.0]);
        assert_eq!(rows_json(std::iter::empty()), ("[]".to_string(), Vec::new()));
    }
}
