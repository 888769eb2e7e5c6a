//! The capacity model every mock service runs its requests through.
//!
//! A [`Station`] is a multi-server queue: `workers` requests are served at
//! once, each for a time drawn from a [`ServiceTime`] distribution, and up to
//! `queue` more wait their turn. A request that finds all workers busy and
//! the queue full is rejected at once, as a saturated Front End answers 503
//! instead of queueing without bound. So a storm first builds queueing delay,
//! then rejections, which is the behaviour a capacity test must be able to
//! provoke and see.
//!
//! This module owns admission, waiting and service time, and the station's
//! own counters. It does not own what a rejection looks like on the wire
//! (each service answers in its own protocol) nor fault injection beyond the
//! scheduled pause, which must hold back workers to look like a real stall.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::clock;
use crate::config::Pause;
use crate::metrics::StationMetrics;

/// How long one request occupies a worker.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum ServiceTime {
    /// Every request takes exactly `mean`.
    Fixed {
        /// The service time.
        #[serde(with = "humantime_serde")]
        mean: Duration,
    },
    /// Memoryless service with the given mean (M/M/c behaviour).
    Exponential {
        /// The mean service time.
        #[serde(with = "humantime_serde")]
        mean: Duration,
    },
    /// Log-normal with the given mean and standard deviation: the long right
    /// tail that measured web and SQL service times show.
    Lognormal {
        /// The mean service time.
        #[serde(with = "humantime_serde")]
        mean: Duration,
        /// The standard deviation of the service time.
        #[serde(with = "humantime_serde")]
        spread: Duration,
    },
}

impl ServiceTime {
    /// The distribution's mean.
    pub fn mean(&self) -> Duration {
        match *self {
            ServiceTime::Fixed { mean }
            | ServiceTime::Exponential { mean }
            | ServiceTime::Lognormal { mean, .. } => mean,
        }
    }

    /// Draws one service time.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match *self {
            ServiceTime::Fixed { mean } => return mean,
            ServiceTime::Exponential { mean } => {
                let m = mean.as_secs_f64();
                match Exp::new(1.0 / m) {
                    Ok(d) if m > 0.0 => d.sample(rng),
                    _ => 0.0,
                }
            }
            ServiceTime::Lognormal { mean, spread } => {
                // Moment matching: a log-normal with mean m and standard
                // deviation s has sigma^2 = ln(1 + s^2/m^2) and
                // mu = ln(m) - sigma^2/2.
                let m = mean.as_secs_f64();
                let s = spread.as_secs_f64();
                if m <= 0.0 {
                    0.0
                } else {
                    let sigma2 = (1.0 + (s * s) / (m * m)).ln();
                    match LogNormal::new(m.ln() - sigma2 / 2.0, sigma2.sqrt()) {
                        Ok(d) => d.sample(rng),
                        Err(_) => m,
                    }
                }
            }
        };
        // Cap at an hour so a pathological draw cannot overflow Duration.
        Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
    }
}

/// The shape of one station, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Requests served at once.
    pub workers: usize,
    /// Requests that may wait for a worker; one more is rejected.
    pub queue: usize,
    /// Time one request holds a worker.
    pub service_time: ServiceTime,
}

/// A request the station turned away because workers and queue were full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Requests in the station (in service and waiting) when it refused.
    pub in_system: usize,
}

/// What serving one request cost, for the service's own logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Time spent waiting for a worker (including any scheduled pause).
    pub queued: Duration,
    /// Time spent holding a worker.
    pub service: Duration,
}

/// A multi-server queue with a bounded waiting room. Cheap to share: clone
/// the `Arc`.
#[derive(Debug)]
pub struct Station {
    capacity: Capacity,
    workers: Semaphore,
    in_system: AtomicUsize,
    served: AtomicU64,
    rejected: AtomicU64,
    pause: Option<Pause>,
    epoch: Instant,
    metrics: StationMetrics,
}

impl Station {
    /// A station with the given shape, an optional scheduled pause, and the
    /// metrics it reports into.
    pub fn new(capacity: Capacity, pause: Option<Pause>, metrics: StationMetrics) -> Arc<Self> {
        Arc::new(Station {
            workers: Semaphore::new(capacity.workers.max(1)),
            capacity,
            in_system: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            pause,
            epoch: clock::now(),
            metrics,
        })
    }

    /// Runs one request through the station: admit or reject at once, wait
    /// for a worker, hold it for a drawn service time. The caller does its
    /// real work (building the answer) after this returns, which costs
    /// microseconds next to the modelled service time.
    pub async fn serve(&self) -> Result<Served, Rejected> {
        let limit = self.capacity.workers.max(1) + self.capacity.queue;
        // Admission is one atomic step so that a burst cannot overshoot the
        // bound between the check and the increment.
        let admitted = self
            .in_system
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        let before = match admitted {
            Ok(n) => n,
            Err(in_system) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                self.metrics.rejected.inc();
                return Err(Rejected { in_system });
            }
        };
        self.metrics.requests.inc();
        // inc/dec rather than set: several stations (one per Front End)
        // may share a label, and their gauges must add up.
        self.metrics.in_system.inc();
        let _leave = Leave(self);

