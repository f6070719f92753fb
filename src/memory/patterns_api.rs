//! SQL surface of fix patterns, their relationships and guardian rules.
use super::check_k;
use super::patterns::{self, Candidate, Context, NewPattern, PatternError};
use crate::embed::session::embed_texts;
use crate::error::{OrRaise, UserError};
use crate::spi_util::Spi;
use crate::spi_util::{as_extension_owner, in_subtransaction, VectorSql};
use pgrx::prelude::*;
use pgrx::{AnyNumeric, JsonB, PgSqlErrorCode, Uuid};

type Result<T> = std::result::Result<T, PatternError>;

impl From<pgrx::spi::Error> for PatternError {
    fn from(e: pgrx::spi::Error) -> Self {
        PatternError::Memory(e.into())
    }
}

impl UserError for PatternError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            PatternError::NoPattern(_) => PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            PatternError::Regex { .. } => PgSqlErrorCode::ERRCODE_INVALID_REGULAR_EXPRESSION,
            PatternError::Memory(m) => m.sqlstate(),
            _ => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }
    fn hint(&self) -> Option<String> {
        PatternError::hint(self)
    }
}

/// Checks a PostgreSQL regular expression by compiling it.
fn check_regex(regex: &str) -> Result<()> {
    let r = regex.to_string();
    match in_subtransaction(move || {
        Spi::get_one_with_args::<bool>("SELECT '' ~ $1", &[r.as_str().into()])
    }) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(PatternError::Regex {
            regex: regex.into(),
            reason: e.to_string(),
        }),
        Err(e) => Err(PatternError::Regex {
            regex: regex.into(),
            reason: e.message,
        }),
    }
}

/// A required argument: NULL is an error that names it.
fn req<T>(name: &'static str, v: Option<T>) -> Result<T> {
    super::required(name, v).map_err(PatternError::from)
}

fn pattern_exists(id: Uuid) -> Result<()> {
    let found = as_extension_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM ai.fix_patterns WHERE id = $1)",
            &[id.into()],
        )
    })?;
    if found == Some(true) {
        Ok(())
    } else {
        Err(PatternError::NoPattern(id.to_string()))
    }
}

pub fn insert(p: NewPattern) -> Result<Uuid> {
    let p = p.validated()?;
    for re in &p.anti_patterns {
        check_regex(re)?;
    }
    let code = p.code_text();
    let v = embed_texts(&[
        Some(&p.content_text()),
        code.as_deref(),
        Some(&p.problem_text()),
    ]);
    let related: Vec<Uuid> = p
        .related_patterns
        .iter()
        .map(|s| Uuid::from_slice(&parse_uuid(s)?).map_err(|_| PatternError::NoPattern(s.clone())))
        .collect::<Result<_>>()?;
    let id = as_extension_owner(|| {
        Spi::get_one_with_args::<Uuid>(
            "INSERT INTO ai.fix_patterns (title, problem_type, classification, severity, layers, workflows, file_types,
                 problem, solution, code_before, code_after, verification, learnings, prevention, related_patterns,
                 metrics, guardian_rules, anti_patterns, content_embedding, code_embedding, problem_embedding)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                     coalesce($16, '{}'), coalesce($17, '[]'), $18, $19, $20, $21)
             RETURNING id",
            &[
                p.title.as_str().into(),
                p.problem_type.as_str().into(),
                p.classification.clone().into(),
                p.severity.as_str().into(),
                p.layers.clone().into(),
                p.workflows.clone().into(),
                p.file_types.clone().into(),
                p.problem.as_str().into(),
                p.solution.as_str().into(),
                p.code_before.clone().into(),
                p.code_after.clone().into(),
                p.verification.clone().into(),
                p.learnings.clone().into(),
                p.prevention.clone().into(),
                related.into(),
                p.metrics.clone().map(JsonB).into(),
                p.guardian_rules.clone().map(JsonB).into(),
                p.anti_patterns.clone().into(),
                v[0].clone().into(),
                v[1].clone().into(),
                v[2].clone().into(),
            ],
        )
    })?
    .expect("INSERT RETURNING gives a row");
    if p.reviewed {
        review(id, true)?;
    }
    Ok(id)
}

fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err(PatternError::NoPattern(s.into()));
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| PatternError::NoPattern(s.into()))?;
    }
    Ok(out)
}

/// Stores a fix pattern and computes its content, code and problem embeddings.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
fn add_fix_pattern(
    title: Option<&str>,
    problem_type: Option<&str>,
    severity: Option<&str>,
    problem: Option<&str>,
    solution: Option<&str>,
    layers: default!(Option<Vec<i32>>, "'{}'"),
    workflows: default!(Option<Vec<String>>, "'{}'"),
    file_types: default!(Option<Vec<String>>, "'{}'"),
    code_before: default!(Option<String>, "NULL"),
    code_after: default!(Option<String>, "NULL"),
    verification: default!(Option<String>, "NULL"),
    learnings: default!(Option<String>, "NULL"),
    prevention: default!(Option<String>, "NULL"),
    anti_patterns: default!(Option<Vec<String>>, "'{}'"),
    classification: default!(Option<String>, "NULL"),
    metrics: default!(Option<JsonB>, "NULL"),
    reviewed: default!(Option<bool>, false),
) -> Uuid {
    crate::error::primary_only("ai.add_fix_pattern");
    let p = (|| -> Result<NewPattern> {
        Ok(NewPattern {
            title: req("title", title)?.into(),
            problem_type: req("problem_type", problem_type)?.into(),
            severity: req("severity", severity)?.into(),
            problem: req("problem", problem)?.into(),
            solution: req("solution", solution)?.into(),
            classification,
            layers: layers.unwrap_or_default(),
            workflows: workflows.unwrap_or_default(),
            file_types: file_types.unwrap_or_default(),
            code_before,
            code_after,
            verification,
            learnings,
            prevention,
            anti_patterns: anti_patterns.unwrap_or_default(),
            metrics: metrics.map(|m| m.0),
            reviewed: reviewed.unwrap_or(false),
            ..Default::default()
        })
    })();
    p.and_then(insert).or_raise("ai.add_fix_pattern")
}

/// The same from one jsonb document with the pattern's fields.
#[pg_extern(volatile, strict, name = "add_fix_pattern")]
#[search_path(pg_catalog, pg_temp)]
fn add_fix_pattern_json(pattern: JsonB) -> Uuid {
    crate::error::primary_only("ai.add_fix_pattern");
    let p: std::result::Result<NewPattern, _> = serde_json::from_value(pattern.0);
    p.map_err(|e| PatternError::Document(e.to_string()))
        .and_then(insert)
        .or_raise("ai.add_fix_pattern")
}

/// Marks a pattern reviewed (or not). A reviewed security or architecture pattern turns its
/// anti_patterns into guardian rules. Returns how many rules it has.
pub fn review(id: Uuid, reviewed: bool) -> Result<i64> {
    pattern_exists(id)?;
    as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE ai.fix_patterns SET reviewed = $2, reviewed_by = CASE WHEN $2 THEN session_user END,
                    reviewed_at = CASE WHEN $2 THEN now() END, updated_at = now() WHERE id = $1",
            &[id.into(), reviewed.into()],
        )?;
        // rules follow the review: generated when reviewed, disabled when not
        Spi::run_with_args(
            "INSERT INTO ai.guardian_rules (name, pattern_id, description, regex, layers, file_pattern, severity, action)
             SELECT p.title || ' #' || a.n, p.id, p.title || ': ' || p.problem, a.re, p.layers,
                    CASE WHEN cardinality(p.file_types) > 0
                         THEN '\\.(' || array_to_string(p.file_types, '|') || ')$' END,
                    p.severity, CASE WHEN p.severity = 'critical' THEN 'block' ELSE 'warn' END
               FROM ai.fix_patterns p, unnest(p.anti_patterns) WITH ORDINALITY AS a(re, n)
              WHERE p.id = $1 AND $2 AND p.problem_type IN ('security', 'architecture')
             ON CONFLICT (name) DO UPDATE SET regex = EXCLUDED.regex, description = EXCLUDED.description,
                    layers = EXCLUDED.layers, file_pattern = EXCLUDED.file_pattern, severity = EXCLUDED.severity,
                    action = EXCLUDED.action, enabled = true",
            &[id.into(), reviewed.into()],
        )?;
        Spi::run_with_args(
            "UPDATE ai.guardian_rules SET enabled = $2 WHERE pattern_id = $1",
            &[id.into(), reviewed.into()],
        )?;
        Ok(Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM ai.guardian_rules WHERE pattern_id = $1 AND enabled",
            &[id.into()],
        )?
        .unwrap_or(0))
    })
}

