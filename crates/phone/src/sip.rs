//! Stage 9 and after: finding a registrar, REGISTER over TLS
//! authenticated with the user's certificate (TLS-DSK), the user's
//! password (NTLM, Digest) or the connection's certificate (the legs are
//! answered here, the schemes themselves in [`crate::auth`]), following
//! 301s, and then staying
//! signed in (CRLF keep-alives, re-REGISTER before expiry, sign-out), every
//! request signed and every answer checked once an SA exists.
//!
//! Registrars are tried in PROTOCOL.md's order: the scenario's own first,
//! then internal SRV (TLS), option 120 (TLS), internal SRV (TCP), option
//! 120 (TCP), external SRV (TLS). A candidate that cannot be reached moves
//! the search on; a SIP answer ends the attempt, as it does on a phone.
//! The held [`Registration`] keeps only the connection, the SA and the few
//! fields a REGISTER needs, because a run may hold 100,000 of them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phonestorm_proto::dns::{self, Question, Service, SrvTargets};
use phonestorm_proto::sip::tlsdsk::DskChallenge;
use phonestorm_proto::sip::{
    Credentials, Framed, Message, RegisterParams, Transport, build_register, challenges, frame,
};
use rand::RngExt;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::auth::{
    self, AuthMode, AuthSettings, DigestSa, DskHandshake, NtlmChallenge, Sa, Scheme,
};
use crate::bootstrap::{Fail, Phone, PhoneOutcome, Step, fail};
use crate::config::PhoneConfig;
use crate::identity::Identity;
use crate::net::{self, io_failure};
use crate::{Direction, Failure, FailureKind, Stage, clock};

/// Frames read while waiting for one response (keep-alive pongs and
/// partial reads included) before the connection is deemed out of step.
const MAX_FRAMES: usize = 4096;

/// Bytes read at a time while waiting for a response.
const READ_CHUNK: usize = 4096;

/// Bytes reserved for a read while idle: pongs are two bytes, and a held
/// phone should not keep a large buffer.
const IDLE_CHUNK: usize = 256;

/// REGISTER / 401 legs of one authentication at most. A TLS 1.2 full
/// handshake takes two; the rest is room for a server that splits flights.
const MAX_LEGS: usize = 6;

/// The messages of one REGISTER transaction, for the wire trace.
type Legs = Vec<(Direction, String)>;

/// How a registration authenticates, and the SA it holds.
struct RegAuth {
    settings: AuthSettings,
    /// What the tunnel's TLS configuration is made of, when the phone
    /// holds a certificate. The configuration itself is made for each
    /// handshake: a held phone runs one every few hours at most, and
    /// keeping it would cost every held phone its size.
    tunnel: Option<auth::TunnelParts>,
    /// When the user certificate expires, since the Unix epoch.
    cert_expires: Duration,
    /// The schemes to try, in order.
    schemes: Vec<Scheme>,
    /// NTLM / Digest user name, domain and password (from the directory).
    password: Option<phonestorm_proto::ntlm::Credentials>,
    sa: Option<Sa>,
}

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

