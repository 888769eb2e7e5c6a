//! From a scenario to phones: their identities, the configuration they
//! share, the embedded mock when the scenario names no pool, and the
//! launcher the run loop starts them with.
//!
//! This module owns the mapping from scenario keys to
//! `phonestorm_phone::PhoneConfig` and the phones' identities (model mix,
//! users, source addresses). It does not own the phones' behaviour, the
//! schedule or the recording.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use phonestorm_mockfe::{MockConfig, Running};
use phonestorm_phone::config::{
    HostPort, KeySource, Ports, Retry, SessionCache as PhoneCache, SourceRange,
    Target as PhoneTarget,
};
use phonestorm_phone::{Identity, Model, PhoneConfig, Shared, User};
use phonestorm_proto::soap::template::{TemplateKind, TemplateSet};

use crate::run::{Launcher, PhoneFuture};
use crate::scenario::{Keys, RegisterAuth, Scenario, SessionCache, Target};
use crate::users::{self, Users};
use crate::{Error, Result};

/// Everything a run's phones need, ready to launch.
pub struct Fleet {
    identities: Vec<Identity>,
    config: PhoneConfig,
    shared: Shared,
    mock: Option<Running>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("phones", &self.identities.len())
            .field("embedded_mock", &self.mock.is_some())
            .finish_non_exhaustive()
    }
}

fn setup(message: impl Into<String>) -> Error {
    Error::Setup(message.into())
}

impl Fleet {
    /// Prepares a scenario's phones: starts the embedded mock if the
    /// scenario names no pool, builds the phones' configuration and
    /// identities, and makes the key pool (off the async threads: it is the
    /// one costly step before a run).
    pub async fn prepare(s: &Scenario) -> Result<Fleet> {
        Self::prepare_with_progress(s, Arc::new(|_, _| {})).await
    }

    /// As [`Fleet::prepare`], calling `progress(made, of)` as the key pool
    /// fills (the one step before a run that takes a while).
    pub async fn prepare_with_progress(
        s: &Scenario,
        progress: Arc<dyn Fn(u32, u32) + Send + Sync>,
    ) -> Result<Fleet> {
        let (target, mock) = match &s.target {
            Target::Mock { config } => {
                let cfg = embedded_mock_config(s, config.as_deref())?;
                let mock = phonestorm_mockfe::start(cfg)
                    .await
                    .map_err(|e| setup(format!("embedded mock Front End: {e}")))?;
                (mock_target(&mock), Some(mock))
            }
            Target::Pool(p) => (pool_target(p)?, None),
        };
        let config = phone_config(s, target)?;
        let identities = identities(s, &config.target.sip_domain)?;
        let cfg_for_keys = config.clone();
        let shared =
            tokio::task::spawn_blocking(move || Shared::with_progress(&cfg_for_keys, &*progress))
                .await
                .map_err(|e| setup(format!("key pool: {e}")))?
                .map_err(|e| setup(format!("phones: {e}")))?;
        // Bind the relay agent's port 67 now, so a run that cannot fails
        // at once with the reason rather than with every phone's dhcp stage.
        if let Some(Err(e)) = shared.relay().await {
            return Err(setup(e));
        }
        Ok(Fleet {
            identities,
            config,
            shared,
            mock,
        })
    }

    /// Reads and checks what a run of `s` reads before it starts anything:
    /// the embedded mock's configuration, a given root chain, templates and
    /// the users file, each as the run would. Starts no mock and makes no
    /// key. `phonestorm validate` runs it, so a missing or broken file is
    /// found without a run.
    pub fn check(s: &Scenario) -> Result<()> {
        let target = match &s.target {
            Target::Mock { config } => {
                let cfg = embedded_mock_config(s, config.as_deref())?;
                // The mock's addresses are known only once it runs; the
                // phones' configuration takes any here.
                let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                PhoneTarget::new(any, any, &cfg.sip_domain)
            }
            Target::Pool(p) => pool_target(p)?,
        };
        let config = phone_config(s, target)?;
        identities(s, &config.target.sip_domain)?;
        Ok(())
    }

    /// The embedded mock, when the run uses it.
    pub fn mock(&self) -> Option<&Running> {
        self.mock.as_ref()
    }

    /// The phones' shared configuration.
    pub fn config(&self) -> &PhoneConfig {
        &self.config
    }

    /// Phone `index`'s identity.
    pub fn identity(&self, index: u32) -> Option<&Identity> {
        self.identities.get(index as usize)
    }

