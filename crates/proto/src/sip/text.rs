//! Low-level SIP text helpers: tokens, quoted strings, and the splitting of
//! header values on top-level commas and semicolons.
//!
//! Owns nothing protocol-specific: the grammar pieces of RFC 3261 section 25
//! that several header parsers share. Every splitter borrows from its input
//! and allocates nothing, because they run once per header per message.
//!
//! TLS-DSK carries whole TLS flights, and NTLM its messages, base64 in one
//! header value (`gssapi-data`, up to several KiB), so the scans here jump
//! with `memchr` instead of stepping byte by byte where a value can be
//! that long.

/// RFC 3261 section 25 `token` characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Whether `s` is a non-empty RFC 3261 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Whether a header value can be written on one line as it is: no CR, LF or
/// other control characters but tab, and no leading or trailing whitespace
/// (the parser trims those, so a value carrying them could not round-trip).
pub(crate) fn is_clean_value(s: &str) -> bool {
    all_plain(s.as_bytes()) && s.trim_matches([' ', '\t']).len() == s.len()
}

/// Whether every byte is a tab or printable (no control character, no
/// DEL). Folded over the whole input without an early exit so that the
/// compiler can check many bytes per instruction; the inputs are header
/// values, which are short or valid.
pub(crate) fn all_plain(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & ((b >= 0x20) & (b != 0x7f) | (b == b'\t'))
    })
}

/// Byte index of the first CRLF in `s`. A search for the CR alone, as a
/// header line holds none but its end: `memmem` would build a searcher on
/// every call, which costs more than the short lines most calls scan.
pub(crate) fn find_crlf(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    loop {
        let at = from + memchr::memchr(b'\r', bytes.get(from..)?)?;
        if bytes.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        from = at + 1;
    }
}

/// The parts of `s` between CRLFs, as `s.split("\r\n")` gives them.
pub(crate) fn split_crlf(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_crlf(r) {
            Some(i) => {
                rest = r.get(i + 2..);
                r.get(..i)
            }
            None => rest.take(),
        }
    })
}

/// Iterator over the parts of `value` separated by `sep` outside quoted
/// strings and outside `<...>`. Parts are trimmed of spaces and tabs.
/// RFC 3261 7.3.1: a comma inside a quoted string or an angle-bracketed URI
/// does not separate values.
pub(crate) struct SplitTop<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitTop<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let end = find_top(s, self.sep);
        match end {
            Some(i) => {
                self.rest = s.get(i + 1..);
                Some(trim_lws(s.get(..i).unwrap_or("")))
            }
            None => {
                self.rest = None;
                Some(trim_lws(s))
            }
        }
    }
}

/// Splits on top-level commas (RFC 3261 7.3.1).
pub(crate) fn split_commas(value: &str) -> SplitTop<'_> {
    SplitTop {
        rest: Some(value),
        sep: b',',
    }
}

/// Splits on top-level semicolons (header and URI parameters).
pub(crate) fn split_semis(value: &str) -> SplitTop<'_> {
    SplitTop {
        rest: Some(value),
        sep: b';',
    }
}

/// Byte index of the first `sep` outside quotes and angle brackets.
pub(crate) fn find_top(s: &str, sep: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut angle = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => i = quoted_end(bytes, i + 1)?,
            b'<' => angle = true,
            b'>' => angle = false,
            _ if b == sep && !angle => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the `"` that closes a quoted string whose content starts at
/// `from`, skipping `\` escapes; `None` if it is never closed.
fn quoted_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr::memchr2(b'"', b'\\', bytes.get(from..)?)?;
        if bytes.get(at) == Some(&b'"') {
            return Some(at);
        }
        from = at + 2;
    }
}

/// Trims spaces and tabs (SIP linear white space after unfolding).
pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Splits `name=value` (with optional spaces around `=`); a part without
/// `=` is a name with no value.
pub(crate) fn split_param(part: &str) -> (&str, Option<&str>) {
    match part.split_once('=') {
        Some((n, v)) => (trim_lws(n), Some(trim_lws(v))),
        None => (trim_lws(part), None),
    }
}

