//! The [MS-NLMP] 2.2.1.2 CHALLENGE_MESSAGE, 2.2.1.3 AUTHENTICATE_MESSAGE
//! and 2.2.2.1 AV_PAIR list: byte layouts, parse and build.
//!
//! Owns only the layouts; the arithmetic that fills them is in
//! [`super::crypto`], the decisions in [`super`].

use super::{av_id, flags};
use crate::{Error, Result};

/// The `Signature` field every NTLM message opens with: `"NTLMSSP\0"`.
pub const MESSAGE_SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

const CHALLENGE_TYPE: u32 = 2;
const AUTHENTICATE_TYPE: u32 = 3;
const CHALLENGE_HEADER: usize = 48;
const AUTHENTICATE_HEADER: usize = 64;

/// A 2.2.1.2 CHALLENGE_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeMessage {
    /// NegotiateFlags.
    pub flags: u32,
    /// TargetName (decoded by the UNICODE / OEM flag).
    pub target_name: String,
    /// ServerChallenge, the 8-byte nonce.
    pub server_challenge: [u8; 8],
    /// TargetInfo: the raw AV_PAIR list ([`AvPairs`] reads it).
    pub target_info: Vec<u8>,
    /// Version (2.2.2.10), when present.
    pub version: Option<[u8; 8]>,
}

/// A 2.2.1.3 AUTHENTICATE_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateMessage {
    /// NegotiateFlags the client settled on.
    pub flags: u32,
    /// LmChallengeResponse (LMv2: 24 bytes).
    pub lm_response: Vec<u8>,
    /// NtChallengeResponse (NTLMv2: NTProofStr then the client blob).
    pub nt_response: Vec<u8>,
    /// DomainName.
    pub domain: String,
    /// UserName.
    pub user: String,
    /// Workstation.
    pub workstation: String,
    /// EncryptedRandomSessionKey (empty without key exchange).
    pub encrypted_random_session_key: Vec<u8>,
    /// Version, when present.
    pub version: Option<[u8; 8]>,
    /// MIC (3.1.5.1.2), when present.
    pub mic: Option<[u8; 16]>,
}

/// An AV_PAIR list (2.2.2.1), in order, without its `MsvAvEOL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvPairs(pub Vec<(u16, Vec<u8>)>);

fn u16_at(b: &[u8], at: usize, what: &'static str) -> Result<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or_else(|| Error::invalid_at(what, at, "message ends inside a field"))
}

fn u32_at(b: &[u8], at: usize, what: &'static str) -> Result<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| Error::invalid_at(what, at, "message ends inside a field"))
}

fn array_at<const N: usize>(b: &[u8], at: usize, what: &'static str) -> Result<[u8; N]> {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::invalid_at(what, at, "message ends inside a field"))
}

/// Reads the `Len, MaxLen, BufferOffset` triple at `at` (2.2.1.2) and
/// returns `(offset, bytes)`; an empty field's offset is not checked.
fn field_at<'a>(b: &'a [u8], at: usize, what: &'static str) -> Result<(usize, &'a [u8])> {
    let len = usize::from(u16_at(b, at, what)?);
    let off = usize::try_from(u32_at(b, at + 4, what)?).unwrap_or(usize::MAX);
    if len == 0 {
        return Ok((usize::MAX, &[]));
    }
    let bytes = off
        .checked_add(len)
        .and_then(|end| b.get(off..end))
        .ok_or_else(|| Error::invalid_at(what, at, "field points past the end of the message"))?;
    Ok((off, bytes))
}

fn check_head(b: &[u8], ty: u32, what: &'static str) -> Result<()> {
    if b.get(..8) != Some(MESSAGE_SIGNATURE.as_slice()) {
        return Err(Error::invalid_at(what, 0, "no NTLMSSP signature"));
    }
    let got = u32_at(b, 8, what)?;
    if got != ty {
        return Err(Error::invalid_at(
            what,
            8,
            format!("message type {got}, expected {ty}"),
        ));
    }
    Ok(())
}

