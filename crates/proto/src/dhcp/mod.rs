//! DHCPv4 for Lync / Skype for Business phones (stages 1 and 2 of
//! PROTOCOL.md): the messages a phone, or a relay agent speaking for many
//! phones, sends; the OFFER/ACK/NAK a server answers with; options 43 and
//! 120; and the typed settings a phone takes from an ACK.
//!
//! The message framing and the standard options are dhcproto's
//! ([`Message`], [`DhcpOption`]); this module adds the rules of RFC 2131
//! (which fields and options each message carries, where a reply goes), the
//! Microsoft options, and checks dhcproto leaves out (magic cookie, `hlen`).
//! RFC 3396 long options: dhcproto splits values over 255 bytes on encode;
//! on decode this module joins every instance of a code, adjacent or not,
//! before dhcproto reads them (dhcproto alone joins only adjacent ones).
//!
//! No sockets, no clock, no randomness: `xid`, hardware addresses and the
//! like come in as arguments. (dhcproto's constructor draws an `xid` of its
//! own; every builder here overwrites it at once.)

mod settings;
mod sip_servers;
mod vendor;

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;

use dhcproto::v4::{Decodable, Decoder, Encodable, Encoder, Opcode, UnknownOption};
pub use dhcproto::v4::{DhcpOption, DhcpOptions, Flags, HType, Message, MessageType, OptionCode};

pub use settings::BootSettings;
pub use sip_servers::{SipServers, check_domain_name};
pub use vendor::{
    DEFAULT_CERT_PROV_PATH, DEFAULT_PORT, DEFAULT_SCHEME, SubOption, UcClientOptions,
    VENDOR_CLASS_UC, VENDOR_CLASS_VLAN, VoiceVlanOptions, code as sub_option, decode_sub_options,
    encode_sub_options, parse_port,
};

use crate::{Error, Result};

const WHAT: &str = "DHCP message";

/// The DHCP server port; relay agents send from it and listen on it too.
pub const SERVER_PORT: u16 = 67;
/// The DHCP client port.
pub const CLIENT_PORT: u16 = 68;
/// Option code of the SIP servers option (RFC 3361), unknown to dhcproto.
pub const OPTION_SIP_SERVERS: u8 = 120;

/// RFC 1542 section 2.1 / RFC 2131 section 2: the BOOTP message is at least
/// 300 bytes; some servers and relays drop shorter ones, so encode pads.
const MIN_MESSAGE: usize = 300;
/// The fixed BOOTP fields (236 bytes) plus the magic cookie.
const HEADER: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// What a phone asks for in option 55: subnet mask, router, time server,
/// DNS, domain, NTP, vendor options, domain search, SIP servers.
pub const PHONE_PARAMETER_REQUEST_LIST: [u8; 9] = [1, 3, 4, 6, 15, 42, 43, 119, 120];

/// A relay agent forwarding a client's messages (RFC 1542 section 4.1.1,
/// RFC 2131 section 4.1): a load generator plays one for thousands of
/// simulated phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay {
    /// The relay's address on the clients' subnet: the server picks the
    /// subnet by it and sends every reply to it, port 67.
    pub giaddr: Ipv4Addr,
    /// The hop count after this relay's increment (at least 1).
    pub hops: u8,
}

/// One simulated phone's identity and the fixed fields of its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Ethernet hardware address.
    pub chaddr: [u8; 6],
    /// Transaction id, chosen by the caller.
    pub xid: u32,
    /// Seconds since the client began acquiring (the `secs` field).
    pub secs: u16,
    /// Option 12.
    pub host_name: Option<String>,
    /// Option 61; `None` means RFC 2132 section 9.14's usual form, hardware
    /// type 1 followed by `chaddr`.
    pub client_id: Option<Vec<u8>>,
    /// Option 60 in DISCOVER and REQUEST. INFORM always sends
    /// `MS-UC-Client` and the VLAN discovery always `CPE-OCPHONE`.
    pub vendor_class: Option<String>,
    /// Set when a relay agent forwards this client's messages.
    pub relay: Option<Relay>,
    /// The BROADCAST flag: set by clients that cannot take unicast before
    /// they have an address (RFC 2131 section 4.1).
    pub broadcast: bool,
}

