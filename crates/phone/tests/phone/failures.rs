//! Failures as phones meet them: an unreachable first registrar, a 301 to
//! the user's home Front End, a refused update check (recorded; the phone
//! goes on unless the check is required), a 503 whose Retry-After is
//! honoured, and a certificate issued already expired.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use phonestorm_mockfe::MockConfig;
use phonestorm_mockfe::capacity::{Capacity, ServiceTime};
use phonestorm_phone::{
    FailureKind, Gate, HostPort, Outcome, PhoneOutcome, PhoneResult, Shared, Stage, event::Wait,
};
use phonestorm_proto::sip::{RegisterParams, Transport, build_register};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::common::{Collect, config, failed_at, mock, phone, run, run_gated, run_with};

/// A port nothing listens on: bound, then closed.
async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

#[tokio::test]
async fn unreachable_first_registrar_falls_back_to_dns() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.target
        .registrars
        .push(HostPort::at("fe09.contoso.com", closed_port().await));
    let rec = Collect::default();
    let r = run(&phone(2, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(
        r.registrar.as_deref(),
        Some(format!("fe01.contoso.com:{}", mock.endpoints.sip_tls.port()).as_str())
    );
    let register: Vec<_> = rec
        .events()
        .into_iter()
        .filter(|e| e.stage == Stage::Register)
        .collect();
    assert_eq!(register.len(), 1, "the fallback is inside one attempt");
    mock.shutdown().await;
}

/// A phone whose `dns.given.update_server` (which replaces
/// `ucupdates-r2.<domain>`) is a closed port, with `attempts` at the
/// update check, `required` or not: its result and events.
async fn refused_update_check(attempts: u32, required: bool) -> (PhoneResult, Collect) {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.target.update_server = Some(HostPort::at("updates.contoso.com", closed_port().await));
    let update = cfg.stage_mut(Stage::Update);
    update.retry.attempts = attempts;
    update.required = required;
    let rec = Collect::default();
    let r = run(&phone(3, "13579"), &cfg, &rec).await;
    mock.shutdown().await;
    (r, rec)
}

/// The update check is refused at the given server, each attempt
/// recorded with its reason, and the phone goes on to sign in, as one
/// that cannot reach its update service keeps its firmware.
#[tokio::test]
async fn a_refused_update_check_is_recorded_and_the_phone_signs_in() {
    let (r, rec) = refused_update_check(2, false).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    let update = rec.outcomes(Stage::Update);
    assert_eq!(update.len(), 2, "{update:?}");
    for o in &update {
        assert!(
            matches!(o, Outcome::Failed(f) if f.kind == FailureKind::Refused),
            "{o:?}"
        );
    }
    // Every later stage ran after it.
    for stage in [
        Stage::RootChain,
        Stage::WebTicket,
        Stage::Certificate,
        Stage::Register,
    ] {
        assert_eq!(rec.outcomes(stage), vec![Outcome::Ok], "{stage}");
    }
    assert_eq!(r.updated_to, None);
    assert_eq!(*rec.went_on.lock().unwrap(), [(3, Stage::Update)]);
}

/// `required`: the same refusal stops the phone at the update check.
#[tokio::test]
async fn a_required_update_check_that_is_refused_fails_the_phone() {
    let (r, rec) = refused_update_check(1, true).await;
    failed_at(&r, Stage::Update, FailureKind::Refused);
    assert!(rec.outcomes(Stage::RootChain).is_empty());
    assert!(rec.went_on.lock().unwrap().is_empty());
}

/// A DNS server in front of `upstream` that answers every question but
/// those about `ucupdates-r2`, which it drops, as an overloaded server
/// drops some: its address, and how many it dropped.
async fn dns_dropping_ucupdates(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicU32>) {
    let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = front.local_addr().unwrap();
    let dropped = Arc::new(AtomicU32::new(0));
    let count = dropped.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        // Bounded: a phone's bootstrap asks far fewer.
        for _ in 0..200 {
            let Ok((n, from)) = front.recv_from(&mut buf).await else {
                return;
            };
            let q = buf[..n].to_vec();
            // The label as it is on the wire (RFC 1035 3.1).
            if q.windows(13).any(|w| w == b"\x0cucupdates-r2") {
                count.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let front = front.clone();
            tokio::spawn(async move {
                let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                back.send_to(&q, upstream).await.unwrap();
                let mut answer = vec![0u8; 1500];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(5), back.recv(&mut answer)).await
                {
                    let _ = front.send_to(&answer[..n], from).await;
                }
            });
        }
    });
    (addr, dropped)
}

