//! The harness's Prometheus registry: what phones report, fed without a
//! lock on the per-phone path, and what is read at scrape time.
//!
//! Hot path. Every (stage, outcome) histogram and counter child is resolved
//! once, at construction, into arrays indexed by `Stage::index`; an event
//! then costs a few relaxed atomic adds (the prometheus crate's histograms
//! and counters are atomics), no map, no label lookup, no lock. Failure
//! reasons are bounded so a misbehaving server cannot blow up the series
//! count:
//! - `timeout`, `refused`, `tls`, `parse`, `other`: resolved up front;
//! - `http_NNN` for statuses 100 to 599 and `sip_NNN` for 100 to 699
//!   (the ranges of RFC 9110 section 15 and RFC 3261 section 21): one
//!   lazily-initialised slot per status and stage, so a status seen once
//!   costs one label lookup ever; a status outside the range is
//!   `http_other` / `sip_other`;
//! - `diag_N` for the first [`DIAG_SLOTS`] distinct ms-diagnostics ids of
//!   the run (slots claimed with a compare-and-swap), `diag_other` after.
//!
//! The labels are the ones the report uses (`FailureKind`'s `Display`), so
//! the dashboard and the report name a failure alike.
//!
//! Scrape time. Phones per stage, phones signed in and failed phones are
//! counted by the engine already; [`Metrics::render`] reads them through
//! [`PhoneSource`] instead of keeping a second count per event. The same
//! goes for the CPU time, the runtime's workers and the arrivals due.
//!
//! This module does not serve HTTP ([`crate::serve`]) nor judge health
//! ([`crate::health`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use phonestorm_phone::{FailureKind, Outcome, Shortage, Stage, StageEvent};
use prometheus::{
    Counter, CounterVec, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::time::Instant;

use crate::health::{Health, LAG_BOUND};
use crate::{Result, cpu, names};

/// Latency buckets, seconds: 1 ms to 60 s, about three to a decade, so a
/// 2 ms DNS answer, a 300 ms certificate and a 15 s timeout each land in
/// a bucket of their own scale.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Scheduler lag buckets, seconds: 100 µs to 60 s (a healthy scheduler
/// wakes within a millisecond; [`LAG_BOUND`] is 100 ms).
pub const LAG_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Distinct ms-diagnostics ids given a label of their own per run.
pub const DIAG_SLOTS: usize = 64;

const HTTP_STATUSES: std::ops::RangeInclusive<u16> = 100..=599;
const SIP_STATUSES: std::ops::RangeInclusive<u16> = 100..=699;
const STAGES: usize = Stage::ALL.len();
/// Per-phone slot: intended start, nanoseconds from the origin, plus one.
const UNSET: u64 = 0;
const DONE: u64 = u64::MAX;

/// What the engine knows about its phones, read at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhoneCounts {
    /// Running phones at each stage, in `Stage::ALL` order.
    pub at_stage: [u64; STAGES],
    /// Phones signed in now.
    pub signed_in_now: u64,
    /// Phones that ended without signing in.
    pub failed: u64,
}

/// Where scrape-time phone counts come from (the engine's recording).
pub trait PhoneSource: Send + Sync {
    /// The counts now.
    fn phone_counts(&self) -> PhoneCounts;
}

fn lazy_slots(n: usize) -> Box<[OnceLock<IntCounter>]> {
    (0..n).map(|_| OnceLock::new()).collect()
}

/// Failure reasons without a number: one series each per stage, made at
/// start. Numbered reasons (HTTP, SIP, ms-diagnostics) are bounded below.
const FIXED_REASONS: [FailureKind; 10] = [
    FailureKind::Timeout,
    FailureKind::Refused,
    FailureKind::Tls,
    FailureKind::Parse,
    FailureKind::Local(Shortage::Files),
    FailureKind::Local(Shortage::Ports),
    FailureKind::Local(Shortage::Memory),
    FailureKind::Other,
    FailureKind::AuthRejected,
    FailureKind::BadRspauth,
];

