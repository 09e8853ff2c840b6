//! A private SMTP server for the password-reset tests: Debian's aiosmtpd (`python3-aiosmtpd`,
//! run by `/usr/bin/python3`) on a free loopback port, with a small handler that writes each
//! message it accepts to a directory as `<n>.json` (envelope recipients, From, Subject, the
//! plain-text body decoded by Python's `email` package, and the raw message), optionally after
//! a delay (a slow relay).
//!
//! [`SmtpSink::wait_for`] waits, bounded, for the n-th message; [`SmtpSink::messages`] reads
//! what arrived. The process is killed when the sink is dropped (and by a watchdog should the
//! test process die).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::process::{NotReady, ServerProcess, free_port, tail};

/// The interpreter that has Debian's aiosmtpd (whatever `python3` is first on PATH).
const PYTHON: &str = "/usr/bin/python3";

const HANDLER: &str = r#"
import asyncio, email, email.policy, json, os, time

class Sink:
    def __init__(self, out, delay="0"):
        self.out = out
        self.delay = float(delay)
        self.n = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        self.n += 1
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        record = {
            "to": list(envelope.rcpt_tos),
            "from": str(msg["from"]),
            "subject": str(msg["subject"]),
            "body": part.get_content() if part is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        name = "%06d-%d" % (self.n, time.time_ns())
        tmp = os.path.join(self.out, "." + name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, name + ".json"))
        return "250 Message accepted for delivery"
"#;

/// One message as received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    /// The envelope recipients.
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    /// The plain-text body, decoded.
    pub body: String,
    /// The message as sent (headers and encoded body).
    pub raw: String,
}

impl Received {
    /// The first `http(s)://…/accounts/password/reset/<token>/` link in the body.
    pub fn reset_link(&self) -> Option<String> {
        self.body
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains("/accounts/password/reset/"))
            .map(str::to_owned)
    }

    /// The token of [`Received::reset_link`].
    pub fn reset_token(&self) -> Option<String> {
        let link = self.reset_link()?;
        let rest = link.split("/accounts/password/reset/").nth(1)?;
        Some(rest.trim_end_matches('/').to_owned())
    }
}

/// A running private SMTP server.
pub struct SmtpSink {
    pub port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
    _process: ServerProcess,
}

impl SmtpSink {
    /// Starts a sink that accepts at once.
    pub fn start() -> Result<SmtpSink> {
        Self::with_delay(Duration::ZERO)
    }

    /// Starts a sink that waits `delay` before accepting each message.
    pub fn with_delay(delay: Duration) -> Result<SmtpSink> {
        let dir = tempfile::Builder::new()
            .prefix("latchkey-smtp-")
            .tempdir()
            .context("creating the SMTP temp dir")?;
        std::fs::write(dir.path().join("latchkey_sink.py"), HANDLER)?;
        let out = dir.path().join("received");
        std::fs::create_dir(&out)?;
        let port = free_port()?;
        let log = dir.path().join("aiosmtpd.log");
        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "latchkey_sink.Sink"])
            .arg(&out)
            .arg(delay.as_secs_f64().to_string())
            .env("PYTHONPATH", dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let mut process = ServerProcess::spawn(&mut cmd, "aiosmtpd")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let ready = process.wait_ready(deadline, Duration::from_millis(50), || {
            TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| anyhow!("{e}"))
        });
        match ready {
            Ok(()) => {}
            Err(NotReady::Exited(status)) => {
                return Err(anyhow!(
                    "aiosmtpd exited ({status}); is python3-aiosmtpd installed? log:\n{}",
                    tail(&log, 20)
                ));
            }
            Err(NotReady::TimedOut(e)) => {
                return Err(anyhow!("aiosmtpd did not answer: {e}\n{}", tail(&log, 20)));
            }
        }
        Ok(SmtpSink {
            port,
            out,
            _dir: dir,
            _process: process,
        })
    }

    /// Points a server's mail at this sink (unencrypted SMTP on loopback).
    pub fn route_mail(&self, s: &mut latchkey::Settings) {
        use latchkey::config::{MailSecurity, MailTransport};
        s.mail.transport = MailTransport::Smtp;
        s.mail.host = "127.0.0.1".into();
        s.mail.port = self.port;
        s.mail.security = MailSecurity::None;
        s.mail.from = "Latchkey <noreply@example.test>".into();
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        read_messages(&self.out)
    }

    /// Waits (at most `within`, polling every 20 ms) until at least `n` messages arrived;
    /// returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The messages of a sink's directory, oldest first (their names are numbered).
fn read_messages(dir: &Path) -> Vec<Received> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect()
}
