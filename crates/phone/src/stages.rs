//! Stages 1 to 8 of one attempt each: what a phone sends and how it reads
//! the answers, over the codecs of `phonestorm_proto`. Stage 9 (SIP) is in
//! `sip.rs`; retries, timeouts and events are the bootstrap's.
//!
//! Every server answer is read defensively: anything that does not parse is
//! a [`FailureKind::Parse`] failure, never a panic.

use std::net::SocketAddr;

use phonestorm_proto::dhcp::{self, BootSettings, Client, Message, MessageType, Relay, Reply};
use phonestorm_proto::diag::Diagnostics;
use phonestorm_proto::dns::{self, Question, Service, SrvTargets};
use phonestorm_proto::sip::Transport;
use phonestorm_proto::sntp;
use phonestorm_proto::soap::NS_WSSE;
use phonestorm_proto::soap::certprov::{
    GET_AND_PUBLISH_CERT_ACTION, GetAndPublishCertRequest, GetAndPublishCertResponse,
};
use phonestorm_proto::soap::envelope::{self, CONTENT_TYPE, Outcome as SoapOutcome};
use phonestorm_proto::soap::guessed::{
    self, DeviceUpdate, RESOLVE_USER_SOAP_ACTION, ROOT_CHAIN_SOAP_ACTION,
};
use phonestorm_proto::soap::template::{TemplateKind, TemplateValues};
use phonestorm_proto::soap::wssec;
use phonestorm_proto::soap::wstrust::{RST_ISSUE_ACTION, RequestSecurityTokenResponse};
use rand::RngExt;
use tokio::net::UdpSocket;

use crate::auth;
use crate::bootstrap::{Fail, Phone, Step, fail};
use crate::config::HostPort;
use crate::net::{self, Body, io_failure};
use crate::relay::Transaction;
use crate::resolve::Found;
use crate::sip::Candidate;
use crate::{Failure, FailureKind, clock};

/// Path of the device update check.
const UCDEVICE_PATH: &str = "/RequestHandler/ucdevice.upx";
/// Path of Certificate Provisioning.
const CERTPROV_PATH: &str = "/CertProv/CertProvisioningService.svc";
/// Path of the Web Ticket service.
const WEBTICKET_PATH: &str = "/WebTicket/WebTicketService.svc";
/// Bytes of requestor entropy for the proof key (256 bits, the key size asked).
const ENTROPY_BYTES: usize = 32;

/// A kept HTTPS connection to the web services.
pub(crate) struct WebConn {
    /// `host:port` it goes to.
    host: Box<str>,
    /// The TLS configuration it was made with.
    config: std::sync::Arc<rustls::ClientConfig>,
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl WebConn {
    /// Ends the connection with a close_notify ([`net::close_tls`]).
    async fn close(mut self) {
        net::close_tls(&mut self.tls).await;
    }
}

/// An HTTP answer as the trace shows it: status, diagnostics, and the
/// body's first few kilobytes.
fn trace_answer(a: &net::Answer) -> String {
    let body = String::from_utf8_lossy(&a.body);
    let cut = body.char_indices().nth(4096).map_or(body.len(), |(i, _)| i);
    format!(
        "HTTP {}{}\n\n{}{}",
        a.status,
        a.diagnostics
            .as_deref()
            .map(|d| format!(" X-Ms-diagnostics: {d}"))
            .unwrap_or_default(),
        body.get(..cut).unwrap_or_default(),
        if cut < body.len() { " [...]" } else { "" }
    )
}

fn parse_fail<T>(what: &str, e: impl std::fmt::Display) -> Step<T> {
    fail(FailureKind::Parse, format!("{what}: {e}"))
}

/// The failure a refused web service call maps to: the `X-Ms-diagnostics`
/// id when there is one, else the HTTP status.
fn refusal(what: &str, status: u16, diag: Option<&Diagnostics>, text: &str) -> Fail {
    let kind = match diag {
        Some(d) => FailureKind::Diagnostics(d.id),
        None => FailureKind::HttpStatus(status),
    };
    let reason = diag.map_or(text, |d| d.reason.as_str());
    Fail::from(Failure::new(
        kind,
        format!("{what}: http {status}: {reason}"),
    ))
}

/// Reads a SOAP answer: the envelope of a success, or the failure.
fn soap_answer<'a>(what: &str, a: &'a net::Answer) -> Step<envelope::Envelope<'a>> {
    let outcome = envelope::classify(a.status, a.diagnostics.as_deref(), &a.body);
    let mut f = match outcome {
        Ok(SoapOutcome::Ok(env)) => return Ok(env),
        Ok(SoapOutcome::Fault {
            status,
            fault,
            diagnostics,
        }) => {
            let diag = diagnostics.or_else(|| {
                fault
                    .diagnostics
                    .as_ref()
                    .map(|d| Diagnostics::new(d.error_id, d.reason.clone()))
            });
            refusal(what, status, diag.as_ref(), &fault.string)
        }
        Ok(SoapOutcome::ErrorInfo { status, error }) => Fail::from(Failure::new(
            FailureKind::Other,
            format!(
                "{what}: http {status}: {}: {}",
                error.code.as_deref().unwrap_or("ErrorInfo"),
                error.reason
            ),
        )),
        Ok(SoapOutcome::Refused {
            status,
            diagnostics,
        }) => refusal(what, status, diagnostics.as_ref(), "refused"),
        Err(e) => return parse_fail(what, e),
    };
    if a.status == 503 {
        f.retry_after = a
            .retry_after
            .map(|s| std::time::Duration::from_secs(u64::from(s)));
    }
    Err(f)
}

