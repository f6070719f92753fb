//! Words of identifiers and questions: shared by the catalog's descriptions, its search and
//! the ask engine (plain Rust).

/// `invoice_line` / `InvoiceLine` / `invoiceLine` -> `invoice line`.
pub fn words(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if ch == '_' || ch == '-' || ch == ' ' || ch == '.' {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !out.ends_with(' ') {
            out.push(' ');
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        out.extend(ch.to_lowercase());
    }
    out.trim().to_string()
}

/// A light English stemmer for identifiers and questions: plural and possessive forms.
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    let w = w.trim_end_matches("'s").trim_end_matches('\'');
    let n = w.len();
    if w == "ids" {
        return "id".to_string();
    }
    // the plurals in -ves of a word in -f or -fe ("leaves", "shelves", "knives")
    const VES: &[(&str, &str)] = &[
        ("leaves", "leaf"),
        ("shelves", "shelf"),
        ("halves", "half"),
        ("calves", "calf"),
        ("wolves", "wolf"),
        ("loaves", "loaf"),
        ("thieves", "thief"),
        ("knives", "knife"),
        ("wives", "wife"),
        ("lives", "life"),
    ];
    if let Some((_, one)) = VES.iter().find(|(many, _)| *many == w) {
        return one.to_string();
    }
    // "heroes", "potatoes" (not "shoes", "canoes": a word in -oe)
    if n > 5 && w.ends_with("oes") && !["canoes", "oboes", "tiptoes"].contains(&w) && !w.ends_with("shoes") {
        return w[..n - 2].to_string();
    }
    if n > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..n - 3]);
    }
    for suffix in ["sses", "xes", "ches", "shes", "zes"] {
        if n > suffix.len() + 1 && w.ends_with(suffix) {
            return w[..n - 2].to_string();
        }
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..n - 1].to_string();
    }
    w.to_string()
}
