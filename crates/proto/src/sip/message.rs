//! The SIP message model, its parser, its stream framer and its encoder.
//!
//! Owns RFC 3261 section 7 (message syntax: start line, headers, folding,
//! compact forms, comma-joined values, Content-Length) and section 18.3
//! framing, plus RFC 5626 section 3.5.1 CRLF keep-alives. It does not know
//! what any particular header means beyond its name: typed header values
//! live in the sibling modules.
//!
//! A [`Message`] keeps every header name and value in one `String` and refers
//! to them by byte ranges, so parsing a message costs a handful of
//! allocations however many headers it has. Content-Length is not stored as
//! a header: it is checked on input and always recomputed from the body on
//! output, so a message can never carry a wrong one.

use std::fmt;

use super::text::{
    all_plain, find_crlf, is_clean_value, is_token, split_commas, split_crlf, trim_lws,
};
use crate::{Error, Result};

const WHAT: &str = "SIP message";

/// Largest header section accepted, measured as this crate would write it
/// (start line, headers, Content-Length and the blank line). Lync 200 OKs and
/// Kerberos `gssapi-data` run to a few kilobytes; 64 KiB leaves room while
/// bounding what a peer can make a phone buffer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest header section accepted as received. Folding and spacing may make
/// the raw bytes larger than the normalised form checked by
/// [`MAX_HEAD_BYTES`]; this bounds how far the framer scans for the end.
pub const MAX_RAW_HEAD_BYTES: usize = 2 * MAX_HEAD_BYTES;
/// Largest number of header fields (Content-Length not counted).
pub const MAX_HEADERS: usize = 256;
/// Largest body accepted. Registration traffic has empty or small bodies;
/// provisioning NOTIFYs are the largest a phone sees, well under this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A byte range into [`Message::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Copy)]
enum Start {
    Request { method: Span, uri: Span },
    Response { code: u16, reason: Span },
}

#[derive(Debug, Clone, Copy)]
struct Hdr {
    name: Span,
    value: Span,
}

/// The start line of a message, borrowed from it. Only SIP/2.0 exists, so
/// the version is not carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP/2.0`.
    Request {
        /// The method, case-sensitive as RFC 3261 section 7.1 says.
        method: &'a str,
        /// The Request-URI as written.
        uri: &'a str,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
    Response {
        /// The status code, 100 to 699.
        code: u16,
        /// The reason phrase as written (may be empty).
        reason: &'a str,
    },
}

/// One SIP request or response: start line, headers in order, body.
#[derive(Clone)]
pub struct Message {
    /// Start-line pieces, header names and values, back to back.
    text: String,
    start: Start,
    headers: Vec<Hdr>,
    body: Vec<u8>,
}

/// What the stream framer found at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A complete message.
    Message {
        /// The message.
        message: Message,
        /// How many bytes of the buffer it took; drop them before the next call.
        consumed: usize,
    },
    /// A CRLF keep-alive (RFC 5626 section 3.5.1).
    KeepAlive {
        /// Which one.
        kind: KeepAlive,
        /// How many bytes to drop: 4 for a ping, 2 for a pong.
        consumed: usize,
    },
}

/// The two CRLF keep-alives of RFC 5626 section 3.5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// A double CRLF, sent by the client; the server answers with a pong.
    Ping,
    /// A single CRLF: the answer to a ping (Lync phones also send it alone).
    Pong,
}

/// The full name of a compact header name (RFC 3261 section 7.3.3 and the
/// registry of later RFCs), or the name itself.
pub fn full_header_name(name: &str) -> &str {
    let [b] = name.as_bytes() else {
        return name;
    };
    match b.to_ascii_lowercase() {
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'f' => "From",
        b't' => "To",
        b'v' => "Via",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'k' => "Supported",
        b'e' => "Content-Encoding",
        b's' => "Subject",
        b'o' => "Event",
        b'u' => "Allow-Events",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'x' => "Session-Expires",
        b'a' => "Accept-Contact",
        b'j' => "Reject-Contact",
        b'd' => "Request-Disposition",
        _ => name,
    }
}

/// Whether two header names name the same header: case-insensitive, and
/// a compact form equals its full form (RFC 3261 sections 7.3.1, 7.3.3).
pub fn header_names_match(a: &str, b: &str) -> bool {
    full_header_name(a).eq_ignore_ascii_case(full_header_name(b))
}

fn is_content_length(name: &str) -> bool {
    header_names_match(name, "Content-Length")
}

