//! Open-model arrivals: when each phone is meant to start.
//!
//! Phones arrive on a timetable fixed before the run, whatever the server
//! does (an open model, as wrk2 and oha do it): a slow pool does not slow
//! the arrivals down, it makes latency grow. Every profile is a rate
//! λ(t) in phones per second made of linear segments; phone `k` arrives
//! where the cumulative rate Λ(t) reaches `k` (uniform spacing) or the
//! `k`-th point of a unit-rate Poisson process (Poisson spacing: Λ⁻¹ maps
//! a homogeneous process onto the profile). The Poisson process is the one
//! conditioned on holding exactly the run's `n` phones in [0, n): its
//! points are then `n` sorted uniform draws on [0, n). Unconditioned, the
//! sum of `n` exponential gaps overshoots `n` half the time, and a curve
//! holding `n` phones would drop the last few hundred of 20,000 past its
//! end. Everything here is a pure
//! function of its arguments; the caller passes the seeded RNG. Starting
//! the phones on time is `run`'s job.

use std::path::Path;
use std::time::Duration;

use rand::{Rng, RngExt};

use crate::error::{Error, Result};

/// How arrivals are spaced within the profile's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    /// Evenly: at rate 10/s, one phone every 100 ms.
    #[default]
    Uniform,
    /// A Poisson process: exponential gaps, the same mean rate (given
    /// the phone count: every phone arrives within the span uniform
    /// spacing would give them).
    Poisson,
}

/// One step of a [`Profile::Steps`] profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Phones per second during the step.
    pub rate: f64,
    /// How long the step lasts (the last step lasts until every phone has
    /// arrived).
    pub duration: Duration,
}

/// The shape of the arrival rate over time (before time compression).
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// `rate` phones per second until every phone has arrived.
    Constant {
        /// Phones per second.
        rate: f64,
    },
    /// The rate goes linearly from `from` to `to` over `over`, then stays.
    Ramp {
        /// Phones per second at the start.
        from: f64,
        /// Phones per second at the end of the ramp and after.
        to: f64,
        /// Length of the ramp.
        over: Duration,
    },
    /// A staircase of constant rates.
    Steps(Vec<Step>),
    /// `base` phones per second, `peak` from `at` for `duration`, then
    /// `base` again.
    Spike {
        /// Phones per second outside the spike.
        base: f64,
        /// Phones per second during the spike.
        peak: f64,
        /// When the spike starts.
        at: Duration,
        /// How long it lasts.
        duration: Duration,
    },
    /// Power restored: every phone at once, or spread over `within`.
    AllAtOnce {
        /// Spread the arrivals over this window (zero: all at time 0).
        within: Duration,
    },
    /// A measured curve: phones per minute, minute by minute. Arrivals stop
    /// where the curve ends, even if fewer than the phone count arrived.
    Curve(Vec<f64>),
}

/// One linear piece of λ(t): from `start_rate` to `end_rate` over `len`
/// seconds (`None`: forever, at `start_rate`).
#[derive(Debug, Clone, Copy)]
struct Segment {
    len: Option<f64>,
    start_rate: f64,
    end_rate: f64,
}

impl Segment {
    fn flat(len: Option<f64>, rate: f64) -> Self {
        Segment {
            len,
            start_rate: rate,
            end_rate: rate,
        }
    }

    /// Λ over the whole segment (infinite for an open one with a rate).
    fn total(&self) -> f64 {
        match self.len {
            Some(t) => (self.start_rate + self.end_rate) * t / 2.0,
            None if self.start_rate > 0.0 => f64::INFINITY,
            None => 0.0,
        }
    }

    /// The time into the segment where Λ reaches `c` (0 ≤ c ≤ total).
    fn invert(&self, c: f64) -> f64 {
        let a = self.start_rate;
        let k = match self.len {
            Some(t) if t > 0.0 => (self.end_rate - a) / (2.0 * t),
            _ => 0.0,
        };
        // Solves k t² + a t = c in the form that stays exact when k → 0.
        let disc = (a * a + 4.0 * k * c).max(0.0);
        let denom = a + disc.sqrt();
        if denom <= 0.0 { 0.0 } else { 2.0 * c / denom }
    }
}

