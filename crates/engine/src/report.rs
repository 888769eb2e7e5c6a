//! The run's report: JSON for machines, a plain table for people.
//!
//! Latencies are in milliseconds. `latency_ms.corrected` is measured from
//! each attempt's *intended* start (corrected for coordinated omission:
//! time held back by a rate limit or a late start counts),
//! `latency_ms.raw` from when the attempt actually started. Both are over
//! successful attempts only. The report is built by [`crate::record`]
//! (figures), [`crate::timeline`] (per-interval figures) and
//! [`crate::bottleneck`] (which stage gave out); this module owns its shape
//! and the terminal table, not the counting. HTML, HdrHistogram logs and
//! comparisons live in [`crate::html`], [`crate::hdrlog`] and
//! [`crate::compare`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use phonestorm_phone::{FailureKind, Shortage, Stage};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::bottleneck::Bottleneck;
use crate::timeline::Timeline;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Percentiles of a histogram of microseconds (all zero when empty).
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Corrected and raw percentiles of one set of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Latencies {
    /// From the intended start: what a user of the pool waited.
    pub corrected: Latency,
    /// From the actual start: what the server took once asked.
    pub raw: Latency,
}

/// Quantiles drawn on the percentile curves (as shares).
pub const CURVE_QUANTILES: [f64; 13] = [
    0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];

/// A percentile curve of a histogram of microseconds: `[percentile, ms]`
/// pairs at [`CURVE_QUANTILES`] (empty when the histogram is).
pub fn curve_from_micros(h: &Histogram<u64>) -> Vec<[f64; 2]> {
    if h.is_empty() {
        return Vec::new();
    }
    CURVE_QUANTILES
        .iter()
        .map(|q| [q * 100.0, h.value_at_quantile(*q) as f64 / 1000.0])
        .collect()
}

/// Phones over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Phones {
    /// Phones on the arrival schedule.
    pub scheduled: u64,
    /// Phones that started (arrivals stop early on abort or stop).
    pub started: u64,
    /// Phones that signed in (200 OK to their first REGISTER).
    pub registered: u64,
    /// Phones that ended without signing in, having failed a stage.
    pub failed: u64,
    /// Phones that passed every stage the scenario left on, with
    /// `register` turned off (a provisioning-only or DHCP-only run): not
    /// signed in, and not failed either. Absent from older reports.
    #[serde(default)]
    pub completed: u64,
}

/// Sign-in as a whole: from a phone's arrival to its 200 OK.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SignIn {
    /// Corrected from the intended arrival; raw from the actual start
    /// (after the global limiter and concurrency cap let it go).
    pub latency_ms: Latencies,
}

/// One stage over the whole run. Counts are attempts, so a retried stage
/// counts once per attempt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StageReport {
    /// Attempts that ended (ok + failed + skipped).
    pub count: u64,
    /// Attempts that succeeded.
    pub ok: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Attempts skipped (stage off or given by the scenario).
    pub skipped: u64,
    /// Attempts that were retries (attempt > 0).
    pub retries: u64,
    /// Failed attempts by reason label (`timeout`, `http_503`, …).
    pub failures: BTreeMap<String, u64>,
    /// Latency of successful attempts, corrected and raw.
    pub latency_ms: Latencies,
    /// Percentile curve of the corrected latency: `[percentile, ms]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve_ms: Vec<[f64; 2]>,
}

/// One row of the per-stage tables, terminal and HTML: a stage, or the
/// whole sign-in.
pub(crate) struct Row<'a> {
    pub(crate) name: &'a str,
    pub(crate) count: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) latency: &'a Latencies,
    /// What to show instead of the latencies ([`no_latency`]).
    pub(crate) none: Option<&'static str>,
}

impl Report {
    /// The tables' rows: each stage in bootstrap order, then the sign-in
    /// (counted over started phones).
    pub(crate) fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        let stages = self.stages.0.iter().map(|(stage, r)| Row {
            name: stage.name(),
            count: r.count,
            ok: r.ok,
            failed: r.failed,
            latency: &r.latency_ms,
            none: no_latency(r.ok, r.failed, r.skipped),
        });
        let p = &self.phones;
        let signin = Row {
            name: "signin",
            count: p.started,
            ok: p.registered,
            failed: p.failed,
            latency: &self.signin.latency_ms,
            none: no_latency(p.registered, p.failed, 0),
        };
        stages.chain(std::iter::once(signin))
    }
}

/// What a table row shows in place of latencies when none was measured:
/// `skipped` for a stage only skipped, `-` for one nothing passed. A zero
/// there would read as a stage that answered at once.
pub(crate) fn no_latency(ok: u64, failed: u64, skipped: u64) -> Option<&'static str> {
    match (ok, failed, skipped) {
        (0, 0, 1..) => Some("skipped"),
        (0, _, _) => Some("-"),
        _ => None,
    }
}

