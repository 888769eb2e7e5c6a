//! Which stage gave out first, and when: read off the timeline.
//!
//! A stage "gives out" when its corrected p99 climbs faster than the load
//! (arrivals per second) for two sampled intervals in a row: more than
//! [`CLIMB`] times its early p99 scaled by how much the load grew, and at
//! least [`MIN_RISE_MS`] above it (so a millisecond stage wobbling by
//! tens of milliseconds, as a busy load generator's own scheduling makes
//! it, is not a finding); or when a sizeable share of its attempts fail ([`FAIL_SHARE`],
//! the rejections a saturated service answers with). The stage whose
//! first sign comes earliest is the bottleneck (latency is judged only
//! while phones arrive; a backlog draining afterwards is not news); the sentence names it,
//! when, at what load, and what a healthy stage did meanwhile, e.g.
//! "certificate p99 passed 2.1 s at 140 sign-ins/s (31 s into the run)
//! while register p99 stayed under 50 ms; rejections from 38 s (http_503)".
//!
//! This module owns that judgement only; it reads [`Timeline`] and never
//! the recording.

use phonestorm_phone::Stage;
use serde::{Deserialize, Serialize};

use crate::timeline::{Interval, Timeline};

/// How many times faster than the load p99 must grow to count.
pub const CLIMB: f64 = 2.0;
/// The smallest p99 rise that counts, in milliseconds.
pub const MIN_RISE_MS: f64 = 100.0;
/// The failed share of an interval's attempts that counts as rejections.
pub const FAIL_SHARE: f64 = 0.05;
/// Successful attempts an interval needs for its p99 to be judged.
pub const MIN_SAMPLES: u64 = 3;
/// Failed attempts an interval needs for its share to be judged.
const MIN_FAILURES: u64 = 3;
/// How the reasons of failures on this machine begin
/// (`FailureKind::Local`: `local_files`, `local_ports`, `local_memory`).
pub const LOCAL_PREFIX: &str = "local_";
/// Early sampled intervals whose p99 and load make the baseline.
const BASELINE_INTERVALS: usize = 3;

/// The finding, for the table, the JSON and the HTML report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Bottleneck {
    /// The stage that gave out first (`None`: none did).
    pub stage: Option<String>,
    /// Run time when its latency passed the mark, seconds.
    pub latency_at_s: Option<f64>,
    /// Its p99 then, milliseconds.
    pub p99_ms: Option<f64>,
    /// Its early p99, milliseconds.
    pub baseline_p99_ms: Option<f64>,
    /// Arrivals per second then.
    pub signins_per_s: Option<f64>,
    /// Run time of its first interval with rejections, seconds.
    pub failures_at_s: Option<f64>,
    /// The most common failure reason in that interval.
    pub failure_reason: Option<String>,
    /// One sentence for people.
    pub sentence: String,
}

/// Offered load of an interval: arrivals per second (scheduled, or
/// started when phones ran ahead of a schedule-less run).
fn load(i: &Interval) -> f64 {
    i.per_second(i.scheduled.max(i.started))
}

