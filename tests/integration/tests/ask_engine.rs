//! Execution accuracy and precision of the in-process engine (no LLM) on six schemas:
//! Chinook and a library schema (development sets: the engine was written on them), a
//! hospital, a logistics company and a university (schemas with a vocabulary of their own,
//! written after the engine; the university was held out until its first measurement) and
//! an airline (held out: never used to tune the engine). Each question's
//! generated SQL and its gold SQL are both run; the answer is right when the results match
//! (see `same_result`). An answer counts as given when its confidence reaches
//! ai_architect.ask_min_confidence (what ai.ask would run); precision is right / given,
//! accuracy right / questions. With AI_NL2SQL_REPORT set, a markdown report is appended there.
use ai_architect_integration::{load_chinook, TestDb};
use postgres::Client;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug)]
struct Case {
    /// The category ("argmax", "ratio", ...) or, for the older sets, the difficulty.
    group: String,
    question: String,
    gold: String,
}

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/../nl2sql/{file}", env!("CARGO_MANIFEST_DIR"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            group: c
                .get("category")
                .or_else(|| c.get("level"))
                .or_else(|| c.get("difficulty"))
                .and_then(|g| g.as_str())
                .unwrap()
                .into(),
            question: c["question"].as_str().unwrap().into(),
            gold: c["gold"].as_str().unwrap().into(),
        })
        .collect()
}

fn load_schema(c: &mut Client, name: &str) {
    let path = format!("{}/../nl2sql/{name}.sql", env!("CARGO_MANIFEST_DIR"));
    c.batch_execute(&std::fs::read_to_string(path).unwrap())
        .unwrap();
}

type Rows = Vec<Vec<Option<String>>>;

fn run(c: &mut Client, sql: &str) -> Result<Rows, String> {
    let q = format!(
        "SELECT (SELECT array_agg(value ORDER BY n) FROM json_each_text(row_to_json(q)) WITH ORDINALITY AS x(key, value, n))
           FROM ({sql}) q"
    );
    let rows = c.query(&q, &[]).map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|r| {
            r.get::<_, Option<Vec<Option<String>>>>(0)
                .unwrap_or_default()
        })
        .map(|v| v.into_iter().map(|x| x.map(|s| normalise(&s))).collect())
        .collect())
}

/// Numbers compared to 6 significant decimals (avg() of the same values may print longer).
fn normalise(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(f) if s.contains('.') => format!("{:.6}", f),
        _ => s.to_string(),
    }
}

/// How two results are compared: as multisets (Spider's scoring and this project's sets: a row
/// repeated is a different answer) or as sets of rows (BIRD's own scoring, `set(predicted) ==
/// set(gold)` in its evaluation script: its gold SQL often repeats rows or leaves them out).
#[derive(Clone, Copy, PartialEq)]
enum Scoring {
    Multiset,
    Set,
}

/// The generated result answers the question when it has the gold result's rows and, for each
/// gold column, a column with the same values row by row (extra columns, such as the name
/// next to a count, are allowed; column order and row order are not compared; under
/// `Scoring::Set` neither is how often a row repeats).
fn same_result(gold: &Rows, got: &Rows, scoring: Scoring) -> bool {
    let set = scoring == Scoring::Set;
    if !set && gold.len() != got.len() {
        return false;
    }
    let m = gold.first().map(|r| r.len()).unwrap_or(0);
    let n = got.first().map(|r| r.len()).unwrap_or(0);
    if gold.is_empty() || got.is_empty() {
        return gold.is_empty() && got.is_empty();
    }
    let column = |rows: &Rows, j: usize| -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = rows.iter().map(|r| r.get(j).cloned().flatten()).collect();
        v.sort();
        if set {
            v.dedup();
        }
        v
    };
    let candidates: Vec<Vec<usize>> = (0..m)
        .map(|j| {
            let g = column(gold, j);
            (0..n).filter(|&k| column(got, k) == g).collect()
        })
        .collect();
    fn assign(
        j: usize,
        cand: &[Vec<usize>],
        chosen: &mut Vec<usize>,
        (gold, got, set): (&Rows, &Rows, bool),
    ) -> bool {
        if j == cand.len() {
            let mut a: Vec<Vec<Option<String>>> = gold.clone();
            let mut b: Vec<Vec<Option<String>>> = got
                .iter()
                .map(|r| chosen.iter().map(|&k| r[k].clone()).collect())
                .collect();
            a.sort();
            b.sort();
            if set {
                a.dedup();
                b.dedup();
            }
            return a == b;
        }
        for &k in &cand[j] {
            if chosen.contains(&k) {
                continue;
            }
            chosen.push(k);
            if assign(j + 1, cand, chosen, (gold, got, set)) {
                return true;
            }
            chosen.pop();
        }
        false
    }
    assign(0, &candidates, &mut Vec::new(), (gold, got, set))
}

