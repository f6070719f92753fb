use super::*;

fn table(name: &str, rows: f64, cols: &[(&str, &str, bool)]) -> Table {
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
            })
            .collect(),
        similarity: 0.0,
    }
}

/// The music store's shape: enough of Chinook to test linking and joins.
fn music() -> Schema {
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
    let fk = |from: usize, fc: &str, to: usize, tc: &str| ForeignKey {
        from,
        from_columns: vec![fc.into()],
        to,
        to_columns: vec![tc.into()],
    };
    Schema {
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

fn hit(t: usize, c: usize, value: &str) -> ValueHit {
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
        Ok(a) => a.sql.split_whitespace().collect::<Vec<_>>().join(" "),
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
