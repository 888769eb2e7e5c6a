//! The scenario file: what to run, against what, how hard, and what counts
//! as passing.
//!
//! Two layers, as ripgrep does it with its flags: `*Toml` structs mirror
//! the file exactly (serde, `deny_unknown_fields`, [`Spanned`] where a
//! later check needs to point at the key), then [`Scenario`] holds the
//! validated, typed settings the run uses. Every key is documented here
//! and in `scenarios/REFERENCE.md`; keep the two in step. Paths in the file
//! are relative to the file's folder. Reading CSV files named by the
//! scenario (users, arrival curve) happens later, in [`crate::users`] and
//! [`Arrival::profile`], so parsing a scenario touches one file only.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use phonestorm_phone::Stage;
use serde::Deserialize;
use toml::Spanned;

use crate::abort::AbortRule;
use crate::error::{Error, Result};
use crate::schedule::{self, Profile, Spacing, Step};
use crate::source::{self, Locator};
use crate::thresholds::Threshold;
use crate::users::Users;

/// Phone models a scenario may name in `phones.models`.
pub const MODELS: [&str; 8] = [
    "cx500",
    "cx600",
    "cx700",
    "cx3000",
    "aastra6721ip",
    "aastra6725ip",
    "hp4110",
    "hp4120",
];

// ---------------------------------------------------------------- file layer

type S<T> = Option<Spanned<T>>;

/// An arrival key, where it is (if present), and the profiles taking it.
type ProfileKey<'a> = (&'a str, Option<std::ops::Range<usize>>, &'a [ProfileKind]);

