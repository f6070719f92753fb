//! An OpenAI-compatible chat-completions client (Ollama, vLLM, llama.cpp server, hosted APIs).
//!
//! Plain Rust. The HTTP call runs on its own thread; the caller's thread waits in short steps
//! and asks `cancelled()` between them, so a backend stays responsive to pg_cancel_backend
//! while a model thinks. Transport failures, HTTP errors (with the provider's own message),
//! timeouts, oversized or non-UTF-8 bodies and malformed answers are told apart, and the API
//! key never appears in an error.
use serde_json::{json, Value};
use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the waiting thread sleeps between two looks at `cancelled()`.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct Config {
    /// e.g. `http://localhost:11434/v1` (the path `/chat/completions` is appended)
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    /// bodies larger than this are refused unread
    pub max_body: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LlmError {
    #[error("cannot reach the LLM at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("the LLM did not answer within {0} ms")]
    Timeout(u128),
    #[error("the LLM answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("the LLM's answer is not a chat completion: {0}")]
    Malformed(String),
    #[error("the LLM's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the LLM's answer is not UTF-8")]
    NotUtf8,
    #[error("canceled while waiting for the LLM")]
    Cancelled,
}

impl Config {
    fn url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    /// Removes the key from any text that is about to leave this module.
    fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(k) if !k.is_empty() => text.replace(k.as_str(), "********"),
            _ => text.to_string(),
        }
    }
}

/// The request body: the messages, deterministic sampling.
pub fn request_body(cfg: &Config, messages: &[Message]) -> Value {
    json!({
        "model": cfg.model,
        "temperature": 0,
        "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
    })
}

enum Outcome {
    Body(u16, Vec<u8>),
    TooLarge,
    Transport(String, bool),
}

/// Sends one chat-completions request and returns the first choice's message content.
/// `cancelled()` is asked every 50 ms while waiting; when it says yes the wait ends at once
/// with [`LlmError::Cancelled`] (the request's thread finishes on its own within the timeout).
pub fn chat(
    cfg: &Config,
    messages: &[Message],
    cancelled: &mut dyn FnMut() -> bool,
) -> Result<String, LlmError> {
    let (tx, rx) = mpsc::channel();
    let body = request_body(cfg, messages);
    let c = cfg.clone();
    std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new().timeout(c.timeout).build();
        let mut req = agent.post(&c.url()).set("Content-Type", "application/json");
        if let Some(k) = c.api_key.as_deref().filter(|k| !k.is_empty()) {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        let outcome = match req.send_json(body) {
            Ok(r) => read_limited(r.status(), r, c.max_body),
            Err(ureq::Error::Status(code, r)) => read_limited(code, r, c.max_body),
            Err(ureq::Error::Transport(t)) => {
                let timed_out = matches!(t.kind(), ureq::ErrorKind::Io)
                    && t.to_string().to_lowercase().contains("timed out");
                Outcome::Transport(t.to_string(), timed_out)
            }
        };
        let _ = tx.send(outcome);
    });
    let start = Instant::now();
    let outcome = loop {
        match rx.recv_timeout(POLL) {
            Ok(o) => break o,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cancelled() {
                    return Err(LlmError::Cancelled);
                }
                // the thread's own timeout covers the request; this is the backstop
                if start.elapsed() > cfg.timeout + Duration::from_secs(1) {
                    return Err(LlmError::Timeout(cfg.timeout.as_millis()));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(LlmError::Transport {
                    url: cfg.url(),
                    detail: "the request thread ended without an answer".into(),
                })
            }
        }
    };
    match outcome {
        Outcome::Transport(_, true) => Err(LlmError::Timeout(cfg.timeout.as_millis())),
        Outcome::Transport(detail, false) => Err(LlmError::Transport {
            url: cfg.redact(&cfg.url()),
            detail: cfg.redact(&detail),
        }),
        Outcome::TooLarge => Err(LlmError::TooLarge(cfg.max_body)),
        Outcome::Body(status, bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| LlmError::NotUtf8)?;
            if !(200..300).contains(&status) {
                return Err(LlmError::Http {
                    status,
                    message: cfg.redact(&provider_message(&text)),
                });
            }
            content(&text).map_err(|e| LlmError::Malformed(cfg.redact(&e)))
        }
    }
}

fn read_limited(status: u16, r: ureq::Response, max: usize) -> Outcome {
    let mut buf = Vec::new();
    match r.into_reader().take(max as u64 + 1).read_to_end(&mut buf) {
        Ok(_) if buf.len() > max => Outcome::TooLarge,
        Ok(_) => Outcome::Body(status, buf),
        Err(e) => Outcome::Transport(e.to_string(), e.kind() == std::io::ErrorKind::TimedOut),
    }
}

