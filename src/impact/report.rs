//! ai.impact's jsonb document as text for psql: a header, the cascade tree, then each list
//! that has something in it. Plain Rust over the document.
use serde_json::Value;
use std::fmt::Write;

fn rows(v: &Value) -> String {
    match (v["rows_exact"].as_i64(), v["rows_estimated"].as_i64()) {
        (Some(e), _) => format!("{e} rows"),
        (None, Some(e)) => format!("~{e} rows"),
        _ => "rows hidden".into(),
    }
}

fn tree(out: &mut String, nodes: &[Value], prefix: &str) {
    for (i, n) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let effect = match n["effect"].as_str().unwrap_or("") {
            "blocks" => "BLOCKS".to_string(),
            e => e.to_string(),
        };
        let cycle = if n["cycle"].as_bool() == Some(true) {
            "  (cycle: stops here)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{prefix}{} {} via {} [ON {}] {}: {}{cycle}",
            if last { "└─" } else { "├─" },
            n["table"].as_str().unwrap_or("?"),
            n["constraint"].as_str().unwrap_or("?"),
            n["action"].as_str().unwrap_or("?"),
            effect,
            rows(n),
        );
        let next = format!("{prefix}{}", if last { "   " } else { "│  " });
        tree(
            out,
            n["children"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or(&[]),
            &next,
        );
    }
}

