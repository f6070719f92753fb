//! Fix patterns: validation, the texts that are embedded, and the confidence score.
//! Plain Rust; `patterns_api.rs` is the SQL surface.
use serde::Deserialize;

pub const PROBLEM_TYPES: &[&str] = &[
    "performance",
    "security",
    "architecture",
    "correctness",
    "data_integrity",
    "reliability",
    "maintainability",
    "compatibility",
];
pub const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
pub const RELATIONSHIPS: &[&str] = &["prerequisite", "follows", "conflicts", "enhances"];
pub const LAYERS: std::ops::RangeInclusive<i32> = 1..=7;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternError {
    #[error("unknown {what} '{got}'")]
    Unknown {
        what: &'static str,
        got: String,
        allowed: Vec<String>,
    },
    #[error("layer {0} is out of range")]
    Layer(i32),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("strength must be between 0 and 1, got {0}")]
    Strength(f64),
    #[error("a pattern cannot relate to itself")]
    SelfRelation,
    #[error("invalid regular expression {regex:?}: {reason}")]
    Regex { regex: String, reason: String },
    #[error("no fix pattern with id {0}")]
    NoPattern(String),
    #[error("the pattern document is not valid: {0}")]
    Document(String),
    #[error("{0}")]
    Memory(#[from] super::MemoryError),
}

impl PatternError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PatternError::Unknown { allowed, .. } => Some(format!("one of: {}", allowed.join(", "))),
            PatternError::Layer(_) => Some(
                "layers are 1 presentation, 2 API, 3 application logic, 4 data access, 5 database, 6 infrastructure, 7 cross-cutting"
                    .into(),
            ),
            PatternError::Strength(_) => Some("0 = barely related ... 1 = always together".into()),
            PatternError::Regex { .. } => Some("PostgreSQL regular expression syntax (the ~ operator)".into()),
            PatternError::NoPattern(_) => Some("ai.search_patterns lists pattern ids".into()),
            _ => None,
        }
    }
}

fn one_of(what: &'static str, got: &str, allowed: &[&str]) -> Result<String, PatternError> {
    let g = got.trim().to_lowercase();
    if allowed.contains(&g.as_str()) {
        Ok(g)
    } else {
        Err(PatternError::Unknown {
            what,
            got: got.to_string(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        })
    }
}

pub fn problem_type(s: &str) -> Result<String, PatternError> {
    one_of("problem_type", s, PROBLEM_TYPES)
}
pub fn severity(s: &str) -> Result<String, PatternError> {
    one_of("severity", s, SEVERITIES)
}
pub fn relationship(s: &str) -> Result<String, PatternError> {
    one_of("relationship", s, RELATIONSHIPS)
}
pub fn layers(l: &[i32]) -> Result<Vec<i32>, PatternError> {
    if let Some(bad) = l.iter().find(|x| !LAYERS.contains(x)) {
        return Err(PatternError::Layer(*bad));
    }
    let mut v = l.to_vec();
    v.sort();
    v.dedup();
    Ok(v)
}
pub fn extension(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_lowercase(),
        None => name.trim_start_matches('.').to_lowercase(),
    }
}

/// A fix pattern as given to ai.add_fix_pattern (named arguments or one jsonb document).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NewPattern {
    pub title: String,
    pub problem_type: String,
    pub severity: String,
    pub problem: String,
    pub solution: String,
    pub classification: Option<String>,
    pub layers: Vec<i32>,
    pub workflows: Vec<String>,
    pub file_types: Vec<String>,
    pub code_before: Option<String>,
    pub code_after: Option<String>,
    pub verification: Option<String>,
    pub learnings: Option<String>,
    pub prevention: Option<String>,
    pub anti_patterns: Vec<String>,
    pub related_patterns: Vec<String>,
    pub metrics: Option<serde_json::Value>,
    pub guardian_rules: Option<serde_json::Value>,
    pub reviewed: bool,
}

impl NewPattern {
    /// Checks and normalises every field.
    pub fn validated(mut self) -> Result<NewPattern, PatternError> {
        for (name, v) in [
            ("title", &self.title),
            ("problem", &self.problem),
            ("solution", &self.solution),
        ] {
            if v.trim().is_empty() {
                return Err(PatternError::Empty(name));
            }
        }
        self.problem_type = problem_type(&self.problem_type)?;
        self.severity = severity(if self.severity.is_empty() {
            "medium"
        } else {
            &self.severity
        })?;
        self.layers = layers(&self.layers)?;
        self.file_types = self
            .file_types
            .iter()
            .map(|f| f.trim().trim_start_matches('.').to_lowercase())
            .collect();
        self.workflows = self
            .workflows
            .iter()
            .map(|w| w.trim().to_lowercase())
            .collect();
        Ok(self)
    }

    /// What the content embedding reads: the whole lesson.
    pub fn content_text(&self) -> String {
        [
            Some(&self.title),
            Some(&self.problem),
            Some(&self.solution),
            self.learnings.as_ref(),
            self.prevention.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// What the code embedding reads, when there is code.
    pub fn code_text(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.code_before, &self.code_after]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    }

    pub fn problem_text(&self) -> String {
        format!("{}\n{}", self.title.trim(), self.problem.trim())
    }
}

/// What the caller asked for, to score a candidate.
pub struct Context<'a> {
    pub layers: &'a [i32],
    pub workflows: &'a [String],
    pub file_extension: Option<&'a str>,
}

