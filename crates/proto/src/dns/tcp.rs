//! DNS over TCP framing (RFC 1035 section 4.2.2): "The message is prefixed
//! with a two byte length field which gives the message length, excluding
//! the two byte length field."
//!
//! This file owns only the prefix: adding it, and finding where one framed
//! message ends in a stream buffer. It does not own reading the socket,
//! pipelining policy or connection reuse (RFC 7766).

use crate::{Error, Result};

const WHAT: &str = "DNS TCP message";

/// The message with its 2-byte big-endian length prefix. A message over
/// 65535 bytes cannot be framed.
pub fn tcp_frame(message: &[u8]) -> Result<Vec<u8>> {
    let len = u16::try_from(message.len()).map_err(|_| {
        Error::bad_value(
            "DNS TCP message",
            format!("{} bytes, over 65535", message.len()),
        )
    })?;
    let mut out = Vec::with_capacity(message.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(out)
}

/// The first framed message in `stream`, and how many bytes of `stream` it
/// used (prefix included): drop those and call again for the next.
///
/// [`Error::Incomplete`] when `stream` does not yet hold the whole prefix or
/// message: read more and call again with the longer buffer. A length of
/// zero is [`Error::Invalid`]: no DNS message is empty (the header alone is
/// 12 bytes), so the stream is out of step.
pub fn tcp_unframe(stream: &[u8]) -> Result<(&[u8], usize)> {
    let (len, rest) = match stream {
        [hi, lo, rest @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
        _ => return Err(Error::Incomplete { what: WHAT }),
    };
    if len == 0 {
        return Err(Error::invalid_at(WHAT, 0, "zero length prefix"));
    }
    let message = rest.get(..len).ok_or(Error::Incomplete { what: WHAT })?;
    Ok((message, len + 2))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// RFC 1035 section 4.2.2: "two byte length field which gives the
    /// message length, excluding the two byte length field".
    #[test]
    fn rfc1035_section_4_2_2_length_prefix() {
        let msg = [0xAB; 300];
        let framed = tcp_frame(&msg).unwrap();
        assert_eq!(&framed[..2], &[0x01, 0x2C], "300 = 0x012C, big-endian");
        assert_eq!(&framed[2..], &msg[..]);
        assert!(tcp_frame(&vec![0; 65_536]).is_err());
        assert_eq!(tcp_frame(&vec![0; 65_535]).unwrap()[..2], [0xFF, 0xFF]);
    }

    /// RFC 1035 section 4.2.2 as a stream: a message may arrive in pieces,
    /// and several may share one read.
    #[test]
    fn rfc1035_section_4_2_2_stream_decoding() {
        let incomplete = Err(Error::Incomplete { what: WHAT });
        assert_eq!(tcp_unframe(&[]), incomplete);
        assert_eq!(tcp_unframe(&[0]), incomplete);
        assert_eq!(tcp_unframe(&[0, 3, 1, 2]), incomplete);
        assert_eq!(tcp_unframe(&[0, 3, 1, 2, 3]), Ok((&[1u8, 2, 3][..], 5)));
        let two = [0, 1, 9, 0, 2, 7, 8];
        let (first, used) = tcp_unframe(&two).unwrap();
        assert_eq!((first, used), (&[9u8][..], 3));
        assert_eq!(tcp_unframe(&two[used..]), Ok((&[7u8, 8][..], 4)));
        assert!(matches!(
            tcp_unframe(&[0, 0, 1]),
            Err(Error::Invalid { at: Some(0), .. })
        ));
    }

    proptest! {
        #[test]
        fn frame_unframe_round_trip(msg in proptest::collection::vec(any::<u8>(), 1..2000), tail in proptest::collection::vec(any::<u8>(), 0..10)) {
            let mut stream = tcp_frame(&msg).unwrap();
            stream.extend_from_slice(&tail);
            let (got, used) = tcp_unframe(&stream).unwrap();
            prop_assert_eq!(got, &msg[..]);
            prop_assert_eq!(used, msg.len() + 2);
            // Every strict prefix is Incomplete.
            for cut in [0, 1, stream.len().min(used) - 1] {
                prop_assert_eq!(tcp_unframe(&stream[..cut]), Err(Error::Incomplete { what: WHAT }));
            }
        }

        #[test]
        fn unframe_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = tcp_unframe(&bytes);
        }
    }
}
