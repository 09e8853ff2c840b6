//! Username and password policy: email validation as Zulip's Django validator does it,
//! `require_email_format_usernames`, and the password-strength rule.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;

use crate::secret::Password;

/// Django's `EmailValidator` message, which Zulip returns for a non-email username.
pub const INVALID_EMAIL_MSG: &str = "Enter a valid email address.";

/// Longest address Django accepts (RFC 3696 errata).
const MAX_EMAIL_LEN: usize = 320;

static USER_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Dot-atom, or a quoted string; a port of Django's `user_regex` (case-insensitive there, and
    // the classes below list both cases). Built from literals, so compiling cannot fail.
    Regex::new(concat!(
        r"^(?:[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*",
        r#"|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")$"#,
    ))
    .unwrap_or_else(unreachable_regex)
});

static DOMAIN_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Django's `domain_regex`: labels, then a TLD of 2-63 letters, digits or hyphens.
    Regex::new(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$")
        .unwrap_or_else(unreachable_regex)
});

static LITERAL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([A-Fa-f0-9:.]+)\]$").unwrap_or_else(unreachable_regex));

#[cold]
fn unreachable_regex(e: regex::Error) -> Regex {
    panic!("built-in regex failed to compile: {e}")
}

/// The address is not one Django's `EmailValidator` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Enter a valid email address.")]
pub struct InvalidEmail;

/// Validates an address as Django's `validate_email` does (ASCII domains; literal IPs; `localhost`).
/// The value is taken as given: surrounding whitespace makes it invalid, as in Zulip.
pub fn validate_email(value: &str) -> Result<(), InvalidEmail> {
    if value.is_empty() || value.len() > MAX_EMAIL_LEN {
        return Err(InvalidEmail);
    }
    // Django accepts control characters in a quoted local part; Latchkey does not (they would
    // reach terminals through log lines, and no mail system delivers to them).
    if value.chars().any(char::is_control) {
        return Err(InvalidEmail);
    }
    let Some((user, domain)) = value.rsplit_once('@') else {
        return Err(InvalidEmail);
    };
    if !USER_RE.is_match(user) {
        return Err(InvalidEmail);
    }
    if domain == "localhost" || valid_domain(domain) {
        Ok(())
    } else {
        Err(InvalidEmail)
    }
}

fn valid_domain(domain: &str) -> bool {
    if DOMAIN_RE.is_match(domain) {
        // Django's TLD pattern has a negative look-behind: the TLD must not end with '-'.
        return !domain.ends_with('-');
    }
    if let Some(caps) = LITERAL_RE.captures(domain) {
        let ip = &caps[1];
        return ip.parse::<Ipv4Addr>().is_ok() || ip.parse::<Ipv6Addr>().is_ok();
    }
    false
}

/// Longest username a login accepts, in characters (an email address's practical limit).
pub const MAX_USERNAME_CHARS: usize = 254;

/// A username no backend should see: too long, or with control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUsername {
    #[error("Invalid username: longer than 254 characters.")]
    TooLong,
    #[error("Invalid username: it contains control characters.")]
    ControlCharacter,
}

/// The check every login path makes before any backend runs or any rate-limit key is formed:
/// at most [`MAX_USERNAME_CHARS`] characters and no control characters (they would reach
/// terminals through log lines, and no directory or account holds them).
pub fn check_username_shape(username: &str) -> Result<(), InvalidUsername> {
    if username.chars().any(char::is_control) {
        return Err(InvalidUsername::ControlCharacter);
    }
    if username.chars().count() > MAX_USERNAME_CHARS {
        return Err(InvalidUsername::TooLong);
    }
    Ok(())
}

/// Zulip's `require_email_format_usernames(realm)`: false exactly when LDAP is enabled for the
/// realm and the LDAP configuration maps usernames to emails (an append domain or an email
/// attribute); true otherwise.
pub fn require_email_format_usernames(ldap_enabled: bool, ldap_maps_usernames: bool) -> bool {
    !(ldap_enabled && ldap_maps_usernames)
}

/// The username check that runs before any backend: when the realm requires email-format
/// usernames, a username that is not an email is refused with [`InvalidEmail`].
pub fn check_login_username(username: &str, require_email: bool) -> Result<(), InvalidEmail> {
    if require_email {
        validate_email(username)
    } else {
        Ok(())
    }
}

/// Longest subdomain accepted for a new realm.
pub const MAX_SUBDOMAIN_LEN: usize = 40;

/// Why a subdomain cannot name a new realm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSubdomain {
    #[error("subdomain is longer than {MAX_SUBDOMAIN_LEN} characters")]
    TooLong,
    #[error(
        "subdomain may contain only lower-case letters, digits and hyphens, and may not start or end with a hyphen"
    )]
    BadCharacters,
    #[error("subdomain {0:?} is reserved")]
    Reserved(String),
}

/// Checks a new realm's subdomain. The empty subdomain is the root realm and is allowed;
/// `reserved` lists names that mean something else (the root aliases, such as `www`).
pub fn validate_subdomain(subdomain: &str, reserved: &[String]) -> Result<(), InvalidSubdomain> {
    if subdomain.is_empty() {
        return Ok(());
    }
    if subdomain.len() > MAX_SUBDOMAIN_LEN {
        return Err(InvalidSubdomain::TooLong);
    }
    let ok_chars = subdomain
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok_chars || subdomain.starts_with('-') || subdomain.ends_with('-') {
        return Err(InvalidSubdomain::BadCharacters);
    }
    if reserved.iter().any(|r| r == subdomain) {
        return Err(InvalidSubdomain::Reserved(subdomain.to_owned()));
    }
    Ok(())
}

