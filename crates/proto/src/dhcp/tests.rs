//! Tests of the DHCP message rules (RFC 2131, RFC 1542, RFC 3396) and of the
//! settings read from an ACK. Option 120 and 43 codecs test themselves.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

const MAC: [u8; 6] = [0x00, 0x04, 0xF2, 0x12, 0x34, 0x56];
const RELAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn wire(m: &Message) -> Message {
    decode(&encode(m).unwrap()).unwrap()
}

fn prl(m: &Message) -> Vec<u8> {
    match m.opts().get(OptionCode::ParameterRequestList) {
        Some(DhcpOption::ParameterRequestList(l)) => l.iter().map(|&c| u8::from(c)).collect(),
        _ => vec![],
    }
}

/// RFC 2131 section 4.4.1 and table 5: DHCPDISCOVER has `ciaddr` 0, MUST
/// NOT carry a server identifier; PROTOCOL.md: the phone sends option 60
/// and asks in option 55 for 1, 3, 6, 15, 42, 43, 120 (plus 4 and 119).
#[test]
fn rfc2131_section_4_4_1_discover() {
    let bytes = encode(&Client::new(MAC, 0x1234_5678).discover().unwrap()).unwrap();
    assert!(bytes.len() >= 300, "RFC 1542 section 2.1 minimum size");
    assert_eq!(&bytes[236..240], &[99, 130, 83, 99], "magic cookie");
    assert_eq!(&bytes[..4], &[1, 1, 6, 0], "op, htype, hlen, hops");
    assert_eq!(&bytes[4..8], &[0x12, 0x34, 0x56, 0x78], "xid as given");
    let m = decode(&bytes).unwrap();
    assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.chaddr(), MAC);
    assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
    for code in [1, 3, 4, 6, 15, 42, 43, 119, 120] {
        assert!(prl(&m).contains(&code), "option 55 asks for {code}");
    }
    assert_eq!(raw_option(&m, 60), Some(&b"MS-UC-Client"[..]));
    // RFC 2132 section 9.14: hardware type 1 then the Ethernet address.
    let mut id = vec![1];
    id.extend(MAC);
    assert_eq!(raw_option(&m, 61), Some(&id[..]));
}

/// Microsoft: "The IP phone makes two DHCP option 43 requests: a VLAN ID
/// request (vendor class ID: CPE-OCPHONE) and a certificate provisioning
/// service URL request (vendor class ID: MS-UC-Client)."
#[test]
fn ms_vlan_discovery_uses_cpe_ocphone() {
    let m = wire(&Client::new(MAC, 1).vlan_discover().unwrap());
    assert_eq!(raw_option(&m, 60), Some(&b"CPE-OCPHONE"[..]));
    assert!(prl(&m).contains(&43));
}

/// RFC 2131 section 4.3.2 and table 5: a REQUEST in SELECTING state carries
/// the requested address (50) and the chosen server (54), `ciaddr` 0; in
/// INIT-REBOOT it carries 50 but MUST NOT carry 54.
#[test]
fn rfc2131_section_4_3_2_request_states() {
    let c = Client::new(MAC, 7);
    let want = Ipv4Addr::new(198, 18, 0, 50);
    let sel = wire(&c.request_selecting(want, SERVER).unwrap());
    let r = Request::from_message(&sel).unwrap();
    assert_eq!(
        (r.kind, r.requested, r.server_id),
        (MessageType::Request, Some(want), Some(SERVER))
    );
    assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
    let reboot = wire(&c.request_init_reboot(want).unwrap());
    let r = Request::from_message(&reboot).unwrap();
    assert_eq!((r.requested, r.server_id), (Some(want), None));
    assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
}

/// RFC 2131 section 4.4.3: a client with an address got elsewhere sends a
/// DHCPINFORM; table 5: `ciaddr` is its address, requested address, server
/// id and lease time MUST NOT be sent. PROTOCOL.md: option 60 is
/// `MS-UC-Client` and option 55 lists 43 and 120.
#[test]
fn rfc2131_section_4_4_3_inform() {
    let ip = Ipv4Addr::new(198, 18, 0, 50);
    let mut c = Client::new(MAC, 9);
    c.vendor_class = None; // INFORM sends MS-UC-Client regardless
    c.host_name = Some("cx600-123456".into());
    let m = wire(&c.inform(ip).unwrap());
    assert_eq!(m.opts().msg_type(), Some(MessageType::Inform));
    assert_eq!(m.ciaddr(), ip);
    for code in [
        OptionCode::RequestedIpAddress,
        OptionCode::ServerIdentifier,
        OptionCode::AddressLeaseTime,
    ] {
        assert!(m.opts().get(code).is_none(), "{code:?}");
    }
    assert_eq!(raw_option(&m, 60), Some(&b"MS-UC-Client"[..]));
    assert!(
        matches!(m.opts().get(OptionCode::Hostname), Some(DhcpOption::Hostname(h)) if h == "cx600-123456")
    );
    assert!(prl(&m).contains(&43) && prl(&m).contains(&120));
    assert!(c.inform(Ipv4Addr::UNSPECIFIED).is_err());
}

