//! From the words of a question to a query plan, and from the plan to SQL, in five stages
//! over one [`Analysis`] of the question's tokens: literals, intent, linking (the three mark
//! the tokens they explain), composition (the plan) and SQL (rendering). A token no stage
//! explains is reported back as not understood.
mod account;
mod compose;
mod conditions;
mod intent;
mod linking;
mod literals;
mod measure;
mod render;
mod taught;
use super::sql::{self, ident, literal, number, From};
use super::vocabulary::{column_sql, Meaning};
use super::words::{
    self, duration_ms, is_function_word, month, name_stems, synonyms, time_unit, Token,
};
use super::{Answer, Kind, NotUnderstood, Schema, ValueHit};
use crate::catalog::text::stem;
use linking::{col_stems, is_flag_note};

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
    /// Tokens it took.
    len: usize,
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
    Height,
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
            Class::Height => &["height", "tall", "altitude", "elevation"],
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
        pos: usize,
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
        /// "more than 5 times": how often the verb before it happened, a count of rows.
        times: bool,
    },
    Date {
        pos: usize,
        class: Option<Class>,
        lo: Option<String>,
        hi: Option<String>,
    },
    /// A taught filter: its SQL, with the table's alias placeholder.
    Filter {
        pos: usize,
        table: usize,
        sql: String,
    },
}

/// "what percentage / share / fraction of X ...", "the ratio of A to B".
#[derive(Debug, Clone, Copy)]
struct Share {
    pos: usize,
    /// Times 100 ("percentage", "percent"), else a fraction between 0 and 1.
    percent: bool,
    /// "ratio of A to B": the first condition over the second, not over all rows.
    ratio: bool,
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
    /// the words that asked for the limit ("top 5"), if the question said one
    limit_words: Option<(usize, usize)>,
    count_at: Option<usize>,
    agg: Option<(Agg, usize)>,
    sup: Option<Superlative>,
    most: Option<(usize, bool)>,
    group_at: Vec<usize>,
    by_at: Option<usize>,
    negation_at: Option<usize>,
    distinct: bool,
    share: Option<Share>,
    /// "neither A nor B": the position of neither.
    neither_at: Option<usize>,
    /// The one column listed (\"which drugs\"), instead of the subject's labels.
    list_col: Option<Col>,
    /// The columns listed ("the names, countries and ages of the singers"), in their order,
    /// instead of the subject's labels.
    list_cols: Vec<Col>,
    money_at: Option<usize>,
    order_col: Option<Col>,
    /// "sorted by X" / "ordered by X": where X starts, and whether descending.
    sort_at: Option<(usize, bool)>,
    guesses: Vec<&'static str>,
    /// Taught words naming the relationship of two tables: (start, len, table, table).
    relationships: Vec<(usize, usize, usize, usize)>,
    /// Where a taught measure (a word that implies its aggregate) stands.
    measure_word: Option<usize>,
    /// "all the information about" / "everything about": where it starts and its length;
    /// every column of the rows listed.
    all_columns: Option<(usize, usize)>,
    /// Words that are unexplained although they are function words ("all the information"
    /// when nothing is listed).
    unplaced_function_words: Vec<usize>,
    /// "in alphabetical order", "in reverse alphabetical order": where the words start,
    /// how many, and whether descending.
    alphabetical: Option<(usize, usize, bool)>,
    /// "the average, minimum and maximum age": aggregates listed after the first, of the
    /// same column.
    more_aggs: Vec<(Agg, usize)>,
    /// The columns of a range of values ("from TR000 to TR050"): shown beside a column
    /// listed, which of the range each row is.
    range_cols: Vec<Col>,
    /// Where each value of one table stands ("a cat" in pets): (position, table); read when
    /// the conditions are placed, after `conds` is taken.
    value_tables: Vec<(usize, usize)>,
    /// The related table of `render`'s negation is one the rows must have (`EXISTS`), not
    /// one they must not (see `measured_rows`).
    semi: bool,
    /// Words accounted for by their place rather than a name (see `Answer::assumed`).
    assumed: Vec<usize>,
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
        limit_words: None,
        value_tables: Vec::new(),
        semi: false,
        assumed: Vec::new(),
        count_at: None,
        agg: None,
        sup: None,
        most: None,
        group_at: Vec::new(),
        by_at: None,
        negation_at: None,
        distinct: false,
        share: None,
        neither_at: None,
        list_col: None,
        list_cols: Vec::new(),
        money_at: None,
        order_col: None,
        sort_at: None,
        guesses: Vec::new(),
        relationships: Vec::new(),
        measure_word: None,
        all_columns: None,
        unplaced_function_words: Vec::new(),
        alphabetical: None,
        more_aggs: Vec::new(),
        range_cols: Vec::new(),
    };
    // the taught vocabulary first, then stages 1-3 mark what they understand; composition
    // builds the plan and renders it
    a.taught();
    a.literals();
    a.intent_words();
    // codes a column's comment explains stand for their meanings, as stored values do
    let mut values = values.to_vec();
    values.extend(super::legend::hits(&super::phrases(question), s));
    a.values(&values);
    a.find_mentions();
    a.plan()
}

impl Analysis<'_> {
    pub(super) fn w(&self, i: usize) -> &str {
        self.toks.get(i).map(|t| t.lower.as_str()).unwrap_or("")
    }

    pub(super) fn take(&mut self, from: usize, n: usize) {
        for i in from..(from + n).min(self.used.len()) {
            self.used[i] = true;
        }
    }

    pub(super) fn num(&self, i: usize) -> Option<f64> {
        self.toks
            .get(i)
            .filter(|t| !t.quoted)
            .and_then(|t| t.number)
    }

    pub(super) fn year(&self, i: usize) -> Option<i32> {
        self.num(i)
            .filter(|n| {
                n.fract() == 0.0 && (1900.0..=2100.0).contains(n) && self.toks[i].lower.len() == 4
            })
            .map(|n| n as i32)
    }

    /// Token `i` carries meaning: neither a function word nor a number.
    pub(super) fn is_content(&self, i: usize) -> bool {
        let t = &self.toks[i];
        !is_function_word(&t.lower) && t.number.is_none()
    }
    pub(super) fn unexplained(&self) -> Vec<String> {
        // a number no stage took and the SQL does not hold ("in 2014 or 2015" answered for
        // 2014) is a condition left out
        (0..self.toks.len())
            .filter(|&i| {
                (!self.used[i] && (self.is_content(i) || self.toks[i].number.is_some()))
                    || self.unplaced_function_words.contains(&i)
            })
            .map(|i| self.toks[i].text.clone())
            .collect()
    }
}
