//! A run from start to report, generic over how a phone is started.
//!
//! Arrivals follow the precomputed schedule: the run sleeps until each
//! phone's intended start, takes the global sign-in limiter and a
//! concurrency permit, then spawns the phone as its own task, on one of
//! the phone threads ([`crate::threads`]) or, with none, on the caller's
//! runtime. A watcher ends the run early on the abort rule, the time
//! limit or the caller's stop token (Ctrl-C): arrivals stop, running
//! phones are told to stop (sign out), and the run waits for them at most
//! `stop_grace` before dropping the rest. Either way a report comes back.
//! The phone itself is the [`Launcher`]'s business: this module never
//! names the phone crate's bootstrap, so tests plug in scripted phones.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phonestorm_metrics::Metrics;
use phonestorm_phone::{Gate, Recorder, Stage};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::abort::AbortRule;
use crate::clock;
use crate::error::Result;
use crate::limits::{RateGate, StageGates};
use crate::live::{RecordingSource, Tee};
use crate::record::Recording;
use crate::report::{Ending, Report};
use crate::scenario::Scenario;
use crate::schedule;
use crate::threads::{PhoneThreads, Placement};

/// A phone's index in the run (`StageEvent::phone`).
pub type PhoneIndex = u32;

/// What a launcher returns: the phone's whole life as one future.
pub type PhoneFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts one phone. The integrator's launcher calls the phone crate's
/// `bootstrap` with the phone's identity and configuration; tests use
/// scripted phones. The phone reports to `recorder`, awaits `gate` before
/// each stage, measures from `intended`, and signs out when `stop` fires.
pub trait Launcher: Send + Sync + 'static {
    /// The future running phone `phone`.
    fn launch(
        &self,
        phone: PhoneIndex,
        intended: Instant,
        recorder: Arc<dyn Recorder>,
        gate: Arc<dyn Gate>,
        stop: CancellationToken,
    ) -> PhoneFuture;
}

impl<F> Launcher for F
where
    F: Fn(PhoneIndex, Instant, Arc<dyn Recorder>, Arc<dyn Gate>, CancellationToken) -> PhoneFuture
        + Send
        + Sync
        + 'static,
{
    fn launch(
        &self,
        phone: PhoneIndex,
        intended: Instant,
        recorder: Arc<dyn Recorder>,
        gate: Arc<dyn Gate>,
        stop: CancellationToken,
    ) -> PhoneFuture {
        self(phone, intended, recorder, gate, stop)
    }
}

/// Everything the run loop needs, resolved from a scenario (or built by
/// hand in tests).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Intended start of each phone from the run's start, in order.
    pub offsets: Vec<Duration>,
    /// Global sign-in starts per second.
    pub signins_per_second: Option<f64>,
    /// Burst for every limiter.
    pub burst: u32,
    /// Phones running at once.
    pub max_concurrent: Option<u32>,
    /// Attempts per second per stage, for the phones' gate.
    pub stage_limits: Vec<(Stage, f64)>,
    /// Early stop rule.
    pub abort: Option<AbortRule>,
    /// How often the abort rule is judged.
    pub abort_every: Duration,
    /// How long stopped phones get to sign out.
    pub stop_grace: Duration,
    /// End the run after this long, whatever is left.
    pub time_limit: Option<Duration>,
    /// Draw the progress line.
    pub progress: bool,
    /// Live metrics to feed (the binary serves them on `--metrics-listen`);
    /// the run makes its own when `None`, for the report's harness health.
    pub metrics: Option<Arc<Metrics>>,
    /// Length of one timeline interval.
    pub timeline_every: Duration,
    /// Phone threads, each a single-threaded runtime ([`crate::threads`]);
    /// `0` runs the phones on the caller's runtime (as tests with paused
    /// time need).
    pub threads: usize,
    /// How the kernel schedules the phone threads. A policy the kernel
    /// refuses leaves them as they are: check it first
    /// ([`crate::threads::Scheduling::checked`]).
    pub scheduling: crate::threads::Scheduling,
}

