//! The mock's DNS server: SRV and A answers a phone needs, NXDOMAIN
//! otherwise, TCP on the same port, malformed datagrams dropped, and `dig`
//! agreeing with all of it.

use phonestorm_mockfe::MockConfig;
use phonestorm_proto::dns::{self, Outcome, QueryOptions, Question, Service, SrvTargets};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::common::{PATIENCE, metrics_with, start, tool};

async fn ask_udp(server: std::net::SocketAddr, q: &Question, id: u16) -> Outcome {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let query = dns::build_query(q, &QueryOptions::recursive(id)).unwrap();
    sock.send_to(&query, server).await.unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(PATIENCE, sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    dns::parse_response(q, id, &buf[..n]).unwrap()
}

#[tokio::test]
async fn srv_and_a_records_carry_the_bound_ports() {
    let mock = start(MockConfig::default()).await;
    let ep = &mock.endpoints;
    let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
    let Outcome::Answer(a) = ask_udp(ep.dns, &q, 7).await else {
        panic!("no answer")
    };
    assert_eq!(a.srv.len(), 1);
    let srv = &a.srv[0];
    assert_eq!(
        (srv.target.as_str(), srv.port),
        ("fe01.contoso.com", ep.sip_tls.port())
    );
    // RFC 2782: the target's address comes along in the additional section.
    assert_eq!(a.addresses_of("fe01.contoso.com"), vec![ep.dns.ip()]);
    let Outcome::Answer(a) = ask_udp(
        ep.dns,
        &Question::srv(Service::SipInternal, "contoso.com").unwrap(),
        8,
    )
    .await
    else {
        panic!()
    };
    assert_eq!(a.srv[0].port, ep.sip_tcp.port());
    let Outcome::Answer(a) = ask_udp(
        ep.dns,
        &Question::srv(Service::Ntp, "contoso.com").unwrap(),
        9,
    )
    .await
    else {
        panic!()
    };
    assert_eq!(a.srv[0].port, ep.sntp.port());
    let Outcome::Answer(a) =
        ask_udp(ep.dns, &Question::ucupdates("contoso.com").unwrap(), 10).await
    else {
        panic!()
    };
    assert_eq!(
        a.addresses_of("ucupdates-r2.contoso.com"),
        vec![ep.dns.ip()]
    );
    assert!(matches!(
        ask_udp(ep.dns, &Question::a("nothing.contoso.com").unwrap(), 11).await,
        Outcome::NxDomain { .. }
    ));
    mock.shutdown().await;
}

#[tokio::test]
async fn srv_lists_every_front_end_for_load_balancing() {
    let mock = start(MockConfig {
        front_ends: vec!["fe01.contoso.com".into(), "fe02.contoso.com".into()],
        ..MockConfig::default()
    })
    .await;
    let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
    let Outcome::Answer(a) = ask_udp(mock.endpoints.dns, &q, 1).await else {
        panic!()
    };
    let mut draws = [0u32, 0].into_iter();
    let SrvTargets::Ordered(order) = dns::order_srv(&a.srv, &mut |_| draws.next().unwrap_or(0))
    else {
        panic!()
    };
    let mut ports: Vec<u16> = order.iter().map(|s| s.port).collect();
    ports.sort();
    let mut want: Vec<u16> = mock
        .endpoints
        .front_ends
        .iter()
        .map(|f| f.sip_tls.port())
        .collect();
    want.sort();
    assert_eq!(ports, want);
    mock.shutdown().await;
}

#[tokio::test]
async fn tcp_on_the_same_port_and_garbage_is_dropped() {
    let mock = start(MockConfig::default()).await;
    let server = mock.endpoints.dns;
    // Garbage first: no answer, and the server keeps serving.
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(b"\x01\x02garbage", server).await.unwrap();
    let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
    assert!(matches!(ask_udp(server, &q, 3).await, Outcome::Answer(_)));

    let mut tcp = TcpStream::connect(server).await.unwrap();
    let query = dns::build_query(&q, &QueryOptions::recursive(77)).unwrap();
    tcp.write_all(&dns::tcp_frame(&query).unwrap())
        .await
        .unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(PATIENCE, tcp.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    tcp.read_exact(&mut body).await.unwrap();
    let Outcome::Answer(a) = dns::parse_response(&q, 77, &body).unwrap() else {
        panic!()
    };
    assert_eq!(a.srv[0].port, mock.endpoints.sip_tls.port());

    let m = metrics_with(
        &mock,
        r#"phonestorm_mock_malformed_total{kind="invalid",service="dns"} 1"#,
    )
    .await;
    assert!(
        m.contains(r#"phonestorm_mock_malformed_total{kind="invalid",service="dns"} 1"#),
        "{m}"
    );
    mock.shutdown().await;
}

/// The task's own check: `dig @127.0.0.1 -p PORT _sipinternaltls._tcp.<domain> SRV`.
#[tokio::test]
async fn dig_reads_the_srv_answer() {
    if !tool("dig", "dnsutils") {
        return;
    }
    let mock = start(MockConfig::default()).await;
    let ep = mock.endpoints.clone();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("dig")
                .args(args)
                .output()
                .unwrap()
        })
    };
    let base = vec![
        "@127.0.0.1".to_string(),
        "-p".into(),
        ep.dns.port().to_string(),
        "+short".into(),
        "+time=5".into(),
        "+tries=1".into(),
    ];
    let mut srv = base.clone();
    srv.extend(["_sipinternaltls._tcp.contoso.com".into(), "SRV".into()]);
    let out = run(srv).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("0 10 {} fe01.contoso.com.", ep.sip_tls.port()),
        "{out:?}"
    );

    let mut tcp = base.clone();
    tcp.extend(["+tcp".into(), "ucupdates-r2.contoso.com".into(), "A".into()]);
    let out = run(tcp).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "127.0.0.1",
        "{out:?}"
    );

    let mut nx = base;
    nx.retain(|a| a != "+short");
    nx.extend(["nobody.contoso.com".into(), "A".into()]);
    let out = run(nx).await.unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("status: NXDOMAIN"),
        "{out:?}"
    );
    mock.shutdown().await;
}

/// The pause knob over the wire: a query sent during the first second of a
/// 1-in-10 s pause is answered only after the pause, and still correctly.
#[tokio::test]
async fn pause_fault_delays_answers() {
    let mut cfg = MockConfig::default();
    cfg.dns.faults.pause = Some(phonestorm_mockfe::config::Pause {
        every: std::time::Duration::from_secs(10),
        for_: std::time::Duration::from_secs(1),
    });
    let mock = start(cfg).await;
    let sent = tokio::time::Instant::now();
    let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
    assert!(matches!(
        ask_udp(mock.endpoints.dns, &q, 5).await,
        Outcome::Answer(_)
    ));
    // The station's epoch is a little before `sent`, so allow for it.
    assert!(
        sent.elapsed() >= std::time::Duration::from_millis(800),
        "{:?}",
        sent.elapsed()
    );
    mock.shutdown().await;
}
