//! The NTLMv2 arithmetic of [MS-NLMP]: NTOWFv2 and the responses
//! (3.3.2), KXKEY and RC4K (3.4.5.1), SIGNKEY and SEALKEY (3.4.5.2,
//! 3.4.5.3), the MIC (3.1.5.1.2) and the checksum of the message signature
//! with extended session security (3.4.4.2).
//!
//! Pure functions over bytes; the message layouts are in the sibling
//! `messages` module and the decisions in [`super`].

use hmac::{Hmac, KeyInit, Mac};
use md4::Md4;
use md5::{Digest, Md5};
use rc4::{Rc4, StreamCipher};

use super::Direction;
use super::flags;
use crate::{Error, Result};

/// HMAC-MD5 (RFC 2104) of the concatenation of `data` under `key`.
pub fn hmac_md5(key: &[u8], data: &[&[u8]]) -> [u8; 16] {
    // HMAC takes keys of any length (RFC 2104 section 2): this never fails.
    let Ok(mut mac) = <Hmac<Md5> as KeyInit>::new_from_slice(key) else {
        return [0; 16];
    };
    for d in data {
        mac.update(d);
    }
    mac.finalize().into_bytes().into()
}

/// MD5 of the concatenation of `data`.
pub fn md5(data: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for d in data {
        h.update(d);
    }
    h.finalize().into()
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// `NTOWFv1(Passwd)` of 3.3.1: `MD4(UNICODE(Passwd))`, the NT hash that
/// NTOWFv2 keys its HMAC with.
pub fn nt_owf_v1(password: &str) -> [u8; 16] {
    Md4::digest(utf16le(password)).into()
}

/// `NTOWFv2(Passwd, User, UserDom)` of 3.3.2:
/// `HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User), UserDom)))`.
/// (`LMOWFv2` is the same function.)
pub fn nt_owf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash = nt_owf_v1(password);
    let who = format!("{}{domain}", user.to_uppercase());
    hmac_md5(&nt_hash, &[&utf16le(&who)])
}

/// The client blob `temp` of 3.3.2 (the NTLMv2_CLIENT_CHALLENGE of 2.2.2.7
/// followed by four zero bytes):
/// `ConcatenationOf(Responserversion, HiResponserversion, Z(6), Time,
/// ClientChallenge, Z(4), ServerName, Z(4))`, where ServerName is the AV
/// pair list with its EOL.
pub fn ntlmv2_temp(filetime: u64, client_challenge: &[u8; 8], av_pairs: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(32 + av_pairs.len());
    t.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    t.extend_from_slice(&filetime.to_le_bytes());
    t.extend_from_slice(client_challenge);
    t.extend_from_slice(&[0; 4]);
    t.extend_from_slice(av_pairs);
    t.extend_from_slice(&[0; 4]);
    t
}

/// Reads a client blob back: `(time, client challenge, AV pairs)`. The AV
/// pair slice runs to the end (the trailing zeros included; the AV parser
/// stops at the EOL).
pub fn parse_temp(temp: &[u8]) -> Result<(u64, [u8; 8], &[u8])> {
    const WHAT: &str = "NTLMv2 client challenge";
    if temp.len() < 28 {
        return Err(Error::invalid_at(WHAT, temp.len(), "shorter than 28 bytes"));
    }
    if temp.get(..2) != Some(&[1, 1][..]) {
        return Err(Error::invalid_at(
            WHAT,
            0,
            "RespType and HiRespType must be 1",
        ));
    }
    let time = temp
        .get(8..16)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    let cc: [u8; 8] = temp
        .get(16..24)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 8]);
    Ok((time, cc, temp.get(28..).unwrap_or_default()))
}

/// The three results of 3.3.2's NTLMv2 computation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtlmV2 {
    /// `NtChallengeResponse = ConcatenationOf(NTProofStr, temp)`.
    pub nt_challenge_response: Vec<u8>,
    /// `LmChallengeResponse = ConcatenationOf(HMAC_MD5(ResponseKeyLM,
    /// ConcatenationOf(CHALLENGE_MESSAGE.ServerChallenge, ClientChallenge)),
    /// ClientChallenge)`.
    pub lm_challenge_response: [u8; 24],
    /// `SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr)`.
    pub session_base_key: [u8; 16],
}

