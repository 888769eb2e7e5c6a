//! Vectors for the HTTP/1.1 reader, named after the sections of RFC 9112
//! and RFC 9110 they come from, and the properties the fuzz target checks.

use super::*;
use proptest::prelude::*;

fn head(raw: &[u8]) -> Head {
    parse_head(raw).unwrap().unwrap().0
}

fn refused(raw: &[u8]) -> String {
    match parse_head(raw) {
        Err(e) => e.to_string(),
        other => panic!("{:?} was read as {other:?}", String::from_utf8_lossy(raw)),
    }
}

#[test]
fn rfc9112_4_status_line() {
    let h = head(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(
        (h.status, h.framing, h.closes),
        (200, Framing::UntilClose, false)
    );
    // The reason phrase may be empty, and its space is forgiven.
    assert_eq!(head(b"HTTP/1.1 404 \r\n\r\n").status, 404);
    assert_eq!(head(b"HTTP/1.1 503\r\n\r\n").status, 503);
    // An HTTP/1.0 answer closes unless it says keep-alive.
    assert!(head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").closes);
    assert!(
        !head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").closes
    );
    for bad in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 600 High\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\xff\r\n\r\n",
    ] {
        assert!(
            refused(bad).starts_with("invalid HTTP response head"),
            "{bad:?}"
        );
    }
}

#[test]
fn an_unfinished_head_asks_for_more_and_a_huge_one_is_refused() {
    assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
    assert_eq!(parse_head(b"").unwrap(), None);
    let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
    while big.len() <= MAX_HEAD {
        big.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert!(refused(&big).contains("over 16384 bytes"));
    big.extend_from_slice(b"\r\n");
    assert!(refused(&big).contains("over 16384 bytes"));
}

#[test]
fn the_fields_a_phone_reads() {
    let raw = b"HTTP/1.1 403 Forbidden\r\nx-ms-diagnostics:  28020;reason=\"Bad PIN\"  \r\nRETRY-AFTER: 30\r\nContent-Length: 3\r\n\r\nabc";
    let (h, len) = parse_head(raw).unwrap().unwrap();
    assert_eq!(&raw[len..], b"abc");
    assert_eq!(h.status, 403);
    assert_eq!(h.diagnostics.as_deref(), Some("28020;reason=\"Bad PIN\""));
    assert_eq!(h.retry_after, Some(30));
    assert_eq!(h.framing, Framing::Length(3));
    assert!(h.reusable());
    // The HTTP-date form of Retry-After is not read.
    let h = head(b"HTTP/1.1 503 Busy\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n\r\n");
    assert_eq!(h.retry_after, None);
    let h = head(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n");
    assert!(h.closes && !h.reusable());
}

/// RFC 9112 section 5.1: "No whitespace is allowed between the field name
/// and colon."
#[test]
fn rfc9112_5_1_no_whitespace_before_the_colon() {
    assert!(refused(b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n").contains("bad field name"));
    assert!(refused(b"HTTP/1.1 200 OK\r\n: 5\r\n\r\n").contains("bad field name"));
    assert!(refused(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n").contains("without a colon"));
}

/// RFC 9112 section 5.2: a user agent replaces each obs-fold with a space.
#[test]
fn rfc9112_5_2_obs_fold_is_read_as_a_space() {
    let h = head(b"HTTP/1.1 503 Busy\r\nX-Ms-Diagnostics: 1032;\r\n\treason=\"Busy\"\r\n   ;source=\"fe01\"\r\n\r\n");
    assert_eq!(
        h.diagnostics.as_deref(),
        Some("1032; reason=\"Busy\" ;source=\"fe01\"")
    );
}

/// RFC 9112 section 6.3: how the body ends.
#[test]
fn rfc9112_6_3_message_body_length() {
    // Item 1: 204 and 304 have none, whatever they say.
    assert_eq!(
        head(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n").framing,
        Framing::Length(0)
    );
    assert_eq!(
        head(b"HTTP/1.1 304 Not Modified\r\n\r\n").framing,
        Framing::Length(0)
    );
    // Item 3: Transfer-Encoding overrides Content-Length, and the
    // connection is not reused.
    let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    assert!(!h.reusable());
    // Item 4: chunked must be the final coding, over one field or several.
    let h =
        head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    assert!(h.reusable());
    let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    assert_eq!((h.framing, h.closes), (Framing::UntilClose, true));
    // Item 6: a length.
    assert_eq!(
        head(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n").framing,
        Framing::Length(1 << 20)
    );
    // Item 8: neither: until the server closes.
    let h = head(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(h.framing, Framing::UntilClose);
    assert!(!h.reusable());
}

/// RFC 9110 section 8.6: `Content-Length = 1*DIGIT`; a list of one value
/// repeated may stand for it; differing values leave no framing.
#[test]
fn rfc9110_8_6_content_length() {
    assert_eq!(
        head(b"HTTP/1.1 200 OK\r\nContent-Length: 42, 42\r\n\r\n").framing,
        Framing::Length(42)
    );
    assert_eq!(
        head(b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nContent-Length: 42\r\n\r\n").framing,
        Framing::Length(42)
    );
    for bad in [
        "42, 43",
        "-1",
        "+5",
        "0x10",
        "",
        "4 2",
        "99999999999999999999999",
    ] {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
        assert!(
            refused(raw.as_bytes()).contains("Content-Length"),
            "{bad:?}"
        );
    }
    assert!(
        refused(b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nContent-Length: 7\r\n\r\n")
            .contains("two different Content-Lengths")
    );
}

/// RFC 9110 section 15.2: "A client MUST be able to parse one or more 1xx
/// responses received prior to a final response, even if the client does
/// not expect one."
#[test]
fn rfc9110_15_2_interim_answers_are_read_past() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    let (h, len) = parse_head(raw).unwrap().unwrap();
    assert_eq!((h.status, &raw[len..]), (200, &b"hi"[..]));
    // The final head not yet here: more bytes.
    assert_eq!(
        parse_head(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2").unwrap(),
        None
    );
    // The phone asks for no upgrade.
    assert!(refused(b"HTTP/1.1 101 Switching Protocols\r\n\r\n").contains("101"));
}

/// RFC 9112 section 7.1: sizes in hexadecimal, either case, data, CRLF,
/// a last chunk of size 0 and the empty line that ends the trailer
/// section. What follows is not the body's.
#[test]
fn rfc9112_7_1_chunked_coding() {
    let coded = b"4\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\nHTTP/1.1 next";
    let (data, used) = decode_chunked(coded).unwrap();
    assert_eq!(data, b"Wikipedia in \r\n\r\nchunks.");
    assert_eq!(&coded[used..], b"HTTP/1.1 next");
    assert_eq!(decode_chunked(b"000\r\n\r\n").unwrap(), (Vec::new(), 7));
    assert_eq!(
        decode_chunked(b"a\r\n0123456789\r\n0\r\n\r\n").unwrap().0,
        b"0123456789"
    );
    assert_eq!(
        decode_chunked(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap().0,
        b"0123456789"
    );
}

/// RFC 9112 section 7.1: "Recipients MUST anticipate potentially large
/// hexadecimal numerals and prevent parsing errors due to integer
/// conversion overflows or precision loss due to integer representation."
#[test]
fn rfc9112_7_1_a_size_past_64_bits_is_refused_not_wrapped() {
    let e = decode_chunked(b"10000000000000000\r\nabc\r\n0\r\n\r\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid HTTP chunked body at byte 16: chunk size over 2^64 - 1"
    );
    // The largest size is a size: the body is then cut short.
    assert_eq!(
        decode_chunked(b"ffffffffffffffff\r\nabc").unwrap_err(),
        Error::Incomplete { what: CHUNKED }
    );
    let mut d = Chunked::new();
    let input = b"FFFFFFFFFFFFFFFF\r\nabc";
    assert_eq!(d.step(input).unwrap(), (input.len(), Some(18..21)));
    assert!(!d.is_done());
}

/// RFC 9112 section 7.1.1: chunk extensions, read past.
#[test]
fn rfc9112_7_1_1_chunk_extensions_are_ignored() {
    let coded = b"5;name=value;flag\r\nhello\r\n6 ; q=\"a;b\"\r\n world\r\n0;last\r\n\r\n";
    assert_eq!(decode_chunked(coded).unwrap().0, b"hello world");
    let mut long = b"1;".to_vec();
    long.resize(MAX_LINE + 10, b'x');
    long.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert!(
        decode_chunked(&long)
            .unwrap_err()
            .to_string()
            .contains("line over 4 KiB")
    );
}

/// RFC 9112 section 7.1.2: the trailer section, read past.
#[test]
fn rfc9112_7_1_2_trailer_fields_are_read_past() {
    let coded = b"3\r\nabc\r\n0\r\nExpires: Wed, 21 Oct 2026 07:28:00 GMT\r\nX-Ms-Diagnostics: 1\r\n\r\nnext";
    let (data, used) = decode_chunked(coded).unwrap();
    assert_eq!(
        (data.as_slice(), &coded[used..]),
        (&b"abc"[..], &b"next"[..])
    );
}

#[test]
fn malformed_chunked_bodies_say_what_and_where() {
    for (coded, reason) in [
        (&b"zz\r\n"[..], "at byte 0: chunk size is not hexadecimal"),
        (b"\r\n", "at byte 0: chunk size is not hexadecimal"),
        (
            b"3\r\nabcd\r\n",
            "at byte 6: chunk data not followed by CRLF",
        ),
        (b"3\nabc\r\n", "at byte 1: chunk size is not hexadecimal"),
        (b"3;x\nabc", "at byte 3: bare LF in a chunk size line"),
        (b"3\r\rabc", "at byte 2: chunk size line not ended by CRLF"),
        (b"0\r\nX: y\n", "at byte 7: bare LF in the trailer section"),
        (b"0\r\nX: y\rz", "at byte 8: trailer line not ended by CRLF"),
    ] {
        let e = decode_chunked(coded).unwrap_err().to_string();
        assert!(e.ends_with(reason), "{coded:?}: {e}");
    }
    assert_eq!(
        decode_chunked(b"3\r\nab").unwrap_err(),
        Error::Incomplete { what: CHUNKED }
    );
}

/// The point of decoding as bytes arrive: a chunk far bigger than any one
/// read is handed over in the reads' own slices, never gathered.
#[test]
fn a_big_chunk_streams_through_small_reads() {
    let mut d = Chunked::new();
    assert_eq!(d.step(b"100000\r\n").unwrap(), (8, None));
    let read = [7u8; 1000];
    let mut total = 0u64;
    while total < 0x10_0000 {
        let want = (0x10_0000 - total).min(1000) as usize;
        let (used, piece) = d.step(&read[..want]).unwrap();
        assert_eq!((used, piece), (want, Some(0..want)));
        total += want as u64;
    }
    assert_eq!(d.step(b"\r\n0\r\n\r\n").unwrap(), (7, None));
    assert!(d.is_done());
}

#[test]
fn fuzz_roundtrip_takes_the_vectors() {
    for v in [
        &b"4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n"[..],
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"",
        b"0\r\n\r\n",
    ] {
        assert_eq!(fuzz_roundtrip(v), Ok(()));
    }
}

proptest! {
    /// Arbitrary bytes never panic the readers, and coded data reads back.
    #[test]
    fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert_eq!(fuzz_roundtrip(&bytes), Ok(()));
    }

    /// Heads and chunked bodies with a few bytes changed reach deeper than
    /// random bytes do.
    #[test]
    fn mutated_answers_never_panic(which in 0..3usize,
                                   edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut v = [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"[..],
            b"4;a=b\r\nWiki\r\n6\r\npedia \r\n0\r\nX: y\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 5\r\nX-Ms-Diagnostics: 1\r\n\r\n",
        ][which].to_vec();
        for (at, b) in edits {
            let i = at % v.len();
            v[i] = b;
        }
        prop_assert_eq!(fuzz_roundtrip(&v), Ok(()));
    }
}
