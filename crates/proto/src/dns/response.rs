//! Reading a DNS response into what a phone acts on.
//!
//! This file owns the checks that a datagram really answers our query (id,
//! QR, opcode, question: RFC 5452 section 9.1 minus the addresses and ports,
//! which the caller checks on its socket), the distinct outcomes a resolver
//! must tell apart (records, NODATA, NXDOMAIN, SERVFAIL, REFUSED, truncated),
//! and following CNAME chains within the answer section. It does not own
//! retrying over TCP, caching, or asking again for SRV targets' addresses.

use std::net::IpAddr;

use hickory_proto::op::{Header, Message, Query};
use hickory_proto::rr::{self as hrr, DNSClass, Name, RData};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{Question, Rcode, Record, RecordData, Srv, hickory_invalid, name_to_string, to_name};
use crate::{Error, Result};

const WHAT: &str = "DNS response";
const HEADER_LEN: usize = 12;

/// What a response says, once it is known to be ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// NOERROR with records of the asked type (after following CNAMEs).
    Answer(Answer),
    /// NOERROR, but no record of the asked type: the name exists (RFC 2308
    /// section 2.2 "NODATA").
    NoData {
        /// CNAMEs followed before finding nothing, starting with the query name.
        aliases: Vec<String>,
        /// How long the absence may be cached (RFC 2308 section 5), when the
        /// authority section carried an SOA.
        negative_ttl: Option<u32>,
    },
    /// RCODE 3: the name does not exist.
    NxDomain {
        /// How long the absence may be cached (RFC 2308 section 5), when the
        /// authority section carried an SOA.
        negative_ttl: Option<u32>,
    },
    /// RCODE 2: the server failed; try another server.
    ServFail,
    /// RCODE 5: the server refuses to answer this client or this name.
    Refused,
    /// Any other non-zero RCODE (FORMERR, NOTIMP, extended codes).
    OtherError(Rcode),
    /// TC was set: the answer did not fit; ask again over TCP (RFC 1035
    /// section 4.2.1, RFC 7766 section 5).
    Truncated,
    /// Not the answer to our query: drop it and keep waiting (a late answer
    /// to an earlier query, or a spoofing attempt).
    Mismatch(Mismatch),
}

/// Why a datagram is not the answer to our query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// QR is 0: it is a query, not a response.
    NotAResponse,
    /// The message id differs from ours.
    Id {
        /// The id we sent.
        expected: u16,
        /// The id that came back.
        got: u16,
    },
    /// The opcode is not QUERY (0).
    Opcode(u8),
    /// The question section is not the one question we asked.
    Question {
        /// What the response carried, for the log.
        got: String,
    },
}

/// The records of a NOERROR answer, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The name the records belong to: the query name, or the end of the
    /// CNAME chain.
    pub canonical_name: String,
    /// The CNAME owners followed, in order, starting with the query name;
    /// empty when there was no CNAME.
    pub aliases: Vec<String>,
    /// AA: the server is an authority for the name.
    pub authoritative: bool,
    /// The smallest TTL among the CNAMEs followed and the records returned.
    pub ttl: u32,
    /// SRV records of the canonical name (for an SRV question), in the order
    /// received; order them with [`super::order_srv`].
    pub srv: Vec<Srv>,
    /// A or AAAA addresses of the canonical name (for an A / AAAA question).
    pub addresses: Vec<IpAddr>,
    /// A and AAAA records of other names, from the answer and additional
    /// sections: the SRV targets' addresses a server volunteered (RFC 2782
    /// "additional data" section).
    pub extra_addresses: Vec<(String, IpAddr)>,
}

impl Answer {
    /// Every address this answer carries for `host` (compared without case).
    pub fn addresses_of(&self, host: &str) -> Vec<IpAddr> {
        let mut out = Vec::new();
        if super::names_equal(host, &self.canonical_name) {
            out.extend(self.addresses.iter().copied());
        }
        out.extend(
            self.extra_addresses
                .iter()
                .filter(|(name, _)| super::names_equal(host, name))
                .map(|(_, a)| *a),
        );
        out
    }
}