fn decode_string(bytes: &[u8], flags: u32, what: &'static str) -> Result<String> {
    if flags & flags::NEGOTIATE_UNICODE != 0 {
        if !bytes.len().is_multiple_of(2) {
            return Err(Error::invalid(what, "odd length for a UTF-16 string"));
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        String::from_utf16(&units).map_err(|_| Error::invalid(what, "string is not valid UTF-16"))
    } else {
        // The OEM code page is the sender's; Latin-1 keeps every byte.
        Ok(bytes.iter().map(|b| char::from(*b)).collect())
    }
}

fn encode_string(s: &str, flags: u32, what: &'static str) -> Result<Vec<u8>> {
    if flags & flags::NEGOTIATE_UNICODE != 0 {
        Ok(s.encode_utf16().flat_map(u16::to_le_bytes).collect())
    } else {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| Error::bad_value(what, "not representable in the OEM code page"))
    }
}

/// Lays out `Len, MaxLen, Offset` headers at `fields_at` and the payloads
/// after `payload_at`, in the order given.
fn lay_out(
    out: &mut Vec<u8>,
    fields_at: &[usize],
    payloads: &[&[u8]],
    what: &'static str,
) -> Result<()> {
    for (at, p) in fields_at.iter().zip(payloads) {
        let len = u16::try_from(p.len())
            .map_err(|_| Error::bad_value(what, "a field is longer than 65535 bytes"))?;
        let off = u32::try_from(out.len())
            .map_err(|_| Error::bad_value(what, "message longer than 4 GiB"))?;
        let mut head = Vec::with_capacity(8);
        head.extend_from_slice(&len.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
        head.extend_from_slice(&off.to_le_bytes());
        if let Some(slot) = out.get_mut(*at..*at + 8) {
            slot.copy_from_slice(&head);
        }
        out.extend_from_slice(p);
    }
    Ok(())
}

impl ChallengeMessage {
    const WHAT: &'static str = "NTLM CHALLENGE_MESSAGE";

    /// Parses a CHALLENGE_MESSAGE.
    pub fn parse(b: &[u8]) -> Result<Self> {
        let what = Self::WHAT;
        check_head(b, CHALLENGE_TYPE, what)?;
        if b.len() < CHALLENGE_HEADER {
            return Err(Error::invalid_at(
                what,
                b.len(),
                "shorter than its 48-byte header",
            ));
        }
        let flags = u32_at(b, 20, what)?;
        let (name_off, name) = field_at(b, 12, what)?;
        let (info_off, info) = field_at(b, 40, what)?;
        let first = name_off.min(info_off);
        let version =
            if flags & flags::NEGOTIATE_VERSION != 0 || (first != usize::MAX && first >= 56) {
                Some(array_at(b, 48, what)?)
            } else {
                None
            };
        Ok(ChallengeMessage {
            flags,
            target_name: decode_string(name, flags, what)?,
            server_challenge: array_at(b, 24, what)?,
            target_info: info.to_vec(),
            version,
        })
    }

    /// Encodes the message: header, Version if any, TargetName, TargetInfo.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let what = Self::WHAT;
        let mut out = Vec::with_capacity(64 + self.target_info.len());
        out.extend_from_slice(MESSAGE_SIGNATURE);
        out.extend_from_slice(&CHALLENGE_TYPE.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.server_challenge);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&[0; 8]);
        if let Some(v) = self.version {
            out.extend_from_slice(&v);
        }
        let name = encode_string(&self.target_name, self.flags, what)?;
        lay_out(&mut out, &[12, 40], &[&name, &self.target_info], what)?;
        Ok(out)
    }
}

impl AuthenticateMessage {
    const WHAT: &'static str = "NTLM AUTHENTICATE_MESSAGE";

    /// Byte offset of the MIC field when present (2.2.1.3).
    pub const MIC_OFFSET: usize = 72;

