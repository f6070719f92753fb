//! The words of a question: tokens with their stems, numbers and quoted strings, and the
//! small English vocabulary the engine understands (function words, intent words, a
//! thesaurus of common database nouns, units of time).
use crate::catalog::text::stem;

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// As written (quotes removed from a quoted string).
    pub text: String,
    pub lower: String,
    pub stem: String,
    pub quoted: bool,
    pub number: Option<f64>,
}

impl Token {
    fn new(text: &str, quoted: bool) -> Token {
        let lower = text.to_lowercase();
        let number = if quoted { None } else { number(&lower) };
        Token {
            text: text.to_string(),
            stem: if quoted { lower.clone() } else { stem(&lower) },
            lower,
            quoted,
            number,
        }
    }

    pub fn capitalised(&self) -> bool {
        self.text.chars().next().is_some_and(|c| c.is_uppercase())
    }
}

fn number(w: &str) -> Option<f64> {
    let w = w.trim_start_matches('$').replace(',', "");
    if let Ok(n) = w.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    const WORDS: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    WORDS.iter().position(|x| *x == w).map(|i| i as f64)
}

/// Splits a question into tokens. Quoted strings ('AC/DC', "Let There Be Rock") stay one
/// token; `/ - & '` inside a word stay in it; other punctuation separates.
pub fn tokenize(q: &str) -> Vec<Token> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    let flush = |cur: &mut String, out: &mut Vec<Token>| {
        let w = cur.trim_end_matches(['.', '\'', '-', '/']).to_string();
        let w = w.trim_start_matches(['\'', '-', '/']);
        // "TR001_2_4" is one identifier; "bond_id" two words
        if w.contains('_') && !w.chars().any(|c| c.is_ascii_digit()) {
            for part in w.split('_').filter(|p| !p.is_empty()) {
                out.push(Token::new(part, false));
            }
        } else if !w.is_empty() {
            out.push(Token::new(w, false));
        }
        cur.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let at_start = cur.is_empty();
        if (c == '"' || c == '\'' || c == '“' || c == '‘') && at_start {
            let close = match c {
                '“' => '”',
                '‘' => '’',
                other => other,
            };
            if let Some(end) = chars[i + 1..].iter().position(|&x| x == close) {
                let inner: String = chars[i + 1..i + 1 + end].iter().collect();
                let after_ok = chars.get(i + 2 + end).is_none_or(|x| !x.is_alphanumeric());
                if after_ok && !inner.trim().is_empty() {
                    out.push(Token::new(inner.trim(), true));
                    i += end + 2;
                    continue;
                }
            }
        }
        let joins = c == '_' && !at_start && chars.get(i + 1).is_some_and(|x| x.is_alphanumeric());
        if c.is_alphanumeric() || joins || "/&'-$".contains(c) || (c == '.' && !at_start) {
            if c == '.' && !chars.get(i + 1).is_some_and(|x| x.is_ascii_digit()) {
                flush(&mut cur, &mut out);
            } else {
                cur.push(c);
            }
        } else if c == ',' && !at_start && chars.get(i + 1).is_some_and(|x| x.is_ascii_digit()) {
            cur.push(c);
        } else {
            flush(&mut cur, &mut out);
        }
        i += 1;
    }
    flush(&mut cur, &mut out);
    out
}

/// Stemmed words of a table name.
pub fn name_stems(name: &str) -> Vec<String> {
    crate::catalog::text::words(name)
        .split_whitespace()
        .map(crate::catalog::text::stem)
        .collect()
}

/// Words that carry no meaning of their own for the engine.
pub const FUNCTION_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "at",
    "for",
    "to",
    "with",
    "and",
    "or",
    "either",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "how",
    "do",
    "does",
    "did",
    "show",
    "list",
    "me",
    "all",
    "that",
    "this",
    "these",
    "those",
    "there",
    "their",
    "them",
    "they",
    "it",
    "its",
    "have",
    "has",
    "had",
    "give",
    "find",
    "compute",
    "calculate",
    "indicate",
    "provide",
    "identify",
    "determine",
    "retrieve",
    "enumerate",
    "get",
    "display",
    "return",
    "please",
    "can",
    "could",
    "you",
    "i",
    "we",
    "my",
    "our",
    "any",
    "some",
    "every",
    "as",
    "into",
    "about",
    "also",
    "only",
    "just",
    "here",
    "tell",
    "know",
    "want",
    "see",
    "exist",
    "exists",
    "registered",
    "recorded",
    "stored",
    "database",
    "table",
    "records",
    "entry",
    "entries",
    "row",
    "rows",
    "currently",
    "ever",
    "so",
    "far",
    "overall",
    "altogether",
    "whole",
    "live",
    "lives",
    "living",
    "located",
    "based",
    "come",
    "comes",
    "belong",
    "belongs",
    "contain",
    "contains",
    "containing",
    "contained",
    "consist",
    "consists",
    "consisted",
    "consisting",
    "comprise",
    "comprises",
    "comprising",
    "present",
    "found",
    "included",
    "include",
    "includes",
    "appear",
    "appears",
    "made",
    "make",
    "made",
    "got",
    "whose",
    "where",
    "when",
    "by",
    "per",
    "each",
    "from",
    "between",
    "than",
    "equal",
    "equals",
    "named",
    "called",
    "titled",
    "value",
    "values",
    "it's",
    "there's",
    "don't",
    "doesn't",
    "didn't",
    "haven't",
    "hasn't",
    "other",
    "else",
    "together",
    "along",
    "s",
    "whom",
    "out",
    "up",
    "down",
    "then",
    "bought",
    "buy",
    "buys",
    "purchased",
    "purchase",
    "ordered",
    "placed",
    "sold",
    "sell",
    "done",
    "happened",
    "took",
    "taken",
    "written",
    "wrote",
    "released",
    "issued",
    "created",
    "added",
    "signed",
    "work",
    "works",
    "working",
    "worked",
    "his",
    "her",
    "they're",
    "anything",
    "something",
    "ones",
    "many",
    "much",
    "detail",
    "details",
    "information",
    "info",
    "data",
    "are",
    "them",
    "someone",
    "anyone",
    "ones",
    "yet",
    "among",
    "amongst",
];

