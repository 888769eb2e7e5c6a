//! The interop suite: phonestorm against standard servers nobody here
//! wrote, each started by the test on loopback (or in a namespace the test
//! creates) and stopped by pid. Its own test binary (`test = false` in
//! Cargo.toml) so `cargo test --workspace` stays runnable with only Rust;
//! run it with `just interop` (tests/interop/run.sh). A missing peer fails
//! its test unless `PHONESTORM_SKIP_INTEROP=1`, which prints
//! `SKIPPED <peer>: <why>`.

// Tests may unwrap, index and panic: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sip;
mod sip_support;
