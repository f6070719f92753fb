//! What a schema's comments and shape decide: codes a comment's legend explains, a yes/no
//! column whose values the comment does not give, two join paths the question does not choose
//! between, a range of values, a type pinned to one value.
use super::tests::{fk, flat, hit, table, RUNS};
use super::*;

/// employee(0) → department(1) ← project(2); assignment(3) joins employees to projects, so
/// employees reach projects through their department and through their assignments.
fn firm() -> Schema {
    let mut tables = vec![
        table(
            "employee",
            40.0,
            &[
                ("employee_id", "integer", true),
                ("full_name", "text", false),
                ("department_id", "integer", false),
            ],
        ),
        table(
            "department",
            5.0,
            &[
                ("department_id", "integer", true),
                ("label", "text", false),
            ],
        ),
        table(
            "project",
            30.0,
            &[
                ("project_code", "text", true),
                ("status", "text", false),
                ("department_id", "integer", false),
            ],
        ),
        table(
            "assignment",
            90.0,
            &[
                ("employee_id", "integer", false),
                ("project_code", "text", false),
            ],
        ),
    ];
    tables[1].columns[1].notes = "whether this department is audited or not.".into();
    tables[2].columns[1].notes =
        "the state of the project. • 'A': active\n• 'C': cancelled\n• 'F': finished".into();
    Schema {
        tables,
        fks: vec![
            fk(0, "department_id", 1, "department_id"),
            fk(2, "department_id", 1, "department_id"),
            fk(3, "employee_id", 0, "employee_id"),
            fk(3, "project_code", 2, "project_code"),
        ],
        ..Default::default()
    }
}

fn ask(q: &str, values: &[ValueHit]) -> Answer {
    answer(q, &firm(), values).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

#[test]
fn a_code_the_comment_explains_stands_for_its_meaning() {
    let a = ask("How many cancelled projects are there?", &[]);
    assert_eq!(
        flat(&a.sql),
        "SELECT count(*) AS project_count FROM public.project p WHERE p.status = 'C'"
    );
    assert!(a.confidence >= RUNS, "{a:?}");
    let a = ask("List the projects that are not finished.", &[]);
    assert!(flat(&a.sql).contains("p.status <> 'F'"), "{a:?}");
    assert!(a.confidence >= RUNS, "{a:?}");
}

#[test]
fn a_negation_that_names_nothing_denies_nothing() {
    // "done" is no code of the legend here, and no relationship: not the projects without
    // assignments
    if let Ok(a) = answer("List the projects that are not done.", &firm(), &[]) {
        assert!(a.confidence < RUNS, "{a:?}");
    }
}

#[test]
fn a_type_pinned_to_one_value_counts_rows() {
    // "how many active status projects": the status has one value, the projects are counted
    let a = ask("How many active status projects are there?", &[]);
    assert_eq!(
        flat(&a.sql),
        "SELECT count(*) AS project_count FROM public.project p WHERE p.status = 'A'"
    );
}

#[test]
fn a_yes_no_column_whose_values_are_not_given_is_not_guessed() {
    // the comment says what the label is about, not which value means audited: neither
    // "label IS NULL" nor "departments without projects"
    for q in [
        "How many departments are not audited?",
        "Which departments are audited?",
    ] {
        if let Ok(a) = answer(q, &firm(), &[]) {
            assert!(a.confidence < RUNS, "{q}: {a:?}");
            assert!(a.unexplained.contains(&"audited".to_string()), "{q}: {a:?}");
        }
    }
    // and such a "label" is not what the rows are called
    let a = ask("List the departments with cancelled projects.", &[]);
    assert!(!flat(&a.sql).contains("d.label"), "{a:?}");
}

#[test]
fn two_join_paths_the_question_does_not_choose_between_are_held_back() {
    // through the department, or through the assignments?
    let a = ask("List the employees of the cancelled projects.", &[]);
    assert!(a.confidence < RUNS, "{a:?}");
    // one path only: departments to projects
    let a = ask("List the departments of the cancelled projects.", &[]);
    assert!(a.confidence >= RUNS, "{a:?}");
}

#[test]
fn between_two_values_is_a_range() {
    let a = ask(
        "List the projects between P004 and P010.",
        &[hit(2, 0, "P004"), hit(2, 0, "P010")],
    );
    assert!(
        flat(&a.sql).contains("p.project_code BETWEEN 'P004' AND 'P010'"),
        "{a:?}"
    );
    assert!(a.confidence >= RUNS, "{a:?}");
}

#[test]
fn from_one_numbered_code_to_another_is_a_range() {
    let a = ask(
        "List the status of the projects from project code P004 to P010.",
        &[hit(2, 0, "P004"), hit(2, 0, "P010")],
    );
    let sql = flat(&a.sql);
    assert!(sql.contains("p.project_code BETWEEN 'P004' AND 'P010'"), "{a:?}");
    // which project of the range each status is of, shown
    let shown = &sql[..sql.find(" FROM").unwrap_or(0)];
    assert!(shown.contains("p.project_code") && shown.contains("p.status"), "{a:?}");
    // codes that number nothing: from one to the other, not a range of them
    let a = ask(
        "List the projects from status Alpha to Omega.",
        &[hit(2, 1, "Alpha"), hit(2, 1, "Omega")],
    );
    assert!(!a.sql.contains("BETWEEN"), "{a:?}");
}

#[test]
fn an_average_the_sql_does_not_compute_is_not_understood() {
    // a count was asked "on average": the SQL counts once, averages nothing
    let a = ask("On average how many cancelled projects are there?", &[]);
    assert!(a.confidence < RUNS, "{a:?}");
    assert!(a.unexplained.contains(&"average".to_string()), "{a:?}");
}

#[test]
fn a_taught_filter_a_yes_no_question_asks_about_is_not_a_condition() {
    let mut s = firm();
    vocabulary::apply(
        &mut s,
        &[vocabulary::Entry {
            word: "audited".into(),
            kind: "filter".into(),
            schema: "public".into(),
            table: "department".into(),
            other: None,
            template: Some(format!("{}.label = '+'", vocabulary::PLACEHOLDER)),
            aggregate: None,
            data_type: None,
            note: String::new(),
        }],
    );
    // which rows: the filter
    let a = answer("How many audited departments are there?", &s, &[]).unwrap();
    assert!(flat(&a.sql).contains("label = '+'"), "{a:?}");
    assert!(a.confidence >= RUNS, "{a:?}");
    // what is asked about the rows: not answered with only the rows that meet it
    for q in [
        "Is the department with the most projects audited?",
        "How many projects does the first department have and is it audited?",
    ] {
        if let Ok(a) = answer(q, &s, &[]) {
            assert!(a.confidence < RUNS, "{q}: {a:?}");
        }
    }
}
