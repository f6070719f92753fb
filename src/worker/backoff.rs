//! Units of the worker's work that fail (the catalog refresh without its model, a snapshot
//! without pg_stat_statements): each is tried again, and reported, once per period, the period
//! doubling from a minute to an hour; a unit that works again is forgotten. Pure: the caller
//! gives the time.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Failing {
    next_try: Instant,
    period: Duration,
    message: String,
}

pub struct Backoff {
    first: Duration,
    max: Duration,
    units: BTreeMap<&'static str, Failing>,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            units: BTreeMap::new(),
        }
    }

    /// Whether `unit` may run now: it is not failing, or its next try has come.
    pub fn due(&self, unit: &str, now: Instant) -> bool {
        self.units.get(unit).is_none_or(|f| now >= f.next_try)
    }

    /// Records a failure; returns how long until the next try (the caller reports it once).
    pub fn failed(&mut self, unit: &'static str, message: &str, now: Instant) -> Duration {
        let (first, max) = (self.first, self.max);
        let f = self.units.entry(unit).or_insert(Failing {
            next_try: now,
            period: first,
            message: String::new(),
        });
        let wait = f.period;
        f.next_try = now + wait;
        f.period = (wait * 2).min(max);
        f.message = message.to_string();
        wait
    }

    /// Records a success; returns whether the unit had been failing.
    pub fn succeeded(&mut self, unit: &str) -> bool {
        self.units.remove(unit).is_some()
    }

    /// What fails, for `ai.version()`: one line per unit, None when nothing does.
    pub fn summary(&self, now: Instant) -> Option<String> {
        (!self.units.is_empty()).then(|| {
            self.units
                .iter()
                .map(|(u, f)| {
                    format!(
                        "{u} failing: {} (next try in {} s)",
                        f.message,
                        f.next_try.saturating_duration_since(now).as_secs()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit failing every time it runs, over a day with a wake-up every 10 s: it runs (and
    /// is reported) at 0, 1, 3, 7, 15, 31, 63 minutes, then hourly — never twice in a period.
    #[test]
    fn a_failing_unit_is_tried_and_reported_less_and_less_often() {
        let (first, max) = (Duration::from_secs(60), Duration::from_secs(3600));
        let mut b = Backoff::new(first, max);
        let t0 = Instant::now();
        let mut reports = Vec::new();
        for tick in 0..(86_400 / 10) {
            let now = t0 + Duration::from_secs(tick * 10);
            if b.due("catalog refresh", now) {
                b.failed("catalog refresh", "the model is missing", now);
                reports.push(now.duration_since(t0).as_secs());
            }
        }
        assert_eq!(&reports[..7], &[0, 60, 180, 420, 900, 1860, 3780]);
        assert!(reports.windows(2).all(|w| w[1] - w[0] >= 60));
        assert!(reports[7..].windows(2).all(|w| w[1] - w[0] == 3600));
        assert!(reports.len() <= 7 + 24);
        let s = b.summary(t0 + Duration::from_secs(86_400)).unwrap();
        assert!(
            s.starts_with("catalog refresh failing: the model is missing (next try in"),
            "{s}"
        );
        assert!(b.succeeded("catalog refresh"));
        assert!(b.summary(t0).is_none());
        assert!(b.due("catalog refresh", t0));
    }
}
