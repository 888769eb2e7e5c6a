//! End-to-end tests of the `phonestorm` binary: one integration test binary
//! whose modules each cover a subcommand or an interoperability check. They
//! run the built binary as a user would and look only at its exit status and
//! output, never at its internals.

// As clippy.toml says for unit tests: tests may unwrap, index and panic, a
// panic there is a failed test. Helpers outside `#[test]` functions need it
// said here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod bootstrap;
mod dhcp_options;
mod interop;
mod metrics;
mod mixed_auth;
mod mock;
mod openfiles;
mod report;
mod run;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

/// Runs the phonestorm binary with `args`.
pub(crate) fn phonestorm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args(args)
        .output()
        .expect("the phonestorm binary runs")
}

/// The nine bootstrap stages in order, as reports and traces name them.
pub(crate) const STAGES: [&str; 9] = [
    "vlan",
    "dhcp",
    "ntp",
    "dns",
    "update",
    "root_chain",
    "web_ticket",
    "certificate",
    "register",
];

/// Finds `name` on PATH or in the sbin directories Debian installs daemons
/// into (often not on a normal user's PATH).
pub(crate) fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// An outside program a test checks against, or `None` when it is missing
/// and not required. Under CI (`CI` set, as `.ci/run` runs) or with
/// `PHONESTORM_REQUIRE_INTEROP=1` a missing program fails the test with the
/// package to install, so the check cannot quietly stop happening;
/// elsewhere (a fresh machine with only the Rust toolchain) the test says
/// it skipped and passes. `PHONESTORM_SKIP_INTEROP=1` skips in any case.
pub(crate) fn optional_tool(name: &str, package: &str) -> Option<PathBuf> {
    if let Some(p) = find(name) {
        return Some(p);
    }
    let env = |k: &str| std::env::var(k).ok();
    let required = env("PHONESTORM_REQUIRE_INTEROP").as_deref() == Some("1") || env("CI").is_some();
    if !required || env("PHONESTORM_SKIP_INTEROP").as_deref() == Some("1") {
        eprintln!("SKIPPED: {name} not found (Debian package {package})");
        return None;
    }
    panic!(
        "{name} not found on PATH or in /usr/sbin: install the Debian package \
         `{package}` (apt-get install -y {package}), or set PHONESTORM_SKIP_INTEROP=1"
    );
}

/// Reads a JSON report and removes the file.
pub(crate) fn take_report(path: &Path) -> serde_json::Value {
    let r = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let _ = std::fs::remove_file(path);
    r
}

/// The first line `child` prints on its (piped) stdout, as JSON: the
/// endpoints line of `phonestorm mock`. Read on a thread, so a child that
/// never prints fails the test after 60 s instead of hanging it.
pub(crate) fn endpoints_line(child: &mut Child) -> serde_json::Value {
    let out = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the endpoints line within 60 s");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Upper-case hex, as DHCPUtil prints it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