/// Password strength rule (Zulip's `check_password_strength`): a minimum length, a maximum
/// length, and a minimum zxcvbn guess estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    pub min_guesses: u64,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 6,
            max_length: 100,
            min_guesses: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("password is empty")]
    Empty,
    #[error("password is shorter than {0} characters")]
    TooShort(usize),
    #[error("password is longer than {0} characters")]
    TooLong(usize),
    #[error("password is too easy to guess")]
    TooGuessable,
}

impl PasswordPolicy {
    /// Checks a new password. `hints` are words the password should not be built from
    /// (the person's name and email).
    pub fn check(&self, password: &Password, hints: &[&str]) -> Result<(), WeakPassword> {
        let pw = password.expose();
        if pw.is_empty() {
            return Err(WeakPassword::Empty);
        }
        let chars = pw.chars().count();
        if chars < self.min_length {
            return Err(WeakPassword::TooShort(self.min_length));
        }
        if chars > self.max_length {
            return Err(WeakPassword::TooLong(self.max_length));
        }
        if self.min_guesses > 0 {
            let estimate = zxcvbn::zxcvbn(pw, hints);
            if estimate.guesses() < self.min_guesses {
                return Err(WeakPassword::TooGuessable);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "hamlet@zulip.com",
            "a.b+c@example.org",
            "x@localhost",
            "user@[127.0.0.1]",
            "user@[::1]",
            "\"odd@user\"@example.org",
            "o'neil@example.co.uk",
            "HAMLET@ZULIP.COM",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_django_refuses() {
        for bad in [
            "",
            "hamlet",
            "hamlet@",
            "@zulip.com",
            " hamlet@zulip.com",
            "hamlet@zulip.com ",
            "ham let@zulip.com",
            "hamlet@zulip",
            "hamlet@zulip.c",
            "hamlet@-zulip.com",
            "hamlet@zulip.com-",
            "a..b@zulip.com",
            "hamlet@[999.1.1.1]",
            "hamlet@zu\u{0}lip.com",
            "*)(uid=*@example.org",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        assert!(validate_email(&format!("{}@example.org", "a".repeat(400))).is_err());
    }

    #[test]
    fn control_characters_and_overlong_names_are_refused() {
        assert!(validate_email("\"\x1b[31mred\"@zulip.com").is_err());
        assert!(validate_email("\"tab\there\"@zulip.com").is_err());
        assert_eq!(check_username_shape("hamlet@zulip.com"), Ok(()));
        assert_eq!(check_username_shape("ｈａｍｌｅｔ"), Ok(()));
        assert_eq!(
            check_username_shape("\"\x1b[31m\"@zulip.com"),
            Err(InvalidUsername::ControlCharacter)
        );
        assert_eq!(
            check_username_shape("ham\nlet"),
            Err(InvalidUsername::ControlCharacter)
        );
        assert_eq!(check_username_shape(&"é".repeat(254)), Ok(()));
        assert_eq!(
            check_username_shape(&"a".repeat(255)),
            Err(InvalidUsername::TooLong)
        );
    }

    #[test]
    fn require_email_format_follows_ldap_mapping() {
        assert!(require_email_format_usernames(false, false));
        assert!(require_email_format_usernames(false, true));
        assert!(require_email_format_usernames(true, false));
        assert!(!require_email_format_usernames(true, true));
        assert!(check_login_username("hamlet", false).is_ok());
        assert_eq!(check_login_username("hamlet", true), Err(InvalidEmail));
    }

    #[test]
    fn subdomains() {
        let reserved = vec!["www".to_string()];
        for ok in ["", "zulip", "lear", "a-b", "r2d2"] {
            assert!(validate_subdomain(ok, &reserved).is_ok(), "{ok}");
        }
        for bad in ["Zulip", "-a", "a-", "a.b", "a b", "ü", &"a".repeat(41)] {
            assert!(validate_subdomain(bad, &reserved).is_err(), "{bad}");
        }
        assert_eq!(
            validate_subdomain("www", &reserved),
            Err(InvalidSubdomain::Reserved("www".into()))
        );
    }

    #[test]
    fn password_policy_matches_zulip_vectors() {
        let p = PasswordPolicy {
            min_length: 6,
            max_length: 100,
            min_guesses: 1000,
        };
        assert_eq!(p.check(&Password::new(""), &[]), Err(WeakPassword::Empty));
        assert_eq!(
            p.check(&Password::new("short"), &[]),
            Err(WeakPassword::TooShort(6))
        );
        assert_eq!(
            p.check(&Password::new("longer"), &[]),
            Err(WeakPassword::TooGuessable)
        );
        assert!(p.check(&Password::new("f657gdGGk9"), &[]).is_ok());
        assert_eq!(
            p.check(&Password::new("x".repeat(101)), &[]),
            Err(WeakPassword::TooLong(100))
        );
    }
}
