//! The run interval by interval: every interval (1 s of run time unless
//! configured) a snapshot of per-stage interval latencies (corrected and
//! raw), arrivals scheduled / started / completed / failed, phones signed
//! in, and failures by reason.
//!
//! This module owns the timeline's shape and the sampler task that builds
//! it. It does not count: [`Recording`] keeps the interval histograms in
//! its shards and hands them over in [`Recording::take_interval`]; the
//! sampler is the only caller, once per interval, so the phones' path
//! gains no lock. Time is read through [`crate::clock`] (via the
//! recording's snapshot). Rendering is [`crate::html`]'s and
//! [`crate::hdrlog`]'s business; [`crate::bottleneck`] reads it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use phonestorm_phone::Stage;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::clock;
use crate::record::{IntervalTake, Recording, Snapshot};
use crate::report::{Latencies, Latency};

/// The interval when none is configured.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One stage (or the whole sign-in) over one interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IntervalStage {
    /// Attempts that succeeded and ended in the interval.
    pub ok: u64,
    /// Attempts that failed in the interval.
    pub failed: u64,
    /// Of those, the ones this machine ran short for (reasons `local_*`):
    /// they say nothing about the pool.
    #[serde(default)]
    pub local: u64,
    /// Latency of the successful ones.
    pub latency_ms: Latencies,
    /// The corrected histogram (microseconds), V2-deflate encoded, for
    /// the HdrHistogram log. Not in the JSON: the log is its format.
    #[serde(skip)]
    pub hdr: Vec<u8>,
}

impl IntervalStage {
    fn from_take(take: &IntervalTake, serializer: &mut V2DeflateSerializer) -> Self {
        let lat = |h: &Option<Histogram<u64>>| {
            h.as_ref()
                .map_or_else(Latency::default, Latency::from_micros)
        };
        let mut hdr = Vec::new();
        if let Some(h) = take.corrected.as_ref().filter(|h| !h.is_empty()) {
            // Encoding into memory fails only on a histogram too large to
            // describe; then the log misses an interval, not the run.
            if serializer.serialize(h, &mut hdr).is_err() {
                hdr.clear();
            }
        }
        IntervalStage {
            ok: take.ok(),
            failed: take.failed(),
            local: take
                .failures
                .iter()
                .filter(|(k, _)| k.is_local())
                .map(|(_, n)| n)
                .sum(),
            latency_ms: Latencies {
                corrected: lat(&take.corrected),
                raw: lat(&take.raw),
            },
            hdr,
        }
    }

    /// Attempts that ended in the interval.
    pub fn ended(&self) -> u64 {
        self.ok + self.failed
    }
}

/// The run over one interval. Counts are of events in the interval, except
/// `holding` (a level at its end).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Interval {
    /// Run time at the interval's start, seconds.
    pub start_s: f64,
    /// Run time at its end, seconds.
    pub end_s: f64,
    /// Arrivals the schedule intended in the interval.
    pub scheduled: u64,
    /// Phones started (let go by the limits).
    pub started: u64,
    /// Phones that signed in (completed).
    pub signed_in: u64,
    /// Phones that ended without signing in.
    pub failed: u64,
    /// Phones signed in and holding at the interval's end.
    pub holding: u64,
    /// Failed stage attempts by reason (`timeout`, `http_503`, …).
    pub failures: BTreeMap<String, u64>,
    /// Whole sign-ins completed in the interval.
    pub signin: IntervalStage,
    /// Per stage name; stages with nothing in the interval are left out.
    pub stages: BTreeMap<String, IntervalStage>,
}

impl Interval {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }

    /// Per second over the interval (0 for an empty interval).
    pub fn per_second(&self, n: u64) -> f64 {
        let s = self.seconds();
        if s <= 0.0 { 0.0 } else { n as f64 / s }
    }

    /// The interval's figures for `stage`, if it saw any.
    pub fn stage(&self, stage: Stage) -> Option<&IntervalStage> {
        self.stages.get(stage.name())
    }
}

/// The run, interval by interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// The configured interval, seconds.
    pub interval_s: f64,
    /// Wall-clock start of the run, seconds since the Unix epoch (a label
    /// for the HdrHistogram log; every time in the timeline is run time).
    pub start_unix_s: f64,
    /// The intervals in order; the last may be shorter.
    pub intervals: Vec<Interval>,
}

/// Builds intervals from a recording: counts are differences of the
/// recording's running totals, histograms are taken from its shards.
pub struct Sampler {
    recording: Arc<Recording>,
    /// Intended arrivals from the run's start, sorted.
    offsets: Vec<Duration>,
    last: Snapshot,
    serializer: V2DeflateSerializer,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// A sampler of `recording`, whose schedule intends arrivals at
    /// `offsets` from the run's start.
    pub fn new(recording: Arc<Recording>, offsets: &[Duration]) -> Self {
        let mut offsets = offsets.to_vec();
        offsets.sort_unstable();
        Sampler {
            recording,
            offsets,
            last: Snapshot::default(),
            serializer: V2DeflateSerializer::new(),
        }
    }

