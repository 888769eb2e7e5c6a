//! [MS-NLMP] section 4.2 vectors, and property tests of the parsers.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..digits.len() / 2)
        .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

// 4.2.1 Common Values.
const USER: &str = "User";
const DOMAIN: &str = "Domain";
const PASSWORD: &str = "Password";
const WORKSTATION: &str = "COMPUTER";
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];
const TIME: u64 = 0;
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

/// 4.2.4: "The Challenge Flags used in the following NTLM v2 examples are
/// ... 33 82 8a e2".
const V2_CHALLENGE_FLAGS: u32 = 0xe28a_8233;

/// 4.2.4.3 CHALLENGE_MESSAGE.
const V2_CHALLENGE: &str = "
4e 54 4c 4d 53 53 50 00 02 00 00 00 0c 00 0c 00
38 00 00 00 33 82 8a e2 01 23 45 67 89 ab cd ef
00 00 00 00 00 00 00 00 24 00 24 00 44 00 00 00
06 00 70 17 00 00 00 0f 53 00 65 00 72 00 76 00
65 00 72 00 02 00 0c 00 44 00 6f 00 6d 00 61 00
69 00 6e 00 01 00 0c 00 53 00 65 00 72 00 76 00
65 00 72 00 00 00 00 00";

/// 4.2.4.3 AUTHENTICATE_MESSAGE (with the offsets of the corrected
/// example: LM at 0x6c, NT at 0x84, the session key at 0xd8).
const V2_AUTHENTICATE: &str = "
4e 54 4c 4d 53 53 50 00 03 00 00 00 18 00 18 00
6c 00 00 00 54 00 54 00 84 00 00 00 0c 00 0c 00
48 00 00 00 08 00 08 00 54 00 00 00 10 00 10 00
5c 00 00 00 10 00 10 00 d8 00 00 00 35 82 88 e2
05 01 28 0a 00 00 00 0f 44 00 6f 00 6d 00 61 00
69 00 6e 00 55 00 73 00 65 00 72 00 43 00 4f 00
4d 00 50 00 55 00 54 00 45 00 52 00 86 c3 50 97
ac 9c ec 10 25 54 76 4a 57 cc cc 19 aa aa aa aa
aa aa aa aa 68 cd 0a b8 51 e5 1c 96 aa bc 92 7b
eb ef 6a 1c 01 01 00 00 00 00 00 00 00 00 00 00
00 00 00 00 aa aa aa aa aa aa aa aa 00 00 00 00
02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00
00 00 00 00 00 00 00 00 c5 da d2 54 4f c9 79 90
94 ce 1c e9 0b c9 d0 3e";

/// 4.2.4.1.3 temp.
const V2_TEMP: &str = "
01 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00
aa aa aa aa aa aa aa aa 00 00 00 00 02 00 0c 00
44 00 6f 00 6d 00 61 00 69 00 6e 00 01 00 0c 00
53 00 65 00 72 00 76 00 65 00 72 00 00 00 00 00
00 00 00 00";

fn v2_av_pairs() -> Vec<u8> {
    AvPairs::default()
        .with_name(av_id::NB_DOMAIN_NAME, "Domain")
        .with_name(av_id::NB_COMPUTER_NAME, "Server")
        .to_bytes()
}

fn key() -> [u8; 16] {
    crypto::nt_owf_v2(PASSWORD, USER, DOMAIN)
}

/// 4.2.4.1.1 NTOWFv2() and LMOWFv2(): "0c 86 8a 40 3b fd 7a 93 a3 00 1e f2
/// 2e f0 2e 3f".
#[test]
fn ms_nlmp_4_2_4_1_1_ntowfv2() {
    assert_eq!(
        key().to_vec(),
        hex("0c 86 8a 40 3b fd 7a 93 a3 00 1e f2 2e f0 2e 3f")
    );
}