impl Client {
    /// A phone with vendor class `MS-UC-Client`, no relay, no host name.
    pub fn new(chaddr: [u8; 6], xid: u32) -> Self {
        Client {
            chaddr,
            xid,
            secs: 0,
            host_name: None,
            client_id: None,
            vendor_class: Some(VENDOR_CLASS_UC.to_owned()),
            relay: None,
            broadcast: false,
        }
    }

    /// The same client seen through a relay agent.
    pub fn via(mut self, relay: Relay) -> Self {
        self.relay = Some(relay);
        self
    }

    /// DHCPDISCOVER (RFC 2131 section 4.4.1: `ciaddr` 0, no server id).
    pub fn discover(&self) -> Result<Message> {
        self.base(
            MessageType::Discover,
            Ipv4Addr::UNSPECIFIED,
            self.vendor_class.as_deref(),
        )
    }

    /// DHCPDISCOVER with vendor class `CPE-OCPHONE`, asking for option 43
    /// with the voice VLAN (stage 1 fallback when LLDP-MED is silent).
    pub fn vlan_discover(&self) -> Result<Message> {
        self.base(
            MessageType::Discover,
            Ipv4Addr::UNSPECIFIED,
            Some(VENDOR_CLASS_VLAN),
        )
    }

    /// DHCPREQUEST in SELECTING state (RFC 2131 section 4.3.2, table 5):
    /// `ciaddr` 0, requested address and server id set.
    pub fn request_selecting(&self, requested: Ipv4Addr, server_id: Ipv4Addr) -> Result<Message> {
        let mut m = self.base(
            MessageType::Request,
            Ipv4Addr::UNSPECIFIED,
            self.vendor_class.as_deref(),
        )?;
        m.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(requested));
        m.opts_mut().insert(DhcpOption::ServerIdentifier(server_id));
        Ok(m)
    }

    /// DHCPREQUEST in INIT-REBOOT state: `ciaddr` 0, requested address set,
    /// no server id (RFC 2131 section 4.3.2, table 5).
    pub fn request_init_reboot(&self, requested: Ipv4Addr) -> Result<Message> {
        let mut m = self.base(
            MessageType::Request,
            Ipv4Addr::UNSPECIFIED,
            self.vendor_class.as_deref(),
        )?;
        m.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(requested));
        Ok(m)
    }

    /// DHCPINFORM with vendor class `MS-UC-Client` (stage 2): `ciaddr` is
    /// the address the client already has; no requested address, server id
    /// or lease time (RFC 2131 section 4.4.3 and table 5).
    pub fn inform(&self, ciaddr: Ipv4Addr) -> Result<Message> {
        if ciaddr.is_unspecified() {
            return Err(Error::bad_value(
                "DHCPINFORM ciaddr",
                "must be the client's configured address, not 0.0.0.0",
            ));
        }
        self.base(MessageType::Inform, ciaddr, Some(VENDOR_CLASS_UC))
    }

    fn base(&self, kind: MessageType, ciaddr: Ipv4Addr, class: Option<&str>) -> Result<Message> {
        let giaddr = self.relay.map_or(Ipv4Addr::UNSPECIFIED, |r| r.giaddr);
        let mut m = Message::new_with_id(
            self.xid,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            giaddr,
            &self.chaddr,
        );
        m.set_opcode(Opcode::BootRequest)
            .set_htype(HType::Eth)
            .set_secs(self.secs)
            .set_hops(self.relay.map_or(0, |r| r.hops.max(1)));
        if self.broadcast {
            m.set_flags(Flags::default().set_broadcast());
        }
        let client_id = self.client_id.clone().unwrap_or_else(|| {
            let mut id = vec![1u8];
            id.extend_from_slice(&self.chaddr);
            id
        });
        if client_id.len() < 2 {
            return Err(Error::bad_value(
                "client identifier",
                "empty (RFC 2132 section 9.14 needs 2 bytes or more)",
            ));
        }
        let opts = m.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ClientIdentifier(client_id));
        opts.insert(DhcpOption::ParameterRequestList(
            PHONE_PARAMETER_REQUEST_LIST
                .iter()
                .map(|&c| OptionCode::from(c))
                .collect(),
        ));
        if let Some(class) = class {
            opts.insert(DhcpOption::ClassIdentifier(class.as_bytes().to_vec()));
        }
        if let Some(name) = &self.host_name {
            if name.is_empty() || !name.is_ascii() {
                return Err(Error::bad_value("host name", "must be non-empty ASCII"));
            }
            opts.insert(DhcpOption::Hostname(name.clone()));
        }
        Ok(m)
    }
}

