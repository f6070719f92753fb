//! Stage 1, literals: limits ("top 5"), numbers with units and comparisons ("more than 10
//! tracks", "longer than 5 minutes") and dates ("in 2023", "last month", "since 2020").
use super::*;

impl Analysis<'_> {
    /// Limits, numeric comparisons and dates.
    pub(super) fn literals(&mut self) {
        let n = self.toks.len();
        let mut i = 0;
        while i < n {
            if self.used[i] || self.toks[i].quoted {
                i += 1;
                continue;
            }
            let w = self.w(i).to_string();
            // "top 5", "first 10", "5 longest" (the superlative reads the limit later)
            if ["top", "first", "best", "bottom", "last"].contains(&w.as_str()) {
                // "last 30 days" is a date, not a limit
                let date_follows = time_unit(self.w(i + 2)).is_some();
                if let Some(k) = self.num(i + 1).filter(|k| {
                    *k >= 1.0 && k.fract() == 0.0 && self.year(i + 1).is_none() && !date_follows
                }) {
                    self.limit = Some(k as u64);
                    self.limit_words = Some((i, 2));
                    self.take(i, 2);
                    if w == "bottom" {
                        self.sup = Some(Superlative {
                            pos: i,
                            desc: false,
                            class: None,
                        });
                    }
                    i += 2;
                    continue;
                }
                if w == "top" {
                    self.limit = Some(self.limit.unwrap_or(10));
                    self.limit_words = Some((i, 1));
                    self.take(i, 1);
                    i += 1;
                    continue;
                }
            }
            // dates
            if let Some(c) = self.date_at(i) {
                i += c;
                continue;
            }
            // comparisons
            if let Some(c) = self.comparison_at(i) {
                i += c;
                continue;
            }
            if let Some(k) = self.num(i) {
                let next_is_sup = [
                    "longest", "shortest", "largest", "biggest", "smallest", "highest", "lowest",
                    "most", "least", "oldest", "youngest", "newest", "latest", "cheapest", "best",
                    "heaviest", "lightest", "tallest", "top", "recent",
                ]
                .contains(&self.w(i + 1));
                // "the 5 courses with the most students": a count of rows near the start
                let rows_named = i <= 2
                    && self.table_word(i + 1).is_some()
                    && (0..i).all(|j| ["the", "top", "list", "show", "which"].contains(&self.w(j)));
                if (next_is_sup || rows_named) && k >= 1.0 && k.fract() == 0.0 {
                    self.limit = Some(k as u64);
                    self.limit_words = Some((i, 1));
                    self.take(i, 1);
                }
            }
            i += 1;
        }
    }

    /// A date condition starting at token `i`; the number of tokens it took.
    pub(super) fn date_at(&mut self, i: usize) -> Option<usize> {
        let w = self.w(i).to_string();
        let class = if i > 0 && ["born", "birth"].contains(&self.w(i - 1)) {
            Some(Class::Birth)
        } else {
            None
        };
        let lit = |y: i32, m: u32| format!("DATE '{y:04}-{m:02}-01'");
        let push = |a: &mut Self, lo: Option<String>, hi: Option<String>, len: usize| {
            a.conds.push(Cond::Date {
                pos: i,
                class,
                lo,
                hi,
            });
            a.take(i, len);
            Some(len)
        };
        // in / during [month] year, in month of year
        if ["in", "during", "for", "from", "of"].contains(&w.as_str()) {
            if let Some(m) = month(self.w(i + 1)) {
                if let Some(y) = self.year(i + 2) {
                    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                    return push(self, Some(lit(y, m)), Some(lit(ny, nm)), 3);
                }
            }
            if let Some(y) = self.year(i + 1) {
                if ["and", "to"].contains(&self.w(i + 2)) {
                    if let Some(y2) = self.year(i + 3) {
                        return push(self, Some(lit(y, 1)), Some(lit(y2 + 1, 1)), 4);
                    }
                }
                // "in 2014 or 2015": the two years, one after the other
                if self.w(i + 2) == "or" && self.year(i + 3) == Some(y + 1) {
                    return push(self, Some(lit(y, 1)), Some(lit(y + 2, 1)), 4);
                }
                return push(self, Some(lit(y, 1)), Some(lit(y + 1, 1)), 2);
            }
        }
        if w == "between" {
            if let (Some(y), Some(y2)) = (self.year(i + 1), self.year(i + 3)) {
                return push(self, Some(lit(y, 1)), Some(lit(y2 + 1, 1)), 4);
            }
        }
        if ["before", "until", "till", "prior"].contains(&w.as_str()) {
            let j = if self.w(i + 1) == "to" { i + 2 } else { i + 1 };
            if let Some(y) = self.year(j) {
                return push(self, None, Some(lit(y, 1)), j - i + 1);
            }
        }
        if ["after", "since", "from"].contains(&w.as_str()) {
            if let Some(y) = self.year(i + 1) {
                let lo = if w == "after" {
                    lit(y + 1, 1)
                } else {
                    lit(y, 1)
                };
                return push(self, Some(lo), None, 2);
            }
        }
        // last month / this year / last 30 days / past 2 weeks
        if ["last", "past", "previous", "this", "current"].contains(&w.as_str()) {
            if let Some(unit) = time_unit(self.w(i + 1)) {
                let unit = if unit == "hour" || unit == "minute" {
                    return None;
                } else {
                    unit
                };
                let trunc = format!("pg_catalog.date_trunc('{unit}', pg_catalog.now())");
                return if w == "this" || w == "current" {
                    push(self, Some(trunc), None, 2)
                } else if self.w(i + 1).ends_with('s') {
                    push(self, Some(ago(1.0, unit)), None, 2)
                } else {
                    push(
                        self,
                        Some(format!("{trunc} - interval '1 {unit}'")),
                        Some(trunc),
                        2,
                    )
                };
            }
            if let (Some(k), Some(unit)) = (self.num(i + 1), time_unit(self.w(i + 2))) {
                return push(self, Some(ago(k, unit)), None, 3);
            }
        }
        // next month / in the next 2 years: from today on
        if ["next", "coming"].contains(&w.as_str()) {
            let (k, u) = match self.num(i + 1) {
                Some(k) => (k, i + 2),
                None => (1.0, i + 1),
            };
            if let Some(unit) = time_unit(self.w(u)).filter(|u| *u != "hour" && *u != "minute") {
                let hi = format!("CURRENT_DATE + interval '{} {unit}'", number(k));
                return push(self, Some("CURRENT_DATE".into()), Some(hi), u - i + 1);
            }
        }
        // older than 6 months / more than 2 years ago / 3 days ago
        if ["older", "earlier"].contains(&w.as_str()) && self.w(i + 1) == "than" {
            if let (Some(k), Some(unit)) = (self.num(i + 2), time_unit(self.w(i + 3))) {
                let len = if self.w(i + 4) == "ago" { 5 } else { 4 };
                return push(self, None, Some(ago(k, unit)), len);
            }
        }
        if ["newer", "younger", "within"].contains(&w.as_str()) {
            let j = if self.w(i + 1) == "than" || self.w(i + 1) == "the" {
                i + 2
            } else {
                i + 1
            };
            let (k, u) = if let Some(k) = self.num(j) {
                (k, j + 1)
            } else {
                (1.0, j)
            };
            if let Some(unit) = time_unit(self.w(u)) {
                return push(self, Some(ago(k, unit)), None, u - i + 1);
            }
        }
        if ["more", "over"].contains(&w.as_str()) {
            let j = if self.w(i + 1) == "than" {
                i + 2
            } else {
                i + 1
            };
            if let (Some(k), Some(unit)) = (self.num(j), time_unit(self.w(j + 1))) {
                if self.w(j + 2) == "ago" {
                    return push(self, None, Some(ago(k, unit)), j + 3 - i);
                }
            }
        }
        None
    }

    /// A numeric comparison starting at token `i`; the number of tokens it took.
    pub(super) fn comparison_at(&mut self, i: usize) -> Option<usize> {
        let w0 = self.w(i).to_string();
        let w1 = self.w(i + 1).to_string();
        let (op, class, len): (&'static str, Option<Class>, usize) =
            match (w0.as_str(), w1.as_str()) {
                ("more" | "greater" | "higher" | "larger" | "bigger", "than") => (">", None, 2),
                ("longer", "than") => (">", Some(Class::Duration), 2),
                ("shorter", "than") => ("<", Some(Class::Duration), 2),
                ("pricier" | "costlier", "than") => (">", Some(Class::Money), 2),
                ("cheaper", "than") => ("<", Some(Class::Money), 2),
                ("heavier", "than") => (">", Some(Class::Size), 2),
                ("taller", "than") => (">", Some(Class::Height), 2),
                ("lighter", "than") => ("<", Some(Class::Size), 2),
                ("less" | "fewer" | "lower" | "smaller", "than") => ("<", None, 2),
                ("more", "expensive") if self.w(i + 2) == "than" => (">", Some(Class::Money), 3),
                ("less", "expensive") if self.w(i + 2) == "than" => ("<", Some(Class::Money), 3),
                ("at", "least") => (">=", None, 2),
                ("at", "most") => ("<=", None, 2),
                ("no", "more") if self.w(i + 2) == "than" => ("<=", None, 3),
                ("over" | "above" | "exceeding" | "exceeds", _) => (">", None, 1),
                ("under" | "below", _) => ("<", None, 1),
                ("exactly" | "worth", _) => ("=", None, 1),
                ("equal" | "equals", "to") => ("=", None, 2),
                ("between", _) => ("between", None, 1),
                _ => return None,
            };
        let mut j = i + len;
        // "singers above age 20": the column named between the word and its number stays a
        // mention of its own, the comparison's nearest
        let named_between = len == 1
            && self.num(j).is_none()
            && self.num(j + 1).is_some()
            && !is_function_word(self.w(j))
            // "employees under manager 5" names rows, not an amount
            && self.table_word(j).is_none()
            && op != "=";
        if named_between {
            j += 1;
        }
        let value = self.num(j)?;
        let mut end = j + 1;
        let mut upper = None;
        if op == "between" {
            if self.w(end) != "and" {
                return None;
            }
            upper = Some(self.num(end + 1)?);
            end += 2;
        }
        let mut scale = 1.0;
        let mut class = class;
        if let Some(ms) = duration_ms(self.w(end)) {
            scale = ms;
            class = Some(Class::Duration);
            end += 1;
        } else if ["dollars", "dollar", "usd", "euros", "euro"].contains(&self.w(end)) {
            class = Some(Class::Money);
            end += 1;
        }
        let noun = if class.is_none() {
            self.table_word(end)
        } else {
            None
        };
        if noun.is_some() {
            end += 1;
        }
        let times = noun.is_none() && class.is_none() && self.w(end) == "times";
        if times {
            end += 1;
        }
        let op = if op == "between" { ">=" } else { op };
        self.conds.push(Cond::Cmp {
            pos: if named_between { j } else { i },
            op,
            value,
            upper,
            scale,
            class,
            noun,
            end,
            times,
        });
        if named_between {
            self.take(i, 1);
            self.take(j, end - j);
        } else {
            self.take(i, end - i);
        }
        Some(end - i)
    }
}

/// Today minus `k` units, as SQL: "in the last 30 days" counts whole days, today included.
pub(super) fn ago(k: f64, unit: &str) -> String {
    format!("CURRENT_DATE - interval '{} {unit}'", number(k))
}

/// Whether two ranges of the same column, each `[lo, hi)` in the same SQL form (a year or a
/// DATE literal), have no value in common.
pub(super) fn disjoint(
    lo0: &Option<String>,
    hi0: &Option<String>,
    lo: &Option<String>,
    hi: &Option<String>,
) -> bool {
    let key = |s: &String| s.trim_start_matches("DATE '").trim_end_matches('\'').to_string();
    let before = |h: &Option<String>, l: &Option<String>| match (h, l) {
        (Some(h), Some(l)) => key(h) <= key(l),
        _ => false,
    };
    before(hi0, lo) || before(hi, lo0)
}
