//! From the words of a question to a query plan, and from the plan to SQL.
use super::sql::{ident, literal, number, From};
use super::words::{self, duration_ms, is_function_word, month, synonyms, time_unit, Token};
use super::{Answer, Kind, NotUnderstood, Schema, ValueHit};
use crate::catalog::search::stem;

type Col = (usize, usize);

#[derive(Debug, Clone)]
enum Target {
    Table(usize),
    /// Candidate columns with the quality of the match (1 exact, less for a partial one).
    Columns(Vec<(Col, f64)>),
}

#[derive(Debug, Clone)]
struct Mention {
    start: usize,
    target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Sum,
    Avg,
    Max,
    Min,
}

impl Agg {
    fn sql(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Avg => "avg",
            Agg::Max => "max",
            Agg::Min => "min",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Agg::Sum => "total",
            Agg::Avg => "average",
            Agg::Max => "largest",
            Agg::Min => "smallest",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Measure {
    Count(usize),
    CountDistinct(Col),
    Of(Agg, Col),
}

#[derive(Debug, Clone, PartialEq)]
enum Group {
    Table(usize),
    Column(Col),
}

/// What kind of column an adjective or a unit implies.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Duration,
    Money,
    Size,
    Birth,
    When,
    Rating,
}

impl Class {
    fn hints(self) -> &'static [&'static str] {
        match self {
            Class::Duration => &[
                "millisecond",
                "duration",
                "length",
                "minute",
                "second",
                "runtime",
                "page",
            ],
            Class::Money => &[
                "total", "amount", "price", "cost", "revenue", "sale", "paid", "fee", "salary",
            ],
            Class::Size => &[
                "size",
                "byte",
                "weight",
                "capacity",
                "population",
                "area",
                "page",
                "total",
                "amount",
            ],
            Class::Birth => &["birth", "born", "dob"],
            Class::When => &["date", "created", "time", "at", "on", "day", "year"],
            Class::Rating => &["rating", "score", "star", "grade"],
        }
    }
    fn kind_ok(self, k: Kind) -> bool {
        match self {
            Class::Birth | Class::When => {
                k.temporal() || (self == Class::When && k == Kind::Integer)
            }
            _ => k.numeric(),
        }
    }
}

#[derive(Debug, Clone)]
enum Cond {
    Eq {
        alts: Vec<Col>,
        value: String,
    },
    /// A comparison whose column is found later: near `pos`, of class `class`, or the
    /// counted table `noun` (then it is a HAVING).
    Cmp {
        pos: usize,
        op: &'static str,
        value: f64,
        upper: Option<f64>,
        scale: f64,
        class: Option<Class>,
        noun: Option<usize>,
        end: usize,
    },
    Date {
        pos: usize,
        class: Option<Class>,
        lo: Option<String>,
        hi: Option<String>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Superlative {
    pos: usize,
    desc: bool,
    class: Option<Class>,
}

struct Analysis<'a> {
    s: &'a Schema,
    toks: Vec<Token>,
    used: Vec<bool>,
    mentions: Vec<Mention>,
    conds: Vec<Cond>,
    limit: Option<u64>,
    count_at: Option<usize>,
    agg: Option<(Agg, usize)>,
    sup: Option<Superlative>,
    most: Option<(usize, bool)>,
    group_at: Vec<usize>,
    by_at: Option<usize>,
    negation_at: Option<usize>,
    distinct: bool,
    money_at: Option<usize>,
    order_col: Option<Col>,
    guesses: Vec<&'static str>,
}

const MONEY_WORDS: &[&str] = &[
    "sales", "sale", "revenue", "spent", "spend", "spending", "income", "earnings", "earned",
    "sold", "paid", "money",
];

/// Builds SQL for `question` over `s`, given the stored values its phrases matched.
pub fn answer(question: &str, s: &Schema, values: &[ValueHit]) -> Result<Answer, NotUnderstood> {
    let toks = words::tokenize(question);
    let mut a = Analysis {
        s,
        used: vec![false; toks.len()],
        toks,
        mentions: Vec::new(),
        conds: Vec::new(),
        limit: None,
        count_at: None,
        agg: None,
        sup: None,
        most: None,
        group_at: Vec::new(),
        by_at: None,
        negation_at: None,
        distinct: false,
        money_at: None,
        order_col: None,
        guesses: Vec::new(),
    };
    a.literals();
    a.intent_words();
    a.values(values);
    a.find_mentions();
    a.plan()
}

impl Analysis<'_> {
    fn w(&self, i: usize) -> &str {
        self.toks.get(i).map(|t| t.lower.as_str()).unwrap_or("")
    }
    fn take(&mut self, from: usize, n: usize) {
        for i in from..(from + n).min(self.used.len()) {
            self.used[i] = true;
        }
    }
    fn num(&self, i: usize) -> Option<f64> {
        self.toks
            .get(i)
            .filter(|t| !t.quoted)
            .and_then(|t| t.number)
    }
    fn year(&self, i: usize) -> Option<i32> {
        self.num(i)
            .filter(|n| {
                n.fract() == 0.0 && (1900.0..=2100.0).contains(n) && self.toks[i].lower.len() == 4
            })
            .map(|n| n as i32)
    }

