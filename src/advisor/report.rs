//! The advice as rows and as a readable report: what each index does for which statements.
//! Plain Rust over the gathered [`Advice`].
use super::candidates::Candidate;
use super::select;
use super::workload::Advice;
use super::Suggestion;

pub fn rows(a: &Advice) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for ch in &a.selection.chosen {
        let c = &a.candidates[ch.candidate];
        let before: f64 = ch
            .helped
            .iter()
            .map(|(q, b, _)| a.problem.weights[*q] * b)
            .sum();
        let pct = (before > 0.0).then(|| (100.0 * ch.gain / before * 10.0).round() / 10.0);
        let saved = a.days.map(|days| {
            let ms: f64 = ch
                .helped
                .iter()
                .map(|&(q, b, after)| {
                    let w = &a.queries[q];
                    w.calls / days * w.mean_ms * (1.0 - after / b.max(f64::MIN_POSITIVE))
                })
                .sum();
            (ms * 10.0).round() / 10.0
        });
        out.push(Suggestion {
            index_sql: create_sql(a, c),
            table: a.relation[&c.table].clone(),
            columns: c.columns.clone(),
            size_bytes: a.sizes[ch.candidate],
            cost_reduction_pct: pct,
            saved_ms_per_day: saved,
            queries_helped: ch.helped.len() as i32,
            reason: reason(a, ch),
        });
    }
    for d in &a.drops {
        out.push(Suggestion {
            index_sql: d.sql.clone(),
            table: format!(
                "{}.{}",
                crate::sqlparse::ident(&d.schema),
                crate::sqlparse::ident(&d.table)
            ),
            columns: d.columns.clone(),
            size_bytes: d.bytes,
            cost_reduction_pct: None,
            saved_ms_per_day: None,
            queries_helped: 0,
            reason: format!("drop {} ({}): {}", d.index, d.kind, d.detail),
        });
    }
    out
}

pub(super) fn create_sql(a: &Advice, c: &Candidate) -> String {
    format!(
        "CREATE INDEX CONCURRENTLY {} {}",
        c.name(),
        c.definition(&a.relation[&c.table])
    )
}

pub(super) fn reason(a: &Advice, ch: &select::Chosen) -> String {
    let c = &a.candidates[ch.candidate];
    let mut parts = Vec::new();
    let used_for: Vec<String> = c
        .columns
        .iter()
        .map(|col| {
            let mut how = Vec::new();
            for q in &ch.helped {
                for u in a.queries[q.0]
                    .uses
                    .uses
                    .iter()
                    .filter(|u| u.table == c.table)
                {
                    if u.eq.contains(col) && !how.contains(&"equality") {
                        how.push("equality")
                    }
                    if u.range.contains(col) && !how.contains(&"range") {
                        how.push("range")
                    }
                    if u.join.contains(col) && !how.contains(&"join") {
                        how.push("join")
                    }
                    if u.order.iter().any(|(o, _)| o == col) && !how.contains(&"order") {
                        how.push("order")
                    }
                    if u.group.contains(col) && !how.contains(&"grouping") {
                        how.push("grouping")
                    }
                }
            }
            if how.is_empty() {
                col.clone()
            } else {
                format!("{col} ({})", how.join("/"))
            }
        })
        .collect();
    parts.push(format!("serves {}", used_for.join(", ")));
    if !c.include.is_empty() {
        parts.push(format!(
            "INCLUDE ({}) for index-only scans",
            c.include.join(", ")
        ));
    }
    if let Some(p) = &c.predicate {
        parts.push(format!("partial: only rows where {p}"));
    }
    parts.push(format!(
        "used by {} quer{} of the workload",
        ch.helped.len(),
        if ch.helped.len() == 1 { "y" } else { "ies" }
    ));
    if ch.penalty > 0.0 {
        parts.push(format!(
            "write and size cost {:.0} of {:.0} gained",
            ch.penalty, ch.gain
        ));
    }
    parts.join("; ")
}

pub(super) fn report(a: &Advice) -> String {
    // (+ 0.0: an empty workload prints 0, not -0)
    let total_before = select::weighted(&a.problem, &a.problem.base) + 0.0;
    let total_after = a.selection.workload_cost(&a.problem) + 0.0;
    let mut s = String::new();
    s.push_str(&format!(
        "Index advice ({} search) for {} quer{} ({} skipped), in {:.0} ms\n",
        a.strategy,
        a.queries.len(),
        if a.queries.len() == 1 { "y" } else { "ies" },
        a.skipped.len(),
        a.elapsed_ms
    ));
    if a.not_assumed > 0 {
        s.push_str(&format!(
            "   {} workload statement(s) of roles you may not plan as were left out (a superuser's, or a role you are not a member of)\n",
            a.not_assumed
        ));
    }
    s.push_str(&format!(
        "workload planner cost now: {:.0}\nwith the advised indexes: {:.0} ({:.1}% less)\n",
        total_before,
        total_after,
        if total_before > 0.0 {
            100.0 * (total_before - total_after) / total_before
        } else {
            0.0
        }
    ));
    if a.selection.chosen.is_empty() {
        s.push_str("\nNo new index pays for itself on this workload.\n");
    }
    for (i, (ch, row)) in a.selection.chosen.iter().zip(rows(a)).enumerate() {
        s.push_str(&format!(
            "\n{}. {}\n   {}\n",
            i + 1,
            row.index_sql,
            row.reason
        ));
        s.push_str(&format!(
            "   size ~{}, cost -{:.1}% on the queries it serves{}\n",
            pretty_bytes(row.size_bytes),
            row.cost_reduction_pct.unwrap_or(0.0),
            row.saved_ms_per_day
                .map(|ms| format!(", ~{ms:.0} ms saved per day"))
                .unwrap_or_default()
        ));
        let mut helped = ch.helped.clone();
        helped.sort_by(|x, y| {
            let gx = a.problem.weights[x.0] * (x.1 - x.2);
            let gy = a.problem.weights[y.0] * (y.1 - y.2);
            gy.total_cmp(&gx)
        });
        for (q, before, after) in helped.iter().take(5) {
            let w = &a.queries[*q];
            s.push_str(&format!(
                "   {:>10.1} -> {:<10.1} x{:<6} {}\n",
                before,
                after,
                w.calls,
                one_line(&w.text, 70)
            ));
        }
        if helped.len() > 5 {
            s.push_str(&format!("   ... and {} more\n", helped.len() - 5));
        }
    }
    if !a.drops.is_empty() {
        s.push_str("\nIndexes to drop:\n");
        for d in &a.drops {
            s.push_str(&format!("   {}  -- {}: {}\n", d.sql, d.kind, d.detail));
        }
    }
    if !a.skipped.is_empty() {
        s.push_str("\nNot analysed:\n");
        for (q, why) in a.skipped.iter().take(10) {
            s.push_str(&format!("   {}: {}\n", one_line(q, 50), why));
        }
        if a.skipped.len() > 10 {
            s.push_str(&format!("   ... and {} more\n", a.skipped.len() - 10));
        }
    }
    s
}

pub(super) fn one_line(q: &str, n: usize) -> String {
    let flat: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > n {
        format!("{}...", flat.chars().take(n).collect::<String>())
    } else {
        flat
    }
}

pub fn pretty_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / 1024.0 / 1024.0 / 1024.0)
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.0} kB", b / 1024.0)
    }
}
