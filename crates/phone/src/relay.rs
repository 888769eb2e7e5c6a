//! The DHCP relay agent all phones of a run speak through when the
//! scenario names one (`target.dhcp_relay`).
//!
//! A real DHCP server answers a relayed message to `giaddr`, UDP port 67
//! (RFC 2131 section 4.1, RFC 1542 section 4.1.2), not to the port the
//! datagram came from. Only one socket can own `<relay>:67`, so the agent
//! owns it for every phone: phones hand it their messages (it has already
//! set `giaddr` and `hops` through `phonestorm_proto::dhcp::Relay`), and one
//! receive task hands each reply to the phone waiting for that `xid` and
//! `chaddr`. Replies nobody waits for are counted and dropped.
//!
//! One reply does not go to the relay: RFC 2131 section 4.3.5 says the
//! server sends the DHCPACK to an INFORM "directly to the address given in
//! the 'ciaddr' field", port 68, and Kea does so even for a relayed INFORM.
//! So the agent also listens on `0.0.0.0:68` (when that port is free) and
//! demultiplexes what arrives there the same way; the network must then
//! deliver the phones' leased addresses to this host (on a test bed, a
//! `local` route for the pool: Linux's "AnyIP").
//!
//! This module owns the socket and the demultiplexing, nothing of the
//! protocol: messages are built and read by `phonestorm_proto::dhcp`, and
//! retransmission is the stage's (`stages.rs`). No lock is held across an
//! await: the table of waiting phones is a `std::sync::Mutex` taken only to
//! insert, remove or look up an entry.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use phonestorm_proto::dhcp::{self, CLIENT_PORT, Reply, SERVER_PORT};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::net::io_failure;
use crate::{Error, Failure, Result};

/// Replies queued for one phone before more are dropped: a phone waits for
/// one reply per message, retransmissions may bring a few duplicates.
const QUEUE_PER_PHONE: usize = 8;

/// Largest datagram read (an Ethernet MTU's worth, as servers send).
const MAX_DATAGRAM: usize = 1500;

/// Who waits: a transaction id and a hardware address.
type Key = (u32, [u8; 6]);

/// What the agent counts, for the report and the tests.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    delivered: AtomicU64,
    unknown: AtomicU64,
    invalid: AtomicU64,
    overflow: AtomicU64,
    direct: AtomicU64,
    /// Serial numbers of transactions.
    serial: AtomicU64,
}

/// A snapshot of the agent's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Messages sent to the server.
    pub sent: u64,
    /// Replies handed to a waiting phone.
    pub delivered: u64,
    /// Replies for an `xid` and `chaddr` no phone waits for (late replies
    /// to a phone that gave up, or another agent's traffic).
    pub unknown: u64,
    /// Datagrams that were not a DHCP reply.
    pub invalid: u64,
    /// Replies dropped because the phone's queue was full.
    pub overflow: u64,
    /// Replies that came to port 68 (sent to a phone's `ciaddr`, as the
    /// ACK to an INFORM is), all of them, whoever they were for.
    pub direct: u64,
}

/// Waiting phones: each entry tagged with its transaction's serial number,
/// so a transaction removes only its own entry.
type Waiters = Mutex<HashMap<Key, (u64, mpsc::Sender<Vec<u8>>)>>;

/// One relay agent: a UDP socket on `<address>:67` shared by every phone.
#[derive(Debug)]
pub struct RelayAgent {
    address: Ipv4Addr,
    socket: Arc<UdpSocket>,
    /// `0.0.0.0:68`, when it could be bound.
    client_port: bool,
    waiters: Arc<Waiters>,
    counters: Arc<Counters>,
    receivers: Vec<JoinHandle<()>>,
}

impl RelayAgent {
    /// Binds `<address>:67` and starts the receive task. Binding port 67
    /// needs root or `CAP_NET_BIND_SERVICE`; the error says so.
    pub async fn bind(address: Ipv4Addr) -> Result<Self> {
        Self::bind_port(address, SERVER_PORT).await
    }