/// The error message a provider put in its body (`{"error": {"message": ...}}`), or the
/// beginning of the body.
fn provider_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let m = v["error"]["message"]
        .as_str()
        .or_else(|| v["error"].as_str())
        .or_else(|| v["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(200).collect());
    if m.trim().is_empty() {
        "(empty body)".into()
    } else {
        m
    }
}

/// `choices[0].message.content` of a chat completion.
pub fn content(body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e})"))?;
    v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no choices[0].message.content".to_string())
}

/// The SQL in a model's answer: the first fenced code block if there is one, else the text.
pub fn extract_sql(answer: &str) -> String {
    if let Some(start) = answer.find("```") {
        let rest = &answer[start + 3..];
        let rest = rest
            .strip_prefix("sql")
            .or_else(|| rest.strip_prefix("SQL"))
            .unwrap_or(rest);
        if let Some(end) = rest.find("```") {
            return rest[..end].trim().trim_end_matches(';').trim().to_string();
        }
    }
    answer.trim().trim_end_matches(';').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A one-connection HTTP server answering with `status` and `body` after `delay`.
    fn serve(status: u16, body: Vec<u8>, delay: Duration) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        format!("http://{addr}/v1")
    }

    fn cfg(url: String) -> Config {
        Config {
            base_url: url,
            model: "m".into(),
            api_key: Some("sk-secret-123".into()),
            timeout: Duration::from_millis(800),
            max_body: 1 << 20,
        }
    }

    fn ask(c: &Config) -> Result<String, LlmError> {
        chat(
            c,
            &[Message {
                role: "user",
                content: "q".into(),
            }],
            &mut || false,
        )
    }

    #[test]
    fn a_good_answer() {
        let body =
            br#"{"choices":[{"message":{"role":"assistant","content":"```sql\nSELECT 1;\n```"}}]}"#;
        let c = cfg(serve(200, body.to_vec(), Duration::ZERO));
        let a = ask(&c).unwrap();
        assert_eq!(extract_sql(&a), "SELECT 1");
    }

    #[test]
    fn http_errors_carry_the_providers_message_without_the_key() {
        let body = br#"{"error":{"message":"invalid key sk-secret-123"}}"#;
        let c = cfg(serve(401, body.to_vec(), Duration::ZERO));
        assert_eq!(
            ask(&c).unwrap_err(),
            LlmError::Http {
                status: 401,
                message: "invalid key ********".into()
            }
        );
        let c = cfg(serve(500, b"oops".to_vec(), Duration::ZERO));
        assert_eq!(
            ask(&c).unwrap_err(),
            LlmError::Http {
                status: 500,
                message: "oops".into()
            }
        );
    }

    #[test]
    fn garbage_huge_and_non_utf8_bodies() {
        let c = cfg(serve(200, b"<html>garbage".to_vec(), Duration::ZERO));
        assert!(matches!(ask(&c).unwrap_err(), LlmError::Malformed(_)));
        let c = cfg(serve(200, br#"{"choices":[]}"#.to_vec(), Duration::ZERO));
        assert!(matches!(ask(&c).unwrap_err(), LlmError::Malformed(_)));
        let mut big = cfg(serve(200, vec![b'x'; 5 << 20], Duration::ZERO));
        big.max_body = 1 << 20;
        assert_eq!(ask(&big).unwrap_err(), LlmError::TooLarge(1 << 20));
        let c = cfg(serve(200, vec![0xff, 0xfe, 0x00], Duration::ZERO));
        assert_eq!(ask(&c).unwrap_err(), LlmError::NotUtf8);
    }

    #[test]
    fn transport_errors_and_timeouts() {
        // a port nobody listens on
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", l.local_addr().unwrap());
        drop(l);
        assert!(matches!(
            ask(&cfg(url)).unwrap_err(),
            LlmError::Transport { .. }
        ));
        let c = cfg(serve(200, b"{}".to_vec(), Duration::from_secs(3)));
        let t = Instant::now();
        assert_eq!(ask(&c).unwrap_err(), LlmError::Timeout(800));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn waiting_is_cancellable() {
        let mut c = cfg(serve(200, b"{}".to_vec(), Duration::from_secs(5)));
        c.timeout = Duration::from_secs(30);
        let t = Instant::now();
        let mut polls = 0;
        let r = chat(
            &c,
            &[Message {
                role: "user",
                content: "q".into(),
            }],
            &mut || {
                polls += 1;
                polls > 4
            },
        );
        assert_eq!(r.unwrap_err(), LlmError::Cancelled);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    #[test]
    fn the_request_is_deterministic() {
        let c = cfg("http://h/v1/".into());
        assert_eq!(c.url(), "http://h/v1/chat/completions");
        let b = request_body(
            &c,
            &[Message {
                role: "system",
                content: "rules".into(),
            }],
        );
        assert_eq!(b["temperature"], 0);
        assert_eq!(b["messages"][0]["role"], "system");
        assert!(!b.to_string().contains("sk-secret"));
        assert_eq!(extract_sql("SELECT 2;"), "SELECT 2");
        assert_eq!(extract_sql("Here:\n```\nSELECT 3\n```\nthanks"), "SELECT 3");
    }
}
