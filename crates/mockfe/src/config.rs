//! The mock Front End's configuration: `mockfe.toml`.
//!
//! Every knob has a default that models one Front End of a Skype for
//! Business Server 2015 pool; `mockfe.toml` at the repository root documents
//! each one and where its figure came from. This module owns the schema,
//! its defaults and its validation; it does not own what the services do
//! with the values.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Deserialize;

use crate::capacity::{Capacity, ServiceTime};
use crate::{Error, Result};

/// The whole mock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// The SIP domain users sign in to.
    pub sip_domain: String,
    /// The pool FQDN: registrar SRV target and web services host.
    pub pool_fqdn: String,
    /// The Front Ends of the pool. Users are homed round-robin across them;
    /// with more than one, a REGISTER reaching the wrong one gets a 301.
    pub front_ends: Vec<String>,
    /// The address every service binds (ephemeral ports).
    pub listen: IpAddr,
    /// Highest TLS version the web services and the registrar accept.
    pub tls_max: TlsVersion,
    /// DHCP server.
    pub dhcp: DhcpConfig,
    /// DNS server.
    pub dns: DnsConfig,
    /// SNTP server.
    pub sntp: SntpConfig,
    /// Web services (device update, root chain, web ticket, certificates).
    pub web: WebConfig,
    /// SIP registrar.
    pub registrar: RegistrarConfig,
    /// The pool's shared back-end store (SQL).
    pub backend: BackendConfig,
    /// The user directory.
    pub users: UsersConfig,
}

/// Fault knobs, per service. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Stop serving for `for` every `every` (a GC pause, a failover).
    pub pause: Option<Pause>,
    /// Share of datagrams silently dropped (UDP services), 0 to 1.
    pub drop: f64,
    /// Share of connections reset instead of answered (TCP services), 0 to 1.
    pub reset: f64,
    /// Extra delay added to every answer, outside the capacity model.
    #[serde(with = "humantime_serde")]
    pub slow: Option<Duration>,
    /// Share of answers replaced by garbage bytes, 0 to 1.
    pub garbage: f64,
}

/// A scheduled pause: serve nothing for `for` at the start of every
/// `every`-long period, counted from the mock's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// The period.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// How long each pause lasts.
    #[serde(rename = "for", with = "humantime_serde")]
    pub for_: Duration,
}

impl Pause {
    /// When a request that wants a worker at `now` may start: `now` outside
    /// a pause, the pause's end inside one.
    pub fn resumes_at(
        &self,
        epoch: tokio::time::Instant,
        now: tokio::time::Instant,
    ) -> tokio::time::Instant {
        let every = self.every.as_nanos();
        if every == 0 || self.for_.is_zero() {
            return now;
        }
        let phase = now.saturating_duration_since(epoch).as_nanos() % every;
        let pause = self.for_.as_nanos();
        if phase < pause {
            // phase < pause <= u64::MAX ns in practice; saturate rather than panic.
            let left = u64::try_from(pause - phase).unwrap_or(u64::MAX);
            now + Duration::from_nanos(left)
        } else {
            now
        }
    }
}

fn capacity(workers: usize, queue: usize, service_time: ServiceTime) -> Capacity {
    Capacity {
        workers,
        queue,
        service_time,
    }
}

fn lognormal(mean_ms: u64, spread_ms: u64) -> ServiceTime {
    ServiceTime::Lognormal {
        mean: Duration::from_millis(mean_ms),
        spread: Duration::from_millis(spread_ms),
    }
}

/// DHCP server settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhcpConfig {
    /// First address of the lease pool. The default range lies in
    /// 198.18.0.0/15 (RFC 2544 benchmarking space): leases are bookkeeping,
    /// never traffic destinations.
    pub pool_start: Ipv4Addr,
    /// Number of addresses in the lease pool.
    pub pool_size: u32,
    /// Subnet mask handed out (option 1).
    pub subnet_mask: Ipv4Addr,
    /// Router handed out (option 3).
    pub router: Ipv4Addr,
    /// Lease time (option 51).
    #[serde(with = "humantime_serde")]
    pub lease_time: Duration,
    /// Voice VLAN for vendor class `CPE-OCPHONE` (option 43 sub-option 10).
    pub voice_vlan: Option<u16>,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// DNS server settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// TTL of every record.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// SNTP server settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SntpConfig {
    /// Advertise the time server: DHCP option 42 and the
    /// `_ntp._udp.<domain>` SRV record. Without either, phones have no time
    /// server to ask.
    pub published: bool,
    /// Stratum announced (a domain controller is usually 2 to 4).
    pub stratum: u8,
    /// Seconds the served time is off from the system clock (negative:
    /// behind), to model a domain controller with a wrong clock; phones
    /// take it as theirs, so their WS-Security timestamps go stale.
    pub clock_offset_secs: i64,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// Web services settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Device Update service.
    pub update: UpdateConfig,
    /// Anonymous root-chain download.
    pub root_chain: ServiceConfig,
    /// Web Ticket service (PIN authentication).
    pub web_ticket: WebTicketConfig,
    /// Certificate Provisioning (`ResolveUser`, `GetAndPublishCert`).
    pub certificate: CertificateConfig,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Read timeout for a request's head and body.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
}

