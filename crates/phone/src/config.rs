//! What every phone of a run is told: where the pool is, which stages to
//! run, how patient to be, which bodies to send. One [`PhoneConfig`] is
//! built by the engine from the scenario and shared (behind an `Arc`) by
//! all phones.
//!
//! Defaults model a Lync 2010 Phone Edition phone on an internal network
//! with timeouts shortened for a load test; each is documented where it is
//! set. This module owns the settings and their validation, not what the
//! stages do with them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use phonestorm_proto::soap::template::TemplateSet;

use crate::{Error, Result, Stage};

/// A host to reach: the name to ask DNS for (and to verify in TLS), the
/// port, and optionally the address to use instead of asking DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// FQDN (or an IP literal).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Connect here instead of resolving `host`.
    pub addr: Option<IpAddr>,
}

impl HostPort {
    /// `host:port`, resolved through DNS.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostPort {
            host: host.into(),
            port,
            addr: None,
        }
    }

    /// `host:port` at a known address.
    pub fn at(host: impl Into<String>, addr: SocketAddr) -> Self {
        HostPort {
            host: host.into(),
            port: addr.port(),
            addr: Some(addr.ip()),
        }
    }
}

/// Port overrides: a pool listens on well-known ports, the embedded mock on
/// ephemeral ones. `None` means the well-known port (or what DHCP/DNS said).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    /// Plain HTTP of the web services (root chain, firmware); default 80.
    pub http: Option<u16>,
    /// HTTPS of the web services; default: option 43's port, else 443.
    pub https: Option<u16>,
    /// SNTP; default 123.
    pub sntp: Option<u16>,
    /// SIP over TLS for registrars found by option 120; default 5061.
    pub sip_tls: Option<u16>,
    /// SIP over TCP for registrars found by option 120; default 5060.
    pub sip_tcp: Option<u16>,
}

/// Where the pool and its infrastructure are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The DHCP server (or the next relay) phones' relayed messages go to.
    pub dhcp_server: SocketAddr,
    /// The relay agent's address (`target.dhcp_relay`): when set, every
    /// phone's DHCP goes through one agent owning `<addr>:67`, as a real
    /// server answers relays there; when unset, each phone acts as its own
    /// relay from an ephemeral port with `giaddr` = its source address,
    /// which only the mock (answering the sender) understands.
    pub dhcp_relay: Option<Ipv4Addr>,
    /// The DNS server, port included.
    pub dns_server: SocketAddr,
    /// The SIP domain (also the domain of `ucupdates-r2`).
    pub sip_domain: String,
    /// Registrars to try first, before any found by DNS or DHCP (the
    /// scenario "gives" a registrar, or tests the fallback order).
    pub registrars: Vec<HostPort>,
    /// The web services host when not learnt from DHCP option 43.
    pub web_server: Option<HostPort>,
    /// The device update service when not `ucupdates-r2.<domain>` (a
    /// scenario's `dns.given.update_server`).
    pub update_server: Option<HostPort>,
    /// Port overrides.
    pub ports: Ports,
    /// Static name-to-address entries consulted before DNS.
    pub hosts: Vec<(String, IpAddr)>,
}

impl Target {
    /// A target whose infrastructure is all on well-known ports.
    pub fn new(dhcp_server: SocketAddr, dns_server: SocketAddr, sip_domain: &str) -> Self {
        Target {
            dhcp_server,
            dhcp_relay: None,
            dns_server,
            sip_domain: sip_domain.to_owned(),
            registrars: Vec::new(),
            web_server: None,
            update_server: None,
            ports: Ports::default(),
            hosts: Vec::new(),
        }
    }
}

/// A range of local addresses phones' sockets are spread over (bind
/// before connect): one registrar sees many clients, as in a building,
/// and a run is not limited to one address's ephemeral ports. On Linux,
/// every address of 127.0.0.0/8 can be bound without configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRange {
    /// The first address.
    pub first: Ipv4Addr,
    /// How many addresses, at least 1.
    pub count: u32,
}

impl SourceRange {
    /// The address of phone `index`: round-robin over the range.
    pub fn address(&self, index: u32) -> Ipv4Addr {
        let offset = index.checked_rem(self.count).unwrap_or(0);
        Ipv4Addr::from(u32::from(self.first).wrapping_add(offset))
    }
}

