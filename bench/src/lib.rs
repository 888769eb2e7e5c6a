//! Shared pieces of phonestorm's benchmarks. The benchmarks themselves are
//! binaries under `src/bin/`, run by `just bench`; their figures and the
//! commands that produce them are written down in `bench/README.md`.
//! Benchmarks are not tests: nothing here asserts a speed.

use std::time::{Duration, Instant};

/// Trials per operation; each figure is their median.
pub const TRIALS: u32 = 9;

/// The median time per call of `f` over [`TRIALS`] trials sharing about
/// `budget`. On a shared virtual machine a burst from a neighbour can
/// slow one trial by a third; the median leaves such bursts out, which
/// keeps a figure as low as the machine allows (for the floor: the
/// harness run beside it is not spared them, so the ratio errs against the
/// harness).
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock itself
pub fn time<F: FnMut()>(budget: Duration, mut f: F) -> Duration {
    for _ in 0..10 {
        f();
    }
    let mut trials: Vec<Duration> = (0..TRIALS)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u32;
            while start.elapsed() < budget / TRIALS {
                for _ in 0..5 {
                    f();
                }
                n += 5;
            }
            start.elapsed() / n
        })
        .collect();
    trials.sort();
    trials.get(trials.len() / 2).copied().unwrap_or_default()
}

/// The time budget of each timed operation: the first argument, in
/// milliseconds, or one second.
pub fn budget_from_args() -> Duration {
    Duration::from_millis(
        std::env::args()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    )
}
