//! TLS-DSK ([MS-SIPAE]) sign-in against the mock registrar: the handshake
//! legs, signed refreshes and sign-out, and the four refusals (a
//! certificate the registrar's CA did not sign, a tampered signature, a
//! replayed cnum, an expired security association), each recorded with
//! its reason on both sides.

use std::time::Duration;

use phonestorm_mockfe::{MockConfig, RegistrarAuth, Running};
use phonestorm_phone::{AuthMode, Direction, DskFault, FailureKind, HostPort, PhoneOutcome, Stage};

use crate::common::{
    Collect, Trace, answers, assert_refused, config, failed_at_register, lost, mock, phone,
    rejections, run, short_expires,
};

#[tokio::test]
async fn sign_in_runs_every_tls_dsk_leg_and_traces_it() {
    let mock = mock(MockConfig::default()).await;
    let cfg = config(&mock);
    let rec = Trace::default();
    let r = run(&phone(21, "13579"), &cfg, &rec).await;
    assert_eq!(
        r.outcome,
        PhoneOutcome::SignedIn,
        "{:#?}",
        rec.inner.events()
    );
    let wire = rec.wire();
    let sent = rec.messages(Direction::Sent);
    let received = rec.messages(Direction::Received);
    // REGISTER (bare) -> 401 offering TLS-DSK; REGISTER with the
    // ClientHello -> 401 with the server's flight; REGISTER with the
    // client's flight -> 401 with the server's Finished; signed REGISTER
    // -> 200 with rspauth.
    assert_eq!(sent.len(), 4, "{wire:#?}");
    assert_eq!(received.len(), 4);
    assert!(!sent[0].contains("Authorization"));
    assert!(received[0].contains("TLS-DSK") && received[0].contains("sts-uri"));
    for leg in 1..3 {
        assert!(sent[leg].contains("gssapi-data"), "{}", sent[leg]);
        assert!(received[leg].starts_with("SIP/2.0 401"));
        assert!(received[leg].contains("gssapi-data") && received[leg].contains("opaque"));
    }
    assert!(sent[3].contains("response=\"") && sent[3].contains("cnum=\"1\""));
    assert!(received[3].starts_with("SIP/2.0 200") && received[3].contains("rspauth=\""));
    assert_eq!(answers(&mock, 401), 3);
    mock.shutdown().await;
}

