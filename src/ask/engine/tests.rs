use super::*;

pub(super) fn table(name: &str, rows: f64, cols: &[(&str, &str, bool)]) -> Table {
    Table {
        schema: "public".into(),
        name: name.into(),
        notes: String::new(),
        rows,
        columns: cols
            .iter()
            .map(|(n, t, pk)| Column {
                name: n.to_string(),
                kind: Kind::of(t),
                pk: *pk,
                notes: String::new(),
                similarity: 0.0,
                expr: None,
                agg: None,
            })
            .collect(),
        similarity: 0.0,
    }
}

/// A one-column foreign key from table `from` to table `to`.
pub(super) fn fk(from: usize, fc: &str, to: usize, tc: &str) -> ForeignKey {
    ForeignKey {
        from,
        from_columns: vec![fc.into()],
        to,
        to_columns: vec![tc.into()],
    }
}

/// The music store's shape: enough of Chinook to test linking and joins.
pub(super) fn music() -> Schema {
    let tables = vec![
        table(
            "artist",
            275.0,
            &[
                ("artist_id", "integer", true),
                ("name", "character varying(120)", false),
            ],
        ),
        table(
            "album",
            347.0,
            &[
                ("album_id", "integer", true),
                ("title", "character varying(160)", false),
                ("artist_id", "integer", false),
            ],
        ),
        table(
            "genre",
            25.0,
            &[
                ("genre_id", "integer", true),
                ("name", "character varying(120)", false),
            ],
        ),
        table(
            "track",
            3503.0,
            &[
                ("track_id", "integer", true),
                ("name", "character varying(200)", false),
                ("album_id", "integer", false),
                ("genre_id", "integer", false),
                ("composer", "character varying(220)", false),
                ("milliseconds", "integer", false),
                ("unit_price", "numeric(10,2)", false),
            ],
        ),
        table(
            "customer",
            59.0,
            &[
                ("customer_id", "integer", true),
                ("first_name", "character varying(40)", false),
                ("last_name", "character varying(20)", false),
                ("country", "character varying(40)", false),
                ("support_rep_id", "integer", false),
            ],
        ),
        table(
            "invoice",
            412.0,
            &[
                ("invoice_id", "integer", true),
                ("customer_id", "integer", false),
                ("invoice_date", "timestamp without time zone", false),
                ("billing_country", "character varying(40)", false),
                ("total", "numeric(10,2)", false),
            ],
        ),
        table(
            "invoice_line",
            2240.0,
            &[
                ("invoice_line_id", "integer", true),
                ("invoice_id", "integer", false),
                ("track_id", "integer", false),
                ("unit_price", "numeric(10,2)", false),
                ("quantity", "integer", false),
            ],
        ),
        table(
            "employee",
            8.0,
            &[
                ("employee_id", "integer", true),
                ("last_name", "character varying(20)", false),
                ("first_name", "character varying(20)", false),
                ("birth_date", "timestamp without time zone", false),
                ("hire_date", "timestamp without time zone", false),
                ("reports_to", "integer", false),
            ],
        ),
    ];
    Schema {
        vocabulary: Vec::new(),
        tables,
        fks: vec![
            fk(1, "artist_id", 0, "artist_id"),
            fk(3, "album_id", 1, "album_id"),
            fk(3, "genre_id", 2, "genre_id"),
            fk(5, "customer_id", 4, "customer_id"),
            fk(6, "invoice_id", 5, "invoice_id"),
            fk(6, "track_id", 3, "track_id"),
            fk(4, "support_rep_id", 7, "employee_id"),
            fk(7, "reports_to", 7, "employee_id"),
        ],
    }
}

