//! The crate's one error type.

use std::net::SocketAddr;

/// What can go wrong setting up live measurement. Recording itself never
/// fails: a metric that cannot be updated is skipped, not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metric could not be created or registered (a bad name or
    /// duplicate registration: a bug, caught by the unit tests).
    #[error("metric registry: {0}")]
    Prometheus(#[from] prometheus::Error),
    /// The `/metrics` listener could not be bound.
    #[error("cannot listen for /metrics on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
