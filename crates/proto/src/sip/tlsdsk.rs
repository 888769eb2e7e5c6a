//! TLS-DSK ([MS-SIPAE] "Transport Layer Security with Derived Session
//! Key"), the sans-IO parts: the header parameters of its legs, the session
//! keys taken from the TLS keying material, the per-suite HMAC, message
//! signatures, and the `cnum` / `snum` replay window. A small TLS 1.2 PRF
//! (RFC 5246 section 5, `P_SHA256`) is here too, to check the TLS
//! library's exporter against the definition.
//!
//! It does not own the TLS handshake (the phones and the mock run rustls
//! over in-memory buffers and hand the keying material in) nor the
//! signature string (see [`super::signing`], shared with NTLM).
//!
//! Key derivation, [MS-SIPAE] 3.2.5.1 for TLS-DSK: the keying material is
//! `PRF(master_secret, "client EAP encryption", client_random +
//! server_random)` (for TLS 1.2 the RFC 5705 exporter with that label and
//! no context), 128 bytes in four 32-byte parts; the third part is the
//! client's signing key and the fourth the server's.

use std::fmt::Write as _;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::auth::{AuthValue, Challenge, Credentials};
use crate::{Error, Result};

const WHAT: &str = "TLS-DSK";

/// The scheme name as written in the headers.
pub const SCHEME: &str = "TLS-DSK";
/// The exporter label of the session keys (RFC 5216 section 2.3's EAP-TLS
/// label, which [MS-SIPAE] reuses).
pub const EXPORTER_LABEL: &str = "client EAP encryption";
/// Bytes of keying material exported: four 32-byte parts.
pub const KEY_MATERIAL_LEN: usize = 128;
/// Length of each signing key.
pub const KEY_LEN: usize = 32;
/// Offset of the client's signing key in the keying material.
pub const CLIENT_KEY_OFFSET: usize = 2 * KEY_LEN;
/// Offset of the server's signing key in the keying material.
pub const SERVER_KEY_OFFSET: usize = 3 * KEY_LEN;
/// `qop` of signed TLS-DSK messages.
pub const QOP: &str = "auth";

/// The HMAC a security association signs with: the MAC hash of the cipher
/// suite the tunnelled handshake negotiated (HMAC-SHA1 for the `_SHA`
/// suites Lync-era TLS 1.0 ran; the suite's PRF hash for TLS 1.2 AEAD
/// suites, which have no record MAC of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacAlgorithm {
    /// HMAC-SHA1 (RFC 2104), 20-byte signatures.
    HmacSha1,
    /// HMAC-SHA256, 32-byte signatures.
    HmacSha256,
    /// HMAC-SHA384, 48-byte signatures.
    HmacSha384,
}

impl MacAlgorithm {
    /// The MAC of a cipher suite from its IANA name (`TLS_..._SHA`,
    /// `..._SHA256`, `..._SHA384`); `None` for suites this crate does not
    /// sign with (MD5 ones).
    pub fn for_suite_name(name: &str) -> Option<Self> {
        let upper = name.to_ascii_uppercase();
        if upper.ends_with("_SHA384") {
            Some(MacAlgorithm::HmacSha384)
        } else if upper.ends_with("_SHA256") {
            Some(MacAlgorithm::HmacSha256)
        } else if upper.ends_with("_SHA") {
            Some(MacAlgorithm::HmacSha1)
        } else {
            None
        }
    }

    /// HMAC of `data` under `key`.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length (RFC 2104 section 2): the `Err`
        // arms cannot happen and yield an empty MAC that never verifies.
        match self {
            MacAlgorithm::HmacSha1 => <Hmac<Sha1> as KeyInit>::new_from_slice(key)
                .map(|mut m| {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                })
                .unwrap_or_default(),
            MacAlgorithm::HmacSha256 => <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .map(|mut m| {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                })
                .unwrap_or_default(),
            MacAlgorithm::HmacSha384 => <Hmac<Sha384> as KeyInit>::new_from_slice(key)
                .map(|mut m| {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                })
                .unwrap_or_default(),
        }
    }
}