/// Encodes a message to bytes, padded to the 300-byte BOOTP minimum.
pub fn encode(msg: &Message) -> Result<Vec<u8>> {
    let mut out = msg
        .to_vec()
        .map_err(|e| Error::bad_value("DHCP message", e.to_string()))?;
    if out.len() < MIN_MESSAGE {
        out.resize(MIN_MESSAGE, 0);
    }
    Ok(out)
}

/// Decodes one datagram into a DHCP message.
///
/// Beyond dhcproto's parse this insists on the magic cookie (RFC 2131
/// section 3), a known `op`, `hlen` of at most 16 and a message type
/// (option 53): without one it is BOOTP, not DHCP. Like dhcproto, options
/// are read up to the first malformed one and the rest are dropped; so are
/// options whose value dhcproto cannot write back unchanged.
pub fn decode(bytes: &[u8]) -> Result<Message> {
    if bytes.len() < HEADER {
        return Err(Error::invalid_at(
            WHAT,
            bytes.len(),
            "shorter than the 236-byte BOOTP header and the magic cookie",
        ));
    }
    match bytes.first() {
        Some(1 | 2) => {}
        _ => {
            return Err(Error::invalid_at(
                WHAT,
                0,
                "op is neither BOOTREQUEST nor BOOTREPLY",
            ));
        }
    }
    if bytes.get(2).is_none_or(|&h| h > 16) {
        return Err(Error::invalid_at(WHAT, 2, "hlen over 16 bytes"));
    }
    if bytes.get(236..240) != Some(&MAGIC[..]) {
        return Err(Error::invalid_at(
            WHAT,
            236,
            "no DHCP magic cookie 99.130.83.99",
        ));
    }
    let normal = normalize_options(bytes);
    let mut msg = Message::decode(&mut Decoder::new(&normal))
        .map_err(|e| Error::invalid(WHAT, e.to_string()))?;
    // dhcproto reads some malformed options into values it cannot write
    // back (an empty host name vanishes on encode, a 13-byte boolean comes
    // back as 1 byte): keep only options that survive their own round trip,
    // so what callers see is exactly what they would send on.
    let sources = Sources::new(normal.get(HEADER..).unwrap_or_default());
    let mut scratch = Vec::new();
    msg.opts_mut()
        .retain(|_, o| survives_round_trip(o, &sources, &mut scratch));
    if msg.opts().msg_type().is_none() {
        return Err(Error::invalid(
            WHAT,
            "no message type option 53 (a BOOTP message)",
        ));
    }
    Ok(msg)
}

/// Rewrites the options area before dhcproto sees it.
///
/// RFC 3396 section 7: "the client MUST concatenate the values of all
/// options with the same code, in the order they appear", and they need not
/// be adjacent; dhcproto joins only adjacent ones, so this joins them all
/// and writes each code once (split in 255-byte pieces). It also drops the
/// few options whose length dhcproto only `debug_assert!`s (a panic in debug
/// builds and under the fuzzer): 80, 81, 94 and 151 to 155. Reading stops at
/// the end option or at a truncated option, keeping what came before.
///
/// A message with each code once, every length sound and an end option,
/// as servers send them, is already in that form and is passed on as it
/// is: the rewrite then costs nothing (one per answer of every phone).
fn normalize_options(bytes: &[u8]) -> Cow<'_, [u8]> {
    let opts = bytes.get(HEADER..).unwrap_or_default();
    let mut seen = [0u64; 4];
    let mut pieces = Pieces::new(opts);
    let normal = pieces.by_ref().all(|p| {
        let (word, bit) = (usize::from(p.code / 64), 1u64 << (p.code % 64));
        let sound = length_is_sound(p.code, p.value.len());
        match seen.get_mut(word).filter(|w| sound && **w & bit == 0) {
            Some(w) => {
                *w |= bit;
                true
            }
            None => false,
        }
    });
    match pieces.end.filter(|_| normal) {
        Some(end) => bytes
            .get(..HEADER + end + 1)
            .map_or_else(|| Cow::Owned(rewrite_options(bytes)), Cow::Borrowed),
        None => Cow::Owned(rewrite_options(bytes)),
    }
}

