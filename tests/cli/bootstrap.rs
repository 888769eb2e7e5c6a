//! `phonestorm bootstrap`: one phone, a trace of every stage with what it
//! sent and what came back, the PIN never shown, exit 0 when it signed in
//! and 1 with the failing stage when it did not.

use crate::phonestorm;

#[test]
fn traces_every_stage_and_masks_the_pin() {
    let out = phonestorm(&["bootstrap", "--ext", "50007", "--pin", "13579"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for stage in crate::STAGES {
        assert!(
            text.contains(&format!("] {stage:<11} ok in")),
            "{stage} not ok:\n{text}"
        );
    }
    // What went out and what came back, per protocol.
    for wire in [
        "DHCP Inform",
        "SNTP reply",
        "DNS Srv _sipinternaltls._tcp.contoso.com",
        "GetAndPublishCert",
        "REGISTER sip:contoso.com SIP/2.0",
        "SIP/2.0 200 OK",
    ] {
        assert!(text.contains(wire), "{wire} missing:\n{text}");
    }
    // Each TLS-DSK leg ([MS-SIPAE]): the bare REGISTER's 401 and the two
    // handshake legs' 401s, the handshake records in gssapi-data, then the
    // signed REGISTER and the signed 200.
    assert_eq!(
        text.matches("SIP/2.0 401 Unauthorized").count(),
        3,
        "TLS-DSK legs missing:\n{text}"
    );
    assert!(text.matches("gssapi-data=").count() >= 4, "{text}");
    assert!(
        text.contains("response=\"") && text.contains("rspauth=\""),
        "{text}"
    );
    assert!(!text.contains("13579"), "the PIN leaked into the trace");
    assert!(text.contains("result: signed in"), "{text}");
}

#[test]
fn wrong_pin_fails_at_web_ticket_with_exit_1() {
    let out = phonestorm(&[
        "bootstrap",
        "--ext",
        "50007",
        "--pin",
        "0000",
        "--set",
        "stages.web_ticket.retry.attempts=1",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("result: failed at web_ticket: diag_28020"),
        "{text}"
    );
    assert!(!text.contains("0000<"), "the PIN leaked into the trace");
}

/// What no keypad could enter is a usage error, before any phone starts;
/// the refused PIN is not repeated.
#[test]
fn an_extension_or_pin_that_is_not_digits_exits_2() {
    for (ext, pin, want) in [
        ("abc", "13579", "--ext"),
        ("50007", "12x45", "--pin: expected a PIN of digits"),
        ("50007", "", "--pin: expected a PIN of digits"),
    ] {
        let out = phonestorm(&["bootstrap", "--ext", ext, "--pin", pin]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{ext} {pin}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
        assert!(out.stdout.is_empty(), "a phone ran");
        if !pin.is_empty() {
            assert!(!err.contains("12x45"), "the PIN leaked: {err}");
        }
    }
}
