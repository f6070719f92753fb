//! Which question words the SQL accounts for: the words of the names it reads, the
//! relationship its joins follow, the keys and numbers it shows; and which joins the question
//! leaves undecided.
use super::render::holds_number;
use super::*;

impl Analysis<'_> {
    /// Whether foreign key `fk` is one of two or more between the same two tables and no
    /// word of the question names its columns (beyond the tables' own names and "id").
    pub(super) fn an_unnamed_one_of_two(&self, fk: usize) -> bool {
        self.one_of_two(fk) && !self.names_its_columns(fk)
    }

    /// Whether a table of `from` is reached from its first by two shortest paths through
    /// different tables and the question names none of the tables between ("the elements of
    /// the triple bonds": atoms reach bonds through their molecule and through the table of
    /// the atoms each bond connects).
    pub(super) fn two_routes(&self, from: &super::sql::From) -> bool {
        // (not "the molecule TR041": the word there says what the value is)
        let named: Vec<usize> = self
            .mentions
            .iter()
            .filter(|m| {
                self.toks
                    .get(m.start + m.len)
                    .is_none_or(|t| !t.quoted && !t.capitalised())
            })
            .filter_map(|m| match m.target {
                Target::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        from.tables.iter().any(|&t| {
            t != from.root
                && super::sql::routes(self.s, from.root, t) >= 2
                && super::sql::path(self.s, &[from.root], t)
                    .is_some_and(|p| p.iter().any(|st| st.to != t && !named.contains(&st.to)))
        })
    }

    /// The foreign keys the question names among two or more between the same tables ("the
    /// leaves of the Sage": leaf_colour_id, not flower_colour_id): followed before the others.
    pub(super) fn named_keys(&self) -> Vec<usize> {
        (0..self.s.fks.len())
            .filter(|&i| self.one_of_two(i) && self.names_its_columns(i))
            .collect()
    }

    /// Whether foreign key `fk` is one of two or more between the same two tables.
    fn one_of_two(&self, fk: usize) -> bool {
        let k = &self.s.fks[fk];
        self.s.fks.iter().filter(|f| connects(f, k.from, k.to)).count() >= 2
    }

    /// Whether a word of the question names the columns of foreign key `fk` (beyond the
    /// tables' own names and "id").
    fn names_its_columns(&self, fk: usize) -> bool {
        let s = self.s;
        let k = &s.fks[fk];
        let tables: Vec<String> = [k.from, k.to]
            .iter()
            .flat_map(|&t| name_stems(&s.tables[t].name))
            .collect();
        let own: Vec<String> = k
            .from_columns
            .iter()
            .flat_map(|c| col_stems(c))
            .filter(|w| w != "id" && !tables.contains(w))
            .collect();
        self.toks.iter().any(|t| own.contains(&t.stem))
    }

    /// Which question words the finished SQL accounts for. A table or column the question
    /// names but the SQL does not use is not understood ("which drugs ..." answered with
    /// departments); a word of a foreign key the joins follow is ("each employee supports":
    /// support_rep_id), and so is a word that shares its first six letters with a table or
    /// column the SQL uses ("insured" and insurer, "prescribed" and prescriptions); a word
    /// between two tables the SQL joins directly, not right before the second, names their
    /// relationship ("clients that sent the most shipments", "physicians who never attended
    /// an admission").
    pub(super) fn account_for_words(&mut self, sql: &str, from: &From, neg_tables: &[usize]) {
        let s = self.s;
        let in_sql = |t: usize| from.tables.contains(&t) || neg_tables.contains(&t);
        // a taught relationship is understood when the SQL reads both its tables
        for &(at, len, a, b) in &self.relationships {
            if !(in_sql(a) && in_sql(b)) {
                for i in at..(at + len).min(self.used.len()) {
                    self.used[i] = false;
                }
            }
        }
        let needle = |(t, c): Col| {
            let col = &s.tables[t].columns[c];
            match col.expr {
                Some(_) => column_sql(col, from.alias_of(t)),
                None => format!(".{}", ident(&col.name)),
            }
        };
        let col_used = |c: Col| in_sql(c.0) && sql.contains(&needle(c));
        // what the answer shows: the select list, before the first FROM
        let shown = &sql[..sql.find("FROM ").unwrap_or(sql.len())];
        let col_shown = |c: Col| in_sql(c.0) && shown.contains(&needle(c));
        // words of a phrase whose table or column the SQL does not read ("the owner's first
        // name" when only the dog's name is shown): not accounted for by another name
        let mut misplaced: Vec<usize> = Vec::new();
        // (what a negation denies follows it: "first names used for owners but not as dog
        // names" does not read owners through the dogs denied)
        let denied = |m: &Mention| self.negation_at.is_some_and(|n| m.start > n);
        for m in &self.mentions {
            // "list the document ids": an id asked for is shown, not only joined on; not
            // one a value follows ("the label for bond ID TR001_10_11", "the atom with the
            // ID of TR000_1"), which says what the value is: the SQL filters it
            let names_value = {
                let mut k = m.start + m.len;
                while matches!(self.w(k), "of" | "is") {
                    k += 1;
                }
                self.toks.get(k).is_some_and(|t| {
                    self.used[k]
                        && (t.quoted || t.capitalised() || t.text.chars().any(|c| c.is_ascii_digit()))
                        && !self.mentions.iter().any(|n| n.start == k)
                })
            };
            let asks_id = !names_value
                && (m.start..m.start + m.len).any(|i| matches!(self.w(i), "id" | "ids"));
            let used = match &m.target {
                // "members who never borrowed a book": no loan, whatever its book
                Target::Table(t) => {
                    in_sql(*t)
                        || denied(m)
                            && s.fks
                                .iter()
                                .any(|fk| fk.to == *t && neg_tables.contains(&fk.from))
                }
                Target::Columns(cs) if asks_id => cs.iter().any(|(c, _)| col_shown(*c)),
                Target::Columns(cs) => cs
                    .iter()
                    .any(|(c, _)| col_used(*c) || denied(m) && neg_tables.contains(&c.0)),
            };
            if !used {
                for i in m.start..(m.start + m.len).min(self.used.len()) {
                    self.used[i] = false;
                    if m.len > 1 {
                        misplaced.push(i);
                    }
                }
            }
        }
        let mut words: Vec<String> = Vec::new();
        for &t in from.tables.iter().chain(neg_tables) {
            words.extend(name_stems(&s.tables[t].name));
            for (c, col) in s.tables[t].columns.iter().enumerate() {
                if col_used((t, c)) {
                    words.extend(col_stems(&col.name));
                }
            }
        }
        let prefix = |a: &str, b: &str| {
            a.len() >= 6 && b.len() >= 6 && a.chars().zip(b.chars()).take(6).all(|(x, y)| x == y)
        };
        for i in 0..self.toks.len() {
            if self.used[i] {
                continue;
            }
            let stem = &self.toks[i].stem;
            // "the cars" over cars_data, "TV" over tv_channel: a word of a name the SQL reads
            // (an id is accounted for only when shown, below)
            // (or its usual abbreviation: "number of tickets" over num_of_ticket)
            let named = words.iter().any(|w| w == stem || abbreviates(w, stem))
                && !matches!(stem.as_str(), "id" | "")
                && !misplaced.contains(&i);
            if named {
                self.used[i] = true;
            } else if words.iter().any(|w| prefix(w, stem)) {
                self.used[i] = true;
                self.assumed.push(i);
            }
        }
        // "the country name" over countryname, "high schoolers" over highschooler: two words
        // written as one in the name
        for i in 1..self.toks.len() {
            if self.used[i - 1] && self.used[i] {
                continue;
            }
            let (a, b) = (&self.toks[i - 1], &self.toks[i]);
            let joined = stem(&format!("{}{}", a.lower, b.lower));
            // "last name" over lname
            let initial = format!("{}{}", a.lower.chars().next().unwrap_or(' '), b.stem);
            let placed = !misplaced.contains(&(i - 1)) && !misplaced.contains(&i);
            if placed
                && self.is_content(i - 1)
                && self.is_content(i)
                && (words.contains(&joined) || words.contains(&initial))
            {
                self.take(i - 1, 2);
            }
        }
        // "the name of the country" over countryname; "the names of all cartoons" when the
        // answer shows a text column of the cartoons that is not their key (title)
        for i in 0..self.toks.len() {
            if self.used[i] || self.toks[i].stem != "name" || self.w(i + 1) != "of" {
                continue;
            }
            let Some((k, t)) = self.table_after(i + 2, 2).filter(|&(_, t)| in_sql(t)) else {
                continue;
            };
            let joined = format!("{}{}", self.toks[k].stem, self.toks[i].stem);
            let label_shown = s.tables[t].columns.iter().enumerate().any(|(c, col)| {
                col.kind == Kind::Text && !col.pk && col_shown((t, c))
            });
            if words.contains(&joined) || label_shown {
                self.used[i] = true;
            }
        }
        let mut tables_at: Vec<(usize, usize)> = self
            .mentions
            .iter()
            .filter_map(|m| match m.target {
                Target::Table(t) if in_sql(t) => Some((m.start, t)),
                _ => None,
            })
            .collect();
        // "more than 53 shipments": a table named inside a comparison
        for k in 0..self.toks.len() {
            if let Some(t) = self.table_word(k).filter(|&t| self.used[k] && in_sql(t)) {
                if !tables_at.iter().any(|(p, _)| *p == k) {
                    tables_at.push((k, t));
                }
            }
        }
        tables_at.sort();
        let linked = |a: usize, b: usize| s.fks.iter().any(|fk| connects(fk, a, b));
        // directly, or through one bridge table the SQL also reads ("members borrowed books":
        // loans)
        let direct = |a: usize, b: usize| {
            linked(a, b)
                || from
                    .tables
                    .iter()
                    .chain(neg_tables)
                    .any(|&m| m != a && m != b && linked(a, m) && linked(m, b))
        };
        for i in 0..self.toks.len() {
            // an id is asked for, never a relationship (see below); "both cats and dogs" asks
            // for two rows
            if self.used[i]
                || !self.is_content(i)
                || matches!(self.w(i), "id" | "ids" | "both")
                || self.names_a_thing(i, &in_sql)
            {
                continue;
            }
            let before = tables_at.iter().rev().find(|(p, _)| *p < i);
            let after = tables_at.iter().find(|(p, _)| *p > i + 1);
            // "how many courses does each faculty offer": the verb last, after does / do / did
            let last = (i + 1..self.toks.len()).all(|k| is_function_word(&self.toks[k].lower));
            let asked = (0..i).any(|k| ["does", "do", "did"].contains(&self.w(k)));
            let earlier = tables_at.iter().rev().filter(|(p, _)| *p < i).nth(1);
            let (before, after) = match (after, earlier) {
                (None, Some(e)) if last && asked => (Some(e), before),
                _ => (before, after),
            };
            let (Some(&(pa, a)), Some(&(pb, b))) = (before, after) else {
                continue;
            };
            let alone = (pa + 1..pb)
                .filter(|&k| k != i)
                .all(|k| self.used[k] || !self.is_content(k));
            if alone && a != b && direct(a, b) {
                self.used[i] = true;
                self.assumed.push(i);
            }
        }
        // last, so that the relationship rule above judges the words between two tables
        // without these
        let fk_words: Vec<String> = from
            .joins
            .iter()
            .flat_map(|(st, _)| &s.fks[st.fk].from_columns)
            .flat_map(|c| col_stems(c))
            .filter(|w| w != "id")
            .collect();
        for i in 0..self.toks.len() {
            if !self.used[i] && fk_words.contains(&self.toks[i].stem) {
                self.used[i] = true;
            }
        }
        // "the document ids", "artist id": accounted for when the answer shows that table's key
        for i in 1..self.toks.len() {
            if self.used[i] || !matches!(self.w(i), "id" | "ids") {
                continue;
            }
            if let Some(t) = self.table_word(i - 1).filter(|&t| in_sql(t)) {
                let key_shown = s.tables[t]
                    .columns
                    .iter()
                    .enumerate()
                    .any(|(c, col)| col.pk && col_shown((t, c)));
                if key_shown {
                    self.used[i] = true;
                }
            }
        }
        // a number the SQL holds as written is accounted for (a value it compares with)
        for i in 0..self.toks.len() {
            if !self.used[i]
                && self.toks[i].number.is_some()
                && holds_number(sql, &self.toks[i].text)
            {
                self.used[i] = true;
            }
        }
        // "Show paragraph details": where a table the SQL reads has a column of that word
        // (other_details) it is that column, not a word to pass over
        for i in 0..self.toks.len() {
            let t = &self.toks[i];
            let whole = self.all_columns.is_some_and(|(at, n)| (at..at + n).contains(&i));
            if whole || !matches!(t.stem.as_str(), "detail" | "information" | "info" | "data") {
                continue;
            }
            let left_out = from.tables.iter().any(|&tb| {
                s.tables[tb].columns.iter().enumerate().any(|(c, col)| {
                    !col_used((tb, c)) && col_stems(&col.name).contains(&t.stem)
                })
            });
            if left_out && !self.unplaced_function_words.contains(&i) {
                self.unplaced_function_words.push(i);
            }
        }
        let outer: Vec<usize> = from.joins.iter().filter(|j| j.1).map(|j| j.0.to).collect();
        self.account_for_verbs(&words, &outer, &col_used, &in_sql);
    }

    /// "How many countries are listed?", "languages spoken in Aruba", "channels that use
    /// English": when every other word is accounted for, a verb names the event or the
    /// relationship the rows already are — unless it names something the SQL leaves out, a
    /// column of a table it reads ("How is the course described?": course_description) or a
    /// table it does not ("the most populated countries": population).
    fn account_for_verbs(
        &mut self,
        words: &[String],
        outer: &[usize],
        col_used: &dyn Fn(Col) -> bool,
        in_sql: &dyn Fn(usize) -> bool,
    ) {
        let s = self.s;
        let mut open: Vec<usize> = (0..self.toks.len())
            .filter(|&i| !self.used[i] && (self.is_content(i) || self.toks[i].number.is_some()))
            .collect();
        // "looks after", "are used for": the particle goes with its verb
        let particles: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| {
                i > 0
                    && PARTICLES.contains(&self.w(i))
                    && open.contains(&(i - 1))
                    && self.verb_at(i - 1)
            })
            .collect();
        open.retain(|i| !particles.contains(i));
        // a taught relationship means its two tables, whatever its form
        let taught = |i: usize| self.relationships.iter().any(|r| (r.0..r.0 + r.1).contains(&i));
        if open.iter().any(|&i| taught(i)) {
            return;
        }
        // "the contestants who got voted": only those with a vote, where the SQL keeps all
        // (a LEFT JOIN of votes)
        let outer_words: Vec<String> = outer.iter().flat_map(|&t| name_stems(&s.tables[t].name)).collect();
        if open
            .iter()
            .any(|&i| verb_roots(&self.toks[i].lower).iter().any(|r| outer_words.contains(r)))
        {
            return;
        }
        // (which table a column named first belongs to is the one guess that leaves the
        // words' reading alone)
        let sure = self.guesses.iter().all(|g| *g == "subject from a column")
            && self.unplaced_function_words.is_empty();
        if !sure
            || open.is_empty()
            || !open.iter().all(|&i| self.verb_at(i) && !self.names_a_thing(i, in_sql))
        {
            return;
        }
        // the words of what the SQL leaves out
        let mut left_out: Vec<String> = Vec::new();
        // (the tables a foreign key links to one the SQL reads)
        let beside: Vec<usize> = s
            .fks
            .iter()
            .filter_map(|fk| match (in_sql(fk.from), in_sql(fk.to)) {
                (true, false) => Some(fk.to),
                (false, true) => Some(fk.from),
                _ => None,
            })
            .collect();
        for (t, table) in s.tables.iter().enumerate() {
            if !in_sql(t) {
                left_out.extend(name_stems(&table.name));
                // and the columns of a table next to one it reads ("how many colours do
                // flowers have": plant.flower_colour_id, beside colour)
                if beside.contains(&t) {
                    left_out.extend(
                        table.columns.iter().flat_map(|c| col_stems(&c.name)).filter(|w| w != "id"),
                    );
                }
                continue;
            }
            // (the table's own words name it, and it is read: student_enrolment_id)
            let own = name_stems(&table.name);
            for (c, col) in table.columns.iter().enumerate() {
                if !col_used((t, c)) {
                    left_out.extend(col_stems(&col.name).into_iter().filter(|w| !own.contains(w)));
                }
            }
        }
        for i in open {
            let roots = verb_roots(&self.toks[i].lower);
            if particles.contains(&(i + 1)) {
                self.used[i + 1] = true;
            }
            if roots.iter().any(|r| words.contains(r)) {
                // "museums opened after 2013": open_year
                self.used[i] = true;
                continue;
            }
            let names_left_out = roots.iter().any(|root| {
                let head: String = root.chars().take(5).collect();
                head.len() >= 4
                    && left_out.iter().any(|w| {
                        w.starts_with(&head) || (w.len() >= 4 && root.starts_with(w.as_str()))
                    })
            });
            if !names_left_out {
                self.used[i] = true;
                self.assumed.push(i);
            }
        }
    }

    /// Token `i` names a table the SQL does not read, or a column of one (a word the
    /// linking placed there), or is a compound modifier ("blue-haired"): a condition or a
    /// thing left out, never the relationship or the event the rows already are ("never
    /// enrolled", over enrolments read, still is).
    fn names_a_thing(&self, i: usize, in_sql: &dyn Fn(usize) -> bool) -> bool {
        let elsewhere = |m: &Mention| match &m.target {
            Target::Table(t) => !in_sql(*t),
            Target::Columns(cs) => cs.iter().all(|(c, _)| !in_sql(c.0)),
        };
        // "molecules that are not carcinogenic" beside "whether this molecule is
        // carcinogenic or not": a value of that column, which the comment does not give
        // (read last: it tokenizes comments)
        let a_flag_value = || {
            !self.schema_word(&self.toks[i].stem)
                && self.s.tables.iter().flat_map(|t| &t.columns).any(|c| {
                    is_flag_note(&c.notes)
                        && crate::catalog::search::tokens(&c.notes).contains(&self.toks[i].stem)
                })
        };
        self.toks[i].lower.contains('-')
            || self
                .mentions
                .iter()
                .any(|m| (m.start..m.start + m.len).contains(&i) && elsewhere(m))
            || a_flag_value()
    }

    /// Token `i` is a verb by its form ("listed", "using", "spoken") or its place (after an
    /// auxiliary, a negation, "to" or a relative pronoun: "do not play", "that use").
    fn verb_at(&self, i: usize) -> bool {
        let t = &self.toks[i];
        if t.quoted || t.number.is_some() || t.text.chars().next().is_some_and(char::is_uppercase) {
            return false;
        }
        let w = t.lower.as_str();
        // "the engineering department": a determiner makes it a name; "descending" orders
        let named = i > 0 && matches!(self.w(i - 1), "the" | "a" | "an" | "each" | "every" | "any");
        let by_form = !named
            && w.chars().all(|c| c.is_ascii_lowercase())
            && !ORDER_WORDS.contains(&w)
            && (regular_verb_form(w) || PARTICIPLES.contains(&w));
        // (a relative pronoun after the noun it is about: "channels that use", not "which
        // elephants")
        let after_noun = i >= 2 && self.used[i - 2] && self.is_content(i - 2);
        // "arranged to teach": "to" after a verb
        let after_verb = i >= 2 && regular_verb_form(self.w(i - 2));
        // "TV channels use English", "continents speak Chinese": right after the plural noun
        // it is about
        let after_plural = i >= 1
            && !PREPOSITIONS.contains(&w)
            && self.used[i - 1]
            && self.is_content(i - 1)
            && self.toks[i - 1].lower.ends_with('s')
            && self.toks[i - 1].stem != self.toks[i - 1].lower;
        // "which gardener looks after", "does Ana Costa look after": the verb of the subject
        // just named
        let of_subject = (i >= 2
            && matches!(self.w(i - 2), "which" | "what")
            && self.used[i - 1]
            && self.is_content(i - 1)
            && w.ends_with('s')
            && !PREPOSITIONS.contains(&w))
            || (0..i)
                .rev()
                .find(|&k| matches!(self.w(k), "do" | "does" | "did"))
                .is_some_and(|k| k + 1 < i && (k + 1..i).all(|m| self.used[m]));
        let by_place = i > 0
            && (after_plural
                || of_subject
                || matches!(self.w(i - 1), "do" | "does" | "did" | "not" | "can" | "will")
                || (after_noun && matches!(self.w(i - 1), "that" | "who" | "which"))
                || (after_verb && self.w(i - 1) == "to"));
        by_form || by_place
    }
}