/// RFC 1542 section 4.1.1 and RFC 2131 section 4.1: a relay agent fills
/// `giaddr` with its own address and increments `hops`; the server "sends
/// any return messages to the 'DHCP server' port on the BOOTP relay agent
/// whose address appears in 'giaddr'". One relay speaks for many phones.
#[test]
fn rfc1542_section_4_1_relay_form() {
    let relay = Relay {
        giaddr: RELAY,
        hops: 1,
    };
    let mut seen = std::collections::HashSet::new();
    for i in 0..50u8 {
        let mac = [0x02, 0, 0, 0, 0, i];
        let req = wire(
            &Client::new(mac, u32::from(i))
                .via(relay)
                .discover()
                .unwrap(),
        );
        assert_eq!(req.giaddr(), RELAY);
        assert_eq!(req.hops(), 1);
        assert!(seen.insert(req.chaddr().to_vec()));
        for kind in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
            let rep = build_reply(&req, &params(kind)).unwrap();
            assert_eq!(rep.giaddr(), RELAY, "giaddr copied (table 3)");
            assert_eq!(rep.chaddr(), mac);
            assert_eq!(
                reply_destination(&req, &rep),
                ReplyTo::Relay(SocketAddrV4::new(RELAY, 67))
            );
        }
    }
    // A relay never sends hops 0.
    let req = Client::new(MAC, 1)
        .via(Relay {
            giaddr: RELAY,
            hops: 0,
        })
        .discover()
        .unwrap();
    assert_eq!(req.hops(), 1);
}

fn params(kind: MessageType) -> ReplyParams {
    ReplyParams {
        kind,
        yiaddr: Ipv4Addr::new(198, 18, 0, 50),
        server_id: SERVER,
        lease_time: 3600,
        options: vec![
            DhcpOption::SubnetMask(Ipv4Addr::new(255, 254, 0, 0)),
            DhcpOption::Message("no".into()),
            sip_servers_option(&SipServers::name("lync.contoso.com").unwrap()).unwrap(),
        ],
    }
}

/// RFC 2131 section 4.1, where replies go without a relay: `ciaddr` if
/// set, else broadcast if the client asked, else unicast to `yiaddr`; a NAK
/// is always broadcast.
#[test]
fn rfc2131_section_4_1_reply_destination() {
    let c = Client::new(MAC, 3);
    let d = c.discover().unwrap();
    let offer = build_reply(&d, &params(MessageType::Offer)).unwrap();
    assert_eq!(
        reply_destination(&d, &offer),
        ReplyTo::Client(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 50), 68))
    );
    let mut b = c.clone();
    b.broadcast = true;
    let d = b.discover().unwrap();
    assert!(d.flags().broadcast());
    let offer = build_reply(&d, &params(MessageType::Offer)).unwrap();
    assert!(offer.flags().broadcast(), "flags copied");
    assert_eq!(reply_destination(&d, &offer), ReplyTo::Broadcast);
    let inf = c.inform(Ipv4Addr::new(198, 18, 0, 60)).unwrap();
    let ack = build_reply(&inf, &params(MessageType::Ack)).unwrap();
    assert_eq!(
        reply_destination(&inf, &ack),
        ReplyTo::Client(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 60), 68))
    );
    let nak = build_reply(&inf, &params(MessageType::Nak)).unwrap();
    assert_eq!(reply_destination(&inf, &nak), ReplyTo::Broadcast);
}

