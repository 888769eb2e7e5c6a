//! DHCP option 120, "SIP Servers" (RFC 3361), and the DNS wire form of the
//! domain names it carries.
//!
//! This file owns the option's *value* (the bytes after code and length):
//! the encoding byte, then either domain names (RFC 1035 section 3.1 labels,
//! compression pointers allowed) or IPv4 addresses. It also owns the checks
//! a domain name must pass before it goes on the wire, which option 43's web
//! server FQDN reuses. Splitting a value over 255 bytes into several option
//! instances (RFC 3396) is dhcproto's job when the whole message is encoded.

use std::net::Ipv4Addr;

use crate::{Error, Result};

const WHAT: &str = "DHCP option 120";

/// RFC 3361 section 3: the first byte of the option says which list follows.
const ENC_NAMES: u8 = 0;
const ENC_ADDRESSES: u8 = 1;

/// RFC 1035 section 2.3.4: "labels 63 octets or less", "names 255 octets or
/// less" (the wire form, length bytes and final zero included).
const MAX_LABEL: usize = 63;
const MAX_NAME_WIRE: usize = 255;

/// A name can hold at most 127 labels, so more jumps than that is a loop
/// even if the strictly-backwards rule below somehow let one through.
const MAX_POINTER_HOPS: usize = 128;

/// The SIP servers a DHCP server hands to a phone in option 120.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipServers {
    /// `enc` 0: fully qualified domain names, in order of preference, without
    /// a trailing dot.
    Names(Vec<String>),
    /// `enc` 1: IPv4 addresses, in order of preference.
    Addresses(Vec<Ipv4Addr>),
}

impl SipServers {
    /// One server named by its FQDN, the form Lync's DHCPUtil produces.
    pub fn name(fqdn: &str) -> Result<Self> {
        Ok(SipServers::Names(vec![check_domain_name(
            "SIP server FQDN",
            fqdn,
        )?]))
    }

    /// Encodes the option value: the `enc` byte, then the list.
    ///
    /// Names are written uncompressed: compression is optional for the
    /// sender, and uncompressed bytes are what administrators compare with
    /// DHCPUtil's output.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            SipServers::Names(names) => {
                if names.is_empty() {
                    return Err(Error::bad_value("SIP server list", "no SIP server names"));
                }
                out.push(ENC_NAMES);
                for name in names {
                    let name = check_domain_name("SIP server FQDN", name)?;
                    push_wire_name(&mut out, &name);
                }
            }
            SipServers::Addresses(addrs) => {
                if addrs.is_empty() {
                    return Err(Error::bad_value(
                        "SIP server list",
                        "no SIP server addresses",
                    ));
                }
                out.push(ENC_ADDRESSES);
                for a in addrs {
                    out.extend_from_slice(&a.octets());
                }
            }
        }
        Ok(out)
    }

    /// Decodes an option value (the bytes after code and length; several
    /// instances already concatenated per RFC 3396).
    pub fn decode(data: &[u8]) -> Result<Self> {
        let (&enc, list) = data
            .split_first()
            .ok_or_else(|| Error::invalid_at(WHAT, 0, "empty option: no encoding byte"))?;
        match enc {
            ENC_NAMES => {
                if list.is_empty() {
                    return Err(Error::invalid_at(WHAT, 1, "encoding 0 with no names"));
                }
                let mut names = Vec::new();
                let mut pos = 0;
                while pos < list.len() {
                    let (name, next) = read_name(list, pos, 1)?;
                    names.push(name);
                    pos = next;
                }
                Ok(SipServers::Names(names))
            }
            ENC_ADDRESSES => {
                if list.is_empty() || !list.len().is_multiple_of(4) {
                    return Err(Error::invalid_at(
                        WHAT,
                        1,
                        format!(
                            "encoding 1 needs a non-empty multiple of 4 bytes of addresses, got {}",
                            list.len()
                        ),
                    ));
                }
                let addrs = list
                    .chunks_exact(4)
                    .map(|c| {
                        let mut o = [0u8; 4];
                        o.copy_from_slice(c);
                        Ipv4Addr::from(o)
                    })
                    .collect();
                Ok(SipServers::Addresses(addrs))
            }
            other => Err(Error::invalid_at(
                WHAT,
                0,
                format!("unknown encoding byte {other} (RFC 3361 defines 0 and 1)"),
            )),
        }
    }

    /// The servers as text, names or dotted quads, in order.
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            SipServers::Names(n) => n.clone(),
            SipServers::Addresses(a) => a.iter().map(Ipv4Addr::to_string).collect(),
        }
    }
}