impl RunSettings {
    /// Plain settings for `offsets`: no limits, no abort rule, 10 s grace.
    pub fn new(offsets: Vec<Duration>) -> Self {
        RunSettings {
            offsets,
            signins_per_second: None,
            burst: 1,
            max_concurrent: None,
            stage_limits: Vec::new(),
            abort: None,
            abort_every: Duration::from_secs(1),
            stop_grace: Duration::from_secs(10),
            time_limit: None,
            progress: false,
            metrics: None,
            timeline_every: crate::timeline::DEFAULT_INTERVAL,
            threads: 0,
            scheduling: crate::threads::Scheduling::Normal,
        }
    }

    /// The settings a scenario asks for: its schedule (seeded), limits and
    /// abort rule. Reads the arrival curve file if the scenario names one.
    pub fn from_scenario(s: &Scenario) -> Result<Self> {
        let profile = s.arrival.profile()?;
        let mut rng = StdRng::seed_from_u64(s.arrival.seed);
        let offsets = schedule::schedule(
            &profile,
            s.phones.count,
            s.arrival.spacing,
            s.arrival.compression,
            s.arrival.max_duration,
            &mut rng,
        )?;
        Ok(RunSettings {
            signins_per_second: s.limits.signins_per_second,
            burst: s.limits.burst,
            max_concurrent: s.limits.max_concurrent,
            stage_limits: s.limits.stages.clone(),
            abort: s.abort,
            ..RunSettings::new(offsets)
        })
    }
}

/// A token cancelled on Ctrl-C or SIGTERM, for [`run`]'s `stop` and for
/// `phonestorm mock` to wait on: a person stops a run with the first, a
/// service manager, a CI job's timeout or `kill` with the second, and
/// either way the report is written.
///
/// The signals are watched from the moment this returns, not from when a
/// spawned task first runs: on a loaded machine that can be many
/// milliseconds later, and a signal in between would meet the default
/// action, a killed process and no report.
pub fn stop_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Fails only without a signal driver; then there is nothing to watch.
        if let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            tokio::spawn(async move {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                t.cancel();
            });
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
}

async fn drain(set: &mut JoinSet<()>) {
    while set.join_next().await.is_some() {}
}

