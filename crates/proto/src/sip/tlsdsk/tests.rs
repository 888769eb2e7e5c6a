//! Vectors from the specifications for TLS-DSK and the signature string.

use super::*;
use crate::sip::signing::{SignParams, signature_string};
use crate::sip::{Message, authentication_info, parse};

fn hex(s: &str) -> Vec<u8> {
    from_hex(&s.replace([' ', '\n'], "")).unwrap()
}

/// [MS-OCPSTN] 4.7.2.1 "200 Message Is Received by the Protocol Client",
/// header section as published (body left out, so no Content-Length).
const OCPSTN_200: &str = "SIP/2.0 200 OK\r\n\
Authentication-Info: TLS-DSK qop=\"auth\", opaque=\"F755045D\", srand=\"1D9666D9\", snum=\"17\", rspauth=\"3359c8ac2e6229b2eb9738ac707dc8c3e54f65f0\", targetname=\"PROXY.company1\", realm=\"SIP Communications Service\", version=4\r\n\
Via: SIP/2.0/TLS 192.168.1.114:4535;ms-received-port=4535;ms-received-cid=475300\r\n\
FROM: \"user112\"<sip:user112@company1>;tag=ed04066c4a;epid=54dd5867e8\r\n\
TO: <sip:+14258901234@company1;user=phone>;tag=201fec487e;epid=CDCFEF8F18\r\n\
CSEQ: 1 INVITE\r\n\
CALL-ID: e571df11a45947f1a5b90da8d957b8ae\r\n\
P-ASSERTED-IDENTITY: <sip:+14258901234@company1;user=phone>\r\n\
SERVER: Mediation Server\r\n\
Content-Length: 0\r\n\r\n";

fn ocpstn_200() -> Message {
    parse(OCPSTN_200.as_bytes()).unwrap()
}

#[test]
fn rfc5246_5_prf_sha256() {
    // The TLS 1.2 PRF (RFC 5246 section 5) with SHA-256: the test vector
    // the IETF TLS working group circulated for it (secret, seed and label
    // "test label", 100 bytes out).
    let secret = hex("9bbe436ba940f017b17652849a71db35");
    let seed = hex("a0ba9f936cda311827a6f796ffd5198c");
    let want = hex(
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
         6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
         4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
         87347b66",
    );
    assert_eq!(prf_sha256(&secret, "test label", &seed, 100), want);
    // Shorter outputs are prefixes (P_hash is a stream).
    assert_eq!(prf_sha256(&secret, "test label", &seed, 7), want[..7]);
}

#[test]
fn rfc2202_3_and_rfc4231_4_2_hmacs() {
    // RFC 2202 section 3 test case 1 (HMAC-SHA1) and RFC 4231 section 4.2
    // test case 1 (HMAC-SHA-256, HMAC-SHA-384): key 0x0b x 20, "Hi There".
    let key = [0x0bu8; 20];
    let data = b"Hi There";
    assert_eq!(
        MacAlgorithm::HmacSha1.mac(&key, data),
        hex("b617318655057264e28bc0b6fb378c8ef146be00")
    );
    assert_eq!(
        MacAlgorithm::HmacSha256.mac(&key, data),
        hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    );
    assert_eq!(
        MacAlgorithm::HmacSha384.mac(&key, data),
        hex(
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c\
             faea9ea9076ede7f4af152e8b2fa9cb6"
        )
    );
}

#[test]
fn ms_sipae_3_2_5_1_session_keys_at_their_offsets() {
    // [MS-SIPAE] 3.2.5.1: 128 bytes of "client EAP encryption" keying
    // material; the client key is the third 32-byte part, the server key
    // the fourth.
    let material: Vec<u8> = (0u8..128).collect();
    let keys = SessionKeys::from_key_material(&material, MacAlgorithm::HmacSha256).unwrap();
    assert_eq!(keys.key(Side::Client), &material[64..96]);
    assert_eq!(keys.key(Side::Server), &material[96..128]);
    assert!(SessionKeys::from_key_material(&material[..127], MacAlgorithm::HmacSha1).is_err());
    // A signature verifies with its own side's key only.
    let s = keys.sign(Side::Client, "<x>");
    assert!(keys.verify(Side::Client, "<x>", &s));
    assert!(keys.verify(Side::Client, "<x>", &s.to_uppercase()));
    assert!(!keys.verify(Side::Server, "<x>", &s));
    assert!(!keys.verify(Side::Client, "<y>", &s));
    assert!(!keys.verify(Side::Client, "<x>", "zz"));
    assert!(!format!("{keys:?}").contains("client:"));
}

