//! DNS as a Lync / Skype for Business phone uses it: SRV and A/AAAA, sans-IO.
//!
//! This module owns, on top of `hickory-proto`'s message codec:
//! - the owner names a phone asks for (`_sipinternaltls._tcp.<domain>`,
//!   `_sipinternal._tcp`, `_sip._tls`, `_ntp._udp`, `ucupdates-r2.<domain>`)
//!   and the queries that carry them ([`query`]);
//! - reading an answer into a typed [`Outcome`] (records, NXDOMAIN, SERVFAIL,
//!   REFUSED, truncated, or "not the answer to our query") ([`response`]);
//! - building answers from a set of records, for the mock DNS server
//!   ([`server`]);
//! - the RFC 1035 section 4.2.2 TCP length prefix ([`tcp`]);
//! - RFC 2782 target selection by priority and weight ([`srv`]).
//!
//! It does not own sockets, retries, timeouts, caches, or the choice of
//! resolver: the caller sends the bytes, and passes any random numbers in.
//!
//! Names cross this API as presentation-format strings without the trailing
//! dot (`"pool01.contoso.com"`); the root name is `"."`, which is what an SRV
//! target of "." (service decidedly not available, RFC 2782) reads as. Names
//! are compared case-insensitively (RFC 1035 section 2.3.3), and kept in the
//! case they were given or received.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{self as hrr, Name, RData, rdata};

use crate::{Error, Result};

pub mod query;
pub mod response;
pub mod server;
pub mod srv;
pub mod tcp;

pub use query::{QueryOptions, Question, build_query};
pub use response::{Answer, Mismatch, Outcome, parse_response};
pub use server::{
    ParsedQuery, ServerOptions, Transport, Zone, answer_query, error_response, parse_query,
};
pub use srv::{SrvTargets, order_srv};
pub use tcp::{tcp_frame, tcp_unframe};

/// What the `dns` fuzz target checks, here so the crate's property tests
/// run exactly the same code. Every decoder, the phone's and the mock's,
/// takes `data` without panicking, and the two sides agree: a query the
/// mock reads carries a question that builds back into the same question,
/// and the mock's answer to it reads, for the phone, as an answer to that
/// question (not a [`Mismatch`]) in both transports. Returns the first
/// disagreement.
#[doc(hidden)]
pub fn fuzz_roundtrip(data: &[u8]) -> std::result::Result<(), String> {
    let zones = fuzz_zones();
    let options = ServerOptions::default();
    // The phone's reader, with the id the bytes carry so that the reading
    // gets past the id check to the sections.
    let id = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    for question in [
        Question::srv(Service::SipInternalTls, "contoso.com"),
        Question::a("pool01.contoso.com"),
    ] {
        let question = question.map_err(|e| format!("fixed question: {e}"))?;
        let _ = parse_response(&question, id, data);
    }
    let _ = tcp_unframe(data);
    let _ = error_response(data, Rcode::ServFail, &options, Transport::Tcp);
    let answers = [Transport::Udp, Transport::Tcp]
        .map(|transport| (transport, answer_query(data, &zones, &options, transport)));
    let Ok(parsed) = parse_query(data) else {
        return Ok(());
    };
    // Only a query with opcode QUERY gets an answer a phone should read as
    // its own: the others get NOTIMP, which echoes their opcode, and a phone
    // reads any opcode but QUERY as not its answer (RFC 5452 section 9.1).
    let opcode = data.get(2).map_or(0, |f| (f >> 3) & 0x0F);
    let Some(question) = parsed.question.filter(|_| opcode == 0) else {
        return Ok(());
    };
    // A name the phone itself could not ask (Question::new refuses it) is
    // the mock's to answer, not the phone's to read.
    let Ok(asked) = Question::new(&question.name, question.qtype) else {
        return Ok(());
    };
    let query_options = QueryOptions {
        id: parsed.id,
        recursion_desired: parsed.recursion_desired,
        edns_udp_size: parsed.edns_udp_size,
    };
    let rebuilt = build_query(&asked, &query_options)
        .map_err(|e| format!("{asked:?}, read from a query, does not build again: {e}"))?;
    let again = parse_query(&rebuilt).map_err(|e| format!("rebuilt query of {asked:?}: {e}"))?;
    if again.question.as_ref() != Some(&asked) || again.id != parsed.id {
        return Err(format!(
            "{asked:?} read back from its own query as {again:?}"
        ));
    }
    for (transport, answer) in answers {
        let Ok(bytes) = answer else { continue };
        match parse_response(&question, parsed.id, &bytes) {
            Ok(Outcome::Mismatch(m)) => {
                return Err(format!(
                    "the mock's {transport:?} answer to {question:?} reads as not ours: {m:?}"
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "the mock's {transport:?} answer to {question:?} does not read: {e}"
                ));
            }
        }
    }
    Ok(())
}