/// Read `bytes` as the response to `question` sent with message id `id`.
///
/// Returns `Err` only when the bytes are not a DNS message; everything a
/// well-formed message can say, including "this is not for you", is an
/// [`Outcome`]. The question check is strict: an error response that omits
/// the question (some servers' FORMERR) reads as [`Mismatch::Question`],
/// since nothing then ties it to our query but the 16-bit id.
pub fn parse_response(question: &Question, id: u16, bytes: &[u8]) -> Result<Outcome> {
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| Error::invalid_at(WHAT, bytes.len(), "shorter than the 12-byte header"))?;
    let (got_id, flags) = match header {
        [a, b, f, ..] => (u16::from_be_bytes([*a, *b]), *f),
        _ => {
            return Err(Error::invalid_at(
                WHAT,
                0,
                "shorter than the 12-byte header",
            ));
        }
    };
    // RFC 1035 section 4.1.1: QR (bit 7 of byte 2), Opcode (bits 6..3), TC (bit 1).
    if flags & 0x80 == 0 {
        return Ok(Outcome::Mismatch(Mismatch::NotAResponse));
    }
    if got_id != id {
        return Ok(Outcome::Mismatch(Mismatch::Id {
            expected: id,
            got: got_id,
        }));
    }
    let opcode = (flags >> 3) & 0x0F;
    if opcode != 0 {
        return Ok(Outcome::Mismatch(Mismatch::Opcode(opcode)));
    }
    let truncated = flags & 0x02 != 0;
    let qname = to_name(&question.name, "question name")?;
    let qtype = question.qtype.to_hickory();

    let mut decoder = BinDecoder::new(bytes);
    let msg = match Message::read(&mut decoder) {
        Ok(msg) => msg,
        Err(e) if truncated => {
            // A truncated answer may be cut anywhere after the question;
            // the question alone is enough to know it is ours.
            return question_only(bytes, &qname, qtype)
                .map(|m| match m {
                    Some(m) => Outcome::Mismatch(m),
                    None => Outcome::Truncated,
                })
                .map_err(|_| hickory_invalid(WHAT, Some(decoder.index()), e));
        }
        Err(e) => return Err(hickory_invalid(WHAT, Some(decoder.index()), e)),
    };

    if let Some(m) = question_mismatch(&msg.queries, &qname, qtype) {
        return Ok(Outcome::Mismatch(m));
    }
    if msg.metadata.truncation {
        return Ok(Outcome::Truncated);
    }
    let negative_ttl = || negative_ttl(&msg.authorities);
    match Rcode::from_code(u16::from(msg.metadata.response_code)) {
        Rcode::NoError => {}
        Rcode::NxDomain => {
            return Ok(Outcome::NxDomain {
                negative_ttl: negative_ttl(),
            });
        }
        Rcode::ServFail => return Ok(Outcome::ServFail),
        Rcode::Refused => return Ok(Outcome::Refused),
        other => return Ok(Outcome::OtherError(other)),
    }

    // Follow the CNAME chain within the answer section (RFC 1034 section
    // 3.6.2: the server puts the CNAME and then the target's records). One
    // step per answer record at most, so a loop cannot spin.
    let mut current = qname;
    let mut aliases = Vec::new();
    let mut ttl = u32::MAX;
    if qtype != hrr::RecordType::CNAME {
        for _ in 0..msg.answers.len() {
            let next = msg.answers.iter().find_map(|r| match &r.data {
                RData::CNAME(c) if r.dns_class == DNSClass::IN && r.name == current => {
                    Some((c.0.clone(), r.ttl))
                }
                _ => None,
            });
            let Some((target, cname_ttl)) = next else {
                break;
            };
            aliases.push(name_to_string(&current));
            ttl = ttl.min(cname_ttl);
            current = target;
        }
    }

    let mut srv = Vec::new();
    let mut addresses = Vec::new();
    let mut extra_addresses = Vec::new();
    let mut matched = 0usize;
    for r in &msg.answers {
        let ours = r.name == current && r.record_type() == qtype && r.dns_class == DNSClass::IN;
        if ours {
            matched += 1;
            ttl = ttl.min(r.ttl);
        }
        match Record::from_hickory(r).map(|rec| (rec.name, rec.data)) {
            Some((_, RecordData::Srv(s))) if ours => srv.push(s),
            Some((_, RecordData::A(a))) if ours => addresses.push(IpAddr::V4(a)),
            Some((_, RecordData::Aaaa(a))) if ours => addresses.push(IpAddr::V6(a)),
            Some((name, RecordData::A(a))) => extra_addresses.push((name, IpAddr::V4(a))),
            Some((name, RecordData::Aaaa(a))) => extra_addresses.push((name, IpAddr::V6(a))),
            _ => {}
        }
    }
    for r in &msg.additionals {
        match Record::from_hickory(r).map(|rec| (rec.name, rec.data)) {
            Some((name, RecordData::A(a))) => extra_addresses.push((name, IpAddr::V4(a))),
            Some((name, RecordData::Aaaa(a))) => extra_addresses.push((name, IpAddr::V6(a))),
            _ => {}
        }
    }
    if matched == 0 {
        return Ok(Outcome::NoData {
            aliases,
            negative_ttl: negative_ttl(),
        });
    }
    Ok(Outcome::Answer(Answer {
        canonical_name: name_to_string(&current),
        aliases,
        authoritative: msg.metadata.authoritative,
        ttl,
        srv,
        addresses,
        extra_addresses,
    }))
}

