//! A private PostgreSQL server for outage tests (the shared one at `LATCHKEY_TEST_PG_URL` must
//! never be stopped).
//!
//! [`PrivatePostgres::start`] runs `initdb` (trust authentication, no fsync) in a temporary
//! directory and `postgres` on a free loopback port (its Unix socket in the same directory), and
//! returns once it accepts connections. [`PrivatePostgres::stop`] shuts it down as
//! `pg_ctl stop -m immediate` does (SIGQUIT to the postmaster: connections are cut, no
//! checkpoint) and waits for it to exit; [`PrivatePostgres::start_again`] starts it on the same
//! port and data directory (crash recovery replays the WAL, so nothing committed is lost). The
//! server is stopped when the fixture is dropped, and a watchdog kills it should the test process
//! die without unwinding.
//!
//! The binaries come from `LATCHKEY_PG_BINDIR`, else the newest `/usr/lib/postgresql/<ver>/bin`
//! (Debian), else `PATH`. [`PrivatePostgres::bindir`] is `None` when `initdb` is not installed:
//! tests then skip with a message (`tests/setup/install-deps.sh` installs it). PostgreSQL refuses
//! to run as root, so as root the directory is handed to the `postgres` user and the server runs
//! as that user.
//!
//! Blocking (it shells out and sleeps): call it from a plain `#[test]` or via
//! `tokio::task::spawn_blocking`. `initdb` takes one or two seconds.

use crate::process::{NotReady, ServerProcess, free_port, run_with_timeout, tail};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ATTEMPTS: usize = 5;

/// A private PostgreSQL (see the module documentation).
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    /// The `postgres` user's uid and gid, when this process runs as root.
    run_as: Option<(u32, u32)>,
    port: u16,
    process: Option<ServerProcess>,
}

impl PrivatePostgres {
    /// Where `initdb`, `postgres` and friends are, or `None` when they are not installed.
    pub fn bindir() -> Option<PathBuf> {
        let has_initdb = |d: &Path| d.join("initdb").is_file();
        if let Some(dir) = std::env::var_os("LATCHKEY_PG_BINDIR") {
            return Some(PathBuf::from(dir)).filter(|d| has_initdb(d));
        }
        let newest = fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                has_initdb(&bin).then_some((version, bin))
            })
            .max_by_key(|(version, _)| *version)
            .map(|(_, bin)| bin);
        newest.or_else(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path).find(|d| has_initdb(d))
        })
    }

    /// initdb, then start the server; returns once it accepts connections.
    pub fn start() -> Result<PrivatePostgres> {
        let bindir = Self::bindir().ok_or_else(|| anyhow!("initdb is not installed"))?;
        let dir = tempfile::Builder::new()
            .prefix("latchkey-pg-")
            .tempdir()
            .context("creating the PostgreSQL temporary directory")?;
        let run_as = postgres_user_if_root()?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("handing the temporary directory to the postgres user")?;
        }
        let mut pg = PrivatePostgres {
            dir,
            bindir,
            run_as,
            port: 0,
            process: None,
        };
        let out = run_with_timeout(
            pg.command("initdb")
                .arg("-D")
                .arg(pg.data_dir())
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--locale=C", "--no-sync"]),
            None,
            INITDB_TIMEOUT,
        )?;
        if !out.status.success() {
            bail!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A port can be taken between probing and the server's bind: try again with another.
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            pg.port = free_port()?;
            match pg.spawn_and_wait() {
                Ok(()) => return Ok(pg),
                Err(e) if pg.log_tail(20).contains("could not bind") => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("postgres did not start")))
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.path().join("postgres.log"), lines)
    }

    /// Immediate shutdown (SIGQUIT, as `pg_ctl stop -m immediate`); waits for the server to
    /// exit, then kills it should it not within [`STOP_TIMEOUT`]. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &process.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while process.is_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            // Dropping kills it, if it is still running.
        }
    }

    /// Starts the stopped server again on the same port and data directory (retrying for a
    /// while should the port still be held).
    pub fn start_again(&mut self) -> Result<()> {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(_)
                    if Instant::now() < deadline
                        && self.log_tail(20).contains("could not bind") =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e.context(format!("restarting on port {}", self.port))),
            }
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            // std drops the supplementary groups when root changes the uid.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .context("opening postgres.log")?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(self.dir.path())
            .args(["-c", "fsync=off", "-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=60"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut process = ServerProcess::spawn(&mut cmd, "postgres")?;
        let url = self.url();
        let ready = process.wait_ready(
            Instant::now() + START_TIMEOUT,
            Duration::from_millis(100),
            || {
                use diesel::Connection;
                diesel::PgConnection::establish(&url)
                    .map(drop)
                    .map_err(|e| anyhow!("{e}"))
            },
        );
        match ready {
            Ok(()) => {
                self.process = Some(process);
                Ok(())
            }
            Err(NotReady::Exited(status)) => bail!(
                "postgres exited during startup ({status}):\n{}",
                self.log_tail(30)
            ),
            Err(NotReady::TimedOut(e)) => bail!(
                "postgres did not accept connections within {START_TIMEOUT:?} ({e}):\n{}",
                self.log_tail(30)
            ),
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `postgres` user's uid and gid when this process runs as root (PostgreSQL refuses root).
fn postgres_user_if_root() -> Result<Option<(u32, u32)>> {
    if fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let [name, _, uid, gid, ..] = fields.as_slice() {
            if *name == "postgres" {
                return Ok(Some((uid.parse()?, gid.parse()?)));
            }
        }
    }
    bail!("running as root and there is no postgres user to run PostgreSQL as")
}