#[tokio::test]
async fn refreshes_and_sign_out_are_signed_both_ways() {
    let mock = mock(short_expires(MockConfig::default())).await;
    let mut cfg = config(&mock);
    cfg.hold = Duration::from_millis(3500);
    let rec = Collect::default();
    let r = run(&phone(22, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(*rec.signed_out.lock().unwrap(), vec![22]);
    // Sign-in, at least one refresh, sign-out: each signed by the phone
    // (the mock checks) and by the mock (the phone checks), on one SA.
    assert!(answers(&mock, 200) >= 3, "{}", answers(&mock, 200));
    assert_eq!(answers(&mock, 401), 3, "one handshake only");
    for reason in ["bad_signature", "replayed_cnum", "sa_expired", "handshake"] {
        assert_eq!(rejections(&mock, reason), 0, "{reason}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    // The phone provisions itself at mock B (B's CA signs its certificate)
    // and registers at mock A, trusting both roots: A's registrar does not
    // trust B's CA, so the tunnelled handshake fails.
    let a = mock(MockConfig::default()).await;
    let b = mock(MockConfig::default()).await;
    let mut cfg = config(&b);
    // The scenario's own registrar is tried first.
    cfg.target
        .registrars
        .push(HostPort::at("fe01.contoso.com", a.endpoints.sip_tls));
    cfg.disable(Stage::RootChain);
    cfg.given_root_chain = vec![a.ca.ca_der().to_vec(), b.ca.ca_der().to_vec()];
    cfg.stage_mut(Stage::Register).retry.attempts = 1;
    // "tls-dsk" keeps the certificate off the SIP connection itself, whose
    // own TLS would refuse it before any TLS-DSK began.
    cfg.auth.mode = AuthMode::TlsDsk;
    let rec = Collect::default();
    let r = run(&phone(23, "13579"), &cfg, &rec).await;
    // Shown only if the test fails, to tell from the registrar reached
    // which mock the phone registered at.
    eprintln!(
        "mock A's registrar {}, mock B's {}",
        a.endpoints.sip_tls, b.endpoints.sip_tls
    );
    assert_refused(&failed_at_register(&r, &rec), 401, "Final handshake failed");
    assert_eq!(rejections(&a, "handshake"), 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn tampered_signature_is_refused() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.auth.fault = Some(DskFault::TamperSignature);
    cfg.stage_mut(Stage::Register).retry.attempts = 1;
    let rec = Collect::default();
    let r = run(&phone(24, "13579"), &cfg, &rec).await;
    assert_refused(&failed_at_register(&r, &rec), 403, "signature");
    assert_eq!(rejections(&mock, "bad_signature"), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn replayed_cnum_is_refused() {
    let mock = mock(short_expires(MockConfig::default())).await;
    let mut cfg = config(&mock);
    cfg.auth.fault = Some(DskFault::ReplayCnum);
    cfg.hold = Duration::from_secs(30);
    let rec = Collect::default();
    let r = run(&phone(25, "13579"), &cfg, &rec).await;
    // The sign-in (cnum 1) works; the first refresh reuses cnum 1.
    assert_refused(&lost(r), 403, "cnum");
    assert_eq!(rejections(&mock, "replayed_cnum"), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn expired_security_association_is_refused_then_renewed() {
    let mut mcfg = short_expires(MockConfig::default());
    // The registrar drops SAs after a second; the phone believes in its
    // own for hours, so its first refresh is signed under a dead SA.
    mcfg.registrar.sa_lifetime = Duration::from_secs(1);
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.hold = Duration::from_millis(3500);
    let rec = Collect::default();
    let r = run(&phone(26, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert!(rejections(&mock, "sa_expired") >= 1);
    // The refused refresh was followed by a new handshake, signed in again.
    assert!(answers(&mock, 401) >= 6, "{}", answers(&mock, 401));
    assert!(answers(&mock, 200) >= 3, "{}", answers(&mock, 200));
    mock.shutdown().await;
}

#[tokio::test]
async fn phone_renews_its_security_association_when_its_life_ends() {
    let mock = mock(short_expires(MockConfig::default())).await;
    let mut cfg = config(&mock);
    cfg.hold = Duration::from_millis(3500);
    // Shorter than the 5-minute margin: every refresh needs a new SA.
    cfg.auth.sa_lifetime = Duration::from_secs(60);
    let rec = Collect::default();
    let r = run(&phone(27, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(
        rejections(&mock, "sa_expired"),
        0,
        "renewed before the server refused"
    );
    // A handshake (three 401s) for the sign-in and for each later request.
    assert!(answers(&mock, 401) >= 6, "{}", answers(&mock, 401));
    mock.shutdown().await;
}

/// Runs phone `n` in `mode` with one REGISTER attempt and checks that it
/// fails at the registrar with `kind`.
async fn register_refused(mock: &Running, n: u32, mode: AuthMode, kind: FailureKind) {
    let mut cfg = config(mock);
    cfg.auth.mode = mode;
    cfg.stage_mut(Stage::Register).retry.attempts = 1;
    let rec = Collect::default();
    let r = run(&phone(n, "13579"), &cfg, &rec).await;
    let f = failed_at_register(&r, &rec);
    assert_eq!(f.kind, kind, "{mode:?}: {f:?}");
}

#[tokio::test]
async fn certificate_mode_needs_a_registrar_that_checks_certificates() {
    // Against a TLS-DSK registrar, "certificate" takes the 401 as final.
    let mock = mock(MockConfig::default()).await;
    register_refused(
        &mock,
        28,
        AuthMode::Certificate,
        FailureKind::SipStatus(401),
    )
    .await;
    mock.shutdown().await;

    // Against a certificate-checking registrar: 200 at once, no 401.
    let mut mcfg = MockConfig::default();
    mcfg.registrar.auth = RegistrarAuth::Certificate;
    let mock = crate::common::mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.auth.mode = AuthMode::Certificate;
    let rec = Collect::default();
    let r = run(&phone(29, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(answers(&mock, 401), 0);

    // "auto", as a Lync phone, does not show its certificate on the SIP
    // connection (Skype for Business authenticates clients inside SIP):
    // this registrar, which reads it only from the connection, challenges
    // and takes no TLS-DSK. Had the phone shown it, the 200 would have
    // come at once, as above.
    register_refused(&mock, 30, AuthMode::Auto, FailureKind::AuthRejected).await;
    assert!(answers(&mock, 401) > 0);
    mock.shutdown().await;
}
