//! The one error type of `phonestorm-proto`.
//!
//! Every decoder and builder in the crate returns [`Error`]. The variants are
//! deliberately few and general so that each codec can say *what* was wrong
//! and *where* without the crate growing an enum per format.

use std::borrow::Cow;

/// What went wrong while decoding or encoding a wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before a complete message: read more bytes and try
    /// again. Only stream framings (SIP over TCP/TLS) produce this; a
    /// datagram that is short is [`Error::Invalid`].
    #[error("incomplete {what}: more bytes are needed")]
    Incomplete {
        /// The kind of message being framed, e.g. `"SIP message"`.
        what: &'static str,
    },
    /// The input is not a valid message of its format.
    #[error("invalid {what}{}: {reason}", at.map(|a| format!(" at byte {a}")).unwrap_or_default())]
    Invalid {
        /// The kind of message or field, e.g. `"DHCP option 120"`.
        what: &'static str,
        /// Byte offset into the input where the problem was found, if known.
        at: Option<usize>,
        /// A human-readable reason, lower case.
        reason: Cow<'static, str>,
    },
    /// A value handed to a builder cannot be encoded (a DNS label over 63
    /// bytes, a port out of range, non-ASCII where ASCII is required, ...).
    #[error("bad {what}: {reason}")]
    BadValue {
        /// The field that was refused, e.g. `"SIP server FQDN"`.
        what: &'static str,
        /// Why it was refused, lower case.
        reason: Cow<'static, str>,
    },
}

impl Error {
    /// An [`Error::Invalid`] at a known byte offset.
    pub fn invalid_at(what: &'static str, at: usize, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid {
            what,
            at: Some(at),
            reason: reason.into(),
        }
    }

    /// An [`Error::Invalid`] without a byte offset.
    pub fn invalid(what: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid {
            what,
            at: None,
            reason: reason.into(),
        }
    }

    /// An [`Error::BadValue`].
    pub fn bad_value(what: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::BadValue {
            what,
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
