//! HTTP Digest authentication as SIP uses it (RFC 3261 section 22.4), so a
//! phone can register with any standard SIP registrar.
//!
//! Owns the arithmetic of RFC 2617 section 3.2.2 and RFC 7616 section 3.4
//! (MD5, SHA-256 and their `-sess` forms, as RFC 8760 brings SHA-256 to
//! SIP), with `qop=auth` or the RFC 2069 form without qop; the client's
//! `Authorization` value, the server's check of it, and `rspauth` for
//! `Authentication-Info` (RFC 2617 section 3.2.3). The header syntax is
//! [`super::auth::AuthValue`]'s.
//!
//! Does not own: nonces, their lifetime and replay (the server passes a
//! check in), the client's cnonce and nonce count (passed in), `auth-int`
//! (no SIP registrar the project meets asks for it) or the userhash of
//! RFC 7616 section 3.4.4.

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::auth::AuthValue;
use crate::{Error, Result};

const WHAT: &str = "SIP Digest authentication";

/// The `algorithm` parameter (RFC 7616 section 3.3; RFC 8760 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5`, the default when the parameter is absent.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Reads the parameter (case-insensitive, RFC 7616 section 3.3).
    pub fn parse(s: &str) -> Result<Self> {
        [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, a)| a)
        .ok_or_else(|| Error::invalid(WHAT, format!("unsupported algorithm {s:?}")))
    }

    /// The parameter as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// `H(data)` in lower-case hex (RFC 7616 section 3.4: "the hash function
    /// ... represented as a string of lowercase hex").
    pub fn hash_hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => lower_hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                lower_hex(&Sha256::digest(data.as_bytes()))
            }
        }
    }
}

fn lower_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A `Digest` challenge as read from `WWW-Authenticate` /
/// `Proxy-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back unchanged.
    pub opaque: Option<String>,
    /// `algorithm`.
    pub algorithm: Algorithm,
    /// The `qop` options offered (empty: the RFC 2069 form).
    pub qop: Vec<String>,
    /// `stale=true`: the nonce expired, the credentials were right.
    pub stale: bool,
}

