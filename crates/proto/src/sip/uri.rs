//! SIP URIs, name-addr / addr-spec values, Via and CSeq.
//!
//! Owns the pieces of RFC 3261 sections 19.1 (SIP URI), 20.10/20.20/20.39
//! (Contact, From, To: `name-addr` or `addr-spec` plus header parameters),
//! 20.42 (Via) and 20.16 (CSeq) that phones and the registrar need: display
//! name, URI, and the parameters Lync uses (`tag`, `epid`, `+sip.instance`,
//! `expires`, `q`, `gruu`, `branch`). It does not resolve URIs or check
//! hosts against DNS syntax in depth: the registrar compares them as text.

use std::fmt;

use super::text::{find_top, is_token, split_param, split_semis, trim_lws, unquote};
use crate::{Error, Result};

/// A `sip:` or `sips:` URI (RFC 3261 section 19.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The userinfo before `@` (user, and `:password` if someone sent one).
    pub user: Option<String>,
    /// Host name, IPv4 address, or IPv6 reference with its brackets.
    pub host: String,
    /// The port, if written.
    pub port: Option<u16>,
    /// URI parameters in order (`transport=tls`, `lr`, `gruu`, ...).
    pub params: Vec<(String, Option<String>)>,
    /// Everything after `?`, as written.
    pub headers: Option<String>,
}

impl SipUri {
    /// Parses a SIP URI. Spaces around `;` are tolerated because Microsoft's
    /// own examples write `<sip:192.0.2.1:27221; transport=tls>`.
    pub fn parse(s: &str) -> Result<Self> {
        const WHAT: &str = "SIP URI";
        let s = trim_lws(s);
        let (secure, rest) = if let Some(r) = strip_prefix_ci(s, "sips:") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(s, "sip:") {
            (false, r)
        } else {
            return Err(Error::invalid_at(WHAT, 0, "scheme is not sip or sips"));
        };
        let (rest, headers) = match rest.split_once('?') {
            Some((r, h)) => (r, Some(h.to_owned())),
            None => (rest, None),
        };
        let (user, rest) = match rest.split_once('@') {
            Some((u, r)) => (Some(u.to_owned()), r),
            None => (None, rest),
        };
        if user.as_deref() == Some("") {
            return Err(Error::invalid(WHAT, "empty user part"));
        }
        let (hostport, params) = match rest.split_once(';') {
            Some((h, p)) => (trim_lws(h), Some(p)),
            None => (trim_lws(rest), None),
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| Error::invalid(WHAT, "bad host or port"))?;
        let params = match params {
            Some(p) => parse_params(p).ok_or_else(|| Error::invalid(WHAT, "bad parameter"))?,
            None => Vec::new(),
        };
        Ok(SipUri {
            secure,
            user,
            host: host.to_owned(),
            port,
            params,
            headers,
        })
    }

    /// A URI parameter's value (`None` if absent; `Some("")` for a flag).
    pub fn param(&self, name: &str) -> Option<&str> {
        get_param(&self.params, name)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..).unwrap_or(""))
}

fn split_host_port(hp: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if hp.starts_with('[') {
        let close = hp.find(']')?;
        let host = hp.get(..=close)?;
        match hp.get(close + 1..)? {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match hp.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
        });
    if !host_ok {
        return None;
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((host, port))
}

/// Parses `a=1;b;c="x"` (no leading `;`) into name/value pairs; values stay
/// as written, quotes included.
pub(crate) fn parse_params(s: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for part in split_semis(s) {
        if part.is_empty() {
            continue;
        }
        let (name, value) = split_param(part);
        if !is_token(name) {
            return None;
        }
        if let Some(v) = value {
            unquote(v)?;
        }
        out.push((name.to_owned(), value.map(str::to_owned)));
    }
    Some(out)
}

/// A parameter's value with surrounding quotes removed (escapes are left
/// as they are: the parameters read here never carry any).
pub(crate) fn get_param<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            let v = v.as_deref().unwrap_or("");
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, Option<String>)]) -> fmt::Result {
    for (n, v) in params {
        match v {
            Some(v) => write!(f, ";{n}={v}")?,
            None => write!(f, ";{n}")?,
        }
    }
    Ok(())
}