/// [`normalize_options`] the long way: each code once, in the order of
/// its first appearance, its pieces joined.
fn rewrite_options(bytes: &[u8]) -> Vec<u8> {
    let (head, opts) = bytes.split_at(HEADER.min(bytes.len()));
    // Codes in order of first appearance, each with the ranges of its
    // pieces in `opts`.
    let mut order: Vec<(u8, Vec<Range<usize>>)> = Vec::new();
    for p in Pieces::new(opts) {
        match order.iter_mut().find(|(c, _)| *c == p.code) {
            Some((_, values)) => values.push(p.value),
            None => order.push((p.code, vec![p.value])),
        }
    }
    let mut out = head.to_vec();
    for (code, pieces) in order {
        let v: Vec<u8> = pieces
            .into_iter()
            .flat_map(|r| opts.get(r).unwrap_or_default())
            .copied()
            .collect();
        if !length_is_sound(code, v.len()) {
            continue;
        }
        if v.is_empty() {
            out.extend([code, 0]);
        }
        for chunk in v.chunks(255) {
            out.push(code);
            out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(chunk);
        }
    }
    out.push(255);
    out
}

/// One option piece of an options area: its code, where its code byte is,
/// and the range of its value.
struct Piece {
    code: u8,
    at: usize,
    value: Range<usize>,
}

/// The pieces of an options area in order, pads skipped. Stops at the end
/// option, noting where it is, or at a piece whose length or value runs
/// past the area.
struct Pieces<'a> {
    opts: &'a [u8],
    pos: usize,
    /// Where the end option is, once reached.
    end: Option<usize>,
}

impl<'a> Pieces<'a> {
    fn new(opts: &'a [u8]) -> Self {
        Pieces {
            opts,
            pos: 0,
            end: None,
        }
    }
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        loop {
            match *self.opts.get(self.pos)? {
                0 => self.pos += 1,
                255 => {
                    self.end = Some(self.pos);
                    return None;
                }
                code => {
                    let at = self.pos;
                    let len = usize::from(*self.opts.get(at + 1)?);
                    let value = at + 2..at + 2 + len;
                    if value.end > self.opts.len() {
                        return None;
                    }
                    self.pos = value.end;
                    return Some(Piece { code, at, value });
                }
            }
        }
    }
}

/// Whether dhcproto can read an option of this code and (joined) length
/// without tripping one of its `debug_assert!`s.
fn length_is_sound(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,
        81 => len >= 3,
        94 => len == 3,
        151 => len > 0,
        152..=155 => len == 4,
        _ => true,
    }
}

/// Whether dhcproto writes `o` back as it read it. `sources` holds the
/// bytes `o` was read from; `scratch` is reused between calls. When `o`
/// encodes to exactly those bytes, decoding them again gives `o` back, so
/// the full round trip is needed only when they differ.
fn survives_round_trip(o: &DhcpOption, sources: &Sources<'_>, scratch: &mut Vec<u8>) -> bool {
    scratch.clear();
    if o.encode(&mut Encoder::new(scratch)).is_err() {
        return false;
    }
    // The encoding starts with the option's code.
    let code = scratch.first().copied().unwrap_or(0);
    if sources.of(code) == Some(scratch.as_slice()) {
        return true;
    }
    let mut d = Decoder::new(scratch);
    matches!(DhcpOption::decode(&mut d), Ok(back) if &back == o) && d.buffer().is_empty()
}

/// Where each option's bytes are in a normalized options area (each code
/// once, a long value in adjacent pieces), found in one pass.
struct Sources<'a> {
    options: &'a [u8],
    /// Each code with the span from its first code byte to the end of its
    /// last piece.
    spans: Vec<(u8, Range<usize>)>,
}

