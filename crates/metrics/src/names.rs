//! Every metric and label name the harness exports, and nothing else.
//!
//! The Grafana dashboard (`dashboards/phonestorm.json`) and its test check
//! against [`ALL`], so a renamed metric breaks a test instead of a panel.
//! This module owns the names and their meaning; registration lives in
//! [`crate::metrics`], the harness's health in [`crate::health`]. The mock
//! Front End's own metrics (`phonestorm_mock_*`) are named in
//! `phonestorm_mockfe::metrics`.
//!
//! Everything is a counter, a gauge or a histogram: no summaries, whose
//! quantiles cannot be added across instances. Runs on several machines add
//! up with `sum by (le, stage)` over the `instance` label Prometheus adds.

/// Histogram: seconds from each stage attempt's *intended* start to its
/// end (corrected for coordinated omission), labels [`STAGE`] and
/// [`OUTCOME`] (`ok`, `failed`).
pub const STAGE_LATENCY_SECONDS: &str = "phonestorm_stage_latency_seconds";
/// Histogram: seconds from each stage attempt's *actual* start to its end
/// (what the server alone took), labels [`STAGE`] and [`OUTCOME`].
pub const STAGE_LATENCY_RAW_SECONDS: &str = "phonestorm_stage_latency_raw_seconds";
/// Histogram: seconds from a phone's intended arrival to its 200 OK.
pub const SIGNIN_LATENCY_SECONDS: &str = "phonestorm_signin_latency_seconds";
/// Counter: stage attempts by [`STAGE`] and [`OUTCOME`] (`ok`, `failed`,
/// `skipped`); attempts are the sum, successes `outcome="ok"`.
pub const STAGE_ATTEMPTS_TOTAL: &str = "phonestorm_stage_attempts_total";
/// Counter: stage attempts that were retries (attempt > 0), by [`STAGE`].
pub const STAGE_RETRIES_TOTAL: &str = "phonestorm_stage_retries_total";
/// Counter: failed stage attempts by [`STAGE`] and [`REASON`] (`timeout`,
/// `refused`, `tls`, `parse`, `other`, `http_503`, `sip_401`, `diag_4010`;
/// see [`crate::metrics`] for how open-ended values stay bounded).
pub const STAGE_FAILURES_TOTAL: &str = "phonestorm_stage_failures_total";
/// Counter: phones signed in (200 OK to their first REGISTER).
pub const SIGNINS_TOTAL: &str = "phonestorm_signins_total";
/// Counter: phones that ended without signing in.
pub const PHONES_FAILED_TOTAL: &str = "phonestorm_phones_failed_total";
/// Gauge: running phones now working on (or waiting for) each [`STAGE`].
pub const PHONES_AT_STAGE: &str = "phonestorm_phones_at_stage";
/// Gauge: phones signed in now (past the last stage, holding).
pub const PHONES_SIGNED_IN: &str = "phonestorm_phones_signed_in";
/// Gauge: phones on the arrival schedule.
pub const ARRIVALS_SCHEDULED: &str = "phonestorm_arrivals_scheduled";
/// Counter: arrivals whose intended start has passed.
pub const ARRIVALS_DUE_TOTAL: &str = "phonestorm_arrivals_due_total";
/// Counter: arrivals started.
pub const ARRIVALS_STARTED_TOTAL: &str = "phonestorm_arrivals_started_total";
/// Counter: arrivals started within [`crate::health::LAG_BOUND`] of their
/// intended start (rate limits included: a held-back phone is late).
pub const ARRIVALS_ON_TIME_TOTAL: &str = "phonestorm_arrivals_on_time_total";
/// Histogram: how late the harness's scheduler woke for each arrival,
/// against the later of its intended start and when the arrival loop was
/// free (so time held by rate limits is not counted: that is the limit's
/// doing, not the harness's).
pub const SCHEDULER_LAG_SECONDS: &str = "phonestorm_scheduler_lag_seconds";
/// Counter: the harness process's CPU seconds, label [`MODE`] (`user`,
/// `system`). With the embedded mock, the mock's share is included.
pub const HARNESS_CPU_SECONDS_TOTAL: &str = "phonestorm_harness_cpu_seconds_total";
/// Gauge: CPU cores the harness may use.
pub const HARNESS_CORES: &str = "phonestorm_harness_cores";
/// Gauge: worker threads of the async runtimes the phones run on.
pub const HARNESS_WORKERS: &str = "phonestorm_harness_workers";
/// Gauge: tasks alive in those runtimes (about one per running phone).
pub const HARNESS_TASKS: &str = "phonestorm_harness_tasks";
/// Gauge: tasks waiting in the runtime's global queue; a queue that grows
/// means the workers cannot keep up.
pub const HARNESS_QUEUE_DEPTH: &str = "phonestorm_harness_queue_depth";
/// Gauge: 1 when the harness is the bottleneck for [`REASON`] (`cpu`: its
/// own CPU; `machine`: the machine's cores busy, other processes included;
/// `lag`: scheduler lag), else 0: the figures then describe the harness,
/// not the pool.
pub const HARNESS_SATURATED: &str = "phonestorm_harness_saturated";

