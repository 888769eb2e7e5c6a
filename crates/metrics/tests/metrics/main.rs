//! Integration tests of phonestorm-metrics: the dashboard against the
//! names the code exports, and live scrapes of a real `/metrics` endpoint
//! (the harness's and the mock Front End's) judged by `promtool`.

// As clippy.toml says for unit tests: tests may unwrap, index and panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod dashboard;
mod promtool;
mod queries;
