//! NTLMv2 as [MS-SIPAE] runs it for SIP: connectionless, sans-IO.
//!
//! Owns, both sides (the phone builds and the mock verifies):
//! - the [MS-NLMP] 2.2.1.2 CHALLENGE_MESSAGE and 2.2.1.3
//!   AUTHENTICATE_MESSAGE, parse and build ([`ChallengeMessage`],
//!   [`AuthenticateMessage`]), with their AV pairs 2.2.2.1 ([`AvPairs`]);
//! - the NTLMv2 arithmetic of 3.3.2 (NTOWFv2, NTProofStr, LMv2, the session
//!   base key), key exchange (3.4.5.1 KXKEY, RC4K of the exported session
//!   key), the MIC (3.1.5.1.2), and the sign and seal keys (3.4.5.2,
//!   3.4.5.3) in [`crypto`];
//! - the message signature with extended session security (3.4.4.2), in
//!   the connectionless form (3.4.3: the RC4 handle is rekeyed per message
//!   from the sequence number the application passes), which is what
//!   [MS-SIPAE] signs SIP messages with ([`Session`]);
//! - the client's whole answer to a challenge ([`respond`]) and the
//!   server's check of it ([`accept`]).
//!
//! Does not own: the SIP headers that carry these bytes (`gssapi-data`,
//! `response`, `crand`, `cnum`), the [MS-SIPAE] signature string (the SIP
//! module builds it and passes the bytes here), security associations,
//! clocks or random numbers (callers pass the FILETIME timestamp, the client
//! challenge and the random session key in). NTLMv1 and connection-oriented
//! sealing state are left out: [MS-SIPAE] phones use NTLMv2 with extended
//! session security, and SIP signs each message on its own.

pub mod crypto;
mod messages;
#[cfg(test)]
mod tests;

pub use messages::{AuthenticateMessage, AvPairs, ChallengeMessage, MESSAGE_SIGNATURE};

use crate::{Error, Result};

/// Negotiate flags of [MS-NLMP] 2.2.2.5, by the names the section gives.
pub mod flags {
    /// `NTLMSSP_NEGOTIATE_UNICODE` (A): strings are UTF-16LE.
    pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
    /// `NTLM_NEGOTIATE_OEM` (B): strings are in the OEM code page.
    pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
    /// `NTLMSSP_REQUEST_TARGET` (C): TargetName must be supplied.
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// `NTLMSSP_NEGOTIATE_SIGN` (D): message integrity.
    pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
    /// `NTLMSSP_NEGOTIATE_SEAL` (E): message confidentiality.
    pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
    /// `NTLMSSP_NEGOTIATE_DATAGRAM` (F): connectionless authentication.
    pub const NEGOTIATE_DATAGRAM: u32 = 0x0000_0040;
    /// `NTLMSSP_NEGOTIATE_LM_KEY` (G).
    pub const NEGOTIATE_LM_KEY: u32 = 0x0000_0080;
    /// `NTLMSSP_NEGOTIATE_NTLM` (H).
    pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
    /// Anonymous connection (J).
    pub const ANONYMOUS: u32 = 0x0000_0800;
    /// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN` (M).
    pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
    /// `NTLMSSP_TARGET_TYPE_DOMAIN` (N).
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// `NTLMSSP_TARGET_TYPE_SERVER` (O).
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    /// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY` (P).
    pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// `NTLMSSP_NEGOTIATE_IDENTIFY` (Q).
    pub const NEGOTIATE_IDENTIFY: u32 = 0x0010_0000;
    /// `NTLMSSP_REQUEST_NON_NT_SESSION_KEY` (R).
    pub const REQUEST_NON_NT_SESSION_KEY: u32 = 0x0040_0000;
    /// `NTLMSSP_NEGOTIATE_TARGET_INFO` (S): TargetInfo is present.
    pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
    /// `NTLMSSP_NEGOTIATE_VERSION` (T): the Version field is present.
    pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
    /// `NTLMSSP_NEGOTIATE_128` (U): 128-bit session keys.
    pub const NEGOTIATE_128: u32 = 0x2000_0000;
    /// `NTLMSSP_NEGOTIATE_KEY_EXCH` (V): an encrypted random session key.
    pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
    /// `NTLMSSP_NEGOTIATE_56` (W): 56-bit session keys.
    pub const NEGOTIATE_56: u32 = 0x8000_0000;

