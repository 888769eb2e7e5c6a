//! The one error type of `phonestorm-mockfe`.
//!
//! Errors here end the mock's start-up or a whole service: a port that
//! cannot be bound, a configuration that makes no sense, a CA that cannot be
//! made. A bad request from a client is never one of these: each service
//! answers it on the wire, counts it and carries on.

/// Why the mock Front End could not start or keep a service running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        /// The file that was being read.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML or does not fit the schema.
    #[error("{path}: {message}")]
    Config {
        /// The file (or `<built-in>`), for the message.
        path: String,
        /// What is wrong and where, line and column included when known.
        message: String,
    },
    /// A socket could not be bound.
    #[error("cannot bind {service} on {addr}: {source}")]
    Bind {
        /// The service that wanted the socket.
        service: &'static str,
        /// The address it asked for.
        addr: std::net::SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The mock CA or a server certificate could not be made.
    #[error("certificate authority: {0}")]
    Ca(#[from] rcgen::Error),
    /// rustls refused the server configuration.
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A built-in body template or zone could not be prepared.
    #[error("protocol data: {0}")]
    Proto(#[from] phonestorm_proto::Error),
    /// The metrics registry refused a metric (a name clash: a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
