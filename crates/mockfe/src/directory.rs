//! The mock pool's user directory and per-user state.
//!
//! Users are generated arithmetically from [`UsersConfig`], so 100,000 of
//! them cost nothing until they act: user `n` has number
//! `first_number + n`, an extension made of its last digits, SIP URI
//! `<prefix><n>@<domain>`, and a home Front End chosen round-robin. The
//! state that changes (wrong PIN count and lockout, whether a certificate
//! was published) sits in one small lock per user. This module owns
//! lookup, PIN checking and that state; it owns no protocol.

use std::sync::Mutex;

use crate::config::UsersConfig;

/// One user as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Index in the directory, 0-based.
    pub index: u32,
    /// `user<n>@<domain>`, without the `sip:` scheme.
    pub sip_address: String,
    /// The full number, digits only (E.164 without `+`).
    pub number: String,
    /// The extension: the last digits of the number.
    pub extension: String,
    /// Index of the user's home Front End.
    pub home: usize,
}

impl User {
    /// The SIP URI, `sip:user<n>@<domain>`.
    pub fn sip_uri(&self) -> String {
        format!("sip:{}", self.sip_address)
    }
}

/// The outcome of a PIN sign-in attempt, mapped by the web ticket service
/// to the answers a pool gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// Right PIN: here is the user.
    Ok(User),
    /// No user with that number or extension.
    UnknownUser,
    /// Wrong PIN; `remaining` attempts before lockout.
    WrongPin {
        /// Attempts left before lockout.
        remaining: u32,
    },
    /// Too many wrong PINs: locked until an administrator resets it.
    LockedOut,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    certificate_published: bool,
}

/// The directory.
#[derive(Debug)]
pub struct Directory {
    cfg: UsersConfig,
    domain: String,
    front_ends: usize,
    lockout_after: u32,
    state: Vec<Mutex<State>>,
}

impl Directory {
    /// A directory of `cfg.count` users in `domain`, homed across
    /// `front_ends` Front Ends.
    pub fn new(cfg: UsersConfig, domain: &str, front_ends: usize, lockout_after: u32) -> Self {
        let state = (0..cfg.count)
            .map(|_| Mutex::new(State::default()))
            .collect();
        Directory {
            cfg,
            domain: domain.to_owned(),
            front_ends: front_ends.max(1),
            lockout_after,
            state,
        }
    }

    /// Number of users.
    pub fn len(&self) -> u32 {
        self.cfg.count
    }

    /// Whether the directory is empty (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.cfg.count == 0
    }

    /// User `index`, if it exists.
    pub fn user(&self, index: u32) -> Option<User> {
        if index >= self.cfg.count {
            return None;
        }
        let number = (self.cfg.first_number + u64::from(index)).to_string();
        let digits = self.cfg.extension_digits as usize;
        let extension = number
            .get(number.len().saturating_sub(digits)..)
            .unwrap_or(&number)
            .to_owned();
        Some(User {
            index,
            sip_address: format!("{}{index}@{}", self.cfg.sip_prefix, self.domain),
            number,
            extension,
            home: index as usize % self.front_ends,
        })
    }

    /// Finds a user by phone number or extension, normalised as a pool's
    /// dial plan would: `tel:`, `+`, spaces, dashes, dots and brackets are
    /// dropped; as many digits as an extension has match the extension;
    /// otherwise the digits must be the full number.
    pub fn by_phone(&self, dialled: &str) -> Option<User> {
        let trimmed = dialled.trim();
        let trimmed = trimmed.strip_prefix("tel:").unwrap_or(trimmed);
        let trimmed = trimmed.split(';').next().unwrap_or(trimmed);
        let mut digits = String::with_capacity(trimmed.len());
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' | ' ' | '-' | '.' | '(' | ')' => {}
                _ => return None,
            }
        }
        if digits.is_empty() || digits.len() > 19 {
            return None;
        }
        let first = self.cfg.first_number;
        let last = first + u64::from(self.cfg.count) - 1;
        if digits.len() == self.cfg.extension_digits as usize {
            // The extension is the number's tail: find the user whose
            // number ends in it. Numbers are consecutive, so at most one
            // does when count <= 10^digits.
            let modulus = 10u64.checked_pow(self.cfg.extension_digits)?;
            let ext: u64 = digits.parse().ok()?;
            let base = first - first % modulus + ext;
            let candidate = if base < first { base + modulus } else { base };
            return (candidate <= last)
                .then(|| self.user(u32::try_from(candidate - first).ok()?))
                .flatten();
        }
        let n: u64 = digits.parse().ok()?;
        if (first..=last).contains(&n) {
            self.user(u32::try_from(n - first).ok()?)
        } else {
            None
        }
    }

    /// Finds a user by SIP address (`user<n>@<domain>`, with or without
    /// `sip:`). The user part compares case-sensitively and the host not,
    /// as RFC 3261 section 19.1.4 compares SIP URIs.
    pub fn by_sip(&self, address: &str) -> Option<User> {
        let a = address.strip_prefix("sip:").unwrap_or(address);
        let (local, domain) = a.split_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let n: u32 = local
            .strip_prefix(self.cfg.sip_prefix.as_str())?
            .parse()
            .ok()?;
        // Reject `user042`: only the canonical spelling of n names user n.
        (local.len() == self.cfg.sip_prefix.len() + decimal_len(n))
            .then(|| self.user(n))
            .flatten()
    }

    /// The NetBIOS domain of the users' NTLM accounts.
    pub fn ntlm_domain(&self) -> &str {
        &self.cfg.ntlm_domain
    }

    /// User `index`'s password: the configured pattern with `{n}` replaced
    /// by the index (NTLM and Digest prove it).
    pub fn password(&self, index: u32) -> String {
        self.cfg.password.replace("{n}", &index.to_string())
    }

    /// The user an NTLM AUTHENTICATE_MESSAGE names: the user name is the
    /// SIP user part, compared without case as Windows accounts are, and
    /// the domain must be the directory's NTLM domain.
    pub fn by_ntlm(&self, user: &str, domain: &str) -> Option<User> {
        if !domain.eq_ignore_ascii_case(&self.cfg.ntlm_domain) {
            return None;
        }
        let prefix = self.cfg.sip_prefix.as_str();
        let n: u32 = user
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .and_then(|_| user.get(prefix.len()..))?
            .parse()
            .ok()?;
        (user.len() == prefix.len() + decimal_len(n))
            .then(|| self.user(n))
            .flatten()
    }

    /// The user a Digest `username` names (the SIP user part, as a
    /// standard registrar's subscriber table keys it).
    pub fn by_username(&self, username: &str) -> Option<User> {
        self.by_sip(&format!("{username}@{}", self.domain))
    }

    /// Checks a PIN sign-in, counting failures towards lockout.
    pub fn check_pin(&self, dialled: &str, pin: &str) -> PinCheck {
        let Some(user) = self.by_phone(dialled) else {
            return PinCheck::UnknownUser;
        };
        let Some(cell) = self.state.get(user.index as usize) else {
            return PinCheck::UnknownUser;
        };
        let mut st = cell.lock().unwrap_or_else(|p| p.into_inner());
        if self.lockout_after > 0 && st.failures >= self.lockout_after {
            return PinCheck::LockedOut;
        }
        if constant_time_eq(pin.as_bytes(), self.cfg.pin.as_bytes()) {
            st.failures = 0;
            PinCheck::Ok(user)
        } else {
            st.failures += 1;
            if self.lockout_after > 0 && st.failures >= self.lockout_after {
                PinCheck::LockedOut
            } else {
                PinCheck::WrongPin {
                    remaining: self.lockout_after.saturating_sub(st.failures),
                }
            }
        }
    }

    /// Records that a certificate was published for the user; returns
    /// whether this was the first time (a first sign-in, which costs the
    /// back-end store more).
    pub fn publish_certificate(&self, index: u32) -> bool {
        let Some(cell) = self.state.get(index as usize) else {
            return false;
        };
        let mut st = cell.lock().unwrap_or_else(|p| p.into_inner());
        !std::mem::replace(&mut st.certificate_published, true)
    }
}

