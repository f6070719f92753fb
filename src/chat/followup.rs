//! Which tool answers a chat message, and what a follow-up means without a model: "and in
//! 2023?", "only for Germany", "show them", "sorted by total" are read against the previous
//! turn's question and become a question of their own. Plain Rust.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ask,
    Impact,
    Insights,
    SuggestIndexes,
    Lint,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Ask => "ask",
            Tool::Impact => "impact",
            Tool::Insights => "insights",
            Tool::SuggestIndexes => "suggest_indexes",
            Tool::Lint => "lint",
        }
    }
}

/// Statements whose impact a message asks about: where one starts, the rest is the SQL.
const STATEMENT_STARTS: &[&[&str]] = &[
    &["delete", "from"],
    &["update"],
    &["insert", "into"],
    &["alter", "table"],
    &["drop", "table"],
    &["drop", "index"],
    &["truncate"],
    &["create", "index"],
    &["create", "unique", "index"],
    &["merge", "into"],
];

/// The SQL statement a message carries ("what happens if I run DELETE FROM …"), if any.
pub fn statement_in(message: &str) -> Option<String> {
    let words: Vec<(usize, &str)> = message
        .char_indices()
        .filter(|&(i, c)| {
            !c.is_whitespace() && (i == 0 || message[..i].ends_with(char::is_whitespace))
        })
        .map(|(i, _)| (i, message[i..].split_whitespace().next().unwrap_or("")))
        .collect();
    for (k, &(start, _)) in words.iter().enumerate() {
        for pat in STATEMENT_STARTS {
            let matches = pat.iter().enumerate().all(|(j, p)| {
                words.get(k + j).is_some_and(|(_, w)| {
                    w.trim_matches(|c: char| !c.is_alphanumeric())
                        .eq_ignore_ascii_case(p)
                })
            });
            // UPDATE needs its SET, so "update me on" is not a statement
            let real = matches
                && (pat[0] != "update"
                    || words[k..]
                        .iter()
                        .any(|(_, w)| w.eq_ignore_ascii_case("set")));
            if real {
                let sql = message[start..]
                    .trim()
                    .trim_start_matches(['`', '"'])
                    .trim_end_matches(['?', ';', '`', '"'])
                    .trim();
                return Some(sql.to_string());
            }
        }
    }
    None
}

