//! `phonestorm report compare BASE.json NEW.json`: per-stage differences
//! between two runs' JSON reports, regressions flagged.
//!
//! Compared per stage and for the whole sign-in: corrected p50, p90, p99,
//! p99.9 and max, and the fail rate. A latency regresses when the new
//! figure is more than the tolerance above the base *and* at least
//! [`MIN_LATENCY_RISE_MS`] above it (a 40 µs stage doubling is noise, not
//! news); a fail rate regresses when it is more than the tolerance above
//! the base and at least [`MIN_FAIL_RATE_RISE`] (0.1 percentage point)
//! above it. Latencies are compared only where both runs had successful
//! attempts. This module owns the comparison and its table; reading the
//! files is [`load`], the exit status the binary's.

use std::fmt::Write as _;
use std::path::Path;

use phonestorm_phone::Stage;

use crate::error::{Error, Result};
use crate::report::{Latency, Report};

/// A latency rise smaller than this is never a regression, milliseconds.
pub const MIN_LATENCY_RISE_MS: f64 = 1.0;
/// A fail-rate rise smaller than this is never a regression (a share).
pub const MIN_FAIL_RATE_RISE: f64 = 0.001;
/// The tolerance when none is given: 10%.
pub const DEFAULT_TOLERANCE: f64 = 0.10;

/// One compared figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// A stage name or `signin`.
    pub subject: String,
    /// `p50`, `p90`, `p99`, `p999`, `max` or `fail_rate`.
    pub metric: &'static str,
    /// The base run's figure (ms, or a share for `fail_rate`).
    pub base: f64,
    /// The new run's figure.
    pub new: f64,
    /// Whether it regressed past the tolerance.
    pub regression: bool,
}

impl Row {
    /// Relative change, `None` from a base of zero.
    pub fn change(&self) -> Option<f64> {
        (self.base != 0.0).then(|| (self.new - self.base) / self.base)
    }
}

/// Two runs side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The tolerance used, as a share.
    pub tolerance: f64,
    /// Every compared figure, stages in bootstrap order, then sign-in.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// The rows that regressed.
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.regression).collect()
    }

    /// A table for the terminal, then one line per regression.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:<9} {:>12} {:>12} {:>9}",
            "stage", "metric", "base", "new", "change"
        );
        for r in &self.rows {
            let (b, n) = if r.metric == "fail_rate" {
                (
                    format!("{:.2}%", r.base * 100.0),
                    format!("{:.2}%", r.new * 100.0),
                )
            } else {
                (format!("{:.1} ms", r.base), format!("{:.1} ms", r.new))
            };
            let change = r
                .change()
                .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0));
            let flag = if r.regression { "  REGRESSION" } else { "" };
            let _ = writeln!(
                out,
                "{:<12} {:<9} {b:>12} {n:>12} {change:>9}{flag}",
                r.subject, r.metric
            );
        }
        let regressions = self.regressions();
        if regressions.is_empty() {
            let _ = writeln!(out, "no regression past {:.1}%", self.tolerance * 100.0);
        } else {
            let _ = writeln!(
                out,
                "{} regression(s) past {:.1}%",
                regressions.len(),
                self.tolerance * 100.0
            );
        }
        out
    }
}

fn latency_rows(rows: &mut Vec<Row>, subject: &str, base: &Latency, new: &Latency, tolerance: f64) {
    for (metric, b, n) in [
        ("p50", base.p50, new.p50),
        ("p90", base.p90, new.p90),
        ("p99", base.p99, new.p99),
        ("p999", base.p999, new.p999),
        ("max", base.max, new.max),
    ] {
        rows.push(Row {
            subject: subject.to_owned(),
            metric,
            base: b,
            new: n,
            regression: n > b * (1.0 + tolerance) && n - b >= MIN_LATENCY_RISE_MS,
        });
    }
}

fn fail_row(subject: &str, base: f64, new: f64, tolerance: f64) -> Row {
    Row {
        subject: subject.to_owned(),
        metric: "fail_rate",
        base,
        new,
        regression: new > base * (1.0 + tolerance) && new - base >= MIN_FAIL_RATE_RISE,
    }
}

/// Compares `new` against `base` with `tolerance` (a share: 0.1 is 10%).
pub fn compare(base: &Report, new: &Report, tolerance: f64) -> Comparison {
    let mut rows = Vec::new();
    for stage in Stage::ALL {
        let (Some(b), Some(n)) = (base.stages.get(stage), new.stages.get(stage)) else {
            continue;
        };
        if b.ok + b.failed == 0 && n.ok + n.failed == 0 {
            continue;
        }
        if b.ok > 0 && n.ok > 0 {
            latency_rows(
                &mut rows,
                stage.name(),
                &b.latency_ms.corrected,
                &n.latency_ms.corrected,
                tolerance,
            );
        }
        rows.push(fail_row(
            stage.name(),
            b.fail_rate(),
            n.fail_rate(),
            tolerance,
        ));
    }
    if base.phones.registered > 0 && new.phones.registered > 0 {
        latency_rows(
            &mut rows,
            "signin",
            &base.signin.latency_ms.corrected,
            &new.signin.latency_ms.corrected,
            tolerance,
        );
    }
    rows.push(fail_row(
        "signin",
        base.signin_fail_rate(),
        new.signin_fail_rate(),
        tolerance,
    ));
    Comparison { tolerance, rows }
}