/// Marks a fix pattern reviewed; returns the number of guardian rules it now drives.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn review_pattern(pattern: Uuid, reviewed: default!(bool, true)) -> i64 {
    crate::error::primary_only("ai.review_pattern");
    review(pattern, reviewed).or_raise("ai.review_pattern")
}

type PatternHit = (
    Uuid,
    String,
    String,
    String,
    f64,
    f64,
    String,
    Option<String>,
    i32,
    Option<f64>,
);

#[allow(clippy::too_many_arguments)]
pub fn search(
    problem: &str,
    layers: &[i32],
    workflows: &[String],
    file_extension: Option<&str>,
    min_confidence: f64,
    threshold: f64,
    k: i32,
    reviewed_only: bool,
) -> Result<Vec<PatternHit>> {
    let k = check_k(k)?;
    patterns::layers(layers)?;
    let v = embed_texts(&[Some(problem)])
        .pop()
        .flatten()
        .unwrap_or_default();
    let vs = VectorSql::new()?;
    let sql = format!(
        "SELECT id, title, problem_type, severity, solution, code_after, layers, workflows, file_types, applied_count,
                success_rate, GREATEST(1 - {}, 1 - {})
           FROM ai.fix_patterns WHERE (reviewed OR NOT $2)",
        vs.distance_to("content_embedding", 1),
        vs.distance_to("problem_embedding", 1)
    );
    let ctx = Context {
        layers,
        workflows,
        file_extension,
    };
    let mut hits = Vec::new();
    Spi::connect(|c| {
        for r in c.select(&sql, None, &[v.into(), reviewed_only.into()])? {
            let similarity = r.get::<f64>(12)?.unwrap_or(0.0);
            if similarity < threshold {
                continue;
            }
            let p_layers: Vec<i32> = r.get(7)?.unwrap_or_default();
            let p_workflows: Vec<String> = r.get(8)?.unwrap_or_default();
            let p_files: Vec<String> = r.get(9)?.unwrap_or_default();
            let applied: i32 = r.get(10)?.unwrap_or(0);
            let rate: Option<f64> = r.get(11)?;
            let conf = patterns::confidence(
                &ctx,
                &Candidate {
                    similarity,
                    layers: &p_layers,
                    workflows: &p_workflows,
                    file_types: &p_files,
                    applied_count: applied,
                    success_rate: rate,
                },
            );
            if conf < min_confidence {
                continue;
            }
            hits.push((
                r.get::<Uuid>(1)?.expect("id"),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<String>(4)?.unwrap_or_default(),
                similarity,
                conf,
                r.get::<String>(5)?.unwrap_or_default(),
                r.get::<String>(6)?,
                applied,
                rate,
            ));
        }
        Ok::<_, pgrx::spi::Error>(())
    })?;
    hits.sort_by(|a, b| b.5.total_cmp(&a.5).then_with(|| b.4.total_cmp(&a.4)));
    hits.truncate(k);
    Ok(hits)
}

fn numeric(n: AnyNumeric) -> f64 {
    f64::try_from(n).unwrap_or(f64::NAN)
}

