//! The REGISTER of a Lync / Skype for Business phone, the epid to
//! `+sip.instance` derivation, and the `ms-keep-alive` header.
//!
//! Owns [MS-SIPRE] section 3.3.3 (the name-based UUID derived from an epid)
//! and its check on the registrar side (section 3.3.5.2), [MS-SIPREGE]
//! section 3.1.1.4 (what a REGISTER carries) and [MS-CONMGMT] section 2.2.1
//! (`ms-keep-alive`). Ids (tags, branch, Call-ID) and the epid come from
//! the caller: this module generates no randomness and reads no clock.

use std::fmt;

use sha1::{Digest, Sha1};

use super::auth::Credentials;
use super::message::{Message, MessageBuilder};
use super::text::{parse_delta_seconds, split_param, split_semis};
use super::uri::SipUri;
use crate::{Error, Result};

/// The name-space identifier [MS-SIPRE] 3.3.3 hashes before the epid, as
/// the octets its section 4.2 example shows. They are the in-memory
/// (little-endian) form of the GUID {fcacfb03-8a73-46ef-91b1-e5ebeeaba4fe}.
const INSTANCE_NAMESPACE: [u8; 16] = [
    0x03, 0xfb, 0xac, 0xfc, 0x73, 0x8a, 0xef, 0x46, 0x91, 0xb1, 0xe5, 0xeb, 0xee, 0xab, 0xa4, 0xfe,
];

/// The option tags a Lync phone puts in `Supported` ([MS-SIPREGE] 2.2.1.5).
pub const LYNC_SUPPORTED: &str =
    "gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence";

/// RFC 3261 section 8.1.1.7: branches of RFC 3261 clients start with this.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// The `+sip.instance` UUID of an epid, as [MS-SIPRE] 3.3.3 derives it:
/// SHA-1 over the name-space octets followed by the epid's characters, the
/// first 16 hash octets read as a Windows GUID (first three fields
/// little-endian), version 5 and the RFC 4122 variant set. Returned in
/// lower-case 8-4-4-4-12 form.
pub fn epid_to_instance_uuid(epid: &str) -> String {
    let mut h = Sha1::new();
    h.update(INSTANCE_NAMESPACE);
    h.update(epid.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    let [
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
        b8,
        b9,
        b10,
        b11,
        b12,
        b13,
        b14,
        b15,
    ] = b;
    let data1 = u32::from_le_bytes([b0, b1, b2, b3]);
    let data2 = u16::from_le_bytes([b4, b5]);
    let data3 = (u16::from_le_bytes([b6, b7]) & 0x0fff) | 0x5000;
    let clock_hi = (b8 & 0x3f) | 0x80;
    format!(
        "{data1:08x}-{data2:04x}-{data3:04x}-{clock_hi:02x}{b9:02x}-{b10:02x}{b11:02x}{b12:02x}{b13:02x}{b14:02x}{b15:02x}"
    )
}

/// The `+sip.instance` parameter value for an epid, quotes included:
/// `"<urn:uuid:...>"`.
pub fn epid_to_sip_instance(epid: &str) -> String {
    format!("\"<urn:uuid:{}>\"", epid_to_instance_uuid(epid))
}

/// The registrar's check of [MS-SIPRE] 3.3.5.2: the UUID derived from the
/// epid equals the one in `+sip.instance`. Accepts the value with or
/// without quotes and angle brackets; hex case does not matter.
pub fn instance_matches_epid(instance: &str, epid: &str) -> bool {
    let v = instance.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    let v = v
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(v);
    let Some(uuid) = v
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case("urn:uuid:"))
        .and_then(|_| v.get(9..))
    else {
        return false;
    };
    uuid.eq_ignore_ascii_case(&epid_to_instance_uuid(epid))
}

/// The transport a phone registers over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS, port 5061: what Lync phones use.
    Tls,
    /// TCP, port 5060: the fallback in the registrar search order.
    Tcp,
}

impl Transport {
    fn via(self) -> &'static str {
        match self {
            Transport::Tls => "TLS",
            Transport::Tcp => "TCP",
        }
    }
    fn uri_param(self) -> &'static str {
        match self {
            Transport::Tls => "tls",
            Transport::Tcp => "tcp",
        }
    }
}

