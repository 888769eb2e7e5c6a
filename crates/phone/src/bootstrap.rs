//! One phone's sign-in: the nine stages in order, each attempt recorded,
//! retried with backoff, and then the registration held until the hold time
//! ends or the run stops.
//!
//! Owns the order, timing and bookkeeping of stages ([`bootstrap`]) and the
//! per-phone state they fill in ([`Phone`]); what each stage sends is in
//! `stages.rs` and `sip.rs`. Stage attempts run as boxed futures, so the
//! phone's own future stays small while it holds its registration.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use phonestorm_proto::dhcp::BootSettings;
use rand::RngExt;
use rustls::ClientConfig;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{HostPort, PhoneConfig};
use crate::identity::Identity;
use crate::resolve::Found;
use crate::shared::{Shared, Trust};
use crate::sip::{self, Candidate, Registration};
use crate::{Failure, FailureKind, Gate, Outcome, Recorder, Stage, StageEvent, clock};

/// How a phone's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneOutcome {
    /// Signed in; then held for the hold time and signed out (or left
    /// registered, when sign-out is off).
    SignedIn,
    /// Every enabled stage worked, but `register` was off.
    Completed,
    /// A stage gave up after its attempts.
    Failed {
        /// The stage.
        stage: Stage,
        /// Its last failure.
        failure: Failure,
    },
    /// Signed in, then lost the registration while holding it.
    Lost(Failure),
    /// Stopped before signing in.
    Stopped,
}

/// What a phone's run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneResult {
    /// The phone's index.
    pub phone: u32,
    /// How it ended.
    pub outcome: PhoneOutcome,
    /// Voice VLAN from stage 1, when one was offered.
    pub voice_vlan: Option<u16>,
    /// Clock offset to the time server from stage 2b, nanoseconds.
    pub ntp_offset_nanos: Option<i64>,
    /// Firmware version installed by stage 4, when the phone updated.
    pub updated_to: Option<Box<str>>,
    /// The registrar (`host:port`) that signed the phone in.
    pub registrar: Option<Box<str>>,
}

/// A failed attempt: the failure, and how long the server asked us to
/// wait before the next one (`Retry-After`).
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) failure: Failure,
    pub(crate) retry_after: Option<Duration>,
    /// A connection-level failure: the registrar search moves on to the
    /// next candidate instead of ending the attempt.
    pub(crate) fallback: bool,
}

impl From<Failure> for Fail {
    fn from(failure: Failure) -> Self {
        let fallback = matches!(
            failure.kind,
            FailureKind::Refused | FailureKind::Timeout | FailureKind::Tls
        );
        Fail {
            failure,
            retry_after: None,
            fallback,
        }
    }
}

/// The result of one attempt.
pub(crate) type Step<T> = Result<T, Fail>;

/// A failure of `kind`.
pub(crate) fn fail<T>(kind: FailureKind, detail: impl Into<String>) -> Step<T> {
    Err(Fail::from(Failure::new(kind, detail)))
}

