//! The mock Front End: every service a Lync / Skype for Business phone talks
//! to during sign-in, with a capacity model that saturates like a pool.
//!
//! It speaks the wire formats of `phonestorm-proto` on real sockets. Each
//! service runs its requests through a [`capacity::Station`] (workers,
//! service-time distribution, bounded queue) and has fault knobs, so a
//! storm builds queueing delay, then rejections, and tests can rehearse
//! stalls, drops and resets. This crate owns the servers and their state;
//! it owns no wire format.

#![forbid(unsafe_code)]

pub mod ca;
pub mod capacity;
pub mod clock;
pub mod config;
pub mod dhcp;
pub mod directory;
pub mod dns;
mod error;
pub mod http;
pub mod metrics;
pub mod registrar;
pub mod sntp;
mod start;
pub mod udp;
pub mod web;

pub use config::{DigestAlgorithm, MockConfig, RegistrarAuth};
pub use error::{Error, Result};
pub use start::{Endpoints, FrontEndEndpoints, Running, start};