/// 4.2.4.1.3 temp: the client blob over the 4.2.1 time and client
/// challenge and the two AV pairs of 4.2.4.
#[test]
fn ms_nlmp_4_2_4_1_3_temp() {
    let temp = crypto::ntlmv2_temp(TIME, &CLIENT_CHALLENGE, &v2_av_pairs());
    assert_eq!(temp, hex(V2_TEMP));
    let (t, cc, av) = crypto::parse_temp(&temp).unwrap();
    assert_eq!((t, cc), (TIME, CLIENT_CHALLENGE));
    assert_eq!(
        AvPairs::parse(av).unwrap(),
        AvPairs::parse(&v2_av_pairs()).unwrap()
    );
}

fn v2() -> crypto::NtlmV2 {
    crypto::ntlmv2_response(&key(), &SERVER_CHALLENGE, &CLIENT_CHALLENGE, &hex(V2_TEMP))
}

/// 4.2.4.1.2 Session Base Key: "8d e4 0c ca db c1 4a 82 f1 5c b0 ad 0d e9
/// 5c a3".
#[test]
fn ms_nlmp_4_2_4_1_2_session_base_key() {
    assert_eq!(
        v2().session_base_key.to_vec(),
        hex("8d e4 0c ca db c1 4a 82 f1 5c b0 ad 0d e9 5c a3")
    );
}

/// 4.2.4.2.1 LMv2 Response: "86 c3 50 97 ac 9c ec 10 25 54 76 4a 57 cc cc
/// 19 aa aa aa aa aa aa aa aa".
#[test]
fn ms_nlmp_4_2_4_2_1_lmv2_response() {
    assert_eq!(
        v2().lm_challenge_response.to_vec(),
        hex("86 c3 50 97 ac 9c ec 10 25 54 76 4a 57 cc cc 19 aa aa aa aa aa aa aa aa")
    );
}

/// 4.2.4.2.2 NTLMv2 Response: NTProofStr "68 cd 0a b8 51 e5 1c 96 aa bc 92
/// 7b eb ef 6a 1c" followed by temp.
#[test]
fn ms_nlmp_4_2_4_2_2_ntlmv2_response() {
    let mut expected = hex("68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c");
    expected.extend(hex(V2_TEMP));
    assert_eq!(v2().nt_challenge_response, expected);
}

/// 4.2.4.2.3 Encrypted Session Key: RC4K(KXKEY = SessionBaseKey,
/// RandomSessionKey) = "c5 da d2 54 4f c9 79 90 94 ce 1c e9 0b c9 d0 3e".
#[test]
fn ms_nlmp_4_2_4_2_3_encrypted_session_key() {
    let mut k = RANDOM_SESSION_KEY;
    crypto::rc4_in_place(&v2().session_base_key, &mut k);
    assert_eq!(
        k.to_vec(),
        hex("c5 da d2 54 4f c9 79 90 94 ce 1c e9 0b c9 d0 3e")
    );
    crypto::rc4_in_place(&v2().session_base_key, &mut k);
    assert_eq!(k, RANDOM_SESSION_KEY);
}

/// 4.2.4.3 Messages: the CHALLENGE_MESSAGE parses to the 4.2.4 flags,
/// "Server", the 4.2.1 server challenge and the two AV pairs, and builds
/// back byte for byte.
#[test]
fn ms_nlmp_4_2_4_3_challenge_message() {
    let bytes = hex(V2_CHALLENGE);
    let c = ChallengeMessage::parse(&bytes).unwrap();
    assert_eq!(c.flags, V2_CHALLENGE_FLAGS);
    assert_eq!(c.target_name, "Server");
    assert_eq!(c.server_challenge, SERVER_CHALLENGE);
    assert_eq!(c.target_info, v2_av_pairs());
    assert_eq!(c.version, Some([0x06, 0x00, 0x70, 0x17, 0, 0, 0, 0x0f]));
    assert_eq!(c.to_bytes().unwrap(), bytes);
}