#[test]
fn ms_sipae_3_2_5_2_signature_string_of_a_response() {
    // [MS-SIPAE] 3.2.5.2 step 2, on the [MS-OCPSTN] 4.7.2.1 200 OK: each
    // value in angle brackets, as written; no Expires gives "<>", no tel
    // URI gives "<>", and the response code comes last.
    let m = ocpstn_200();
    let info = Signed::from_info(&authentication_info(&m).unwrap().unwrap()).unwrap();
    let s = signature_string(
        &m,
        &SignParams {
            scheme: SCHEME,
            rand: &info.rand,
            num: &info.num,
            realm: &info.realm,
            targetname: &info.targetname,
            version: info.version.unwrap_or(3),
        },
    )
    .unwrap();
    assert_eq!(
        s,
        "<TLS-DSK><1D9666D9><17><SIP Communications Service><PROXY.company1>\
         <e571df11a45947f1a5b90da8d957b8ae><1><INVITE><sip:user112@company1><ed04066c4a>\
         <sip:+14258901234@company1;user=phone><201fec487e>\
         <sip:+14258901234@company1;user=phone><><><200>"
    );
}

#[test]
fn ms_sipae_3_3_5_2_signature_string_of_a_request() {
    // [MS-SIPAE] 3.3.5.2: the server builds the same buffer from the
    // client's crand and cnum; a request has no response code, and a To
    // without a tag gives "<>". Expires is taken as written.
    let m = parse(
        b"REGISTER sip:contoso.com SIP/2.0\r\n\
Via: SIP/2.0/TLS 192.0.2.1:4320\r\n\
From: <sip:alice@contoso.com>;tag=4a2b44d131;epid=8248ca9ebb\r\n\
To: <sip:alice@contoso.com>\r\n\
Call-ID: d5f2b95d5be64c2cbfb38aa5d3a87ae7\r\n\
CSeq: 171 REGISTER\r\n\
Expires: 0\r\n\
P-Asserted-Identity: <sip:alice@contoso.com>, <tel:+14255550100>\r\n\
Content-Length: 0\r\n\r\n",
    )
    .unwrap();
    let p = SignParams {
        scheme: "TLS-DSK",
        rand: "3a5b7c9d",
        num: "2",
        realm: "SIP Communications Service",
        targetname: "server.contoso.com",
        version: 4,
    };
    assert_eq!(
        signature_string(&m, &p).unwrap(),
        "<TLS-DSK><3a5b7c9d><2><SIP Communications Service><server.contoso.com>\
         <d5f2b95d5be64c2cbfb38aa5d3a87ae7><171><REGISTER><sip:alice@contoso.com><4a2b44d131>\
         <sip:alice@contoso.com><><sip:alice@contoso.com><tel:+14255550100><0>"
    );
    // [MS-SIP] 3.1.4.2's older list (version below 3): no To URI, no
    // P-Asserted-Identity.
    let old = SignParams { version: 2, ..p };
    assert_eq!(
        signature_string(&m, &old).unwrap(),
        "<TLS-DSK><3a5b7c9d><2><SIP Communications Service><server.contoso.com>\
         <d5f2b95d5be64c2cbfb38aa5d3a87ae7><171><REGISTER><sip:alice@contoso.com><4a2b44d131>\
         <><0>"
    );
    let no_call_id = parse(b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
    assert!(signature_string(&no_call_id, &p).is_err());
}

#[test]
fn ms_ocpstn_4_7_2_1_authentication_info_roundtrip() {
    // The TLS-DSK Authentication-Info of the example reads back field for
    // field and is written again in the example's order.
    let m = ocpstn_200();
    let raw = m.header("Authentication-Info").unwrap();
    let info = Signed::from_info(&AuthValue::parse_info(raw).unwrap()).unwrap();
    assert_eq!(info.opaque, "F755045D");
    assert_eq!(info.number().unwrap(), 17);
    assert_eq!(info.signature.len(), 40, "HMAC-SHA1 is 20 bytes");
    assert_eq!(info.to_info().to_string(), raw);
}

#[test]
fn ms_sipae_3_3_5_2_challenge_and_credential_legs() {
    // The challenge legs carry opaque and gssapi-data; the client's legs
    // echo realm, targetname, version and opaque.
    let ch = DskChallenge {
        realm: "SIP Communications Service".into(),
        targetname: "fe01.contoso.com".into(),
        version: 4,
        sts_uri: None,
        opaque: Some("F755045D".into()),
        token: Some(vec![0x16, 0x03, 0x03, 0, 1, 2]),
    };
    let back = DskChallenge::parse(&AuthValue::parse(&ch.to_value().to_string()).unwrap()).unwrap();
    assert_eq!(back, ch);
    let leg = handshake_credentials("r", "t", 4, Some("F755045D"), &[1, 2, 3]);
    assert_eq!(
        leg.to_string(),
        r#"TLS-DSK qop="auth", realm="r", opaque="F755045D", targetname="t", version=4, gssapi-data="AQID""#
    );
    let bad = AuthValue::parse(r#"TLS-DSK realm="r", targetname="t", gssapi-data="***""#).unwrap();
    assert!(DskChallenge::parse(&bad).is_err());
    let ntlm = AuthValue::parse(r#"NTLM realm="r", targetname="t""#).unwrap();
    assert!(DskChallenge::parse(&ntlm).is_err());
    let signed = Signed {
        opaque: "F755045D".into(),
        realm: "r".into(),
        targetname: "t".into(),
        rand: "0badcafe".into(),
        num: "3".into(),
        signature: "00ff".into(),
        version: None,
    };
    let c = signed.to_credentials();
    assert_eq!(
        c.to_string(),
        r#"TLS-DSK qop="auth", opaque="F755045D", realm="r", targetname="t", crand="0badcafe", cnum="3", response="00ff""#
    );
    assert_eq!(Signed::from_credentials(&c).unwrap(), signed);
}

#[test]
fn rfc4303_3_4_3_replay_window() {
    // A number is accepted once; numbers may arrive out of order inside
    // the window; anything older than the window is refused.
    let mut w = ReplayWindow::default();
    assert_eq!(w.accept(0), Err(Replay::TooOld));
    assert_eq!(w.accept(1), Ok(()));
    assert_eq!(w.accept(1), Err(Replay::Repeated));
    assert_eq!(w.accept(3), Ok(()));
    assert_eq!(w.accept(2), Ok(()));
    assert_eq!(w.accept(2), Err(Replay::Repeated));
    assert_eq!(w.accept(100), Ok(()));
    assert_eq!(w.accept(36), Err(Replay::TooOld));
    assert_eq!(w.accept(37), Ok(()));
    assert_eq!(w.highest(), 100);
    assert_eq!(w.accept(u32::MAX), Ok(()));
    assert_eq!(w.accept(u32::MAX), Err(Replay::Repeated));
}

#[test]
fn suite_names_pick_the_mac() {
    use MacAlgorithm::*;
    assert_eq!(
        MacAlgorithm::for_suite_name("TLS_RSA_WITH_RC4_128_SHA"),
        Some(HmacSha1)
    );
    assert_eq!(
        MacAlgorithm::for_suite_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        Some(HmacSha256)
    );
    assert_eq!(
        MacAlgorithm::for_suite_name("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
        Some(HmacSha384)
    );
    assert_eq!(
        MacAlgorithm::for_suite_name("TLS_RSA_WITH_RC4_128_MD5"),
        None
    );
}

#[test]
fn hex_helpers_refuse_junk() {
    assert_eq!(from_hex("0aFf"), Some(vec![0x0a, 0xff]));
    assert_eq!(from_hex("abc"), None);
    assert_eq!(from_hex("zz"), None);
    assert_eq!(from_hex("+1"), None);
    assert_eq!(to_hex(&[0, 0xab]), "00ab");
}