fn decimal_len(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Compares secrets without an early exit, so a PIN cannot be guessed
/// digit by digit from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        Directory::new(
            UsersConfig {
                count: 1000,
                first_number: 14_255_550_000,
                extension_digits: 5,
                pin: "13579".into(),
                sip_prefix: "user".into(),
                password: "pw{n}x".into(),
                ntlm_domain: "CONTOSO".into(),
            },
            "contoso.com",
            3,
            3,
        )
    }

    #[test]
    fn numbers_extensions_and_uris_agree() {
        let d = dir();
        let u = d.user(42).unwrap();
        assert_eq!(u.number, "14255550042");
        assert_eq!(u.extension, "50042");
        assert_eq!(u.sip_uri(), "sip:user42@contoso.com");
        assert_eq!(u.home, 0);
        for dialled in [
            "50042",
            "+1 (425) 555-0042",
            "tel:+14255550042",
            "14255550042",
        ] {
            assert_eq!(d.by_phone(dialled).as_ref(), Some(&u), "{dialled}");
        }
        assert_eq!(
            d.by_sip("sip:user42@CONTOSO.com").map(|u| u.index),
            Some(42)
        );
        assert_eq!(d.by_sip("sip:USER42@contoso.com"), None);
        assert_eq!(d.by_sip("user0@contoso.com").map(|u| u.index), Some(0));
        assert_eq!(d.by_sip("user42@fabrikam.com"), None);
        assert_eq!(d.by_sip("user042@contoso.com"), None);
        assert_eq!(d.by_phone("51000"), None);
        assert_eq!(d.by_phone("12x"), None);
        assert_eq!(d.user(1000), None);
    }

    #[test]
    fn passwords_and_ntlm_names_follow_the_index() {
        let d = dir();
        assert_eq!(d.password(42), "pw42x");
        assert_eq!(d.by_ntlm("USER42", "contoso").map(|u| u.index), Some(42));
        assert_eq!(d.by_ntlm("user42", "FABRIKAM"), None);
        assert_eq!(d.by_ntlm("user042", "CONTOSO"), None);
        assert_eq!(d.by_ntlm("user", "CONTOSO"), None);
        assert_eq!(d.by_username("user7").map(|u| u.index), Some(7));
    }

    #[test]
    fn wrong_pins_lock_out() {
        let d = dir();
        assert!(matches!(d.check_pin("50001", "13579"), PinCheck::Ok(_)));
        assert_eq!(
            d.check_pin("50001", "0000"),
            PinCheck::WrongPin { remaining: 2 }
        );
        assert_eq!(
            d.check_pin("50001", "0000"),
            PinCheck::WrongPin { remaining: 1 }
        );
        assert_eq!(d.check_pin("50001", "0000"), PinCheck::LockedOut);
        assert_eq!(d.check_pin("50001", "13579"), PinCheck::LockedOut);
        assert_eq!(d.check_pin("59999", "13579"), PinCheck::UnknownUser);
        assert!(d.publish_certificate(1));
        assert!(!d.publish_certificate(1));
    }
}