/// 4.2.4.3 Messages: the AUTHENTICATE_MESSAGE parses to the 4.2.1 names
/// and the 4.2.4.2 responses, and builds back byte for byte.
#[test]
fn ms_nlmp_4_2_4_3_authenticate_message() {
    let bytes = hex(V2_AUTHENTICATE);
    let a = AuthenticateMessage::parse(&bytes).unwrap();
    assert_eq!(a.flags, 0xe288_8235);
    assert_eq!((a.domain.as_str(), a.user.as_str()), (DOMAIN, USER));
    assert_eq!(a.workstation, WORKSTATION);
    assert_eq!(a.lm_response, v2().lm_challenge_response.to_vec());
    assert_eq!(a.nt_response, v2().nt_challenge_response);
    assert_eq!(
        a.encrypted_random_session_key,
        hex("c5 da d2 54 4f c9 79 90 94 ce 1c e9 0b c9 d0 3e")
    );
    assert_eq!(a.version, Some([0x05, 0x01, 0x28, 0x0a, 0, 0, 0, 0x0f]));
    assert_eq!(a.mic, None);
    assert_eq!(a.to_bytes().unwrap(), bytes);
}

/// 4.2.4.3: the server side accepts the example AUTHENTICATE_MESSAGE
/// against the example CHALLENGE_MESSAGE, recovers the 4.2.1 random session
/// key through key exchange, and refuses a wrong password.
#[test]
fn ms_nlmp_4_2_4_3_server_accepts_example() {
    let ok = accept(&hex(V2_CHALLENGE), &hex(V2_AUTHENTICATE), |u, d| {
        (u == USER && d == DOMAIN).then(|| PASSWORD.to_owned())
    })
    .unwrap();
    assert_eq!(ok.session.exported_session_key, RANDOM_SESSION_KEY);
    assert_eq!(
        (ok.user.as_str(), ok.workstation.as_str()),
        (USER, WORKSTATION)
    );
    assert_eq!(ok.client_filetime, TIME);
    let bad = accept(&hex(V2_CHALLENGE), &hex(V2_AUTHENTICATE), |_, _| {
        Some("password".to_owned())
    });
    assert!(bad.is_err());
    assert!(accept(&hex(V2_CHALLENGE), &hex(V2_AUTHENTICATE), |_, _| None).is_err());
}

/// 4.2.4.3: the client, given the example challenge and the 4.2.1 values,
/// produces the example's responses and encrypted session key (its flags
/// and Version are its own, so the check is field by field).
#[test]
fn ms_nlmp_4_2_4_3_client_builds_example_responses() {
    let creds = Credentials {
        user: USER.into(),
        domain: DOMAIN.into(),
        password: PASSWORD.into(),
        workstation: WORKSTATION.into(),
    };
    let random = ClientRandom {
        client_challenge: CLIENT_CHALLENGE,
        random_session_key: RANDOM_SESSION_KEY,
        filetime: TIME,
    };
    let answer = respond(&hex(V2_CHALLENGE), &creds, &random).unwrap();
    let mine = AuthenticateMessage::parse(&answer.authenticate).unwrap();
    let theirs = AuthenticateMessage::parse(&hex(V2_AUTHENTICATE)).unwrap();
    assert_eq!(mine.lm_response, theirs.lm_response);
    assert_eq!(mine.nt_response, theirs.nt_response);
    assert_eq!(
        mine.encrypted_random_session_key,
        theirs.encrypted_random_session_key
    );
    assert_eq!(
        (mine.user, mine.domain, mine.workstation),
        (theirs.user, theirs.domain, theirs.workstation)
    );
    assert_eq!(answer.session.exported_session_key, RANDOM_SESSION_KEY);
}