/// RFC 5452 section 9.1: the response must carry the question we asked.
fn question_mismatch(queries: &[Query], qname: &Name, qtype: hrr::RecordType) -> Option<Mismatch> {
    match queries {
        [q] if q.name() == qname && q.query_type() == qtype && q.query_class() == DNSClass::IN => {
            None
        }
        [q] => Some(Mismatch::Question {
            got: format!(
                "{} {} {}",
                name_to_string(q.name()),
                q.query_class(),
                q.query_type()
            ),
        }),
        qs => Some(Mismatch::Question {
            got: format!("{} questions", qs.len()),
        }),
    }
}

/// Decode the header and question only; `Ok(None)` when they match.
fn question_only(bytes: &[u8], qname: &Name, qtype: hrr::RecordType) -> Result<Option<Mismatch>> {
    let mut d = BinDecoder::new(bytes);
    let header = Header::read(&mut d).map_err(|e| hickory_invalid(WHAT, Some(d.index()), e))?;
    let mut queries = Vec::new();
    for _ in 0..header.counts.queries.min(2) {
        queries.push(Query::read(&mut d).map_err(|e| hickory_invalid(WHAT, Some(d.index()), e))?);
    }
    if header.counts.queries > 2 {
        return Ok(Some(Mismatch::Question {
            got: format!("{} questions", header.counts.queries),
        }));
    }
    Ok(question_mismatch(&queries, qname, qtype))
}