/// What is known of a candidate pattern.
pub struct Candidate<'a> {
    pub similarity: f64,
    pub layers: &'a [i32],
    pub workflows: &'a [String],
    pub file_types: &'a [String],
    pub applied_count: i32,
    pub success_rate: Option<f64>,
}

/// The confidence of a match: similarity ×1.2 for a layer match, ×(1 + 0.3·workflow overlap),
/// ×(1 + (success_rate − 0.5)·0.2) when applied before, ×1.1 for a file-type match; at most 1.
pub fn confidence(ctx: &Context, c: &Candidate) -> f64 {
    let mut score = c.similarity;
    if !ctx.layers.is_empty() && ctx.layers.iter().any(|l| c.layers.contains(l)) {
        score *= 1.2;
    }
    if !ctx.workflows.is_empty() {
        let overlap = ctx
            .workflows
            .iter()
            .filter(|w| c.workflows.iter().any(|x| x.eq_ignore_ascii_case(w)))
            .count();
        score *= 1.0 + 0.3 * overlap as f64 / ctx.workflows.len() as f64;
    }
    if c.applied_count > 0 {
        if let Some(rate) = c.success_rate {
            score *= 1.0 + (rate - 0.5) * 0.2;
        }
    }
    if let Some(ext) = ctx.file_extension {
        let ext = ext.trim_start_matches('.').to_lowercase();
        if c.file_types.iter().any(|f| *f == ext) {
            score *= 1.1;
        }
    }
    score.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(sim: f64) -> Candidate<'static> {
        Candidate {
            similarity: sim,
            layers: &[5],
            workflows: &[],
            file_types: &[],
            applied_count: 0,
            success_rate: None,
        }
    }

    #[test]
    fn validates_fields() {
        assert_eq!(problem_type(" Security "), Ok("security".into()));
        assert!(matches!(
            problem_type("speed"),
            Err(PatternError::Unknown { .. })
        ));
        assert!(PatternError::Unknown {
            what: "x",
            got: "y".into(),
            allowed: vec!["a".into()]
        }
        .hint()
        .unwrap()
        .contains("a"));
        assert_eq!(layers(&[5, 4, 5]), Ok(vec![4, 5]));
        assert_eq!(layers(&[0]), Err(PatternError::Layer(0)));
        assert_eq!(severity("CRITICAL"), Ok("critical".into()));
        assert!(relationship("blocks").is_err());
        assert_eq!(extension("src/db/query.SQL"), "sql");
        assert_eq!(extension(".sql"), "sql");
    }

    #[test]
    fn a_pattern_needs_its_lesson() {
        let p = NewPattern {
            title: "t".into(),
            problem_type: "performance".into(),
            problem: "p".into(),
            ..Default::default()
        };
        assert_eq!(p.validated(), Err(PatternError::Empty("solution")));
        let p = NewPattern {
            title: "Missing index".into(),
            problem_type: "performance".into(),
            problem: "Seq scan".into(),
            solution: "Add an index".into(),
            file_types: vec![".SQL".into()],
            ..Default::default()
        }
        .validated()
        .unwrap();
        assert_eq!(p.severity, "medium");
        assert_eq!(p.file_types, vec!["sql"]);
        assert_eq!(p.code_text(), None);
        assert_eq!(p.content_text(), "Missing index\nSeq scan\nAdd an index");
    }

    #[test]
    fn confidence_follows_the_seed_rules() {
        let none = Context {
            layers: &[],
            workflows: &[],
            file_extension: None,
        };
        assert!((confidence(&none, &cand(0.7)) - 0.7).abs() < 1e-9);
        let layer = Context {
            layers: &[5],
            workflows: &[],
            file_extension: None,
        };
        assert!((confidence(&layer, &cand(0.7)) - 0.84).abs() < 1e-9);
        let wf = vec!["migration".to_string(), "review".to_string()];
        let pat_wf = vec!["migration".to_string()];
        let c = Candidate {
            workflows: &pat_wf,
            ..cand(0.7)
        };
        let ctx = Context {
            layers: &[],
            workflows: &wf,
            file_extension: None,
        };
        assert!((confidence(&ctx, &c) - 0.7 * 1.15).abs() < 1e-9);
        let proven = Candidate {
            applied_count: 4,
            success_rate: Some(1.0),
            ..cand(0.7)
        };
        assert!((confidence(&none, &proven) - 0.77).abs() < 1e-9);
        let failing = Candidate {
            applied_count: 4,
            success_rate: Some(0.0),
            ..cand(0.7)
        };
        assert!((confidence(&none, &failing) - 0.63).abs() < 1e-9);
        let ft = vec!["sql".to_string()];
        let typed = Candidate {
            file_types: &ft,
            ..cand(0.7)
        };
        let ext = Context {
            layers: &[],
            workflows: &[],
            file_extension: Some(".sql"),
        };
        assert!((confidence(&ext, &typed) - 0.77).abs() < 1e-9);
        // capped
        let all = Context {
            layers: &[5],
            workflows: &[],
            file_extension: Some("sql"),
        };
        assert_eq!(
            confidence(
                &all,
                &Candidate {
                    file_types: &ft,
                    ..cand(0.95)
                }
            ),
            1.0
        );
    }
}