    /// The flags a challenge for [MS-SIPAE] SIP signing offers:
    /// connectionless (3.1.5.1 of [MS-NLMP] starts with the CHALLENGE), with
    /// signing, extended session security, 128-bit keys and key exchange,
    /// Unicode strings and a TargetInfo the NTLMv2 response needs.
    pub const SIPAE_CHALLENGE: u32 = NEGOTIATE_UNICODE
        | REQUEST_TARGET
        | NEGOTIATE_SIGN
        | NEGOTIATE_DATAGRAM
        | NEGOTIATE_NTLM
        | NEGOTIATE_ALWAYS_SIGN
        | TARGET_TYPE_SERVER
        | NEGOTIATE_EXTENDED_SESSIONSECURITY
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_128
        | NEGOTIATE_KEY_EXCH
        | NEGOTIATE_56;

    /// The flags this client can honour; it answers a challenge with the
    /// intersection of these and what the challenge offers.
    pub const CLIENT_SUPPORTED: u32 = SIPAE_CHALLENGE
        | NEGOTIATE_SEAL
        | NEGOTIATE_VERSION
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_IDENTIFY;
}

/// AV pair ids of [MS-NLMP] 2.2.2.1.
pub mod av_id {
    /// `MsvAvEOL`: end of the list.
    pub const EOL: u16 = 0;
    /// `MsvAvNbComputerName`: the server's NetBIOS computer name.
    pub const NB_COMPUTER_NAME: u16 = 1;
    /// `MsvAvNbDomainName`: the server's NetBIOS domain name.
    pub const NB_DOMAIN_NAME: u16 = 2;
    /// `MsvAvDnsComputerName`.
    pub const DNS_COMPUTER_NAME: u16 = 3;
    /// `MsvAvDnsDomainName`.
    pub const DNS_DOMAIN_NAME: u16 = 4;
    /// `MsvAvDnsTreeName`.
    pub const DNS_TREE_NAME: u16 = 5;
    /// `MsvAvFlags`: bit 0x2 says a MIC is present.
    pub const FLAGS: u16 = 6;
    /// `MsvAvTimestamp`: the server's FILETIME; its presence obliges the
    /// client to send a MIC (3.1.5.1.2).
    pub const TIMESTAMP: u16 = 7;
    /// `MsvAvSingleHost`.
    pub const SINGLE_HOST: u16 = 8;
    /// `MsvAvTargetName`: the SPN of the target.
    pub const TARGET_NAME: u16 = 9;
    /// `MsvAvChannelBindings`.
    pub const CHANNEL_BINDINGS: u16 = 10;
}

/// The scheme token [MS-SIPAE] 2.2 writes NTLM's SIP headers with.
pub const SCHEME: &str = "NTLM";

/// `MsvAvFlags` bit: "the client is providing message integrity in the MIC
/// field" ([MS-NLMP] 2.2.2.1).
pub const AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// Which way a signed message travels; each has its own keys
/// ([MS-NLMP] 3.4.5.2, 3.4.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server (the phone's requests).
    ClientToServer,
    /// Server to client (the registrar's answers).
    ServerToClient,
}

/// What identifies the user, from the user directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name, as the directory spells it (NTOWFv2 upper-cases it).
    pub user: String,
    /// NetBIOS domain of the user (case kept, as NTOWFv2 wants).
    pub domain: String,
    /// The password.
    pub password: String,
    /// The client's workstation name sent in the AUTHENTICATE_MESSAGE.
    pub workstation: String,
}

/// The random and time values a client answer needs, passed in so the
/// crate holds no random source and no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRandom {
    /// The 8-byte client challenge (`ChallengeFromClient`).
    pub client_challenge: [u8; 8],
    /// The random session key sent encrypted under key exchange.
    pub random_session_key: [u8; 16],
    /// Now as a Windows FILETIME (100 ns ticks since 1601-01-01 UTC); used
    /// only when the challenge carries no `MsvAvTimestamp` (3.1.5.1.2).
    pub filetime: u64,
}

/// A security context after authentication: the negotiated flags and the
/// four keys, ready to sign and verify [MS-SIPAE] messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The flags both sides settled on (those of the AUTHENTICATE_MESSAGE).
    pub flags: u32,
    /// `ExportedSessionKey` of [MS-NLMP] 3.1.5.1.2.
    pub exported_session_key: [u8; 16],
    client_sign: [u8; 16],
    server_sign: [u8; 16],
    client_seal: Vec<u8>,
    server_seal: Vec<u8>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("Session")
            .field("flags", &format_args!("{:#010x}", self.flags))
            .finish_non_exhaustive()
    }
}

/// Length of an NTLMSSP_MESSAGE_SIGNATURE ([MS-NLMP] 2.2.2.9.1).
pub const SIGNATURE_LEN: usize = 16;

