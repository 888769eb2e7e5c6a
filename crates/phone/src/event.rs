//! What a phone reports, and the two hooks the engine gives it.
//!
//! Every stage a phone runs ends in exactly one [`StageEvent`]: which
//! phone, which stage, when it was meant to start, when it did, when it
//! ended, and how. Latency is measured from the *intended* start so that a
//! slow server, or a rate limit holding phones back, cannot hide its own
//! slowness (coordinated omission); the actual start is kept too, so both
//! views can be reported. The phone hands events to a [`Recorder`] and
//! never decides how they are stored.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tokio::time::Instant;

/// The nine stages of a sign-in, in order (PROTOCOL.md). The names are the
/// ones used everywhere: code, metrics, reports, scenario files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// 1: voice VLAN discovery (DHCP with vendor class `CPE-OCPHONE`).
    Vlan,
    /// 2: DHCP address, then DHCPINFORM for options 43 and 120.
    Dhcp,
    /// 2b: SNTP time.
    Ntp,
    /// 3 and 5: DNS SRV and A for the registrar and update service.
    Dns,
    /// 4: device update check (and image download when told to update).
    Update,
    /// 6: the anonymous root chain download.
    RootChain,
    /// 7: PIN authentication for a web ticket.
    WebTicket,
    /// 8: `ResolveUser` and `GetAndPublishCert`.
    Certificate,
    /// 9: SIP REGISTER over TLS until 200 OK.
    Register,
}

impl Stage {
    /// Every stage, in bootstrap order.
    pub const ALL: [Stage; 9] = [
        Stage::Vlan,
        Stage::Dhcp,
        Stage::Ntp,
        Stage::Dns,
        Stage::Update,
        Stage::RootChain,
        Stage::WebTicket,
        Stage::Certificate,
        Stage::Register,
    ];

    /// The stage's name: `vlan`, `dhcp`, `ntp`, `dns`, `update`,
    /// `root_chain`, `web_ticket`, `certificate`, `register`.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Vlan => "vlan",
            Stage::Dhcp => "dhcp",
            Stage::Ntp => "ntp",
            Stage::Dns => "dns",
            Stage::Update => "update",
            Stage::RootChain => "root_chain",
            Stage::WebTicket => "web_ticket",
            Stage::Certificate => "certificate",
            Stage::Register => "register",
        }
    }

    /// The stage with this name.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Position in [`Stage::ALL`], for array-indexed per-stage state.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether a phone can go on past this stage when every attempt at it
    /// failed. Only the update check: the Device Update service only
    /// offers new firmware ("checked at power-on, at sign-in and every
    /// 24 h", PROTOCOL.md stage 4) and no later step uses what it returns,
    /// while every other stage feeds the next (an address, a registrar, a
    /// web ticket, a certificate). The default of
    /// [`StageConfig::required`](crate::StageConfig::required) is its
    /// negation, and only such a stage may be made optional.
    pub const fn can_go_on_without(self) -> bool {
        matches!(self, Stage::Update)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a stage failed, in the categories reports count by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No answer in time.
    Timeout,
    /// The connection was refused or reset.
    Refused,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// An HTTP status other than success.
    HttpStatus(u16),
    /// A SIP final response other than success.
    SipStatus(u16),
    /// A server refusal carrying an `ms-diagnostics` / `X-Ms-diagnostics`
    /// id (the status is in the detail).
    Diagnostics(u32),
    /// The server's answer could not be parsed.
    Parse,
    /// Authentication could not be completed: no scheme the phone can run
    /// was offered, or a handshake leg was malformed or refused without
    /// an `ms-diagnostics`.
    AuthRejected,
    /// A signed answer whose `rspauth` (or `snum`) does not check out, or a
    /// success answer without a signature: the answer is not the
    /// registrar's.
    BadRspauth,
    /// This machine ran out of something the harness needs. The pool
    /// never saw the attempt, so it says nothing about the pool: reports
    /// count it apart and no stage is judged by it.
    Local(Shortage),
    /// Anything else (no usable configuration, an unexpected local error).
    Other,
}

