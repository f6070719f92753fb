//! What a turn keeps of a tool's result: the SQL and the row count whole, the rest cut to a
//! bounded preview (first rows, first items, strings shortened) so that a conversation's
//! storage does not grow with the size of its answers. The caller gets the whole result; the
//! stored one says `"preview": true` when it was cut.
use serde_json::{Map, Value};

/// Bytes of JSON a stored result takes at most, beside its SQL.
pub const STORED_RESULT_BYTES: usize = 8 * 1024;

/// Top-level keys kept whole.
const WHOLE: [&str; 2] = ["sql", "row_count"];

/// Ever coarser cuts: (characters kept of a string, items kept of an array or object).
const LEVELS: [(usize, usize); 6] = [(1000, 50), (200, 10), (80, 5), (32, 3), (8, 1), (0, 0)];

fn size(v: &Value) -> usize {
    serde_json::to_string(v).map_or(usize::MAX, |s| s.len())
}

fn cut(v: &Value, chars: usize, items: usize) -> Value {
    match v {
        Value::String(s) if s.chars().count() > chars => {
            Value::String(s.chars().take(chars).chain(['…']).collect())
        }
        Value::Array(a) => {
            Value::Array(a.iter().take(items).map(|x| cut(x, chars, items)).collect())
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .take(items)
                .map(|(k, x)| (cut_key(k, chars), cut(x, chars, items)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn cut_key(k: &str, chars: usize) -> String {
    k.chars().take(chars.max(8)).collect()
}

/// The result as a turn stores it; see the module documentation.
pub fn preview(result: &Value, budget: usize) -> Value {
    if size(result) <= budget {
        return result.clone();
    }
    let Value::Object(top) = result else {
        return LEVELS
            .iter()
            .map(|&(c, i)| cut(result, c, i))
            .find(|v| size(v) <= budget)
            .unwrap_or(Value::Null);
    };
    let whole: Map<String, Value> = top
        .iter()
        .filter(|(k, _)| WHOLE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rest: Map<String, Value> = top
        .iter()
        .filter(|(k, _)| !WHOLE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rest = Value::Object(rest);
    for &(chars, items) in &LEVELS {
        // the top level keeps all its keys until the last cuts
        let mut cut_rest = match &rest {
            Value::Object(o) if items > 0 => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), cut(x, chars, items)))
                    .collect(),
            ),
            other => cut(other, chars, items),
        };
        if size(&cut_rest) + 20 <= budget {
            let o = cut_rest.as_object_mut().expect("an object");
            o.extend(whole.clone());
            o.insert("preview".into(), Value::Bool(true));
            return cut_rest;
        }
    }
    let mut o = whole;
    o.insert("preview".into(), Value::Bool(true));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use serde_json::json;

    fn text(rng: &mut Rng) -> String {
        let n = match rng.below(4) {
            0 => rng.below(10),
            1 => rng.below(300),
            2 => rng.below(3_000),
            _ => rng.below(40),
        };
        (0..n)
            .map(|i| {
                ['a', 'é', '"', '\\', '\n', '語', ' ', '9'][((i * 7 + rng.below(8)) % 8) as usize]
            })
            .collect()
    }

    /// A random JSON value of at most about `nodes` nodes.
    fn value(rng: &mut Rng, depth: u32, nodes: &mut u32) -> Value {
        *nodes = nodes.saturating_sub(1);
        match rng.below(if depth == 0 || *nodes == 0 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => json!(rng.next() as i64),
            2 => Value::String(text(rng)),
            3 => json!(rng.below(2) == 0),
            4 => Value::Array(
                (0..rng.below(60))
                    .map(|_| value(rng, depth - 1, nodes))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(20))
                    .map(|_| (text(rng), value(rng, depth - 1, nodes)))
                    .collect(),
            ),
        }
    }

    /// Whatever a tool returns, the stored preview fits the budget beside its SQL, keeps the
    /// SQL and the row count exactly, and a result that fits is kept as it is.
    #[test]
    fn any_result_is_stored_within_the_budget() {
        let mut rng = Rng(0x5eed_c4a7_0000_0002);
        for _ in 0..300 {
            let mut v = value(&mut rng, 4, &mut 400);
            if rng.below(2) == 0 {
                v = json!({"sql": text(&mut rng), "row_count": rng.below(1000), "rows": v, "columns": ["a", "b"]});
            }
            let budget = [256, 1024, STORED_RESULT_BYTES][rng.below(3) as usize];
            let p = preview(&v, budget);
            if size(&v) <= budget {
                assert_eq!(p, v);
                continue;
            }
            let mut rest = p.clone();
            if let (Value::Object(o), Value::Object(r)) = (&v, &mut rest) {
                for k in WHOLE {
                    assert_eq!(o.get(k), p.get(k), "{k} kept whole");
                    r.remove(k);
                }
                assert_eq!(p["preview"], true);
            }
            assert!(size(&rest) <= budget, "{} > {budget}", size(&rest));
        }
    }

    #[test]
    fn an_answer_keeps_its_sql_count_and_first_rows() {
        let rows: Vec<Value> = (0..10_000)
            .map(|i| json!({"id": i, "name": format!("customer {i}")}))
            .collect();
        let v = json!({"sql": "SELECT id, name FROM customer", "row_count": 10_000, "rows": rows, "columns": ["id", "name"]});
        let p = preview(&v, STORED_RESULT_BYTES);
        assert_eq!(p["sql"], "SELECT id, name FROM customer");
        assert_eq!(p["row_count"], 10_000);
        assert_eq!(p["rows"][0], json!({"id": 0, "name": "customer 0"}));
        assert_eq!(p["columns"], json!(["id", "name"]));
        assert_eq!(p["preview"], true);
        assert!(size(&p) <= STORED_RESULT_BYTES + 100);
    }
}
