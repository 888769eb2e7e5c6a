//! DHCP option 43, "Vendor Specific Information" (RFC 2132 section 8.4), for
//! the two vendor classes a Lync / Skype for Business phone sends in option
//! 60: `MS-UC-Client` (where to find Certificate Provisioning) and
//! `CPE-OCPHONE` (the voice VLAN).
//!
//! This file owns the sub-option list inside the option value and the typed
//! views of it. It does not choose which class a reply is for: the server
//! matches option 60 and the client knows which class it asked as.

use std::borrow::Cow;

use crate::dhcp::sip_servers::check_domain_name;
use crate::{Error, Result};

const WHAT: &str = "DHCP option 43";

/// The vendor class (option 60) of a phone asking for its sign-in settings.
pub const VENDOR_CLASS_UC: &str = "MS-UC-Client";
/// The vendor class (option 60) of a phone asking for its voice VLAN.
pub const VENDOR_CLASS_VLAN: &str = "CPE-OCPHONE";

/// Sub-option codes for `MS-UC-Client` (Microsoft, "Configuring DHCP options
/// to enable sign-in for IP phones" / DHCPUtil).
pub mod code {
    /// UCIdentifier, `MS-UC-Client`.
    pub const UC_IDENTIFIER: u8 = 1;
    /// URLScheme, usually `https`.
    pub const URL_SCHEME: u8 = 2;
    /// WebServerFQDN, the pool's internal web services FQDN.
    pub const WEB_SERVER_FQDN: u8 = 3;
    /// WebServerPort, the port as ASCII digits.
    pub const WEB_SERVER_PORT: u8 = 4;
    /// CertProvRelPath, the Certificate Provisioning service's path.
    pub const CERT_PROV_REL_PATH: u8 = 5;
    /// VoiceVLAN, for vendor class `CPE-OCPHONE`.
    pub const VOICE_VLAN: u8 = 10;
}

/// The default URL scheme, sub-option 2.
pub const DEFAULT_SCHEME: &str = "https";
/// The default web server port, sub-option 4.
pub const DEFAULT_PORT: u16 = 443;
/// The default Certificate Provisioning path, sub-option 5.
pub const DEFAULT_CERT_PROV_PATH: &str = "/CertProv/CertProvisioningService.svc";

/// One encapsulated option: `code, length, value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOption {
    /// The sub-option code, 1 to 254.
    pub code: u8,
    /// The value, at most 255 bytes.
    pub value: Vec<u8>,
}

/// Splits an option 43 value into its sub-options.
///
/// RFC 2132 section 8.4: sub-options use "code/length/value fields of
/// identical syntax to the DHCP options field"; code 0 is padding and code
/// 255, if present, "signifies the end of the encapsulated vendor
/// extensions".
pub fn decode_sub_options(data: &[u8]) -> Result<Vec<SubOption>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(&code) = data.get(pos) {
        match code {
            0 => pos += 1,
            255 => break,
            _ => {
                let len = usize::from(*data.get(pos + 1).ok_or_else(|| {
                    Error::invalid_at(WHAT, pos, format!("sub-option {code} has no length byte"))
                })?);
                let value = data.get(pos + 2..pos + 2 + len).ok_or_else(|| {
                    Error::invalid_at(
                        WHAT,
                        pos,
                        format!("sub-option {code} claims {len} bytes, past the end of the option"),
                    )
                })?;
                out.push(SubOption {
                    code,
                    value: value.to_vec(),
                });
                pos += 2 + len;
            }
        }
    }
    Ok(out)
}

/// Joins sub-options into an option 43 value, without padding or an end
/// marker (Microsoft's layout has neither).
pub fn encode_sub_options(subs: &[SubOption]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for s in subs {
        if s.code == 0 || s.code == 255 {
            return Err(Error::bad_value(
                "option 43 sub-option code",
                "0 and 255 are pad and end (RFC 2132 section 8.4)",
            ));
        }
        let len = u8::try_from(s.value.len()).map_err(|_| {
            Error::bad_value(
                "option 43 sub-option",
                format!("sub-option {} is {} bytes, over 255", s.code, s.value.len()),
            )
        })?;
        out.push(s.code);
        out.push(len);
        out.extend_from_slice(&s.value);
    }
    Ok(out)
}