/// The zone the fuzz target's mock answers from: an SRV record with its
/// target's address, and a CNAME, so that answers reach every section.
fn fuzz_zones() -> [Zone; 1] {
    let soa = Soa {
        mname: "ns.contoso.com".into(),
        rname: "hostmaster.contoso.com".into(),
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86_400,
        minimum: 60,
    };
    let srv = RecordData::Srv(Srv {
        priority: 0,
        weight: 0,
        port: 5061,
        target: "pool01.contoso.com".into(),
    });
    [Zone::new("contoso.com", soa, 60)
        .with(Record::new("_sipinternaltls._tcp.contoso.com", 60, srv))
        .with(Record::new(
            "pool01.contoso.com",
            60,
            RecordData::A(Ipv4Addr::LOCALHOST),
        ))
        .with(Record::new(
            "lyncpool.contoso.com",
            60,
            RecordData::Cname("pool01.contoso.com".into()),
        ))]
}

/// The SRV services a phone looks up (PROTOCOL.md, stages 2b, 3 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `_sipinternaltls._tcp`: the internal registrar over TLS (port 5061).
    SipInternalTls,
    /// `_sipinternal._tcp`: the internal registrar over TCP.
    SipInternal,
    /// `_sip._tls`: the external registrar (Access Edge) over TLS (443).
    SipTls,
    /// `_ntp._udp`: the time server, when DHCP named none.
    Ntp,
}

impl Service {
    /// Every service, in the order a phone tries the registrar ones.
    pub const ALL: [Service; 4] = [
        Service::SipInternalTls,
        Service::SipInternal,
        Service::SipTls,
        Service::Ntp,
    ];

    /// The `_service._proto` labels that RFC 2782 puts before the domain.
    pub const fn prefix(self) -> &'static str {
        match self {
            Service::SipInternalTls => "_sipinternaltls._tcp",
            Service::SipInternal => "_sipinternal._tcp",
            Service::SipTls => "_sip._tls",
            Service::Ntp => "_ntp._udp",
        }
    }

    /// The SRV owner name for `domain`, e.g. `_sipinternaltls._tcp.contoso.com`.
    pub fn owner(self, domain: &str) -> Result<String> {
        let domain = normalize_name(domain, "SRV domain")?;
        if domain == "." {
            return Err(Error::bad_value(
                "SRV domain",
                "the root is not a domain a phone signs in to",
            ));
        }
        let owner = format!("{}.{domain}", self.prefix());
        // Validate the whole name again: the prefix may push it past 255 bytes.
        normalize_name(&owner, "SRV owner name")
    }

    /// The domain an SRV owner name of this service was built from, if
    /// `owner` starts with this service's labels (compared without case).
    pub fn domain_of(self, owner: &str) -> Option<String> {
        let owner = owner.strip_suffix('.').unwrap_or(owner);
        let prefix = self.prefix();
        let head = owner.get(..prefix.len())?;
        let rest = owner.get(prefix.len()..)?;
        let domain = rest.strip_prefix('.')?;
        (head.eq_ignore_ascii_case(prefix) && !domain.is_empty()).then(|| domain.to_owned())
    }
}

/// The label the Device Update Web service is found under (stage 3).
pub const UCUPDATES_LABEL: &str = "ucupdates-r2";