pub fn is_function_word(w: &str) -> bool {
    FUNCTION_WORDS.contains(&w)
}

/// Groups of words that mean the same thing in a question about data. The engine links a
/// question word to a table or column whose name uses another word of the same group.
const THESAURUS: &[&[&str]] = &[
    &["song", "track", "tune"],
    &["singer", "band", "artist", "musician", "performer", "group"],
    &["client", "customer", "buyer", "shopper"],
    &[
        "staff",
        "employee",
        "worker",
        "agent",
        "rep",
        "representative",
    ],
    &["record", "album", "lp"],
    &["category", "genre", "kind", "style"],
    &["purchase", "sale", "invoice", "bill", "order"],
    &["price", "cost", "fee", "charge"],
    &["length", "duration", "runtime", "time"],
    &["born", "birth", "birthday"],
    &["height", "tall"],
    &["hired", "hire", "employed", "joined", "join"],
    &["city", "town"],
    &["writer", "author", "novelist"],
    &[
        "borrow",
        "loan",
        "lending",
        "checkout",
        "borrowing",
        "borrowed",
        "lent",
    ],
    &["member", "patron", "reader", "borrower", "user"],
    &["book", "title", "novel"],
    &["branch", "location", "library", "site"],
    &["score", "rating", "stars", "grade"],
    &["review", "opinion", "critique"],
    &["phone", "telephone"],
    &["mail", "email", "e-mail"],
    &["boss", "manager", "supervisor"],
    &["page", "pages"],
    &["year", "yr"],
];

/// The words of the thesaurus group `w` belongs to (`w` itself first), or just `w`.
pub fn synonyms(w: &str) -> Vec<&str> {
    let mut out = vec![w];
    for group in THESAURUS {
        if group.iter().any(|g| *g == w || stem(g) == w) {
            out.extend(group.iter().copied().filter(|g| *g != w));
        }
    }
    out
}

/// Months by name, January = 1.
pub fn month(w: &str) -> Option<u32> {
    const M: &[&str] = &[
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    M.iter()
        .position(|m| *m == w || (w.len() == 3 && m.starts_with(w) && w != "may"))
        .map(|i| i as u32 + 1)
}

/// A unit of time in a question, as a PostgreSQL interval unit.
pub fn time_unit(w: &str) -> Option<&'static str> {
    match stem(w).as_str() {
        "day" => Some("day"),
        "week" => Some("week"),
        "month" => Some("month"),
        "year" => Some("year"),
        "hour" => Some("hour"),
        "minute" => Some("minute"),
        _ => None,
    }
}

/// The phrase with its last word in the singular ("cargo bikes" -> "cargo bike"), when that
/// differs: stored values are usually singular while questions count them in the plural.
pub fn singular_phrase(phrase: &str) -> Option<String> {
    let (head, last) = match phrase.rsplit_once(' ') {
        Some((h, l)) => (Some(h), l),
        None => (None, phrase),
    };
    let s = stem(last);
    if s == last || s.is_empty() {
        return None;
    }
    Some(match head {
        Some(h) => format!("{h} {s}"),
        None => s,
    })
}

/// Milliseconds in a duration unit (`minutes`, `seconds`, `ms` ...).
pub fn duration_ms(w: &str) -> Option<f64> {
    match w {
        "ms" | "millisecond" | "milliseconds" => Some(1.0),
        "s" | "sec" | "secs" | "second" | "seconds" => Some(1_000.0),
        "min" | "mins" | "minute" | "minutes" => Some(60_000.0),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some(3_600_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(q: &str) -> Vec<String> {
        tokenize(q).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn tokens_keep_names_and_quotes() {
        assert_eq!(
            texts("How many tracks does AC/DC have?"),
            ["How", "many", "tracks", "does", "AC/DC", "have"]
        );
        assert_eq!(
            texts("Tracks on the album 'Let There Be Rock'."),
            ["Tracks", "on", "the", "album", "Let There Be Rock"]
        );
        assert_eq!(
            texts("price over 0.99, please"),
            ["price", "over", "0.99", "please"]
        );
        assert_eq!(
            texts("Guns N' Roses albums"),
            ["Guns", "N", "Roses", "albums"]
        );
        let t = tokenize("the customer's invoices over $1,000");
        assert_eq!(t[1].stem, "customer");
        assert_eq!(t[2].stem, "invoice");
        assert_eq!(t[4].number, Some(1000.0));
        assert_eq!(tokenize("top five")[1].number, Some(5.0));
        assert!(tokenize("\"Rock\"")[0].quoted);
        // an identifier with an underscore and a digit is one word; a column's name is words
        assert_eq!(
            texts("the bond_id of TR001_2_4?"),
            ["the", "bond", "id", "of", "TR001_2_4"]
        );
    }

    #[test]
    fn vocabulary() {
        assert!(synonyms("song").contains(&"track"));
        assert_eq!(synonyms("zebra"), ["zebra"]);
        assert_eq!(month("march"), Some(3));
        assert_eq!(month("may"), Some(5));
        assert_eq!(month("mar"), Some(3));
        assert_eq!(time_unit("months"), Some("month"));
        assert_eq!(duration_ms("minutes"), Some(60_000.0));
    }
}