/// Option 43 for vendor class `MS-UC-Client`: where the phone finds the
/// Certificate Provisioning service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UcClientOptions {
    /// Sub-option 1, UCIdentifier (`MS-UC-Client`).
    pub uc_identifier: String,
    /// Sub-option 2, URLScheme (`https`).
    pub url_scheme: String,
    /// Sub-option 3, WebServerFQDN, without a trailing dot.
    pub web_server: String,
    /// Sub-option 4, WebServerPort (carried as ASCII digits).
    pub port: u16,
    /// Sub-option 5, CertProvRelPath.
    pub cert_prov_path: String,
    /// Every other sub-option, in order, preserved as received.
    pub other: Vec<SubOption>,
}

impl UcClientOptions {
    /// The options DHCPUtil produces for a web server FQDN: identifier
    /// `MS-UC-Client`, `https`, port 443, `/CertProv/CertProvisioningService.svc`.
    pub fn new(web_server: impl Into<String>) -> Self {
        UcClientOptions {
            uc_identifier: VENDOR_CLASS_UC.to_owned(),
            url_scheme: DEFAULT_SCHEME.to_owned(),
            web_server: web_server.into(),
            port: DEFAULT_PORT,
            cert_prov_path: DEFAULT_CERT_PROV_PATH.to_owned(),
            other: Vec::new(),
        }
    }