/// How one phone's DHCP messages travel.
enum DhcpPath {
    /// Its own socket on an ephemeral port, acting as its own relay: only
    /// a server that answers the sender (the mock) replies there.
    Own(UdpSocket),
    /// The run's relay agent on `<target.dhcp_relay>:67`, where any server
    /// following RFC 2131 section 4.1 answers.
    Relay(Transaction),
}

impl DhcpPath {
    async fn send(&self, bytes: &[u8], to: SocketAddr) -> Result<(), Failure> {
        match self {
            DhcpPath::Own(s) => s
                .send_to(bytes, to)
                .await
                .map(|_| ())
                .map_err(|e| io_failure("dhcp send", &e)),
            DhcpPath::Relay(t) => t.send(bytes, to).await,
        }
    }

    /// The next datagram; the caller bounds the wait.
    async fn recv(&mut self, buf: &mut [u8]) -> Result<Vec<u8>, Failure> {
        match self {
            DhcpPath::Own(s) => {
                let (len, _) = s
                    .recv_from(buf)
                    .await
                    .map_err(|e| io_failure("dhcp receive", &e))?;
                Ok(buf.get(..len).unwrap_or_default().to_vec())
            }
            DhcpPath::Relay(t) => t
                .recv()
                .await
                .ok_or_else(|| Failure::new(FailureKind::Other, "dhcp relay agent stopped")),
        }
    }
}