        let arrived = clock::now();
        // The semaphore is never closed, so acquire cannot fail; treat a
        // failure as a rejection rather than panic.
        let Ok(_permit) = self.workers.acquire().await else {
            return Err(Rejected { in_system: before });
        };
        // Sleep only for a wait that is really there: tokio rounds every
        // deadline up to its next millisecond tick, so a sleep of zero (a
        // zero service time, or outside a pause) would still hold the
        // answer back by up to a millisecond and cost a wake-up. With the
        // benchmark's zero service times that was about 1 ms on every
        // round trip a phone made.
        if let Some(pause) = self.pause {
            let now = clock::now();
            let until = pause.resumes_at(self.epoch, now);
            if until > now {
                tokio::time::sleep_until(until).await;
            }
        }
        let started = clock::now();
        let service = self.capacity.service_time.sample(&mut rand::rng());
        if !service.is_zero() {
            tokio::time::sleep(service).await;
        }
        let queued = started.duration_since(arrived);
        self.metrics.queue_seconds.observe(queued.as_secs_f64());
        self.metrics.service_seconds.observe(service.as_secs_f64());
        self.served.fetch_add(1, Ordering::Relaxed);
        Ok(Served { queued, service })
    }

    /// Requests in service or waiting now.
    pub fn in_system(&self) -> usize {
        self.in_system.load(Ordering::Acquire)
    }

    /// Requests served since start.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Requests rejected since start.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// Leaves the station when dropped, so a request whose task is cancelled
/// (the client went away) frees its place in the queue.
struct Leave<'a>(&'a Station);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let before = self.0.in_system.fetch_sub(1, Ordering::AcqRel);
        self.0
            .metrics
            .in_system
            .set(before.saturating_sub(1) as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MockMetrics;

    fn station(workers: usize, queue: usize, ms: u64) -> Arc<Station> {
        let m = MockMetrics::new().unwrap();
        Station::new(
            Capacity {
                workers,
                queue,
                service_time: ServiceTime::Fixed {
                    mean: Duration::from_millis(ms),
                },
            },
            None,
            m.station("test"),
        )
    }

    /// A zero service time answers at once. tokio rounds a deadline up to
    /// its next millisecond tick, so a sleep of zero taken half-way through
    /// a millisecond would move the (paused) clock on to the tick: the
    /// benchmark's mock added that to every answer until it was skipped.
    #[tokio::test(start_paused = true)]
    async fn zero_service_time_takes_no_time() {
        tokio::time::advance(Duration::from_micros(500)).await;
        let st = station(1, 0, 0);
        let before = clock::now();
        for _ in 0..3 {
            let served = st.serve().await.expect("a free worker admits");
            assert_eq!(served.service, Duration::ZERO);
        }
        assert_eq!(clock::now(), before);
    }

    /// With c workers of fixed service time S and a burst arriving at once,
    /// the k-th admitted request (0-based) waits floor(k / c) * S (an M/D/c
    /// queue drained from a full start), and once c + queue are inside,
    /// every further arrival is refused without waiting.
    #[tokio::test(start_paused = true)]
    async fn burst_queues_then_rejects() {
        let st = station(2, 10, 10);
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let st = st.clone();
            tasks.push(tokio::spawn(async move { st.serve().await }));
        }
        let mut queued: Vec<Duration> = Vec::new();
        let mut rejected = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => {
                    assert_eq!(s.service, Duration::from_millis(10));
                    queued.push(s.queued);
                }
                Err(_) => rejected += 1,
            }
        }
        assert_eq!(queued.len(), 12);
        assert_eq!(rejected, 88);
        queued.sort();
        for (k, q) in queued.iter().enumerate() {
            assert_eq!(
                *q,
                Duration::from_millis(10 * (k as u64 / 2)),
                "request {k}"
            );
        }
        assert_eq!(st.in_system(), 0);
        assert_eq!((st.served(), st.rejected()), (12, 88));
    }

    /// A scheduled pause holds every worker: a request arriving inside the
    /// pause starts when it ends, one arriving after it at once.
    #[tokio::test(start_paused = true)]
    async fn pause_holds_requests_until_it_ends() {
        let m = MockMetrics::new().unwrap();
        let st = Station::new(
            Capacity {
                workers: 4,
                queue: 10,
                service_time: ServiceTime::Fixed {
                    mean: Duration::from_millis(1),
                },
            },
            Some(Pause {
                every: Duration::from_secs(5),
                for_: Duration::from_secs(1),
            }),
            m.station("paused"),
        );
        let first = st.serve().await.unwrap();
        assert_eq!(first.queued, Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(st.serve().await.unwrap().queued, Duration::ZERO);
        // Two 1 ms services and the advances bring t to 5.002 s.
        tokio::time::advance(Duration::from_millis(3500)).await;
        let third = st.serve().await.unwrap();
        assert_eq!(third.queued, Duration::from_millis(998));
    }

    /// A cancelled request gives its place back.
    #[tokio::test(start_paused = true)]
    async fn cancelled_request_leaves() {
        let st = station(1, 0, 1000);
        let a = {
            let st = st.clone();
            tokio::spawn(async move { st.serve().await })
        };
        tokio::task::yield_now().await;
        assert_eq!(st.in_system(), 1);
        assert!(st.serve().await.is_err());
        a.abort();
        let _ = a.await;
        assert_eq!(st.in_system(), 0);
    }

    /// Sample means of the random distributions come out at the configured
    /// mean (law of large numbers; a loose bound so the test cannot flake).
    #[test]
    fn distributions_have_their_mean() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mean = Duration::from_millis(20);
        for st in [
            ServiceTime::Exponential { mean },
            ServiceTime::Lognormal {
                mean,
                spread: Duration::from_millis(10),
            },
        ] {
            let n = 20_000;
            let total: f64 = (0..n).map(|_| st.sample(&mut rng).as_secs_f64()).sum();
            let got = total / n as f64;
            assert!((got - 0.020).abs() < 0.001, "{st:?}: mean {got}");
        }
    }
}