impl Message {
    fn empty(start: Start) -> Self {
        Message {
            text: String::new(),
            start,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn push_text(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        Span {
            start,
            end: self.text.len(),
        }
    }

    fn get(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }

    /// A request with no headers and no body. The method must be a token and
    /// the URI free of whitespace and control characters.
    pub fn request(method: &str, uri: &str) -> Result<Self> {
        if !is_token(method) {
            return Err(Error::bad_value("SIP method", "not a token"));
        }
        if !is_request_uri(uri) {
            return Err(Error::bad_value(
                "SIP Request-URI",
                "empty or holds whitespace or control characters",
            ));
        }
        let mut m = Message::empty(Start::Response {
            code: 0,
            reason: Span { start: 0, end: 0 },
        });
        let method = m.push_text(method);
        let uri = m.push_text(uri);
        m.start = Start::Request { method, uri };
        Ok(m)
    }

    /// A response with no headers and no body.
    pub fn response(code: u16, reason: &str) -> Result<Self> {
        if !(100..=699).contains(&code) {
            return Err(Error::bad_value("SIP status code", "not in 100..=699"));
        }
        if !is_reason(reason) {
            return Err(Error::bad_value(
                "SIP reason phrase",
                "holds control characters",
            ));
        }
        let mut m = Message::empty(Start::Response {
            code,
            reason: Span { start: 0, end: 0 },
        });
        let reason = m.push_text(reason);
        m.start = Start::Response { code, reason };
        Ok(m)
    }

    /// Parses one complete message, datagram style (RFC 3261 section 18.3):
    /// Content-Length is optional, and when present bytes beyond it are
    /// ignored; when absent the body runs to the end of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let Some(head_end) = find_head_end(buf, MAX_RAW_HEAD_BYTES) else {
            return Err(Error::invalid(
                WHAT,
                "no blank line ends the header section",
            ));
        };
        let head = buf.get(..head_end).unwrap_or(&[]);
        let body_start = head_end + 4;
        let (mut m, cl) = parse_head(head)?;
        let rest = buf.get(body_start..).unwrap_or(&[]);
        let body = match cl {
            Some(n) => rest.get(..n).ok_or_else(|| {
                Error::invalid_at(
                    WHAT,
                    body_start,
                    format!("Content-Length {n} but only {} body bytes", rest.len()),
                )
            })?,
            None => rest,
        };
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::invalid_at(
                WHAT,
                body_start,
                "body over the size limit",
            ));
        }
        m.body = body.to_vec();
        // Without a Content-Length the head limit was checked against a
        // guess; check the real encoded size so the message re-encodes
        // within the limit the framer applies.
        if m.encoded_head_len() > MAX_HEAD_BYTES {
            return Err(Error::invalid(WHAT, "header section over the size limit"));
        }
        Ok(m)
    }

    /// The start line.
    pub fn start_line(&self) -> StartLine<'_> {
        match self.start {
            Start::Request { method, uri } => StartLine::Request {
                method: self.get(method),
                uri: self.get(uri),
            },
            Start::Response { code, reason } => StartLine::Response {
                code,
                reason: self.get(reason),
            },
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        match self.start_line() {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match self.start_line() {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<&str> {
        match self.start_line() {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// Every header as (name as written, value), in order. Folded values
    /// come unfolded; Content-Length is not among them (see [`Self::body`]).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|h| (self.get(h.name), self.get(h.value)))
    }

    /// The number of header lines (Content-Length not counted).
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Every header line named `name` (any case, compact or full form).
    pub fn header_lines<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers()
            .filter(move |(n, _)| header_names_match(n, name))
            .map(|(_, v)| v)
    }

    /// The first header line named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| header_names_match(n, name))
            .map(|(_, v)| v)
    }

    /// Whether a header named `name` is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Every value of `name`: all its lines, each split on top-level commas
    /// (RFC 3261 section 7.3.1), trimmed, empty ones skipped. Right for Via,
    /// Contact, Supported, Allow-Events and other comma lists; not for
    /// WWW-Authenticate and friends, whose parameters are comma-separated
    /// too (use [`super::auth::parse_auth_list`] for those).
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.header_lines(name)
            .flat_map(split_commas)
            .filter(|v| !v.is_empty())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Replaces the body. Content-Length follows it automatically.
    pub fn set_body(&mut self, body: impl Into<Vec<u8>>) {
        self.body = body.into();
    }

    /// Appends a header line. The name must be a token and the value a
    /// single line without leading or trailing whitespace; Content-Length is
    /// refused because encoding computes it.
    pub fn push_header(&mut self, name: &str, value: &str) -> Result<()> {
        check_header(name, value)?;
        let name = self.push_text(name);
        let value = self.push_text(value);
        self.headers.push(Hdr { name, value });
        Ok(())
    }

    /// Inserts a header line before the line at `index` (or last).
    pub fn insert_header(&mut self, index: usize, name: &str, value: &str) -> Result<()> {
        check_header(name, value)?;
        let name = self.push_text(name);
        let value = self.push_text(value);
        let at = index.min(self.headers.len());
        self.headers.insert(at, Hdr { name, value });
        Ok(())
    }

    /// Removes every line named `name`; returns how many went.
    pub fn remove_header(&mut self, name: &str) -> usize {
        let before = self.headers.len();
        let text = &self.text;
        self.headers.retain(|h| {
            let n = text.get(h.name.start..h.name.end).unwrap_or("");
            !header_names_match(n, name)
        });
        before - self.headers.len()
    }

    /// Replaces every line named `name` by one line with `value`, kept where
    /// the first one was (or appended).
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        check_header(name, value)?;
        let first = self
            .headers()
            .position(|(n, _)| header_names_match(n, name));
        self.remove_header(name);
        match first {
            Some(i) => self.insert_header(i, name, value),
            None => self.push_header(name, value),
        }
    }

    /// The length of the header section as [`Self::encode`] writes it,
    /// blank line included.
    pub fn encoded_head_len(&self) -> usize {
        let start = match self.start_line() {
            StartLine::Request { method, uri } => method.len() + uri.len() + 11,
            StartLine::Response { reason, .. } => reason.len() + 14,
        };
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.name.end - h.name.start + h.value.end - h.value.start + 4)
            .sum();
        start + headers + "Content-Length: \r\n\r\n".len() + decimal_len(self.body.len())
    }

    /// Writes the message to `out`, with a Content-Length equal to the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_head_len() + self.body.len());
        match self.start_line() {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(method.as_bytes());
                out.push(b' ');
                out.extend_from_slice(uri.as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(b"SIP/2.0 ");
                out.extend_from_slice(code.to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        for (name, value) in self.headers() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
    }

    /// The message as bytes, with a Content-Length equal to the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

fn decimal_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn check_header(name: &str, value: &str) -> Result<()> {
    if !is_token(name) {
        return Err(Error::bad_value("SIP header name", "not a token"));
    }
    if is_content_length(name) {
        return Err(Error::bad_value(
            "SIP header name",
            "Content-Length is written from the body when encoding",
        ));
    }
    if !is_clean_value(value) {
        return Err(Error::bad_value(
            "SIP header value",
            "holds CR, LF or control characters, or leading/trailing whitespace",
        ));
    }
    Ok(())
}

fn is_request_uri(uri: &str) -> bool {
    !uri.is_empty() && uri.bytes().all(|b| b > 0x20 && b != 0x7f)
}

fn is_reason(reason: &str) -> bool {
    reason
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.start_line() == other.start_line()
            && self.headers.len() == other.headers.len()
            && self.headers().eq(other.headers())
            && self.body == other.body
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("start", &self.start_line())
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Parses one complete message from a datagram; see [`Message::parse`].
pub fn parse(buf: &[u8]) -> Result<Message> {
    Message::parse(buf)
}

/// Frames the front of a stream buffer (TCP or TLS, RFC 3261 section 18.3).
///
/// Returns a complete message or a CRLF keep-alive with the number of bytes
/// it took, [`Error::Incomplete`] when more bytes are needed, or
/// [`Error::Invalid`] when no amount of further bytes can help (bad start
/// line or header, Content-Length missing or not a number, a limit
/// exceeded): the connection should then be closed.
///
/// A lone CRLF is reported as a pong. A ping split between two reads
/// therefore looks like two pongs; over TLS a ping arrives in one record, and
/// a phone only needs to know the connection is alive.
pub fn frame(buf: &[u8]) -> Result<Framed> {
    match buf {
        [b'\r', b'\n', b'\r', b'\n', ..] => {
            return Ok(Framed::KeepAlive {
                kind: KeepAlive::Ping,
                consumed: 4,
            });
        }
        [b'\r', b'\n', b'\r'] | [b'\r'] => return Err(Error::Incomplete { what: WHAT }),
        [b'\r', b'\n', ..] => {
            return Ok(Framed::KeepAlive {
                kind: KeepAlive::Pong,
                consumed: 2,
            });
        }
        _ => {}
    }
    let Some(head_end) = find_head_end(buf, MAX_RAW_HEAD_BYTES) else {
        if buf.len() >= MAX_RAW_HEAD_BYTES + 3 {
            return Err(Error::invalid_at(
                WHAT,
                MAX_RAW_HEAD_BYTES,
                "header section over the size limit",
            ));
        }
        // Say Invalid early when the start line is already wrong, so a peer
        // speaking something else is dropped without waiting for a timeout.
        if let Some(line_end) = memchr::memmem::find(buf, b"\r\n") {
            let line = buf.get(..line_end).unwrap_or(&[]);
            let line = std::str::from_utf8(line)
                .map_err(|e| Error::invalid_at(WHAT, e.valid_up_to(), "start line is not UTF-8"))?;
            parse_start_line(line)?;
        }
        return Err(Error::Incomplete { what: WHAT });
    };
    let head = buf.get(..head_end).unwrap_or(&[]);
    let body_start = head_end + 4;
    // Find and check Content-Length before building anything, so a body that
    // trickles in is not re-parsed into a Message on every read.
    let cl = scan_head(head)?
        .ok_or_else(|| Error::invalid(WHAT, "Content-Length is required on stream transports"))?;
    let end = body_start + cl;
    let Some(body) = buf.get(body_start..end) else {
        return Err(Error::Incomplete { what: WHAT });
    };
    let mut message = build_head(head)?;
    message.body = body.to_vec();
    Ok(Framed::Message {
        message,
        consumed: end,
    })
}

/// Index of the `\r\n\r\n` that ends the header section, searched within
/// the first `limit + 4` bytes.
fn find_head_end(buf: &[u8], limit: usize) -> Option<usize> {
    let window = buf.get(..buf.len().min(limit + 4)).unwrap_or(buf);
    memchr::memmem::find(window, b"\r\n\r\n")
}

/// Parses the start line (without its CRLF).
fn parse_start_line(line: &str) -> Result<StartLine<'_>> {
    let version_ok = |v: &str| v.eq_ignore_ascii_case("SIP/2.0");
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
        if !version_ok(version) {
            return Err(Error::invalid_at(WHAT, 0, "version is not SIP/2.0"));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code_ok = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
        let code = code
            .parse::<u16>()
            .ok()
            .filter(|c| code_ok && (100..=699).contains(c))
            .ok_or_else(|| Error::invalid_at(WHAT, 8, "status code is not 100..=699"))?;
        if !is_reason(reason) {
            return Err(Error::invalid_at(
                WHAT,
                12,
                "control character in reason phrase",
            ));
        }
        return Ok(StartLine::Response { code, reason });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::invalid_at(
            WHAT,
            0,
            "start line is neither `Method URI SIP/2.0` nor `SIP/2.0 code reason`",
        ));
    };
    if !is_token(method) {
        return Err(Error::invalid_at(WHAT, 0, "method is not a token"));
    }
    if !is_request_uri(uri) {
        return Err(Error::invalid_at(WHAT, method.len() + 1, "bad Request-URI"));
    }
    if !version_ok(version) {
        return Err(Error::invalid_at(
            WHAT,
            method.len() + uri.len() + 2,
            "version is not SIP/2.0",
        ));
    }
    Ok(StartLine::Request { method, uri })
}

/// Logical header lines after the start line: each item is one header with
/// its folded continuation lines (RFC 3261 section 7.3.1), with its offset.
struct LogicalLines<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.pos >= self.s.len() {
            return None;
        }
        let start = self.pos;
        let end = loop {
            let rest = self.s.get(self.pos..).unwrap_or("");
            match find_crlf(rest) {
                Some(i) => {
                    let end = self.pos + i;
                    self.pos = end + 2;
                    let next = self.s.as_bytes().get(self.pos);
                    if !matches!(next, Some(b' ' | b'\t')) {
                        break end;
                    }
                }
                None => {
                    self.pos = self.s.len();
                    break self.s.len();
                }
            }
        };
        Some((start, self.s.get(start..end).unwrap_or("")))
    }
}

