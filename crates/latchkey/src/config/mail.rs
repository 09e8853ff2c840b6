//! `[mail]` (how Latchkey sends mail: SMTP, or `.eml` files in a directory for development)
//! and `[reset]` (password reset: token lifetime, whether unknown addresses get a notice), with
//! their defaults and checks. The SMTP password is only ever read from a file
//! (`mail.password_file`), never written inline.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::values::{self, named_enum};

named_enum!(
    /// `mail.transport`.
    MailTransport, "a mail transport" {
        /// An SMTP relay (`host`, `port`, `security`, credentials).
        Smtp = "smtp",
        /// One `.eml` file per message in `file_dir`: for development.
        File = "file",
    }
);

named_enum!(
    /// `mail.security`: how the SMTP connection is protected.
    MailSecurity, "an SMTP security mode" {
        /// Plain connection upgraded with STARTTLS (required), port 587 by default.
        Starttls = "starttls",
        /// TLS from the first byte (SMTPS), port 465 by default.
        Tls = "tls",
        /// No encryption: only for a relay on this machine (loopback).
        None = "none",
    }
);

/// `[mail]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// `smtp` or `file` (the default, for development: see `file_dir`).
    pub transport: MailTransport,
    /// The SMTP relay's host name (TLS certificates are checked against it).
    pub host: String,
    /// The relay's port; 0 means the usual one for `security` (587, 465, 25).
    pub port: u16,
    pub security: MailSecurity,
    /// SMTP user name; empty: no authentication.
    pub username: String,
    /// File holding the SMTP password (needed with `username`).
    pub password_file: Option<PathBuf>,
    /// The sender, a mailbox such as `Latchkey <noreply@example.org>`.
    pub from: String,
    /// Where the `file` transport writes messages (created if missing).
    pub file_dir: PathBuf,
    /// Longest wait for the relay per SMTP command.
    #[serde(with = "values::secs")]
    pub timeout_secs: Duration,
}

/// `[reset]`: password reset by email.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResetSettings {
    /// How long a reset link works: seconds or a text such as `"1h"`.
    #[serde(with = "values::secs")]
    pub token_lifetime: Duration,
    /// Zulip's behaviour: mail a notice to addresses without a resettable account in the
    /// realm ("You do not have an account…"). Off: such addresses get nothing.
    pub notify_unknown: bool,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            transport: MailTransport::File,
            host: String::new(),
            port: 0,
            security: MailSecurity::Starttls,
            username: String::new(),
            password_file: None,
            from: "Latchkey <noreply@localhost>".into(),
            file_dir: PathBuf::from("data/mail"),
            timeout_secs: Duration::from_secs(10),
        }
    }
}

impl Default for ResetSettings {
    fn default() -> Self {
        ResetSettings {
            token_lifetime: Duration::from_secs(3600),
            notify_unknown: false,
        }
    }
}

impl MailSettings {
    /// The port to connect to: the configured one, or the usual one for the security mode.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.security) {
            (0, MailSecurity::Starttls) => 587,
            (0, MailSecurity::Tls) => 465,
            (0, MailSecurity::None) => 25,
            (port, _) => port,
        }
    }

    /// Every problem with `[mail]`.
    pub fn problems(&self, p: &mut Vec<String>) {
        if auth_service::mail::parse_mailbox(&self.from).is_err() {
            p.push(format!(
                "mail.from = {:?} is not a mailbox such as \"Latchkey <noreply@example.org>\"",
                self.from
            ));
        }
        if self.timeout_secs.is_zero() {
            p.push("mail.timeout_secs must be positive".into());
        }
        match self.transport {
            MailTransport::File => {
                if self.file_dir.as_os_str().is_empty() {
                    p.push("mail.file_dir must name a directory for the file transport".into());
                }
            }
            MailTransport::Smtp => self.smtp_problems(p),
        }
    }

    fn smtp_problems(&self, p: &mut Vec<String>) {
        let host = self.host.trim();
        if host.is_empty() {
            p.push("mail.host must name the SMTP relay when mail.transport = \"smtp\"".into());
        } else if host.contains(['/', ':', ' ', '@'])
            && bare(host).parse::<std::net::IpAddr>().is_err()
        {
            p.push(format!(
                "mail.host = {host:?} must be a host name or an IP address (the port goes in mail.port)"
            ));
        }
        if self.security == MailSecurity::None && !is_loopback(host) {
            p.push(format!(
                "mail.security = \"none\" sends mail and credentials unencrypted and is only allowed for a relay on this machine (localhost, 127.0.0.1, ::1), not {host:?}: use \"starttls\" or \"tls\""
            ));
        }
        match (&self.password_file, self.username.is_empty()) {
            (Some(_), true) => {
                p.push("mail.password_file is set but mail.username is empty".into())
            }
            (None, false) => p.push(
                "mail.username is set but mail.password_file is not: put the SMTP password in a file".into(),
            ),
            (Some(path), false) if !path.is_file() => p.push(format!(
                "mail.password_file = {} does not exist or is not a file",
                path.display()
            )),
            _ => {}
        }
    }
}

