//! HTTP/1.1 answers as a phone reads them (RFC 9112), sans-IO.
//!
//! Owns: the response head (status line, the few fields a phone acts on:
//! `Content-Length`, `Transfer-Encoding`, `Connection`, `X-Ms-diagnostics`,
//! `Retry-After`), interim 1xx answers skipped, how the body is delimited
//! (RFC 9112 section 6.3), and the chunked coding (section 7.1) decoded as
//! bytes arrive, so that a body a phone counts and does not keep (a
//! firmware image) is never held whole, whatever its chunks' sizes. Does
//! not own: requests (the phone's stages build them), sockets, or what a
//! body means.
//!
//! The web services a phone talks to are IIS behind the pool; the
//! Device Update file store streams images. Both are ordinary HTTP/1.1,
//! and a phone needs little of it, which is why this is a reader of its
//! own rather than a client library: it must count a body without keeping
//! it, read `X-Ms-diagnostics`, and never panic or grow without bound on a
//! server's answer.

use std::borrow::Cow;
use std::ops::Range;

use crate::{Error, Result};

/// The largest response head read, interim 1xx heads included.
pub const MAX_HEAD: usize = 16 * 1024;

/// The longest chunk-size line (with its extensions) or trailer line.
const MAX_LINE: usize = 4 * 1024;

const HEAD: &str = "HTTP response head";
const CHUNKED: &str = "HTTP chunked body";

/// How the body after a head ends (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// After this many bytes (`Content-Length`; 0 for 204 and 304).
    Length(u64),
    /// With the chunked coding's last chunk and trailer section.
    Chunked,
    /// When the server closes the connection.
    UntilClose,
}

/// A final response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code, 200 to 599.
    pub status: u16,
    /// How the body is delimited.
    pub framing: Framing,
    /// The server closes the connection after this answer: `Connection:
    /// close`, an HTTP/1.0 answer without `keep-alive`, or a framing that
    /// forbids reuse.
    pub closes: bool,
    /// `X-Ms-diagnostics`, as sent (see [`crate::diag`]).
    pub diagnostics: Option<String>,
    /// `Retry-After` in seconds; the HTTP-date form is not read.
    pub retry_after: Option<u32>,
}

impl Head {
    /// Whether the connection may carry another request once the body has
    /// been read.
    pub fn reusable(&self) -> bool {
        !self.closes && self.framing != Framing::UntilClose
    }
}

/// Reads the response head at the start of `buf`: `Ok(None)` while the
/// blank line that ends it has not arrived, else the final head and how
/// many bytes of `buf` it took. Interim answers (1xx other than 101,
/// RFC 9110 section 15.2: "A client MUST be able to parse one or more 1xx
/// responses received prior to a final response, even if the client does
/// not expect one") are read past, and counted in that length.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>> {
    let mut start = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        let Some(end) = memchr::memmem::find(rest, b"\r\n\r\n") else {
            if buf.len() > MAX_HEAD {
                return Err(Error::invalid(HEAD, format!("over {MAX_HEAD} bytes")));
            }
            return Ok(None);
        };
        if start + end + 4 > MAX_HEAD {
            return Err(Error::invalid(HEAD, format!("over {MAX_HEAD} bytes")));
        }
        let text = rest.get(..end).unwrap_or_default();
        let head = read_head(text, start)?;
        start += end + 4;
        match head.status {
            101 => {
                return Err(Error::invalid_at(
                    HEAD,
                    0,
                    "101 Switching Protocols to a request that asked for no upgrade",
                ));
            }
            100..=199 => continue,
            _ => return Ok(Some((head, start))),
        }
    }
}