/// RFC 2308 section 5: a negative answer may be cached for "the minimum of
/// the MINIMUM field of the SOA record and the TTL of the SOA itself".
fn negative_ttl(authorities: &[hrr::Record]) -> Option<u32> {
    authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::dns::{QueryOptions, Service, Soa, build_query};
    use hickory_proto::op::{Edns, MessageType, OpCode, ResponseCode};

    fn name(s: &str) -> Name {
        to_name(s, "test").unwrap()
    }

    /// Push a name as RFC 1035 section 3.1 labels: length octet, bytes, and
    /// a zero octet for the root.
    fn push_name(out: &mut Vec<u8>, name: &str) {
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }

    /// An SRV answer written byte by byte from RFC 1035 section 4.1 (header,
    /// question, resource records) and RFC 2782's RDATA (priority, weight,
    /// port, target), with a compression pointer (section 4.1.4) for the
    /// answer's owner and an A record for the target in the additional
    /// section. No hickory encoder involved.
    fn hand_written_srv_answer(id: u16) -> Vec<u8> {
        let mut m = vec![];
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0x85, 0x80]); // QR=1 opcode=0 AA=1 TC=0 RD=1 | RA=1 Z=0 RCODE=0
        m.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 1]); // QD=1 AN=2 NS=0 AR=1
        // Question at offset 12.
        push_name(&mut m, "_sipinternaltls._tcp.contoso.com");
        m.extend_from_slice(&[0, 33, 0, 1]); // SRV, IN
        for (prio, weight, port, target) in [
            (0u16, 60u16, 5061u16, "pool01.contoso.com"),
            (10, 0, 5061, "pool02.contoso.com"),
        ] {
            m.extend_from_slice(&[0xC0, 12]); // pointer to the question name
            m.extend_from_slice(&[0, 33, 0, 1]); // TYPE SRV, CLASS IN
            m.extend_from_slice(&3600u32.to_be_bytes()); // TTL
            let mut rdata = vec![];
            rdata.extend_from_slice(&prio.to_be_bytes());
            rdata.extend_from_slice(&weight.to_be_bytes());
            rdata.extend_from_slice(&port.to_be_bytes());
            push_name(&mut rdata, target); // RFC 2782: target not compressed
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(&rdata);
        }
        push_name(&mut m, "pool01.contoso.com");
        m.extend_from_slice(&[0, 1, 0, 1]); // A, IN
        m.extend_from_slice(&300u32.to_be_bytes());
        m.extend_from_slice(&[0, 4, 192, 0, 2, 10]);
        m
    }

    /// RFC 2782 (the RR format: "Priority", "Weight", "Port", "Target", in
    /// network byte order) read from bytes built by hand per RFC 1035
    /// section 4.1.3.
    #[test]
    fn rfc2782_rr_format_hand_written_srv_answer() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let bytes = hand_written_srv_answer(0x1234);
        let Outcome::Answer(a) = parse_response(&q, 0x1234, &bytes).unwrap() else {
            panic!("not an answer")
        };
        assert!(a.authoritative);
        assert_eq!(a.canonical_name, "_sipinternaltls._tcp.contoso.com");
        assert_eq!(a.ttl, 3600);
        assert_eq!(
            a.srv,
            vec![
                Srv {
                    priority: 0,
                    weight: 60,
                    port: 5061,
                    target: "pool01.contoso.com".into()
                },
                Srv {
                    priority: 10,
                    weight: 0,
                    port: 5061,
                    target: "pool02.contoso.com".into()
                },
            ]
        );
        assert_eq!(
            a.addresses_of("POOL01.contoso.com."),
            vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]
        );
        assert!(a.addresses_of("pool02.contoso.com").is_empty());
    }

    /// RFC 5452 section 9.1: accept a response only if it matches "the
    /// question section", and the ID field.
    #[test]
    fn rfc5452_section_9_1_id_and_question_must_match() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let bytes = hand_written_srv_answer(0x1234);
        assert_eq!(
            parse_response(&q, 0x4321, &bytes).unwrap(),
            Outcome::Mismatch(Mismatch::Id {
                expected: 0x4321,
                got: 0x1234
            })
        );
        let other = Question::srv(Service::SipInternal, "contoso.com").unwrap();
        assert!(matches!(
            parse_response(&other, 0x1234, &bytes).unwrap(),
            Outcome::Mismatch(Mismatch::Question { .. })
        ));
        let other_type = Question::a("_sipinternaltls._tcp.contoso.com").unwrap();
        assert!(matches!(
            parse_response(&other_type, 0x1234, &bytes).unwrap(),
            Outcome::Mismatch(Mismatch::Question { .. })
        ));
        // Case differs: still the same name (RFC 1035 section 2.3.3).
        let upper = Question::srv(Service::SipInternalTls, "CONTOSO.COM").unwrap();
        assert!(matches!(
            parse_response(&upper, 0x1234, &bytes).unwrap(),
            Outcome::Answer(_)
        ));
        // Our own query echoed back is not a response.
        let query = build_query(&q, &QueryOptions::recursive(0x1234)).unwrap();
        assert_eq!(
            parse_response(&q, 0x1234, &query).unwrap(),
            Outcome::Mismatch(Mismatch::NotAResponse)
        );
    }

    fn response_to(q: &Question, id: u16) -> Message {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.add_query(Query::query(name(&q.name), q.qtype.to_hickory()));
        m
    }

    fn soa_record(ttl: u32, minimum: u32) -> hrr::Record {
        Record::new(
            "contoso.com",
            ttl,
            RecordData::Soa(Soa {
                mname: "ns1.contoso.com".into(),
                rname: "hostmaster.contoso.com".into(),
                serial: 1,
                refresh: 3600,
                retry: 600,
                expire: 86400,
                minimum,
            }),
        )
        .to_hickory()
        .unwrap()
    }

    /// RFC 1035 section 4.1.1 RCODE values 2 (server failure), 3 (name
    /// error), 5 (refused) are distinct outcomes; RFC 2308 section 5 gives
    /// the negative TTL from the SOA.
    #[test]
    fn rfc1035_section_4_1_1_rcodes_are_distinct_outcomes() {
        let q = Question::a("ucupdates-r2.contoso.com").unwrap();
        let mut m = response_to(&q, 5);
        m.metadata.response_code = ResponseCode::NXDomain;
        m.add_authority(soa_record(900, 300));
        assert_eq!(
            parse_response(&q, 5, &m.to_vec().unwrap()).unwrap(),
            Outcome::NxDomain {
                negative_ttl: Some(300)
            }
        );
        for (rc, want) in [
            (ResponseCode::ServFail, Outcome::ServFail),
            (ResponseCode::Refused, Outcome::Refused),
            (ResponseCode::FormErr, Outcome::OtherError(Rcode::FormErr)),
            (ResponseCode::NotImp, Outcome::OtherError(Rcode::NotImp)),
        ] {
            let mut m = response_to(&q, 5);
            m.metadata.response_code = rc;
            assert_eq!(parse_response(&q, 5, &m.to_vec().unwrap()).unwrap(), want);
        }
        // NOERROR with nothing of the type: NODATA, not NXDOMAIN.
        let mut m = response_to(&q, 5);
        m.add_authority(soa_record(60, 300));
        assert_eq!(
            parse_response(&q, 5, &m.to_vec().unwrap()).unwrap(),
            Outcome::NoData {
                aliases: vec![],
                negative_ttl: Some(60)
            }
        );
    }

    /// RFC 1035 section 4.1.1: "TC - TrunCation - specifies that this
    /// message was truncated due to length greater than that permitted on
    /// the transmission channel." Even a message cut mid-record is read as
    /// Truncated once its question is known to be ours.
    #[test]
    fn rfc1035_section_4_1_1_tc_bit_means_retry_over_tcp() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let mut bytes = hand_written_srv_answer(77);
        bytes[2] |= 0x02;
        assert_eq!(parse_response(&q, 77, &bytes).unwrap(), Outcome::Truncated);
        bytes.truncate(60); // cut inside the first answer
        assert_eq!(parse_response(&q, 77, &bytes).unwrap(), Outcome::Truncated);
        let other = Question::srv(Service::SipTls, "contoso.com").unwrap();
        assert!(matches!(
            parse_response(&other, 77, &bytes).unwrap(),
            Outcome::Mismatch(_)
        ));
        // Without TC, the same cut is an error that says where.
        bytes[2] &= !0x02;
        let err = parse_response(&q, 77, &bytes).unwrap_err();
        assert!(matches!(err, Error::Invalid { at: Some(_), .. }), "{err:?}");
    }

    /// RFC 1034 section 3.6.2: a CNAME in the answer is followed to the
    /// records of the canonical name.
    #[test]
    fn rfc1034_section_3_6_2_cname_chain_followed() {
        let q = Question::a("ucupdates-r2.contoso.com").unwrap();
        let mut m = response_to(&q, 9);
        let recs = [
            Record::new(
                "ucupdates-r2.contoso.com",
                600,
                RecordData::Cname("web.contoso.com".into()),
            ),
            Record::new(
                "web.contoso.com",
                120,
                RecordData::Cname("pool01.contoso.com".into()),
            ),
            Record::new(
                "pool01.contoso.com",
                300,
                RecordData::A(Ipv4Addr::new(192, 0, 2, 10)),
            ),
            Record::new(
                "pool01.contoso.com",
                300,
                RecordData::Aaaa(Ipv6Addr::LOCALHOST),
            ),
            Record::new(
                "pool01.contoso.com",
                300,
                RecordData::A(Ipv4Addr::new(192, 0, 2, 11)),
            ),
        ];
        for r in &recs {
            m.add_answer(r.to_hickory().unwrap());
        }
        let Outcome::Answer(a) = parse_response(&q, 9, &m.to_vec().unwrap()).unwrap() else {
            panic!("not an answer")
        };
        assert_eq!(a.canonical_name, "pool01.contoso.com");
        assert_eq!(
            a.aliases,
            vec!["ucupdates-r2.contoso.com", "web.contoso.com"]
        );
        assert_eq!(a.ttl, 120);
        assert_eq!(
            a.addresses,
            vec![
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11))
            ]
        );
        // A CNAME loop ends without spinning, as NODATA.
        let mut m = response_to(&q, 9);
        m.add_answer(
            Record::new(
                "ucupdates-r2.contoso.com",
                1,
                RecordData::Cname("x.contoso.com".into()),
            )
            .to_hickory()
            .unwrap(),
        );
        m.add_answer(
            Record::new(
                "x.contoso.com",
                1,
                RecordData::Cname("ucupdates-r2.contoso.com".into()),
            )
            .to_hickory()
            .unwrap(),
        );
        assert!(matches!(
            parse_response(&q, 9, &m.to_vec().unwrap()).unwrap(),
            Outcome::NoData { .. }
        ));
    }

    /// RFC 6891 section 6.1.3: the extended RCODE's upper 8 bits ride in
    /// the OPT TTL; an unknown extended code is still an error outcome.
    #[test]
    fn rfc6891_section_6_1_3_extended_rcode() {
        let q = Question::a("pool01.contoso.com").unwrap();
        let mut m = response_to(&q, 3);
        m.metadata.response_code = ResponseCode::BADVERS;
        let mut edns = Edns::new();
        edns.set_rcode_high(ResponseCode::BADVERS.high());
        m.set_edns(edns);
        assert_eq!(
            parse_response(&q, 3, &m.to_vec().unwrap()).unwrap(),
            Outcome::OtherError(Rcode::Other(16))
        );
    }

    #[test]
    fn short_input_says_where() {
        let q = Question::a("pool01.contoso.com").unwrap();
        assert_eq!(
            parse_response(&q, 1, &[0; 5]).unwrap_err(),
            Error::invalid_at(WHAT, 5, "shorter than the 12-byte header")
        );
    }
}
