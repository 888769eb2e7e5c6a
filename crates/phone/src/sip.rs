//! Stage 9 and after: finding a registrar, REGISTER over TLS with the
//! user's certificate, following 301s, and then staying signed in (CRLF
//! keep-alives, re-REGISTER before expiry, sign-out).
//!
//! Registrars are tried in PROTOCOL.md's order: the scenario's own first,
//! then internal SRV (TLS), option 120 (TLS), internal SRV (TCP), option
//! 120 (TCP), external SRV (TLS). A candidate that cannot be reached moves
//! the search on; a SIP answer ends the attempt, as it does on a phone.
//! The held [`Registration`] keeps only the connection and the few fields
//! a REGISTER needs, because a run may hold 100,000 of them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phonestorm_proto::dns::{self, Question, Service, SrvTargets};
use phonestorm_proto::sip::{Framed, Message, RegisterParams, Transport, build_register, frame};
use rand::RngExt;
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::bootstrap::{Fail, Phone, PhoneOutcome, Step, fail};
use crate::config::PhoneConfig;
use crate::identity::Identity;
use crate::net::{self, io_failure};
use crate::{Failure, FailureKind, Stage, clock};

/// Frames read while waiting for one response (keep-alive pongs and
/// partial reads included) before the connection is deemed out of step.
const MAX_FRAMES: usize = 4096;

/// Bytes read at a time while waiting for a response.
const READ_CHUNK: usize = 4096;

/// Bytes reserved for a read while idle: pongs are two bytes, and a held
/// phone should not keep a large buffer.
const IDLE_CHUNK: usize = 256;

/// One registrar to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The name to verify in TLS and to report.
    host: Box<str>,
    addr: SocketAddr,
    transport: Transport,
}

impl Candidate {
    pub(crate) fn new(host: &str, addr: SocketAddr, transport: Transport) -> Self {
        Candidate {
            host: host.into(),
            addr,
            transport,
        }
    }
}

/// Where registrar candidates come from, in the order they are tried.
#[derive(Debug, Clone, Copy)]
enum Source {
    Configured,
    SrvTls,
    DhcpTls,
    SrvTcp,
    DhcpTcp,
    ExternalTls,
}

const SOURCES: [Source; 6] = [
    Source::Configured,
    Source::SrvTls,
    Source::DhcpTls,
    Source::SrvTcp,
    Source::DhcpTcp,
    Source::ExternalTls,
];

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// A signed-in phone's registration: the connection and what a REGISTER
/// is made of.
pub(crate) struct Registration {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    registrar: Box<str>,
    aor: Box<str>,
    domain: Box<str>,
    local: Box<str>,
    call_id: Box<str>,
    from_tag: Box<str>,
    firmware: Box<str>,
    transport: Transport,
    cseq: u32,
    /// Granted expiry, seconds.
    expires: u32,
    /// The registrar's `ms-keep-alive` timeout, seconds.
    keepalive: Option<u32>,
}

fn hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

impl Registration {
    /// `host:port` of the registrar.
    pub(crate) fn registrar(&self) -> &str {
        &self.registrar
    }

    /// Sends one REGISTER and reads its response.
    async fn register(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        sent: Option<&mut Vec<u8>>,
    ) -> Result<Message, Failure> {
        self.cseq = self.cseq.wrapping_add(1);
        let branch = format!("z9hG4bK{}", hex(16));
        let ua = id.user_agent_for(&self.firmware);
        let m = build_register(&RegisterParams {
            domain: &self.domain,
            aor: &self.aor,
            transport: self.transport,
            local: &self.local,
            branch: &branch,
            from_tag: &self.from_tag,
            epid: id.epid(),
            call_id: &self.call_id,
            cseq: self.cseq,
            max_forwards: 70,
            user_agent: &ua,
            mac: id.mac,
            vendor: id.model.vendor(),
            firmware: &self.firmware,
            expires: expires.or(cfg.expires),
            authorization: None,
        })
        .map_err(|e| Failure::new(FailureKind::Other, format!("REGISTER: {e}")))?;
        let bytes = m.encode();
        if let Some(out) = sent {
            out.clone_from(&bytes);
        }
        self.io
            .write_all(&bytes)
            .await
            .map_err(|e| io_failure("sip send", &e))?;
        self.io
            .flush()
            .await
            .map_err(|e| io_failure("sip send", &e))?;
        self.response(self.cseq).await
    }

