//! Answers, for the mock DNS server: a query's bytes and a set of zones in,
//! the response's bytes out.
//!
//! This file owns an authoritative server's decisions for one message:
//! which zone is asked about (none: REFUSED), the records of the name and
//! type, CNAMEs followed within the zones, NXDOMAIN vs NODATA with the SOA
//! in the authority section (RFC 2308), SRV targets' addresses in the
//! additional section (RFC 2782), the EDNS0 OPT echo (RFC 6891) and
//! truncation to the transport's limit with TC (RFC 1035 section 4.2.1,
//! RFC 2181 section 9). It does not own sockets, zone files, wildcards,
//! DNSSEC, or recursion: the mock answers for its own zones only.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{self as hrr, DNSClass, Name, RData};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{
    Question, Rcode, Record, RecordData, RecordType, Soa, hickory_invalid, name_to_string, to_name,
};
use crate::{Error, Result};

const WHAT: &str = "DNS query";
const HEADER_LEN: usize = 12;
/// RFC 1035 section 4.2.1: "Messages carried by UDP are restricted to 512
/// bytes (not counting the IP or UDP headers)."
pub const UDP_PLAIN_LIMIT: usize = 512;
/// RFC 1035 section 4.2.2: TCP messages carry a 16-bit length.
pub const TCP_LIMIT: usize = 65_535;
/// CNAME hops followed before giving up (a loop in the mock's data).
const MAX_CNAME_HOPS: usize = 8;

/// The transport a query came over: it sets the size limit of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: 512 bytes, or the EDNS0 size the client advertised.
    Udp,
    /// TCP: up to 65535 bytes (the length prefix is added by [`super::tcp_frame`]).
    Tcp,
}

/// One zone the mock is authoritative for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// The zone's apex, e.g. `contoso.com`.
    pub apex: String,
    /// The zone's SOA data, returned in the authority section of negative
    /// answers.
    pub soa: Soa,
    /// The TTL of the SOA record itself.
    pub soa_ttl: u32,
    /// Every other record of the zone (owners at or under the apex).
    pub records: Vec<Record>,
}

impl Zone {
    /// An empty zone with an SOA.
    pub fn new(apex: impl Into<String>, soa: Soa, soa_ttl: u32) -> Self {
        Zone {
            apex: apex.into(),
            soa,
            soa_ttl,
            records: Vec::new(),
        }
    }

    /// The zone with one more record.
    #[must_use]
    pub fn with(mut self, record: Record) -> Self {
        self.records.push(record);
        self
    }
}

/// The server's own header choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerOptions {
    /// AA: answer as the zone's authority.
    pub authoritative: bool,
    /// RA: claim recursion is available (an enterprise DNS server that
    /// phones use as their resolver does).
    pub recursion_available: bool,
    /// The UDP payload size the server advertises in its own OPT record
    /// when the query carried one (RFC 6891 section 6.2.5).
    pub edns_udp_size: u16,
    /// Put the addresses of SRV targets in the additional section.
    pub additional_addresses: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            authoritative: true,
            recursion_available: true,
            edns_udp_size: 1232,
            additional_addresses: true,
        }
    }
}

/// What a query asks, for the mock's logs and its fault injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuery {
    /// The message id.
    pub id: u16,
    /// RD.
    pub recursion_desired: bool,
    /// The question, when there is exactly one of class IN.
    pub question: Option<Question>,
    /// The UDP payload size advertised in an OPT record, if any, with RFC
    /// 6891's "values lower than 512 MUST be treated as equal to 512" applied.
    pub edns_udp_size: Option<u16>,
}