/// Retries of one stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubled for each later one.
    pub base: Duration,
    /// Largest delay between attempts (also caps a server's Retry-After).
    pub max: Duration,
    /// Random share (0 to 1) added or taken off each delay, so phones that
    /// failed together do not retry together.
    pub jitter: f64,
}

impl Retry {
    /// The delay after failed attempt `attempt` (0-based), before jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// [`Retry::backoff`] with jitter applied, `draw` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, draw: f64) -> Duration {
        let d = self.backoff(attempt).as_secs_f64();
        let j = self.jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64((d * (1.0 - j + 2.0 * j * draw)).max(0.0))
    }
}

impl Default for Retry {
    /// 3 attempts, 1 s then 2 s, at most 30 s, ±20 %.
    fn default() -> Self {
        Retry {
            attempts: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

/// One stage's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageConfig {
    /// Whether the phone runs the stage; an off stage is recorded as
    /// skipped and its result, if any, comes from the configuration.
    pub enabled: bool,
    /// Limit on one attempt, connection set-up included.
    pub timeout: Duration,
    /// Retries.
    pub retry: Retry,
    /// Whether a phone whose every attempt at the stage failed stops
    /// there (true) or records the failures and goes on to the next stage
    /// (false). [`PhoneConfig::new`] lets only the stages of
    /// [`Stage::can_go_on_without`] go on (the update check): a phone that
    /// cannot reach the update service keeps its firmware and signs in,
    /// and on a Monday the pool's later services still get its load.
    pub required: bool,
}

impl Default for StageConfig {
    /// On, 30 s per attempt, [`Retry::default`], required.
    fn default() -> Self {
        StageConfig {
            enabled: true,
            timeout: Duration::from_secs(30),
            retry: Retry::default(),
            required: true,
        }
    }
}

/// DHCP retransmission (RFC 2131 section 4.1): the first wait is `first`,
/// doubled up to `max`, each randomised by ±`jitter`. RFC values are 4 s,
/// 64 s and 1 s; `scale` shrinks all three for a load test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DhcpRetransmit {
    /// First wait (RFC: 4 s).
    pub first: Duration,
    /// Longest wait (RFC: 64 s).
    pub max: Duration,
    /// Randomisation (RFC: ±1 s).
    pub jitter: Duration,
    /// Multiplier on the three above (default 0.25: 1 s, 2 s, ... ±0.25 s).
    pub scale: f64,
    /// Transmissions of one message before the attempt fails.
    pub tries: u32,
}

impl DhcpRetransmit {
    /// The wait after transmission `n` (0-based), `draw` in `[0, 1)`.
    pub fn wait(&self, n: u32, draw: f64) -> Duration {
        let base = self
            .first
            .saturating_mul(2u32.saturating_pow(n.min(16)))
            .min(self.max)
            .as_secs_f64();
        let j = self.jitter.as_secs_f64() * (2.0 * draw - 1.0);
        Duration::from_secs_f64(((base + j) * self.scale.max(0.0)).max(0.001))
    }
}

impl Default for DhcpRetransmit {
    fn default() -> Self {
        DhcpRetransmit {
            first: Duration::from_secs(4),
            max: Duration::from_secs(64),
            jitter: Duration::from_secs(1),
            scale: 0.25,
            tries: 4,
        }
    }
}

/// Where the phones' RSA keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `keys = "pool:N"`: N keys made at start, phone i uses key i mod N.
    /// Key generation is the costliest thing a phone does locally; a pool
    /// keeps the harness from measuring itself.
    Pool(u32),
    /// A fresh key per phone, as real phones do.
    Fresh,
}

/// How TLS sessions are resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCache {
    /// One store for all phones: later phones resume earlier phones'
    /// sessions (cheapest for the server; unlike real phones).
    Shared,
    /// A store per phone: a phone resumes only its own sessions, as a real
    /// phone does on its second connection to a server.
    PerPhone,
    /// No resumption: every handshake is full.
    Off,
}

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Session resumption (default per phone).
    pub session_cache: SessionCache,
    /// Largest TLS record buffer rustls may queue per connection while a
    /// phone holds its registration (keeps held phones small).
    pub buffer_limit: usize,
    /// Offer TLS 1.3 as well as 1.2 (default false: the Lync Phone Edition
    /// and 3PIP phones this models speak TLS 1.2 at most, and offering 1.3
    /// to a pool that stops at 1.2 costs a key share made for nothing).
    pub tls13: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            session_cache: SessionCache::PerPhone,
            buffer_limit: 16 * 1024,
            tls13: false,
        }
    }
}

