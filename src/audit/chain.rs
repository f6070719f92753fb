//! The audit trail's hash chain: each entry's hash covers the previous hash and the canonical
//! JSON of the entry, so changing, removing or reordering any entry breaks every hash after
//! it. Plain Rust; the SQL side only stores and reads entries.
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One audit entry, as hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    /// microseconds since the Unix epoch (PostgreSQL's own precision)
    pub ts_us: i64,
    pub actor: String,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub details: Value,
}

/// The entry as canonical JSON: keys sorted at every level, no whitespace.
pub fn canonical(e: &Entry) -> String {
    // serde_json's map is ordered by key, so serialising sorts every object
    let v = json!({
        "id": e.id,
        "ts_us": e.ts_us,
        "actor": e.actor,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "details": e.details,
    });
    v.to_string()
}

/// `sha256(previous_hash || canonical json of the entry)`; the first entry has no previous hash.
pub fn hash(prev: Option<&[u8]>, e: &Entry) -> Vec<u8> {
    let mut h = Sha256::new();
    if let Some(p) = prev {
        h.update(p);
    }
    h.update(canonical(e).as_bytes());
    h.finalize().to_vec()
}

/// A stored entry: the entry and the two hashes stored with it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub entry: Entry,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub ok: bool,
    pub entries: u64,
    /// (id, what is wrong) of the first entry that does not verify
    pub first_broken: Option<(i64, String)>,
}

/// Checks the chain in id order.
pub fn verify(entries: impl IntoIterator<Item = Stored>) -> Verdict {
    let mut prev: Option<Vec<u8>> = None;
    let mut n = 0u64;
    for s in entries {
        n += 1;
        if s.prev_hash != prev {
            let why = if n == 1 {
                "the first entry points to a previous one: earlier entries were removed".to_string()
            } else {
                "its previous hash is not the hash of the entry before it: an entry was removed or inserted".to_string()
            };
            return Verdict {
                ok: false,
                entries: n,
                first_broken: Some((s.entry.id, why)),
            };
        }
        if hash(prev.as_deref(), &s.entry) != s.hash {
            return Verdict {
                ok: false,
                entries: n,
                first_broken: Some((
                    s.entry.id,
                    "its content does not match its hash: the entry was changed".into(),
                )),
            };
        }
        prev = Some(s.hash);
    }
    Verdict {
        ok: true,
        entries: n,
        first_broken: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, action: &str) -> Entry {
        Entry {
            id,
            ts_us: 1_700_000_000_000_000 + id,
            actor: "alice".into(),
            action: action.into(),
            object_type: Some("request".into()),
            object_id: Some(id.to_string()),
            details: json!({"z": 1, "a": {"y": [1, 2], "b": null}}),
        }
    }

    fn chain(n: i64) -> Vec<Stored> {
        let mut out: Vec<Stored> = Vec::new();
        for i in 1..=n {
            let e = entry(i, "request");
            let prev = out.last().map(|s| s.hash.clone());
            let h = hash(prev.as_deref(), &e);
            out.push(Stored {
                entry: e,
                prev_hash: prev,
                hash: h,
            });
        }
        out
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let c = canonical(&entry(1, "x"));
        assert!(c.starts_with("{\"action\":\"x\",\"actor\":\"alice\",\"details\":{\"a\":{\"b\":null,\"y\":[1,2]},\"z\":1}"), "{c}");
    }

    #[test]
    fn an_intact_chain_verifies() {
        let v = verify(chain(5));
        assert_eq!(
            v,
            Verdict {
                ok: true,
                entries: 5,
                first_broken: None
            }
        );
        assert_eq!(verify(Vec::new()).entries, 0);
    }

    #[test]
    fn changes_removals_and_insertions_are_found() {
        let mut c = chain(5);
        c[2].entry.details = json!({"z": 2});
        assert_eq!(verify(c).first_broken.map(|b| b.0), Some(3));
        let mut c = chain(5);
        c.remove(1);
        let v = verify(c);
        assert_eq!(v.first_broken.as_ref().map(|b| b.0), Some(3));
        assert!(v.first_broken.unwrap().1.contains("removed"));
        let mut c = chain(5);
        c.remove(0);
        assert!(verify(c)
            .first_broken
            .unwrap()
            .1
            .contains("earlier entries were removed"));
    }
}
