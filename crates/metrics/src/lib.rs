//! Live measurement for phonestorm: what a run exports to Prometheus while
//! it goes, and the harness watching itself.
//!
//! - [`names`]: every metric and label name, the one list the Grafana
//!   dashboard is checked against;
//! - [`metrics`]: the registry, fed from phones' stage events without a
//!   lock on their path, and scrape-time gauges read from the engine;
//! - [`health`]: scheduler lag, the process's CPU, and the plain verdict
//!   on whether the harness is the bottleneck;
//! - [`serve`]: the `/metrics` endpoint (hyper).
//!
//! This crate knows phones only through `phonestorm-phone`'s event types
//! and the engine only through [`metrics::PhoneSource`]; it does not
//! schedule, record reports or run phones.

#![forbid(unsafe_code)]

pub mod clock;
pub mod cpu;
pub mod error;
pub mod health;
pub mod metrics;
pub mod names;
pub mod serve;

pub use error::{Error, Result};
pub use health::{Health, Verdict};
pub use metrics::{Metrics, PhoneCounts, PhoneSource};