/// 4.2.4.4 GSS_WrapEx Examples: with the 4.2.4 flags and ExportedSessionKey
/// 0x55 * 16, sealing "Plaintext" (UTF-16LE) with sequence number 0 gives
/// "54 e5 01 65 bf 19 36 dc 99 60 20 c1 81 1b 0f 06 fb 5f" and the
/// signature "01 00 00 00 7f b3 8e c5 c5 5d 49 76 00 00 00 00": checks
/// SIGNKEY, SEALKEY, the 3.4.4.2 checksum and its RC4 with the running
/// (connection-oriented) handle.
#[test]
fn ms_nlmp_4_2_4_4_gss_wrapex() {
    let session = Session::new(V2_CHALLENGE_FLAGS, RANDOM_SESSION_KEY);
    let plaintext: Vec<u8> = "Plaintext"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let seal = session.sealing_key(Direction::ClientToServer);
    // One RC4 handle: seal the message, then the checksum.
    let mut stream = plaintext.clone();
    let cs = crypto::checksum(
        session.signing_key(Direction::ClientToServer),
        0,
        &plaintext,
    );
    stream.extend_from_slice(&cs);
    crypto::rc4_in_place(seal, &mut stream);
    assert_eq!(
        stream[..18].to_vec(),
        hex("54 e5 01 65 bf 19 36 dc 99 60 20 c1 81 1b 0f 06 fb 5f")
    );
    let sealed_cs: [u8; 8] = stream[18..].try_into().unwrap();
    assert_eq!(
        crypto::signature(&sealed_cs, 0).to_vec(),
        hex("01 00 00 00 7f b3 8e c5 c5 5d 49 76 00 00 00 00")
    );
}

/// 4.2.3.4 GSS_WrapEx Examples (NTLMv1 with extended session security,
/// NEGOTIATE_56, no key exchange): KXKEY of 4.2.3.1.3 ("eb 93 42 9a 8b d9
/// 52 f8 b8 9c 55 b8 7f 47 5e dc", from the 4.2.1 values as `HMAC_MD5(
/// SessionBaseKey, ServerChallenge || LmChallengeResponse[0..7])` with
/// `SessionBaseKey = MD4(NTOWFv1)`) gives the 56-bit SEALKEY "04 dd 7f 01
/// 4d 85 04 d2 65 a2 5c c8 6a 3a 7c 06", SIGNKEY "60 e7 99 be 5c 72 fc 92
/// 92 2a e8 eb e9 61 fb 8d", sealed data "a0 23 72 f6 53 02 73 f3 aa 1e b9
/// 01 90 ce 52 00 c9 9d" and, the checksum not RC4'd without key exchange,
/// the signature "01 00 00 00 ff 2a eb 52 f6 81 79 3a 00 00 00 00".
#[test]
fn ms_nlmp_4_2_3_4_gss_wrapex_ess_56_bit() {
    let session_base_key: [u8; 16] = {
        use md4::Digest as _;
        md4::Md4::digest(crypto::nt_owf_v1(PASSWORD)).into()
    };
    let mut lm = CLIENT_CHALLENGE.to_vec();
    lm.extend_from_slice(&[0; 16]);
    let kxkey = crypto::hmac_md5(&session_base_key, &[&SERVER_CHALLENGE, &lm[..8]]);
    assert_eq!(
        kxkey.to_vec(),
        hex("eb 93 42 9a 8b d9 52 f8 b8 9c 55 b8 7f 47 5e dc")
    );

    let flags = flags::NEGOTIATE_EXTENDED_SESSIONSECURITY
        | flags::NEGOTIATE_56
        | flags::NEGOTIATE_SIGN
        | flags::NEGOTIATE_SEAL;
    let session = Session::new(flags, kxkey);
    assert_eq!(
        session.sealing_key(Direction::ClientToServer).to_vec(),
        hex("04 dd 7f 01 4d 85 04 d2 65 a2 5c c8 6a 3a 7c 06")
    );
    assert_eq!(
        session.signing_key(Direction::ClientToServer).to_vec(),
        hex("60 e7 99 be 5c 72 fc 92 92 2a e8 eb e9 61 fb 8d")
    );
    let plaintext: Vec<u8> = "Plaintext"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut sealed = plaintext.clone();
    crypto::rc4_in_place(session.sealing_key(Direction::ClientToServer), &mut sealed);
    assert_eq!(
        sealed,
        hex("a0 23 72 f6 53 02 73 f3 aa 1e b9 01 90 ce 52 00 c9 9d")
    );
    let sig = session
        .sign(Direction::ClientToServer, 0, &plaintext)
        .unwrap();
    assert_eq!(
        sig.to_vec(),
        hex("01 00 00 00 ff 2a eb 52 f6 81 79 3a 00 00 00 00")
    );
    // And the hex form [MS-SIPAE] carries it in.
    assert_eq!(signature_to_hex(&sig), "01000000FF2AEB52F681793A00000000");
    assert_eq!(
        signature_from_hex("01000000ff2aeb52f681793a00000000"),
        Some(sig)
    );
    assert_eq!(signature_from_hex("01000000"), None);
    assert_eq!(signature_from_hex("01000000ff2aeb52f681793a0000000g"), None);
}