impl Session {
    /// Derives the keys from the exported session key and the negotiated
    /// flags ([MS-NLMP] 3.4.5.2 SIGNKEY, 3.4.5.3 SEALKEY).
    pub fn new(flags: u32, exported_session_key: [u8; 16]) -> Self {
        Session {
            flags,
            exported_session_key,
            client_sign: crypto::sign_key(&exported_session_key, Direction::ClientToServer),
            server_sign: crypto::sign_key(&exported_session_key, Direction::ServerToClient),
            client_seal: crypto::seal_key(&exported_session_key, flags, Direction::ClientToServer),
            server_seal: crypto::seal_key(&exported_session_key, flags, Direction::ServerToClient),
        }
    }

    /// The signing key of one direction.
    pub fn signing_key(&self, dir: Direction) -> &[u8; 16] {
        match dir {
            Direction::ClientToServer => &self.client_sign,
            Direction::ServerToClient => &self.server_sign,
        }
    }

    /// The sealing key of one direction (5, 7 or 16 bytes by the flags).
    pub fn sealing_key(&self, dir: Direction) -> &[u8] {
        match dir {
            Direction::ClientToServer => &self.client_seal,
            Direction::ServerToClient => &self.server_seal,
        }
    }

    /// The connectionless NTLMSSP_MESSAGE_SIGNATURE of `message` sent in
    /// `dir` with sequence number `seq` ([MS-NLMP] 3.4.4.2 with extended
    /// session security; 3.4.3: in connectionless mode the RC4 handle is
    /// rekeyed for each message with `MD5(SealingKey, SeqNum)`). [MS-SIPAE]
    /// passes the `cnum` / `snum` as the sequence number and the signature
    /// string as the message.
    ///
    /// Fails when extended session security was not negotiated: NTLMv1
    /// signing (CRC32) is not supported.
    pub fn sign(&self, dir: Direction, seq: u32, message: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
        if self.flags & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY == 0 {
            return Err(Error::bad_value(
                "NTLM signature",
                "extended session security was not negotiated (NTLMv1 signing is not supported)",
            ));
        }
        let checksum = crypto::checksum(self.signing_key(dir), seq, message);
        let checksum = if self.flags & flags::NEGOTIATE_KEY_EXCH != 0 {
            let key = crypto::connectionless_seal_key(self.sealing_key(dir), seq);
            let mut c = checksum;
            crypto::rc4_in_place(&key, &mut c);
            c
        } else {
            checksum
        };
        Ok(crypto::signature(&checksum, seq))
    }

    /// Checks a signature made by [`Session::sign`] on the other side, in
    /// constant time over its bytes.
    pub fn verify(&self, dir: Direction, seq: u32, message: &[u8], signature: &[u8]) -> Result<()> {
        let expected = self.sign(dir, seq, message)?;
        if signature.len() == expected.len() && crypto::ct_eq(&expected, signature) {
            Ok(())
        } else {
            Err(Error::invalid(
                "NTLM signature",
                "the signature does not match the message",
            ))
        }
    }
}

