//! NTLM and Digest sign-in against the mock registrar: the connectionless
//! [MS-SIPAE] NTLM legs, signed refreshes and sign-out, the refusals (a
//! wrong password, a tampered signature, a replayed cnum, a registrar
//! whose rspauth is wrong) and RFC 3261 Digest, each recorded with its
//! reason on both sides.

use std::time::Duration;

use phonestorm_mockfe::{DigestAlgorithm, MockConfig, RegistrarAuth};
use phonestorm_phone::{
    AuthMode, Direction, DskFault, FailureKind, Identity, Model, Outcome, PhoneOutcome, Stage,
};

use crate::common::{
    Collect, Trace, answers, assert_refused, config, failed_at_register, lost, mock, phone,
    rejections, run, short_expires, signins,
};

/// A CX700 ("Tanjay") of the mock's user `n`: it knows its SIP address,
/// as a CX700 user types it at sign-in.
fn tanjay(n: u32) -> Identity {
    let mut id = phone(n, "13579");
    id.model = Model::Cx700;
    id.user.sip_uri = Some(format!("sip:user{n}@contoso.com").into());
    id
}

#[tokio::test]
async fn cx700_signs_in_with_ntlm_legs_in_auto_mode() {
    // Default mock (tls-dsk mode: the 401 offers NTLM, Kerberos, TLS-DSK);
    // a CX700 in "auto" picks NTLM, skips the web ticket and certificate.
    let mock = mock(MockConfig::default()).await;
    let cfg = config(&mock);
    let rec = Trace::default();
    let r = run(&tanjay(31), &cfg, &rec).await;
    assert_eq!(
        r.outcome,
        PhoneOutcome::SignedIn,
        "{:#?}",
        rec.inner.events()
    );
    let events = rec.inner.events();
    for stage in [Stage::WebTicket, Stage::Certificate] {
        assert!(
            events
                .iter()
                .any(|e| e.stage == stage && e.outcome == Outcome::Skipped),
            "{stage:?} skipped"
        );
    }
    let wire = rec.wire();
    let sent = rec.messages(Direction::Sent);
    let received = rec.messages(Direction::Received);
    // REGISTER -> 401 (offers); REGISTER gssapi-data="" -> 401 with the
    // CHALLENGE_MESSAGE and opaque; REGISTER with the AUTHENTICATE_MESSAGE
    // -> 200 signed.
    assert_eq!(sent.len(), 3, "{wire:#?}");
    assert!(!sent[0].contains("Authorization"));
    assert!(received[0].contains("NTLM realm="));
    assert!(
        sent[1].contains(r#"Authorization: NTLM qop="auth""#)
            && sent[1].contains(r#"gssapi-data="""#),
        "{}",
        sent[1]
    );
    assert!(received[1].starts_with("SIP/2.0 401") && received[1].contains("opaque="));
    assert!(sent[2].contains("opaque=") && sent[2].contains("gssapi-data=\"TlRMTVNTUAAD"));
    assert!(received[2].starts_with("SIP/2.0 200"));
    assert!(received[2].contains("Authentication-Info: NTLM") && received[2].contains("rspauth="));
    // The password never shows in the trace.
    assert!(!wire.iter().any(|(_, t)| t.contains("Storm-31!")));
    assert_eq!(signins(&mock, "ntlm"), 1);
    assert_eq!(signins(&mock, "tls-dsk"), 0);
    mock.shutdown().await;
}

#[tokio::test]
async fn ntlm_refreshes_and_sign_out_are_signed_both_ways() {
    let mut mcfg = short_expires(MockConfig::default());
    mcfg.registrar.auth = RegistrarAuth::Ntlm;
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.auth.mode = AuthMode::Ntlm;
    cfg.hold = Duration::from_millis(3500);
    let rec = Collect::default();
    let mut id = phone(32, "13579");
    id.user.sip_uri = Some("sip:user32@contoso.com".into());
    let r = run(&id, &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert_eq!(*rec.signed_out.lock().unwrap(), vec![32]);
    // Sign-in, at least one signed refresh, signed sign-out, one SA.
    assert!(answers(&mock, 200) >= 3, "{}", answers(&mock, 200));
    assert_eq!(answers(&mock, 401), 2, "one NTLM exchange only");
    assert_eq!(signins(&mock, "ntlm"), 1);
    for reason in [
        "bad_signature",
        "replayed_cnum",
        "sa_expired",
        "ntlm_handshake",
    ] {
        assert_eq!(rejections(&mock, reason), 0, "{reason}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn ntlm_wrong_password_is_refused() {
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.stage_mut(Stage::Register).retry.attempts = 1;
    let mut id = tanjay(33);
    id.user.password = "not-the-password".into();
    let rec = Collect::default();
    let r = run(&id, &cfg, &rec).await;
    assert_refused(&failed_at_register(&r, &rec), 401, "password");
    assert_eq!(rejections(&mock, "ntlm_handshake"), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn ntlm_tampered_signature_is_refused() {
    let mock = mock(short_expires(MockConfig::default())).await;
    let mut cfg = config(&mock);
    cfg.auth.fault = Some(DskFault::TamperSignature);
    cfg.hold = Duration::from_secs(30);
    let rec = Collect::default();
    let r = run(&tanjay(34), &cfg, &rec).await;
    // The sign-in is the AUTHENTICATE leg (not signed by the phone); the
    // first signed request, the refresh, carries the tampered response.
    assert_refused(&lost(r), 403, "signature");
    assert_eq!(rejections(&mock, "bad_signature"), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn ntlm_replayed_cnum_is_refused() {
    let mock = mock(short_expires(MockConfig::default())).await;
    let mut cfg = config(&mock);
    cfg.auth.fault = Some(DskFault::ReplayCnum);
    cfg.hold = Duration::from_secs(30);
    let rec = Collect::default();
    let r = run(&tanjay(35), &cfg, &rec).await;
    // First refresh: cnum 1 (accepted); the second reuses cnum 1.
    assert_refused(&lost(r), 403, "cnum");
    assert_eq!(rejections(&mock, "replayed_cnum"), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn bad_rspauth_is_refused_for_ntlm_and_tls_dsk() {
    let mut mcfg = MockConfig::default();
    mcfg.registrar.bad_rspauth = true;
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.stage_mut(Stage::Register).retry.attempts = 1;
    for (n, id) in [(36, tanjay(36)), (37, phone(37, "13579"))] {
        let rec = Collect::default();
        let r = run(&id, &cfg, &rec).await;
        let f = failed_at_register(&r, &rec);
        assert_eq!(f.kind, FailureKind::BadRspauth, "{n}: {f:?}");
        assert!(f.detail.contains("rspauth"), "{f:?}");
    }
    // Both schemes did authenticate: the refusal was the phone's.
    assert_eq!(signins(&mock, "ntlm"), 1);
    assert_eq!(signins(&mock, "tls-dsk"), 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn digest_signs_in_refreshes_and_signs_out() {
    for algorithm in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
        let mut mcfg = short_expires(MockConfig::default());
        mcfg.registrar.auth = RegistrarAuth::Digest;
        mcfg.registrar.digest_algorithm = algorithm;
        let mock = mock(mcfg).await;
        let mut cfg = config(&mock);
        cfg.auth.mode = AuthMode::Digest;
        cfg.hold = Duration::from_millis(3500);
        let rec = Collect::default();
        let r = run(&phone(38, "13579"), &cfg, &rec).await;
        assert_eq!(
            r.outcome,
            PhoneOutcome::SignedIn,
            "{algorithm:?}: {:#?}",
            rec.events()
        );
        assert_eq!(*rec.signed_out.lock().unwrap(), vec![38]);
        // One challenge; the refreshes and the sign-out reuse the nonce
        // with a rising nc.
        assert_eq!(answers(&mock, 401), 1, "{algorithm:?}");
        assert!(answers(&mock, 200) >= 3, "{}", answers(&mock, 200));
        assert_eq!(signins(&mock, "digest"), 1);
        assert_eq!(rejections(&mock, "replayed_nc"), 0);
        mock.shutdown().await;
    }
}

#[tokio::test]
async fn digest_stale_nonce_is_renewed() {
    let mut mcfg = short_expires(MockConfig::default());
    mcfg.registrar.auth = RegistrarAuth::Digest;
    mcfg.registrar.nonce_lifetime = Duration::from_secs(1);
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.auth.mode = AuthMode::Digest;
    cfg.hold = Duration::from_millis(3500);
    let rec = Collect::default();
    let r = run(&phone(39, "13579"), &cfg, &rec).await;
    assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{:#?}", rec.events());
    assert!(rejections(&mock, "digest_stale") >= 1);
    assert!(signins(&mock, "digest") >= 2);
    mock.shutdown().await;
}

#[tokio::test]
async fn digest_wrong_password_is_refused() {
    let mut mcfg = MockConfig::default();
    mcfg.registrar.auth = RegistrarAuth::Digest;
    let mock = mock(mcfg).await;
    let mut cfg = config(&mock);
    cfg.auth.mode = AuthMode::Digest;
    cfg.stage_mut(Stage::Register).retry.attempts = 1;
    let mut id = phone(40, "13579");
    id.user.password = "wrong".into();
    let rec = Collect::default();
    let r = run(&id, &cfg, &rec).await;
    let f = failed_at_register(&r, &rec);
    assert_eq!(f.kind, FailureKind::AuthRejected, "{f:?}");
    assert!(f.detail.contains("digest credentials refused"), "{f:?}");
    assert_eq!(rejections(&mock, "digest_response"), 1);
    mock.shutdown().await;
}
