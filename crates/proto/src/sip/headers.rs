//! Typed readers for the headers phones and the registrar look at:
//! Call-ID, CSeq, From, To, Contact, Via, Expires, Retry-After,
//! ms-diagnostics and ms-keep-alive.
//!
//! Owns RFC 3261 section 20.33 (Retry-After) and the glue from a
//! [`Message`] to the value parsers of the sibling modules and of
//! [`crate::diag`]. It owns no grammar that another module already has.

use std::fmt;

use super::message::Message;
use super::register::MsKeepAlive;
use super::text::{find_top, parse_delta_seconds, trim_lws};
use super::uri::{CSeq, NameAddr, Via, get_param, parse_params};
use crate::diag::Diagnostics;
use crate::{Error, Result};

/// A Retry-After value (RFC 3261 section 20.33):
/// `delta-seconds [ comment ] *( SEMI retry-param )`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds to wait before retrying.
    pub seconds: u32,
    /// The comment without its outer parentheses, e.g. `I'm in a meeting`.
    pub comment: Option<String>,
    /// The `duration` parameter: how long the callee will be available.
    pub duration: Option<u32>,
    /// Other parameters, values as written.
    pub params: Vec<(String, Option<String>)>,
}

impl RetryAfter {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self> {
        const WHAT: &str = "Retry-After value";
        let v = trim_lws(value);
        let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
        let seconds = parse_delta_seconds(v.get(..digits_end).unwrap_or(""))
            .ok_or_else(|| Error::invalid_at(WHAT, 0, "does not start with seconds"))?;
        let mut rest = trim_lws(v.get(digits_end..).unwrap_or(""));
        let mut comment = None;
        if rest.starts_with('(') {
            let end =
                comment_end(rest).ok_or_else(|| Error::invalid(WHAT, "unbalanced comment"))?;
            comment = Some(rest.get(1..end).unwrap_or("").to_owned());
            rest = trim_lws(rest.get(end + 1..).unwrap_or(""));
        }
        let mut params = if rest.is_empty() {
            Vec::new()
        } else {
            let p = rest
                .strip_prefix(';')
                .ok_or_else(|| Error::invalid(WHAT, "junk after seconds"))?;
            parse_params(p).ok_or_else(|| Error::invalid(WHAT, "bad parameter"))?
        };
        let duration = match get_param(&params, "duration") {
            Some(d) => Some(
                parse_delta_seconds(d)
                    .ok_or_else(|| Error::invalid(WHAT, "duration is not seconds"))?,
            ),
            None => None,
        };
        params.retain(|(n, _)| !n.eq_ignore_ascii_case("duration"));
        Ok(RetryAfter {
            seconds,
            comment,
            duration,
            params,
        })
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        if let Some(c) = &self.comment {
            write!(f, " ({c})")?;
        }
        if let Some(d) = self.duration {
            write!(f, ";duration={d}")?;
        }
        for (n, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// Index of the `)` closing the comment that starts `s`; comments nest and
/// `\` quotes the next character (RFC 3261 section 25.1).
fn comment_end(s: &str) -> Option<usize> {
    let mut depth = 0u32;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl Message {
    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The CSeq.
    pub fn cseq(&self) -> Result<CSeq<'_>> {
        CSeq::parse(self.required("CSeq")?)
    }

    /// The From value.
    pub fn from_addr(&self) -> Result<NameAddr> {
        NameAddr::parse(self.required("From")?)
    }

    /// The To value.
    pub fn to_addr(&self) -> Result<NameAddr> {
        NameAddr::parse(self.required("To")?)
    }

    /// Every Contact value in order (all lines, comma-split). A 301 from the
    /// registrar names the user's home pool here; a 200 OK to REGISTER
    /// carries the binding with its `gruu` and `expires`.
    pub fn contacts(&self) -> Result<Vec<NameAddr>> {
        self.header_values("Contact").map(NameAddr::parse).collect()
    }

    /// The Contacts of a 3xx in the order to try them: highest `q` first
    /// (a missing `q` counts as 1.0, RFC 3261 section 8.1.3.4), ties in
    /// the order given.
    pub fn redirect_targets(&self) -> Result<Vec<NameAddr>> {
        let mut c = self.contacts()?;
        c.sort_by(|a, b| b.q().unwrap_or(1.0).total_cmp(&a.q().unwrap_or(1.0)));
        Ok(c)
    }

    /// Every Via value, topmost first.
    pub fn vias(&self) -> Result<Vec<Via>> {
        self.header_values("Via").map(Via::parse).collect()
    }

    /// The topmost Via's branch.
    pub fn top_branch(&self) -> Option<&str> {
        let top = self.header_values("Via").next()?;
        let params = top.get(find_top(top, b';')? + 1..)?;
        super::text::split_semis(params).find_map(|p| {
            let (n, v) = super::text::split_param(p);
            n.eq_ignore_ascii_case("branch").then_some(v).flatten()
        })
    }

    /// The Expires header in seconds (RFC 3261 section 20.19).
    pub fn expires(&self) -> Result<Option<u32>> {
        self.header("Expires")
            .map(|v| {
                parse_delta_seconds(trim_lws(v))
                    .ok_or_else(|| Error::invalid("SIP Expires", "not delta-seconds"))
            })
            .transpose()
    }

    /// The Retry-After header (a 503 from an overloaded registrar).
    pub fn retry_after(&self) -> Result<Option<RetryAfter>> {
        self.header("Retry-After")
            .map(RetryAfter::parse)
            .transpose()
    }

    /// The `ms-diagnostics` value, or else `ms-diagnostics-public`
    /// ([MS-OCER] 2.2.1).
    pub fn diagnostics(&self) -> Result<Option<Diagnostics>> {
        self.header("ms-diagnostics")
            .or_else(|| self.header("ms-diagnostics-public"))
            .map(Diagnostics::parse)
            .transpose()
    }

    /// The `ms-keep-alive` value.
    pub fn ms_keep_alive(&self) -> Result<Option<MsKeepAlive>> {
        self.header("ms-keep-alive")
            .map(MsKeepAlive::parse)
            .transpose()
    }

    fn required(&self, name: &'static str) -> Result<&str> {
        self.header(name)
            .ok_or_else(|| Error::invalid(name, "header missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_20_33_retry_after() {
        // RFC 3261 20.33 examples: "Retry-After: 18000;duration=3600" and
        // "Retry-After: 120 (I'm in a meeting)".
        let a = RetryAfter::parse("18000;duration=3600").unwrap();
        assert_eq!(
            (a.seconds, a.duration, a.comment.as_deref()),
            (18000, Some(3600), None)
        );
        let b = RetryAfter::parse("120 (I'm in a meeting)").unwrap();
        assert_eq!(
            (b.seconds, b.comment.as_deref()),
            (120, Some("I'm in a meeting"))
        );
        let c = RetryAfter::parse("5 (busy (really)) ;duration=60;x=y").unwrap();
        assert_eq!(c.comment.as_deref(), Some("busy (really)"));
        assert_eq!(c.params, vec![("x".to_owned(), Some("y".to_owned()))]);
        assert_eq!(RetryAfter::parse(&c.to_string()).unwrap(), c);
        assert!(RetryAfter::parse("soon").is_err());
        assert!(RetryAfter::parse("5 (open").is_err());
        assert!(RetryAfter::parse("5 junk").is_err());
    }

    #[test]
    fn rfc3261_8_1_3_4_redirect_contacts_by_q() {
        // RFC 3261 8.1.3.4: on a 3xx the client "SHOULD" try the Contact
        // URIs, ordered by q-value.
        let m = super::super::parse(b"SIP/2.0 301 Moved Permanently\r\nContact: <sip:pool2.contoso.com:5061;transport=tls>;q=0.5, <sip:pool1.contoso.com:5061;transport=tls>\r\nContact: <sip:pool3.contoso.com>;q=0.9;expires=60\r\nContent-Length: 0\r\n\r\n").unwrap();
        let t = m.redirect_targets().unwrap();
        let hosts: Vec<_> = t.iter().map(|c| c.sip_uri().unwrap().host).collect();
        assert_eq!(
            hosts,
            [
                "pool1.contoso.com",
                "pool3.contoso.com",
                "pool2.contoso.com"
            ]
        );
        assert_eq!(t[1].expires(), Some(60));
    }

    #[test]
    fn ms_ocer_2_2_1_diagnostics_header_and_503_retry_after() {
        let m = super::super::parse(b"SIP/2.0 503 Service Unavailable\r\nms-diagnostics: 17000;reason=\"Server is overloaded\";source=\"fe01.contoso.com\"\r\nRetry-After: 30\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n").unwrap();
        let d = m.diagnostics().unwrap().unwrap();
        assert_eq!(
            (d.id, d.source.as_deref()),
            (17000, Some("fe01.contoso.com"))
        );
        assert_eq!(m.retry_after().unwrap().unwrap().seconds, 30);
        assert_eq!(m.expires().unwrap(), Some(0));
    }
}