/// Lower-case hex, as [MS-SIPAE]'s examples write `response` and
/// `rspauth`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Bytes from hex (either case); `None` on odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    // from_str_radix alone would take a leading `+`.
    if !b.len().is_multiple_of(2) || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    b.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The two signing keys of an established security association.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The MAC both sides sign with.
    pub mac: MacAlgorithm,
    client: [u8; KEY_LEN],
    server: [u8; KEY_LEN],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs and traces.
        f.debug_struct("SessionKeys")
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

/// Which side made a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The phone: signs with the client key (`response`).
    Client,
    /// The registrar: signs with the server key (`rspauth`).
    Server,
}

impl SessionKeys {
    /// The keys from the 128 bytes of keying material ([MS-SIPAE] 3.2.5.1:
    /// client key at offset 64, server key at offset 96, 32 bytes each).
    pub fn from_key_material(material: &[u8], mac: MacAlgorithm) -> Result<Self> {
        let part = |off: usize| -> Result<[u8; KEY_LEN]> {
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(
                material
                    .get(off..off + KEY_LEN)
                    .ok_or_else(|| Error::bad_value(WHAT, "keying material under 128 bytes"))?,
            );
            Ok(k)
        };
        Ok(SessionKeys {
            mac,
            client: part(CLIENT_KEY_OFFSET)?,
            server: part(SERVER_KEY_OFFSET)?,
        })
    }

    /// The signing key of `side`.
    pub fn key(&self, side: Side) -> &[u8] {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// The hex signature `side` puts on `signature_string`.
    pub fn sign(&self, side: Side, signature_string: &str) -> String {
        to_hex(&self.mac.mac(self.key(side), signature_string.as_bytes()))
    }

    /// Whether `hex` is `side`'s signature over `signature_string`
    /// (case-insensitive hex, constant-time comparison).
    pub fn verify(&self, side: Side, signature_string: &str, hex: &str) -> bool {
        let want = self.mac.mac(self.key(side), signature_string.as_bytes());
        from_hex(hex).is_some_and(|got| constant_time_eq(&got, &want))
    }
}

/// What a TLS-DSK challenge (`WWW-Authenticate: TLS-DSK ...`) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DskChallenge {
    /// `realm`.
    pub realm: String,
    /// `targetname` (the server's FQDN).
    pub targetname: String,
    /// `version` (4 for current servers; 3 if absent).
    pub version: u32,
    /// `sts-uri`: where a certificate is to be had.
    pub sts_uri: Option<String>,
    /// `opaque`: the security association, on the handshake's later legs.
    pub opaque: Option<String>,
    /// `gssapi-data` decoded: the server's TLS records.
    pub token: Option<Vec<u8>>,
}

impl DskChallenge {
    /// Reads a TLS-DSK challenge; errors on another scheme, a missing realm
    /// or targetname, or `gssapi-data` that is not base64.
    pub fn parse(c: &Challenge) -> Result<Self> {
        if !c.is_scheme(SCHEME) {
            return Err(Error::invalid(WHAT, "not a TLS-DSK challenge"));
        }
        let token = c
            .gssapi_data()
            .filter(|g| !g.is_empty())
            .map(|g| base64::engine::general_purpose::STANDARD.decode(g))
            .transpose()
            .map_err(|_| Error::invalid(WHAT, "gssapi-data is not base64"))?;
        Ok(DskChallenge {
            realm: c
                .realm()
                .ok_or_else(|| Error::invalid(WHAT, "challenge without realm"))?
                .to_owned(),
            targetname: c
                .targetname()
                .ok_or_else(|| Error::invalid(WHAT, "challenge without targetname"))?
                .to_owned(),
            version: c.version().unwrap_or(3),
            sts_uri: c.sts_uri().map(str::to_owned),
            opaque: c.opaque().filter(|o| !o.is_empty()).map(str::to_owned),
            token,
        })
    }

