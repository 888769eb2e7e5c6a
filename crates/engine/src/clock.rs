//! The one place the engine reads the time.
//!
//! Everything reads tokio's clock through [`now`], so tests can pause and
//! advance it (`tokio::time::pause`) and no timing test depends on how
//! fast the machine is. Rate limiters get the same clock through
//! [`TokioClock`], an adapter to governor's clock trait. The wall clock is
//! read only for labels ([`wall_now`]: the start time in an HdrHistogram
//! log header), never to measure.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The current time on tokio's (pausable) clock.
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock now, for labelling a run's start (never for measuring).
#[allow(clippy::disallowed_methods)] // the engine's one wall-clock read
pub fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// governor's view of tokio's clock: time elapsed since an origin.
///
/// governor's own default clock reads the CPU's counter, which paused tokio
/// time cannot move; limiters built on this one follow `tokio::time`.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        TokioClock { origin: now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl governor::clock::Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        now().saturating_duration_since(self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::Clock;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = TokioClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(c.now(), Duration::from_millis(1500));
    }
}
