//! Words the SQL's names account for, and joins a question cannot tell apart.
use super::tests::{fk, table};
use super::*;

/// Spider's car_1 and network_1 shapes: names written as one word, a table named by two,
/// and two foreign keys from one table to another.
fn cars_and_friends() -> Schema {
    let tables = vec![
        table(
            "countries",
            15.0,
            &[
                ("countryid", "integer", true),
                ("countryname", "text", false),
            ],
        ),
        table(
            "car_makers",
            22.0,
            &[
                ("id", "integer", true),
                ("maker", "text", false),
                ("country", "integer", false),
            ],
        ),
        table(
            "cars_data",
            406.0,
            &[
                ("id", "integer", true),
                ("cylinders", "integer", false),
                ("horsepower", "integer", false),
            ],
        ),
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
        table(
            "owners",
            15.0,
            &[
                ("owner_id", "integer", true),
                ("first_name", "text", false),
                ("state", "text", false),
            ],
        ),
        table(
            "dogs",
            15.0,
            &[
                ("dog_id", "integer", true),
                ("owner_id", "integer", false),
                ("name", "text", false),
            ],
        ),
    ];
    let fks = vec![
        fk(1, "country", 0, "countryid"),
        fk(4, "friend_id", 3, "id"),
        fk(4, "student_id", 3, "id"),
        fk(6, "owner_id", 5, "owner_id"),
    ];
    Schema {
        tables,
        fks,
        ..Default::default()
    }
}

fn ask(q: &str, values: &[ValueHit]) -> Answer {
    answer(q, &cars_and_friends(), values).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

#[test]
fn a_word_of_a_name_the_sql_reads_is_accounted_for() {
    // "cars" is one of cars_data's words: short, but the table's own
    let a = ask("How many cars have more than 4 cylinders?", &[]);
    assert!(a.sql.contains("cars_data"), "{a:?}");
    assert!(a.unexplained.is_empty(), "{a:?}");
    assert!(a.confidence >= 0.6, "{a:?}");
    // "the country name": two words the column writes as one
    let a = ask("What is the country name of the maker with the most cars?", &[]);
    assert!(!a.unexplained.iter().any(|w| w == "name"), "{a:?}");
    // (the retrieval finds the table by its meaning; here, its similarity says so)
    let mut s = cars_and_friends();
    s.tables[3].similarity = 0.8;
    let q = "Show the names of all high schoolers in grade 10.";
    let a = answer(q, &s, &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(a.sql.contains("highschooler"), "{a:?}");
    assert!(a.unexplained.is_empty(), "{a:?}");
}

#[test]
fn a_join_one_of_two_foreign_keys_could_make_is_held_back() {
    // friend(student_id, friend_id) both reach highschooler: whose friends is a guess
    let mut s = cars_and_friends();
    s.tables[3].similarity = 0.8;
    let q = "Show the names of high schoolers who have at least 3 friends.";
    let a = answer(q, &s, &[]).unwrap_or_else(|e| panic!("{q}: {e:?}"));
    assert!(a.sql.contains("friend"), "{a:?}");
    assert!(a.confidence < 0.6, "{a:?}");
    // one foreign key between the tables: no guess
    let a = ask("How many dogs does each owner have?", &[]);
    assert!(a.confidence >= 0.6, "{a:?}");
}

