//! Helpers: a mock, a phone configuration pointing at it, identities of
//! the mock's users, recorders that keep every event (and the SIP wire
//! trace), running a phone to the end, reading the mock registrar's
//! counters, and checking how a refused phone recorded the refusal.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use phonestorm_mockfe::{MockConfig, Running};
use phonestorm_phone::{
    Direction, Failure, FailureKind, Gate, Identity, KeySource, Model, Open, Outcome, PhoneConfig,
    PhoneOutcome, PhoneResult, Recorder, Shared, Stage, StageEvent, Target, User,
};
use tokio_util::sync::CancellationToken;

/// Starts a mock with `cfg` (users trimmed, to keep start-up cheap).
pub(crate) async fn mock(mut cfg: MockConfig) -> Running {
    cfg.users.count = cfg.users.count.min(1000);
    phonestorm_mockfe::start(cfg).await.expect("mock starts")
}

/// A mock configuration whose registrar grants 2 s (at least 1 s), so a
/// phone held a few seconds refreshes its registration.
pub(crate) fn short_expires(mut cfg: MockConfig) -> MockConfig {
    cfg.registrar.default_expires = Duration::from_secs(2);
    cfg.registrar.min_expires = Duration::from_secs(1);
    cfg
}

/// A counter of the mock's metrics whose line starts with `prefix`, 0
/// when absent.
pub(crate) fn metric(mock: &Running, prefix: &str) -> u64 {
    let m = String::from_utf8(mock.metrics.render()).unwrap();
    m.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How many answers with `status` the mock's registrar gave.
pub(crate) fn answers(mock: &Running, status: u16) -> u64 {
    metric(
        mock,
        &format!(r#"phonestorm_mock_answers_total{{outcome="{status}",service="registrar"}}"#),
    )
}

/// How many requests the mock's registrar refused for `reason`.
pub(crate) fn rejections(mock: &Running, reason: &str) -> u64 {
    metric(
        mock,
        &format!(
            r#"phonestorm_mock_auth_rejections_total{{reason="{reason}",service="registrar"}}"#
        ),
    )
}

/// How many sign-ins with `scheme` the mock's registrar accepted.
pub(crate) fn signins(mock: &Running, scheme: &str) -> u64 {
    metric(
        mock,
        &format!(r#"phonestorm_mock_auth_signins_total{{scheme="{scheme}",service="registrar"}}"#),
    )
}

/// A configuration that reaches `mock`: its ephemeral ports as overrides,
/// generous timeouts (a slow machine must not fail a test), quick retries.
pub(crate) fn config(mock: &Running) -> PhoneConfig {
    let ep = &mock.endpoints;
    let mut target = Target::new(ep.dhcp, ep.dns, &ep.sip_domain);
    target.ports.http = Some(ep.http.port());
    target.ports.sntp = Some(ep.sntp.port());
    target.ports.sip_tls = Some(ep.sip_tls.port());
    target.ports.sip_tcp = Some(ep.sip_tcp.port());
    let mut cfg = PhoneConfig::new(target).unwrap();
    cfg.keys = KeySource::Pool(1);
    for s in Stage::ALL {
        let c = cfg.stage_mut(s);
        c.timeout = Duration::from_secs(20);
        c.retry.base = Duration::from_millis(20);
        c.retry.max = Duration::from_millis(200);
    }
    cfg
}

/// The phone of the mock's user `n` (extension `5000n` style: the last
/// five digits of 14255550000 + n), typing `pin`, knowing the mock's
/// password for it.
pub(crate) fn phone(n: u32, pin: &str) -> Identity {
    let number = (14_255_550_000u64 + u64::from(n)).to_string();
    let ext = &number[number.len() - 5..];
    Identity::generated(
        n,
        Model::Cx600,
        User {
            sip_uri: None,
            number: ext.into(),
            pin: pin.into(),
            password: format!("Storm-{n}!").into(),
        },
        Ipv4Addr::LOCALHOST,
    )
}

/// Keeps every event, and who signed in and out.
#[derive(Default)]
pub(crate) struct Collect {
    pub(crate) events: Mutex<Vec<StageEvent>>,
    pub(crate) signed_in: Mutex<Vec<u32>>,
    pub(crate) signed_out: Mutex<Vec<u32>>,
    pub(crate) went_on: Mutex<Vec<(u32, Stage)>>,
}

impl Recorder for Collect {
    fn record(&self, event: StageEvent) {
        self.events.lock().unwrap().push(event);
    }
    fn went_on(&self, phone: u32, stage: Stage) {
        self.went_on.lock().unwrap().push((phone, stage));
    }
    fn signed_in(&self, phone: u32) {
        self.signed_in.lock().unwrap().push(phone);
    }
    fn signed_out(&self, phone: u32) {
        self.signed_out.lock().unwrap().push(phone);
    }
}

impl Collect {
    pub(crate) fn events(&self) -> Vec<StageEvent> {
        self.events.lock().unwrap().clone()
    }

    /// How each attempt at `stage` ended, in order.
    pub(crate) fn outcomes(&self, stage: Stage) -> Vec<Outcome> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.stage == stage)
            .map(|e| e.outcome.clone())
            .collect()
    }
}

/// The register stage's last failure.
pub(crate) fn register_failure(rec: &Collect) -> Failure {
    rec.events()
        .into_iter()
        .rev()
        .find_map(|e| match e.outcome {
            Outcome::Failed(f) if e.stage == Stage::Register => Some(f),
            _ => None,
        })
        .expect("a failed register attempt")
}

/// The failure of a phone that must have failed at `stage` with `kind`
/// (else its outcome is shown).
pub(crate) fn failed_at(r: &PhoneResult, stage: Stage, kind: FailureKind) -> &Failure {
    let PhoneOutcome::Failed { stage: at, failure } = &r.outcome else {
        panic!("expected a failure at {stage:?}, got {:?}", r.outcome)
    };
    assert_eq!((*at, failure.kind), (stage, kind), "{failure}");
    failure
}

/// The register failure of a phone that could not sign in: its outcome
/// must be a failure at the register stage (else the outcome, the
/// registrar it reached and every event are shown).
pub(crate) fn failed_at_register(r: &PhoneResult, rec: &Collect) -> Failure {
    assert!(
        matches!(
            r.outcome,
            PhoneOutcome::Failed {
                stage: Stage::Register,
                ..
            }
        ),
        "{:?} at {:?}: {:#?}",
        r.outcome,
        r.registrar,
        rec.events()
    );
    register_failure(rec)
}

/// The failure of a phone that signed in and then lost its registration
/// (a refresh the registrar refused).
pub(crate) fn lost(r: PhoneResult) -> Failure {
    match r.outcome {
        PhoneOutcome::Lost(f) => f,
        other => panic!("expected a lost registration, got {other:?}"),
    }
}

/// Checks that `f` records a registrar's refusal as a pool sends it: the
/// ms-diagnostics code 1000 the mock gives to failed authentication, the
/// SIP `status`, and `reason` in the detail.
pub(crate) fn assert_refused(f: &Failure, status: u16, reason: &str) {
    assert_eq!(f.kind, FailureKind::Diagnostics(1000), "{f:?}");
    assert!(
        f.detail.contains(&format!("sip {status}")) && f.detail.contains(reason),
        "{f:?}"
    );
}

/// Keeps the register stage's SIP wire trace as well as the events.
#[derive(Default)]
pub(crate) struct Trace {
    pub(crate) inner: Collect,
    wire: Mutex<Vec<(Direction, String)>>,
}

impl Recorder for Trace {
    fn record(&self, event: StageEvent) {
        self.inner.record(event);
    }
    fn tracing(&self) -> bool {
        true
    }
    fn wire(&self, _phone: u32, stage: Stage, direction: Direction, text: &str) {
        if stage == Stage::Register {
            self.wire.lock().unwrap().push((direction, text.to_owned()));
        }
    }
}

impl Trace {
    /// Every message, in order.
    pub(crate) fn wire(&self) -> Vec<(Direction, String)> {
        self.wire.lock().unwrap().clone()
    }

    /// The messages that went `direction`, in order.
    pub(crate) fn messages(&self, direction: Direction) -> Vec<String> {
        self.wire()
            .into_iter()
            .filter(|(d, _)| *d == direction)
            .map(|(_, t)| t)
            .collect()
    }
}

/// A bound on a whole phone run: reaching it means a hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// Runs one phone to the end.
pub(crate) async fn run(id: &Identity, cfg: &PhoneConfig, rec: &dyn Recorder) -> PhoneResult {
    let shared = Shared::new(cfg).unwrap();
    run_with(id, cfg, &shared, rec, CancellationToken::new()).await
}

/// Runs one phone with `shared` and `stop`.
pub(crate) async fn run_with(
    id: &Identity,
    cfg: &PhoneConfig,
    shared: &Shared,
    rec: &dyn Recorder,
    stop: CancellationToken,
) -> PhoneResult {
    run_gated(id, cfg, shared, rec, &Open, stop).await
}

/// Runs one phone with `shared`, `gate` and `stop`, within [`PATIENCE`].
pub(crate) async fn run_gated(
    id: &Identity,
    cfg: &PhoneConfig,
    shared: &Shared,
    rec: &dyn Recorder,
    gate: &dyn Gate,
    stop: CancellationToken,
) -> PhoneResult {
    let start = tokio::time::Instant::now();
    tokio::time::timeout(
        PATIENCE,
        phonestorm_phone::bootstrap(id, cfg, shared, start, rec, gate, stop),
    )
    .await
    .expect("the phone finished in time")
}
