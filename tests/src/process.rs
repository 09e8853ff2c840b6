//! What the private-server fixtures (slapd, redis-server, nginx) share: a watchdog that kills a
//! child process should the test process die without unwinding, free loopback ports, and log
//! tails for error messages.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context, Result, anyhow};

/// A `sh` that waits on a pipe from this process and SIGKILLs `pid` when the pipe closes,
/// which happens however this process ends.
pub struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

impl Watchdog {
    pub fn spawn(pid: u32, name: &str) -> Result<Watchdog> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"read _latchkey_unused; kill -9 "$1" 2>/dev/null"#)
            .arg(name)
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning the {name}"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no watchdog stdin"))?;
        Ok(Watchdog { child, stdin })
    }

    /// Stops the watchdog without letting it act: SIGKILL it first, while its pipe is still
    /// open, then close the pipe.
    pub fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.stdin);
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The last `lines` lines of a file, or why it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}
