//! What the tests share: a plain HTTP/1.1 scrape, a harness with some
//! events in it served on loopback, and finding a standard tool.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phonestorm_metrics::{Metrics, PhoneCounts, PhoneSource, serve};
use phonestorm_phone::{Failure, FailureKind, Outcome, Stage, StageEvent};
use tokio_util::sync::CancellationToken;

/// `GET /metrics` at `addr`: status line and body. Blocking: call it
/// from `spawn_blocking` inside async tests.
pub(crate) fn scrape(addr: SocketAddr) -> (String, String) {
    get(addr, "/metrics")
}

/// `GET path` at `addr`: head and body.
pub(crate) fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The body of a scrape, from async code.
pub(crate) async fn page(addr: SocketAddr) -> String {
    let (head, body) = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body
}

struct Counts;
impl PhoneSource for Counts {
    fn phone_counts(&self) -> PhoneCounts {
        PhoneCounts {
            at_stage: [1, 0, 0, 0, 0, 0, 0, 2, 3],
            signed_in_now: 4,
            failed: 1,
        }
    }
}

/// A harness's metrics with every kind of event in them, served on a free
/// loopback port until `stop`.
pub(crate) async fn served_harness(stop: CancellationToken) -> SocketAddr {
    let m = Arc::new(Metrics::new(10).unwrap());
    let t0 = phonestorm_metrics::clock::now();
    m.set_source(Arc::new(Counts));
    m.set_schedule(t0, Arc::from(vec![Duration::ZERO; 10]));
    m.health().begin();
    for phone in 0..10u32 {
        m.arrival(phone, t0, t0, Duration::from_micros(200));
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            let outcome = match (phone, i) {
                (3, 7) => Outcome::Failed(Failure::new(FailureKind::HttpStatus(503), "busy")),
                (4, 8) => Outcome::Failed(Failure::new(FailureKind::Diagnostics(4010), "")),
                (_, 0) => Outcome::Skipped,
                _ => Outcome::Ok,
            };
            m.observe(&StageEvent {
                phone,
                stage,
                attempt: 0,
                intended: t0,
                started: t0,
                ended: t0 + Duration::from_millis(5 * (i as u64 + 1)),
                outcome,
            });
        }
        m.signed_in(phone, t0 + Duration::from_millis(300));
    }
    m.health().sample();
    let page: serve::Page = {
        let m = m.clone();
        Arc::new(move || m.render())
    };
    serve::spawn("127.0.0.1:0".parse().unwrap(), page, stop)
        .await
        .unwrap()
}

/// Whether the standard tool `name` (Debian package `package`) is there.
/// Under CI (`CI` set, as `.ci/run` runs) or with
/// `PHONESTORM_REQUIRE_INTEROP=1` a missing tool fails the test, so the
/// check cannot quietly stop happening; elsewhere the test says it skipped.
/// `PHONESTORM_SKIP_INTEROP=1` skips in any case.
pub(crate) fn tool(name: &str, package: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if found {
        return true;
    }
    let env = |k: &str| std::env::var(k).ok();
    let required = env("PHONESTORM_REQUIRE_INTEROP").as_deref() == Some("1") || env("CI").is_some();
    if !required || env("PHONESTORM_SKIP_INTEROP").as_deref() == Some("1") {
        eprintln!("SKIPPED: `{name}` not installed (Debian package {package})");
        return false;
    }
    panic!(
        "`{name}` is not installed: apt-get install {package} (or set PHONESTORM_SKIP_INTEROP=1 to skip)"
    );
}