/// What a phone learns while signing in. Dropped at sign-in: the held
/// registration keeps only what it needs.
pub(crate) struct Phone<'a> {
    pub(crate) id: &'a Identity,
    pub(crate) cfg: &'a PhoneConfig,
    pub(crate) shared: &'a Shared,
    /// The address every socket binds to: the identity's, or its slot in
    /// the configured source range.
    pub(crate) source: Ipv4Addr,
    /// Firmware after an update, else the identity's.
    pub(crate) firmware: Option<Box<str>>,
    pub(crate) lease: Option<Ipv4Addr>,
    pub(crate) boot: Option<BootSettings>,
    pub(crate) voice_vlan: Option<u16>,
    pub(crate) ntp_offset: Option<i64>,
    /// The DNS socket, opened by the first question.
    pub(crate) dns: tokio::sync::OnceCell<crate::resolve::DnsSocket>,
    /// Names resolved so far.
    pub(crate) hosts: Vec<(Box<str>, IpAddr)>,
    /// Registrars from `_sipinternaltls._tcp`, in RFC 2782 order.
    pub(crate) srv_tls: Vec<Candidate>,
    /// Whether stage 4 asked for a restart with new firmware.
    pub(crate) restart: bool,
    /// DNS said `ucupdates-r2.<domain>` does not exist: there is no update
    /// service to check, and the update stage is skipped.
    pub(crate) no_update_service: bool,
    /// Set by a stage that found nothing to do (a server the DNS says
    /// there is none of): its attempt is recorded as skipped.
    pub(crate) nothing_found: bool,
    pub(crate) updated_to: Option<Box<str>>,
    pub(crate) trust: Option<Arc<Trust>>,
    pub(crate) web_tls: Option<Arc<ClientConfig>>,
    /// Towards registrars, made once so a per-phone session store lives
    /// across attempts and redirects.
    pub(crate) sip_tls: Option<Arc<ClientConfig>>,
    /// The SAML assertion, parsed once, and its proof key; boxed, as a
    /// held phone has none and keeps only the pointer's room.
    pub(crate) ticket: Option<Box<(phonestorm_proto::soap::wstrust::SamlAssertion, Vec<u8>)>>,
    pub(crate) sip_uri: Option<String>,
    /// The user certificate and its key, as TLS presents them: one copy,
    /// shared by the SIP connection's configuration and the TLS-DSK
    /// tunnel's, since a held phone keeps both.
    pub(crate) cert: Option<Arc<rustls::sign::CertifiedKey>>,
    /// When `cert` expires, since the Unix epoch (zero without one).
    pub(crate) cert_expires: std::time::Duration,
    /// Boxed: moved into the hold, it would otherwise take its size twice
    /// in a held phone's future (here and in the hold's state).
    pub(crate) registration: Option<Box<Registration>>,
    /// The HTTPS connection kept between web service calls.
    pub(crate) web_conn: Option<crate::stages::WebConn>,
    /// The recorder, only when it asked for the wire trace.
    pub(crate) trace: Option<&'a dyn Recorder>,
    /// The stage running now, for the trace.
    pub(crate) stage: Stage,
}

impl<'a> Phone<'a> {
    fn new(
        id: &'a Identity,
        cfg: &'a PhoneConfig,
        shared: &'a Shared,
        recorder: &'a dyn Recorder,
    ) -> Self {
        Phone {
            trace: recorder.tracing().then_some(recorder),
            web_conn: None,
            stage: Stage::Vlan,
            id,
            cfg,
            shared,
            source: cfg.sources.map_or(id.source_ip, |r| r.address(id.index)),
            firmware: None,
            lease: None,
            boot: None,
            voice_vlan: None,
            ntp_offset: None,
            dns: tokio::sync::OnceCell::new(),
            hosts: Vec::new(),
            srv_tls: Vec::new(),
            restart: false,
            no_update_service: false,
            nothing_found: false,
            updated_to: None,
            trust: None,
            web_tls: None,
            sip_tls: None,
            ticket: None,
            sip_uri: None,
            cert: None,
            cert_expires: std::time::Duration::ZERO,
            registration: None,
        }
    }

    /// Traces one message when the recorder asked for it; `text` is only
    /// called then. Neither the PIN nor the password leaves the phone in
    /// a trace (NTLM and Digest never send the password itself; this
    /// guards against any template or header that would).
    pub(crate) fn wire(&self, direction: crate::Direction, text: impl FnOnce() -> String) {
        if let Some(r) = self.trace {
            let mut t = text();
            for secret in [&*self.id.user.password, &*self.id.user.pin] {
                if !secret.is_empty() {
                    t = t.replace(secret, &"*".repeat(secret.len()));
                }
            }
            r.wire(self.id.index, self.stage, direction, &t);
        }
    }

    /// `q` to `server` over the phone's DNS socket, opened on first use
    /// and dropped with the phone before it holds its registration. A
    /// phone asks one server; a question to another gets a socket of its
    /// own.
    async fn query_dns(
        &self,
        server: std::net::SocketAddr,
        q: &phonestorm_proto::dns::Question,
    ) -> Result<Found, Failure> {
        use crate::resolve::{DnsSocket, query};
        let retransmit = self.cfg.dns_retransmit;
        let cached = self
            .dns
            .get_or_try_init(|| DnsSocket::open(self.source, server))
            .await?;
        if cached.server() == server {
            return query(cached, self.source, q, retransmit).await;
        }
        let once = DnsSocket::open(self.source, server).await?;
        query(&once, self.source, q, retransmit).await
    }

