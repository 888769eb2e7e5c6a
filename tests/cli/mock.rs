//! `phonestorm mock` as a user runs it: one line of JSON naming every
//! endpoint, services that answer there, a clean stop on SIGTERM or
//! Ctrl-C, and a broken configuration file refused with file, line and
//! column and exit status 2.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{endpoints_line, phonestorm};

#[test]
fn prints_endpoints_serves_and_stops_on_signal() {
    let dir = std::env::temp_dir().join(format!("phonestorm-mock-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args([
            "mock",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/mockfe.toml"),
            "--ca-out",
        ])
        .arg(&ca)
        .arg("--tls-out")
        .arg(dir.join("tls"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ep = endpoints_line(&mut child);
    for key in [
        "dhcp", "dns", "sntp", "http", "https", "sip_tls", "sip_tcp", "metrics",
    ] {
        let addr: std::net::SocketAddr = ep[key].as_str().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback(), "{key}: {addr}");
    }
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    tls_out_is_a_usable_server_identity(&dir.join("tls"), &ca);

    // The metrics endpoint answers, with the mock's own series.
    let metrics: std::net::SocketAddr = ep["metrics"].as_str().unwrap().parse().unwrap();
    let mut s = std::net::TcpStream::connect(metrics).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("# TYPE phonestorm_mock_queue_seconds histogram"),
        "{page}"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut waited = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(waited < 100, "mock did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--tls-out` wrote a chain ending in the CA and the key that goes with
/// its first certificate: what nginx or Kamailio would load.
fn tls_out_is_a_usable_server_identity(dir: &std::path::Path, ca: &std::path::Path) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let root = CertificateDer::from_pem_file(ca).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], root, "server.pem ends with the CA of ca.pem");
    assert_eq!(
        CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap(),
        root
    );
    let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // with_single_cert refuses a key that does not match the certificate.
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
}

#[test]
fn broken_config_is_one_line_with_position_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("phonestorm-mock-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "sip_domain = \"contoso.com\"\n\n[registrar]\nmax_endpoints = \"eight\"\n",
    )
    .unwrap();
    let out = phonestorm(&["mock", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.toml: line 4, column 17"), "{err}");
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