impl DigestChallenge {
    /// Reads a `Digest` challenge.
    pub fn from_auth(v: &AuthValue) -> Result<Self> {
        if !v.is_scheme("Digest") {
            return Err(Error::invalid(
                WHAT,
                format!("scheme {:?} is not Digest", v.scheme),
            ));
        }
        let need = |n: &'static str| {
            v.param(n)
                .map(str::to_owned)
                .ok_or_else(|| Error::invalid(WHAT, format!("challenge without {n}")))
        };
        Ok(DigestChallenge {
            realm: need("realm")?,
            nonce: need("nonce")?,
            opaque: v.opaque().map(str::to_owned),
            algorithm: v
                .param("algorithm")
                .map_or(Ok(Algorithm::Md5), Algorithm::parse)?,
            qop: v
                .qop()
                .map(|q| {
                    q.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            stale: v
                .param("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Writes the challenge (RFC 2617 section 3.2.1 quoting).
    pub fn to_auth(&self) -> AuthValue {
        let mut v = AuthValue::new("Digest")
            .with_param("realm", &self.realm, true)
            .with_param("nonce", &self.nonce, true);
        if let Some(o) = &self.opaque {
            v = v.with_param("opaque", o, true);
        }
        v = v.with_param("algorithm", self.algorithm.as_str(), false);
        if !self.qop.is_empty() {
            v = v.with_param("qop", self.qop.join(","), true);
        }
        if self.stale {
            v = v.with_param("stale", "true", false);
        }
        v
    }
}

/// The values a response is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestInput<'a> {
    /// The hash.
    pub algorithm: Algorithm,
    /// `username`.
    pub username: &'a str,
    /// `realm`.
    pub realm: &'a str,
    /// The password.
    pub password: &'a str,
    /// `nonce`.
    pub nonce: &'a str,
    /// The request method (`REGISTER`); empty for `rspauth`.
    pub method: &'a str,
    /// `uri` (the Request-URI, RFC 3261 section 22.4).
    pub uri: &'a str,
    /// `(nc, cnonce)` with `qop=auth`; `None` for the RFC 2069 form.
    pub qop_auth: Option<(u32, &'a str)>,
}

/// The `response` of RFC 2617 section 3.2.2.1 / RFC 7616 section 3.4.1:
/// `KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))`, or
/// `KD(H(A1), nonce ":" H(A2))` without qop, with
/// `A1 = username ":" realm ":" passwd` (for `-sess`,
/// `H(that) ":" nonce ":" cnonce`) and `A2 = method ":" uri`.
pub fn response(i: &DigestInput<'_>) -> String {
    let h = |s: &str| i.algorithm.hash_hex(s);
    let mut ha1 = h(&format!("{}:{}:{}", i.username, i.realm, i.password));
    if i.algorithm.is_sess() {
        let cnonce = i.qop_auth.map(|(_, c)| c).unwrap_or_default();
        ha1 = h(&format!("{ha1}:{}:{cnonce}", i.nonce));
    }
    let ha2 = h(&format!("{}:{}", i.method, i.uri));
    match i.qop_auth {
        Some((nc, cnonce)) => h(&format!("{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}", i.nonce)),
        None => h(&format!("{ha1}:{}:{ha2}", i.nonce)),
    }
}

/// The client's `Authorization` value for `challenge`: `qop=auth` when the
/// challenge offers it (RFC 3261 section 22.4 wants it), otherwise the
/// RFC 2069 form. `nc` counts the requests made with this nonce, from 1.
pub fn authorization(
    challenge: &DigestChallenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<AuthValue> {
    let auth = challenge.qop.iter().any(|q| q.eq_ignore_ascii_case("auth"));
    if !challenge.qop.is_empty() && !auth {
        return Err(Error::invalid(
            WHAT,
            format!(
                "only qop {:?} offered; this client does qop=auth",
                challenge.qop
            ),
        ));
    }
    let input = DigestInput {
        algorithm: challenge.algorithm,
        username,
        realm: &challenge.realm,
        password,
        nonce: &challenge.nonce,
        method,
        uri,
        qop_auth: auth.then_some((nc, cnonce)),
    };
    let mut v = AuthValue::new("Digest")
        .with_param("username", username, true)
        .with_param("realm", &challenge.realm, true)
        .with_param("nonce", &challenge.nonce, true)
        .with_param("uri", uri, true)
        .with_param("response", response(&input), true)
        .with_param("algorithm", challenge.algorithm.as_str(), false);
    if let Some(o) = &challenge.opaque {
        v = v.with_param("opaque", o, true);
    }
    if auth {
        v = v
            .with_param("qop", "auth", false)
            .with_param("nc", format!("{nc:08x}"), false)
            .with_param("cnonce", cnonce, true);
    }
    Ok(v)
}

/// What a server learns from credentials it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `username`.
    pub username: String,
    /// `nc`, when qop was used (the server's replay check compares it).
    pub nc: Option<u32>,
    /// `cnonce`, when qop was used.
    pub cnonce: Option<String>,
}

/// Checks `Authorization` credentials (RFC 2617 section 3.2.2, RFC 3261
/// section 22.4): the realm must be `realm`, `nonce_ok` must accept the
/// nonce (issued by this server and fresh), `password_of(username)` gives
/// the password (`None`: unknown user) and the response must match
/// `method`. The `uri` is taken as the client sent it.
pub fn verify(
    credentials: &AuthValue,
    method: &str,
    realm: &str,
    nonce_ok: impl FnOnce(&str) -> bool,
    password_of: impl FnOnce(&str) -> Option<String>,
) -> Result<Verified> {
    if !credentials.is_scheme("Digest") {
        return Err(Error::invalid(WHAT, "credentials are not Digest"));
    }
    let need = |n: &'static str| {
        credentials
            .param(n)
            .ok_or_else(|| Error::invalid(WHAT, format!("credentials without {n}")))
    };
    let username = need("username")?;
    if need("realm")? != realm {
        return Err(Error::invalid(WHAT, "realm does not match"));
    }
    let nonce = need("nonce")?;
    if !nonce_ok(nonce) {
        return Err(Error::invalid(WHAT, "nonce is unknown or stale"));
    }
    let algorithm = credentials
        .param("algorithm")
        .map_or(Ok(Algorithm::Md5), Algorithm::parse)?;
    let qop_auth = match credentials.qop() {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let nc = u32::from_str_radix(need("nc")?, 16)
                .map_err(|_| Error::invalid(WHAT, "nc is not 8 hex digits"))?;
            Some((nc, need("cnonce")?))
        }
        Some(q) => return Err(Error::invalid(WHAT, format!("unsupported qop {q:?}"))),
    };
    let Some(password) = password_of(username) else {
        return Err(Error::invalid(WHAT, "unknown user"));
    };
    let expected = response(&DigestInput {
        algorithm,
        username,
        realm,
        password: &password,
        nonce,
        method,
        uri: need("uri")?,
        qop_auth,
    });
    let sent = need("response")?.to_ascii_lowercase();
    let same = sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !same {
        return Err(Error::invalid(WHAT, "response does not match"));
    }
    Ok(Verified {
        username: username.to_owned(),
        nc: qop_auth.map(|(n, _)| n),
        cnonce: qop_auth.map(|(_, c)| c.to_owned()),
    })
}

/// The server's `rspauth` (RFC 2617 section 3.2.3): the response with an
/// empty method, `A2 = ":" digest-uri-value`.
pub fn rspauth(i: &DigestInput<'_>) -> String {
    response(&DigestInput { method: "", ..*i })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 section 3.5: Mufasa / "Circle Of Life", qop=auth, nc 1,
    /// cnonce "0a4f113b", GET /dir/index.html gives
    /// response="6629fae49393a05397450978507c4ef1".
    #[test]
    fn rfc2617_3_5_example() {
        let challenge = DigestChallenge::from_auth(
            &AuthValue::parse(
                "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
            )
            .unwrap(),
        )
        .unwrap();
        let v = authorization(
            &challenge,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        )
        .unwrap();
        assert_eq!(v.response(), Some("6629fae49393a05397450978507c4ef1"));
        assert_eq!(v.param("nc"), Some("00000001"));
        assert_eq!(v.opaque(), Some("5ccc069c403ebaf9f0171e9517f40e41"));
        // And the server side accepts exactly that.
        let back = AuthValue::parse(&v.to_string()).unwrap();
        let ok = verify(
            &back,
            "GET",
            "testrealm@host.com",
            |n| n == challenge.nonce,
            |u| (u == "Mufasa").then(|| "Circle Of Life".to_owned()),
        )
        .unwrap();
        assert_eq!(ok.nc, Some(1));
        // Another method, another password, or a nonce the server does
        // not know: each is refused.
        let refused = |method: &str, nonce_known: bool, password: &str| {
            verify(
                &back,
                method,
                "testrealm@host.com",
                |_| nonce_known,
                |_| Some(password.to_owned()),
            )
            .is_err()
        };
        assert!(refused("POST", true, "Circle Of Life"));
        assert!(refused("GET", true, "circle of life"));
        assert!(refused("GET", false, "Circle Of Life"));
    }

    fn rfc7616(algorithm: &str) -> AuthValue {
        let challenge = DigestChallenge::from_auth(
            &AuthValue::parse(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={algorithm}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            ))
            .unwrap(),
        )
        .unwrap();
        authorization(
            &challenge,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        )
        .unwrap()
    }

    /// RFC 7616 section 3.9.1, MD5: response="8ca523f5e9506fed4657c9700eebdbec".
    #[test]
    fn rfc7616_3_9_1_md5() {
        assert_eq!(
            rfc7616("MD5").response(),
            Some("8ca523f5e9506fed4657c9700eebdbec")
        );
    }

    /// RFC 7616 section 3.9.1, SHA-256: response=
    /// "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1".
    #[test]
    fn rfc7616_3_9_1_sha256() {
        let v = rfc7616("SHA-256");
        assert_eq!(
            v.response(),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
        assert_eq!(v.param("algorithm"), Some("SHA-256"));
        let ok = verify(
            &v,
            "GET",
            "http-auth@example.org",
            |_| true,
            |_| Some("Circle of Life".into()),
        );
        assert!(ok.is_ok());
    }

    /// RFC 3261 section 22.4 with RFC 8760: a REGISTER against a SHA-256-sess
    /// challenge verifies on the server, and `rspauth` differs from the
    /// response only by the empty method.
    #[test]
    fn rfc3261_22_4_register_sha256_sess_roundtrip() {
        let ch = DigestChallenge {
            realm: "example.com".into(),
            nonce: "abc".into(),
            opaque: None,
            algorithm: Algorithm::Sha256Sess,
            qop: vec!["auth".into()],
            stale: false,
        };
        let again =
            DigestChallenge::from_auth(&AuthValue::parse(&ch.to_auth().to_string()).unwrap())
                .unwrap();
        assert_eq!(again, ch);
        let v = authorization(&ch, "alice", "pw", "REGISTER", "sip:example.com", "c1", 2).unwrap();
        let ok = verify(
            &v,
            "REGISTER",
            "example.com",
            |_| true,
            |_| Some("pw".into()),
        )
        .unwrap();
        assert_eq!((ok.nc, ok.cnonce.as_deref()), (Some(2), Some("c1")));
        let input = DigestInput {
            algorithm: Algorithm::Sha256Sess,
            username: "alice",
            realm: "example.com",
            password: "pw",
            nonce: "abc",
            method: "REGISTER",
            uri: "sip:example.com",
            qop_auth: Some((2, "c1")),
        };
        assert_eq!(v.response(), Some(response(&input).as_str()));
        assert_ne!(rspauth(&input), response(&input));
    }

    /// RFC 2617 section 3.2.2.1 without qop (the RFC 2069 form) still
    /// round-trips; unknown algorithms are refused, not guessed.
    #[test]
    fn rfc2617_3_2_2_1_without_qop_and_bad_algorithm() {
        let ch = DigestChallenge::from_auth(
            &AuthValue::parse("Digest realm=\"r\", nonce=\"n\"").unwrap(),
        )
        .unwrap();
        let v = authorization(&ch, "u", "p", "REGISTER", "sip:r", "x", 1).unwrap();
        assert_eq!(v.qop(), None);
        verify(&v, "REGISTER", "r", |_| true, |_| Some("p".into())).unwrap();
        assert!(
            DigestChallenge::from_auth(
                &AuthValue::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512").unwrap()
            )
            .is_err()
        );
        assert!(
            DigestChallenge::from_auth(&AuthValue::parse("Digest realm=\"r\"").unwrap()).is_err()
        );
    }

    proptest::proptest! {
        /// Any header text: reading it as a challenge or as credentials
        /// never panics.
        #[test]
        fn digest_readers_never_panic(s in "\\PC{0,160}") {
            if let Ok(v) = AuthValue::parse(&s) {
                let _ = DigestChallenge::from_auth(&v);
                let _ = verify(&v, "REGISTER", "r", |_| true, |_| Some(String::new()));
            }
        }
    }
}
