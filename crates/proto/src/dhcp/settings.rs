//! The typed settings a phone takes from a DHCPACK: everything stages 2 to 5
//! of PROTOCOL.md need from DHCP. This file reads options out of a decoded
//! message; it does not decide what to do when one is missing (the phone
//! falls back to DNS, which is the caller's business).

use std::net::Ipv4Addr;

use super::{
    DhcpOption, Message, OPTION_SIP_SERVERS, OptionCode, SipServers, UcClientOptions,
    VoiceVlanOptions, decode_sub_options, raw_option, sub_option,
};
use crate::Result;

/// What a phone learns from an ACK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootSettings {
    /// Option 120: the registrar(s) to try.
    pub sip_servers: Option<SipServers>,
    /// Option 43 sub-options 1 to 5 for `MS-UC-Client`.
    pub uc_options: Option<UcClientOptions>,
    /// The Certificate Provisioning URL built from `uc_options`.
    pub cert_prov_url: Option<String>,
    /// Option 42 (NTP servers), else option 4 (time servers, RFC 868).
    pub time_servers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain: Option<String>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 119 (RFC 3397), names without trailing dot.
    pub search_list: Vec<String>,
    /// Option 43 sub-option 10 for `CPE-OCPHONE`.
    pub voice_vlan: Option<u16>,
}

impl BootSettings {
    /// Reads the settings out of an ACK (or an OFFER: the same options).
    ///
    /// Option 43 is read as both vendor layouts: sub-options 1 to 5 give the
    /// `MS-UC-Client` view and sub-option 10 the voice VLAN, so one reply
    /// may fill both. A malformed option 120 or 43 is an error: a phone
    /// that got garbage should report it, not silently fall back.
    pub fn from_ack(msg: &Message) -> Result<Self> {
        let opts = msg.opts();
        let ips = |code: OptionCode| -> Vec<Ipv4Addr> {
            match opts.get(code) {
                Some(
                    DhcpOption::NtpServers(v)
                    | DhcpOption::TimeServer(v)
                    | DhcpOption::DomainNameServer(v)
                    | DhcpOption::Router(v),
                ) => v.clone(),
                _ => Vec::new(),
            }
        };
        let mut s = BootSettings {
            time_servers: ips(OptionCode::NtpServers),
            dns_servers: ips(OptionCode::DomainNameServer),
            routers: ips(OptionCode::Router),
            ..BootSettings::default()
        };
        if s.time_servers.is_empty() {
            s.time_servers = ips(OptionCode::TimeServer);
        }
        if let Some(DhcpOption::DomainName(d)) = opts.get(OptionCode::DomainName) {
            s.domain = Some(d.strip_suffix('.').unwrap_or(d).to_owned());
        }
        if let Some(DhcpOption::SubnetMask(m)) = opts.get(OptionCode::SubnetMask) {
            s.subnet_mask = Some(*m);
        }
        if let Some(DhcpOption::DomainSearch(names)) = opts.get(OptionCode::DomainSearch) {
            s.search_list = names
                .iter()
                .map(|n| {
                    let t = n.to_ascii();
                    t.strip_suffix('.').map(str::to_owned).unwrap_or(t)
                })
                .collect();
        }
        if let Some(v) = raw_option(msg, OPTION_SIP_SERVERS) {
            s.sip_servers = Some(SipServers::decode(v)?);
        }
        if let Some(v) = raw_option(msg, 43) {
            let subs = decode_sub_options(v)?;
            if subs.iter().any(|o| {
                (sub_option::UC_IDENTIFIER..=sub_option::CERT_PROV_REL_PATH).contains(&o.code)
            }) {
                let uc = UcClientOptions::decode(v)?;
                s.cert_prov_url = Some(uc.cert_prov_url());
                s.uc_options = Some(uc);
            }
            if subs.iter().any(|o| o.code == sub_option::VOICE_VLAN) {
                s.voice_vlan = Some(VoiceVlanOptions::decode(v)?.vlan_id);
            }
        }
        Ok(s)
    }
}