/// The Device Update Web service host for a domain: `ucupdates-r2.<domain>`.
///
/// PROTOCOL.md stage 3 reads: "DNS SRV `_sipinternaltls._tcp.<domain>`, take
/// the domain, prepend `ucupdates-r2.`, DNS A for it". The only domain that
/// sentence names is the `<domain>` of the SRV owner, so that is the domain
/// used here, *not* the parent domain of the SRV target (the pool FQDN).
/// Microsoft's own deployment pages agree: the DNS requirements for Lync
/// Server ask for "an internal A record with the name `ucupdates-r2.<SIP
/// domain>`", and a phone nobody has signed in on yet looks up
/// "`ucupdates-r2.<DNS domain name that was provided by DHCP>`" (option 15).
/// The two readings differ whenever the pool lives in another DNS domain than
/// the SIP domain (pool01.corp.contoso.local serving contoso.com), which is
/// common. Pass the SIP domain (or the DHCP option 15 domain); to derive it
/// from an SRV owner name, use [`ucupdates_host_from_srv_owner`].
pub fn ucupdates_host(domain: &str) -> Result<String> {
    let domain = normalize_name(domain, "update service domain")?;
    if domain == "." {
        return Err(Error::bad_value(
            "update service domain",
            "the root is not a domain",
        ));
    }
    normalize_name(
        &format!("{UCUPDATES_LABEL}.{domain}"),
        "update service host",
    )
}

/// `ucupdates-r2.<domain>` from the `_sipinternaltls._tcp.<domain>` owner
/// name the phone queried (see [`ucupdates_host`] for why the owner's domain,
/// not the target's).
pub fn ucupdates_host_from_srv_owner(owner: &str) -> Result<String> {
    let domain = Service::SipInternalTls.domain_of(owner).ok_or_else(|| {
        Error::bad_value(
            "SRV owner name",
            format!("{owner:?} is not a _sipinternaltls._tcp name"),
        )
    })?;
    ucupdates_host(&domain)
}

/// The record types this module reads and writes by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// IPv4 address (RFC 1035).
    A,
    /// IPv6 address (RFC 3596).
    Aaaa,
    /// Canonical name (RFC 1035).
    Cname,
    /// Start of authority (RFC 1035).
    Soa,
    /// Service location (RFC 2782).
    Srv,
    /// Any other type, by its number.
    Other(u16),
}

impl RecordType {
    /// The type's number on the wire.
    pub fn code(self) -> u16 {
        u16::from(self.to_hickory())
    }

    /// The type for a number on the wire.
    pub fn from_code(code: u16) -> Self {
        Self::from_hickory(hrr::RecordType::from(code))
    }

    fn to_hickory(self) -> hrr::RecordType {
        match self {
            RecordType::A => hrr::RecordType::A,
            RecordType::Aaaa => hrr::RecordType::AAAA,
            RecordType::Cname => hrr::RecordType::CNAME,
            RecordType::Soa => hrr::RecordType::SOA,
            RecordType::Srv => hrr::RecordType::SRV,
            RecordType::Other(code) => hrr::RecordType::from(code),
        }
    }

    fn from_hickory(rt: hrr::RecordType) -> Self {
        match rt {
            hrr::RecordType::A => RecordType::A,
            hrr::RecordType::AAAA => RecordType::Aaaa,
            hrr::RecordType::CNAME => RecordType::Cname,
            hrr::RecordType::SOA => RecordType::Soa,
            hrr::RecordType::SRV => RecordType::Srv,
            other => RecordType::Other(u16::from(other)),
        }
    }
}

/// One SRV record's data (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among records of the same priority.
    pub weight: u16,
    /// The port of the service on the target.
    pub port: u16,
    /// The target host; `"."` means the service is decidedly not available.
    pub target: String,
}

impl Srv {
    /// RFC 2782: 'A Target of "." means that the service is decidedly not
    /// available at this domain.'
    pub fn is_unavailable(&self) -> bool {
        self.target == "."
    }
}

/// An SOA record's data (RFC 1035 section 3.3.13).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Soa {
    /// The primary name server of the zone.
    pub mname: String,
    /// The mailbox of the person responsible, as a name.
    pub rname: String,
    /// Version number of the zone.
    pub serial: u32,
    /// Seconds before secondaries refresh.
    pub refresh: u32,
    /// Seconds between secondaries' retries.
    pub retry: u32,
    /// Seconds before secondaries stop answering.
    pub expire: u32,
    /// The TTL of negative answers (RFC 2308 section 4).
    pub minimum: u32,
}

/// The data of a record this module knows by type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias to the canonical name.
    Cname(String),
    /// Service location.
    Srv(Srv),
    /// Start of authority.
    Soa(Soa),
}

impl RecordData {
    /// The record type of this data.
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Cname(_) => RecordType::Cname,
            RecordData::Srv(_) => RecordType::Srv,
            RecordData::Soa(_) => RecordType::Soa,
        }
    }
}