/// No answer about `ucupdates-r2` (not a "none": nothing at all) leaves
/// the phone without its update service. The dns stage, which found the
/// registrar, passes; the update check asks again, fails with `timeout`,
/// and the phone signs in without it. When the check is required, the
/// missing answer fails the dns stage, as before.
#[tokio::test]
async fn no_answer_about_the_update_service_fails_only_the_update_check() {
    let mock = mock(MockConfig::default()).await;
    let (dns, dropped) = dns_dropping_ucupdates(mock.endpoints.dns).await;
    let mut cfg = config(&mock);
    cfg.target.dns_server = dns;
    cfg.dns_retransmit = Duration::from_millis(50);
    cfg.stage_mut(Stage::Update).retry.attempts = 1;
    let rec = Collect::default();
    let r = run(&phone(4, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(rec.outcomes(Stage::Dns), vec![Outcome::Ok]);
    let update = rec.outcomes(Stage::Update);
    assert!(
        matches!(&update[..], [Outcome::Failed(f)] if f.kind == FailureKind::Timeout && f.detail.contains("ucupdates-r2")),
        "{update:?}"
    );
    let asked = dropped.load(Ordering::Relaxed);
    assert!(
        asked >= 2,
        "the dns stage and the update check each asked: {asked}"
    );

    cfg.stage_mut(Stage::Update).required = true;
    cfg.stage_mut(Stage::Dns).retry.attempts = 1;
    let rec = Collect::default();
    let r = run(&phone(4, "13579"), &cfg, &rec).await;
    let f = failed_at(&r, Stage::Dns, FailureKind::Timeout);
    assert!(f.detail.contains("ucupdates-r2"), "{f}");
    mock.shutdown().await;
}

#[tokio::test]
async fn redirect_to_the_home_front_end_is_followed() {
    let mock = mock(MockConfig {
        front_ends: vec!["fe01.contoso.com".into(), "fe02.contoso.com".into()],
        ..MockConfig::default()
    })
    .await;
    let fes = mock.endpoints.front_ends.clone();
    let mut cfg = config(&mock);
    // User 1 is homed on fe02: asking fe01 first gets a 301.
    cfg.target
        .registrars
        .push(HostPort::at("fe01.contoso.com", fes[0].sip_tls));
    let rec = Collect::default();
    let r = run(&phone(1, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(
        r.registrar.as_deref(),
        Some(format!("fe02.contoso.com:{}", fes[1].sip_tls.port()).as_str())
    );
    let m = String::from_utf8(mock.metrics.render()).unwrap();
    assert!(
        m.contains(r#"phonestorm_mock_answers_total{outcome="301",service="registrar"} 1"#),
        "{m}"
    );
    mock.shutdown().await;
}

/// Before the phone's first REGISTER, occupies the registrar's only worker
/// with another client's REGISTER.
struct Blocker {
    sip_tcp: SocketAddr,
    fired: AtomicBool,
}

impl Gate for Blocker {
    fn wait(&self, stage: Stage) -> Wait<'_> {
        Box::pin(async move {
            if stage != Stage::Register || self.fired.swap(true, Ordering::SeqCst) {
                return;
            }
            let m = build_register(&RegisterParams {
                domain: "contoso.com",
                aor: "sip:user9@contoso.com",
                transport: Transport::Tcp,
                local: "127.0.0.1:5",
                branch: "z9hG4bKblocker",
                from_tag: "b1",
                epid: "0b0b0b0b0b",
                call_id: "blocker",
                cseq: 1,
                max_forwards: 70,
                user_agent: "blocker",
                mac: [0, 4, 0xf2, 9, 9, 9],
                vendor: "Polycom",
                firmware: "4.0.7577.4100",
                expires: None,
                authorization: None,
            })
            .unwrap();
            let mut s = tokio::net::TcpStream::connect(self.sip_tcp).await.unwrap();
            s.write_all(&m.encode()).await.unwrap();
            // Kept open (leaked into a task) until its answer; the worker is
            // busy for the service time from now.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop(s);
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
    }
}

#[tokio::test]
async fn retry_after_of_a_full_registrar_is_honoured() {
    let service = Duration::from_secs(3);
    let mut mcfg = MockConfig::default();
    mcfg.registrar.capacity = Capacity {
        workers: 1,
        queue: 0,
        service_time: ServiceTime::Fixed { mean: service },
    };
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    let cap = Duration::from_secs(4);
    cfg.stage_mut(Stage::Register).retry.max = cap;
    cfg.stage_mut(Stage::Register).retry.jitter = 0.0;
    let gate = Blocker {
        sip_tcp: mock.endpoints.sip_tcp,
        fired: AtomicBool::new(false),
    };
    let rec = Collect::default();
    let shared = Shared::new(&cfg).unwrap();
    let id = phone(4, "13579");
    let r = run_gated(&id, &cfg, &shared, &rec, &gate, CancellationToken::new()).await;
    let register: Vec<_> = rec
        .events()
        .into_iter()
        .filter(|e| e.stage == Stage::Register)
        .collect();
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{register:#?}");
    assert_eq!(register.len(), 2, "{register:#?}");
    let Outcome::Failed(f) = &register[0].outcome else {
        panic!("{register:#?}")
    };
    assert_eq!(f.kind, FailureKind::Diagnostics(17000), "{f}");
    // Retry-After is 10 s or more, capped by the policy at 4 s; the
    // backoff alone would have been 20 ms.
    let waited = register[1].intended - register[0].ended;
    assert!(waited >= cap - Duration::from_millis(50), "{waited:?}");
    mock.shutdown().await;
}

#[tokio::test]
async fn stop_before_sign_in_ends_the_phone() {
    let mock = mock(MockConfig::default()).await;
    let cfg = config(&mock);
    let shared = Shared::new(&cfg).unwrap();
    let rec = Collect::default();
    let stop = CancellationToken::new();
    stop.cancel();
    let r = run_with(&phone(6, "13579"), &cfg, &shared, &rec, stop).await;
    assert_eq!(r.outcome, PhoneOutcome::Stopped);
    assert!(rec.signed_in.lock().unwrap().is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn silent_dhcp_server_times_out_after_every_retransmission() {
    let mut mcfg = MockConfig::default();
    mcfg.dhcp.faults.drop = 1.0;
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.disable(Stage::Vlan);
    cfg.dhcp_retransmit.scale = 0.01;
    cfg.stage_mut(Stage::Dhcp).retry.attempts = 2;
    let rec = Collect::default();
    let r = run(&phone(8, "13579"), &cfg, &rec).await;
    let f = failed_at(&r, Stage::Dhcp, FailureKind::Timeout);
    // What usually makes a real server silent: a relay's answer goes to
    // port 67, not to the phone's own port.
    assert!(
        f.detail.contains("after 4 tries") && f.detail.ends_with("set target.dhcp_relay)"),
        "{f}"
    );
    let dhcp = rec
        .events()
        .into_iter()
        .filter(|e| e.stage == Stage::Dhcp)
        .count();
    assert_eq!(dhcp, 2);
    // Two attempts of four transmissions each; the mock's receive loop
    // may still be counting the last, so wait for it, boundedly.
    let want = r#"phonestorm_mock_faults_total{kind="drop",service="dhcp"} 8"#;
    let mut m = String::new();
    for _ in 0..200 {
        m = String::from_utf8(mock.metrics.render()).unwrap();
        if m.contains(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(m.contains(want), "{m}");
    mock.shutdown().await;
}

#[tokio::test]
async fn slow_answer_hits_the_stage_timeout_and_garbage_is_a_parse_failure() {
    let mut mcfg = MockConfig::default();
    mcfg.web.web_ticket.faults.slow = Some(Duration::from_secs(30));
    mcfg.web.root_chain.faults.garbage = 1.0;
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.stage_mut(Stage::RootChain).retry.attempts = 1;
    let rec = Collect::default();
    let r = run(&phone(9, "13579"), &cfg, &rec).await;
    failed_at(&r, Stage::RootChain, FailureKind::Parse);

    let mut mcfg = MockConfig::default();
    mcfg.web.web_ticket.faults.slow = Some(Duration::from_secs(30));
    let mock2 = crate::common::mock(mcfg).await;
    let mut cfg = config(&mock2);
    cfg.stage_mut(Stage::WebTicket).timeout = Duration::from_millis(500);
    cfg.stage_mut(Stage::WebTicket).retry.attempts = 1;
    let r = run(&phone(9, "13579"), &cfg, &Collect::default()).await;
    failed_at(&r, Stage::WebTicket, FailureKind::Timeout);
    mock.shutdown().await;
    mock2.shutdown().await;
}

#[tokio::test]
async fn expired_certificate_fails_the_certificate_stage() {
    // A CA that issues certificates already at their end: the phone says
    // so at the certificate stage, where the fault is, and does not take
    // the certificate on to a registrar that would refuse it.
    let mut mcfg = MockConfig::default();
    mcfg.web.certificate.validity = Duration::ZERO;
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.stage_mut(Stage::Certificate).retry.attempts = 1;
    let r = run(&phone(14, "13579"), &cfg, &Collect::default()).await;
    let failure = failed_at(&r, Stage::Certificate, FailureKind::Tls);
    assert!(failure.detail.contains("expired"), "{failure}");
    mock.shutdown().await;
}
