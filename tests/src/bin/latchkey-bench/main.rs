//! `make bench`: measures Latchkey against its references in one run and writes
//! docs/benchmarks.md, the targets with their reached values at the top.
//!
//! Every server is the release `latchkey` binary in its own process ([`server`]); the load
//! comes from `wrk` in its own process ([`wrk`]); the references ([`reference`]) run in the
//! same run. Scenarios: [`db`] (SQLite and PostgreSQL tables), [`ldap`] (with raw ldap3 and
//! django-auth-ldap), [`flood`] (key checks during a login flood), [`keys100k`] (issue 13).
//! Every loop is bounded by a count and a wall-clock budget; wrk stops itself.
//!
//! `latchkey-bench [--out PATH] [--only db|ldap|flood|keys]` (`--only` for trying one part;
//! `make bench` runs them all).

mod db;
mod flood;
mod keys100k;
mod ldap;
mod reference;
mod report;
mod server;
mod stats;
mod wrk;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use latchkey_tests::DbKind;

use crate::report::{Header, Report, at_least};
use crate::stats::{Stats, fmt_rate, ratio};

/// The Python of the django-auth-ldap venv (tests/bench/install-deps.sh makes it).
pub fn django_python() -> Result<PathBuf> {
    let venv = match std::env::var_os("LATCHKEY_BENCH_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/latchkey/bench-venv"),
    };
    let python = venv.join("bin/python");
    if !python.exists() {
        return Err(anyhow!(
            "{} is missing: run tests/bench/install-deps.sh",
            python.display()
        ));
    }
    Ok(python)
}

struct Args {
    out: PathBuf,
    only: Option<String>,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .cloned()
    };
    Args {
        out: value("--out")
            .map(PathBuf::from)
            .unwrap_or_else(|| "docs/benchmarks.md".into()),
        only: value("--only"),
    }
}

fn main() -> Result<()> {
    let args = args();
    let wants = |part: &str| args.only.as_deref().is_none_or(|o| o == part);
    let load = report::load_average();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let wrk = wrk::Wrk::new()?;
    let mut report = Report::default();

    if wants("db") {
        // The constant handler first, under the load of the cache-hit rows.
        let constant = reference::constant_handler(
            &wrk,
            &db::users_me_load(
                String::new(),
                &server::basic(server::HAMLET_EMAIL, &"x".repeat(32)),
            ),
            "constant actix-web handler (bench-constant, 2 workers), 64 connections",
        )?;
        let bcrypt = reference::raw_bcrypt(6)?;
        let mut runs = Vec::new();
        for kind in [DbKind::Sqlite, DbKind::Postgres] {
            match db::run(&rt, &wrk, kind, &mut report) {
                Ok(r) => runs.push((kind, r)),
                Err(e) => report.skipped(&format!("The {} tables", db::name(kind)), &e),
            }
        }
        report.table(
            "References (same run)",
            &[&constant, &bcrypt],
            "The constant handler answers `{\"result\":\"success\",\"msg\":\"\"}` to every \
             request, with no logging; wrk loads it exactly as it loads `users/me` (same \
             connections, threads, duration, headers). Raw bcrypt verifies a cost-12 hash on one \
             thread per core in the bench process.",
        );
        db_targets(&mut report, &runs, &constant, &bcrypt);
    }
    let mut django = "django-auth-ldap not run".to_owned();
    if wants("ldap") {
        match ldap::run(&rt, &wrk, &mut report) {
            Ok(Some(v)) => django = v,
            Ok(None) => {}
            Err(e) => report.skipped("The LDAP scenarios", &e),
        }
    }
    if wants("flood") {
        if let Err(e) = flood::run(&rt, &wrk, &mut report) {
            report.skipped("The login-flood scenario", &e);
        }
    }
    if wants("keys") {
        if let Err(e) = keys100k::run(&rt, &wrk, &mut report) {
            report.skipped("Issue 13's 100k-key scenario", &e);
        }
    }

    let header = Header {
        date: report::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        seconds: started.elapsed().as_secs_f64(),
        machine: report::machine(),
        load: format!(
            "{load} when it started, {} when it ended",
            report::load_average()
        ),
        wrk: report::command_line("wrk", &["--version"])
            .split(" [")
            .next()
            .unwrap_or_default()
            .to_owned(),
        django,
    };
    let doc = report.document(&header);
    std::fs::write(&args.out, &doc).with_context(|| format!("writing {}", args.out.display()))?;
    print!("{doc}");
    Ok(())
}

/// The targets of the database part: `users/me` against the constant handler, password logins
/// against raw bcrypt, RSS.
fn db_targets(report: &mut Report, runs: &[(DbKind, db::DbRun)], constant: &Stats, bcrypt: &Stats) {
    for (kind, r) in runs {
        let name = db::name(*kind);
        let share = ratio(r.me_hit.rate(), constant.rate());
        report.target(
            format!("`GET /api/v1/users/me`, Basic auth, cache hit, 64 connections ({name}) vs a constant actix-web handler"),
            "≥ 0.85",
            format!(
                "{} vs {} req/s (p99 {:.2} vs {:.2} ms)",
                fmt_rate(r.me_hit.rate()),
                fmt_rate(constant.rate()),
                r.me_hit.p99_ms,
                constant.p99_ms
            ),
            format!("{share:.2}"),
            at_least(share, 0.85),
        );
    }
    for (kind, r) in runs {
        let name = db::name(*kind);
        report.target(
            format!("Password login at bcrypt cost 12, 4 connections ({name}) vs raw `bcrypt::verify` on all cores"),
            "(ratio)",
            format!(
                "{} vs {} verifications/s",
                fmt_rate(r.login12.rate()),
                fmt_rate(bcrypt.rate())
            ),
            format!("{:.2}", ratio(r.login12.rate(), bcrypt.rate())),
            None,
        );
    }
    for (kind, r) in runs {
        let name = db::name(*kind);
        report.target(
            format!("RSS of the {name} server, idle and after load"),
            "(reported)",
            format!("{:.1} MiB idle, {:.1} MiB after load", r.rss.0, r.rss.1),
            "–",
            None,
        );
        report.rss.push((
            format!("{name}, bcrypt cost 4 (cache hit)"),
            r.rss.0,
            r.rss.1,
            "server_settings, users/me from 64 connections, cost-4 logins".into(),
        ));
    }
}