/// Splits a logical header line into its name and raw (still folded) value.
fn split_header(line: &str, at: usize) -> Result<(&str, &str)> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(Error::invalid_at(WHAT, at, "header line without a colon"));
    };
    // RFC 3261 7.3.1 allows whitespace between the name and the colon, not
    // before the name (that would be a fold with nothing to continue).
    let name = trim_lws(name);
    if !is_token(name) || line.starts_with([' ', '\t']) {
        return Err(Error::invalid_at(WHAT, at, "header name is not a token"));
    }
    Ok((name, value))
}

/// The folded pieces of a raw header value, each trimmed, empty ones
/// skipped; joined with one space they are the unfolded value.
fn value_pieces(raw: &str) -> impl Iterator<Item = &str> {
    split_crlf(raw).map(trim_lws).filter(|p| !p.is_empty())
}

fn check_value_chars(raw: &str, at: usize) -> Result<()> {
    // CRLF pairs are folds (already known to precede whitespace); any other
    // control character, or a bare CR or LF, is an error.
    let bytes = raw.as_bytes();
    if all_plain(bytes) {
        // The common case, an unfolded value, checked many bytes at a time.
        return Ok(());
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match b {
            b'\t' => true,
            b'\r' => bytes.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && bytes.get(i - 1) == Some(&b'\r'),
            0x7f => false,
            b => b >= 0x20,
        };
        if !ok {
            return Err(Error::invalid_at(
                WHAT,
                at + i,
                "control character in header value",
            ));
        }
    }
    Ok(())
}