    /// The Certificate Provisioning URL the phone builds from sub-options
    /// 2 to 5: `<scheme>://<fqdn>:<port><path>`.
    pub fn cert_prov_url(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.url_scheme, self.web_server, self.port, self.cert_prov_path
        )
    }

    /// The sub-options in code order 1 to 5, then the others; values checked.
    pub fn sub_options(&self) -> Result<Vec<SubOption>> {
        let bad = |what: &'static str| move |r: Cow<'static, str>| Error::bad_value(what, r);
        check_identifier(&self.uc_identifier).map_err(bad("UC identifier"))?;
        check_scheme(&self.url_scheme).map_err(bad("URL scheme"))?;
        let web = check_domain_name("web server FQDN", &self.web_server)?;
        if self.port == 0 {
            return Err(Error::bad_value("web server port", "port 0 is not a port"));
        }
        check_path(&self.cert_prov_path).map_err(bad("Certificate Provisioning path"))?;
        let mut subs = vec![
            SubOption {
                code: code::UC_IDENTIFIER,
                value: self.uc_identifier.as_bytes().to_vec(),
            },
            SubOption {
                code: code::URL_SCHEME,
                value: self.url_scheme.as_bytes().to_vec(),
            },
            SubOption {
                code: code::WEB_SERVER_FQDN,
                value: web.into_bytes(),
            },
            SubOption {
                code: code::WEB_SERVER_PORT,
                value: self.port.to_string().into_bytes(),
            },
            SubOption {
                code: code::CERT_PROV_REL_PATH,
                value: self.cert_prov_path.as_bytes().to_vec(),
            },
        ];
        for o in &self.other {
            if (code::UC_IDENTIFIER..=code::CERT_PROV_REL_PATH).contains(&o.code) {
                return Err(Error::bad_value(
                    "option 43 sub-option",
                    format!("sub-option {} given twice", o.code),
                ));
            }
            subs.push(o.clone());
        }
        Ok(subs)
    }

    /// Encodes the option 43 value.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode_sub_options(&self.sub_options()?)
    }

    /// Decodes an option 43 value sent for `MS-UC-Client`.
    ///
    /// Sub-option 3 (the web server) is required; a missing 1, 2, 4 or 5
    /// takes DHCPUtil's default, since phones in the field fill the same
    /// defaults. A sub-option given twice is refused: which one a phone
    /// would use is not documented.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut found: [Option<String>; 5] = Default::default();
        let mut other = Vec::new();
        let mut port = None;
        for (n, sub) in decode_sub_options(data)?.into_iter().enumerate() {
            let at = sub_option_offset(data, n);
            let index = match sub.code {
                c @ code::UC_IDENTIFIER..=code::CERT_PROV_REL_PATH => usize::from(c - 1),
                _ => {
                    other.push(sub);
                    continue;
                }
            };
            let text = ascii(&sub.value).ok_or_else(|| {
                Error::invalid_at(WHAT, at, format!("sub-option {} is not ASCII", sub.code))
            })?;
            let inv = |r: Cow<'static, str>| {
                Error::invalid_at(WHAT, at, format!("sub-option {}: {r}", sub.code))
            };
            let text = match sub.code {
                code::UC_IDENTIFIER => check_identifier(text)
                    .map(|()| text.to_owned())
                    .map_err(inv)?,
                code::URL_SCHEME => check_scheme(text).map(|()| text.to_owned()).map_err(inv)?,
                code::WEB_SERVER_FQDN => check_domain_name(WHAT, text).map_err(|e| match e {
                    Error::BadValue { reason, .. } => inv(reason),
                    other => other,
                })?,
                code::WEB_SERVER_PORT => {
                    port = Some(parse_port(text).map_err(inv)?);
                    text.to_owned()
                }
                _ => check_path(text).map(|()| text.to_owned()).map_err(inv)?,
            };
            let slot = found
                .get_mut(index)
                .ok_or_else(|| Error::invalid_at(WHAT, at, "sub-option out of range"))?;
            if slot.replace(text).is_some() {
                return Err(Error::invalid_at(
                    WHAT,
                    at,
                    format!("sub-option {} given twice", sub.code),
                ));
            }
        }
        let [id, scheme, web, _port, path] = found;
        let web_server = web.ok_or_else(|| {
            Error::invalid(WHAT, "no sub-option 3 (WebServerFQDN) for MS-UC-Client")
        })?;
        Ok(UcClientOptions {
            uc_identifier: id.unwrap_or_else(|| VENDOR_CLASS_UC.to_owned()),
            url_scheme: scheme.unwrap_or_else(|| DEFAULT_SCHEME.to_owned()),
            web_server,
            port: port.unwrap_or(DEFAULT_PORT),
            cert_prov_path: path.unwrap_or_else(|| DEFAULT_CERT_PROV_PATH.to_owned()),
            other,
        })
    }
}

/// Option 43 for vendor class `CPE-OCPHONE`: the voice VLAN.
///
/// The encoding of sub-option 10 is not public. Microsoft documents only
/// "VLAN ID" (valid 1 to 4094) and Windows DHCP servers are commonly set up
/// with a `Word` option, so this codec *writes* a 16-bit big-endian integer.
/// It *reads* tolerantly: a value of ASCII digits is decimal text (vendors'
/// guides show the value as text); otherwise a 1-, 2- or 4-byte value is a
/// big-endian integer (Windows `Byte`, `Word`, `DWord`). The readings cannot
/// clash for 2 and 4 bytes (a valid binary VLAN begins with a byte below
/// 0x10, never a digit); a single byte that is an ASCII digit is read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceVlanOptions {
    /// The voice VLAN id, 1 to 4094.
    pub vlan_id: u16,
    /// Every other sub-option, in order, preserved as received.
    pub other: Vec<SubOption>,
}

impl VoiceVlanOptions {
    /// A VLAN id alone.
    pub fn new(vlan_id: u16) -> Self {
        VoiceVlanOptions {
            vlan_id,
            other: Vec::new(),
        }
    }