/// Decode a query. `Err` when the bytes are not a DNS message or are a
/// response (QR = 1): a server must not answer those.
pub fn parse_query(bytes: &[u8]) -> Result<ParsedQuery> {
    let msg = decode_query(bytes)?;
    Ok(ParsedQuery {
        id: msg.metadata.id,
        recursion_desired: msg.metadata.recursion_desired,
        question: single_question(&msg)
            .filter(|q| q.query_class() == DNSClass::IN)
            .map(|q| Question {
                name: name_to_string(q.name()),
                qtype: RecordType::from_hickory(q.query_type()),
            }),
        edns_udp_size: msg.edns.as_ref().map(Edns::max_payload),
    })
}

/// The response to `query` from `zones`.
///
/// A query that is not even a DNS message (shorter than a header, or a
/// response) is an `Err`: drop it. One whose header reads but whose body
/// does not gets FORMERR; an opcode other than QUERY gets NOTIMP; a name in
/// none of `zones` gets REFUSED.
pub fn answer_query(
    query: &[u8],
    zones: &[Zone],
    options: &ServerOptions,
    transport: Transport,
) -> Result<Vec<u8>> {
    let msg = match decode_query(query) {
        Ok(msg) => msg,
        Err(Error::Invalid { at: Some(at), .. }) if at >= HEADER_LEN => {
            return formerr_from_header(query);
        }
        Err(e) => return Err(e),
    };
    let mut resp = response_skeleton(&msg, options);
    let limit = size_limit(&msg, transport);

    if msg.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return encode_within(resp, limit);
    }
    // RFC 6891 section 6.1.3: a version we do not implement gets BADVERS.
    if msg.edns.as_ref().is_some_and(|e| e.version() > 0) {
        resp.metadata.response_code = ResponseCode::BADVERS;
        return encode_within(resp, limit);
    }
    let Some(q) = single_question(&msg) else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return encode_within(resp, limit);
    };
    if q.query_class() != DNSClass::IN {
        resp.metadata.response_code = ResponseCode::Refused;
        return encode_within(resp, limit);
    }

    let zones = zones
        .iter()
        .map(LoadedZone::load)
        .collect::<Result<Vec<_>>>()?;
    let qname = q.name().clone();
    let Some(zone) = zone_for(&zones, &qname) else {
        resp.metadata.response_code = ResponseCode::Refused;
        resp.metadata.authoritative = false;
        return encode_within(resp, limit);
    };
    let qtype = q.query_type();

    // RFC 1034 section 4.3.2 step 3: at a CNAME, add it and restart with
    // the canonical name (unless the CNAME itself was asked for).
    let mut current = qname;
    let mut current_zone = zone;
    for _ in 0..MAX_CNAME_HOPS {
        let found: Vec<&hrr::Record> = current_zone
            .at(&current)
            .filter(|r| r.record_type() == qtype)
            .collect();
        if !found.is_empty() {
            resp.answers.extend(found.into_iter().cloned());
            break;
        }
        let cname = current_zone.at(&current).find_map(|r| match &r.data {
            RData::CNAME(c) if qtype != hrr::RecordType::CNAME => Some((r.clone(), c.0.clone())),
            _ => None,
        });
        let Some((record, target)) = cname else { break };
        resp.answers.push(record);
        current = target;
        match zone_for(&zones, &current) {
            Some(z) => current_zone = z,
            // Out of our zones: the client's resolver carries on from here.
            None => return encode_within(resp, limit),
        }
    }

    let answered = resp.answers.iter().any(|r| r.record_type() == qtype);
    if !answered {
        // RFC 2308 section 2.1 (NXDOMAIN) and 2.2 (NODATA): both carry the
        // SOA in the authority section; the name exists if it owns records
        // or has names below it (RFC 8020: an empty non-terminal exists).
        if !current_zone.exists(&current) {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        resp.authorities.push(current_zone.negative_soa());
    } else if options.additional_addresses && qtype == hrr::RecordType::SRV {
        // RFC 2782: "the Additional Data section ... will contain A records
        // for the targets", when the server has them.
        let targets: Vec<Name> = resp
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) if !s.target.is_root() => Some(s.target.clone()),
                _ => None,
            })
            .collect();
        for target in targets {
            if let Some(z) = zone_for(&zones, &target) {
                resp.additionals.extend(
                    z.at(&target)
                        .filter(|r| {
                            matches!(r.record_type(), hrr::RecordType::A | hrr::RecordType::AAAA)
                        })
                        .cloned(),
                );
            }
        }
    }
    encode_within(resp, limit)
}

