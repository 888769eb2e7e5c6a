//! The string a SIP message is signed over, shared by every [MS-SIPAE]
//! signing scheme (NTLM, Kerberos, TLS-DSK).
//!
//! [MS-SIPAE] 3.2.5.2 (client checking a server's message) and 3.3.5.2
//! (server checking a client's) build the same buffer: a list of values,
//! each enclosed in angle brackets, taken "with the same syntax and case
//! ... as they appear in the message"; an absent value is an empty `<>`.
//! Only the salt (`crand` / `srand`) and sequence number (`cnum` / `snum`)
//! differ between the two directions, and the response code is appended
//! for responses only. This module owns that buffer; it does not own the
//! keys or the MAC (see [`super::tlsdsk`] for TLS-DSK; NTLM's signing lives
//! with NTLM).

use super::message::Message;
use super::uri::NameAddr;
use crate::{Error, Result};

const WHAT: &str = "SIP message to sign";

/// The scheme parameters that go into the signature string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignParams<'a> {
    /// The authentication protocol as the header writes it: `TLS-DSK`,
    /// `NTLM`, `Kerberos`.
    pub scheme: &'a str,
    /// `crand` for a client's message, `srand` for a server's.
    pub rand: &'a str,
    /// `cnum` for a client's message, `snum` for a server's, as written.
    pub num: &'a str,
    /// `realm` of the security association.
    pub realm: &'a str,
    /// `targetname` of the security association.
    pub targetname: &'a str,
    /// The protocol `version` of the challenge. Version 3 and later sign the
    /// To URI and the P-Asserted-Identity URIs as well; the older form
    /// ([MS-SIP] 3.1.4.2) stops at the To tag before Expires.
    pub version: u32,
}

fn scheme_of(uri: &str) -> Option<&str> {
    uri.split_once(':').map(|(s, _)| s)
}

/// Builds the signature string of `m` for `p`: [MS-SIPAE] 3.2.5.2 step 2
/// (and 3.3.5.2), in order:
/// protocol, rand, num, realm, targetname, Call-ID, CSeq number, CSeq
/// method, From URI, From tag, To URI, To tag, P-Asserted-Identity SIP URI,
/// P-Asserted-Identity tel URI, Expires, and for responses the status code.
///
/// Errors when the message lacks a Call-ID, CSeq, From or To (a message
/// without them cannot be signed or checked).
pub fn signature_string(m: &Message, p: &SignParams<'_>) -> Result<String> {
    let call_id = m
        .call_id()
        .ok_or_else(|| Error::invalid(WHAT, "no Call-ID"))?;
    let cseq = m
        .cseq()
        .map_err(|_| Error::invalid(WHAT, "missing or malformed CSeq"))?;
    let from = m
        .from_addr()
        .map_err(|_| Error::invalid(WHAT, "missing or malformed From"))?;
    let to = m
        .to_addr()
        .map_err(|_| Error::invalid(WHAT, "missing or malformed To"))?;
    let expires = m.header("Expires").unwrap_or("");
    let mut out = String::with_capacity(256);
    let mut push = |v: &str| {
        out.push('<');
        out.push_str(v);
        out.push('>');
    };
    push(p.scheme);
    push(p.rand);
    push(p.num);
    push(p.realm);
    push(p.targetname);
    push(call_id);
    push(&cseq.seq.to_string());
    push(cseq.method);
    push(&from.uri);
    push(from.tag().unwrap_or(""));
    if p.version >= 3 {
        push(&to.uri);
        push(to.tag().unwrap_or(""));
        let mut sip = String::new();
        let mut tel = String::new();
        // P-Asserted-Identity may carry a SIP and a tel URI, comma-joined
        // or on two lines (RFC 3325 9.1).
        let pais: Vec<NameAddr> = m
            .header_values("P-Asserted-Identity")
            .filter_map(|v| NameAddr::parse(v).ok())
            .collect();
        for pai in pais {
            match scheme_of(&pai.uri) {
                Some(s) if s.eq_ignore_ascii_case("tel") && tel.is_empty() => tel = pai.uri,
                Some(s)
                    if (s.eq_ignore_ascii_case("sip") || s.eq_ignore_ascii_case("sips"))
                        && sip.is_empty() =>
                {
                    sip = pai.uri;
                }
                _ => {}
            }
        }
        push(&sip);
        push(&tel);
    } else {
        push(to.tag().unwrap_or(""));
    }
    push(expires);
    if let Some(code) = m.status() {
        push(&code.to_string());
    }
    Ok(out)
}
