//! Who a phone is: the hardware (model, MAC), the user it signs in as, and
//! the identifiers derived from those (epid, device GUID, DHCP chaddr, CSR
//! subject, `Ms-Device-Info`, `+sip.instance`).
//!
//! An [`Identity`] lives for the whole run, for up to 100,000 phones, so it
//! is kept small: fixed arrays and boxed strings, derived values computed
//! when asked rather than stored. It does not own anything learned while
//! signing in (addresses, tickets, certificates).

use std::fmt;
use std::net::Ipv4Addr;

/// The phone models of PROTOCOL.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// Polycom CX500 (Aries, common-area phone).
    Cx500,
    /// Polycom CX600 (Aries).
    Cx600,
    /// Polycom CX3000 (Aries, conference phone).
    Cx3000,
    /// Aastra 6721ip (Aries).
    Aastra6721,
    /// Aastra 6725ip (Aries).
    Aastra6725,
    /// HP 4110 (Aries).
    Hp4110,
    /// HP 4120 (Aries).
    Hp4120,
    /// Polycom CX700 (Tanjay).
    Cx700,
}

impl Model {
    /// Every model.
    pub const ALL: [Model; 8] = [
        Model::Cx500,
        Model::Cx600,
        Model::Cx3000,
        Model::Aastra6721,
        Model::Aastra6725,
        Model::Hp4110,
        Model::Hp4120,
        Model::Cx700,
    ];

    /// The model name as the device update service and scenarios spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Model::Cx500 => "CX500",
            Model::Cx600 => "CX600",
            Model::Cx3000 => "CX3000",
            Model::Aastra6721 => "6721ip",
            Model::Aastra6725 => "6725ip",
            Model::Hp4110 => "HP4110",
            Model::Hp4120 => "HP4120",
            Model::Cx700 => "CX700",
        }
    }

    /// The model with this name (case-insensitive), with or without its
    /// maker in front: `CX600`, `6725ip`, `aastra6725ip`, `HP4120`.
    pub fn from_name(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| {
            let n = m.name();
            let maker = m.vendor();
            name.eq_ignore_ascii_case(n)
                || (name.len() == maker.len() + n.len()
                    && name
                        .get(..maker.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(maker))
                    && name
                        .get(maker.len()..)
                        .is_some_and(|r| r.eq_ignore_ascii_case(n)))
        })
    }

    /// The maker, as `Ms-Device-Info` and the update check carry it.
    pub const fn vendor(self) -> &'static str {
        match self {
            Model::Cx500 | Model::Cx600 | Model::Cx3000 | Model::Cx700 => "Polycom",
            Model::Aastra6721 | Model::Aastra6725 => "Aastra",
            Model::Hp4110 | Model::Hp4120 => "HP",
        }
    }

    /// The maker's IEEE OUI, the first half of generated MACs.
    pub const fn oui(self) -> [u8; 3] {
        match self {
            Model::Cx500 | Model::Cx600 | Model::Cx3000 | Model::Cx700 => [0x00, 0x04, 0xf2],
            Model::Aastra6721 | Model::Aastra6725 => [0x00, 0x08, 0x5d],
            Model::Hp4110 | Model::Hp4120 => [0x00, 0x1e, 0x0b],
        }
    }

    /// Firmware a phone of this model runs unless the scenario says
    /// otherwise: Lync 2010 Phone Edition 4.0.7577.4100 (the CU the public
    /// User-Agent examples show), for the CX700 too, which ran the same
    /// Phone Edition build after its Lync 2010 update.
    pub const fn default_firmware(self) -> &'static str {
        "4.0.7577.4100"
    }

    /// Whether the phone authenticates with NTLM (Tanjay) rather than PIN.
    pub const fn is_tanjay(self) -> bool {
        matches!(self, Model::Cx700)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The user a phone signs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `sip:user@domain`, when the scenario knows it; otherwise the phone
    /// learns it from `ResolveUser`.
    pub sip_uri: Option<Box<str>>,
    /// Phone number (E.164, `+` optional) or extension, typed at the PIN
    /// prompt.
    pub number: Box<str>,
    /// The PIN.
    pub pin: Box<str>,
    /// The password of the user's account (NTLM, Digest); empty when the
    /// directory gives none.
    pub password: Box<str>,
}

/// One simulated phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The phone's index in the run.
    pub index: u32,
    /// Ethernet address: DHCP chaddr, `Ms-Device-Info`, update check.
    pub mac: [u8; 6],
    /// The model.
    pub model: Model,
    /// Firmware version; `None` is the model's default.
    pub firmware: Option<Box<str>>,
    /// The user.
    pub user: User,
    /// The address every socket of this phone binds to; also the DHCP
    /// relay's giaddr, since the harness relays for its own phones.
    pub source_ip: Ipv4Addr,
    epid: [u8; 10],
}