/// What the engine did with one question.
struct Verdict {
    group: String,
    /// SQL was produced (at any confidence).
    attempted: bool,
    /// ... with a confidence that ai.ask would run.
    given: bool,
    right: bool,
    /// ... and right with the rows compared as multisets too (what `Scoring::Set` forgave).
    right_as_multiset: bool,
    confidence: f64,
    /// How many words the engine accounted for by their place, not a name ("assumed").
    assumed: usize,
    note: String,
}

struct Outcome {
    verdicts: Vec<Verdict>,
    latencies_ms: Vec<f64>,
}

fn evaluate(c: &mut Client, file: &str, scoring: Scoring) -> Outcome {
    // the first call loads the model and builds the catalog: not part of the latency
    c.query_one("SELECT ai.ask('how many rows are there', false)", &[])
        .unwrap();
    let threshold: f64 = c
        .query_one("SELECT current_setting('ai_architect.ask_min_confidence')::float8", &[])
        .unwrap()
        .get(0);
    // every attempt comes back with its SQL and confidence; the threshold is applied here
    c.batch_execute("SET ai_architect.ask_min_confidence = 0").unwrap();
    let mut verdicts = Vec::new();
    let mut latencies_ms = Vec::new();
    for case in cases(file) {
        let gold = run(c, &case.gold)
            .unwrap_or_else(|e| panic!("gold SQL of {:?} fails: {e}", case.question));
        let started = Instant::now();
        let a: serde_json::Value = serde_json::from_str(
            c.query_one("SELECT ai.ask($1, false)::text", &[&case.question])
                .unwrap()
                .get::<_, &str>(0),
        )
        .unwrap();
        latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let confidence = a["confidence"].as_f64().unwrap_or(0.0);
        let mut v = Verdict {
            group: case.group.clone(),
            attempted: false,
            given: false,
            right: false,
            right_as_multiset: false,
            confidence,
            assumed: a["assumed"].as_array().map_or(0, |w| w.len()),
            note: String::new(),
        };
        match (a["sql"].as_str(), a["error"].as_str()) {
            (Some(sql), None) => {
                v.attempted = true;
                v.given = confidence >= threshold;
                match run(c, sql) {
                    Ok(got) if same_result(&gold, &got, scoring) => {
                        v.right = true;
                        v.right_as_multiset = same_result(&gold, &got, Scoring::Multiset);
                    }
                    Ok(got) => {
                        v.note = format!(
                            "different result ({} rows vs {}): {}",
                            got.len(),
                            gold.len(),
                            sql.replace('\n', " ")
                        )
                    }
                    Err(e) => v.note = format!("fails: {e}: {sql}"),
                }
            }
            (_, e) => v.note = format!("refused: {}", e.unwrap_or("no SQL")),
        }
        if v.given && !v.right {
            let assumed: Vec<&str> = a["assumed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str())
                .collect();
            let assumed = if assumed.is_empty() {
                String::new()
            } else {
                format!("; assumed: {}", assumed.join(", "))
            };
            v.note = format!("WRONG (confidence {confidence}{assumed}) {}", v.note);
        } else if v.attempted && !v.given {
            // the words that held it back: what a curator would teach, or the engine learn
            // (the engine's unexplained words; not_understood where no SQL was attempted)
            let words: Vec<&str> = [&a["unexplained"], &a["not_understood"]]
                .into_iter()
                .filter_map(|w| w.as_array())
                .flatten()
                .filter_map(|w| w.as_str())
                .collect();
            v.note = format!(
                "held back (confidence {confidence} < {threshold}{}){}",
                if words.is_empty() { String::new() } else { format!("; not understood: {}", words.join(", ")) },
                if v.right { ", would have been right" } else { "" }
            );
            if let Some(sql) = a["sql"].as_str() {
                // what it would have run: the reading to improve, or the word to place
                v.note = format!("{}: {}", v.note, sql.replace('\n', " "));
            }
        }
        if !v.note.is_empty() {
            v.note = format!("[{}] {} — {}", case.group, case.question, v.note);
        }
        verdicts.push(v);
    }
    c.batch_execute("RESET ai_architect.ask_min_confidence").unwrap();
    Outcome {
        verdicts,
        latencies_ms,
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    questions: usize,
    given: usize,
    right: usize,
    /// answers given and right that repeat or drop a repeated row of the gold result (right
    /// only under `Scoring::Set`)
    right_as_set_only: usize,
}

impl Tally {
    fn add(&mut self, v: &Verdict) {
        self.questions += 1;
        self.given += v.given as usize;
        self.right += (v.given && v.right) as usize;
        self.right_as_set_only += (v.given && v.right && !v.right_as_multiset) as usize;
    }
    fn sum(&mut self, t: &Tally) {
        self.questions += t.questions;
        self.given += t.given;
        self.right += t.right;
        self.right_as_set_only += t.right_as_set_only;
    }
    fn precision(&self) -> f64 {
        if self.given == 0 {
            1.0
        } else {
            self.right as f64 / self.given as f64
        }
    }
    fn accuracy(&self) -> f64 {
        self.right as f64 / self.questions.max(1) as f64
    }
    fn row(&self, label: &str) -> String {
        let precision = if self.given == 0 {
            "–".to_string()
        } else {
            format!("{:.0}%", 100.0 * self.precision())
        };
        format!(
            "| {label} | {} | {} | {} | {precision} | {:.0}% |\n",
            self.questions,
            self.given,
            self.right,
            100.0 * self.accuracy()
        )
    }
}

const TABLE_HEAD: &str = "| | questions | answered | right | precision | accuracy |\n|---|---|---|---|---|---|\n";

fn append_report(md: &str) {
    println!("{md}");
    if let Ok(path) = std::env::var("AI_NL2SQL_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{md}").unwrap();
    }
}

fn report(name: &str, o: &Outcome) -> (Tally, String) {
    let mut all = Tally::default();
    let mut per: BTreeMap<&str, Tally> = BTreeMap::new();
    for v in &o.verdicts {
        all.add(v);
        per.entry(&v.group).or_default().add(v);
    }
    let mut lat = o.latencies_ms.clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    let mut md = format!(
        "### {name}: {}/{} right ({:.0}% accuracy), {} answered ({:.0}% precision)\n\n{TABLE_HEAD}",
        all.right,
        all.questions,
        100.0 * all.accuracy(),
        all.given,
        100.0 * all.precision()
    );
    for (g, t) in &per {
        md.push_str(&t.row(g));
    }
    md.push_str(&all.row("all"));
    md.push_str(&format!(
        "\nai.ask(q, execute => false) latency (embedding, retrieval, value linking, engine, EXPLAIN), {} questions: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0.0)
    ));
    let notes: Vec<&str> = o
        .verdicts
        .iter()
        .filter(|v| !v.note.is_empty())
        .map(|v| v.note.as_str())
        .collect();
    if !notes.is_empty() {
        md.push_str("\nWrong, held back or refused:\n\n");
        for n in notes {
            md.push_str(&format!("- {n}\n"));
        }
    }
    append_report(&md);
    (all, md)
}

/// One row of a calibration table: the verdicts `keep` selects, how many are right, and the
/// share.
fn share_row(label: &str, sets: &[(&str, &Outcome)], keep: impl Fn(&Verdict) -> bool) -> String {
    let kept: Vec<&Verdict> = sets
        .iter()
        .flat_map(|(_, o)| o.verdicts.iter())
        .filter(|v| keep(v))
        .collect();
    let right = kept.iter().filter(|v| v.right).count();
    let share = if kept.is_empty() {
        "–".to_string()
    } else {
        format!("{:.0}%", 100.0 * right as f64 / kept.len() as f64)
    };
    format!("| {label} | {} | {right} | {share} |\n", kept.len())
}

/// Accuracy of the attempts by the confidence they reported: is a high confidence earned?
fn calibration(title: &str, sets: &[(&str, &Outcome)]) -> String {
    let bands = [(0.0, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0), (1.0, 1.01)];
    let mut md = format!(
        "### Calibration: attempts by reported confidence ({title})\n\n| confidence | attempts | right | accuracy |\n|---|---|---|---|\n",
    );
    for (lo, hi) in bands {
        let label = if lo == 1.0 {
            "1.0".to_string()
        } else {
            format!("[{lo:.1}, {hi:.1})")
        };
        md.push_str(&share_row(&label, sets, |v| {
            v.attempted && v.confidence >= lo && v.confidence < hi
        }));
    }
    // the answers given, by how many of their words were read by their place ("billed" between
    // two joined tables) rather than a name: are those readings earned?
    md.push_str("\n| words assumed | given | right | precision |\n|---|---|---|---|\n");
    for (label, lo, hi) in [("0", 0, 1), ("1", 1, 2), ("2 or more", 2, usize::MAX)] {
        md.push_str(&share_row(label, sets, |v| {
            v.given && v.assumed >= lo && v.assumed < hi
        }));
    }
    append_report(&md);
    md
}

/// The seven sets in one run (so that the calibration table covers them all), each in a
/// database of its own. Development sets must keep their accuracy; on the schemas the engine
/// was not written on, what it answers must be right.
#[test]
fn engine_accuracy_and_precision() {
    let sets: [(&str, &str, &str); 7] = [
        ("Chinook (development)", "chinook", "chinook.json"),
        ("Library (development)", "library", "library.json"),
        ("Garden (development: lookup tables)", "garden", "garden.json"),
        ("Hospital (unseen vocabulary)", "hospital", "hospital.json"),
        ("Logistics (unseen vocabulary)", "logistics", "logistics.json"),
        ("University (unseen vocabulary)", "university", "university.json"),
        ("Airline (held out)", "airline", "airline.json"),
    ];
    let mut outcomes = Vec::new();
    let mut problems = Vec::new();
    for (name, schema, file) in sets {
        let db = TestDb::new(&format!("ask_{schema}"));
        let mut c = db.connect("postgres");
        if schema == "chinook" {
            load_chinook(&mut c);
        } else {
            load_schema(&mut c, schema);
        }
        let o = evaluate(&mut c, file, Scoring::Multiset);
        let (t, md) = report(name, &o);
        let dev = name.contains("development");
        // (the garden, added to develop lookup tables and two keys to one table, has its own
        // floor: what the engine answers there today)
        let floor = if schema == "garden" { MIN_GARDEN_ACCURACY } else { MIN_DEVELOPMENT_ACCURACY };
        if dev && t.accuracy() < floor {
            problems.push(format!("accuracy on {name} fell to {:.2}\n{md}", t.accuracy()));
        }
        if !dev && t.precision() < MIN_UNSEEN_PRECISION {
            problems.push(format!("precision on {name} is {:.2}\n{md}", t.precision()));
        }
        if !dev && t.accuracy() < MIN_UNSEEN_ACCURACY {
            problems.push(format!("accuracy on {name} is {:.2}\n{md}", t.accuracy()));
        }
        outcomes.push((name, o));
    }
    let refs: Vec<(&str, &Outcome)> = outcomes.iter().map(|(n, o)| (*n, o)).collect();
    calibration("all seven sets", &refs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The public development sets: Spider 1.0's dev questions over its 19 databases (931
/// questions written by other people, converted to PostgreSQL with verified gold SQL; CC BY-SA
/// 4.0, see tests/nl2sql/public/README.md) and BIRD's dev questions over toxicology (144; held
/// out until it was read question by question at the end of the generalisation work),
/// measured on PostgreSQL 15 (the engine is the same code on every version). The held-out
/// public set, BIRD's dev questions over superhero, is not run here: it is measured by
/// `AI_NL2SQL_HELD_OUT=1` (make bench) and its questions are never read to tune the engine.
/// Each BIRD database is then taught its most frequent unknown words and measured again.
/// BIRD's questions are scored as BIRD scores them (rows compared as sets), Spider's as
/// multisets.
#[test]
fn the_public_sets_measured_on_questions_written_elsewhere() {
    let held_out = std::env::var("AI_NL2SQL_HELD_OUT").is_ok_and(|v| v == "1");
    let dbs: &[&str] = if held_out {
        &["superhero"]
    } else {
        &[
            "battle_death",
            "car_1",
            "concert_singer",
            "course_teach",
            "cre_doc_template_mgt",
            "dog_kennels",
            "employee_hire_evaluation",
            "flight_2",
            "museum_visit",
            "network_1",
            "orchestra",
            "pets_1",
            "poker_player",
            "real_estate_properties",
            "singer",
            "student_transcripts_tracking",
            "tvshow",
            "voter_1",
            "world_1",
            "toxicology",
        ]
    };
    let probe = TestDb::new("ask_pub_version");
    let version: i32 = probe
        .connect("postgres")
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .unwrap()
        .get(0);
    if version / 10000 != 15 {
        eprintln!("skipped: the public sets are measured on PostgreSQL 15 (the same engine)");
        return;
    }
    let mut all = Tally::default();
    // (BIRD's toxicology beside Spider in the development run: its own line)
    let mut bird = Tally::default();
    let mut per_db = String::new();
    let mut taught_md = String::new();
    let mut taught_all = Tally::default();
    let mut outcomes: Vec<(&str, Outcome)> = Vec::new();
    for name in dbs {
        let db = TestDb::new(&format!("ask_pub_{name}"));
        let mut c = db.connect("postgres");
        load_schema(&mut c, &format!("public/{name}"));
        let bird_db = BIRD.contains(name);
        let scoring = if bird_db { Scoring::Set } else { Scoring::Multiset };
        let o = evaluate(&mut c, &format!("public/{name}.json"), scoring);
        let (t, _) = report(name, &o);
        outcomes.push((*name, o));
        let sum = if bird_db && !held_out { &mut bird } else { &mut all };
        sum.sum(&t);
        if !(bird_db && !held_out) {
            per_db.push_str(&t.row(name));
        }
        if bird_db {
            let (after, md) = taught_gain(&mut c, name, &t);
            taught_all.sum(&after);
            taught_md.push_str(&md);
        }
    }
    let set = if held_out {
        "BIRD dev superhero (held out)"
    } else {
        "Spider dev (public development set)"
    };
    let taught_set = if held_out { set } else { "BIRD dev toxicology (public development set)" };
    append_report(&format!(
        "### {taught_set} after teaching the 5 most frequent unknown words\n\n{TABLE_HEAD}{taught_md}{}",
        taught_all.row("all, taught")
    ));
    let refs: Vec<(&str, &Outcome)> = outcomes.iter().map(|(n, o)| (*n, o)).collect();
    calibration(if held_out { set } else { "Spider dev and BIRD toxicology" }, &refs);
    let md = summary(
        set,
        &all,
        &per_db,
        if held_out { Scoring::Set } else { Scoring::Multiset },
    );
    append_report(&md);
    if !held_out {
        append_report(&summary(
            "BIRD dev toxicology (public development set)",
            &bird,
            "",
            Scoring::Set,
        ));
        // floors at what the engine does today on them, so that it cannot quietly get worse
        // (the goal: 90% precision, 25% accuracy, is met on Spider dev)
        assert!(
            all.precision() >= MIN_PUBLIC_PRECISION && all.accuracy() >= MIN_PUBLIC_ACCURACY,
            "{md}"
        );
    }
}

/// A set's heading with its figures, then its table: `rows`, and the set's own total.
fn summary(set: &str, t: &Tally, rows: &str, scoring: Scoring) -> String {
    let scored = match scoring {
        Scoring::Multiset => String::new(),
        Scoring::Set => format!(
            "Rows compared as sets, as BIRD scores its questions: right answers that repeat a row of the gold result or show it once where it repeats, {}.\n\n",
            t.right_as_set_only
        ),
    };
    format!(
        "### {set}: {}/{} right ({:.1}% accuracy), {} answered ({:.1}% precision)\n\n{scored}{TABLE_HEAD}{rows}{}",
        t.right,
        t.questions,
        100.0 * t.accuracy(),
        t.given,
        100.0 * t.precision(),
        t.row("all")
    )
}

/// Measured when the set was added: 181 answered, 122 right of 931 (67.4% precision, 13.1%
/// accuracy); then, with a negated value, a second aggregate, a number left out and ids asked
/// for but not shown no longer taken for understood, 170 answered, 129 right (75.9%, 13.9%);
/// with an unplaced aggregate, superlative, date or comparison held back, 161 / 127 (78.9%);
/// with "the average number of", "all the information about", a column named as its table
/// and superlatives over orderable columns, 158 / 132 (83.5%, 14.2%); with a key the question
/// names shown, 176 / 146 (83.0%, 15.7%); with "the total number of", "in ascending order of",
/// "sort … by" and "compute", 187 / 157 (84.0%, 16.9%); with a short word of a name the SQL
/// reads ("cars" over cars_data) or two words a name writes as one ("country name") accounted
/// for, and a join that one of two foreign keys between the same tables could make held back,
/// 201 / 173 (86.1%, 18.6%); with a verb whose every other word is accounted for taken for
/// what the rows are (unless it names what the SQL leaves out), "in 2014 or 2015", either of
/// two dates, "the most number of", and a negation across a one-to-many join, a table both
/// denied and joined, a column's values denied, bounds no row meets, a column's own name
/// taken for its value and "details" over a column of details held back, 216 / 195 (90.3%,
/// 20.9%); with "the name of the country" (countryname), "last name" (lname), a label shown
/// for "the names of", and the name counted among columns named alike, 229 / 207 (90.4%,
/// 22.2%); with "in alphabetical order" and a verb right after its plural noun, 239 / 216
/// (90.4%, 23.2%); with aggregates listed together ("the average, minimum and maximum age"),
/// a column between a comparison and its number ("above age 20"), "number" over num_,
/// the columns listed before their table shown ("the names, countries and ages of the
/// singers"), and "A and B" across a one-to-many join held back, 276 / 253 (91.7%, 27.2%);
/// with lookup tables 284 / 260 (91.5%, 27.9%); with the column of the rows a relative clause
/// names, "by" after a participle as the agent, an average over rows a join repeats as
/// EXISTS, and a negation or a limit left out held back, 283 / 264 (93.3%, 28.4%); with the
/// codes a comment's legend explains, two join paths held back and "between A and B" as a
/// range, 283 / 265 (93.6%, 28.5%). The floors sit just under (Spider's alone).
const MIN_PUBLIC_PRECISION: f64 = 0.92;
/// BIRD's databases: the held-out one, and the one that became a development set.
const BIRD: [&str; 2] = ["superhero", "toxicology"];
const MIN_PUBLIC_ACCURACY: f64 = 0.28;

/// The floors on the three unseen schemas, each: what is answered is right this often, and
/// this share of all questions is answered right.
const MIN_UNSEEN_PRECISION: f64 = 0.85;
const MIN_UNSEEN_ACCURACY: f64 = 0.25;
/// Chinook's and the library's accuracy before the unseen schemas were added (36/38, 34/34):
/// generality must not cost the development sets anything.
const MIN_DEVELOPMENT_ACCURACY: f64 = 0.94;
const MIN_GARDEN_ACCURACY: f64 = 0.90;

/// A curator teaches the 5 words the questions of `name` most often left unexplained (as
/// `ai.unknown_words` lists them after the first run: tests/nl2sql/public/vocabulary/NAME.sql,
/// written from the schema and BIRD's published evidence, never from the gold SQL), and the
/// set is measured again. The words taught must be those 5.
fn taught_gain(c: &mut Client, name: &str, before: &Tally) -> (Tally, String) {
    let top: Vec<String> = c
        .query("SELECT word FROM ai.unknown_words(max_words => 5)", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let path = format!(
        "{}/../nl2sql/public/vocabulary/{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let teach = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (the 5 most frequent unknown words: {top:?})"));
    c.batch_execute(&teach).unwrap();
    let taught: Vec<String> = c
        .query("SELECT DISTINCT word FROM ai.vocabulary ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for w in &taught {
        assert!(top.contains(w), "{name}: '{w}' is not among the 5 most frequent unknown words {top:?}");
    }
    let o = evaluate(c, &format!("public/{name}.json"), Scoring::Set);
    let (after, _) = report(&format!("{name}, taught"), &o);
    let md = format!(
        "{}{}| | taught: {} | | | | |\n",
        before.row(&format!("{name}, before")),
        after.row(&format!("{name}, taught")),
        taught.join(", ")
    );
    (after, md)
}

#[test]
fn a_close_sample_answers_with_its_literals_adapted() {
    let db = TestDb::new("ask_sample");
    let mut c = db.connect("postgres");
    load_chinook(&mut c);
    c.query_one(
        "SELECT ai.add_sample('How many customers live in Brazil?', 'SELECT count(*) AS n FROM public.customer WHERE country = ''Brazil''')",
        &[],
    )
    .unwrap();
    let a: serde_json::Value = serde_json::from_str(
        c.query_one(
            "SELECT ai.ask('How many customers live in Canada?')::text",
            &[],
        )
        .unwrap()
        .get::<_, &str>(0),
    )
    .unwrap();
    assert_eq!(a["source"], "sample", "{a}");
    assert_eq!(a["rows"][0]["n"], 8, "{a}");
    assert!(a["sql"].as_str().unwrap().contains("'Canada'"));
    let (source, sample, similarity): (String, Option<i64>, Option<f64>) = {
        let r = c
            .query_one(
                "SELECT source, sample_id, similarity FROM ai.query_usage_stats WHERE id = $1",
                &[&a["usage_id"].as_i64().unwrap()],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(source, "sample");
    assert!(sample.is_some() && similarity.is_some());
    // phrased otherwise and with another literal: the sample would answer the wrong country,
    // so the engine answers
    let a: serde_json::Value = serde_json::from_str(
        c.query_one(
            "SELECT ai.ask('Number of customers living in Canada')::text",
            &[],
        )
        .unwrap()
        .get::<_, &str>(0),
    )
    .unwrap();
    assert_eq!(a["source"], "engine", "{a}");
    assert_eq!(a["rows"][0]["customer_count"], 8, "{a}");
}

/// A taught meaning reads columns by what they were when it was taught: renamed (two swapped),
/// dropped or of another type since, it is no longer used — the question is held back over its
/// word again, never answered from another column — until it is taught again.
#[test]
fn a_taught_word_is_not_used_once_its_columns_changed() {
    let db = TestDb::new("ask_vocabulary_ddl");
    let mut c = db.connect("postgres");
    c.batch_execute(
        "CREATE TABLE public.track (track_id int PRIMARY KEY, name text NOT NULL, milliseconds int, bytes int);
         INSERT INTO public.track SELECT g, 'track ' || g, 1000 * g, 7 * g FROM generate_series(1, 20) g;
         ANALYZE public.track;
         SELECT ai.teach('airtime', 'track', 'milliseconds');",
    )
    .unwrap();
    let q = "What is the total airtime of all tracks?";
    let answer = |c: &mut Client| -> Result<String, String> {
        let t: String = c.query_one("SELECT ai.ask($1)::text", &[&q]).unwrap().get(0);
        let a: serde_json::Value = serde_json::from_str(&t).unwrap();
        match a["rows"][0].as_object().and_then(|r| r.values().next()) {
            Some(v) => Ok(v.to_string().trim_matches('"').to_string()),
            None => Err(a["error"].as_str().unwrap_or_default().to_string()),
        }
    };
    let ms: i64 = (1..=20).map(|g| 1000 * g).sum();
    assert_eq!(answer(&mut c), Ok(ms.to_string()));
    // the two columns swap names: "airtime" would now read the bytes
    c.batch_execute(
        "ALTER TABLE public.track RENAME COLUMN milliseconds TO tmp;
         ALTER TABLE public.track RENAME COLUMN bytes TO milliseconds;
         ALTER TABLE public.track RENAME COLUMN tmp TO bytes;",
    )
    .unwrap();
    let after = answer(&mut c);
    assert!(after.as_ref().is_err_and(|e| e.contains("airtime")), "{after:?}");
    let unknown: Vec<String> = c
        .query("SELECT word FROM ai.unknown_words()", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(unknown.contains(&"airtime".to_string()), "{unknown:?}");
    // taught again, over the column that holds the durations now
    c.batch_execute("SELECT ai.teach('airtime', 'track', 'bytes')").unwrap();
    assert_eq!(answer(&mut c), Ok(ms.to_string()));
    // another type, then dropped: not used, and no error of PostgreSQL's about a lost column
    c.batch_execute("ALTER TABLE public.track ALTER COLUMN bytes TYPE bigint").unwrap();
    let after = answer(&mut c);
    assert!(after.as_ref().is_err_and(|e| e.contains("airtime")), "{after:?}");
    c.batch_execute("SELECT ai.teach('airtime', 'track', 'bytes'); ALTER TABLE public.track DROP COLUMN bytes")
        .unwrap();
    let after = answer(&mut c);
    assert!(
        after.as_ref().is_err_and(|e| e.contains("airtime") && !e.contains("does not exist")),
        "{after:?}"
    );
}

/// A word taught once: the question it blocked is answered right, for everyone who may read
/// the table; a meaning that calls what the allow list refuses, or reads another table, is
/// refused; a plain role's word is a proposal used by nobody else until a curator reviews it.
#[test]
fn a_word_taught_once_answers_the_question_it_blocked() {
    let db = TestDb::new("ask_vocabulary");
    let mut su = db.connect("postgres");
    load_chinook(&mut su);
    let (reader, curator) = (format!("{}_r", db.name), format!("{}_c", db.name));
    su.batch_execute(&format!(
        "DO $$ BEGIN CREATE ROLE ai_curator; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
         CREATE ROLE \"{reader}\" LOGIN; CREATE ROLE \"{curator}\" LOGIN IN ROLE ai_curator;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{reader}\", \"{curator}\";"
    ))
    .unwrap();
    let ask = |c: &mut Client, q: &str| -> serde_json::Value {
        let t: String = c.query_one("SELECT ai.ask($1)::text", &[&q]).unwrap().get(0);
        serde_json::from_str(&t).unwrap()
    };
    let gold: String = su
        .query_one(
            "SELECT sum(unit_price * quantity)::float8::text FROM invoice_line",
            &[],
        )
        .unwrap()
        .get(0);
    let q = "What is the gross takings of all invoice lines?";
    let mut r = db.connect(&reader);
    // before: the word blocks the question
    let before = ask(&mut r, q);
    assert!(before["error"].as_str().is_some_and(|e| e.contains("takings")), "{before}");
    // a reader's word is a proposal: used for them, for nobody else
    let id: i64 = r
        .query_one(
            "SELECT ai.teach('gross takings', 'invoice_line', 'sum(unit_price * quantity)')",
            &[],
        )
        .unwrap()
        .get(0);
    let mine = ask(&mut r, q);
    assert_eq!(mine["rows"][0]["sum_gross_takings"].to_string().trim_matches('"'), gold, "{mine}");
    let mut cur = db.connect(&curator);
    let theirs = ask(&mut cur, q);
    assert!(theirs["error"].is_string(), "a proposal is the proposer's alone: {theirs}");
    // reviewed, it answers everyone
    let state: String = cur
        .query_one("SELECT ai.review_word($1, true)", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(state, "reviewed");
    let now = ask(&mut cur, q);
    assert_eq!(now["rows"][0]["sum_gross_takings"].to_string().trim_matches('"'), gold, "{now}");
    assert!(r.query_one("SELECT ai.review_word($1, false)", &[&id]).is_err(), "only curators review");
    // the unknown words of the questions asked are there for a curator to read
    let unknown: Vec<String> = cur
        .query("SELECT word FROM ai.unknown_words()", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(unknown.iter().any(|w| w == "takings"), "{unknown:?}");
    assert!(r.query("SELECT * FROM ai.unknown_words()", &[]).is_err(), "curators only");
    // meanings PostgreSQL's analysis refuses
    for (meaning, why) in [
        ("pg_sleep(1)::text", "VOLATILE"),
        ("(SELECT max(total) FROM invoice)", "public.invoice"),
        ("unit_price) FROM track UNION SELECT (1", "parenthesis"),
        ("quantity; DROP TABLE track", "';'"),
        ("sum(unit_price) / count(*)", "aggregate"),
        ("count(*)", "count"),
    ] {
        let e = cur
            .query_one("SELECT ai.teach('bad', 'invoice_line', $1)", &[&meaning])
            .unwrap_err();
        let msg = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
        assert!(msg.contains(why), "{meaning}: {msg}");
    }
    // a role that may not read the table may not teach a word about it
    su.batch_execute(&format!("REVOKE SELECT ON invoice_line FROM \"{reader}\"")).unwrap();
    assert!(r
        .query_one("SELECT ai.teach('lines', 'invoice_line')", &[])
        .is_err());
    // and no longer sees the words about it
    let seen: i64 = r
        .query_one("SELECT count(*) FROM ai.vocabulary", &[])
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    // a correction sent with ai.feedback proposes the one word its question left unexplained
    // as the one column the correction reads that the answer did not
    let q2 = "What is the average airtime of tracks?";
    let first = ask(&mut cur, q2);
    assert!(
        first["error"].as_str().is_some_and(|e| e.contains("airtime")),
        "{first}"
    );
    let usage = first["usage_id"].as_i64().unwrap();
    cur.query_one(
        "SELECT ai.feedback($1, 2, false, 'SELECT avg(milliseconds) FROM track')",
        &[&usage],
    )
    .unwrap();
    let (word, kind, meaning, review): (String, String, String, String) = {
        let row = cur
            .query_one(
                "SELECT word, kind, meaning, review FROM ai.vocabulary WHERE usage_id = $1",
                &[&usage],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    };
    assert_eq!(
        (word.as_str(), kind.as_str(), meaning.as_str(), review.as_str()),
        ("airtime", "column", "milliseconds", "proposed")
    );
    // (the correction itself is now a proposed sample; another question shows the word)
    let again = ask(&mut cur, "Total airtime of all tracks per genre");
    assert!(
        again["sql"].as_str().is_some_and(|s| s.contains("sum(t.milliseconds)")),
        "{again}"
    );
    // the state table changes only through the functions
    assert!(cur.batch_execute("DELETE FROM ai.vocabulary").is_err());
    let gone: i64 = cur
        .query_one("SELECT ai.forget_word('gross takings')", &[])
        .unwrap()
        .get(0);
    assert_eq!(gone, 1);
    let gone: i64 = cur
        .query_one("SELECT ai.forget_word('airtime')", &[])
        .unwrap()
        .get(0);
    assert_eq!(gone, 1);
}

#[test]
fn result_comparison() {
    let r = |v: &[&[&str]]| -> Rows {
        v.iter()
            .map(|r| r.iter().map(|s| Some(s.to_string())).collect())
            .collect()
    };
    use Scoring::{Multiset, Set};
    for scoring in [Multiset, Set] {
        // extra columns and another order are fine
        assert!(same_result(
            &r(&[&["3"], &["5"]]),
            &r(&[&["b", "5"], &["a", "3"]]),
            scoring
        ));
        // values must line up row by row
        assert!(!same_result(
            &r(&[&["a", "1"], &["b", "2"]]),
            &r(&[&["a", "2"], &["b", "1"]]),
            scoring
        ));
        assert!(!same_result(&r(&[&["1"]]), &r(&[&["2"]]), scoring));
        assert!(!same_result(&r(&[&["1"]]), &r(&[]), scoring));
        assert!(!same_result(&r(&[]), &r(&[&["1"]]), scoring));
    }
    // a repeated row: another answer as multisets, the same as sets (BIRD's scoring)
    assert!(!same_result(&r(&[&["1"]]), &r(&[&["1"], &["1"]]), Multiset));
    assert!(same_result(&r(&[&["1"]]), &r(&[&["1"], &["1"]]), Set));
    assert!(same_result(
        &r(&[&["-"], &["="]]),
        &r(&[&["b1", "-"], &["b2", "-"], &["b3", "="]]),
        Set
    ));
    // as sets, every row still has to be there, and no other
    assert!(!same_result(&r(&[&["1"], &["2"]]), &r(&[&["1"], &["1"]]), Set));
    assert!(!same_result(&r(&[&["1"]]), &r(&[&["1"], &["2"]]), Set));
}