/// What a phone's REGISTER is made from. Borrowed so a phone builds each
/// REGISTER from its own state without copying it.
#[derive(Debug, Clone, Copy)]
pub struct RegisterParams<'a> {
    /// The SIP domain: the Request-URI is `sip:<domain>`.
    pub domain: &'a str,
    /// The user's address of record for From and To, e.g. `sip:alice@contoso.com`.
    pub aor: &'a str,
    /// TLS or TCP.
    pub transport: Transport,
    /// The phone's `host:port`, for Via sent-by and the Contact URI.
    pub local: &'a str,
    /// The Via branch; must start with `z9hG4bK`.
    pub branch: &'a str,
    /// The From tag.
    pub from_tag: &'a str,
    /// The endpoint id: up to 16 hex digits ([MS-SIPRE] 3.2.1), 10 on phones.
    pub epid: &'a str,
    /// The Call-ID (kept across the REGISTERs of one registration).
    pub call_id: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// Max-Forwards, normally 70.
    pub max_forwards: u8,
    /// The User-Agent value.
    pub user_agent: &'a str,
    /// The phone's MAC address, for `Ms-Device-Info`.
    pub mac: [u8; 6],
    /// The maker, for `Ms-Device-Info`.
    pub vendor: &'a str,
    /// The firmware version, for `Ms-Device-Info`.
    pub firmware: &'a str,
    /// `Expires`: `Some(0)` signs out; `None` leaves the registrar default.
    pub expires: Option<u32>,
    /// The `Authorization` value once a security association exists.
    pub authorization: Option<&'a Credentials>,
}

/// Builds the REGISTER a Lync phone sends ([MS-SIPREGE] 3.1.1.4 and the
/// example of its section 4.1.1), headers in that example's order.
pub fn build_register(p: &RegisterParams<'_>) -> Result<Message> {
    if !p.branch.starts_with(BRANCH_MAGIC_COOKIE) {
        return Err(Error::bad_value(
            "Via branch",
            "does not start with z9hG4bK",
        ));
    }
    if p.epid.is_empty() || p.epid.len() > 16 || !p.epid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::bad_value("epid", "not 1 to 16 hex digits"));
    }
    SipUri::parse(p.aor).map_err(|_| Error::bad_value("address of record", "not a SIP URI"))?;
    let [m0, m1, m2, m3, m4, m5] = p.mac;
    let device_info = format!(
        "MAC={m0:02x}-{m1:02x}-{m2:02x}-{m3:02x}-{m4:02x}-{m5:02x},vendor={},version={}",
        p.vendor, p.firmware
    );
    let auth = p.authorization.map(ToString::to_string);
    let expires = p.expires.map(|e| e.to_string());
    MessageBuilder::request("REGISTER", &format!("sip:{}", p.domain))
        .header(
            "Via",
            &format!(
                "SIP/2.0/{} {};branch={}",
                p.transport.via(),
                p.local,
                p.branch
            ),
        )
        .header("Max-Forwards", &p.max_forwards.to_string())
        .header(
            "From",
            &format!("<{}>;tag={};epid={}", p.aor, p.from_tag, p.epid),
        )
        .header("To", &format!("<{}>", p.aor))
        .header("Call-ID", p.call_id)
        .header("CSeq", &format!("{} REGISTER", p.cseq))
        .header(
            "Contact",
            &format!(
                "<sip:{};transport={}>;proxy=replace;+sip.instance={}",
                p.local,
                p.transport.uri_param(),
                epid_to_sip_instance(p.epid)
            ),
        )
        .header("User-Agent", p.user_agent)
        .header_opt("Authorization", auth.as_deref())
        .header("Supported", LYNC_SUPPORTED)
        .header("ms-keep-alive", "UAC;hop-hop=yes")
        .header("Event", "registration")
        .header("Ms-Device-Info", &device_info)
        .header_opt("Expires", expires.as_deref())
        .build()
}

/// Which side sent an `ms-keep-alive` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveRole {
    /// The client (in the REGISTER).
    Uac,
    /// The server (in the 200 OK).
    Uas,
}

/// The `ms-keep-alive` header of [MS-CONMGMT] section 2.2.1, e.g.
/// `UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsKeepAlive {
    /// UAC or UAS.
    pub role: KeepAliveRole,
    /// `tcp`: whether TCP-level keep-alives are wanted.
    pub tcp: Option<bool>,
    /// `hop-hop`: CRLF keep-alives on this hop.
    pub hop_hop: Option<bool>,
    /// `end-end`: keep-alives end to end.
    pub end_end: Option<bool>,
    /// `timeout`: seconds within which the client must send a keep-alive.
    pub timeout: Option<u32>,
}

impl MsKeepAlive {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self> {
        const WHAT: &str = "ms-keep-alive value";
        let mut parts = split_semis(value);
        let role = match parts.next() {
            Some(r) if r.eq_ignore_ascii_case("UAC") => KeepAliveRole::Uac,
            Some(r) if r.eq_ignore_ascii_case("UAS") => KeepAliveRole::Uas,
            _ => return Err(Error::invalid(WHAT, "does not start with UAC or UAS")),
        };
        let mut out = MsKeepAlive {
            role,
            tcp: None,
            hop_hop: None,
            end_end: None,
            timeout: None,
        };
        let yes_no = |v: Option<&str>| match v {
            Some(v) if v.eq_ignore_ascii_case("yes") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("no") => Ok(Some(false)),
            _ => Err(Error::invalid(WHAT, "flag is not yes or no")),
        };
        for part in parts.filter(|p| !p.is_empty()) {
            let (name, v) = split_param(part);
            match name.to_ascii_lowercase().as_str() {
                "tcp" => out.tcp = yes_no(v)?,
                "hop-hop" => out.hop_hop = yes_no(v)?,
                "end-end" => out.end_end = yes_no(v)?,
                "timeout" => {
                    out.timeout = Some(
                        v.and_then(parse_delta_seconds)
                            .ok_or_else(|| Error::invalid(WHAT, "timeout is not seconds"))?,
                    );
                }
                // Unknown extension parameters are ignored, as SIP does.
                _ => {}
            }
        }
        Ok(out)
    }
}