    /// The response to our request `cseq`; pongs and anything else skipped.
    async fn response(&mut self, cseq: u32) -> Result<Message, Failure> {
        for _ in 0..MAX_FRAMES {
            match frame(&self.buf) {
                Ok(Framed::Message { message, consumed }) => {
                    self.consume(consumed);
                    let ours =
                        message.status().is_some() && message.cseq().is_ok_and(|c| c.seq == cseq);
                    if ours {
                        return Ok(message);
                    }
                }
                Ok(Framed::KeepAlive { consumed, .. }) => self.consume(consumed),
                Err(phonestorm_proto::Error::Incomplete { .. }) => {
                    self.read(READ_CHUNK).await?;
                }
                Err(e) => {
                    return Err(Failure::new(FailureKind::Parse, format!("sip: {e}")));
                }
            }
        }
        Err(Failure::new(
            FailureKind::Parse,
            "sip: no response among many frames",
        ))
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        if self.buf.is_empty() {
            // Give the memory back: a held phone is mostly idle.
            self.buf = Vec::new();
        }
    }

    async fn read(&mut self, chunk: usize) -> Result<(), Failure> {
        self.buf.reserve(chunk);
        let n = self
            .io
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| io_failure("sip read", &e))?;
        if n == 0 {
            return Err(Failure::new(
                FailureKind::Refused,
                "registrar closed the connection",
            ));
        }
        Ok(())
    }

    /// Reads whatever the registrar sends while the phone is idle: pongs,
    /// or requests this phone does not serve (dropped).
    async fn idle(&mut self) -> Result<(), Failure> {
        self.read(IDLE_CHUNK).await?;
        for _ in 0..MAX_FRAMES {
            match frame(&self.buf) {
                Ok(Framed::Message { consumed, .. } | Framed::KeepAlive { consumed, .. }) => {
                    self.consume(consumed);
                }
                Err(phonestorm_proto::Error::Incomplete { .. }) => return Ok(()),
                Err(e) => return Err(Failure::new(FailureKind::Parse, format!("sip: {e}"))),
            }
        }
        Ok(())
    }

    fn apply_ok(&mut self, ok: &Message) {
        self.expires = ok
            .expires()
            .ok()
            .flatten()
            .or_else(|| {
                ok.contacts()
                    .ok()
                    .and_then(|c| c.first().and_then(|b| b.expires()))
            })
            .unwrap_or(600);
        if let Ok(Some(ka)) = ok.ms_keep_alive() {
            self.keepalive = ka.timeout.or(self.keepalive);
        }
    }
}

/// The failure a SIP final response other than 200 maps to.
fn sip_refusal(m: &Message) -> Fail {
    let status = m.status().unwrap_or(0);
    let diag = m.diagnostics().ok().flatten();
    let kind = match &diag {
        Some(d) => FailureKind::Diagnostics(d.id),
        None => FailureKind::SipStatus(status),
    };
    let reason = diag
        .as_ref()
        .map_or_else(|| m.reason().unwrap_or("").to_owned(), |d| d.reason.clone());
    let mut f = Fail::from(Failure::new(kind, format!("sip {status}: {reason}")));
    f.fallback = false;
    if status == 503 {
        f.retry_after = m
            .retry_after()
            .ok()
            .flatten()
            .map(|r| Duration::from_secs(u64::from(r.seconds)));
    }
    f
}

