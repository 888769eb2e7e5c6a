//! The harness watching itself: scheduler lag, its own CPU, and a plain
//! verdict on whether the figures describe the pool or the harness.
//!
//! Two signals, each with a bound:
//! - scheduler lag: how late the arrival loop woke for each phone against
//!   its intended start (or, when rate limits had held the loop back, the
//!   moment the loop was free again). More than 1% of arrivals over
//!   [`LAG_BOUND`] (lag p99 over the bound), and at least [`MIN_LATE`] of
//!   them, means the runtime could not keep time;
//! - CPU: the process using at least [`CPU_SHARE`] of the cores it may use,
//!   over a window of [`WINDOW`]: the phones then queue for a CPU and their
//!   latencies include that wait;
//! - the machine: all its cores at least [`CPU_SHARE`] busy over the
//!   window, whoever uses them. On a shared machine the harness can be
//!   starved while its own CPU looks modest (measured: 0.9 of 2 cores used
//!   with the machine at a load of 11, and sign-ins timing out), so its
//!   own share alone would pass a starved harness off as a slow pool.
//!
//! The live verdict (progress line, `phonestorm_harness_saturated`) judges
//! the last [`WINDOW`]; the report judges the whole run: the lag over every
//! arrival, and CPU saturated in any window. This module owns the
//! judgement and its inputs; it does not read the schedule or serve
//! anything.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::cpu::{self, CpuTime, MachineTime};

/// Arrivals later than this count as late.
pub const LAG_BOUND: Duration = Duration::from_millis(100);
/// Share of the cores at which the harness counts as CPU-bound.
pub const CPU_SHARE: f64 = 0.9;
/// Late arrivals needed, besides the 1%, to call the scheduler saturated:
/// one stall is a hiccup, not a trend.
pub const MIN_LATE: u64 = 3;
/// How far back the live verdict looks.
pub const WINDOW: Duration = Duration::from_secs(5);

/// Whether the harness is the bottleneck, and why, in words.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// The process used at least [`CPU_SHARE`] of its cores.
    pub cpu: bool,
    /// The machine's cores were at least [`CPU_SHARE`] busy, whoever used
    /// them.
    pub machine: bool,
    /// Over 1% of arrivals (and at least [`MIN_LATE`]) woke over
    /// [`LAG_BOUND`] late.
    pub lag: bool,
    /// What was measured, in one phrase.
    pub reason: String,
}

impl Verdict {
    /// Either signal.
    pub fn saturated(&self) -> bool {
        self.cpu || self.machine || self.lag
    }

    /// For the progress line: `harness ok (...)` or `HARNESS SATURATED: ...`.
    pub fn line(&self) -> String {
        if self.saturated() {
            format!(
                "HARNESS SATURATED: {} (figures describe the harness, not the pool)",
                self.reason
            )
        } else {
            format!("harness ok ({})", self.reason)
        }
    }
}

/// "1 core", "2 cores": a core count as the harness line says it.
pub fn cores_text(n: u64) -> String {
    if n == 1 {
        "1 core".to_owned()
    } else {
        format!("{n} cores")
    }
}