/// A resource record of class IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The owner name.
    pub name: String,
    /// Seconds the record may be cached.
    pub ttl: u32,
    /// The typed data.
    pub data: RecordData,
}

impl Record {
    /// A record from its parts.
    pub fn new(name: impl Into<String>, ttl: u32, data: RecordData) -> Self {
        Record {
            name: name.into(),
            ttl,
            data,
        }
    }

    fn to_hickory(&self) -> Result<hrr::Record> {
        let name = to_name(&self.name, "record owner name")?;
        let data = match &self.data {
            RecordData::A(a) => RData::A(rdata::A(*a)),
            RecordData::Aaaa(a) => RData::AAAA(rdata::AAAA(*a)),
            RecordData::Cname(target) => {
                RData::CNAME(rdata::CNAME(to_name(target, "CNAME target")?))
            }
            RecordData::Srv(srv) => RData::SRV(rdata::SRV::new(
                srv.priority,
                srv.weight,
                srv.port,
                to_name(&srv.target, "SRV target")?,
            )),
            // The SOA timers are unsigned in RFC 1035 ("32 bit time
            // interval"); hickory stores three of them as i32, so the bits
            // are carried over unchanged.
            RecordData::Soa(soa) => RData::SOA(rdata::SOA::new(
                to_name(&soa.mname, "SOA mname")?,
                to_name(&soa.rname, "SOA rname")?,
                soa.serial,
                i32::from_be_bytes(soa.refresh.to_be_bytes()),
                i32::from_be_bytes(soa.retry.to_be_bytes()),
                i32::from_be_bytes(soa.expire.to_be_bytes()),
                soa.minimum,
            )),
        };
        Ok(hrr::Record::from_rdata(name, self.ttl, data))
    }

    /// The record in this module's terms, or `None` for a type or class it
    /// does not read (those are skipped, not refused).
    fn from_hickory(record: &hrr::Record) -> Option<Self> {
        if record.dns_class != hrr::DNSClass::IN {
            return None;
        }
        let data = match &record.data {
            RData::A(a) => RecordData::A(a.0),
            RData::AAAA(a) => RecordData::Aaaa(a.0),
            RData::CNAME(c) => RecordData::Cname(name_to_string(&c.0)),
            RData::SRV(s) => RecordData::Srv(Srv {
                priority: s.priority,
                weight: s.weight,
                port: s.port,
                target: name_to_string(&s.target),
            }),
            RData::SOA(s) => RecordData::Soa(Soa {
                mname: name_to_string(&s.mname),
                rname: name_to_string(&s.rname),
                serial: s.serial,
                refresh: u32::from_be_bytes(s.refresh.to_be_bytes()),
                retry: u32::from_be_bytes(s.retry.to_be_bytes()),
                expire: u32::from_be_bytes(s.expire.to_be_bytes()),
                minimum: s.minimum,
            }),
            _ => return None,
        };
        Some(Record {
            name: name_to_string(&record.name),
            ttl: record.ttl,
            data,
        })
    }
}

/// RFC 1035 section 2.3.4: "labels 63 octets or less", "names 255 octets or
/// less" (counted on the wire: each label's length octet, and the final zero).
const MAX_LABEL: usize = 63;
const MAX_NAME_WIRE: usize = 255;

/// Checks a presentation-format name and returns it without trailing dot
/// (the root stays `"."`). Labels are letters, digits, `-` and `_` (the
/// underscore for RFC 2782 service labels): anything else is refused rather
/// than escaped, since no name a phone uses needs it.
pub fn normalize_name(name: &str, what: &'static str) -> Result<String> {
    if name == "." {
        return Ok(".".to_owned());
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err(Error::bad_value(what, "empty name"));
    }
    let mut wire_len = 1; // the root label's zero octet
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(Error::bad_value(what, format!("empty label in {name:?}")));
        }
        if label.len() > MAX_LABEL {
            return Err(Error::bad_value(
                what,
                format!(
                    "label of {} bytes, over the 63 of RFC 1035 section 2.3.4",
                    label.len()
                ),
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(Error::bad_value(
                what,
                format!("character {c:?} in label {label:?}"),
            ));
        }
        wire_len += 1 + label.len();
    }
    if wire_len > MAX_NAME_WIRE {
        return Err(Error::bad_value(
            what,
            format!("name of {wire_len} bytes on the wire, over the 255 of RFC 1035 section 2.3.4"),
        ));
    }
    Ok(bare.to_owned())
}

