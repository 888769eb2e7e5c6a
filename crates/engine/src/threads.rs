//! The phone threads, and which of them runs each new phone.
//!
//! Each phone thread is an OS thread with its own single-threaded tokio
//! runtime, so a phone's sockets, timers and task stay on one thread and
//! an answer wakes only that thread. A new phone goes to the first thread
//! that was busy under [`FILL`] of the last [`WINDOW`]: at modest rates
//! every phone shares the first thread, which then finds several answers
//! waiting each time it wakes. That is cheaper than spreading the same
//! work over every core, where each thread parks and is woken for nearly
//! every answer (bench/README.md has the figures). Once the first thread
//! is that busy, phones spill to the next; once every thread is, they go
//! to the least busy. Busy time is tokio's own count
//! (`worker_total_busy_duration`), and the time is the one the arrival
//! loop already read for the phone's start, so placing a phone costs no
//! clock read of its own.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Share of a window a thread may be busy and still take new phones
/// first. Well below one: a busy thread makes a ready phone wait for the
/// task in hand (an RSA signature is 0.3 ms), and that wait would show in
/// the phone's latencies. At one half, 100 sign-ins a second measured the
/// same latencies as on a work-stealing runtime, for 9% less CPU.
pub const FILL: f64 = 0.5;

/// How often each thread's busy share is brought up to date.
pub const WINDOW: Duration = Duration::from_millis(100);

/// How the kernel schedules the threads that run phones (and, with
/// `phonestorm mock --sched`, the mock's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduling {
    /// The kernel's default, `SCHED_OTHER`: a thread woken by an answer
    /// may preempt whatever runs on its core at once.
    #[default]
    Normal,
    /// `SCHED_BATCH` (sched(7)): a woken thread does not preempt the one
    /// running, but waits for it to sleep or for the next tick. On a
    /// saturated machine each thread then runs longer between switches and
    /// finds more answers waiting when it wakes, which costs less CPU a
    /// sign-in; the price is that an answer may wait up to a tick more
    /// before it is timed, whenever every core is busy (bench/README.md,
    /// "Xeon 167, batch scheduling").
    Batch,
}

impl Scheduling {
    /// Puts the calling thread under this policy, at nice 0 (the
    /// default); `Normal` leaves the thread as it is. Needs no privilege,
    /// unless the process runs at a positive nice value.
    pub fn apply_here(self) -> crate::Result<()> {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        if self == Scheduling::Normal {
            return Ok(());
        }
        // The crate maps 0..=100 onto nice 19..=-20; 50 is nice 0.
        let nice_0 = ThreadPriorityValue::try_from(50u8).map_err(crate::Error::Setup)?;
        set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(nice_0),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        )
        .map_err(|e| crate::Error::Setup(format!("SCHED_BATCH refused: {e:?}")))
    }

    /// Whether the kernel gives this policy: tried on a thread of its own,
    /// so the caller's is left as it was. Threads that are then put under
    /// it ([`PhoneThreads::start`], a runtime's thread-start hook) need not
    /// check again.
    pub fn checked(self) -> crate::Result<Self> {
        std::thread::spawn(move || self.apply_here())
            .join()
            .map_err(|_| crate::Error::Setup("scheduling check panicked".into()))??;
        Ok(self)
    }
}

/// Threads started for the phones; they run until [`PhoneThreads::stop`].
pub struct PhoneThreads {
    /// The first thread's runtime, where the arrivals run.
    first: Handle,
    /// Every thread's runtime, the first included.
    handles: Vec<Handle>,
    until: CancellationToken,
    ended: Vec<oneshot::Receiver<()>>,
}

impl PhoneThreads {
    /// Up to `n` phone threads, each under `scheduling`: fewer if the
    /// system will not give them, `None` if it gives none (or `n` is 0),
    /// when phones run on the caller's runtime instead. A policy the
    /// kernel refuses leaves a thread as it is; [`Scheduling::checked`]
    /// says beforehand whether it will.
    pub async fn start(n: usize, scheduling: Scheduling) -> Option<Self> {
        let until = CancellationToken::new();
        let mut handles = Vec::with_capacity(n);
        let mut ended = Vec::with_capacity(n);
        for i in 0..n {
            let (handle_tx, handle_rx) = oneshot::channel();
            let (ended_tx, ended_rx) = oneshot::channel();
            let stop = until.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("phones-{i}"))
                .spawn(move || {
                    // Refused: the thread runs as it is (see `checked`).
                    let _ = scheduling.apply_here();
                    // Built here, so a runtime never drops inside the
                    // caller's async context.
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    if handle_tx.send(rt.handle().clone()).is_ok() {
                        rt.block_on(stop.cancelled());
                    }
                    drop(rt);
                    let _ = ended_tx.send(());
                });
            if spawned.is_err() {
                break;
            }
            match handle_rx.await {
                Ok(h) => {
                    handles.push(h);
                    ended.push(ended_rx);
                }
                Err(_) => break,
            }
        }
        Some(PhoneThreads {
            first: handles.first()?.clone(),
            handles,
            until,
            ended,
        })
    }

    /// The first thread, where the arrivals run.
    pub fn first(&self) -> &Handle {
        &self.first
    }

    /// Their runtimes, for the runtime gauges.
    pub fn handles(&self) -> Vec<Handle> {
        self.handles.clone()
    }

    /// A placement over these threads, its first window starting `now`.
    pub fn placement(&self, now: Instant) -> Placement {
        Placement::over(self.handles.clone(), now)
    }

    /// Ends the threads (their runtimes drop whatever task is left) and
    /// waits for them.
    pub async fn stop(self) {
        self.until.cancel();
        for e in self.ended {
            let _ = e.await;
        }
    }
}