/// One head's text, without its blank line; `at` is where it starts.
fn read_head(text: &[u8], at: usize) -> Result<Head> {
    let text = std::str::from_utf8(text)
        .map_err(|e| Error::invalid_at(HEAD, at + e.valid_up_to(), "not UTF-8"))?;
    let mut lines = text.split("\r\n").peekable();
    let status_line = lines.next().unwrap_or_default();
    let (version, status) = status_line_parts(status_line).ok_or_else(|| {
        Error::invalid_at(HEAD, at, format!("bad status line {status_line:.60?}"))
    })?;
    let mut head = Head {
        status,
        framing: Framing::UntilClose,
        closes: version == "HTTP/1.0",
        diagnostics: None,
        retry_after: None,
    };
    let mut length: Option<u64> = None;
    let mut codings: Option<String> = None;
    while let Some(line) = lines.next() {
        let (name, first) = line.split_once(':').ok_or_else(|| {
            Error::invalid_at(HEAD, at, format!("field line without a colon: {line:.60?}"))
        })?;
        // RFC 9112 section 5.1: "No whitespace is allowed between the field
        // name and colon", which marks an attempt at smuggling.
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(Error::invalid_at(
                HEAD,
                at,
                format!("bad field name {name:.60?}"),
            ));
        }
        // Section 5.2: a user agent replaces each obs-fold (a line that
        // begins with a space or tab) by a space before reading the value.
        // Only a folded value is copied: every answer's head passes here,
        // and most of its fields are not kept.
        let mut value = Cow::Borrowed(first.trim_matches([' ', '\t']));
        while let Some(fold) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
            let v = value.to_mut();
            v.push(' ');
            v.push_str(fold.trim_matches([' ', '\t']));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n = content_length(&value).ok_or_else(|| {
                Error::invalid_at(HEAD, at, format!("bad Content-Length {value:.40?}"))
            })?;
            // RFC 9110 section 8.6: differing lengths make the framing
            // unknowable.
            if length.is_some_and(|l| l != n) {
                return Err(Error::invalid_at(HEAD, at, "two different Content-Lengths"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let all = codings.get_or_insert_with(String::new);
            if !all.is_empty() {
                all.push(',');
            }
            all.push_str(&value);
        } else if name.eq_ignore_ascii_case("connection") {
            if has_token(&value, "close") {
                head.closes = true;
            } else if has_token(&value, "keep-alive") && version == "HTTP/1.0" {
                head.closes = false;
            }
        } else if name.eq_ignore_ascii_case("x-ms-diagnostics") {
            head.diagnostics = Some(value.into_owned());
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = value.parse().ok();
        }
    }
    head.framing = match (head.status, codings, length) {
        // Section 6.3 item 1: 204 and 304 have no body.
        (204 | 304, _, _) => Framing::Length(0),
        // Item 3: Transfer-Encoding overrides Content-Length; a message
        // with both "ought to be handled as an error" and the connection
        // is not trusted with another request.
        (_, Some(te), l) => {
            head.closes |= l.is_some();
            // Item 4: chunked last, or read until the server closes.
            let last = te.rsplit(',').next().unwrap_or_default().trim();
            if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                head.closes = true;
                Framing::UntilClose
            }
        }
        (_, None, Some(l)) => Framing::Length(l),
        (_, None, None) => Framing::UntilClose,
    };
    Ok(head)
}

/// `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 section 4); the reason is
/// not read, and a missing space before an empty one is forgiven.
fn status_line_parts(line: &str) -> Option<(&str, u16)> {
    let (version, rest) = line.split_once(' ')?;
    let minor = version.strip_prefix("HTTP/1.")?;
    if minor.len() != 1 || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !matches!(rest.get(3..4), None | Some(" ")) {
        return None;
    }
    let status: u16 = code.parse().ok()?;
    (100..600).contains(&status).then_some((version, status))
}

/// RFC 9110 section 8.6: `1*DIGIT`, or a list of one value repeated.
fn content_length(value: &str) -> Option<u64> {
    let mut out: Option<u64> = None;
    for part in value.split(',') {
        let part = part.trim_matches([' ', '\t']);
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = part.parse().ok()?;
        if out.is_some_and(|o| o != n) {
            return None;
        }
        out = Some(n);
    }
    out
}

/// Whether a comma-separated field value lists `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

/// RFC 9110 section 5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A decoder of the chunked transfer coding (RFC 9112 section 7.1), fed
/// the body's bytes as they arrive.
///
/// ```text
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk   = 1*("0") [ chunk-ext ] CRLF
/// ```
///
/// Extensions and trailer fields are read past, each line at most 4 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    state: State,
    /// Bytes of the current size or trailer line, or of the trailer
    /// section, to bound them.
    line: usize,
    trailers: usize,
    /// Bytes of the coded body read so far, for the errors' offsets.
    seen: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the size's hex digits; `digits` says whether there was one.
    Size {
        value: u64,
        digits: bool,
    },
    /// After the size: extensions, up to the CR.
    Extension {
        value: u64,
    },
    /// The size line's CR seen; its LF next.
    SizeLf {
        value: u64,
    },
    /// This many bytes of chunk data to come.
    Data(u64),
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// A CR seen; `last` when it ends the (empty) final line.
    TrailerLf {
        last: bool,
    },
    Done,
}

impl Default for Chunked {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunked {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Chunked {
            state: State::Size {
                value: 0,
                digits: false,
            },
            line: 0,
            trailers: 0,
            seen: 0,
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads `input` up to and including the next piece of chunk data:
    /// returns how many bytes it used and, if it reached data, where that
    /// data is in `input`. Call again with the unused rest; once
    /// [`Chunked::is_done`], the rest is not part of this body.
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, Option<Range<usize>>)> {
        let mut used = 0;
        while let Some(&b) = input.get(used) {
            if let State::Data(left) = self.state {
                let have = input.len() - used;
                let take = usize::try_from(left).map_or(have, |l| l.min(have));
                let piece = used..used + take;
                self.state = match left - take as u64 {
                    0 => State::DataCr,
                    rest => State::Data(rest),
                };
                self.seen += take;
                return Ok((used + take, Some(piece)));
            }
            self.byte(b)?;
            used += 1;
            self.seen += 1;
            if self.state == State::Done {
                break;
            }
        }
        Ok((used, None))
    }

