//! Readings of how rows relate: whose column a relative clause names, a verb's agent after
//! "by", an aggregate over rows a join repeats, and what the SQL must not drop (a negation, a
//! limit) when it finds no place for it.
use super::tests::{fk, flat, hit, music, table, RUNS};
use super::*;

/// Spider's pets_1 shape: student(0) ← has_pet(1) → pets(2).
fn pets() -> Schema {
    let tables = vec![
        table(
            "student",
            34.0,
            &[
                ("stuid", "integer", true),
                ("lname", "text", false),
                ("fname", "text", false),
                ("age", "integer", false),
            ],
        ),
        table(
            "has_pet",
            3.0,
            &[("stuid", "integer", false), ("petid", "integer", false)],
        ),
        table(
            "pets",
            3.0,
            &[
                ("petid", "integer", true),
                ("pettype", "text", false),
                ("pet_age", "integer", false),
            ],
        ),
    ];
    Schema {
        tables,
        fks: vec![fk(1, "stuid", 0, "stuid"), fk(1, "petid", 2, "petid")],
        ..Default::default()
    }
}

/// Spider's network_1 shape: highschooler(0) ← friend(1) (student_id, friend_id); no table
/// is called student.
fn friends() -> Schema {
    let tables = vec![
        table(
            "highschooler",
            16.0,
            &[
                ("id", "integer", true),
                ("name", "text", false),
                ("grade", "integer", false),
            ],
        ),
        table(
            "friend",
            20.0,
            &[
                ("student_id", "integer", true),
                ("friend_id", "integer", true),
            ],
        ),
    ];
    Schema {
        tables,
        fks: vec![fk(1, "student_id", 0, "id"), fk(1, "friend_id", 0, "id")],
        ..Default::default()
    }
}

fn ask(q: &str, values: &[ValueHit]) -> Answer {
    answer(q, &pets(), values).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

fn ask_friends(q: &str) -> Answer {
    answer(q, &friends(), &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

#[test]
fn a_relative_clause_names_whose_column_it_is() {
    // "students that have an age": the student's age, not the pet's
    let a = ask("How many pets are owned by students that have an age greater than 20?", &[]);
    let sql = flat(&a.sql);
    assert!(sql.contains("s.age > 20") && !sql.contains("pet_age"), "{sql}");
    // "a cat that is age 3": the pet's age, though the student is the subject
    let cat = [hit(2, 1, "cat")];
    let a = ask("Find the last name of the student who has a cat that is age 3.", &cat);
    let sql = flat(&a.sql);
    assert!(sql.contains("p.pet_age = 3") && !sql.contains("s.age"), "{sql}");
    // no relative clause: the subject's own column, as before
    let a = ask("List the pets with an age greater than 2.", &[]);
    assert!(flat(&a.sql).contains("p.pet_age > 2"), "{a:?}");
}

#[test]
fn by_after_a_participle_is_the_agent_not_a_grouping() {
    // "owned by students" says who owns them: one count, not a count per student
    let a = ask("How many pets are owned by students that have an age greater than 20?", &[]);
    let sql = flat(&a.sql);
    assert!(sql.starts_with("SELECT count(") && !sql.contains("GROUP BY"), "{sql}");
    assert!(a.confidence >= RUNS, "{a:?}");
    // "by" after a noun still groups, and "sorted by" still orders
    let q = "How many tracks are there by genre?";
    let a = answer(q, &music(), &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(flat(&a.sql).contains("GROUP BY"), "{a:?}");
    let a = ask("List the students sorted by age.", &[]);
    assert!(flat(&a.sql).contains("ORDER BY s.age"), "{a:?}");
    // a participle before a bare singular noun still groups: "sold by genre"
    let q = "How many tracks were sold by genre?";
    let a = answer(q, &music(), &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(flat(&a.sql).contains("GROUP BY"), "{a:?}");
}

#[test]
fn an_average_over_rows_a_join_repeats_is_of_the_rows_that_have_one() {
    // each student once, whatever the number of friends: not avg over friend joined
    let a = ask_friends("What is the average grade of students who have friends?");
    let sql = flat(&a.sql);
    assert!(
        sql.starts_with("SELECT avg(h.grade) AS avg_grade FROM public.highschooler h WHERE EXISTS (SELECT 1 FROM public.friend f WHERE f.student_id = h.id)"),
        "{sql}"
    );
    assert!(a.confidence >= RUNS, "{a:?}");
    assert!(a.explanation.contains("with a friend"), "{a:?}");
    // an extreme is the same over repeated rows: read as before
    let a = ask_friends("What is the highest grade of students who have friends?");
    assert!(!flat(&a.sql).contains("EXISTS"), "{a:?}");
    // the average of the subject's own column: no rows repeat
    let a = ask_friends("What is the average grade of high schoolers?");
    assert!(!flat(&a.sql).contains("EXISTS") && !a.sql.contains("friend"), "{a:?}");
}

#[test]
fn a_negation_or_a_limit_the_sql_leaves_out_holds_the_answer_back() {
    // "do not have any friends" over friend itself: nothing is denied, so the rows listed
    // would be the ones the question excludes
    let a = ask_friends("Show ids of all students who do not have any friends.");
    let held = a.confidence < RUNS && a.unexplained.iter().any(|w| w == "not");
    assert!(a.sql.contains("NOT EXISTS") || held, "{a:?}");
    // "the top 3" with no order to take them from
    let q = "Show the top 3 artists.";
    let a = answer(q, &music(), &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    let held = a.confidence < RUNS && a.unexplained.iter().any(|w| w == "top");
    assert!(a.sql.contains("LIMIT 3") || held, "{a:?}");
}

#[test]
fn words_read_by_their_place_are_listed_as_assumed() {
    // "billed" between the invoices and the customers the SQL joins: their relationship,
    // accounted for by its place and said so; "invoices" and "customers" are names
    let germany = [hit(4, 3, "Germany")];
    let q = "How many invoices were billed to customers from Germany?";
    let a = answer(q, &music(), &germany).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(a.unexplained.is_empty(), "{a:?}");
    assert_eq!(a.assumed, vec!["billed".to_string()], "{a:?}");
    // every word a name: nothing assumed
    let a = ask("How many pets are owned by students that have an age greater than 20?", &[]);
    assert!(!a.assumed.iter().any(|w| w == "pets" || w == "students" || w == "age"), "{a:?}");
}

#[test]
fn a_compound_modifier_is_never_read_as_a_relationship() {
    // "billed" between the joined tables is their relationship; a hyphenated modifier in the
    // same place ("blue-haired") is a condition the SQL does not hold
    let germany = [hit(4, 3, "Germany")];
    let q = "How many invoices were blue-haired to customers from Germany?";
    let a = answer(q, &music(), &germany).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(a.unexplained.iter().any(|w| w == "blue-haired"), "{a:?}");
    assert!(a.confidence < RUNS, "{a:?}");
}

#[test]
fn a_denied_table_no_key_reaches_is_said_missing_not_kept() {
    // the pets schema has no friend table: nothing in the SQL keeps those "with no" rows, and
    // the explanation must not say it does
    let mut s = pets();
    s.tables.push(table("friend", 20.0, &[("student_id", "integer", true)]));
    let q = "Show the students who do not have any friends.";
    let a = answer(q, &s, &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(!a.sql.contains("EXISTS"), "{a:?}");
    assert!(!a.explanation.contains("no friend"), "{a:?}");
    assert!(a.confidence <= 0.2, "{a:?}");
}