impl Phone<'_> {
    fn dhcp_client(&self, xid: u32) -> Client {
        Client::new(self.id.mac, xid).via(Relay {
            giaddr: self.cfg.target.dhcp_relay.unwrap_or(self.source),
            hops: 1,
        })
    }

    /// The way this phone's transaction `xid` travels: through the run's
    /// relay agent when the target names one, else its own socket.
    async fn dhcp_path(&self, xid: u32) -> Step<DhcpPath> {
        match self.shared.relay().await {
            None => Ok(DhcpPath::Own(net::udp(self.source).await?)),
            Some(Ok(agent)) => Ok(DhcpPath::Relay(agent.transaction(xid, self.id.mac))),
            Some(Err(e)) => fail(FailureKind::Other, e),
        }
    }

    /// Sends `m` and waits for the matching reply of `kinds`, retransmitting
    /// on the RFC 2131 schedule.
    async fn dhcp_exchange(
        &self,
        sock: &mut DhcpPath,
        m: &Message,
        xid: u32,
        kinds: &[MessageType],
    ) -> Step<Message> {
        let bytes =
            dhcp::encode(m).map_err(|e| Failure::new(FailureKind::Other, format!("dhcp: {e}")))?;
        let server = self.cfg.target.dhcp_server;
        let r = self.cfg.dhcp_retransmit;
        // In the attempt's state rather than on the heap: the stage's
        // state stays smaller than the registrar's, which sizes them all.
        let mut buf = [0u8; 1500];
        for n in 0..r.tries.max(1) {
            self.wire(crate::Direction::Sent, || {
                let kind = m.opts().msg_type().map_or("?".into(), |t| format!("{t:?}"));
                format!(
                    "DHCP {kind} xid {xid:08x} giaddr {} to {server} (try {})",
                    m.giaddr(),
                    n + 1
                )
            });
            sock.send(&bytes, server).await?;
            let draw: f64 = rand::rng().random();
            let deadline = clock::now() + r.wait(n, draw);
            while let Ok(got) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                let datagram = got?;
                // Not DHCP, or another transaction: not ours, keep waiting.
                let Ok(reply) = dhcp::decode(&datagram) else {
                    continue;
                };
                let Ok(head) = Reply::from_message(&reply) else {
                    continue;
                };
                if head.xid != xid || head.chaddr.get(..6) != Some(&self.id.mac[..]) {
                    continue;
                }
                if head.kind == MessageType::Nak {
                    return fail(
                        FailureKind::Other,
                        format!("dhcp nak: {}", head.message.as_deref().unwrap_or("")),
                    );
                }
                if kinds.contains(&head.kind) {
                    self.wire(crate::Direction::Received, || {
                        let settings = dhcp::BootSettings::from_ack(&reply)
                            .map(|b| format!("{b:?}"))
                            .unwrap_or_default();
                        format!(
                            "DHCP {:?} yiaddr {} server {:?}; {settings}",
                            head.kind, head.yiaddr, head.server_id
                        )
                    });
                    return Ok(reply);
                }
            }
        }
        // A relayed INFORM is answered to ciaddr:68 (RFC 2131 4.3.5): say
        // so, as that is the one reply the relay's port 67 never sees.
        let hint = match sock {
            DhcpPath::Relay(_) if m.opts().has_msg_type(MessageType::Inform) => {
                " (the ACK to an INFORM goes to ciaddr:68: this host must own the leased addresses and port 68)"
            }
            DhcpPath::Relay(_) => "",
            // The usual cause against a real server, which sends its reply
            // to giaddr:67, never to the port a relayed message came from.
            DhcpPath::Own(_) => {
                " (the phone was its own relay agent on an ephemeral port, where a phonestorm mock answers; a DHCP server answers relays at port 67: set target.dhcp_relay)"
            }
        };
        fail(
            FailureKind::Timeout,
            format!(
                "dhcp: no answer from {server} after {} tries{hint}",
                r.tries
            ),
        )
    }

    fn new_xid(&self) -> u32 {
        self.id.xid() ^ rand::rng().random::<u32>()
    }

    /// Stage 1: DHCP with vendor class `CPE-OCPHONE`; the OFFER's option 43
    /// sub-option 10 is the voice VLAN. There is no VLAN to switch to on
    /// loopback: it is recorded, and the phone carries on.
    pub(crate) async fn vlan(&mut self) -> Step<()> {
        let xid = self.new_xid();
        let mut sock = self.dhcp_path(xid).await?;
        let m = self
            .dhcp_client(xid)
            .vlan_discover()
            .map_err(|e| Failure::new(FailureKind::Other, format!("dhcp: {e}")))?;
        let offer = self
            .dhcp_exchange(&mut sock, &m, xid, &[MessageType::Offer])
            .await?;
        let s = BootSettings::from_ack(&offer).or_else(|e| parse_fail("vlan offer", e))?;
        self.voice_vlan = s.voice_vlan;
        Ok(())
    }

    /// Stage 2: DISCOVER, OFFER, REQUEST, ACK, then INFORM for options 43
    /// and 120.
    pub(crate) async fn dhcp(&mut self) -> Step<()> {
        let xid = self.new_xid();
        let mut sock = self.dhcp_path(xid).await?;
        let c = self.dhcp_client(xid);
        let build = |r: phonestorm_proto::Result<Message>| {
            r.map_err(|e| Fail::from(Failure::new(FailureKind::Other, format!("dhcp: {e}"))))
        };
        let offer = self
            .dhcp_exchange(&mut sock, &build(c.discover())?, xid, &[MessageType::Offer])
            .await?;
        let o = Reply::from_message(&offer).or_else(|e| parse_fail("dhcp offer", e))?;
        let server_id = o.server_id.ok_or_else(|| {
            Fail::from(Failure::new(
                FailureKind::Parse,
                "dhcp offer without server id",
            ))
        })?;
        self.dhcp_exchange(
            &mut sock,
            &build(c.request_selecting(o.yiaddr, server_id))?,
            xid,
            &[MessageType::Ack],
        )
        .await?;
        self.lease = Some(o.yiaddr);
        let ack = self
            .dhcp_exchange(
                &mut sock,
                &build(c.inform(o.yiaddr))?,
                xid,
                &[MessageType::Ack],
            )
            .await?;
        let s = BootSettings::from_ack(&ack).or_else(|e| parse_fail("dhcp inform ack", e))?;
        self.boot = Some(s);
        Ok(())
    }

    /// Stage 2b: SNTP to option 42's server, else `_ntp._udp`'s. With
    /// neither, a phone would ask `time.windows.com` (PROTOCOL.md); the
    /// harness sends nothing outside the pool, so the stage is recorded as
    /// skipped, the DNS server's answer in the trace.
    pub(crate) async fn ntp(&mut self) -> Step<()> {
        let server = match self.boot.as_ref().and_then(|b| b.time_servers.first()) {
            Some(ip) => SocketAddr::from((*ip, self.cfg.target.ports.sntp.unwrap_or(sntp::PORT))),
            None => {
                let domain = self.domain().to_owned();
                let q = Question::srv(Service::Ntp, &domain)
                    .map_err(|e| Failure::new(FailureKind::Other, format!("ntp srv: {e}")))?;
                let a = match self.ask_dns_found(self.cfg.target.dns_server, &q).await? {
                    Found::Records(a) => a,
                    Found::Absent(_) => {
                        self.wire(crate::Direction::Received, || {
                            "no time server (no option 42, no _ntp._udp record): a phone would ask time.windows.com; phonestorm does not".into()
                        });
                        self.nothing_found = true;
                        return Ok(());
                    }
                };
                let srv = a.srv.first().cloned().ok_or_else(|| {
                    Fail::from(Failure::new(FailureKind::Other, "ntp srv: no record"))
                })?;
                let ip = match a.addresses_of(&srv.target).first() {
                    Some(ip) => *ip,
                    None => self.resolve(&srv.target).await?,
                };
                SocketAddr::new(ip, srv.port)
            }
        };
        let sock = net::udp(self.source).await?;
        let mut buf = [0u8; 128];
        for _ in 0..3 {
            let t1 = clock::ntp_now().ok_or_else(|| {
                Fail::from(Failure::new(FailureKind::Other, "clock out of range"))
            })?;
            self.wire(crate::Direction::Sent, || {
                format!("SNTP request to {server}")
            });
            sock.send_to(&sntp::client_request(t1), server)
                .await
                .map_err(|e| io_failure("sntp send", &e))?;
            let deadline = clock::now() + self.cfg.dns_retransmit.saturating_mul(2);
            while let Ok(got) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
                let (n, from) = got.map_err(|e| io_failure("sntp receive", &e))?;
                if from != server {
                    continue;
                }
                let t4 = clock::ntp_now().unwrap_or(t1);
                match sntp::check_reply(buf.get(..n).unwrap_or_default(), t1, t4) {
                    Ok(sntp::Reply::Time(s)) => {
                        self.wire(crate::Direction::Received, || {
                            format!(
                                "SNTP reply: stratum {}, offset {} ms, delay {} ms",
                                s.stratum,
                                s.offset_delay.offset_nanos / 1_000_000,
                                s.offset_delay.delay_nanos / 1_000_000
                            )
                        });
                        self.ntp_offset = Some(s.offset_delay.offset_nanos);
                        return Ok(());
                    }
                    Ok(sntp::Reply::KissOfDeath(k)) => {
                        return fail(FailureKind::Refused, format!("sntp kiss-o'-death {k:?}"));
                    }
                    // A reply that is not for us (or not sane) is dropped.
                    Ok(sntp::Reply::Refused(_)) => continue,
                    Err(e) => return parse_fail("sntp reply", e),
                }
            }
        }
        fail(
            FailureKind::Timeout,
            format!("sntp: no answer from {server}"),
        )
    }

    /// Stage 3 (and 5): `_sipinternaltls._tcp` SRV in RFC 2782 order with
    /// the targets' addresses, and `ucupdates-r2.<domain>`'s address.
    pub(crate) async fn dns(&mut self) -> Step<()> {
        let domain = self.domain().to_owned();
        let q = Question::srv(Service::SipInternalTls, &domain)
            .map_err(|e| Failure::new(FailureKind::Other, format!("sip srv: {e}")))?;
        let a = self.ask_dns(self.cfg.target.dns_server, &q).await?;
        let ordered = {
            let mut rng = rand::rng();
            dns::order_srv(&a.srv, &mut |n| rng.random_range(0..=n))
        };
        let SrvTargets::Ordered(records) = ordered else {
            return fail(
                FailureKind::Other,
                format!("{}: service not available", q.name),
            );
        };
        let mut found = Vec::with_capacity(records.len());
        for r in records {
            let ip = match a.addresses_of(&r.target).first() {
                Some(ip) => {
                    self.remember(&r.target, *ip);
                    *ip
                }
                None => self.resolve(&r.target).await?,
            };
            found.push(Candidate::new(
                &r.target,
                SocketAddr::new(ip, r.port),
                Transport::Tls,
            ));
        }
        self.srv_tls = found;
        match &self.cfg.target.update_server {
            // Given with its address: nothing to look up.
            Some(given) if given.addr.is_some() => {}
            // Given by the scenario: it must resolve.
            Some(given) => {
                let host = given.host.clone();
                self.resolve(&host).await?;
            }
            // A pool need not publish ucupdates-r2: the record serves
            // updates before sign-in only. A phone that the DNS server
            // tells there is none has no update service to check and signs
            // in without (a failure to get an answer is still a failure).
            None => {
                let host = dns::ucupdates_host(&domain).map_err(|e| {
                    Failure::new(FailureKind::Other, format!("ucupdates host: {e}"))
                })?;
                let update = self.cfg.stage(crate::Stage::Update);
                let (enabled, required) = (update.enabled, update.required);
                match self.resolve_found(&host).await {
                    Ok(found) => self.no_update_service = found.is_err(),
                    // An update check that is off needs no address (and
                    // will not ask again, so the trace must not say so).
                    Err(_) if !enabled => {}
                    // No answer about the update service (a DNS server
                    // dropping queries under load): a phone that can sign
                    // in without its update check does not fail here. The
                    // check asks again, and a failure there is the update
                    // stage's, which the phone goes on without.
                    Err(f) if !required => {
                        self.wire(crate::Direction::Received, || {
                            format!("{host}: {}; the update check asks again", f.failure)
                        });
                    }
                    Err(f) => return Err(f),
                }
            }
        }
        Ok(())
    }

    /// HTTPS POST of a SOAP body with `config`, verifying `name`.
    async fn post(
        &mut self,
        server: &HostPort,
        config: std::sync::Arc<rustls::ClientConfig>,
        path: &str,
        action: Option<&str>,
        body: &str,
    ) -> Step<net::Answer> {
        let addr = self.address_of(server).await?;
        let quoted = action.map(|a| format!("\"{a}\""));
        let mut headers = vec![("Content-Type", CONTENT_TYPE)];
        if let Some(q) = &quoted {
            headers.push(("SOAPAction", q.as_str()));
        }
        let host = format!("{}:{}", server.host, server.port);
        self.wire(crate::Direction::Sent, || {
            format!(
                "POST https://{host}{path} ({addr})\nSOAPAction: {}\n\n{body}",
                quoted.as_deref().unwrap_or("-")
            )
        });
        // The web ticket, ResolveUser and GetAndPublishCert go to one
        // server one after the other: keep the connection, as an HTTP/1.1
        // client does, rather than a TCP and TLS handshake for each. Only a
        // connection made with the same TLS configuration (so the same
        // verification) to the same server is reused.
        let cached = match self.web_conn.take() {
            Some(c) if *c.host == *host && std::sync::Arc::ptr_eq(&c.config, &config) => Some(c),
            // Kept for another server or another verification (the update
            // check's, made before the phone had the root chain): done with.
            Some(other) => {
                other.close().await;
                None
            }
            None => None,
        };
        let keep = Body::Keep(self.cfg.max_body);
        let raw = net::request("POST", &host, path, &headers, body.as_bytes(), true);
        let reused = match cached {
            Some(mut c) => net::send_request(&mut c.tls, &raw, keep, true)
                .await
                .ok()
                .map(|a| (a, c.tls)),
            None => None,
        };
        let (answer, tls) = match reused {
            Some(done) => done,
            // No kept connection, or the server closed it while it was
            // idle: a fresh one, the request riding behind the handshake.
            None => {
                let tcp = net::connect(self.source, addr).await?;
                let (mut tls, queued) = net::tls_sending(
                    config.clone(),
                    self.shared.versions(),
                    &server.host,
                    tcp,
                    &raw,
                )
                .await?;
                let rest = raw.get(queued..).unwrap_or_default();
                (net::send_request(&mut tls, rest, keep, true).await?, tls)
            }
        };
        self.wire(crate::Direction::Received, || trace_answer(&answer));
        if answer.reusable {
            self.web_conn = Some(WebConn {
                host: host.into(),
                config,
                tls,
            });
        }
        Ok(answer)
    }

    /// Stage 4: the update check (over a connection that cannot verify the
    /// server yet: see [`crate::Shared::unverified`]) and, when told to,
    /// the image download and a restart.
    pub(crate) async fn update(&mut self) -> Step<()> {
        let server = match &self.cfg.target.update_server {
            Some(given) => given.clone(),
            None => {
                let web = self.web_server().ok();
                let host = dns::ucupdates_host(self.domain()).map_err(|e| {
                    Failure::new(FailureKind::Other, format!("ucupdates host: {e}"))
                })?;
                let port = self
                    .cfg
                    .target
                    .ports
                    .https
                    .or(web.as_ref().map(|w| w.port))
                    .unwrap_or(443);
                HostPort::new(host, port)
            }
        };
        let body = self
            .cfg
            .templates
            .render(
                TemplateKind::UcDeviceRequest,
                &TemplateValues::new()
                    .text("device_type", "OCPhone")
                    .text("vendor", self.id.model.vendor())
                    .text("model", self.id.model.name())
                    .text("hardware_revision", "1")
                    .text("version", self.firmware())
                    .text("locale", "en-US")
                    .text("mac_address", self.id.mac_dashed()),
            )
            .map_err(|e| Failure::new(FailureKind::Other, format!("update template: {e}")))?;
        let config = self.shared.unverified();
        let a = self
            .post(&server, config, UCDEVICE_PATH, None, &body)
            .await?;
        if !(200..300).contains(&a.status) {
            let diag = a
                .diagnostics
                .as_deref()
                .and_then(|d| Diagnostics::parse(d).ok());
            let mut f = refusal("update", a.status, diag.as_ref(), "refused");
            if a.status == 503 {
                f.retry_after = a
                    .retry_after
                    .map(|s| std::time::Duration::from_secs(u64::from(s)));
            }
            return Err(f);
        }
        let answer =
            guessed::parse_ucdevice_answer(&a.body).or_else(|e| parse_fail("update answer", e))?;
        let DeviceUpdate::Update { version, url } = answer else {
            return Ok(());
        };
        // One update per bootstrap: a server that keeps offering one must
        // not make the phone loop.
        if !self.cfg.apply_updates || self.updated_to.is_some() {
            return Ok(());
        }
        self.download(&url).await?;
        let v: Box<str> = version.unwrap_or_else(|| self.firmware().to_owned()).into();
        self.firmware = Some(v.clone());
        self.updated_to = Some(v);
        self.restart = true;
        Ok(())
    }

    /// Downloads the image at `url` over plain HTTP, counting its bytes.
    async fn download(&mut self, url: &str) -> Step<u64> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            Fail::from(Failure::new(
                FailureKind::Parse,
                format!("image url {url:.80}: not http"),
            ))
        })?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .or_else(|e| parse_fail("image url port", e))?,
            ),
            None => (authority, self.cfg.target.ports.http.unwrap_or(80)),
        };
        let path = if path.is_empty() { "/" } else { path };
        let addr = self.address_of(&HostPort::new(host, port)).await?;
        let mut tcp = net::connect(self.source, addr).await?;
        self.wire(crate::Direction::Sent, || {
            format!("GET http://{authority}{path}")
        });
        let a = net::exchange(
            &mut tcp,
            "GET",
            authority,
            path,
            &[],
            b"",
            Body::Count,
            false,
        )
        .await?;
        self.wire(crate::Direction::Received, || {
            format!(
                "HTTP {}: {} bytes (counted, not kept)",
                a.status, a.body_len
            )
        });
        if !(200..300).contains(&a.status) {
            return fail(
                FailureKind::HttpStatus(a.status),
                format!("image download: http {}", a.status),
            );
        }
        Ok(a.body_len)
    }

    /// Stage 6: the anonymous root chain over plain HTTP.
    pub(crate) async fn root_chain(&mut self) -> Step<()> {
        let web = self.web_server()?;
        let port = self.cfg.target.ports.http.unwrap_or(80);
        let server = HostPort { port, ..web };
        let body = self
            .cfg
            .templates
            .render(TemplateKind::RootChainRequest, &TemplateValues::new())
            .map_err(|e| Failure::new(FailureKind::Other, format!("root chain template: {e}")))?;
        let addr = self.address_of(&server).await?;
        let mut tcp = net::connect(self.source, addr).await?;
        let action = format!("\"{ROOT_CHAIN_SOAP_ACTION}\"");
        let host = format!("{}:{}", server.host, server.port);
        self.wire(crate::Direction::Sent, || {
            format!("POST http://{host}{CERTPROV_PATH} ({addr})\nSOAPAction: {action}\n\n{body}")
        });
        let a = net::exchange(
            &mut tcp,
            "POST",
            &host,
            CERTPROV_PATH,
            &[("Content-Type", CONTENT_TYPE), ("SOAPAction", &action)],
            body.as_bytes(),
            Body::Keep(self.cfg.max_body),
            false,
        )
        .await?;
        self.wire(crate::Direction::Received, || trace_answer(&a));
        if !(200..300).contains(&a.status) {
            soap_answer("root chain", &a)?;
            return fail(FailureKind::HttpStatus(a.status), "root chain");
        }
        let certs = guessed::parse_root_chain(&a.body).or_else(|e| parse_fail("root chain", e))?;
        let trust = self.shared.trust_for(certs).map_err(|e| {
            Failure::new(FailureKind::Parse, format!("root chain certificate: {e}"))
        })?;
        self.web_tls = Some(self.shared.web_config(&trust));
        self.trust = Some(trust);
        Ok(())
    }

    fn web_tls(&self) -> Step<std::sync::Arc<rustls::ClientConfig>> {
        self.web_tls.clone().ok_or_else(|| {
            Fail::from(Failure::new(
                FailureKind::Other,
                "no root chain to verify the web services with",
            ))
        })
    }

    /// Stage 7: phone number (or extension) and PIN for a web ticket.
    pub(crate) async fn web_ticket(&mut self) -> Step<()> {
        let web = self.web_server()?;
        let config = self.web_tls()?;
        let mut entropy = [0u8; ENTROPY_BYTES];
        rand::rng().fill(&mut entropy[..]);
        let cert_prov = format!("https://{}:{}{CERTPROV_PATH}", web.host, web.port);
        let body = {
            use base64::Engine as _;
            self.cfg
                .templates
                .render(
                    TemplateKind::WebTicketPin,
                    &TemplateValues::new()
                        .text(
                            "web_ticket_url",
                            format!("https://{}:{}{WEBTICKET_PATH}", web.host, web.port),
                        )
                        .text("created", clock::xs_datetime(std::time::Duration::ZERO))
                        .text(
                            "expires",
                            clock::xs_datetime(std::time::Duration::from_secs(300)),
                        )
                        .text("phone_number", &*self.id.user.number)
                        .text("pin", &*self.id.user.pin)
                        .text("context", format!("{}-{}", self.id.epid(), self.id.index))
                        .text("applies_to", cert_prov)
                        .text(
                            "entropy_base64",
                            base64::engine::general_purpose::STANDARD.encode(entropy),
                        )
                        .text("key_size", (ENTROPY_BYTES * 8).to_string()),
                )
                .map_err(|e| {
                    Failure::new(FailureKind::Other, format!("web ticket template: {e}"))
                })?
        };
        let a = self
            .post(&web, config, WEBTICKET_PATH, Some(RST_ISSUE_ACTION), &body)
            .await?;
        let env = soap_answer("web ticket", &a)?;
        let rstr = RequestSecurityTokenResponse::from_envelope(&env)
            .or_else(|e| parse_fail("web ticket answer", e))?;
        let proof = rstr
            .proof_key(&entropy)
            .or_else(|e| parse_fail("web ticket proof key", e))?;
        let assertion = rstr.assertion.ok_or_else(|| {
            Fail::from(Failure::new(
                FailureKind::Parse,
                "web ticket answer without an assertion",
            ))
        })?;
        self.ticket = Some(Box::new((assertion, proof)));
        Ok(())
    }

    /// Stage 8: `ResolveUser` for the SIP URI, then `GetAndPublishCert`
    /// with a CSR for the phone's key.
    pub(crate) async fn certificate(&mut self) -> Step<()> {
        let web = self.web_server()?;
        let config = self.web_tls()?;
        if self.ticket.is_none() {
            return fail(FailureKind::Other, "no web ticket");
        }
        let sip_uri = match self.id.user.sip_uri.as_deref() {
            Some(u) => u.to_owned(),
            None => {
                let body =
                    guessed::build_resolve_user_request(&self.cfg.templates, &self.id.user.number)
                        .map_err(|e| {
                            Failure::new(FailureKind::Other, format!("ResolveUser template: {e}"))
                        })?;
                let env = envelope::build_envelope(Some(&self.ticket_header()?), &body);
                let a = self
                    .post(
                        &web,
                        config.clone(),
                        CERTPROV_PATH,
                        Some(RESOLVE_USER_SOAP_ACTION),
                        &env,
                    )
                    .await?;
                soap_answer("ResolveUser", &a)?;
                guessed::parse_resolve_user_answer(&a.body)
                    .or_else(|e| parse_fail("ResolveUser answer", e))?
            }
        };
        let key = self
            .shared
            .key_for(self.id.index)
            .await
            .map_err(|e| Failure::new(FailureKind::Other, e.to_string()))?;
        let csr = csr(&key.csr, &sip_uri)
            .map_err(|e| Failure::new(FailureKind::Other, format!("csr: {e}")))?;
        let entity = sip_uri.strip_prefix("sip:").unwrap_or(&sip_uri).to_owned();
        let body = GetAndPublishCertRequest {
            device_id: self.id.device_guid(),
            entity,
            csr_der: csr,
            request_id: None,
        }
        .to_envelope(Some(&self.ticket_header()?));
        let a = self
            .post(
                &web,
                config,
                CERTPROV_PATH,
                Some(GET_AND_PUBLISH_CERT_ACTION),
                &body,
            )
            .await?;
        let env = soap_answer("GetAndPublishCert", &a)?;
        let cert = match GetAndPublishCertResponse::from_envelope(&env) {
            Ok(GetAndPublishCertResponse::Issued(tokens)) => {
                tokens.into_iter().map(|t| t.data).next().ok_or_else(|| {
                    Fail::from(Failure::new(
                        FailureKind::Parse,
                        "GetAndPublishCert: no certificate",
                    ))
                })?
            }
            Ok(GetAndPublishCertResponse::Error(e)) => {
                return fail(
                    FailureKind::Other,
                    format!(
                        "GetAndPublishCert: {}: {}",
                        e.code.as_deref().unwrap_or("ErrorInfo"),
                        e.reason
                    ),
                );
            }
            Err(e) => return parse_fail("GetAndPublishCert answer", e),
        };
        self.cert_expires = auth::check_issued(&cert, key.tls.as_ref(), clock::wall())?;
        self.sip_uri = Some(sip_uri);
        // Only the user's certificate goes in the chain: the registrar
        // holds the CA that issued it (RFC 8446 4.4.2 lets the sender omit
        // the trust anchor), and a CA copy per held phone is memory spent
        // for nothing. The key was parsed once, in the pool.
        self.cert = Some(std::sync::Arc::new(rustls::sign::CertifiedKey::new(
            vec![rustls_pki_types::CertificateDer::from(cert)],
            key.tls.clone(),
        )));
        // The web services are done with: let the connection go.
        if let Some(c) = self.web_conn.take() {
            c.close().await;
        }
        // The ticket has done its job; a held phone keeps no copy.
        self.ticket = None;
        Ok(())
    }
}

