//! The run's live measurement: every phone event goes both to the
//! engine's [`Recording`] (the report) and to the Prometheus
//! [`Metrics`] (the live view), and the metrics read the phone gauges back
//! from the recording at scrape time.
//!
//! This module only composes the two; counting belongs to
//! [`crate::record`], exposition and the harness's health to
//! `phonestorm-metrics`.

use std::sync::Arc;

use phonestorm_metrics::health::Summary;
use phonestorm_metrics::{Metrics, PhoneCounts, PhoneSource};
use phonestorm_phone::{Direction, Recorder, Stage, StageEvent};

use crate::clock;
use crate::record::Recording;
use crate::report::Harness;

/// Hands each event to the recording and to the metrics.
#[derive(Debug)]
pub struct Tee {
    recording: Arc<Recording>,
    metrics: Arc<Metrics>,
}

impl Tee {
    /// Both sinks.
    pub fn new(recording: Arc<Recording>, metrics: Arc<Metrics>) -> Self {
        Tee { recording, metrics }
    }
}

impl Recorder for Tee {
    fn record(&self, event: StageEvent) {
        self.metrics.observe(&event);
        self.recording.record(event);
    }

    fn tracing(&self) -> bool {
        self.recording.tracing()
    }

    fn wire(&self, phone: u32, stage: Stage, direction: Direction, text: &str) {
        self.recording.wire(phone, stage, direction, text);
    }

    fn signed_in(&self, phone: u32) {
        self.metrics.signed_in(phone, clock::now());
        self.recording.signed_in(phone);
    }

    fn signed_out(&self, phone: u32) {
        self.recording.signed_out(phone);
    }
}

/// The recording's counts, as the metrics' scrape reads them.
pub struct RecordingSource(pub Arc<Recording>);

impl PhoneSource for RecordingSource {
    fn phone_counts(&self) -> PhoneCounts {
        let s = self.0.snapshot();
        let mut at_stage = [0u64; Stage::ALL.len()];
        for (stage, c) in &s.stages {
            if let Some(slot) = at_stage.get_mut(stage.index()) {
                *slot = c.phones_at;
            }
        }
        PhoneCounts {
            at_stage,
            signed_in_now: s.holding,
            failed: s.failed,
        }
    }
}

/// The report's harness section from the health summary.
pub fn harness(s: &Summary) -> Harness {
    let [p50, p99, max] = s.lag_ms;
    Harness {
        lag_ms_p50: p50,
        lag_ms_p99: p99,
        lag_ms_max: max,
        cpu_user_s: s.cpu.user,
        cpu_system_s: s.cpu.system,
        cores: s.cores as u64,
        saturated: s.verdict.saturated(),
        reason: s.verdict.reason.clone(),
    }
}
