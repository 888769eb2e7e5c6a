//! Helpers: a mock, a phone configuration pointing at it, identities of
//! the mock's users, and a recorder that keeps every event.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use phonestorm_mockfe::{MockConfig, Running};
use phonestorm_phone::{
    Identity, KeySource, Model, Open, PhoneConfig, PhoneResult, Recorder, Shared, Stage,
    StageEvent, Target, User,
};
use tokio_util::sync::CancellationToken;

/// Starts a mock with `cfg` (users trimmed, to keep start-up cheap).
pub(crate) async fn mock(mut cfg: MockConfig) -> Running {
    cfg.users.count = cfg.users.count.min(1000);
    phonestorm_mockfe::start(cfg).await.expect("mock starts")
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
}

impl Recorder for Collect {
    fn record(&self, event: StageEvent) {
        self.events.lock().unwrap().push(event);
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
}

/// A bound on a whole phone run: reaching it means a hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// Runs one phone to the end.
pub(crate) async fn run(id: &Identity, cfg: &PhoneConfig, rec: &Collect) -> PhoneResult {
    let shared = Shared::new(cfg).unwrap();
    run_with(id, cfg, &shared, rec, CancellationToken::new()).await
}

/// Runs one phone with `shared` and `stop`.
pub(crate) async fn run_with(
    id: &Identity,
    cfg: &PhoneConfig,
    shared: &Shared,
    rec: &Collect,
    stop: CancellationToken,
) -> PhoneResult {
    let start = tokio::time::Instant::now();
    tokio::time::timeout(
        PATIENCE,
        phonestorm_phone::bootstrap(id, cfg, shared, start, rec, &Open, stop),
    )
    .await
    .expect("the phone finished in time")
}