fn parse_content_length(raw: &str, at: usize) -> Result<usize> {
    let mut pieces = value_pieces(raw);
    let digits = match (pieces.next(), pieces.next()) {
        (Some(d), None) => d,
        _ => {
            return Err(Error::invalid_at(
                WHAT,
                at,
                "Content-Length is not a number",
            ));
        }
    };
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_at(
            WHAT,
            at,
            "Content-Length is not a number",
        ));
    }
    let n = digits
        .parse::<usize>()
        .map_err(|_| Error::invalid_at(WHAT, at, "Content-Length is not a number"))?;
    if n > MAX_BODY_BYTES {
        return Err(Error::invalid_at(
            WHAT,
            at,
            "Content-Length over the body size limit",
        ));
    }
    Ok(n)
}

fn head_str(head: &[u8]) -> Result<&str> {
    if head.len() > MAX_RAW_HEAD_BYTES {
        return Err(Error::invalid_at(
            WHAT,
            MAX_RAW_HEAD_BYTES,
            "header section over the size limit",
        ));
    }
    std::str::from_utf8(head)
        .map_err(|e| Error::invalid_at(WHAT, e.valid_up_to(), "header section is not UTF-8"))
}

/// Walks a header section without building anything: checks its syntax and
/// limits and returns the Content-Length, if any.
fn scan_head(head: &[u8]) -> Result<Option<usize>> {
    let head = head_str(head)?;
    let (start, rest_at) = match find_crlf(head) {
        Some(i) => (head.get(..i).unwrap_or(""), i + 2),
        None => (head, head.len()),
    };
    let start = parse_start_line(start)?;
    let mut normalised = match start {
        StartLine::Request { method, uri } => method.len() + uri.len() + 11,
        StartLine::Response { reason, .. } => reason.len() + 14,
    };
    let rest = head.get(rest_at..).unwrap_or("");
    let mut cl = None;
    let mut count = 0usize;
    for (off, line) in (LogicalLines { s: rest, pos: 0 }) {
        let at = rest_at + off;
        let (name, raw) = split_header(line, at)?;
        let value_at = at + line.len() - raw.len();
        check_value_chars(raw, value_at)?;
        if is_content_length(name) {
            let n = parse_content_length(raw, value_at)?;
            if cl.is_some_and(|c| c != n) {
                return Err(Error::invalid_at(
                    WHAT,
                    at,
                    "Content-Length headers disagree",
                ));
            }
            cl = Some(n);
            continue;
        }
        count += 1;
        if count > MAX_HEADERS {
            return Err(Error::invalid_at(WHAT, at, "too many header fields"));
        }
        let pieces: usize = value_pieces(raw).map(|p| p.len() + 1).sum();
        normalised += name.len() + 4 + pieces.saturating_sub(1);
    }
    normalised += "Content-Length: \r\n\r\n".len() + decimal_len(cl.unwrap_or(0));
    if normalised > MAX_HEAD_BYTES {
        return Err(Error::invalid(WHAT, "header section over the size limit"));
    }
    Ok(cl)
}

