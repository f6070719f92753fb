//! Making normalised statements plannable: `$n` parameters become representative literals.
//!
//! pg_stat_statements keeps `WHERE customer_id = $1`. The planner needs a value; the value
//! decides the estimate. For an equality the value is a typical one (the middle histogram
//! bound: not one of the most common values, whose estimate would be an outlier); for a lower
//! bound the 90th percentile and for an upper bound the 10th (about a tenth of the rows, the
//! kind of range an index is for). Parameters not compared with a column get a neutral value
//! of their type.
use super::candidates::ParamOp;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::HashMap;

/// A representative value for a column compared with `op`, from pg_stats' arrays.
pub fn pick(op: ParamOp, most_common: &[String], histogram: &[String]) -> Option<String> {
    let at = |v: &[String], f: f64| -> Option<String> {
        if v.is_empty() {
            return None;
        }
        let i = ((v.len() - 1) as f64 * f).round() as usize;
        v.get(i).cloned()
    };
    match op {
        ParamOp::Eq => at(histogram, 0.5).or_else(|| at(most_common, 1.0)),
        ParamOp::Lower => at(histogram, 0.9).or_else(|| at(most_common, 0.5)),
        ParamOp::Upper => at(histogram, 0.1).or_else(|| at(most_common, 0.5)),
    }
}

/// A neutral value of a type, for parameters that are not compared with a column.
pub fn default_for(type_name: &str) -> Option<&'static str> {
    let t = type_name.trim_end_matches("[]");
    Some(match t {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" | "oid" => "1",
        "text" | "character varying" | "character" | "name" | "citext" => "a",
        "boolean" => "true",
        "date" => "2000-01-01",
        "timestamp without time zone" | "timestamp with time zone" => "2000-01-01 00:00:00",
        "time without time zone" | "time with time zone" => "12:00",
        "interval" => "1 day",
        "uuid" => "00000000-0000-0000-0000-000000000000",
        "json" | "jsonb" => "{}",
        "bytea" => "\\x00",
        "inet" | "cidr" => "127.0.0.1",
        _ => return None,
    })
}

/// `'value'::type`, quoted.
pub fn literal(value: &str, type_name: &str) -> String {
    format!("'{}'::{type_name}", value.replace('\'', "''"))
}

/// pg_stat_statements turns `interval '1 day'` into `interval $1`, which does not parse:
/// writes such typed literals as casts (`$1::interval`).
pub fn typed_literals_as_casts(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return sql.to_string();
    };
    const TYPES: &[&str] = &[
        "interval",
        "date",
        "timestamp",
        "timestamptz",
        "time",
        "timetz",
    ];
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Word(w) = &tokens[i] {
            let lower = w.value.to_ascii_lowercase();
            if w.quote_style.is_none() && TYPES.contains(&lower.as_str()) {
                let mut j = i + 1;
                while matches!(tokens.get(j), Some(Token::Whitespace(_))) {
                    j += 1;
                }
                if let Some(Token::Placeholder(p)) = tokens.get(j) {
                    out.push_str(&format!("{p}::{lower}"));
                    i = j + 1;
                    continue;
                }
            }
        }
        out.push_str(&tokens[i].to_string());
        i += 1;
    }
    out
}

/// Replaces each `$n` token by `values[n]` (outside strings and comments: the tokenizer
/// knows where they are). Parameters without a value stay as they are.
pub fn substitute(sql: &str, values: &HashMap<usize, String>) -> Option<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut out = String::with_capacity(sql.len() + 16 * values.len());
    for t in tokens {
        match &t {
            Token::Placeholder(p) => {
                match p
                    .strip_prefix('$')
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| values.get(&n))
                {
                    Some(v) => {
                        out.push('(');
                        out.push_str(v);
                        out.push(')');
                    }
                    None => out.push_str(&t.to_string()),
                }
            }
            _ => out.push_str(&t.to_string()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn representative_values() {
        let h = v(&[
            "0", "10", "20", "30", "40", "50", "60", "70", "80", "90", "100",
        ]);
        assert_eq!(pick(ParamOp::Eq, &[], &h).as_deref(), Some("50"));
        assert_eq!(pick(ParamOp::Lower, &[], &h).as_deref(), Some("90"));
        assert_eq!(pick(ParamOp::Upper, &[], &h).as_deref(), Some("10"));
        // all values common: the least common of them
        assert_eq!(
            pick(ParamOp::Eq, &v(&["a", "b", "c"]), &[]).as_deref(),
            Some("c")
        );
        assert_eq!(pick(ParamOp::Eq, &[], &[]), None);
    }

    #[test]
    fn substitution_leaves_strings_alone() {
        let mut m = HashMap::new();
        m.insert(1, literal("it's", "text"));
        m.insert(2, "10".to_string());
        let s = substitute("SELECT '$1', x FROM t WHERE a = $1 AND b < $2 LIMIT $3", &m).unwrap();
        assert_eq!(
            s,
            "SELECT '$1', x FROM t WHERE a = ('it''s'::text) AND b < (10) LIMIT $3"
        );
        assert_eq!(default_for("bigint"), Some("1"));
        assert_eq!(
            typed_literals_as_casts("SELECT now() - interval $2, Interval '1 day' FROM t"),
            "SELECT now() - $2::interval, Interval '1 day' FROM t"
        );
        assert_eq!(default_for("point"), None);
    }
}