/// Runs the phones of `settings` with `launcher` until every one has
/// finished, or the run is stopped (`stop`, abort rule, time limit), and
/// returns the report.
pub async fn run<L: Launcher>(
    settings: RunSettings,
    launcher: L,
    stop: CancellationToken,
) -> Report {
    let origin = clock::now();
    let count = u32::try_from(settings.offsets.len()).unwrap_or(u32::MAX);
    let recording = Arc::new(Recording::new(
        count,
        origin,
        settings.abort.map(|a| a.window),
    ));
    recording.set_scheduled(u64::from(count));
    // Metrics cannot fail to build with the fixed names; if they did, the
    // run goes on without live figures rather than not at all.
    let metrics = settings
        .metrics
        .clone()
        .or_else(|| Metrics::new(count).ok().map(Arc::new));
    let recorder: Arc<dyn Recorder> = match &metrics {
        Some(m) => {
            m.set_source(Arc::new(RecordingSource(recording.clone())));
            m.set_schedule(origin, Arc::from(settings.offsets.as_slice()));
            m.health().begin();
            Arc::new(Tee::new(recording.clone(), m.clone()))
        }
        None => recording.clone(),
    };
    let gate: Arc<dyn Gate> = Arc::new(StageGates::new(&settings.stage_limits, settings.burst));
    let global = settings
        .signins_per_second
        .and_then(|r| RateGate::per_second(r, settings.burst));
    let permits = settings.max_concurrent.map(|n| {
        Arc::new(Semaphore::new(
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS),
        ))
    });

    // Arrivals stop on `halt`; the watcher says why in `ending`.
    let halt = CancellationToken::new();
    let done = CancellationToken::new();
    let phones_stop = CancellationToken::new();
    let ending: Arc<Mutex<Option<Ending>>> = Arc::new(Mutex::new(None));
    let watcher = tokio::spawn(watch(
        recording.clone(),
        settings.abort,
        settings.abort_every,
        settings.time_limit.map(|d| origin + d),
        stop,
        halt.clone(),
        done.clone(),
        ending.clone(),
    ));
    let timeline = tokio::spawn(crate::timeline::sample_until(
        recording.clone(),
        settings.offsets.clone(),
        settings.timeline_every,
        clock::wall_now(),
        done.clone(),
    ));
    let progress = settings.progress.then(|| {
        tokio::spawn(crate::progress::show(
            recording.clone(),
            metrics.clone(),
            Duration::from_millis(500),
            done.clone(),
        ))
    });
    let health = metrics
        .clone()
        .map(|m| tokio::spawn(sample(m, done.clone())));

    let arrivals = Arc::new(Arrivals {
        origin,
        offsets: settings.offsets.clone(),
        recording: recording.clone(),
        metrics: metrics.clone(),
        recorder,
        gate,
        global,
        permits,
        halt,
        phones_stop,
        stop_grace: settings.stop_grace,
        launcher,
    });
    match PhoneThreads::start(
        settings.threads.min(settings.offsets.len()),
        settings.scheduling,
    )
    .await
    {
        None => arrivals.all(Placement::here(origin)).await,
        Some(threads) => {
            if let Some(m) = &metrics {
                m.set_runtimes(threads.handles());
            }
            let placement = threads.placement(origin);
            let a = arrivals.clone();
            // The arrivals run on the first phone thread, so starting a
            // phone there wakes no other thread.
            let _ = threads.first().spawn(a.all(placement)).await;
            threads.stop().await;
            if let Some(m) = &metrics {
                m.set_runtimes(Vec::new());
            }
        }
    }

    done.cancel();
    let _ = watcher.await;
    if let Some(p) = progress {
        let _ = p.await;
    }
    if let Some(s) = health {
        let _ = s.await;
    }
    let ending = ending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let mut report = recording.report(ending, clock::now().saturating_duration_since(origin));
    if let Some(m) = &metrics {
        m.health().sample();
        report.harness = crate::live::harness(&m.health().summary());
    }
    report.harness.local_failures = crate::report::LocalFailures::count(&report.stages);
    report.harness.open_files_limit = crate::openfiles::current();
    report.timeline = timeline.await.unwrap_or_default();
    report.bottleneck = crate::bottleneck::find(&report.timeline);
    report
}

/// What the arrival loop needs, and shares with the phones it starts.
struct Arrivals<L> {
    origin: Instant,
    offsets: Vec<Duration>,
    recording: Arc<Recording>,
    metrics: Option<Arc<Metrics>>,
    recorder: Arc<dyn Recorder>,
    gate: Arc<dyn Gate>,
    global: Option<RateGate>,
    permits: Option<Arc<Semaphore>>,
    /// Arrivals stop when this fires (abort rule, time limit, Ctrl-C).
    halt: CancellationToken,
    /// Running phones are told to sign out when this fires.
    phones_stop: CancellationToken,
    stop_grace: Duration,
    launcher: L,
}