/// 3.4.4.2 with 3.4.3 (connectionless): the checksum is RC4'd with a
/// handle keyed by MD5(SealingKey, SeqNum), so the signature of sequence
/// number 0 is the 4.2.4.4 checksum under that key; the other side
/// verifies it, and a changed byte, sequence number or direction fails.
#[test]
fn ms_nlmp_3_4_4_2_connectionless_signature() {
    let session = Session::new(
        V2_CHALLENGE_FLAGS | flags::NEGOTIATE_DATAGRAM,
        RANDOM_SESSION_KEY,
    );
    let msg = b"<NTLM><1a2b3c><1><SIP Communications Service><server.contoso.com>";
    let sig = session.sign(Direction::ClientToServer, 7, msg).unwrap();
    // Layout: version 1, 8-byte checksum, sequence number.
    assert_eq!(sig[..4], [1, 0, 0, 0]);
    assert_eq!(sig[12..], 7u32.to_le_bytes());
    let mut expected = crypto::checksum(session.signing_key(Direction::ClientToServer), 7, msg);
    let k = crypto::connectionless_seal_key(session.sealing_key(Direction::ClientToServer), 7);
    crypto::rc4_in_place(&k, &mut expected);
    assert_eq!(sig[4..12], expected);

    let server = Session::new(session.flags, RANDOM_SESSION_KEY);
    server
        .verify(Direction::ClientToServer, 7, msg, &sig)
        .unwrap();
    assert!(
        server
            .verify(Direction::ClientToServer, 8, msg, &sig)
            .is_err()
    );
    assert!(
        server
            .verify(Direction::ServerToClient, 7, msg, &sig)
            .is_err()
    );
    let mut tampered = msg.to_vec();
    tampered[3] ^= 1;
    assert!(
        server
            .verify(Direction::ClientToServer, 7, &tampered, &sig)
            .is_err()
    );
    // The same sequence number signs the same way every time: nothing
    // carries over between messages in connectionless mode.
    assert_eq!(
        session.sign(Direction::ClientToServer, 7, msg).unwrap(),
        sig
    );
}

/// 3.1.5.1.2: a challenge carrying MsvAvTimestamp makes the client use that
/// time, set MsvAvFlags bit 0x2, zero its LM response and send a MIC; the
/// server checks the MIC and refuses a message whose MIC was altered.
#[test]
fn ms_nlmp_3_1_5_1_2_mic_with_server_timestamp() {
    let server_time: u64 = 0x01d9_0000_1234_5678;
    let av = AvPairs::default()
        .with_name(av_id::NB_DOMAIN_NAME, "CONTOSO")
        .with_name(av_id::NB_COMPUTER_NAME, "FE01");
    let mut av = av;
    av.set(av_id::TIMESTAMP, server_time.to_le_bytes().to_vec());
    let challenge = ChallengeMessage {
        flags: flags::SIPAE_CHALLENGE,
        target_name: "CONTOSO".into(),
        server_challenge: [9; 8],
        target_info: av.to_bytes(),
        version: None,
    }
    .to_bytes()
    .unwrap();
    let creds = Credentials {
        user: "alice".into(),
        domain: "CONTOSO".into(),
        password: "Pa55w0rd!".into(),
        workstation: "CX700".into(),
    };
    let random = ClientRandom {
        client_challenge: [3; 8],
        random_session_key: [4; 16],
        filetime: 1,
    };
    let answer = respond(&challenge, &creds, &random).unwrap();
    let auth = AuthenticateMessage::parse(&answer.authenticate).unwrap();
    assert!(auth.mic.is_some());
    assert_eq!(auth.lm_response, vec![0; 24]);
    let pw = |_: &str, _: &str| Some("Pa55w0rd!".to_owned());
    let ok = accept(&challenge, &answer.authenticate, pw).unwrap();
    assert_eq!(ok.client_filetime, server_time);
    assert_eq!(ok.session, answer.session);

    let mut bad = answer.authenticate.clone();
    bad[AuthenticateMessage::MIC_OFFSET] ^= 0x80;
    assert!(accept(&challenge, &bad, pw).is_err());

    // Client and server sign for each other.
    let msg = b"signed string";
    let s = answer
        .session
        .sign(Direction::ClientToServer, 1, msg)
        .unwrap();
    ok.session
        .verify(Direction::ClientToServer, 1, msg, &s)
        .unwrap();
    let s = ok.session.sign(Direction::ServerToClient, 1, msg).unwrap();
    answer
        .session
        .verify(Direction::ServerToClient, 1, msg, &s)
        .unwrap();
}