/// Judges one stretch of time: `cpu_used` cores busy on average (`None`
/// when unknown), of `cores`; the machine's busy share `machine_busy`
/// (0 to 1); `late` of `arrivals` over [`LAG_BOUND`].
pub fn judge(
    cpu_used: Option<f64>,
    cores: usize,
    machine_busy: Option<f64>,
    arrivals: u64,
    late: u64,
) -> Verdict {
    let cores_f = cores.max(1) as f64;
    let cpu = cpu_used.is_some_and(|u| u >= CPU_SHARE * cores_f);
    let machine = !cpu && machine_busy.is_some_and(|b| b >= CPU_SHARE);
    // Over 1% of arrivals late is the 99th percentile over the bound.
    let lag = late >= MIN_LATE && late.saturating_mul(100) > arrivals;
    let cpu_text = match cpu_used {
        Some(u) => format!(
            "CPU {u:.2} of {} ({:.0}%)",
            cores_text(cores as u64),
            100.0 * u / cores_f
        ),
        None => format!("CPU unknown, {}", cores_text(cores as u64)),
    };
    let lag_text = format!(
        "{late} of {arrivals} arrivals over {} ms late",
        LAG_BOUND.as_millis()
    );
    let mut reason = match (cpu, lag) {
        (true, false) => cpu_text,
        (false, true) => format!("scheduler lag: {lag_text}"),
        _ => format!("{cpu_text}, {lag_text}"),
    };
    if let (true, Some(b)) = (machine, machine_busy) {
        reason = format!(
            "machine CPU {:.0}% busy, other processes included; {reason}",
            100.0 * b
        );
    }
    Verdict {
        cpu,
        machine,
        lag,
        reason,
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu: Option<CpuTime>,
    machine: Option<MachineTime>,
    arrivals: u64,
    late: u64,
}

#[derive(Debug, Default)]
struct Samples {
    first: Option<Sample>,
    ring: VecDeque<Sample>,
    live: Verdict,
    cpu_saturated_for: Duration,
    machine_saturated_for: Duration,
    peak_cpu: f64,
}

/// The run's whole-run health, for the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Scheduler lag percentiles and maximum, milliseconds.
    pub lag_ms: [f64; 3],
    /// Arrivals measured.
    pub arrivals: u64,
    /// Arrivals over [`LAG_BOUND`] late.
    pub late: u64,
    /// CPU seconds since [`Health::begin`].
    pub cpu: CpuTime,
    /// Cores available.
    pub cores: usize,
    /// Highest CPU use over a [`WINDOW`], in cores.
    pub peak_cpu: f64,
    /// Time the CPU was saturated.
    pub cpu_saturated_for: Duration,
    /// Time the machine's CPU was saturated (the harness's own not).
    pub machine_saturated_for: Duration,
    /// The verdict over the run.
    pub verdict: Verdict,
}

