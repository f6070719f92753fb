//! The console's HTML, built as text from escaped parts: the page frame with its navigation,
//! tables of rows, and a bar chart drawn as SVG on the server. No script anywhere: the
//! Content-Security-Policy allows none.
use serde_json::Value;

/// Text made safe for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as the text of a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The page: its title, the signed-in role with the navigation and logout (none on the
/// login page), and the body (already HTML).
pub fn page(title: &str, user: Option<(&str, &str)>, body: &str) -> String {
    let nav = match user {
        None => String::new(),
        Some((name, csrf)) => format!(
            "<nav><a href=\"/ask\" data-test=\"nav-ask\">Ask</a> <a href=\"/approvals\" data-test=\"nav-approvals\">Approvals</a> \
             <a href=\"/audit\" data-test=\"nav-audit\">Audit</a> <a href=\"/advice\" data-test=\"nav-advice\">Advice</a> \
             <span class=\"who\">signed in as <b data-test=\"user-name\">{}</b></span>\
             <form method=\"post\" action=\"/logout\" class=\"inline\">{}<button data-test=\"logout\">Log out</button></form></nav>",
            esc(name),
            csrf_field(csrf)
        ),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · ai_architect</title>\
         <link rel=\"stylesheet\" href=\"/console.css\"></head><body>{nav}<main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A table of rows (objects) with the given columns, in that order.
pub fn table(test: &str, columns: &[String], rows: &[Value]) -> String {
    let mut s = format!("<table data-test=\"{}\"><thead><tr>", esc(test));
    for c in columns {
        s.push_str(&format!("<th>{}</th>", esc(c)));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in columns {
            s.push_str(&format!("<td>{}</td>", esc(&cell(&r[c.as_str()]))));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A horizontal bar chart of a result whose rows are a label and a number (categories or a
/// series), at most 30 bars; `None` when the result is not of that shape.
pub fn chart(columns: &[String], rows: &[Value]) -> Option<String> {
    if columns.len() != 2 || rows.is_empty() || rows.len() > 30 {
        return None;
    }
    let (label, value) = (&columns[0], &columns[1]);
    let mut bars = Vec::new();
    for r in rows {
        let v = match &r[value.as_str()] {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.parse::<f64>().ok()?,
            _ => return None,
        };
        bars.push((cell(&r[label.as_str()]), v));
    }
    let max = bars.iter().map(|b| b.1.abs()).fold(0.0f64, f64::max);
    if max <= 0.0 {
        return None;
    }
    let (row_h, width, left) = (22.0, 600.0, 180.0);
    let height = row_h * bars.len() as f64 + 10.0;
    let mut s = format!(
        "<svg data-test=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"{} by {}\">",
        width + left + 80.0,
        esc(value),
        esc(label)
    );
    for (i, (l, v)) in bars.iter().enumerate() {
        let y = 5.0 + row_h * i as f64;
        let w = (v.abs() / max * width).max(1.0);
        let shown: String = l.chars().take(28).collect();
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"#4a78b5\"></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            left - 6.0,
            y + 15.0,
            esc(&shown),
            row_h - 6.0,
            left + w + 4.0,
            y + 15.0,
            esc(&format_number(*v))
        ));
    }
    s.push_str("</svg>");
    Some(s)
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// The console's style sheet (served as /console.css: no inline style either).
pub const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330}\
nav{background:#1d2330;padding:.6em 1em;display:flex;gap:1em;align-items:center}\
nav a{color:#fff;text-decoration:none}nav .who{color:#c8d0dc;margin-left:auto}\
main{padding:1em 2em;max-width:80em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}\
pre{background:#f3f5f8;padding:.5em;white-space:pre-wrap}.inline{display:inline}\
.error{color:#a00}.ok{color:#070}.refused{color:#a60}textarea{width:40em;height:4em}\
form.box{margin:.5em 0;padding:.5em;border:1px solid #dde}";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_escaped_everywhere() {
        assert_eq!(
            esc("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
        let t = table(
            "answer",
            &["a".into()],
            &[json!({"a": "<img src=x onerror=alert(1)>"})],
        );
        assert!(!t.contains("<img"), "{t}");
        let p = page("<b>", Some(("\"bob", "t\"k")), "");
        assert!(!p.contains("<b>") || p.contains("<b data-test"), "{p}");
        assert!(
            p.contains("&quot;bob") && p.contains("value=\"t&quot;k\""),
            "{p}"
        );
        assert!(!p.contains("<script"));
    }

    #[test]
    fn a_label_and_a_number_make_a_chart_anything_else_none() {
        let cols = vec!["country".to_string(), "total".to_string()];
        let rows = vec![
            json!({"country": "USA", "total": 523.06}),
            json!({"country": "Canada", "total": "303.96"}),
        ];
        let c = chart(&cols, &rows).unwrap();
        assert_eq!(c.matches("<rect").count(), 2);
        assert!(c.contains(">USA<") && c.contains(">523.06<"), "{c}");
        assert!(chart(&cols, &[json!({"country": "x", "total": "n/a"})]).is_none());
        assert!(chart(&["a".into()], &rows).is_none());
        assert!(chart(&cols, &[json!({"country": "x", "total": 0})]).is_none());
    }
}
