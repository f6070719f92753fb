//! Anti-patterns in an EXPLAIN (FORMAT JSON) plan: plain Rust over the plan tree.
use serde_json::{json, Value};

/// A table counts as large from this many rows on.
pub const LARGE_TABLE_ROWS: f64 = 10_000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub issue: &'static str,
    pub severity: &'static str,
    pub node: String,
    pub relation: Option<String>,
    pub detail: String,
    pub suggestion: String,
}

impl Finding {
    pub fn to_json(&self) -> Value {
        json!({
            "issue": self.issue, "severity": self.severity, "node": self.node,
            "relation": self.relation, "detail": self.detail, "suggestion": self.suggestion,
        })
    }
}

/// Walks the plan; `table_rows(schema, relation)` gives the table's size in rows.
pub fn anti_patterns(plan: &Value, table_rows: &dyn Fn(&str, &str) -> Option<f64>) -> Vec<Finding> {
    let mut out = Vec::new();
    walk(plan, table_rows, &mut out);
    out
}

fn rows_of(node: &Value) -> (f64, Option<f64>) {
    let est = node["Plan Rows"].as_f64().unwrap_or(0.0);
    let actual = node["Actual Rows"]
        .as_f64()
        .map(|r| r * node["Actual Loops"].as_f64().unwrap_or(1.0).max(1.0));
    (est, actual)
}

fn walk(node: &Value, table_rows: &dyn Fn(&str, &str) -> Option<f64>, out: &mut Vec<Finding>) {
    let kind = node["Node Type"].as_str().unwrap_or("").to_string();
    let relation = node["Relation Name"]
        .as_str()
        .map(|r| match node["Schema"].as_str() {
            Some(s) => format!("{s}.{r}"),
            None => r.to_string(),
        });
    let (est, actual) = rows_of(node);
    let loops = node["Actual Loops"].as_f64().unwrap_or(1.0).max(1.0);
    let mut add = |issue, severity, detail: String, suggestion: &str| {
        out.push(Finding {
            issue,
            severity,
            node: kind.clone(),
            relation: relation.clone(),
            detail,
            suggestion: suggestion.to_string(),
        })
    };

    if kind == "Seq Scan" && node.get("Filter").is_some() {
        let size = node["Relation Name"]
            .as_str()
            .and_then(|r| table_rows(node["Schema"].as_str().unwrap_or(""), r));
        if let Some(size) = size.filter(|s| *s >= LARGE_TABLE_ROWS) {
            let kept = actual.map(|a| a / loops).unwrap_or(est);
            if kept / size < 0.1 {
                add(
                    "seq_scan_selective_filter",
                    if size >= 1_000_000.0 {
                        "high"
                    } else {
                        "medium"
                    },
                    format!(
                        "reads all ~{size:.0} rows to keep ~{kept:.0} ({:.2}%) with filter {}",
                        100.0 * kept / size,
                        node["Filter"].as_str().unwrap_or("")
                    ),
                    "an index on the filtered columns; see ai.suggest_indexes(<this query>)",
                );
            }
        }
    }
    if let Some(a) = actual {
        let (hi, lo) = if a > est { (a, est) } else { (est, a) };
        if hi >= 100.0 && hi / lo.max(1.0) >= 10.0 {
            add(
                "row_misestimate",
                if hi / lo.max(1.0) >= 100.0 { "high" } else { "medium" },
                format!("estimated {est:.0} rows, got {a:.0} ({:.0}x off)", hi / lo.max(1.0)),
                "ANALYZE the tables; for correlated columns CREATE STATISTICS; check the predicate is sargable",
            );
        }
    }
    if node["Sort Space Type"].as_str() == Some("Disk")
        || node["Sort Method"]
            .as_str()
            .is_some_and(|m| m.contains("external"))
    {
        add(
            "sort_spill",
            "medium",
            format!(
                "the sort spilled to disk ({} kB, {})",
                node["Sort Space Used"].as_i64().unwrap_or(0),
                node["Sort Method"].as_str().unwrap_or("external")
            ),
            "raise work_mem for this query, or an index that returns rows in this order",
        );
    }
    if node["Hash Batches"].as_i64().unwrap_or(1) > 1 {
        add(
            "hash_spill",
            "medium",
            format!(
                "the hash used {} batches (originally {}): it did not fit in work_mem",
                node["Hash Batches"], node["Original Hash Batches"]
            ),
            "raise work_mem (or hash_mem_multiplier) for this query",
        );
    }
    if kind == "Nested Loop" {
        if let Some(outer) = node["Plans"]
            .as_array()
            .and_then(|c| c.iter().find(|p| p["Parent Relationship"] == "Outer"))
        {
            let (oe, oa) = rows_of(outer);
            let outer_rows = oa.unwrap_or(oe);
            if outer_rows >= LARGE_TABLE_ROWS {
                add(
                    "nested_loop_large_outer",
                    "medium",
                    format!("the inner side runs once per outer row: ~{outer_rows:.0} times"),
                    "an index on the inner side's join key, or a hash join (check the row estimates)",
                );
            }
        }
    }
    if node["Lossy Heap Blocks"].as_i64().unwrap_or(0) > 0 {
        add(
            "lossy_bitmap",
            "low",
            format!(
                "{} heap blocks were lossy: every row on them was rechecked",
                node["Lossy Heap Blocks"]
            ),
            "raise work_mem so the bitmap stays exact",
        );
    }
    if let (Some(removed), Some(a)) = (node["Rows Removed by Filter"].as_f64(), actual) {
        let removed = removed * loops;
        if removed >= LARGE_TABLE_ROWS && removed >= 10.0 * a.max(1.0) {
            add(
                "rows_removed_by_filter",
                "medium",
                format!("{removed:.0} rows read and thrown away by the filter to keep {a:.0}"),
                "an index (or a partial index) matching the filter",
            );
        }
    }
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            walk(c, table_rows, out);
        }
    }
}

