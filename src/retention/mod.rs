//! Bounded state: what ai_architect keeps of its own history, and for how long. Finished
//! approval requests, row backups, questions asked, conversations and audit runs are removed
//! once their settings say so (`ai_architect.request_retention`, `rollback_window`,
//! `usage_retention`, `chat_retention`, `snapshot_retention`); the audit chain never is.
//! [`sweep::sweep`] runs in `ai.run_audit()` and in the background worker.
//!
//! This file holds the rule that decides which requests go, without PostgreSQL.
pub mod sweep;

/// States a request never leaves.
pub const FINAL_STATES: [&str; 6] = [
    "rejected",
    "expired",
    "cancelled",
    "executed",
    "failed",
    "rolled_back",
];

/// The retention settings, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub request_retention_s: f64,
    pub rollback_window_s: f64,
}

/// What the rule needs to know of one approval request.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub id: i64,
    pub state: String,
    /// Seconds since its last change: created, decided, executed or rolled back.
    pub idle_s: f64,
    /// Seconds since its newest execution that succeeded and was not rolled back, if any:
    /// inside the rollback window that execution can still be undone from its backup.
    pub undoable_since_s: Option<f64>,
    /// A request to roll one of its executions back is still pending or approved.
    pub rollback_asked: bool,
}

/// Whether a request (its approvals, executions and backups with it) may be removed: it is
/// finished, idle for longer than the retention, no execution of it can still be rolled back,
/// and nobody has asked for such a rollback.
pub fn removable(f: &RequestFacts, s: &Settings) -> bool {
    FINAL_STATES.contains(&f.state.as_str())
        && f.idle_s >= s.request_retention_s
        && !f.rollback_asked
        && f.undoable_since_s
            .is_none_or(|age| age >= s.rollback_window_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn secs(rng: &mut Rng) -> f64 {
        rng.below(200 * 86_400) as f64
    }

    /// Every state a request can be in.
    fn states() -> Vec<&'static str> {
        ["pending", "approved"]
            .into_iter()
            .chain(FINAL_STATES)
            .collect()
    }

    fn facts(rng: &mut Rng) -> RequestFacts {
        RequestFacts {
            id: 1,
            state: {
                let all = states();
                all[rng.below(all.len() as u64) as usize].into()
            },
            idle_s: secs(rng),
            undoable_since_s: (rng.next() % 2 == 0).then(|| secs(rng)),
            rollback_asked: rng.next() % 5 == 0,
        }
    }

    #[test]
    fn what_a_rollback_needs_is_never_removable() {
        let mut rng = Rng(0x5eed_7e7e_0000_0001);
        for _ in 0..100_000 {
            let s = Settings {
                request_retention_s: secs(&mut rng),
                rollback_window_s: secs(&mut rng),
            };
            let f = facts(&mut rng);
            if removable(&f, &s) {
                assert!(FINAL_STATES.contains(&f.state.as_str()), "{f:?}");
                assert!(f.idle_s >= s.request_retention_s, "{f:?} {s:?}");
                assert!(!f.rollback_asked, "{f:?}");
                if let Some(age) = f.undoable_since_s {
                    assert!(age >= s.rollback_window_s, "{f:?} {s:?}");
                }
                // older is removable too: the rule is monotone in time
                let older = RequestFacts {
                    idle_s: f.idle_s + 1.0,
                    undoable_since_s: f.undoable_since_s.map(|a| a + 1.0),
                    ..f.clone()
                };
                assert!(removable(&older, &s));
            }
        }
    }

    #[test]
    fn a_finished_idle_request_goes() {
        let s = Settings {
            request_retention_s: 100.0,
            rollback_window_s: 50.0,
        };
        let f = |state: &str, idle: f64, undo: Option<f64>, asked: bool| RequestFacts {
            id: 1,
            state: state.into(),
            idle_s: idle,
            undoable_since_s: undo,
            rollback_asked: asked,
        };
        assert!(removable(&f("rejected", 100.0, None, false), &s));
        assert!(removable(&f("executed", 200.0, Some(200.0), false), &s));
        assert!(!removable(&f("executed", 200.0, Some(49.0), false), &s));
        assert!(!removable(&f("executed", 200.0, Some(200.0), true), &s));
        assert!(!removable(&f("pending", 1e9, None, false), &s));
        assert!(!removable(&f("approved", 1e9, None, false), &s));
        assert!(!removable(&f("cancelled", 99.0, None, false), &s));
    }
}