/// A response carrying only `rcode` (and the question), for fault injection
/// in the mock: SERVFAIL, REFUSED, or any other code.
pub fn error_response(
    query: &[u8],
    rcode: Rcode,
    options: &ServerOptions,
    transport: Transport,
) -> Result<Vec<u8>> {
    let msg = decode_query(query)?;
    let mut resp = response_skeleton(&msg, options);
    resp.metadata.response_code = rcode.to_hickory();
    encode_within(resp, size_limit(&msg, transport))
}

fn decode_query(bytes: &[u8]) -> Result<Message> {
    let flags = bytes
        .get(2)
        .filter(|_| bytes.len() >= HEADER_LEN)
        .ok_or_else(|| Error::invalid_at(WHAT, bytes.len(), "shorter than the 12-byte header"))?;
    if flags & 0x80 != 0 {
        return Err(Error::invalid_at(
            WHAT,
            2,
            "QR is 1: a response, not a query",
        ));
    }
    let mut d = BinDecoder::new(bytes);
    Message::read(&mut d).map_err(|e| hickory_invalid(WHAT, Some(d.index().max(HEADER_LEN)), e))
}

fn single_question(msg: &Message) -> Option<&Query> {
    match msg.queries.as_slice() {
        [q] => Some(q),
        _ => None,
    }
}

/// RFC 1035 section 4.1.1: the id is copied, RD "is copied into the
/// response"; QR = 1; the question is repeated.
fn response_skeleton(query: &Message, options: &ServerOptions) -> Message {
    let mut resp = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.checking_disabled = query.metadata.checking_disabled;
    resp.metadata.authoritative = options.authoritative;
    resp.metadata.recursion_available = options.recursion_available;
    resp.add_queries(query.queries.iter().cloned());
    // RFC 6891 section 6.1.1: "If an OPT record is present in a received
    // request, compliant responders MUST include an OPT record in their
    // respective responses."
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(options.edns_udp_size);
        resp.set_edns(edns);
    }
    resp
}

/// RFC 6891 section 6.2.5: the requestor's payload size bounds the UDP
/// response, and "Values lower than 512 MUST be treated as equal to 512".
fn size_limit(query: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => TCP_LIMIT,
        Transport::Udp => query.edns.as_ref().map_or(UDP_PLAIN_LIMIT, |e| {
            usize::from(e.max_payload()).max(UDP_PLAIN_LIMIT)
        }),
    }
}

/// Encode, shedding what does not fit. RFC 2181 section 9: dropping
/// additional data does not set TC; TC is set when the answer or authority
/// sections cannot be sent whole, and then the client asks over TCP, so the
/// truncated message carries just the header, the question and the OPT.
fn encode_within(mut resp: Message, limit: usize) -> Result<Vec<u8>> {
    let encode = |m: &Message| {
        m.to_vec()
            .map_err(|e| hickory_invalid("DNS response", None, e))
    };
    let full = encode(&resp)?;
    if full.len() <= limit {
        return Ok(full);
    }
    resp.additionals.clear();
    let without_additional = encode(&resp)?;
    if without_additional.len() <= limit {
        return Ok(without_additional);
    }
    resp.answers.clear();
    resp.authorities.clear();
    resp.metadata.truncation = true;
    let cut = encode(&resp)?;
    if cut.len() > limit {
        return Err(Error::bad_value(
            "DNS response",
            "the question alone exceeds the size limit",
        ));
    }
    Ok(cut)
}