impl Phone<'_> {
    /// The candidates of one source; an error there just moves the search on.
    async fn candidates(&mut self, source: Source) -> Step<Vec<Candidate>> {
        let ports = self.cfg.target.ports;
        let dhcp = |this: &Phone<'_>| {
            this.boot
                .as_ref()
                .and_then(|b| b.sip_servers.as_ref())
                .map(|s| s.to_strings())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        match source {
            Source::Configured => {
                for r in self.cfg.target.registrars.clone() {
                    let addr = self.address_of(&r).await?;
                    out.push(Candidate::new(&r.host, addr, Transport::Tls));
                }
            }
            Source::SrvTls => out = self.srv_tls.clone(),
            Source::DhcpTls | Source::DhcpTcp => {
                let (t, port) = match source {
                    Source::DhcpTls => (Transport::Tls, ports.sip_tls.unwrap_or(5061)),
                    _ => (Transport::Tcp, ports.sip_tcp.unwrap_or(5060)),
                };
                for host in dhcp(self) {
                    let ip = self.resolve(&host).await?;
                    out.push(Candidate::new(&host, SocketAddr::new(ip, port), t));
                }
            }
            Source::SrvTcp | Source::ExternalTls => {
                let (service, t) = match source {
                    Source::SrvTcp => (Service::SipInternal, Transport::Tcp),
                    _ => (Service::SipTls, Transport::Tls),
                };
                let domain = self.domain().to_owned();
                let q = Question::srv(service, &domain)
                    .map_err(|e| Failure::new(FailureKind::Other, format!("srv: {e}")))?;
                let a = self.ask_dns(self.cfg.target.dns_server, &q).await?;
                let ordered = {
                    let mut rng = rand::rng();
                    dns::order_srv(&a.srv, &mut |n| rng.random_range(0..=n))
                };
                if let SrvTargets::Ordered(records) = ordered {
                    for r in records {
                        let ip = match a.addresses_of(&r.target).first() {
                            Some(ip) => *ip,
                            None => self.resolve(&r.target).await?,
                        };
                        out.push(Candidate::new(&r.target, SocketAddr::new(ip, r.port), t));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The TLS configuration towards registrars: the downloaded chain as
    /// roots, the user's certificate as client certificate.
    fn build_sip_tls(&self) -> Step<Arc<ClientConfig>> {
        let Some(trust) = &self.trust else {
            return fail(
                FailureKind::Tls,
                "no root chain to verify the registrar with",
            );
        };
        let builder = ClientConfig::builder_with_provider(self.shared.provider().clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Failure::new(FailureKind::Tls, e.to_string()))?
            .with_root_certificates(trust.roots.clone());
        let mut config = match &self.cert {
            Some((cert, key)) => {
                // Only the user's certificate: the registrar holds the CA
                // that issued it (RFC 8446 4.4.2 lets the sender omit the
                // trust anchor), and a held phone keeps this chain for the
                // life of its connection, so a CA copy per phone is memory
                // spent for nothing.
                let chain = vec![CertificateDer::from(cert.clone())];
                // The key was parsed once, in the pool; only the chain is new.
                let certified = rustls::sign::CertifiedKey::new(chain, key.tls.clone());
                builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                    certified,
                )))
            }
            None => builder.with_no_client_auth(),
        };
        config.resumption = self.shared.resumption();
        Ok(Arc::new(config))
    }

    /// Stage 9: the registrar search, one REGISTER per candidate.
    pub(crate) async fn register(&mut self) -> Step<()> {
        if self.sip_tls.is_none() {
            self.sip_tls = self.build_sip_tls().ok();
        }
        let tls = self.sip_tls.clone();
        let mut tried = 0usize;
        let mut last: Option<Fail> = None;
        for source in SOURCES {
            let list = match self.candidates(source).await {
                Ok(l) => l,
                Err(f) => {
                    last.get_or_insert(f);
                    continue;
                }
            };
            for c in list {
                if tried >= self.cfg.max_candidates {
                    break;
                }
                tried += 1;
                match self.register_at(c, tls.clone()).await {
                    Ok(reg) => {
                        self.registration = Some(reg);
                        return Ok(());
                    }
                    Err(f) if f.fallback => last = Some(f),
                    Err(f) => return Err(f),
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            Fail::from(Failure::new(FailureKind::Other, "no registrar candidates"))
        }))
    }

    /// REGISTER at one candidate, following up to `max_redirects` 301s.
    async fn register_at(
        &mut self,
        mut target: Candidate,
        tls: Option<Arc<ClientConfig>>,
    ) -> Step<Registration> {
        let sip_uri = self
            .sip_uri
            .clone()
            .or_else(|| self.id.user.sip_uri.as_deref().map(str::to_owned))
            .unwrap_or_else(|| format!("sip:{}@{}", self.id.user.number, self.domain()));
        for _ in 0..=self.cfg.max_redirects {
            let tcp = net::connect(self.source, target.addr).await?;
            let local = tcp
                .local_addr()
                .map_err(|e| io_failure("local address", &e))?
                .to_string();
            let io: Box<dyn Io> = match target.transport {
                Transport::Tls => {
                    let Some(config) = tls.clone() else {
                        return fail(
                            FailureKind::Tls,
                            "no root chain to verify the registrar with",
                        );
                    };
                    let mut s = net::tls(config, &target.host, tcp).await?;
                    s.get_mut()
                        .1
                        .set_buffer_limit(Some(self.cfg.tls.buffer_limit));
                    Box::new(s)
                }
                Transport::Tcp => Box::new(tcp),
            };
            let mut reg = Registration {
                io,
                buf: Vec::new(),
                registrar: format!("{}:{}", target.host, target.addr.port()).into(),
                aor: sip_uri.as_str().into(),
                domain: self.domain().into(),
                local: local.into(),
                call_id: format!("{}{}", hex(16), self.id.epid()).into(),
                from_tag: hex(10).into(),
                firmware: self.firmware().into(),
                transport: target.transport,
                cseq: 0,
                expires: 600,
                keepalive: None,
            };
            let mut sent = Vec::new();
            let traced = self.trace.is_some().then_some(&mut sent);
            let m = reg.register(self.id, self.cfg, None, traced).await?;
            self.wire(crate::Direction::Sent, || {
                format!(
                    "SIP to {} ({:?})\n{}",
                    target.addr,
                    target.transport,
                    String::from_utf8_lossy(&sent)
                )
            });
            self.wire(crate::Direction::Received, || {
                String::from_utf8_lossy(&m.encode()).into_owned()
            });
            match m.status() {
                Some(200) => {
                    reg.apply_ok(&m);
                    return Ok(reg);
                }
                Some(301 | 302) => {
                    let next = m
                        .redirect_targets()
                        .ok()
                        .and_then(|t| t.into_iter().next())
                        .and_then(|t| t.sip_uri().ok())
                        .ok_or_else(|| {
                            Fail::from(Failure::new(
                                FailureKind::Parse,
                                "sip 301 without a usable Contact",
                            ))
                        })?;
                    let transport = match next.param("transport") {
                        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
                        _ => Transport::Tls,
                    };
                    let port = next.port.unwrap_or(match transport {
                        Transport::Tls => 5061,
                        Transport::Tcp => 5060,
                    });
                    let ip = self.resolve(&next.host).await?;
                    target = Candidate::new(&next.host, SocketAddr::new(ip, port), transport);
                }
                _ => return Err(sip_refusal(&m)),
            }
        }
        let mut f = Fail::from(Failure::new(
            FailureKind::SipStatus(301),
            format!("more than {} redirects", self.cfg.max_redirects),
        ));
        f.fallback = false;
        Err(f)
    }
}

/// Keeps `reg` alive until the hold time ends or `stop` fires, then signs
/// out when configured to.
pub(crate) async fn hold(
    mut reg: Registration,
    id: &Identity,
    cfg: &PhoneConfig,
    stop: &CancellationToken,
) -> PhoneOutcome {
    let start = clock::now();
    // A hold of "forever" is a year: far enough, and no Instant overflow.
    let end = start
        .checked_add(cfg.hold)
        .unwrap_or(start + Duration::from_secs(365 * 24 * 3600));
    let mut outcome = PhoneOutcome::SignedIn;
    let timeout = cfg.stage(Stage::Register).timeout;
    if !cfg.hold.is_zero() {
        let ka = |reg: &Registration| {
            reg.keepalive
                .map_or(cfg.keep_alive.fallback_timeout, |s| {
                    Duration::from_secs(u64::from(s))
                })
                .mul_f64(cfg.keep_alive.share.clamp(0.05, 1.0))
                .max(Duration::from_millis(100))
        };
        let refresh = |reg: &Registration| {
            Duration::from_secs(u64::from(reg.expires))
                .mul_f64(cfg.keep_alive.refresh_share.clamp(0.05, 1.0))
                .max(Duration::from_secs(1))
        };
        let mut next_ka = clock::now() + ka(&reg);
        let mut next_refresh = clock::now() + refresh(&reg);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep_until(end) => break,
                _ = tokio::time::sleep_until(next_refresh) => {
                    match tokio::time::timeout(timeout, reg.register(id, cfg, None, None)).await {
                        Ok(Ok(m)) if m.status() == Some(200) => {
                            reg.apply_ok(&m);
                            next_refresh = clock::now() + refresh(&reg);
                        }
                        Ok(Ok(m)) => return PhoneOutcome::Lost(sip_refusal(&m).failure),
                        Ok(Err(f)) => return PhoneOutcome::Lost(f),
                        Err(_) => return PhoneOutcome::Lost(Failure::new(FailureKind::Timeout, "re-REGISTER unanswered")),
                    }
                }
                _ = tokio::time::sleep_until(next_ka) => {
                    // RFC 5626 section 3.5.1 ping; [MS-CONMGMT] keep-alive.
                    let sent = async {
                        reg.io.write_all(b"\r\n\r\n").await?;
                        reg.io.flush().await
                    };
                    if let Err(e) = sent.await {
                        return PhoneOutcome::Lost(io_failure("keep-alive", &e));
                    }
                    next_ka = clock::now() + ka(&reg);
                }
                r = reg.idle() => {
                    if let Err(f) = r {
                        outcome = PhoneOutcome::Lost(f);
                        break;
                    }
                }
            }
        }
    }
    if cfg.sign_out && outcome == PhoneOutcome::SignedIn {
        // A sign-out that fails changes nothing the phone can act on: the
        // registration expires on its own.
        let _ = tokio::time::timeout(timeout, reg.register(id, cfg, Some(0), None)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), reg.io.shutdown()).await;
    outcome
}
