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
mod report;
mod run;

use std::process::{Command, Output};

/// Runs the phonestorm binary with `args`.
pub(crate) fn phonestorm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args(args)
        .output()
        .expect("the phonestorm binary runs")
}

/// Upper-case hex, as DHCPUtil prints it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