/// Checks a domain name given as text and returns it without its trailing
/// dot, or [`Error::BadValue`] naming `what` and the rule it breaks.
///
/// Labels are letters, digits, `-` and `_` (host names per RFC 1123 section
/// 2.1, plus the underscore that Active Directory names sometimes carry);
/// RFC 1035 section 2.3.4 limits labels to 63 bytes and the wire form of the
/// name to 255.
pub fn check_domain_name(what: &'static str, name: &str) -> Result<String> {
    name_problem(name).map_or_else(
        || Ok(name.strip_suffix('.').unwrap_or(name).to_owned()),
        |reason| Err(Error::bad_value(what, reason)),
    )
}

/// Why `name` cannot be encoded, or `None` when it can.
fn name_problem(name: &str) -> Option<String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Some("empty name".into());
    }
    let mut wire = 1;
    for label in bare.split('.') {
        if let Some(reason) = label_problem(label.as_bytes()) {
            return Some(format!("{reason} in {name:?}"));
        }
        wire += label.len() + 1;
    }
    (wire > MAX_NAME_WIRE).then(|| {
        format!(
            "name {name:?} is {wire} bytes in DNS wire form, over the {MAX_NAME_WIRE}-byte limit"
        )
    })
}

fn label_problem(label: &[u8]) -> Option<String> {
    if label.is_empty() {
        return Some("empty label".into());
    }
    if label.len() > MAX_LABEL {
        return Some(format!(
            "label of {} bytes, over the {MAX_LABEL}-byte limit",
            label.len()
        ));
    }
    label.iter().find_map(|&b| {
        if !b.is_ascii() {
            Some("non-ASCII character".to_owned())
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            None
        } else {
            Some(format!("invalid character {:?}", char::from(b)))
        }
    })
}

/// Appends a checked name in uncompressed wire form.
fn push_wire_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        // Checked names have labels of at most 63 bytes.
        out.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// Reads one name starting at `start` of `list` and returns it with the