impl<'a> Sources<'a> {
    fn new(options: &'a [u8]) -> Self {
        let mut spans: Vec<(u8, Range<usize>)> = Vec::new();
        for p in Pieces::new(options) {
            match spans.last_mut() {
                Some((code, span)) if *code == p.code => span.end = p.value.end,
                _ => spans.push((p.code, p.at..p.value.end)),
            }
        }
        Sources { options, spans }
    }

    /// The bytes of every piece of option `code`.
    fn of(&self, code: u8) -> Option<&'a [u8]> {
        let (_, span) = self.spans.iter().find(|(c, _)| *c == code)?;
        self.options.get(span.clone())
    }
}

/// The raw value of an option by code (after RFC 3396 concatenation), for
/// the codes dhcproto keeps as bytes (43, 60, 61, 120 and unknown ones).
pub fn raw_option(msg: &Message, code: u8) -> Option<&[u8]> {
    match msg.opts().get(OptionCode::from(code))? {
        DhcpOption::VendorExtensions(v)
        | DhcpOption::ClassIdentifier(v)
        | DhcpOption::ClientIdentifier(v) => Some(v),
        DhcpOption::Unknown(u) => Some(u.data()),
        _ => None,
    }
}

/// Option 120 as dhcproto carries it (it has no variant of its own).
pub fn sip_servers_option(servers: &SipServers) -> Result<DhcpOption> {
    Ok(DhcpOption::Unknown(UnknownOption::new(
        OptionCode::from(OPTION_SIP_SERVERS),
        servers.encode()?,
    )))
}

/// What a server learns from a client's message (the mock server's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// DISCOVER, REQUEST, DECLINE, RELEASE or INFORM.
    pub kind: MessageType,
    /// Transaction id.
    pub xid: u32,
    /// Client hardware address.
    pub chaddr: Vec<u8>,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `giaddr`, non-zero when relayed.
    pub giaddr: Ipv4Addr,
    /// Option 50.
    pub requested: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 60, the vendor class, as bytes.
    pub vendor_class: Option<Vec<u8>>,
    /// Option 61.
    pub client_id: Option<Vec<u8>>,
    /// Option 55, as codes.
    pub parameter_request_list: Vec<u8>,
}

/// The message type of `msg`, checked against its BOOTP op and the types
/// that side of the exchange sends.
fn kind_of(
    msg: &Message,
    op: Opcode,
    allowed: &[MessageType],
    refusal: &str,
) -> Result<MessageType> {
    if msg.opcode() != op {
        return Err(Error::invalid_at(WHAT, 0, format!("not a {op:?}")));
    }
    let kind = msg
        .opts()
        .msg_type()
        .ok_or_else(|| Error::invalid(WHAT, "no message type"))?;
    if !allowed.contains(&kind) {
        return Err(Error::invalid(WHAT, format!("{kind:?} is {refusal}")));
    }
    Ok(kind)
}

impl Request {
    /// Reads a client message; refuses replies and server message types.
    pub fn from_message(msg: &Message) -> Result<Self> {
        use MessageType as M;
        let kind = kind_of(
            msg,
            Opcode::BootRequest,
            &[M::Discover, M::Request, M::Decline, M::Release, M::Inform],
            "not a client message",
        )?;
        let opts = msg.opts();
        Ok(Request {
            kind,
            xid: msg.xid(),
            chaddr: msg.chaddr().to_vec(),
            ciaddr: msg.ciaddr(),
            giaddr: msg.giaddr(),
            requested: match opts.get(OptionCode::RequestedIpAddress) {
                Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
                _ => None,
            },
            server_id: server_id(msg),
            vendor_class: raw_option(msg, 60).map(<[u8]>::to_vec),
            client_id: raw_option(msg, 61).map(<[u8]>::to_vec),
            parameter_request_list: match opts.get(OptionCode::ParameterRequestList) {
                Some(DhcpOption::ParameterRequestList(l)) => {
                    l.iter().map(|&c| u8::from(c)).collect()
                }
                _ => Vec::new(),
            },
        })
    }
}

/// What a server answers: OFFER, ACK or NAK and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyParams {
    /// OFFER, ACK or NAK.
    pub kind: MessageType,
    /// The address offered or assigned (ignored for NAK and for the ACK to
    /// an INFORM, whose `yiaddr` is 0).
    pub yiaddr: Ipv4Addr,
    /// Option 54, always sent.
    pub server_id: Ipv4Addr,
    /// Option 51, sent in OFFER and in the ACK to a REQUEST.
    pub lease_time: u32,
    /// Further options (1, 3, 6, 15, 42, 43, 120, ...). A NAK carries only
    /// option 56 from this list.
    pub options: Vec<DhcpOption>,
}

