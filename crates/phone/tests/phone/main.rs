//! Phones against the mock Front End over loopback sockets: the whole
//! bootstrap, refusals, stages turned off, fallbacks, and staying signed
//! in. One test binary; each module is a concern.

// Test code: a panic is a failed test, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod failures;
mod hold;
mod ntlm;
mod proof;
mod relay;
mod signin;
mod tlsdsk;