    fn scheduled_before(&self, t: Duration) -> u64 {
        u64::try_from(self.offsets.partition_point(|o| *o < t)).unwrap_or(u64::MAX)
    }

    /// Closes the current interval now and returns it.
    pub fn sample(&mut self) -> Interval {
        let now = self.recording.snapshot();
        let (stages, signin) = self.recording.take_interval();
        let last = std::mem::replace(&mut self.last, now);
        let now = &self.last;
        let mut failures = BTreeMap::new();
        let mut by_stage = BTreeMap::new();
        for (stage, take) in &stages {
            for (kind, n) in &take.failures {
                *failures.entry(kind.to_string()).or_insert(0) += n;
            }
            let s = IntervalStage::from_take(take, &mut self.serializer);
            if s.ended() > 0 {
                by_stage.insert(stage.name().to_owned(), s);
            }
        }
        Interval {
            start_s: last.at.as_secs_f64(),
            end_s: now.at.as_secs_f64(),
            scheduled: self
                .scheduled_before(now.at)
                .saturating_sub(self.scheduled_before(last.at)),
            started: now.started.saturating_sub(last.started),
            signed_in: now.signed_in.saturating_sub(last.signed_in),
            failed: now.failed.saturating_sub(last.failed),
            holding: now.holding,
            failures,
            signin: IntervalStage::from_take(&signin, &mut self.serializer),
            stages: by_stage,
        }
    }
}

/// Samples `recording` every `every` of run time until `done` fires, then
/// closes the last (partial) interval and returns the timeline.
/// `started_at` is the run's wall-clock start, a label only.
pub async fn sample_until(
    recording: Arc<Recording>,
    offsets: Vec<Duration>,
    every: Duration,
    started_at: SystemTime,
    done: CancellationToken,
) -> Timeline {
    let every = every.max(Duration::from_millis(10));
    let mut sampler = Sampler::new(recording, &offsets);
    let mut intervals = Vec::new();
    let mut tick = tokio::time::interval_at(clock::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = done.cancelled() => break,
            _ = tick.tick() => intervals.push(sampler.sample()),
        }
    }
    let last = sampler.sample();
    if last.seconds() > 0.0 || intervals.is_empty() {
        intervals.push(last);
    }
    Timeline {
        interval_s: every.as_secs_f64(),
        start_unix_s: started_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64(),
        intervals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonestorm_phone::{Failure, FailureKind, Outcome, Recorder, StageEvent};

    #[tokio::test(start_paused = true)]
    async fn intervals_count_events_where_they_happened() {
        let t0 = clock::now();
        let rec = Arc::new(Recording::new(4, t0, None));
        rec.set_scheduled(4);
        let offsets: Vec<Duration> = (0..4).map(|i| Duration::from_millis(500 * i)).collect();
        let done = CancellationToken::new();
        let task = tokio::spawn(sample_until(
            rec.clone(),
            offsets,
            Duration::from_secs(1),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            done.clone(),
        ));
        // Interval 0: phones 0 and 1 start; 0 signs in through dns only.
        rec.phone_started(0, t0, t0);
        rec.phone_started(1, t0, t0);
        let ev = |phone, outcome, ms: u64| StageEvent {
            phone,
            stage: Stage::Dns,
            attempt: 0,
            intended: t0,
            started: t0,
            ended: t0 + Duration::from_millis(ms),
            outcome,
        };
        for stage in Stage::ALL {
            rec.record(StageEvent {
                stage,
                ..ev(0, Outcome::Ok, 40)
            });
        }
        rec.signed_in(0);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Interval 1: phone 1 fails on a timeout.
        rec.record(ev(
            1,
            Outcome::Failed(Failure::new(FailureKind::Timeout, "")),
            10,
        ));
        rec.phone_finished(1);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        done.cancel();
        let tl = task.await.unwrap();
        assert_eq!(tl.interval_s, 1.0);
        assert_eq!(tl.start_unix_s, 1_700_000_000.0);
        // Ticks at 1 s and 2 s, and the partial interval to 2.5 s.
        assert_eq!(tl.intervals.len(), 3, "{tl:?}");
        let [a, b, c] = [&tl.intervals[0], &tl.intervals[1], &tl.intervals[2]];
        assert_eq!((a.start_s, a.end_s), (0.0, 1.0));
        assert_eq!(
            (a.scheduled, a.started, a.signed_in, a.holding),
            (2, 2, 1, 1)
        );
        assert_eq!(a.stage(Stage::Dns).unwrap().ok, 1);
        assert_eq!(a.signin.ok, 1);
        assert!(!a.stage(Stage::Dns).unwrap().hdr.is_empty());
        assert!((a.stage(Stage::Dns).unwrap().latency_ms.corrected.max - 40.0).abs() < 0.1);
        assert_eq!((b.scheduled, b.failed), (2, 1));
        assert_eq!(b.failures.get("timeout"), Some(&1));
        assert_eq!(b.stage(Stage::Dns).unwrap().failed, 1);
        assert!(c.stages.is_empty());
        assert_eq!(c.end_s, 2.5);
    }
}