/// The FORMERR answer to a query whose header reads but whose body does
/// not: header only, id and opcode and RD copied (RFC 1035 section 4.1.1).
fn formerr_from_header(query: &[u8]) -> Result<Vec<u8>> {
    match query {
        [id0, id1, flags, ..] => {
            let flags = 0x80 | (flags & 0x79); // QR=1, opcode and RD kept
            Ok(vec![*id0, *id1, flags, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])
        }
        _ => Err(Error::invalid_at(
            WHAT,
            query.len(),
            "shorter than the 12-byte header",
        )),
    }
}

/// A zone with its records as hickory records, for one answer.
struct LoadedZone {
    apex: Name,
    soa: hrr::Record,
    records: Vec<hrr::Record>,
}

impl LoadedZone {
    fn load(zone: &Zone) -> Result<Self> {
        let soa = Record::new(
            zone.apex.clone(),
            zone.soa_ttl,
            RecordData::Soa(zone.soa.clone()),
        )
        .to_hickory()?;
        Ok(LoadedZone {
            apex: to_name(&zone.apex, "zone apex")?,
            soa,
            records: zone
                .records
                .iter()
                .map(Record::to_hickory)
                .collect::<Result<_>>()?,
        })
    }

    fn at<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a hrr::Record> {
        std::iter::once(&self.soa)
            .filter(move |r| r.name == *name)
            .chain(self.records.iter().filter(move |r| r.name == *name))
    }

    fn exists(&self, name: &Name) -> bool {
        *name == self.apex || self.records.iter().any(|r| name.zone_of(&r.name))
    }

    /// RFC 2308 section 3: the SOA of a negative answer carries
    /// min(SOA TTL, SOA MINIMUM) as its TTL.
    fn negative_soa(&self) -> hrr::Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(data) = &soa.data {
            soa.ttl = soa.ttl.min(data.minimum);
        }
        soa
    }
}

