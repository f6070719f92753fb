//! The rules of the approval workflow in plain Rust: states and their transitions, who may
//! decide, when a request has enough approvals, and when the rows an execution would touch
//! drifted too far from what was approved.
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    /// a statement that runs outside a transaction block, under way in the executor's
    /// background worker
    Running,
    Rejected,
    Expired,
    Cancelled,
    Executed,
    Failed,
    RolledBack,
}

impl State {
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "pending" => State::Pending,
            "approved" => State::Approved,
            "running" => State::Running,
            "rejected" => State::Rejected,
            "expired" => State::Expired,
            "cancelled" => State::Cancelled,
            "executed" => State::Executed,
            "failed" => State::Failed,
            "rolled_back" => State::RolledBack,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Running => "running",
            State::Rejected => "rejected",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
            State::Executed => "executed",
            State::Failed => "failed",
            State::RolledBack => "rolled_back",
        }
    }

    /// pending and approved requests expire; every other state is final or past execution
    pub fn effective(self, past_expiry: bool) -> State {
        match self {
            State::Pending | State::Approved if past_expiry => State::Expired,
            s => s,
        }
    }

    /// The transitions the workflow allows.
    pub fn may_become(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (Pending, Approved | Rejected | Expired | Cancelled)
                | (Approved, Executed | Failed | Expired | Cancelled | Running)
                | (Running, Executed | Failed)
                | (Executed, RolledBack)
                // the batches a batched statement did before one failed
                | (Failed, RolledBack)
        )
    }
}

/// What the policy asks of one risk level.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub required: u32,
    pub role: Option<String>,
    pub tolerance_pct: f64,
    pub allow_irreversible: bool,
    /// a rollback of an execution at this level needs its own approved request
    pub rollback_needs_approval: bool,
}

/// The next risk level up, for an escalation.
pub fn escalated(level: &str) -> &'static str {
    match level {
        "LOW" => "MEDIUM",
        "MEDIUM" => "HIGH",
        _ => "CRITICAL",
    }
}

/// Tables whose rows to touch moved beyond the tolerance since the approval: (table, then, now).
pub fn drift(
    approved: &BTreeMap<String, i64>,
    now: &BTreeMap<String, i64>,
    tolerance_pct: f64,
) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    let tables: std::collections::BTreeSet<&String> = approved.keys().chain(now.keys()).collect();
    for t in tables {
        let (a, n) = (*approved.get(t).unwrap_or(&0), *now.get(t).unwrap_or(&0));
        let allowed = (a as f64 * tolerance_pct / 100.0).floor();
        if ((n - a).abs() as f64) > allowed {
            out.push((t.clone(), a, n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_transitions() {
        assert_eq!(State::parse("rolled_back"), Some(State::RolledBack));
        assert_eq!(State::Pending.effective(true), State::Expired);
        assert_eq!(State::Executed.effective(true), State::Executed);
        assert!(State::Pending.may_become(State::Approved));
        assert!(!State::Rejected.may_become(State::Approved));
        assert!(!State::Pending.may_become(State::Executed));
        assert!(State::Executed.may_become(State::RolledBack));
        assert!(State::Approved.may_become(State::Running));
        assert!(State::Running.may_become(State::Failed));
        assert!(!State::Running.may_become(State::Cancelled));
        assert_eq!(State::Running.effective(true), State::Running);
        assert_eq!(State::parse("running"), Some(State::Running));
        assert_eq!(escalated("MEDIUM"), "HIGH");
        assert_eq!(escalated("CRITICAL"), "CRITICAL");
    }

    #[test]
    fn drift_beyond_tolerance() {
        let a: BTreeMap<String, i64> = [("t".to_string(), 100), ("c".to_string(), 10)].into();
        let same = a.clone();
        assert!(drift(&a, &same, 10.0).is_empty());
        let near: BTreeMap<String, i64> = [("t".to_string(), 109), ("c".to_string(), 11)].into();
        assert!(drift(&a, &near, 10.0).is_empty());
        let far: BTreeMap<String, i64> = [
            ("t".to_string(), 111),
            ("c".to_string(), 10),
            ("x".to_string(), 1),
        ]
        .into();
        assert_eq!(
            drift(&a, &far, 10.0),
            vec![("t".to_string(), 100, 111), ("x".to_string(), 0, 1)]
        );
    }
}
