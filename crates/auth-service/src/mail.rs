//! Sending mail: a [`Mailer`] over lettre, either an SMTP relay (lettre's async transport on
//! tokio, STARTTLS or TLS through native-tls, optional credentials) or lettre's file transport,
//! which writes each message as `<uuid>.eml` into a directory (development). Messages are plain
//! text, built with lettre's builder.
//!
//! Errors never carry a recipient: an SMTP refusal is reported by its status code only (a relay's
//! text often repeats the address).

use std::path::PathBuf;
use std::time::Duration;

use auth_core::SecretString;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub use lettre::message::Mailbox;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// STARTTLS, required (the relay must offer it).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// None: only for a relay on loopback (the configuration refuses it otherwise).
    None,
}

/// An SMTP relay.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password, when the relay wants them.
    pub credentials: Option<(String, SecretString)>,
    /// Per-command timeout.
    pub timeout: Duration,
}

/// Where messages go.
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(SmtpOptions),
    /// One `.eml` file per message in this directory (created, mode 0700, when first needed).
    File(PathBuf),
}

/// How mail leaves, and who it is from.
#[derive(Debug, Clone)]
pub struct MailOptions {
    pub transport: MailTransport,
    pub from: Mailbox,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("not a mail address")]
    Address,
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("cannot set up the mail transport: {0}")]
    Setup(String),
    #[error("sending failed: {0}")]
    Send(String),
}

/// Parses a mailbox (`Name <addr@host>` or `addr@host`).
pub fn parse_mailbox(text: &str) -> Result<Mailbox, MailError> {
    text.trim().parse().map_err(|_| MailError::Address)
}

/// A plain-text message for one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

enum Inner {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The transport and its directory (created, mode 0700, before each write if missing,
    /// so that commands which never send mail create nothing).
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Sends mail as configured.
pub struct Mailer {
    inner: Inner,
    from: Mailbox,
    /// Where mail goes, for the start-up line (no credentials).
    describe: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("to", &self.describe)
            .finish()
    }
}

impl Mailer {
    /// Builds the transport (no connection is made until the first message).
    pub fn new(options: MailOptions) -> Result<Mailer, MailError> {
        let (inner, describe) = match options.transport {
            MailTransport::File(dir) => {
                let describe = format!("files in {}", dir.display());
                (Inner::File(AsyncFileTransport::new(&dir), dir), describe)
            }
            MailTransport::Smtp(smtp) => {
                let describe = format!("smtp://{}:{} ({:?})", smtp.host, smtp.port, smtp.security);
                (Inner::Smtp(smtp_transport(smtp)?), describe)
            }
        };
        Ok(Mailer {
            inner,
            from: options.from,
            describe,
        })
    }

    /// Where mail goes: `files in data/mail` or `smtp://host:port (Starttls)`.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Whether messages are written to files (development) rather than sent.
    pub fn is_file_transport(&self) -> bool {
        matches!(self.inner, Inner::File(..))
    }

    /// Builds and sends one message.
    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let to = parse_mailbox(&mail.to)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text)
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.inner {
            Inner::Smtp(t) => t.send(message).await.map(|_| ()).map_err(smtp_error),
            Inner::File(t, dir) => {
                create_private_dir(dir)?;
                t.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Send(e.to_string()))
            }
        }
    }
}

fn smtp_transport(smtp: SmtpOptions) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls = |host: &str| {
        TlsParameters::new_native(host.to_owned()).map_err(|e| MailError::Setup(e.to_string()))
    };
    let tls = match smtp.security {
        SmtpSecurity::Starttls => Tls::Required(tls(&smtp.host)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls(&smtp.host)?),
        SmtpSecurity::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some((user, password)) = smtp.credentials {
        builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// An SMTP failure without the relay's text (which may repeat the recipient).
fn smtp_error(e: lettre::transport::smtp::Error) -> MailError {
    let what = if let Some(code) = e.status() {
        format!("the relay answered {code}")
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_tls() {
        format!("TLS: {e}")
    } else if e.is_response() || e.is_client() {
        "unexpected SMTP exchange".to_owned()
    } else {
        e.to_string()
    };
    MailError::Send(what)
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), MailError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| MailError::Setup(format!("cannot create {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_transport_writes_eml_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail");
        let mailer = Mailer::new(MailOptions {
            transport: MailTransport::File(out.clone()),
            from: parse_mailbox("Latchkey <noreply@example.org>").unwrap(),
        })
        .unwrap();
        assert!(mailer.describe().contains("files in"));
        mailer
            .send(Mail {
                to: "hamlet@zulip.com".into(),
                subject: "Hello".into(),
                text: "Body text\n".into(),
            })
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().unwrap().path();
        assert_eq!(path.extension().unwrap(), "eml");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("Subject: Hello"), "{text}");
        assert!(text.contains("To: hamlet@zulip.com"), "{text}");
        assert!(text.contains("Body text"), "{text}");
    }

    #[tokio::test]
    async fn bad_recipients_are_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(MailOptions {
            transport: MailTransport::File(dir.path().to_owned()),
            from: parse_mailbox("noreply@localhost").unwrap(),
        })
        .unwrap();
        let err = mailer
            .send(Mail {
                to: "not an address".into(),
                subject: "x".into(),
                text: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "not a mail address");
    }
}