    /// One DNS question, traced; an absent name or record is a failure.
    pub(crate) async fn ask_dns(
        &self,
        server: std::net::SocketAddr,
        q: &phonestorm_proto::dns::Question,
    ) -> Result<phonestorm_proto::dns::Answer, Failure> {
        self.ask_dns_found(server, q).await?.required()
    }

    /// One DNS question, traced, with an absent name or record told apart
    /// from a failure to get an answer.
    pub(crate) async fn ask_dns_found(
        &self,
        server: std::net::SocketAddr,
        q: &phonestorm_proto::dns::Question,
    ) -> Result<Found, Failure> {
        self.wire(crate::Direction::Sent, || {
            format!("DNS {:?} {} to {server}", q.qtype, q.name)
        });
        let r = self.query_dns(server, q).await;
        self.wire(crate::Direction::Received, || match &r {
            Ok(Found::Records(a)) => format!(
                "DNS answer: srv {:?}, addresses {:?}",
                a.srv,
                a.addresses_of(&a.canonical_name)
            ),
            Ok(Found::Absent(f)) | Err(f) => format!("DNS: {f}"),
        });
        r
    }

    /// The firmware version the phone runs now.
    pub(crate) fn firmware(&self) -> &str {
        self.firmware.as_deref().unwrap_or(self.id.firmware())
    }

    /// The SIP domain: the scenario's, else DHCP option 15's.
    pub(crate) fn domain(&self) -> &str {
        if let (true, Some(d)) = (
            self.cfg.target.sip_domain.is_empty(),
            self.boot.as_ref().and_then(|b| b.domain.as_deref()),
        ) {
            return d;
        }
        &self.cfg.target.sip_domain
    }

    /// The web services host: the scenario's, else option 43's.
    pub(crate) fn web_server(&self) -> Step<HostPort> {
        if let Some(w) = &self.cfg.target.web_server {
            return Ok(w.clone());
        }
        let uc = self
            .boot
            .as_ref()
            .and_then(|b| b.uc_options.as_ref())
            .ok_or_else(|| {
                Fail::from(Failure::new(
                    FailureKind::Other,
                    "no web server: DHCP gave no option 43 and none is configured",
                ))
            })?;
        let port = self.cfg.target.ports.https.unwrap_or(uc.port);
        Ok(HostPort::new(uc.web_server.clone(), port))
    }

    /// The address of `host`: an IP literal, a static entry, a name
    /// resolved earlier, or a DNS A query now.
    pub(crate) async fn resolve(&mut self, host: &str) -> Step<IpAddr> {
        match self.resolve_found(host).await? {
            Ok(ip) => Ok(ip),
            Err(absent) => Err(absent.into()),
        }
    }