    /// What the phones share (TLS configurations, session caches, keys).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Gives phone `index` another user (`phonestorm bootstrap --ext --pin`).
    pub fn set_user(&mut self, index: u32, user: User) {
        if let Some(id) = self.identities.get_mut(index as usize) {
            id.user = user;
        }
    }

    /// The launcher that starts phone `i` of this fleet.
    pub fn launcher(self: &Arc<Self>) -> impl Launcher {
        let fleet = Arc::clone(self);
        move |phone,
              intended,
              recorder: Arc<dyn phonestorm_phone::Recorder>,
              gate: Arc<dyn phonestorm_phone::Gate>,
              stop|
              -> PhoneFuture {
            let fleet = Arc::clone(&fleet);
            Box::pin(async move {
                if let Some(id) = fleet.identities.get(phone as usize) {
                    let _ = phonestorm_phone::bootstrap(
                        id,
                        &fleet.config,
                        &fleet.shared,
                        intended,
                        &*recorder,
                        &*gate,
                        stop,
                    )
                    .await;
                }
            })
        }
    }

    /// Stops the embedded mock, if any.
    pub async fn shutdown(self) {
        if let Some(m) = self.mock {
            m.shutdown().await;
        }
    }
}

/// The embedded mock's configuration: its file or the defaults, with the
/// scenario's generated users' passwords, SIP prefix and NTLM domain, so
/// its directory knows what the phones sign in with.
fn embedded_mock_config(s: &Scenario, file: Option<&Path>) -> Result<MockConfig> {
    let mut cfg = match file {
        Some(path) => MockConfig::load(path).map_err(|e| setup(e.to_string()))?,
        None => MockConfig::default(),
    };
    if let Users::Generated {
        password,
        sip_prefix,
        ..
    } = &s.phones.users
    {
        cfg.users.password.clone_from(password);
        cfg.users.sip_prefix.clone_from(sip_prefix);
    }
    cfg.users.ntlm_domain.clone_from(&s.phones.ntlm_domain);
    if s.phones.count > cfg.users.count {
        return Err(setup(format!(
            "phones.count is {} but the embedded mock has {} users (users.count in its mockfe.toml)",
            s.phones.count, cfg.users.count
        )));
    }
    Ok(cfg)
}

/// A real pool as the phones reach it: the servers the scenario names,
/// the rest discovered.
fn pool_target(p: &crate::scenario::Pool) -> Result<PhoneTarget> {
    let dhcp = p
        .dhcp_server
        .unwrap_or(SocketAddr::new(p.dns_server.ip(), p.ports.dhcp));
    let mut t = PhoneTarget::new(dhcp, p.dns_server, &p.sip_domain);
    t.dhcp_relay = match p.dhcp_relay {
        None => None,
        Some(IpAddr::V4(a)) => Some(a),
        Some(IpAddr::V6(a)) => {
            return Err(setup(format!(
                "target.dhcp_relay = {a}: DHCPv4 relays need an IPv4 address"
            )));
        }
    };
    if let Some(r) = &p.registrar {
        t.registrars.push(host_port(r, p.ports.sip_tls)?);
    }
    if let Some(w) = &p.web_server {
        t.web_server = Some(host_port(w, p.ports.https)?);
    }
    t.ports = Ports {
        http: Some(p.ports.http),
        https: Some(p.ports.https),
        sntp: Some(p.ports.ntp),
        sip_tls: Some(p.ports.sip_tls),
        sip_tcp: Some(p.ports.sip_tcp),
    };
    Ok(t)
}

/// Where the embedded mock is: its bound ports replace the well-known
/// ones, and everything else is discovered as on a real network (DHCP
/// options, DNS SRV).
fn mock_target(m: &Running) -> PhoneTarget {
    let ep = &m.endpoints;
    let mut t = PhoneTarget::new(ep.dhcp, ep.dns, &ep.sip_domain);
    t.ports = Ports {
        http: Some(ep.http.port()),
        https: Some(ep.https.port()),
        sntp: Some(ep.sntp.port()),
        sip_tls: Some(ep.sip_tls.port()),
        sip_tcp: Some(ep.sip_tcp.port()),
    };
    t
}

/// `host[:port]`, with `default` when no port is given.
fn host_port(s: &str, default: u16) -> Result<HostPort> {
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => {
            let port = p
                .parse()
                .map_err(|_| setup(format!("{s}: the port is not a number from 1 to 65535")))?;
            Ok(HostPort::new(h, port))
        }
        _ => Ok(HostPort::new(s, default)),
    }
}

