//! The phone's path through every stage against the mock.

use phonestorm_mockfe::MockConfig;
use phonestorm_phone::{FailureKind, Outcome, PhoneOutcome, Stage};

use crate::common::{Collect, config, failed_at, metric, mock, phone, run};

#[tokio::test]
async fn one_phone_signs_in_through_every_stage() {
    let mock = mock(MockConfig::default()).await;
    let cfg = config(&mock);
    let rec = Collect::default();
    let r = run(&phone(7, "13579"), &cfg, &rec).await;
    let events = rec.events();
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{events:#?}");
    let stages: Vec<Stage> = events.iter().map(|e| e.stage).collect();
    assert_eq!(stages, Stage::ALL.to_vec());
    for e in &events {
        assert_eq!(e.outcome, Outcome::Ok, "{e:?}");
        assert_eq!((e.phone, e.attempt), (7, 0));
        assert!(e.intended <= e.started && e.started <= e.ended, "{e:?}");
    }
    assert_eq!(*rec.signed_in.lock().unwrap(), vec![7]);
    assert_eq!(r.voice_vlan, Some(100));
    assert!(r.ntp_offset_nanos.is_some());
    assert!(
        r.registrar
            .as_deref()
            .unwrap()
            .starts_with("fe01.contoso.com:")
    );
    // Both HTTPS connections (the update check's, the web services') end
    // with the phone's close_notify, as RFC 5246 section 7.2.1 requires;
    // by now, three SIP round trips later, the mock has seen both ends.
    assert_eq!(
        metric(
            &mock,
            r#"phonestorm_mock_malformed_total{kind="no_close_notify",service="https"}"#
        ),
        0
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn wrong_pin_fails_the_web_ticket_with_28020() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.stage_mut(Stage::WebTicket).retry.attempts = 2;
    let rec = Collect::default();
    let r = run(&phone(3, "0000"), &cfg, &rec).await;
    failed_at(&r, Stage::WebTicket, FailureKind::Diagnostics(28020));
    let tickets: Vec<_> = rec
        .events()
        .into_iter()
        .filter(|e| e.stage == Stage::WebTicket)
        .collect();
    assert_eq!(tickets.len(), 2, "one event per attempt");
    assert_eq!(tickets[1].attempt, 1);
    assert!(
        tickets[1].intended >= tickets[0].ended,
        "backoff before the retry"
    );
    assert!(rec.signed_in.lock().unwrap().is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn stages_turned_off_are_skipped() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.disable(Stage::Vlan).disable(Stage::Update);
    let rec = Collect::default();
    let r = run(&phone(5, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    for e in rec.events() {
        let want = if matches!(e.stage, Stage::Vlan | Stage::Update) {
            Outcome::Skipped
        } else {
            Outcome::Ok
        };
        assert_eq!(e.outcome, want, "{e:?}");
    }
    assert_eq!(r.voice_vlan, None);
    mock.shutdown().await;
}

/// A pool that publishes no `ucupdates-r2.<domain>` (it serves updates
/// before sign-in only, and many pools leave it out): the DNS server says
/// NXDOMAIN, the phone has no update service to check, skips the update
/// stage and signs in. The DNS stage still succeeds.
#[tokio::test]
async fn no_update_record_skips_the_update_check() {
    let mut mcfg = MockConfig::default();
    mcfg.web.update.dns_record = false;
    let mock = mock(mcfg).await;
    let rec = Collect::default();
    let r = run(&phone(6, "13579"), &config(&mock), &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(rec.outcomes(Stage::Dns), [Outcome::Ok]);
    assert_eq!(rec.outcomes(Stage::Update), [Outcome::Skipped]);
    assert_eq!(rec.outcomes(Stage::Register), [Outcome::Ok]);
    mock.shutdown().await;
}

/// A pool that advertises no time server (no DHCP option 42, no
/// `_ntp._udp` record): a phone would ask time.windows.com, which the
/// harness does not; the time stage is recorded as skipped and the phone
/// signs in.
#[tokio::test]
async fn no_time_server_skips_the_time_stage() {
    let mut mcfg = MockConfig::default();
    mcfg.sntp.published = false;
    let mock = mock(mcfg).await;
    let rec = Collect::default();
    let r = run(&phone(7, "13579"), &config(&mock), &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(r.ntp_offset_nanos, None);
    assert_eq!(rec.outcomes(Stage::Ntp), [Outcome::Skipped]);
    mock.shutdown().await;
}

/// Firmware rollout: told to update, the phone downloads the image and
/// starts again at stage 1, once, with the new version.
#[tokio::test]
async fn update_downloads_the_image_and_restarts_once() {
    let mut mcfg = MockConfig::default();
    mcfg.web.update.update_share.insert("CX600".into(), 1.0);
    mcfg.web.update.image_bytes = 300_000;
    let mock = mock(mcfg).await;
    let cfg = config(&mock);
    let rec = Collect::default();
    let r = run(&phone(17, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(r.updated_to.as_deref(), Some("4.0.7577.4463"));
    let stages: Vec<Stage> = rec.events().iter().map(|e| e.stage).collect();
    let mut want = Stage::ALL[..5].to_vec();
    want.extend(Stage::ALL);
    assert_eq!(stages, want);
    mock.shutdown().await;
}