/// A checked presentation name as a fully qualified hickory [`Name`].
fn to_name(name: &str, what: &'static str) -> Result<Name> {
    let bare = normalize_name(name, what)?;
    if bare == "." {
        return Ok(Name::root());
    }
    let mut out = Name::from_labels(bare.split('.').map(str::as_bytes))
        .map_err(|e| Error::bad_value(what, e.to_string()))?;
    out.set_fqdn(true);
    Ok(out)
}

/// A wire name as this module's string form: no trailing dot, root is ".".
fn name_to_string(name: &Name) -> String {
    if name.is_root() {
        return ".".to_owned();
    }
    let ascii = name.to_ascii();
    match ascii.strip_suffix('.') {
        Some(bare) => bare.to_owned(),
        None => ascii,
    }
}

/// Compare two presentation names as DNS does: without case, ignoring a
/// trailing dot.
pub fn names_equal(a: &str, b: &str) -> bool {
    fn bare(s: &str) -> &str {
        if s == "." {
            s
        } else {
            s.strip_suffix('.').unwrap_or(s)
        }
    }
    bare(a).eq_ignore_ascii_case(bare(b))
}

/// The response codes (RFC 1035 section 4.1.1, RFC 6891 extended) this
/// module names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// 0: no error.
    NoError,
    /// 1: the server could not interpret the query.
    FormErr,
    /// 2: the server failed.
    ServFail,
    /// 3: the name does not exist (only meaningful from an authority).
    NxDomain,
    /// 4: the kind of query is not supported.
    NotImp,
    /// 5: the server refuses to answer.
    Refused,
    /// Any other code, by number (12 bits with EDNS).
    Other(u16),
}

impl Rcode {
    /// The code's number.
    pub fn code(self) -> u16 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::Other(c) => c,
        }
    }

    /// The code for a number.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            c => Rcode::Other(c),
        }
    }

    fn to_hickory(self) -> hickory_proto::op::ResponseCode {
        <hickory_proto::op::ResponseCode as From<u16>>::from(self.code())
    }
}