impl Phone<'_> {
    /// The `wsse:Security` header of a call made with the web ticket: the
    /// assertion, and (unless configured off) a timestamp signed with the
    /// ticket's proof key. Built per call so each carries a fresh
    /// timestamp, read from the phone's clock as SNTP set it (stage 2b):
    /// a phone has no other time, so a time server that is off makes the
    /// proof stale, as it would on a real phone.
    fn ticket_header(&self) -> Step<String> {
        let Some((assertion, proof_key)) = self.ticket.as_deref() else {
            return fail(FailureKind::Other, "no web ticket");
        };
        if !self.cfg.sign_web_ticket {
            return Ok(format!(
                "<wsse:Security xmlns:wsse=\"{NS_WSSE}\">{}</wsse:Security>",
                assertion.raw
            ));
        }
        let wall = clock::wall();
        let now = match self.ntp_offset {
            Some(off) if off < 0 => {
                wall.saturating_sub(std::time::Duration::from_nanos(off.unsigned_abs()))
            }
            Some(off) => wall.saturating_add(std::time::Duration::from_nanos(off.unsigned_abs())),
            None => wall,
        };
        wssec::build_security_header(assertion, proof_key, now, self.cfg.proof_lifetime)
            .map_err(|e| Failure::new(FailureKind::Other, format!("web ticket proof: {e}")).into())
    }
}

/// A PKCS#10 request for `key` whose subject names the user, as a Lync
/// phone's does.
fn csr(key: &rcgen::KeyPair, sip_uri: &str) -> Result<Vec<u8>, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, sip_uri);
    Ok(params.serialize_request(key)?.der().to_vec())
}
