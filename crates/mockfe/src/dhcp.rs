//! The mock's DHCP server (stages 1 and 2): leases, and the `MS-UC-Client`
//! and `CPE-OCPHONE` vendor options a Lync phone asks for.
//!
//! A load generator reaches it as a relay agent (giaddr set), one client
//! hardware address per simulated phone, as ISC's perfdhcp does; replies
//! go to the relay. Message rules (RFC 2131 table 3) live in
//! `phonestorm_proto::dhcp`; this module owns the lease table and which
//! options each vendor class gets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use phonestorm_proto::dhcp::{
    self, DhcpOption, Message, MessageType, ReplyParams, ReplyTo, Request, SipServers,
    UcClientOptions, VENDOR_CLASS_UC, VENDOR_CLASS_VLAN, VoiceVlanOptions,
};

use crate::config::DhcpConfig;
use crate::udp::{Answer, DatagramHandler};

/// What the options point phones at: the mock's own services.
#[derive(Debug, Clone)]
pub struct Pointers {
    /// Option 54 and the address of the mock's DNS and SNTP (options 6, 42).
    pub server: Ipv4Addr,
    /// Option 15.
    pub domain: String,
    /// Option 120: the registrar pool FQDN.
    pub sip_server: String,
    /// Option 43 sub-option 3: the web services FQDN.
    pub web_server: String,
    /// Option 43 sub-option 4: the HTTPS port actually bound.
    pub web_port: u16,
    /// Whether to hand out option 42 (`sntp.published`).
    pub time_server: bool,
}

/// The DHCP service.
#[derive(Debug)]
pub struct Dhcp {
    cfg: DhcpConfig,
    ptr: Pointers,
    /// chaddr to the index of its address in the pool.
    leases: Mutex<Leases>,
}

#[derive(Debug, Default)]
struct Leases {
    by_client: HashMap<Vec<u8>, u32>,
    next: u32,
}

impl Dhcp {
    /// A server handing out `cfg`'s pool and pointing at `ptr`.
    pub fn new(cfg: DhcpConfig, ptr: Pointers) -> Self {
        Dhcp {
            cfg,
            ptr,
            leases: Mutex::new(Leases::default()),
        }
    }