    fn byte(&mut self, b: u8) -> Result<()> {
        self.state = match self.state {
            State::Size { value, digits } => match (hex(b), b) {
                (Some(d), _) => {
                    self.line_byte()?;
                    // Section 7.1: "Recipients MUST anticipate potentially
                    // large hexadecimal numerals and prevent parsing errors
                    // due to integer conversion overflows".
                    let value = value
                        .checked_mul(16)
                        .and_then(|v| v.checked_add(u64::from(d)))
                        .ok_or_else(|| self.error("chunk size over 2^64 - 1"))?;
                    State::Size {
                        value,
                        digits: true,
                    }
                }
                _ if !digits => return Err(self.error("chunk size is not hexadecimal")),
                (None, b'\r') => State::SizeLf { value },
                (None, b';' | b' ' | b'\t') => {
                    self.line_byte()?;
                    State::Extension { value }
                }
                _ => return Err(self.error("chunk size is not hexadecimal")),
            },
            State::Extension { value } => match b {
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(self.error("bare LF in a chunk size line")),
                _ => {
                    self.line_byte()?;
                    State::Extension { value }
                }
            },
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err(self.error("chunk size line not ended by CRLF"));
                }
                self.line = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data(value)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                value: 0,
                digits: false,
            },
            State::DataCr | State::DataLf => {
                return Err(self.error("chunk data not followed by CRLF"));
            }
            State::TrailerStart | State::Trailer => {
                let start = self.state == State::TrailerStart;
                self.trailers += 1;
                if self.trailers > MAX_HEAD {
                    return Err(self.error("trailer section over 16 KiB"));
                }
                match b {
                    b'\r' => State::TrailerLf { last: start },
                    b'\n' => return Err(self.error("bare LF in the trailer section")),
                    _ => {
                        self.line_byte()?;
                        State::Trailer
                    }
                }
            }
            State::TrailerLf { last } => {
                if b != b'\n' {
                    return Err(self.error("trailer line not ended by CRLF"));
                }
                self.line = 0;
                if last {
                    State::Done
                } else {
                    State::TrailerStart
                }
            }
            // `step` hands data over in slices and stops at Done.
            State::Data(_) | State::Done => self.state,
        };
        Ok(())
    }

    fn line_byte(&mut self) -> Result<()> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(self.error("line over 4 KiB"));
        }
        Ok(())
    }

    fn error(&self, reason: &'static str) -> Error {
        Error::invalid_at(CHUNKED, self.seen, reason)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a whole chunked body held in memory: the data and how many
/// bytes of `coded` the body took. For tests and the fuzz target; the
/// phones feed [`Chunked`] as they read.
pub fn decode_chunked(coded: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut d = Chunked::new();
    let mut out = Vec::new();
    let mut pos = 0;
    while !d.is_done() {
        let rest = coded.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(Error::Incomplete { what: CHUNKED });
        }
        let (used, piece) = d.step(rest)?;
        if let Some(r) = piece {
            out.extend_from_slice(rest.get(r).unwrap_or_default());
        }
        pos += used;
    }
    Ok((out, pos))
}

/// What the `http` fuzz target checks, here so that the crate's property
/// tests run the same code: any bytes read as a head or as a chunked body
/// without panicking; a head's length within the input; the chunked
/// decoder giving the same answer fed all at once and fed a byte at a
/// time; and `data` coded in chunks (sizes and extensions drawn from
/// `data` itself, with a trailer) decoding back to `data`.
#[doc(hidden)]
pub fn fuzz_roundtrip(data: &[u8]) -> std::result::Result<(), String> {
    if let Ok(Some((_, len))) = parse_head(data)
        && len > data.len()
    {
        return Err(format!("head of {len} bytes in {} bytes", data.len()));
    }
    let whole = decode_chunked(data);
    let mut d = Chunked::new();
    let mut bytewise = Vec::new();
    let mut used = 0;
    let mut failed = None;
    for (i, b) in data.iter().enumerate() {
        if d.is_done() {
            break;
        }
        match d.step(std::slice::from_ref(b)) {
            Ok((n, piece)) => {
                used = i + n;
                if piece.is_some() {
                    bytewise.push(*b);
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let bytewise = match failed {
        Some(e) => Err(e),
        None if d.is_done() => Ok((bytewise, used)),
        None => Err(Error::Incomplete { what: CHUNKED }),
    };
    if whole != bytewise {
        return Err(format!("whole {whole:?} but byte by byte {bytewise:?}"));
    }
    let coded = encode_chunked(data);
    match decode_chunked(&coded) {
        Ok((back, n)) if back == data && n == coded.len() => Ok(()),
        other => Err(format!(
            "{data:?} coded as {coded:?} read back as {other:?}"
        )),
    }
}

/// `data` in the chunked coding, the chunk sizes taken from its own bytes
/// (1 to 256), every other chunk with an extension, and one trailer field.
fn encode_chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2 + 32);
    let mut rest = data;
    let mut n = 0usize;
    while let Some(&first) = rest.first() {
        let size = (usize::from(first) + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        let ext = if n % 2 == 1 { ";name=\"v\"" } else { "" };
        out.extend_from_slice(format!("{size:X}{ext}\r\n").as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
        n += 1;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: done\r\n\r\n");
    out
}

#[cfg(test)]
mod tests;
