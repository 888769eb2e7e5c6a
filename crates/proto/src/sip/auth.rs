//! The values of SIP authentication headers: `WWW-Authenticate`,
//! `Proxy-Authenticate`, `Authorization`, `Proxy-Authorization`,
//! `Authentication-Info` and `Proxy-Authentication-Info`.
//!
//! Owns their syntax as RFC 3261 sections 20.7, 20.44 and 25.1 define it and
//! as [MS-SIPAE] section 2.2 uses it for NTLM, Kerberos and TLS-DSK: a scheme
//! followed by comma-separated `name=value` parameters. Several challenges
//! may share one header line (RFC 7235 section 4.1): a new one starts at a
//! comma followed by a scheme token and a space. This module does not do the
//! security work (TLS-DSK handshakes, signatures): it only carries the values.

use std::fmt;

use super::message::Message;
use super::text::{is_token, split_commas, split_param, trim_lws, unquote};
use crate::{Error, Result};

const WHAT: &str = "SIP authentication header";

/// One `name=value` parameter of an authentication header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    /// The parameter name as written.
    pub name: String,
    /// The value, unquoted.
    pub value: String,
    /// Whether the value was (or is to be) written as a quoted-string.
    pub quoted: bool,
}

/// A scheme and its parameters: one challenge, one set of credentials, or
/// one Authentication-Info value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthValue {
    /// `NTLM`, `Kerberos`, `TLS-DSK`, `Digest`, ... Empty for an
    /// RFC 3261 Authentication-Info, which has no scheme.
    pub scheme: String,
    /// Parameters in order.
    pub params: Vec<AuthParam>,
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` challenge.
pub type Challenge = AuthValue;
/// An `Authorization` / `Proxy-Authorization` value.
pub type Credentials = AuthValue;
/// An `Authentication-Info` / `Proxy-Authentication-Info` value.
pub type AuthenticationInfo = AuthValue;

/// Parameters [MS-SIPAE] and RFC 2617 write as tokens; every other one is a
/// quoted-string in their examples (`qop="auth"`, `opaque="..."`,
/// `cnum="..."`, but `version=4`).
fn token_by_default(name: &str) -> bool {
    ["version", "algorithm", "stale", "nc"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// Whether a value can be written bare.
fn is_bare_value(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b > 0x20 && b != 0x7f && !matches!(b, b',' | b';' | b'"' | b'\\'))
}

impl AuthValue {
    /// A value with a scheme and no parameters yet.
    pub fn new(scheme: impl Into<String>) -> Self {
        AuthValue {
            scheme: scheme.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter, quoted as [MS-SIPAE] writes it: `version`,
    /// `algorithm`, `stale` and `nc` bare, everything else quoted.
    pub fn with(self, name: &str, value: impl Into<String>) -> Self {
        let quoted = !token_by_default(name);
        self.with_param(name, value, quoted)
    }

    /// Adds a parameter with explicit quoting.
    pub fn with_param(mut self, name: &str, value: impl Into<String>, quoted: bool) -> Self {
        self.params.push(AuthParam {
            name: name.to_owned(),
            value: value.into(),
            quoted,
        });
        self
    }

    /// A parameter's value (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// Whether the scheme is `scheme` (case-insensitive).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// `realm`.
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }
    /// `targetname`.
    pub fn targetname(&self) -> Option<&str> {
        self.param("targetname")
    }
    /// `version` as a number ([MS-SIPAE]: 3 or 4).
    pub fn version(&self) -> Option<u32> {
        self.param("version")?.parse().ok()
    }
    /// `sts-uri` (TLS-DSK: the Certificate Provisioning service URL).
    pub fn sts_uri(&self) -> Option<&str> {
        self.param("sts-uri")
    }
    /// `opaque` (names the security association).
    pub fn opaque(&self) -> Option<&str> {
        self.param("opaque")
    }
    /// `gssapi-data` (base64 NTLM / Kerberos / TLS-DSK tokens).
    pub fn gssapi_data(&self) -> Option<&str> {
        self.param("gssapi-data")
    }
    /// `nonce` (Digest).
    pub fn nonce(&self) -> Option<&str> {
        self.param("nonce")
    }
    /// `qop`.
    pub fn qop(&self) -> Option<&str> {
        self.param("qop")
    }
    /// `srand` (Authentication-Info: the server's random).
    pub fn srand(&self) -> Option<&str> {
        self.param("srand")
    }
    /// `snum` (Authentication-Info: the server's sequence number).
    pub fn snum(&self) -> Option<&str> {
        self.param("snum")
    }
    /// `rspauth` (Authentication-Info: the server's signature).
    pub fn rspauth(&self) -> Option<&str> {
        self.param("rspauth")
    }
    /// `crand` (Authorization: the client's random).
    pub fn crand(&self) -> Option<&str> {
        self.param("crand")
    }
    /// `cnum` (Authorization: the client's sequence number).
    pub fn cnum(&self) -> Option<&str> {
        self.param("cnum")
    }
    /// `response` (Authorization: the client's signature).
    pub fn response(&self) -> Option<&str> {
        self.param("response")
    }

    /// Parses exactly one scheme and its parameters.
    pub fn parse(value: &str) -> Result<Self> {
        let mut list = parse_list(value, false)?;
        match (list.pop(), list.is_empty()) {
            (Some(v), true) => Ok(v),
            _ => Err(Error::invalid(WHAT, "expected exactly one scheme")),
        }
    }

    /// Parses an Authentication-Info value: with a scheme as [MS-SIPAE]
    /// writes it (`NTLM rspauth="..."`), or without one as RFC 3261
    /// section 20.6 does (`nextnonce="..."`).
    pub fn parse_info(value: &str) -> Result<Self> {
        let mut list = parse_list(value, true)?;
        match (list.pop(), list.is_empty()) {
            (Some(v), true) => Ok(v),
            _ => Err(Error::invalid(
                WHAT,
                "expected one Authentication-Info value",
            )),
        }
    }
}

impl fmt::Display for AuthValue {
    /// `Scheme p1="v1", p2=v2`: the header value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, p) in self.params.iter().enumerate() {
            let sep = match (i, self.scheme.is_empty()) {
                (0, true) => "",
                (0, false) => " ",
                _ => ", ",
            };
            write!(f, "{sep}{}=", p.name)?;
            if p.quoted || !is_bare_value(&p.value) {
                let mut q = String::with_capacity(p.value.len() + 2);
                super::text::push_quoted(&mut q, &p.value);
                f.write_str(&q)?;
            } else {
                f.write_str(&p.value)?;
            }
        }
        Ok(())
    }
}

/// If `item` starts with `scheme SP`, the scheme and the rest.
fn split_scheme(item: &str) -> Option<(&str, &str)> {
    let end = item.find([' ', '\t', '=']).unwrap_or(item.len());
    let scheme = item.get(..end)?;
    let rest = trim_lws(item.get(end..).unwrap_or(""));
    (is_token(scheme) && !rest.starts_with('=')).then_some((scheme, rest))
}

fn parse_param(item: &str) -> Result<AuthParam> {
    let (name, value) = split_param(item);
    let (true, Some(raw)) = (is_token(name), value) else {
        return Err(Error::invalid(
            WHAT,
            format!("parameter {item:?} is not name=value"),
        ));
    };
    let quoted = raw.starts_with('"');
    let value =
        unquote(raw).ok_or_else(|| Error::invalid(WHAT, format!("bad quoted value in {name}")))?;
    if !quoted && value.is_empty() {
        return Err(Error::invalid(WHAT, format!("empty value for {name}")));
    }
    Ok(AuthParam {
        name: name.to_owned(),
        value: value.into_owned(),
        quoted,
    })
}

fn parse_list(value: &str, scheme_optional: bool) -> Result<Vec<AuthValue>> {
    let mut out: Vec<AuthValue> = Vec::new();
    for item in split_commas(value) {
        if item.is_empty() {
            continue;
        }
        if let Some((scheme, rest)) = split_scheme(item) {
            let mut v = AuthValue::new(scheme);
            if !rest.is_empty() {
                v.params.push(parse_param(rest)?);
            }
            out.push(v);
            continue;
        }
        let param = parse_param(item)?;
        match out.last_mut() {
            Some(v) => v.params.push(param),
            None if scheme_optional => out.push(AuthValue {
                scheme: String::new(),
                params: vec![param],
            }),
            None => return Err(Error::invalid(WHAT, "parameters before any scheme")),
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(WHAT, "empty value"));
    }
    Ok(out)
}

/// Parses one header line that may hold several challenges or credentials.
pub fn parse_auth_list(value: &str) -> Result<Vec<AuthValue>> {
    parse_list(value, false)
}

/// Every challenge of a 401 or 407: all `WWW-Authenticate` and
/// `Proxy-Authenticate` lines in order, each possibly holding several.
pub fn challenges(message: &Message) -> Result<Vec<Challenge>> {
    let mut out = Vec::new();
    for (name, value) in message.headers() {
        if name.eq_ignore_ascii_case("WWW-Authenticate")
            || name.eq_ignore_ascii_case("Proxy-Authenticate")
        {
            out.extend(parse_list(value, false)?);
        }
    }
    Ok(out)
}

/// The first `Authentication-Info` or `Proxy-Authentication-Info` value.
pub fn authentication_info(message: &Message) -> Result<Option<AuthenticationInfo>> {
    message
        .headers()
        .find(|(n, _)| {
            n.eq_ignore_ascii_case("Authentication-Info")
                || n.eq_ignore_ascii_case("Proxy-Authentication-Info")
        })
        .map(|(_, v)| AuthValue::parse_info(v))
        .transpose()
}

/// The challenge of the first scheme in `preference` that the server
/// offered (phones with a certificate prefer `TLS-DSK`, the CX700 `NTLM`).
pub fn choose_challenge<'a>(
    offered: &'a [Challenge],
    preference: &[&str],
) -> Option<&'a Challenge> {
    preference
        .iter()
        .find_map(|want| offered.iter().find(|c| c.is_scheme(want)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_sipae_2_2_one_line_with_several_challenges() {
        // RFC 7235 4.1 / [MS-SIPAE]: challenges may be comma-joined on one
        // line; a new one starts at `, scheme SP`.
        let v = r#"NTLM realm="SIP Communications Service", targetname="fe.contoso.com", version=4, Kerberos realm="SIP Communications Service", targetname="sip/fe.contoso.com", version=4, Negotiate"#;
        let list = parse_auth_list(v).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].scheme, "NTLM");
        assert_eq!(list[0].targetname(), Some("fe.contoso.com"));
        assert_eq!(list[1].targetname(), Some("sip/fe.contoso.com"));
        assert_eq!(list[1].version(), Some(4));
        assert_eq!(list[2].scheme, "Negotiate");
        assert!(list[2].params.is_empty());
    }

    #[test]
    fn rfc3261_20_44_digest_challenge() {
        // RFC 3261 20.44 example.
        let c = AuthValue::parse(r#"Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5"#).unwrap();
        assert_eq!(c.scheme, "Digest");
        assert_eq!(c.nonce(), Some("f84f1cec41e6cbe5aea9c8e88d359"));
        assert_eq!(c.qop(), Some("auth"));
        assert_eq!(c.opaque(), Some(""));
        assert_eq!(c.param("stale"), Some("FALSE"));
        assert_eq!(AuthValue::parse(&c.to_string()).unwrap(), c);
    }

    #[test]
    fn ms_sipae_3_2_5_authorization_quoting() {
        // [MS-SIPAE] writes every parameter quoted except version.
        let a = Credentials::new("TLS-DSK")
            .with("qop", "auth")
            .with("realm", "SIP Communications Service")
            .with("opaque", "F755045D")
            .with("targetname", "fe.contoso.com")
            .with("version", "4")
            .with("crand", "1a2b3c4d")
            .with("cnum", "1")
            .with("response", "00ff");
        assert_eq!(
            a.to_string(),
            r#"TLS-DSK qop="auth", realm="SIP Communications Service", opaque="F755045D", targetname="fe.contoso.com", version=4, crand="1a2b3c4d", cnum="1", response="00ff""#
        );
        assert_eq!(AuthValue::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn choose_follows_preference() {
        let offered =
            parse_auth_list("NTLM realm=\"r\", Kerberos realm=\"r\", TLS-DSK realm=\"r\"").unwrap();
        assert_eq!(
            choose_challenge(&offered, &["tls-dsk", "NTLM"])
                .unwrap()
                .scheme,
            "TLS-DSK"
        );
        assert_eq!(
            choose_challenge(&offered, &["Digest", "ntlm"])
                .unwrap()
                .scheme,
            "NTLM"
        );
        assert!(choose_challenge(&offered, &["Digest"]).is_none());
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse_auth_list("realm=\"x\"").is_err());
        assert!(parse_auth_list("NTLM realm=\"x").is_err());
        assert!(parse_auth_list("NTLM junk").is_err());
        assert!(parse_auth_list("").is_err());
        assert!(AuthValue::parse("NTLM a=1, Kerberos b=2").is_err());
        assert_eq!(
            AuthValue::parse_info("nextnonce=\"47364c23432d2e131a5fb210812c\"")
                .unwrap()
                .scheme,
            ""
        );
    }
}
