//! The one place a phone reads time.
//!
//! Monotonic time comes from tokio's clock, so tests can pause it and
//! latencies are measured on one timeline with the engine's schedule.
//! Wall-clock time is only needed on the wire (SNTP timestamps, WS-Security
//! `Created`/`Expires`), and is read here and nowhere else.

use std::time::{Duration, UNIX_EPOCH};

use phonestorm_proto::sntp::NtpTimestamp;
use tokio::time::Instant;

/// Monotonic now, from tokio's (pausable) clock.
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock now as time since the Unix epoch.
#[allow(clippy::disallowed_methods)] // the one permitted wall-clock read
pub fn wall() -> Duration {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Wall-clock now as an NTP timestamp (SNTP T1 and T4). `None` only for a
/// clock outside NTP era 0/1, which the codec cannot represent.
pub fn ntp_now() -> Option<NtpTimestamp> {
    let d = wall();
    let secs = i64::try_from(d.as_secs()).ok()?;
    NtpTimestamp::from_unix(secs, d.subsec_nanos()).ok()
}

/// `xs:dateTime` in UTC, whole seconds, `offset` after now: the form
/// WS-Security timestamps use.
pub fn xs_datetime(offset: Duration) -> String {
    phonestorm_proto::soap::xs_datetime(wall() + offset)
}