/// RFC 2131 section 4.3.1 table 3 and section 4.3.5: OFFER has `yiaddr` and
/// a lease time; the ACK to an INFORM has `yiaddr` 0, `ciaddr` copied and
/// no lease time; a NAK carries no options but 53, 54 and 56, and (section
/// 4.3.2) a relayed NAK has the BROADCAST bit set.
#[test]
fn rfc2131_section_4_3_1_reply_fields() {
    let c = Client::new(MAC, 5);
    let offer = wire(&build_reply(&c.discover().unwrap(), &params(MessageType::Offer)).unwrap());
    let r = Reply::from_message(&offer).unwrap();
    assert_eq!(
        (r.kind, r.xid, r.yiaddr, r.server_id, r.lease_time),
        (
            MessageType::Offer,
            5,
            Ipv4Addr::new(198, 18, 0, 50),
            Some(SERVER),
            Some(3600)
        )
    );
    assert_eq!(offer.hops(), 0);
    assert_eq!(offer.ciaddr(), Ipv4Addr::UNSPECIFIED);

    let ip = Ipv4Addr::new(198, 18, 0, 60);
    let ack = wire(&build_reply(&c.inform(ip).unwrap(), &params(MessageType::Ack)).unwrap());
    let r = Reply::from_message(&ack).unwrap();
    assert_eq!((r.yiaddr, r.lease_time), (Ipv4Addr::UNSPECIFIED, None));
    assert_eq!(ack.ciaddr(), ip);
    assert!(raw_option(&ack, 120).is_some());

    let req = c
        .clone()
        .via(Relay {
            giaddr: RELAY,
            hops: 1,
        })
        .request_init_reboot(ip)
        .unwrap();
    let nak = wire(&build_reply(&req, &params(MessageType::Nak)).unwrap());
    let r = Reply::from_message(&nak).unwrap();
    assert_eq!(
        (r.kind, r.yiaddr, r.lease_time),
        (MessageType::Nak, Ipv4Addr::UNSPECIFIED, None)
    );
    assert_eq!(r.message.as_deref(), Some("no"));
    assert!(nak.flags().broadcast());
    let codes: Vec<u8> = nak.opts().iter().map(|(c, _)| u8::from(*c)).collect();
    assert_eq!(codes, vec![53, 54, 56]);

    assert!(build_reply(&c.discover().unwrap(), &params(MessageType::Inform)).is_err());
    assert!(
        build_reply(&offer, &params(MessageType::Ack)).is_err(),
        "not a request"
    );
    assert!(Reply::from_message(&c.discover().unwrap()).is_err());
}

/// RFC 3396: an option over 255 bytes is split into instances of the same
/// code (section 5), which the receiver concatenates "in the order they
/// appear" (section 7).
#[test]
fn rfc3396_long_option_120() {
    let names: Vec<String> = (0..20)
        .map(|i| format!("pool{i:02}.lync.contoso.com"))
        .collect();
    let servers = SipServers::Names(names);
    assert!(servers.encode().unwrap().len() > 255);
    let req = Client::new(MAC, 1)
        .inform(Ipv4Addr::new(198, 18, 0, 9))
        .unwrap();
    let mut p = params(MessageType::Ack);
    p.options = vec![sip_servers_option(&servers).unwrap()];
    let bytes = encode(&build_reply(&req, &p).unwrap()).unwrap();
    // Find the two instances on the wire.
    let count = bytes[240..].windows(2).filter(|w| w == &[120, 255]).count();
    assert_eq!(count, 1, "first instance is full");
    let ack = decode(&bytes).unwrap();
    assert_eq!(
        BootSettings::from_ack(&ack).unwrap().sip_servers,
        Some(servers)
    );

    // Hand-split: "120 3 0 4 'l'", option 53, a pad, then "120 4 'y' 'n' 'c' 0".
    let mut m = encode(&Client::new(MAC, 1).discover().unwrap()).unwrap();
    m.truncate(240);
    // RFC 3396 section 7: instances need not be adjacent.
    m.extend([
        120, 3, 0, 4, b'l', 53, 1, 2, 0, 120, 4, b'y', b'n', b'c', 0, 255,
    ]);
    let msg = decode(&m).unwrap();
    assert_eq!(
        raw_option(&msg, 120),
        Some(&[0, 4, b'l', b'y', b'n', b'c', 0][..])
    );
}

/// RFC 2131 section 3: "the first four octets of the 'options' field of the
/// DHCP message contain the (decimal) values 99, 130, 83 and 99"; a message
/// without option 53 is BOOTP, not DHCP.
#[test]
fn rfc2131_section_3_framing_checks() {
    let good = encode(&Client::new(MAC, 1).discover().unwrap()).unwrap();
    assert!(decode(&good[..239]).is_err());
    let mut bad = good.clone();
    bad[236] = 0;
    assert!(matches!(
        decode(&bad),
        Err(Error::Invalid { at: Some(236), .. })
    ));
    let mut bad = good.clone();
    bad[2] = 17;
    assert!(matches!(
        decode(&bad),
        Err(Error::Invalid { at: Some(2), .. })
    ));
    let mut bad = good.clone();
    bad[0] = 3;
    assert!(decode(&bad).is_err());
    let mut bootp = good[..240].to_vec();
    bootp.push(255);
    assert!(decode(&bootp).is_err());
}

