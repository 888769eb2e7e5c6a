//! The registrar's side of RFC 3261 section 22.4 Digest, for
//! `registrar.auth = "digest"`: the nonces it hands out, their lifetime
//! (an old one earns `stale=true`, RFC 7616 section 3.3) and the nonce
//! count each has reached (a repeated `nc` is a replay, RFC 7616 section
//! 3.4.5).
//!
//! It owns that state. The arithmetic and the header syntax are
//! `phonestorm_proto::sip::digest`'s; what a request gets once verified is
//! `super::answer`'s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use phonestorm_proto::sip::AuthValue;
use phonestorm_proto::sip::digest::{self, Algorithm, DigestChallenge};
use rand::RngExt;
use tokio::time::Instant;

use crate::clock;
use crate::directory::{Directory, User};

/// Nonces kept at most; beyond it expired ones are swept, then new ones
/// are not remembered (a client then gets `stale=true` and a fresh one).
const MAX_NONCES: usize = 200_000;

/// One nonce handed out.
#[derive(Debug)]
struct Nonce {
    issued: Instant,
    /// Highest `nc` accepted so far (0: none yet).
    nc: u32,
}

/// Why Digest credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The nonce is past its life or unknown: challenge again, stale.
    Stale,
    /// The `nc` was used before with this nonce.
    Replayed,
    /// Wrong password, unknown user, malformed credentials: the reason.
    Bad(String),
    /// Right credentials for another user than the From URI's.
    WrongUser,
}

impl Refusal {
    /// The label counted in the mock's metrics.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Refusal::Stale => "digest_stale",
            Refusal::Replayed => "replayed_nc",
            Refusal::Bad(_) => "digest_response",
            Refusal::WrongUser => "wrong_user",
        }
    }
}

/// The Digest nonces of one Front End.
#[derive(Debug)]
pub struct DigestServer {
    algorithm: Algorithm,
    lifetime: Duration,
    nonces: Mutex<HashMap<String, Nonce>>,
}

impl DigestServer {
    /// A server challenging with `algorithm`, nonces good for `lifetime`.
    pub fn new(algorithm: Algorithm, lifetime: Duration) -> Self {
        DigestServer {
            algorithm,
            lifetime,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh challenge (`stale=true` when the last nonce expired).
    pub(super) fn challenge(&self, realm: &str, stale: bool) -> AuthValue {
        let nonce: String = (0..2)
            .map(|_| format!("{:016x}", rand::rng().random::<u64>()))
            .collect();
        let now = clock::now();
        if let Ok(mut n) = self.nonces.lock() {
            if n.len() >= MAX_NONCES {
                n.retain(|_, v| now.duration_since(v.issued) < self.lifetime);
            }
            if n.len() < MAX_NONCES {
                n.insert(nonce.clone(), Nonce { issued: now, nc: 0 });
            }
        }
        DigestChallenge {
            realm: realm.to_owned(),
            nonce,
            opaque: None,
            algorithm: self.algorithm,
            qop: vec!["auth".into()],
            stale,
        }
        .to_auth()
    }

    /// Checks `creds` of a request by the From user `from` (a SIP address
    /// without `sip:`): the nonce is ours and fresh, the response proves
    /// the directory's password, the `nc` is new. `Ok(true)` for the
    /// first request under a nonce (a sign-in), `Ok(false)` for later ones.
    pub(super) fn verify(
        &self,
        creds: &AuthValue,
        method: &str,
        realm: &str,
        directory: &Directory,
        from: &str,
    ) -> Result<bool, Refusal> {
        let now = clock::now();
        let nonce = creds.nonce().unwrap_or_default().to_owned();
        let mut fresh = false;
        let mut user: Option<User> = None;
        let verified = digest::verify(
            creds,
            method,
            realm,
            |n| {
                fresh = self.nonces.lock().is_ok_and(|m| {
                    m.get(n)
                        .is_some_and(|v| now.duration_since(v.issued) < self.lifetime)
                });
                fresh
            },
            |name| {
                let u = directory.by_username(name)?;
                let password = directory.password(u.index);
                user = Some(u);
                Some(password)
            },
        );
        let verified = match verified {
            Ok(v) => v,
            Err(_) if !fresh => {
                if let Ok(mut m) = self.nonces.lock() {
                    m.remove(&nonce);
                }
                return Err(Refusal::Stale);
            }
            Err(e) => return Err(Refusal::Bad(e.to_string())),
        };
        if !user.is_some_and(|u| u.sip_address.eq_ignore_ascii_case(from)) {
            return Err(Refusal::WrongUser);
        }
        // Without qop there is no count: every request is a first one.
        let nc = verified.nc.unwrap_or(1);
        let mut m = self.nonces.lock().map_err(|_| Refusal::Stale)?;
        let entry = m.get_mut(&nonce).ok_or(Refusal::Stale)?;
        if verified.nc.is_some() && nc <= entry.nc {
            return Err(Refusal::Replayed);
        }
        let first = entry.nc == 0;
        entry.nc = nc;
        Ok(first)
    }
}
