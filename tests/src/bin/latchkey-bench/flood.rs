//! API-key checks while password logins saturate the CPU: `users/me` with a cached key from one
//! connection, idle and then during a flood of cost-12 logins from 8 connections (a second wrk
//! process started first). Target: p99 during the flood < 2× idle.

use std::time::Duration;

use anyhow::{Result, anyhow};
use latchkey_tests::DbKind;

use crate::report::{Report, below};
use crate::server::{BenchServer, HAMLET_EMAIL, HAMLET_PW, HOST, ServerConfig};
use crate::wrk::{Load, Wrk};

pub fn run(rt: &tokio::runtime::Runtime, wrk: &Wrk, report: &mut Report) -> Result<()> {
    let s = BenchServer::start(&ServerConfig::email(DbKind::Sqlite, 12))?
        .ok_or_else(|| anyhow!("SQLite is always available"))?;
    let auth = rt.block_on(s.basic_auth_of(HAMLET_EMAIL, HAMLET_PW))?;
    let rss_idle = s.rss_mib();
    let check = Load::get(s.url("/api/v1/users/me"), HOST)
        .conns(1, 8)
        .auth(&auth);
    let idle = wrk.run(
        "SQLite: GET users/me (Basic auth), cache hit, 1 connection, idle",
        &check,
    )?;
    let flood_load = Load::post_form(
        s.url("/api/v1/fetch_api_key"),
        HOST,
        &[("username", HAMLET_EMAIL), ("password", HAMLET_PW)],
    )?
    .conns(8, 14)
    .want(200);
    let (flood, during) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| {
            wrk.run(
                "SQLite: fetch_api_key success, bcrypt cost 12, 8 connections (the flood)",
                &flood_load,
            )
        });
        // Let the flood fill the hashing threads first; the check ends before the flood does.
        std::thread::sleep(Duration::from_secs(2));
        let during = wrk.run(
            "SQLite: GET users/me (Basic auth), cache hit, 1 connection, during the flood",
            &Load {
                secs: 10,
                ..check.clone()
            },
        );
        (
            flood
                .join()
                .map_err(|_| anyhow!("the flood thread panicked")),
            during,
        )
    });
    let flood = flood??;
    let during = during?;
    let rss_after = s.rss_mib();
    s.stop();
    report.table(
        "Key checks during a login flood (SQLite, bcrypt cost 12)",
        &[&idle, &flood, &during],
        "",
    );
    let times = during.p99_ms / idle.p99_ms.max(0.001);
    report.target(
        "Key-validation p99 during a saturating password-login flood (8 connections at cost 12) vs idle",
        "< 2×",
        format!(
            "{:.2} ms vs {:.2} ms idle (p50 {:.2} vs {:.2} ms)",
            during.p99_ms, idle.p99_ms, during.p50_ms, idle.p50_ms
        ),
        format!("{times:.2}×"),
        below(times, 2.0),
    );
    report.rss.push((
        "SQLite, bcrypt cost 12 (flood)".into(),
        rss_idle,
        rss_after,
        "key checks, then 14 s of cost-12 logins from 8 connections".into(),
    ));
    Ok(())
}