/// The hand-built ACK in testdata (see its README): every setting a phone
/// needs, read from bytes written from the specifications.
#[test]
fn testdata_ack_inform_ms_uc_client() {
    let bytes = include_bytes!("../../testdata/dhcp/ack_inform_ms_uc_client.bin");
    let m = decode(bytes).unwrap();
    let r = Reply::from_message(&m).unwrap();
    assert_eq!(r.kind, MessageType::Ack);
    assert_eq!(r.xid, 0x2A2B_2C2D);
    assert_eq!(r.chaddr, MAC);
    assert_eq!(m.ciaddr(), Ipv4Addr::new(198, 18, 0, 50));
    assert_eq!(m.giaddr(), RELAY);
    let s = BootSettings::from_ack(&m).unwrap();
    assert_eq!(
        s.sip_servers,
        Some(SipServers::Names(vec!["lync.contoso.com".into()]))
    );
    assert_eq!(
        s.cert_prov_url.as_deref(),
        Some("https://lync.contoso.com:443/CertProv/CertProvisioningService.svc")
    );
    assert_eq!(s.time_servers, vec![Ipv4Addr::new(198, 18, 0, 4)]);
    assert_eq!(s.dns_servers, vec![SERVER, Ipv4Addr::new(198, 18, 0, 3)]);
    assert_eq!(s.domain.as_deref(), Some("contoso.com"));
    assert_eq!(s.routers, vec![RELAY]);
    assert_eq!(s.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(
        s.search_list,
        vec!["contoso.com".to_owned(), "corp.contoso.com".to_owned()]
    );
    assert_eq!(s.voice_vlan, None);
    // And it survives our own round trip.
    assert_eq!(wire(&m), m);
    fuzz_roundtrip(bytes).unwrap();
}

/// PROTOCOL.md stage 2b: time from option 42, else option 4; stage 1: the
/// voice VLAN from option 43 sub-option 10.
#[test]
fn settings_time_fallback_and_vlan() {
    let req = Client::new(MAC, 1).vlan_discover().unwrap();
    let mut p = params(MessageType::Offer);
    p.options = vec![
        DhcpOption::TimeServer(vec![Ipv4Addr::new(198, 18, 0, 7)]),
        DhcpOption::VendorExtensions(VoiceVlanOptions::new(200).encode().unwrap()),
    ];
    let m = wire(&build_reply(&req, &p).unwrap());
    let s = BootSettings::from_ack(&m).unwrap();
    assert_eq!(s.time_servers, vec![Ipv4Addr::new(198, 18, 0, 7)]);
    assert_eq!(s.voice_vlan, Some(200));
    assert_eq!(s.cert_prov_url, None);
    // Garbage in option 120 is reported, not ignored.
    p.options = vec![DhcpOption::Unknown(UnknownOption::new(
        OptionCode::from(120),
        vec![7],
    ))];
    let m = wire(&build_reply(&req, &p).unwrap());
    assert!(BootSettings::from_ack(&m).is_err());
}

fn arb_client() -> impl Strategy<Value = Client> {
    (
        any::<[u8; 6]>(),
        any::<u32>(),
        any::<u16>(),
        proptest::option::of("[a-z0-9-]{1,30}"),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 2..40)),
        proptest::option::of(any::<[u8; 4]>()),
        any::<bool>(),
    )
        .prop_map(
            |(chaddr, xid, secs, host_name, client_id, relay, broadcast)| Client {
                chaddr,
                xid,
                secs,
                host_name,
                client_id,
                vendor_class: Some(VENDOR_CLASS_UC.into()),
                relay: relay.map(|g| Relay {
                    giaddr: Ipv4Addr::from(g),
                    hops: 1,
                }),
                broadcast,
            },
        )
}

