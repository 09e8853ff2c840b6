//! Load from `wrk` (the Debian package), in its own process: one Lua script
//! (tests/bench/wrk/latchkey.lua) whose `done()` prints the counts and latency percentiles as
//! one JSON line, parsed here into [`Stats`].

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use latchkey_tests::process::run_with_timeout;
use serde::Deserialize;

use crate::stats::Stats;

const SCRIPT: &str = include_str!("../../../bench/wrk/latchkey.lua");

/// wrk, with the script written to a scratch directory.
pub struct Wrk {
    _dir: tempfile::TempDir,
    script: PathBuf,
}

/// One wrk run: where, what, how hard, for how long.
#[derive(Debug, Clone)]
pub struct Load {
    /// `http://127.0.0.1:PORT/path`.
    pub url: String,
    /// The Host header (the realm).
    pub host: String,
    pub method: &'static str,
    /// A urlencoded form body, or empty.
    pub body: String,
    /// An Authorization header value sent with every request.
    pub auth: Option<String>,
    /// A file of Authorization header values to rotate over, and where to start.
    pub keys: Option<(PathBuf, u64)>,
    /// The status every answer must have; 0: anything below 400.
    pub want: u16,
    pub connections: u32,
    pub threads: u32,
    pub secs: u32,
}

impl Load {
    /// A GET of `url` with these defaults: any status below 400, 2 threads, 64 connections, 8 s.
    pub fn get(url: String, host: &str) -> Load {
        Load {
            url,
            host: host.to_owned(),
            method: "GET",
            body: String::new(),
            auth: None,
            keys: None,
            want: 0,
            connections: 64,
            threads: 2,
            secs: 8,
        }
    }

    /// A POST of a urlencoded form.
    pub fn post_form(url: String, host: &str, form: &[(&str, &str)]) -> Result<Load> {
        let body = serde_urlencoded::to_string(form).context("encoding a form")?;
        Ok(Load {
            method: "POST",
            body,
            ..Load::get(url, host)
        })
    }

    pub fn conns(mut self, connections: u32, secs: u32) -> Load {
        self.connections = connections;
        self.threads = self.threads.min(connections).max(1);
        self.secs = secs;
        self
    }

    pub fn want(mut self, status: u16) -> Load {
        self.want = status;
        self
    }

    pub fn auth(mut self, value: &str) -> Load {
        self.auth = Some(value.to_owned());
        self
    }
}

/// What the script's `done()` prints.
#[derive(Debug, Deserialize)]
struct Summary {
    requests: u64,
    duration_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
    unexpected: u64,
    p50: u64,
    p90: u64,
    p99: u64,
}

impl Wrk {
    /// Checks that wrk is installed and writes the script.
    pub fn new() -> Result<Wrk> {
        let out = Command::new("wrk")
            .arg("--version")
            .output()
            .context("running wrk: install it with `make bench` (tests/bench/install-deps.sh)")?;
        // wrk --version prints its banner and exits 1.
        if !String::from_utf8_lossy(&out.stdout).contains("wrk") {
            bail!("`wrk --version` did not answer as wrk");
        }
        let dir = tempfile::Builder::new()
            .prefix("latchkey-bench-wrk-")
            .tempdir()
            .context("scratch directory")?;
        let script = dir.path().join("latchkey.lua");
        std::fs::write(&script, SCRIPT).context("writing the wrk script")?;
        Ok(Wrk { _dir: dir, script })
    }

    /// Runs `load` to its end (wrk stops itself after `secs`; killed 60 s later at most).
    pub fn run(&self, label: &str, load: &Load) -> Result<Stats> {
        let mut cmd = Command::new("wrk");
        cmd.arg("-t")
            .arg(load.threads.to_string())
            .arg("-c")
            .arg(load.connections.to_string())
            .arg("-d")
            .arg(format!("{}s", load.secs))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.script)
            .arg("-H")
            .arg(format!("Host: {}", load.host));
        if let Some(auth) = &load.auth {
            cmd.arg("-H").arg(format!("Authorization: {auth}"));
        }
        let (keys, offset) = match &load.keys {
            Some((path, offset)) => (path.display().to_string(), *offset),
            None => (String::new(), 0),
        };
        cmd.arg(&load.url)
            .arg("--")
            .arg(load.method)
            .arg(&load.body)
            .arg(load.want.to_string())
            .arg(keys)
            .arg(offset.to_string())
            .arg(load.threads.to_string());
        let out = run_with_timeout(
            &mut cmd,
            None,
            Duration::from_secs(u64::from(load.secs) + 60),
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(json) = stdout.lines().find_map(|l| l.strip_prefix("WRK_JSON ")) else {
            bail!(
                "wrk printed no summary for {label} ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let s: Summary = serde_json::from_str(json).context("parsing wrk's summary")?;
        let wrong_status = if load.want == 0 {
            s.status
        } else {
            s.unexpected
        };
        let ms = |us: u64| us as f64 / 1000.0;
        Ok(Stats {
            label: label.to_owned(),
            requests: s.requests,
            errors: s.connect + s.read + s.write + s.timeout + wrong_status,
            secs: s.duration_us as f64 / 1e6,
            p50_ms: ms(s.p50),
            p90_ms: ms(s.p90),
            p99_ms: ms(s.p99),
        })
    }
}