fn phone_config(s: &Scenario, mut target: PhoneTarget) -> Result<PhoneConfig> {
    // Given results that stand in for discovery.
    for (_, st) in &s.stages {
        if let Some(r) = &st.given.registrar {
            target.registrars.push(host_port(r, 5061)?);
        }
        if let (Some(w), None) = (&st.given.web_server, &target.web_server) {
            target.web_server = Some(host_port(w, target.ports.https.unwrap_or(443))?);
        }
        if let Some(u) = &st.given.update_server {
            target.update_server = Some(host_port(u, target.ports.https.unwrap_or(443))?);
        }
    }
    let mut c = PhoneConfig::new(target).map_err(|e| setup(e.to_string()))?;
    for (stage, st) in &s.stages {
        let pc = c.stage_mut(*stage);
        pc.enabled = st.enabled && st.given.root_chain.is_none() && st.given.vlan_id.is_none();
        pc.timeout = st.timeout;
        pc.retry = Retry {
            attempts: st.retry.attempts,
            base: st.retry.backoff,
            max: st.retry.backoff_max,
            jitter: st.retry.jitter,
        };
        pc.required = st.required;
        if let Some(pem) = &st.given.root_chain {
            c.given_root_chain = read_pem_chain(pem)?;
        }
    }
    c.keys = match s.phones.keys {
        Keys::Pool(n) => KeySource::Pool(n),
        Keys::Fresh => KeySource::Fresh,
    };
    c.key_bits = s.phones.key_bits;
    c.tls.tls13 = s.tls_max == crate::scenario::TlsVersion::V13;
    c.tls.session_cache = match s.session_cache {
        SessionCache::Shared => PhoneCache::Shared,
        SessionCache::PerPhone => PhoneCache::PerPhone,
        SessionCache::Off => PhoneCache::Off,
    };
    c.sources = source_range(s.phones.source_addresses)?;
    if let Some(range) = c.sources.filter(|r| is_bound(*r)) {
        sources_are_here(range, s.phones.count)?;
    }
    c.hold = s.hold.duration;
    c.sign_out = s.hold.sign_out;
    c.keep_alive.enabled = s.hold.keep_alives;
    c.auth.mode = match s.register_auth {
        RegisterAuth::Auto => phonestorm_phone::AuthMode::Auto,
        RegisterAuth::TlsDsk => phonestorm_phone::AuthMode::TlsDsk,
        RegisterAuth::Certificate => phonestorm_phone::AuthMode::Certificate,
        RegisterAuth::Ntlm => phonestorm_phone::AuthMode::Ntlm,
        RegisterAuth::Digest => phonestorm_phone::AuthMode::Digest,
    };
    c.ntlm_domain = s.phones.ntlm_domain.as_str().into();
    if let Some(dir) = &s.templates {
        c.templates = templates(dir)?;
    }
    c.validate().map_err(|e| setup(e.to_string()))?;
    Ok(c)
}

fn source_range((first, last): (IpAddr, IpAddr)) -> Result<Option<SourceRange>> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(b) >= u32::from(a) => {
            // The whole IPv4 space is one more than a u32 counts.
            let count = (u32::from(b) - u32::from(a)).checked_add(1).ok_or_else(|| {
                setup(format!(
                    "phones.source_addresses {first}-{last}: the whole IPv4 space; name this machine's addresses"
                ))
            })?;
            Ok(Some(SourceRange { first: a, count }))
        }
        _ => Err(setup(format!(
            "phones.source_addresses {first}-{last}: an IPv4 range, first address first"
        ))),
    }
}

/// Whether phones bind `range`'s addresses before connecting; `0.0.0.0`
/// alone means the system picks for each connection.
fn is_bound(range: SourceRange) -> bool {
    !(range.first.is_unspecified() && range.count == 1)
}

/// How many source addresses the scenario's phones bind before
/// connecting (`None`: the system picks, or the range is not valid, which
/// loading the fleet reports).
pub fn bound_sources(s: &Scenario) -> Option<u32> {
    source_range(s.phones.source_addresses)
        .ok()
        .flatten()
        .filter(|r| is_bound(*r))
        .map(|r| r.count)
}