impl ResetSettings {
    /// Every problem with `[reset]`.
    pub fn problems(&self, p: &mut Vec<String>) {
        if self.token_lifetime < Duration::from_secs(60) {
            p.push("reset.token_lifetime must be at least 60 seconds".into());
        }
        if self.token_lifetime > Duration::from_secs(7 * 24 * 3600) {
            p.push("reset.token_lifetime must be at most 7 days".into());
        }
    }
}

/// A host without the brackets of an IPv6 literal.
fn bare(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

fn is_loopback(host: &str) -> bool {
    let host = bare(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(m: &MailSettings) -> String {
        let mut p = Vec::new();
        m.problems(&mut p);
        p.join("\n")
    }

    fn smtp(host: &str, security: MailSecurity) -> MailSettings {
        MailSettings {
            transport: MailTransport::Smtp,
            host: host.into(),
            security,
            ..MailSettings::default()
        }
    }

    #[test]
    fn defaults_write_files_and_are_valid() {
        let m = MailSettings::default();
        assert_eq!(m.transport, MailTransport::File);
        assert_eq!(m.file_dir, PathBuf::from("data/mail"));
        assert_eq!(problems(&m), "");
        let mut p = Vec::new();
        ResetSettings::default().problems(&mut p);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            ResetSettings::default().token_lifetime,
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn unencrypted_smtp_only_on_loopback() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            assert_eq!(problems(&smtp(host, MailSecurity::None)), "", "{host}");
        }
        let p = problems(&smtp("mail.example.org", MailSecurity::None));
        assert!(
            p.contains("only allowed for a relay on this machine"),
            "{p}"
        );
        assert_eq!(
            problems(&smtp("mail.example.org", MailSecurity::Starttls)),
            ""
        );
    }

    #[test]
    fn smtp_needs_a_host_a_mailbox_and_a_password_file_for_its_user() {
        let mut m = smtp("", MailSecurity::Tls);
        m.from = "not a mailbox".into();
        m.username = "latchkey".into();
        let p = problems(&m);
        assert!(p.contains("mail.host must name the SMTP relay"), "{p}");
        assert!(p.contains("mail.from = \"not a mailbox\""), "{p}");
        assert!(p.contains("mail.password_file is not"), "{p}");
        m.host = "smtp.example.org:587".into();
        m.password_file = Some("/nonexistent/smtp-password".into());
        let p = problems(&m);
        assert!(p.contains("the port goes in mail.port"), "{p}");
        assert!(p.contains("does not exist"), "{p}");
    }

    #[test]
    fn ports_default_by_security() {
        assert_eq!(smtp("h", MailSecurity::Starttls).effective_port(), 587);
        assert_eq!(smtp("h", MailSecurity::Tls).effective_port(), 465);
        assert_eq!(smtp("h", MailSecurity::None).effective_port(), 25);
        let mut m = smtp("h", MailSecurity::None);
        m.port = 2525;
        assert_eq!(m.effective_port(), 2525);
    }

    #[test]
    fn reset_lifetime_is_bounded() {
        let mut p = Vec::new();
        ResetSettings {
            token_lifetime: Duration::from_secs(5),
            notify_unknown: false,
        }
        .problems(&mut p);
        assert!(p.join("\n").contains("at least 60 seconds"), "{p:?}");
    }

    #[test]
    fn config_check_lists_every_mail_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.toml");
        std::fs::write(
            &path,
            "[mail]\ntransport = \"smtp\"\nhost = \"mail.example.org\"\nsecurity = \"plain\"\n\
             from = \"nobody\"\n[reset]\ntoken_lifetime = \"10s\"\n",
        )
        .unwrap();
        let err = super::super::Settings::load_with_env(Some(&path), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("mail.security"), "{err}");
        assert!(
            err.contains("\"plain\" is not an SMTP security mode"),
            "{err}"
        );
        assert!(err.contains("mail.from = \"nobody\""), "{err}");
        assert!(
            err.contains("reset.token_lifetime must be at least 60 seconds"),
            "{err}"
        );
        std::fs::write(
            &path,
            "[reset]\ntoken_lifetime = \"2h\"\nnotify_unknown = true\n",
        )
        .unwrap();
        let s = super::super::Settings::load_with_env(Some(&path), Vec::new()).unwrap();
        assert_eq!(s.reset.token_lifetime, Duration::from_secs(7200));
        assert!(s.reset.notify_unknown);
        assert_eq!(s.mail.transport, MailTransport::File);
    }
}