/// Removes the quotes of an RFC 3261 `quoted-string` and resolves its `\`
/// escapes; a value without quotes comes back as it is. `None` if the
/// quotes are unbalanced.
pub(crate) fn unquote(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Some(std::borrow::Cow::Borrowed(raw));
    };
    let inner = inner.strip_suffix('"')?;
    if !inner.contains('\\') {
        // A lone `"` inside would have ended the string: refuse it.
        return (!inner.contains('"')).then_some(std::borrow::Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

/// Writes `v` as an RFC 3261 `quoted-string`.
pub(crate) fn push_quoted(out: &mut String, v: &str) {
    out.reserve(v.len() + 2);
    out.push('"');
    let mut rest = v;
    // Both escaped characters are ASCII, so every cut is on a char boundary.
    while let Some(i) = memchr::memchr2(b'"', b'\\', rest.as_bytes()) {
        out.push_str(rest.get(..i).unwrap_or(""));
        out.push('\\');
        out.push_str(rest.get(i..=i).unwrap_or(""));
        rest = rest.get(i + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out.push('"');
}

/// Parses RFC 3261 `delta-seconds` (digits only, no sign). Values too big
/// for `u32` saturate rather than fail: a registrar that asks for "forever"
/// still means a long time.
pub(crate) fn parse_delta_seconds(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_7_3_1_commas_inside_quotes_and_angles_do_not_split() {
        let v = r#""Doe, J" <sip:a@b;x=1,2>;q=0.5 , <sip:c@d>"#;
        let parts: Vec<_> = split_commas(v).collect();
        assert_eq!(parts, [r#""Doe, J" <sip:a@b;x=1,2>;q=0.5"#, "<sip:c@d>"]);
    }

    #[test]
    fn quoted_string_escapes() {
        assert_eq!(unquote(r#""a\"b""#).unwrap(), "a\"b");
        assert_eq!(unquote("tok").unwrap(), "tok");
        assert!(unquote("\"open").is_none());
        let mut s = String::new();
        push_quoted(&mut s, "a\"b\\");
        assert_eq!(unquote(&s).unwrap(), "a\"b\\");
    }

    /// The plain reading of RFC 3261 7.3.1 the `memchr` scan must agree
    /// with: one byte at a time, a `\` inside quotes taking the next byte.
    fn find_top_bytewise(s: &str, sep: u8) -> Option<usize> {
        let (mut in_quotes, mut escaped, mut angle) = (false, false, false);
        for (i, b) in s.bytes().enumerate() {
            if in_quotes {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quotes = false;
                }
                continue;
            }
            match b {
                b'"' => in_quotes = true,
                b'<' => angle = true,
                b'>' => angle = false,
                _ if b == sep && !angle => return Some(i),
                _ => {}
            }
        }
        None
    }

    proptest::proptest! {
        /// Header-like text, heavy in the characters that matter.
        #[test]
        fn find_top_agrees_with_the_bytewise_reading(s in "[a-z\"\\\\<>,; \r\n\t\u{e9}]{0,64}") {
            for sep in [b',', b';'] {
                proptest::prop_assert_eq!(find_top(&s, sep), find_top_bytewise(&s, sep));
            }
        }

        #[test]
        fn split_crlf_agrees_with_str_split(s in "[a\r\n ]{0,40}") {
            let ours: Vec<_> = split_crlf(&s).collect();
            let std: Vec<_> = s.split("\r\n").collect();
            proptest::prop_assert_eq!(ours, std);
            proptest::prop_assert_eq!(find_crlf(&s), s.find("\r\n"));
        }

        #[test]
        fn all_plain_is_tab_or_printable(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let bytewise = b.iter().all(|&c| c == b'\t' || c >= 0x20 && c != 0x7f);
            proptest::prop_assert_eq!(all_plain(&b), bytewise);
        }

        /// RFC 3261 section 25 `quoted-string`: what is written reads back.
        #[test]
        fn push_quoted_reads_back(v in "\\PC{0,40}") {
            let mut q = String::new();
            push_quoted(&mut q, &v);
            let back = unquote(&q).map(|c| c.into_owned());
            proptest::prop_assert_eq!(back, Some(v));
        }
    }
}