/// Builds a server's reply to `request` following RFC 2131 section 4.3.1
/// table 3: `xid`, `flags`, `giaddr`, `htype`, `chaddr` copied; `hops` 0;
/// `ciaddr` copied only into an ACK; `yiaddr` 0 for NAK and for the ACK to
/// an INFORM; lease time never in a NAK nor the ACK to an INFORM. Section
/// 4.3.2: a NAK to a relayed request has the BROADCAST flag set.
pub fn build_reply(request: &Message, reply: &ReplyParams) -> Result<Message> {
    let req = Request::from_message(request)?;
    let inform = req.kind == MessageType::Inform;
    let (yiaddr, ciaddr, lease) = match reply.kind {
        MessageType::Offer => (reply.yiaddr, Ipv4Addr::UNSPECIFIED, true),
        MessageType::Ack if inform => (Ipv4Addr::UNSPECIFIED, req.ciaddr, false),
        MessageType::Ack => (reply.yiaddr, req.ciaddr, true),
        MessageType::Nak => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, false),
        other => {
            return Err(Error::bad_value(
                "DHCP reply type",
                format!("{other:?} is not OFFER, ACK or NAK"),
            ));
        }
    };
    let mut m = Message::new_with_id(
        request.xid(),
        ciaddr,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        request.giaddr(),
        request.chaddr(),
    );
    m.set_opcode(Opcode::BootReply)
        .set_htype(request.htype())
        .set_hops(0)
        .set_flags(request.flags());
    if reply.kind == MessageType::Nak && !request.giaddr().is_unspecified() {
        m.set_flags(request.flags().set_broadcast());
    }
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(reply.kind));
    opts.insert(DhcpOption::ServerIdentifier(reply.server_id));
    if lease {
        opts.insert(DhcpOption::AddressLeaseTime(reply.lease_time));
    }
    for o in &reply.options {
        let code = OptionCode::from(o);
        let fixed = matches!(
            code,
            OptionCode::MessageType | OptionCode::ServerIdentifier | OptionCode::AddressLeaseTime
        );
        let nak_ok = code == OptionCode::Message;
        if !fixed && (reply.kind != MessageType::Nak || nak_ok) {
            opts.insert(o.clone());
        }
    }
    Ok(m)
}

/// Where a server sends a reply (RFC 2131 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    /// `giaddr`, port 67: the relay agent.
    Relay(SocketAddrV4),
    /// A unicast to the client, port 68: `ciaddr`, or `yiaddr` at `chaddr`
    /// (the server must then address the frame to the hardware address).
    Client(SocketAddrV4),
    /// 255.255.255.255, port 68.
    Broadcast,
}

/// RFC 2131 section 4.1: "If the 'giaddr' field in a DHCP message from a
/// client is non-zero, the server sends any return messages to the 'DHCP
/// server' port on the BOOTP relay agent whose address appears in
/// 'giaddr'. If the 'giaddr' field is zero and the 'ciaddr' field is
/// nonzero, then the server unicasts DHCPOFFER and DHCPACK messages to the
/// address in 'ciaddr'. If 'giaddr' is zero and 'ciaddr' is zero, and the
/// broadcast bit is set, then the server broadcasts ... If the broadcast
/// bit is not set ... unicasts ... to the client's hardware address and
/// 'yiaddr' address. In all cases, when 'giaddr' is zero, the server
/// broadcasts any DHCPNAK messages."
///
/// The ACK to a relayed INFORM goes to the relay too: section 4.3.5 says
/// to answer "directly to the address given in 'ciaddr'", but a relay is the
/// only party a load generator can listen as, and 4.1 covers every reply.
pub fn reply_destination(request: &Message, reply: &Message) -> ReplyTo {
    if !request.giaddr().is_unspecified() {
        return ReplyTo::Relay(SocketAddrV4::new(request.giaddr(), SERVER_PORT));
    }
    if reply.opts().has_msg_type(MessageType::Nak) {
        return ReplyTo::Broadcast;
    }
    if !request.ciaddr().is_unspecified() {
        return ReplyTo::Client(SocketAddrV4::new(request.ciaddr(), CLIENT_PORT));
    }
    if request.flags().broadcast() || reply.yiaddr().is_unspecified() {
        return ReplyTo::Broadcast;
    }
    ReplyTo::Client(SocketAddrV4::new(reply.yiaddr(), CLIENT_PORT))
}