    /// Parses an AUTHENTICATE_MESSAGE. Version is present when the flags
    /// say so or the payload starts after it; the MIC when the payload
    /// starts after byte 88 (2.2.1.3 gives no flag for it).
    pub fn parse(b: &[u8]) -> Result<Self> {
        let what = Self::WHAT;
        check_head(b, AUTHENTICATE_TYPE, what)?;
        if b.len() < AUTHENTICATE_HEADER {
            return Err(Error::invalid_at(
                what,
                b.len(),
                "shorter than its 64-byte header",
            ));
        }
        let flags = u32_at(b, 60, what)?;
        let (o1, lm) = field_at(b, 12, what)?;
        let (o2, nt) = field_at(b, 20, what)?;
        let (o3, domain) = field_at(b, 28, what)?;
        let (o4, user) = field_at(b, 36, what)?;
        let (o5, ws) = field_at(b, 44, what)?;
        let (o6, key) = field_at(b, 52, what)?;
        let first = [o1, o2, o3, o4, o5, o6]
            .into_iter()
            .min()
            .unwrap_or(usize::MAX);
        let has_payload = first != usize::MAX;
        let version = if flags & flags::NEGOTIATE_VERSION != 0 || (has_payload && first >= 72) {
            Some(array_at(b, 64, what)?)
        } else {
            None
        };
        let mic = if has_payload && first >= 88 {
            Some(array_at(b, Self::MIC_OFFSET, what)?)
        } else {
            None
        };
        Ok(AuthenticateMessage {
            flags,
            lm_response: lm.to_vec(),
            nt_response: nt.to_vec(),
            domain: decode_string(domain, flags, what)?,
            user: decode_string(user, flags, what)?,
            workstation: decode_string(ws, flags, what)?,
            encrypted_random_session_key: key.to_vec(),
            version,
            mic,
        })
    }

    /// Encodes the message: header, Version (zeros if only a MIC is set),
    /// MIC, then DomainName, UserName, Workstation, LM and NT responses and
    /// the encrypted session key, the order of the 4.2.4.3 example.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let what = Self::WHAT;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MESSAGE_SIGNATURE);
        out.extend_from_slice(&AUTHENTICATE_TYPE.to_le_bytes());
        out.extend_from_slice(&[0; 48]);
        out.extend_from_slice(&self.flags.to_le_bytes());
        if self.version.is_some() || self.mic.is_some() {
            out.extend_from_slice(&self.version.unwrap_or([0; 8]));
        }
        if let Some(m) = self.mic {
            out.extend_from_slice(&m);
        }
        let domain = encode_string(&self.domain, self.flags, what)?;
        let user = encode_string(&self.user, self.flags, what)?;
        let ws = encode_string(&self.workstation, self.flags, what)?;
        lay_out(
            &mut out,
            &[28, 36, 44, 12, 20, 52],
            &[
                &domain,
                &user,
                &ws,
                &self.lm_response,
                &self.nt_response,
                &self.encrypted_random_session_key,
            ],
            what,
        )?;
        Ok(out)
    }
}

impl AvPairs {
    const WHAT: &'static str = "NTLM AV_PAIR list";

    /// Parses an AV_PAIR list up to its `MsvAvEOL`. A list that ends
    /// without one is accepted (some servers send none when empty).
    pub fn parse(b: &[u8]) -> Result<Self> {
        let what = Self::WHAT;
        let mut pairs = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let id = u16_at(b, at, what)?;
            let len = usize::from(u16_at(b, at + 2, what)?);
            if id == av_id::EOL {
                return Ok(AvPairs(pairs));
            }
            let value = b
                .get(at + 4..at + 4 + len)
                .ok_or_else(|| Error::invalid_at(what, at, "AV pair runs past the end"))?;
            pairs.push((id, value.to_vec()));
            at += 4 + len;
        }
        Ok(AvPairs(pairs))
    }

    /// Encodes the list with its closing `MsvAvEOL`. Values over 65535
    /// bytes are cut (no AV pair the protocol defines comes near it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (id, v) in &self.0 {
            let v = v.get(..usize::from(u16::MAX)).unwrap_or(v);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_le_bytes());
            out.extend_from_slice(v);
        }
        out.extend_from_slice(&[0; 4]);
        out
    }

    /// The value of the first pair with this id.
    pub fn get(&self, id: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets a pair, replacing the first of that id or adding one at the end.
    pub fn set(&mut self, id: u16, value: Vec<u8>) {
        match self.0.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = value,
            None => self.0.push((id, value)),
        }
    }

    /// Adds a UTF-16LE string pair (the names 2.2.2.1 defines).
    pub fn with_name(mut self, id: u16, name: &str) -> Self {
        self.0
            .push((id, name.encode_utf16().flat_map(u16::to_le_bytes).collect()));
        self
    }

    /// `MsvAvTimestamp`, when present and 8 bytes long.
    pub fn timestamp(&self) -> Option<u64> {
        self.get(av_id::TIMESTAMP)
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// `MsvAvFlags`, when present and 4 bytes long.
    pub fn flags(&self) -> Option<u32> {
        self.get(av_id::FLAGS)
            .and_then(|v| v.try_into().ok())
            .map(u32::from_le_bytes)
    }
}