/// A From, To or Contact value: optional display name, a URI, and header
/// parameters (RFC 3261 sections 20.10, 20.20, 20.39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display_name: Option<String>,
    /// The URI as written (any scheme; see [`NameAddr::sip_uri`]).
    pub uri: String,
    /// Header parameters in order; values as written, quotes included.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// A value with just a URI.
    pub fn new(uri: impl Into<String>) -> Self {
        NameAddr {
            display_name: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Adds a header parameter; `value` is written as given (quote it
    /// yourself when it needs quotes, as `+sip.instance` does).
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Self {
        self.params
            .push((name.to_owned(), value.map(str::to_owned)));
        self
    }

    /// Parses `"Name" <uri>;p=v`, `Name <uri>;p=v`, `<uri>;p=v` or
    /// `uri;p=v`. RFC 3261 20.10: without angle brackets, everything after
    /// the first `;` is a header parameter, not a URI parameter.
    pub fn parse(value: &str) -> Result<Self> {
        const WHAT: &str = "SIP name-addr";
        let v = trim_lws(value);
        let (display_name, after_display) = if v.starts_with('"') {
            let close = closing_quote(v)
                .ok_or_else(|| Error::invalid_at(WHAT, 0, "unterminated display name"))?;
            let quoted = v.get(..=close).unwrap_or("");
            let name = unquote(quoted)
                .ok_or_else(|| Error::invalid_at(WHAT, 0, "bad display name"))?
                .into_owned();
            (Some(name), trim_lws(v.get(close + 1..).unwrap_or("")))
        } else {
            (None, v)
        };
        let (display_name, uri, rest) = if let Some(lt) = after_display.find('<') {
            let before = trim_lws(after_display.get(..lt).unwrap_or(""));
            if display_name.is_some() && !before.is_empty() {
                return Err(Error::invalid(WHAT, "text between display name and <"));
            }
            let display_name = match display_name {
                Some(d) => Some(d),
                None if before.is_empty() => None,
                None => Some(before.to_owned()),
            };
            let inner = after_display.get(lt + 1..).unwrap_or("");
            let gt = inner
                .find('>')
                .ok_or_else(|| Error::invalid(WHAT, "missing >"))?;
            let uri = trim_lws(inner.get(..gt).unwrap_or(""));
            (display_name, uri, inner.get(gt + 1..).unwrap_or(""))
        } else {
            if display_name.is_some() {
                return Err(Error::invalid(WHAT, "display name without <uri>"));
            }
            match find_top(after_display, b';') {
                Some(i) => (
                    None,
                    trim_lws(after_display.get(..i).unwrap_or("")),
                    after_display.get(i..).unwrap_or(""),
                ),
                None => (None, after_display, ""),
            }
        };
        if uri.is_empty()
            || uri
                .bytes()
                .any(|b| b < 0x20 || b == 0x7f || b == b'<' || b == b'>')
        {
            return Err(Error::invalid(WHAT, "empty or bad URI"));
        }
        if !uri.contains(':') && uri != "*" {
            return Err(Error::invalid(WHAT, "URI without a scheme"));
        }
        let rest = trim_lws(rest);
        let params = if rest.is_empty() {
            Vec::new()
        } else {
            let p = rest
                .strip_prefix(';')
                .ok_or_else(|| Error::invalid(WHAT, "text after the URI is not a parameter"))?;
            parse_params(p).ok_or_else(|| Error::invalid(WHAT, "bad header parameter"))?
        };
        Ok(NameAddr {
            display_name,
            uri: uri.to_owned(),
            params,
        })
    }

    /// The URI parsed as a SIP URI.
    pub fn sip_uri(&self) -> Result<SipUri> {
        SipUri::parse(&self.uri)
    }

    /// A header parameter's value, quotes removed (`Some("")` for a flag).
    pub fn param(&self, name: &str) -> Option<&str> {
        get_param(&self.params, name)
    }

    /// The `tag` parameter (From, To).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// The `epid` parameter ([MS-SIPRE] 2.2.2).
    pub fn epid(&self) -> Option<&str> {
        self.param("epid")
    }

    /// The `+sip.instance` value without quotes and angle brackets, e.g.
    /// `urn:uuid:4b1682a8-f968-5701-83fc-7c6741dc6697`.
    pub fn sip_instance(&self) -> Option<&str> {
        let v = self.param("+sip.instance")?;
        Some(
            v.strip_prefix('<')
                .and_then(|v| v.strip_suffix('>'))
                .unwrap_or(v),
        )
    }

    /// The `expires` parameter in seconds (Contact).
    pub fn expires(&self) -> Option<u32> {
        super::text::parse_delta_seconds(self.param("expires")?)
    }

    /// The `q` parameter (Contact), 0.0 to 1.0.
    pub fn q(&self) -> Option<f32> {
        self.param("q")?
            .parse()
            .ok()
            .filter(|q| (0.0..=1.0).contains(q))
    }

    /// The `gruu` parameter the registrar returns in the 200 OK Contact.
    pub fn gruu(&self) -> Option<&str> {
        self.param("gruu")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            let mut q = String::new();
            super::text::push_quoted(&mut q, d);
            write!(f, "{q} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// One Via value (RFC 3261 section 20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport, e.g. `TLS`.
    pub transport: String,
    /// `host[:port]` of the sender.
    pub sent_by: String,
    /// Parameters (`branch`, `received`, `ms-received-cid`, ...).
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Parses `SIP/2.0/TLS host:port;branch=...`.
    pub fn parse(value: &str) -> Result<Self> {
        const WHAT: &str = "SIP Via";
        let v = trim_lws(value);
        let (proto, rest) = v
            .split_once([' ', '\t'])
            .ok_or_else(|| Error::invalid(WHAT, "no sent-by"))?;
        let mut p = proto.split('/');
        let (Some(name), Some(version), Some(transport), None) =
            (p.next(), p.next(), p.next(), p.next())
        else {
            return Err(Error::invalid(
                WHAT,
                "sent-protocol is not SIP/2.0/transport",
            ));
        };
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || !is_token(transport) {
            return Err(Error::invalid(
                WHAT,
                "sent-protocol is not SIP/2.0/transport",
            ));
        }
        let (sent_by, params) = match rest.split_once(';') {
            Some((s, p)) => (trim_lws(s), Some(p)),
            None => (trim_lws(rest), None),
        };
        split_host_port(sent_by).ok_or_else(|| Error::invalid(WHAT, "bad sent-by"))?;
        let params = match params {
            Some(p) => parse_params(p).ok_or_else(|| Error::invalid(WHAT, "bad parameter"))?,
            None => Vec::new(),
        };
        Ok(Via {
            transport: transport.to_owned(),
            sent_by: sent_by.to_owned(),
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        get_param(&self.params, "branch")
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        get_param(&self.params, name)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by)?;
        write_params(f, &self.params)
    }
}

/// A CSeq value (RFC 3261 section 20.16), borrowed from its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses `1 REGISTER`.
    pub fn parse(value: &'a str) -> Result<Self> {
        const WHAT: &str = "SIP CSeq";
        let (n, m) = trim_lws(value)
            .split_once([' ', '\t'])
            .ok_or_else(|| Error::invalid(WHAT, "not `number method`"))?;
        let method = trim_lws(m);
        let seq_ok = !n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit());
        let seq = n
            .parse::<u32>()
            .ok()
            .filter(|_| seq_ok)
            .ok_or_else(|| Error::invalid(WHAT, "sequence number is not a 32-bit number"))?;
        if !is_token(method) {
            return Err(Error::invalid(WHAT, "method is not a token"));
        }
        Ok(CSeq { seq, method })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_19_1_1_sip_uri_components() {
        // RFC 3261 19.1.1: sip:user:password@host:port;uri-parameters?headers
        let u = SipUri::parse("sips:alice@[2001:db8::1]:5061;transport=tls;lr?subject=x").unwrap();
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.param("transport"), Some("tls"));
        assert_eq!(u.param("lr"), Some(""));
        assert_eq!(
            u.to_string(),
            "sips:alice@[2001:db8::1]:5061;transport=tls;lr?subject=x"
        );
        let d = SipUri::parse("sip:contoso.com").unwrap();
        assert_eq!(
            (d.user, d.host.as_str(), d.port),
            (None, "contoso.com", None)
        );
        assert!(SipUri::parse("tel:+1").is_err());
        assert!(SipUri::parse("sip:host:99999").is_err());
        assert!(SipUri::parse("sip:@host").is_err());
    }

    #[test]
    fn ms_sipre_4_2_contact_with_spaces_in_uri_params() {
        // [MS-SIPRE] 4.2 writes the Contact URI with spaces after `;`.
        let na = NameAddr::parse(r#"<sip:192.0.2.1:27221; transport=tls; ms-opaque=29c344caf9>; methods="INVITE, MESSAGE, INFO, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY"; proxy=replace; +sip.instance="<urn:uuid:4b1682a8-f968-5701-83fc-7c6741dc6697>""#).unwrap();
        assert_eq!(
            na.sip_instance(),
            Some("urn:uuid:4b1682a8-f968-5701-83fc-7c6741dc6697")
        );
        assert_eq!(na.param("proxy"), Some("replace"));
        let uri = na.sip_uri().unwrap();
        assert_eq!(uri.port, Some(27221));
        assert_eq!(uri.param("transport"), Some("tls"));
    }

    #[test]
    fn rfc3261_20_10_name_addr_forms() {
        // RFC 3261 20.10: "Contact: "Mr. Watson" <sip:watson@worcester.bell-telephone.com>
        // ;q=0.7; expires=3600"
        let na = NameAddr::parse(
            r#""Mr. Watson" <sip:watson@worcester.bell-telephone.com> ;q=0.7; expires=3600"#,
        )
        .unwrap();
        assert_eq!(na.display_name.as_deref(), Some("Mr. Watson"));
        assert_eq!(na.q(), Some(0.7));
        assert_eq!(na.expires(), Some(3600));
        // "Even if the "display-name" is empty, the "name-addr" form MUST be
        // used if the "addr-spec" contains a comma, semicolon, or question mark."
        let plain = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").unwrap();
        assert_eq!(plain.uri, "sip:alice@atlanta.com");
        assert_eq!(plain.tag(), Some("88sja8x"));
        let tokens = NameAddr::parse("Bob Smith <sip:bob@biloxi.com>;tag=a6c85cf").unwrap();
        assert_eq!(tokens.display_name.as_deref(), Some("Bob Smith"));
        assert_eq!(NameAddr::parse(&tokens.to_string()).unwrap(), tokens);
        assert!(NameAddr::parse("\"open <sip:a@b>").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse("<sip:a@b> junk").is_err());
    }

    #[test]
    fn rfc3261_20_42_via_and_20_16_cseq() {
        let v =
            Via::parse("SIP/2.0/TLS 192.0.2.1:4849;branch=z9hG4bK1;ms-received-cid=900").unwrap();
        assert_eq!(v.transport, "TLS");
        assert_eq!(v.sent_by, "192.0.2.1:4849");
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TLS 192.0.2.1:4849;branch=z9hG4bK1;ms-received-cid=900"
        );
        assert!(Via::parse("SIP/2.0 x").is_err());
        let c = CSeq::parse("4711 INVITE").unwrap();
        assert_eq!((c.seq, c.method), (4711, "INVITE"));
        assert!(CSeq::parse("x INVITE").is_err());
        assert!(CSeq::parse("99999999999 INVITE").is_err());
    }
}