/// Fix patterns for a problem, by confidence: the best of content and problem similarity,
/// raised for a layer match, workflow overlap, a good track record and a file-type match.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
fn search_patterns(
    problem: Option<&str>,
    layers: default!(Option<Vec<i32>>, "NULL"),
    workflows: default!(Option<Vec<String>>, "NULL"),
    file_extension: default!(Option<&str>, "NULL"),
    min_confidence: default!(AnyNumeric, 0),
    similarity_threshold: default!(f64, 0.65),
    match_count: default!(i32, 10),
    reviewed_only: default!(bool, true),
) -> TableIterator<
    'static,
    (
        name!(id, Uuid),
        name!(title, String),
        name!(problem_type, String),
        name!(severity, String),
        name!(similarity, f64),
        name!(confidence, f64),
        name!(solution, String),
        name!(code_after, Option<String>),
        name!(applied_count, i32),
        name!(success_rate, Option<f64>),
    ),
> {
    let Some(problem) = problem else {
        return TableIterator::new(Vec::new());
    };
    let hits = search(
        problem,
        &layers.unwrap_or_default(),
        &workflows.unwrap_or_default(),
        file_extension,
        numeric(min_confidence),
        similarity_threshold,
        match_count,
        reviewed_only,
    )
    .or_raise("ai.search_patterns");
    TableIterator::new(hits)
}

/// Records one application of a pattern: success and minutes saved update its track record.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn record_pattern_application(
    pattern: Option<Uuid>,
    success: Option<bool>,
    minutes_saved: Option<i32>,
    file: default!(Option<&str>, "NULL"),
) -> JsonB {
    crate::error::primary_only("ai.record_pattern_application");
    let r = (|| -> Result<JsonB> {
        let (pattern, success) = (req("pattern", pattern)?, req("success", success)?);
        let minutes_saved = req("minutes_saved", minutes_saved)?;
        pattern_exists(pattern)?;
        if minutes_saved < 0 {
            return Err(PatternError::Memory(super::MemoryError::Empty(
                "a non-negative minutes_saved",
            )));
        }
        // a success on a new kind of file teaches the pattern that file type
        let ext: Option<String> = file
            .filter(|_| success)
            .map(patterns::extension)
            .filter(|e| !e.is_empty());
        Ok(as_extension_owner(|| {
            Spi::get_one_with_args::<JsonB>(
                "UPDATE ai.fix_patterns SET applied_count = applied_count + 1,
                        success_count = success_count + $2::int,
                        success_rate = (success_count + $2::int)::float8 / (applied_count + 1),
                        avg_time_saved = (coalesce(avg_time_saved, 0) * applied_count + $3) / (applied_count + 1),
                        last_applied = now(), updated_at = now(),
                        file_types = CASE WHEN $4::text IS NULL OR $4 = ANY (file_types) THEN file_types
                                          ELSE file_types || $4::text END
                  WHERE id = $1
              RETURNING jsonb_build_object('applied_count', applied_count, 'success_rate', success_rate,
                                           'avg_time_saved', avg_time_saved, 'last_applied', last_applied)",
                &[pattern.into(), success.into(), (minutes_saved as f64).into(), ext.into()],
            )
        })?
        .unwrap_or(JsonB(serde_json::json!({}))))
    })();
    r.or_raise("ai.record_pattern_application")
}

/// Relates two patterns: prerequisite, follows, conflicts or enhances, with a strength 0..1.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn relate_patterns(
    source: Option<Uuid>,
    target: Option<Uuid>,
    relationship: Option<&str>,
    strength: Option<AnyNumeric>,
    description: default!(Option<&str>, "NULL"),
) {
    crate::error::primary_only("ai.relate_patterns");
    let r = (|| -> Result<()> {
        let (source, target) = (req("source", source)?, req("target", target)?);
        let rel = patterns::relationship(req("relationship", relationship)?)?;
        let s = numeric(req("strength", strength)?);
        if !(0.0..=1.0).contains(&s) {
            return Err(PatternError::Strength(s));
        }
        if source == target {
            return Err(PatternError::SelfRelation);
        }
        pattern_exists(source)?;
        pattern_exists(target)?;
        as_extension_owner(|| {
            Spi::run_with_args(
                "INSERT INTO ai.pattern_relationships (source, target, relationship, strength, description, reviewed)
                 VALUES ($1, $2, $3, $4, $5, true)
                 ON CONFLICT (source, target, relationship)
                 DO UPDATE SET strength = EXCLUDED.strength, description = EXCLUDED.description, reviewed = true",
                &[source.into(), target.into(), rel.as_str().into(), s.into(), description.into()],
            )
        })?;
        Ok(())
    })();
    r.or_raise("ai.relate_patterns")
}