    /// As [`RelayAgent::bind`] on another port: only for servers that
    /// answer relays on a non-standard port (Kea's `-P`), and for tests.
    pub async fn bind_port(address: Ipv4Addr, port: u16) -> Result<Self> {
        let socket = UdpSocket::bind(SocketAddr::from((address, port)))
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "dhcp relay: cannot bind {address}:{port} ({e}); port 67 needs root or CAP_NET_BIND_SERVICE"
                ))
            })?;
        let socket = Arc::new(socket);
        let waiters: Arc<Waiters> = Arc::default();
        let counters: Arc<Counters> = Arc::default();
        let mut receivers = vec![tokio::spawn(receive(
            socket.clone(),
            waiters.clone(),
            counters.clone(),
            false,
        ))];
        // Best effort: without port 68 only the ACKs to INFORMs are lost,
        // and the phones' timeouts say so.
        let client = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, CLIENT_PORT))).await;
        let client_port = client.is_ok();
        if let Ok(c) = client {
            receivers.push(tokio::spawn(receive(
                Arc::new(c),
                waiters.clone(),
                counters.clone(),
                true,
            )));
        }
        Ok(RelayAgent {
            address,
            socket,
            client_port,
            waiters,
            counters,
            receivers,
        })
    }

    /// Whether the agent also receives on port 68 (replies to `ciaddr`).
    pub fn client_port(&self) -> bool {
        self.client_port
    }

    /// The relay's address: `giaddr` of every message it forwards.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(|e| Error::Config(format!("dhcp relay: {e}")))
    }

    /// The counters so far.
    pub fn stats(&self) -> RelayStats {
        let c = &self.counters;
        RelayStats {
            sent: c.sent.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            unknown: c.unknown.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            overflow: c.overflow.load(Ordering::Relaxed),
            direct: c.direct.load(Ordering::Relaxed),
        }
    }

    /// Starts waiting for replies to transaction `xid` of `chaddr`. The
    /// returned handle sends and receives; dropping it stops the waiting.
    /// A second wait for the same pair replaces the first (a phone retrying
    /// a stage picks a new `xid`, so this happens only on an `xid` clash).
    pub fn transaction(&self, xid: u32, chaddr: [u8; 6]) -> Transaction {
        let (tx, rx) = mpsc::channel(QUEUE_PER_PHONE);
        let key = (xid, chaddr);
        let id = self.counters.serial.fetch_add(1, Ordering::Relaxed);
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (id, tx));
        Transaction {
            socket: self.socket.clone(),
            waiters: self.waiters.clone(),
            counters: self.counters.clone(),
            key,
            id,
            rx,
        }
    }
}

impl Drop for RelayAgent {
    fn drop(&mut self) {
        // The tasks hold the sockets; stopping them frees ports 67 and 68.
        for r in &self.receivers {
            r.abort();
        }
    }
}

/// One phone's waiting for one transaction (see [`RelayAgent::transaction`]).
#[derive(Debug)]
pub struct Transaction {
    socket: Arc<UdpSocket>,
    waiters: Arc<Waiters>,
    counters: Arc<Counters>,
    key: Key,
    id: u64,
    rx: mpsc::Receiver<Vec<u8>>,
}

impl Transaction {
    /// Sends `bytes` (a message with this agent's `giaddr`) to `server`.
    pub async fn send(&self, bytes: &[u8], server: SocketAddr) -> std::result::Result<(), Failure> {
        self.socket
            .send_to(bytes, server)
            .await
            .map_err(|e| io_failure("dhcp relay send", &e))?;
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The next reply for this transaction; `None` when the agent stopped.
    /// Callers bound the wait (`tokio::time::timeout_at`).
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.rx.recv().await
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Remove only our own entry: a clash may have replaced it.
        if w.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            w.remove(&self.key);
        }
    }
}

/// A receive task: reads every datagram on one of the agent's sockets and
/// hands each reply to the phone waiting for its `xid` and `chaddr`.
async fn receive(
    socket: Arc<UdpSocket>,
    waiters: Arc<Waiters>,
    counters: Arc<Counters>,
    direct: bool,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((len, _from)) = socket.recv_from(&mut buf).await else {
            // ICMP errors surface here on Linux (a port unreachable from an
            // earlier send); the socket itself stays usable.
            tokio::task::yield_now().await;
            continue;
        };
        let bytes = buf.get(..len).unwrap_or_default();
        let Some(key) = reply_key(bytes) else {
            counters.invalid.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if direct {
            counters.direct.fetch_add(1, Ordering::Relaxed);
        }
        let tx = waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .map(|(_, tx)| tx.clone());
        let Some(tx) = tx else {
            counters.unknown.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        match tx.try_send(bytes.to_vec()) {
            Ok(()) => counters.delivered.fetch_add(1, Ordering::Relaxed),
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters.overflow.fetch_add(1, Ordering::Relaxed)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                counters.unknown.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// The `xid` and Ethernet `chaddr` of a server's reply; `None` for anything
/// that is not a DHCP reply (a request looping back, garbage).
fn reply_key(bytes: &[u8]) -> Option<Key> {
    let msg = dhcp::decode(bytes).ok()?;
    let r = Reply::from_message(&msg).ok()?;
    let mac: [u8; 6] = r.chaddr.get(..6)?.try_into().ok()?;
    Some((r.xid, mac))
}
