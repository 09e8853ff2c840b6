//! What the scenarios found, and docs/benchmarks.md made of it: the targets with their reached
//! values and ratios at the top, then the ratios in words, RSS, and every table.

use std::fmt::Write as _;

use crate::stats::{Stats, TABLE_HEAD};

/// One line of the targets table.
pub struct Target {
    pub what: String,
    pub goal: String,
    /// The measured value(s).
    pub reached: String,
    /// The ratio (or comparison) the goal is about.
    pub ratio: String,
    /// `None`: reported only, no pass/fail.
    pub met: Option<bool>,
}

/// Everything a run found.
#[derive(Default)]
pub struct Report {
    pub targets: Vec<Target>,
    pub ratios: Vec<String>,
    /// `(server, idle MiB, after load MiB, what the load was)`.
    pub rss: Vec<(String, f64, f64, String)>,
    pub tables: String,
    pub notes: Vec<String>,
}

/// Why targets are missed: kept by hand, copied into every run's document.
const MISSES: &str = include_str!("misses.md");

impl Report {
    pub fn target(
        &mut self,
        what: impl Into<String>,
        goal: impl Into<String>,
        reached: impl Into<String>,
        ratio: impl Into<String>,
        met: Option<bool>,
    ) {
        self.targets.push(Target {
            what: what.into(),
            goal: goal.into(),
            reached: reached.into(),
            ratio: ratio.into(),
            met,
        });
    }

    /// A `### title` table of these rows, with an optional paragraph under it.
    pub fn table(&mut self, title: &str, rows: &[&Stats], note: &str) {
        let _ = writeln!(self.tables, "\n### {title}\n\n{TABLE_HEAD}");
        for r in rows {
            let _ = writeln!(self.tables, "{}", r.row());
        }
        if !note.is_empty() {
            let _ = writeln!(self.tables, "\n{note}");
        }
    }

    /// A table written by the caller (other columns).
    pub fn raw_table(&mut self, text: &str) {
        let _ = writeln!(self.tables, "\n{text}");
    }

    /// A scenario that could not run: said in the notes, the run goes on.
    pub fn skipped(&mut self, what: &str, why: &anyhow::Error) {
        eprintln!("latchkey-bench: {what} skipped: {why:#}");
        self.notes
            .push(format!("- **{what} was not measured**: {}", one_line(why)));
    }

    /// The whole document.
    pub fn document(&self, header: &Header) -> String {
        let mut doc = String::new();
        let _ = writeln!(
            doc,
            "# Benchmarks\n\n\
             Written by `make bench` (tests/bench/install-deps.sh, a release build, then \
             `latchkey-bench --out docs/benchmarks.md`; the code is in \
             tests/src/bin/latchkey-bench/). Do not edit by hand; rerun it. Run: {date}; the \
             bench took **{secs:.0} s** (limit: 15 min on 2 cores), plus the build; load \
             average {load} (2 cores: above 2, other work shared the CPU and the timed ratios \
             suffer).",
            date = header.date,
            secs = header.seconds,
            load = header.load,
        );
        let _ = writeln!(
            doc,
            "\n## Targets\n\n| target | goal | reached | ratio | met |\n|---|---|---|---:|:---:|"
        );
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "(reported)",
            };
            let _ = writeln!(
                doc,
                "| {} | {} | {} | {} | {met} |",
                t.what, t.goal, t.reached, t.ratio
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(doc, "\n{}", self.notes.join("\n"));
        }
        let _ = writeln!(doc, "\n{}", MISSES.trim_end());
        let _ = writeln!(
            doc,
            "\n## How\n\n\
             - Machine: {machine}.\n\
             - Servers: every Latchkey server is the release `latchkey` binary in its own \
             process, started as an administrator starts it (a configuration file, \
             `latchkey realm create`, `latchkey user create`, `latchkey serve`), with 2 HTTP \
             workers, the default `info` logging (to a file) and rate limits off. SQLite is a \
             fresh file (WAL), PostgreSQL a fresh database on the local server, slapd a \
             private OpenLDAP on loopback.\n\
             - Load: `wrk` ({wrk}) in its own process, over loopback HTTP/1.1 keep-alive, \
             driven by tests/bench/wrk/latchkey.lua; latencies are wrk's, per request.\n\
             - References, in the same run on the same machine: a constant actix-web handler \
             (`bench-constant`, its own process, 2 workers, the same wrk load), raw \
             `bcrypt::verify` and raw ldap3 in the bench process, django-auth-ldap in Python \
             processes ({django}).",
            machine = header.machine,
            wrk = header.wrk,
            django = header.django,
        );
        let _ = writeln!(
            doc,
            "\n## Memory (RSS of the server process)\n\n\
             | server | idle | after load | load |\n|---|---:|---:|---|"
        );
        for (server, idle, after, load) in &self.rss {
            let _ = writeln!(
                doc,
                "| {server} | {idle:.1} MiB | {after:.1} MiB | {load} |"
            );
        }
        let _ = writeln!(doc, "\n## Ratios\n");
        for r in &self.ratios {
            let _ = writeln!(doc, "- {r}");
        }
        let _ = writeln!(doc, "\n## Measurements\n{}", self.tables);
        doc
    }
}

/// The facts at the top of the document.
pub struct Header {
    pub date: String,
    pub seconds: f64,
    pub machine: String,
    pub load: String,
    pub wrk: String,
    pub django: String,
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .replace('|', "/")
}

/// Yes when `value >= goal`.
pub fn at_least(value: f64, goal: f64) -> Option<bool> {
    Some(value >= goal)
}

/// Yes when `value < goal`.
pub fn below(value: f64, goal: f64) -> Option<bool> {
    Some(value < goal)
}

/// CPU, cores, memory, OS and compiler of this machine.
pub fn machine() -> String {
    let first = |path: &str, prefix: &str| -> Option<String> {
        std::fs::read_to_string(path).ok().and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .map(|l| l[prefix.len()..].trim().to_owned())
        })
    };
    let cpu = first("/proc/cpuinfo", "model name")
        .map(|c| c.trim_start_matches(':').trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = first("/proc/meminfo", "MemTotal:")
        .and_then(|m| {
            m.split_whitespace()
                .next()
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.0} GiB RAM", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let os = first("/etc/os-release", "PRETTY_NAME=")
        .map(|o| o.trim_matches('"').to_owned())
        .unwrap_or_default();
    let rustc = command_line("rustc", &["--version"]);
    format!("{cpu}, {cores} cores, {mem}, {os}, {rustc}")
}

/// The first line a command prints (stdout, else stderr), or "".
pub fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let out = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&out)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
