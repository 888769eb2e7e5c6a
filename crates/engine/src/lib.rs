//! The phonestorm scenario engine: everything between a scenario file and a
//! report, except the phone itself.
//!
//! It reads and validates scenario files ([`scenario`]), turns an arrival
//! profile into intended start times ([`schedule`]), holds phones back with
//! rate limits ([`limits`]), fits the run to the open-file limit
//! ([`openfiles`]), records what phones report ([`record`]), runs
//! the whole thing ([`run`]) and writes the report ([`report`]) with its
//! verdicts ([`thresholds`], [`abort`]). The phone is plugged in through
//! [`run::Launcher`]: this crate knows the phone only through the event
//! types of `phonestorm-phone`, never its bootstrap, so either side can
//! change its internals without the other noticing.

#![forbid(unsafe_code)]

pub mod abort;
pub mod bottleneck;
pub mod clock;
pub mod compare;
pub mod error;
pub mod fleet;
pub mod hdrlog;
pub mod html;
pub mod limits;
pub mod live;
pub mod openfiles;
pub mod progress;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod source;
pub mod threads;
pub mod thresholds;
pub mod timeline;
pub mod users;

pub use error::{Error, Result};