/// Places new phones on threads, following how busy each has been.
pub struct Placement {
    handles: Vec<Handle>,
    /// Each thread's busy total at the start of the window.
    seen: Vec<Duration>,
    /// Each thread's busy share over the last whole window.
    busy: Vec<f64>,
    /// When the current window began.
    since: Instant,
}

impl Placement {
    /// Every phone on the caller's runtime.
    pub fn here(now: Instant) -> Self {
        Placement::over(Vec::new(), now)
    }

    fn over(handles: Vec<Handle>, now: Instant) -> Self {
        let seen = handles
            .iter()
            .map(|h| h.metrics().worker_total_busy_duration(0))
            .collect();
        Placement {
            busy: vec![0.0; handles.len()],
            handles,
            seen,
            since: now,
        }
    }

    /// Spawns `phone`, starting `now`, into `set` on the thread its turn
    /// falls to.
    pub fn spawn<F>(&mut self, set: &mut JoinSet<()>, now: Instant, phone: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.refresh(now);
        match self.handles.get(choose(&self.busy)) {
            Some(h) => set.spawn_on(phone, h),
            None => set.spawn(phone),
        };
    }

    /// Brings the busy shares up to date once a window has passed.
    fn refresh(&mut self, now: Instant) {
        let span = now.saturating_duration_since(self.since);
        if span < WINDOW || self.handles.is_empty() {
            return;
        }
        for ((seen, busy), h) in self.seen.iter_mut().zip(&mut self.busy).zip(&self.handles) {
            let total = h.metrics().worker_total_busy_duration(0);
            *busy = total.saturating_sub(*seen).as_secs_f64() / span.as_secs_f64();
            *seen = total;
        }
        self.since = now;
    }
}

/// The thread a new phone goes to, given each thread's busy share: the
/// first under [`FILL`], else the least busy (the first of equals).
pub fn choose(busy: &[f64]) -> usize {
    if let Some(i) = busy.iter().position(|b| *b < FILL) {
        return i;
    }
    let mut best = (0, f64::INFINITY);
    for (i, b) in busy.iter().enumerate() {
        if *b < best.1 {
            best = (i, *b);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;

    #[test]
    fn phones_fill_the_first_thread_before_the_next() {
        assert_eq!(choose(&[0.0, 0.0]), 0);
        assert_eq!(choose(&[0.49, 0.0]), 0);
        assert_eq!(choose(&[0.5, 0.0]), 1);
        assert_eq!(choose(&[0.9, 0.6, 0.1, 0.0]), 2);
    }

    #[test]
    fn when_every_thread_is_busy_the_least_busy_takes_the_phone() {
        assert_eq!(choose(&[0.95, 0.8, 0.85]), 1);
        assert_eq!(choose(&[0.9, 0.9]), 0);
        assert_eq!(choose(&[1.0]), 0);
    }

    #[tokio::test]
    async fn phones_run_on_the_phone_threads_and_the_threads_end() {
        let threads = PhoneThreads::start(2, Scheduling::Normal)
            .await
            .expect("threads");
        assert_eq!(threads.handles().len(), 2);
        let now = clock::now();
        let mut placement = threads.placement(now);
        let mut set = JoinSet::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 {
            let tx = tx.clone();
            placement.spawn(&mut set, now, async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = tx.send(name);
            });
        }
        while set.join_next().await.is_some() {}
        drop(tx);
        let mut names = Vec::new();
        while let Some(n) = rx.recv().await {
            names.push(n);
        }
        assert_eq!(names.len(), 4);
        // Idle threads: every phone fills the first.
        assert!(
            names.iter().all(|n| n.as_deref() == Some("phones-0")),
            "{names:?}"
        );
        threads.stop().await;
    }

    #[tokio::test]
    async fn no_threads_asked_for_means_the_callers_runtime() {
        assert!(PhoneThreads::start(0, Scheduling::Normal).await.is_none());
    }

    /// sched(7): the phones' tasks run under SCHED_BATCH when asked, and
    /// under the policy the caller had otherwise.
    #[tokio::test]
    async fn batch_scheduling_reaches_the_phone_threads() {
        use thread_priority::{NormalThreadSchedulePolicy as P, ThreadSchedulePolicy as T};
        let policy_of = |threads: &PhoneThreads| {
            let (tx, rx) = std::sync::mpsc::channel();
            threads.first().spawn(async move {
                let _ = tx.send(thread_priority::thread_schedule_policy().ok());
            });
            rx.recv_timeout(Duration::from_secs(10)).ok().flatten()
        };
        let caller = thread_priority::thread_schedule_policy().ok();
        let refused = Scheduling::Batch.checked().err();
        assert!(refused.is_none(), "{refused:?}");
        let threads = PhoneThreads::start(1, Scheduling::Batch)
            .await
            .expect("threads");
        assert_eq!(policy_of(&threads), Some(T::Normal(P::Batch)));
        threads.stop().await;
        let threads = PhoneThreads::start(1, Scheduling::Normal)
            .await
            .expect("threads");
        assert_eq!(policy_of(&threads), caller);
        threads.stop().await;
    }
}
