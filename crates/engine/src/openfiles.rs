//! Open files: the process's limit on them, raised at start to all the
//! system lets it have, and about how many a run needs at its busiest;
//! and the same for the local ports its connections take.
//!
//! Every phone's socket is an open file, and so, with the embedded mock,
//! is the mock's side of each connection. Many systems start a shell at a
//! soft limit of 1,024 under a far higher hard one, so a run of a few
//! hundred held phones would fail on the harness's own account, and the
//! tables would then blame a stage of the pool. So the soft limit is
//! raised to the hard one, as servers that hold many connections do, and
//! a run that would still not fit is told before it starts. Failures
//! from running out anyway are `local_files`
//! ([`phonestorm_phone::FailureKind::Local`]).

use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The open-file limit in force, after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Open files this process may have (`None`: no limit).
    pub soft: Option<u64>,
    /// The most it could raise that to (`None`: no limit).
    pub hard: Option<u64>,
}

/// Raises the soft open-file limit to the hard one; the limit in force
/// after. When the system refuses, the limit stays as it was (the run
/// then works within it, and says so if that is too few).
pub fn raise() -> Limit {
    let before = getrlimit(Resource::Nofile);
    let mut limit = Limit {
        soft: before.current,
        hard: before.maximum,
    };
    if before.current != before.maximum {
        let wanted = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        if setrlimit(Resource::Nofile, wanted).is_ok() {
            limit.soft = before.maximum;
        }
    }
    limit
}

/// The open files this process may have now (`None`: no limit).
pub fn current() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// How long a sign-in is taken to keep its sockets in [`need`]: a few
/// seconds against a healthy pool, longer against a slow one (which only
/// makes the estimate low, never a false alarm).
pub const SIGNIN_SPAN: Duration = Duration::from_secs(5);
/// Open files a run has before any phone: the runtimes' event queues,
/// listeners, the metrics server, the terminal.
pub const BASE: u64 = 64;

/// About how many open files a run needs at its busiest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Phones signing in or signed in at once, at most.
    pub phones_at_once: u64,
    /// Open files for them and the run.
    pub files: u64,
}

/// The most of `starts` (sorted) within any window `span` long.
fn most_within(starts: &[Duration], span: Duration) -> u64 {
    let mut most = 0usize;
    let mut first = 0usize;
    for (last, t) in starts.iter().enumerate() {
        while starts
            .get(first)
            .is_some_and(|f| t.saturating_sub(*f) >= span)
        {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    u64::try_from(most).unwrap_or(u64::MAX)
}

/// What a run whose phones start at `offsets` (in any order) and stay
/// signed in for `hold` needs: at most `max_concurrent` phones at once
/// when that is set. Phones at once are the most starts within any
/// `hold` + [`SIGNIN_SPAN`]; of them, those within any [`SIGNIN_SPAN`]
/// are signing in. A phone signing in has two sockets open at most (its
/// DNS socket and one connection), a held one its registrar connection
/// only; with the embedded mock each connection has a second end in this
/// process.
pub fn need(
    offsets: &[Duration],
    hold: Duration,
    max_concurrent: Option<u32>,
    embedded_mock: bool,
) -> Need {
    let mut starts = offsets.to_vec();
    starts.sort_unstable();
    let cap = max_concurrent.map_or(u64::MAX, u64::from);
    let at_once = most_within(&starts, hold.saturating_add(SIGNIN_SPAN)).min(cap);
    let signing = most_within(&starts, SIGNIN_SPAN).min(at_once);
    let held = at_once - signing;
    let phones = signing.saturating_mul(2).saturating_add(held);
    let mock = if embedded_mock { at_once } else { 0 };
    Need {
        phones_at_once: at_once,
        files: BASE.saturating_add(phones).saturating_add(mock),
    }
}

/// A warning for a run that needs more open files than `limit` allows,
/// or `None` when it fits.
pub fn warning(need: Need, limit: Limit) -> Option<String> {
    let soft = limit.soft?;
    if need.files <= soft {
        return None;
    }
    let hard = match limit.hard {
        Some(h) if h > soft => format!(", hard limit {h}"),
        Some(_) => ", the hard limit too".to_owned(),
        None => String::new(),
    };
    Some(format!(
        "up to {} phones at once need about {} open files, and phonestorm may have {soft} here (`ulimit -n`{hard}); phones that find none fail with reason `local_files`, which says nothing about the pool: raise the limit (`ulimit -n {}`, or LimitNOFILE= for a service) or lower phones.count",
        need.phones_at_once, need.files, need.files
    ))
}

/// The system's ephemeral ports, from `net.ipv4.ip_local_port_range`
/// (Linux's default, 32768 to 60999, where it cannot be read).
pub fn ephemeral_ports() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(str::parse::<u64>);
            match (it.next()?.ok()?, it.next()?.ok()?) {
                (lo, hi) if hi >= lo => Some(hi - lo + 1),
                _ => None,
            }
        })
        .unwrap_or(60999 - 32768 + 1)
}

