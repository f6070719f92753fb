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

/// Checks the chain in id order, one entry at a time (so a caller may read the entries a page
/// at a time and keep none of them).
#[derive(Debug, Default)]
pub struct Verifier {
    prev: Option<Vec<u8>>,
    n: u64,
    broken: Option<(i64, String)>,
}

impl Verifier {
    /// Takes the next entry; false once the chain is known broken (the rest need not be read).
    pub fn push(&mut self, s: Stored) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.n += 1;
        if s.prev_hash != self.prev {
            let why = if self.n == 1 {
                "the first entry points to a previous one: earlier entries were removed".to_string()
            } else {
                "its previous hash is not the hash of the entry before it: an entry was removed or inserted".to_string()
            };
            self.broken = Some((s.entry.id, why));
            return false;
        }
        if hash(self.prev.as_deref(), &s.entry) != s.hash {
            self.broken = Some((
                s.entry.id,
                "its content does not match its hash: the entry was changed".into(),
            ));
            return false;
        }
        self.prev = Some(s.hash);
        true
    }

    pub fn finish(self) -> Verdict {
        Verdict {
            ok: self.broken.is_none(),
            entries: self.n,
            first_broken: self.broken,
        }
    }
}

/// Checks the chain in id order.
#[cfg(test)]
pub fn verify(entries: impl IntoIterator<Item = Stored>) -> Verdict {
    let mut v = Verifier::default();
    for s in entries {
        if !v.push(s) {
            break;
        }
    }
    v.finish()
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The chain head: the newest entry and how many there are.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub last_id: i64,
    pub entries: u64,
    pub hash: Option<Vec<u8>>,
    pub mac: Option<Vec<u8>>,
}

/// What the head's MAC covers: `last_id:entries:hex(hash)`.
pub fn head_message(last_id: i64, entries: u64, hash: Option<&[u8]>) -> Vec<u8> {
    let hex: String = hash
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{last_id}:{entries}:{hex}").into_bytes()
}

/// Does the chain end where its head says? `last` is the newest stored entry (id, hash).
pub fn check_head(
    head: &Head,
    entries: u64,
    last: Option<(i64, &[u8])>,
    key: Option<&[u8]>,
) -> Option<String> {
    if let Some(k) = key {
        let want = hmac_sha256(
            k,
            &head_message(head.last_id, head.entries, head.hash.as_deref()),
        );
        if head.mac.as_deref() != Some(want.as_slice()) {
            return Some("the chain head's seal does not match ai_architect.audit_hmac_key: the head was rewritten".into());
        }
    }
    if head.entries != entries {
        return Some(format!(
            "the chain head counts {} entries, the log holds {entries}: entries were removed or added outside ai_architect",
            head.entries
        ));
    }
    match last {
        None if head.last_id == 0 => None,
        Some((id, hash)) if id == head.last_id && head.hash.as_deref() == Some(hash) => None,
        Some((id, _)) => Some(format!(
            "the chain head names entry {} as the newest, the log ends at {id}: its newest entries were removed or replaced",
            head.last_id
        )),
        None => Some(format!(
            "the chain head names entry {}, the log is empty: it was emptied",
            head.last_id
        )),
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

    #[test]
    fn hmac_matches_rfc_4231() {
        // test case 2
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_whatever_the_map_type() {
        // a serde_json built with preserve_order would keep insertion order: the format is
        // the sorted one, and this test says so
        let e = entry(1, "x");
        let c = canonical(&e);
        assert!(c.starts_with("{\"action\":\"x\",\"actor\":\"alice\",\"details\":{\"a\":{\"b\":null,\"y\":[1,2]},\"z\":1}"), "{c}");
    }

    #[test]
    fn the_head_catches_truncation_and_rewrites() {
        let c = chain(5);
        let key = b"k".as_slice();
        let sealed = |last: &Stored, n: u64| Head {
            last_id: last.entry.id,
            entries: n,
            hash: Some(last.hash.clone()),
            mac: Some(hmac_sha256(
                key,
                &head_message(last.entry.id, n, Some(&last.hash)),
            )),
        };
        let head = sealed(&c[4], 5);
        let last = |i: usize| Some((c[i].entry.id, c[i].hash.as_slice()));
        assert_eq!(check_head(&head, 5, last(4), Some(key)), None);
        // the newest two removed: the chain itself still verifies, the head does not
        assert!(verify(c[..3].to_vec()).ok);
        assert!(check_head(&head, 3, last(2), Some(key))
            .unwrap()
            .contains("counts 5 entries"));
        // removed and the head moved back, without the key: the seal is wrong
        let mut moved = sealed(&c[2], 3);
        moved.mac = Some(vec![0; 32]);
        assert!(check_head(&moved, 3, last(2), Some(key))
            .unwrap()
            .contains("seal"));
        // without a key, a consistent head is all there is to check
        assert_eq!(check_head(&moved, 3, last(2), None), None);
        let empty = Head {
            last_id: 0,
            entries: 0,
            hash: None,
            mac: None,
        };
        assert_eq!(check_head(&empty, 0, None, None), None);
        assert!(check_head(&head, 0, None, None).is_some());
    }
}