/// Reads a JSON report written by `phonestorm run --report-json`.
pub fn load(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::ReportFile {
        path: path.to_owned(),
        message: format!(
            "not a phonestorm JSON report (line {}, column {}: {e})",
            e.line(),
            e.column()
        ),
    })
}

/// `10%` or `0.1` → 0.1; anything negative or unreadable is refused.
pub fn parse_tolerance(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v / scale),
        _ => Err(format!(
            "expected a tolerance such as 10% or 0.1, found {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Phones, StageReport, Stages};

    fn report(p99: f64, failed: u64) -> Report {
        let mut cert = StageReport {
            count: 100,
            ok: 100 - failed,
            failed,
            ..Default::default()
        };
        cert.latency_ms.corrected = Latency {
            p50: 100.0,
            p90: 150.0,
            p99,
            p999: p99,
            max: p99,
        };
        let mut vlan = StageReport {
            count: 100,
            ok: 100,
            ..Default::default()
        };
        vlan.latency_ms.corrected.p99 = 0.02;
        let mut r = Report {
            phones: Phones {
                scheduled: 100,
                started: 100,
                registered: 100 - failed,
                failed,
                completed: 0,
            },
            stages: Stages(vec![(Stage::Vlan, vlan), (Stage::Certificate, cert)]),
            ..Default::default()
        };
        r.signin.latency_ms.corrected.p99 = p99 + 50.0;
        r
    }

    /// The regressions as (subject, metric).
    fn flagged(c: &Comparison) -> Vec<(&str, &'static str)> {
        c.regressions()
            .iter()
            .map(|r| (r.subject.as_str(), r.metric))
            .collect()
    }

    #[test]
    fn a_slower_stage_past_the_tolerance_is_a_regression() {
        let c = compare(&report(200.0, 0), &report(260.0, 0), 0.10);
        let flagged = flagged(&c);
        assert_eq!(
            flagged,
            [
                ("certificate", "p99"),
                ("certificate", "p999"),
                ("certificate", "max"),
                ("signin", "p99"),
            ]
        );
        let t = c.table();
        assert!(t.contains("certificate  p99"), "{t}");
        assert!(t.contains("+30.0%  REGRESSION"), "{t}");
        assert!(t.contains("4 regression(s) past 10.0%"), "{t}");
    }

    #[test]
    fn within_tolerance_or_under_the_noise_floor_is_not() {
        let c = compare(&report(200.0, 0), &report(215.0, 0), 0.10);
        assert!(c.regressions().is_empty(), "{}", c.table());
        // The vlan stage goes 0.02 → 0.02 ms; even a doubling of a tiny
        // figure is under the 1 ms floor.
        let mut b = report(200.0, 0);
        b.stages.0[0].1.latency_ms.corrected.p99 = 0.01;
        assert!(
            compare(&b, &report(200.0, 0), 0.10)
                .regressions()
                .is_empty()
        );
        assert!(c.table().contains("no regression past 10.0%"));
    }

    #[test]
    fn more_failures_are_a_regression() {
        let c = compare(&report(200.0, 1), &report(200.0, 5), 0.10);
        let flagged = flagged(&c);
        assert_eq!(
            flagged,
            [("certificate", "fail_rate"), ("signin", "fail_rate")]
        );
        // Fewer failures are an improvement.
        assert!(
            compare(&report(200.0, 5), &report(200.0, 1), 0.10)
                .regressions()
                .is_empty()
        );
    }

    #[test]
    fn tolerance_is_a_percentage_or_a_share() {
        assert_eq!(parse_tolerance("10%"), Ok(0.1));
        assert_eq!(parse_tolerance("0.25"), Ok(0.25));
        assert!(parse_tolerance("-5%").is_err());
        assert!(parse_tolerance("ten").is_err());
    }

    #[test]
    fn a_broken_file_says_where() {
        let dir = std::env::temp_dir().join(format!("phonestorm-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"phones\": [1,2").unwrap();
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("not a phonestorm JSON report"),
            "{e}"
        );
        let e = load(&dir.join("missing.json")).unwrap_err().to_string();
        assert!(e.contains("missing.json"), "{e}");
        let good = dir.join("good.json");
        std::fs::write(&good, report(1.0, 0).to_json()).unwrap();
        assert_eq!(load(&good).unwrap(), report(1.0, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
