//! End-to-end tests of the mock Front End's services over real loopback
//! sockets, speaking the codecs of `phonestorm-proto` and, where a standard
//! tool exists, that tool (dig), so the mock is judged by more than its own
//! dialect. One test binary; each module is a service.

// Test code: a panic is a failed test, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod dhcp;
mod digest;
mod dns;
mod sntp;
mod web;
