//! What the private-server fixtures (slapd, redis-server, nginx) and the client runners share: a
//! watchdog that kills a child process should the test process die without unwinding, running a
//! command with a time limit, free loopback ports, and log tails for error messages.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// A `sh` that waits on a pipe from this process and SIGKILLs `pid` when the pipe closes,
/// which happens however this process ends.
struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

impl Watchdog {
    fn spawn(pid: u32, name: &str) -> Result<Watchdog> {
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
    fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.stdin);
    }
}

/// A fixture's server process, with a [`Watchdog`] that kills it should the test process die
/// without unwinding. Dropping it kills the process (SIGKILL) and waits for it.
pub struct ServerProcess {
    child: Child,
    watchdog: Option<Watchdog>,
}

/// Why [`ServerProcess::wait_ready`] gave up.
pub enum NotReady {
    /// The process exited first.
    Exited(ExitStatus),
    /// The deadline passed; the last probe's error.
    TimedOut(anyhow::Error),
}

impl ServerProcess {
    /// Spawns `cmd` (set its stdio first) and a watchdog named `name` for it.
    pub fn spawn(cmd: &mut Command, name: &str) -> Result<ServerProcess> {
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
        let watchdog = Watchdog::spawn(child.id(), &format!("{name}-watchdog")).ok();
        Ok(ServerProcess { child, watchdog })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has not exited (it may not answer yet).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Calls `probe` with a doubling pause (from 2 ms up to `max_pause`) until it succeeds, the
    /// process exits, or `deadline` passes.
    pub fn wait_ready(
        &mut self,
        deadline: Instant,
        max_pause: Duration,
        mut probe: impl FnMut() -> Result<()>,
    ) -> std::result::Result<(), NotReady> {
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Err(NotReady::Exited(status));
            }
            match probe() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(NotReady::TimedOut(e)),
                Err(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(max_pause);
                }
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The watchdog first (SIGKILL, so it never acts), while its pipe is still open.
        if let Some(w) = self.watchdog.take() {
            w.disarm();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// Runs `cmd` to completion, feeding it `stdin` and draining stdout and stderr on threads (so a
/// chatty child cannot block on a full pipe). Past `timeout` the child is killed and the error
/// carries what it printed.
pub fn run_with_timeout(
    cmd: &mut Command,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().with_context(|| format!("spawning {program}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out_reader = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err_reader = drain(child.stderr.take().map(|p| Box::new(p) as _));

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {program}"))?
        {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // The pipes close when the process is gone (a grandchild holding them would keep the readers
    // waiting; nothing run here forks into the background).
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => bail!(
            "{program} killed after {timeout:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}
