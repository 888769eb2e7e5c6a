//! The web ticket as proof: a phone signs the calls it makes with its web
//! ticket, and the mock, which requires it by default, accepts that; a
//! phone set not to sign, or whose clock (set by SNTP) is an hour behind,
//! fails the certificate stage with the pool's 28020 and the reason.

use phonestorm_mockfe::MockConfig;
use phonestorm_phone::{FailureKind, PhoneOutcome, Stage};

use crate::common::{Collect, config, mock, phone, run};

/// The default phone against the default mock: the proof is checked
/// (require_signed_proof defaults on) and the phone signs in.
#[tokio::test]
async fn signed_proof_is_accepted() {
    let mock = mock(MockConfig::default()).await;
    assert!(MockConfig::default().web.web_ticket.require_signed_proof);
    let cfg = config(&mock);
    let rec = Collect::default();
    let r = run(&phone(3, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    mock.shutdown().await;
}

fn refused_at_certificate(outcome: &PhoneOutcome, reason: &str) {
    match outcome {
        PhoneOutcome::Failed { stage, failure } => {
            assert_eq!(*stage, Stage::Certificate, "{failure:?}");
            assert_eq!(failure.kind, FailureKind::Diagnostics(28020), "{failure:?}");
            assert!(failure.detail.contains(reason), "{failure:?}");
        }
        other => panic!("expected a refusal at the certificate stage, got {other:?}"),
    }
}

/// A phone that sends the assertion without the signed proof is refused.
#[tokio::test]
async fn missing_proof_is_refused() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.sign_web_ticket = false;
    let rec = Collect::default();
    let r = run(&phone(4, "13579"), &cfg, &rec).await;
    refused_at_certificate(&r.outcome, "missing proof");
    mock.shutdown().await;
}

/// A time server an hour behind sets the phone's clock back; its proof's
/// timestamp is then an hour old and refused as expired.
#[tokio::test]
async fn proof_from_a_clock_an_hour_behind_is_refused_as_expired() {
    let mut mcfg = MockConfig::default();
    mcfg.sntp.clock_offset_secs = -3600;
    let mock = mock(mcfg).await;
    let cfg = config(&mock);
    let rec = Collect::default();
    let r = run(&phone(5, "13579"), &cfg, &rec).await;
    let offset = r.ntp_offset_nanos.expect("the phone asked the time server");
    assert!(offset < -3_500_000_000_000, "offset {offset} ns");
    refused_at_certificate(&r.outcome, "expired");
    mock.shutdown().await;
}

/// The same clock with the mock's check turned off: the stale proof is not
/// looked at and the phone signs in (the check, not the phone, refused it).
#[tokio::test]
async fn unchecked_proof_passes_when_the_pool_does_not_require_it() {
    let mut mcfg = MockConfig::default();
    mcfg.sntp.clock_offset_secs = -3600;
    mcfg.web.web_ticket.require_signed_proof = false;
    let mock = mock(mcfg).await;
    let cfg = config(&mock);
    let rec = Collect::default();
    let r = run(&phone(5, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    mock.shutdown().await;
}