/// `1234.5` → `1.2 s`, `48.2` → `48 ms`.
fn ms_text(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// The next 1, 2, 5 × 10^k at or above `ms` (at least 1 ms): "stayed
/// under 50 ms" reads better than "stayed under 43.7 ms".
fn round_up(ms: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * step >= ms {
                return m * step;
            }
        }
        step *= 10.0;
        if step > 1e9 {
            return ms;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Climb {
    at: usize,
    p99: f64,
    base: f64,
}

/// When `stage`'s p99 first climbed faster than the load.
fn climb(tl: &Timeline, stage: Stage) -> Option<Climb> {
    let sampled: Vec<(usize, f64, f64)> = tl
        .intervals
        .iter()
        .enumerate()
        .filter_map(|(n, i)| {
            let s = i.stage(stage)?;
            // After the last arrival a backlog drains at no load: what
            // built it was judged in the intervals before.
            (s.ok >= MIN_SAMPLES && load(i) > 0.0).then_some((
                n,
                s.latency_ms.corrected.p99,
                load(i),
            ))
        })
        .collect();
    let early = sampled.get(..BASELINE_INTERVALS.min(sampled.len()))?;
    if early.is_empty() {
        return None;
    }
    let mut p99s: Vec<f64> = early.iter().map(|e| e.1).collect();
    p99s.sort_by(f64::total_cmp);
    let base = p99s.get(p99s.len() / 2).copied().unwrap_or(0.0);
    let base_load = early.iter().map(|e| e.2).sum::<f64>() / early.len() as f64;
    let over = |&(_, p99, l): &(usize, f64, f64)| {
        let growth = if base_load > 0.0 {
            (l / base_load).max(1.0)
        } else {
            1.0
        };
        p99 > CLIMB * base * growth && p99 - base >= MIN_RISE_MS
    };
    let rest = sampled.get(early.len()..)?;
    // Two in a row, or the last sampled interval.
    rest.iter().enumerate().find_map(|(k, e)| {
        let next_too = rest.get(k + 1).is_none_or(over);
        (over(e) && next_too).then_some(Climb {
            at: e.0,
            p99: e.1,
            base,
        })
    })
}

/// `stage`'s first interval with rejections. Attempts that failed for
/// want of something on this machine (`local_*`) never reached the pool:
/// they count neither way.
fn rejections(tl: &Timeline, stage: Stage) -> Option<usize> {
    tl.intervals.iter().enumerate().find_map(|(n, i)| {
        let s = i.stage(stage)?;
        let failed = s.failed.saturating_sub(s.local);
        let ended = s.ended().saturating_sub(s.local);
        let share = if ended == 0 {
            0.0
        } else {
            failed as f64 / ended as f64
        };
        (failed >= MIN_FAILURES && share >= FAIL_SHARE).then_some(n)
    })
}

/// The most common failure reason of interval `n` (over all stages: the
/// interval's reasons are not kept per stage), `local_*` apart.
fn main_reason(tl: &Timeline, n: usize) -> Option<String> {
    tl.intervals
        .get(n)?
        .failures
        .iter()
        .filter(|(r, _)| !r.starts_with(LOCAL_PREFIX))
        .max_by_key(|(_, c)| **c)
        .map(|(r, _)| r.clone())
}

/// Finds the stage that gave out first in `tl`.
pub fn find(tl: &Timeline) -> Bottleneck {
    struct Sign {
        stage: Stage,
        first: usize,
        climb: Option<Climb>,
        reject: Option<usize>,
    }
    let signs: Vec<Sign> = Stage::ALL
        .iter()
        .filter_map(|&stage| {
            let climb = climb(tl, stage);
            let reject = rejections(tl, stage);
            let first = match (climb.map(|c| c.at), reject) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b)?,
            };
            Some(Sign {
                stage,
                first,
                climb,
                reject,
            })
        })
        .collect();
    // Earliest sign first; on a tie, the steeper climb.
    let Some(worst) = signs.iter().min_by(|a, b| {
        a.first.cmp(&b.first).then_with(|| {
            let r = |s: &Sign| s.climb.map_or(0.0, |c| c.p99 / c.base.max(1e-9));
            r(b).total_cmp(&r(a))
        })
    }) else {
        return Bottleneck {
            sentence: "no stage gave out".into(),
            ..Default::default()
        };
    };
    let at = |n: usize| tl.intervals.get(n).map_or(0.0, |i| i.end_s);
    let rate = |n: usize| tl.intervals.get(n).map_or(0.0, load);
    let reason = worst.reject.and_then(|n| main_reason(tl, n));

    // A stage that stayed healthy up to then, for contrast: register if
    // it can be (what a user waits for last), else the latest other one.
    let upto = worst.first;
    let healthy = |s: Stage| -> Option<(Stage, f64)> {
        if s == worst.stage || signs.iter().any(|g| g.stage == s && g.first <= upto) {
            return None;
        }
        tl.intervals
            .iter()
            .take(upto + 1)
            .filter_map(|i| i.stage(s))
            .filter(|x| x.ok >= MIN_SAMPLES)
            .map(|x| x.latency_ms.corrected.p99)
            .reduce(f64::max)
            .map(|max| (s, max))
    };
    let contrast =
        healthy(Stage::Register).or_else(|| Stage::ALL.iter().rev().find_map(|&s| healthy(s)));

    let name = worst.stage.name();
    let mut sentence = match worst.climb.filter(|c| c.at == worst.first) {
        Some(c) => format!(
            "{name} p99 passed {} at {:.0} sign-ins/s ({:.0} s into the run; it was {} early on)",
            ms_text(c.p99),
            rate(c.at),
            at(c.at),
            ms_text(c.base)
        ),
        None => format!(
            "{name} began rejecting at {:.0} sign-ins/s ({:.0} s into the run{})",
            rate(worst.first),
            at(worst.first),
            reason
                .as_ref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        ),
    };
    if let Some((s, max)) = contrast {
        sentence.push_str(&format!(
            " while {} p99 stayed under {}",
            s.name(),
            ms_text(round_up(max))
        ));
    }
    if let (Some(c), Some(n)) = (worst.climb, worst.reject)
        && c.at == worst.first
    {
        sentence.push_str(&format!(
            "; rejections from {:.0} s{}",
            at(n),
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    Bottleneck {
        stage: Some(name.to_owned()),
        latency_at_s: worst.climb.map(|c| at(c.at)),
        p99_ms: worst.climb.map(|c| c.p99),
        baseline_p99_ms: worst.climb.map(|c| c.base),
        signins_per_s: Some(rate(worst.first)),
        failures_at_s: worst.reject.map(at),
        failure_reason: reason,
        sentence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::IntervalStage;

    /// A timeline of 1 s intervals: `arrivals[n]` scheduled in interval n,
    /// and per stage `(p99 ms, ok, failed)` for each interval.
    /// Per interval: (p99 ms, ok, failed).
    type Series = Vec<(f64, u64, u64)>;

    fn timeline(arrivals: &[u64], stages: &[(Stage, Series)]) -> Timeline {
        let intervals = arrivals
            .iter()
            .enumerate()
            .map(|(n, &a)| {
                let mut i = Interval {
                    start_s: n as f64,
                    end_s: n as f64 + 1.0,
                    scheduled: a,
                    started: a,
                    ..Default::default()
                };
                for (stage, series) in stages {
                    if let Some(&(p99, ok, failed)) = series.get(n) {
                        let mut s = IntervalStage {
                            ok,
                            failed,
                            ..Default::default()
                        };
                        s.latency_ms.corrected.p99 = p99;
                        i.stages.insert(stage.name().into(), s);
                        if failed > 0 {
                            *i.failures.entry("http_503".into()).or_insert(0) += failed;
                        }
                    }
                }
                i
            })
            .collect();
        Timeline {
            interval_s: 1.0,
            start_unix_s: 0.0,
            intervals,
        }
    }

    #[test]
    fn the_stage_whose_latency_climbs_at_steady_load_is_named() {
        // Load ramps 100 → 140 a second; certificate p99 goes from 200 ms
        // to 2.5 s at 140/s, then rejects; register stays near 40 ms.
        let arrivals = [100, 100, 100, 120, 140, 140, 140];
        let cert = vec![
            (200.0, 100, 0),
            (210.0, 100, 0),
            (205.0, 100, 0),
            (300.0, 120, 0),
            (2500.0, 130, 0),
            (3000.0, 120, 0),
            (3200.0, 60, 60),
        ];
        let reg = vec![(40.0, 100, 0); 7];
        let tl = timeline(
            &arrivals,
            &[(Stage::Certificate, cert), (Stage::Register, reg)],
        );
        let b = find(&tl);
        assert_eq!(b.stage.as_deref(), Some("certificate"));
        assert_eq!(b.latency_at_s, Some(5.0));
        assert_eq!(b.signins_per_s, Some(140.0));
        assert_eq!(b.failures_at_s, Some(7.0));
        assert_eq!(
            b.sentence,
            "certificate p99 passed 2.5 s at 140 sign-ins/s (5 s into the run; it was 205 ms early on) \
             while register p99 stayed under 50 ms; rejections from 7 s (http_503)"
        );
    }

    #[test]
    fn latency_growing_with_the_load_is_not_a_bottleneck() {
        // Load and p99 both triple: the service scales.
        let arrivals = [10, 10, 10, 20, 30, 30];
        let dns = vec![
            (100.0, 10, 0),
            (100.0, 10, 0),
            (100.0, 10, 0),
            (190.0, 20, 0),
            (290.0, 30, 0),
            (300.0, 30, 0),
        ];
        let b = find(&timeline(&arrivals, &[(Stage::Dns, dns)]));
        assert_eq!(b.stage, None);
        assert_eq!(b.sentence, "no stage gave out");
    }

    /// 50 arrivals a second; from the fourth second the web ticket fails
    /// a fifth, then two fifths, of its attempts (`http_503`) while its
    /// p99 and register's stay flat.
    fn web_ticket_rejecting() -> Timeline {
        let ticket = vec![
            (30.0, 50, 0),
            (30.0, 50, 0),
            (30.0, 50, 0),
            (30.0, 40, 10),
            (30.0, 30, 20),
        ];
        let reg = vec![(8.0, 50, 0); 5];
        timeline(
            &[50; 5],
            &[(Stage::WebTicket, ticket), (Stage::Register, reg)],
        )
    }

    #[test]
    fn rejections_alone_name_a_stage() {
        let b = find(&web_ticket_rejecting());
        assert_eq!(b.stage.as_deref(), Some("web_ticket"));
        assert_eq!(b.failures_at_s, Some(4.0));
        assert_eq!(b.failure_reason.as_deref(), Some("http_503"));
        assert_eq!(
            b.sentence,
            "web_ticket began rejecting at 50 sign-ins/s (4 s into the run, http_503) \
             while register p99 stayed under 10 ms"
        );
    }

    #[test]
    fn every_shortage_reason_has_the_local_prefix() {
        use phonestorm_phone::{FailureKind, Shortage};
        for s in [Shortage::Files, Shortage::Ports, Shortage::Memory] {
            assert!(FailureKind::Local(s).to_string().starts_with(LOCAL_PREFIX));
        }
        assert!(!FailureKind::Other.to_string().starts_with(LOCAL_PREFIX));
    }

    #[test]
    fn failures_on_this_machine_are_not_the_pools_rejections() {
        // The same rejections as above, but each for want of an open file
        // on the harness's machine (`local_files`): the pool never saw them.
        let mut tl = web_ticket_rejecting();
        for i in &mut tl.intervals {
            if let Some(n) = i.failures.remove("http_503") {
                i.failures.insert("local_files".into(), n);
            }
            for s in i.stages.values_mut() {
                s.local = s.failed;
            }
        }
        let b = find(&tl);
        assert_eq!(b.stage, None, "{b:?}");
        assert_eq!(b.sentence, "no stage gave out");
        // Beside the pool's own rejections, they neither hide them nor
        // become their reason.
        let i = &mut tl.intervals[4];
        i.failures.insert("http_503".into(), 5);
        if let Some(s) = i.stages.get_mut("web_ticket") {
            s.failed += 5;
        }
        let b = find(&tl);
        assert_eq!(b.stage.as_deref(), Some("web_ticket"), "{b:?}");
        assert_eq!(b.failure_reason.as_deref(), Some("http_503"));
    }

    #[test]
    fn one_slow_interval_is_noise_and_an_empty_run_has_no_finding() {
        let arrivals = [10; 6];
        let dhcp = vec![
            (5.0, 10, 0),
            (5.0, 10, 0),
            (5.0, 10, 0),
            (900.0, 10, 0),
            (5.0, 10, 0),
            (5.0, 10, 0),
        ];
        assert_eq!(
            find(&timeline(&arrivals, &[(Stage::Dhcp, dhcp)])).stage,
            None
        );
        assert_eq!(find(&Timeline::default()).sentence, "no stage gave out");
    }

    #[test]
    fn a_fast_stage_wobbling_by_tens_of_ms_is_not_a_finding() {
        // 8 ms → 64 ms while the load triples: eight times, but 56 ms is
        // what a loaded generator's scheduling adds, not a server giving out.
        let arrivals = [10, 10, 10, 30, 30, 30];
        let vlan = vec![
            (8.0, 10, 0),
            (8.0, 10, 0),
            (8.0, 10, 0),
            (64.0, 30, 0),
            (70.0, 30, 0),
            (60.0, 30, 0),
        ];
        assert_eq!(
            find(&timeline(&arrivals, &[(Stage::Vlan, vlan)])).stage,
            None
        );
    }

    #[test]
    fn round_numbers_for_people() {
        assert_eq!(round_up(43.7), 50.0);
        assert_eq!(round_up(0.2), 1.0);
        assert_eq!(round_up(120.0), 200.0);
        assert_eq!(ms_text(2500.0), "2.5 s");
        assert_eq!(ms_text(48.2), "48 ms");
    }
}