/// 2.2.2.5: a challenge without extended session security is NTLMv1
/// territory, which this client refuses clearly.
#[test]
fn ms_nlmp_2_2_2_5_refuses_challenge_without_ess() {
    let mut c = ChallengeMessage::parse(&hex(V2_CHALLENGE)).unwrap();
    c.flags &= !flags::NEGOTIATE_EXTENDED_SESSIONSECURITY;
    let creds = Credentials {
        user: USER.into(),
        domain: DOMAIN.into(),
        password: PASSWORD.into(),
        workstation: WORKSTATION.into(),
    };
    let random = ClientRandom {
        client_challenge: [0; 8],
        random_session_key: [0; 16],
        filetime: 0,
    };
    assert!(respond(&c.to_bytes().unwrap(), &creds, &random).is_err());
}

/// FILETIME counts 100 ns ticks from 1601: the Unix epoch is
/// 116444736000000000.
#[test]
fn filetime_of_unix_epoch() {
    assert_eq!(filetime(std::time::Duration::ZERO), 116_444_736_000_000_000);
    assert_eq!(
        filetime(std::time::Duration::from_secs(1)),
        116_444_736_010_000_000
    );
}

#[test]
fn fuzz_roundtrip_accepts_vectors() {
    fuzz_roundtrip(&hex(V2_CHALLENGE)).unwrap();
    fuzz_roundtrip(&hex(V2_AUTHENTICATE)).unwrap();
    fuzz_roundtrip(&hex(V2_TEMP)).unwrap();
}

proptest! {
    /// Arbitrary bytes never panic the parsers, and what they accept
    /// rebuilds to the same value.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(fuzz_roundtrip(&bytes), Ok(()));
    }

    /// The vectors with a few bytes changed reach far deeper.
    #[test]
    fn mutated_vectors_never_panic(which in 0..2usize,
                                   edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut v = hex([V2_CHALLENGE, V2_AUTHENTICATE][which]);
        for (at, b) in edits {
            let i = at % v.len();
            v[i] = b;
        }
        prop_assert_eq!(fuzz_roundtrip(&v), Ok(()));
        let _ = accept(&hex(V2_CHALLENGE), &v, |_, _| Some(PASSWORD.to_owned()));
    }

    /// Whatever the credentials, the server accepts what the client sends.
    #[test]
    fn client_and_server_agree(user in "[a-zA-Z0-9.]{1,20}", domain in "[A-Z]{1,15}",
                               password in "\\PC{0,30}", cc in any::<[u8; 8]>(), rk in any::<[u8; 16]>()) {
        let challenge = ChallengeMessage {
            flags: flags::SIPAE_CHALLENGE,
            target_name: domain.clone(),
            server_challenge: [7; 8],
            target_info: AvPairs::default().with_name(av_id::NB_DOMAIN_NAME, &domain).to_bytes(),
            version: None,
        }.to_bytes().unwrap();
        let creds = Credentials { user, domain, password: password.clone(), workstation: "WS".into() };
        let answer = respond(&challenge, &creds, &ClientRandom { client_challenge: cc, random_session_key: rk, filetime: 5 }).unwrap();
        let ok = accept(&challenge, &answer.authenticate, |_, _| Some(password.clone())).unwrap();
        prop_assert_eq!(ok.session, answer.session);
    }
}
