//! `phonestorm dhcp-options`: the bytes it prints match the layouts of
//! RFC 3361 and PROTOCOL.md built here by hand, and every bad input ends in
//! exactly one stderr line and exit status 2.

use crate::{hex, phonestorm};

/// RFC 3361 section 3.1 encoding 0 for one name, built label by label.
fn option_120(fqdn: &str) -> Vec<u8> {
    let mut v = vec![0u8];
    for label in fqdn.split('.') {
        v.push(label.len() as u8);
        v.extend(label.as_bytes());
    }
    v.push(0);
    v
}

/// PROTOCOL.md: "each code, length, value, values ASCII, no terminator".
fn sub(code: u8, value: &str) -> Vec<u8> {
    let mut v = vec![code, value.len() as u8];
    v.extend(value.as_bytes());
    v
}

fn option_43(web: &str, port: &str) -> Vec<u8> {
    [
        sub(1, "MS-UC-Client"),
        sub(2, "https"),
        sub(3, web),
        sub(4, port),
        sub(5, "/CertProv/CertProvisioningService.svc"),
    ]
    .concat()
}

fn stdout(args: &[&str]) -> String {
    let out = phonestorm(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "{args:?} wrote to stderr");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn text_matches_hand_built_bytes() {
    let text = stdout(&["dhcp-options", "--sip-server", "lync.contoso.com"]);
    let o120 = option_120("lync.contoso.com");
    // The bytes spelled out for the common case, as a check on the helper.
    assert_eq!(hex(&o120), "00046C796E6307636F6E746F736F03636F6D00");
    let o43 = option_43("lync.contoso.com", "443");
    assert!(
        text.lines()
            .any(|l| l == format!("Option 120: {}", hex(&o120))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == format!("Option 43 (for vendor=MS-UC-Client): {}", hex(&o43))),
        "{text}"
    );
    for (code, value) in [
        (1, "MS-UC-Client"),
        (2, "https"),
        (3, "lync.contoso.com"),
        (4, "443"),
        (5, "/CertProv/CertProvisioningService.svc"),
    ] {
        let prefix = format!("Sub-Option {code} <");
        let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap();
        assert!(
            line.contains(&format!(">: {}", hex(value.as_bytes()))),
            "{line}"
        );
    }
    assert!(text.contains(
        "Certificate Provisioning Service URL: https://lync.contoso.com:443/CertProv/CertProvisioningService.svc"
    ));
}

#[test]
fn json_matches_hand_built_bytes() {
    let out = stdout(&[
        "dhcp-options",
        "--sip-server",
        "lync.contoso.com",
        "--web-server",
        "web.contoso.com",
        "--port",
        "4443",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["option120_hex"], hex(&option_120("lync.contoso.com")));
    assert_eq!(
        v["option43_hex"],
        hex(&option_43("web.contoso.com", "4443"))
    );
    assert_eq!(
        v["certprov_url"],
        "https://web.contoso.com:4443/CertProv/CertProvisioningService.svc"
    );
    assert_eq!(v["option43_suboptions"][3]["hex"], "34343433");
    assert_eq!(v["option43_suboptions"].as_array().unwrap().len(), 5);
}

#[test]
fn web_server_defaults_to_sip_server_and_help_says_so() {
    let v: serde_json::Value = serde_json::from_str(&stdout(&[
        "dhcp-options",
        "--sip-server",
        "pool.contoso.com",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["web_server"], "pool.contoso.com");
    let help = stdout(&["dhcp-options", "--help"]);
    assert!(help.contains("--sip-server FQDN"), "{help}");
    assert!(stdout(&["--version"]).starts_with("phonestorm "));
}

#[test]
fn decode_round_trips_what_encode_prints() {
    let o120 = hex(&option_120("lync.contoso.com"));
    let text = stdout(&["dhcp-options", "--decode-120", &o120]);
    assert!(text.contains("SIP server 1: lync.contoso.com"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&[
        "dhcp-options",
        "--decode-120",
        "01:c6:12:00:01",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["encoding"], 1);
    assert_eq!(v["sip_servers"][0], "198.18.0.1");

    let mut o43 = option_43("web.contoso.com", "443");
    o43.extend([10, 2, 0, 100]);
    let text = stdout(&["dhcp-options", "--decode-43", &hex(&o43)]);
    assert!(text.contains(
        "Certificate Provisioning Service URL: https://web.contoso.com:443/CertProv/CertProvisioningService.svc"
    ));
    assert!(text.contains("Voice VLAN: 100"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&[
        "dhcp-options",
        "--decode-43",
        &hex(&o43),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["voice_vlan"], 100);
    assert_eq!(v["suboptions"][2]["value"], "web.contoso.com");
}

/// Each case: arguments, and a piece of the message that must name the
/// flag or the rule.
#[test]
fn bad_input_is_one_line_and_exit_2() {
    let long_label = format!("{}.contoso.com", "a".repeat(64));
    let long_name = vec!["a".repeat(63); 4].join(".");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--sip-server", "lync..contoso.com"], "--sip-server"),
        (vec!["--sip-server", ""], "--sip-server"),
        (vec!["--sip-server", &long_label], "63"),
        (vec!["--sip-server", &long_name], "255"),
        (vec!["--sip-server", "lync.cöntoso.com"], "non-ASCII"),
        (vec!["--sip-server", "lync contoso"], "--sip-server"),
        (
            vec!["--sip-server", "x.com", "--web-server", "a..b"],
            "--web-server",
        ),
        (vec!["--sip-server", "x.com", "--port", "70000"], "--port"),
        (vec!["--sip-server", "x.com", "--port", "0"], "--port"),
        (vec!["--sip-server", "x.com", "--port", "https"], "--port"),
        (
            vec!["--sip-server", "x.com", "--scheme", "ht tp"],
            "--scheme",
        ),
        (
            vec!["--sip-server", "x.com", "--path", "CertProv"],
            "--path",
        ),
        (vec!["--sip-server", "x.com", "--format", "xml"], "--format"),
        (vec!["--decode-120", "000"], "odd"),
        (vec!["--decode-120", "0g"], "hex"),
        (vec!["--decode-120", ""], "--decode-120"),
        (vec!["--decode-120", "0204"], "encoding"),
        (vec!["--decode-120", "00C000"], "pointer"),
        (vec!["--decode-43", "0305ab"], "--decode-43"),
        (vec!["--decode-43", "xyz"], "--decode-43"),
        (vec!["--decode-120", "00", "--format", "kea"], "--format"),
        (
            vec!["--sip-server", "x.com", "--decode-120", "00"],
            "cannot be used",
        ),
        (
            vec!["--decode-120", "00", "--decode-43", "00"],
            "cannot be used",
        ),
        (vec!["--web-server", "x.com"], "required"),
        (vec![], "required"),
        (vec!["--sip-server"], "--sip-server"),
        (
            vec!["--sip-server", "x.com", "--frobnicate"],
            "--frobnicate",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["dhcp-options"];
        full.extend(&args);
        let out = phonestorm(&full);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.ends_with('\n'));
        assert!(stderr.starts_with("phonestorm: error: "), "{stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr} lacks {needle:?}"
        );
    }
    // No subcommand at all.
    let out = phonestorm(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
}
