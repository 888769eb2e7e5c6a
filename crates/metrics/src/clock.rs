//! The one place this crate reads the time: tokio's (pausable) clock, so
//! tests can pause it.

use tokio::time::Instant;

/// The current time.
pub fn now() -> Instant {
    Instant::now()
}