    /// The challenge header value: realm, targetname, version, then
    /// `sts-uri` on a first challenge, or `opaque` and `gssapi-data` on a
    /// handshake leg ([MS-SIPAE] 3.3.5.2).
    pub fn to_value(&self) -> Challenge {
        let mut v = AuthValue::new(SCHEME);
        if let Some(o) = &self.opaque {
            v = v.with("opaque", o.as_str());
        }
        if let Some(t) = &self.token {
            v = v.with(
                "gssapi-data",
                base64::engine::general_purpose::STANDARD.encode(t),
            );
        }
        v = v
            .with("realm", self.realm.as_str())
            .with("targetname", self.targetname.as_str())
            .with("version", self.version.to_string());
        if let Some(s) = &self.sts_uri {
            v = v.with("sts-uri", s.as_str());
        }
        v
    }
}

/// A handshake leg of the client: `Authorization: TLS-DSK qop="auth",
/// realm, opaque (after the first leg), targetname, version,
/// gssapi-data=<base64 TLS records>`.
pub fn handshake_credentials(
    realm: &str,
    targetname: &str,
    version: u32,
    opaque: Option<&str>,
    token: &[u8],
) -> Credentials {
    let mut v = AuthValue::new(SCHEME).with("qop", QOP).with("realm", realm);
    if let Some(o) = opaque {
        v = v.with("opaque", o);
    }
    v.with("targetname", targetname)
        .with("version", version.to_string())
        .with(
            "gssapi-data",
            base64::engine::general_purpose::STANDARD.encode(token),
        )
}

/// The parameters of a signed message, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `opaque`: the security association.
    pub opaque: String,
    /// `realm`.
    pub realm: String,
    /// `targetname`.
    pub targetname: String,
    /// `crand` or `srand`: 8 hex digits.
    pub rand: String,
    /// `cnum` or `snum` as written.
    pub num: String,
    /// `response` or `rspauth`: the hex signature.
    pub signature: String,
    /// `version`, when present.
    pub version: Option<u32>,
}

impl Signed {
    /// The sequence number.
    pub fn number(&self) -> Result<u32> {
        self.num
            .parse()
            .map_err(|_| Error::invalid(WHAT, "cnum / snum is not a number"))
    }

    /// Reads a client's signed `Authorization` (`crand`, `cnum`,
    /// `response`).
    pub fn from_credentials(c: &Credentials) -> Result<Self> {
        Self::from_credentials_of(SCHEME, c)
    }

    /// Reads a server's `Authentication-Info` (`srand`, `snum`, `rspauth`).
    pub fn from_info(c: &AuthValue) -> Result<Self> {
        Self::from_info_of(SCHEME, c)
    }

    /// As [`Signed::from_credentials`] for another [MS-SIPAE] scheme
    /// (`NTLM`): 3.2.5.1 gives every scheme the same signed parameters.
    pub fn from_credentials_of(scheme: &str, c: &Credentials) -> Result<Self> {
        Self::read(scheme, c, "crand", "cnum", "response")
    }

    /// As [`Signed::from_info`] for another [MS-SIPAE] scheme (`NTLM`).
    pub fn from_info_of(scheme: &str, c: &AuthValue) -> Result<Self> {
        Self::read(scheme, c, "srand", "snum", "rspauth")
    }

    fn read(scheme: &str, c: &AuthValue, rand: &str, num: &str, sig: &str) -> Result<Self> {
        if !c.is_scheme(scheme) {
            return Err(Error::invalid(WHAT, format!("not {scheme}")));
        }
        let get = |n: &str| {
            c.param(n)
                .map(str::to_owned)
                .ok_or_else(|| Error::invalid(WHAT, format!("no {n}")))
        };
        Ok(Signed {
            opaque: get("opaque")?,
            realm: get("realm")?,
            targetname: get("targetname")?,
            rand: get(rand)?,
            num: get(num)?,
            signature: get(sig)?,
            version: c.version(),
        })
    }

    /// `Authorization: TLS-DSK qop="auth", opaque, realm, targetname,
    /// crand, cnum, response` as the issue lists them.
    pub fn to_credentials(&self) -> Credentials {
        self.to_credentials_of(SCHEME)
    }