proptest! {
    #[test]
    fn whole_messages_round_trip(c in arb_client(), ip in any::<[u8; 4]>(), lease in any::<u32>()) {
        let ip = Ipv4Addr::from(ip);
        let ciaddr = if ip.is_unspecified() { Ipv4Addr::new(198, 18, 0, 1) } else { ip };
        let requests = [
            c.discover().unwrap(),
            c.vlan_discover().unwrap(),
            c.request_selecting(ip, SERVER).unwrap(),
            c.request_init_reboot(ip).unwrap(),
            c.inform(ciaddr).unwrap(),
        ];
        for req in &requests {
            prop_assert_eq!(&wire(req), req);
            for kind in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
                let mut p = params(kind);
                p.lease_time = lease;
                p.options.push(DhcpOption::VendorExtensions(
                    UcClientOptions::new("lync.contoso.com").encode().unwrap(),
                ));
                let rep = build_reply(req, &p).unwrap();
                prop_assert_eq!(&wire(&rep), &rep);
                prop_assert_eq!(Reply::from_message(&rep).unwrap().xid, c.xid);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert_eq!(fuzz_roundtrip(&data), Ok(()));
    }

    #[test]
    fn arbitrary_options_never_panic(
        op in 1u8..=2,
        options in proptest::collection::vec(any::<u8>(), 0..400),
        mtype in 1u8..=8,
    ) {
        let mut m = encode(&Client::new(MAC, 1).discover().unwrap()).unwrap();
        m.truncate(240);
        m[0] = op;
        m.extend([53, 1, mtype]);
        m.extend(options);
        prop_assert_eq!(fuzz_roundtrip(&m), Ok(()));
    }
}

/// Options as a server might write them: codes dhcproto reads as
/// addresses, strings, numbers and bytes (a few it only `debug_assert!`s
/// the length of), any length, pads between, the end option or not.
fn arb_options() -> impl Strategy<Value = Vec<u8>> {
    let code = prop::sample::select(vec![
        1u8, 3, 6, 15, 34, 40, 43, 51, 54, 60, 80, 94, 120, 152,
    ]);
    let option = (
        code,
        proptest::collection::vec(any::<u8>(), 0..20),
        any::<bool>(),
    );
    (proptest::collection::vec(option, 0..8), any::<bool>()).prop_map(|(opts, end)| {
        let mut v = vec![53, 1, 5];
        for (code, value, pad) in opts {
            if pad {
                v.push(0);
            }
            v.push(code);
            v.push(u8::try_from(value.len()).unwrap());
            v.extend(value);
        }
        if end {
            v.push(255);
        }
        v
    })
}

proptest! {
    /// RFC 3396 section 7: a message passed on as it is must read exactly
    /// as the same message rewritten, and an option that encodes to its own
    /// bytes must be one that survives the whole round trip.
    #[test]
    fn rfc3396_7_a_message_in_normal_form_reads_as_its_rewrite(options in arb_options()) {
        let mut m = encode(&Client::new(MAC, 1).discover().unwrap()).unwrap();
        m.truncate(240);
        m.extend(options);
        let as_is = Message::decode(&mut Decoder::new(&normalize_options(&m)));
        let rewritten = Message::decode(&mut Decoder::new(&rewrite_options(&m)));
        prop_assert_eq!(as_is.as_ref().ok(), rewritten.as_ref().ok());
        let normal = rewrite_options(&m);
        let mut scratch = Vec::new();
        for (_, o) in rewritten.unwrap().opts().iter() {
            let whole = o.to_vec().is_ok_and(|bytes| {
                let mut d = Decoder::new(&bytes);
                matches!(DhcpOption::decode(&mut d), Ok(back) if &back == o) && d.buffer().is_empty()
            });
            prop_assert_eq!(survives_round_trip(o, &Sources::new(&normal[240..]), &mut scratch), whole, "{:?}", o);
        }
    }
}

/// Found by proptest: dhcproto reads a zero-length option 40 as an empty
/// string and then writes nothing for it, and reads option 34 of 13 bytes as
/// one boolean. Decoding must hand out only what re-encodes unchanged.
#[test]
fn regression_empty_and_overlong_options() {
    let mut m = encode(&Client::new(MAC, 1).discover().unwrap()).unwrap();
    m.truncate(240);
    m.extend([
        53, 1, 1, 34, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 0,
    ]);
    fuzz_roundtrip(&m).unwrap();
    let msg = decode(&m).unwrap();
    assert!(msg.opts().get(OptionCode::NisDomain).is_none());
    // Lengths dhcproto only debug-asserts are dropped, not panicked on.
    for (code, len) in [(80u8, 1u8), (81, 2), (94, 2), (151, 0), (152, 3)] {
        let mut m = m[..240].to_vec();
        m.extend([53, 1, 1, code, len]);
        m.extend(std::iter::repeat_n(0, usize::from(len)));
        let msg = decode(&m).unwrap();
        assert!(msg.opts().get(OptionCode::from(code)).is_none(), "{code}");
    }
}