    fn address(&self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cfg.pool_start).wrapping_add(index))
    }

    /// The client's address: its existing lease, or the next free one.
    /// `None` when the pool is exhausted.
    fn lease_for(&self, chaddr: &[u8]) -> Option<Ipv4Addr> {
        let mut l = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = l.by_client.get(chaddr) {
            return Some(self.address(i));
        }
        if l.next >= self.cfg.pool_size {
            return None;
        }
        let i = l.next;
        l.next += 1;
        l.by_client.insert(chaddr.to_vec(), i);
        Some(self.address(i))
    }

    fn existing_lease(&self, chaddr: &[u8]) -> Option<Ipv4Addr> {
        let l = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        l.by_client.get(chaddr).map(|&i| self.address(i))
    }

    /// The options for this client: the common ones, plus option 43 (and
    /// 120) only for the vendor classes that understand them. RFC 2132
    /// section 8.4: option 43's meaning depends on the vendor class, so a
    /// client of another class must not get ours.
    fn options(&self, req: &Request) -> Result<Vec<DhcpOption>, phonestorm_proto::Error> {
        let mut opts = vec![
            DhcpOption::SubnetMask(self.cfg.subnet_mask),
            DhcpOption::Router(vec![self.cfg.router]),
            DhcpOption::DomainNameServer(vec![self.ptr.server]),
            DhcpOption::DomainName(self.ptr.domain.clone()),
        ];
        if self.ptr.time_server {
            opts.push(DhcpOption::NtpServers(vec![self.ptr.server]));
        }
        let class = req.vendor_class.as_deref().unwrap_or_default();
        if class == VENDOR_CLASS_UC.as_bytes() {
            let mut uc = UcClientOptions::new(self.ptr.web_server.clone());
            uc.port = self.ptr.web_port;
            opts.push(DhcpOption::VendorExtensions(uc.encode()?));
            opts.push(dhcp::sip_servers_option(&SipServers::name(
                &self.ptr.sip_server,
            )?)?);
        } else if let Some(vlan) = self
            .cfg
            .voice_vlan
            .filter(|_| class == VENDOR_CLASS_VLAN.as_bytes())
        {
            opts.push(DhcpOption::VendorExtensions(
                VoiceVlanOptions::new(vlan).encode()?,
            ));
        }
        Ok(opts)
    }

    fn reply(
        &self,
        msg: &Message,
        req: &Request,
    ) -> Result<Option<Message>, phonestorm_proto::Error> {
        let server_id = self.ptr.server;
        let lease_time = u32::try_from(self.cfg.lease_time.as_secs()).unwrap_or(u32::MAX);
        let params = |kind, yiaddr, options| ReplyParams {
            kind,
            yiaddr,
            server_id,
            lease_time,
            options,
        };
        let reply = match req.kind {
            MessageType::Discover => match self.lease_for(&req.chaddr) {
                Some(ip) => params(MessageType::Offer, ip, self.options(req)?),
                // RFC 2131 4.3.1: a server with no address to offer stays silent.
                None => return Ok(None),
            },
            MessageType::Request => {
                // Selecting: a REQUEST naming another server is not ours.
                if req.server_id.is_some_and(|s| s != server_id) {
                    return Ok(None);
                }
                let asked = req
                    .requested
                    .or((!req.ciaddr.is_unspecified()).then_some(req.ciaddr));
                match (self.existing_lease(&req.chaddr), asked) {
                    (Some(ip), Some(a)) if ip == a => {
                        params(MessageType::Ack, ip, self.options(req)?)
                    }
                    // INIT-REBOOT for an address we never gave, or another
                    // one: RFC 2131 4.3.2 says NAK.
                    _ => params(MessageType::Nak, Ipv4Addr::UNSPECIFIED, Vec::new()),
                }
            }
            MessageType::Inform => {
                params(MessageType::Ack, Ipv4Addr::UNSPECIFIED, self.options(req)?)
            }
            MessageType::Release => {
                // Addresses are bookkeeping here; a release frees nothing
                // that another phone could notice. No reply (RFC 2131 4.3.4).
                return Ok(None);
            }
            _ => return Ok(None),
        };
        dhcp::build_reply(msg, &reply).map(Some)
    }
}

impl DatagramHandler for Dhcp {
    fn service(&self) -> &'static str {
        "dhcp"
    }

    fn answer(&self, request: &[u8], from: SocketAddr) -> Answer {
        let Ok(msg) = dhcp::decode(request) else {
            return Answer::Drop(Some("invalid"));
        };
        let Ok(req) = Request::from_message(&msg) else {
            return Answer::Drop(Some("not_a_request"));
        };
        let reply = match self.reply(&msg, &req) {
            Ok(Some(r)) => r,
            Ok(None) => return Answer::Drop(None),
            Err(_) => return Answer::Drop(Some("unanswerable")),
        };
        let Ok(bytes) = dhcp::encode(&reply) else {
            return Answer::Drop(Some("unanswerable"));
        };
        let to = match dhcp::reply_destination(&msg, &reply) {
            // RFC 2131 4.1 sends relayed replies to giaddr:67. On loopback
            // the relay is a load generator on an ephemeral port, so when
            // the datagram came from giaddr itself, answer the port it came
            // from; a real relay elsewhere still gets port 67.
            ReplyTo::Relay(relay) if IpAddr::V4(*relay.ip()) == from.ip() => from,
            ReplyTo::Relay(relay) => SocketAddr::V4(relay),
            // Not relayed: without raw sockets the mock cannot address a
            // client that has no IP yet, so it answers the sender. Phones
            // reach the mock through the relay path.
            ReplyTo::Client(_) | ReplyTo::Broadcast => from,
        };
        Answer::Reply(bytes, to)
    }
}