/// The TLS versions a phone that stops at 1.2 offers.
const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// The TLS versions a phone that speaks 1.3 offers (1.3 preferred).
const UP_TO_TLS13: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

impl TlsSettings {
    /// The versions the phone offers outside the TLS-DSK tunnel (which is
    /// TLS 1.2 by [MS-SIPAE]).
    pub fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        if self.tls13 { UP_TO_TLS13 } else { TLS12_ONLY }
    }
}

/// Staying signed in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeepAlive {
    /// Keep the registration alive while held (default true). Off, the
    /// phone holds its connection silently: no keep-alives and no
    /// re-REGISTER, so the registrar's idle timeout or the expiry ends it,
    /// as on a phone whose keep-alive broke.
    pub enabled: bool,
    /// Send CRLF keep-alives at this share of the registrar's
    /// `ms-keep-alive` timeout (default 0.5: twice per timeout).
    pub share: f64,
    /// Used when the 200 OK names no timeout (default 300 s, the
    /// registrar's default).
    pub fallback_timeout: Duration,
    /// Re-REGISTER at this share of the granted expiry (default 0.8).
    pub refresh_share: f64,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            enabled: true,
            share: 0.5,
            fallback_timeout: Duration::from_secs(300),
            refresh_share: 0.8,
        }
    }
}

/// Everything phones of a run share.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// Where the pool is.
    pub target: Target,
    /// Per-stage settings, indexed by [`Stage::index`].
    pub stages: [StageConfig; 9],
    /// DHCP retransmission inside one attempt of `vlan` and `dhcp`.
    pub dhcp_retransmit: DhcpRetransmit,
    /// Wait for one DNS answer before asking again (default 1 s; three
    /// transmissions per question).
    pub dns_retransmit: Duration,
    /// The SOAP bodies that are not public.
    pub templates: TemplateSet,
    /// Key source (default a pool of 16).
    pub keys: KeySource,
    /// RSA key size in bits: 2048 (default), 3072 or 4096.
    pub key_bits: u32,
    /// Root chain to trust when `root_chain` is off (DER certificates).
    pub given_root_chain: Vec<Vec<u8>>,
    /// TLS settings.
    pub tls: TlsSettings,
    /// When set, phones' sockets bind to addresses of this range instead
    /// of their identity's source address (default none).
    pub sources: Option<SourceRange>,
    /// How long a phone stays signed in after its 200 OK (default zero:
    /// sign in and stop).
    pub hold: Duration,
    /// Whether to send `Expires: 0` at the end of the hold or on stop
    /// (default true).
    pub sign_out: bool,
    /// Keep-alive and refresh policy.
    pub keep_alive: KeepAlive,
    /// Expiry asked for in REGISTER (default none: the registrar's default).
    pub expires: Option<u32>,
    /// 301s followed before giving up (default 3).
    pub max_redirects: u32,
    /// Registrar candidates tried per attempt at most (default 8).
    pub max_candidates: usize,
    /// Largest SOAP answer read (default 1 MiB).
    pub max_body: usize,
    /// Whether a phone told to update downloads the image and starts over
    /// (default true; once per bootstrap).
    pub apply_updates: bool,
    /// How REGISTERs authenticate (default: TLS-DSK when offered).
    pub auth: crate::auth::AuthSettings,
    /// The NetBIOS domain NTLM signs users in to (default `CONTOSO`, the
    /// mock's).
    pub ntlm_domain: Box<str>,
    /// Whether calls made with the web ticket carry the signed proof of
    /// possession of its key (`wsse:Timestamp` signed with the proof key),
    /// as a pool whose policy asks for it requires (default true). Off
    /// sends the assertion alone, as a bearer token.
    pub sign_web_ticket: bool,
    /// Lifetime of that proof's timestamp (default 5 minutes).
    pub proof_lifetime: Duration,
}