impl<L: Launcher> Arrivals<L> {
    /// Starts every phone at its intended start, where `placement` puts
    /// it, then waits for them (at most the stop grace once the run is
    /// halted).
    async fn all(self: Arc<Self>, mut placement: Placement) {
        let mut phones = JoinSet::new();
        for (i, offset) in (0..PhoneIndex::MAX).zip(self.offsets.iter().copied()) {
            let intended = self.origin + offset;
            // Scheduler lag counts from when the loop was free to wait for
            // this phone: time held by the limiters below is theirs, not
            // the harness's.
            let free = clock::now();
            tokio::select! {
                biased;
                _ = self.halt.cancelled() => break,
                _ = sleep_until(intended) => {}
            }
            let lag = clock::now().saturating_duration_since(intended.max(free));
            if let Some(g) = &self.global {
                tokio::select! {
                    biased;
                    _ = self.halt.cancelled() => break,
                    _ = g.until_ready() => {}
                }
            }
            let permit = match &self.permits {
                None => None,
                Some(sem) => tokio::select! {
                    biased;
                    _ = self.halt.cancelled() => break,
                    p = sem.clone().acquire_owned() => p.ok(),
                },
            };
            let started = clock::now();
            self.recording.phone_started(i, intended, started);
            if let Some(m) = &self.metrics {
                m.arrival(i, intended, started, lag);
            }
            let phone = self.launcher.launch(
                i,
                intended,
                self.recorder.clone(),
                self.gate.clone(),
                self.phones_stop.clone(),
            );
            let rec = self.recording.clone();
            let told_to_stop = self.phones_stop.clone();
            placement.spawn(&mut phones, started, async move {
                phone.await;
                if told_to_stop.is_cancelled() {
                    rec.phone_cut_short(i);
                } else {
                    rec.phone_finished(i);
                }
                drop(permit);
            });
            while phones.try_join_next().is_some() {}
        }

        if !self.halt.is_cancelled() {
            tokio::select! {
                _ = drain(&mut phones) => {}
                _ = self.halt.cancelled() => {}
            }
        }
        if self.halt.is_cancelled() {
            self.phones_stop.cancel();
            let _ = tokio::time::timeout(self.stop_grace, drain(&mut phones)).await;
            phones.abort_all();
            drain(&mut phones).await;
        }
    }
}

/// Samples the harness's health once a second until `done`.
async fn sample(metrics: Arc<Metrics>, done: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => metrics.health().sample(),
        }
    }
}