/// Whether foreign key `fk` joins tables `a` and `b`, either way round.
fn connects(fk: &super::super::ForeignKey, a: usize, b: usize) -> bool {
    (fk.from == a && fk.to == b) || (fk.from == b && fk.to == a)
}

/// "listed", "using": the endings of a regular verb's participles.
fn regular_verb_form(w: &str) -> bool {
    (w.len() > 4 && (w.ends_with("ed") || w.ends_with("ing")))
        // "used", "owed" (not "need", "seed")
        || (w.len() == 4 && w.ends_with("ed") && !w.ends_with("eed"))
}

/// The particles of phrasal verbs ("look after", "used for", "sign up"): after an open verb,
/// the verb's own.
const PARTICLES: &[&str] = &[
    "after", "for", "up", "out", "over", "off", "on", "into", "down", "with", "by",
];

/// Irregular past participles a question uses for what the rows are ("spoken", "written").
const PARTICIPLES: &[&str] = &[
    "spoken", "written", "given", "taken", "made", "sold", "held", "won", "led", "born", "known",
    "shown", "seen", "done", "paid", "kept", "built", "bought", "taught", "run", "sent",
];

/// A past participle whose "by" names who did it ("owned by", "written by"), unlike those that
/// name an order or a grouping ("sorted by", "grouped by", "broken down by").
pub(super) fn is_agent_verb(w: &str) -> bool {
    // (participles of no other use here)
    const ALSO: &[&str] = &["sung", "drawn", "driven", "read"];
    const NOT_AGENT: &[&str] = &[
        "grouped", "arranged", "classified", "categorized", "categorised", "split", "broken",
        "divided", "separated", "listed", "followed",
    ];
    !ORDER_WORDS.contains(&w)
        && !NOT_AGENT.contains(&w)
        && (PARTICIPLES.contains(&w) || ALSO.contains(&w) || (w.len() > 4 && w.ends_with("ed")))
}