impl Profile {
    fn segments(&self, n: u32) -> Vec<Segment> {
        let secs = |d: &Duration| d.as_secs_f64();
        match self {
            Profile::Constant { rate } => vec![Segment::flat(None, *rate)],
            Profile::Ramp { from, to, over } => vec![
                Segment {
                    len: Some(secs(over)),
                    start_rate: *from,
                    end_rate: *to,
                },
                Segment::flat(None, *to),
            ],
            Profile::Steps(steps) => {
                let mut v: Vec<Segment> = steps
                    .iter()
                    .map(|s| Segment::flat(Some(secs(&s.duration)), s.rate))
                    .collect();
                if let Some(last) = steps.last() {
                    v.push(Segment::flat(None, last.rate));
                }
                v
            }
            Profile::Spike {
                base,
                peak,
                at,
                duration,
            } => vec![
                Segment::flat(Some(secs(at)), *base),
                Segment::flat(Some(secs(duration)), *peak),
                Segment::flat(None, *base),
            ],
            Profile::AllAtOnce { within } => {
                let w = secs(within);
                vec![Segment::flat(Some(w), f64::from(n) / w)]
            }
            Profile::Curve(per_minute) => per_minute
                .iter()
                .map(|p| Segment::flat(Some(60.0), p / 60.0))
                .collect(),
        }
    }
}

/// Each phone's intended start, as an offset from the run's start, in
/// order. `compression` divides the profile's time axis (60: an hour's
/// profile in a minute); arrivals after `max` are dropped, and so are
/// arrivals past the end of a finite profile, so the result may hold fewer
/// than `n` entries.
pub fn schedule<R: Rng + ?Sized>(
    profile: &Profile,
    n: u32,
    spacing: Spacing,
    compression: f64,
    max: Option<Duration>,
    rng: &mut R,
) -> Result<Vec<Duration>> {
    if !(compression.is_finite() && compression > 0.0) {
        return Err(Error::Schedule(format!(
            "compression must be a positive number, not {compression}"
        )));
    }
    if let Profile::AllAtOnce { within } = profile
        && within.is_zero()
    {
        return Ok(vec![Duration::ZERO; usize::try_from(n).unwrap_or(0)]);
    }
    let segments = profile.segments(n);
    if segments.iter().any(|s| {
        !(s.start_rate.is_finite() && s.end_rate.is_finite())
            || s.start_rate < 0.0
            || s.end_rate < 0.0
    }) {
        return Err(Error::Schedule(
            "rates must be finite and not negative".into(),
        ));
    }
    let max_secs = max.map(|d| d.as_secs_f64());
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    // Walk segments and targets together: both only move forward.
    let mut seg_iter = segments.iter();
    let mut seg = seg_iter.next().copied();
    let (mut seg_start_t, mut seg_start_c) = (0.0_f64, 0.0_f64);
    // A unit-rate Poisson process given n points in [0, n): n sorted
    // uniform draws there (the module's doc says why conditioned).
    let poisson: Vec<f64> = match spacing {
        Spacing::Uniform => Vec::new(),
        Spacing::Poisson => {
            let span = f64::from(n);
            let mut v: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * span).collect();
            v.sort_by(f64::total_cmp);
            v
        }
    };
    for k in 0..n {
        let target = match spacing {
            Spacing::Uniform => f64::from(k),
            Spacing::Poisson => poisson.get(k as usize).copied().unwrap_or(f64::from(k)),
        };
        // Advance to the segment holding `target`.
        let t = loop {
            let Some(s) = seg else { break None };
            let total = s.total();
            if target - seg_start_c < total {
                break Some(seg_start_t + s.invert(target - seg_start_c));
            }
            seg_start_c += total;
            seg_start_t += s.len.unwrap_or(0.0);
            seg = seg_iter.next().copied();
        };
        let Some(t) = t else {
            if matches!(profile, Profile::Curve(_)) {
                break;
            }
            return Err(Error::Schedule(format!(
                "the profile's rate falls to zero after {k} of {n} phones"
            )));
        };
        let t = t / compression;
        if max_secs.is_some_and(|m| t > m) {
            break;
        }
        let d = Duration::try_from_secs_f64(t)
            .map_err(|e| Error::Schedule(format!("arrival time {t} s: {e}")))?;
        out.push(d);
    }
    Ok(out)
}