/// offset just after it. `at_base` is added to offsets in errors so that they
/// count from the start of the option value.
///
/// Pointers (RFC 1035 section 4.1.4) are offsets from the start of `list`,
/// as RFC 3397 section 8 defines them for option 119's search list; for
/// option 120 we count from the first byte after `enc` as dhcpcd does.
/// Loop protection: every pointer must jump strictly before the start of the
/// run of labels it ends, so the targets strictly decrease and decoding ends.
fn read_name(list: &[u8], start: usize, at_base: usize) -> Result<(String, usize)> {
    let mut name = String::new();
    let mut pos = start;
    let mut segment_start = start;
    let mut after: Option<usize> = None;
    let mut wire = 1;
    let mut hops = 0;
    loop {
        let at = at_base + pos;
        let len = *list
            .get(pos)
            .ok_or_else(|| Error::invalid_at(WHAT, at, "name runs past the end of the option"))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                after.get_or_insert(pos + 1);
                break;
            }
            0x00 => {
                let len = usize::from(len);
                let label = list.get(pos + 1..pos + 1 + len).ok_or_else(|| {
                    Error::invalid_at(WHAT, at, "label runs past the end of the option")
                })?;
                if let Some(reason) = label_problem(label) {
                    return Err(Error::invalid_at(WHAT, at, reason));
                }
                wire += len + 1;
                if wire > MAX_NAME_WIRE {
                    return Err(Error::invalid_at(
                        WHAT,
                        at,
                        format!("name longer than {MAX_NAME_WIRE} bytes in wire form"),
                    ));
                }
                if !name.is_empty() {
                    name.push('.');
                }
                // label_problem accepted only ASCII.
                name.extend(label.iter().map(|&b| char::from(b)));
                pos += 1 + len;
            }
            0xC0 => {
                let low = *list
                    .get(pos + 1)
                    .ok_or_else(|| Error::invalid_at(WHAT, at, "compression pointer cut short"))?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                hops += 1;
                if target >= segment_start || hops > MAX_POINTER_HOPS {
                    return Err(Error::invalid_at(
                        WHAT,
                        at,
                        format!(
                            "compression pointer to offset {target} does not point before the labels it ends (loop)"
                        ),
                    ));
                }
                after.get_or_insert(pos + 2);
                pos = target;
                segment_start = target;
            }
            _ => {
                return Err(Error::invalid_at(
                    WHAT,
                    at,
                    format!("reserved label type 0x{len:02x}"),
                ));
            }
        }
    }
    if name.is_empty() {
        return Err(Error::invalid_at(
            WHAT,
            at_base + start,
            "empty domain name (the root)",
        ));
    }
    Ok((name, after.unwrap_or(pos + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 3361 section 3.1: "Code Len enc DNS name of SIP server ...
    /// |120|27 | 0 | 7 |'e'|'x'|'a'|'m'|'p'|'l'|'e'| 3 |'c'|'o'|'m'| 0 |
    /// 7 |'e'|'x'|'a'|'m'|'p'|'l'|'e'| 3 |'n'|'e'|'t'| 0 |"
    /// (the value below starts at enc; code and length belong to the message).
    #[test]
    fn rfc3361_section_3_1_domain_name_list() {
        let mut value = vec![0u8, 7];
        value.extend_from_slice(b"example");
        value.push(3);
        value.extend_from_slice(b"com");
        value.push(0);
        value.push(7);
        value.extend_from_slice(b"example");
        value.push(3);
        value.extend_from_slice(b"net");
        value.push(0);
        assert_eq!(value.len(), 27, "the section's Len is 27");
        let servers = SipServers::Names(vec!["example.com".into(), "example.net".into()]);
        assert_eq!(servers.encode().unwrap(), value);
        assert_eq!(SipServers::decode(&value).unwrap(), servers);
    }

    /// RFC 3361 section 3.2: "Code Len enc Address 1 Address 2 ...
    /// | 120 | n | 1 | a1 | a2 | a3 | a4 | a1 | ..." with n a multiple of 4
    /// plus one for enc.
    #[test]
    fn rfc3361_section_3_2_ipv4_address_list() {
        let value = [1u8, 192, 0, 2, 10, 198, 18, 0, 1];
        let servers = SipServers::Addresses(vec![
            Ipv4Addr::new(192, 0, 2, 10),
            Ipv4Addr::new(198, 18, 0, 1),
        ]);
        assert_eq!(servers.encode().unwrap(), value);
        assert_eq!(SipServers::decode(&value).unwrap(), servers);
        // Not a multiple of four: refused.
        assert!(matches!(
            SipServers::decode(&[1, 192, 0, 2]),
            Err(Error::Invalid { .. })
        ));
        assert!(SipServers::decode(&[1]).is_err());
    }

    /// RFC 3361 section 3: "enc" other than 0 and 1 is not defined.
    #[test]
    fn rfc3361_section_3_unknown_encoding() {
        let err = SipServers::decode(&[2, 0]).unwrap_err();
        assert!(matches!(err, Error::Invalid { at: Some(0), .. }), "{err}");
        assert!(SipServers::decode(&[]).is_err());
    }

    /// RFC 3397 section 8 sends `eng.apple.com.` and
    /// `marketing.apple.com.`, the second ending in a compression pointer to
    /// `apple.com` whose offset counts from the start of the list. The same
    /// list carried in option 120 (after `enc` 0) must decode.
    #[test]
    fn rfc3397_section_8_compression_pointer() {
        let mut value = vec![0u8, 3];
        value.extend_from_slice(b"eng");
        value.push(5); // offset 4 of the list
        value.extend_from_slice(b"apple");
        value.push(3);
        value.extend_from_slice(b"com");
        value.push(0);
        value.push(9);
        value.extend_from_slice(b"marketing");
        value.extend_from_slice(&[0xC0, 0x04]);
        assert_eq!(
            SipServers::decode(&value).unwrap(),
            SipServers::Names(vec!["eng.apple.com".into(), "marketing.apple.com".into()])
        );
    }

    /// RFC 1035 section 4.1.4: a pointer names "a prior occurance"; one that
    /// points at itself or forward would loop and is refused.
    #[test]
    fn rfc1035_section_4_1_4_pointer_loops_refused() {
        // Pointer to itself.
        assert!(SipServers::decode(&[0, 0xC0, 0x00]).is_err());
        // Two names pointing at each other.
        let value = [0u8, 1, b'a', 0xC0, 0x04, 1, b'b', 0xC0, 0x00];
        assert!(SipServers::decode(&value).is_err());
        // Forward pointer.
        assert!(SipServers::decode(&[0, 0xC0, 0x05, 1, b'a', 0]).is_err());
        // A chain of pointers each jumping back to the previous one is fine.
        let value = [0u8, 1, b'a', 0, 1, b'b', 0xC0, 0x00, 1, b'c', 0xC0, 0x03];
        assert_eq!(
            SipServers::decode(&value).unwrap(),
            SipServers::Names(vec!["a".into(), "b.a".into(), "c.b.a".into()])
        );
    }

    /// RFC 1035 section 2.3.4: labels of 63 octets or less, names of 255
    /// octets or less; RFC 1123 section 2.1 host name characters.
    #[test]
    fn rfc1035_section_2_3_4_name_limits() {
        let bad = |n: &str| match check_domain_name("SIP server FQDN", n) {
            Err(Error::BadValue { what, reason }) => {
                assert_eq!(what, "SIP server FQDN");
                reason.into_owned()
            }
            other => panic!("{n:?} gave {other:?}"),
        };
        assert!(bad("a..b").contains("empty label"));
        assert!(bad("").contains("empty name"));
        assert!(bad(&format!("{}.com", "a".repeat(64))).contains("63"));
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(bad(&long).contains("255"));
        assert!(bad("lync.cöntoso.com").contains("non-ASCII"));
        assert!(bad("ly nc.contoso.com").contains("invalid character"));
        assert_eq!(
            check_domain_name("x", "lync.contoso.com.").unwrap(),
            "lync.contoso.com"
        );
        // 63 is fine; 253 characters (255 on the wire) is fine.
        let max = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(max.len(), 253);
        check_domain_name("x", &max).unwrap();
    }

    fn arb_name() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-zA-Z0-9_-]{1,20}", 1..5).prop_map(|l| l.join("."))
    }

    proptest! {
        #[test]
        fn names_round_trip(names in proptest::collection::vec(arb_name(), 1..6)) {
            let s = SipServers::Names(names);
            prop_assert_eq!(SipServers::decode(&s.encode().unwrap()).unwrap(), s);
        }

        #[test]
        fn addresses_round_trip(addrs in proptest::collection::vec(any::<[u8; 4]>(), 1..10)) {
            let s = SipServers::Addresses(addrs.into_iter().map(Ipv4Addr::from).collect());
            prop_assert_eq!(SipServers::decode(&s.encode().unwrap()).unwrap(), s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(s) = SipServers::decode(&data) {
                prop_assert_eq!(SipServers::decode(&s.encode().unwrap()).unwrap(), s);
            }
        }

        #[test]
        fn arbitrary_names_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut v = vec![0u8];
            v.extend(data);
            let _ = SipServers::decode(&v);
        }
    }
}