/// The message's words, lower-cased: runs of letters, digits and underscores.
pub fn words(message: &str) -> Vec<String> {
    message
        .to_lowercase()
        .split(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `phrase` (words separated by spaces) stands in `words`, word for word.
fn has_phrase(words: &[String], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(p.len())
        .any(|w| w.iter().zip(&p).all(|(a, b)| a == b))
}

fn has_any(words: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has_phrase(words, p))
}

/// An English plural's singular ("categories" → "category", "indexes" → "index", "patients"
/// → "patient"); None when the word does not look plural.
fn singular(w: &str) -> Option<String> {
    if let Some(stem) = w.strip_suffix("ies") {
        return Some(format!("{stem}y"));
    }
    for es in ["sses", "xes", "zes", "ches", "shes"] {
        if w.ends_with(es) {
            return Some(w[..w.len() - 2].to_string());
        }
    }
    (w.ends_with('s') && !["ss", "us", "is"].iter().any(|e| w.ends_with(e)))
        .then(|| w[..w.len() - 1].to_string())
}

/// The names a message could mean in the schema: each word of three letters or more and its
/// singular, and two or three words joined by `_`, the last one also singular ("body mass
/// indexes" → body_mass_index).
pub fn name_candidates(words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for w in words.iter().filter(|w| w.chars().count() >= 3) {
        out.push(w.clone());
        out.extend(singular(w));
    }
    for n in [2, 3] {
        for w in words.windows(n) {
            out.push(w.join("_"));
            if let Some(last) = singular(&w[n - 1]) {
                out.push(format!("{}_{last}", w[..n - 1].join("_")));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The tool a message is for, by its words (never parts of words). `names_data` says whether
/// some of the given names are tables or columns the caller can ask about: a message that
/// names them is a question about the data, whatever else it says ("How many patients have
/// health insurance?"), unless it asks for index advice or a lint in so many words.
pub fn route(message: &str, names_data: &mut dyn FnMut(&[String]) -> bool) -> Tool {
    if statement_in(message).is_some() {
        return Tool::Impact;
    }
    let w = words(message);
    if has_any(
        &w,
        &[
            "lint",
            "review my schema",
            "review the schema",
            "schema review",
            "schema problems",
            "schema issues",
            "naming problems",
        ],
    ) {
        return Tool::Lint;
    }
    if has_any(&w, &["index", "indexes", "indices"])
        && has_any(
            &w,
            &[
                "suggest",
                "recommend",
                "recommended",
                "missing",
                "need",
                "needs",
                "needed",
                "advice",
                "advise",
                "add",
                "create",
                "should",
                "help",
            ],
        )
    {
        return Tool::SuggestIndexes;
    }
    if names_data(&name_candidates(&w)) {
        return Tool::Ask;
    }
    if has_any(
        &w,
        &[
            "insight",
            "insights",
            "database health",
            "health check",
            "health of",
            "how healthy",
            "what should i look at",
            "anything wrong",
            "what is wrong",
            "what's wrong",
        ],
    ) {
        return Tool::Insights;
    }
    Tool::Ask
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The question to answer.
    pub question: String,
    /// How the message was read against the previous question; None: a question of its own.
    pub follow_up: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0:?} follows up on an earlier question, and this session has none")]
pub struct NothingToFollow(pub String);

/// A message without its trailing punctuation.
pub fn clean(s: &str) -> String {
    s.trim()
        .trim_end_matches(['?', '.', '!'])
        .trim()
        .to_string()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// "How many invoices were issued in 2022" -> "List the invoices issued in 2022".
fn as_list(previous: &str) -> String {
    for lead in [
        "how many ",
        "count the ",
        "count ",
        "the number of ",
        "number of ",
        "what is the number of ",
    ] {
        if let Some(rest) = strip_prefix_ci(previous, lead) {
            let mut rest = format!(" {rest} ");
            for aux in [
                " were ",
                " are ",
                " was ",
                " is ",
                " have been ",
                " has been ",
            ] {
                if let Some(i) = rest.find(aux) {
                    rest.replace_range(i..i + aux.len(), " ");
                    break;
                }
            }
            return format!("List the {}", rest.trim());
        }
    }
    previous.to_string()
}

/// Splits off a trailing "sorted by …" so a filter goes before it.
fn split_order(q: &str) -> (&str, &str) {
    // ASCII lower case keeps byte offsets, so the index cuts `q` where it found the words
    match q.to_ascii_lowercase().rfind(" sorted by ") {
        Some(i) => (&q[..i], &q[i..]),
        None => (q, ""),
    }
}

fn is_number(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|c| c.is_ascii_digit())
}

/// Words of `s` with their byte ranges.
fn spans(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        let part = c.is_alphanumeric() || c == '\'' || c == '-';
        match (part, start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                out.push((b, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, s.len()));
    }
    out
}

/// "and in 2023" against "How many invoices were issued in 2022": the new value takes the
/// place of the previous one of its kind (a number of as many digits, or a capitalised
/// name); with none to replace, the phrase is added.
fn replace_value(previous: &str, phrase: &str) -> String {
    let new_words: Vec<&str> = spans(phrase).iter().map(|&(a, b)| &phrase[a..b]).collect();
    let prev_spans = spans(previous);
    let (head, order) = split_order(previous);
    if let Some(n) = new_words.iter().find(|w| is_number(w)) {
        if let Some(&(a, b)) = prev_spans.iter().rev().find(|&&(a, b)| {
            is_number(&previous[a..b]) && (b - a == n.len() || (n.len() != 4 && b - a != 4))
        }) {
            return format!("{}{n}{}", &previous[..a], &previous[b..]);
        }
        return format!("{} {}{order}", head, phrase.trim());
    }
    // a capitalised run of words (not the first word of the question) is a value
    let caps: Vec<&str> = new_words
        .iter()
        .copied()
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .collect();
    if !caps.is_empty() {
        let runs: Vec<(usize, usize)> = prev_spans
            .iter()
            .skip(1)
            .filter(|&&(a, _)| previous[a..].chars().next().is_some_and(char::is_uppercase))
            .copied()
            .collect();
        if let Some(&(a, mut b)) = runs.last() {
            // extend backwards over a multi-word name ("New York")
            let mut a = a;
            for &(x, y) in runs.iter().rev().skip(1) {
                if previous[y..a].trim().is_empty() {
                    a = x;
                } else {
                    break;
                }
            }
            b = b.min(previous.len());
            return format!("{}{}{}", &previous[..a], caps.join(" "), &previous[b..]);
        }
    }
    format!("{} {}{order}", head, phrase.trim())
}

/// The question a message asks, read against the previous question of the session.
pub fn resolve(previous: Option<&str>, message: &str) -> Result<Resolution, NothingToFollow> {
    let m = clean(message);
    let lower = m.to_ascii_lowercase();
    let own = || Resolution {
        question: m.clone(),
        follow_up: None,
    };
    let need = |p: Option<&str>| {
        p.map(str::to_string)
            .ok_or_else(|| NothingToFollow(m.clone()))
    };

    // "show them", "list those", "which ones"
    let words: Vec<&str> = lower.split_whitespace().collect();
    let show = matches!(words.first(), Some(&("show" | "list" | "display" | "give")))
        && words.len() <= 4
        && words
            .last()
            .is_some_and(|w| matches!(*w, "them" | "those" | "these" | "rows" | "all" | "ones"));
    if show
        || matches!(
            lower.as_str(),
            "which ones" | "what are they" | "who are they"
        )
    {
        let p = need(previous)?;
        return Ok(Resolution {
            question: as_list(&p),
            follow_up: Some("listed"),
        });
    }
    // "sorted by total", "order them by total", "by total"
    for lead in [
        "sorted by ",
        "sort by ",
        "order by ",
        "ordered by ",
        "sort them by ",
        "order them by ",
        "rank them by ",
        "by ",
    ] {
        if let Some(rest) = strip_prefix_ci(&m, lead) {
            if lead == "by " && rest.split_whitespace().count() > 3 {
                break;
            }
            let p = need(previous)?;
            let (head, _) = split_order(&p);
            return Ok(Resolution {
                question: format!("{} sorted by {}", as_list(head), rest.trim()),
                follow_up: Some("sorted"),
            });
        }
    }
    // "only for Germany", "just in 2023", "for Germany only"
    let filter = ["only ", "just "]
        .iter()
        .find_map(|l| strip_prefix_ci(&m, l))
        .map(str::to_string)
        .or_else(|| {
            lower
                .strip_suffix(" only")
                .filter(|r| {
                    ["for ", "in ", "from ", "with ", "by "]
                        .iter()
                        .any(|p| r.starts_with(p))
                })
                .map(|_| m[..m.len() - 5].to_string())
        });
    if let Some(f) = filter {
        let p = need(previous)?;
        let f = f.trim();
        let has_prep = ["for ", "in ", "from ", "with ", "by ", "of ", "at ", "on "]
            .iter()
            .any(|pre| strip_prefix_ci(f, pre).is_some());
        let phrase = if has_prep {
            f.to_string()
        } else {
            format!("for {f}")
        };
        let (head, order) = split_order(&p);
        return Ok(Resolution {
            question: format!("{head} {phrase}{order}"),
            follow_up: Some("narrowed"),
        });
    }
    // "and in 2023", "what about France", "how about 2021"
    for lead in [
        "and what about ",
        "what about ",
        "how about ",
        "and for ",
        "and in ",
        "and from ",
        "and ",
        "same for ",
    ] {
        if let Some(rest) = strip_prefix_ci(&m, lead) {
            let p = need(previous)?;
            let phrase =
                if lead.ends_with("for ") || lead.ends_with("in ") || lead.ends_with("from ") {
                    // the preposition as the message wrote it (the lead is ASCII: same offsets)
                    m[lead.trim_end().rfind(' ').map_or(0, |i| i + 1)..].to_string()
                } else {
                    rest.to_string()
                };
            return Ok(Resolution {
                question: replace_value(&p, &phrase),
                follow_up: Some("replaced"),
            });
        }
    }
    Ok(own())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(messages: &[&str]) -> Vec<String> {
        let mut prev: Option<String> = None;
        let mut out = Vec::new();
        for m in messages {
            let r = resolve(prev.as_deref(), m).unwrap();
            prev = Some(r.question.clone());
            out.push(r.question);
        }
        out
    }

    #[test]
    fn the_issue_conversation() {
        assert_eq!(
            chain(&[
                "How many invoices were issued in 2022?",
                "and in 2023?",
                "only for Germany",
                "show them",
                "sorted by total",
            ]),
            [
                "How many invoices were issued in 2022",
                "How many invoices were issued in 2023",
                "How many invoices were issued in 2023 for Germany",
                "List the invoices issued in 2023 for Germany",
                "List the invoices issued in 2023 for Germany sorted by total",
            ]
        );
    }

    #[test]
    fn values_replace_values_of_their_kind() {
        assert_eq!(
            chain(&[
                "How many customers are in Germany",
                "what about France?",
                "and in New York",
                "and Sao Paulo"
            ]),
            [
                "How many customers are in Germany",
                "How many customers are in France",
                "How many customers are in New York",
                "How many customers are in Sao Paulo",
            ]
        );
        assert_eq!(
            chain(&["Top 5 artists by number of tracks", "and 10"]),
            [
                "Top 5 artists by number of tracks",
                "Top 10 artists by number of tracks"
            ]
        );
        // nothing of its kind to replace: the phrase is added, before the ordering
        assert_eq!(
            chain(&["List the invoices sorted by total", "and in 2021"]),
            [
                "List the invoices sorted by total",
                "List the invoices in 2021 sorted by total"
            ]
        );
    }

    #[test]
    fn a_follow_up_needs_a_previous_question() {
        assert!(resolve(None, "show them").is_err());
        assert!(resolve(None, "and in 2023?").is_err());
        assert_eq!(resolve(None, "How many albums?").unwrap().follow_up, None);
        // a question of its own is not read as a follow-up
        let r = resolve(
            Some("How many albums"),
            "Which artists have the most albums?",
        )
        .unwrap();
        assert_eq!(r.question, "Which artists have the most albums");
        assert_eq!(r.follow_up, None);
    }

    #[test]
    fn routing_by_meaning() {
        // the schema of a hospital: patients, their insurer, their body mass index
        let schema = [
            "patients",
            "patient",
            "insurer",
            "body_mass_index",
            "visits",
        ];
        let mut names = |c: &[String]| c.iter().any(|n| schema.contains(&n.as_str()));
        let mut nothing = |_: &[String]| false;
        assert_eq!(
            route("How many patients have health insurance?", &mut names),
            Tool::Ask
        );
        assert_eq!(
            route(
                "Which patients have a body mass index above 30?",
                &mut names
            ),
            Tool::Ask
        );
        // the same words without a schema that names them: not index advice either
        assert_eq!(
            route(
                "Which patients have a body mass index above 30?",
                &mut nothing
            ),
            Tool::Ask
        );
        assert_eq!(
            route("Which indexes should I add to patients?", &mut names),
            Tool::SuggestIndexes
        );
        assert_eq!(
            route("How is the database health?", &mut names),
            Tool::Insights
        );
        assert_eq!(route("Is anything wrong?", &mut names), Tool::Insights);
        assert_eq!(singular("categories").as_deref(), Some("category"));
        assert_eq!(singular("status"), None);
        assert_eq!(singular("address"), None);
        assert_eq!(singular("boxes").as_deref(), Some("box"));
        // parts of words route nothing: "reindexing", "insightful", "splinter"
        assert_eq!(
            route("Is reindexing needed for visits?", &mut nothing),
            Tool::Ask
        );
        assert_eq!(route("an insightful splinter", &mut nothing), Tool::Ask);
        assert_eq!(
            name_candidates(&words("body mass indexes")),
            [
                "body",
                "body_mass",
                "body_mass_index",
                "body_mass_indexes",
                "index",
                "indexes",
                "mass",
                "mass_index",
                "mass_indexes"
            ]
        );
    }

    #[test]
    fn routing() {
        let route = |m: &str| route(m, &mut |_: &[String]| false);
        assert_eq!(
            route("What happens if I run DELETE FROM customer WHERE country = 'Germany'?"),
            Tool::Impact
        );
        assert_eq!(
            statement_in("What happens if I run `ALTER TABLE invoice ADD COLUMN note text`?")
                .as_deref(),
            Some("ALTER TABLE invoice ADD COLUMN note text")
        );
        assert_eq!(route("please update me on sales"), Tool::Ask);
        assert_eq!(route("Which indexes should I add?"), Tool::SuggestIndexes);
        assert_eq!(route("lint my schema"), Tool::Lint);
        assert_eq!(route("How is the database health?"), Tool::Insights);
        assert_eq!(route("How many invoices were issued in 2022?"), Tool::Ask);
    }

    /// Random messages (ASCII and not, follow-up forms and fragments) after random previous
    /// questions: routing and resolution always answer, never panic, and a follow-up keeps
    /// the previous question's words it did not replace.
    #[test]
    fn any_message_is_routed_and_resolved_without_panicking() {
        let words = [
            "and",
            "in",
            "2023",
            "only",
            "for",
            "Germany",
            "show",
            "them",
            "sorted",
            "by",
            "total",
            "what",
            "about",
            "İstanbul",
            "Kelvin",
            "straße",
            "🙂",
            "DELETE",
            "FROM",
            "update",
            "set",
            "just",
            "ones",
            "which",
            "ten",
            "5",
            "?",
            ",",
            "how",
            "many",
            "invoices",
            "were",
            "issued",
            "São",
            "Paulo",
            "desc",
        ];
        let mut seed: u64 = 0x5eed_c4a7;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..5000 {
            let (a, b) = (1 + next(8), 1 + next(5));
            let prev = (0..a)
                .map(|_| words[next(words.len())])
                .collect::<Vec<_>>()
                .join(" ");
            let leads = [
                "and in",
                "sorted by",
                "only for",
                "what about",
                "show them",
                "and",
                "by",
                "for",
            ];
            let lead = if next(2) == 0 {
                leads[next(leads.len())]
            } else {
                ""
            };
            let tail = (0..b)
                .map(|_| words[next(words.len())])
                .collect::<Vec<_>>()
                .join(" ");
            let msg = format!("{lead} {tail}");
            // the previous question sometimes carries an ordering of its own
            let prev = if next(3) == 0 {
                format!("{prev} sorted by {}", words[next(words.len())])
            } else {
                prev
            };
            let _ = route(&msg, &mut |c: &[String]| c.len() % 2 == 0);
            let _ = statement_in(&msg);
            if let Ok(r) = resolve(Some(&prev), &msg) {
                // every word comes from the previous question, the message, or the rewrite
                let known: Vec<&str> = prev
                    .split_whitespace()
                    .chain(msg.split_whitespace())
                    .chain(["List", "the", "sorted", "by", "for", "in"])
                    .collect();
                for w in r.question.split_whitespace() {
                    let w = w.trim_end_matches(['?', '.', '!']);
                    assert!(
                        w.is_empty()
                            || known
                                .iter()
                                .any(|k| k.trim_end_matches(['?', '.', '!']) == w),
                        "{w:?} in {:?} from {prev:?} / {msg:?}",
                        r.question
                    );
                }
            }
            let _ = resolve(None, &msg);
        }
    }
}
