//! The abort rule: stop a run early when too many sign-ins fail.
//!
//! A sliding window of sign-in outcomes (signed in, or gave up) over the
//! last `window` of run time, in fixed ticks so memory stays bounded
//! whatever the rate. [`AbortRule::verdict`] is pure; the run's watcher
//! feeds it from the recorder's window every tick.

use std::collections::VecDeque;
use std::time::Duration;

/// When to stop a run early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbortRule {
    /// Stop when more than this share of sign-ins in the window failed
    /// (0 to 1).
    pub fail_rate: f64,
    /// How far back the window reaches.
    pub window: Duration,
    /// Do not judge a window holding fewer sign-in outcomes than this.
    pub min_samples: u64,
}

impl AbortRule {
    /// The rule a run against a real pool gets when its scenario has no
    /// `[abort]`: issue 4's example, over 20% of sign-ins failing over 30 s,
    /// so that a test against a production pool stops itself when the pool
    /// is failing hard. `[abort]` with `fail_rate = 1` turns it off.
    pub const FOR_A_POOL: AbortRule = AbortRule {
        fail_rate: 0.2,
        window: Duration::from_secs(30),
        min_samples: 20,
    };

    /// One line saying when a run stops, for the person starting it.
    pub fn describe(&self) -> String {
        if self.fail_rate >= 1.0 {
            return "no abort rule (abort.fail_rate = 1)".into();
        }
        // As many decimals as the share has, up to three: 0.005 is 0.5%,
        // not a rounded 1%.
        let percent = format!("{:.3}", self.fail_rate * 100.0);
        let percent = percent.trim_end_matches('0').trim_end_matches('.');
        format!(
            "stops early if more than {percent}% of sign-ins fail over {} (at least {} outcomes)",
            humantime::format_duration(self.window),
            self.min_samples
        )
    }

    /// Why the run should stop, given the window's `ok` and `failed`
    /// sign-ins; `None` to carry on.
    pub fn verdict(&self, ok: u64, failed: u64) -> Option<String> {
        let total = ok.saturating_add(failed);
        if total == 0 || total < self.min_samples {
            return None;
        }
        let rate = failed as f64 / total as f64;
        (rate > self.fail_rate).then(|| {
            format!(
                "{:.1}% of sign-ins failed over the last {} ({failed} of {total}); the abort limit is {:.1}%",
                rate * 100.0,
                humantime::format_duration(self.window),
                self.fail_rate * 100.0
            )
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tick: u64,
    ok: u64,
    failed: u64,
}

/// Sign-in outcomes over the last `width` of run time.
#[derive(Debug, Clone)]
pub struct Window {
    tick: Duration,
    ticks: u64,
    buckets: VecDeque<Bucket>,
}

impl Window {
    /// A window `width` long, kept in about 30 ticks.
    pub fn new(width: Duration) -> Self {
        let tick = (width / 30).max(Duration::from_millis(10));
        let ticks = (width.as_nanos() / tick.as_nanos().max(1)).max(1);
        Window {
            tick,
            ticks: u64::try_from(ticks).unwrap_or(u64::MAX),
            buckets: VecDeque::new(),
        }
    }

    fn tick_of(&self, at: Duration) -> u64 {
        u64::try_from(at.as_nanos() / self.tick.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    /// Records one outcome at `at` (run time).
    pub fn push(&mut self, at: Duration, ok: bool) {
        let tick = self.tick_of(at);
        match self.buckets.back_mut() {
            Some(b) if b.tick == tick => {
                if ok {
                    b.ok += 1;
                } else {
                    b.failed += 1;
                }
            }
            _ => self.buckets.push_back(Bucket {
                tick,
                ok: u64::from(ok),
                failed: u64::from(!ok),
            }),
        }
        self.trim(tick);
    }

    fn trim(&mut self, now_tick: u64) {
        let oldest = now_tick.saturating_sub(self.ticks.saturating_sub(1));
        while self.buckets.front().is_some_and(|b| b.tick < oldest) {
            self.buckets.pop_front();
        }
    }

    /// `(ok, failed)` within the window ending at `now` (run time).
    pub fn counts(&mut self, now: Duration) -> (u64, u64) {
        let tick = self.tick_of(now);
        self.trim(tick);
        self.buckets
            .iter()
            .fold((0, 0), |(o, f), b| (o + b.ok, f + b.failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_default_says_when_it_stops() {
        assert_eq!(
            AbortRule::FOR_A_POOL.describe(),
            "stops early if more than 20% of sign-ins fail over 30s (at least 20 outcomes)"
        );
        let strict = AbortRule {
            fail_rate: 0.005,
            ..AbortRule::FOR_A_POOL
        };
        assert!(
            strict
                .describe()
                .starts_with("stops early if more than 0.5% of")
        );
        // 5 failed of 20: over 20%.
        assert!(AbortRule::FOR_A_POOL.verdict(15, 5).is_some());
        assert!(AbortRule::FOR_A_POOL.verdict(16, 4).is_none());
    }

    fn rule() -> AbortRule {
        AbortRule {
            fail_rate: 0.2,
            window: Duration::from_secs(30),
            min_samples: 10,
        }
    }

    #[test]
    fn verdict_needs_min_samples() {
        assert_eq!(rule().verdict(0, 9), None);
        assert!(rule().verdict(0, 10).is_some());
    }

    #[test]
    fn verdict_trips_only_above_the_rate() {
        assert_eq!(rule().verdict(80, 20), None);
        let why = rule().verdict(79, 21).unwrap();
        assert!(
            why.starts_with("21.0% of sign-ins failed over the last 30s (21 of 100)"),
            "{why}"
        );
    }

    #[test]
    fn window_forgets_old_outcomes() {
        let mut w = Window::new(Duration::from_secs(30));
        for s in 0..10 {
            w.push(Duration::from_secs(s), false);
        }
        w.push(Duration::from_secs(35), true);
        // Failures at 0..5 s are older than 30 s at 35 s.
        let (ok, failed) = w.counts(Duration::from_secs(35));
        assert_eq!(ok, 1);
        assert_eq!(failed, 4);
        assert_eq!(w.counts(Duration::from_secs(100)), (0, 0));
    }

    #[test]
    fn window_memory_is_bounded() {
        let mut w = Window::new(Duration::from_secs(30));
        for ms in 0..100_000u64 {
            w.push(Duration::from_millis(ms * 7), ms % 2 == 0);
        }
        assert!(w.buckets.len() <= 31, "{}", w.buckets.len());
    }
}
