//! The one place the mock Front End reads time.
//!
//! Monotonic time comes from tokio's clock so tests can pause and advance
//! it; wall-clock time (SNTP answers, certificate validity, web-ticket
//! lifetimes) comes from the system clock. Everything else asks here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Monotonic now, from tokio's (pausable) clock.
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Wall-clock now as time since the Unix epoch.
#[allow(clippy::disallowed_methods)] // the one permitted wall-clock read
pub fn wall() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