/// The harness's health. Arrivals come from the one arrival loop, samples
/// from one sampling task: the locks here are never contended, and the
/// per-phone stage path does not touch them.
#[derive(Debug)]
pub struct Health {
    cores: usize,
    lag: Mutex<Option<Histogram<u64>>>,
    arrivals: AtomicU64,
    late: AtomicU64,
    samples: Mutex<Samples>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Health {
    /// Health of a process that may use `cores` CPU cores.
    pub fn new(cores: usize) -> Self {
        Health {
            cores: cores.max(1),
            // 1 µs to 1 h, 3 significant digits: the bounds are valid, so
            // this is always Some.
            lag: Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 3).ok()),
            arrivals: AtomicU64::new(0),
            late: AtomicU64::new(0),
            samples: Mutex::new(Samples::default()),
        }
    }

    /// Health of this process, on the cores it may use.
    pub fn for_this_process() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Cores the process may use.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// One arrival woke `lag` after it should have.
    pub fn arrival(&self, lag: Duration) {
        self.arrivals.fetch_add(1, Relaxed);
        if lag > LAG_BOUND {
            self.late.fetch_add(1, Relaxed);
        }
        if let Some(h) = lock(&self.lag).as_mut() {
            h.saturating_record(micros(lag).max(1));
        }
    }

    /// Arrivals so far, and those over [`LAG_BOUND`].
    pub fn arrivals(&self) -> (u64, u64) {
        (self.arrivals.load(Relaxed), self.late.load(Relaxed))
    }

    /// Starts the run's accounting: CPU is counted from here.
    pub fn begin(&self) {
        self.sample_at(crate::clock::now(), cpu::process(), cpu::machine());
    }

    /// Takes a sample now (call about once a second).
    pub fn sample(&self) {
        self.sample_at(crate::clock::now(), cpu::process(), cpu::machine());
    }

    /// Takes a sample with the CPU times given (tests give their own).
    pub fn sample_at(&self, at: Instant, cpu: Option<CpuTime>, machine: Option<MachineTime>) {
        let (arrivals, late) = self.arrivals();
        let now = Sample {
            at,
            cpu,
            machine,
            arrivals,
            late,
        };
        let mut s = lock(&self.samples);
        if s.first.is_none() {
            s.first = Some(now);
        }
        let previous = s.ring.back().copied();
        s.ring.push_back(now);
        // Keep one sample at or before the window's start.
        while s
            .ring
            .get(1)
            .is_some_and(|x| at.saturating_duration_since(x.at) >= WINDOW)
        {
            s.ring.pop_front();
        }
        let Some(oldest) = s.ring.front().copied() else {
            return;
        };
        let span = at.saturating_duration_since(oldest.at);
        if span < Duration::from_millis(500) {
            return;
        }
        let used = match (cpu, oldest.cpu) {
            (Some(c), Some(o)) => Some((c.total() - o.total()).max(0.0) / span.as_secs_f64()),
            _ => None,
        };
        let machine_busy = match (machine, oldest.machine) {
            (Some(m), Some(o)) if m.total > o.total => {
                Some((m.busy - o.busy).max(0.0) / (m.total - o.total))
            }
            _ => None,
        };
        let v = judge(
            used,
            self.cores,
            machine_busy,
            arrivals.saturating_sub(oldest.arrivals),
            late.saturating_sub(oldest.late),
        );
        if let Some(u) = used {
            s.peak_cpu = s.peak_cpu.max(u);
        }
        if let Some(p) = previous {
            let step = at.saturating_duration_since(p.at);
            if v.cpu {
                s.cpu_saturated_for += step;
            }
            if v.machine {
                s.machine_saturated_for += step;
            }
        }
        s.live = v;
    }

    /// The verdict over the last [`WINDOW`].
    pub fn live(&self) -> Verdict {
        lock(&self.samples).live.clone()
    }

    /// The whole run so far (take a last [`Health::sample`] first).
    pub fn summary(&self) -> Summary {
        let lag_ms = lock(&self.lag).as_ref().map_or([0.0; 3], |h| {
            if h.is_empty() {
                return [0.0; 3];
            }
            let ms = |us: u64| us as f64 / 1000.0;
            [
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
            ]
        });
        let (arrivals, late) = self.arrivals();
        let s = lock(&self.samples);
        let cpu = match (
            s.first.and_then(|f| f.cpu),
            s.ring.back().and_then(|l| l.cpu),
        ) {
            (Some(f), Some(l)) => CpuTime {
                user: (l.user - f.user).max(0.0),
                system: (l.system - f.system).max(0.0),
            },
            _ => CpuTime::default(),
        };
        let mut verdict = judge(None, self.cores, None, arrivals, late);
        verdict.cpu = s.cpu_saturated_for > Duration::ZERO;
        verdict.machine = s.machine_saturated_for > Duration::ZERO;
        let cpu_text = if verdict.cpu {
            format!(
                "CPU at {:.0}% or more of {} for {:.0} s (peak {:.2} cores)",
                CPU_SHARE * 100.0,
                cores_text(self.cores as u64),
                s.cpu_saturated_for.as_secs_f64(),
                s.peak_cpu
            )
        } else {
            format!(
                "CPU peak {:.2} of {}",
                s.peak_cpu,
                cores_text(self.cores as u64)
            )
        };
        let lag_text = format!(
            "scheduler lag p99 {:.1} ms ({late} of {arrivals} arrivals over {} ms)",
            lag_ms.get(1).copied().unwrap_or(0.0),
            LAG_BOUND.as_millis()
        );
        verdict.reason = match (verdict.cpu, verdict.lag) {
            (true, false) => cpu_text,
            (false, true) => lag_text,
            _ => format!("{cpu_text}; {lag_text}"),
        };
        if verdict.machine {
            verdict.reason = format!(
                "machine CPU {:.0}% or more busy, other processes included, for {:.0} s; {}",
                CPU_SHARE * 100.0,
                s.machine_saturated_for.as_secs_f64(),
                verdict.reason
            );
        }
        Summary {
            lag_ms,
            arrivals,
            late,
            cpu,
            cores: self.cores,
            peak_cpu: s.peak_cpu,
            cpu_saturated_for: s.cpu_saturated_for,
            machine_saturated_for: s.machine_saturated_for,
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_core_is_said_in_the_singular() {
        assert_eq!(cores_text(1), "1 core");
        assert_eq!(cores_text(2), "2 cores");
        assert!(
            judge(Some(0.5), 1, None, 10, 0)
                .reason
                .contains("of 1 core (")
        );
    }

    fn cpu(total: f64) -> Option<CpuTime> {
        Some(CpuTime {
            user: total * 0.75,
            system: total * 0.25,
        })
    }

    #[test]
    fn judge_names_each_signal() {
        let ok = judge(Some(0.5), 2, Some(0.3), 1000, 2);
        assert!(!ok.saturated(), "{ok:?}");
        assert!(
            ok.line()
                .starts_with("harness ok (CPU 0.50 of 2 cores (25%)")
        );
        let hot = judge(Some(1.85), 2, Some(0.95), 1000, 0);
        assert!(hot.cpu && !hot.lag && !hot.machine, "{hot:?}");
        // Starved by other processes: the harness's own share is modest.
        let starved = judge(Some(0.9), 2, Some(0.97), 1000, 0);
        assert!(starved.machine && !starved.cpu, "{starved:?}");
        assert!(
            starved.line().starts_with(
                "HARNESS SATURATED: machine CPU 97% busy, other processes included; CPU 0.90 of 2 cores"
            ),
            "{}",
            starved.line()
        );
        assert!(
            hot.line()
                .starts_with("HARNESS SATURATED: CPU 1.85 of 2 cores (92%)")
        );
        let late = judge(Some(0.2), 2, None, 100, 3);
        assert!(late.lag && !late.cpu, "{late:?}");
        assert!(late.reason.contains("3 of 100 arrivals over 100 ms late"));
        // Exactly 1% is p99 at the bound, not over it.
        assert!(!judge(None, 2, None, 1000, 10).lag);
        assert!(judge(None, 2, None, 1000, 11).lag);
        // Two stalls are a hiccup however few arrivals there were.
        assert!(!judge(None, 2, None, 10, 2).lag);
        assert!(!judge(None, 0, None, 0, 0).saturated());
    }

    #[tokio::test(start_paused = true)]
    async fn live_verdict_follows_the_window_and_the_run_remembers() {
        let h = Health::new(2);
        let t0 = crate::clock::now();
        let s = Duration::from_secs(1);
        h.sample_at(t0, cpu(10.0), None);
        // Ten seconds at 1.9 cores, then ten idle.
        for i in 1..=10u32 {
            h.sample_at(t0 + s * i, cpu(10.0 + 1.9 * f64::from(i)), None);
        }
        assert!(h.live().cpu, "{:?}", h.live());
        for i in 11..=20u32 {
            h.sample_at(t0 + s * i, cpu(29.0), None);
        }
        assert!(!h.live().saturated(), "{:?}", h.live());
        let sum = h.summary();
        assert!((sum.cpu.total() - 19.0).abs() < 1e-6, "{sum:?}");
        assert!((sum.peak_cpu - 1.9).abs() < 1e-6, "{sum:?}");
        assert!(sum.verdict.cpu, "{sum:?}");
        assert!(
            sum.verdict
                .reason
                .starts_with("CPU at 90% or more of 2 cores for 1"),
            "{}",
            sum.verdict.reason
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_machine_is_said_even_when_the_harness_is_modest() {
        let h = Health::new(2);
        let t0 = crate::clock::now();
        let m = |busy: f64, total: f64| Some(MachineTime { busy, total });
        h.sample_at(t0, cpu(0.0), m(0.0, 0.0));
        // Two cores for 5 s: 10 s in all, 9.8 busy; the harness used 4.
        h.sample_at(t0 + Duration::from_secs(5), cpu(4.0), m(9.8, 10.0));
        let live = h.live();
        assert!(live.machine && !live.cpu, "{live:?}");
        let sum = h.summary();
        assert!(sum.verdict.saturated(), "{sum:?}");
        assert!(
            sum.verdict
                .reason
                .starts_with("machine CPU 90% or more busy, other processes included, for 5 s"),
            "{}",
            sum.verdict.reason
        );
    }

    #[tokio::test(start_paused = true)]
    async fn late_arrivals_show_in_lag_and_verdict() {
        let h = Health::new(4);
        let t0 = crate::clock::now();
        h.sample_at(t0, None, None);
        for i in 0..200u32 {
            let lag = if i % 20 == 0 {
                Duration::from_millis(250)
            } else {
                Duration::from_millis(1)
            };
            h.arrival(lag);
        }
        h.sample_at(t0 + Duration::from_secs(1), None, None);
        assert!(h.live().lag, "{:?}", h.live());
        let sum = h.summary();
        assert_eq!((sum.arrivals, sum.late), (200, 10));
        assert!((sum.lag_ms[0] - 1.0).abs() < 0.01, "{sum:?}");
        assert!((sum.lag_ms[1] - 250.0).abs() < 0.5, "{sum:?}");
        assert!((sum.lag_ms[2] - 250.0).abs() < 0.5, "{sum:?}");
        assert!(sum.verdict.lag && !sum.verdict.cpu, "{sum:?}");
        assert!(sum.verdict.reason.starts_with("scheduler lag p99 250"));
    }
}
