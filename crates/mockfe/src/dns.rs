//! The mock's DNS server: the SIP domain's SRV and A records (stages 3 and
//! 5), over UDP and, for answers that do not fit, TCP on the same port.
//!
//! The zone is built from the endpoints the mock actually bound, so SRV
//! records carry the real (ephemeral) ports and A records the listen
//! address. Message logic lives in `phonestorm_proto::dns`; this module
//! owns the zone's content and the TCP connection handling.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use phonestorm_proto::dns::{
    self, Rcode, Record, RecordData, ServerOptions, Service, Soa, Srv, Transport, Zone,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::capacity::Station;
use crate::metrics::MockMetrics;
use crate::udp::{Answer, DatagramHandler};

/// Where each Front End's SIP listeners are, for the SRV records.
#[derive(Debug, Clone)]
pub struct FrontEndPorts {
    /// The Front End's FQDN.
    pub fqdn: String,
    /// Its SIP over TLS port.
    pub sip_tls: u16,
    /// Its SIP over TCP port.
    pub sip_tcp: u16,
}

/// The zone of the SIP domain, as a pool's DNS publishes it: the internal
/// and external registrar SRVs point at every Front End with equal priority
/// and weight (DNS load balancing; each Front End has its own port here
/// because they share one loopback address), `_ntp._udp` at the mock's SNTP
/// port (when `sntp_port` is given), and A (or AAAA) records for the pool, the Front Ends and
/// `ucupdates-r2.<domain>` (when `update_record`).
pub fn zone(
    domain: &str,
    pool_fqdn: &str,
    fes: &[FrontEndPorts],
    sntp_port: Option<u16>,
    ip: IpAddr,
    ttl: u32,
    update_record: bool,
) -> Result<Zone, phonestorm_proto::Error> {
    let soa = Soa {
        mname: format!("ns1.{domain}"),
        rname: format!("hostmaster.{domain}"),
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 300,
    };
    let mut z = Zone::new(domain, soa, ttl);
    let srv =
        |service: Service, port: u16, target: &str| -> Result<Record, phonestorm_proto::Error> {
            Ok(Record::new(
                service.owner(domain)?,
                ttl,
                RecordData::Srv(Srv {
                    priority: 0,
                    weight: 10,
                    port,
                    target: target.to_owned(),
                }),
            ))
        };
    for fe in fes {
        z = z
            .with(srv(Service::SipInternalTls, fe.sip_tls, &fe.fqdn)?)
            .with(srv(Service::SipInternal, fe.sip_tcp, &fe.fqdn)?)
            .with(srv(Service::SipTls, fe.sip_tls, &fe.fqdn)?);
    }
    if let Some(port) = sntp_port {
        z = z.with(srv(Service::Ntp, port, pool_fqdn)?);
    }
    let addr = match ip {
        IpAddr::V4(a) => RecordData::A(a),
        IpAddr::V6(a) => RecordData::Aaaa(a),
    };
    let mut hosts: Vec<String> = vec![pool_fqdn.to_owned()];
    if update_record {
        hosts.push(dns::ucupdates_host(domain)?);
    }
    hosts.extend(fes.iter().map(|f| f.fqdn.clone()));
    hosts.dedup();
    for h in hosts {
        z = z.with(Record::new(h, ttl, addr.clone()));
    }
    Ok(z)
}

/// The DNS service.
#[derive(Debug)]
pub struct Dns {
    zones: Vec<Zone>,
    options: ServerOptions,
}

impl Dns {
    /// A server authoritative for `zones`.
    pub fn new(zones: Vec<Zone>) -> Self {
        Dns {
            zones,
            options: ServerOptions::default(),
        }
    }

    fn answer_bytes(&self, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        dns::answer_query(request, &self.zones, &self.options, transport).ok()
    }
}

impl DatagramHandler for Dns {
    fn service(&self) -> &'static str {
        "dns"
    }

    fn answer(&self, request: &[u8], from: SocketAddr) -> Answer {
        match self.answer_bytes(request, Transport::Udp) {
            Some(bytes) => Answer::Reply(bytes, from),
            // Not a query at all (too short, or a response): RFC 1035 gives
            // no way to answer it.
            None => Answer::Drop(Some("invalid")),
        }
    }

    /// An overloaded resolver answers SERVFAIL, so the phone moves on at
    /// once instead of waiting for its retransmission timer.
    fn overloaded(&self, request: &[u8], from: SocketAddr) -> Option<(Vec<u8>, SocketAddr)> {
        dns::error_response(request, Rcode::ServFail, &self.options, Transport::Udp)
            .ok()
            .map(|b| (b, from))
    }
}

/// Serves DNS over TCP (RFC 1035 section 4.2.2, RFC 7766): length-prefixed
/// queries, several per connection, closed after `idle` without one.
pub async fn serve_tcp(
    listener: TcpListener,
    dns: Arc<Dns>,
    station: Arc<Station>,
    metrics: MockMetrics,
    idle: Duration,
    stop: CancellationToken,
) {
    while let Some((stream, _)) =
        crate::http::next_connection(&listener, &metrics, "dns", &stop).await
    {
        let (dns, station, metrics, stop) =
            (dns.clone(), station.clone(), metrics.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tcp_connection(stream, &dns, &station, &metrics, idle) => {}
            }
        });
    }
}

async fn tcp_connection(
    mut stream: TcpStream,
    dns: &Dns,
    station: &Station,
    metrics: &MockMetrics,
    idle: Duration,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        // Answer every complete query already buffered.
        loop {
            let (query, used) = match dns::tcp_unframe(&buf) {
                Ok((q, used)) => (q.to_vec(), used),
                Err(phonestorm_proto::Error::Incomplete { .. }) => break,
                Err(_) => {
                    metrics.malformed("dns", "framing");
                    return;
                }
            };
            buf.drain(..used);
            let reply = match station.serve().await {
                Ok(_) => dns.answer_bytes(&query, Transport::Tcp),
                Err(_) => {
                    dns::error_response(&query, Rcode::ServFail, &dns.options, Transport::Tcp).ok()
                }
            };
            let Some(reply) = reply else {
                metrics.malformed("dns", "invalid");
                return;
            };
            metrics.answer("dns", "ok");
            let Ok(framed) = dns::tcp_frame(&reply) else {
                return;
            };
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
        match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            _ => return,
        }
    }
}