/// Parses an arrival curve: one `minute,phones` row per minute, minutes
/// counting 0, 1, 2… without gaps; a first line starting with a letter is a
/// header; blank lines and `#` comments are skipped.
pub fn parse_curve(path: &Path, text: &str) -> Result<Vec<f64>> {
    let mut per_minute = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || (per_minute.is_empty() && line.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            continue;
        }
        let bad = |message: String| Error::Csv {
            path: path.to_owned(),
            line: n,
            message,
        };
        let Some((minute, phones)) = line.split_once(',') else {
            return Err(bad(format!("expected minute,phones, found {line:?}")));
        };
        let minute: usize = minute.trim().parse().map_err(|_| {
            bad(format!(
                "expected a whole minute, found {:?}",
                minute.trim()
            ))
        })?;
        if minute != per_minute.len() {
            return Err(bad(format!(
                "expected minute {}, found {minute} (minutes count up from 0 without gaps)",
                per_minute.len()
            )));
        }
        let phones: f64 = phones.trim().parse().map_err(|_| {
            bad(format!(
                "expected phones per minute, found {:?}",
                phones.trim()
            ))
        })?;
        if !(phones.is_finite() && phones >= 0.0) {
            return Err(bad(format!(
                "expected phones per minute of 0 or more, found {phones}"
            )));
        }
        per_minute.push(phones);
    }
    if per_minute.is_empty() {
        return Err(Error::Csv {
            path: path.to_owned(),
            line: 0,
            message: "the curve has no rows".into(),
        });
    }
    Ok(per_minute)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn uniform(p: &Profile, n: u32) -> Vec<Duration> {
        schedule(
            p,
            n,
            Spacing::Uniform,
            1.0,
            None,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap()
    }

    fn is_monotonic(v: &[Duration]) -> bool {
        v.windows(2).all(|w| w[0] <= w[1])
    }

    #[test]
    fn constant_uniform_is_evenly_spaced() {
        let v = uniform(&Profile::Constant { rate: 10.0 }, 5);
        let ms: Vec<u128> = v.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 200, 300, 400]);
    }

    #[test]
    fn compression_divides_time() {
        let v = schedule(
            &Profile::Constant { rate: 1.0 },
            3,
            Spacing::Uniform,
            60.0,
            None,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        assert_eq!(v[2].as_millis(), 33);
    }

    #[test]
    fn poisson_with_fixed_seed_keeps_mean_rate() {
        let n = 20_000;
        let v = schedule(
            &Profile::Constant { rate: 50.0 },
            n,
            Spacing::Poisson,
            1.0,
            None,
            &mut StdRng::seed_from_u64(42),
        )
        .unwrap();
        assert_eq!(v.len(), 20_000);
        assert!(is_monotonic(&v));
        let rate = f64::from(n) / v.last().unwrap().as_secs_f64();
        assert!((rate - 50.0).abs() < 50.0 * 0.03, "rate {rate}");
        // Exponential gaps: the coefficient of variation is about 1.
        let gaps: Vec<f64> = v.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
    }

    /// A curve holding `n` phones schedules all `n` with Poisson spacing,
    /// whatever the seed: the Poisson process is conditioned on the count.
    #[test]
    fn poisson_on_a_curve_schedules_every_phone_within_it() {
        // 2,000 phones over 10 minutes, rising then falling.
        let curve: Vec<f64> = [
            50.0, 100.0, 200.0, 300.0, 350.0, 350.0, 300.0, 200.0, 100.0, 50.0,
        ]
        .to_vec();
        assert_eq!(curve.iter().sum::<f64>(), 2000.0);
        for seed in 0..20 {
            let v = schedule(
                &Profile::Curve(curve.clone()),
                2000,
                Spacing::Poisson,
                1.0,
                None,
                &mut StdRng::seed_from_u64(seed),
            )
            .unwrap();
            assert_eq!(v.len(), 2000, "seed {seed}");
            assert!(is_monotonic(&v));
            assert!(v.last().unwrap().as_secs_f64() <= 600.0);
            // The busiest minutes get the most arrivals, as the curve says.
            let minute = |m: u64| v.iter().filter(|d| d.as_secs() / 60 == m).count();
            assert!(minute(4) > minute(0) * 4, "seed {seed}");
        }
    }

    #[test]
    fn ramp_arrivals_match_the_integral() {
        // 0 → 10/s over 10 s: Λ(10) = 50 phones, then 10/s.
        let v = uniform(
            &Profile::Ramp {
                from: 0.0,
                to: 10.0,
                over: Duration::from_secs(10),
            },
            151,
        );
        assert_eq!(v.len(), 151);
        assert!(is_monotonic(&v));
        // Λ(t) = t²/2 on the ramp: phone 50 at 10 s, phone 150 at 20 s.
        assert!((v[50].as_secs_f64() - 10.0).abs() < 1e-6);
        assert!((v[150].as_secs_f64() - 20.0).abs() < 1e-6);
        // Phone 8 at sqrt(16) = 4 s.
        assert!((v[8].as_secs_f64() - 4.0).abs() < 1e-6);
    }

    #[test]
    fn steps_change_rate_at_their_boundaries() {
        let v = uniform(
            &Profile::Steps(vec![
                Step {
                    rate: 1.0,
                    duration: Duration::from_secs(10),
                },
                Step {
                    rate: 5.0,
                    duration: Duration::from_secs(10),
                },
            ]),
            100,
        );
        assert_eq!(v.len(), 100);
        let in_first = v.iter().filter(|d| d.as_secs_f64() < 10.0).count();
        let in_second = v
            .iter()
            .filter(|d| (10.0..20.0).contains(&d.as_secs_f64()))
            .count();
        assert_eq!((in_first, in_second), (10, 50));
    }

    #[test]
    fn spike_packs_arrivals_into_its_window() {
        let v = uniform(
            &Profile::Spike {
                base: 1.0,
                peak: 100.0,
                at: Duration::from_secs(5),
                duration: Duration::from_secs(2),
            },
            300,
        );
        let in_spike = v
            .iter()
            .filter(|d| (5.0..7.0).contains(&d.as_secs_f64()))
            .count();
        assert_eq!(in_spike, 200);
        assert!(is_monotonic(&v));
    }

    #[test]
    fn all_at_once_is_all_at_zero_or_spread_within() {
        let v = uniform(
            &Profile::AllAtOnce {
                within: Duration::ZERO,
            },
            1000,
        );
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|d| d.is_zero()));
        let v = uniform(
            &Profile::AllAtOnce {
                within: Duration::from_secs(10),
            },
            1000,
        );
        assert_eq!(v.len(), 1000);
        assert!(v.last().unwrap() < &Duration::from_secs(10));
    }

    #[test]
    fn curve_ends_arrivals_where_it_ends() {
        // 60 then 120 phones per minute: 180 phones, then the curve ends.
        let v = uniform(&Profile::Curve(vec![60.0, 120.0]), 1000);
        assert_eq!(v.len(), 180);
        assert!((v[60].as_secs_f64() - 60.0).abs() < 1e-6);
    }

    #[test]
    fn max_duration_drops_late_arrivals() {
        let v = schedule(
            &Profile::Constant { rate: 1.0 },
            100,
            Spacing::Uniform,
            1.0,
            Some(Duration::from_secs(9)),
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        assert_eq!(v.len(), 10);
    }

    #[test]
    fn zero_rate_forever_is_an_error_not_a_hang() {
        let err = schedule(
            &Profile::Constant { rate: 0.0 },
            3,
            Spacing::Uniform,
            1.0,
            None,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("falls to zero after 0 of 3"),
            "{err}"
        );
        let bad = schedule(
            &Profile::Constant { rate: f64::NAN },
            1,
            Spacing::Uniform,
            1.0,
            None,
            &mut StdRng::seed_from_u64(1),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn curve_csv_parses_with_header_and_comments() {
        let c = parse_curve(
            Path::new("c.csv"),
            "minute,phones\n# morning\n0,10\n1, 20.5\n",
        )
        .unwrap();
        assert_eq!(c, [10.0, 20.5]);
    }

    #[test]
    fn curve_csv_errors_name_the_line() {
        let e = parse_curve(Path::new("c.csv"), "0,10\n2,5\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c.csv: line 2: expected minute 1, found 2 (minutes count up from 0 without gaps)"
        );
        let e = parse_curve(Path::new("c.csv"), "0,10\n1;5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.csv: line 2: expected minute,phones"),
            "{e}"
        );
        let e = parse_curve(Path::new("c.csv"), "0,-1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.csv: line 1: expected phones per minute of 0"),
            "{e}"
        );
        let e = parse_curve(Path::new("c.csv"), "0,x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_curve(Path::new("c.csv"), "").is_err());
    }
}
