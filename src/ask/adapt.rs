//! A stored sample answers a close question directly, adapted where only literals differ
//! ("customers from Brazil" → "customers from Canada"). Plain Rust.
use super::engine::words::{tokenize, Token};

fn is_literal(t: &Token, first: bool) -> bool {
    t.quoted || t.number.is_some() || (!first && t.capitalised())
}

/// The sample's SQL for `question`, with the literals that differ between the two
/// questions replaced; `None` when the questions differ otherwise or a literal of the
/// sample's question is not found exactly once in its SQL.
pub fn adapt(sample_question: &str, sample_sql: &str, question: &str) -> Option<String> {
    let a = tokenize(sample_question);
    let b = tokenize(question);
    if a.len() != b.len() {
        return None;
    }
    let mut sql = sample_sql.to_string();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x.lower == y.lower {
            continue;
        }
        if !is_literal(x, i == 0) || !is_literal(y, i == 0) {
            return None;
        }
        sql = match (x.number, y.number) {
            (Some(_), Some(_)) if !x.quoted && !y.quoted => replace_number(&sql, &x.text, &y.text)?,
            (None, None) => replace_string(&sql, &x.text, &y.text)?,
            _ => return None,
        };
    }
    Some(sql)
}

/// Whether every literal of `question` also appears in `sample_question` (so a close sample
/// does not answer with a literal the question never asked for).
pub fn same_literals(sample_question: &str, question: &str) -> bool {
    let lits = |q: &str| -> Vec<String> {
        tokenize(q)
            .iter()
            .enumerate()
            .filter(|(i, t)| is_literal(t, *i == 0))
            .map(|(_, t)| t.lower.clone())
            .collect()
    };
    let (a, b) = (lits(sample_question), lits(question));
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

fn replace_number(sql: &str, old: &str, new: &str) -> Option<String> {
    let old = old.trim_start_matches('$').replace(',', "");
    let new = new.trim_start_matches('$').replace(',', "");
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut start = 0;
    while let Some(p) = sql[start..].find(&old) {
        let s = start + p;
        let e = s + old.len();
        let before = s == 0
            || !(bytes[s - 1].is_ascii_alphanumeric()
                || bytes[s - 1] == b'_'
                || bytes[s - 1] == b'.'
                || bytes[s - 1] == b'\'');
        let after = e >= bytes.len()
            || !(bytes[e].is_ascii_alphanumeric() || bytes[e] == b'_' || bytes[e] == b'.');
        if before && after {
            found.push(s);
        }
        start = e;
    }
    if found.len() != 1 {
        return None;
    }
    let s = found[0];
    Some(format!("{}{}{}", &sql[..s], new, &sql[s + old.len()..]))
}

fn replace_string(sql: &str, old: &str, new: &str) -> Option<String> {
    let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let lower = sql.to_lowercase();
    let target = lit(old).to_lowercase();
    let hits: Vec<usize> = lower.match_indices(&target).map(|(i, _)| i).collect();
    if hits.len() != 1 {
        return None;
    }
    let s = hits[0];
    Some(format!(
        "{}{}{}",
        &sql[..s],
        lit(new),
        &sql[s + target.len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_adapted() {
        let sql = "SELECT count(*) FROM customer WHERE country = 'Brazil'";
        assert_eq!(
            adapt(
                "How many customers from Brazil?",
                sql,
                "How many customers from Canada?"
            )
            .as_deref(),
            Some("SELECT count(*) FROM customer WHERE country = 'Canada'")
        );
        assert_eq!(
            adapt(
                "Top 5 artists",
                "SELECT name FROM artist LIMIT 5",
                "Top 10 artists"
            )
            .as_deref(),
            Some("SELECT name FROM artist LIMIT 10")
        );
        assert_eq!(
            adapt("Customers from Brazil", sql, "customers from brazil").as_deref(),
            Some(sql)
        );
        // the new literal is quoted safely
        assert_eq!(
            adapt(
                "Customers from Brazil",
                sql,
                "Customers from \"Côte d'Ivoire\""
            )
            .as_deref(),
            Some("SELECT count(*) FROM customer WHERE country = 'Côte d''Ivoire'")
        );
    }

    #[test]
    fn literals_must_agree_for_a_merely_close_sample() {
        assert!(same_literals(
            "How many customers are there?",
            "how many customers do we have"
        ));
        assert!(same_literals(
            "Customers from Brazil",
            "Which customers live in Brazil?"
        ));
        assert!(!same_literals(
            "Customers from Brazil",
            "Which customers live in Canada?"
        ));
        assert!(!same_literals("Top 5 artists", "Top artists"));
    }

    #[test]
    fn other_differences_are_not_adapted() {
        let sql = "SELECT count(*) FROM customer WHERE country = 'Brazil'";
        assert_eq!(
            adapt(
                "How many customers from Brazil?",
                sql,
                "How many invoices from Brazil?"
            ),
            None
        );
        assert_eq!(
            adapt(
                "How many customers from Brazil?",
                sql,
                "How many customers from the USA?"
            ),
            None
        );
        // a literal the SQL does not contain: not adaptable
        assert_eq!(adapt("Customers in Paris", sql, "Customers in Rome"), None);
        // a number appearing twice is ambiguous
        assert_eq!(adapt("Top 5", "SELECT 5 LIMIT 5", "Top 6"), None);
    }
}
