//! Columns that hold personal or secret data, recognised by name. An admin adds more in
//! `ai.sensitive_columns`; these are the defaults every database gets.

/// Name fragments and what they reveal. A column matches when one of its words (split on
/// `_`, case changes and digits) is a fragment, or its whole name contains a multi-word one.
const FRAGMENTS: &[(&str, &str)] = &[
    ("email", "contact"),
    ("mail", "contact"),
    ("phone", "contact"),
    ("mobile", "contact"),
    ("fax", "contact"),
    ("address", "contact"),
    ("ssn", "national identifier"),
    ("passport", "national identifier"),
    ("nationalid", "national identifier"),
    ("taxid", "national identifier"),
    ("password", "secret"),
    ("passwd", "secret"),
    ("pwd", "secret"),
    ("token", "secret"),
    ("secret", "secret"),
    ("apikey", "secret"),
    ("card", "payment"),
    ("iban", "payment"),
    ("cvv", "payment"),
    ("salary", "compensation"),
    ("wage", "compensation"),
    ("birth", "personal"),
    ("birthdate", "personal"),
    ("dob", "personal"),
];

/// Why a column name looks sensitive, if it does.
pub fn classify(column: &str) -> Option<&'static str> {
    let words = crate::catalog::text::words(column);
    let joined: String = words.split(' ').collect();
    for (fragment, kind) in FRAGMENTS {
        if words
            .split(' ')
            .any(|w| w == *fragment || w.trim_end_matches('s') == *fragment)
        {
            return Some(kind);
        }
        if fragment.len() >= 6 && joined.contains(fragment) {
            return Some(kind);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn recognises_personal_and_secret_columns() {
        assert_eq!(classify("email"), Some("contact"));
        assert_eq!(classify("customer_email"), Some("contact"));
        assert_eq!(classify("Phone"), Some("contact"));
        assert_eq!(classify("billing_address"), Some("contact"));
        assert_eq!(classify("ssn"), Some("national identifier"));
        assert_eq!(classify("password_hash"), Some("secret"));
        assert_eq!(classify("apiKey"), Some("secret"));
        assert_eq!(classify("api_key"), Some("secret"));
        assert_eq!(classify("card_number"), Some("payment"));
        assert_eq!(classify("birth_date"), Some("personal"));
        assert_eq!(classify("BirthDate"), Some("personal"));
        assert_eq!(classify("monthly_salary"), Some("compensation"));
    }

    #[test]
    fn leaves_ordinary_columns_alone() {
        // "discard" is not the word "card", "tokenizer" not the word "token"
        for c in [
            "invoice_id",
            "total",
            "title",
            "name",
            "milliseconds",
            "discard_reason",
            "tokenizer_path",
        ] {
            assert_eq!(classify(c), None, "{c}");
        }
    }
}