/// SQL on one line, single-spaced: what the assertions compare.
pub(super) fn flat(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Below ai_architect.ask_min_confidence's default: held back, not run.
pub(super) const RUNS: f64 = 0.6;

pub(super) fn hit(t: usize, c: usize, value: &str) -> ValueHit {
    ValueHit {
        table: t,
        column: c,
        value: value.into(),
        phrase: value.to_lowercase(),
        categorical: true,
    }
}

fn sql(q: &str, values: &[ValueHit]) -> String {
    match answer(q, &music(), values) {
        Ok(a) => flat(&a.sql),
        Err(e) => panic!("{q}: {e:?}"),
    }
}

#[test]
fn counts_and_lists() {
    assert_eq!(
        sql("How many customers are there?", &[]),
        "SELECT count(*) AS customer_count FROM public.customer c"
    );
    assert_eq!(
        sql("List all genres", &[]),
        "SELECT g.name FROM public.genre g"
    );
    assert_eq!(
        sql(
            "Which customers are from Brazil?",
            &[hit(4, 3, "Brazil"), hit(5, 3, "Brazil")]
        ),
        "SELECT c.first_name, c.last_name FROM public.customer c WHERE c.country = 'Brazil'"
    );
}

#[test]
fn joins_follow_foreign_keys() {
    assert_eq!(
        sql("How many tracks are in the genre Rock?", &[hit(2, 1, "Rock")]),
        "SELECT count(*) AS track_count FROM public.track t JOIN public.genre g ON g.genre_id = t.genre_id WHERE g.name = 'Rock'"
    );
    let s = sql("How many albums does each artist have?", &[]);
    assert_eq!(
        s,
        "SELECT a.name, count(a2.album_id) AS album_count FROM public.artist a LEFT JOIN public.album a2 ON a.artist_id = a2.artist_id GROUP BY a.artist_id, a.name ORDER BY album_count DESC NULLS LAST, a.artist_id"
    );
}

#[test]
fn a_sum_per_group_leaves_out_the_groups_with_nothing_to_add() {
    // an artist without albums has 0 of them; a genre without invoices has no total at all
    let s = sql("What is the total of invoices per customer?", &[]);
    assert!(s.contains("FROM public.customer c JOIN public.invoice i"), "{s}");
    assert!(s.contains("sum(i.total)"), "{s}");
    let s = sql("How many invoices does each customer have?", &[]);
    assert!(s.contains("LEFT JOIN public.invoice i"), "{s}");
}

#[test]
fn aggregates_groups_and_superlatives() {
    assert_eq!(
        sql("What is the average unit price of tracks?", &[]),
        "SELECT avg(t.unit_price) AS avg_unit_price FROM public.track t"
    );
    assert_eq!(
        sql("What is the total of all invoices?", &[]),
        "SELECT sum(i.total) AS sum_total FROM public.invoice i"
    );
    assert_eq!(
        sql("Number of invoices per billing country", &[]),
        "SELECT i.billing_country, count(*) AS invoice_count FROM public.invoice i GROUP BY i.billing_country ORDER BY invoice_count DESC NULLS LAST, i.billing_country"
    );
    assert_eq!(
        sql("What is the longest track?", &[]),
        "SELECT t.name, t.milliseconds FROM public.track t ORDER BY t.milliseconds DESC NULLS LAST LIMIT 1"
    );
    assert!(sql("Which artist has the most albums?", &[])
        .ends_with("ORDER BY album_count DESC NULLS LAST, a.artist_id LIMIT 1"));
    let top = sql("Top 5 customers by total spent", &[]);
    assert!(top.contains("sum(i.total) AS sum_total"), "{top}");
    assert!(top.ends_with("LIMIT 5"), "{top}");
}

#[test]
fn comparisons_dates_and_negation() {
    assert_eq!(
        sql("Tracks longer than 5 minutes", &[]),
        "SELECT t.name, t.milliseconds FROM public.track t WHERE t.milliseconds > 300000"
    );
    assert_eq!(
        sql("How many invoices were issued in 2023?", &[]),
        "SELECT count(*) AS invoice_count FROM public.invoice i WHERE i.invoice_date >= DATE '2023-01-01' AND i.invoice_date < DATE '2024-01-01'"
    );
    assert_eq!(
        sql("Customers who never bought anything", &[]),
        "SELECT c.first_name, c.last_name FROM public.customer c WHERE NOT EXISTS (SELECT 1 FROM public.invoice i WHERE i.customer_id = c.customer_id)"
    );
    let s = sql("Albums with more than 20 tracks", &[]);
    assert!(s.contains("HAVING count(t.track_id) > 20"), "{s}");
    let s = sql("Employees hired before 2003", &[]);
    assert!(s.contains("e.hire_date < DATE '2003-01-01'"), "{s}");
    let s = sql("invoices older than 6 months", &[]);
    assert!(
        s.ends_with("WHERE i.invoice_date < CURRENT_DATE - interval '6 month'"),
        "{s}"
    );
    let s = sql("employees born after 1970", &[]);
    assert!(s.contains("e.birth_date >= DATE '1971-01-01'"), "{s}");
    let s = sql("invoices from last month", &[]);
    assert!(s.contains("i.invoice_date >= pg_catalog.date_trunc('month', pg_catalog.now()) - interval '1 month'"), "{s}");
}

#[test]
fn says_when_it_does_not_understand() {
    match answer("what is the meaning of life?", &music(), &[]) {
        Err(NotUnderstood::NoSubject { unexplained }) => {
            assert!(unexplained.contains(&"meaning".to_string()))
        }
        other => panic!("{other:?}"),
    }
    let a = answer("how many customers like purple elephants", &music(), &[]).unwrap();
    assert!(a.confidence < 0.6, "{a:?}");
    assert!(a.unexplained.contains(&"elephants".to_string()));
}

#[test]
fn phrases_for_value_lookup() {
    let p = phrases("Tracks by AC/DC in the genre 'Hard Rock'");
    assert!(p.contains(&"ac/dc".to_string()));
    assert!(p.contains(&"hard rock".to_string()));
    assert!(!p.contains(&"in the".to_string()));
}

/// A hospital: another vocabulary (dept_no keys, timestamps named after verbs, a bill).
fn clinic() -> Schema {
    let tables = vec![
        table(
            "departments",
            6.0,
            &[("dept_no", "integer", true), ("dept_name", "text", false)],
        ),
        table(
            "physicians",
            42.0,
            &[
                ("physician_id", "integer", true),
                ("surname", "text", false),
                ("specialty", "text", false),
                ("dept_no", "integer", false),
                ("hired_on", "date", false),
                ("annual_salary", "numeric(10,2)", false),
            ],
        ),
        table(
            "patients",
            320.0,
            &[
                ("patient_id", "integer", true),
                ("patient_name", "text", false),
                ("date_of_birth", "date", false),
                ("insurer", "text", false),
            ],
        ),
        table(
            "admissions",
            1500.0,
            &[
                ("admission_id", "integer", true),
                ("patient_id", "integer", false),
                ("dept_no", "integer", false),
                ("physician_id", "integer", false),
                ("admitted_at", "timestamp without time zone", false),
                ("discharged_at", "timestamp without time zone", false),
                ("diagnosis", "text", false),
                ("bill_amount", "numeric(10,2)", false),
            ],
        ),
        table(
            "prescriptions",
            2600.0,
            &[
                ("prescription_id", "integer", true),
                ("admission_id", "integer", false),
                ("drug", "text", false),
                ("dose_mg", "integer", false),
            ],
        ),
    ];
    Schema {
        vocabulary: Vec::new(),
        tables,
        fks: vec![
            fk(1, "dept_no", 0, "dept_no"),
            fk(3, "patient_id", 2, "patient_id"),
            fk(3, "dept_no", 0, "dept_no"),
            fk(3, "physician_id", 1, "physician_id"),
            fk(4, "admission_id", 3, "admission_id"),
        ],
    }
}

fn clinic_answer(q: &str, values: &[ValueHit]) -> Answer {
    let mut a = answer(q, &clinic(), values).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    a.sql = flat(&a.sql);
    a
}

#[test]
fn values_of_one_column_are_either_and_plurals_match() {
    let a = clinic_answer(
        "How many admissions were for stroke or migraine?",
        &[hit(3, 6, "stroke"), hit(3, 6, "migraine")],
    );
    assert!(
        a.sql
            .ends_with("WHERE a.diagnosis IN ('stroke', 'migraine')"),
        "{a:?}"
    );
    // the stored value is singular, the question counts in the plural
    let p = phrases("How many physicians are cardiologists?");
    assert!(p.contains(&"cardiologist".to_string()), "{p:?}");
    let a = clinic_answer(
        "How many physicians are cardiologists?",
        &[hit(1, 2, "cardiologist")],
    );
    assert!(
        a.sql.ends_with("WHERE p.specialty = 'cardiologist'"),
        "{a:?}"
    );
    assert_eq!(a.confidence, 1.0, "{a:?}");
}

#[test]
fn shares_and_ratios() {
    let a = clinic_answer(
        "What percentage of patients are insured by Aetna?",
        &[hit(2, 3, "Aetna")],
    );
    assert_eq!(
        a.sql,
        "SELECT 100.0 * count(*) FILTER (WHERE p.insurer = 'Aetna') / NULLIF(count(*), 0) AS percentage FROM public.patients p",
        "{a:?}"
    );
    assert_eq!(a.confidence, 1.0, "{a:?}");
    let a = clinic_answer("What fraction of admissions have not been discharged?", &[]);
    assert_eq!(
        a.sql,
        "SELECT count(*) FILTER (WHERE a.discharged_at IS NULL)::numeric / NULLIF(count(*), 0) AS fraction FROM public.admissions a",
        "{a:?}"
    );
    let a = clinic_answer(
        "What is the ratio of stroke admissions to migraine admissions?",
        &[hit(3, 6, "stroke"), hit(3, 6, "migraine")],
    );
    assert!(
        a.sql.starts_with("SELECT count(*) FILTER (WHERE a.diagnosis = 'stroke')::numeric / NULLIF(count(*) FILTER (WHERE a.diagnosis = 'migraine'), 0) AS ratio"),
        "{a:?}"
    );
    // a share of nothing the engine could place: the word stays not understood
    let a = clinic_answer("What percentage of patients are female?", &[]);
    assert!(a.confidence < 0.6, "{a:?}");
    assert!(a.unexplained.contains(&"percentage".to_string()), "{a:?}");
}

#[test]
fn a_column_can_be_the_subject() {
    let a = clinic_answer(
        "Which drugs were prescribed in the Oncology department?",
        &[hit(0, 1, "Oncology")],
    );
    assert!(a.sql.starts_with("SELECT DISTINCT p.drug FROM"), "{a:?}");
    assert!(a.sql.contains("d.dept_name = 'Oncology'"), "{a:?}");
    assert_eq!(a.confidence, 1.0, "{a:?}");
    let a = clinic_answer("Top 3 drugs by number of prescriptions", &[]);
    assert!(a.sql.starts_with("SELECT p.drug, count(*)"), "{a:?}");
    assert!(a.sql.contains("GROUP BY p.drug"), "{a:?}");
    assert!(a.sql.ends_with("LIMIT 3"), "{a:?}");
}

#[test]
fn verbs_named_by_columns_and_relationships() {
    // never admitted: no admission row, not an admission without a date
    let a = clinic_answer("How many patients were never admitted?", &[]);
    assert!(
        a.sql.contains("WHERE NOT EXISTS (SELECT 1 FROM public.admissions a WHERE a.patient_id = p.patient_id)"),
        "{a:?}"
    );
    assert_eq!(a.confidence, 1.0, "{a:?}");
    let a = clinic_answer("Which patients were admitted more than 5 times?", &[]);
    assert!(a.sql.contains("HAVING count(a.admission_id) > 5"), "{a:?}");
    assert_eq!(a.confidence, 1.0, "{a:?}");
    // the verb between two joined tables names their relationship
    let a = clinic_answer("Which physicians have never attended an admission?", &[]);
    assert!(a.sql.contains("NOT EXISTS"), "{a:?}");
    assert_eq!(a.confidence, 1.0, "{a:?}");
    // "insured" shares its first six letters with the column the SQL filters
    let a = clinic_answer(
        "How many admissions did patients insured by Cigna have?",
        &[hit(2, 3, "Cigna")],
    );
    assert!(a.sql.contains("p.insurer = 'Cigna'"), "{a:?}");
    assert_eq!(a.confidence, 1.0, "{a:?}");
}

#[test]
fn dates_and_superlatives_on_other_vocabularies() {
    let a = clinic_answer("How many admissions were there in the last 30 days?", &[]);
    assert!(
        a.sql
            .ends_with("WHERE a.admitted_at >= CURRENT_DATE - interval '30 day'"),
        "{a:?}"
    );
    let a = clinic_answer("Who is the oldest patient?", &[]);
    assert!(
        a.sql
            .ends_with("ORDER BY p.date_of_birth ASC NULLS LAST LIMIT 1"),
        "{a:?}"
    );
    let a = clinic_answer("How many different diagnoses are recorded?", &[]);
    assert!(a.sql.contains("count(DISTINCT a.diagnosis)"), "{a:?}");
}

#[test]
fn what_is_left_out_is_not_answered() {
    // a table the question names but the SQL leaves out is not understood
    let a = clinic_answer("Which departments have physicians who like jazz?", &[]);
    assert!(a.confidence < 0.6, "{a:?}");
    // one unexplained word is enough to hold the answer back
    let a = clinic_answer("How many physicians does the hospital employ?", &[]);
    assert!(a.confidence <= 0.5, "{a:?}");
    assert!(a.unexplained.contains(&"employ".to_string()), "{a:?}");
}

#[test]
fn limits_bridges_and_verbs_of_a_group() {
    // a count before the table: a limit; through a bridge each patient counts once
    let a = clinic_answer("The 3 departments with the most patients", &[]);
    assert!(a.sql.contains("count(DISTINCT p.patient_id)"), "{a:?}");
    assert!(a.sql.ends_with("LIMIT 3"), "{a:?}");
    // "does each department employ": the verb names the relationship
    let a = clinic_answer("How many physicians does each department employ?", &[]);
    assert!(a.sql.contains("GROUP BY d.dept_no, d.dept_name"), "{a:?}");
    assert_eq!(a.confidence, 1.0, "{a:?}");
    let a = clinic_answer("How many admissions in the next 2 weeks?", &[]);
    assert!(
        a.sql.ends_with("WHERE a.admitted_at >= CURRENT_DATE AND a.admitted_at < CURRENT_DATE + interval '2 week'"),
        "{a:?}"
    );
    // the column of another table is asked for, not listed on its own; the answer the
    // engine can give leaves it out, so it is not run
    let a = clinic_answer(
        "What is the specialty of the physician with the highest annual salary?",
        &[],
    );
    assert!(!a.sql.contains("GROUP BY"), "{a:?}");
    assert!(a.sql.contains("p.specialty") || a.confidence < 0.6, "{a:?}");
}

#[test]
fn column_descriptions_close_to_the_question_break_ties() {
    // two date columns a hint names equally: the one whose catalog description (embedding)
    // is closer to the question is the date the question means
    let q = "How many admissions in the last 30 days?";
    let a = answer(q, &clinic(), &[]).unwrap();
    assert!(a.sql.contains("a.admitted_at >="), "{a:?}");
    let mut s = clinic();
    s.tables[3].columns[5].similarity = 0.6;
    s.tables[3].columns[4].similarity = 0.3;
    let a = answer(q, &s, &[]).unwrap();
    assert!(a.sql.contains("a.discharged_at >="), "{a:?}");
}

#[test]
fn neither_of_two_values() {
    let v = [hit(2, 3, "Aetna"), hit(2, 3, "Cigna")];
    let a = clinic_answer(
        "How many patients are insured by neither Aetna nor Cigna?",
        &v,
    );
    assert!(
        a.sql
            .ends_with("WHERE (p.insurer IS NULL OR p.insurer NOT IN ('Aetna', 'Cigna'))"),
        "{a:?}"
    );
    assert_eq!(a.confidence, 1.0, "{a:?}");
    // neither over what the engine cannot pair: not understood
    let a = clinic_answer(
        "How many patients are neither old nor insured by Aetna?",
        &v[..1],
    );
    assert!(a.confidence < 0.6, "{a:?}");
}

#[test]
fn sorted_by_a_column_orders_the_rows() {
    assert_eq!(
        sql("List the invoices sorted by total", &[]),
        "SELECT i.invoice_id, i.total FROM public.invoice i ORDER BY i.total ASC NULLS LAST"
    );
    let d = sql("List the tracks ordered by milliseconds descending", &[]);
    assert!(
        d.ends_with("ORDER BY t.milliseconds DESC NULLS LAST"),
        "{d}"
    );
    // a sort key that names nothing is not understood
    let a = answer("List the invoices sorted by nothing", &music(), &[]);
    assert!(a.is_err() || a.unwrap().confidence < 0.6);
}

/// Three kinds of answer that looked understood and were not, found on questions written
/// elsewhere (Spider's dev set): a value the question negates, aggregates the SQL cannot all
/// hold, a number the SQL leaves out.
#[test]
fn a_negated_value_a_second_aggregate_and_a_number_left_out() {
    // "not from Brazil": the negation is the value's (it was NOT EXISTS of invoices, with
    // country = 'Brazil', at confidence 1)
    assert_eq!(
        sql(
            "Which customers are not from Brazil?",
            &[hit(4, 3, "Brazil"), hit(5, 3, "Brazil")]
        ),
        "SELECT c.first_name, c.last_name FROM public.customer c WHERE c.country <> 'Brazil'"
    );
    let unexplained = |q: &str| match answer(q, &music(), &[]) {
        Ok(a) => a.unexplained,
        Err(e) => panic!("{q}: {e:?}"),
    };
    // a second aggregate not listed with the first stays unexplained (listed together, they
    // are of one column: accounting_tests.rs)
    let u = unexplained("What is the average unit price of tracks and the maximum?");
    assert!(u.contains(&"maximum".to_string()), "{u:?}");
    assert!(unexplained("What is the average unit price of tracks?").is_empty());
    // "in 2022 or 2024": the date is 2022; 2024 is nowhere in the SQL
    let u = unexplained("How many invoices were issued in 2022 or 2024?");
    assert_eq!(u, vec!["2024".to_string()]);
    // "in 2023 or 2024": one year after the other, both
    assert!(unexplained("How many invoices were issued in 2023 or 2024?").is_empty());
    let s = sql("How many invoices were issued in 2023 or 2024?", &[]);
    assert!(s.contains(">= DATE '2023-01-01'") && s.contains("< DATE '2025-01-01'"), "{s}");
    // a number the SQL holds is accounted for
    assert!(unexplained("How many invoices were issued in 2023?").is_empty());
}

/// "Which album ids …": the ids asked for must be shown; a key the SQL only joins or groups
/// on does not account for them (the answers listed titles at confidence 1): shown, or left
/// unexplained.
#[test]
fn ids_asked_for_are_shown_or_unexplained() {
    for q in [
        "List all artist ids",
        "Which album ids have more than 10 tracks?",
        "Show all artist ids and the number of albums of each artist",
    ] {
        match answer(q, &music(), &[]) {
            Ok(a) => {
                let select = &a.sql[..a.sql.find("FROM").unwrap()];
                let shown = select.contains("artist_id") || select.contains("album_id");
                assert!(shown || a.unexplained.contains(&"ids".to_string()), "{q}: {a:?}")
            }
            Err(e) => panic!("{q}: {e:?}"),
        }
    }
}

/// The music store with words a curator taught.
fn taught(entries: &[(&str, &str, &str, Option<&str>, Option<&str>, &str)]) -> Schema {
    let mut s = music();
    let list: Vec<vocabulary::Entry> = entries
        .iter()
        .map(|(word, kind, table, template, agg, ty)| vocabulary::Entry {
            word: word.to_string(),
            kind: kind.to_string(),
            schema: "public".into(),
            table: table.to_string(),
            other: (*kind == "relationship").then(|| ("public".to_string(), ty.to_string())),
            template: template.map(|t| t.replace('@', vocabulary::PLACEHOLDER)),
            aggregate: agg.map(str::to_string),
            data_type: Some(ty.to_string()),
            note: String::new(),
        })
        .collect();
    vocabulary::apply(&mut s, &list);
    s
}

fn taught_sql(s: &Schema, q: &str) -> Answer {
    answer(q, s, &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

#[test]
fn intent_words_are_read_by_themselves() {
    for w in ["average", "most", "maximum", "oldest"] {
        assert!(reads_by_itself(w), "{w}");
    }
    for w in ["airtime", "billed", "gross"] {
        assert!(!reads_by_itself(w), "{w}");
    }
}

#[test]
fn a_taught_word_is_read_before_anything_else() {
    // untaught, "airtime" is a word the engine cannot place
    let plain = answer("What is the average track airtime?", &music(), &[]).unwrap();
    assert!(
        plain.unexplained.iter().any(|w| w == "airtime"),
        "{plain:?}"
    );
    // a column: airtime = milliseconds
    let s = taught(&[(
        "airtime",
        "column",
        "track",
        Some("@.milliseconds"),
        None,
        "integer",
    )]);
    assert!(
        s.tables[3].columns.iter().all(|c| c.expr.is_none()),
        "a plain column stays itself"
    );
    let a = taught_sql(&s, "What is the average track airtime?");
    assert!(a.unexplained.is_empty(), "{a:?}");
    assert!(a.sql.contains("avg(t.milliseconds)"), "{}", a.sql);
    // a measure: revenue = sum(unit_price * quantity), summed per country
    let s = taught(&[(
        "revenue",
        "measure",
        "invoice_line",
        Some("@.unit_price * @.quantity"),
        Some("sum"),
        "numeric",
    )]);
    let a = taught_sql(&s, "What is the revenue per genre?");
    assert!(
        a.sql.contains("sum((il.unit_price * il.quantity))"),
        "{}",
        a.sql
    );
    assert!(a.sql.contains("GROUP BY"), "{}", a.sql);
    assert!(a.unexplained.is_empty(), "{a:?}");
    // "the total revenue": the sum it already is, said twice
    let a = taught_sql(&s, "What is the total revenue of all invoice lines?");
    assert!(a.unexplained.is_empty(), "{a:?}");
    assert!(a.sql.contains("sum((il.unit_price * il.quantity))"), "{}", a.sql);
    // an average of it is no sum: unexplained
    let a = taught_sql(&s, "What is the average revenue of all invoice lines?");
    assert!(!a.unexplained.is_empty(), "{a:?}");
    // a filter
    let s = taught(&[(
        "expensive",
        "filter",
        "track",
        Some("@.unit_price > 1"),
        None,
        "boolean",
    )]);
    let a = taught_sql(&s, "How many expensive tracks are there?");
    assert!(a.sql.contains("WHERE (t.unit_price > 1)"), "{}", a.sql);
    assert!(a.unexplained.is_empty(), "{a:?}");
    // a relationship: understood when the SQL joins both tables, not otherwise
    let s = taught(&[("billed", "relationship", "invoice", None, None, "customer")]);
    let q = "How many invoices were billed to customers from Germany?";
    let germany = [hit(4, 3, "Germany")];
    let a = answer(q, &s, &germany).unwrap();
    assert!(!a.unexplained.iter().any(|w| w == "billed"), "{a:?}");
    let a = taught_sql(&s, "List the tracks billed");
    assert!(a.unexplained.iter().any(|w| w == "billed"), "{a:?}");
    // a table
    let s = taught(&[("songs", "table", "track", None, None, "")]);
    let a = taught_sql(&s, "How many songs are there?");
    assert!(a.sql.contains("FROM public.track"), "{}", a.sql);
}

#[test]
fn the_average_number_of_something_is_no_count() {
    let s = one_table(table(
        "museum",
        8.0,
        &[
            ("museum_id", "integer", true),
            ("name", "text", false),
            ("num_of_staff", "integer", false),
            ("open_year", "integer", false),
        ],
    ));
    let a = answer(
        "Find the average number of staff working for the museums that were open before 2009.",
        &s,
        &[],
    )
    .unwrap();
    assert!(a.sql.contains("avg(m.num_of_staff)"), "{}", a.sql);
    assert!(!a.sql.contains("count("), "{}", a.sql);
    // no column holds a number of tracks: not a count of tracks, so not answered
    let a = answer("What is the maximum number of tracks?", &music(), &[]).unwrap();
    assert!(!a.sql.contains("count("), "{}", a.sql);
    assert!(!a.unexplained.is_empty(), "{a:?}");
    // a count stays a count
    assert!(sql("What is the total number of tracks?", &[]).contains("count(*)"));
}

#[test]
fn all_the_information_about_rows_is_every_column() {
    assert_eq!(
        sql("Give me all the information about genres.", &[]),
        "SELECT g.genre_id, g.name FROM public.genre g"
    );
    let every = sql("Show everything about albums", &[]);
    assert!(
        every.starts_with("SELECT a.album_id, a.title, a.artist_id FROM public.album a"),
        "{every}"
    );
    // every column of a count or of groups: not understood, so not run
    let a = answer(
        "All the details and the number of tracks of each genre",
        &music(),
        &[],
    )
    .unwrap();
    assert!(a.confidence < 0.6, "{a:?}");
    assert!(a.unexplained.iter().any(|w| w == "details"), "{a:?}");
}

#[test]
fn a_text_column_named_as_its_table_is_its_label() {
    let s = one_table(table(
        "airlines",
        12.0,
        &[
            ("uid", "integer", true),
            ("airline", "text", false),
            ("abbreviation", "text", false),
            ("country", "text", false),
        ],
    ));
    let a = answer(
        "Which airline has abbreviation 'UAL'?",
        &s,
        &[hit(0, 2, "UAL")],
    )
    .unwrap();
    assert!(a.sql.starts_with("SELECT a.airline\n"), "{}", a.sql);
}

#[test]
fn a_superlative_orders_by_a_column_it_can_order() {
    let s = one_table(table(
        "charges",
        3.0,
        &[
            ("charge_id", "integer", true),
            ("charge_type", "text", false),
            ("charge_amount", "numeric", false),
        ],
    ));
    let a = answer(
        "How much does the most expensive charge type cost?",
        &s,
        &[],
    )
    .unwrap();
    assert!(!a.sql.contains("ORDER BY c.charge_type"), "{}", a.sql);
    assert!(a.sql.contains("c.charge_amount"), "{}", a.sql);
}

#[test]
fn a_key_the_question_names_is_shown() {
    let top = sql("Return the id and name of the artist with the most albums.", &[]);
    assert!(top.starts_with("SELECT a.artist_id, a.name, count("), "{top}");
    let list = sql("List the ids and names of all genres", &[]);
    assert!(list.starts_with("SELECT g.genre_id, g.name FROM"), "{list}");
    // a key in a condition is not shown
    let one = sql("What is the name of the genre with id 5?", &[]);
    assert!(!one.starts_with("SELECT g.genre_id"), "{one}");
}

#[test]
fn a_total_number_is_a_count() {
    for q in [
        "What is the total number of artists?",
        "What is the total count of artists?",
        "How many artists in total?",
    ] {
        let a = answer(q, &music(), &[]).unwrap();
        assert!(a.sql.contains("count(*)"), "{q}: {}", a.sql);
        assert!(a.unexplained.is_empty(), "{q}: {a:?}");
    }
}

#[test]
fn an_order_said_in_words_is_a_sort() {
    let q = "List the names of tracks in ascending order of unit price.";
    let a = answer(q, &music(), &[]).unwrap();
    assert!(a.sql.contains("ORDER BY t.unit_price"), "{q}: {}", a.sql);
    assert!(!a.sql.contains("DESC"), "{q}: {}", a.sql);
    assert!(a.unexplained.is_empty(), "{q}: {a:?}");
    let q = "Sort track names by their unit price in descending order.";
    let a = answer(q, &music(), &[]).unwrap();
    assert!(a.sql.contains("ORDER BY t.unit_price DESC"), "{q}: {}", a.sql);
    assert!(a.unexplained.is_empty(), "{q}: {a:?}");
}

#[test]
fn a_total_number_held_by_a_column_is_a_sum() {
    let s = one_table(table(
        "courses",
        20.0,
        &[
            ("course_id", "integer", true),
            ("title", "text", false),
            ("credits", "integer", false),
        ],
    ));
    let a = answer("What is the total number of credits of all courses?", &s, &[]).unwrap();
    assert!(a.sql.contains("sum(c.credits)"), "{}", a.sql);
    let a = answer("What is the total number of courses?", &s, &[]).unwrap();
    assert!(a.sql.contains("count(*)"), "{}", a.sql);
}

/// A schema of one table.
fn one_table(t: Table) -> Schema {
    Schema {
        tables: vec![t],
        ..Default::default()
    }
}