impl StageReport {
    /// Failed share of ended, non-skipped attempts (0 when none).
    pub fn fail_rate(&self) -> f64 {
        let n = self.ok + self.failed;
        if n == 0 {
            0.0
        } else {
            self.failed as f64 / n as f64
        }
    }
}

/// Per-stage reports in bootstrap order (serialized as a map by name).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "BTreeMap<String, StageReport>")]
pub struct Stages(pub Vec<(Stage, StageReport)>);

impl Stages {
    /// The report of `stage`, if it has one.
    pub fn get(&self, stage: Stage) -> Option<&StageReport> {
        self.0.iter().find(|(s, _)| *s == stage).map(|(_, r)| r)
    }
}

impl From<BTreeMap<String, StageReport>> for Stages {
    fn from(m: BTreeMap<String, StageReport>) -> Self {
        let mut v: Vec<(Stage, StageReport)> = m
            .into_iter()
            .filter_map(|(k, r)| Stage::from_name(&k).map(|s| (s, r)))
            .collect();
        v.sort_by_key(|(s, _)| *s);
        Stages(v)
    }
}

impl Serialize for Stages {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(self.0.len()))?;
        for (stage, r) in &self.0 {
            map.serialize_entry(stage.name(), r)?;
        }
        map.end()
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "how", content = "why")]
pub enum Ending {
    /// Every scheduled phone arrived and finished.
    #[default]
    Completed,
    /// The abort rule stopped it; the reason.
    Aborted(String),
    /// Stopped from outside (Ctrl-C).
    Stopped,
    /// The run's time limit was reached.
    TimeLimit,
}

/// The harness's own health over the run: when it was the bottleneck, the
/// figures above describe the harness, not the pool.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Harness {
    /// Scheduler lag (how late arrivals woke), milliseconds.
    pub lag_ms_p50: f64,
    /// 99th percentile of the scheduler lag.
    pub lag_ms_p99: f64,
    /// Largest scheduler lag.
    pub lag_ms_max: f64,
    /// CPU seconds in user mode during the run (embedded mock included).
    pub cpu_user_s: f64,
    /// CPU seconds in the kernel during the run.
    pub cpu_system_s: f64,
    /// Cores the harness could use.
    pub cores: u64,
    /// Whether the harness was saturated (CPU or scheduler lag).
    pub saturated: bool,
    /// What was measured, in one phrase.
    pub reason: String,
    /// Stage attempts that failed for want of something on this machine
    /// (reasons `local_*`), all stages.
    #[serde(default)]
    pub local_failures: LocalFailures,
    /// Accept attempts of the embedded mock that failed for want of open
    /// files or memory (connections waited in the backlog meanwhile, and
    /// the phones' stages with them).
    #[serde(default)]
    pub mock_accept_shortages: u64,
    /// Open files the process could have during the run (`None`: no
    /// limit, or not known).
    #[serde(default)]
    pub open_files_limit: Option<u64>,
}

/// Stage attempts that failed for want of something on this machine, by
/// what ran short (`local_files`, `local_ports`, `local_memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LocalFailures {
    /// Open files.
    pub files: u64,
    /// Local ports on the phones' source addresses.
    pub ports: u64,
    /// Socket buffers or memory.
    pub memory: u64,
}