/// Patterns related to one, in both directions, of the given relationship types.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn related_patterns(
    pattern: Uuid,
    types: default!(Vec<String>, "ARRAY['prerequisite','follows','enhances']"),
) -> TableIterator<
    'static,
    (
        name!(id, Uuid),
        name!(title, String),
        name!(relationship, String),
        name!(direction, String),
        name!(strength, f64),
        name!(description, Option<String>),
        name!(reviewed, bool),
    ),
> {
    let r = (|| -> Result<Vec<_>> {
        for t in &types {
            patterns::relationship(t)?;
        }
        pattern_exists(pattern)?;
        Ok(Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c.select(
                "SELECT p.id, p.title, r.relationship, CASE WHEN r.source = $1 THEN 'outgoing' ELSE 'incoming' END,
                        r.strength::float8, r.description, r.reviewed
                   FROM ai.pattern_relationships r
                   JOIN ai.fix_patterns p ON p.id = CASE WHEN r.source = $1 THEN r.target ELSE r.source END
                  WHERE (r.source = $1 OR r.target = $1) AND r.relationship = ANY ($2)
                  ORDER BY r.strength DESC, p.title",
                None,
                &[pattern.into(), types.clone().into()],
            )? {
                out.push((
                    r.get::<Uuid>(1)?.expect("id"),
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<String>(4)?.unwrap_or_default(),
                    r.get::<f64>(5)?.unwrap_or_default(),
                    r.get::<String>(6)?,
                    r.get::<bool>(7)?.unwrap_or(false),
                ));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })?)
    })();
    TableIterator::new(r.or_raise("ai.related_patterns"))
}

/// Proposes unreviewed 'enhances' links from a pattern to the patterns most similar to it.
#[pg_extern(volatile, strict)]
#[search_path(pg_catalog, pg_temp)]
fn discover_relationships(
    pattern: Uuid,
    similarity_threshold: default!(f64, 0.75),
) -> TableIterator<
    'static,
    (
        name!(target, Uuid),
        name!(title, String),
        name!(similarity, f64),
    ),
> {
    let r = (|| -> Result<Vec<_>> {
        pattern_exists(pattern)?;
        let op = VectorSql::new()?.distance;
        let sql = format!(
            "WITH me AS (SELECT content_embedding AS e FROM ai.fix_patterns WHERE id = $1),
                  found AS (
                    SELECT p.id, p.title, 1 - (p.content_embedding {op} me.e) AS sim
                      FROM ai.fix_patterns p, me
                     WHERE p.id <> $1 AND p.content_embedding IS NOT NULL AND 1 - (p.content_embedding {op} me.e) >= $2),
                  added AS (
                    INSERT INTO ai.pattern_relationships (source, target, relationship, strength, description, reviewed)
                    SELECT $1, id, 'enhances', round(sim::numeric, 3), 'proposed: similar content', false FROM found
                    ON CONFLICT DO NOTHING)
             SELECT id, title, sim FROM found ORDER BY sim DESC, title"
        );
        as_extension_owner(|| {
            Spi::connect_mut(|c| {
                let mut out = Vec::new();
                for r in c.update(&sql, None, &[pattern.into(), similarity_threshold.into()])? {
                    out.push((
                        r.get::<Uuid>(1)?.expect("id"),
                        r.get::<String>(2)?.unwrap_or_default(),
                        r.get::<f64>(3)?.unwrap_or_default(),
                    ));
                }
                Ok::<_, pgrx::spi::Error>(out)
            })
        })
        .map_err(PatternError::from)
    })();
    TableIterator::new(r.or_raise("ai.discover_relationships"))
}