/// A signature as hex, the form the `response` parameter of an [MS-SIPAE]
/// `Authorization` / `Authentication-Info` carries it in (upper case, as
/// Microsoft's stacks write it; the reader takes either case).
pub fn signature_to_hex(signature: &[u8; SIGNATURE_LEN]) -> String {
    use std::fmt::Write as _;
    signature
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

/// Reads a hex signature back; `None` unless it is 32 hex digits.
pub fn signature_from_hex(hex: &str) -> Option<[u8; SIGNATURE_LEN]> {
    if hex.len() != 2 * SIGNATURE_LEN || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; SIGNATURE_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A client's answer to a CHALLENGE_MESSAGE: the AUTHENTICATE_MESSAGE
/// bytes to send, and the security context for signing later messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAnswer {
    /// The AUTHENTICATE_MESSAGE as sent (base64 it into `gssapi-data`).
    pub authenticate: Vec<u8>,
    /// The context both sides now share.
    pub session: Session,
}

/// Answers a connectionless CHALLENGE_MESSAGE with NTLMv2 ([MS-NLMP]
/// 3.1.5.1.2 for the message, 3.3.2 for the responses).
///
/// `challenge_bytes` is the CHALLENGE_MESSAGE exactly as received (the MIC
/// covers it). The negotiated flags are those both the challenge and
/// [`flags::CLIENT_SUPPORTED`] hold. When the challenge's TargetInfo has an
/// `MsvAvTimestamp`, its time is used in the response and a MIC is sent, as
/// 3.1.5.1.2 requires; otherwise `random.filetime`.
pub fn respond(
    challenge_bytes: &[u8],
    credentials: &Credentials,
    random: &ClientRandom,
) -> Result<ClientAnswer> {
    let challenge = ChallengeMessage::parse(challenge_bytes)?;
    if challenge.flags & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY == 0 {
        return Err(Error::invalid(
            "NTLM CHALLENGE_MESSAGE",
            "extended session security not offered (NTLMv1 is not supported)",
        ));
    }
    let mut negotiated = challenge.flags & flags::CLIENT_SUPPORTED;
    // 2.2.2.5: UNICODE and OEM are alternatives; prefer Unicode.
    if negotiated & flags::NEGOTIATE_UNICODE != 0 {
        negotiated &= !flags::NEGOTIATE_OEM;
    }
    let mut target_info = AvPairs::parse(&challenge.target_info)?;
    let server_time = target_info.timestamp();
    let with_mic = server_time.is_some();
    if with_mic {
        let old = target_info.flags().unwrap_or(0);
        target_info.set(
            av_id::FLAGS,
            (old | AV_FLAG_MIC_PRESENT).to_le_bytes().to_vec(),
        );
    }
    let time = server_time.unwrap_or(random.filetime);

    let key = crypto::nt_owf_v2(
        &credentials.password,
        &credentials.user,
        &credentials.domain,
    );
    let temp = crypto::ntlmv2_temp(time, &random.client_challenge, &target_info.to_bytes());
    let v2 = crypto::ntlmv2_response(
        &key,
        &challenge.server_challenge,
        &random.client_challenge,
        &temp,
    );
    // 3.1.5.1.2: with a MIC (and so an MsvAvTimestamp) the LM response is
    // all zeros.
    let lm_response = if with_mic {
        vec![0u8; 24]
    } else {
        v2.lm_challenge_response.to_vec()
    };
    // 3.4.5.1: for NTLMv2 KXKEY is the session base key.
    let key_exchange_key = v2.session_base_key;
    let (exported, encrypted) = if negotiated & flags::NEGOTIATE_KEY_EXCH != 0 {
        let mut enc = random.random_session_key;
        crypto::rc4_in_place(&key_exchange_key, &mut enc);
        (random.random_session_key, enc.to_vec())
    } else {
        (key_exchange_key, Vec::new())
    };
    let mut auth = AuthenticateMessage {
        flags: negotiated,
        lm_response,
        nt_response: v2.nt_challenge_response,
        domain: credentials.domain.clone(),
        user: credentials.user.clone(),
        workstation: credentials.workstation.clone(),
        encrypted_random_session_key: encrypted,
        version: (negotiated & flags::NEGOTIATE_VERSION != 0).then_some(CLIENT_VERSION),
        mic: with_mic.then_some([0u8; 16]),
    };
    if with_mic {
        let zeroed = auth.to_bytes()?;
        auth.mic = Some(crypto::mic(&exported, &[challenge_bytes, &zeroed]));
    }
    Ok(ClientAnswer {
        authenticate: auth.to_bytes()?,
        session: Session::new(negotiated, exported),
    })
}

/// The Version this client puts in its messages when VERSION is
/// negotiated: Windows 6.1 build 7600, NTLM revision 15 (2.2.2.10).
pub const CLIENT_VERSION: [u8; 8] = [6, 1, 0xb0, 0x1d, 0, 0, 0, 0x0f];

/// What the server learns from an AUTHENTICATE_MESSAGE it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The user name as the client sent it.
    pub user: String,
    /// The domain as the client sent it.
    pub domain: String,
    /// The client's workstation name.
    pub workstation: String,
    /// The client's timestamp from its NTLMv2 response (FILETIME), for the
    /// caller's clock-skew check.
    pub client_filetime: u64,
    /// The context to verify and sign later messages with.
    pub session: Session,
}

