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

    fn went_on(&self, phone: u32, stage: Stage) {
        self.recording.went_on(phone, stage);
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
        // /proc counts in hundredths: no more digits than that.
        cpu_user_s: (s.cpu.user * 100.0).round() / 100.0,
        cpu_system_s: (s.cpu.system * 100.0).round() / 100.0,
        cores: s.cores as u64,
        saturated: s.verdict.saturated(),
        reason: s.verdict.reason.clone(),
        // The run fills these in from its recording.
        local_failures: Default::default(),
        mock_accept_shortages: 0,
        open_files_limit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonestorm_phone::{Failure, FailureKind, Outcome};
    use std::time::Duration;
    use tokio::time::Instant;

    fn event(phone: u32, stage: Stage, t0: Instant, ms: u64, outcome: Outcome) -> StageEvent {
        StageEvent {
            phone,
            stage,
            attempt: 0,
            intended: t0,
            started: t0,
            ended: t0 + Duration::from_millis(ms),
            outcome,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tee_feeds_both_and_the_source_reads_the_recording() {
        let t0 = clock::now();
        let rec = Arc::new(Recording::new(2, t0, None));
        let m = Arc::new(Metrics::new(2).unwrap());
        m.set_source(Arc::new(RecordingSource(rec.clone())));
        let tee = Tee::new(rec.clone(), m.clone());
        for p in 0..2 {
            rec.phone_started(p, t0, t0);
            m.arrival(p, t0, t0, Duration::ZERO);
        }
        for st in Stage::ALL {
            tee.record(event(0, st, t0, 10, Outcome::Ok));
        }
        tee.record(event(
            1,
            Stage::Vlan,
            t0,
            10,
            Outcome::Failed(Failure::new(FailureKind::Timeout, "")),
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        tee.signed_in(0);
        let page = String::from_utf8(m.render()).unwrap();
        assert!(page.contains("phonestorm_signins_total 1\n"), "{page}");
        assert!(page.contains("phonestorm_phones_signed_in 1\n"), "{page}");
        assert!(
            page.contains("phonestorm_phones_at_stage{stage=\"vlan\"} 1\n"),
            "{page}"
        );
        assert!(
            page.contains("phonestorm_stage_failures_total{reason=\"timeout\",stage=\"vlan\"} 1\n"),
            "{page}"
        );
        // Phone 1 goes on without the vlan stage: the live view moves it.
        tee.went_on(1, Stage::Vlan);
        let page = String::from_utf8(m.render()).unwrap();
        for (stage, n) in [("vlan", 0), ("dhcp", 1)] {
            let line = format!("phonestorm_phones_at_stage{{stage=\"{stage}\"}} {n}\n");
            assert!(page.contains(&line), "{line}{page}");
        }
        let r = rec.report(crate::report::Ending::Completed, Duration::from_secs(1));
        assert_eq!(r.phones.registered, 1);
        assert_eq!(r.stages.get(Stage::Vlan).unwrap().failed, 1);
        let h = harness(&m.health().summary());
        assert!(h.cores >= 1 && !h.saturated, "{h:?}");
    }

    /// What the live metrics add to each event: the same load as
    /// `record::tests::record_throughput`, through the recording alone and
    /// through the tee. Figures in bench/README.md.
    #[test]
    #[ignore = "a measurement, not a check; run with --release --ignored --nocapture"]
    fn tee_throughput() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let t0 = rt.block_on(async { clock::now() });
        let threads = 4u32;
        let per = 250_000u32;
        let load = |sink: Arc<dyn Recorder>| {
            let start = clock::now();
            std::thread::scope(|s| {
                for th in 0..threads {
                    let sink = sink.clone();
                    s.spawn(move || {
                        for i in 0..per {
                            let st = Stage::ALL[(i as usize) % 9];
                            let outcome = if i % 100 == 99 {
                                Outcome::Failed(Failure::new(FailureKind::HttpStatus(503), ""))
                            } else {
                                Outcome::Ok
                            };
                            sink.record(event(
                                th * 250 + i % 250,
                                st,
                                t0,
                                u64::from(i % 5000),
                                outcome,
                            ));
                        }
                    });
                }
            });
            start.elapsed().as_nanos() as f64 / (f64::from(per) * f64::from(threads))
        };
        let mut alone = f64::MAX;
        let mut teed = f64::MAX;
        // Best of three each, interleaved, so a neighbour's burst of work
        // on a shared machine does not land on one side only.
        for _ in 0..3 {
            alone = alone.min(load(Arc::new(Recording::new(1000, t0, None))));
            let rec = Arc::new(Recording::new(1000, t0, None));
            let m = Arc::new(Metrics::new(1000).unwrap());
            teed = teed.min(load(Arc::new(Tee::new(rec, m))));
        }
        println!(
            "recording alone {alone:.0} ns/event; with live metrics {teed:.0} ns/event; \
             metrics add {:.0} ns/event",
            teed - alone
        );
    }
}