/// The file, key for key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioToml {
    /// Free text shown in the report and progress line.
    name: Option<String>,
    /// Folder of SOAP/SIP message templates overriding the built-in ones.
    templates: Option<String>,
    /// What to sign in to (absent: the embedded mock).
    target: Option<TargetToml>,
    /// Who signs in.
    phones: PhonesToml,
    /// When phones arrive.
    arrival: ArrivalToml,
    /// Rate and concurrency limits.
    limits: Option<LimitsToml>,
    /// Per-stage switches, timeouts, retries and given results.
    stages: Option<StagesToml>,
    /// What a phone does once signed in.
    hold: Option<HoldToml>,
    /// TLS behaviour.
    tls: Option<TlsToml>,
    /// `"<stage|signin>.<metric>" = "<op> <value>"` pass/fail rules.
    thresholds: Option<BTreeMap<String, Spanned<String>>>,
    /// Stop early when sign-ins fail too often.
    abort: Option<AbortToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetToml {
    /// `true`: the embedded mock Front End; `false`: a real pool.
    mock: S<bool>,
    /// mockfe.toml for the embedded mock (absent: the mock's defaults).
    mock_config: S<String>,
    /// DHCP server of the real pool's network, `ip[:port]`.
    dhcp_server: S<String>,
    /// Our relay-agent address (giaddr) the DHCP server answers to.
    dhcp_relay: S<String>,
    /// DNS server, `ip[:port]`.
    dns_server: S<String>,
    /// The SIP domain users sign in to.
    sip_domain: S<String>,
    /// Registrar `host[:port]`, skipping its discovery.
    registrar: S<String>,
    /// Web services host (CertProv, WebTicket), skipping its discovery.
    web_server: S<String>,
    /// Port overrides.
    ports: Option<PortsToml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortsToml {
    /// DHCP server port (67).
    dhcp: Option<u16>,
    /// DNS port (53).
    dns: Option<u16>,
    /// SNTP port (123).
    ntp: Option<u16>,
    /// Anonymous HTTP, root chain download (80).
    http: Option<u16>,
    /// HTTPS web services (443).
    https: Option<u16>,
    /// SIP over TLS (5061).
    sip_tls: Option<u16>,
    /// SIP over TCP (5060).
    sip_tcp: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhonesToml {
    /// How many phones.
    count: Spanned<u32>,
    /// Model mix: `{ cx600 = 3, hp4120 = 1 }` (weights).
    models: Option<BTreeMap<String, Spanned<u32>>>,
    /// Users: generated range or CSV.
    users: Option<UsersToml>,
    /// Local addresses phones send from: `a.b.c.d-a.b.c.e` or one address.
    source_addresses: S<String>,
    /// `"pool:N"` (N keys shared round-robin) or `"fresh"` (one per phone).
    keys: S<String>,
    /// RSA key size.
    key_bits: S<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersToml {
    /// Generated users: user n has number `first_number + n`.
    first_number: S<u64>,
    /// Sign in with this many trailing digits (0: the full number).
    extension_digits: S<u32>,
    /// Every generated user's PIN.
    pin: S<String>,
    /// Generated users' password pattern (`{n}`: the user's index).
    password: S<String>,
    /// Generated users' SIP user part prefix (user n is `<prefix><n>`).
    sip_prefix: S<String>,
    /// The NTLM domain of every user (generated or CSV).
    ntlm_domain: S<String>,
    /// Or: a `number,pin[,sip_uri[,password]]` CSV file instead of
    /// generated users.
    csv: S<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ProfileKind {
    Constant,
    Ramp,
    Steps,
    Spike,
    AllAtOnce,
    Curve,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrivalToml {
    /// constant, ramp, steps, spike, all_at_once or curve.
    profile: Spanned<ProfileKind>,
    /// constant: phones per second.
    rate: S<f64>,
    /// ramp: phones per second at the start.
    from: S<f64>,
    /// ramp: phones per second at the end and after.
    to: S<f64>,
    /// ramp: length of the ramp.
    over: S<String>,
    /// steps: `[{ rate, duration }, …]`, the last lasting until all arrived.
    steps: S<Vec<StepToml>>,
    /// spike: phones per second outside the spike.
    base_rate: S<f64>,
    /// spike: phones per second during the spike.
    peak_rate: S<f64>,
    /// spike: when the spike starts.
    at: S<String>,
    /// spike: how long it lasts.
    duration: S<String>,
    /// all_at_once: spread arrivals over this window (default 0s).
    within: S<String>,
    /// curve: CSV of `minute,phones` (phones per minute).
    curve: S<String>,
    /// uniform (default) or poisson.
    spacing: Option<Spacing>,
    /// RNG seed (default 1).
    seed: Option<u64>,
    /// Time compression factor (60: an hour's profile in a minute).
    compression: S<f64>,
    /// No arrivals after this much run time.
    max_duration: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepToml {
    /// Phones per second during the step.
    rate: Spanned<f64>,
    /// How long the step lasts.
    duration: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsToml {
    /// Global cap on sign-ins started per second.
    signins_per_second: S<f64>,
    /// Burst allowed by every limiter (default 1).
    burst: S<u32>,
    /// Phones running at once.
    max_concurrent: S<u32>,
    /// Attempts per second for individual stages.
    stages: Option<PerStageToml<Spanned<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerStageToml<T> {
    vlan: Option<T>,
    dhcp: Option<T>,
    ntp: Option<T>,
    dns: Option<T>,
    update: Option<T>,
    root_chain: Option<T>,
    web_ticket: Option<T>,
    certificate: Option<T>,
    register: Option<T>,
}

impl<T> PerStageToml<T> {
    fn into_vec(self) -> Vec<(Stage, Option<T>)> {
        vec![
            (Stage::Vlan, self.vlan),
            (Stage::Dhcp, self.dhcp),
            (Stage::Ntp, self.ntp),
            (Stage::Dns, self.dns),
            (Stage::Update, self.update),
            (Stage::RootChain, self.root_chain),
            (Stage::WebTicket, self.web_ticket),
            (Stage::Certificate, self.certificate),
            (Stage::Register, self.register),
        ]
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StagesToml {
    /// Default per-attempt timeout (10s).
    timeout: S<String>,
    /// Default retry policy.
    retry: Option<RetryToml>,
    // One optional table per stage, as in [`StageToml`].
    vlan: Option<StageToml>,
    dhcp: Option<StageToml>,
    ntp: Option<StageToml>,
    dns: Option<StageToml>,
    update: Option<StageToml>,
    root_chain: Option<StageToml>,
    web_ticket: Option<StageToml>,
    certificate: Option<StageToml>,
    register: Option<StageToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageToml {
    /// false: skip the stage.
    enabled: S<bool>,
    /// This stage's per-attempt timeout.
    timeout: S<String>,
    /// This stage's retry policy (keys not given inherit).
    retry: Option<RetryToml>,
    /// Results given instead of running the stage.
    given: Option<GivenToml>,
    /// register only: auto (default), tls-dsk or certificate.
    auth: Option<Spanned<RegisterAuth>>,
    /// update only: whether a failed update check fails the phone.
    required: S<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryToml {
    /// Attempts in all, first included (default 3).
    attempts: S<u32>,
    /// Wait before the first retry, doubling (default 1s).
    backoff: S<String>,
    /// Longest wait (default 30s).
    backoff_max: S<String>,
    /// Random share of each wait, 0 to 1 (default 0.2).
    jitter: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenToml {
    /// vlan: the voice VLAN id.
    vlan_id: S<u16>,
    /// dhcp, dns: registrar `host[:port]`.
    registrar: S<String>,
    /// dhcp, dns: web services host.
    web_server: S<String>,
    /// dns: update service host.
    update_server: S<String>,
    /// root_chain: PEM file with the chain.
    root_chain: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldToml {
    /// Time signed in before signing out (default 0s).
    duration: S<String>,
    /// Keep-alives and re-REGISTER while held (default true).
    keep_alives: Option<bool>,
    /// Un-REGISTER at the end (default true).
    sign_out: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsToml {
    /// shared (default), per-phone or off.
    session_cache: Option<SessionCache>,
    /// "1.2" (default) or "1.3".
    max_version: Option<TlsVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortToml {
    /// Stop above this failed share of sign-ins in the window.
    fail_rate: Spanned<f64>,
    /// Window length (default 30s).
    window: S<String>,
    /// Fewest outcomes in the window to judge (default 20).
    min_samples: Option<u64>,
}

// ------------------------------------------------------------ settings layer

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Free text naming the scenario.
    pub name: Option<String>,
    /// What to sign in to.
    pub target: Target,
    /// Who signs in.
    pub phones: Phones,
    /// When phones arrive.
    pub arrival: Arrival,
    /// Rate and concurrency limits.
    pub limits: Limits,
    /// Per-stage settings, in [`Stage::ALL`] order.
    pub stages: Vec<(Stage, StageSettings)>,
    /// What a phone does once signed in.
    pub hold: Hold,
    /// TLS session cache sharing.
    pub session_cache: SessionCache,
    /// Highest TLS version phones offer (`tls.max_version`).
    pub tls_max: TlsVersion,
    /// How REGISTERs authenticate (`stages.register.auth`).
    pub register_auth: RegisterAuth,
    /// Message templates folder.
    pub templates: Option<PathBuf>,
    /// Pass/fail rules.
    pub thresholds: Vec<Threshold>,
    /// Early stop rule.
    pub abort: Option<AbortRule>,
}

/// What phones sign in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The embedded mock Front End, with this mockfe.toml (or defaults).
    Mock {
        /// mockfe.toml path.
        config: Option<PathBuf>,
    },
    /// A real pool.
    Pool(Pool),
}

/// A real Lync / Skype for Business pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// DHCP server (absent when the dhcp stage is off or given).
    pub dhcp_server: Option<SocketAddr>,
    /// Relay-agent address (giaddr); absent: the phone's source address.
    pub dhcp_relay: Option<IpAddr>,
    /// DNS server.
    pub dns_server: SocketAddr,
    /// SIP domain.
    pub sip_domain: String,
    /// Registrar `host:port`, when given.
    pub registrar: Option<String>,
    /// Web services host, when given.
    pub web_server: Option<String>,
    /// Ports.
    pub ports: Ports,
}

/// Service ports of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// DHCP server port (67).
    pub dhcp: u16,
    /// DNS (53).
    pub dns: u16,
    /// SNTP (123).
    pub ntp: u16,
    /// Anonymous HTTP for the root chain (80).
    pub http: u16,
    /// HTTPS web services (443).
    pub https: u16,
    /// SIP over TLS (5061).
    pub sip_tls: u16,
    /// SIP over TCP (5060).
    pub sip_tcp: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            dhcp: 67,
            dns: 53,
            ntp: 123,
            http: 80,
            https: 443,
            sip_tls: 5061,
            sip_tcp: 5060,
        }
    }
}

/// Who signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phones {
    /// How many phones.
    pub count: u32,
    /// Model mix as `(model, weight)`, weights > 0.
    pub models: Vec<(String, u32)>,
    /// Where users come from.
    pub users: Users,
    /// First and last local source address (inclusive).
    pub source_addresses: (IpAddr, IpAddr),
    /// Key generation.
    pub keys: Keys,
    /// RSA key size in bits.
    pub key_bits: u32,
    /// The NetBIOS domain NTLM signs users in to
    /// (`phones.users.ntlm_domain`).
    pub ntlm_domain: String,
}

/// How phones get their key pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// This many keys generated up front, shared round-robin.
    Pool(u32),
    /// A fresh key per phone (CPU-heavy, as real phones).
    Fresh,
}

/// When phones arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// The rate profile (a curve still as its file).
    pub profile: ProfileSource,
    /// Spacing within the rate.
    pub spacing: Spacing,
    /// Seed for Poisson spacing and any other randomness.
    pub seed: u64,
    /// Time compression factor (profile time / run time).
    pub compression: f64,
    /// No arrivals after this much run time.
    pub max_duration: Option<Duration>,
}

/// A profile, or the CSV file holding one.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileSource {
    /// A profile given in the scenario.
    Inline(Profile),
    /// A `minute,phones` curve file.
    CurveFile(PathBuf),
}

impl Arrival {
    /// The profile, reading the curve file if there is one.
    pub fn profile(&self) -> Result<Profile> {
        match &self.profile {
            ProfileSource::Inline(p) => Ok(p.clone()),
            ProfileSource::CurveFile(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                    path: path.clone(),
                    source,
                })?;
                Ok(Profile::Curve(schedule::parse_curve(path, &text)?))
            }
        }
    }
}

/// Rate and concurrency limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Sign-ins started per second, over all phones.
    pub signins_per_second: Option<f64>,
    /// Burst allowed by every limiter.
    pub burst: u32,
    /// Phones running at once.
    pub max_concurrent: Option<u32>,
    /// Attempts per second per stage.
    pub stages: Vec<(Stage, f64)>,
}

/// Retry policy of a stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Attempts in all, first included (1: no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles each retry.
    pub backoff: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// Random share added or removed from each wait (0 to 1).
    pub jitter: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

/// Results the scenario gives instead of running a stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    /// Voice VLAN id (vlan).
    pub vlan_id: Option<u16>,
    /// Registrar `host:port` (dhcp, dns).
    pub registrar: Option<String>,
    /// Web services host (dhcp, dns).
    pub web_server: Option<String>,
    /// Update service host (dns).
    pub update_server: Option<String>,
    /// PEM file with the root chain (root_chain).
    pub root_chain: Option<PathBuf>,
}

impl Given {
    fn is_empty(&self) -> bool {
        *self == Given::default()
    }
}

/// One stage's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSettings {
    /// Run the stage (false: skipped, reported as such).
    pub enabled: bool,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retry policy.
    pub retry: Retry,
    /// Given results; any given result skips the stage.
    pub given: Given,
    /// A phone whose every attempt failed stops (true) or goes on to the
    /// next stage (false). Only `update` may go on, and does by default.
    pub required: bool,
}

impl StageSettings {
    /// `stage` as a scenario that says nothing of it runs it.
    fn default_for(stage: Stage, timeout: Duration, retry: Retry) -> Self {
        StageSettings {
            enabled: true,
            timeout,
            retry,
            given: Given::default(),
            required: !stage.can_go_on_without(),
        }
    }
}

/// What a phone does once signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Time signed in before signing out.
    pub duration: Duration,
    /// Send CRLF keep-alives and re-REGISTER while held.
    pub keep_alives: bool,
    /// Un-REGISTER at the end (false: just drop the connection).
    pub sign_out: bool,
}

/// How phones authenticate their REGISTER (`stages.register.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterAuth {
    /// Choose from the schemes the 401 offers: TLS-DSK when the phone holds
    /// a certificate; a 200 without a challenge is accepted as it comes.
    #[default]
    Auto,
    /// [MS-SIPAE] TLS-DSK only.
    TlsDsk,
    /// The TLS client certificate only: expect 200 without a challenge, as
    /// a standard registrar checking client certificates answers.
    Certificate,
    /// [MS-SIPAE] NTLM only, with the users' passwords.
    Ntlm,
    /// RFC 3261 Digest only, with the users' passwords.
    Digest,
}

/// The highest TLS version phones offer (`tls.max_version`), named as
/// `mockfe.toml`'s `tls_max` names the pool's.
pub use phonestorm_mockfe::config::TlsVersion;