/// Words that follow a noun as verbs do ("visitors below age 30") and are none.
const PREPOSITIONS: &[&str] = &[
    "below", "above", "under", "over", "except", "after", "before", "between", "without",
    "within", "near", "since", "until", "via", "across", "around", "through", "beyond",
    "behind", "besides", "including", "excluding", "like", "than", "per", "among", "against",
    "whose", "where", "when",
];

/// Words of ordering, which read like verbs.
const ORDER_WORDS: &[&str] = &[
    "descending", "ascending", "increasing", "decreasing", "ordered", "sorted", "ranked",
];

/// A verb without its ending, with and without the "e" it may have lost: "opened" → open,
/// "liked" → lik / like, "using" → us / use.
fn verb_roots(w: &str) -> Vec<String> {
    for suffix in ["ing", "ed", "es", "s"] {
        if w.len() > suffix.len() + 2 && w.ends_with(suffix) {
            let root = &w[..w.len() - suffix.len()];
            return vec![root.to_string(), format!("{root}e")];
        }
    }
    vec![w.to_string()]
}

/// Whether `short` is the usual abbreviation of the word `full` in a name.
fn abbreviates(short: &str, full: &str) -> bool {
    matches!(
        (full, short),
        ("number", "num" | "no" | "nbr") | ("quantity", "qty") | ("amount", "amt")
    )
}