    /// As [`Phone::resolve`], with the DNS server's word that `host` has no
    /// address (NXDOMAIN, NODATA, or an answer without one) as the inner
    /// `Err`, for a caller that can do without it.
    pub(crate) async fn resolve_found(&mut self, host: &str) -> Step<Result<IpAddr, Failure>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Ok(ip));
        }
        let known = self
            .cfg
            .target
            .hosts
            .iter()
            .map(|(n, a)| (n.as_str(), a))
            .chain(self.hosts.iter().map(|(n, a)| (&**n, a)))
            .find(|(n, _)| n.eq_ignore_ascii_case(host))
            .map(|(_, a)| *a);
        if let Some(a) = known {
            return Ok(Ok(a));
        }
        let q = phonestorm_proto::dns::Question::a(host)
            .map_err(|e| Failure::new(FailureKind::Other, format!("name {host}: {e}")))?;
        let answer = match self.ask_dns_found(self.cfg.target.dns_server, &q).await? {
            Found::Records(a) => a,
            Found::Absent(f) => return Ok(Err(f)),
        };
        let Some(addr) = answer
            .addresses_of(host)
            .into_iter()
            .next()
            .or_else(|| answer.addresses.first().copied())
        else {
            return Ok(Err(Failure::new(
                FailureKind::Other,
                format!("dns {host}: no address"),
            )));
        };
        self.remember(host, addr);
        Ok(Ok(addr))
    }

    /// Keeps `host`'s address for later stages.
    pub(crate) fn remember(&mut self, host: &str, addr: IpAddr) {
        if !self.hosts.iter().any(|(n, _)| n.eq_ignore_ascii_case(host)) {
            self.hosts.push((host.into(), addr));
        }
    }

    /// The address to connect to for `hp`.
    pub(crate) async fn address_of(&mut self, hp: &HostPort) -> Step<std::net::SocketAddr> {
        let ip = match hp.addr {
            Some(a) => a,
            None => self.resolve(&hp.host).await?,
        };
        Ok(std::net::SocketAddr::new(ip, hp.port))
    }

    /// One attempt at `stage`.
    async fn attempt(&mut self, stage: Stage) -> Step<()> {
        match stage {
            Stage::Vlan => self.vlan().await,
            Stage::Dhcp => self.dhcp().await,
            Stage::Ntp => self.ntp().await,
            Stage::Dns => self.dns().await,
            Stage::Update => self.update().await,
            Stage::RootChain => self.root_chain().await,
            Stage::WebTicket => self.web_ticket().await,
            Stage::Certificate => self.certificate().await,
            Stage::Register => self.register().await,
        }
    }

    /// What a stage that is off leaves behind: results the scenario gives.
    fn skip(&mut self, stage: Stage) -> Result<(), Failure> {
        if stage == Stage::RootChain && !self.cfg.given_root_chain.is_empty() {
            let trust = self
                .shared
                .trust_for(self.cfg.given_root_chain.clone())
                .map_err(|e| Failure::new(FailureKind::Tls, format!("given root chain: {e}")))?;
            self.web_tls = Some(self.shared.web_config(&trust));
            self.trust = Some(trust);
        }
        Ok(())
    }
}

/// The engine's hooks for one phone, and the schedule of its attempts.
struct Run<'r> {
    phone: u32,
    recorder: &'r dyn Recorder,
    gate: &'r dyn Gate,
    stop: &'r CancellationToken,
    /// When the next attempt is due.
    due: Instant,
}

/// Why the stages stopped early.
enum Ended {
    Failed(Stage, Failure),
    Stopped,
}

impl Run<'_> {
    fn record(
        &self,
        stage: Stage,
        attempt: u32,
        intended: Instant,
        started: Instant,
        outcome: Outcome,
    ) {
        self.recorder.record(StageEvent {
            phone: self.phone,
            stage,
            attempt,
            intended,
            started,
            ended: clock::now(),
            outcome,
        });
    }

    /// Runs `stage` with its retries; one event per attempt.
    async fn stage(&mut self, phone: &mut Phone<'_>, stage: Stage) -> Result<(), Ended> {
        phone.stage = stage;
        let sc = phone.cfg.stage(stage);
        // PROTOCOL.md stage 7: a phone signing in with NTLM (the CX700)
        // uses no PIN web ticket and gets no certificate before it
        // registers.
        let by_ntlm = matches!(stage, Stage::WebTicket | Stage::Certificate)
            && phone.cfg.auth.mode.uses_ntlm(phone.id.model);
        // No update service published: nothing to check (see
        // `Phone::no_update_service`).
        let nothing_to_check = stage == Stage::Update && phone.no_update_service;
        if !sc.enabled || by_ntlm || nothing_to_check {
            let now = clock::now();
            let due = self.due.min(now);
            let r = phone.skip(stage);
            self.record(stage, 0, due, now, Outcome::Skipped);
            return r.map_err(|f| Ended::Failed(stage, f));
        }
        let attempts = sc.retry.attempts.max(1);
        let mut last = Failure::new(FailureKind::Other, "no attempt made");
        for attempt in 0..attempts {
            let intended = self.due;
            // Only a retry waits. A first attempt is due at once: at the
            // phone's start (the arrival loop has waited for it) or at the
            // previous stage's end. A timer for a deadline already past
            // would still hold the phone until tokio's next millisecond
            // tick (it rounds deadlines up) and cost a write to the
            // runtime's eventfd: up to 1 ms added to every stage measured.
            let waits = attempt > 0;
            tokio::select! {
                _ = self.stop.cancelled() => return Err(Ended::Stopped),
                _ = async {
                    if waits {
                        tokio::time::sleep_until(intended).await;
                    }
                    self.gate.wait(stage).await;
                } => {}
            }
            let started = clock::now();
            let result = tokio::select! {
                _ = self.stop.cancelled() => return Err(Ended::Stopped),
                // Not boxed: the attempt lives inside the bootstrap's own
                // box (made once a phone, freed at sign-in), where boxing
                // it made a 6.3 KB allocation for every stage.
                r = tokio::time::timeout(sc.timeout, phone.attempt(stage)) => r,
            };
            let result = result.unwrap_or_else(|_| {
                Err(Fail::from(Failure::new(
                    FailureKind::Timeout,
                    format!("{stage} took longer than {:?}", sc.timeout),
                )))
            });
            match result {
                Ok(()) => {
                    let outcome = if std::mem::take(&mut phone.nothing_found) {
                        Outcome::Skipped
                    } else {
                        Outcome::Ok
                    };
                    self.record(stage, attempt, intended, started, outcome);
                    self.due = clock::now();
                    return Ok(());
                }
                Err(f) => {
                    self.record(
                        stage,
                        attempt,
                        intended,
                        started,
                        Outcome::Failed(f.failure.clone()),
                    );
                    let draw: f64 = rand::rng().random();
                    let mut wait = sc.retry.delay(attempt, draw);
                    if let Some(ra) = f.retry_after {
                        // Honour the server's Retry-After, up to the policy's cap.
                        wait = wait.max(ra.min(sc.retry.max));
                    }
                    self.due = clock::now() + wait;
                    last = f.failure;
                }
            }
        }
        if !sc.required {
            // Every attempt is recorded as failed; the phone goes on, as
            // one that cannot reach its update service keeps its firmware
            // and signs in. The next stage starts now, not after the
            // backoff the last failure set.
            phone.wire(crate::Direction::Received, || {
                format!("{stage} failed ({last}); the phone goes on without it (stages.{stage}.required = false)")
            });
            self.due = clock::now();
            self.recorder.went_on(self.phone, stage);
            return Ok(());
        }
        Err(Ended::Failed(stage, last))
    }
}

