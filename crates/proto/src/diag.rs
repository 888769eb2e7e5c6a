//! The `ms-diagnostics` value: [MS-OCER] section 2.2.1.1.
//!
//! Lync and Skype for Business servers explain refusals with one value that
//! SIP carries in `ms-diagnostics` / `ms-diagnostics-public` and the web
//! services in `X-Ms-diagnostics`:
//!
//! ```text
//! ms-diagnostics = "ms-diagnostics" HCOLON ErrorId SEMI reason-param
//!                  [SEMI source-param] *(SEMI generic-param)
//! ```
//!
//! This module owns that value's grammar, both ways, so that the SIP and SOAP
//! codecs, the phones' failure reasons and the mock's refusals share it. It
//! does not own the table of error ids: callers name the ids they care about.

use crate::{Error, Result};

const WHAT: &str = "ms-diagnostics value";

/// One parsed `ms-diagnostics` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The error id, e.g. `4010` or `28000`.
    pub id: u32,
    /// The optional sub-code after a dot (`1000.3`), used by older servers.
    pub sub_code: Option<u32>,
    /// The `reason` parameter, unquoted.
    pub reason: String,
    /// The `source` parameter (the server that refused), unquoted, if present.
    pub source: Option<String>,
    /// Every other parameter, in order, with quotes removed from the value.
    pub params: Vec<(String, String)>,
}

impl Diagnostics {
    /// A value with an id and a reason, as a server builds it.
    pub fn new(id: u32, reason: impl Into<String>) -> Self {
        Diagnostics {
            id,
            sub_code: None,
            reason: reason.into(),
            source: None,
            params: Vec::new(),
        }
    }

    /// Adds the `source` parameter.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Parses one header value. The reason parameter is required by
    /// [MS-OCER], but servers in the field sometimes omit it, so a missing
    /// reason parses as an empty string rather than failing the whole answer.
    pub fn parse(value: &str) -> Result<Self> {
        let mut parts = split_params(value).into_iter();
        let (first_at, first) = parts
            .next()
            .ok_or_else(|| Error::invalid(WHAT, "empty value"))?;
        let first = first.trim();
        let (id_str, sub_str) = match first.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (first, None),
        };
        let id = id_str.parse::<u32>().map_err(|_| {
            Error::invalid_at(
                WHAT,
                first_at,
                format!("error id {first:?} is not an unsigned integer"),
            )
        })?;
        let sub_code = match sub_str {
            Some(s) => Some(s.parse::<u32>().map_err(|_| {
                Error::invalid_at(
                    WHAT,
                    first_at,
                    format!("sub-code {s:?} is not an unsigned integer"),
                )
            })?),
            None => None,
        };
        let mut out = Diagnostics {
            id,
            sub_code,
            reason: String::new(),
            source: None,
            params: Vec::new(),
        };
        for (at, part) in parts {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, raw) = part.split_once('=').unwrap_or((part, ""));
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::invalid_at(WHAT, at, "parameter without a name"));
            }
            let val = unquote(raw.trim()).map_err(|r| Error::invalid_at(WHAT, at, r))?;
            if name.eq_ignore_ascii_case("reason") {
                out.reason = val;
            } else if name.eq_ignore_ascii_case("source") {
                out.source = Some(val);
            } else {
                out.params.push((name.to_owned(), val));
            }
        }
        Ok(out)
    }

    /// Encodes the value as it goes after the header's colon.
    pub fn to_header_value(&self) -> String {
        let mut s = self.id.to_string();
        if let Some(sub) = self.sub_code {
            s.push('.');
            s.push_str(&sub.to_string());
        }
        s.push_str(";reason=");
        s.push_str(&quote(&self.reason));
        if let Some(src) = &self.source {
            s.push_str(";source=");
            s.push_str(&quote(src));
        }
        for (k, v) in &self.params {
            s.push(';');
            s.push_str(k);
            s.push('=');
            s.push_str(&quote(v));
        }
        s
    }
}

/// Splits on `;` outside quoted strings, keeping each part's byte offset.
fn split_params(value: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                out.push((start, value.get(start..i).unwrap_or("")));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, value.get(start..).unwrap_or("")));
    out
}

/// Removes the quotes of an RFC 3261 quoted-string, resolving `\` escapes;
/// a token is returned as it is.
fn unquote(raw: &str) -> std::result::Result<String, &'static str> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Ok(raw.to_owned());
    };
    let Some(inner) = inner.strip_suffix('"') else {
        return Err("unterminated quoted string");
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().ok_or("dangling escape in quoted string")?);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Quotes a value as an RFC 3261 quoted-string.
fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [MS-OCER] 2.2.1.1: id, reason, source, then generic parameters.
    #[test]
    fn ms_ocer_2_2_1_1_full_value() {
        let d = Diagnostics::parse(
            r#"4010;reason="Missing endpoint identifier";source="fe01.contoso.com";appName="Registrar""#,
        )
        .unwrap();
        assert_eq!(d.id, 4010);
        assert_eq!(d.reason, "Missing endpoint identifier");
        assert_eq!(d.source.as_deref(), Some("fe01.contoso.com"));
        assert_eq!(
            d.params,
            vec![("appName".to_owned(), "Registrar".to_owned())]
        );
    }

    /// [MS-OCER] 2.2.1.2: the public form has no source.
    #[test]
    fn ms_ocer_2_2_1_2_public_value_without_source() {
        let d = Diagnostics::parse(r#"28000;reason="User is not SIP enabled""#).unwrap();
        assert_eq!(d.id, 28000);
        assert_eq!(d.source, None);
    }

    #[test]
    fn ms_ocer_sub_code_and_semicolon_in_quotes() {
        let d = Diagnostics::parse(r#"1000.3 ; reason="a;b \"c\"" "#).unwrap();
        assert_eq!((d.id, d.sub_code), (1000, Some(3)));
        assert_eq!(d.reason, r#"a;b "c""#);
    }

    #[test]
    fn rejects_non_numeric_id_and_bad_quotes() {
        assert!(matches!(
            Diagnostics::parse("abc;reason=\"x\""),
            Err(Error::Invalid { at: Some(0), .. })
        ));
        assert!(matches!(
            Diagnostics::parse("1;reason=\"x"),
            Err(Error::Invalid { at: Some(2), .. })
        ));
        assert!(Diagnostics::parse("").is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(id in any::<u32>(), reason in "[ -~]{0,40}", source in proptest::option::of("[a-z0-9.]{1,30}")) {
            let mut d = Diagnostics::new(id, reason);
            d.source = source;
            let back = Diagnostics::parse(&d.to_header_value()).unwrap();
            prop_assert_eq!(back, d);
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = Diagnostics::parse(&s);
        }
    }
}
