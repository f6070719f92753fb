//! Codes a column's comment explains: `'#': triple bond`, `• br: bromine`, `F = female`.
//! A DBA who documents a coded column writes its legend in the comment; a question names the
//! meaning ("triple bonds", "no bromine"), never the code. Each meaning (and the meaning
//! without the words that only repeat the column's or its table's name: "triple" for
//! `bond.bond_type`'s "triple bond") then stands for the code, as a stored value would.
use super::words::{is_function_word, name_stems};
use super::{Kind, Schema, ValueHit};
use crate::catalog::text::stem;

/// A legend has at least this many entries: one "x: y" in a sentence is not a legend.
const MIN_ENTRIES: usize = 2;
/// A meaning of more words is a sentence, not a name for a code.
const MAX_MEANING_WORDS: usize = 4;

/// The (code, meaning) pairs a comment lists, meaning in lower case; empty when the comment
/// holds fewer than two.
pub fn entries(notes: &str) -> Vec<(String, String)> {
    let out: Vec<(String, String)> = notes
        .split(['\n', '•', ';', ','])
        .filter_map(entry)
        .collect();
    if out.len() < MIN_ENTRIES {
        return Vec::new();
    }
    out
}

const QUOTES: &[char] = &['\'', '"', '“', '”', '‘', '’', '`'];

fn entry(segment: &str) -> Option<(String, String)> {
    let s = segment.trim();
    let s = s.strip_prefix("* ").unwrap_or(s).trim_start();
    let (code, rest) = if s.starts_with(QUOTES) {
        let body = &s[s.chars().next()?.len_utf8()..];
        let end = body.find(QUOTES)?;
        let code = &body[..end];
        let close = body[end..].chars().next()?.len_utf8();
        (code, &body[end + close..])
    } else {
        let end = s.find([':', '=', ' '])?;
        let code = &s[..end];
        if !code
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+'))
        {
            return None;
        }
        // a code is short ("cl", "F", "1"), upper case ("USD") or holds a digit; "Note: see
        // the docs" is a sentence's label
        let coded = code.chars().count() <= 3
            || (code.chars().count() <= 6 && !code.chars().any(char::is_lowercase))
            || code.chars().any(|c| c.is_ascii_digit());
        if !coded {
            return None;
        }
        (code, &s[end..])
    };
    if code.is_empty() || code.chars().count() > 12 || code.trim() != code {
        return None;
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix([':', '='])?;
    let meaning = rest
        .split(['.', '(', '"', '\''])
        .next()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let ws: Vec<&str> = meaning.split_whitespace().collect();
    if ws.is_empty()
        || ws.len() > MAX_MEANING_WORDS
        || ws.iter().all(|w| is_function_word(w))
        || !ws.iter().all(|w| w.chars().all(|c| c.is_alphabetic() || c == '-'))
        || meaning == code.to_lowercase()
    {
        return None;
    }
    Some((code.to_string(), ws.join(" ")))
}

/// A stored value for each phrase of the question that a legend's meaning equals (`phrases`
/// as [`super::phrases`] gives them).
pub fn hits(phrases: &[String], s: &Schema) -> Vec<ValueHit> {
    let mut out = Vec::new();
    for (ti, t) in s.tables.iter().enumerate() {
        let table_words = name_stems(&t.name);
        for (ci, c) in t.columns.iter().enumerate() {
            if c.expr.is_some() || !matches!(c.kind, Kind::Text | Kind::Integer) {
                continue;
            }
            let column_words = name_stems(&c.name);
            for (code, meaning) in entries(&c.notes) {
                if c.kind == Kind::Integer && code.parse::<i64>().is_err() {
                    continue;
                }
                // "triple bond" in bond.bond_type: "triple" alone says it as well
                let short: Vec<&str> = meaning
                    .split(' ')
                    .filter(|w| {
                        let st = stem(w);
                        !table_words.contains(&st) && !column_words.contains(&st)
                    })
                    .collect();
                let short = short.join(" ");
                let keys = [meaning.clone(), short];
                for p in phrases {
                    if keys.iter().any(|k| !k.is_empty() && k == p && !is_function_word(k)) {
                        out.push(ValueHit {
                            table: ti,
                            column: ci,
                            value: code.clone(),
                            phrase: p.clone(),
                            categorical: true,
                        });
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_ways_of_writing_a_legend() {
        let bonds = "type of the bond. commonsense evidence:\n“-”: single bond\n'=': double bond\n'#': triple bond.";
        assert_eq!(
            entries(bonds),
            vec![
                ("-".into(), "single bond".into()),
                ("=".into(), "double bond".into()),
                ("#".into(), "triple bond".into())
            ]
        );
        let elements = "the element of the toxicology. • cl: chlorine\n• c: carbon\n• sn: Tin";
        assert_eq!(
            entries(elements),
            vec![
                ("cl".into(), "chlorine".into()),
                ("c".into(), "carbon".into()),
                ("sn".into(), "tin".into())
            ]
        );
        assert_eq!(
            entries("F = female; M = male"),
            vec![("F".into(), "female".into()), ("M".into(), "male".into())]
        );
    }

    #[test]
    fn a_sentence_is_not_a_legend() {
        // one "x: y", a long meaning, a code of several words
        assert!(entries("note: kept for audits").is_empty());
        assert!(entries("whether this molecule is carcinogenic or not.").is_empty());
        assert!(entries(
            "status: the state the order is in when it was last looked at, updated nightly; kind: a thing"
        )
        .is_empty());
        assert!(entries("commonsense evidence: a and b, more text: c d").len() < 2);
        // labels of sentences are no codes
        assert!(entries("Note: see the docs; Status: active").is_empty());
        assert_eq!(entries("USD = us dollar; EUR = euro").len(), 2);
    }
}