/// A guardian rule by hand: a regular expression that flags content in given layers and files.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
fn add_guardian_rule(
    name: Option<&str>,
    regex: Option<&str>,
    description: Option<&str>,
    severity: default!(Option<&str>, "'medium'"),
    layers: default!(Option<Vec<i32>>, "'{}'"),
    file_pattern: default!(Option<&str>, "NULL"),
    action: default!(Option<&str>, "'warn'"),
    pattern: default!(Option<Uuid>, "NULL"),
) -> i64 {
    crate::error::primary_only("ai.add_guardian_rule");
    let r = (|| -> Result<i64> {
        let (name, regex, description) = (
            req("name", name)?,
            req("regex", regex)?,
            req("description", description)?,
        );
        let (severity, action) = (severity.unwrap_or("medium"), action.unwrap_or("warn"));
        let layers = layers.unwrap_or_default();
        if name.trim().is_empty() {
            return Err(PatternError::Empty("name"));
        }
        let sev = patterns::severity(severity)?;
        let layers = patterns::layers(&layers)?;
        let action = match action.trim().to_lowercase().as_str() {
            a @ ("warn" | "block" | "require_approval") => a.to_string(),
            other => {
                return Err(PatternError::Unknown {
                    what: "action",
                    got: other.into(),
                    allowed: vec!["warn".into(), "block".into(), "require_approval".into()],
                })
            }
        };
        check_regex(regex)?;
        if let Some(f) = file_pattern {
            check_regex(f)?;
        }
        if let Some(p) = pattern {
            pattern_exists(p)?;
        }
        Ok(as_extension_owner(|| {
            Spi::get_one_with_args::<i64>(
                "INSERT INTO ai.guardian_rules (name, regex, description, severity, layers, file_pattern, action, pattern_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    name.into(),
                    regex.into(),
                    description.into(),
                    sev.as_str().into(),
                    layers.into(),
                    file_pattern.into(),
                    action.as_str().into(),
                    pattern.into(),
                ],
            )
        })?
        .unwrap_or_default())
    })();
    r.or_raise("ai.add_guardian_rule")
}

/// The enabled guardian rules that `content` violates, for a layer and optionally a file.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn check_guardian_rules(
    content: Option<&str>,
    layer: Option<i32>,
    file_path: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(rule_id, i64),
        name!(name, String),
        name!(severity, String),
        name!(action, String),
        name!(description, String),
        name!(fix_pattern, Option<Uuid>),
        name!(matched, String),
    ),
> {
    let r = (|| -> Result<Vec<_>> {
        let layer = req("layer", layer)?;
        patterns::layers(&[layer])?;
        // NULL content violates nothing
        let Some(content) = content else {
            return Ok(Vec::new());
        };
        as_extension_owner(|| {
            Spi::connect_mut(|c| {
                let mut out = Vec::new();
                for r in c.update(
                    "WITH hit AS (
                        UPDATE ai.guardian_rules g SET hits = hits + 1, last_hit_at = now()
                         WHERE enabled AND (cardinality(layers) = 0 OR $2 = ANY (layers))
                           AND (file_pattern IS NULL OR ($3::text IS NOT NULL AND $3 ~ file_pattern))
                           AND $1 ~ regex
                        RETURNING id, name, severity, action, description, pattern_id, substring($1 from regex) AS m)
                     SELECT * FROM hit
                      ORDER BY array_position(ARRAY['critical','high','medium','low'], severity), name",
                    None,
                    &[content.into(), layer.into(), file_path.into()],
                )? {
                    out.push((
                        r.get::<i64>(1)?.unwrap_or_default(),
                        r.get::<String>(2)?.unwrap_or_default(),
                        r.get::<String>(3)?.unwrap_or_default(),
                        r.get::<String>(4)?.unwrap_or_default(),
                        r.get::<String>(5)?.unwrap_or_default(),
                        r.get::<Uuid>(6)?,
                        r.get::<String>(7)?.unwrap_or_default(),
                    ));
                }
                Ok::<_, pgrx::spi::Error>(out)
            })
        })
        .map_err(PatternError::from)
    })();
    TableIterator::new(r.or_raise("ai.check_guardian_rules"))
}