    /// Limits, numeric comparisons and dates.
    fn literals(&mut self) {
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
                if let Some(k) = self
                    .num(i + 1)
                    .filter(|k| *k >= 1.0 && k.fract() == 0.0 && self.year(i + 1).is_none())
                {
                    self.limit = Some(k as u64);
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
                    "top", "recent",
                ]
                .contains(&self.w(i + 1));
                if next_is_sup && k >= 1.0 && k.fract() == 0.0 {
                    self.limit = Some(k as u64);
                    self.take(i, 1);
                }
            }
            i += 1;
        }
    }

    /// A date condition starting at token `i`; the number of tokens it took.
    fn date_at(&mut self, i: usize) -> Option<usize> {
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
    fn comparison_at(&mut self, i: usize) -> Option<usize> {
        let w0 = self.w(i).to_string();
        let w1 = self.w(i + 1).to_string();
        let (op, class, len): (&'static str, Option<Class>, usize) =
            match (w0.as_str(), w1.as_str()) {
                ("more" | "greater" | "higher" | "larger" | "bigger", "than") => (">", None, 2),
                ("longer", "than") => (">", Some(Class::Duration), 2),
                ("shorter", "than") => ("<", Some(Class::Duration), 2),
                ("pricier" | "costlier", "than") => (">", Some(Class::Money), 2),
                ("cheaper", "than") => ("<", Some(Class::Money), 2),
                ("less" | "fewer" | "lower" | "smaller", "than") => ("<", None, 2),
                ("more", "expensive") if self.w(i + 2) == "than" => (">", Some(Class::Money), 3),
                ("less", "expensive") if self.w(i + 2) == "than" => ("<", Some(Class::Money), 3),
                ("at", "least") => (">=", None, 2),
                ("at", "most") => ("<=", None, 2),
                ("no", "more") if self.w(i + 2) == "than" => ("<=", None, 3),
                ("over" | "above" | "exceeding" | "exceeds", _) => (">", None, 1),
                ("under" | "below", _) => ("<", None, 1),
                ("exactly", _) => ("=", None, 1),
                ("equal" | "equals", "to") => ("=", None, 2),
                ("between", _) => ("between", None, 1),
                _ => return None,
            };
        let j = i + len;
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
        let op = if op == "between" { ">=" } else { op };
        self.conds.push(Cond::Cmp {
            pos: i,
            op,
            value,
            upper,
            scale,
            class,
            noun,
            end,
        });
        self.take(i, end - i);
        Some(end - i)
    }

    /// The table a single word names (through the thesaurus), if any.
    fn table_word(&self, i: usize) -> Option<usize> {
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

    /// Count, aggregates, superlatives, grouping and negation words.
    fn intent_words(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.used[i] {
                continue;
            }
            let w = self.w(i).to_string();
            let next = self.w(i + 1).to_string();
            match w.as_str() {
                "how" if next == "many" => {
                    self.count_at.get_or_insert(i);
                    self.take(i, 2);
                }
                "number" | "count" if next == "of" || w == "count" => {
                    self.count_at.get_or_insert(i);
                    self.take(i, if next == "of" { 2 } else { 1 });
                }
                "total" | "sum" => {
                    if self.agg.is_none() {
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
                "average" | "avg" | "mean" => {
                    self.agg = Some((Agg::Avg, i));
                    self.take(i, 1);
                }
                "maximum" | "max" => {
                    self.agg = Some((Agg::Max, i));
                    self.take(i, 1);
                }
                "minimum" | "min" => {
                    self.agg = Some((Agg::Min, i));
                    self.take(i, 1);
                }
                "highest" | "largest" | "biggest" | "greatest" | "lowest" | "smallest"
                | "longest" | "shortest" | "oldest" | "youngest" | "newest" | "latest"
                | "earliest" | "cheapest" | "priciest" | "best" | "worst" => {
                    let desc = [
                        "highest", "largest", "biggest", "greatest", "longest", "youngest",
                        "newest", "latest", "priciest", "best",
                    ]
                    .contains(&w.as_str());
                    let class = match w.as_str() {
                        "longest" | "shortest" => Some(Class::Duration),
                        "oldest" | "youngest" => Some(Class::Birth),
                        "newest" | "latest" | "earliest" => Some(Class::When),
                        "cheapest" | "priciest" => Some(Class::Money),
                        "best" | "worst" => Some(Class::Rating),
                        "largest" | "biggest" | "smallest" => Some(Class::Size),
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
                        self.most = Some((i, desc));
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

    /// Phrases equal to stored values become equality conditions.
    fn values(&mut self, values: &[ValueHit]) {
        let n = self.toks.len();
        for len in (1..=4).rev() {
            for i in 0..n.saturating_sub(len - 1) {
                if self.used[i..i + len].iter().any(|u| *u) {
                    continue;
                }
                let span = &self.toks[i..i + len];
                if len > 1 && span.iter().any(|t| t.quoted) {
                    continue;
                }
                let quoted = span[0].quoted;
                let capital = span.iter().any(|t| t.capitalised()) && i > 0;
                let phrase = span
                    .iter()
                    .map(|t| t.lower.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let hits: Vec<&ValueHit> = values.iter().filter(|v| v.phrase == phrase).collect();
                if hits.is_empty() {
                    continue;
                }
                // a plain lower-case word that names a table or column is that, not a value
                let names_schema =
                    !quoted && !capital && len == 1 && self.schema_word(&span[0].stem);
                if names_schema || (!quoted && span.iter().all(|t| is_function_word(&t.lower))) {
                    continue;
                }
                // the strongest: quoted or capitalised, a category, in a table the question names
                let mentioned = |t: usize| {
                    let parts = name_stems(&self.s.tables[t].name);
                    self.toks.iter().any(|tok| {
                        parts.contains(&tok.stem)
                            || synonyms(&tok.stem).iter().any(|s| parts.contains(&stem(s)))
                    })
                };
                let score = |v: &ValueHit| -> f64 {
                    let col = &self.s.tables[v.table].columns[v.column];
                    let col_named = col_stems(&col.name)
                        .iter()
                        .any(|c| self.toks.iter().any(|t| &t.stem == c));
                    // "the album 'Let There Be Rock'": the word just before names the table
                    let before = (0..i).rev().find(|&k| {
                        !["the", "a", "an", "named", "called", "titled"]
                            .contains(&self.toks[k].lower.as_str())
                    });
                    let adjacent = before.is_some_and(|k| {
                        let st = &self.toks[k].stem;
                        name_stems(&self.s.tables[v.table].name).contains(st)
                            || col_stems(&col.name).contains(st)
                    });
                    (if mentioned(v.table) { 2.0 } else { 0.0 })
                        + if col_named { 1.0 } else { 0.0 }
                        + if v.categorical { 1.0 } else { 0.0 }
                        + if adjacent { 3.0 } else { 0.0 }
                };
                let best = hits.iter().map(|v| score(v)).fold(f64::MIN, f64::max);
                if !quoted && !capital && best < 1.0 {
                    continue;
                }
                let mut alts: Vec<Col> = Vec::new();
                let mut value = String::new();
                for v in hits.iter().filter(|v| score(v) >= best) {
                    if !alts.contains(&(v.table, v.column)) {
                        alts.push((v.table, v.column));
                        value = v.value.clone();
                    }
                }
                self.conds.push(Cond::Eq { alts, value });
                self.take(i, len);
            }
        }
    }

    fn schema_word(&self, st: &str) -> bool {
        self.s.tables.iter().any(|t| {
            name_stems(&t.name).iter().any(|p| p == st)
                || t.columns
                    .iter()
                    .any(|c| col_stems(&c.name).iter().any(|p| p == st))
        })
    }

    /// Tables and columns named by the free words, longest phrases first.
    fn find_mentions(&mut self) {
        let n = self.toks.len();
        for len in (1..=3).rev() {
            for i in 0..n.saturating_sub(len - 1) {
                if self.used[i..i + len].iter().any(|u| *u)
                    || self.toks[i..i + len].iter().any(|t| t.quoted)
                {
                    continue;
                }
                let stems: Vec<String> = self.toks[i..i + len]
                    .iter()
                    .map(|t| t.stem.clone())
                    .collect();
                if let Some(target) = self.link(&stems) {
                    self.mentions.push(Mention { start: i, target });
                    self.take(i, len);
                }
            }
        }
        self.mentions.sort_by_key(|m| m.start);
    }

    fn link(&self, stems: &[String]) -> Option<Target> {
        let variants: Vec<Vec<String>> = if stems.len() == 1 {
            synonyms(&stems[0])
                .into_iter()
                .map(|w| vec![stem(w)])
                .collect()
        } else {
            vec![stems.to_vec()]
        };
        // a table by its name
        for v in &variants {
            let exact: Vec<usize> = (0..self.s.tables.len())
                .filter(|&t| &name_stems(&self.s.tables[t].name) == v)
                .collect();
            if let Some(&t) = exact.iter().max_by(|a, b| {
                self.s.tables[**a]
                    .similarity
                    .total_cmp(&self.s.tables[**b].similarity)
            }) {
                return Some(Target::Table(t));
            }
        }
        // a column by its name, whole or in part
        let generic = [
            "id", "date", "name", "code", "at", "on", "is", "no", "num", "type", "number",
        ];
        let mut cols: Vec<(Col, f64)> = Vec::new();
        for (ti, t) in self.s.tables.iter().enumerate() {
            let tparts = name_stems(&t.name);
            for (ci, c) in t.columns.iter().enumerate() {
                let parts = col_stems(&c.name);
                let without_table: Vec<String> = strip_prefix(&parts, &tparts);
                for (vi, v) in variants.iter().enumerate() {
                    let syn = if vi == 0 { 0.0 } else { 0.1 };
                    let q = if &parts == v || &without_table == v {
                        1.0
                    } else if v.len() == 1
                        && parts.len() > 1
                        && parts.last() == Some(&v[0])
                        && !c.pk
                    {
                        0.7
                    } else if v.len() == 1
                        && parts.len() > 1
                        && !generic.contains(&v[0].as_str())
                        && parts.contains(&v[0])
                        && !c.pk
                    {
                        0.6
                    } else {
                        continue;
                    };
                    if parts.last().map(String::as_str) == Some("id")
                        && !v.iter().any(|x| x == "id")
                    {
                        continue;
                    }
                    cols.push(((ti, ci), q - syn));
                    break;
                }
            }
        }
        if !cols.is_empty() {
            return Some(Target::Columns(cols));
        }
        // a table through its comment or description
        if stems.len() == 1 && !is_function_word(&stems[0]) && stems[0].len() > 2 {
            let hits: Vec<usize> = (0..self.s.tables.len())
                .filter(|&t| {
                    crate::catalog::search::tokens(&self.s.tables[t].notes).contains(&stems[0])
                })
                .collect();
            if hits.len() == 1 {
                return Some(Target::Table(hits[0]));
            }
            // a column through its comment or description
            let cols: Vec<(Col, f64)> = self
                .s
                .tables
                .iter()
                .enumerate()
                .flat_map(|(ti, t)| {
                    t.columns
                        .iter()
                        .enumerate()
                        .map(move |(ci, c)| ((ti, ci), c))
                })
                .filter(|(_, c)| crate::catalog::search::tokens(&c.notes).contains(&stems[0]))
                .map(|(k, _)| (k, 0.5))
                .collect();
            if !cols.is_empty() && cols.len() <= 2 {
                return Some(Target::Columns(cols));
            }
        }
        None
    }

    fn mention_after(&self, pos: usize, within: usize) -> Option<&Mention> {
        self.mentions
            .iter()
            .find(|m| m.start >= pos && m.start <= pos + within)
    }

    fn table_after(&self, pos: usize, within: usize) -> Option<(usize, usize)> {
        self.mentions
            .iter()
            .filter(|m| m.start >= pos && m.start <= pos + within)
            .find_map(|m| match m.target {
                Target::Table(t) => Some((m.start, t)),
                _ => None,
            })
    }

    /// Resolves a column mention to one column: in the subject, in a table the question
    /// names, near the subject, the best match.
    fn pick(&self, alts: &[(Col, f64)], subject: usize, named: &[usize]) -> Col {
        let score = |(c, q): &(Col, f64)| -> f64 {
            let hops = super::sql::path(self.s, &[subject], c.0)
                .map(|p| p.len())
                .unwrap_or(9) as f64;
            q + if c.0 == subject { 0.5 } else { 0.0 }
                + if named.contains(&c.0) { 0.4 } else { 0.0 }
                - 0.05 * hops
        };
        alts.iter()
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .map(|x| x.0)
            .unwrap_or((subject, 0))
    }

    /// The best column of a column mention whose kind passes `ok`.
    fn pick_kind(
        &self,
        m: &Mention,
        ok: fn(Kind) -> bool,
        subject: usize,
        named: &[usize],
    ) -> Option<Col> {
        let Target::Columns(c) = &m.target else {
            return None;
        };
        let fit: Vec<(Col, f64)> = c
            .iter()
            .filter(|(x, _)| ok(self.s.tables[x.0].columns[x.1].kind))
            .cloned()
            .collect();
        (!fit.is_empty()).then(|| self.pick(&fit, subject, named))
    }

    /// The column of `class` in the tables `scope` (first scope table first).
    fn class_column(&self, class: Class, scope: &[usize]) -> Option<Col> {
        for &t in scope {
            let tb = &self.s.tables[t];
            let mut best: Option<(usize, usize)> = None;
            for (ci, c) in tb.columns.iter().enumerate() {
                if c.pk
                    || !class.kind_ok(c.kind)
                    || col_stems(&c.name).last().map(String::as_str) == Some("id")
                {
                    continue;
                }
                let parts = col_stems(&c.name);
                if let Some(rank) = class
                    .hints()
                    .iter()
                    .position(|h| parts.iter().any(|p| p.starts_with(h)))
                {
                    if best.is_none_or(|(r, _)| rank < r) {
                        best = Some((rank, ci));
                    }
                }
            }
            if let Some((_, ci)) = best {
                return Some((t, ci));
            }
            if class == Class::When || class == Class::Birth {
                let temporal: Vec<usize> = (0..tb.columns.len())
                    .filter(|&ci| tb.columns[ci].kind.temporal())
                    .collect();
                if temporal.len() == 1 && class == Class::When {
                    return Some((t, temporal[0]));
                }
            }
        }
        None
    }

    fn plan(mut self) -> Result<Answer, NotUnderstood> {
        let named: Vec<usize> = self
            .mentions
            .iter()
            .filter_map(|m| match m.target {
                Target::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        // the group key: after per / each / by
        let mut group_mention: Option<Mention> = None;
        for &g in &self.group_at {
            if let Some(m) = self.mention_after(g, 1) {
                let mut m = m.clone();
                if let Target::Table(t) = m.target {
                    let own = self
                        .mentions
                        .iter()
                        .find(|n| n.start == m.start + 1)
                        .and_then(|n| match &n.target {
                            Target::Columns(c) => {
                                c.iter().find(|x| x.0 .0 == t).map(|x| (n.start, x.0))
                            }
                            _ => None,
                        });
                    if let Some((start, col)) = own {
                        m = Mention {
                            start,
                            target: Target::Columns(vec![(col, 1.0)]),
                        };
                    }
                }
                group_mention = Some(m);
            }
        }
        let mut by_measure_at: Option<usize> = None;
        if group_mention.is_none() {
            if let Some(b) = self.by_at {
                let top = self.limit.is_some() || self.sup.is_some() || self.most.is_some();
                if top {
                    by_measure_at = Some(b);
                } else if let Some(m) = self.mention_after(b, 1).filter(|_| {
                    self.count_at.is_some() || self.agg.is_some() || self.money_at.is_some()
                }) {
                    group_mention = Some(m.clone());
                }
            }
        }
        let negated: Option<(usize, usize)> = self.negation_at.and_then(|p| self.table_after(p, 4));
        let most_target: Option<(usize, usize)> =
            self.most.and_then(|(p, _)| self.table_after(p, 1));
        let counted: Option<&Mention> = self
            .count_at
            .filter(|p| by_measure_at.is_none_or(|b| p + 1 < b))
            .and_then(|p| self.mention_after(p, 3));
        let reserved = |start: usize| {
            group_mention.as_ref().is_some_and(|m| m.start == start)
                || negated.is_some_and(|(s, _)| s == start)
                || most_target.is_some_and(|(s, _)| s == start)
                || by_measure_at.is_some_and(|b| start >= b && start <= b + 3)
        };
        // the subject: what is counted, or the first table named for itself
        let mut count_distinct: Option<Vec<(Col, f64)>> = None;
        let mut subject: Option<usize> = match counted.map(|m| &m.target) {
            Some(Target::Table(t)) => Some(*t),
            Some(Target::Columns(c)) => {
                count_distinct = Some(c.clone());
                None
            }
            None => None,
        };
        if subject.is_none() {
            subject = self
                .mentions
                .iter()
                .find(|m| !reserved(m.start) && matches!(m.target, Target::Table(_)))
                .and_then(|m| match m.target {
                    Target::Table(t) => Some(t),
                    _ => None,
                });
        }
        if subject.is_none() {
            // the table of the best-linked column, of a value, or of the group key
            let from_cols = self
                .mentions
                .iter()
                .filter(|m| !reserved(m.start))
                .find_map(|m| match &m.target {
                    Target::Columns(c) => c
                        .iter()
                        .max_by(|a, b| {
                            (a.1 + self.s.tables[a.0 .0].similarity)
                                .total_cmp(&(b.1 + self.s.tables[b.0 .0].similarity))
                        })
                        .map(|x| x.0 .0),
                    _ => None,
                });
            subject = from_cols.or_else(|| {
                self.conds.iter().find_map(|c| match c {
                    Cond::Eq { alts, .. } => alts.first().map(|x| x.0),
                    _ => None,
                })
            });
            if subject.is_some() {
                self.guesses.push("subject from a column");
            }
        }
        if subject.is_none() {
            if let Some(Target::Table(t)) = group_mention.as_ref().map(|m| &m.target) {
                subject = Some(*t);
            }
        }
        let unexplained_now = self.unexplained();
        let Some(subject) = subject else {
            return Err(NotUnderstood::NoSubject {
                unexplained: unexplained_now,
            });
        };

        // the measure
        let scope_tables = |extra: &[usize]| -> Vec<usize> {
            let mut v = vec![subject];
            v.extend(named.iter().copied());
            v.extend(extra.iter().copied());
            v.dedup();
            v
        };
        let mut measure: Option<Measure> = None;
        let mut group: Option<Group> = group_mention.as_ref().map(|m| match &m.target {
            Target::Table(t) => Group::Table(*t),
            Target::Columns(c) => Group::Column(self.pick(c, subject, &named)),
        });
        let mut order: Option<(String, bool)> = None;
        let mut rows_of: Option<usize> = None;
        let mut having: Option<String> = None;
        let mut order_measure = false;

        if let Some(c) = &count_distinct {
            measure = Some(Measure::CountDistinct(self.pick(c, subject, &named)));
        } else if self
            .count_at
            .is_some_and(|p| by_measure_at.is_none_or(|b| p + 1 < b))
        {
            measure = Some(Measure::Count(subject));
        } else if let Some((agg, pos)) = self
            .agg
            .filter(|(_, p)| by_measure_at.is_none_or(|b| p + 1 < b))
        {
            let target = self
                .mentions
                .iter()
                .filter(|m| m.start > pos && m.start <= pos + 4 && !reserved(m.start))
                .find_map(|m| self.pick_kind(m, Kind::numeric, subject, &named));
            let target = target
                .or_else(|| {
                    self.money_at
                        .and_then(|_| self.class_column(Class::Money, &scope_tables(&[])))
                })
                .or_else(|| {
                    // "the total of all invoices": a column called total
                    (agg == Agg::Sum)
                        .then(|| {
                            self.mentions.iter().find_map(|m| match &m.target {
                                Target::Columns(c) if self.w(m.start) == "total" => {
                                    Some(self.pick(c, subject, &named))
                                }
                                _ => None,
                            })
                        })
                        .flatten()
                });
            let target = target.or_else(|| {
                self.sup
                    .and_then(|s| s.class)
                    .or_else(|| self.class_word(pos + 1, 4))
                    .and_then(|c| self.class_column(c, &scope_tables(&[])))
            });
            match target {
                Some(col) => {
                    self.consume_column_mention(col);
                    if agg == Agg::Sum && self.w(pos) == "total" {
                        self.take(pos, 1);
                    }
                    measure = Some(Measure::Of(agg, col));
                }
                None => self.guesses.push("aggregate without a column"),
            }
        }
        if measure.is_none()
            && self
                .count_at
                .is_none_or(|p| by_measure_at.is_some_and(|b| p + 1 >= b))
        {
            if let Some((_, t)) = most_target {
                // which artist has the most albums
                let desc = self.most.map(|m| m.1).unwrap_or(true);
                measure = Some(Measure::Count(t));
                if group.is_none() {
                    group = Some(Group::Table(subject));
                }
                order = Some((String::new(), desc));
                order_measure = true;
                self.limit.get_or_insert(1);
            } else if let Some(b) = by_measure_at {
                // top 5 customers by total spent / by number of invoices
                let m = self.measure_after(b, subject, &named);
                match m {
                    Some(Measure::Of(_, col)) if col.0 == subject => {
                        order = Some((self.col_ref(col), true));
                        rows_of = Some(subject);
                    }
                    Some(m) => {
                        measure = Some(m);
                        group.get_or_insert(Group::Table(subject));
                        order = Some((String::new(), self.sup.map(|s| s.desc).unwrap_or(true)));
                        order_measure = true;
                    }
                    None => self.guesses.push("ordering not understood"),
                }
            } else if let Some(sup) = self.sup {
                // the longest track, the customer with the highest total
                let col = self
                    .mentions
                    .iter()
                    .filter(|m| m.start > sup.pos && m.start <= sup.pos + 3)
                    .find_map(|m| match &m.target {
                        Target::Columns(c) => Some(self.pick(c, subject, &named)),
                        _ => None,
                    });
                let col = col.or_else(|| {
                    self.money_at
                        .and_then(|_| self.class_column(Class::Money, &scope_tables(&[])))
                });
                let col = col.or_else(|| {
                    sup.class
                        .and_then(|c| self.class_column(c, &scope_tables(&[])))
                });
                match col {
                    Some(col)
                        if col.0 == subject
                            || super::sql::path(self.s, &[subject], col.0)
                                .is_some_and(|p| p.iter().all(|s| !s.fans_out)) =>
                    {
                        self.consume_column_mention(col);
                        // oldest = earliest birth date
                        let desc = if sup.class == Some(Class::Birth)
                            && self.s.tables[col.0].columns[col.1].kind.temporal()
                        {
                            !sup.desc
                        } else {
                            sup.desc
                        };
                        order = Some((String::new(), desc));
                        rows_of = Some(subject);
                        measure = None;
                        self.limit.get_or_insert(1);
                        self.order_col = Some(col);
                    }
                    Some(col) => {
                        self.consume_column_mention(col);
                        measure = Some(Measure::Of(
                            if self.money_at.is_some() {
                                Agg::Sum
                            } else if sup.desc {
                                Agg::Max
                            } else {
                                Agg::Min
                            },
                            col,
                        ));
                        group.get_or_insert(Group::Table(subject));
                        order = Some((String::new(), sup.desc));
                        order_measure = true;
                        self.limit.get_or_insert(1);
                    }
                    None => self.guesses.push("superlative without a column"),
                }
            }
        }
        // conditions
        let mut wheres: Vec<(usize, String)> = Vec::new();
        let mut extra_cols: Vec<Col> = Vec::new();
        let conds = std::mem::take(&mut self.conds);
        for c in conds {
            match c {
                Cond::Eq { alts, value } => {
                    let col = self.pick(
                        &alts.iter().map(|c| (*c, 1.0)).collect::<Vec<_>>(),
                        subject,
                        &named,
                    );
                    wheres.push((
                        col.0,
                        format!("{} = {}", self.col_ref(col), literal(&value)),
                    ));
                }
                Cond::Cmp {
                    pos,
                    op,
                    value,
                    upper,
                    scale,
                    class,
                    noun,
                    end,
                } => {
                    if let Some(t) = noun {
                        // more than 10 tracks: a count per subject
                        measure.get_or_insert(Measure::Count(t));
                        group.get_or_insert(Group::Table(subject));
                        having = Some(format!("{op} {}", number(value)));
                        continue;
                    }
                    let near = self
                        .mentions
                        .iter()
                        .rev()
                        .filter(|m| (m.start < pos && m.start + 4 >= pos) || m.start == end)
                        .find_map(|m| self.pick_kind(m, Kind::numeric, subject, &named));
                    let col = near
                        .or_else(|| class.and_then(|k| self.class_column(k, &scope_tables(&[]))))
                        .or_else(|| self.only_measure_column(subject));
                    let Some(col) = col else {
                        self.guesses.push("comparison without a column");
                        continue;
                    };
                    self.consume_column_mention(col);
                    let mut scale = scale;
                    let cname = self.s.tables[col.0].columns[col.1].name.to_lowercase();
                    if scale != 1.0 {
                        // the question's unit into the column's
                        scale /= if cname.contains("milli") || cname.ends_with("_ms") {
                            1.0
                        } else if cname.contains("sec") {
                            1_000.0
                        } else if cname.contains("min") {
                            60_000.0
                        } else {
                            scale
                        };
                    }
                    let v = value * scale;
                    let text = match upper {
                        Some(u) => format!(
                            "{} BETWEEN {} AND {}",
                            self.col_ref(col),
                            number(v),
                            number(u * scale)
                        ),
                        None => format!("{} {op} {}", self.col_ref(col), number(v)),
                    };
                    extra_cols.push(col);
                    wheres.push((col.0, text));
                }
                Cond::Date { pos, class, lo, hi } => {
                    let near = self
                        .mentions
                        .iter()
                        .filter(|m| m.start + 3 >= pos && m.start <= pos + 2)
                        .find_map(|m| self.pick_kind(m, Kind::temporal, subject, &named));
                    let mut scope = Vec::new();
                    if let Some(Measure::Count(t) | Measure::Of(_, (t, _))) = &measure {
                        scope.push(*t);
                    }
                    scope.extend(scope_tables(&[]));
                    let col = near
                        .or_else(|| class.and_then(|k| self.class_column(k, &scope)))
                        .or_else(|| self.class_column(Class::When, &scope))
                        .or_else(|| self.any_temporal(&scope));
                    let Some(col) = col else {
                        self.guesses.push("date without a date column");
                        continue;
                    };
                    self.consume_column_mention(col);
                    let c = self.col_ref(col);
                    let mut parts = Vec::new();
                    // a year kept as a number
                    let year = |e: String| -> String {
                        if self.s.tables[col.0].columns[col.1].kind != Kind::Integer {
                            e
                        } else if let Some(y) = e.strip_prefix("DATE '") {
                            y.chars().take(4).collect()
                        } else {
                            format!("extract(year from {e})::int")
                        }
                    };
                    let (lo, hi) = (lo.map(year), hi.map(year));
                    if let Some(lo) = lo {
                        parts.push(format!("{c} >= {lo}"));
                    }
                    if let Some(hi) = hi {
                        parts.push(format!("{c} < {hi}"));
                    }
                    wheres.push((col.0, parts.join(" AND ")));
                }
            }
        }
        if measure.is_none() && group.is_none() && rows_of.is_none() {
            rows_of = Some(subject);
        }
        // negation: rows of the subject with no related row in the negated table
        // "a rating of 5": a number right after a numeric column
        for i in 0..self.toks.len() {
            let Some(n) = self.num(i).filter(|_| !self.used[i]) else {
                continue;
            };
            let col = self
                .mentions
                .iter()
                .filter(|m| m.start + 2 >= i && m.start < i)
                .find_map(|m| self.pick_kind(m, Kind::numeric, subject, &named));
            if let Some(col) = col {
                self.consume_column_mention(col);
                self.used[i] = true;
                wheres.push((col.0, format!("{} = {}", self.col_ref(col), number(n))));
            }
        }
        // "not returned": a column that is not filled in
        let mut negated_column = false;
        if let (Some(p), None) = (self.negation_at, negated) {
            let col = self
                .mentions
                .iter()
                .filter(|m| m.start > p && m.start <= p + 4)
                .find_map(|m| match &m.target {
                    Target::Columns(c) => Some(self.pick(c, subject, &named)),
                    _ => None,
                });
            if let Some(col) = col {
                self.consume_column_mention(col);
                wheres.push((col.0, format!("{} IS NULL", self.col_ref(col))));
                negated_column = true;
            }
        }
        let negation = match (self.negation_at, negated) {
            _ if negated_column => None,
            (Some(_), Some((_, t))) if t != subject => Some(t),
            (Some(_), _) => self.main_child(subject),
            _ => None,
        };
        if self.negation_at.is_some() && negation.is_none() && !negated_column {
            self.guesses.push("negation without a related table");
        }
        self.render(
            subject,
            measure,
            group,
            rows_of,
            order,
            order_measure,
            having,
            wheres,
            extra_cols,
            negation,
        )
    }
}

// Rendering lives in a second impl block for readability.
impl Analysis<'_> {
    fn col_ref(&self, c: Col) -> String {
        // placeholder alias, fixed once the FROM clause knows its aliases
        format!(
            "\u{1}{}\u{2}.{}",
            c.0,
            ident(&self.s.tables[c.0].columns[c.1].name)
        )
    }

    fn consume_column_mention(&mut self, col: Col) {
        let idx = self
            .mentions
            .iter()
            .position(|m| matches!(&m.target, Target::Columns(c) if c.iter().any(|x| x.0 == col)));
        if let Some(i) = idx {
            self.mentions[i].target = Target::Columns(vec![(col, 1.0)]);
        }
    }

    /// A free word in `from..from + n` that names a kind of measure ("length", "price").
    fn class_word(&mut self, from: usize, n: usize) -> Option<Class> {
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
                _ => continue,
            };
            self.used[i] = true;
            return Some(c);
        }
        None
    }

    fn only_measure_column(&self, t: usize) -> Option<Col> {
        let nums: Vec<usize> = (0..self.s.tables[t].columns.len())
            .filter(|&ci| {
                let c = &self.s.tables[t].columns[ci];
                c.kind.numeric()
                    && !c.pk
                    && col_stems(&c.name).last().map(String::as_str) != Some("id")
            })
            .collect();
        (nums.len() == 1).then(|| (t, nums[0]))
    }

    fn any_temporal(&self, scope: &[usize]) -> Option<Col> {
        scope.iter().find_map(|&t| {
            self.s.tables[t]
                .columns
                .iter()
                .position(|c| c.kind.temporal())
                .map(|c| (t, c))
        })
    }

    /// The table whose rows most often refer to `t` (for "customers who never bought").
    fn main_child(&self, t: usize) -> Option<usize> {
        self.s
            .fks
            .iter()
            .filter(|f| f.to == t && f.from != t)
            .map(|f| f.from)
            .max_by(|a, b| {
                let ka = (
                    self.s.tables[*a].columns.iter().any(|c| c.kind.temporal()),
                    self.s.tables[*a].rows as i64,
                );
                let kb = (
                    self.s.tables[*b].columns.iter().any(|c| c.kind.temporal()),
                    self.s.tables[*b].rows as i64,
                );
                ka.cmp(&kb)
            })
    }

    /// "by number of invoices", "by total spent", "by unit price" after a top-N.
    fn measure_after(&mut self, b: usize, subject: usize, named: &[usize]) -> Option<Measure> {
        if let Some(p) = self.count_at.filter(|p| *p >= b.saturating_sub(1)) {
            if let Some((_, t)) = self.table_after(p, 2) {
                self.count_at = None;
                return Some(Measure::Count(t));
            }
        }
        let agg = self
            .agg
            .filter(|(_, p)| *p >= b.saturating_sub(1))
            .map(|x| x.0);
        let col = self
            .mentions
            .iter()
            .filter(|m| m.start >= b && m.start <= b + 4)
            .find_map(|m| self.pick_kind(m, Kind::numeric, subject, named));
        let col = col.or_else(|| {
            self.money_at.and_then(|_| {
                let mut scope = vec![subject];
                scope.extend(named.iter().copied());
                scope.extend((0..self.s.tables.len()).filter(|t| {
                    super::sql::path(self.s, &[subject], *t).is_some_and(|p| p.len() <= 2)
                }));
                self.class_column(Class::Money, &scope)
            })
        });
        if let Some(col) = col {
            self.consume_column_mention(col);
            if let Some((_, p)) = self.agg {
                if self.w(p) == "total" {
                    self.take(p, 1);
                }
            }
            let a = agg.unwrap_or(if col.0 == subject { Agg::Max } else { Agg::Sum });
            return Some(Measure::Of(a, col));
        }
        if let Some((_, t)) = self.table_after(b, 2) {
            return Some(Measure::Count(t));
        }
        None
    }

    fn unexplained(&self) -> Vec<String> {
        self.toks
            .iter()
            .enumerate()
            .filter(|(i, t)| !self.used[*i] && !is_function_word(&t.lower) && t.number.is_none())
            .map(|(_, t)| t.text.clone())
            .collect()
    }

    fn labels(&self, t: usize) -> Vec<usize> {
        let tb = &self.s.tables[t];
        let tname = tb.name.to_lowercase();
        let is_label = |n: &str| {
            let n = n.to_lowercase();
            [
                "name",
                "title",
                "full_name",
                "first_name",
                "last_name",
                "username",
                "label",
                "display_name",
            ]
            .contains(&n.as_str())
                || n == format!("{tname}_name")
                || n.ends_with("_name") && !n.starts_with("file")
                || n.ends_with("name") && n.len() <= 12 && !n.contains('_') && n != "filename"
        };
        let labels: Vec<usize> = (0..tb.columns.len())
            .filter(|&c| is_label(&tb.columns[c].name))
            .collect();
        if !labels.is_empty() {
            return labels;
        }
        let pk: Vec<usize> = (0..tb.columns.len())
            .filter(|&c| tb.columns[c].pk)
            .collect();
        if !pk.is_empty() {
            return pk;
        }
        (0..tb.columns.len().min(1)).collect()
    }

    fn pk(&self, t: usize) -> Vec<usize> {
        (0..self.s.tables[t].columns.len())
            .filter(|&c| self.s.tables[t].columns[c].pk)
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn render(
        mut self,
        subject: usize,
        measure: Option<Measure>,
        group: Option<Group>,
        rows_of: Option<usize>,
        order: Option<(String, bool)>,
        order_measure: bool,
        having: Option<String>,
        wheres: Vec<(usize, String)>,
        extra_cols: Vec<Col>,
        negation: Option<usize>,
    ) -> Result<Answer, NotUnderstood> {
        let s = self.s;
        // the root: the grouped table when counting its children, else the subject
        let root = match (&group, &measure) {
            (Some(Group::Table(g)), Some(_)) => *g,
            _ => subject,
        };
        let mut from = From::new(s, root);
        let measure_table = match &measure {
            Some(Measure::Count(t)) => Some(*t),
            Some(Measure::CountDistinct(c) | Measure::Of(_, c)) => Some(c.0),
            None => None,
        };
        let filter_tables: Vec<usize> = wheres.iter().map(|w| w.0).collect();
        // the negated table is reached inside NOT EXISTS; conditions on its side go there too
        let neg_path = negation.and_then(|n| super::sql::path(s, &[subject], n));
        let neg_tables: Vec<usize> = neg_path
            .as_ref()
            .map(|p| p.iter().map(|st| st.to).collect())
            .unwrap_or_default();
        let mut missing = Vec::new();
        if subject != root && !from.add(s, subject, filter_tables.is_empty()) {
            missing.push(subject);
        }
        if let Some(t) = measure_table {
            let outer =
                root != t && matches!(group, Some(Group::Table(_))) && !filter_tables.contains(&t);
            if !from.add(s, t, outer) {
                missing.push(t);
            }
        }
        if let Some(Group::Column(c)) = &group {
            if !from.add(s, c.0, false) {
                missing.push(c.0);
            }
        }
        if let Some(c) = self.order_col {
            if !from.add(s, c.0, false) {
                missing.push(c.0);
            }
        }
        for &t in &filter_tables {
            if neg_tables.contains(&t) && !from.has(t) {
                continue;
            }
            if !from.add(s, t, false) {
                missing.push(t);
            }
        }
        for &c in &extra_cols {
            from.add(s, c.0, false);
        }
        if !missing.is_empty() {
            self.guesses.push("tables not connected by foreign keys");
        }
        let fix = |text: &str, from: &From| -> String {
            let mut out = String::new();
            let mut rest = text;
            while let Some(a) = rest.find('\u{1}') {
                out.push_str(&rest[..a]);
                let b = rest[a..].find('\u{2}').map(|b| a + b).unwrap_or(a);
                let t: usize = rest[a + 1..b].parse().unwrap_or(0);
                out.push_str(from.alias_of(t));
                rest = &rest[b + 1..];
            }
            out.push_str(rest);
            out
        };
        let col = |c: Col, from: &From| {
            format!(
                "{}.{}",
                from.alias_of(c.0),
                ident(&s.tables[c.0].columns[c.1].name)
            )
        };
        let mut select: Vec<String> = Vec::new();
        let mut group_by: Vec<String> = Vec::new();
        let tname = |t: usize| crate::catalog::describe::words(&s.tables[t].name).replace(' ', "_");
        let measure_sql = measure.as_ref().map(|m| match m {
            Measure::Count(t) => {
                let pk = self.pk(*t);
                let counted = if pk.len() == 1 && (from.fans_out || from.joins.iter().any(|j| j.1))
                {
                    // a join that fans out repeats rows of the counted table
                    let inner_only = !from.joins.iter().any(|j| j.1);
                    let repeats = (*t != root && inner_only) || (*t == subject && subject == root);
                    let d = if from.fans_out && repeats {
                        "DISTINCT "
                    } else {
                        ""
                    };
                    format!("count({d}{})", col((*t, pk[0]), &from))
                } else {
                    "count(*)".to_string()
                };
                (counted, format!("{}_count", tname(*t)))
            }
            Measure::CountDistinct(c) => (
                format!("count(DISTINCT {})", col(*c, &from)),
                format!("{}_count", s.tables[c.0].columns[c.1].name.to_lowercase()),
            ),
            Measure::Of(a, c) => (
                format!("{}({})", a.sql(), col(*c, &from)),
                format!(
                    "{}_{}",
                    a.sql(),
                    s.tables[c.0].columns[c.1].name.to_lowercase()
                ),
            ),
        });
        let mut distinct = false;
        match &group {
            Some(Group::Table(g)) => {
                for c in self.pk(*g).into_iter().chain(self.labels(*g)) {
                    let e = col((*g, c), &from);
                    if !group_by.contains(&e) {
                        group_by.push(e);
                    }
                }
                for c in self.labels(*g) {
                    select.push(col((*g, c), &from));
                }
            }
            Some(Group::Column(c)) => {
                let e = col(*c, &from);
                group_by.push(e.clone());
                select.push(e);
            }
            None => {}
        }
        if let Some((m, alias)) = &measure_sql {
            select.push(format!("{m} AS {}", ident(alias)));
        }
        if let Some(t) = rows_of {
            for c in self.labels(t) {
                select.push(col((t, c), &from));
            }
            if let Some(c) = self.order_col {
                let e = col(c, &from);
                if !select.contains(&e) {
                    select.push(e);
                }
            }
            for c in &extra_cols {
                let e = col(*c, &from);
                if !select.contains(&e) && measure.is_none() {
                    select.push(e);
                }
            }
            distinct = from.fans_out;
        }
        if self.distinct && rows_of.is_some() {
            distinct = true;
        }
        let mut sql = format!(
            "SELECT {}{}\nFROM {}",
            if distinct { "DISTINCT " } else { "" },
            select.join(", "),
            from.render(s)
        );
        let mut conds: Vec<String> = wheres
            .iter()
            .filter(|w| !neg_tables.contains(&w.0) || from.has(w.0))
            .map(|w| fix(&w.1, &from))
            .collect();
        if let Some(p) = &neg_path {
            if let Some(sub) = self.not_exists(subject, p, &from, &wheres) {
                conds.push(sub);
            }
        }
        if !conds.is_empty() {
            sql.push_str(&format!("\nWHERE {}", conds.join("\n  AND ")));
        }
        if !group_by.is_empty() {
            sql.push_str(&format!("\nGROUP BY {}", group_by.join(", ")));
        }
        if let (Some(h), Some((m, _))) = (&having, &measure_sql) {
            sql.push_str(&format!("\nHAVING {m} {h}"));
        }
        let order_text = match (&order, &measure_sql) {
            (Some((_, desc)), Some((_, alias))) if order_measure => Some(format!(
                "{} {}",
                ident(alias),
                if *desc {
                    "DESC NULLS LAST"
                } else {
                    "ASC NULLS LAST"
                }
            )),
            (Some((text, desc)), _) if !text.is_empty() => Some(format!(
                "{} {}",
                fix(text, &from),
                if *desc { "DESC" } else { "ASC" }
            )),
            (Some((_, desc)), _) if self.order_col.is_some() => {
                let c = self.order_col.unwrap_or((0, 0));
                Some(format!(
                    "{} {} NULLS LAST",
                    col(c, &from),
                    if *desc { "DESC" } else { "ASC" }
                ))
            }
            _ => None,
        };
        if let Some(o) = &order_text {
            let tie = if let Some(g) = group_by.first() {
                format!(", {g}")
            } else {
                String::new()
            };
            sql.push_str(&format!("\nORDER BY {o}{tie}"));
        } else if let Some((_, alias)) = measure_sql.as_ref().filter(|_| !group_by.is_empty()) {
            sql.push_str(&format!(
                "\nORDER BY {} DESC NULLS LAST, {}",
                ident(alias),
                group_by[0]
            ));
        }
        if let Some(l) = self.limit.filter(|_| order_text.is_some()) {
            sql.push_str(&format!("\nLIMIT {l}"));
        } else if self.limit.is_some() {
            self.guesses.push("a limit without an ordering");
        }
        let unexplained = self.unexplained();
        let content = self
            .toks
            .iter()
            .filter(|t| !is_function_word(&t.lower) && t.number.is_none())
            .count()
            .max(1);
        let mut confidence = 1.0 - unexplained.len() as f64 / content as f64;
        confidence -= 0.2 * self.guesses.len() as f64;
        if !missing.is_empty() {
            confidence = confidence.min(0.2);
        }
        let confidence = (confidence.clamp(0.0, 1.0) * 100.0).round() / 100.0;
        let tables: Vec<String> = from
            .tables
            .iter()
            .chain(neg_tables.iter())
            .map(|&t| format!("{}.{}", s.tables[t].schema, s.tables[t].name))
            .fold(Vec::new(), |mut v, x| {
                if !v.contains(&x) {
                    v.push(x);
                }
                v
            });
        let explanation = self.explain(
            subject,
            &measure,
            &group,
            &conds,
            negation,
            &order_text,
            &tables,
        );
        let answer = Answer {
            sql,
            confidence,
            tables,
            explanation,
            unexplained,
        };
        Ok(answer)
    }

    fn not_exists(
        &self,
        subject: usize,
        p: &[super::sql::Step],
        from: &From,
        wheres: &[(usize, String)],
    ) -> Option<String> {
        let s = self.s;
        let first = p.first()?;
        let mut inner = From::new(s, first.to);
        inner.aliases[0] = super::sql::alias(&s.tables[first.to].name, &from.aliases);
        for st in &p[1..] {
            let taken: Vec<String> = from
                .aliases
                .iter()
                .chain(inner.aliases.iter())
                .cloned()
                .collect();
            inner.tables.push(st.to);
            inner
                .aliases
                .push(super::sql::alias(&s.tables[st.to].name, &taken));
            inner.joins.push((*st, false));
        }
        let fk = &s.fks[first.fk];
        let link: Vec<String> = fk
            .from_columns
            .iter()
            .zip(&fk.to_columns)
            .map(|(fc, tc)| {
                let (sub_col, outer_col) = if fk.from == subject {
                    (tc, fc)
                } else {
                    (fc, tc)
                };
                format!(
                    "{}.{} = {}.{}",
                    inner.alias_of(first.to),
                    ident(sub_col),
                    from.alias_of(subject),
                    ident(outer_col)
                )
            })
            .collect();
        let mut conds = link;
        for w in wheres.iter().filter(|w| inner.has(w.0) && !from.has(w.0)) {
            let mut text = w.1.clone();
            let tag = format!("\u{1}{}\u{2}", w.0);
            text = text.replace(&tag, inner.alias_of(w.0));
            conds.push(text);
        }
        Some(format!(
            "NOT EXISTS (SELECT 1 FROM {} WHERE {})",
            inner.render(s).replace("\n  ", " "),
            conds.join(" AND ")
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        subject: usize,
        measure: &Option<Measure>,
        group: &Option<Group>,
        conds: &[String],
        negation: Option<usize>,
        order: &Option<String>,
        tables: &[String],
    ) -> String {
        let s = self.s;
        let tw = |t: usize| crate::catalog::describe::words(&s.tables[t].name);
        let cw = |c: &Col| format!("{}.{}", s.tables[c.0].name, s.tables[c.0].columns[c.1].name);
        let what = match measure {
            Some(Measure::Count(t)) => format!("Counts {} rows", tw(*t)),
            Some(Measure::CountDistinct(c)) => format!("Counts the distinct values of {}", cw(c)),
            Some(Measure::Of(a, c)) => format!("Computes the {} of {}", a.word(), cw(c)),
            None => format!("Lists {} rows", tw(subject)),
        };
        let mut out = what;
        match group {
            Some(Group::Table(g)) => out.push_str(&format!(" per {}", tw(*g))),
            Some(Group::Column(c)) => out.push_str(&format!(" per {}", cw(c))),
            None => {}
        }
        if tables.len() > 1 {
            out.push_str(&format!(", joining {} along foreign keys", tables.len()));
        }
        if !conds.is_empty() && negation.is_none() {
            out.push_str(&format!(", where {}", conds.len()));
            out.push_str(if conds.len() == 1 {
                " condition holds"
            } else {
                " conditions hold"
            });
        }
        if let Some(n) = negation {
            out.push_str(&format!(", keeping those with no {}", tw(n)));
        }
        if let Some(o) = order {
            out.push_str(&format!(", ordered by {o}"));
            if let Some(l) = self.limit {
                out.push_str(&format!(", first {l}"));
            }
        }
        out.push('.');
        out
    }
}

/// `now()` minus `k` units, as SQL.
fn ago(k: f64, unit: &str) -> String {
    format!("pg_catalog.now() - interval '{} {unit}'", number(k))
}

/// Stemmed words of a table name.
fn name_stems(name: &str) -> Vec<String> {
    crate::catalog::describe::words(name)
        .split_whitespace()
        .map(stem)
        .collect()
}

/// Stemmed words of a column name.
fn col_stems(name: &str) -> Vec<String> {
    name_stems(name)
}

fn strip_prefix(parts: &[String], prefix: &[String]) -> Vec<String> {
    if parts.len() > prefix.len() && parts.starts_with(prefix) {
        parts[prefix.len()..].to_vec()
    } else {
        parts.to_vec()
    }
}