impl PhoneConfig {
    /// Defaults for `target`, built-in templates.
    pub fn new(target: Target) -> Result<Self> {
        let mut stages = [StageConfig::default(); 9];
        // Stages that are one datagram exchange fail fast.
        for s in [Stage::Vlan, Stage::Dhcp, Stage::Ntp, Stage::Dns] {
            if let Some(c) = stages.get_mut(s.index()) {
                c.timeout = Duration::from_secs(10);
            }
        }
        for (c, s) in stages.iter_mut().zip(Stage::ALL) {
            c.required = !s.can_go_on_without();
        }
        Ok(PhoneConfig {
            target,
            stages,
            dhcp_retransmit: DhcpRetransmit::default(),
            dns_retransmit: Duration::from_secs(1),
            templates: TemplateSet::defaults()?,
            keys: KeySource::Pool(16),
            key_bits: 2048,
            given_root_chain: Vec::new(),
            tls: TlsSettings::default(),
            sources: None,
            hold: Duration::ZERO,
            sign_out: true,
            keep_alive: KeepAlive::default(),
            expires: None,
            max_redirects: 3,
            max_candidates: 8,
            auth: crate::auth::AuthSettings::default(),
            ntlm_domain: "CONTOSO".into(),
            max_body: 1 << 20,
            apply_updates: true,
            sign_web_ticket: true,
            proof_lifetime: Duration::from_secs(300),
        })
    }

    /// The settings of `stage`.
    pub fn stage(&self, stage: Stage) -> StageConfig {
        self.stages.get(stage.index()).copied().unwrap_or_default()
    }

    /// The settings of `stage`, to change.
    #[allow(clippy::indexing_slicing)] // one entry per stage: always in range
    pub fn stage_mut(&mut self, stage: Stage) -> &mut StageConfig {
        &mut self.stages[stage.index()]
    }

    /// Turns `stage` off.
    pub fn disable(&mut self, stage: Stage) -> &mut Self {
        self.stage_mut(stage).enabled = false;
        self
    }

    /// Checks what no phone could work with.
    pub fn validate(&self) -> Result<()> {
        if !matches!(self.key_bits, 2048 | 3072 | 4096) {
            return Err(Error::Config(format!(
                "key_bits is {}; rcgen makes 2048, 3072 or 4096",
                self.key_bits
            )));
        }
        if self.sources.is_some_and(|r| r.count == 0) {
            return Err(Error::Config("sources: the range is empty".into()));
        }
        if let KeySource::Pool(0) = self.keys {
            return Err(Error::Config("keys = \"pool:0\" has no keys".into()));
        }
        for s in Stage::ALL {
            let c = self.stage(s);
            if c.retry.attempts == 0 {
                return Err(Error::Config(format!("{s}: attempts must be at least 1")));
            }
            if c.timeout.is_zero() {
                return Err(Error::Config(format!("{s}: timeout must be more than 0")));
            }
        }
        if !self.stage(Stage::RootChain).enabled
            && self.given_root_chain.is_empty()
            && (self.stage(Stage::WebTicket).enabled || self.stage(Stage::Certificate).enabled)
        {
            return Err(Error::Config(
                "root_chain is off: give the chain (given_root_chain) for the web services".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let r = Retry {
            attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(5),
            jitter: 0.0,
        };
        let d: Vec<u64> = (0..5).map(|a| r.delay(a, 0.9).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 5, 5]);
        let j = Retry { jitter: 0.5, ..r };
        assert_eq!(j.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(j.delay(0, 0.5), Duration::from_secs(1));
    }

    #[test]
    fn source_range_wraps() {
        let r = SourceRange {
            first: Ipv4Addr::new(127, 0, 1, 254),
            count: 3,
        };
        let a: Vec<Ipv4Addr> = (0..4).map(|i| r.address(i)).collect();
        assert_eq!(
            a,
            [
                Ipv4Addr::new(127, 0, 1, 254),
                Ipv4Addr::new(127, 0, 1, 255),
                Ipv4Addr::new(127, 0, 2, 0),
                Ipv4Addr::new(127, 0, 1, 254)
            ]
        );
    }

    /// RFC 2131 section 4.1: 4 s, 8 s, 16 s, ... 64 s, each ±1 s.
    #[test]
    fn rfc2131_retransmission_schedule() {
        let r = DhcpRetransmit {
            scale: 1.0,
            ..DhcpRetransmit::default()
        };
        let mid: Vec<u64> = (0..6).map(|n| r.wait(n, 0.5).as_secs()).collect();
        assert_eq!(mid, [4, 8, 16, 32, 64, 64]);
        assert_eq!(r.wait(0, 0.0), Duration::from_secs(3));
        let quick = DhcpRetransmit::default();
        assert_eq!(quick.wait(0, 0.5), Duration::from_secs(1));
    }
}