/// 3.3.2 `ComputeResponse` for NTLMv2, with `NTProofStr =
/// HMAC_MD5(ResponseKeyNT, ConcatenationOf(CHALLENGE_MESSAGE.ServerChallenge,
/// temp))`. ResponseKeyNT and ResponseKeyLM are both [`nt_owf_v2`].
pub fn ntlmv2_response(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    temp: &[u8],
) -> NtlmV2 {
    let proof = hmac_md5(response_key, &[server_challenge, temp]);
    let mut nt = Vec::with_capacity(16 + temp.len());
    nt.extend_from_slice(&proof);
    nt.extend_from_slice(temp);
    let lm_mac = hmac_md5(response_key, &[server_challenge, client_challenge]);
    let mut lm = [0u8; 24];
    for (d, s) in lm
        .iter_mut()
        .zip(lm_mac.iter().chain(client_challenge.iter()))
    {
        *d = *s;
    }
    NtlmV2 {
        nt_challenge_response: nt,
        lm_challenge_response: lm,
        session_base_key: hmac_md5(response_key, &[&proof]),
    }
}

/// RC4 over `data` in place with a fresh handle keyed by `key` (`RC4K` of
/// 6 when `data` is a key). An empty key leaves the data as it is (RC4
/// has no empty key; no caller makes one).
pub fn rc4_in_place(key: &[u8], data: &mut [u8]) {
    if let Ok(mut c) = <Rc4 as rc4::KeyInit>::new_from_slice(key) {
        c.apply_keystream(data);
    }
}

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// `SIGNKEY` of 3.4.5.2 with extended session security:
/// `MD5(ConcatenationOf(ExportedSessionKey, magic constant))`.
pub fn sign_key(exported_session_key: &[u8; 16], dir: Direction) -> [u8; 16] {
    let magic = match dir {
        Direction::ClientToServer => CLIENT_SIGN_MAGIC,
        Direction::ServerToClient => SERVER_SIGN_MAGIC,
    };
    md5(&[exported_session_key, magic])
}

/// `SEALKEY` of 3.4.5.3 with extended session security: the exported key
/// cut to 16, 7 or 5 bytes by NEGOTIATE_128 / NEGOTIATE_56, then
/// `MD5(ConcatenationOf(that, magic constant))`.
pub fn seal_key(exported_session_key: &[u8; 16], negotiated: u32, dir: Direction) -> Vec<u8> {
    let magic = match dir {
        Direction::ClientToServer => CLIENT_SEAL_MAGIC,
        Direction::ServerToClient => SERVER_SEAL_MAGIC,
    };
    let len = if negotiated & flags::NEGOTIATE_128 != 0 {
        16
    } else if negotiated & flags::NEGOTIATE_56 != 0 {
        7
    } else {
        5
    };
    let base = exported_session_key
        .get(..len)
        .unwrap_or(exported_session_key);
    md5(&[base, magic]).to_vec()
}

/// The per-message sealing key of connectionless mode, 3.4.3:
/// `SealingKey' = MD5(ConcatenationOf(SealingKey, SequenceNumber))`.
pub fn connectionless_seal_key(sealing_key: &[u8], seq: u32) -> [u8; 16] {
    md5(&[sealing_key, &seq.to_le_bytes()])
}

/// The first 8 bytes of `HMAC_MD5(SigningKey, ConcatenationOf(SeqNum,
/// Message))`, the checksum of 3.4.4.2 before any RC4.
pub fn checksum(signing_key: &[u8; 16], seq: u32, message: &[u8]) -> [u8; 8] {
    let full = hmac_md5(signing_key, &[&seq.to_le_bytes(), message]);
    let mut out = [0u8; 8];
    for (d, s) in out.iter_mut().zip(full.iter()) {
        *d = *s;
    }
    out
}

/// The NTLMSSP_MESSAGE_SIGNATURE of 2.2.2.9.2: `Version` 1, the 8-byte
/// checksum, `SeqNum`.
pub fn signature(checksum: &[u8; 8], seq: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    let parts = 1u32
        .to_le_bytes()
        .into_iter()
        .chain(checksum.iter().copied())
        .chain(seq.to_le_bytes());
    for (d, s) in out.iter_mut().zip(parts) {
        *d = s;
    }
    out
}

/// The MIC of 3.1.5.1.2: `HMAC_MD5(ExportedSessionKey, ConcatenationOf(
/// NEGOTIATE_MESSAGE, CHALLENGE_MESSAGE, AUTHENTICATE_MESSAGE))`, the
/// AUTHENTICATE_MESSAGE with its MIC zeroed; in connectionless mode there
/// is no NEGOTIATE_MESSAGE.
pub fn mic(exported_session_key: &[u8; 16], messages: &[&[u8]]) -> [u8; 16] {
    hmac_md5(exported_session_key, messages)
}

/// Equality that takes the same time wherever the first difference is.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
