//! The mock's DHCP server, reached as a relay agent reaches it: leases,
//! the UC options 43 and 120 for `MS-UC-Client`, the voice VLAN for
//! `CPE-OCPHONE`, nothing vendor-specific for anyone else, NAK for a wrong
//! address, and malformed datagrams dropped and counted.

use std::net::Ipv4Addr;

use phonestorm_mockfe::MockConfig;
use phonestorm_mockfe::config::Faults;
use phonestorm_proto::dhcp::{
    self, BootSettings, Client, Message, MessageType, Relay, Reply, SipServers,
};
use tokio::net::UdpSocket;

use crate::common::{PATIENCE, metrics_with, start};

struct RelayAgent {
    sock: UdpSocket,
    server: std::net::SocketAddr,
}

impl RelayAgent {
    async fn new(server: std::net::SocketAddr) -> Self {
        RelayAgent {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
        }
    }

    fn client(&self, n: u8) -> Client {
        Client::new([0x00, 0x04, 0xf2, 0x00, 0x00, n], 0x1000 + u32::from(n)).via(Relay {
            giaddr: Ipv4Addr::LOCALHOST,
            hops: 1,
        })
    }

    async fn exchange(&self, m: &Message) -> Message {
        self.sock
            .send_to(&dhcp::encode(m).unwrap(), self.server)
            .await
            .unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = tokio::time::timeout(PATIENCE, self.sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        dhcp::decode(&buf[..n]).unwrap()
    }
}

#[tokio::test]
async fn lease_then_inform_gets_the_uc_options() {
    let mock = start(MockConfig::default()).await;
    let relay = RelayAgent::new(mock.endpoints.dhcp).await;
    let c = relay.client(1);
    let offer = relay.exchange(&c.discover().unwrap()).await;
    let o = Reply::from_message(&offer).unwrap();
    assert_eq!(o.kind, MessageType::Offer);
    assert_eq!(o.xid, c.xid);
    assert_eq!(o.yiaddr, Ipv4Addr::new(198, 18, 16, 1));
    let server_id = o.server_id.unwrap();
    let ack = relay
        .exchange(&c.request_selecting(o.yiaddr, server_id).unwrap())
        .await;
    let a = Reply::from_message(&ack).unwrap();
    assert_eq!(
        (a.kind, a.yiaddr, a.lease_time),
        (MessageType::Ack, o.yiaddr, Some(8 * 3600))
    );

    let inform_ack = relay.exchange(&c.inform(o.yiaddr).unwrap()).await;
    let s = BootSettings::from_ack(&inform_ack).unwrap();
    assert_eq!(
        s.sip_servers,
        Some(SipServers::name("pool01.contoso.com").unwrap())
    );
    let url = format!(
        "https://pool01.contoso.com:{}/CertProv/CertProvisioningService.svc",
        mock.endpoints.https.port()
    );
    assert_eq!(s.cert_prov_url.as_deref(), Some(url.as_str()));
    assert_eq!(s.domain.as_deref(), Some("contoso.com"));
    assert_eq!(s.time_servers, vec![Ipv4Addr::LOCALHOST]);
    // A second phone gets the next address; the first keeps its own.
    let o2 =
        Reply::from_message(&relay.exchange(&relay.client(2).discover().unwrap()).await).unwrap();
    assert_eq!(o2.yiaddr, Ipv4Addr::new(198, 18, 16, 2));
    let again = Reply::from_message(&relay.exchange(&c.discover().unwrap()).await).unwrap();
    assert_eq!(again.yiaddr, o.yiaddr);
    mock.shutdown().await;
}

#[tokio::test]
async fn vendor_classes_get_only_their_own_option_43() {
    let mock = start(MockConfig::default()).await;
    let relay = RelayAgent::new(mock.endpoints.dhcp).await;
    let vlan = relay
        .exchange(&relay.client(3).vlan_discover().unwrap())
        .await;
    assert_eq!(BootSettings::from_ack(&vlan).unwrap().voice_vlan, Some(100));

    let mut other = relay.client(4);
    other.vendor_class = Some("PXEClient".into());
    let offer = relay.exchange(&other.discover().unwrap()).await;
    let s = BootSettings::from_ack(&offer).unwrap();
    assert_eq!(
        (s.uc_options, s.sip_servers, s.voice_vlan),
        (None, None, None)
    );
    assert!(dhcp::raw_option(&offer, 43).is_none());
    mock.shutdown().await;
}

#[tokio::test]
async fn wrong_address_is_refused_and_garbage_dropped() {
    let mock = start(MockConfig::default()).await;
    let relay = RelayAgent::new(mock.endpoints.dhcp).await;
    relay
        .sock
        .send_to(b"not dhcp", mock.endpoints.dhcp)
        .await
        .unwrap();
    let c = relay.client(5);
    let nak = relay
        .exchange(
            &c.request_init_reboot(Ipv4Addr::new(198, 18, 99, 99))
                .unwrap(),
        )
        .await;
    assert_eq!(Reply::from_message(&nak).unwrap().kind, MessageType::Nak);
    let m = metrics_with(
        &mock,
        r#"phonestorm_mock_malformed_total{kind="invalid",service="dhcp"} 1"#,
    )
    .await;
    assert!(
        m.contains(r#"phonestorm_mock_malformed_total{kind="invalid",service="dhcp"} 1"#),
        "{m}"
    );
    mock.shutdown().await;
}

/// The drop knob: every datagram dropped, so the relay hears nothing, and
/// the mock counts each drop.
#[tokio::test]
async fn drop_fault_silences_the_server() {
    let mut cfg = MockConfig::default();
    cfg.dhcp.faults = Faults {
        drop: 1.0,
        ..Faults::default()
    };
    let mock = start(cfg).await;
    let relay = RelayAgent::new(mock.endpoints.dhcp).await;
    for n in 0..3 {
        let m = relay.client(n).discover().unwrap();
        relay
            .sock
            .send_to(&dhcp::encode(&m).unwrap(), mock.endpoints.dhcp)
            .await
            .unwrap();
    }
    let mut buf = [0u8; 1500];
    let heard = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        relay.sock.recv_from(&mut buf),
    )
    .await;
    assert!(heard.is_err(), "a dropped datagram was answered");
    // The drops are counted by the receive loop, which may still be
    // running: wait for all three, boundedly.
    let want = r#"phonestorm_mock_faults_total{kind="drop",service="dhcp"} 3"#;
    assert!(metrics_with(&mock, want).await.contains(want));
    mock.shutdown().await;
}

/// RFC 2131 section 4.1: "If the 'giaddr' field in a DHCP message from a
/// client is non-zero, the server sends any return messages to the 'DHCP
/// server' port on the BOOTP relay agent whose address appears in
/// 'giaddr'." A message sent from elsewhere (here an ephemeral port) whose
/// giaddr names a relay on port 67 is answered there, not to its sender.
#[tokio::test]
async fn rfc2131_4_1_relayed_replies_go_to_giaddr_port_67() {
    let pid = std::process::id();
    let giaddr = Ipv4Addr::new(127, 68, (pid % 250) as u8 + 1, 9);
    let relay = match UdpSocket::bind((giaddr, dhcp::SERVER_PORT)).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("SKIPPED giaddr:67 test: binding port 67 needs root ({e})");
            return;
        }
        Err(e) => panic!("bind {giaddr}:67: {e}"),
    };
    let mock = start(MockConfig::default()).await;
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let c =
        Client::new([0x00, 0x04, 0xf2, 0x00, 0x01, 0x01], 0x4131).via(Relay { giaddr, hops: 1 });
    sender
        .send_to(
            &dhcp::encode(&c.discover().unwrap()).unwrap(),
            mock.endpoints.dhcp,
        )
        .await
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(PATIENCE, relay.recv_from(&mut buf))
        .await
        .expect("the OFFER reaches giaddr:67")
        .unwrap();
    assert_eq!(from, mock.endpoints.dhcp);
    let o = Reply::from_message(&dhcp::decode(&buf[..n]).unwrap()).unwrap();
    assert_eq!((o.kind, o.xid), (MessageType::Offer, 0x4131));
    // Nothing went back to the sender's ephemeral port.
    let mut other = [0u8; 1500];
    assert!(sender.try_recv_from(&mut other).is_err());
}
