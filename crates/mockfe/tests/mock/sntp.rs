//! The mock's SNTP server: RFC 4330 replies a phone accepts, with the
//! server's clock close to the test's own.

use phonestorm_mockfe::MockConfig;
use phonestorm_proto::sntp::{self, NtpTimestamp, Reply};
use tokio::net::UdpSocket;

use crate::common::{PATIENCE, metrics_with, start};

#[allow(clippy::disallowed_methods)] // the test's own reference clock
fn now() -> NtpTimestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()).unwrap()
}

#[tokio::test]
async fn reply_passes_the_client_checks() {
    let mock = start(MockConfig::default()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Invalid requests first (mode 4 is a reply; a short packet): discarded.
    let mut bad = sntp::client_request(now());
    bad[0] = (4 << 3) | 4;
    sock.send_to(&bad, mock.endpoints.sntp).await.unwrap();
    sock.send_to(b"short", mock.endpoints.sntp).await.unwrap();

    let t1 = now();
    sock.send_to(&sntp::client_request(t1), mock.endpoints.sntp)
        .await
        .unwrap();
    let mut buf = [0u8; 128];
    let (n, _) = tokio::time::timeout(PATIENCE, sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let t4 = now();
    match sntp::check_reply(&buf[..n], t1, t4).unwrap() {
        Reply::Time(s) => {
            assert_eq!(s.stratum, 3);
            // Same machine, same clock: the offset is tiny whatever the load.
            assert!(s.offset_delay.offset_nanos.abs() < 1_000_000_000, "{s:?}");
        }
        other => panic!("{other:?}"),
    }
    let m = metrics_with(
        &mock,
        r#"phonestorm_mock_malformed_total{kind="invalid",service="sntp"} 2"#,
    )
    .await;
    assert!(
        m.contains(r#"phonestorm_mock_malformed_total{kind="invalid",service="sntp"} 2"#),
        "{m}"
    );
    mock.shutdown().await;
}