/// FNV-1a then a 64-bit finaliser: cheap, deterministic, and spreads MACs
/// that differ only in their last bytes (sequential phones).
fn mix(bytes: &[u8], seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Identity {
    /// A phone with an explicit MAC.
    pub fn new(index: u32, mac: [u8; 6], model: Model, user: User, source_ip: Ipv4Addr) -> Self {
        let mut seed = [0u8; 10];
        seed[..6].copy_from_slice(&mac);
        seed[6..].copy_from_slice(&index.to_be_bytes());
        // [MS-SIPRE] only asks that the epid be stable per endpoint and
        // unique: 40 bits of a hash of MAC and index, as 10 hex digits.
        let h = mix(&seed, 0x5eed);
        let mut epid = [b'0'; 10];
        for (i, c) in epid.iter_mut().enumerate() {
            let nibble = (h >> (36 - 4 * i)) & 0xf;
            *c = HEX.get(nibble as usize).copied().unwrap_or(b'0');
        }
        Identity {
            index,
            mac,
            model,
            firmware: None,
            user,
            source_ip,
            epid,
        }
    }

    /// A phone whose MAC is the maker's OUI followed by the low 24 bits of
    /// `index`, so a run's MACs are unique for up to 16 million phones.
    pub fn generated(index: u32, model: Model, user: User, source_ip: Ipv4Addr) -> Self {
        let oui = model.oui();
        let i = index.to_be_bytes();
        let mac = [oui[0], oui[1], oui[2], i[1], i[2], i[3]];
        Identity::new(index, mac, model, user, source_ip)
    }

    /// The endpoint id: 10 lower-case hex digits, derived from MAC and index.
    pub fn epid(&self) -> &str {
        std::str::from_utf8(&self.epid).unwrap_or("0000000000")
    }

    /// The firmware version the phone runs.
    pub fn firmware(&self) -> &str {
        self.firmware
            .as_deref()
            .unwrap_or(self.model.default_firmware())
    }

    /// The MAC as `aa-bb-cc-dd-ee-ff`, as `Ms-Device-Info` and the update
    /// check write it.
    pub fn mac_dashed(&self) -> String {
        let m = self.mac;
        format!(
            "{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }

    /// The device GUID CertProv's `DeviceId` carries, `{8-4-4-4-12}`,
    /// derived from the MAC so a phone keeps it across runs.
    pub fn device_guid(&self) -> String {
        let a = mix(&self.mac, 1).to_be_bytes();
        let b = mix(&self.mac, 2).to_be_bytes();
        let mut g = [0u8; 16];
        g[..8].copy_from_slice(&a);
        g[8..].copy_from_slice(&b);
        // RFC 4122 version 4 / variant bits, so the GUID looks like one.
        g[6] = (g[6] & 0x0f) | 0x40;
        g[8] = (g[8] & 0x3f) | 0x80;
        let hex: String = g.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{{{}-{}-{}-{}-{}}}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The User-Agent of this model and firmware.
    pub fn user_agent(&self) -> String {
        self.user_agent_for(self.firmware())
    }

    /// The User-Agent of this model running firmware `v` (after an update).
    pub fn user_agent_for(&self, v: &str) -> String {
        if self.model.is_tanjay() {
            format!("CPE/{v} OCPhone/{v} (Microsoft Office Communicator 2007 R2 Phone Edition)")
        } else {
            format!("CPE/{v} OCPhone/{v} (Microsoft Lync 2010 Phone Edition)")
        }
    }

    /// The DHCP transaction id base: stable per phone, different between
    /// phones, so replies to another phone are never taken for ours.
    pub fn xid(&self) -> u32 {
        (mix(&self.mac, 3) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            sip_uri: None,
            number: "50001".into(),
            pin: "13579".into(),
            password: "Storm-1!".into(),
        }
    }

    #[test]
    fn derived_identifiers_are_stable_and_distinct() {
        let a = Identity::generated(1, Model::Cx600, user(), Ipv4Addr::LOCALHOST);
        let b = Identity::generated(2, Model::Cx600, user(), Ipv4Addr::LOCALHOST);
        assert_eq!(a.mac, [0x00, 0x04, 0xf2, 0, 0, 1]);
        assert_eq!(a.epid().len(), 10);
        assert!(a.epid().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.epid(), b.epid());
        assert_eq!(
            a.epid(),
            Identity::generated(1, Model::Cx600, user(), Ipv4Addr::LOCALHOST).epid()
        );
        let g = a.device_guid();
        assert_eq!(g.len(), 38);
        assert!(g.starts_with('{') && g.ends_with('}'));
        assert_eq!(a.mac_dashed(), "00-04-f2-00-00-01");
        assert!(a.user_agent().contains("OCPhone/4.0.7577.4100"));
        assert_eq!(Model::from_name("cx3000"), Some(Model::Cx3000));
        assert_eq!(Model::from_name("aastra6725ip"), Some(Model::Aastra6725));
        assert_eq!(Model::from_name("Aastra6721ip"), Some(Model::Aastra6721));
        assert_eq!(Model::from_name("aastra"), None);
    }

    #[test]
    fn identity_stays_small() {
        // 100,000 of these live for a whole run. The password (NTLM,
        // Digest) is one more boxed string: 16 bytes, 1.6 MB per 100,000.
        assert!(
            std::mem::size_of::<Identity>() <= 112,
            "{}",
            std::mem::size_of::<Identity>()
        );
    }
}
