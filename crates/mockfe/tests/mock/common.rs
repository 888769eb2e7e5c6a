//! Helpers shared by the mock's service tests: starting a mock, and the
//! rule for tests that need a standard tool installed.

use std::time::Duration;

use phonestorm_mockfe::{MockConfig, Running};

/// Starts a mock with `cfg` (default users trimmed, to keep start-up cheap).
pub(crate) async fn start(mut cfg: MockConfig) -> Running {
    cfg.users.count = cfg.users.count.min(1000);
    phonestorm_mockfe::start(cfg).await.expect("mock starts")
}

/// Waits (boundedly) until the mock's `/metrics` page contains `line`, and
/// returns the page. Each datagram is served by its own task, so a counter
/// can trail the answer to a later datagram by the first one's service
/// time: asserting on it at once would race.
pub(crate) async fn metrics_with(mock: &Running, line: &str) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page = String::from_utf8(mock.metrics.render()).unwrap();
        if page.contains(line) || tokio::time::Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A generous bound for any single exchange on loopback: a test that hits
/// it has found a hang, not a slow machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Whether a standard tool is present. A missing tool fails the test under
/// CI (`CI` set, as `.ci/run` runs) or with `PHONESTORM_REQUIRE_INTEROP=1`,
/// so the check cannot quietly stop happening; elsewhere (a fresh machine
/// with only the Rust toolchain) the test says it skipped and passes.
/// `PHONESTORM_SKIP_INTEROP=1` skips in any case.
pub(crate) fn tool(name: &str, package: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("-v")
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

/// One HTTP/1.1 answer: status, headers (names lower-case), body.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpAnswer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A TLS client that trusts only the mock's CA, as a phone does after it
/// downloaded the root chain.
pub(crate) fn tls_client(ca_der: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(ca_der.to_vec()))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
}

/// Sends one request with `Connection: close` and reads the whole answer.
/// `tls` names the server to verify when the connection is HTTPS.
pub(crate) async fn http(
    addr: std::net::SocketAddr,
    tls: Option<(&tokio_rustls::TlsConnector, &str)>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpAnswer> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: pool01.contoso.com\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut raw = req.into_bytes();
    raw.extend_from_slice(body);
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut out = Vec::new();
    let io = async {
        match tls {
            Some((connector, name)) => {
                let server = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
                let mut s = connector.connect(server, tcp).await?;
                s.write_all(&raw).await?;
                s.read_to_end(&mut out).await
            }
            None => {
                let mut s = tcp;
                s.write_all(&raw).await?;
                s.read_to_end(&mut out).await
            }
        }
    };
    tokio::time::timeout(PATIENCE, io)
        .await
        .map_err(|_| std::io::Error::other("timed out"))??;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    })
}
