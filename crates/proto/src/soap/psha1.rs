//! The WS-Trust 1.3 `CK/PSHA1` computed proof key.
//!
//! Owns HMAC-SHA1 (RFC 2104 / RFC 2202), the TLS 1.0 PRF half `P_SHA1`
//! (RFC 2246 section 5) and the key derivation WS-Trust 1.3 section 4.4.3
//! builds on it. Does not own the entropy exchange itself (see
//! [`super::wstrust`]) nor the later XML signature made with the key.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::{Error, Result};

/// URI of the computed-key algorithm, WS-Trust 1.3 section 4.4.3.
pub const CK_PSHA1: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/CK/PSHA1";

/// The key size WS-Trust implementations use when `KeySize` is absent
/// (256 bits, the default of WCF's issued-token binding).
pub const DEFAULT_KEY_BITS: u32 = 256;

/// The largest proof key derived, in bits; far above any real `KeySize`
/// (WS-Trust uses 256) while bounding what a hostile answer can ask for.
pub const MAX_KEY_BITS: u32 = 8192;

/// HMAC-SHA1 of `data` under `key`.
pub fn hmac_sha1(key: &[u8], data: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length (RFC 2104 section 2), so this never
    // fails; the fallback only exists to avoid an unwrap.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
        return [0; 20];
    };
    for d in data {
        mac.update(d);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// `P_SHA1(secret, seed)` of RFC 2246 section 5, cut to `len` bytes:
///
/// ```text
/// P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) +
///                        HMAC_hash(secret, A(2) + seed) + ...
/// A(0) = seed, A(i) = HMAC_hash(secret, A(i-1))
/// ```
pub fn p_sha1(secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 20);
    let mut a = hmac_sha1(secret, &[seed]);
    while out.len() < len {
        out.extend_from_slice(&hmac_sha1(secret, &[&a, seed]));
        a = hmac_sha1(secret, &[&a]);
    }
    out.truncate(len);
    out
}

/// The `CK/PSHA1` proof key of WS-Trust 1.3 section 4.4.3: "The key is
/// computed using P_SHA1 from the TLS specification to generate a bit stream
/// using entropy from both sides. The exact form is:
/// `key = P_SHA1 (EntREQ, EntRES)`" — the requestor's entropy is the HMAC
/// secret and the issuer's entropy the seed — cut to `key_bits`.
pub fn computed_key(
    requestor_entropy: &[u8],
    issuer_entropy: &[u8],
    key_bits: u32,
) -> Result<Vec<u8>> {
    if key_bits == 0 || !key_bits.is_multiple_of(8) || key_bits > MAX_KEY_BITS {
        return Err(Error::bad_value(
            "WS-Trust KeySize",
            format!("{key_bits} bits is not a whole number of bytes in 8..={MAX_KEY_BITS}"),
        ));
    }
    let len = usize::try_from(key_bits / 8).unwrap_or(0);
    Ok(p_sha1(requestor_entropy, issuer_entropy, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 2202 section 3, test cases 1, 2, 3, 6 and 7 for HMAC-SHA1.
    #[test]
    fn rfc2202_section_3_hmac_sha1() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 5] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"
                    .to_vec(),
                "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(hmac_sha1(&key, &[&data]).to_vec(), hex(want));
        }
    }

    /// RFC 2246 section 5: P_SHA1 over several HMAC blocks, cut mid-block.
    /// Expected bytes computed independently with Python's hmac/hashlib:
    /// `a=seed; out=b''` then repeat `a=hmac(secret,a,sha1);
    /// out+=hmac(secret,a+seed,sha1)` and take the first 45 bytes, with
    /// secret=b"secret", seed=b"seed".
    #[test]
    fn rfc2246_section_5_p_sha1() {
        assert_eq!(
            p_sha1(b"secret", b"seed", 45),
            hex(
                "5d55432bdfe9b93a813acc932adf0f297815d1c83166a983ea042d410665dfa1\
                 9268d99774fd6f3fc5433f0465"
            )
        );
        assert!(p_sha1(b"k", b"s", 0).is_empty());
    }

    /// WS-Trust 1.3 section 4.4.3: key = P_SHA1(EntREQ, EntRES). Expected
    /// bytes from the same Python P_SHA1 with secret = requestor entropy
    /// bytes 0x00..0x1f and seed = issuer entropy bytes 0x80..0x9f, 32 bytes.
    /// Swapping the roles gives a different key (second vector, same way
    /// with secret and seed exchanged), which pins the assignment.
    #[test]
    fn ws_trust_1_3_section_4_4_3_psha1_secret_is_requestor_entropy() {
        let req: Vec<u8> = (0u8..32).collect();
        let res: Vec<u8> = (0x80u8..0xa0).collect();
        assert_eq!(
            computed_key(&req, &res, 256).unwrap(),
            hex("2f738c0d36c86c17dc1c0c4578d6a194847b817095b34c840403604f0947ac4c")
        );
        assert_eq!(
            computed_key(&res, &req, 256).unwrap(),
            hex("fe820eb991249c252cc689a45fee8eeff8bd830279d51dd19bc615e4abe19abb")
        );
        // KeySize truncates the same stream.
        assert_eq!(
            computed_key(&req, &res, 128).unwrap(),
            computed_key(&req, &res, 256).unwrap()[..16].to_vec()
        );
        assert!(computed_key(&req, &res, 0).is_err());
        assert!(computed_key(&req, &res, 100).is_err());
        assert!(computed_key(&req, &res, MAX_KEY_BITS + 8).is_err());
    }
}
