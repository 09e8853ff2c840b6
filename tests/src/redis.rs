//! A private `redis-server` for integration tests.
//!
//! [`PrivateRedis::start`] runs `redis-server` on a free loopback port with persistence off
//! (`--save "" --appendonly no`), its working directory and log file (`redis.log`) in a temporary
//! directory, and returns once the server answers `PING`. The process is killed when the
//! [`PrivateRedis`] is dropped, and a small watchdog kills it too should the test process die
//! without unwinding.
//!
//! [`PrivateRedis::stop`] and [`PrivateRedis::restart`] simulate an outage: `restart` brings a
//! fresh server back on the same port — empty, as nothing is persisted.
//!
//! Blocking (it sleeps and uses std sockets): call it from a plain `#[test]` or via
//! `tokio::task::spawn_blocking` (start takes a few milliseconds).
//!
//! Needs `redis-server` on PATH or at `/usr/bin/redis-server` (Debian package `redis-server`);
//! `LATCHKEY_REDIS_SERVER` names another binary. `LATCHKEY_REDIS_KEEP=1` keeps the temporary
//! directory after the fixture is dropped (its path is printed to stderr).

use crate::process::{NotReady, ServerProcess, free_port, tail};
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How long [`PrivateRedis::start`] and [`PrivateRedis::restart`] wait for `PING` to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);
const PORT_ATTEMPTS: usize = 5;

/// A running private redis-server (see the module documentation).
pub struct PrivateRedis {
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
    process: Option<ServerProcess>,
    startup_time: Duration,
}

impl PrivateRedis {
    /// Starts redis-server on a free loopback port; returns once it answers `PING` (at most
    /// [`START_TIMEOUT`] per attempt; a port taken in the meantime is retried with another one).
    pub fn start() -> Result<PrivateRedis> {
        let bin = redis_server_bin()
            .ok_or_else(|| anyhow!("redis-server not found (apt-get install redis-server)"))?;
        let dir = tempfile::Builder::new()
            .prefix("latchkey-redis-")
            .tempdir()
            .context("creating the redis temp dir")?;
        let mut r = PrivateRedis {
            dir: Some(dir),
            bin,
            port: 0,
            process: None,
            startup_time: Duration::ZERO,
        };
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            r.port = free_port()?;
            match r.spawn_and_wait() {
                Ok(()) => return Ok(r),
                Err(e) => {
                    let log = r.log_tail();
                    if !log.contains("Address already in use") {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("redis-server did not start")))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The temporary directory (working directory and `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir lives as long as self").path()
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::id)
    }

    /// Whether the server process is running (it may not answer yet).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ServerProcess::is_running)
    }

    /// How long the last start or restart took, until `PING` answered.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// Sends `PING` over a fresh connection; `Ok` when the answer is `+PONG`.
    pub fn ping(&self) -> Result<()> {
        ping(self.addr(), Duration::from_millis(500))
    }

    /// The last lines of `redis.log`.
    pub fn log_tail(&self) -> String {
        tail(&self.dir().join("redis.log"), 40)
    }

    /// Kills the server (SIGKILL) and waits for it; the port is free afterwards. Idempotent.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Stops the server (if running) and starts a fresh one on the same port, empty (nothing is
    /// persisted); returns once it answers `PING`. Retries for up to [`START_TIMEOUT`] should the
    /// port be briefly unavailable.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(_)
                    if Instant::now() < deadline
                        && self.log_tail().contains("Address already in use") =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(e.context(format!("restarting redis on port {}", self.port)));
                }
            }
        }
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let began = Instant::now();
        let dir = self.dir().to_owned();
        let log = dir.join("redis.log");
        // A fresh log per attempt, so that the tail and the "in use" check see this attempt only.
        let _ = fs::remove_file(&log);
        let mut process = ServerProcess::spawn(
            Command::new(&self.bin)
                .arg("--port")
                .arg(self.port.to_string())
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--daemonize", "no"])
                .args(["--protected-mode", "yes"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(&log)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "redis",
        )?;
        let ready = process.wait_ready(began + START_TIMEOUT, Duration::from_millis(50), || {
            ping(self.addr(), Duration::from_millis(200))
        });
        match ready {
            Ok(()) => self.process = Some(process),
            Err(NotReady::Exited(status)) => bail!(
                "redis-server exited during startup ({status}) on port {}; log tail:\n{}",
                self.port,
                self.log_tail()
            ),
            Err(NotReady::TimedOut(e)) => {
                drop(process);
                bail!(
                    "redis-server on port {} did not answer PING within {:?} ({e}); log tail:\n{}",
                    self.port,
                    START_TIMEOUT,
                    self.log_tail()
                );
            }
        }
        self.startup_time = began.elapsed();
        Ok(())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("LATCHKEY_REDIS_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("LATCHKEY_REDIS_KEEP: keeping {}", dir.keep().display());
            }
        }
    }
}

impl std::fmt::Debug for PrivateRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateRedis")
            .field("url", &self.url())
            .field("dir", &self.dir())
            .field("pid", &self.pid())
            .finish()
    }
}

/// The redis-server binary: `LATCHKEY_REDIS_SERVER`, else PATH, else `/usr/bin/redis-server`.
pub fn redis_server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LATCHKEY_REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from))
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// `PING` in RESP over a fresh TCP connection; `Ok` on `+PONG`.
fn ping(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got.starts_with(b"+PONG") {
        Ok(())
    } else {
        // e.g. "-LOADING ..." while a dataset loads.
        bail!(
            "PING answered {:?}",
            String::from_utf8_lossy(&got).trim_end()
        )
    }
}
