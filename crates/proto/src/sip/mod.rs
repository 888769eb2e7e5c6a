//! SIP as a Lync / Skype for Business phone and registrar speak it.
//!
//! Owns the SIP codec the virtual phones and the mock registrar share:
//! - [`message`]: the message model, datagram parsing, stream framing with
//!   CRLF keep-alives, encoding and builders (RFC 3261 section 7, 18.3;
//!   RFC 5626 section 3.5.1);
//! - [`uri`]: SIP URIs, name-addr values, Via, CSeq;
//! - [`auth`]: the values of the authentication headers ([MS-SIPAE]);
//! - [`digest`]: RFC 2617 / 7616 / 8760 Digest for standard registrars;
//! - [`register`]: the phone's REGISTER, epid to `+sip.instance`
//!   ([MS-SIPRE]), `ms-keep-alive` ([MS-CONMGMT]);
//! - [`signing`]: the signature string every [MS-SIPAE] scheme signs;
//! - [`tlsdsk`]: TLS-DSK's header legs, session keys, HMAC and replay
//!   window (the handshake itself is rustls', run by the callers);
//! - `headers`: typed readers on [`Message`] (Expires, Retry-After,
//!   ms-diagnostics, Contacts of a 301, ...).
//!
//! It does not own transactions, timers, dialogs or the TLS-DSK security
//! association's state and handshake: those are the phones' and the
//! mock's, built on this.

pub mod auth;
pub mod digest;
mod headers;
pub mod message;
pub mod register;
pub mod signing;
mod text;
pub mod tlsdsk;
pub mod uri;

pub use auth::{
    AuthParam, AuthValue, AuthenticationInfo, Challenge, Credentials, authentication_info,
    challenges, choose_challenge, parse_auth_list,
};
pub use headers::RetryAfter;
pub use message::{
    Framed, KeepAlive, MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, MAX_RAW_HEAD_BYTES, Message,
    MessageBuilder, StartLine, frame, full_header_name, header_names_match, parse,
};
pub use register::{
    BRANCH_MAGIC_COOKIE, KeepAliveRole, LYNC_SUPPORTED, MsKeepAlive, RegisterParams, Transport,
    build_register, epid_to_instance_uuid, epid_to_sip_instance, instance_matches_epid,
};
pub use uri::{CSeq, NameAddr, SipUri, Via};