/// Capacity and faults of a service with no other settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// Device Update service settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    /// Publish `ucupdates-r2.<domain>` in the mock's DNS. A pool need not
    /// (the record serves updates before sign-in only): without it phones
    /// skip the update check.
    pub dns_record: bool,
    /// Share of phones (0 to 1) told to update, per model name; models not
    /// listed are told there is no update.
    pub update_share: std::collections::BTreeMap<String, f64>,
    /// The version offered to those phones.
    pub offer_version: String,
    /// Size of the generated firmware image served over plain HTTP.
    pub image_bytes: u64,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// Web Ticket service settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebTicketConfig {
    /// Whether PIN authentication is enabled for the pool.
    pub pin_auth: bool,
    /// Wrong PINs in a row before a user is locked out.
    pub lockout_after: u32,
    /// Lifetime of a web ticket.
    #[serde(with = "humantime_serde")]
    pub ticket_lifetime: Duration,
    /// Whether later calls must sign with the ticket's proof key.
    pub require_signed_proof: bool,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// Certificate Provisioning settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificateConfig {
    /// Validity of issued user certificates (Lync default 4320 h; 8 to 8760).
    #[serde(with = "humantime_serde")]
    pub validity: Duration,
    /// Smallest RSA key accepted in a CSR, in bits.
    pub min_key_bits: u32,
    /// Largest RSA key accepted in a CSR, in bits.
    pub max_key_bits: u32,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// Registrar settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrarConfig {
    /// Registration lifetime granted when the phone asks for none.
    #[serde(with = "humantime_serde")]
    pub default_expires: Duration,
    /// Shortest lifetime granted.
    #[serde(with = "humantime_serde")]
    pub min_expires: Duration,
    /// Longest lifetime granted.
    #[serde(with = "humantime_serde")]
    pub max_expires: Duration,
    /// ms-keep-alive timeout announced; idle connections close after it.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// Endpoints one user may register at once.
    pub max_endpoints: usize,
    /// How a REGISTER authenticates.
    pub auth: RegistrarAuth,
    /// Longest life of a TLS-DSK security association; the client
    /// certificate's expiry shortens it ([MS-SIPAE] 3.2.2: the lesser of the
    /// certificate's expiry and eight hours).
    #[serde(with = "humantime_serde")]
    pub sa_lifetime: Duration,
    /// The hash of `auth = "digest"` challenges.
    pub digest_algorithm: DigestAlgorithm,
    /// How long a Digest nonce stays good; a request with an older one
    /// gets a fresh challenge with `stale=true` (RFC 7616 section 3.3).
    #[serde(with = "humantime_serde")]
    pub nonce_lifetime: Duration,
    /// Fault: sign every answer under an SA wrongly (a bad `rspauth`), so a
    /// test proves phones refuse a registrar they cannot trust.
    pub bad_rspauth: bool,
    /// Capacity model.
    pub capacity: Capacity,
    /// Fault knobs.
    pub faults: Faults,
}

/// A highest TLS version, as `mockfe.toml` (`tls_max`) and scenarios
/// (`tls.max_version`) name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2: as far as Schannel goes on Windows Server 2012 R2 to 2019,
    /// where Skype for Business Server 2015 and 2019 run, and as far as
    /// Lync Phone Edition and the 3PIP phones go.
    #[default]
    #[serde(rename = "1.2")]
    V12,
    /// TLS 1.3 as well (Schannel from Windows Server 2022 on; newer phones).
    #[serde(rename = "1.3")]
    V13,
}

/// The hash of the registrar's Digest challenges (RFC 7616 section 3.3,
/// RFC 8760 for SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum DigestAlgorithm {
    /// `MD5`, what every SIP client speaks.
    #[default]
    #[serde(rename = "MD5")]
    Md5,
    /// `SHA-256` (RFC 8760).
    #[serde(rename = "SHA-256")]
    Sha256,
}

