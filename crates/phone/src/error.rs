//! The one error type of `phonestorm-phone`.
//!
//! It covers what can go wrong *before* phones run: a configuration that
//! cannot work, a key pool that cannot be generated, TLS settings rustls
//! refuses. What goes wrong while a phone signs in is not an error but an
//! outcome ([`crate::Failure`]), recorded per stage.

/// Why a run's phones cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The phone configuration is inconsistent.
    #[error("phone configuration: {0}")]
    Config(String),
    /// A key or CSR could not be generated.
    #[error("key generation: {0}")]
    Key(#[from] rcgen::Error),
    /// rustls refused the TLS settings.
    #[error("tls setup: {0}")]
    Tls(#[from] rustls::Error),
    /// A codec refused a value.
    #[error("protocol: {0}")]
    Proto(#[from] phonestorm_proto::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
