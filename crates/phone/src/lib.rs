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

#![forbid(unsafe_code)]

pub mod event;

pub use event::{Failure, FailureKind, Gate, Open, Outcome, Recorder, Stage, StageEvent};
