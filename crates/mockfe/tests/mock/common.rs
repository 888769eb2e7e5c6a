//! Helpers shared by the mock's service tests: starting a mock, and the
//! rule for tests that need a standard tool installed.

use std::time::Duration;

use phonestorm_mockfe::{MockConfig, Running};

/// Starts a mock with `cfg` (default users trimmed, to keep start-up cheap).
pub(crate) async fn start(mut cfg: MockConfig) -> Running {
    cfg.users.count = cfg.users.count.min(1000);
    phonestorm_mockfe::start(cfg).await.expect("mock starts")
}

/// A generous bound for any single exchange on loopback: a test that hits
/// it has found a hang, not a slow machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Whether a standard tool is present. Missing tools fail the test, unless
/// `PHONESTORM_SKIP_INTEROP=1`, in which case the test says so and passes.
pub(crate) fn tool(name: &str, package: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("-v")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if found {
        return true;
    }
    if std::env::var("PHONESTORM_SKIP_INTEROP").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: `{name}` not installed (Debian package {package}); PHONESTORM_SKIP_INTEROP=1"
        );
        return false;
    }
    panic!(
        "`{name}` is not installed: apt-get install {package} (or set PHONESTORM_SKIP_INTEROP=1 to skip)"
    );
}
