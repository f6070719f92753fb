//! Ask: a conversation (`ai.chat`) with the SQL, the rows, a chart and feedback.
use super::html::{self, esc};
use super::web::*;
use super::App;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

// ---- ask ----

fn turn_html(question: &str, v: &Value, csrf: &str) -> String {
    let r = &v["result"];
    let mut s = format!(
        "<section class=\"turn\"><p><b>Q:</b> {}</p><p data-test=\"reply\">{}</p>",
        esc(question),
        esc(v["answer"].as_str().unwrap_or(""))
    );
    if let Some(sql) = r["sql"].as_str() {
        s.push_str(&format!("<pre data-test=\"sql\">{}</pre>", esc(sql)));
    }
    if let Some(e) = r["explanation"].as_str() {
        s.push_str(&format!("<p>{}</p>", esc(e)));
    }
    let columns: Vec<String> = r["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    match r["rows"].as_array() {
        Some(rows) if r["error"].is_null() => {
            s.push_str(&html::table("answer", &columns, rows));
            if r["truncated"] == Value::Bool(true) {
                s.push_str("<p>More rows existed: the first ones are shown.</p>");
            }
            if let Some(svg) = html::chart(&columns, rows) {
                s.push_str(&svg);
            }
        }
        _ => {
            let mut why = String::new();
            for k in ["error", "hint"] {
                if let Some(t) = r[k].as_str() {
                    why.push_str(&format!("<p>{}</p>", esc(t)));
                }
            }
            for k in ["unexplained", "not_understood"] {
                if let Some(words) = r[k].as_array().filter(|a| !a.is_empty()) {
                    let w: Vec<String> = words.iter().map(html::cell).collect();
                    why.push_str(&format!(
                        "<p>Words not understood: <span data-test=\"unexplained\">{}</span></p>",
                        esc(&w.join(", "))
                    ));
                }
            }
            if !why.is_empty() || r["sql"].is_null() {
                s.push_str(&format!(
                    "<div class=\"refused\" data-test=\"refused\">{why}</div>"
                ));
            }
        }
    }
    if let Some(u) = v["usage_id"].as_i64() {
        s.push_str(&format!(
            "<form method=\"post\" action=\"/feedback\" class=\"inline\">{}<input type=\"hidden\" name=\"usage_id\" value=\"{u}\">\
             <button name=\"rating\" value=\"5\" data-test=\"feedback-good\">Right</button> \
             <button name=\"rating\" value=\"1\" data-test=\"feedback-bad\">Wrong</button></form>",
            html::csrf_field(csrf)
        ));
    }
    s.push_str("</section>");
    s
}

fn ask_html(w: &Who, turns: &[(String, Value)], note: &str) -> String {
    let mut s = format!(
        "{note}<form method=\"post\" action=\"/ask\" class=\"box\">{}\
         <p><textarea name=\"question\" data-test=\"question\" placeholder=\"Ask about the data in plain words\" required></textarea></p>\
         <p><button data-test=\"send\">Ask</button></p></form>",
        html::csrf_field(&w.csrf)
    );
    for (q, v) in turns.iter().rev() {
        s.push_str(&turn_html(q, v, &w.csrf));
    }
    s
}

fn turns_of(app: &App, id: &str) -> Vec<(String, Value)> {
    app.sessions
        .lock()
        .ok()
        .and_then(|mut s| s.get(id, Instant::now()).map(|x| x.turns.clone()))
        .unwrap_or_default()
}

pub async fn ask_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(w) = who(&app, &headers) else {
        return to("/login");
    };
    let turns = turns_of(&app, &w.id);
    signed_in(&w, "Ask", &ask_html(&w, &turns, ""))
}

pub async fn ask(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = form.get("question").cloned().unwrap_or_default();
    let note = match one_json(&w.client, "SELECT ai.chat($1, $2)::text", &[&w.chat, &q]).await {
        Ok(v) => {
            if let Ok(mut s) = app.sessions.lock() {
                if let Some(sess) = s.get(&w.id, Instant::now()) {
                    sess.turns.push((q, v));
                    let n = sess.turns.len();
                    if n > 20 {
                        sess.turns.drain(..n - 20);
                    }
                }
            }
            String::new()
        }
        Err(e) => refusal(&e),
    };
    let turns = turns_of(&app, &w.id);
    signed_in(&w, "Ask", &ask_html(&w, &turns, &note))
}

pub async fn feedback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): Form,
) -> Response {
    let w = match checked(&app, &headers, &form) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let usage: i64 = form
        .get("usage_id")
        .and_then(|u| u.parse().ok())
        .unwrap_or(0);
    let rating: i32 = form.get("rating").and_then(|r| r.parse().ok()).unwrap_or(0);
    let correct = rating >= 4;
    let note = match w
        .client
        .query_one(
            "SELECT ai.feedback($1, $2, $3)",
            &[&usage, &rating, &correct],
        )
        .await
    {
        Ok(_) => {
            "<p class=\"ok\" data-test=\"feedback-saved\">Thank you: your rating is recorded.</p>"
                .to_string()
        }
        Err(e) => refusal(&e),
    };
    let turns = turns_of(&app, &w.id);
    signed_in(&w, "Ask", &ask_html(&w, &turns, &note))
}