impl fmt::Display for MsKeepAlive {
    /// Writes the value in the spacing of [MS-SIPREGE]'s examples.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.role {
            KeepAliveRole::Uac => "UAC",
            KeepAliveRole::Uas => "UAS",
        })?;
        let yn = |b: bool| if b { "yes" } else { "no" };
        for (name, v) in [
            ("tcp", self.tcp),
            ("hop-hop", self.hop_hop),
            ("end-end", self.end_end),
        ] {
            if let Some(v) = v {
                write!(f, "; {name}={}", yn(v))?;
            }
        }
        if let Some(t) = self.timeout {
            write!(f, "; timeout={t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_sipre_4_2_epid_to_instance() {
        // [MS-SIPRE] 4.2: "Given an epid parameter value of 01010101 ...
        // sha1 (0x03 0xfb 0xac 0xfc 0x73 0x8a 0xef 0x46 0x91 0xb1 0xe5 0xeb
        // 0xee 0xab 0xa4 0xfe 0x30 0x31 0x30 0x31 0x30 0x31 0x30 0x31) = 0xA8
        // 0x82 0x16 0x4B 0x68 0xF9 0x01 0xE7 0x03 0xFC 0x7C 0x67 0x41 0xDC
        // 0x66 0x97 ... the previous hash is used to obtain the following
        // UUID: 4b1682a8-f968-5701-83fc-7c6741dc6697"
        let mut h = Sha1::new();
        h.update(INSTANCE_NAMESPACE);
        h.update(b"01010101");
        let d = h.finalize();
        assert_eq!(
            d.get(..16).unwrap(),
            [
                0xA8, 0x82, 0x16, 0x4B, 0x68, 0xF9, 0x01, 0xE7, 0x03, 0xFC, 0x7C, 0x67, 0x41, 0xDC,
                0x66, 0x97
            ]
        );
        assert_eq!(
            epid_to_instance_uuid("01010101"),
            "4b1682a8-f968-5701-83fc-7c6741dc6697"
        );
        assert_eq!(
            epid_to_sip_instance("01010101"),
            "\"<urn:uuid:4b1682a8-f968-5701-83fc-7c6741dc6697>\""
        );
    }

    #[test]
    fn ms_sipre_3_3_5_2_registrar_validates_instance_against_epid() {
        // [MS-SIPRE] 3.3.5.2: "the SIP proxy MUST validate that the
        // name-based UUID derived ... from the epid parameter value is equal
        // to the UUID extracted from the +sip.instance parameter value."
        // Pairs from [MS-SIPREGE] 4.1.1 and [MS-SIPAE] 4.1 / 4.2 (upper case).
        assert!(instance_matches_epid(
            "\"<urn:uuid:B43B3D1D-9F8F-5FDC-9F74-3CA273CADB97>\"",
            "492a7ce35f"
        ));
        assert!(instance_matches_epid(
            "<urn:uuid:124841E4-264D-52E8-96C5-D22AA8CDC316>",
            "2ebb6f264f"
        ));
        assert!(instance_matches_epid(
            "urn:uuid:4233FD41-093B-5FD6-B5D2-651ED55969E6",
            "8248ca9ebb"
        ));
        assert!(!instance_matches_epid(
            "urn:uuid:4233FD41-093B-5FD6-B5D2-651ED55969E6",
            "8248ca9ebc"
        ));
        assert!(!instance_matches_epid(
            "4b1682a8-f968-5701-83fc-7c6741dc6697",
            "01010101"
        ));
    }

    #[test]
    fn ms_conmgmt_2_2_1_keep_alive_header() {
        // [MS-SIPREGE] 4.1.1 200 OK: "ms-keep-alive: UAS; tcp=no; hop-hop=yes;
        // end-end=no; timeout=300"
        let k = MsKeepAlive::parse("UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300").unwrap();
        assert_eq!(k.role, KeepAliveRole::Uas);
        assert_eq!(
            (k.tcp, k.hop_hop, k.end_end, k.timeout),
            (Some(false), Some(true), Some(false), Some(300))
        );
        assert_eq!(
            k.to_string(),
            "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"
        );
        let c = MsKeepAlive::parse("UAC;hop-hop=yes").unwrap();
        assert_eq!((c.role, c.hop_hop), (KeepAliveRole::Uac, Some(true)));
        assert!(MsKeepAlive::parse("XYZ").is_err());
        assert!(MsKeepAlive::parse("UAS;tcp=maybe").is_err());
    }
}