/// Checks a client's AUTHENTICATE_MESSAGE against the CHALLENGE_MESSAGE
/// this server sent ([MS-NLMP] 3.2.5.1.2): the NTLMv2 response must prove
/// the password `password_of(user, domain)` returns (`None`: unknown user),
/// the MIC must hold when the client says it sent one, and the session key
/// is recovered for signing.
pub fn accept(
    challenge_bytes: &[u8],
    authenticate_bytes: &[u8],
    password_of: impl FnOnce(&str, &str) -> Option<String>,
) -> Result<Accepted> {
    const WHAT: &str = "NTLM AUTHENTICATE_MESSAGE";
    let challenge = ChallengeMessage::parse(challenge_bytes)?;
    let auth = AuthenticateMessage::parse(authenticate_bytes)?;
    let Some(password) = password_of(&auth.user, &auth.domain) else {
        return Err(Error::invalid(WHAT, "unknown user"));
    };
    let proof = auth
        .nt_response
        .get(..16)
        .ok_or_else(|| Error::invalid(WHAT, "NTLMv2 response shorter than 16 bytes"))?;
    let temp = auth.nt_response.get(16..).unwrap_or_default();
    let (client_filetime, client_challenge, client_av) = crypto::parse_temp(temp)?;
    let key = crypto::nt_owf_v2(&password, &auth.user, &auth.domain);
    let v2 = crypto::ntlmv2_response(&key, &challenge.server_challenge, &client_challenge, temp);
    if !crypto::ct_eq(
        proof,
        v2.nt_challenge_response.get(..16).unwrap_or_default(),
    ) {
        return Err(Error::invalid(
            WHAT,
            "NTLMv2 response does not prove the user's password",
        ));
    }
    let exported = if auth.flags & flags::NEGOTIATE_KEY_EXCH != 0 {
        let enc: [u8; 16] = auth
            .encrypted_random_session_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid(WHAT, "key exchange without a 16-byte session key"))?;
        let mut k = enc;
        crypto::rc4_in_place(&v2.session_base_key, &mut k);
        k
    } else {
        v2.session_base_key
    };
    let mic_promised = AvPairs::parse(client_av)?
        .flags()
        .is_some_and(|f| f & AV_FLAG_MIC_PRESENT != 0);
    if mic_promised {
        let Some(sent) = auth.mic else {
            return Err(Error::invalid(
                WHAT,
                "MsvAvFlags promises a MIC but none was sent",
            ));
        };
        // The MIC covers the message as sent, with the MIC field zeroed.
        let mut zeroed = authenticate_bytes.to_vec();
        if let Some(field) =
            zeroed.get_mut(AuthenticateMessage::MIC_OFFSET..AuthenticateMessage::MIC_OFFSET + 16)
        {
            field.fill(0);
        }
        let expected = crypto::mic(&exported, &[challenge_bytes, &zeroed]);
        if !crypto::ct_eq(&expected, &sent) {
            return Err(Error::invalid(WHAT, "MIC does not match"));
        }
    }
    Ok(Accepted {
        session: Session::new(auth.flags, exported),
        user: auth.user,
        domain: auth.domain,
        workstation: auth.workstation,
        client_filetime,
    })
}

/// Windows FILETIME (100 ns ticks since 1601-01-01 UTC) of a time given
/// as its distance from the Unix epoch.
pub fn filetime(since_unix_epoch: std::time::Duration) -> u64 {
    // 1601 to 1970 is 11 644 473 600 s.
    const EPOCH_DIFF_TICKS: u64 = 116_444_736_000_000_000;
    let ticks = since_unix_epoch.as_nanos() / 100;
    u64::try_from(ticks)
        .unwrap_or(u64::MAX)
        .saturating_add(EPOCH_DIFF_TICKS)
}

/// Runs both parsers on arbitrary bytes and rebuilds what they accept: the
/// body of the property test (and of a fuzz target if one is added).
#[doc(hidden)]
pub fn fuzz_roundtrip(data: &[u8]) -> std::result::Result<(), String> {
    if let Ok(c) = ChallengeMessage::parse(data) {
        let built = c
            .to_bytes()
            .map_err(|e| format!("challenge rebuild: {e}"))?;
        let again =
            ChallengeMessage::parse(&built).map_err(|e| format!("challenge reparse: {e}"))?;
        if again != c {
            return Err(format!("challenge {c:?} came back as {again:?}"));
        }
    }
    if let Ok(a) = AuthenticateMessage::parse(data) {
        let built = a
            .to_bytes()
            .map_err(|e| format!("authenticate rebuild: {e}"))?;
        let again =
            AuthenticateMessage::parse(&built).map_err(|e| format!("authenticate reparse: {e}"))?;
        if again != a {
            return Err(format!("authenticate {a:?} came back as {again:?}"));
        }
    }
    if let Ok(av) = AvPairs::parse(data) {
        let again = AvPairs::parse(&av.to_bytes()).map_err(|e| format!("av reparse: {e}"))?;
        if again != av {
            return Err(format!("av pairs {av:?} came back as {again:?}"));
        }
    }
    let _ = accept(data, data, |_, _| Some(String::new()));
    let _ = crypto::parse_temp(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signature_from_hex(text);
    }
    Ok(())
}
