//! A virtual Lync / Skype for Business desk phone.
//!
//! Each phone is one tokio task running a compact bootstrap coroutine
//! through the nine stages of PROTOCOL.md over real sockets, using the
//! codecs of `phonestorm-proto`. Phones share what real phones would not
//! notice being shared (TLS configuration, session caches, a key pool).
//! This crate owns the phone's behaviour: stages, timeouts, retries,
//! fallbacks and staying signed in. It does not own how results are stored
//! ([`event::Recorder`]), how arrivals are scheduled, or rate limits
//! ([`event::Gate`]): the engine supplies those.
//!
//! Entry points: [`Identity`] (who a phone is), [`PhoneConfig`] (what all
//! phones of a run are told), [`Shared`] (what they share), and
//! [`bootstrap`] (one phone's run).

#![forbid(unsafe_code)]

pub mod auth;
mod bootstrap;
pub mod clock;
pub mod config;
mod error;
pub mod event;
pub mod identity;
mod net;
pub mod relay;
mod resolve;
mod shared;
mod sip;
mod stages;

pub use auth::{AuthMode, AuthSettings, DskFault};
pub use bootstrap::{PhoneOutcome, PhoneResult, bootstrap};
pub use config::{
    DhcpRetransmit, HostPort, KeepAlive, KeySource, PhoneConfig, Ports, Retry, SessionCache,
    SourceRange, StageConfig, Target, TlsSettings,
};
pub use error::{Error, Result};
pub use event::{
    Direction, Failure, FailureKind, Gate, Open, Outcome, Recorder, Shortage, Stage, StageEvent,
};
pub use identity::{Identity, Model, User};
pub use relay::{RelayAgent, RelayStats};
pub use shared::{PhoneKey, Shared, Trust};
