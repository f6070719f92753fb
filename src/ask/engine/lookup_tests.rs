//! Schemas of lookup tables: surrogate keys, one label per lookup table, two foreign keys from
//! one table to the same lookup (a plant's flower and leaf colours), traits as name/score rows.
use super::tests::{fk, flat, hit, table, RUNS};
use super::*;

/// plant(0) → colour(1) twice, family(2), habitat(3); plant_trait(4) → trait(5); plant_use(6)
/// → use(7).
fn garden() -> Schema {
    let tables = vec![
        table(
            "plant",
            36.0,
            &[
                ("id", "integer", true),
                ("common_name", "text", false),
                ("latin_name", "text", false),
                ("family_id", "integer", false),
                ("habitat_id", "integer", false),
                ("flower_colour_id", "integer", false),
                ("leaf_colour_id", "integer", false),
                ("height_cm", "integer", false),
            ],
        ),
        table("colour", 10.0, &[("id", "integer", true), ("colour", "text", false)]),
        table("family", 7.0, &[("id", "integer", true), ("family_name", "text", false)]),
        table("habitat", 5.0, &[("id", "integer", true), ("habitat", "text", false)]),
        table(
            "plant_trait",
            114.0,
            &[
                ("plant_id", "integer", true),
                ("trait_id", "integer", true),
                ("score", "integer", false),
            ],
        ),
        table("trait", 4.0, &[("id", "integer", true), ("trait_name", "text", false)]),
        table(
            "plant_use",
            56.0,
            &[("plant_id", "integer", true), ("use_id", "integer", true)],
        ),
        table("use", 5.0, &[("id", "integer", true), ("use_name", "text", false)]),
    ];
    Schema {
        tables,
        fks: vec![
            fk(0, "family_id", 2, "id"),
            fk(0, "habitat_id", 3, "id"),
            fk(0, "flower_colour_id", 1, "id"),
            fk(0, "leaf_colour_id", 1, "id"),
            fk(4, "plant_id", 0, "id"),
            fk(4, "trait_id", 5, "id"),
            fk(6, "plant_id", 0, "id"),
            fk(6, "use_id", 7, "id"),
        ],
        vocabulary: Vec::new(),
    }
}

fn name_hit(value: &str) -> ValueHit {
    ValueHit {
        table: 0,
        column: 1,
        value: value.into(),
        phrase: value.to_lowercase(),
        categorical: false,
    }
}