/// A hickory decode/encode failure as this crate's error.
fn hickory_invalid(what: &'static str, at: Option<usize>, e: impl std::fmt::Display) -> Error {
    Error::Invalid {
        what,
        at,
        reason: e.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_owner_names() {
        assert_eq!(
            Service::SipInternalTls.owner("contoso.com").unwrap(),
            "_sipinternaltls._tcp.contoso.com"
        );
        assert_eq!(
            Service::SipInternal.owner("contoso.com.").unwrap(),
            "_sipinternal._tcp.contoso.com"
        );
        assert_eq!(
            Service::SipTls.owner("contoso.com").unwrap(),
            "_sip._tls.contoso.com"
        );
        assert_eq!(
            Service::Ntp.owner("contoso.com").unwrap(),
            "_ntp._udp.contoso.com"
        );
        assert!(Service::Ntp.owner(".").is_err());
        assert!(Service::Ntp.owner("a..b").is_err());
        assert!(Service::Ntp.owner("bad name.com").is_err());
    }

    #[test]
    fn service_domain_of_is_the_inverse_of_owner() {
        for s in Service::ALL {
            let owner = s.owner("Contoso.com").unwrap();
            assert_eq!(s.domain_of(&owner).as_deref(), Some("Contoso.com"));
        }
        assert_eq!(
            Service::SipInternalTls
                .domain_of("_SIPINTERNALTLS._TCP.contoso.com.")
                .as_deref(),
            Some("contoso.com")
        );
        assert_eq!(
            Service::SipInternalTls.domain_of("_sipinternal._tcp.contoso.com"),
            None
        );
        assert_eq!(
            Service::SipInternalTls.domain_of("_sipinternaltls._tcp"),
            None
        );
    }

    /// PROTOCOL.md stage 3: "DNS SRV `_sipinternaltls._tcp.<domain>`, take
    /// the domain, prepend `ucupdates-r2.`, DNS A for it" — the domain of the
    /// owner name, even when the SRV target lives elsewhere.
    #[test]
    fn protocol_stage_3_ucupdates_from_the_srv_domain() {
        assert_eq!(
            ucupdates_host("contoso.com").unwrap(),
            "ucupdates-r2.contoso.com"
        );
        assert_eq!(
            ucupdates_host_from_srv_owner("_sipinternaltls._tcp.contoso.com.").unwrap(),
            "ucupdates-r2.contoso.com"
        );
        assert!(ucupdates_host_from_srv_owner("_sip._tls.contoso.com").is_err());
        assert!(ucupdates_host(".").is_err());
    }

    /// RFC 1035 section 2.3.4: "labels 63 octets or less", "names 255 octets
    /// or less".
    #[test]
    fn rfc1035_section_2_3_4_size_limits() {
        let l63 = "a".repeat(63);
        assert!(normalize_name(&l63, "t").is_ok());
        assert!(normalize_name(&"a".repeat(64), "t").is_err());
        // 4 labels of 63 = 4 * 64 + 1 = 257 bytes on the wire: too long.
        let long = [l63.as_str(); 4].join(".");
        assert!(normalize_name(&long, "t").is_err());
        // 3 * 64 + 62 + 1 = 255: exactly the limit.
        let fits = format!("{l63}.{l63}.{l63}.{}", "a".repeat(61));
        assert!(normalize_name(&fits, "t").is_ok());
    }

    #[test]
    fn names_compare_without_case_or_trailing_dot() {
        assert!(names_equal("Pool01.Contoso.com.", "pool01.contoso.COM"));
        assert!(names_equal(".", "."));
        assert!(!names_equal("pool01.contoso.com", "pool02.contoso.com"));
    }

    #[test]
    fn rcode_numbers_round_trip() {
        for c in 0..4096u16 {
            assert_eq!(Rcode::from_code(c).code(), c);
        }
    }

    mod props {
        use std::net::{Ipv4Addr, Ipv6Addr};

        use hickory_proto::op::{Message, MessageType, OpCode};
        use proptest::prelude::*;

        use super::super::*;

        fn label() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_][a-zA-Z0-9_-]{0,12}"
        }

        fn name() -> impl Strategy<Value = String> {
            proptest::collection::vec(label(), 1..5).prop_map(|l| l.join("."))
        }

        fn data() -> impl Strategy<Value = RecordData> {
            prop_oneof![
                any::<u32>().prop_map(|a| RecordData::A(Ipv4Addr::from(a))),
                any::<u128>().prop_map(|a| RecordData::Aaaa(Ipv6Addr::from(a))),
                name().prop_map(RecordData::Cname),
                (
                    any::<u16>(),
                    any::<u16>(),
                    any::<u16>(),
                    prop_oneof![name(), Just(".".to_owned())]
                )
                    .prop_map(|(priority, weight, port, target)| RecordData::Srv(
                        Srv {
                            priority,
                            weight,
                            port,
                            target
                        }
                    )),
                (name(), name(), any::<[u32; 5]>()).prop_map(|(mname, rname, n)| RecordData::Soa(
                    Soa {
                        mname,
                        rname,
                        serial: n[0],
                        refresh: n[1],
                        retry: n[2],
                        expire: n[3],
                        minimum: n[4],
                    }
                )),
            ]
        }

        fn record() -> impl Strategy<Value = Record> {
            (name(), 0u32..=0x7FFF_FFFF, data()).prop_map(|(n, ttl, d)| Record::new(n, ttl, d))
        }

        fn qtype() -> impl Strategy<Value = RecordType> {
            prop_oneof![
                Just(RecordType::A),
                Just(RecordType::Aaaa),
                Just(RecordType::Srv),
                Just(RecordType::Cname),
                Just(RecordType::Soa),
            ]
        }

        proptest! {
            /// decode(encode(records)) == records, through the wire format.
            #[test]
            fn records_round_trip(recs in proptest::collection::vec(record(), 0..8)) {
                let mut m = Message::new(1, MessageType::Response, OpCode::Query);
                for r in &recs {
                    m.add_answer(r.to_hickory().unwrap());
                }
                let bytes = m.to_vec().unwrap();
                let back = Message::from_vec(&bytes).unwrap();
                let got: Vec<Record> = back.answers.iter().filter_map(Record::from_hickory).collect();
                prop_assert_eq!(got, recs);
            }

            /// parse_query(build_query(q)) gives back q, the id, RD and the
            /// advertised size.
            #[test]
            fn query_round_trip(
                n in name(),
                t in qtype(),
                id in any::<u16>(),
                rd in any::<bool>(),
                edns in proptest::option::of(any::<u16>()),
            ) {
                let q = Question::new(&n, t).unwrap();
                let opts = QueryOptions { id, recursion_desired: rd, edns_udp_size: edns };
                let parsed = parse_query(&build_query(&q, &opts).unwrap()).unwrap();
                prop_assert_eq!(parsed, ParsedQuery {
                    id,
                    recursion_desired: rd,
                    question: Some(q),
                    edns_udp_size: edns.map(|e| e.max(512)),
                });
            }

            /// The mock's SRV and A answers read back as the records it
            /// was given, in order.
            #[test]
            fn served_answers_round_trip(
                srvs in proptest::collection::vec((any::<u16>(), any::<u16>(), any::<u16>(), name()), 1..10),
                addrs in proptest::collection::vec(any::<u32>(), 1..10),
                id in any::<u16>(),
            ) {
                let soa = Soa { mname: "ns.contoso.com".into(), rname: "h.contoso.com".into(), serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 };
                let mut zone = Zone::new("contoso.com", soa, 60);
                let want_srv: Vec<Srv> = srvs
                    .into_iter()
                    .map(|(priority, weight, port, target)| Srv { priority, weight, port, target })
                    .collect();
                for s in &want_srv {
                    zone = zone.with(Record::new("_sipinternaltls._tcp.contoso.com", 60, RecordData::Srv(s.clone())));
                }
                let want_a: Vec<std::net::IpAddr> = addrs.iter().map(|a| Ipv4Addr::from(*a).into()).collect();
                for a in &addrs {
                    zone = zone.with(Record::new("pool01.contoso.com", 60, RecordData::A(Ipv4Addr::from(*a))));
                }
                let opts = QueryOptions::recursive(id);
                let zones = [zone];
                let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
                let bytes = answer_query(&build_query(&q, &opts).unwrap(), &zones, &ServerOptions::default(), Transport::Tcp).unwrap();
                match parse_response(&q, id, &bytes).unwrap() {
                    Outcome::Answer(a) => prop_assert_eq!(a.srv, want_srv),
                    other => prop_assert!(false, "{:?}", other),
                }
                let q = Question::a("pool01.contoso.com").unwrap();
                let bytes = answer_query(&build_query(&q, &opts).unwrap(), &zones, &ServerOptions::default(), Transport::Udp).unwrap();
                match parse_response(&q, id, &bytes).unwrap() {
                    Outcome::Answer(a) => prop_assert_eq!(a.addresses, want_a),
                    // Ten A records fit in 512 bytes; TC would be a bug here.
                    other => prop_assert!(false, "{:?}", other),
                }
            }

            /// Arbitrary bytes never panic any decoder or the server.
            #[test]
            fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..600), qr in any::<bool>()) {
                if let Some(flags) = bytes.get_mut(2) {
                    if qr { *flags |= 0x80 } else { *flags &= 0x7F }
                }
                prop_assert_eq!(fuzz_roundtrip(&bytes), Ok(()));
            }

            /// A phone's query with a few bytes changed: whatever of it the
            /// mock still reads as a question, its answer reads, for the
            /// phone, as the answer to that question. Random bytes seldom
            /// make a query at all; this is where the two sides meet.
            #[test]
            fn mutated_queries_are_answered_as_asked(
                which in 0..3usize,
                edns in proptest::option::of(any::<u16>()),
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            ) {
                let q = [
                    Question::srv(Service::SipInternalTls, "contoso.com"),
                    Question::a("lyncpool.contoso.com"),
                    Question::aaaa("pool01.contoso.com"),
                ][which].clone().unwrap();
                let options = QueryOptions { id: 0x5a5a, recursion_desired: true, edns_udp_size: edns };
                let mut bytes = build_query(&q, &options).unwrap();
                for (at, value) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = value;
                }
                prop_assert_eq!(fuzz_roundtrip(&bytes), Ok(()));
            }

            /// A valid answer with a few bytes changed never panics the
            /// reader: this reaches deeper than random bytes do.
            #[test]
            fn mutated_answers_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
                let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
                let zones = fuzz_zones();
                let query = build_query(&q, &QueryOptions::recursive(7)).unwrap();
                let mut bytes = answer_query(&query, &zones, &ServerOptions::default(), Transport::Udp).unwrap();
                for (at, value) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = value;
                }
                let _ = parse_response(&q, 7, &bytes);
                let _ = answer_query(&bytes, &zones, &ServerOptions::default(), Transport::Udp);
            }
        }
    }
}