impl LocalFailures {
    /// Counts them from failures by reason, over `stages`.
    pub fn count(stages: &Stages) -> Self {
        let of = |s: Shortage| {
            let reason = FailureKind::Local(s).to_string();
            stages
                .0
                .iter()
                .filter_map(|(_, r)| r.failures.get(&reason))
                .sum()
        };
        LocalFailures {
            files: of(Shortage::Files),
            ports: of(Shortage::Ports),
            memory: of(Shortage::Memory),
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.files + self.ports + self.memory
    }
}

impl Harness {
    /// The line that says the harness ran short, and what to do, when it
    /// did.
    pub fn shortage(&self) -> Option<String> {
        let l = &self.local_failures;
        let mut what = Vec::new();
        if l.files > 0 || self.mock_accept_shortages > 0 {
            let limit = self
                .open_files_limit
                .map(|n| format!(" (limit {n}: raise `ulimit -n`)"))
                .unwrap_or_default();
            what.push(format!("open files{limit}"));
        }
        if l.ports > 0 {
            what.push("local ports (give the phones more phones.source_addresses)".to_owned());
        }
        if l.memory > 0 {
            what.push("memory or socket buffers".to_owned());
        }
        if what.is_empty() {
            return None;
        }
        let mut line = format!("harness short of {}", what.join(", "));
        if l.total() > 0 {
            line.push_str(&format!(
                ": {} stage attempts failed on this machine, not the pool (reasons `local_*`)",
                l.total()
            ));
        }
        if self.mock_accept_shortages > 0 {
            line.push_str(&format!(
                "{} the embedded mock's listeners found no open file {} times, so its answers waited on this machine too",
                if l.total() > 0 { ";" } else { ":" },
                self.mock_accept_shortages
            ));
        }
        Some(line)
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Report {
    /// How the run ended.
    pub ending: Ending,
    /// Run time in seconds, from the first intended arrival to the end.
    pub duration_s: f64,
    /// Phone counts.
    pub phones: Phones,
    /// Whole sign-in latency.
    pub signin: SignIn,
    /// Per stage, in bootstrap order.
    pub stages: Stages,
    /// The harness's own health.
    #[serde(default)]
    pub harness: Harness,
    /// The run interval by interval.
    #[serde(default)]
    pub timeline: Timeline,
    /// Which stage gave out first, and when.
    #[serde(default)]
    pub bottleneck: Bottleneck,
}

impl Report {
    /// Takes the embedded mock's `shortages` (accept attempts that found no
    /// open file): its waits are in every latency it served, so no stage
    /// of it can be judged a bottleneck.
    pub fn embedded_mock_ran_short(&mut self, shortages: u64) {
        self.harness.mock_accept_shortages = shortages;
        if shortages > 0 {
            self.bottleneck = Bottleneck {
                sentence: "not judged: the embedded mock ran short of open files on this machine"
                    .into(),
                ..Bottleneck::default()
            };
        }
    }

    /// Share of finished phones that failed to sign in (0 when none).
    pub fn signin_fail_rate(&self) -> f64 {
        let n = self.phones.registered + self.phones.failed;
        if n == 0 {
            0.0
        } else {
            self.phones.failed as f64 / n as f64
        }
    }

    /// The report as pretty JSON. A stage without a successful attempt
    /// has zeros for its latencies there; the tables say why instead.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The terminal table: one row per stage (corrected percentiles, then
    /// raw ones), the sign-in line, phone counts and the bottleneck.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>7} {:>7} | {:>9} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
            "", "", "", "", "corrected", "", "", "", "", "raw", "", ""
        );
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>7} {:>7} | {:>9} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
            "stage",
            "count",
            "ok",
            "failed",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "p50 ms",
            "p99 ms",
            "max ms"
        );
        for row in self.rows() {
            let (c, r) = (&row.latency.corrected, &row.latency.raw);
            let cells = match row.none {
                Some(why) => [why, "-", "-", "-", "-", "-", "-", "-"].map(str::to_owned),
                None => [c.p50, c.p90, c.p99, c.p999, c.max, r.p50, r.p99, r.max]
                    .map(|ms| format!("{ms:.1}")),
            };
            let [a, b, cc, d, e, f, g, h] = &cells;
            let _ = writeln!(
                out,
                "{:<12} {:>7} {:>7} {:>7} | {a:>9} {b:>9} {cc:>9} {d:>9} {e:>9} | {f:>9} {g:>9} {h:>9}",
                row.name, row.count, row.ok, row.failed
            );
        }
        let p = &self.phones;
        let _ = write!(
            out,
            "phones: {} scheduled, {} started, {} signed in, {} failed",
            p.scheduled, p.started, p.registered, p.failed
        );
        if p.completed > 0 {
            let _ = write!(
                out,
                ", {} completed every enabled stage (register off)",
                p.completed
            );
        }
        let _ = writeln!(out);
        let h = &self.harness;
        let _ = writeln!(
            out,
            "harness: scheduler lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; CPU {:.1} s user + {:.1} s system on {}; {}{}",
            h.lag_ms_p50,
            h.lag_ms_p99,
            h.lag_ms_max,
            h.cpu_user_s,
            h.cpu_system_s,
            phonestorm_metrics::health::cores_text(h.cores),
            if h.saturated { "SATURATED: " } else { "ok: " },
            h.reason
        );
        if h.saturated {
            let _ = writeln!(
                out,
                "harness saturated: the figures above describe the harness, not the pool"
            );
        }
        if let Some(line) = h.shortage() {
            let _ = writeln!(out, "{line}");
        }
        if !self.bottleneck.sentence.is_empty() {
            let _ = writeln!(out, "bottleneck: {}", self.bottleneck.sentence);
        }
        match &self.ending {
            Ending::Completed => {}
            Ending::Aborted(why) => {
                let _ = writeln!(out, "aborted: {why}");
            }
            Ending::Stopped => {
                let _ = writeln!(out, "stopped before the end");
            }
            Ending::TimeLimit => {
                let _ = writeln!(out, "stopped at the time limit");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortage_names_what_ran_short_and_its_remedy() {
        let mut h = Harness::default();
        assert_eq!(h.shortage(), None);
        h.local_failures.ports = 5;
        assert_eq!(
            h.shortage().as_deref(),
            Some(
                "harness short of local ports (give the phones more phones.source_addresses): \
                 5 stage attempts failed on this machine, not the pool (reasons `local_*`)"
            )
        );
        // The embedded mock's own waits, with no phone failing for them.
        let h = Harness {
            mock_accept_shortages: 7,
            open_files_limit: Some(1024),
            ..Harness::default()
        };
        assert_eq!(
            h.shortage().as_deref(),
            Some(
                "harness short of open files (limit 1024: raise `ulimit -n`): the embedded \
                 mock's listeners found no open file 7 times, so its answers waited on this \
                 machine too"
            )
        );
        let mut h = Harness::default();
        h.local_failures.memory = 1;
        h.local_failures.files = 2;
        let line = h.shortage().unwrap_or_default();
        assert!(
            line.starts_with("harness short of open files, memory or socket buffers: 3 stage"),
            "{line}"
        );
    }

    fn sample() -> Report {
        let mut reg = StageReport {
            count: 3,
            ok: 2,
            failed: 1,
            ..Default::default()
        };
        reg.failures.insert("sip_503".into(), 1);
        reg.latency_ms.corrected.p99 = 12.5;
        reg.latency_ms.raw.p99 = 2.5;
        Report {
            phones: Phones {
                scheduled: 2,
                started: 2,
                registered: 2,
                failed: 0,
                completed: 0,
            },
            stages: Stages(vec![
                (Stage::Dhcp, StageReport::default()),
                (Stage::Register, reg),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(v["phones"]["registered"], 2);
        assert_eq!(v["stages"]["register"]["failures"]["sip_503"], 1);
        assert_eq!(
            v["stages"]["register"]["latency_ms"]["corrected"]["p99"],
            12.5
        );
        assert_eq!(v["stages"]["register"]["latency_ms"]["raw"]["p99"], 2.5);
        for which in ["corrected", "raw"] {
            for p in ["p50", "p90", "p99", "p999", "max"] {
                assert!(
                    v["signin"]["latency_ms"][which][p].is_number(),
                    "{which}.{p}"
                );
            }
        }
        assert!(v["bottleneck"]["sentence"].is_string());
        assert!(v["timeline"]["intervals"].is_array());
        assert_eq!(v["ending"]["how"], "completed");
        // Stages keep bootstrap order, not alphabetical.
        let keys: Vec<&String> = v["stages"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["dhcp", "register"]);
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn table_has_a_row_per_stage_and_signin() {
        let t = sample().table();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("corrected") && lines[0].contains("raw"));
        assert!(lines[1].starts_with("stage"));
        assert!(lines[3].starts_with("register"), "{t}");
        assert!(lines[3].contains("12.5") && lines[3].contains("2.5"), "{t}");
        assert!(lines[4].starts_with("signin"), "{t}");
    }

    /// A stage no attempt passed shows no latency rather than zeros, and
    /// one every phone skipped says so.
    #[test]
    fn table_shows_no_latency_where_none_was_measured() {
        let mut r = sample();
        r.stages.0.insert(
            1,
            (
                Stage::Update,
                StageReport {
                    count: 4,
                    failed: 4,
                    ..Default::default()
                },
            ),
        );
        r.stages.0[0].1 = StageReport {
            count: 2,
            skipped: 2,
            ..Default::default()
        };
        let t = r.table();
        let cells = |name: &str| -> Vec<String> {
            let line = t.lines().find(|l| l.starts_with(name)).unwrap();
            line.split(['|', ' '])
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let dashes = vec!["-"; 7];
        assert_eq!(
            cells("dhcp")[4..],
            [vec!["skipped"], dashes.clone()].concat(),
            "{t}"
        );
        assert_eq!(cells("update")[4..], [vec!["-"], dashes].concat(), "{t}");
        assert_eq!(cells("register")[6], "12.5", "{t}");
    }

    #[test]
    fn latency_from_an_empty_histogram_is_zero() {
        let h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        assert_eq!(Latency::from_micros(&h), Latency::default());
    }

    #[test]
    fn latency_converts_micros_to_millis() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::from_micros(&h);
        assert!((l.p50 - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.max - 1000.0).abs() < 1.0, "{l:?}");
    }
}