    /// As [`Signed::to_credentials`] under another [MS-SIPAE] scheme.
    pub fn to_credentials_of(&self, scheme: &str) -> Credentials {
        AuthValue::new(scheme)
            .with("qop", QOP)
            .with("opaque", self.opaque.as_str())
            .with("realm", self.realm.as_str())
            .with("targetname", self.targetname.as_str())
            .with("crand", self.rand.as_str())
            .with("cnum", self.num.as_str())
            .with("response", self.signature.as_str())
    }

    /// `Authentication-Info: TLS-DSK qop="auth", opaque, srand, snum,
    /// rspauth, targetname, realm, version` in the order of the [MS-OCPSTN]
    /// 4.7.2.1 example.
    pub fn to_info(&self) -> AuthValue {
        self.to_info_of(SCHEME)
    }

    /// As [`Signed::to_info`] under another [MS-SIPAE] scheme.
    pub fn to_info_of(&self, scheme: &str) -> AuthValue {
        let mut v = AuthValue::new(scheme)
            .with("qop", QOP)
            .with("opaque", self.opaque.as_str())
            .with("srand", self.rand.as_str())
            .with("snum", self.num.as_str())
            .with("rspauth", self.signature.as_str())
            .with("targetname", self.targetname.as_str())
            .with("realm", self.realm.as_str());
        if let Some(ver) = self.version {
            v = v.with("version", ver.to_string());
        }
        v
    }
}

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Seen before.
    Repeated,
    /// Older than the window remembers.
    TooOld,
}

/// The receiver's record of sequence numbers ([MS-SIPAE] 3.3.5.2: the
/// server "MUST verify that the cnum ... has not been used"): a sliding
/// window of 64 behind the highest number seen, as RFC 4303 section 3.4.3
/// keeps for ESP, so messages reordered on their way are not refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: u32,
    /// Bit i set: `highest - i` seen.
    seen: u64,
}

impl ReplayWindow {
    /// Bits of history kept.
    pub const SIZE: u32 = 64;

    /// Records `n` if it was not seen and is inside the window. Zero is
    /// never valid: numbering starts at 1.
    pub fn accept(&mut self, n: u32) -> std::result::Result<(), Replay> {
        if n == 0 {
            return Err(Replay::TooOld);
        }
        if n > self.highest {
            let shift = n - self.highest;
            self.seen = if shift >= Self::SIZE {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = n;
            return Ok(());
        }
        let back = self.highest - n;
        if back >= Self::SIZE {
            return Err(Replay::TooOld);
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            return Err(Replay::Repeated);
        }
        self.seen |= bit;
        Ok(())
    }

    /// The highest number accepted so far (0 before any).
    pub fn highest(&self) -> u32 {
        self.highest
    }
}

/// HMAC-SHA256 for the PRF.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map(|mut m| {
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        })
        .unwrap_or_default()
}

/// `P_SHA256(secret, seed)` of RFC 5246 section 5, cut to `len` bytes.
pub fn p_sha256(secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut a = hmac_sha256(secret, &[seed]);
    while out.len() < len {
        let block = hmac_sha256(secret, &[&a, seed]);
        if block.is_empty() {
            break;
        }
        out.extend_from_slice(&block);
        a = hmac_sha256(secret, &[&a]);
    }
    out.truncate(len);
    out
}

/// The TLS 1.2 PRF with SHA-256 (RFC 5246 section 5):
/// `PRF(secret, label, seed) = P_SHA256(secret, label + seed)`. With the
/// master secret, label `client EAP encryption` and `client_random +
/// server_random` as seed, this is the RFC 5705 exporter without context.
pub fn prf_sha256(secret: &[u8], label: &str, seed: &[u8], len: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(label.len() + seed.len());
    s.extend_from_slice(label.as_bytes());
    s.extend_from_slice(seed);
    p_sha256(secret, &s, len)
}

#[cfg(test)]
mod tests;