impl fmt::Display for FailureKind {
    /// The reason label used in reports and metrics: `timeout`, `refused`,
    /// `tls`, `http_503`, `sip_401`, `diag_4010`, `parse`, `auth_rejected`,
    /// `bad_rspauth`, `local_files`, `local_ports`, `local_memory`, `other`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::Refused => f.write_str("refused"),
            FailureKind::Tls => f.write_str("tls"),
            FailureKind::HttpStatus(s) => write!(f, "http_{s}"),
            FailureKind::SipStatus(s) => write!(f, "sip_{s}"),
            FailureKind::Diagnostics(id) => write!(f, "diag_{id}"),
            FailureKind::Parse => f.write_str("parse"),
            FailureKind::AuthRejected => f.write_str("auth_rejected"),
            FailureKind::BadRspauth => f.write_str("bad_rspauth"),
            FailureKind::Local(Shortage::Files) => f.write_str("local_files"),
            FailureKind::Local(Shortage::Ports) => f.write_str("local_ports"),
            FailureKind::Local(Shortage::Memory) => f.write_str("local_memory"),
            FailureKind::Other => f.write_str("other"),
        }
    }
}

/// What this machine ran short of ([`FailureKind::Local`]); each has its
/// own remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shortage {
    /// Open files, for the process (EMFILE) or the system (ENFILE): raise
    /// `ulimit -n`.
    Files,
    /// Local ports on a source address (EADDRINUSE from a bind to port 0,
    /// EADDRNOTAVAIL from a connect): spread the phones over more source
    /// addresses.
    Ports,
    /// Socket buffers or memory (ENOBUFS, ENOMEM).
    Memory,
}

impl FailureKind {
    /// Whether the failure was this machine's, whatever it ran short of.
    pub const fn is_local(self) -> bool {
        matches!(self, FailureKind::Local(_))
    }
}

/// A failed stage: the category, and what a person needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The category.
    pub kind: FailureKind,
    /// Details: the server's reason phrase, the parse error, the address.
    pub detail: String,
}

impl Failure {
    /// A failure of `kind` with `detail`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// How a stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The stage did its job.
    Ok,
    /// The stage was turned off or given its result by the scenario.
    Skipped,
    /// The stage failed; the phone may retry it (one event per attempt).
    Failed(Failure),
}

/// One attempt at one stage by one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEvent {
    /// The phone's index in the run.
    pub phone: u32,
    /// The stage.
    pub stage: Stage,
    /// Which attempt this was, 0 for the first.
    pub attempt: u32,
    /// When the attempt was scheduled to start: the phone's arrival time
    /// for its first stage, the previous stage's end (plus any backoff)
    /// after that.
    pub intended: Instant,
    /// When it actually started (after any rate limit let it go).
    pub started: Instant,
    /// When it ended.
    pub ended: Instant,
    /// How it ended.
    pub outcome: Outcome,
}

/// Which way a traced message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The phone sent it.
    Sent,
    /// The phone received it.
    Received,
}

/// Where a phone's events go. Called from many tasks at once: it must not
/// block and should not take a contended lock per event.
pub trait Recorder: Send + Sync {
    /// Records one stage attempt.
    fn record(&self, event: StageEvent);
    /// Whether this recorder wants the wire trace: a readable line or
    /// message for everything the phone sends and receives (`phonestorm
    /// bootstrap`). Asked once per phone; when false, phones build no trace
    /// text at all, so a load run pays nothing for it.
    fn tracing(&self) -> bool {
        false
    }
    /// One traced message of `stage`, PIN already masked.
    fn wire(&self, _phone: u32, _stage: Stage, _direction: Direction, _text: &str) {}
    /// The phone goes on past `stage`, every attempt at which failed: a
    /// stage it can do without (`StageConfig::required` false).
    fn went_on(&self, _phone: u32, _stage: Stage) {}
    /// The phone is signed in (200 OK to its first REGISTER).
    fn signed_in(&self, _phone: u32) {}
    /// The phone signed out, gave up, or was stopped after signing in.
    fn signed_out(&self, _phone: u32) {}
}

/// A boxed future, for the one async hook of [`Gate`].
pub type Wait<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Rate limits the engine imposes on stages (e.g. certificate requests per
/// second). A phone awaits its gate before each stage attempt; the time
/// spent waiting counts in the stage's corrected latency, not its raw one.
pub trait Gate: Send + Sync {
    /// Resolves when `stage` may start.
    fn wait(&self, stage: Stage) -> Wait<'_>;
}

/// A gate that never holds anyone back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Open;

impl Gate for Open {
    fn wait(&self, _stage: Stage) -> Wait<'_> {
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_round_trip_and_keep_order() {
        for (i, s) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(Stage::from_name(s.name()), Some(s));
            assert_eq!(s.index(), i);
        }
        assert_eq!(Stage::from_name("sip"), None);
        assert_eq!(FailureKind::Diagnostics(4010).to_string(), "diag_4010");
        assert_eq!(FailureKind::HttpStatus(503).to_string(), "http_503");
    }
}
