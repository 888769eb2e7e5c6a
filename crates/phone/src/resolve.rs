//! The phone's stub resolver: one question to the configured DNS server
//! over UDP, retransmitted a few times, and over TCP when the answer comes
//! back truncated (RFC 1035 section 4.2.1, RFC 7766 section 5).
//!
//! Owns the exchange and the mapping of DNS outcomes to stage failures; the
//! wire format and the checks that an answer is ours are
//! `phonestorm_proto::dns`'s. Caching per phone is the bootstrap's.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use phonestorm_proto::dns::{self, Answer, Outcome, QueryOptions, Question};
use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use crate::net::{self, io_failure};
use crate::{Failure, FailureKind, clock};

/// Transmissions of one question over UDP before giving up.
const UDP_TRIES: u32 = 3;

/// Largest UDP answer read (EDNS size the codec advertises is smaller).
const UDP_BUF: usize = 4096;

/// What a question found: records, or the server's definite word that
/// there are none (NXDOMAIN, or NODATA: RFC 2308 section 2), which a
/// caller may take as an answer rather than a failure.
#[derive(Debug)]
pub(crate) enum Found {
    /// NOERROR with records of the asked type.
    Records(Answer),
    /// No such name, or no record of that type; the failure says which.
    Absent(Failure),
}

impl Found {
    /// The records, or the absence as a failure.
    pub(crate) fn required(self) -> Result<Answer, Failure> {
        match self {
            Found::Records(a) => Ok(a),
            Found::Absent(f) => Err(f),
        }
    }
}

fn failure_of(q: &Question, o: Outcome) -> Result<Found, Failure> {
    let what = |s: &str| format!("dns {} {:?}: {s}", q.name, q.qtype);
    match o {
        Outcome::Answer(a) => Ok(Found::Records(a)),
        Outcome::NxDomain { .. } => Ok(Found::Absent(Failure::new(
            FailureKind::Other,
            what("nxdomain"),
        ))),
        Outcome::NoData { .. } => Ok(Found::Absent(Failure::new(
            FailureKind::Other,
            what("no data"),
        ))),
        Outcome::ServFail => Err(Failure::new(FailureKind::Other, what("servfail"))),
        Outcome::Refused => Err(Failure::new(FailureKind::Refused, what("refused"))),
        Outcome::OtherError(r) => Err(Failure::new(
            FailureKind::Other,
            what(&format!("rcode {r:?}")),
        )),
        Outcome::Truncated | Outcome::Mismatch(_) => {
            Err(Failure::new(FailureKind::Parse, what("unexpected answer")))
        }
    }
}

/// A phone's UDP socket for DNS, connected to its server, kept for every
/// question of one sign-in as a stub resolver keeps its socket: one
/// socket instead of one per question saves the harness a socket, a bind
/// and a close per question. Connecting it makes the kernel drop
/// datagrams from anyone but the server. Each question still has its own
/// random id (RFC 5452 section 9.2), so a late answer to an earlier
/// question is told apart and dropped.
#[derive(Debug)]
pub(crate) struct DnsSocket {
    server: SocketAddr,
    sock: UdpSocket,
}

impl DnsSocket {
    /// A socket from `source` to `server`.
    pub(crate) async fn open(source: Ipv4Addr, server: SocketAddr) -> Result<Self, Failure> {
        let sock = net::udp(source).await?;
        sock.connect(server)
            .await
            .map_err(|e| io_failure(&format!("dns connect {server}"), &e))?;
        Ok(DnsSocket { server, sock })
    }

    /// The server this socket talks to.
    pub(crate) fn server(&self) -> SocketAddr {
        self.server
    }
}

/// Asks the socket's server `q`, over UDP, then TCP from `source` when the
/// answer is truncated.
pub(crate) async fn query(
    dns_socket: &DnsSocket,
    source: Ipv4Addr,
    q: &Question,
    retransmit: Duration,
) -> Result<Found, Failure> {
    let DnsSocket { server, sock } = dns_socket;
    let server = *server;
    let id: u16 = rand::rng().random();
    let bytes = dns::build_query(q, &QueryOptions::recursive(id))
        .map_err(|e| Failure::new(FailureKind::Other, format!("dns query: {e}")))?;
    let mut buf = vec![0u8; UDP_BUF];
    for _ in 0..UDP_TRIES {
        sock.send(&bytes)
            .await
            .map_err(|e| io_failure("dns send", &e))?;
        let deadline = clock::now() + retransmit;
        // Datagrams that are not our answer are dropped until the deadline.
        while let Ok(got) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            let n = got.map_err(|e| io_failure("dns receive", &e))?;
            match dns::parse_response(q, id, buf.get(..n).unwrap_or_default()) {
                Ok(Outcome::Mismatch(_)) => continue,
                Ok(Outcome::Truncated) => return query_tcp(source, server, q, &bytes, id).await,
                Ok(o) => return failure_of(q, o),
                Err(e) => {
                    return Err(Failure::new(
                        FailureKind::Parse,
                        format!("dns answer for {}: {e}", q.name),
                    ));
                }
            }
        }
    }
    Err(Failure::new(
        FailureKind::Timeout,
        format!("dns {}: no answer from {server}", q.name),
    ))
}

/// The same question over TCP, after a truncated UDP answer.
async fn query_tcp(
    source: Ipv4Addr,
    server: SocketAddr,
    q: &Question,
    query: &[u8],
    id: u16,
) -> Result<Found, Failure> {
    let mut tcp = net::connect(source, server).await?;
    let framed = dns::tcp_frame(query)
        .map_err(|e| Failure::new(FailureKind::Other, format!("dns tcp: {e}")))?;
    tcp.write_all(&framed)
        .await
        .map_err(|e| io_failure("dns tcp send", &e))?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)
        .await
        .map_err(|e| io_failure("dns tcp receive", &e))?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut body)
        .await
        .map_err(|e| io_failure("dns tcp receive", &e))?;
    match dns::parse_response(q, id, &body) {
        Ok(o) => failure_of(q, o),
        Err(e) => Err(Failure::new(
            FailureKind::Parse,
            format!("dns tcp answer for {}: {e}", q.name),
        )),
    }
}
