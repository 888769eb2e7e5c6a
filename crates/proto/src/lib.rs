//! Every wire format of the Lync / Skype for Business phone bootstrap, sans-IO.
//!
//! This crate owns the codecs and the protocol arithmetic that both the
//! virtual phones and the mock Front End use: DHCP (with the `MS-UC-Client`
//! options 43 and 120), DNS SRV and A, SNTP, HTTP/1.1 answers, the SOAP
//! bodies of the web services, SIP, and the authentication arithmetic (NTLMv2 for [MS-SIPAE],
//! SIP Digest, the signed web-ticket proof). It owns no sockets, no runtime and no clock: callers pass
//! bytes in, get bytes or typed values out, and pass the current time, and any
//! random values, as arguments. That keeps every decision testable against
//! the specifications' own vectors, and keeps the mock and the phones from
//! drifting apart silently.
//!
//! Decoders never panic on input. They return [`Error::Incomplete`] when more
//! bytes are needed and [`Error::Invalid`] with what was wrong and where.

#![forbid(unsafe_code)]

pub mod dhcp;
pub mod diag;
pub mod dns;
mod error;
pub mod http;
pub mod ntlm;
pub mod sip;
pub mod sntp;
pub mod soap;

pub use error::{Error, Result};