/// A query's mean time went up by more than half against its baseline.
pub fn regressed(window_mean: f64, baseline_mean: f64) -> bool {
    baseline_mean > 0.0 && window_mean > 1.5 * baseline_mean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(plan: Value) -> Vec<&'static str> {
        let size = |_: &str, r: &str| {
            if r == "big" {
                Some(1_000_000.0)
            } else {
                Some(100.0)
            }
        };
        anti_patterns(&plan, &size)
            .into_iter()
            .map(|f| f.issue)
            .collect()
    }

    #[test]
    fn selective_seq_scan_on_a_large_table() {
        let p = json!({"Node Type": "Seq Scan", "Relation Name": "big", "Schema": "public",
                       "Plan Rows": 10.0, "Filter": "(a = 1)"});
        assert_eq!(issues(p), vec!["seq_scan_selective_filter"]);
        let small = json!({"Node Type": "Seq Scan", "Relation Name": "small", "Plan Rows": 1.0, "Filter": "(a = 1)"});
        assert!(issues(small).is_empty());
        let unselective = json!({"Node Type": "Seq Scan", "Relation Name": "big", "Plan Rows": 900000.0, "Filter": "(a > 1)"});
        assert!(issues(unselective).is_empty());
    }

    #[test]
    fn analyzed_problems() {
        let p = json!({"Node Type": "Sort", "Plan Rows": 10.0, "Actual Rows": 50000.0, "Actual Loops": 1.0,
            "Sort Method": "external merge", "Sort Space Type": "Disk", "Sort Space Used": 2048,
            "Plans": [{"Node Type": "Hash Join", "Plan Rows": 5.0, "Actual Rows": 5.0, "Actual Loops": 1.0,
                        "Plans": [{"Node Type": "Hash", "Hash Batches": 4, "Original Hash Batches": 1,
                                   "Plan Rows": 5.0, "Actual Rows": 5.0, "Actual Loops": 1.0},
                                  {"Node Type": "Bitmap Heap Scan", "Lossy Heap Blocks": 12, "Plan Rows": 5.0,
                                   "Actual Rows": 5.0, "Actual Loops": 1.0, "Rows Removed by Filter": 90000.0}]}]});
        let got = issues(p);
        for want in [
            "row_misestimate",
            "sort_spill",
            "hash_spill",
            "lossy_bitmap",
            "rows_removed_by_filter",
        ] {
            assert!(got.contains(&want), "{want} missing in {got:?}");
        }
    }

    #[test]
    fn nested_loop_over_many_rows() {
        let p = json!({"Node Type": "Nested Loop", "Plan Rows": 1.0, "Plans": [
            {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Plan Rows": 50000.0, "Relation Name": "small"},
            {"Node Type": "Index Scan", "Parent Relationship": "Inner", "Plan Rows": 1.0}]});
        assert_eq!(issues(p), vec!["nested_loop_large_outer"]);
    }

    #[test]
    fn regression_rule() {
        assert!(regressed(16.0, 10.0));
        assert!(!regressed(15.0, 10.0));
        assert!(!regressed(5.0, 0.0));
    }
}
