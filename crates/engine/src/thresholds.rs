//! Pass/fail thresholds on a finished run's report.
//!
//! A threshold is written `"register.p99" = "< 2s"` or
//! `"certificate.fail_rate" = "< 0.01"`: a subject (a stage name, or
//! `signin` for the whole sign-in), a metric (`p50`, `p90`, `p99`, `p999`,
//! `max`, `fail_rate`), a comparison (`<`, `<=`, `>`, `>=`) and a value (a
//! duration for latencies, a share or percentage for `fail_rate`). Broken
//! thresholds come back as messages; the binary turns them into exit 1.

use std::fmt;

use phonestorm_phone::Stage;

use crate::report::{Latency, Report};

/// What a threshold is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// One stage.
    Stage(Stage),
    /// The whole sign-in, arrival to 200 OK.
    SignIn,
}

/// Which number of the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Median latency.
    P50,
    /// 90th percentile latency.
    P90,
    /// 99th percentile latency.
    P99,
    /// 99.9th percentile latency.
    P999,
    /// Largest latency.
    Max,
    /// Failed share of attempts (stage) or phones (sign-in).
    FailRate,
}

/// The comparison the measured value must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The key as written, e.g. `register.p99`.
    pub key: String,
    /// What it is about.
    pub subject: Subject,
    /// Which number.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The limit: milliseconds for latencies, a share (0 to 1) for
    /// `fail_rate`.
    pub value: f64,
}

impl Threshold {
    /// Parses `key = expr`; the error says what was expected.
    pub fn parse(key: &str, expr: &str) -> Result<Self, String> {
        let (subject, metric) = key
            .rsplit_once('.')
            .ok_or_else(|| format!("expected <stage|signin>.<metric> as the key, found {key:?}"))?;
        let subject = match subject {
            "signin" => Subject::SignIn,
            s => Subject::Stage(Stage::from_name(s).ok_or_else(|| {
                format!(
                    "expected signin or a stage name ({}), found {s:?}",
                    Stage::ALL.map(Stage::name).join(", ")
                )
            })?),
        };
        let metric = match metric {
            "p50" => Metric::P50,
            "p90" => Metric::P90,
            "p99" => Metric::P99,
            "p999" => Metric::P999,
            "max" => Metric::Max,
            "fail_rate" => Metric::FailRate,
            m => {
                return Err(format!(
                    "expected a metric p50, p90, p99, p999, max or fail_rate, found {m:?}"
                ));
            }
        };
        let expr = expr.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(p, op)| expr.strip_prefix(p).map(|r| (op, r.trim())))
            .ok_or_else(|| format!("expected a comparison such as \"< 2s\", found {expr:?}"))?;
        let value = if metric == Metric::FailRate {
            parse_share(rest)?
        } else {
            parse_millis(rest)?
        };
        Ok(Threshold {
            key: key.to_owned(),
            subject,
            metric,
            op,
            value,
        })
    }

    /// The measured value in `report`, or `None` with no samples.
    pub fn measure(&self, report: &Report) -> Option<f64> {
        let pick = |l: &Latency| match self.metric {
            Metric::P50 => l.p50,
            Metric::P90 => l.p90,
            Metric::P99 => l.p99,
            Metric::P999 => l.p999,
            Metric::Max => l.max,
            Metric::FailRate => 0.0,
        };
        match self.subject {
            Subject::SignIn => {
                let p = &report.phones;
                match self.metric {
                    Metric::FailRate if p.registered + p.failed > 0 => {
                        Some(report.signin_fail_rate())
                    }
                    Metric::FailRate => None,
                    _ if p.registered == 0 => None,
                    _ => Some(pick(&report.signin.latency_ms.corrected)),
                }
            }
            Subject::Stage(stage) => {
                let r = report.stages.get(stage)?;
                match self.metric {
                    Metric::FailRate if r.ok + r.failed > 0 => Some(r.fail_rate()),
                    Metric::FailRate => None,
                    _ if r.ok == 0 => None,
                    _ => Some(pick(&r.latency_ms.corrected)),
                }
            }
        }
    }

    fn show(&self, v: f64) -> String {
        if self.metric == Metric::FailRate {
            format!("{:.2}%", v * 100.0)
        } else {
            format!("{v:.1} ms")
        }
    }
}

