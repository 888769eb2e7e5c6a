//! The live progress line (indicatif), off unless asked for.
//!
//! It only reads [`Recording::snapshot`]; it never changes what is
//! recorded. Tests run without it.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::record::{Recording, Snapshot};

/// Draws the progress line every `every` until `done` is cancelled.
pub async fn show(recording: Arc<Recording>, every: Duration, done: CancellationToken) {
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
        bar.set_message(format!(
            "{} | {:.1} sign-ins/s",
            now.line(),
            now.signin_rate_since(&last)
        ));
        last = now;
    }
    bar.finish_and_clear();
}
