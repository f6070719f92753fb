//! Stage 2, intent: the words that say what is asked (count, list, sum / average / min / max,
//! top-N and superlatives, grouping, negation, distinct) and the classes of column that
//! adjectives and units imply.
use super::account::is_agent_verb;
use super::*;

impl Analysis<'_> {
    /// The table a single word names (through the thesaurus), if any.
    pub(super) fn table_word(&self, i: usize) -> Option<usize> {
        let t = self.toks.get(i)?;
        if t.quoted {
            return None;
        }
        let syn = synonyms(&t.stem);
        self.s.tables.iter().position(|tb| {
            let parts = name_stems(&tb.name);
            parts.len() == 1 && syn.iter().any(|w| stem(w) == parts[0])
        })
    }

    /// Where "most common" / "least popular" / "most frequent" ends: its adjective.
    pub(super) fn most_common(&self) -> Option<usize> {
        self.most
            .map(|m| m.0)
            .filter(|&p| p > 0 && matches!(self.w(p), "common" | "popular" | "frequent"))
    }

    /// Count, aggregates, superlatives, grouping and negation words.
    pub(super) fn intent_words(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.used[i] {
                continue;
            }
            let w = self.w(i).to_string();
            let next = self.w(i + 1).to_string();
            match w.as_str() {
                // "shared by the most number of orchestras", "the greatest number of
                // students": a count to order by, the first row (the noun follows "of")
                "most" | "least" | "fewest" | "greatest" | "largest" | "highest" | "biggest"
                | "lowest" | "smallest"
                    if next == "number" && self.w(i + 2) == "of" =>
                {
                    let desc = !matches!(w.as_str(), "least" | "fewest" | "lowest" | "smallest");
                    self.most = Some((i + 2, desc));
                    self.take(i, 3);
                }
                // "in alphabetical order", "in reverse alphabetical order", "sorted
                // alphabetically", "in reversed lexicographical order": the listed names
                "alphabetical" | "alphabetically" | "lexicographical" | "lexicographic" => {
                    let mut start = i;
                    let desc = i > 0 && matches!(self.w(i - 1), "reverse" | "reversed");
                    if desc {
                        start -= 1;
                    }
                    if start > 0 && matches!(self.w(start - 1), "in" | "sorted" | "ordered") {
                        start -= 1;
                    }
                    let end = if next == "order" { i + 2 } else { i + 1 };
                    self.alphabetical = Some((start, end - start, desc));
                    self.take(start, end - start);
                }
                "how" if next == "many" => {
                    self.count_at.get_or_insert(i);
                    self.take(i, 2);
                }
                // "the average number of staff" is no count: an average (or the largest or
                // smallest, or the total) of a number, which a column must hold — left to the
                // columns
                "number"
                    if next == "of"
                        && i > 0
                        && matches!(
                            self.w(i - 1),
                            "average" | "avg" | "mean" | "maximum" | "max" | "minimum" | "min"
                                | "total"
                        ) => {}
                "number" | "count" if next == "of" || w == "count" => {
                    self.count_at.get_or_insert(i);
                    self.take(i, if next == "of" { 2 } else { 1 });
                }
                // "in ascending order of age"; "sort names by age in descending order"
                "in" if matches!(
                    next.as_str(),
                    "ascending" | "descending" | "increasing" | "decreasing"
                ) && self.w(i + 2) == "order" =>
                {
                    let desc = matches!(next.as_str(), "descending" | "decreasing");
                    if matches!(self.w(i + 3), "of" | "by") {
                        self.sort_at = Some((i + 4, desc));
                        self.take(i, 4);
                    } else if let Some((p, _)) = self.sort_at {
                        self.sort_at = Some((p, desc));
                        self.take(i, 3);
                    }
                }
                // "sort employee names by their age": the key follows the "by" (an imperative
                // that opens the question or follows "and": "the order by John" is no sort)
                "sort" | "order" | "rank"
                    if next != "by"
                        && !self.used[i]
                        && (i == 0 || matches!(self.w(i - 1), "and" | "then")) =>
                {
                    if let Some(b) = (i + 2..(i + 5).min(n)).find(|&k| self.w(k) == "by") {
                        self.sort_at = Some((b + 1, false));
                        self.take(i, 1);
                        self.take(b, 1);
                    }
                }
                "sorted" | "ordered" | "sort" | "order" | "ranked" if next == "by" => {
                    let after = (i + 2..n).find(|&k| {
                        matches!(self.w(k), "descending" | "desc" | "ascending" | "asc")
                    });
                    let desc = after.is_some_and(|k| self.w(k).starts_with("desc"));
                    if let Some(k) = after {
                        self.take(k, 1);
                    }
                    self.sort_at = Some((i + 2, desc));
                    self.take(i, 2);
                }
                // "the total number of singers", "the total count of teachers", "how many
                // paragraphs in total": a count, no sum ("the total number of credits", where
                // no table is called credits, stays a sum of the column)
                "total"
                    if (matches!(next.as_str(), "number" | "count")
                        && self.w(i + 2) == "of"
                        && self.table_word(i + 3).is_some())
                        || (i > 0 && self.w(i - 1) == "in" && self.count_at.is_some()) =>
                {
                    if next == "number" || next == "count" {
                        self.count_at.get_or_insert(i + 1);
                        self.take(i, 3);
                    } else {
                        self.take(i - 1, 2);
                    }
                }
                "total" | "sum" => {
                    // "sorted by total": the column, not a sum
                    if self.agg.is_none() && self.sort_at.is_none_or(|(p, _)| p != i) {
                        self.agg = Some((Agg::Sum, i));
                    }
                    // the word stays free: it may also be a column called "total"
                    if w == "sum" {
                        self.take(i, 1);
                    }
                    if next == "of" {
                        self.take(i + 1, 1);
                    }
                }
                "average" | "avg" | "mean" | "maximum" | "max" | "minimum" | "min" => {
                    let agg = match w.as_str() {
                        "average" | "avg" | "mean" => Agg::Avg,
                        "maximum" | "max" => Agg::Max,
                        _ => Agg::Min,
                    };
                    // "the average, minimum and maximum age": a second one listed right after
                    // the first is of the same column; elsewhere it stays unexplained, so the
                    // answer is not given
                    let last = self.more_aggs.last().or(self.agg.as_ref()).map(|x| x.1);
                    match self.agg {
                        Some((other, _)) if other != agg => {
                            let listed = last.is_some_and(|l| {
                                l < i && (l + 1..i).all(|k| ["and", "or"].contains(&self.w(k)))
                            });
                            if listed && !self.more_aggs.iter().any(|x| x.0 == agg) {
                                self.more_aggs.push((agg, i));
                                self.take(i, 1);
                            }
                        }
                        _ => {
                            self.agg = Some((agg, i));
                            self.take(i, 1);
                        }
                    }
                }
                "highest" | "largest" | "biggest" | "greatest" | "lowest" | "smallest"
                | "longest" | "shortest" | "oldest" | "youngest" | "newest" | "latest"
                | "earliest" | "cheapest" | "priciest" | "best" | "worst" | "heaviest"
                | "lightest" | "tallest" => {
                    let desc = [
                        "highest", "largest", "biggest", "greatest", "longest", "youngest",
                        "newest", "latest", "priciest", "best", "heaviest", "tallest",
                    ]
                    .contains(&w.as_str());
                    let class = match w.as_str() {
                        "longest" | "shortest" => Some(Class::Duration),
                        "oldest" | "youngest" => Some(Class::Birth),
                        "newest" | "latest" | "earliest" => Some(Class::When),
                        "cheapest" | "priciest" => Some(Class::Money),
                        "best" | "worst" => Some(Class::Rating),
                        "tallest" => Some(Class::Height),
                        "largest" | "biggest" | "smallest" | "heaviest" | "lightest" => {
                            Some(Class::Size)
                        }
                        _ => None,
                    };
                    self.sup = Some(Superlative {
                        pos: i,
                        desc,
                        class,
                    });
                    self.take(i, 1);
                }
                "most" | "least" | "fewest" => {
                    let desc = w == "most";
                    if next == "expensive" {
                        self.sup = Some(Superlative {
                            pos: i,
                            desc,
                            class: Some(Class::Money),
                        });
                        self.take(i, 2);
                    } else if next == "recent" || next == "recently" {
                        self.sup = Some(Superlative {
                            pos: i,
                            desc: true,
                            class: Some(Class::When),
                        });
                        self.take(i, 2);
                    } else if next == "popular" || next == "common" || next == "frequent" {
                        // (what is most common follows the adjective)
                        self.most = Some((i + 1, desc));
                        self.take(i, 2);
                    } else {
                        self.most = Some((i, desc));
                        self.take(i, 1);
                    }
                }
                "per" | "each" | "every" => {
                    self.group_at.push(i + 1);
                    self.take(i, 1);
                }
                "for" | "in" if next == "each" || next == "every" => {
                    self.group_at.push(i + 2);
                    self.take(i, 2);
                }
                // "pets owned by students", "cartoons written by X": the agent of a verb, which
                // the join or a value says, not a grouping ("tracks sold by genre", a bare
                // singular noun, still groups)
                "by" if i > 0 && is_agent_verb(self.w(i - 1)) && !self.bare_singular(i + 1) => {
                    self.take(i, 1)
                }
                "by" => {
                    self.by_at = Some(i + 1);
                    self.take(i, 1);
                }
                "never" | "without" | "none" => {
                    self.negation_at.get_or_insert(i);
                    self.take(i, 1);
                }
                "no" | "not" if !self.used.get(i + 1).copied().unwrap_or(true) => {
                    self.negation_at.get_or_insert(i);
                    let skip = if next == "any" { 2 } else { 1 };
                    self.take(i, skip);
                }
                // "the maximum share": a column of that name, after its aggregate
                "percentage" | "percent" | "share" | "fraction" | "proportion" | "ratio"
                    if !(self.agg.iter().chain(&self.more_aggs).any(|x| x.1 + 1 == i)
                        && self.s.tables.iter().any(|t| {
                            t.columns.iter().any(|c| stem(&c.name) == stem(&w))
                        })) =>
                {
                    self.share = Some(Share {
                        pos: i,
                        percent: w == "percentage" || w == "percent",
                        ratio: w == "ratio",
                    });
                    self.take(i, if next == "of" { 2 } else { 1 });
                }
                // "neither A nor B": understood only when A and B are values of one column
                "neither" => self.neither_at = Some(i),
                // "all the information about hiring", "everything about"
                "all" | "everything" => {
                    const WHOLE: &[&str] = &[
                        "information",
                        "info",
                        "details",
                        "detail",
                        "data",
                        "fields",
                        "columns",
                        "attributes",
                    ];
                    let span = if w == "everything" {
                        Some(1)
                    } else if WHOLE.contains(&next.as_str()) {
                        Some(2)
                    } else if next == "the" && WHOLE.contains(&self.w(i + 2)) {
                        Some(3)
                    } else {
                        None
                    };
                    if let Some(n) = span {
                        self.all_columns.get_or_insert((i, n));
                        self.take(i, n);
                    }
                }
                "distinct" | "different" | "unique" => {
                    self.distinct = true;
                    self.take(i, 1);
                }
                _ => {}
            }
            if MONEY_WORDS.contains(&w.as_str()) && self.money_at.is_none() {
                self.money_at = Some(i);
                self.take(i, 1);
            }
        }
        // "do not have", "don't have", "have no": negation words already taken above
        for i in 0..n {
            if ["don't", "doesn't", "haven't", "hasn't", "didn't"].contains(&self.w(i)) {
                self.negation_at.get_or_insert(i);
                self.take(i, 1);
            }
        }
    }

    /// A free word in `from..from + n` that names a kind of measure ("length", "price").
    pub(super) fn class_word(&mut self, from: usize, n: usize) -> Option<Class> {
        for i in from..(from + n).min(self.toks.len()) {
            if self.used[i] {
                continue;
            }
            let c = match self.toks[i].stem.as_str() {
                "length" | "duration" | "runtime" | "long" => Class::Duration,
                "price" | "cost" | "expensive" => Class::Money,
                "size" | "big" => Class::Size,
                "age" => Class::Birth,
                "rating" | "score" => Class::Rating,
                "height" | "tall" => Class::Height,
                _ => continue,
            };
            self.used[i] = true;
            return Some(c);
        }
        None
    }
}

impl Analysis<'_> {
    /// Token `i` is a singular noun with no determiner ("by genre", "by year"): what a
    /// grouping names, where an agent is plural, a name or determined ("by students", "by
    /// Joseph Kuhr", "by the owners").
    fn bare_singular(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        !t.quoted
            && t.number.is_none()
            && !t.text.chars().next().is_some_and(char::is_uppercase)
            && !is_function_word(&t.lower)
            && t.stem == t.lower
    }
}