/// A warning for a run whose phones at once need more local ports than
/// `ports` (the ephemeral range) gives, or `None`. A phone has one TCP
/// connection open at a time. Bound to one of `sources` source addresses,
/// it takes a port of that address chosen at connect
/// (`IP_BIND_ADDRESS_NO_PORT`), free for that destination only, as with
/// `sources` `None` (`0.0.0.0`: the system picks): so the limit is one
/// registrar's address, to which every held phone of a one-server pool
/// talks. Counting all phones at once against it errs on the safe side
/// where a pool has several.
pub fn port_warning(need: Need, sources: Option<u32>, ports: u64) -> Option<String> {
    let (per, over) = match sources {
        Some(n) => (
            need.phones_at_once.div_ceil(u64::from(n.max(1))),
            format!("over {n} source address{}", if n == 1 { "" } else { "es" }),
        ),
        None => (
            need.phones_at_once,
            "from one address to one registrar".to_owned(),
        ),
    };
    (per > ports).then(|| {
        format!(
            "up to {} phones at once {over} need about {per} local ports on each, and the system hands out {ports} (net.ipv4.ip_local_port_range); phones that find none fail with reason `local_ports`, which says nothing about the pool: give phones.source_addresses more of this machine's addresses, or lower phones.count",
            need.phones_at_once
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn phones_at_once_are_the_starts_within_a_hold_and_a_sign_in() {
        // One a second for 100 s, held 10 s: 15 in any 15 s window, 5 of
        // them signing in (two sockets each), 10 held (one each).
        let offsets: Vec<Duration> = (0..100).map(Duration::from_secs).collect();
        let n = need(&offsets, Duration::from_secs(10), None, false);
        assert_eq!(n.phones_at_once, 15);
        assert_eq!(n.files, BASE + 5 * 2 + 10);
        // The embedded mock holds the other end of each connection.
        assert_eq!(
            need(&offsets, Duration::from_secs(10), None, true).files,
            BASE + 5 * 2 + 10 + 15
        );
        // All at once, in any order.
        let n = need(&secs(&[3, 0, 3, 3, 1]), Duration::ZERO, None, false);
        assert_eq!(n.phones_at_once, 5);
        // Held an hour: every phone at once, unless capped.
        let n = need(&offsets, Duration::from_secs(3600), Some(40), false);
        assert_eq!(n.phones_at_once, 40);
        assert_eq!(need(&[], Duration::ZERO, None, true).files, BASE);
    }

    #[test]
    fn a_run_that_fits_gets_no_warning() {
        let n = Need {
            phones_at_once: 100,
            files: 364,
        };
        let limit = |soft, hard| Limit { soft, hard };
        assert_eq!(warning(n, limit(Some(1024), Some(1024))), None);
        assert_eq!(warning(n, limit(None, None)), None);
        let w = warning(n, limit(Some(256), Some(256))).unwrap_or_default();
        assert!(w.contains("about 364 open files"), "{w}");
        assert!(
            w.contains("may have 256 here (`ulimit -n`, the hard limit too)"),
            "{w}"
        );
        assert!(w.contains("`ulimit -n 364`"), "{w}");
    }

    #[test]
    fn ports_run_short_per_source_address() {
        let need = Need {
            phones_at_once: 50_000,
            files: 0,
        };
        // 249 loopback sources: about 201 ports each.
        assert_eq!(port_warning(need, Some(249), 28_232), None);
        let w = port_warning(need, Some(1), 28_232).unwrap_or_default();
        assert!(
            w.starts_with("up to 50000 phones at once over 1 source address need about 50000 local ports on each, and the system hands out 28232"),
            "{w}"
        );
        let w = port_warning(need, None, 28_232).unwrap_or_default();
        assert!(w.contains("from one address to one registrar"), "{w}");
        assert_eq!(port_warning(need, Some(2), 28_232), None);
        assert!(ephemeral_ports() > 0);
    }

    // Linux caps the hard limit (fs.nr_open), so raising to it is always
    // allowed there.
    #[cfg(target_os = "linux")]
    #[test]
    fn raise_leaves_the_soft_limit_at_the_hard_one() {
        let l = raise();
        assert_eq!(l.soft, l.hard, "{l:?}");
        let now = getrlimit(Resource::Nofile);
        assert_eq!((now.current, now.maximum), (l.soft, l.hard));
    }
}