/// The broken thresholds, one message each (empty: all hold). A threshold
/// with nothing to measure is broken: a run in which nothing registered
/// must not pass a registration latency threshold.
pub fn evaluate(thresholds: &[Threshold], report: &Report) -> Vec<String> {
    thresholds
        .iter()
        .filter_map(|t| match t.measure(report) {
            None => Some(format!("{}: no samples to judge", t.key)),
            Some(v) if t.op.holds(v, t.value) => None,
            Some(v) => Some(format!(
                "{}: measured {}, wanted {} {}",
                t.key,
                t.show(v),
                t.op,
                t.show(t.value)
            )),
        })
        .collect()
}

/// `2s`, `1.5s`, `250ms`, `800us`, `2m`, `1h` → milliseconds.
fn parse_millis(s: &str) -> Result<f64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let factor = match unit.trim() {
        "us" | "µs" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            return Err(format!(
                "expected a duration such as 2s or 250ms, found {s:?}"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a duration such as 2s or 250ms, found {s:?}"))?;
    Ok(n * factor)
}

/// `0.01` or `1%` → 0.01.
fn parse_share(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("expected a share such as 0.01 or 1%, found {s:?}"))?;
    let v = v / scale;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "expected a share between 0 and 1 (or 0% and 100%), found {s:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Phones, StageReport, Stages};

    #[test]
    fn parses_stage_latency() {
        let t = Threshold::parse("register.p99", "< 2s").unwrap();
        assert_eq!(t.subject, Subject::Stage(Stage::Register));
        assert_eq!((t.metric, t.op, t.value), (Metric::P99, Op::Lt, 2000.0));
        let t = Threshold::parse("signin.p999", "<=1.5s").unwrap();
        assert_eq!(
            (t.subject, t.op, t.value),
            (Subject::SignIn, Op::Le, 1500.0)
        );
        assert_eq!(Threshold::parse("dns.max", "< 800us").unwrap().value, 0.8);
    }

    #[test]
    fn parses_fail_rate_as_share_or_percent() {
        let t = Threshold::parse("certificate.fail_rate", "< 0.01").unwrap();
        assert_eq!((t.metric, t.value), (Metric::FailRate, 0.01));
        assert_eq!(
            Threshold::parse("signin.fail_rate", "<= 5%").unwrap().value,
            0.05
        );
    }

    #[test]
    fn refuses_with_what_is_expected() {
        let e = Threshold::parse("regster.p99", "< 2s").unwrap_err();
        assert!(e.starts_with("expected signin or a stage name"), "{e}");
        let e = Threshold::parse("register.p98", "< 2s").unwrap_err();
        assert!(e.starts_with("expected a metric"), "{e}");
        let e = Threshold::parse("register.p99", "2s").unwrap_err();
        assert!(e.starts_with("expected a comparison"), "{e}");
        let e = Threshold::parse("register.p99", "< 2 parsecs").unwrap_err();
        assert!(e.starts_with("expected a duration"), "{e}");
        let e = Threshold::parse("register.fail_rate", "< 2").unwrap_err();
        assert!(e.starts_with("expected a share between"), "{e}");
        assert!(Threshold::parse("p99", "< 1s").is_err());
    }

    fn report() -> Report {
        let mut reg = StageReport {
            count: 100,
            ok: 98,
            failed: 2,
            ..Default::default()
        };
        reg.latency_ms.corrected.p99 = 2500.0;
        Report {
            phones: Phones {
                scheduled: 100,
                started: 100,
                registered: 98,
                failed: 2,
                completed: 0,
            },
            stages: Stages(vec![
                (Stage::Register, reg),
                (Stage::Dns, StageReport::default()),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn evaluate_lists_only_broken_thresholds() {
        let ts = [
            Threshold::parse("register.p99", "< 2s").unwrap(),
            Threshold::parse("register.fail_rate", "< 0.05").unwrap(),
            Threshold::parse("signin.fail_rate", "< 1%").unwrap(),
        ];
        let broken = evaluate(&ts, &report());
        assert_eq!(
            broken,
            [
                "register.p99: measured 2500.0 ms, wanted < 2000.0 ms",
                "signin.fail_rate: measured 2.00%, wanted < 1.00%",
            ]
        );
    }

    #[test]
    fn nothing_to_measure_is_broken() {
        let ts = [Threshold::parse("dns.p50", "< 1s").unwrap()];
        assert_eq!(evaluate(&ts, &report()), ["dns.p50: no samples to judge"]);
    }
}