fn list<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc[key].as_array().map(|a| a.as_slice()).unwrap_or(&[])
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — risk {} — mode {}",
        s(doc, "statement_type"),
        s(doc, "risk_level"),
        s(doc, "mode")
    );
    let _ = writeln!(out, "{}", s(doc, "statement"));
    let fail = match doc["will_fail"].as_bool() {
        Some(true) => format!("YES — {}", s(doc, "failure_reason")),
        Some(false) => "no".into(),
        None => "unknown (see warnings)".into(),
    };
    let _ = writeln!(out, "will fail: {fail}");
    let tables = list(doc, "tables");
    if !tables.is_empty() {
        let _ = writeln!(out, "\nrows touched: {}", doc["rows_touched"]);
        for t in tables {
            let dry = match t.get("dry_run") {
                Some(d) => format!(
                    " (inserted {}, updated {}, deleted {})",
                    d["inserted"], d["updated"], d["deleted"]
                ),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<32} {:<22} {:>12}{dry}  of {} in the table  [{}]",
                s(t, "table"),
                s(t, "operation"),
                rows(t),
                t["table_rows"],
                s(t, "via")
            );
        }
    }
    let cascades = list(doc, "cascades");
    if !cascades.is_empty() {
        let _ = writeln!(
            out,
            "\nforeign keys (cascade depth {})",
            doc["cascade_depth"]
        );
        let _ = writeln!(out, "{}", doc["target"].as_str().unwrap_or("?"));
        tree(&mut out, cascades, "");
    }
    let _ = writeln!(out, "\nrisk: {}", s(doc, "risk_level"));
    for r in list(doc, "risk_reasons") {
        let _ = writeln!(
            out,
            "  {:<8} {:<24} {}",
            s(r, "level"),
            s(r, "rule"),
            s(r, "detail")
        );
    }
    let locks = list(doc, "locks");
    if !locks.is_empty() {
        let _ = writeln!(out, "\nlocks");
        for l in locks {
            let blocked = list(l, "blocked_by");
            let by = if blocked.is_empty() {
                String::new()
            } else {
                let pids: Vec<String> = blocked
                    .iter()
                    .map(|b| format!("{} ({})", b["pid"], s(b, "mode")))
                    .collect();
                format!("  — would wait for pid {}", pids.join(", "))
            };
            let _ = writeln!(
                out,
                "  {:<32} {:<22} {}{by}",
                s(l, "table"),
                s(l, "mode"),
                s(l, "reason")
            );
        }
    }
    for (key, title) in [
        ("lint", "migration lint"),
        ("triggers", "triggers"),
        ("rules", "rules"),
    ] {
        let items = list(doc, key);
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        for i in items {
            let line = match key {
                "lint" => format!("{}: {}", s(i, "rule"), s(i, "message")),
                "triggers" => format!(
                    "{} {} {} {} FOR EACH {} → {}{}",
                    s(i, "table"),
                    s(i, "name"),
                    s(i, "timing"),
                    i["events"]
                        .as_array()
                        .map(|e| e
                            .iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(" OR "))
                        .unwrap_or_default(),
                    s(i, "level"),
                    s(i, "function"),
                    if i["enabled"].as_bool() == Some(false) {
                        " (disabled)"
                    } else {
                        ""
                    }
                ),
                _ => format!("{} {} ON {}", s(i, "table"), s(i, "name"), s(i, "event")),
            };
            let _ = writeln!(out, "  {line}");
        }
    }
    let views = list(doc, "dependent_views");
    if !views.is_empty() {
        let names: Vec<&str> = views.iter().map(|v| s(v, "view")).collect();
        let _ = writeln!(out, "\ndependent views: {}", names.join(", "));
    }
    for (key, title, field) in [
        ("rls_policies", "row-level security on", "table"),
        ("publications", "published by", "publication"),
    ] {
        let items = list(doc, key);
        if !items.is_empty() {
            let names: Vec<&str> = items.iter().map(|v| s(v, field)).collect();
            let _ = writeln!(out, "{title}: {}", names.join(", "));
        }
    }
    let sens = list(doc, "sensitive_columns");
    if !sens.is_empty() {
        let _ = writeln!(out, "\nsensitive columns");
        for c in sens {
            let _ = writeln!(
                out,
                "  {}.{} ({}, {})",
                s(c, "table"),
                s(c, "column"),
                s(c, "category"),
                s(c, "effect")
            );
        }
    }
    // the functions it runs that are not built in: the executor runs them with their rights
    let foreign: Vec<&Value> = doc["functions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|f| f["built_in"] == Value::Bool(false))
                .collect()
        })
        .unwrap_or_default();
    if !foreign.is_empty() {
        let _ = writeln!(
            out,
            "\nfunctions it runs (not built in; with the executor's rights)"
        );
        for f in foreign {
            let _ = writeln!(
                out,
                "  {} ({}, {})",
                s(f, "signature"),
                s(f, "volatility"),
                s(f, "via")
            );
        }
    }
    let rb = &doc["rollback_plan"];
    let _ = writeln!(
        out,
        "\nrollback plan ({})",
        if rb["reversible"].as_bool() == Some(true) {
            "reversible"
        } else {
            "irreversible without a backup"
        }
    );
    for (key, title) in [
        ("capture", "before"),
        ("inverse", "undo"),
        ("notes", "note"),
    ] {
        for line in list(rb, key) {
            let _ = writeln!(out, "  {title}: {}", line.as_str().unwrap_or(""));
        }
    }
    let warnings = list(doc, "warnings");
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings");
        for w in warnings {
            let _ = writeln!(out, "  - {}", w.as_str().unwrap_or(""));
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn renders_the_tree_and_the_lists() {
        let doc = json!({
            "statement_type": "DELETE", "risk_level": "HIGH", "mode": "exact",
            "statement": "DELETE FROM customer WHERE id = 1", "target": "public.customer",
            "will_fail": true, "failure_reason": "this DELETE fails: 2 rows in public.note reference these public.invoice rows",
            "rows_touched": 7, "cascade_depth": 2,
            "tables": [{"table": "public.customer", "operation": "DELETE", "rows_exact": 1, "rows_estimated": 1, "table_rows": 59, "via": "statement"}],
            "cascades": [{"table": "public.invoice", "constraint": "invoice_fk", "action": "CASCADE", "effect": "delete",
                          "rows_exact": 6, "children": [{"table": "public.note", "constraint": "note_fk", "action": "RESTRICT",
                          "effect": "blocks", "rows_exact": 2, "children": []}]}],
            "risk_reasons": [{"level": "HIGH", "rule": "deep_cascade", "detail": "cascades 2 levels deep"}],
            "locks": [{"table": "public.customer", "mode": "ROW EXCLUSIVE", "reason": "DELETE", "blocked_by": [{"pid": 42, "mode": "AccessExclusiveLock"}]}],
            "rollback_plan": {"reversible": true, "capture": ["CREATE TABLE before_1_customer AS SELECT 1"], "inverse": [], "notes": []},
            "warnings": ["w1"]
        });
        let text = render(&doc);
        assert!(
            text.starts_with("DELETE — risk HIGH — mode exact"),
            "{text}"
        );
        assert!(text.contains("will fail: YES — this DELETE fails"));
        assert!(text.contains("└─ public.invoice via invoice_fk [ON CASCADE] delete: 6 rows"));
        assert!(text.contains("   └─ public.note via note_fk [ON RESTRICT] BLOCKS: 2 rows"));
        assert!(text.contains("would wait for pid 42 (AccessExclusiveLock)"));
        assert!(text.contains("before: CREATE TABLE before_1_customer"));
        assert!(text.ends_with("  - w1"));
    }
}
