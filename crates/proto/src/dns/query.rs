//! The queries a phone sends: one question, the id and RD flag the caller
//! chose, and optionally an EDNS0 OPT record advertising a UDP payload size.
//!
//! This file owns building query bytes. It does not pick the id (the caller
//! draws it at random, RFC 5452 section 9.2), nor send, nor retry.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};

use super::{RecordType, Service, hickory_invalid, normalize_name, to_name, ucupdates_host};
use crate::Result;

/// One question (RFC 1035 section 4.1.2), always of class IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name asked about, presentation format without trailing dot.
    pub name: String,
    /// The type asked for.
    pub qtype: RecordType,
}

impl Question {
    /// A question for `name` of type `qtype`; the name is checked.
    pub fn new(name: &str, qtype: RecordType) -> Result<Self> {
        Ok(Question {
            name: normalize_name(name, "question name")?,
            qtype,
        })
    }

    /// SRV for a service of a domain, e.g. `_sipinternaltls._tcp.contoso.com`.
    pub fn srv(service: Service, domain: &str) -> Result<Self> {
        Ok(Question {
            name: service.owner(domain)?,
            qtype: RecordType::Srv,
        })
    }

    /// A (IPv4) for a host.
    pub fn a(host: &str) -> Result<Self> {
        Self::new(host, RecordType::A)
    }

    /// AAAA (IPv6) for a host.
    pub fn aaaa(host: &str) -> Result<Self> {
        Self::new(host, RecordType::Aaaa)
    }

    /// A for the Device Update Web service host `ucupdates-r2.<domain>`
    /// (see [`ucupdates_host`] for which domain).
    pub fn ucupdates(domain: &str) -> Result<Self> {
        Ok(Question {
            name: ucupdates_host(domain)?,
            qtype: RecordType::A,
        })
    }
}

/// The header choices of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryOptions {
    /// The message id; the answer must carry the same (RFC 1035 section
    /// 4.1.1). Draw it at random for each query.
    pub id: u16,
    /// RD: ask the server to recurse. A phone asks its resolver, so `true`.
    pub recursion_desired: bool,
    /// Add an EDNS0 OPT record advertising this UDP payload size (RFC 6891
    /// section 6.2.3); `None` sends a plain RFC 1035 query (512-byte limit).
    pub edns_udp_size: Option<u16>,
}

impl QueryOptions {
    /// A plain recursive query with this id, no EDNS.
    pub fn recursive(id: u16) -> Self {
        QueryOptions {
            id,
            recursion_desired: true,
            edns_udp_size: None,
        }
    }
}

/// Encode a standard query (opcode QUERY, QR = 0) for one question.
pub fn build_query(question: &Question, options: &QueryOptions) -> Result<Vec<u8>> {
    let name = to_name(&question.name, "question name")?;
    let mut msg = Message::new(options.id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = options.recursion_desired;
    msg.add_query(Query::query(name, question.qtype.to_hickory()));
    if let Some(size) = options.edns_udp_size {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        msg.set_edns(edns);
    }
    msg.to_vec()
        .map_err(|e| hickory_invalid("DNS query", None, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1035 section 4.1.1, header layout: ID (16 bits), then
    /// QR | Opcode(4) | AA | TC | RD | RA | Z(3) | RCODE(4), then QDCOUNT,
    /// ANCOUNT, NSCOUNT, ARCOUNT. "RD: Recursion Desired - this bit may be
    /// set in a query and is copied into the response."
    #[test]
    fn rfc1035_section_4_1_1_query_header_flags() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let bytes = build_query(&q, &QueryOptions::recursive(0xBEEF)).unwrap();
        assert_eq!(&bytes[0..2], &[0xBE, 0xEF], "ID");
        // QR=0 opcode=0 AA=0 TC=0 RD=1 | RA=0 Z=0 RCODE=0
        assert_eq!(bytes[2], 0b0000_0001);
        assert_eq!(bytes[3], 0);
        assert_eq!(&bytes[4..12], &[0, 1, 0, 0, 0, 0, 0, 0], "QD=1, AN=NS=AR=0");

        let no_rd = QueryOptions {
            recursion_desired: false,
            ..QueryOptions::recursive(7)
        };
        let bytes = build_query(&q, &no_rd).unwrap();
        assert_eq!(bytes[2], 0);
    }

    /// RFC 1035 section 4.1.2: QNAME as labels, then QTYPE and QCLASS;
    /// RFC 2782: SRV is type 33.
    #[test]
    fn rfc1035_section_4_1_2_srv_question_bytes() {
        let q = Question::srv(Service::SipInternalTls, "contoso.com").unwrap();
        let bytes = build_query(&q, &QueryOptions::recursive(1)).unwrap();
        let mut want = vec![];
        for label in ["_sipinternaltls", "_tcp", "contoso", "com"] {
            want.push(label.len() as u8);
            want.extend_from_slice(label.as_bytes());
        }
        want.push(0);
        want.extend_from_slice(&[0, 33, 0, 1]); // QTYPE SRV, QCLASS IN
        assert_eq!(&bytes[12..], &want[..]);
    }

    #[test]
    fn service_and_host_questions() {
        assert_eq!(
            Question::srv(Service::Ntp, "contoso.com").unwrap().name,
            "_ntp._udp.contoso.com"
        );
        assert_eq!(
            Question::srv(Service::SipTls, "contoso.com").unwrap().name,
            "_sip._tls.contoso.com"
        );
        assert_eq!(
            Question::srv(Service::SipInternal, "contoso.com")
                .unwrap()
                .name,
            "_sipinternal._tcp.contoso.com"
        );
        let a = Question::a("pool01.contoso.com").unwrap();
        assert_eq!(a.qtype, RecordType::A);
        let aaaa = Question::aaaa("pool01.contoso.com").unwrap();
        let bytes = build_query(&aaaa, &QueryOptions::recursive(1)).unwrap();
        assert_eq!(
            &bytes[bytes.len() - 4..],
            &[0, 28, 0, 1],
            "AAAA is type 28 (RFC 3596)"
        );
        let u = Question::ucupdates("contoso.com").unwrap();
        assert_eq!(u.name, "ucupdates-r2.contoso.com");
        assert_eq!(u.qtype, RecordType::A);
    }

    /// RFC 6891 section 6.1.2/6.2.3: the OPT RR's CLASS carries the
    /// requestor's UDP payload size; the OPT goes in the additional section.
    #[test]
    fn rfc6891_section_6_1_2_query_advertises_udp_size() {
        let q = Question::a("pool01.contoso.com").unwrap();
        let opts = QueryOptions {
            edns_udp_size: Some(1232),
            ..QueryOptions::recursive(9)
        };
        let bytes = build_query(&q, &opts).unwrap();
        assert_eq!(&bytes[10..12], &[0, 1], "ARCOUNT = 1");
        // The OPT RR: root name, TYPE 41, CLASS = 1232, TTL 0, RDLEN 0.
        let opt = &bytes[bytes.len() - 11..];
        assert_eq!(opt, &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    }
}
