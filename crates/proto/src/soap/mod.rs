//! SOAP 1.1 bodies of the Lync / Skype for Business web services.
//!
//! Owns, both ways (build for the mock, parse for the phones):
//! - the SOAP 1.1 envelope and fault, with the `OCSDiagnosticsFault` detail
//!   of [MS-OCAUTHWS] ([`envelope`]);
//! - the WS-Trust 1.3 web ticket request and answer with its SAML 1.1
//!   assertion ([`wstrust`]) and the `CK/PSHA1` proof key ([`psha1`]);
//! - `GetAndPublishCert` of the Certificate Provisioning service
//!   ([`certprov`]);
//! - best-effort templates and parsers for the bodies Microsoft never
//!   published: PIN web ticket, root chain, device update ([`template`],
//!   [`guessed`]).
//!
//! Does not own: HTTP, TLS, the XML signature a later call puts in its
//! `wsse:Security` header (the assertion is kept as raw text for it), nor the
//! `ms-diagnostics` grammar (that is [`crate::diag`]).
//!
//! Every parser matches elements by namespace URI and local name, never by
//! prefix, refuses bodies over [`xml::MAX_BODY_BYTES`] or nested deeper than
//! [`xml::MAX_DEPTH`], and never panics.

pub mod certprov;
pub mod envelope;
pub mod guessed;
pub mod psha1;
pub mod template;
pub mod wstrust;
pub mod xml;

use base64::Engine as _;

use crate::{Error, Result};

/// SOAP 1.1 envelope namespace (SOAP 1.1 section 4.1.2).
pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Trust 1.3 namespace.
pub const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// The same namespace with a trailing slash, as [MS-OCAUTHWS] writes it
/// inside `GetAndPublishCert`. Namespace names compare as strings (XML
/// Namespaces section 2.3), so the two are different namespaces; both are
/// accepted wherever WS-Trust elements are expected.
pub const NS_WST_SLASH: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/";
/// Both spellings of the WS-Trust 1.3 namespace.
pub const NS_WST_ANY: &[&str] = &[NS_WST, NS_WST_SLASH];
/// WS-Security 1.0 secext namespace.
pub const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security 1.0 utility namespace (`wsu:Created`, `wsu:Expires`).
pub const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// WS-Policy namespace of `wsp:AppliesTo` as WS-Trust 1.3 uses it.
pub const NS_WSP: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
/// WS-Addressing 1.0 namespace.
pub const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
/// SAML 1.x assertion namespace.
pub const NS_SAML1: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
/// [MS-OCAUTHWS] namespace of the certificate provisioning and fault elements.
pub const NS_AUTHWS: &str = "http://schemas.microsoft.com/OCS/AuthWebServices/";
/// [MS-WSTEP] enrollment namespace (`wstep:RequestID`).
pub const NS_WSTEP: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";

/// WS-Security 1.0 `EncodingType` of base64 binary security tokens.
pub const ENCODING_BASE64: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#Base64Binary";

/// Decodes `xs:base64Binary` text, which may hold XML whitespace (line
/// breaks every 64 or 76 characters are common).
pub(crate) fn decode_base64(text: &str, what: &'static str, at: usize) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !xml::is_xml_space(*c)).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| Error::invalid_at(what, at, format!("bad base64: {e}")))
}

/// Encodes bytes as `xs:base64Binary` (one line, padded).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes `<tag>escaped text</tag>`.
pub(crate) fn push_text_element(out: &mut String, tag: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    xml::escape_text(text, out);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}
