//! Phones through the run's DHCP relay agent (`target.dhcp_relay`): one
//! socket on `<relay>:67` for every phone, replies handed back by `xid` and
//! `chaddr`. RFC 2131 section 4.1: "If the 'giaddr' field in a DHCP message
//! from a client is non-zero, the server sends any return messages to the
//! 'DHCP server' port on the BOOTP relay agent whose address appears in
//! 'giaddr'." The mock does so when the datagram did not come from giaddr
//! itself; here it comes from giaddr:67, the same place.

use std::net::{Ipv4Addr, SocketAddr};

use phonestorm_mockfe::MockConfig;
use phonestorm_phone::{Outcome, PhoneOutcome, RelayAgent, Shared, Stage};
use phonestorm_proto::dhcp::{self, Client, MessageType, ReplyParams};
use tokio_util::sync::CancellationToken;

use crate::common::{Collect, config, mock, phone, run_with};

/// A loopback address for this test process's relay, so parallel runs of
/// the suite (and other tests binding port 67) do not collide.
fn relay_address(n: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 67, (pid % 250) as u8 + 1, n)
}

/// Binds the agent, or says why the test cannot run here: binding port 67
/// needs root (CI and the project's machines run as root).
async fn agent_or_skip(addr: Ipv4Addr) -> Option<RelayAgent> {
    match RelayAgent::bind(addr).await {
        Ok(a) => Some(a),
        Err(e) if e.to_string().contains("denied") => {
            eprintln!("SKIPPED relay test: {e}");
            None
        }
        Err(e) => panic!("relay agent: {e}"),
    }
}

#[tokio::test]
async fn rfc2131_4_1_phones_share_one_relay_on_port_67() {
    let addr = relay_address(1);
    // Probe once: skip (with a note) only when port 67 is refused.
    let Some(probe) = agent_or_skip(addr).await else {
        return;
    };
    drop(probe);
    tokio::task::yield_now().await;
    let mock = mock(MockConfig::default()).await;
    let mut cfg = config(&mock);
    cfg.target.dhcp_relay = Some(addr);
    // DHCP is what is tested; the rest runs too, so the options the relay
    // carried must be the ones that sign the phones in.
    let shared = Shared::new(&cfg).unwrap();
    let agent = shared.relay().await.expect("a relay is configured");
    let agent = agent.expect("relay binds");
    assert_eq!(agent.local_addr().unwrap(), SocketAddr::from((addr, 67)));
    let rec = Collect::default();
    let phones: Vec<_> = (0..8).map(|i| phone(20 + i, "13579")).collect();
    let runs = phones
        .iter()
        .map(|id| run_with(id, &cfg, &shared, &rec, CancellationToken::new()));
    let results = futures_join_all(runs).await;
    for r in &results {
        assert_eq!(r.outcome, PhoneOutcome::SignedIn, "{r:?}");
    }
    let events = rec.events();
    let dhcp_ok = events
        .iter()
        .filter(|e| e.stage == Stage::Dhcp && e.outcome == Outcome::Ok)
        .count();
    assert_eq!(dhcp_ok, 8, "{events:#?}");
    let stats = shared.relay_stats().expect("agent bound");
    // VLAN discovery (1 exchange) and DHCP (3) per phone, at least.
    assert!(stats.sent >= 8 * 4, "{stats:?}");
    assert!(stats.delivered >= 8 * 4, "{stats:?}");
    assert_eq!(stats.invalid, 0, "{stats:?}");
    mock.shutdown().await;
}

/// Drives every future together on this task and returns their outputs in
/// order (the phones borrow the config and `Shared`, so they cannot be
/// spawned; the crate has no `futures` dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn rfc2131_4_1_replies_for_unknown_xids_are_counted_and_dropped() {
    let addr = relay_address(2);
    let Some(agent) = agent_or_skip(addr).await else {
        return;
    };
    // Play a server: an OFFER for a transaction nobody waits for, sent to
    // the relay's port 67, and one for the transaction that waits.
    let server = tokio::net::UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 1), 0))
        .await
        .unwrap();
    let offer = |xid: u32| {
        let req = Client::new([2, 0, 0, 0, 0, 9], xid)
            .via(dhcp::Relay {
                giaddr: addr,
                hops: 1,
            })
            .discover()
            .unwrap();
        let reply = dhcp::build_reply(
            &req,
            &ReplyParams {
                kind: MessageType::Offer,
                yiaddr: Ipv4Addr::new(198, 18, 0, 10),
                server_id: Ipv4Addr::new(198, 18, 0, 2),
                lease_time: 60,
                options: Vec::new(),
            },
        )
        .unwrap();
        dhcp::encode(&reply).unwrap()
    };
    let mut waiting = agent.transaction(0x1234, [2, 0, 0, 0, 0, 9]);
    let to = SocketAddr::from((addr, 67));
    server.send_to(&offer(0x9999), to).await.unwrap();
    server.send_to(b"not dhcp", to).await.unwrap();
    server.send_to(&offer(0x1234), to).await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(30), waiting.recv())
        .await
        .expect("the waiting transaction gets its reply")
        .expect("agent running");
    let msg = dhcp::decode(&got).unwrap();
    assert_eq!(msg.xid(), 0x1234);
    let s = agent.stats();
    assert_eq!((s.unknown, s.invalid, s.delivered), (1, 1, 1), "{s:?}");
    // Once the phone stops waiting, its late replies are unknown too.
    drop(waiting);
    server.send_to(&offer(0x1234), to).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while agent.stats().unknown < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(agent.stats().unknown, 2, "{:?}", agent.stats());
}