fn ask(q: &str, values: &[ValueHit]) -> Answer {
    answer(q, &garden(), values).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

#[test]
fn the_most_common_lookup_value_is_counted_over_the_rows_that_use_it_or_held_back() {
    for q in [
        "What is the most common habitat?",
        "Which habitat is the least common?",
        "What is the most common colour?",
        "Which leaf colour is the least common?",
    ] {
        let a = ask(q, &[]);
        let s = flat(&a.sql);
        assert!(
            a.confidence < RUNS || (s.contains("count(") && s.contains("LIMIT 1")),
            "{q}: {s} at {}",
            a.confidence
        );
    }
    // the rows that refer to it are counted; of two keys, the one the question names
    let a = ask("What is the most common habitat?", &[]);
    assert_eq!(
        flat(&a.sql),
        "SELECT h.habitat, count(p.id) AS plant_count FROM public.habitat h \
         LEFT JOIN public.plant p ON h.id = p.habitat_id GROUP BY h.id, h.habitat \
         ORDER BY plant_count DESC NULLS LAST, h.id LIMIT 1"
    );
    assert!(a.confidence >= RUNS);
    let a = ask("What is the most common flower colour?", &[]);
    assert!(flat(&a.sql).contains("ON c.id = p.flower_colour_id GROUP BY c.id, c.colour"), "{}", a.sql);
    assert!(a.confidence >= RUNS);
    let a = ask("Which habitat is the least common?", &[]);
    assert!(a.confidence < RUNS || flat(&a.sql).contains("plant_count ASC"), "{}", a.sql);
    // a column's most frequent value
    let a = ask("What is the most common latin name?", &[]);
    assert!(flat(&a.sql).starts_with("SELECT p.latin_name, count(*) AS plant_count"), "{}", a.sql);
    assert!(flat(&a.sql).ends_with("LIMIT 1"), "{}", a.sql);
}

#[test]
fn colours_of_the_flowers_are_not_every_colour() {
    let a = ask("How many different colours do flowers have?", &[]);
    let s = flat(&a.sql);
    assert!(
        a.confidence < RUNS || s.contains("flower_colour_id"),
        "{s} at {}",
        a.confidence
    );
}

#[test]
fn the_word_naming_one_of_two_keys_picks_it() {
    let a = ask("What colour are the leaves of the Sage?", &[name_hit("Sage")]);
    let s = flat(&a.sql);
    assert!(s.contains("leaf_colour_id"), "{s}");
    assert!(a.confidence >= RUNS, "{s} at {}: {:?}", a.confidence, a.unexplained);
    let a = ask("What is the leaf colour of Edelweiss?", &[name_hit("Edelweiss")]);
    assert!(flat(&a.sql).contains("leaf_colour_id"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {}", a.sql, a.confidence);
}

#[test]
fn how_many_rows_pass_a_count_is_a_count_of_them() {
    for q in ["How many plants have more than one use?", "How many plants have more than 2 uses?"] {
        let a = ask(q, &[]);
        let s = flat(&a.sql);
        assert!(s.starts_with("SELECT count(*) AS plant_count FROM ( SELECT"), "{q}: {s}");
        assert!(s.contains("HAVING count(DISTINCT u.id) >"), "{q}: {s}");
    }
    // the rows themselves, when they are asked for
    let a = ask("Which plants have more than one use?", &[]);
    assert!(flat(&a.sql).starts_with("SELECT p.common_name, p.latin_name, count(DISTINCT u.id)"), "{}", a.sql);
}

#[test]
fn most_is_counted_or_not_understood() {
    let q = "Which family do most woodland plants belong to?";
    let a = ask(q, &[hit(3, 1, "Woodland")]);
    let s = flat(&a.sql);
    assert!(
        a.confidence < RUNS || (s.contains("count(p.id)") && s.ends_with("LIMIT 1")),
        "{s} at {} {:?} {}",
        a.confidence, a.unexplained, a.explanation
    );
    let a = ask("Which family has the most?", &[]);
    assert!(a.confidence < RUNS, "{} at {}", a.sql, a.confidence);
}

#[test]
fn an_answer_its_own_condition_pins_is_no_answer() {
    // the trait's name is the question's word: the score was asked for
    let a = ask(
        "What is the hardiness of the Oak?",
        &[name_hit("Oak"), hit(5, 1, "Hardiness")],
    );
    assert!(a.confidence < RUNS, "{} at {}", a.sql, a.confidence);
    // a column shown beside the pinned one is an answer
    let a = ask("What is the latin name of the Oak?", &[name_hit("Oak")]);
    assert!(flat(&a.sql).contains("p.latin_name"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {}", a.sql, a.confidence);
}

#[test]
fn a_share_of_two_conditions_is_not_decided() {
    let a = ask(
        "What percentage of Rosaceae plants have white flowers?",
        &[hit(2, 1, "Rosaceae"), hit(1, 1, "White")],
    );
    assert!(a.confidence < RUNS, "{} at {}", a.sql, a.confidence);
    let a = ask("What percentage of plants have white flowers?", &[hit(1, 1, "White")]);
    assert!(flat(&a.sql).starts_with("SELECT 100.0 * count(*) FILTER (WHERE c.colour = 'White')"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {}", a.sql, a.confidence);
}


#[test]
fn tall_is_a_height_and_an_imperative_is_no_question_word() {
    let a = ask("Which plants are taller than 2000 cm?", &[]);
    assert!(flat(&a.sql).ends_with("WHERE p.height_cm > 2000"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {} {:?}", a.sql, a.confidence, a.unexplained);
    let a = ask("What is the tallest plant?", &[]);
    assert!(flat(&a.sql).contains("ORDER BY p.height_cm DESC"), "{}", a.sql);
    assert!(flat(&a.sql).ends_with("LIMIT 1"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {}", a.sql, a.confidence);
    let a = ask("How tall is the Oak?", &[name_hit("Oak")]);
    assert!(flat(&a.sql).contains("p.height_cm") || a.confidence < RUNS, "{} at {}", a.sql, a.confidence);
    let a = ask(
        "Calculate the average height of plants with purple flowers.",
        &[hit(1, 1, "Purple")],
    );
    assert!(flat(&a.sql).starts_with("SELECT avg(p.height_cm)"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {} {:?}", a.sql, a.confidence, a.unexplained);
}
#[test]
fn a_verb_and_its_particle_name_the_relationship_the_joins_follow() {
    let a = ask("How many plants are used for medicine?", &[hit(7, 1, "Medicine")]);
    assert!(flat(&a.sql).contains("JOIN public.use u ON u.id = pu.use_id WHERE u.use_name = 'Medicine'"), "{}", a.sql);
    assert!(a.confidence >= RUNS, "{} at {} {:?}", a.sql, a.confidence, a.unexplained);
}

#[test]
fn rows_named_together_show_which_is_whose() {
    let a = ask(
        "What is the habitat of the Oak and the Mint?",
        &[name_hit("Oak"), name_hit("Mint")],
    );
    let s = flat(&a.sql);
    assert!(s.starts_with("SELECT DISTINCT h.habitat, p.common_name FROM"), "{s}");
    assert!(s.ends_with("WHERE p.common_name IN ('Oak', 'Mint')"), "{s}");
}