/// Parses a header section (start line and headers, without the blank line)
/// into a body-less message, returning its Content-Length if any.
fn parse_head(head: &[u8]) -> Result<(Message, Option<usize>)> {
    let cl = scan_head(head)?;
    Ok((build_head(head)?, cl))
}

/// Builds the body-less message of a header section [`scan_head`] accepted.
fn build_head(head: &[u8]) -> Result<Message> {
    let head = head_str(head)?;
    let (start, rest_at) = match find_crlf(head) {
        Some(i) => (head.get(..i).unwrap_or(""), i + 2),
        None => (head, head.len()),
    };
    let mut m = match parse_start_line(start)? {
        StartLine::Request { method, uri } => Message::request(method, uri),
        StartLine::Response { code, reason } => Message::response(code, reason),
    }
    .map_err(|e| Error::invalid_at(WHAT, 0, e.to_string()))?;
    m.text.reserve(head.len());
    let rest = head.get(rest_at..).unwrap_or("");
    for (off, line) in (LogicalLines { s: rest, pos: 0 }) {
        let (name, raw) = split_header(line, rest_at + off)?;
        if is_content_length(name) {
            continue;
        }
        let name = m.push_text(name);
        let value_start = m.text.len();
        for (i, piece) in value_pieces(raw).enumerate() {
            if i > 0 {
                m.text.push(' ');
            }
            m.text.push_str(piece);
        }
        let value = Span {
            start: value_start,
            end: m.text.len(),
        };
        m.headers.push(Hdr { name, value });
    }
    Ok(m)
}