/// How the registrar authenticates a REGISTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrarAuth {
    /// [MS-SIPAE] TLS-DSK, as a Lync / Skype for Business pool runs it: a
    /// TLS handshake with the user certificate tunnelled in `gssapi-data`,
    /// then every request and answer signed.
    #[default]
    TlsDsk,
    /// The TLS client certificate of the SIP connection alone, as a
    /// standard registrar (Kamailio with client-certificate checks) does:
    /// a verified certificate naming the From URI gets 200 at once.
    Certificate,
    /// [MS-SIPAE] NTLM only (connectionless NTLMv2, then every message
    /// signed), with the directory's passwords.
    Ntlm,
    /// RFC 3261 section 22.4 Digest only, as a standard registrar
    /// challenges; the hash is `digest_algorithm`.
    Digest,
}

/// The shared back-end store.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Capacity model of the store, used by certificate publishing and by a
    /// user's first registration.
    pub capacity: Capacity,
}

/// The generated user directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersConfig {
    /// Number of users.
    pub count: u32,
    /// Phone number of the first user, E.164 without `+`; user n gets
    /// `first_number + n`.
    pub first_number: u64,
    /// Digits of the number that form the extension (the pool's
    /// normalisation rules accept either).
    pub extension_digits: u32,
    /// PIN of every generated user.
    pub pin: String,
    /// SIP URI user part prefix: user n is `<prefix><n>@<sip_domain>`.
    pub sip_prefix: String,
    /// Password of the generated users: `{n}` stands for the user's index,
    /// so every user has its own (NTLM and Digest check it).
    pub password: String,
    /// The NetBIOS domain of the users' NTLM accounts; their NTLM user
    /// name is their SIP user part (`<prefix><n>`).
    pub ntlm_domain: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            sip_domain: "contoso.com".into(),
            pool_fqdn: "pool01.contoso.com".into(),
            front_ends: vec!["fe01.contoso.com".into()],
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tls_max: TlsVersion::default(),
            dhcp: DhcpConfig::default(),
            dns: DnsConfig::default(),
            sntp: SntpConfig::default(),
            web: WebConfig::default(),
            registrar: RegistrarConfig::default(),
            backend: BackendConfig::default(),
            users: UsersConfig::default(),
        }
    }
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            pool_start: Ipv4Addr::new(198, 18, 16, 1),
            pool_size: 200_000,
            subnet_mask: Ipv4Addr::new(255, 254, 0, 0),
            router: Ipv4Addr::new(198, 18, 0, 1),
            lease_time: Duration::from_secs(8 * 3600),
            voice_vlan: Some(100),
            capacity: capacity(4, 2000, lognormal(1, 1)),
            faults: Faults::default(),
        }
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            ttl: Duration::from_secs(3600),
            capacity: capacity(4, 5000, lognormal(1, 1)),
            faults: Faults::default(),
        }
    }
}

impl Default for SntpConfig {
    fn default() -> Self {
        SntpConfig {
            published: true,
            stratum: 3,
            clock_offset_secs: 0,
            capacity: capacity(
                4,
                5000,
                ServiceTime::Fixed {
                    mean: Duration::ZERO,
                },
            ),
            faults: Faults::default(),
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            capacity: capacity(16, 2000, lognormal(5, 3)),
            faults: Faults::default(),
        }
    }
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            dns_record: true,
            update_share: Default::default(),
            offer_version: "4.0.7577.4463".into(),
            image_bytes: 16 * 1024 * 1024,
            capacity: capacity(16, 2000, lognormal(10, 5)),
            faults: Faults::default(),
        }
    }
}

impl Default for WebTicketConfig {
    fn default() -> Self {
        WebTicketConfig {
            pin_auth: true,
            lockout_after: 10,
            ticket_lifetime: Duration::from_secs(8 * 3600),
            require_signed_proof: true,
            capacity: capacity(12, 2000, lognormal(30, 20)),
            faults: Faults::default(),
        }
    }
}

impl Default for CertificateConfig {
    fn default() -> Self {
        CertificateConfig {
            validity: Duration::from_secs(4320 * 3600),
            min_key_bits: 1024,
            max_key_bits: 4096,
            capacity: capacity(8, 2000, lognormal(40, 25)),
            faults: Faults::default(),
        }
    }
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            default_expires: Duration::from_secs(600),
            min_expires: Duration::from_secs(300),
            max_expires: Duration::from_secs(900),
            keepalive_timeout: Duration::from_secs(300),
            max_endpoints: 8,
            auth: RegistrarAuth::TlsDsk,
            sa_lifetime: Duration::from_secs(8 * 3600),
            digest_algorithm: DigestAlgorithm::Md5,
            nonce_lifetime: Duration::from_secs(300),
            bad_rspauth: false,
            capacity: capacity(16, 5000, lognormal(4, 3)),
            faults: Faults::default(),
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            capacity: capacity(8, 4000, lognormal(50, 40)),
        }
    }
}

/// The generated users' password pattern (`{n}`: the user's index); the
/// scenario's default is the same, so the embedded mock and its phones
/// agree without configuration.
pub const DEFAULT_PASSWORD: &str = "Storm-{n}!";

