//! Hybrid ranking for ai.search_catalog: vector similarity plus lexical matching of names,
//! so that a question saying "invoices" finds table `invoice` even when meaning is vague.
use super::text::stem;
use std::collections::HashSet;

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "for", "to", "by", "with", "and", "or", "is", "are", "was",
    "were", "be", "what", "which", "who", "whom", "how", "many", "much", "do", "does", "did",
    "show", "list", "me", "all", "each", "per", "from", "that", "this", "there", "their", "have",
    "has", "give", "find", "get", "most", "top", "number",
];

/// Stemmed content words of a question or an identifier (`InvoiceLine`, `invoice_line`).
pub fn tokens(text: &str) -> Vec<String> {
    super::text::words(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(stem)
        .collect()
}

/// Share of a name's words that the question mentions (1.0: all of them).
pub fn lexical(question: &HashSet<String>, name: &str) -> f64 {
    let parts = tokens(name);
    if parts.is_empty() {
        return 0.0;
    }
    let hit = parts.iter().filter(|p| question.contains(*p)).count();
    hit as f64 / parts.len() as f64
}

/// The ranking score: similarity dominates, a name match lifts an object above
/// merely related ones.
pub fn combine(similarity: f64, lexical_name: f64, lexical_context: f64) -> f64 {
    0.6 * similarity + 0.3 * lexical_name + 0.1 * lexical_context
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> HashSet<String> {
        tokens(s).into_iter().collect()
    }

    #[test]
    fn stems_plurals_and_possessives() {
        assert_eq!(stem("invoices"), "invoice");
        assert_eq!(stem("countries"), "country");
        assert_eq!(stem("Addresses"), "address");
        assert_eq!(stem("boxes"), "box");
        assert_eq!(stem("customer's"), "customer");
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("analysis"), "analysis");
        assert_eq!(stem("bus"), "bus");
        assert_eq!(stem("superheroes"), "superhero");
        assert_eq!(stem("potatoes"), "potato");
        assert_eq!(stem("shoes"), "shoe");
        assert_eq!(stem("canoes"), "canoe");
        assert_eq!(stem("leaves"), "leaf");
    }

    #[test]
    fn question_words_match_table_and_column_names() {
        let question = q("How many invoices did each customer get in 2023?");
        assert_eq!(lexical(&question, "invoice"), 1.0);
        assert_eq!(lexical(&question, "customer"), 1.0);
        assert_eq!(lexical(&question, "invoice_line"), 0.5);
        assert_eq!(lexical(&question, "InvoiceLine"), 0.5);
        assert_eq!(lexical(&question, "playlist"), 0.0);
    }

    #[test]
    fn a_name_match_outranks_a_slightly_closer_vector() {
        let named = combine(0.40, 1.0, 0.0);
        let related = combine(0.55, 0.0, 0.0);
        assert!(named > related);
    }
}