trait Io: AsyncRead + AsyncWrite + crate::net::Tcp + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + crate::net::Tcp + Unpin + Send + Sync> Io for T {}

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
    auth: RegAuth,
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

    /// One authenticated REGISTER transaction: signed under the SA when
    /// one is alive, else sent bare and, on a 401, authenticated with the
    /// scheme the settings choose. The final answer comes back; its
    /// signature, if the SA signs, has been checked.
    async fn register(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        mut legs: Option<&mut Legs>,
    ) -> Result<Message, Failure> {
        if self
            .auth
            .sa
            .as_ref()
            .is_some_and(|sa| sa.expired(clock::now()))
        {
            // [MS-SIPAE] 3.2.2: an SA past its life is dropped; the next
            // request starts a new handshake.
            self.auth.sa = None;
        }
        if self.auth.sa.is_some() {
            let m = self
                .send_signed(id, cfg, expires, legs.as_deref_mut())
                .await?;
            if !matches!(m.status(), Some(401 | 407)) {
                return Ok(m);
            }
            // The registrar no longer knows the SA (it expired there, or the
            // server restarted): authenticate again, once.
            self.auth.sa = None;
            return self.authenticate(id, cfg, expires, &m, legs).await;
        }
        let m = self
            .send(id, cfg, expires, None, legs.as_deref_mut())
            .await?;
        if !matches!(m.status(), Some(401 | 407))
            || self.auth.settings.mode == AuthMode::Certificate
        {
            return Ok(m);
        }
        self.authenticate(id, cfg, expires, &m, legs).await
    }

    /// [MS-SIPAE] NTLM, connectionless: REGISTER with an empty token, 401
    /// with the CHALLENGE_MESSAGE and the SA's opaque, REGISTER with the
    /// AUTHENTICATE_MESSAGE, whose answer is the first signed one.
    async fn ntlm(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        offered: &phonestorm_proto::sip::Challenge,
        mut legs: Option<&mut Legs>,
    ) -> Result<Message, Failure> {
        let Some(creds) = self.auth.password.clone() else {
            return Err(Failure::new(
                FailureKind::AuthRejected,
                "ntlm: the user has no password",
            ));
        };
        let ch = NtlmChallenge::parse(offered)?;
        let first = ch.credentials(None, &[]);
        let m = self
            .send(id, cfg, expires, Some(&first), legs.as_deref_mut())
            .await?;
        let Some(leg) = handshake_leg(&m, Scheme::Ntlm, "ntlm: 401 without a CHALLENGE_MESSAGE")?
        else {
            return Ok(m);
        };
        let (authenticate, sa) = ch.answer(
            &leg,
            &creds,
            self.auth.settings.sa_lifetime,
            self.auth.settings.fault,
        )?;
        // The AUTHENTICATE leg's answer is already signed under the SA it
        // establishes ([MS-SIPAE] 3.3.5.1): check it as a signed answer.
        let m = self
            .send(id, cfg, expires, Some(&authenticate), legs)
            .await?;
        if m.status() != Some(200) {
            return Ok(m);
        }
        let mut sa = Sa::Signed(sa);
        sa.check(&m)?;
        self.auth.sa = Some(sa);
        Ok(m)
    }

    /// RFC 3261 22.4 Digest: the REGISTER again with credentials for the
    /// challenge; a second challenge that is not `stale=true` means the
    /// credentials are wrong.
    async fn digest(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        offered: &phonestorm_proto::sip::Challenge,
        proxy: bool,
        mut legs: Option<&mut Legs>,
    ) -> Result<Message, Failure> {
        let Some(creds) = self.auth.password.clone() else {
            return Err(Failure::new(
                FailureKind::AuthRejected,
                "digest: the user has no password",
            ));
        };
        let mut challenge = offered.clone();
        let mut proxy = proxy;
        // One stale nonce is renewed; a registrar that calls every nonce
        // stale is refusing.
        for _ in 0..2 {
            self.auth.sa = Some(Sa::Digest(DigestSa::new(
                &challenge,
                &creds.user,
                &creds.password,
                proxy,
            )?));
            let m = self
                .send_signed(id, cfg, expires, legs.as_deref_mut())
                .await?;
            if !matches!(m.status(), Some(401 | 407)) {
                return Ok(m);
            }
            self.auth.sa = None;
            let again = challenges(&m).ok().and_then(|list| {
                list.into_iter()
                    .find(|c| c.is_scheme(Scheme::Digest.token()))
            });
            let stale = again
                .as_ref()
                .and_then(|c| DigestSa::new(c, "", "", false).ok())
                .is_some_and(|d| d.stale());
            match again {
                Some(c) if stale => {
                    challenge = c;
                    proxy = m.status() == Some(407);
                }
                _ => {
                    return Err(Failure::new(
                        FailureKind::AuthRejected,
                        format!(
                            "sip {}: digest credentials refused",
                            m.status().unwrap_or(0)
                        ),
                    ));
                }
            }
        }
        Err(Failure::new(
            FailureKind::AuthRejected,
            "digest: every nonce was stale",
        ))
    }

    /// Answers a 401 with the first scheme the phone can run; the 401
    /// itself comes back when there is none (recorded as the refusal it
    /// is).
    async fn authenticate(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        challenge: &Message,
        mut legs: Option<&mut Legs>,
    ) -> Result<Message, Failure> {
        let offered = challenges(challenge)
            .map_err(|e| Failure::new(FailureKind::Parse, format!("sip 401: {e}")))?;
        let chosen = self.auth.schemes.iter().find_map(|s| {
            offered
                .iter()
                .find(|c| c.is_scheme(s.token()))
                .map(|c| (*s, c.clone()))
        });
        let c = match chosen {
            Some((Scheme::Ntlm, c)) => return self.ntlm(id, cfg, expires, &c, legs).await,
            Some((Scheme::Digest, c)) => {
                let proxy = challenge.status() == Some(407);
                return self.digest(id, cfg, expires, &c, proxy, legs).await;
            }
            Some((Scheme::TlsDsk, c)) => c,
            None => return Ok(challenge.clone()),
        };
        let Some(tunnel) = self.auth.tunnel.as_ref().map(auth::TunnelParts::config) else {
            return Ok(challenge.clone());
        };
        let ch = DskChallenge::parse(&c)
            .map_err(|e| Failure::new(FailureKind::AuthRejected, format!("tls-dsk 401: {e}")))?;
        let (mut hs, mut token) = DskHandshake::start(tunnel, &ch)?;
        for _ in 0..MAX_LEGS {
            let creds = hs.credentials(&token);
            let m = self
                .send(id, cfg, expires, Some(&creds), legs.as_deref_mut())
                .await?;
            let Some(leg) =
                handshake_leg(&m, Scheme::TlsDsk, "tls-dsk: 401 without a handshake leg")?
            else {
                return Ok(m);
            };
            let ch = DskChallenge::parse(&leg)
                .map_err(|e| Failure::new(FailureKind::AuthRejected, format!("tls-dsk: {e}")))?;
            match hs.step(&ch)? {
                Some(next) => token = next,
                None => {
                    let life = auth::sa_life(
                        self.auth.settings.sa_lifetime,
                        self.auth.cert_expires,
                        clock::wall(),
                    );
                    let sa = hs.finish(life, self.auth.settings.fault)?;
                    self.auth.sa = Some(Sa::Signed(sa));
                    return self.send_signed(id, cfg, expires, legs).await;
                }
            }
        }
        Err(Failure::new(
            FailureKind::AuthRejected,
            format!("tls-dsk handshake unfinished after {MAX_LEGS} legs"),
        ))
    }

    /// A REGISTER signed under the SA, and its answer checked.
    async fn send_signed(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        legs: Option<&mut Legs>,
    ) -> Result<Message, Failure> {
        let mut m = self.build(id, cfg, expires, None)?;
        if let Some(sa) = self.auth.sa.as_mut() {
            sa.sign(&mut m)?;
        }
        let answer = self.exchange(&m, legs).await?;
        if let Some(sa) = self.auth.sa.as_mut()
            && let Err(f) = sa.check(&answer)
        {
            // An answer that is not the registrar's: nothing it says can
            // be trusted, the SA included.
            self.auth.sa = None;
            return Err(f);
        }
        Ok(answer)
    }

    fn build(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        authorization: Option<&Credentials>,
    ) -> Result<Message, Failure> {
        self.cseq = self.cseq.wrapping_add(1);
        let branch = format!("z9hG4bK{}", hex(16));
        let ua = id.user_agent_for(&self.firmware);
        build_register(&RegisterParams {
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
            authorization,
        })
        .map_err(|e| Failure::new(FailureKind::Other, format!("REGISTER: {e}")))
    }

    /// Sends one REGISTER and reads its response.
    async fn send(
        &mut self,
        id: &Identity,
        cfg: &PhoneConfig,
        expires: Option<u32>,
        authorization: Option<&Credentials>,
        legs: Option<&mut Legs>,
    ) -> Result<Message, Failure> {
        let m = self.build(id, cfg, expires, authorization)?;
        self.exchange(&m, legs).await
    }

    /// Writes `m` and reads the response to it, both traced when asked.
    async fn exchange(&mut self, m: &Message, legs: Option<&mut Legs>) -> Result<Message, Failure> {
        let bytes = m.encode();
        self.io
            .write_all(&bytes)
            .await
            .map_err(|e| io_failure("sip send", &e))?;
        self.io
            .flush()
            .await
            .map_err(|e| io_failure("sip send", &e))?;
        let answer = self.response(self.cseq).await?;
        if let Some(legs) = legs {
            legs.push((
                Direction::Sent,
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
            legs.push((
                Direction::Received,
                String::from_utf8_lossy(&answer.encode()).into_owned(),
            ));
        }
        Ok(answer)
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

/// The next leg of a multi-leg handshake (NTLM, TLS-DSK) in the answer
/// `m`: `None` when `m` ends the handshake (a refusal such as 403, 503 or
/// a 401 with ms-diagnostics, or a success), else the `scheme` challenge
/// that carries gssapi-data, or a failure saying `missing`.
fn handshake_leg(
    m: &Message,
    scheme: Scheme,
    missing: &'static str,
) -> Result<Option<phonestorm_proto::sip::Challenge>, Failure> {
    let has_diag = m.diagnostics().ok().flatten().is_some();
    if m.status() != Some(401) || has_diag {
        return Ok(None);
    }
    challenges(m)
        .ok()
        .and_then(|list| {
            list.into_iter()
                .find(|c| c.is_scheme(scheme.token()) && c.gssapi_data().is_some())
        })
        .map(Some)
        .ok_or_else(|| Failure::new(FailureKind::AuthRejected, missing))
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
        // The chain's registrar configuration (verified with it, the run's
        // TLS versions), copied.
        let mut config = (*trust.sip).clone();
        // A Lync phone's connection to the registrar is server-authenticated
        // TLS: Skype for Business runs MTLS between servers only, and the
        // phone proves itself inside SIP ([MS-SIPAE] 3.1: TLS-DSK "for
        // client-to-server authentication"). So `auto`, the default, offers
        // no certificate here (the schemes it answers with carry their own
        // proof): the phone makes no signature a real phone would not, and
        // a pool verifies no client chain it would not. `certificate`, for
        // a standard registrar that reads the certificate, shows it, and so
        // does `digest`, for such registrars that also challenge.
        let offers_cert = match self.cfg.auth.mode {
            AuthMode::Auto | AuthMode::TlsDsk | AuthMode::Ntlm => false,
            AuthMode::Certificate | AuthMode::Digest => true,
        };
        if let Some(client) = self.client_cert().filter(|_| offers_cert) {
            config.client_auth_cert_resolver = client;
        }
        config.resumption = self.shared.resumption();
        Ok(Arc::new(config))
    }

    /// Stage 9: the registrar search, one REGISTER per candidate.
    pub(crate) async fn register(&mut self) -> Step<()> {
        if self.sip_tls.is_none() {
            self.sip_tls = self.build_sip_tls().ok();
        }
        let tls = self.sip_tls.clone();
        let tunnel = self.build_tunnel();
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
                match self.register_at(c, tls.clone(), tunnel.clone()).await {
                    Ok(reg) => {
                        self.registration = Some(Box::new(reg));
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

    /// The TLS-DSK tunnel's configuration, when the phone holds a
    /// certificate and a root chain and its settings allow TLS-DSK.
    fn build_tunnel(&self) -> Option<auth::TunnelParts> {
        if self.cfg.auth.mode == AuthMode::Certificate {
            return None;
        }
        let trust = self.trust.as_ref()?;
        Some(auth::TunnelParts {
            template: trust.tunnel.clone(),
            client: self.client_cert()?,
        })
    }

    /// The user's certificate and key as a client certificate resolver,
    /// around the phone's one copy of them.
    fn client_cert(&self) -> Option<Arc<rustls::sign::SingleCertAndKey>> {
        let certified = self.cert.clone()?;
        Some(Arc::new(rustls::sign::SingleCertAndKey::from(certified)))
    }

    /// REGISTER at one candidate, following up to `max_redirects` 301s.
    async fn register_at(
        &mut self,
        mut target: Candidate,
        tls: Option<Arc<ClientConfig>>,
        tunnel: Option<auth::TunnelParts>,
    ) -> Step<Registration> {
        let sip_uri = self
            .sip_uri
            .clone()
            .or_else(|| self.id.user.sip_uri.as_deref().map(str::to_owned))
            .unwrap_or_else(|| format!("sip:{}@{}", self.id.user.number, self.domain()));
        // NTLM and Digest sign in as the SIP user part, as a pool's users
        // (and a standard registrar's subscribers) are named.
        let password = (!self.id.user.password.is_empty()).then(|| {
            let user = sip_uri
                .strip_prefix("sip:")
                .unwrap_or(&sip_uri)
                .split('@')
                .next()
                .unwrap_or_default();
            phonestorm_proto::ntlm::Credentials {
                user: user.to_owned(),
                domain: self.cfg.ntlm_domain.to_string(),
                password: self.id.user.password.to_string(),
                workstation: format!(
                    "{}-{:02X}{:02X}{:02X}",
                    self.id.model.name(),
                    self.id.mac[3],
                    self.id.mac[4],
                    self.id.mac[5]
                ),
            }
        });
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
                    let mut s = net::tls(config, self.shared.versions(), &target.host, tcp).await?;
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
                auth: RegAuth {
                    settings: self.cfg.auth,
                    tunnel: tunnel.clone(),
                    cert_expires: self.cert_expires,
                    schemes: Scheme::preference(
                        self.cfg.auth.mode,
                        self.id.model,
                        tunnel.is_some(),
                        password.is_some(),
                    ),
                    password: password.clone(),
                    sa: None,
                },
            };
            let mut legs = Legs::new();
            let traced = self.trace.is_some().then_some(&mut legs);
            let result = reg.register(self.id, self.cfg, None, traced).await;
            // Every leg of the exchange (each TLS-DSK REGISTER / 401) is
            // traced, failed exchanges included.
            for (direction, text) in legs {
                self.wire(direction, || match direction {
                    Direction::Sent => {
                        format!("SIP to {} ({:?})\n{text}", target.addr, target.transport)
                    }
                    _ => text,
                });
            }
            let m = result.map_err(|f| {
                let auth = matches!(f.kind, FailureKind::AuthRejected | FailureKind::BadRspauth);
                let mut f = Fail::from(f);
                // The registrar answered: the next candidate would not
                // authenticate this phone any better.
                f.fallback = f.fallback && !auth;
                f
            })?;
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
    mut reg: Box<Registration>,
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
        // With keep-alives off, neither comes before the hold's end.
        let alive = cfg.keep_alive.enabled;
        let mut next_ka = if alive { clock::now() + ka(&reg) } else { end };
        let mut next_refresh = if alive {
            clock::now() + refresh(&reg)
        } else {
            end
        };
        // What woke the held phone. The select only waits; the work is
        // done after it, so a held phone's state has room for one timer
        // and the idle read, not for every branch's work as well.
        enum Woke {
            Stop,
            Timer,
            Idle(Result<(), Failure>),
        }
        loop {
            // One timer, at the earliest of the three deadlines.
            let wake = end.min(next_refresh).min(next_ka);
            let woke = tokio::select! {
                biased;
                _ = stop.cancelled() => Woke::Stop,
                _ = tokio::time::sleep_until(wake) => Woke::Timer,
                r = reg.idle() => Woke::Idle(r),
            };
            match woke {
                Woke::Stop => break,
                Woke::Idle(Ok(())) => {}
                Woke::Idle(Err(f)) => {
                    outcome = PhoneOutcome::Lost(f);
                    break;
                }
                Woke::Timer => {
                    let now = clock::now();
                    if now >= end {
                        break;
                    }
                    if now >= next_refresh {
                        // Boxed, here and at sign-out: a REGISTER
                        // transaction's future (TLS-DSK legs included) is
                        // several KiB, and inline it would sit in every
                        // held phone's state for the whole hold rather than
                        // for one refresh.
                        let refreshed = tokio::time::timeout(
                            timeout,
                            Box::pin(reg.register(id, cfg, None, None)),
                        )
                        .await;
                        match refreshed {
                            Ok(Ok(m)) if m.status() == Some(200) => {
                                reg.apply_ok(&m);
                                next_refresh = clock::now() + refresh(&reg);
                            }
                            Ok(Ok(m)) => return PhoneOutcome::Lost(sip_refusal(&m).failure),
                            Ok(Err(f)) => return PhoneOutcome::Lost(f),
                            Err(_) => {
                                return PhoneOutcome::Lost(Failure::new(
                                    FailureKind::Timeout,
                                    "re-REGISTER unanswered",
                                ));
                            }
                        }
                    } else if now >= next_ka {
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
                }
            }
        }
    }
    if cfg.sign_out && outcome == PhoneOutcome::SignedIn {
        // A sign-out that fails changes nothing the phone can act on: the
        // registration expires on its own.
        let _ = tokio::time::timeout(timeout, Box::pin(reg.register(id, cfg, Some(0), None))).await;
    }
    crate::net::close_tls(&mut reg.io).await;
    outcome
}