    /// Encodes the option 43 value: sub-option 10 first, then the others.
    pub fn encode(&self) -> Result<Vec<u8>> {
        if !(1..=4094).contains(&self.vlan_id) {
            return Err(Error::bad_value(
                "voice VLAN id",
                format!("{} is outside 1 to 4094", self.vlan_id),
            ));
        }
        let mut subs = vec![SubOption {
            code: code::VOICE_VLAN,
            value: self.vlan_id.to_be_bytes().to_vec(),
        }];
        for o in &self.other {
            if o.code == code::VOICE_VLAN {
                return Err(Error::bad_value(
                    "option 43 sub-option",
                    "sub-option 10 given twice",
                ));
            }
            subs.push(o.clone());
        }
        encode_sub_options(&subs)
    }

    /// Decodes an option 43 value carrying sub-option 10.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut vlan = None;
        let mut other = Vec::new();
        for (i, sub) in decode_sub_options(data)?.into_iter().enumerate() {
            if sub.code != code::VOICE_VLAN {
                other.push(sub);
                continue;
            }
            let at = sub_option_offset(data, i);
            let id = parse_vlan(&sub.value).ok_or_else(|| {
                Error::invalid_at(WHAT, at, "sub-option 10 is not a VLAN id from 1 to 4094")
            })?;
            if vlan.replace(id).is_some() {
                return Err(Error::invalid_at(WHAT, at, "sub-option 10 given twice"));
            }
        }
        let vlan_id = vlan.ok_or_else(|| Error::invalid(WHAT, "no sub-option 10 (voice VLAN)"))?;
        Ok(VoiceVlanOptions { vlan_id, other })
    }
}

fn parse_vlan(v: &[u8]) -> Option<u16> {
    let id: u32 = if !v.is_empty() && v.len() <= 4 && v.iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(v).ok()?.parse().ok()?
    } else {
        match v.len() {
            1 | 2 | 4 => v.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)),
            _ => return None,
        }
    };
    u16::try_from(id).ok().filter(|id| (1..=4094).contains(id))
}

/// The byte offset of the `n`th sub-option (pads skipped), for errors.
fn sub_option_offset(data: &[u8], n: usize) -> usize {
    let mut pos = 0;
    let mut seen = 0;
    while let Some(&c) = data.get(pos) {
        match c {
            0 => pos += 1,
            255 => break,
            _ => {
                if seen == n {
                    return pos;
                }
                seen += 1;
                pos += 2 + usize::from(data.get(pos + 1).copied().unwrap_or(0));
            }
        }
    }
    pos
}

fn ascii(v: &[u8]) -> Option<&str> {
    v.is_ascii().then(|| std::str::from_utf8(v).ok()).flatten()
}

fn check_identifier(s: &str) -> Result<(), Cow<'static, str>> {
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1 to 255 printable ASCII characters without spaces".into());
    }
    Ok(())
}

/// RFC 3986 section 3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn check_scheme(s: &str) -> Result<(), Cow<'static, str>> {
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_ok
        || s.len() > 255
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(format!("{s:?} is not a URL scheme (RFC 3986 section 3.1)").into());
    }
    Ok(())
}

fn check_path(s: &str) -> Result<(), Cow<'static, str>> {
    if !s.starts_with('/') || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{s:?} is not an absolute path of at most 255 printable ASCII characters"
        )
        .into());
    }
    Ok(())
}