/// How TLS sessions are cached for resumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionCache {
    /// One cache for all phones (cheapest for the load generator, and for
    /// the pool: every phone after the first resumes the web services'
    /// session instead of a full handshake, which no real morning does).
    Shared,
    /// One cache per phone (as real phones; the default).
    #[default]
    PerPhone,
    /// No resumption: full handshakes every time.
    Off,
}

impl Scenario {
    /// The settings of `stage`.
    pub fn stage(&self, stage: Stage) -> Option<&StageSettings> {
        self.stages
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, v)| v)
    }

    /// Reads, overrides (`--set key=value`) and validates a scenario file.
    pub fn load(path: &Path, sets: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&path.display().to_string(), &text, dir, sets)
    }

    /// Parses and validates scenario `text` named `name`; relative paths
    /// are resolved against `dir`.
    pub fn from_toml(name: &str, text: &str, dir: &Path, sets: &[String]) -> Result<Self> {
        let (raw, loc) = source::deserialize::<ScenarioToml>(name, text, sets)?;
        Validator { loc: &loc, dir }.scenario(raw)
    }
}

// ---------------------------------------------------------------- validation

struct Validator<'a> {
    loc: &'a Locator,
    dir: &'a Path,
}

impl Validator<'_> {
    fn err<T>(&self, span: std::ops::Range<usize>, msg: impl Into<String>) -> Result<T> {
        Err(self.loc.error(Some(span), msg))
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    fn duration(&self, v: &Spanned<String>) -> Result<Duration> {
        humantime::parse_duration(v.get_ref().trim()).or_else(|_| {
            self.err(
                v.span(),
                format!(
                    "expected a duration such as 30s, 5m or 1h30m, found {:?}",
                    v.get_ref()
                ),
            )
        })
    }

    fn opt_duration(&self, v: &S<String>) -> Result<Option<Duration>> {
        v.as_ref().map(|v| self.duration(v)).transpose()
    }

    fn rate(&self, v: &Spanned<f64>, what: &str) -> Result<f64> {
        let r = *v.get_ref();
        if r.is_finite() && r >= 0.0 {
            Ok(r)
        } else {
            self.err(v.span(), format!("expected {what} of 0 or more, found {r}"))
        }
    }

    fn scenario(&self, raw: ScenarioToml) -> Result<Scenario> {
        let register_auth = raw
            .stages
            .as_ref()
            .and_then(|s| s.register.as_ref())
            .and_then(|r| r.auth.as_ref())
            .map(|a| *a.get_ref())
            .unwrap_or_default();
        let dhcp_off = raw
            .stages
            .as_ref()
            .and_then(|s| s.dhcp.as_ref())
            .and_then(|d| d.enabled.as_ref())
            .filter(|e| !*e.get_ref())
            .map(Spanned::span);
        let stages = self.stages(raw.stages)?;
        let dhcp_runs = stages
            .iter()
            .any(|(s, st)| *s == Stage::Dhcp && st.enabled && st.given.is_empty());
        let target = self.target(raw.target, dhcp_runs)?;
        // The web services' host comes from DHCP option 43 unless the
        // scenario names it; without either, every phone would fail at
        // root_chain ("no web server").
        let runs = |stage: Stage| stages.iter().any(|(s, st)| *s == stage && st.enabled);
        let fetches_chain = stages
            .iter()
            .any(|(s, st)| *s == Stage::RootChain && st.enabled && st.given.root_chain.is_none());
        let web_named = matches!(&target, Target::Pool(p) if p.web_server.is_some())
            || stages.iter().any(|(_, st)| st.given.web_server.is_some());
        if !dhcp_runs
            && !web_named
            && (fetches_chain || runs(Stage::WebTicket) || runs(Stage::Certificate))
        {
            return Err(self.loc.error(
                dhcp_off,
                "the web services' host comes from DHCP option 43, and the dhcp stage does not run: name it (target.web_server, or stages.dhcp.given.web_server)",
            ));
        }
        let abort = match raw.abort {
            Some(a) => Some(self.abort(a)?),
            // A real pool may be a production one: it gets a rule unless
            // the scenario says otherwise. The mock is there to be failed.
            None if matches!(target, Target::Pool(_)) => Some(AbortRule::FOR_A_POOL),
            None => None,
        };
        Ok(Scenario {
            name: raw.name,
            phones: self.phones(raw.phones, &target)?,
            target,
            arrival: self.arrival(raw.arrival)?,
            limits: self.limits(raw.limits)?,
            stages,
            hold: self.hold(raw.hold)?,
            session_cache: raw
                .tls
                .as_ref()
                .and_then(|t| t.session_cache)
                .unwrap_or_default(),
            tls_max: raw.tls.and_then(|t| t.max_version).unwrap_or_default(),
            register_auth,
            templates: raw.templates.map(|t| self.path(&t)),
            thresholds: raw
                .thresholds
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    Threshold::parse(&k, v.get_ref()).map_err(|m| {
                        self.loc
                            .error(Some(v.span()), format!("thresholds.\"{k}\": {m}"))
                    })
                })
                .collect::<Result<_>>()?,
            abort,
        })
    }

    fn target(&self, raw: Option<TargetToml>, dhcp_runs: bool) -> Result<Target> {
        let Some(t) = raw else {
            return Ok(Target::Mock { config: None });
        };
        let pool_keys = [
            ("dhcp_server", &t.dhcp_server),
            ("dhcp_relay", &t.dhcp_relay),
            ("dns_server", &t.dns_server),
            ("sip_domain", &t.sip_domain),
            ("registrar", &t.registrar),
            ("web_server", &t.web_server),
        ];
        let first_pool_key = pool_keys
            .iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (*k, v.span())));
        let mock = match (&t.mock, &first_pool_key) {
            (Some(m), Some((k, span))) if *m.get_ref() => {
                return self.err(
                    span.clone(),
                    format!("{k} names a real pool, but target.mock = true; remove it or set mock = false"),
                );
            }
            (Some(m), _) => *m.get_ref(),
            (None, found) => found.is_none(),
        };
        if mock {
            return Ok(Target::Mock {
                config: t.mock_config.map(|c| self.path(c.get_ref())),
            });
        }
        if let Some(c) = &t.mock_config {
            return self.err(
                c.span(),
                "mock_config applies only to the embedded mock (mock = true)",
            );
        }
        let ports = t.ports.unwrap_or_default();
        let defaults = Ports::default();
        let ports = Ports {
            dhcp: ports.dhcp.unwrap_or(defaults.dhcp),
            dns: ports.dns.unwrap_or(defaults.dns),
            ntp: ports.ntp.unwrap_or(defaults.ntp),
            http: ports.http.unwrap_or(defaults.http),
            https: ports.https.unwrap_or(defaults.https),
            sip_tls: ports.sip_tls.unwrap_or(defaults.sip_tls),
            sip_tcp: ports.sip_tcp.unwrap_or(defaults.sip_tcp),
        };
        let need = |v: &S<String>, key: &str| -> Result<Spanned<String>> {
            v.clone().ok_or_else(|| {
                self.loc.error(
                    None,
                    format!("target.{key} is needed for a real pool (or set target.mock = true)"),
                )
            })
        };
        let dns = need(&t.dns_server, "dns_server")?;
        let sip_domain = need(&t.sip_domain, "sip_domain")?;
        if !is_host(sip_domain.get_ref()) {
            return self.err(
                sip_domain.span(),
                "expected a domain name such as contoso.com",
            );
        }
        let dhcp_server = t
            .dhcp_server
            .as_ref()
            .map(|v| self.socket(v, ports.dhcp))
            .transpose()?;
        if dhcp_server.is_none() && dhcp_runs {
            return Err(self.loc.error(
                None,
                "target.dhcp_server is needed while the dhcp stage runs (or set stages.dhcp.enabled = false)",
            ));
        }
        let dhcp_relay = t
            .dhcp_relay
            .as_ref()
            .map(|v| {
                v.get_ref()
                    .parse::<IpAddr>()
                    .or_else(|_| self.err(v.span(), "expected an IP address such as 10.0.0.1"))
            })
            .transpose()?;
        let host_port = |v: &S<String>| -> Result<Option<String>> {
            v.as_ref()
                .map(|v| {
                    let s = v.get_ref();
                    let (host, port) = match s.rsplit_once(':') {
                        Some((h, p)) => (h, Some(p)),
                        None => (s.as_str(), None),
                    };
                    if !is_host(host) || port.is_some_and(|p| p.parse::<u16>().is_err()) {
                        return self.err(
                            v.span(),
                            "expected host or host:port such as pool01.contoso.com:5061",
                        );
                    }
                    Ok(s.clone())
                })
                .transpose()
        };
        Ok(Target::Pool(Pool {
            dhcp_server,
            dhcp_relay,
            dns_server: self.socket(&dns, ports.dns)?,
            sip_domain: sip_domain.into_inner(),
            registrar: host_port(&t.registrar)?,
            web_server: host_port(&t.web_server)?,
            ports,
        }))
    }

    fn socket(&self, v: &Spanned<String>, default_port: u16) -> Result<SocketAddr> {
        let s = v.get_ref().trim();
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(a);
        }
        match s.parse::<IpAddr>() {
            Ok(ip) => Ok(SocketAddr::new(ip, default_port)),
            Err(_) => self.err(v.span(), "expected ip or ip:port such as 10.0.0.2:53"),
        }
    }

    fn phones(&self, p: PhonesToml, target: &Target) -> Result<Phones> {
        let count = *p.count.get_ref();
        if count == 0 {
            return self.err(p.count.span(), "expected at least 1 phone");
        }
        let mut models = Vec::new();
        for (name, w) in p.models.unwrap_or_default() {
            // The phone crate is the one authority on model names; MODELS
            // is the spelling the documentation and messages use.
            if phonestorm_phone::Model::from_name(&name).is_none() {
                return self.err(
                    w.span(),
                    format!(
                        "unknown model {name:?}; expected one of {}",
                        MODELS.join(", ")
                    ),
                );
            }
            if *w.get_ref() == 0 {
                return self.err(
                    w.span(),
                    "expected a weight of at least 1 (leave the model out instead)",
                );
            }
            models.push((name, w.into_inner()));
        }
        if models.is_empty() {
            models.push(("cx600".to_owned(), 1));
        }
        let ntlm_domain = match p.users.as_ref().and_then(|u| u.ntlm_domain.as_ref()) {
            Some(d) if d.get_ref().is_empty() || d.get_ref().contains(['\\', '@', '"']) => {
                return self.err(
                    d.span(),
                    "expected a NetBIOS domain name such as \"CONTOSO\"",
                );
            }
            Some(d) => d.get_ref().clone(),
            None => DEFAULT_NTLM_DOMAIN.to_owned(),
        };
        let users = match p.users {
            None => default_users(),
            Some(u) => self.users(u)?,
        };
        // A pool away from this machine is out of a loopback source's
        // reach: Linux refuses such a connect or send with EINVAL, so every
        // phone would fail. The DNS server (and the DHCP server, when phones
        // reach it themselves) stand for the pool; its other servers are
        // found through them at run time.
        let away = match target {
            Target::Mock { .. } => None,
            // With a relay agent, DHCP leaves from the agent's address.
            Target::Pool(pool) => [
                pool.dhcp_server
                    .filter(|_| pool.dhcp_relay.is_none())
                    .map(|a| a.ip()),
                Some(pool.dns_server.ip()),
            ]
            .into_iter()
            .flatten()
            .find(|ip| !ip.is_loopback()),
        };
        let source_addresses = match &p.source_addresses {
            // Many loopback addresses, so that many phones do not run out
            // of ports towards the one mock; towards a pool elsewhere, the
            // system's choice for each connection.
            None if away.is_some() => (
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ),
            None => (
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 250)),
            ),
            Some(v) => {
                let range =
                    parse_range(v.get_ref()).map_err(|m| self.loc.error(Some(v.span()), m))?;
                if let Some(ip) = away
                    && range.0.is_loopback()
                {
                    return self.err(
                        v.span(),
                        format!(
                            "loopback addresses cannot reach the pool at {ip}: give addresses of this machine, or \"0.0.0.0\" for the system's choice"
                        ),
                    );
                }
                range
            }
        };
        let keys = match &p.keys {
            None => Keys::Pool(16),
            Some(v) => match v.get_ref().as_str() {
                "fresh" => Keys::Fresh,
                s => match s.strip_prefix("pool:").map(str::parse::<u32>) {
                    Some(Ok(n)) if n > 0 => Keys::Pool(n),
                    _ => {
                        return self.err(
                            v.span(),
                            format!("expected \"pool:N\" (N ≥ 1) or \"fresh\", found {s:?}"),
                        );
                    }
                },
            },
        };
        let key_bits = match &p.key_bits {
            None => 2048,
            // What the phones can make: rcgen's RSA key sizes over aws-lc,
            // which makes no RSA key under 2048 bits.
            Some(v) if [2048, 3072, 4096].contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                return self.err(
                    v.span(),
                    "expected 2048, 3072 or 4096 (aws-lc makes no smaller RSA key)",
                );
            }
        };
        Ok(Phones {
            count,
            models,
            users,
            source_addresses,
            keys,
            key_bits,
            ntlm_domain,
        })
    }

    fn users(&self, u: UsersToml) -> Result<Users> {
        if let Some(csv) = &u.csv {
            let other = [
                u.first_number.as_ref().map(Spanned::span),
                u.extension_digits.as_ref().map(Spanned::span),
                u.pin.as_ref().map(Spanned::span),
                u.password.as_ref().map(Spanned::span),
                u.sip_prefix.as_ref().map(Spanned::span),
            ];
            if let Some(span) = other.into_iter().flatten().next() {
                return self.err(
                    span,
                    "phones.users takes either csv or first_number/extension_digits/pin/password/sip_prefix, not both",
                );
            }
            return Ok(Users::Csv(self.path(csv.get_ref())));
        }
        let Users::Generated {
            first_number,
            extension_digits,
            pin,
            password,
            sip_prefix,
        } = default_users()
        else {
            return Err(self
                .loc
                .error(None, "internal: default users are not generated"));
        };
        let extension_digits = match &u.extension_digits {
            Some(d) if *d.get_ref() > 15 => {
                return self.err(d.span(), "expected at most 15 digits");
            }
            Some(d) => *d.get_ref(),
            None => extension_digits,
        };
        let pin = match &u.pin {
            Some(p)
                if p.get_ref().is_empty() || !p.get_ref().chars().all(|c| c.is_ascii_digit()) =>
            {
                return self.err(p.span(), "expected a PIN of digits such as \"13579\"");
            }
            Some(p) => p.get_ref().clone(),
            None => pin,
        };
        let password = match &u.password {
            Some(p) if p.get_ref().is_empty() => {
                return self.err(
                    p.span(),
                    "expected a password pattern such as \"Storm-{n}!\"",
                );
            }
            Some(p) => p.get_ref().clone(),
            None => password,
        };
        let sip_prefix = match &u.sip_prefix {
            Some(p)
                if p.get_ref().is_empty()
                    || !p
                        .get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                return self.err(
                    p.span(),
                    "expected a SIP user part prefix of letters, digits, - _ . such as \"user\"",
                );
            }
            Some(p) => p.get_ref().clone(),
            None => sip_prefix,
        };
        Ok(Users::Generated {
            first_number: u.first_number.map_or(first_number, Spanned::into_inner),
            extension_digits,
            pin,
            password,
            sip_prefix,
        })
    }

    fn arrival(&self, a: ArrivalToml) -> Result<Arrival> {
        let kind = *a.profile.get_ref();
        // Which keys each profile takes; any other profile key is a mistake.
        let keys: [ProfileKey<'_>; 11] = [
            (
                "rate",
                a.rate.as_ref().map(Spanned::span),
                &[ProfileKind::Constant],
            ),
            (
                "from",
                a.from.as_ref().map(Spanned::span),
                &[ProfileKind::Ramp],
            ),
            ("to", a.to.as_ref().map(Spanned::span), &[ProfileKind::Ramp]),
            (
                "over",
                a.over.as_ref().map(Spanned::span),
                &[ProfileKind::Ramp],
            ),
            (
                "steps",
                a.steps.as_ref().map(Spanned::span),
                &[ProfileKind::Steps],
            ),
            (
                "base_rate",
                a.base_rate.as_ref().map(Spanned::span),
                &[ProfileKind::Spike],
            ),
            (
                "peak_rate",
                a.peak_rate.as_ref().map(Spanned::span),
                &[ProfileKind::Spike],
            ),
            (
                "at",
                a.at.as_ref().map(Spanned::span),
                &[ProfileKind::Spike],
            ),
            (
                "duration",
                a.duration.as_ref().map(Spanned::span),
                &[ProfileKind::Spike],
            ),
            (
                "within",
                a.within.as_ref().map(Spanned::span),
                &[ProfileKind::AllAtOnce],
            ),
            (
                "curve",
                a.curve.as_ref().map(Spanned::span),
                &[ProfileKind::Curve],
            ),
        ];
        for (key, span, takes) in &keys {
            if let Some(span) = span
                && !takes.contains(&kind)
            {
                let wanted: Vec<&str> = keys
                    .iter()
                    .filter(|(_, _, t)| t.contains(&kind))
                    .map(|(k, _, _)| *k)
                    .collect();
                return self.err(
                    span.clone(),
                    format!(
                        "{key} does not apply to profile {}; it takes {}",
                        profile_name(kind),
                        if wanted.is_empty() {
                            "no other keys".to_owned()
                        } else {
                            wanted.join(", ")
                        }
                    ),
                );
            }
        }
        let need = |key: &str| {
            self.loc.error(
                Some(a.profile.span()),
                format!("profile {} needs arrival.{key}", profile_name(kind)),
            )
        };
        let profile = match kind {
            ProfileKind::Constant => {
                let rate = a.rate.as_ref().ok_or_else(|| need("rate"))?;
                // Above 0 here, unlike a ramp's start: say that for -5 too.
                let r = *rate.get_ref();
                if !(r.is_finite() && r > 0.0) {
                    return self.err(
                        rate.span(),
                        format!("expected a rate in phones per second above 0, found {r}"),
                    );
                }
                ProfileSource::Inline(Profile::Constant { rate: r })
            }
            ProfileKind::Ramp => {
                let from = self.rate(a.from.as_ref().ok_or_else(|| need("from"))?, "a rate")?;
                let to_s = a.to.as_ref().ok_or_else(|| need("to"))?;
                let to = self.rate(to_s, "a rate")?;
                if to == 0.0 {
                    return self.err(
                        to_s.span(),
                        "expected a final rate above 0 (phones would never all arrive)",
                    );
                }
                let over = self.duration(a.over.as_ref().ok_or_else(|| need("over"))?)?;
                ProfileSource::Inline(Profile::Ramp { from, to, over })
            }
            ProfileKind::Steps => {
                let steps = a.steps.as_ref().ok_or_else(|| need("steps"))?;
                if steps.get_ref().is_empty() {
                    return self.err(steps.span(), "expected at least one step");
                }
                let mut out = Vec::new();
                for s in steps.get_ref() {
                    out.push(Step {
                        rate: self.rate(&s.rate, "a rate")?,
                        duration: self.duration(&s.duration)?,
                    });
                }
                if out.last().is_some_and(|s| s.rate == 0.0) {
                    return self.err(steps.span(), "expected the last step's rate above 0 (it lasts until every phone arrives)");
                }
                ProfileSource::Inline(Profile::Steps(out))
            }
            ProfileKind::Spike => {
                let base_s = a.base_rate.as_ref().ok_or_else(|| need("base_rate"))?;
                let base = self.rate(base_s, "a rate")?;
                if base == 0.0 {
                    return self.err(
                        base_s.span(),
                        "expected a base rate above 0 (it lasts until every phone arrives)",
                    );
                }
                ProfileSource::Inline(Profile::Spike {
                    base,
                    peak: self.rate(
                        a.peak_rate.as_ref().ok_or_else(|| need("peak_rate"))?,
                        "a rate",
                    )?,
                    at: self.duration(a.at.as_ref().ok_or_else(|| need("at"))?)?,
                    duration: self
                        .duration(a.duration.as_ref().ok_or_else(|| need("duration"))?)?,
                })
            }
            ProfileKind::AllAtOnce => ProfileSource::Inline(Profile::AllAtOnce {
                within: self.opt_duration(&a.within)?.unwrap_or_default(),
            }),
            ProfileKind::Curve => ProfileSource::CurveFile(
                self.path(a.curve.as_ref().ok_or_else(|| need("curve"))?.get_ref()),
            ),
        };
        let compression = match &a.compression {
            None => 1.0,
            Some(c) if c.get_ref().is_finite() && *c.get_ref() > 0.0 => *c.get_ref(),
            Some(c) => {
                return self.err(
                    c.span(),
                    "expected a compression factor above 0, such as 60",
                );
            }
        };
        Ok(Arrival {
            profile,
            spacing: a.spacing.unwrap_or_default(),
            seed: a.seed.unwrap_or(1),
            compression,
            max_duration: self.opt_duration(&a.max_duration)?,
        })
    }

    fn limits(&self, l: Option<LimitsToml>) -> Result<Limits> {
        let Some(l) = l else {
            return Ok(Limits {
                signins_per_second: None,
                burst: 1,
                max_concurrent: None,
                stages: Vec::new(),
            });
        };
        let positive = |v: &Spanned<f64>| -> Result<f64> {
            let r = *v.get_ref();
            if r.is_finite() && r > 0.0 {
                Ok(r)
            } else {
                self.err(
                    v.span(),
                    format!("expected a rate per second above 0, found {r}"),
                )
            }
        };
        let mut stages = Vec::new();
        if let Some(per) = l.stages {
            for (stage, v) in per.into_vec() {
                if let Some(v) = v {
                    stages.push((stage, positive(&v)?));
                }
            }
        }
        let nonzero = |v: &S<u32>, what: &str| -> Result<Option<u32>> {
            match v {
                Some(n) if *n.get_ref() == 0 => {
                    self.err(n.span(), format!("expected {what} of at least 1"))
                }
                Some(n) => Ok(Some(*n.get_ref())),
                None => Ok(None),
            }
        };
        Ok(Limits {
            signins_per_second: l.signins_per_second.as_ref().map(positive).transpose()?,
            burst: nonzero(&l.burst, "a burst")?.unwrap_or(1),
            max_concurrent: nonzero(&l.max_concurrent, "a phone count")?,
            stages,
        })
    }

    fn retry(&self, r: Option<&RetryToml>, base: Retry) -> Result<Retry> {
        let Some(r) = r else { return Ok(base) };
        let attempts = match &r.attempts {
            Some(a) if *a.get_ref() == 0 => {
                return self.err(a.span(), "expected at least 1 attempt (1: no retry)");
            }
            Some(a) => *a.get_ref(),
            None => base.attempts,
        };
        let jitter = match &r.jitter {
            Some(j) if !(0.0..=1.0).contains(j.get_ref()) => {
                return self.err(j.span(), "expected a jitter share between 0 and 1");
            }
            Some(j) => *j.get_ref(),
            None => base.jitter,
        };
        let backoff = self.opt_duration(&r.backoff)?.unwrap_or(base.backoff);
        let backoff_max = self
            .opt_duration(&r.backoff_max)?
            .unwrap_or(base.backoff_max);
        if backoff > backoff_max {
            let span = r
                .backoff
                .as_ref()
                .or(r.backoff_max.as_ref())
                .map(Spanned::span);
            return Err(self.loc.error(span, "backoff is longer than backoff_max"));
        }
        Ok(Retry {
            attempts,
            backoff,
            backoff_max,
            jitter,
        })
    }

    fn stages(&self, s: Option<StagesToml>) -> Result<Vec<(Stage, StageSettings)>> {
        let default_timeout = Duration::from_secs(10);
        let Some(s) = s else {
            return Ok(Stage::ALL
                .into_iter()
                .map(|st| {
                    (
                        st,
                        StageSettings::default_for(st, default_timeout, Retry::default()),
                    )
                })
                .collect());
        };
        let timeout = self.opt_duration(&s.timeout)?.unwrap_or(default_timeout);
        if timeout.is_zero()
            && let Some(t) = &s.timeout
        {
            return self.err(t.span(), "expected a timeout above 0");
        }
        let retry = self.retry(s.retry.as_ref(), Retry::default())?;
        let per = PerStageToml {
            vlan: s.vlan,
            dhcp: s.dhcp,
            ntp: s.ntp,
            dns: s.dns,
            update: s.update,
            root_chain: s.root_chain,
            web_ticket: s.web_ticket,
            certificate: s.certificate,
            register: s.register,
        };
        let mut out = Vec::new();
        // Where root_chain is turned off with no chain given in its place.
        let mut no_chain = None;
        for (stage, st) in per.into_vec() {
            let Some(st) = st else {
                out.push((stage, StageSettings::default_for(stage, timeout, retry)));
                continue;
            };
            if let Some(a) = &st.auth
                && stage != Stage::Register
            {
                return self.err(
                    a.span(),
                    format!("stage {stage} has no auth setting; only stages.register does"),
                );
            }
            if let Some(r) = &st.required
                && !stage.can_go_on_without()
            {
                return self.err(
                    r.span(),
                    format!(
                        "stage {stage} has no required setting; only stages.update does (a phone cannot go on without the others)"
                    ),
                );
            }
            let timeout = self.opt_duration(&st.timeout)?.unwrap_or(timeout);
            if timeout.is_zero()
                && let Some(t) = &st.timeout
            {
                return self.err(t.span(), "expected a timeout above 0");
            }
            let given = match &st.given {
                None => Given::default(),
                Some(g) => self.given(stage, g)?,
            };
            let enabled = st.enabled.as_ref().is_none_or(|e| *e.get_ref());
            if stage == Stage::RootChain && given.root_chain.is_none() {
                no_chain = st.enabled.as_ref().filter(|_| !enabled).map(Spanned::span);
            }
            out.push((
                stage,
                StageSettings {
                    enabled,
                    timeout,
                    retry: self.retry(st.retry.as_ref(), retry)?,
                    given,
                    required: st
                        .required
                        .as_ref()
                        .map_or(!stage.can_go_on_without(), |r| *r.get_ref()),
                },
            ));
        }
        // The web services are verified with the pool's root chain: a
        // phone without one could not run them (PhoneConfig::validate
        // refuses it too, but only when the run starts).
        let runs = |stage: Stage| out.iter().any(|(s, c)| *s == stage && c.enabled);
        if let Some(span) = no_chain
            && (runs(Stage::WebTicket) || runs(Stage::Certificate))
        {
            return self.err(
                span,
                "root_chain is off with no chain given, but web_ticket and certificate verify the pool with it: give one (given = { root_chain = \"chain.pem\" }) or turn those stages off too",
            );
        }
        Ok(out)
    }

    fn given(&self, stage: Stage, g: &GivenToml) -> Result<Given> {
        let allowed: &[&str] = match stage {
            Stage::Vlan => &["vlan_id"],
            Stage::Dhcp => &["registrar", "web_server"],
            Stage::Dns => &["registrar", "web_server", "update_server"],
            Stage::RootChain => &["root_chain"],
            _ => &[],
        };
        let present = [
            ("vlan_id", g.vlan_id.as_ref().map(Spanned::span)),
            ("registrar", g.registrar.as_ref().map(Spanned::span)),
            ("web_server", g.web_server.as_ref().map(Spanned::span)),
            ("update_server", g.update_server.as_ref().map(Spanned::span)),
            ("root_chain", g.root_chain.as_ref().map(Spanned::span)),
        ];
        for (key, span) in present {
            if let Some(span) = span
                && !allowed.contains(&key)
            {
                let takes = if allowed.is_empty() {
                    "nothing (turn it off with enabled = false)".to_owned()
                } else {
                    allowed.join(", ")
                };
                return self.err(
                    span,
                    format!("stage {stage} cannot be given {key}; it takes {takes}"),
                );
            }
        }
        if let Some(r) = &g.registrar {
            let ok = match r.get_ref().rsplit_once(':') {
                Some((h, p)) => is_host(h) && p.parse::<u16>().is_ok(),
                None => is_host(r.get_ref()),
            };
            if !ok {
                return self.err(
                    r.span(),
                    "expected host or host:port such as pool01.contoso.com:5061",
                );
            }
        }
        if let Some(v) = &g.vlan_id
            && !(1..=4094).contains(v.get_ref())
        {
            return self.err(v.span(), "expected a VLAN id from 1 to 4094");
        }
        Ok(Given {
            vlan_id: g.vlan_id.as_ref().map(|v| *v.get_ref()),
            registrar: g.registrar.as_ref().map(|v| v.get_ref().clone()),
            web_server: g.web_server.as_ref().map(|v| v.get_ref().clone()),
            update_server: g.update_server.as_ref().map(|v| v.get_ref().clone()),
            root_chain: g.root_chain.as_ref().map(|v| self.path(v.get_ref())),
        })
    }

    fn hold(&self, h: Option<HoldToml>) -> Result<Hold> {
        let Some(h) = h else {
            return Ok(Hold {
                duration: Duration::ZERO,
                keep_alives: true,
                sign_out: true,
            });
        };
        Ok(Hold {
            duration: self.opt_duration(&h.duration)?.unwrap_or_default(),
            keep_alives: h.keep_alives.unwrap_or(true),
            sign_out: h.sign_out.unwrap_or(true),
        })
    }

    fn abort(&self, a: AbortToml) -> Result<AbortRule> {
        let rate = *a.fail_rate.get_ref();
        if !(0.0..=1.0).contains(&rate) {
            return self.err(
                a.fail_rate.span(),
                "expected a share between 0 and 1, such as 0.2",
            );
        }
        let window = self
            .opt_duration(&a.window)?
            .unwrap_or(Duration::from_secs(30));
        if window.is_zero()
            && let Some(w) = &a.window
        {
            return self.err(w.span(), "expected a window above 0");
        }
        Ok(AbortRule {
            fail_rate: rate,
            window,
            min_samples: a.min_samples.unwrap_or(20),
        })
    }
}