/// What a client learns from a server's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK or NAK.
    pub kind: MessageType,
    /// Transaction id, to match with the request.
    pub xid: u32,
    /// Client hardware address, to match with the simulated phone.
    pub chaddr: Vec<u8>,
    /// The address offered or assigned.
    pub yiaddr: Ipv4Addr,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_time: Option<u32>,
    /// Option 56, the server's explanation (usually with a NAK).
    pub message: Option<String>,
}

impl Reply {
    /// Reads a server message; refuses requests and client message types.
    pub fn from_message(msg: &Message) -> Result<Self> {
        use MessageType as M;
        let kind = kind_of(
            msg,
            Opcode::BootReply,
            &[M::Offer, M::Ack, M::Nak],
            "not OFFER, ACK or NAK",
        )?;
        Ok(Reply {
            kind,
            xid: msg.xid(),
            chaddr: msg.chaddr().to_vec(),
            yiaddr: msg.yiaddr(),
            server_id: server_id(msg),
            lease_time: match msg.opts().get(OptionCode::AddressLeaseTime) {
                Some(DhcpOption::AddressLeaseTime(t)) => Some(*t),
                _ => None,
            },
            message: match msg.opts().get(OptionCode::Message) {
                Some(DhcpOption::Message(s)) => Some(s.clone()),
                _ => None,
            },
        })
    }
}

fn server_id(msg: &Message) -> Option<Ipv4Addr> {
    match msg.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
        _ => None,
    }
}

/// Runs every decoder of this module on `data` the way the fuzz target
/// does: whatever decodes must encode, decode again and compare equal.
/// Returns a description of the first mismatch.
#[doc(hidden)]
pub fn fuzz_roundtrip(data: &[u8]) -> std::result::Result<(), String> {
    if let Ok(msg) = decode(data) {
        let bytes =
            encode(&msg).map_err(|e| format!("re-encode of a decoded message failed: {e}"))?;
        let again =
            decode(&bytes).map_err(|e| format!("decode of a re-encoded message failed: {e}"))?;
        if again != msg {
            return Err(format!(
                "message changed in a round trip:\n{msg:?}\n{again:?}"
            ));
        }
        let _ = BootSettings::from_ack(&msg);
        let _ = Reply::from_message(&msg);
        let _ = Request::from_message(&msg);
    }
    if let Ok(s) = SipServers::decode(data) {
        let bytes = s
            .encode()
            .map_err(|e| format!("option 120 re-encode failed: {e}"))?;
        if SipServers::decode(&bytes).ok().as_ref() != Some(&s) {
            return Err(format!("option 120 changed in a round trip: {s:?}"));
        }
    }
    if let Ok(subs) = decode_sub_options(data) {
        let bytes =
            encode_sub_options(&subs).map_err(|e| format!("option 43 re-encode failed: {e}"))?;
        if decode_sub_options(&bytes).ok().as_ref() != Some(&subs) {
            return Err("option 43 sub-options changed in a round trip".into());
        }
    }
    if let Ok(o) = UcClientOptions::decode(data) {
        let bytes = o
            .encode()
            .map_err(|e| format!("MS-UC-Client re-encode failed: {e}"))?;
        if UcClientOptions::decode(&bytes).ok().as_ref() != Some(&o) {
            return Err(format!(
                "MS-UC-Client options changed in a round trip: {o:?}"
            ));
        }
    }
    if let Ok(o) = VoiceVlanOptions::decode(data) {
        let bytes = o
            .encode()
            .map_err(|e| format!("CPE-OCPHONE re-encode failed: {e}"))?;
        if VoiceVlanOptions::decode(&bytes).ok().as_ref() != Some(&o) {
            return Err(format!(
                "CPE-OCPHONE options changed in a round trip: {o:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