/// Label: the stage name (`vlan` … `register`, as `Stage::name`).
pub const STAGE: &str = "stage";
/// Label: how an attempt ended (`ok`, `failed`, `skipped`).
pub const OUTCOME: &str = "outcome";
/// Label: why an attempt failed, or why the harness is saturated.
pub const REASON: &str = "reason";
/// Label: CPU mode (`user`, `system`).
pub const MODE: &str = "mode";

/// Every metric name above, for the dashboard test.
pub const ALL: &[&str] = &[
    STAGE_LATENCY_SECONDS,
    STAGE_LATENCY_RAW_SECONDS,
    SIGNIN_LATENCY_SECONDS,
    STAGE_ATTEMPTS_TOTAL,
    STAGE_RETRIES_TOTAL,
    STAGE_FAILURES_TOTAL,
    SIGNINS_TOTAL,
    PHONES_FAILED_TOTAL,
    PHONES_AT_STAGE,
    PHONES_SIGNED_IN,
    ARRIVALS_SCHEDULED,
    ARRIVALS_DUE_TOTAL,
    ARRIVALS_STARTED_TOTAL,
    ARRIVALS_ON_TIME_TOTAL,
    SCHEDULER_LAG_SECONDS,
    HARNESS_CPU_SECONDS_TOTAL,
    HARNESS_CORES,
    HARNESS_WORKERS,
    HARNESS_TASKS,
    HARNESS_QUEUE_DEPTH,
    HARNESS_SATURATED,
];

/// The histograms among [`ALL`]: they are exported as `_bucket`, `_sum`
/// and `_count` series.
pub const HISTOGRAMS: &[&str] = &[
    STAGE_LATENCY_SECONDS,
    STAGE_LATENCY_RAW_SECONDS,
    SIGNIN_LATENCY_SECONDS,
    SCHEDULER_LAG_SECONDS,
];

/// Whether `series` (a name as it appears in a scrape or a query) belongs
/// to one of `names`, histogram suffixes understood.
pub fn exported_by(series: &str, names: &[&str], histograms: &[&str]) -> bool {
    if names.contains(&series) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        series
            .strip_suffix(suffix)
            .is_some_and(|base| histograms.contains(&base))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_valid() {
        for (i, n) in ALL.iter().enumerate() {
            assert!(n.starts_with("phonestorm_"), "{n}");
            assert!(!n.starts_with("phonestorm_mock_"), "{n}");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
            assert!(!ALL[..i].contains(n), "{n} twice");
        }
        for h in HISTOGRAMS {
            assert!(ALL.contains(h) && h.ends_with("_seconds"), "{h}");
        }
    }

    #[test]
    fn histogram_suffixes_are_understood() {
        assert!(exported_by(
            "phonestorm_stage_latency_seconds_bucket",
            ALL,
            HISTOGRAMS
        ));
        assert!(exported_by(SIGNINS_TOTAL, ALL, HISTOGRAMS));
        assert!(!exported_by(
            "phonestorm_signins_total_count",
            ALL,
            HISTOGRAMS
        ));
        assert!(!exported_by("phonestorm_nothing", ALL, HISTOGRAMS));
    }
}