/// The most specific zone whose apex is `name` or an ancestor of it.
fn zone_for<'a>(zones: &'a [LoadedZone], name: &Name) -> Option<&'a LoadedZone> {
    zones
        .iter()
        .filter(|z| z.apex.zone_of(name))
        .max_by_key(|z| z.apex.num_labels())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::dns::{Outcome, QueryOptions, Service, Srv, build_query, parse_response};

    fn soa() -> Soa {
        Soa {
            mname: "dc01.contoso.com".into(),
            rname: "hostmaster.contoso.com".into(),
            serial: 2024010101,
            refresh: 900,
            retry: 600,
            expire: 86400,
            minimum: 300,
        }
    }

    fn zone() -> Zone {
        let srv = |prio, weight, target: &str| {
            Record::new(
                "_sipinternaltls._tcp.contoso.com",
                3600,
                RecordData::Srv(Srv {
                    priority: prio,
                    weight,
                    port: 5061,
                    target: target.into(),
                }),
            )
        };
        Zone::new("contoso.com", soa(), 3600)
            .with(srv(0, 50, "pool01.contoso.com"))
            .with(srv(0, 50, "pool02.contoso.com"))
            .with(Record::new(
                "pool01.contoso.com",
                300,
                RecordData::A(Ipv4Addr::new(192, 0, 2, 10)),
            ))
            .with(Record::new(
                "pool01.contoso.com",
                300,
                RecordData::Aaaa(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
            ))
            .with(Record::new(
                "pool02.contoso.com",
                300,
                RecordData::A(Ipv4Addr::new(192, 0, 2, 11)),
            ))
            .with(Record::new(
                "ucupdates-r2.contoso.com",
                600,
                RecordData::Cname("pool01.contoso.com".into()),
            ))
            .with(Record::new(
                "_sip._tls.contoso.com",
                3600,
                RecordData::Srv(Srv {
                    priority: 0,
                    weight: 0,
                    port: 0,
                    target: ".".into(),
                }),
            ))
    }

    fn ask(q: &Question, opts: &QueryOptions, transport: Transport) -> (Vec<u8>, Outcome) {
        let query = build_query(q, opts).unwrap();
        let bytes = answer_query(&query, &[zone()], &ServerOptions::default(), transport).unwrap();
        let outcome = parse_response(q, opts.id, &bytes).unwrap();
        (bytes, outcome)
    }

    /// RFC 1035 section 4.1.1: the server copies ID and RD, sets QR, AA and
    /// RA as it is; RFC 2782: SRV targets' addresses in the additional data.
    #[test]
    fn rfc1035_section_4_1_1_response_header_flags() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let (bytes, outcome) = ask(&q, &QueryOptions::recursive(0xA5A5), Transport::Udp);
        assert_eq!(&bytes[0..2], &[0xA5, 0xA5]);
        // QR=1 opcode=0 AA=1 TC=0 RD=1 | RA=1 Z=0 RCODE=0
        assert_eq!(bytes[2], 0b1000_0101);
        assert_eq!(bytes[3], 0b1000_0000);
        let Outcome::Answer(a) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(a.srv.len(), 2);
        assert_eq!(
            a.addresses_of("pool01.contoso.com"),
            vec![
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10))
            ]
        );
        assert_eq!(
            a.addresses_of("pool02.contoso.com"),
            vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11))]
        );

        let opts = ServerOptions {
            authoritative: false,
            recursion_available: false,
            ..ServerOptions::default()
        };
        let query = build_query(
            &q,
            &QueryOptions {
                recursion_desired: false,
                ..QueryOptions::recursive(1)
            },
        )
        .unwrap();
        let bytes = answer_query(&query, &[zone()], &opts, Transport::Udp).unwrap();
        assert_eq!(bytes[2], 0b1000_0000);
        assert_eq!(bytes[3], 0);
    }

    /// RFC 2308 section 2.1: "NXDOMAIN ... the authority section will
    /// contain an SOA record"; section 2.2 NODATA: NOERROR, empty answer,
    /// SOA in authority; section 3: its TTL is min(TTL, MINIMUM).
    #[test]
    fn rfc2308_nxdomain_and_nodata_carry_the_soa() {
        let q = Question::a("nosuch.contoso.com").unwrap();
        let (bytes, outcome) = ask(&q, &QueryOptions::recursive(2), Transport::Udp);
        assert_eq!(bytes[3] & 0x0F, 3, "RCODE NXDOMAIN");
        assert_eq!(
            outcome,
            Outcome::NxDomain {
                negative_ttl: Some(300)
            }
        );

        let q = Question::aaaa("pool02.contoso.com").unwrap();
        let (bytes, outcome) = ask(&q, &QueryOptions::recursive(3), Transport::Udp);
        assert_eq!(bytes[3] & 0x0F, 0, "RCODE NOERROR");
        assert_eq!(
            outcome,
            Outcome::NoData {
                aliases: vec![],
                negative_ttl: Some(300)
            }
        );

        // An empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN.
        let q = Question::a("_tcp.contoso.com").unwrap();
        let (_, outcome) = ask(&q, &QueryOptions::recursive(4), Transport::Udp);
        assert!(matches!(outcome, Outcome::NoData { .. }), "{outcome:?}");
    }

    #[test]
    fn names_outside_the_zones_are_refused() {
        let q = Question::a("pool01.fabrikam.com").unwrap();
        let (_, outcome) = ask(&q, &QueryOptions::recursive(5), Transport::Udp);
        assert_eq!(outcome, Outcome::Refused);
    }

    /// RFC 1034 section 4.3.2 step 3.a: the CNAME goes in the answer and
    /// the search restarts at the canonical name.
    #[test]
    fn rfc1034_section_4_3_2_cname_followed_by_the_server() {
        let q = Question::ucupdates("contoso.com").unwrap();
        let (_, outcome) = ask(&q, &QueryOptions::recursive(6), Transport::Udp);
        let Outcome::Answer(a) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(a.aliases, vec!["ucupdates-r2.contoso.com"]);
        assert_eq!(a.canonical_name, "pool01.contoso.com");
        assert_eq!(a.addresses, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]);
    }

    fn big_zone(n: u8) -> Zone {
        let mut z = Zone::new("contoso.com", soa(), 3600);
        for i in 0..n {
            z = z.with(Record::new(
                "_sipinternaltls._tcp.contoso.com",
                3600,
                RecordData::Srv(Srv {
                    priority: 0,
                    weight: 10,
                    port: 5061,
                    target: format!("frontend-server-{i:03}.pool01.contoso.com"),
                }),
            ));
        }
        z
    }

    /// RFC 1035 section 4.2.1: UDP messages are limited to 512 bytes, and
    /// RFC 6891 section 6.2.5 lets the client's OPT raise that limit; over
    /// the limit the server sets TC and the client retries over TCP.
    #[test]
    fn rfc6891_section_6_2_5_truncation_to_the_advertised_size() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let zones = [big_zone(20)];
        let srv_count = |bytes: &[u8]| u16::from_be_bytes([bytes[6], bytes[7]]);

        // Plain query: 512 bytes. Twenty ~60-byte SRV records do not fit.
        let plain = build_query(&q, &QueryOptions::recursive(1)).unwrap();
        let udp = answer_query(&plain, &zones, &ServerOptions::default(), Transport::Udp).unwrap();
        assert!(udp.len() <= 512);
        assert_eq!(udp[2] & 0x02, 0x02, "TC set");
        assert_eq!(srv_count(&udp), 0);
        assert_eq!(parse_response(&q, 1, &udp).unwrap(), Outcome::Truncated);

        // The same over TCP is whole.
        let tcp = answer_query(&plain, &zones, &ServerOptions::default(), Transport::Tcp).unwrap();
        assert!(tcp.len() > 512);
        assert_eq!(tcp[2] & 0x02, 0);
        assert_eq!(srv_count(&tcp), 20);

        // EDNS0 advertising 4096 bytes: whole over UDP, with an OPT back.
        let edns = QueryOptions {
            edns_udp_size: Some(4096),
            ..QueryOptions::recursive(1)
        };
        let big = build_query(&q, &edns).unwrap();
        let udp = answer_query(&big, &zones, &ServerOptions::default(), Transport::Udp).unwrap();
        assert_eq!(udp[2] & 0x02, 0);
        assert_eq!(srv_count(&udp), 20);
        assert_eq!(u16::from_be_bytes([udp[10], udp[11]]), 1, "the OPT record");
        let Outcome::Answer(a) = parse_response(&q, 1, &udp).unwrap() else {
            panic!()
        };
        assert_eq!(a.srv.len(), 20);

        // Advertising less than 512 counts as 512 ("Values lower than 512
        // MUST be treated as equal to 512").
        let mut tiny = build_query(
            &q,
            &QueryOptions {
                edns_udp_size: Some(512),
                ..QueryOptions::recursive(1)
            },
        )
        .unwrap();
        let n = tiny.len();
        tiny[n - 8..n - 6].copy_from_slice(&100u16.to_be_bytes()); // the OPT CLASS
        assert_eq!(parse_query(&tiny).unwrap().edns_udp_size, Some(512));
        let small_zone = [big_zone(3)];
        let udp = answer_query(
            &tiny,
            &small_zone,
            &ServerOptions::default(),
            Transport::Udp,
        )
        .unwrap();
        assert!(udp.len() > 100 && udp.len() <= 512);
        assert_eq!(udp[2] & 0x02, 0);
    }

    /// RFC 2181 section 9: "if [the] information [that did not fit] is
    /// not required to be in the answer ... the TC bit should not be set":
    /// additional addresses are shed first, silently.
    #[test]
    fn rfc2181_section_9_additional_data_dropped_without_tc() {
        let mut z = big_zone(6);
        for i in 0..6u8 {
            z = z.with(Record::new(
                format!("frontend-server-{i:03}.pool01.contoso.com"),
                300,
                RecordData::Aaaa(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i))),
            ));
        }
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let query = build_query(&q, &QueryOptions::recursive(1)).unwrap();
        let full = answer_query(
            &query,
            std::slice::from_ref(&z),
            &ServerOptions::default(),
            Transport::Tcp,
        )
        .unwrap();
        assert!(full.len() > 512, "{}", full.len());
        let udp = answer_query(&query, &[z], &ServerOptions::default(), Transport::Udp).unwrap();
        assert!(udp.len() <= 512);
        assert_eq!(udp[2] & 0x02, 0, "no TC");
        assert_eq!(u16::from_be_bytes([udp[6], udp[7]]), 6, "all answers");
        assert_eq!(u16::from_be_bytes([udp[10], udp[11]]), 0, "no additionals");
    }

    #[test]
    fn rfc2782_dot_target_is_served_as_is() {
        let q = Question::srv(Service::SipTls, "contoso.com").unwrap();
        let (_, outcome) = ask(&q, &QueryOptions::recursive(8), Transport::Udp);
        let Outcome::Answer(a) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(a.srv.len(), 1);
        assert!(a.srv[0].is_unavailable());
    }

    #[test]
    fn error_responses_for_fault_injection() {
        let q = Question::a("pool01.contoso.com").unwrap();
        let query = build_query(&q, &QueryOptions::recursive(11)).unwrap();
        for (rc, want) in [
            (Rcode::ServFail, Outcome::ServFail),
            (Rcode::Refused, Outcome::Refused),
        ] {
            let bytes =
                error_response(&query, rc, &ServerOptions::default(), Transport::Udp).unwrap();
            assert_eq!(parse_response(&q, 11, &bytes).unwrap(), want);
        }
    }

    #[test]
    fn malformed_queries() {
        // Too short: nothing to answer.
        assert!(
            answer_query(
                &[0; 11],
                &[zone()],
                &ServerOptions::default(),
                Transport::Udp
            )
            .is_err()
        );
        // A header claiming a question that is not there: FORMERR.
        let bytes = [0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'c'];
        let resp =
            answer_query(&bytes, &[zone()], &ServerOptions::default(), Transport::Udp).unwrap();
        assert_eq!(resp, vec![0x12, 0x34, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        // A response is not answered.
        let q = Question::a("pool01.contoso.com").unwrap();
        let mut query = build_query(&q, &QueryOptions::recursive(1)).unwrap();
        query[2] |= 0x80;
        assert!(
            answer_query(&query, &[zone()], &ServerOptions::default(), Transport::Udp).is_err()
        );
    }

    #[test]
    fn parse_query_reports_the_question() {
        let q = Question::srv(Service::Ntp, "contoso.com").unwrap();
        let opts = QueryOptions {
            edns_udp_size: Some(1400),
            ..QueryOptions::recursive(0x0102)
        };
        let parsed = parse_query(&build_query(&q, &opts).unwrap()).unwrap();
        assert_eq!(
            parsed,
            ParsedQuery {
                id: 0x0102,
                recursion_desired: true,
                question: Some(q),
                edns_udp_size: Some(1400)
            }
        );
    }

    /// RFC 1035 section 3.2.4: IN is class 1, CH class 3. A question of
    /// another class is not one a phone asks ([`Question`] is always IN),
    /// so it is not reported as one; the mock refuses it.
    #[test]
    fn rfc1035_section_3_2_4_only_class_in_is_a_question() {
        let q = Question::a("pool01.contoso.com").unwrap();
        let mut bytes = build_query(&q, &QueryOptions::recursive(9)).unwrap();
        // QCLASS is the last two bytes of a query without EDNS.
        let at = bytes.len() - 2;
        bytes[at..].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(parse_query(&bytes).unwrap().question, None);
        let answer = answer_query(&bytes, &[zone()], &ServerOptions::default(), Transport::Udp);
        assert_eq!(answer.unwrap()[3] & 0x0F, 5, "REFUSED");
    }
}
