//! Advice: index advice, insights, the schema lint and the diagram, filed as requests.
use super::html::{self, esc};
use super::web::*;
use super::App;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

// ---- advice ----

pub async fn advice(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    signed_in(&w, "Advice", &advice_html(&w, "").await)
}

async fn advice_html(w: &Who, note: &str) -> String {
    let mut s = format!(
        "{note}<form method=\"post\" action=\"/advice/file\" class=\"box\">{}<input type=\"hidden\" name=\"all\" value=\"1\">\
         <button data-test=\"file-all\">File all advice as requests</button> (nothing runs before its approvals)</form>",
        html::csrf_field(&w.csrf)
    );
    let sections: [(&str, &str, &str); 3] = [
        ("Index advice", "index-advice", "SELECT table_name, index_sql, coalesce(round(cost_reduction_pct::numeric, 1)::text || '% less cost: ', '') || coalesce(reason, '') FROM ai.suggest_indexes()"),
        ("Insights", "insights", "SELECT object, remediation_sql, severity || ': ' || finding FROM ai.insights()"),
        ("Schema lint", "lint", "SELECT object, fix_sql, severity || ': ' || message FROM ai.lint_schema()"),
    ];
    for (title, test, sql) in sections {
        s.push_str(&format!("<h2>{title}</h2>"));
        match w.client.query(sql, &[]).await {
            Ok(rows) if rows.is_empty() => s.push_str("<p>Nothing to advise.</p>"),
            Ok(rows) => {
                s.push_str(&format!(
                    "<table data-test=\"{test}\"><thead><tr><th>object</th><th>finding</th><th>statement</th><th></th></tr></thead><tbody>"
                ));
                for r in rows {
                    let object: Option<String> = r.get(0);
                    let stmt: Option<String> = r.get(1);
                    let finding: Option<String> = r.get(2);
                    let file = match &stmt {
                        Some(st) => format!(
                            "<form method=\"post\" action=\"/advice/file\" class=\"inline\">{}<input type=\"hidden\" name=\"statement\" value=\"{}\"><button data-test=\"file-advice\">File as request</button></form>",
                            html::csrf_field(&w.csrf),
                            esc(st)
                        ),
                        None => String::new(),
                    };
                    s.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{file}</td></tr>",
                        esc(object.as_deref().unwrap_or("")),
                        esc(finding.as_deref().unwrap_or("")),
                        esc(stmt.as_deref().unwrap_or(""))
                    ));
                }
                s.push_str("</tbody></table>");
            }
            Err(e) => s.push_str(&refusal(&e)),
        }
    }
    s.push_str("<h2>Diagram</h2><p><img src=\"/advice/erd.svg\" alt=\"entity-relationship diagram of the schema\" data-test=\"erd\"></p>");
    s
}

pub async fn file_advice(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if form.contains_key("all") {
        return match w
            .client
            .query(
                "SELECT request FROM ai.apply_advice() WHERE request IS NOT NULL",
                &[],
            )
            .await
        {
            Ok(_) => to("/approvals"),
            Err(e) => signed_in(&w, "Advice", &advice_html(&w, &refusal(&e)).await),
        };
    }
    let stmt = form.get("statement").cloned().unwrap_or_default();
    match w
        .client
        .query_one(
            "SELECT ai.request($1, 'filed from the console''s advice')",
            &[&stmt],
        )
        .await
    {
        Ok(r) => to(&format!("/approvals/{}", r.get::<_, i64>(0))),
        Err(e) => signed_in(&w, "Advice", &advice_html(&w, &refusal(&e)).await),
    }
}

/// The schema diagram, drawn by Graphviz (`dot`) on the server, served as an image: an SVG
/// shown through `<img>` runs no script.
pub async fn erd_svg(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    let dot: String = match w.client.query_one("SELECT ai.erd(NULL, 'dot')", &[]).await {
        Ok(r) => r.get(0),
        Err(e) => return (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    };
    let run = async {
        let mut child = tokio::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        use tokio::io::AsyncWriteExt;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(dot.as_bytes()).await?;
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(20), run).await {
        Ok(Ok(out)) if out.status.success() => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            out.stdout,
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the diagram could not be drawn: Graphviz (dot) is not installed here or did not finish",
        )
            .into_response(),
    }
}
