//! The mock Front End's own Prometheus metrics, and their names.
//!
//! Metric names are constants here so the Grafana dashboards and tests
//! cannot drift from the code. Every series carries a `service` label
//! (`dhcp`, `dns`, `sntp`, `update`, `root_chain`, `web_ticket`,
//! `certificate`, `registrar`, `backend`). This module owns registration and
//! text exposition; it does not own the HTTP endpoint that serves it.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::Result;

/// Requests admitted by a service's capacity model.
pub const REQUESTS_TOTAL: &str = "phonestorm_mock_requests_total";
/// Requests a service refused because its workers and queue were full.
pub const REJECTIONS_TOTAL: &str = "phonestorm_mock_rejections_total";
/// Requests in service or waiting, per service.
pub const IN_SYSTEM: &str = "phonestorm_mock_in_system";
/// Time a request waited for a worker.
pub const QUEUE_SECONDS: &str = "phonestorm_mock_queue_seconds";
/// Time a request held a worker.
pub const SERVICE_SECONDS: &str = "phonestorm_mock_service_seconds";
/// Malformed input dropped or answered with an error, by service and kind.
pub const MALFORMED_TOTAL: &str = "phonestorm_mock_malformed_total";
/// Answers by service and outcome (`ok`, or the refusal sent).
pub const ANSWERS_TOTAL: &str = "phonestorm_mock_answers_total";
/// Faults injected, by service and kind.
pub const FAULTS_TOTAL: &str = "phonestorm_mock_faults_total";
/// Authentication refusals by reason (registrar: TLS-DSK handshake
/// failures, bad signatures, replayed cnums, expired security associations).
pub const AUTH_REJECTIONS_TOTAL: &str = "phonestorm_mock_auth_rejections_total";
/// Successful authentications (an SA established, a first Digest request
/// under a nonce), by scheme (`tls-dsk`, `ntlm`, `digest`).
pub const AUTH_SIGNINS_TOTAL: &str = "phonestorm_mock_auth_signins_total";
/// Counter: accept attempts that failed for want of open files or memory
/// on the mock's machine; each left the connections behind it waiting in
/// the backlog 5 ms more.
pub const ACCEPT_SHORTAGES_TOTAL: &str = "phonestorm_mock_accept_shortages_total";

/// Buckets for queue and service time: 100 µs to 60 s, roughly doubling,
/// so both a 1 ms DNS answer and a multi-second stall land in a bucket.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Every metric of one mock instance, in its own registry.
#[derive(Debug, Clone)]
pub struct MockMetrics {
    registry: Registry,
    requests: IntCounterVec,
    rejections: IntCounterVec,
    in_system: IntGaugeVec,
    queue_seconds: HistogramVec,
    service_seconds: HistogramVec,
    malformed: IntCounterVec,
    answers: IntCounterVec,
    faults: IntCounterVec,
    auth_rejections: IntCounterVec,
    auth_signins: IntCounterVec,
    accept_shortages: IntCounterVec,
}

/// The handles one capacity station reports into.
#[derive(Debug, Clone)]
pub struct StationMetrics {
    /// Admitted requests.
    pub requests: prometheus::IntCounter,
    /// Rejected requests.
    pub rejected: prometheus::IntCounter,
    /// Requests inside the station.
    pub in_system: prometheus::IntGauge,
    /// Waiting time.
    pub queue_seconds: prometheus::Histogram,
    /// Service time.
    pub service_seconds: prometheus::Histogram,
}

impl MockMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let hist = |name: &str, help: &str| -> Result<HistogramVec> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
                &["service"],
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let requests = counter(
            REQUESTS_TOTAL,
            "Requests admitted by the service's capacity model.",
            &["service"],
        )?;
        let rejections = counter(
            REJECTIONS_TOTAL,
            "Requests refused because workers and queue were full.",
            &["service"],
        )?;
        let malformed = counter(
            MALFORMED_TOTAL,
            "Malformed requests dropped or refused.",
            &["service", "kind"],
        )?;
        let answers = counter(
            ANSWERS_TOTAL,
            "Answers sent, by outcome.",
            &["service", "outcome"],
        )?;
        let faults = counter(
            FAULTS_TOTAL,
            "Faults injected by the configured fault knobs.",
            &["service", "kind"],
        )?;
        let auth_rejections = counter(
            AUTH_REJECTIONS_TOTAL,
            "Authentication refusals, by reason.",
            &["service", "reason"],
        )?;
        let auth_signins = counter(
            AUTH_SIGNINS_TOTAL,
            "Successful authentications, by scheme.",
            &["service", "scheme"],
        )?;
        let accept_shortages = counter(
            ACCEPT_SHORTAGES_TOTAL,
            "Accept attempts that failed for want of open files or memory (each a 5 ms wait for the backlog).",
            &["service"],
        )?;
        let in_system = IntGaugeVec::new(
            Opts::new(IN_SYSTEM, "Requests in service or waiting."),
            &["service"],
        )?;
        registry.register(Box::new(in_system.clone()))?;
        let queue_seconds = hist(QUEUE_SECONDS, "Time a request waited for a worker.")?;
        let service_seconds = hist(SERVICE_SECONDS, "Time a request held a worker.")?;
        Ok(MockMetrics {
            registry,
            requests,
            rejections,
            in_system,
            queue_seconds,
            service_seconds,
            malformed,
            answers,
            faults,
            auth_rejections,
            auth_signins,
            accept_shortages,
        })
    }

    /// The handles for one service's station.
    pub fn station(&self, service: &str) -> StationMetrics {
        StationMetrics {
            requests: self.requests.with_label_values(&[service]),
            rejected: self.rejections.with_label_values(&[service]),
            in_system: self.in_system.with_label_values(&[service]),
            queue_seconds: self.queue_seconds.with_label_values(&[service]),
            service_seconds: self.service_seconds.with_label_values(&[service]),
        }
    }

    /// Counts one malformed request of `kind` (e.g. `short`, `not_dhcp`).
    pub fn malformed(&self, service: &str, kind: &str) {
        self.malformed.with_label_values(&[service, kind]).inc();
    }

    /// Counts one answer with its outcome (`ok`, `503`, `nxdomain`, ...).
    pub fn answer(&self, service: &str, outcome: &str) {
        self.answers.with_label_values(&[service, outcome]).inc();
    }

    /// Counts one injected fault of `kind` (`drop`, `reset`, `garbage`, ...).
    pub fn fault(&self, service: &str, kind: &str) {
        self.faults.with_label_values(&[service, kind]).inc();
    }

    /// Counts one authentication refusal with its reason (`handshake`,
    /// `bad_signature`, `replayed_cnum`, `sa_expired`, ...).
    pub fn auth_rejection(&self, service: &str, reason: &str) {
        self.auth_rejections
            .with_label_values(&[service, reason])
            .inc();
    }

    /// Counts one successful authentication under `scheme`.
    pub fn auth_signin(&self, service: &str, scheme: &str) {
        self.auth_signins
            .with_label_values(&[service, scheme])
            .inc();
    }

    /// Counts one accept attempt of `service`'s listener that failed for
    /// want of open files or memory.
    pub fn accept_shortage(&self, service: &str) {
        self.accept_shortages.with_label_values(&[service]).inc();
    }

    /// Accept attempts that failed for want of open files or memory, over
    /// every service: with the mock embedded in a run, the waits its
    /// phones met there are the run's machine, not a pool.
    pub fn accept_shortages(&self) -> u64 {
        use prometheus::core::Collector;
        self.accept_shortages
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families; an error
        // would leave a partial page, which scrapers report, so ignore it.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
