//! The Digest verifier the registrar will use for standard-SIP mode, judged
//! by curl's Digest client (an independent RFC 7616 implementation): a
//! loopback HTTP server that challenges with `phonestorm_proto`'s
//! challenge and checks curl's answer with its `verify`, for MD5 and
//! SHA-256, right and wrong password.

use std::time::Duration;

use phonestorm_proto::sip::AuthValue;
use phonestorm_proto::sip::digest::{Algorithm, DigestChallenge, verify};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::tool;

const REALM: &str = "sip.contoso.com";
const NONCE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// Serves requests on one connection: 401 with the challenge unless the
/// request carries credentials `verify` accepts (then 200). Bounded: at
/// most 4 requests, each read within 10 s.
async fn serve(listener: TcpListener, algorithm: Algorithm, password: &'static str) {
    let challenge = DigestChallenge {
        realm: REALM.into(),
        nonce: NONCE.into(),
        opaque: Some("opaque-1".into()),
        algorithm,
        qop: vec!["auth".into()],
        stale: false,
    }
    .to_auth()
    .to_string();
    for _ in 0..4 {
        let Ok(Ok((mut conn, _))) =
            tokio::time::timeout(Duration::from_secs(10), listener.accept()).await
        else {
            return;
        };
        let mut buf = Vec::new();
        for _ in 0..4 {
            let mut chunk = [0u8; 4096];
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i);
                }
                match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => break None,
                }
            };
            let Some(end) = end else { break };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let method = head.split(' ').next().unwrap_or_default().to_owned();
            let creds = head
                .lines()
                .find_map(|l| l.strip_prefix("Authorization: "))
                .and_then(|v| AuthValue::parse(v).ok());
            let ok = creds.is_some_and(|c| {
                verify(
                    &c,
                    &method,
                    REALM,
                    |n| n == NONCE,
                    |u| (u == "alice").then(|| password.to_owned()),
                )
                .is_ok()
            });
            let answer = if ok {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_owned()
            } else {
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\n\r\n"
                )
            };
            if conn.write_all(answer.as_bytes()).await.is_err() {
                break;
            }
        }
    }
}

async fn curl_status(
    algorithm: Algorithm,
    server_password: &'static str,
    user_password: &str,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve(listener, algorithm, server_password));
    let user = format!("alice:{user_password}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "--digest",
                "-u",
                &user,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("http://127.0.0.1:{port}/dir/index.html"),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.abort();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// RFC 7616 sections 3.4 and 3.9.1 as curl implements them: curl's
/// responses to MD5 and SHA-256 challenges verify; a wrong password does
/// not.
#[tokio::test]
async fn curl_digest_client_is_accepted() {
    if !tool("curl", "curl") {
        return;
    }
    assert_eq!(
        curl_status(Algorithm::Md5, "Circle Of Life", "Circle Of Life").await,
        "200"
    );
    assert_eq!(
        curl_status(Algorithm::Sha256, "Circle Of Life", "Circle Of Life").await,
        "200"
    );
    assert_eq!(
        curl_status(Algorithm::Md5, "Circle Of Life", "circle of life").await,
        "401"
    );
}
