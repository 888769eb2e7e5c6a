//! The users phones sign in as: generated from a number range, or read
//! from a CSV file of `number,pin[,sip_uri[,password]]`.
//!
//! This module only parses and hands out identities; which phone gets
//! which user is the run's choice (phone `n` gets user `n`).

use std::path::Path;

use crate::error::{Error, Result};

/// One user's sign-in credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The phone number or extension typed on the phone.
    pub number: String,
    /// The PIN.
    pub pin: String,
    /// The SIP URI, when the file gives one (else the phone learns it).
    pub sip_uri: Option<String>,
    /// The account's password (NTLM, Digest); empty when none is given.
    pub password: String,
}

/// Where users come from, as the scenario says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Users {
    /// User `n` has number `first_number + n` (its last `extension_digits`
    /// digits as an extension when that is non-zero) and `pin`.
    Generated {
        /// The first user's number.
        first_number: u64,
        /// Sign in with this many trailing digits instead of the full
        /// number; 0 for the full number.
        extension_digits: u32,
        /// Every generated user's PIN.
        pin: String,
        /// The password pattern: `{n}` stands for the user's index, so
        /// user n's password is the mock directory's for user n.
        password: String,
        /// SIP user part prefix: user n is `<prefix><n>@<domain>`.
        sip_prefix: String,
    },
    /// Users from a CSV file (path resolved against the scenario's folder).
    Csv(std::path::PathBuf),
}

impl Users {
    /// User `n` of a generated range; `None` for CSV users or on overflow.
    pub fn generated(&self, n: u32) -> Option<User> {
        let Users::Generated {
            first_number,
            extension_digits,
            pin,
            password,
            ..
        } = self
        else {
            return None;
        };
        let number = first_number.checked_add(u64::from(n))?;
        let number = if *extension_digits == 0 {
            number.to_string()
        } else {
            let modulus = 10u64.checked_pow(*extension_digits)?;
            format!(
                "{:0width$}",
                number % modulus,
                width = usize::try_from(*extension_digits).ok()?
            )
        };
        Some(User {
            number,
            pin: pin.clone(),
            sip_uri: None,
            password: password.replace("{n}", &n.to_string()),
        })
    }

    /// User `n`'s SIP URI in `domain`, for a generated range (phones that
    /// sign in with a password, and so skip `ResolveUser`, must know it).
    pub fn generated_sip_uri(&self, n: u32, domain: &str) -> Option<String> {
        let Users::Generated { sip_prefix, .. } = self else {
            return None;
        };
        Some(format!("sip:{sip_prefix}{n}@{domain}"))
    }
}

/// A phone number or extension as a phone's keypad enters it at the PIN
/// prompt: digits, with `+` allowed as in an E.164 number.
pub fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '+')
}

/// A PIN: digits only, as a pool's PIN policy allows.
pub fn is_pin(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// Parses a users CSV: one user per line, `number,pin[,sip_uri[,password]]`
/// (an empty sip_uri field leaves it to the phone to learn); blank
/// lines and lines starting with `#` are skipped, and so is a first line
/// that starts with `number` (a header).
pub fn parse_csv(path: &Path, text: &str) -> Result<Vec<User>> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (n == 1 && line.starts_with("number")) {
            continue;
        }
        let bad = |message: String| Error::Csv {
            path: path.to_owned(),
            line: n,
            message,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (number, pin, uri, password) = match fields.as_slice() {
            [number, pin] => (*number, *pin, None, ""),
            [number, pin, uri] => (*number, *pin, Some(*uri), ""),
            [number, pin, uri, password] if !password.is_empty() => {
                (*number, *pin, Some(*uri), *password)
            }
            [_, _, _, _] => return Err(bad("the password field is empty".into())),
            _ => {
                return Err(bad(format!(
                    "expected number,pin[,sip_uri[,password]], found {} fields",
                    fields.len()
                )));
            }
        };
        let uri = uri.filter(|u| !u.is_empty());
        if !is_number(number) {
            return Err(bad(format!(
                "expected a phone number of digits, found {number:?}"
            )));
        }
        if !is_pin(pin) {
            return Err(bad(format!("expected a PIN of digits, found {pin:?}")));
        }
        if let Some(uri) = uri
            && (!uri.starts_with("sip:") || !uri.contains('@'))
        {
            return Err(bad(format!(
                "expected a sip:user@domain URI, found {uri:?}"
            )));
        }
        users.push(User {
            number: number.to_owned(),
            pin: pin.to_owned(),
            sip_uri: uri.map(str::to_owned),
            password: password.to_owned(),
        });
    }
    Ok(users)
}

/// Reads and parses a users CSV file.
pub fn load_csv(path: &Path) -> Result<Vec<User>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_csv(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_users_count_up_and_cut_extensions() {
        let u = Users::Generated {
            first_number: 14255550000,
            extension_digits: 5,
            pin: "13579".into(),
            password: "pw{n}".into(),
            sip_prefix: "user".into(),
        };
        assert_eq!(u.generated(7).unwrap().number, "50007");
        assert_eq!(u.generated(7).unwrap().password, "pw7");
        assert_eq!(
            u.generated_sip_uri(7, "contoso.com").as_deref(),
            Some("sip:user7@contoso.com")
        );
        let full = Users::Generated {
            first_number: 1000,
            extension_digits: 0,
            pin: "1".into(),
            password: "p".into(),
            sip_prefix: "u".into(),
        };
        assert_eq!(full.generated(2).unwrap().number, "1002");
        assert_eq!(Users::Csv("x".into()).generated(0), None);
    }

    #[test]
    fn csv_with_header_comments_and_uri() {
        let text =
            "number,pin,sip_uri\n# staff\n4255550100,1234\n\n4255550101,9999,sip:bob@contoso.com\n";
        let users = parse_csv(Path::new("u.csv"), text).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].sip_uri.as_deref(), Some("sip:bob@contoso.com"));
        assert_eq!(users[1].password, "");
    }

    #[test]
    fn csv_password_column() {
        let text = "4255550100,1234,sip:ann@contoso.com,S3cret!\n4255550101,1,,Pw2\n";
        let users = parse_csv(Path::new("u.csv"), text).unwrap();
        assert_eq!(users[0].password, "S3cret!");
        assert_eq!(users[1].sip_uri, None);
        assert_eq!(users[1].password, "Pw2");
        let err = parse_csv(Path::new("u.csv"), "1,2,sip:a@b,\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("password field is empty"), "{err}");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let err = parse_csv(Path::new("u.csv"), "1,2\n3\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "u.csv: line 2: expected number,pin[,sip_uri[,password]], found 1 fields"
        );
        let err = parse_csv(Path::new("u.csv"), "1,ab\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("u.csv: line 1: expected a PIN"), "{err}");
        let err = parse_csv(Path::new("u.csv"), "1,2,bob\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sip:user@domain"), "{err}");
    }
}