/// Ends the run early: abort rule, time limit or outside stop. Returns
/// when `done` fires or after halting.
#[allow(clippy::too_many_arguments)]
async fn watch(
    recording: Arc<Recording>,
    rule: Option<AbortRule>,
    every: Duration,
    deadline: Option<Instant>,
    stop: CancellationToken,
    halt: CancellationToken,
    done: CancellationToken,
    ending: Arc<Mutex<Option<Ending>>>,
) {
    let set = |e: Ending| {
        *ending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
        halt.cancel();
    };
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline_sleep = async {
        match deadline {
            Some(d) => sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline_sleep);
    loop {
        tokio::select! {
            biased;
            _ = done.cancelled() => return,
            _ = stop.cancelled() => return set(Ending::Stopped),
            _ = &mut deadline_sleep => return set(Ending::TimeLimit),
            _ = tick.tick(), if rule.is_some() => {
                let (ok, failed) = recording.window_counts();
                if let Some(why) = rule.and_then(|r| r.verdict(ok, failed)) {
                    return set(Ending::Aborted(why));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonestorm_phone::{Failure, FailureKind, Outcome, StageEvent};
    use std::path::Path;

    /// A scripted phone: each stage takes `stage_time` after its gate; the
    /// stage `fails_at(phone)` names fails (no retry); then it holds for
    /// `hold` (or until told to stop) and signs out.
    #[derive(Clone)]
    struct Script {
        stage_time: Duration,
        hold: Duration,
        fails_at: fn(u32) -> Option<Stage>,
    }

    impl Script {
        fn launcher(self) -> impl Launcher {
            move |phone: u32,
                  intended: Instant,
                  rec: Arc<dyn Recorder>,
                  gate: Arc<dyn Gate>,
                  stop: CancellationToken|
                  -> PhoneFuture {
                let s = self.clone();
                Box::pin(async move {
                    let mut intended = intended;
                    for stage in Stage::ALL {
                        gate.wait(stage).await;
                        let started = clock::now();
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(s.stage_time) => {}
                        }
                        let failed = (s.fails_at)(phone) == Some(stage);
                        let outcome = if failed {
                            Outcome::Failed(Failure::new(FailureKind::HttpStatus(503), "busy"))
                        } else {
                            Outcome::Ok
                        };
                        let ended = clock::now();
                        rec.record(StageEvent {
                            phone,
                            stage,
                            attempt: 0,
                            intended,
                            started,
                            ended,
                            outcome,
                        });
                        if failed {
                            return;
                        }
                        intended = ended;
                    }
                    rec.signed_in(phone);
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(s.hold) => {}
                    }
                    rec.signed_out(phone);
                })
            }
        }
    }

    fn ok_script() -> Script {
        Script {
            stage_time: Duration::from_millis(10),
            hold: Duration::ZERO,
            fails_at: |_| None,
        }
    }

    fn every(n: u32, gap: Duration) -> Vec<Duration> {
        (0..n).map(|i| gap * i).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn report_counts_per_stage() {
        let script = Script {
            fails_at: |p| (p % 10 == 3).then_some(Stage::Certificate),
            ..ok_script()
        };
        let r = run(
            RunSettings::new(every(100, Duration::from_millis(20))),
            script.launcher(),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(r.ending, Ending::Completed);
        assert_eq!(
            (
                r.phones.scheduled,
                r.phones.started,
                r.phones.registered,
                r.phones.failed
            ),
            (100, 100, 90, 10)
        );
        let cert = r.stages.get(Stage::Certificate).unwrap();
        assert_eq!((cert.count, cert.ok, cert.failed), (100, 90, 10));
        assert_eq!(cert.failures.get("http_503"), Some(&10));
        let reg = r.stages.get(Stage::Register).unwrap();
        assert_eq!((reg.ok, reg.failed), (90, 0));
        assert!(
            (reg.latency_ms.corrected.p50 - 10.0).abs() < 0.1,
            "{:?}",
            reg.latency_ms.corrected
        );
        // Nine stages of 10 ms each.
        assert!(
            (r.signin.latency_ms.corrected.p99 - 90.0).abs() < 0.5,
            "{:?}",
            r.signin
        );
    }

    // Phone threads run on real time (each has its own runtime, which a
    // paused test clock cannot reach): short stages, and counts only.
    #[tokio::test]
    async fn phones_on_phone_threads_report_the_same_counts() {
        let script = Script {
            stage_time: Duration::from_millis(1),
            fails_at: |p| (p % 10 == 3).then_some(Stage::Certificate),
            ..ok_script()
        };
        let settings = RunSettings {
            threads: 2,
            ..RunSettings::new(every(40, Duration::from_millis(1)))
        };
        let r = run(settings, script.launcher(), CancellationToken::new()).await;
        assert_eq!(r.ending, Ending::Completed);
        assert_eq!(
            (r.phones.started, r.phones.registered, r.phones.failed),
            (40, 36, 4)
        );
        let cert = r.stages.get(Stage::Certificate).unwrap();
        assert_eq!((cert.count, cert.ok, cert.failed), (40, 36, 4));
    }

    #[tokio::test]
    async fn a_stop_reaches_phones_held_on_phone_threads() {
        let script = Script {
            stage_time: Duration::from_millis(1),
            hold: Duration::from_secs(3600),
            ..ok_script()
        };
        let settings = RunSettings {
            threads: 2,
            ..RunSettings::new(every(10, Duration::from_millis(1)))
        };
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        let rec = tokio::spawn(run(settings, script.launcher(), stop));
        // The phones sign in within milliseconds and then hold for an
        // hour; only the stop ends them (bounded: a broken stop fails the
        // test after a minute rather than hanging it).
        tokio::time::sleep(Duration::from_millis(300)).await;
        s2.cancel();
        let rec = tokio::time::timeout(Duration::from_secs(60), rec);
        let r = rec.await.expect("the run ends").expect("the run ends");
        assert_eq!(r.ending, Ending::Stopped);
        assert_eq!((r.phones.started, r.phones.registered), (10, 10));
    }

    #[tokio::test(start_paused = true)]
    async fn abort_rule_stops_arrivals_and_says_why() {
        let script = Script {
            fails_at: |_| Some(Stage::Dhcp),
            ..ok_script()
        };
        let mut settings = RunSettings::new(every(1000, Duration::from_millis(100)));
        settings.abort = Some(AbortRule {
            fail_rate: 0.2,
            window: Duration::from_secs(30),
            min_samples: 10,
        });
        let r = run(settings, script.launcher(), CancellationToken::new()).await;
        let Ending::Aborted(why) = &r.ending else {
            panic!("{:?}", r.ending)
        };
        assert!(why.contains("100.0% of sign-ins failed"), "{why}");
        // Judged every second: it stops within a couple of seconds.
        assert!(r.phones.started < 40, "{:?}", r.phones);
        assert!(r.phones.failed >= 10, "{:?}", r.phones);
        assert!(r.duration_s < 5.0, "{}", r.duration_s);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_mid_run_still_reports() {
        let script = Script {
            hold: Duration::from_secs(3600),
            ..ok_script()
        };
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5050)).await;
            s2.cancel();
        });
        let r = run(
            RunSettings::new(every(100, Duration::from_millis(100))),
            script.launcher(),
            stop,
        )
        .await;
        assert_eq!(r.ending, Ending::Stopped);
        assert_eq!(r.phones.started, 51);
        // Phones 0..=49 had signed in; the one mid-bootstrap was cut short.
        assert_eq!(r.phones.registered, 50);
        assert_eq!(r.phones.failed, 0);
        assert!(r.duration_s < 6.0, "{}", r.duration_s);
    }

    #[tokio::test(start_paused = true)]
    async fn phones_that_ignore_stop_are_dropped_after_the_grace() {
        let stubborn = |_p: u32,
                        _i: Instant,
                        _r: Arc<dyn Recorder>,
                        _g: Arc<dyn Gate>,
                        _s: CancellationToken|
         -> PhoneFuture { Box::pin(std::future::pending()) };
        let stop = CancellationToken::new();
        stop.cancel();
        let mut settings = RunSettings::new(vec![Duration::ZERO; 3]);
        settings.stop_grace = Duration::from_secs(2);
        let r = run(settings, stubborn, stop).await;
        assert_eq!(r.ending, Ending::Stopped);
        assert!(r.duration_s <= 2.1, "{}", r.duration_s);
    }

    #[tokio::test(start_paused = true)]
    async fn time_limit_ends_the_run() {
        let script = Script {
            hold: Duration::from_secs(3600),
            ..ok_script()
        };
        let mut settings = RunSettings::new(every(10, Duration::from_secs(1)));
        settings.time_limit = Some(Duration::from_secs(4));
        let r = run(settings, script.launcher(), CancellationToken::new()).await;
        assert_eq!(r.ending, Ending::TimeLimit);
        assert_eq!(r.phones.started, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn global_limiter_delay_counts_in_corrected_latency_only() {
        // 20 phones at once, 10 sign-ins per second: the last starts 1.9 s
        // late. Corrected sign-in latency shows it; raw does not.
        let mut settings = RunSettings::new(vec![Duration::ZERO; 20]);
        settings.signins_per_second = Some(10.0);
        let r = run(settings, ok_script().launcher(), CancellationToken::new()).await;
        assert_eq!(r.phones.registered, 20);
        assert!(
            (r.signin.latency_ms.corrected.max - 1990.0).abs() < 1.0,
            "{:?}",
            r.signin
        );
        assert!(
            (r.signin.latency_ms.raw.max - 90.0).abs() < 0.5,
            "{:?}",
            r.signin
        );
    }

    #[tokio::test(start_paused = true)]
    async fn max_concurrent_holds_phones_back() {
        let script = Script {
            hold: Duration::from_secs(1),
            ..ok_script()
        };
        let mut settings = RunSettings::new(vec![Duration::ZERO; 10]);
        settings.max_concurrent = Some(2);
        let r = run(settings, script.launcher(), CancellationToken::new()).await;
        assert_eq!(r.phones.registered, 10);
        // Five waves of two phones, each 90 ms of stages and 1 s of hold.
        assert!((r.duration_s - 5.45).abs() < 0.01, "{}", r.duration_s);
    }

    #[tokio::test(start_paused = true)]
    async fn stage_limit_reaches_the_phones_gate() {
        let mut settings = RunSettings::new(vec![Duration::ZERO; 5]);
        settings.stage_limits = vec![(Stage::Certificate, 1.0)];
        let r = run(settings, ok_script().launcher(), CancellationToken::new()).await;
        let cert = r.stages.get(Stage::Certificate).unwrap();
        // The fifth certificate waits 4 s: corrected latency shows it.
        // Three significant digits: within 0.1%.
        assert!(
            (cert.latency_ms.corrected.max - 4010.0).abs() < 4.0,
            "{:?}",
            cert.latency_ms.corrected
        );
        assert!(
            (cert.latency_ms.raw.max - 10.0).abs() < 0.1,
            "{:?}",
            cert.latency_ms.raw
        );
    }

    #[tokio::test(start_paused = true)]
    async fn scenario_drives_a_whole_run() {
        let text = "[phones]\ncount = 30\n[arrival]\nprofile = \"constant\"\nrate = 10\n[limits]\nsigns_per_second = 1\n";
        assert!(Scenario::from_toml("s.toml", text, Path::new("."), &[]).is_err());
        let text = "[phones]\ncount = 30\n[arrival]\nprofile = \"constant\"\nrate = 10\n[thresholds]\n\"signin.p99\" = \"< 1s\"\n\"register.fail_rate\" = \"< 1%\"\n";
        let s = Scenario::from_toml("s.toml", text, Path::new("."), &[]).unwrap();
        let settings = RunSettings::from_scenario(&s).unwrap();
        assert_eq!(settings.offsets.len(), 30);
        let r = run(settings, ok_script().launcher(), CancellationToken::new()).await;
        assert_eq!(r.phones.registered, 30);
        assert!(crate::thresholds::evaluate(&s.thresholds, &r).is_empty());
        assert!(r.table().contains("signin"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeline_adds_up_to_the_report() {
        // 50 phones over 5 s, one in ten failing its certificate.
        let script = Script {
            fails_at: |p| (p % 10 == 3).then_some(Stage::Certificate),
            ..ok_script()
        };
        let r = run(
            RunSettings::new(every(50, Duration::from_millis(100))),
            script.launcher(),
            CancellationToken::new(),
        )
        .await;
        let tl = &r.timeline;
        assert_eq!(tl.interval_s, 1.0);
        assert!(tl.intervals.len() >= 5, "{}", tl.intervals.len());
        let sum =
            |f: fn(&crate::timeline::Interval) -> u64| -> u64 { tl.intervals.iter().map(f).sum() };
        assert_eq!(sum(|i| i.scheduled), 50);
        assert_eq!(sum(|i| i.started), 50);
        assert_eq!(sum(|i| i.signed_in), r.phones.registered);
        assert_eq!(sum(|i| i.failed), r.phones.failed);
        assert_eq!(sum(|i| i.failures.get("http_503").copied().unwrap_or(0)), 5);
        let cert_ok: u64 = tl
            .intervals
            .iter()
            .filter_map(|i| i.stage(Stage::Certificate))
            .map(|s| s.ok)
            .sum();
        assert_eq!(cert_ok, r.stages.get(Stage::Certificate).unwrap().ok);
        // Ten arrivals a second, every stage 10 ms: nothing gave out.
        assert_eq!(r.bottleneck.stage, None, "{:?}", r.bottleneck);
        let first = &tl.intervals[0];
        assert_eq!(
            (first.start_s, first.end_s, first.scheduled),
            (0.0, 1.0, 10)
        );
    }
}