/// Builds a [`Message`] header by header, keeping the first error for
/// [`MessageBuilder::build`] so that a chain of calls needs one `?`.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    message: Result<Message>,
}

impl MessageBuilder {
    /// Starts a request.
    pub fn request(method: &str, uri: &str) -> Self {
        MessageBuilder {
            message: Message::request(method, uri),
        }
    }

    /// Starts a response.
    pub fn response(code: u16, reason: &str) -> Self {
        MessageBuilder {
            message: Message::response(code, reason),
        }
    }

    /// Starts a response to `request` as RFC 3261 section 8.2.6.2 says: the
    /// Via lines in order, From, To, Call-ID and CSeq copied; when the To
    /// has no `tag` and `to_tag` is given, the tag is added.
    pub fn reply_to(request: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut b = MessageBuilder::response(code, reason);
        for (name, value) in request.headers() {
            let full = full_header_name(name);
            let copy = ["Via", "From", "To", "Call-ID", "CSeq"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(full));
            if !copy {
                continue;
            }
            let canonical = ["Via", "From", "To", "Call-ID", "CSeq"]
                .into_iter()
                .find(|n| n.eq_ignore_ascii_case(full))
                .unwrap_or(full);
            match to_tag {
                Some(tag) if canonical == "To" && !has_tag(value) => {
                    b = b.header(canonical, &format!("{value};tag={tag}"));
                }
                _ => b = b.header(canonical, value),
            }
        }
        b
    }

    /// Appends a header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Ok(m) = &mut self.message
            && let Err(e) = m.push_header(name, value)
        {
            self.message = Err(e);
        }
        self
    }

    /// Appends a header line when `value` is `Some`.
    pub fn header_opt(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.header(name, v),
            None => self,
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        if let Ok(m) = &mut self.message {
            m.set_body(body);
        }
        self
    }

    /// The message, or the first error met while building it.
    pub fn build(self) -> Result<Message> {
        self.message
    }
}

