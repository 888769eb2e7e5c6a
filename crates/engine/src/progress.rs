//! The live progress line (indicatif), off unless asked for.
//!
//! It only reads [`Recording::snapshot`] and the harness's live health
//! verdict; it never changes what is recorded. Tests run without it.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use phonestorm_metrics::Metrics;
use tokio_util::sync::CancellationToken;

use crate::record::{Recording, Snapshot};

/// Draws the progress line every `every` until `done` is cancelled; with
/// `metrics`, it ends with the harness's health verdict, so a saturated
/// harness is said plainly while the run goes.
pub async fn show(
    recording: Arc<Recording>,
    metrics: Option<Arc<Metrics>>,
    every: Duration,
    done: CancellationToken,
) {
    let first = recording.snapshot();
    let bar = ProgressBar::new(first.scheduled);
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let mut last: Snapshot = first;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = recording.snapshot();
        bar.set_length(now.scheduled);
        bar.set_position(now.signed_in + now.failed);
        let health = metrics
            .as_ref()
            .map(|m| format!(" | {}", m.health().live().line()))
            .unwrap_or_default();
        bar.set_message(format!(
            "{} | {:.1} sign-ins/s{health}",
            now.line(),
            now.signin_rate_since(&last)
        ));
        last = now;
    }
    bar.finish_and_clear();
}