/// The children of one stage, resolved up front.
struct StageSet {
    name: &'static str,
    ok: IntCounter,
    failed: IntCounter,
    skipped: IntCounter,
    retries: IntCounter,
    latency_ok: Histogram,
    latency_failed: Histogram,
    raw_ok: Histogram,
    raw_failed: Histogram,
    /// timeout, refused, tls, parse, other.
    fixed: [IntCounter; FIXED_REASONS.len()],
    http: Box<[OnceLock<IntCounter>]>,
    sip: Box<[OnceLock<IntCounter>]>,
    diag: Box<[OnceLock<IntCounter>]>,
    other: [OnceLock<IntCounter>; 3],
}

/// What [`Metrics::render`] refreshes before each scrape.
struct Scrape {
    source: Option<Arc<dyn PhoneSource>>,
    schedule: Option<(Instant, Arc<[Duration]>)>,
    /// The runtimes the phones run on; empty: the one serving the page.
    runtimes: Vec<tokio::runtime::Handle>,
    phones_at: [IntGauge; STAGES],
    signed_in_now: IntGauge,
    failed: IntCounter,
    scheduled: IntGauge,
    due: IntCounter,
    cpu_user: Counter,
    cpu_system: Counter,
    workers: IntGauge,
    tasks: IntGauge,
    queue: IntGauge,
    saturated_cpu: IntGauge,
    saturated_machine: IntGauge,
    saturated_lag: IntGauge,
}