/// Whether a From/To value carries a `tag` header parameter.
fn has_tag(value: &str) -> bool {
    super::uri::NameAddr::parse(value)
        .map(|na| na.param("tag").is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_7_3_3_compact_forms_match_full_names() {
        // RFC 3261 7.3.3: "SIP provides a mechanism to represent common header
        // field names in an abbreviated form ... Implementations MUST accept
        // both the long and short forms of each header name."
        let m = parse(
            b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
i: a84b4c76e66710\r\nf: <sip:alice@atlanta.com>;tag=1928301774\r\n\
t: <sip:bob@biloxi.com>\r\nm: <sip:alice@pc33.atlanta.com>\r\n\
k: gruu-10\r\no: registration\r\nu: presence\r\nc: application/sdp\r\nl: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(m.header("Call-ID"), Some("a84b4c76e66710"));
        assert_eq!(m.header("call-id"), Some("a84b4c76e66710"));
        assert_eq!(m.header("i"), Some("a84b4c76e66710"));
        assert_eq!(
            m.header("Via").unwrap(),
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"
        );
        assert_eq!(
            m.header("FROM"),
            Some("<sip:alice@atlanta.com>;tag=1928301774")
        );
        assert_eq!(m.header("to"), Some("<sip:bob@biloxi.com>"));
        assert_eq!(m.header("Contact"), Some("<sip:alice@pc33.atlanta.com>"));
        assert_eq!(m.header("Supported"), Some("gruu-10"));
        assert_eq!(m.header("Event"), Some("registration"));
        assert_eq!(m.header("Allow-Events"), Some("presence"));
        assert_eq!(m.header("Content-Type"), Some("application/sdp"));
        assert_eq!(full_header_name("X"), "Session-Expires");
        assert_eq!(full_header_name("d"), "Request-Disposition");
        assert_eq!(full_header_name("j"), "Reject-Contact");
        assert_eq!(full_header_name("a"), "Accept-Contact");
        assert_eq!(full_header_name("r"), "Refer-To");
        assert_eq!(full_header_name("b"), "Referred-By");
        assert_eq!(full_header_name("e"), "Content-Encoding");
        assert_eq!(full_header_name("s"), "Subject");
        assert_eq!(full_header_name("q"), "q");
    }

    #[test]
    fn rfc3261_7_3_1_multiple_lines_and_comma_joined_values() {
        // RFC 3261 7.3.1: "Multiple header field rows with the same
        // field-name MAY be present ... if ... the field value ... is defined
        // as a comma-separated list. It MUST be possible to combine the
        // multiple header field rows into one".
        let m = parse(
            b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bKnashds8, SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Contact: \"Mr. Watson, Jr\" <sip:watson@worcester.bell-telephone.com>;q=0.7; expires=3600,\r\n \"Mr. Watson\" <mailto:watson@bell-telephone.com> ;q=0.1\r\n\
Content-Length: 0\r\n\r\n",
        )
        .unwrap();
        let vias: Vec<_> = m.header_values("v").collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(
            vias[2],
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"
        );
        assert_eq!(m.header_lines("Via").count(), 2);
        let contacts: Vec<_> = m.header_values("m").collect();
        assert_eq!(
            contacts,
            [
                "\"Mr. Watson, Jr\" <sip:watson@worcester.bell-telephone.com>;q=0.7; expires=3600",
                "\"Mr. Watson\" <mailto:watson@bell-telephone.com> ;q=0.1"
            ]
        );
    }

    #[test]
    fn rfc3261_7_3_1_line_folding_is_unfolded() {
        // RFC 3261 7.3.1: "Header fields can be extended over multiple lines
        // by preceding each extra line with at least one SP or horizontal tab."
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: I know you're there,\r\n      pick up the phone\r\n\tand talk to me!\r\nCall-ID: x\r\n\r\n")
            .unwrap();
        assert_eq!(
            m.header("Subject"),
            Some("I know you're there, pick up the phone and talk to me!")
        );
        assert_eq!(m.header("Call-ID"), Some("x"));
    }

    #[test]
    fn rfc3261_7_5_framing_split_at_every_offset() {
        // RFC 3261 7.5 / 18.3: on a stream, the Content-Length header field
        // value is used to locate the end of each SIP message.
        let msg = b"MESSAGE sip:bob@b SIP/2.0\r\nCall-ID: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..msg.len() {
            assert_eq!(
                frame(&msg[..cut]),
                Err(Error::Incomplete { what: WHAT }),
                "cut at {cut}"
            );
        }
        let Framed::Message { message, consumed } = frame(msg).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(consumed, msg.len());
        assert_eq!(message.body(), b"hello");
    }

    #[test]
    fn rfc3261_7_5_two_messages_back_to_back_and_keep_alives() {
        let one = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n";
        let two = b"SIP/2.0 200 OK\r\nCall-ID: 1\r\nl: 2\r\n\r\nok";
        let mut buf = Vec::new();
        buf.extend_from_slice(one);
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(two);
        let mut rest = &buf[..];
        let mut seen = Vec::new();
        while !rest.is_empty() {
            let f = frame(rest).unwrap();
            let n = match &f {
                Framed::Message { consumed, .. } | Framed::KeepAlive { consumed, .. } => *consumed,
            };
            seen.push(f);
            rest = &rest[n..];
        }
        assert_eq!(seen.len(), 4);
        assert!(
            matches!(&seen[0], Framed::Message { message, .. } if message.method() == Some("OPTIONS"))
        );
        assert_eq!(
            seen[1],
            Framed::KeepAlive {
                kind: KeepAlive::Ping,
                consumed: 4
            }
        );
        assert_eq!(
            seen[2],
            Framed::KeepAlive {
                kind: KeepAlive::Pong,
                consumed: 2
            }
        );
        assert!(matches!(&seen[3], Framed::Message { message, .. } if message.body() == b"ok"));
    }

    #[test]
    fn rfc5626_3_5_1_keep_alives() {
        // RFC 5626 3.5.1: "the client ... sends a double-CRLF (the 'ping') ...
        // the server responds ... with a single CRLF (the 'pong')".
        assert_eq!(
            frame(b"\r\n\r\n"),
            Ok(Framed::KeepAlive {
                kind: KeepAlive::Ping,
                consumed: 4
            })
        );
        assert_eq!(
            frame(b"\r\n"),
            Ok(Framed::KeepAlive {
                kind: KeepAlive::Pong,
                consumed: 2
            })
        );
        assert_eq!(frame(b"\r\n\r"), Err(Error::Incomplete { what: WHAT }));
        assert_eq!(frame(b"\r"), Err(Error::Incomplete { what: WHAT }));
        assert_eq!(frame(b""), Err(Error::Incomplete { what: WHAT }));
    }

    #[test]
    fn rfc3261_18_3_stream_requires_content_length_and_numbers() {
        let no_cl = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: 1\r\n\r\n";
        assert!(matches!(frame(no_cl), Err(Error::Invalid { .. })));
        // A datagram may omit it: the body is the rest.
        assert_eq!(
            parse(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: 1\r\n\r\nxy")
                .unwrap()
                .body(),
            b"xy"
        );
        let bad = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 1x\r\n\r\n";
        assert!(matches!(frame(bad), Err(Error::Invalid { .. })));
        let disagree = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
        assert!(matches!(parse(disagree), Err(Error::Invalid { .. })));
        let short = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nab";
        assert!(matches!(parse(short), Err(Error::Invalid { .. })));
        let big = format!(
            "OPTIONS sip:a SIP/2.0\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(frame(big.as_bytes()), Err(Error::Invalid { .. })));
    }

    #[test]
    fn framer_says_invalid_early_for_a_bad_start_line() {
        assert!(matches!(
            frame(b"GET / HTTP/1.1\r\nHost"),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            frame(b"SIP/2.0 99 Low\r\n"),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            frame(b"SIP/3.0 200 OK\r\n"),
            Err(Error::Invalid { .. })
        ));
        let huge = vec![b'a'; MAX_RAW_HEAD_BYTES + 8];
        assert!(matches!(frame(&huge), Err(Error::Invalid { .. })));
    }

    #[test]
    fn header_limits() {
        let mut s = String::from("OPTIONS sip:a SIP/2.0\r\n");
        for i in 0..=MAX_HEADERS {
            s.push_str(&format!("X-{i}: v\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        assert!(matches!(frame(s.as_bytes()), Err(Error::Invalid { .. })));
    }

    #[test]
    fn rejects_bad_headers() {
        for bad in [
            &b"OPTIONS sip:a SIP/2.0\r\nNo colon here\r\n\r\n"[..],
            b"OPTIONS sip:a SIP/2.0\r\n folded: first\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\r\nBad Name: v\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\r\nX: a\rb\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\r\nX: a\x01b\r\n\r\n",
            b"OPTIONS  sip:a SIP/2.0\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0 extra\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::Invalid { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn builder_and_encode() {
        let m = MessageBuilder::request("OPTIONS", "sip:a@b")
            .header("Call-ID", "x")
            .body("hi")
            .build()
            .unwrap();
        assert_eq!(
            m.encode(),
            b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 2\r\n\r\nhi"
        );
        assert_eq!(m.encoded_head_len() + 2, m.encode().len());
        assert!(
            MessageBuilder::request("OPTIONS", "sip:a@b")
                .header("X", "a\r\nb")
                .build()
                .is_err()
        );
        assert!(
            MessageBuilder::request("OPTIONS", "sip:a@b")
                .header("Content-Length", "3")
                .build()
                .is_err()
        );
        assert!(
            MessageBuilder::request("BAD METHOD", "sip:a@b")
                .build()
                .is_err()
        );
        assert!(MessageBuilder::response(700, "x").build().is_err());
    }

    #[test]
    fn set_and_remove_headers() {
        let mut m = MessageBuilder::request("OPTIONS", "sip:a")
            .header("A", "1")
            .header("B", "2")
            .header("a", "3")
            .build()
            .unwrap();
        m.set_header("A", "9").unwrap();
        assert_eq!(m.headers().collect::<Vec<_>>(), [("A", "9"), ("B", "2")]);
        assert_eq!(m.remove_header("b"), 1);
        assert_eq!(m.header_count(), 1);
    }

    #[test]
    fn rfc3261_8_2_6_2_reply_copies_headers_and_adds_to_tag() {
        // RFC 3261 8.2.6.2: "The From field of the response MUST equal the
        // From header field of the request. The Call-ID ... CSeq ... Via
        // header field values in the response MUST equal the Via header field
        // values in the request and MUST maintain the same ordering. If a
        // request contained a To tag ... the To header field in the response
        // MUST equal that of the request. However, if the To header field in
        // the request did not contain a tag, ... the UAS MUST add a tag".
        let req = parse(b"REGISTER sip:contoso.com SIP/2.0\r\nv: SIP/2.0/TLS a;branch=z9hG4bK1\r\nVia: SIP/2.0/TLS b;branch=z9hG4bK2\r\nMax-Forwards: 70\r\nf: <sip:alice@contoso.com>;tag=1;epid=01\r\nTo: <sip:alice@contoso.com>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
        let resp = MessageBuilder::reply_to(&req, 401, "Unauthorized", Some("abc"))
            .build()
            .unwrap();
        assert_eq!(
            resp.headers().collect::<Vec<_>>(),
            [
                ("Via", "SIP/2.0/TLS a;branch=z9hG4bK1"),
                ("Via", "SIP/2.0/TLS b;branch=z9hG4bK2"),
                ("From", "<sip:alice@contoso.com>;tag=1;epid=01"),
                ("To", "<sip:alice@contoso.com>;tag=abc"),
                ("Call-ID", "c"),
                ("CSeq", "1 REGISTER"),
            ]
        );
        let again = MessageBuilder::reply_to(&resp, 200, "OK", Some("zzz"))
            .build()
            .unwrap();
        assert_eq!(again.header("To"), Some("<sip:alice@contoso.com>;tag=abc"));
    }
}