/// The generated users' NTLM domain.
pub const DEFAULT_NTLM_DOMAIN: &str = "CONTOSO";

impl Default for UsersConfig {
    fn default() -> Self {
        UsersConfig {
            count: 100_000,
            first_number: 14_255_550_000,
            extension_digits: 5,
            pin: "13579".into(),
            sip_prefix: "user".into(),
            password: DEFAULT_PASSWORD.into(),
            ntlm_domain: DEFAULT_NTLM_DOMAIN.into(),
        }
    }
}

impl WebConfig {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.max_body == 0 {
            return Err("web.max_body must be more than 0".into());
        }
        let c = &self.certificate;
        let hours = c.validity.as_secs() / 3600;
        if !(8..=8760).contains(&hours) {
            return Err(format!(
                "web.certificate.validity is {hours} h; a pool accepts 8 h to 8760 h"
            ));
        }
        if c.min_key_bits > c.max_key_bits {
            return Err("web.certificate.min_key_bits is larger than max_key_bits".into());
        }
        Ok(())
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            update: UpdateConfig::default(),
            root_chain: ServiceConfig::default(),
            web_ticket: WebTicketConfig::default(),
            certificate: CertificateConfig::default(),
            max_body: 256 * 1024,
            read_timeout: Duration::from_secs(10),
        }
    }
}

impl MockConfig {
    /// Parses a configuration from TOML text; `path` names it in errors.
    pub fn from_toml(path: &str, text: &str) -> Result<Self> {
        let cfg: MockConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: toml_error_message(text, &e),
        })?;
        cfg.validate().map_err(|message| Error::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(cfg)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&shown, &text)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.front_ends.is_empty() {
            return Err("front_ends must name at least one Front End".into());
        }
        if self.users.count == 0 {
            return Err("users.count must be at least 1".into());
        }
        let r = &self.registrar;
        if r.min_expires > r.max_expires {
            return Err("registrar.min_expires is larger than registrar.max_expires".into());
        }
        if r.max_endpoints == 0 {
            return Err("registrar.max_endpoints must be at least 1".into());
        }
        for (name, f) in self.faults() {
            for (knob, v) in [("drop", f.drop), ("reset", f.reset), ("garbage", f.garbage)] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(format!(
                        "{name}.faults.{knob} is {v}; a share lies between 0 and 1"
                    ));
                }
            }
        }
        for (name, share) in &self.web.update.update_share {
            if !(0.0..=1.0).contains(share) {
                return Err(format!(
                    "web.update.update_share.{name} is {share}; a share lies between 0 and 1"
                ));
            }
        }
        self.web.validate()
    }

    fn faults(&self) -> [(&'static str, &Faults); 8] {
        [
            ("dhcp", &self.dhcp.faults),
            ("dns", &self.dns.faults),
            ("sntp", &self.sntp.faults),
            ("web.update", &self.web.update.faults),
            ("web.root_chain", &self.web.root_chain.faults),
            ("web.web_ticket", &self.web.web_ticket.faults),
            ("web.certificate", &self.web.certificate.faults),
            ("registrar", &self.registrar.faults),
        ]
    }
}

/// `line L, column C: message` from a toml error, so a user can find the
/// spot in one line.
fn toml_error_message(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_owned();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_parses_and_matches_defaults() {
        let text = include_str!("../../../mockfe.toml");
        let cfg = MockConfig::from_toml("mockfe.toml", text).unwrap();
        assert_eq!(cfg, MockConfig::default());
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = MockConfig::from_toml("x.toml", "sip_domain = \"a\"\n[registrar]\nexpire = 5\n")
            .unwrap_err();
        let s = err.to_string();
        assert!(s.starts_with("x.toml: line 3, column 1:"), "{s}");
        assert!(s.contains("expire"), "{s}");
    }

    #[test]
    fn share_out_of_range_is_refused() {
        let err = MockConfig::from_toml("x.toml", "[dns.faults]\ndrop = 1.5\n").unwrap_err();
        assert!(err.to_string().contains("dns.faults.drop is 1.5"), "{err}");
    }

    #[test]
    fn pause_windows() {
        let p = Pause {
            every: Duration::from_secs(5),
            for_: Duration::from_secs(1),
        };
        let epoch = tokio::time::Instant::now();
        let at = |ms| epoch + Duration::from_millis(ms);
        assert_eq!(p.resumes_at(epoch, at(0)), at(1000));
        assert_eq!(p.resumes_at(epoch, at(999)), at(1000));
        assert_eq!(p.resumes_at(epoch, at(1000)), at(1000));
        assert_eq!(p.resumes_at(epoch, at(4999)), at(4999));
        assert_eq!(p.resumes_at(epoch, at(5300)), at(6000));
    }
}