/// Every harness metric of one run, in its own registry.
pub struct Metrics {
    registry: Registry,
    origin: Instant,
    stages: Box<[StageSet]>,
    failures: IntCounterVec,
    diag_ids: Box<[AtomicU64]>,
    signin: Histogram,
    signins: IntCounter,
    started: IntCounter,
    on_time: IntCounter,
    lag: Histogram,
    phones: Box<[AtomicU64]>,
    health: Health,
    scrape: Mutex<Scrape>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("phones", &self.phones.len())
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_counter(c: &IntCounter, v: u64) {
    // Only `render` writes these, under its lock: a reset and an add are
    // never seen half-done by another scrape.
    c.reset();
    c.inc_by(v);
}

fn set_float_counter(c: &Counter, v: f64) {
    c.reset();
    c.inc_by(v.max(0.0));
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Creates and registers every metric for a run of `phones` phones.
    pub fn new(phones: u32) -> Result<Self> {
        let registry = Registry::new();
        let reg = |c: Box<dyn prometheus::core::Collector>| registry.register(c);
        let hist_vec = |name: &str, help: &str| -> Result<HistogramVec> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                &[names::STAGE, names::OUTCOME],
            )?;
            reg(Box::new(h.clone()))?;
            Ok(h)
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            reg(Box::new(c.clone()))?;
            Ok(c)
        };
        let int_gauge = |name: &str, help: &str| -> Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            reg(Box::new(g.clone()))?;
            Ok(g)
        };
        let int_counter = |name: &str, help: &str| -> Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            reg(Box::new(c.clone()))?;
            Ok(c)
        };

        let latency = hist_vec(
            names::STAGE_LATENCY_SECONDS,
            "Stage attempt latency from its intended start (corrected for coordinated omission).",
        )?;
        let raw = hist_vec(
            names::STAGE_LATENCY_RAW_SECONDS,
            "Stage attempt latency from its actual start.",
        )?;
        let attempts = counter_vec(
            names::STAGE_ATTEMPTS_TOTAL,
            "Stage attempts by outcome.",
            &[names::STAGE, names::OUTCOME],
        )?;
        let retries = counter_vec(
            names::STAGE_RETRIES_TOTAL,
            "Stage attempts that were retries.",
            &[names::STAGE],
        )?;
        let failures = counter_vec(
            names::STAGE_FAILURES_TOTAL,
            "Failed stage attempts by reason.",
            &[names::STAGE, names::REASON],
        )?;
        let fixed_reasons = FIXED_REASONS.map(|k| k.to_string());
        let stages = Stage::ALL
            .iter()
            .map(|s| {
                let n = s.name();
                StageSet {
                    name: n,
                    ok: attempts.with_label_values(&[n, "ok"]),
                    failed: attempts.with_label_values(&[n, "failed"]),
                    skipped: attempts.with_label_values(&[n, "skipped"]),
                    retries: retries.with_label_values(&[n]),
                    latency_ok: latency.with_label_values(&[n, "ok"]),
                    latency_failed: latency.with_label_values(&[n, "failed"]),
                    raw_ok: raw.with_label_values(&[n, "ok"]),
                    raw_failed: raw.with_label_values(&[n, "failed"]),
                    fixed: fixed_reasons
                        .each_ref()
                        .map(|r| failures.with_label_values(&[n, r.as_str()])),
                    http: lazy_slots(HTTP_STATUSES.len()),
                    sip: lazy_slots(SIP_STATUSES.len()),
                    diag: lazy_slots(DIAG_SLOTS),
                    other: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
                }
            })
            .collect();

        let signin = Histogram::with_opts(
            HistogramOpts::new(
                names::SIGNIN_LATENCY_SECONDS,
                "Sign-in latency from the phone's intended arrival to its 200 OK.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        reg(Box::new(signin.clone()))?;
        let lag = Histogram::with_opts(
            HistogramOpts::new(
                names::SCHEDULER_LAG_SECONDS,
                "How late the harness's scheduler woke for each arrival.",
            )
            .buckets(LAG_BUCKETS.to_vec()),
        )?;
        reg(Box::new(lag.clone()))?;
        let signins = int_counter(names::SIGNINS_TOTAL, "Phones signed in.")?;
        let started = int_counter(names::ARRIVALS_STARTED_TOTAL, "Arrivals started.")?;
        let on_time = int_counter(
            names::ARRIVALS_ON_TIME_TOTAL,
            "Arrivals started within 100 ms of their intended start.",
        )?;

        let phones_at_vec = IntGaugeVec::new(
            Opts::new(
                names::PHONES_AT_STAGE,
                "Running phones working on or waiting for each stage.",
            ),
            &[names::STAGE],
        )?;
        reg(Box::new(phones_at_vec.clone()))?;
        let cpu_vec = CounterVec::new(
            Opts::new(
                names::HARNESS_CPU_SECONDS_TOTAL,
                "CPU seconds used by the harness process.",
            ),
            &[names::MODE],
        )?;
        reg(Box::new(cpu_vec.clone()))?;
        let saturated = IntGaugeVec::new(
            Opts::new(
                names::HARNESS_SATURATED,
                "1 when the harness itself is the bottleneck, by reason.",
            ),
            &[names::REASON],
        )?;
        reg(Box::new(saturated.clone()))?;
        let health = Health::for_this_process();
        let cores = int_gauge(names::HARNESS_CORES, "CPU cores the harness may use.")?;
        cores.set(gauge(health.cores() as u64));
        let scrape = Scrape {
            source: None,
            schedule: None,
            runtimes: Vec::new(),
            phones_at: Stage::ALL.map(|s| phones_at_vec.with_label_values(&[s.name()])),
            signed_in_now: int_gauge(names::PHONES_SIGNED_IN, "Phones signed in now.")?,
            failed: int_counter(
                names::PHONES_FAILED_TOTAL,
                "Phones that ended without signing in.",
            )?,
            scheduled: int_gauge(names::ARRIVALS_SCHEDULED, "Phones on the arrival schedule.")?,
            due: int_counter(
                names::ARRIVALS_DUE_TOTAL,
                "Arrivals whose intended start has passed.",
            )?,
            cpu_user: cpu_vec.with_label_values(&["user"]),
            cpu_system: cpu_vec.with_label_values(&["system"]),
            workers: int_gauge(names::HARNESS_WORKERS, "Async runtime worker threads.")?,
            tasks: int_gauge(names::HARNESS_TASKS, "Tasks alive in the async runtime.")?,
            queue: int_gauge(
                names::HARNESS_QUEUE_DEPTH,
                "Tasks waiting in the async runtime's global queue.",
            )?,
            saturated_cpu: saturated.with_label_values(&["cpu"]),
            saturated_machine: saturated.with_label_values(&["machine"]),
            saturated_lag: saturated.with_label_values(&["lag"]),
        };
        Ok(Metrics {
            registry,
            origin: crate::clock::now(),
            stages,
            failures,
            diag_ids: (0..DIAG_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            signin,
            signins,
            started,
            on_time,
            lag,
            phones: (0..phones).map(|_| AtomicU64::new(UNSET)).collect(),
            health,
            scrape: Mutex::new(scrape),
        })
    }

    /// The harness's health.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Where the scrape reads phone counts from.
    pub fn set_source(&self, source: Arc<dyn PhoneSource>) {
        lock(&self.scrape).source = Some(source);
    }

    /// The arrival schedule: intended starts as offsets from `origin`.
    pub fn set_schedule(&self, origin: Instant, offsets: Arc<[Duration]>) {
        let mut s = lock(&self.scrape);
        s.scheduled.set(gauge(offsets.len() as u64));
        s.schedule = Some((origin, offsets));
    }

    /// The runtimes the phones run on (the engine's phone threads), whose
    /// workers, tasks and queues the runtime gauges then add up.
    pub fn set_runtimes(&self, runtimes: Vec<tokio::runtime::Handle>) {
        lock(&self.scrape).runtimes = runtimes;
    }

    /// Phone `phone` started at `started`, meant for `intended`; the
    /// scheduler woke `lag` after it could have.
    pub fn arrival(&self, phone: u32, intended: Instant, started: Instant, lag: Duration) {
        self.started.inc();
        if started.saturating_duration_since(intended) <= LAG_BOUND {
            self.on_time.inc();
        }
        self.lag.observe(lag.as_secs_f64());
        self.health.arrival(lag);
        if let Some(slot) = usize::try_from(phone).ok().and_then(|i| self.phones.get(i)) {
            let ns = intended.saturating_duration_since(self.origin).as_nanos();
            let v = u64::try_from(ns).unwrap_or(DONE - 1).saturating_add(1);
            slot.store(v.min(DONE - 1), Relaxed);
        }
    }

    /// One stage attempt ended.
    pub fn observe(&self, e: &StageEvent) {
        let Some(s) = self.stages.get(e.stage.index()) else {
            return;
        };
        if e.attempt > 0 {
            s.retries.inc();
        }
        let corrected = e.ended.saturating_duration_since(e.intended).as_secs_f64();
        let raw = e.ended.saturating_duration_since(e.started).as_secs_f64();
        match &e.outcome {
            Outcome::Ok => {
                s.ok.inc();
                s.latency_ok.observe(corrected);
                s.raw_ok.observe(raw);
            }
            Outcome::Skipped => s.skipped.inc(),
            Outcome::Failed(f) => {
                s.failed.inc();
                s.latency_failed.observe(corrected);
                s.raw_failed.observe(raw);
                if let Some(c) = self.reason(s, f.kind) {
                    c.inc();
                }
            }
        }
    }

    /// Phone `phone` signed in at `now`: its sign-in latency is observed
    /// once (a second call for the same phone is ignored).
    pub fn signed_in(&self, phone: u32, now: Instant) {
        let Some(slot) = usize::try_from(phone).ok().and_then(|i| self.phones.get(i)) else {
            return;
        };
        let v = slot.swap(DONE, Relaxed);
        if v == UNSET || v == DONE {
            if v == UNSET {
                slot.store(UNSET, Relaxed);
            }
            return;
        }
        self.signins.inc();
        let intended = self.origin + Duration::from_nanos(v - 1);
        self.signin
            .observe(now.saturating_duration_since(intended).as_secs_f64());
    }

    /// The counter of a failure reason, bounded as the module says.
    fn reason<'a>(&'a self, s: &'a StageSet, kind: FailureKind) -> Option<&'a IntCounter> {
        let lazy = |slot: &'a OnceLock<IntCounter>, label: &dyn Fn() -> String| {
            Some(slot.get_or_init(|| self.failures.with_label_values(&[s.name, &label()])))
        };
        match kind {
            FailureKind::Timeout
            | FailureKind::Refused
            | FailureKind::Tls
            | FailureKind::Parse
            | FailureKind::Local(_)
            | FailureKind::Other
            | FailureKind::AuthRejected
            | FailureKind::BadRspauth => {
                s.fixed.get(FIXED_REASONS.iter().position(|k| *k == kind)?)
            }
            FailureKind::HttpStatus(c) if HTTP_STATUSES.contains(&c) => {
                lazy(s.http.get(usize::from(c - 100))?, &|| kind.to_string())
            }
            FailureKind::HttpStatus(_) => lazy(s.other.first()?, &|| "http_other".into()),
            FailureKind::SipStatus(c) if SIP_STATUSES.contains(&c) => {
                lazy(s.sip.get(usize::from(c - 100))?, &|| kind.to_string())
            }
            FailureKind::SipStatus(_) => lazy(s.other.get(1)?, &|| "sip_other".into()),
            FailureKind::Diagnostics(id) => match self.diag_slot(id) {
                Some(i) => lazy(s.diag.get(i)?, &|| kind.to_string()),
                None => lazy(s.other.get(2)?, &|| "diag_other".into()),
            },
        }
    }

    /// The slot of ms-diagnostics id `id`, claiming a free one if needed.
    fn diag_slot(&self, id: u32) -> Option<usize> {
        let want = u64::from(id) + 1;
        for (i, slot) in self.diag_ids.iter().enumerate() {
            match slot.compare_exchange(0, want, Relaxed, Relaxed) {
                Ok(_) => return Some(i),
                Err(v) if v == want => return Some(i),
                Err(_) => {}
            }
        }
        None
    }

    /// The Prometheus text exposition, scrape-time values refreshed.
    pub fn render(&self) -> Vec<u8> {
        let s = lock(&self.scrape);
        if let Some(src) = &s.source {
            let c = src.phone_counts();
            for (g, n) in s.phones_at.iter().zip(c.at_stage) {
                g.set(gauge(n));
            }
            s.signed_in_now.set(gauge(c.signed_in_now));
            set_counter(&s.failed, c.failed);
        }
        if let Some((origin, offsets)) = &s.schedule {
            let now = crate::clock::now();
            let due = offsets.iter().filter(|o| *origin + **o <= now).count();
            set_counter(&s.due, due as u64);
        }
        if let Some(t) = cpu::process() {
            set_float_counter(&s.cpu_user, t.user);
            set_float_counter(&s.cpu_system, t.system);
        }
        let here: Vec<_> = tokio::runtime::Handle::try_current().into_iter().collect();
        let runtimes = if s.runtimes.is_empty() {
            &here
        } else {
            &s.runtimes
        };
        if !runtimes.is_empty() {
            let sum = |f: fn(&tokio::runtime::RuntimeMetrics) -> usize| {
                runtimes.iter().map(|h| f(&h.metrics()) as u64).sum::<u64>()
            };
            s.workers.set(gauge(sum(|m| m.num_workers())));
            s.tasks.set(gauge(sum(|m| m.num_alive_tasks())));
            s.queue.set(gauge(sum(|m| m.global_queue_depth())));
        }
        let v = self.health.live();
        s.saturated_cpu.set(i64::from(v.cpu));
        s.saturated_machine.set(i64::from(v.machine));
        s.saturated_lag.set(i64::from(v.lag));
        let mut out = Vec::new();
        // Encoding well-formed families into a Vec cannot fail; were it to,
        // the scraper would see a short page and say so.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonestorm_phone::Failure;

    struct Fixed(PhoneCounts);
    impl PhoneSource for Fixed {
        fn phone_counts(&self) -> PhoneCounts {
            self.0
        }
    }

    fn failed(stage: Stage, kind: FailureKind, t0: Instant) -> StageEvent {
        StageEvent {
            phone: 0,
            stage,
            attempt: 1,
            intended: t0,
            started: t0,
            ended: t0 + Duration::from_millis(15_000),
            outcome: Outcome::Failed(Failure::new(kind, "")),
        }
    }

    fn text(m: &Metrics) -> String {
        String::from_utf8(m.render()).unwrap()
    }

    /// The value of the one series whose line starts with `series`.
    fn value(page: &str, series: &str) -> Option<f64> {
        page.lines()
            .find(|l| l.starts_with(series) && l.as_bytes().get(series.len()) == Some(&b' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[tokio::test(start_paused = true)]
    async fn stage_events_reach_their_series() {
        let m = Metrics::new(4).unwrap();
        let t0 = crate::clock::now();
        m.observe(&StageEvent {
            phone: 0,
            stage: Stage::Certificate,
            attempt: 0,
            intended: t0,
            started: t0 + Duration::from_millis(200),
            ended: t0 + Duration::from_millis(300),
            outcome: Outcome::Ok,
        });
        m.observe(&failed(
            Stage::Certificate,
            FailureKind::HttpStatus(503),
            t0,
        ));
        m.observe(&failed(Stage::Register, FailureKind::SipStatus(403), t0));
        m.observe(&failed(Stage::Register, FailureKind::Diagnostics(4010), t0));
        m.observe(&failed(Stage::Register, FailureKind::HttpStatus(9999), t0));
        m.observe(&failed(Stage::Dhcp, FailureKind::Timeout, t0));
        let p = text(&m);
        let v = |s: &str| value(&p, s);
        assert_eq!(
            v(r#"phonestorm_stage_attempts_total{outcome="ok",stage="certificate"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"phonestorm_stage_failures_total{reason="http_503",stage="certificate"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"phonestorm_stage_failures_total{reason="sip_403",stage="register"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"phonestorm_stage_failures_total{reason="diag_4010",stage="register"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"phonestorm_stage_failures_total{reason="http_other",stage="register"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"phonestorm_stage_failures_total{reason="timeout",stage="dhcp"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"phonestorm_stage_retries_total{stage="register"}"#),
            Some(3.0)
        );
        // 300 ms corrected lands in (0.25, 0.5]; 100 ms raw in (0.05, 0.1].
        assert_eq!(
            v(
                r#"phonestorm_stage_latency_seconds_bucket{outcome="ok",stage="certificate",le="0.25"}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            v(
                r#"phonestorm_stage_latency_seconds_bucket{outcome="ok",stage="certificate",le="0.5"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            v(
                r#"phonestorm_stage_latency_raw_seconds_bucket{outcome="ok",stage="certificate",le="0.1"}"#
            ),
            Some(1.0)
        );
        // Every stage is there from the start, with zeros.
        for s in Stage::ALL {
            assert!(
                p.contains(&format!(
                    r#"phonestorm_stage_latency_seconds_count{{outcome="ok",stage="{s}"}}"#
                )),
                "{s}"
            );
        }
        assert!(!p.contains("summary"), "no summaries");
    }

    #[tokio::test(start_paused = true)]
    async fn diagnostics_ids_are_bounded() {
        let m = Metrics::new(1).unwrap();
        let t0 = crate::clock::now();
        for id in 0..(DIAG_SLOTS as u32 + 10) {
            m.observe(&failed(
                Stage::Register,
                FailureKind::Diagnostics(1000 + id),
                t0,
            ));
        }
        m.observe(&failed(Stage::Register, FailureKind::Diagnostics(1000), t0));
        let p = text(&m);
        let diag_series = p
            .lines()
            .filter(|l| l.starts_with("phonestorm_stage_failures_total") && l.contains("diag_"))
            .count();
        assert_eq!(diag_series, DIAG_SLOTS + 1);
        assert_eq!(
            value(
                &p,
                r#"phonestorm_stage_failures_total{reason="diag_other",stage="register"}"#
            ),
            Some(10.0)
        );
        assert_eq!(
            value(
                &p,
                r#"phonestorm_stage_failures_total{reason="diag_1000",stage="register"}"#
            ),
            Some(2.0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_signins_and_scrape_time_gauges() {
        let m = Metrics::new(3).unwrap();
        let t0 = crate::clock::now();
        m.set_schedule(
            t0,
            Arc::from(vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(10),
            ]),
        );
        let mut counts = PhoneCounts {
            signed_in_now: 1,
            failed: 2,
            ..Default::default()
        };
        counts.at_stage[Stage::Register.index()] = 5;
        m.set_source(Arc::new(Fixed(counts)));
        m.arrival(0, t0, t0, Duration::from_micros(300));
        // Held 2 s by a rate limit: not on time, but no scheduler lag.
        m.arrival(1, t0, t0 + Duration::from_secs(2), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(3)).await;
        m.signed_in(0, crate::clock::now());
        m.signed_in(0, crate::clock::now());
        m.signed_in(2, crate::clock::now());
        m.signed_in(99, crate::clock::now());
        let p = text(&m);
        let v = |s: &str| value(&p, s);
        assert_eq!(v("phonestorm_arrivals_started_total"), Some(2.0));
        assert_eq!(v("phonestorm_arrivals_on_time_total"), Some(1.0));
        assert_eq!(v("phonestorm_arrivals_scheduled"), Some(3.0));
        assert_eq!(v("phonestorm_arrivals_due_total"), Some(2.0));
        assert_eq!(v("phonestorm_signins_total"), Some(1.0));
        assert_eq!(v("phonestorm_signin_latency_seconds_count"), Some(1.0));
        assert_eq!(
            v(r#"phonestorm_signin_latency_seconds_bucket{le="2.5"}"#),
            Some(0.0)
        );
        assert_eq!(
            v(r#"phonestorm_signin_latency_seconds_bucket{le="5"}"#),
            Some(1.0)
        );
        assert_eq!(v("phonestorm_scheduler_lag_seconds_count"), Some(2.0));
        assert_eq!(
            v(r#"phonestorm_scheduler_lag_seconds_bucket{le="0.0005"}"#),
            Some(2.0)
        );
        assert_eq!(
            v(r#"phonestorm_phones_at_stage{stage="register"}"#),
            Some(5.0)
        );
        assert_eq!(v("phonestorm_phones_signed_in"), Some(1.0));
        assert_eq!(v("phonestorm_phones_failed_total"), Some(2.0));
        assert_eq!(
            v(r#"phonestorm_harness_saturated{reason="cpu"}"#),
            Some(0.0)
        );
        assert!(v("phonestorm_harness_workers").is_some(), "{p}");
        // Scraping twice does not double the scrape-time counters.
        let again = text(&m);
        assert_eq!(value(&again, "phonestorm_phones_failed_total"), Some(2.0));
    }

    #[test]
    fn every_name_is_exported() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let m = Metrics::new(1).unwrap();
            m.set_schedule(crate::clock::now(), Arc::from(vec![Duration::ZERO]));
            m.set_source(Arc::new(Fixed(PhoneCounts::default())));
            let p = text(&m);
            for n in names::ALL {
                assert!(p.contains(&format!("# TYPE {n} ")), "{n} missing");
            }
        });
    }
}