/// Every source address the phones will use (the range's first `phones`
/// at most: they take it round-robin) is one of this machine's: a phone
/// bound to any other fails every stage, which is the scenario's mistake
/// and not the pool's, so it is said before the run.
fn sources_are_here(range: SourceRange, phones: u32) -> Result<()> {
    let first = u32::from(range.first);
    for i in 0..range.count.min(phones) {
        let addr = Ipv4Addr::from(first.wrapping_add(i));
        // Only "not this machine's" is the scenario's fault; any other
        // refusal (no descriptor left) would recur in the run and is
        // reported there.
        if let Err(e) = std::net::UdpSocket::bind((addr, 0))
            && e.kind() == std::io::ErrorKind::AddrNotAvailable
        {
            let last = Ipv4Addr::from(first.wrapping_add(range.count - 1));
            return Err(setup(format!(
                "phones.source_addresses {}-{last}: {addr} is not an address of this machine ({e}); add it to an interface or narrow the range",
                range.first
            )));
        }
    }
    Ok(())
}

/// Templates from a directory: a file named as a template kind replaces
/// that built-in body; others keep the default.
fn templates(dir: &Path) -> Result<TemplateSet> {
    // A mistyped directory would otherwise leave every body the built-in
    // one without a word, which against a real pool is the one mistake
    // the key exists to avoid.
    if !dir.is_dir() {
        return Err(setup(format!(
            "templates: {} is not a directory",
            dir.display()
        )));
    }
    let mut set = TemplateSet::defaults().map_err(|e| setup(e.to_string()))?;
    for kind in TemplateKind::ALL {
        let path = dir.join(kind.file_name());
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            set = set
                .with_override(kind, &text)
                .map_err(|e| setup(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(set)
}

/// The DER certificates of a PEM file.
fn read_pem_chain(path: &Path) -> Result<Vec<Vec<u8>>> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    let mut b64: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            b64 = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let body = b64.take().unwrap_or_default();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|e| {
                    setup(format!(
                        "{}: bad base64 in a certificate: {e}",
                        path.display()
                    ))
                })?;
            out.push(der);
        } else if let Some(b) = b64.as_mut() {
            b.push_str(line);
        }
    }
    if out.is_empty() {
        return Err(setup(format!(
            "{}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(out)
}

/// One identity per phone: model by the scenario's weights (spread evenly,
/// so any prefix of the run has the same mix), user by index, source
/// address round-robin over the range.
fn identities(s: &Scenario, sip_domain: &str) -> Result<Vec<Identity>> {
    let mut models: Vec<(Model, u32)> = Vec::new();
    for (name, weight) in &s.phones.models {
        let m = Model::from_name(name)
            .ok_or_else(|| setup(format!("phones.models: no model named {name}")))?;
        models.push((m, *weight));
    }
    if models.is_empty() {
        models.push((Model::Cx600, 1));
    }
    let total: u64 = models
        .iter()
        .map(|(_, w)| u64::from(*w))
        .sum::<u64>()
        .max(1);
    let csv = match &s.phones.users {
        Users::Csv(path) => Some(users::load_csv(path)?),
        Users::Generated { .. } => None,
    };
    let range = source_range(s.phones.source_addresses)?.unwrap_or(SourceRange {
        first: Ipv4Addr::LOCALHOST,
        count: 1,
    });
    let mut out = Vec::with_capacity(s.phones.count as usize);
    for i in 0..s.phones.count {
        // Weighted round-robin by position in a cycle of `total` slots.
        let slot = (u64::from(i) * 7919) % total;
        let mut acc = 0u64;
        let mut model = Model::Cx600;
        for (m, w) in &models {
            acc += u64::from(*w);
            if slot < acc {
                model = *m;
                break;
            }
        }
        let user = match &csv {
            Some(list) => list.get(i as usize).cloned().ok_or_else(|| {
                setup(format!(
                    "phones.count is {} but the users file has {} users",
                    s.phones.count,
                    list.len()
                ))
            })?,
            None => s
                .phones
                .users
                .generated(i)
                .ok_or_else(|| setup(format!("user {i}: the generated range overflows")))?,
        };
        // A phone that signs in with a password skips ResolveUser (NTLM
        // runs no web stages; Digest registrars know no PIN), so a
        // generated user's SIP address is given to it, as a CX700 user
        // types it at sign-in.
        let by_password = matches!(s.register_auth, RegisterAuth::Ntlm | RegisterAuth::Digest)
            || (s.register_auth == RegisterAuth::Auto && model.is_tanjay());
        let sip_uri = match user.sip_uri {
            Some(u) => Some(u),
            None if by_password => s.phones.users.generated_sip_uri(i, sip_domain),
            None => None,
        };
        let user = User {
            sip_uri: sip_uri.map(String::into_boxed_str),
            number: user.number.into_boxed_str(),
            pin: user.pin.into_boxed_str(),
            password: user.password.into_boxed_str(),
        };
        out.push(Identity::generated(i, model, user, range.address(i)));
    }
    Ok(out)
}
