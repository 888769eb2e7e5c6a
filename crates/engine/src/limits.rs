//! Rate limits: the global sign-in start limiter and per-stage limiters.
//!
//! Both are governor GCRA limiters on [`TokioClock`], so they follow
//! tokio's clock and paused-time tests are exact. A limited phone simply
//! waits; it keeps its intended start, so the wait shows up in its
//! corrected latency (the phone's job, through `StageEvent::intended`).
//! Waiting is polling `check` and sleeping until governor's earliest
//! possible time: no busy loop, and no second timer library.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use phonestorm_phone::{Gate, Stage, event::Wait};

use crate::clock::TokioClock;

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// One rate limit: at most `rate` starts per second, `burst` at once.
#[derive(Debug)]
pub struct RateGate {
    limiter: Limiter,
    clock: TokioClock,
}

impl RateGate {
    /// A limit of `rate` per second with bursts of `burst`; `None` when the
    /// rate is not a positive number or so high no limit would bite.
    pub fn per_second(rate: f64, burst: u32) -> Option<Self> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / rate).ok()?;
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst.max(1))?);
        let clock = TokioClock::new();
        Some(RateGate {
            limiter: RateLimiter::direct_with_clock(quota, clock),
            clock,
        })
    }

    /// Resolves when one more start is allowed (and takes it).
    pub async fn until_ready(&self) {
        loop {
            match self.limiter.check() {
                Ok(()) => return,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
        }
    }
}

/// The per-stage limiters phones await before each attempt
/// (`[limits.stages]`); stages without a limit pass at once.
#[derive(Debug, Default)]
pub struct StageGates {
    gates: Vec<(Stage, RateGate)>,
}

impl StageGates {
    /// Gates for `(stage, attempts per second)`, each with `burst`.
    pub fn new(limits: &[(Stage, f64)], burst: u32) -> Self {
        StageGates {
            gates: limits
                .iter()
                .filter_map(|(s, r)| RateGate::per_second(*r, burst).map(|g| (*s, g)))
                .collect(),
        }
    }
}

impl Gate for StageGates {
    fn wait(&self, stage: Stage) -> Wait<'_> {
        let gate = self.gates.iter().find(|(s, _)| *s == stage).map(|(_, g)| g);
        Box::pin(async move {
            if let Some(g) = gate {
                g.until_ready().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now;

    #[tokio::test(start_paused = true)]
    async fn sequential_waits_follow_the_rate() {
        let g = RateGate::per_second(10.0, 1).unwrap();
        let t0 = now();
        for _ in 0..21 {
            g.until_ready().await;
        }
        // The first passes at once, then one per 100 ms.
        assert_eq!(now() - t0, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn burst_passes_at_once_then_the_rate_holds() {
        let g = RateGate::per_second(5.0, 5).unwrap();
        let t0 = now();
        for _ in 0..5 {
            g.until_ready().await;
        }
        assert_eq!(now(), t0);
        g.until_ready().await;
        assert_eq!(now() - t0, Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_all_let_through_at_the_rate() {
        let g = std::sync::Arc::new(RateGate::per_second(20.0, 1).unwrap());
        let t0 = now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let g = g.clone();
            set.spawn(async move {
                g.until_ready().await;
                now()
            });
        }
        let mut ends = Vec::new();
        while let Some(t) = set.join_next().await {
            ends.push(t.unwrap() - t0);
        }
        ends.sort();
        assert_eq!(ends.len(), 40);
        assert!(ends[39] >= Duration::from_millis(1950), "{:?}", ends[39]);
        assert!(ends[39] <= Duration::from_millis(2100), "{:?}", ends[39]);
        // Never more than the rate allows in any prefix.
        for (i, t) in ends.iter().enumerate() {
            assert!(*t >= Duration::from_millis(50) * u32::try_from(i).unwrap());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stage_gates_hold_only_their_stage() {
        let gates = StageGates::new(&[(Stage::Certificate, 2.0)], 1);
        let t0 = now();
        gates.wait(Stage::Certificate).await;
        for _ in 0..10 {
            gates.wait(Stage::Register).await;
        }
        assert_eq!(now(), t0);
        gates.wait(Stage::Certificate).await;
        assert_eq!(now() - t0, Duration::from_millis(500));
    }

    #[test]
    fn nonsense_rates_give_no_gate() {
        assert!(RateGate::per_second(0.0, 1).is_none());
        assert!(RateGate::per_second(f64::NAN, 1).is_none());
        assert!(RateGate::per_second(-1.0, 1).is_none());
        assert!(RateGate::per_second(1e30, 1).is_none());
    }
}