/// Runs one phone: the nine stages in order (once more from the start
/// after a firmware update), then holds the registration for the
/// configured hold time and signs out. Returns when the phone is done,
/// failed, or `stop` fires.
///
/// `intended_start` is when the engine scheduled the phone to arrive: the
/// first stage's latency is measured from it.
pub async fn bootstrap(
    identity: &Identity,
    config: &PhoneConfig,
    shared: &Shared,
    intended_start: Instant,
    recorder: &dyn Recorder,
    gate: &dyn Gate,
    stop: CancellationToken,
) -> PhoneResult {
    let mut result = PhoneResult {
        phone: identity.index,
        outcome: PhoneOutcome::Stopped,
        voice_vlan: None,
        ntp_offset_nanos: None,
        updated_to: None,
        registrar: None,
    };
    let mut run = Run {
        phone: identity.index,
        recorder,
        gate,
        stop: &stop,
        due: intended_start,
    };
    // Boxed: the bootstrap state is large and is freed at sign-in, while
    // the registration may be held for hours.
    let mut phone = Box::new(Phone::new(identity, config, shared, recorder));
    let ended = Box::pin(async {
        // At most one restart after an update: the second round's update
        // check sees the new version.
        for _round in 0..2 {
            phone.restart = false;
            for stage in Stage::ALL {
                run.stage(&mut phone, stage).await?;
                if stage == Stage::Update && phone.restart {
                    break;
                }
            }
            if !phone.restart {
                break;
            }
        }
        Ok::<(), Ended>(())
    })
    .await;
    result.voice_vlan = phone.voice_vlan;
    result.ntp_offset_nanos = phone.ntp_offset;
    result.updated_to = phone.updated_to.take();
    let registration = phone.registration.take();
    drop(phone);
    match ended {
        Err(Ended::Stopped) => return result,
        Err(Ended::Failed(stage, failure)) => {
            result.outcome = PhoneOutcome::Failed { stage, failure };
            return result;
        }
        Ok(()) => {}
    }
    let Some(registration) = registration else {
        result.outcome = PhoneOutcome::Completed;
        return result;
    };
    result.registrar = Some(registration.registrar().into());
    recorder.signed_in(identity.index);
    result.outcome = Box::pin(sip::hold(registration, identity, config, &stop)).await;
    recorder.signed_out(identity.index);
    result
}