fn default_users() -> Users {
    // The embedded mock's users (mockfe.toml [users]).
    Users::Generated {
        first_number: 14_255_550_000,
        extension_digits: 5,
        pin: "13579".into(),
        password: phonestorm_mockfe::config::DEFAULT_PASSWORD.into(),
        sip_prefix: "user".into(),
    }
}

/// The embedded mock's NTLM domain (mockfe.toml [users]).
const DEFAULT_NTLM_DOMAIN: &str = phonestorm_mockfe::config::DEFAULT_NTLM_DOMAIN;

fn profile_name(k: ProfileKind) -> &'static str {
    match k {
        ProfileKind::Constant => "constant",
        ProfileKind::Ramp => "ramp",
        ProfileKind::Steps => "steps",
        ProfileKind::Spike => "spike",
        ProfileKind::AllAtOnce => "all_at_once",
        ProfileKind::Curve => "curve",
    }
}

/// A plausible host name or IP address (not a full RFC 1123 check).
fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !s.starts_with('.')
        && !s.ends_with('-')
}

/// `a-b` (inclusive, same family, a ≤ b) or one address.
fn parse_range(s: &str) -> std::result::Result<(IpAddr, IpAddr), String> {
    let expected =
        || format!("expected an address or a range such as 127.0.0.2-127.0.0.250, found {s:?}");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let a: IpAddr = a.parse().map_err(|_| expected())?;
    let b: IpAddr = b.parse().map_err(|_| expected())?;
    if a.is_ipv4() != b.is_ipv4() {
        return Err(format!("the range {s:?} mixes IPv4 and IPv6"));
    }
    if a > b {
        return Err(format!("the range {s:?} ends before it starts"));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_documented_model_is_one_the_phone_knows() {
        for name in MODELS {
            assert!(phonestorm_phone::Model::from_name(name).is_some(), "{name}");
        }
    }

    use super::*;

    const MINIMAL: &str = "[phones]\ncount = 10\n\n[arrival]\nprofile = \"constant\"\nrate = 5\n";

    fn parse(text: &str) -> Result<Scenario> {
        Scenario::from_toml("s.toml", text, Path::new("/scn"), &[])
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.target, Target::Mock { config: None });
        assert_eq!(s.phones.count, 10);
        assert_eq!(s.phones.models, [("cx600".to_owned(), 1)]);
        assert_eq!(s.phones.keys, Keys::Pool(16));
        assert_eq!(
            s.arrival.profile,
            ProfileSource::Inline(Profile::Constant { rate: 5.0 })
        );
        assert_eq!(s.stages.len(), 9);
        assert!(s.stage(Stage::Register).unwrap().enabled);
        assert_eq!(s.session_cache, SessionCache::PerPhone);
        assert!(s.abort.is_none());
    }

    #[test]
    fn full_scenario_parses() {
        let text = r#"
name = "monday 8am"
templates = "tpl"

[target]
dhcp_server = "10.0.0.5"
dns_server = "10.0.0.2"
sip_domain = "contoso.com"
registrar = "pool01.contoso.com:5061"
ports = { https = 4443 }

[phones]
count = 1000
models = { cx600 = 3, hp4120 = 1 }
source_addresses = "10.0.8.10-10.0.8.250"
keys = "pool:8"
key_bits = 3072
users = { first_number = 4255550000, extension_digits = 4, pin = "1234" }

[arrival]
profile = "steps"
steps = [ { rate = 5, duration = "1m" }, { rate = 20, duration = "5m" } ]
spacing = "poisson"
seed = 7
compression = 60
max_duration = "10m"

[limits]
signins_per_second = 12
max_concurrent = 5000
stages = { certificate = 5.5 }

[stages]
timeout = "15s"
retry = { attempts = 2, backoff = "500ms" }
update = { enabled = false }
register = { timeout = "30s", retry = { attempts = 5 } }
dns = { given = { registrar = "pool01.contoso.com:5061" } }

[hold]
duration = "5m"
keep_alives = false

[tls]
session_cache = "per-phone"

[thresholds]
"register.p99" = "< 2s"
"certificate.fail_rate" = "< 0.01"
"signin.p99" = "< 10s"

[abort]
fail_rate = 0.2
window = "30s"
min_samples = 50
"#;
        let s = parse(text).unwrap();
        let Target::Pool(p) = &s.target else {
            panic!("{:?}", s.target)
        };
        assert_eq!(p.dhcp_server, Some("10.0.0.5:67".parse().unwrap()));
        assert_eq!(p.dns_server, "10.0.0.2:53".parse().unwrap());
        assert_eq!(p.ports.https, 4443);
        assert_eq!(s.phones.keys, Keys::Pool(8));
        assert_eq!(s.phones.models.len(), 2);
        assert_eq!(s.arrival.spacing, Spacing::Poisson);
        assert_eq!(s.arrival.compression, 60.0);
        assert_eq!(s.limits.stages, [(Stage::Certificate, 5.5)]);
        assert_eq!(s.limits.signins_per_second, Some(12.0));
        let reg = s.stage(Stage::Register).unwrap();
        assert_eq!(
            (reg.timeout, reg.retry.attempts, reg.retry.backoff),
            (Duration::from_secs(30), 5, Duration::from_millis(500))
        );
        assert!(!s.stage(Stage::Update).unwrap().enabled);
        assert_eq!(
            s.stage(Stage::Dns).unwrap().given.registrar.as_deref(),
            Some("pool01.contoso.com:5061")
        );
        assert_eq!(
            s.stage(Stage::Ntp).unwrap().timeout,
            Duration::from_secs(15)
        );
        assert_eq!(s.session_cache, SessionCache::PerPhone);
        assert_eq!(s.thresholds.len(), 3);
        assert_eq!(s.abort.unwrap().min_samples, 50);
        assert_eq!(s.templates, Some(PathBuf::from("/scn/tpl")));
        assert_eq!(s.hold.duration, Duration::from_secs(300));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = err(
            "[phones]\ncount = 10\nmodel = \"cx600\"\n[arrival]\nprofile = \"constant\"\nrate = 5\n",
        );
        assert!(e.starts_with("s.toml: line 3, column 1: "), "{e}");
        assert!(e.contains("model"), "{e}");
    }

    #[test]
    fn unknown_stage_is_refused_with_the_names() {
        let e = err(&format!("{MINIMAL}[stages.sip]\nenabled = false\n"));
        assert!(e.starts_with("s.toml: line 7"), "{e}");
        assert!(e.contains("register"), "{e}");
    }

    #[test]
    fn profile_key_for_another_profile_points_at_it() {
        let e = err(
            "[phones]\ncount = 1\n[arrival]\nprofile = \"constant\"\nrate = 5\nover = \"1m\"\n",
        );
        assert_eq!(
            e,
            "s.toml: line 6, column 8: over does not apply to profile constant; it takes rate"
        );
    }

    #[test]
    fn missing_profile_key_points_at_the_profile() {
        let e = err("[phones]\ncount = 1\n[arrival]\nprofile = \"ramp\"\nfrom = 1\nto = 5\n");
        assert_eq!(
            e,
            "s.toml: line 4, column 11: profile ramp needs arrival.over"
        );
    }

    #[test]
    fn bad_duration_points_at_the_value() {
        let e = err(
            "[phones]\ncount = 1\n[arrival]\nprofile = \"ramp\"\nfrom = 1\nto = 5\nover = \"soon\"\n",
        );
        assert!(
            e.starts_with("s.toml: line 7, column 8: expected a duration"),
            "{e}"
        );
    }

    #[test]
    fn set_overrides_and_reports_the_key() {
        let s = Scenario::from_toml(
            "s.toml",
            MINIMAL,
            Path::new("."),
            &["phones.count=99".into(), "arrival.rate=2.5".into()],
        )
        .unwrap();
        assert_eq!(s.phones.count, 99);
        let e = Scenario::from_toml(
            "s.toml",
            MINIMAL,
            Path::new("."),
            &["phones.count=many".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--set phones.count: ") && e.contains("expected an integer"),
            "{e}"
        );
        // Semantic errors on overridden values name the key too.
        let e = Scenario::from_toml(
            "s.toml",
            MINIMAL,
            Path::new("."),
            &["phones.count=0".into()],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "--set phones.count: expected at least 1 phone");
        // A constant rate must be above 0, and says so whatever was given.
        for (rate, found) in [("0", "0"), ("-5", "-5"), ("nan", "NaN")] {
            let e = Scenario::from_toml(
                "s.toml",
                MINIMAL,
                Path::new("."),
                &[format!("arrival.rate={rate}")],
            )
            .unwrap_err()
            .to_string();
            assert_eq!(
                e,
                format!(
                    "--set arrival.rate: expected a rate in phones per second above 0, found {found}"
                )
            );
        }
        let s = Scenario::from_toml(
            "s.toml",
            MINIMAL,
            Path::new("."),
            &["thresholds.\"register.p99\"=< 2s".into()],
        )
        .unwrap();
        assert_eq!(s.thresholds.len(), 1);
    }

    #[test]
    fn mock_with_pool_keys_is_refused() {
        let e = err(&format!(
            "{MINIMAL}[target]\nmock = true\ndns_server = \"10.0.0.2\"\n"
        ));
        assert!(
            e.starts_with("s.toml: line 9, column 14: dns_server names a real pool"),
            "{e}"
        );
    }

    /// A pool away from this machine cannot be reached from loopback
    /// (Linux gives EINVAL): phones default to the system's choice of
    /// source there, and loopback sources are refused at their place.
    #[test]
    fn sources_follow_where_the_pool_is() {
        let pool = |target: &str, phones: &str| {
            parse(&format!(
                "[phones]\ncount = 10\n{phones}\n[arrival]\nprofile = \"constant\"\nrate = 5\n[target]\nsip_domain = \"contoso.com\"\nweb_server = \"pool01.contoso.com\"\n{target}[stages.dhcp]\nenabled = false\n"
            ))
        };
        let sources = |target: &str| pool(target, "").unwrap().phones.source_addresses;
        let loopback = (
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 250)),
        );
        let any = (
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        );
        assert_eq!(parse(MINIMAL).unwrap().phones.source_addresses, loopback);
        assert_eq!(sources("dns_server = \"127.0.0.1:5353\"\n"), loopback);
        assert_eq!(sources("dns_server = \"10.0.0.2\"\n"), any);
        // DHCP through a relay agent leaves from the agent's address.
        assert_eq!(
            sources(
                "dns_server = \"127.0.0.1\"\ndhcp_server = \"198.18.3.2\"\ndhcp_relay = \"198.18.3.1\"\n"
            ),
            loopback
        );
        assert_eq!(
            sources("dns_server = \"127.0.0.1\"\ndhcp_server = \"198.18.3.2\"\n"),
            any
        );
        let e = pool(
            "dns_server = \"10.0.0.2\"\n",
            "source_addresses = \"127.0.0.2-127.0.0.9\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "s.toml: line 3, column 20: loopback addresses cannot reach the pool at 10.0.0.2"
            ),
            "{e}"
        );
        let p = pool(
            "dns_server = \"10.0.0.2\"\n",
            "source_addresses = \"0.0.0.0\"\n",
        )
        .unwrap();
        assert_eq!(p.phones.source_addresses, any);
    }

    #[test]
    fn real_pool_needs_its_keys() {
        let e = err(&format!("{MINIMAL}[target]\nmock = false\n"));
        assert!(e.contains("target.dns_server is needed"), "{e}");
        let e = err(&format!(
            "{MINIMAL}[target]\ndns_server = \"10.0.0.2\"\nsip_domain = \"contoso.com\"\n"
        ));
        assert!(
            e.contains("target.dhcp_server is needed while the dhcp stage runs"),
            "{e}"
        );
        let ok = parse(&format!(
            "{MINIMAL}[target]\ndns_server = \"10.0.0.2\"\nsip_domain = \"contoso.com\"\nweb_server = \"pool01.contoso.com\"\n[stages.dhcp]\nenabled = false\n"
        ));
        assert!(ok.is_ok(), "{ok:?}");
        let e = err(&format!(
            "{MINIMAL}[target]\nmock = false\ndns_server = \"ten\"\nsip_domain = \"contoso.com\"\ndhcp_server = \"10.0.0.1\"\n"
        ));
        assert!(
            e.contains("line 9") && e.contains("expected ip or ip:port"),
            "{e}"
        );
    }

    #[test]
    fn users_csv_excludes_generated_keys() {
        let e = err(&format!(
            "{MINIMAL}[phones.users]\ncsv = \"u.csv\"\npin = \"1\"\n"
        ));
        assert!(e.contains("either csv or"), "{e}");
        // [phones.users] after [arrival] is still the phones table.
        let s = parse(&format!("{MINIMAL}[phones.users]\ncsv = \"u.csv\"\n")).unwrap();
        assert_eq!(s.phones.users, Users::Csv(PathBuf::from("/scn/u.csv")));
    }

    #[test]
    fn keys_models_and_ranges_are_checked() {
        let base = "[arrival]\nprofile = \"all_at_once\"\n[phones]\ncount = 5\n";
        assert!(err(&format!("{base}keys = \"pool:0\"\n")).contains("expected \"pool:N\""));
        assert_eq!(
            parse(&format!("{base}keys = \"fresh\"\n"))
                .unwrap()
                .phones
                .keys,
            Keys::Fresh
        );
        assert!(
            err(&format!("{base}models = {{ nokia = 1 }}\n")).contains("unknown model \"nokia\"")
        );
        assert!(
            err(&format!(
                "{base}source_addresses = \"127.0.0.9-127.0.0.2\"\n"
            ))
            .contains("ends before it starts")
        );
        assert!(err(&format!("{base}key_bits = 512\n")).contains("expected 2048, 3072 or 4096"));
        // Validation refuses what a run could not make, rather than the
        // run failing after it.
        assert!(err(&format!("{base}key_bits = 1024\n")).contains("line "));
    }

    #[test]
    fn given_results_are_checked_per_stage() {
        let e = err(&format!(
            "{MINIMAL}[stages.certificate.given]\nregistrar = \"a.b:5061\"\n"
        ));
        assert!(
            e.contains("stage certificate cannot be given registrar"),
            "{e}"
        );
        let e = err(&format!(
            "{MINIMAL}[stages.dns.given]\nregistrar = \"a.b:port\"\n"
        ));
        assert!(e.contains("expected host or host:port"), "{e}");
        let e = err(&format!("{MINIMAL}[stages.vlan.given]\nvlan_id = 5000\n"));
        assert!(e.contains("VLAN id from 1 to 4094"), "{e}");
    }

    /// What the phones' own configuration would refuse when the run
    /// starts is refused here, where the file position can be given.
    #[test]
    fn settings_a_run_would_refuse_are_refused_at_their_place() {
        let e = err(&format!("{MINIMAL}[stages]\ntimeout = \"0s\"\n"));
        assert!(
            e.starts_with("s.toml: line 8, column 11: ")
                && e.contains("expected a timeout above 0"),
            "{e}"
        );
        let off = format!("{MINIMAL}[stages.root_chain]\nenabled = false\n");
        let e = err(&off);
        assert!(
            e.starts_with("s.toml: line 8, column 11: ")
                && e.contains("root_chain is off with no chain given"),
            "{e}"
        );
        // With a chain given, or with nothing left that needs one, it is
        // a scenario a run takes.
        parse(&format!("{off}given = {{ root_chain = \"chain.pem\" }}\n")).unwrap();
        let s = parse(&format!(
            "{off}[stages.web_ticket]\nenabled = false\n[stages.certificate]\nenabled = false\n"
        ))
        .unwrap();
        assert!(!s.stage(Stage::RootChain).unwrap().enabled);
    }

    #[test]
    fn bad_threshold_points_at_its_value() {
        let e = err(&format!(
            "{MINIMAL}[thresholds]\n\"register.p99\" = \"2s\"\n"
        ));
        assert!(
            e.starts_with(
                "s.toml: line 8, column 18: thresholds.\"register.p99\": expected a comparison"
            ),
            "{e}"
        );
    }

    /// Without DHCP, the web services' host must be named: option 43 is
    /// where phones learn it.
    #[test]
    fn without_dhcp_the_web_server_is_named() {
        let off = format!("{MINIMAL}[stages.dhcp]\nenabled = false\n");
        let e = err(&off);
        assert!(
            e.starts_with(
                "s.toml: line 8, column 11: the web services' host comes from DHCP option 43"
            ),
            "{e}"
        );
        parse(&format!(
            "{off}given = {{ web_server = \"pool01.contoso.com\" }}\n"
        ))
        .unwrap();
        // Nothing left that needs it.
        parse(&format!(
            "{off}[stages.root_chain]\ngiven = {{ root_chain = \"c.pem\" }}\n[stages.web_ticket]\nenabled = false\n[stages.certificate]\nenabled = false\n"
        ))
        .unwrap();
    }

    /// A real pool gets an abort rule unless the scenario gives its own
    /// (`fail_rate = 1` to have none); the mock gets none.
    #[test]
    fn a_pool_gets_an_abort_rule_by_default() {
        let pool = format!(
            "{MINIMAL}[target]\ndns_server = \"127.0.0.1\"\nsip_domain = \"contoso.com\"\nweb_server = \"pool01.contoso.com\"\n[stages.dhcp]\nenabled = false\n"
        );
        assert_eq!(parse(&pool).unwrap().abort, Some(AbortRule::FOR_A_POOL));
        assert_eq!(parse(MINIMAL).unwrap().abort, None);
        let off = parse(&format!("{pool}[abort]\nfail_rate = 1\n")).unwrap();
        assert_eq!(
            off.abort.unwrap().describe(),
            "no abort rule (abort.fail_rate = 1)"
        );
    }

    #[test]
    fn abort_and_retry_ranges_are_checked() {
        assert!(err(&format!("{MINIMAL}[abort]\nfail_rate = 2\n")).contains("between 0 and 1"));
        assert!(
            err(&format!("{MINIMAL}[stages.dns.retry]\nattempts = 0\n"))
                .contains("at least 1 attempt")
        );
        assert!(
            err(&format!(
                "{MINIMAL}[stages.dns.retry]\nbackoff = \"1m\"\nbackoff_max = \"1s\"\n"
            ))
            .contains("longer than backoff_max")
        );
        assert!(err(&format!("{MINIMAL}[limits]\nsignins_per_second = 0\n")).contains("above 0"));
    }

    #[test]
    fn register_auth_values() {
        assert_eq!(parse(MINIMAL).unwrap().register_auth, RegisterAuth::Auto);
        for (text, want) in [
            ("auto", RegisterAuth::Auto),
            ("tls-dsk", RegisterAuth::TlsDsk),
            ("certificate", RegisterAuth::Certificate),
            ("ntlm", RegisterAuth::Ntlm),
            ("digest", RegisterAuth::Digest),
        ] {
            let s = parse(&format!("{MINIMAL}[stages.register]\nauth = \"{text}\"\n")).unwrap();
            assert_eq!(s.register_auth, want);
        }
        let e = err(&format!(
            "{MINIMAL}[stages.register]\nauth = \"kerberos\"\n"
        ));
        assert!(e.contains("line 8") && e.contains("unknown variant"), "{e}");
        let e = err(&format!("{MINIMAL}[stages.dns]\nauth = \"tls-dsk\"\n"));
        assert!(e.contains("only stages.register"), "{e}");
    }

    /// The update check goes on by default (a phone keeps its firmware
    /// and signs in); `required = true` makes its failure the phone's. No
    /// other stage takes the key: each feeds the next.
    #[test]
    fn only_the_update_check_may_fail_without_failing_the_phone() {
        let s = parse(MINIMAL).unwrap();
        for stage in Stage::ALL {
            let required = s.stage(stage).unwrap().required;
            assert_eq!(required, stage != Stage::Update, "{stage}");
        }
        let s = parse(&format!("{MINIMAL}[stages.retry]\nattempts = 2\n")).unwrap();
        assert!(!s.stage(Stage::Update).unwrap().required);
        let s = parse(&format!("{MINIMAL}[stages.update]\nrequired = true\n")).unwrap();
        assert!(s.stage(Stage::Update).unwrap().required);
        let e = err(&format!(
            "{MINIMAL}[stages.certificate]\nrequired = false\n"
        ));
        assert!(
            e.contains("line 8") && e.contains("stage certificate has no required setting"),
            "{e}"
        );
    }

    #[test]
    fn tls_session_cache_values() {
        assert_eq!(
            parse(&format!("{MINIMAL}[tls]\nsession_cache = \"off\"\n"))
                .unwrap()
                .session_cache,
            SessionCache::Off
        );
        assert!(err(&format!("{MINIMAL}[tls]\nsession_cache = \"some\"\n")).contains("line 8"));
        assert_eq!(parse(MINIMAL).unwrap().tls_max, TlsVersion::V12);
        assert_eq!(
            parse(&format!("{MINIMAL}[tls]\nmax_version = \"1.3\"\n"))
                .unwrap()
                .tls_max,
            TlsVersion::V13
        );
        assert!(err(&format!("{MINIMAL}[tls]\nmax_version = \"1.1\"\n")).contains("line 8"));
    }
}
