//! The interop suite: phonestorm against servers nobody here wrote, over
//! the protocols a real pool uses. Each module starts its peer (from
//! Debian's packages) on loopback or in a network namespace it creates,
//! points phones at it, and stops it by process id. Run it with
//! `just interop` (tests/interop/run.sh), which installs missing peers;
//! a missing peer fails its test unless `PHONESTORM_SKIP_INTEROP=1`, and
//! then the output says `SKIPPED <peer>: <why>`.

// Test code: a panic is a failed test, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
// The dashboard's queries, read as crates/metrics' dashboard test reads them.
#[path = "../../crates/metrics/tests/metrics/queries.rs"]
mod dashboard_queries;
mod dhcp;
mod dns;
mod https;
mod prometheus;
mod sip;