/// Parses the port sub-option: ASCII decimal digits, 1 to 65535.
pub fn parse_port(s: &str) -> Result<u16, Cow<'static, str>> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {s:?} is not 1 to 5 ASCII digits").into());
    }
    match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(u16::try_from(p).unwrap_or(u16::MAX)),
        _ => Err(format!("port {s} is outside 1 to 65535").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tlv(code: u8, value: &[u8]) -> Vec<u8> {
        let mut v = vec![code, value.len() as u8];
        v.extend_from_slice(value);
        v
    }

    /// PROTOCOL.md "DHCP" and Microsoft's DHCPUtil: option 43 for
    /// `MS-UC-Client` is "a list of sub-options, each code, length, value,
    /// values ASCII, no terminator: 1 UCIdentifier (MS-UC-Client), 2
    /// URLScheme (https), 3 WebServerFQDN, 4 WebServerPort (the port as ASCII
    /// digits, e.g. 443: three bytes, not a 16-bit integer), 5
    /// CertProvRelPath (/CertProv/CertProvisioningService.svc)".
    #[test]
    fn protocol_md_option_43_layout() {
        let mut expected = Vec::new();
        expected.extend([1, 12]);
        expected.extend(b"MS-UC-Client");
        expected.extend([2, 5]);
        expected.extend(b"https");
        expected.extend([3, 16]);
        expected.extend(b"lync.contoso.com");
        expected.extend([4, 3, 0x34, 0x34, 0x33]);
        expected.extend([5, 37]);
        expected.extend(b"/CertProv/CertProvisioningService.svc");
        let opts = UcClientOptions::new("lync.contoso.com");
        assert_eq!(opts.encode().unwrap(), expected);
        let back = UcClientOptions::decode(&expected).unwrap();
        assert_eq!(back, opts);
        assert_eq!(
            back.cert_prov_url(),
            "https://lync.contoso.com:443/CertProv/CertProvisioningService.svc"
        );
    }

    /// Microsoft's DHCPUtil documentation: "Id=4, value=343433": the port is
    /// text, never the 16-bit integer 0x01BB.
    #[test]
    fn dhcputil_port_is_ascii_digits() {
        let mut v = tlv(3, b"pool.contoso.com");
        v.extend(tlv(4, &[0x01, 0xBB]));
        assert!(UcClientOptions::decode(&v).is_err());
        let mut v = tlv(3, b"pool.contoso.com");
        v.extend(tlv(4, b"4443"));
        assert_eq!(UcClientOptions::decode(&v).unwrap().port, 4443);
        let mut v = tlv(3, b"pool.contoso.com");
        v.extend(tlv(4, b"65536"));
        assert!(UcClientOptions::decode(&v).is_err());
    }

    /// RFC 2132 section 8.4: code 0 pads, code 255 "signifies the end of the
    /// encapsulated vendor extensions"; unknown sub-options are kept.
    #[test]
    fn rfc2132_section_8_4_pad_end_and_unknown() {
        let mut v = vec![0, 0];
        v.extend(tlv(3, b"web.contoso.com"));
        v.extend(tlv(10, &[0, 100]));
        v.extend(tlv(200, b"x"));
        v.push(255);
        v.extend(tlv(4, b"junk after end"));
        let uc = UcClientOptions::decode(&v).unwrap();
        assert_eq!(uc.web_server, "web.contoso.com");
        assert_eq!(
            uc.other,
            vec![
                SubOption {
                    code: 10,
                    value: vec![0, 100]
                },
                SubOption {
                    code: 200,
                    value: b"x".to_vec()
                }
            ]
        );
        let vlan = VoiceVlanOptions::decode(&v).unwrap();
        assert_eq!(vlan.vlan_id, 100);
        // Re-encoding keeps the unknown ones.
        let again = UcClientOptions::decode(&uc.encode().unwrap()).unwrap();
        assert_eq!(again, uc);
        // Truncated sub-option.
        assert!(decode_sub_options(&[3, 5, b'a']).is_err());
        assert!(decode_sub_options(&[3]).is_err());
    }

    /// Microsoft, "Configuring DHCP Options to Enable Sign-in for IP
    /// Phones": option 43 for vendor class `CPE-OCPHONE` carries the VLAN ID
    /// in sub-option 10 (valid 1 to 4094). Encoding chosen here: 16-bit
    /// big-endian; text and other widths are read too.
    #[test]
    fn ms_cpe_ocphone_sub_option_10_voice_vlan() {
        assert_eq!(
            VoiceVlanOptions::new(100).encode().unwrap(),
            vec![10, 2, 0, 100]
        );
        for (value, id) in [
            (&[0x00, 0x64][..], 100),
            (&[0x64][..], 100),
            (&[0, 0, 0x0F, 0xFE][..], 4094),
            (&b"100"[..], 100),
            (&b"4094"[..], 4094),
            (&b"7"[..], 7),
        ] {
            assert_eq!(
                VoiceVlanOptions::decode(&tlv(10, value)).unwrap().vlan_id,
                id,
                "{value:?}"
            );
        }
        for value in [
            &[0u8, 0][..],
            &b"4095"[..],
            &[0x10, 0x00][..],
            &[1, 2, 3][..],
            &[][..],
        ] {
            assert!(
                VoiceVlanOptions::decode(&tlv(10, value)).is_err(),
                "{value:?}"
            );
        }
        assert!(VoiceVlanOptions::new(0).encode().is_err());
        assert!(VoiceVlanOptions::new(4095).encode().is_err());
        assert!(VoiceVlanOptions::decode(&tlv(3, b"a")).is_err());
    }

    #[test]
    fn encoder_refuses_bad_values() {
        let mut o = UcClientOptions::new("a..b");
        assert!(matches!(o.encode(), Err(Error::BadValue { .. })));
        o.web_server = "ok.contoso.com".into();
        o.port = 0;
        assert!(o.encode().is_err());
        o.port = 443;
        o.cert_prov_path = "no-slash".into();
        assert!(o.encode().is_err());
        o.cert_prov_path = "/ok".into();
        o.url_scheme = "1http".into();
        assert!(o.encode().is_err());
        o.url_scheme = "https".into();
        o.other.push(SubOption {
            code: 3,
            value: vec![],
        });
        assert!(o.encode().is_err());
        o.other = vec![SubOption {
            code: 9,
            value: vec![0; 256],
        }];
        assert!(o.encode().is_err());
    }

    fn arb_other(excluded: std::ops::RangeInclusive<u8>) -> impl Strategy<Value = Vec<SubOption>> {
        proptest::collection::vec(
            (1u8..=254, proptest::collection::vec(any::<u8>(), 0..40)),
            0..4,
        )
        .prop_map(move |v| {
            v.into_iter()
                .filter(|(c, _)| !excluded.contains(c))
                .map(|(code, value)| SubOption { code, value })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn uc_round_trip(
            web in proptest::collection::vec("[a-z0-9-]{1,20}", 1..4),
            port in 1u16..,
            scheme in "[a-z][a-z0-9+.-]{0,8}",
            path in "/[!-~]{0,60}",
            other in arb_other(1..=5),
        ) {
            let o = UcClientOptions {
                uc_identifier: VENDOR_CLASS_UC.into(),
                url_scheme: scheme,
                web_server: web.join("."),
                port,
                cert_prov_path: path,
                other,
            };
            prop_assert_eq!(UcClientOptions::decode(&o.encode().unwrap()).unwrap(), o);
        }

        #[test]
        fn vlan_round_trip(id in 1u16..=4094, other in arb_other(10..=10)) {
            let o = VoiceVlanOptions { vlan_id: id, other };
            prop_assert_eq!(VoiceVlanOptions::decode(&o.encode().unwrap()).unwrap(), o);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(subs) = decode_sub_options(&data) {
                prop_assert_eq!(decode_sub_options(&encode_sub_options(&subs).unwrap()).unwrap(), subs);
            }
            if let Ok(o) = UcClientOptions::decode(&data) {
                prop_assert_eq!(UcClientOptions::decode(&o.encode().unwrap()).unwrap(), o);
            }
            if let Ok(o) = VoiceVlanOptions::decode(&data) {
                prop_assert_eq!(VoiceVlanOptions::decode(&o.encode().unwrap()).unwrap(), o);
            }
        }
    }
}
