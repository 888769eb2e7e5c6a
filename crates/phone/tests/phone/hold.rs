//! Staying signed in: keep-alives within the registrar's timeout,
//! re-REGISTER before expiry, sign-out at the end of the hold or on stop.

use std::sync::Arc;
use std::time::Duration;

use phonestorm_mockfe::MockConfig;
use phonestorm_phone::{PhoneOutcome, Shared};
use tokio_util::sync::CancellationToken;

use crate::common::{Collect, answers, config, lost, mock, phone, run, run_with, short_expires};

#[tokio::test]
async fn held_phone_pings_refreshes_and_signs_out() {
    let mut mcfg = short_expires(MockConfig::default());
    // An idle connection is closed after 1 s: only keep-alives keep it.
    mcfg.registrar.keepalive_timeout = Duration::from_secs(1);
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.hold = Duration::from_millis(3500);
    let rec = Collect::default();
    let r = run(&phone(11, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn);
    assert_eq!(*rec.signed_out.lock().unwrap(), vec![11]);
    // Sign-in, at least one refresh (every 1.6 s), and the sign-out.
    assert!(answers(&mock, 200) >= 3, "{}", answers(&mock, 200));
    mock.shutdown().await;
}

/// `hold.keep_alives = false`: no CRLF and no re-REGISTER, so the
/// registrar's idle timeout (1 s here) closes the connection and the phone
/// records the registration lost, with the reason.
#[tokio::test]
async fn held_phone_without_keep_alives_is_dropped_by_the_registrar() {
    let mut mcfg = short_expires(MockConfig::default());
    mcfg.registrar.keepalive_timeout = Duration::from_secs(1);
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.hold = Duration::from_millis(3500);
    cfg.keep_alive.enabled = false;
    let rec = Collect::default();
    let r = run(&phone(13, "13579"), &cfg, &rec).await;
    let f = lost(r);
    assert!(f.detail.contains("closed"), "{f:?}");
    // The sign-in only: no refresh, and no sign-out on a lost connection.
    assert_eq!(answers(&mock, 200), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn stop_while_held_signs_out() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.hold = Duration::from_secs(3600);
    let shared = Shared::new(&cfg).unwrap();
    let rec = Arc::new(Collect::default());
    let stop = CancellationToken::new();
    let watcher = {
        let (rec, stop) = (rec.clone(), stop.clone());
        tokio::spawn(async move {
            for _ in 0..6000 {
                if !rec.signed_in.lock().unwrap().is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.cancel();
        })
    };
    let r = run_with(&phone(12, "13579"), &cfg, &shared, &*rec, stop).await;
    watcher.await.unwrap();
    assert_eq!(r.outcome, PhoneOutcome::SignedIn);
    assert_eq!(*rec.signed_out.lock().unwrap(), vec![12]);
    assert_eq!(answers(&mock, 200), 2, "sign-in and sign-out");
    mock.shutdown().await;
}

#[tokio::test]
async fn phones_on_other_loopback_addresses_share_sessions() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.tls.session_cache = phonestorm_phone::SessionCache::Shared;
    let shared = Shared::new(&cfg).unwrap();
    let rec = Collect::default();
    // One phone by its identity's address, one by the configured range.
    let mut first = phone(13, "13579");
    first.source_ip = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let r = run_with(&first, &cfg, &shared, &rec, CancellationToken::new()).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    cfg.sources = Some(phonestorm_phone::SourceRange {
        first: std::net::Ipv4Addr::new(127, 0, 0, 3),
        count: 4,
    });
    for n in [14u32, 15] {
        let r = run_with(
            &phone(n, "13579"),
            &cfg,
            &shared,
            &rec,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn session_cache_modes_all_sign_in() {
    let mock = mock(MockConfig::default()).await;
    for (n, mode) in [
        (15u32, phonestorm_phone::SessionCache::PerPhone),
        (16, phonestorm_phone::SessionCache::Off),
    ] {
        let mut cfg = config(&mock);
        cfg.tls.session_cache = mode;
        let rec = Collect::default();
        let r = run(&phone(n, "13579"), &cfg, &rec).await;
        assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{mode:?}");
    }
    mock.shutdown().await;
}

/// The phone's own future is what a held phone costs besides its
/// connection: stage attempts, the registration and the hold are boxed,
/// so it stays small (360 bytes when the registration was boxed; 1,440
/// before, when it sat here as well as in the hold).
#[tokio::test]
async fn a_phone_future_is_small() {
    let mock = mock(MockConfig::default()).await;
    let cfg = config(&mock);
    let shared = Shared::new(&cfg).unwrap();
    let rec = Collect::default();
    let id = phone(1, "13579");
    let f = phonestorm_phone::bootstrap(
        &id,
        &cfg,
        &shared,
        tokio::time::Instant::now(),
        &rec,
        &phonestorm_phone::Open,
        CancellationToken::new(),
    );
    let size = std::mem::size_of_val(&f);
    eprintln!("bootstrap future: {size} bytes");
    assert!(size <= 512, "{size}");
    drop(f);
    mock.shutdown().await;
}