/// What the fuzz target checks, here so the crate's own property tests run
/// exactly the same code: the framer and the parser never panic, every
/// message the framer yields equals what the parser makes of the same
/// bytes, and a parsed message survives encode then parse unchanged (and
/// frames back whole). Header-level parsers are run on what parses, for
/// their no-panic property.
#[doc(hidden)]
pub fn fuzz_roundtrip(data: &[u8]) {
    let mut rest = data;
    while let Ok(f) = frame(rest) {
        let consumed = match &f {
            Framed::Message { message, consumed } => {
                let again = parse(rest.get(..*consumed).unwrap_or(&[]));
                assert_eq!(
                    again.as_ref().ok(),
                    Some(message),
                    "framer and parser disagree"
                );
                *consumed
            }
            Framed::KeepAlive { consumed, .. } => *consumed,
        };
        rest = rest.get(consumed..).unwrap_or(&[]);
    }
    let Ok(m) = parse(data) else {
        return;
    };
    let bytes = m.encode();
    let back = parse(&bytes);
    assert_eq!(back.as_ref().ok(), Some(&m), "parse(encode(m)) != m");
    let framed = frame(&bytes);
    assert_eq!(
        framed.ok(),
        Some(Framed::Message {
            message: m.clone(),
            consumed: bytes.len()
        }),
        "frame(encode(m)) is not m"
    );
    // Typed readers: results do not matter, panics do.
    let _ = (m.cseq(), m.from_addr(), m.to_addr(), m.contacts(), m.vias());
    let _ = (
        m.expires(),
        m.retry_after(),
        m.diagnostics(),
        m.ms_keep_alive(),
    );
    let _ = (m.top_branch(), challenges(&m), authentication_info(&m));
    if let Some(uri) = m.request_uri() {
        let _ = SipUri::parse(uri).map(|u| u.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIPREGE_REGISTER: &[u8] =
        include_bytes!("../../testdata/sip/ms_siprege_4_1_1_register.sip");
    const SIPREGE_200: &[u8] = include_bytes!("../../testdata/sip/ms_siprege_4_1_1_200_ok.sip");
    const SIPAE_REGISTER: &[u8] = include_bytes!("../../testdata/sip/ms_sipae_4_4_register.sip");
    const SIPAE_401: &[u8] = include_bytes!("../../testdata/sip/ms_sipae_4_4_401.sip");
    const PHONE_REGISTER: &[u8] = include_bytes!("../../testdata/sip/lync_phone_register.sip");
    const PHONE_401: &[u8] = include_bytes!("../../testdata/sip/lync_phone_401.sip");
    const PHONE_200: &[u8] = include_bytes!("../../testdata/sip/lync_phone_200_ok.sip");

    fn framed(buf: &[u8]) -> Message {
        match frame(buf).unwrap() {
            Framed::Message { message, consumed } => {
                assert_eq!(consumed, buf.len());
                message
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn ms_siprege_4_1_1_register_and_200_ok() {
        // [MS-SIPREGE] 4.1.1 Basic Registration.
        let reg = framed(SIPREGE_REGISTER);
        assert_eq!(reg.method(), Some("REGISTER"));
        assert_eq!(reg.request_uri(), Some("sip:fabrikam.com"));
        assert_eq!(reg.header("Event"), Some("registration"));
        assert_eq!(reg.header_lines("Supported").count(), 4);
        assert!(
            reg.header_values("Supported")
                .any(|t| t == "msrtc-event-categories")
        );
        let from = reg.from_addr().unwrap();
        assert_eq!(
            (from.tag(), from.epid()),
            (Some("2d0be03279"), Some("492a7ce35f"))
        );
        let contact = &reg.contacts().unwrap()[0];
        assert!(instance_matches_epid(
            contact.sip_instance().unwrap(),
            from.epid().unwrap()
        ));
        let auth = AuthValue::parse(reg.header("Authorization").unwrap()).unwrap();
        assert_eq!(auth.scheme, "NTLM");
        assert_eq!(auth.opaque(), Some("99052D67"));
        assert_eq!(auth.version(), Some(3));
        assert!(auth.gssapi_data().unwrap().starts_with("TlRMTVNTUAAD"));
        let ka = reg.ms_keep_alive().unwrap().unwrap();
        assert_eq!((ka.role, ka.hop_hop), (KeepAliveRole::Uac, Some(true)));

        let ok = framed(SIPREGE_200);
        assert_eq!(ok.status(), Some(200));
        let ka = ok.ms_keep_alive().unwrap().unwrap();
        assert_eq!(
            (ka.role, ka.timeout, ka.tcp),
            (KeepAliveRole::Uas, Some(300), Some(false))
        );
        let info = authentication_info(&ok).unwrap().unwrap();
        assert_eq!(info.scheme, "NTLM");
        assert_eq!((info.srand(), info.snum()), (Some("168CE345"), Some("1")));
        assert_eq!(info.rspauth(), Some("0100000000636F6E9575D2297F8F5EF3"));
        assert_eq!(ok.expires().unwrap(), Some(7200));
        let c = &ok.contacts().unwrap()[0];
        assert_eq!(c.expires(), Some(7200));
        assert!(c.gruu().unwrap().ends_with(";gruu"));
    }

    #[test]
    fn ms_sipae_4_4_tls_dsk_401_offers_three_schemes() {
        // [MS-SIPAE] 4.4 step 2: "The server indicates support for TLS-DSK,
        // Kerberos, and NTLM in the challenge and returns the realm and
        // targetname values that it created during initialization, the
        // version of the authentication protocol that it implements".
        let reg = framed(SIPAE_REGISTER);
        assert_eq!(
            reg.header("UserAgent"),
            Some("UCCP/2.0.6362.0 OC/2.0.6362.0 (Microsoft Office Communicator)")
        );
        let resp = framed(SIPAE_401);
        assert_eq!(
            (resp.status(), resp.reason()),
            (Some(401), Some("Unauthorized"))
        );
        let c = challenges(&resp).unwrap();
        let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["TLS-DSK", "Kerberos", "NTLM"]);
        assert!(
            c.iter()
                .all(|c| c.realm() == Some("SIP Communications Service") && c.version() == Some(4))
        );
        assert_eq!(c[1].targetname(), Some("sip/server.contoso.com"));
        assert_eq!(
            choose_challenge(&c, &["NTLM", "TLS-DSK"]).unwrap().scheme,
            "NTLM"
        );
        // The three challenges comma-joined on one line parse the same.
        let joined = c
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(parse_auth_list(&joined).unwrap(), c);
    }

    fn phone_params() -> RegisterParams<'static> {
        RegisterParams {
            domain: "contoso.com",
            aor: "sip:alice@contoso.com",
            transport: Transport::Tls,
            local: "192.0.2.10:50123",
            branch: "z9hG4bK6f1c2a9d",
            from_tag: "8c3a1f02e4",
            epid: "5ad3b61ae6",
            call_id: "0f2d9b7c4e5a4c1b8a6e3d2c1b0a9f8e",
            cseq: 1,
            max_forwards: 70,
            user_agent: "CPE/4.0.7577.4100 OCPhone/4.0.7577.4100 (Microsoft Lync 2010 Phone Edition)",
            mac: [0x00, 0x04, 0xf2, 0xaa, 0xbb, 0xcc],
            vendor: "Polycom",
            firmware: "4.0.7577.4100",
            expires: None,
            authorization: None,
        }
    }

    #[test]
    fn ms_siprege_3_1_1_4_build_register_matches_testdata() {
        // [MS-SIPREGE] 3.1.1.4: Event "MUST have the value registration";
        // the option tags of 2.2.1.5 in Supported; at most one ms-keep-alive.
        let built = build_register(&phone_params()).unwrap();
        assert_eq!(
            String::from_utf8(built.encode()).unwrap(),
            std::str::from_utf8(PHONE_REGISTER).unwrap()
        );
        let bad = RegisterParams {
            branch: "abc",
            ..phone_params()
        };
        assert!(build_register(&bad).is_err());
        let bad = RegisterParams {
            epid: "xyz",
            ..phone_params()
        };
        assert!(build_register(&bad).is_err());
    }

    #[test]
    fn lync_phone_sign_in_exchange() {
        // REGISTER -> 401 (NTLM, Kerberos, TLS-DSK) -> REGISTER with
        // Authorization -> 200 OK with gruu, Expires and ms-keep-alive.
        let reg = framed(PHONE_REGISTER);
        let from = reg.from_addr().unwrap();
        let contact = reg.contacts().unwrap().remove(0);
        assert!(instance_matches_epid(
            contact.sip_instance().unwrap(),
            from.epid().unwrap()
        ));
        assert_eq!(
            reg.header("Ms-Device-Info"),
            Some("MAC=00-04-f2-aa-bb-cc,vendor=Polycom,version=4.0.7577.4100")
        );

        let challenge_resp = framed(PHONE_401);
        assert_eq!(challenge_resp.top_branch(), reg.top_branch());
        let offered = challenges(&challenge_resp).unwrap();
        assert_eq!(offered.len(), 3);
        let tls_dsk = choose_challenge(&offered, &["TLS-DSK", "NTLM"]).unwrap();
        assert_eq!(
            tls_dsk.sts_uri(),
            Some("https://pool.contoso.com:443/CertProv/CertProvisioningService.svc")
        );
        assert_eq!(tls_dsk.targetname(), Some("fe01.contoso.com"));

        // The phone answers with the first TLS-DSK leg.
        let creds = Credentials::new("TLS-DSK")
            .with("qop", "auth")
            .with("realm", tls_dsk.realm().unwrap())
            .with("targetname", tls_dsk.targetname().unwrap())
            .with("version", "4")
            .with("gssapi-data", "FgMBAFYBAABSAwFL");
        let second = build_register(&RegisterParams {
            branch: "z9hG4bK0c1d2e3f",
            cseq: 2,
            authorization: Some(&creds),
            ..phone_params()
        })
        .unwrap();
        let sent = framed(&second.encode());
        let back = AuthValue::parse(sent.header("Authorization").unwrap()).unwrap();
        assert_eq!(back, creds);
        assert_eq!(sent.cseq().unwrap().seq, 2);

        let ok = framed(PHONE_200);
        assert_eq!(ok.status(), Some(200));
        assert_eq!(ok.expires().unwrap(), Some(600));
        let ka = ok.ms_keep_alive().unwrap().unwrap();
        assert_eq!(
            ka,
            MsKeepAlive {
                role: KeepAliveRole::Uas,
                tcp: Some(false),
                hop_hop: Some(true),
                end_end: Some(false),
                timeout: Some(300)
            }
        );
        let binding = ok.contacts().unwrap().remove(0);
        assert_eq!(
            binding.gruu(),
            Some("sip:alice@contoso.com;opaque=user:epid:2Vxi1Mvk51iYm1y9vhAAAA;gruu")
        );
        assert_eq!(binding.expires(), Some(600));
        let info = authentication_info(&ok).unwrap().unwrap();
        assert_eq!(
            (info.scheme.as_str(), info.opaque(), info.snum()),
            ("TLS-DSK", Some("F755045D"), Some("1"))
        );
    }

    #[test]
    fn exchange_streamed_back_to_back_with_keep_alives() {
        let mut stream = Vec::new();
        for part in [PHONE_401, b"\r\n\r\n", PHONE_200, b"\r\n"] {
            stream.extend_from_slice(part);
        }
        let mut rest = &stream[..];
        let mut kinds = Vec::new();
        while !rest.is_empty() {
            let (kind, n) = match frame(rest).unwrap() {
                Framed::Message { message, consumed } => {
                    (format!("{}", message.status().unwrap()), consumed)
                }
                Framed::KeepAlive { kind, consumed } => (format!("{kind:?}"), consumed),
            };
            kinds.push(kind);
            rest = &rest[n..];
        }
        assert_eq!(kinds, ["401", "Ping", "200", "Pong"]);
    }

    #[test]
    fn testdata_split_at_every_offset_is_incomplete() {
        for msg in [PHONE_REGISTER, PHONE_401, PHONE_200, SIPREGE_REGISTER] {
            for cut in 1..msg.len() {
                assert!(
                    matches!(frame(&msg[..cut]), Err(crate::Error::Incomplete { .. })),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn testdata_roundtrips_through_the_fuzz_check() {
        for msg in [
            SIPREGE_REGISTER,
            SIPREGE_200,
            SIPAE_REGISTER,
            SIPAE_401,
            PHONE_REGISTER,
            PHONE_401,
            PHONE_200,
        ] {
            fuzz_roundtrip(msg);
        }
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let start = prop_oneof![
            ("[A-Z]{3,9}", "sip:[a-z0-9.@;=]{1,30}")
                .prop_map(|(m, u)| Message::request(&m, &u).unwrap()),
            (100u16..700, "[ -~]{0,30}").prop_map(|(c, r)| Message::response(c, r.trim()).unwrap()),
        ];
        let header = prop_oneof![
            ("[A-Za-z][A-Za-z0-9-]{0,20}", "([!-~]([ -~]{0,40}[!-~])?)?"),
            (
                prop::sample::select(vec![
                    "i",
                    "m",
                    "v",
                    "Via",
                    "From",
                    "WWW-Authenticate",
                    "Supported"
                ])
                .prop_map(str::to_owned),
                "[!-~]{1,20}(, [!-~]{1,20}){0,3}"
            )
        ];
        let headers = prop::collection::vec(header, 0..12).prop_filter("no Content-Length", |hs| {
            hs.iter()
                .all(|(n, _)| !header_names_match(n, "Content-Length"))
        });
        (start, headers, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(mut m, hs, body)| {
            for (n, v) in hs {
                m.push_header(&n, &v).unwrap();
            }
            m.set_body(body);
            m
        })
    }

    proptest! {
        #[test]
        fn parse_encode_roundtrip(m in arb_message()) {
            let bytes = m.encode();
            prop_assert_eq!(&parse(&bytes).unwrap(), &m);
            prop_assert_eq!(frame(&bytes).unwrap(), Framed::Message { message: m.clone(), consumed: bytes.len() });
            fuzz_roundtrip(&bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
            fuzz_roundtrip(&data);
        }

        #[test]
        fn mutated_testdata_roundtrips(
            which in 0usize..7,
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(b"\r\n \t:,;\"<>()=\\0l9".to_vec())),
                1..8,
            ),
        ) {
            let all = [SIPREGE_REGISTER, SIPREGE_200, SIPAE_REGISTER, SIPAE_401, PHONE_REGISTER, PHONE_401, PHONE_200];
            let mut data = all[which].to_vec();
            for (at, byte) in edits {
                let i = at.index(data.len());
                data[i] = byte;
            }
            fuzz_roundtrip(&data);
        }

        #[test]
        fn sip_like_text_never_panics(s in "(INVITE|SIP/2.0|REGISTER)[ -~\r\n]{0,300}") {
            fuzz_roundtrip(s.as_bytes());
        }

        #[test]
        fn header_value_parsers_never_panic(s in "\\PC{0,120}") {
            let _ = AuthValue::parse(&s);
            let _ = AuthValue::parse_info(&s);
            let _ = parse_auth_list(&s);
            let _ = NameAddr::parse(&s);
            let _ = SipUri::parse(&s);
            let _ = Via::parse(&s);
            let _ = CSeq::parse(&s);
            let _ = RetryAfter::parse(&s);
            let _ = MsKeepAlive::parse(&s);
            let _ = instance_matches_epid(&s, "01010101");
            if let Ok(v) = AuthValue::parse(&s) {
                let _ = tlsdsk::DskChallenge::parse(&v);
                let _ = tlsdsk::Signed::from_credentials(&v);
                let _ = tlsdsk::Signed::from_info(&v);
            }
            let _ = tlsdsk::from_hex(&s);
        }

        #[test]
        fn auth_value_roundtrip(
            scheme in "[A-Za-z][A-Za-z0-9-]{0,10}",
            params in prop::collection::vec(("[a-z][a-z0-9-]{0,10}", "[ -~]{0,20}"), 0..6),
        ) {
            let mut v = AuthValue::new(scheme);
            for (n, val) in params {
                v = v.with_param(&n, val, true);
            }
            prop_assert_eq!(AuthValue::parse(&v.to_string()).unwrap(), v);
        }

        #[test]
        fn epid_instance_always_validates(epid in "[0-9a-f]{1,16}") {
            let inst = epid_to_sip_instance(&epid);
            prop_assert!(instance_matches_epid(&inst, &epid));
            prop_assert!(instance_matches_epid(&inst.to_uppercase(), &epid));
        }
    }
}
