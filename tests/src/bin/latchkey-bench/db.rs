//! The database tables (SQLite, then PostgreSQL): cheap requests, Basic-auth requests with and
//! without the key cache, logins at bcrypt cost 4 and 12, failures at cost 12.

use anyhow::{Result, anyhow};
use latchkey_tests::DbKind;

use crate::server::{BenchServer, HAMLET_EMAIL, HAMLET_PW, HOST, ServerConfig};
use crate::stats::{Stats, fmt_rate, ratio};
use crate::wrk::{Load, Wrk};

/// What the targets need from one database's run.
pub struct DbRun {
    /// `GET users/me`, Basic auth, cache hit, 64 connections.
    pub me_hit: Stats,
    /// `fetch_api_key` at cost 12, 4 connections.
    pub login12: Stats,
    /// RSS of the cache-hit server: idle, after its load (MiB).
    pub rss: (f64, f64),
}

fn start(c: &ServerConfig) -> Result<BenchServer> {
    BenchServer::start(c)?.ok_or_else(|| anyhow!("PostgreSQL is unreachable"))
}

pub fn name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "SQLite",
        DbKind::Postgres => "PostgreSQL",
    }
}

/// The `users/me` load every cache-hit row uses: 64 connections, 8 s (the constant handler's
/// too).
pub fn users_me_load(url: String, auth: &str) -> Load {
    Load::get(url, HOST).conns(64, 8).auth(auth)
}

pub fn run(
    rt: &tokio::runtime::Runtime,
    wrk: &Wrk,
    kind: DbKind,
    report: &mut crate::report::Report,
) -> Result<DbRun> {
    let name = name(kind);
    let login = |s: &BenchServer, user: &str, pw: &str| {
        Load::post_form(
            s.url("/api/v1/fetch_api_key"),
            HOST,
            &[("username", user), ("password", pw)],
        )
    };

    // Cheap requests and the key cache's hit path, at bcrypt cost 4.
    let s = start(&ServerConfig::email(kind, 4))?;
    let auth = rt.block_on(s.basic_auth_of(HAMLET_EMAIL, HAMLET_PW))?;
    let rss_idle = s.rss_mib();
    let settings = wrk.run(
        &format!("{name}: GET server_settings, 16 connections"),
        &Load::get(s.url("/api/v1/server_settings"), HOST).conns(16, 8),
    )?;
    let me = users_me_load(s.url("/api/v1/users/me"), &auth);
    wrk.run(
        "warm-up",
        &Load {
            secs: 2,
            ..me.clone()
        },
    )?;
    let me_hit = wrk.run(
        &format!("{name}: GET users/me (Basic auth), cache hit, 64 connections"),
        &me,
    )?;
    let login4 = wrk.run(
        &format!("{name}: fetch_api_key success, bcrypt cost 4, 8 connections"),
        &login(&s, HAMLET_EMAIL, HAMLET_PW)?.conns(8, 8).want(200),
    )?;
    let rss_after = s.rss_mib();
    s.stop();

    // The miss path: a cache that keeps nothing, so every request reads the database.
    let s = start(&ServerConfig {
        cache_capacity: Some(0),
        ..ServerConfig::email(kind, 4)
    })?;
    let auth = rt.block_on(s.basic_auth_of(HAMLET_EMAIL, HAMLET_PW))?;
    let me_off = wrk.run(
        &format!(
            "{name}: GET users/me (Basic auth), cache off (database every time), 64 connections"
        ),
        &users_me_load(s.url("/api/v1/users/me"), &auth),
    )?;
    s.stop();

    // The default cost: bcrypt dominates.
    let s = start(&ServerConfig::email(kind, 12))?;
    let login12 = wrk.run(
        &format!("{name}: fetch_api_key success, bcrypt cost 12, 4 connections"),
        &login(&s, HAMLET_EMAIL, HAMLET_PW)?.conns(4, 10).want(200),
    )?;
    let wrong12 = wrk.run(
        &format!("{name}: wrong password, cost 12, 1 connection"),
        &login(&s, HAMLET_EMAIL, "wrong-password")?
            .conns(1, 6)
            .want(401),
    )?;
    let unknown12 = wrk.run(
        &format!("{name}: unknown user, cost 12, 1 connection"),
        &login(&s, "nobody@zulip.com", "wrong-password")?
            .conns(1, 6)
            .want(401),
    )?;
    s.stop();

    report.table(
        name,
        &[
            &settings, &me_hit, &me_off, &login4, &login12, &wrong12, &unknown12,
        ],
        "",
    );
    report.ratios.push(format!(
        "{name}: Basic-auth requests/s with the key cache / without = **{:.2}×** ({} vs {} req/s; p99 {:.2} ms vs {:.2} ms): a cache hit touches no database.",
        ratio(me_hit.rate(), me_off.rate()),
        fmt_rate(me_hit.rate()),
        fmt_rate(me_off.rate()),
        me_hit.p99_ms,
        me_off.p99_ms
    ));
    report.ratios.push(format!(
        "{name}: unknown-user p50 / wrong-password p50 at cost 12 = **{:.2}** ({:.1} ms / {:.1} ms): an unknown email costs what a wrong password costs.",
        ratio(unknown12.p50_ms, wrong12.p50_ms),
        unknown12.p50_ms,
        wrong12.p50_ms
    ));
    report.ratios.push(format!(
        "{name}: login throughput at bcrypt cost 4 / cost 12 = **{:.0}×** ({} vs {} logins/s on 2 cores): at the default cost, bcrypt is the cost of a login.",
        ratio(login4.rate(), login12.rate()),
        fmt_rate(login4.rate()),
        fmt_rate(login12.rate()),
    ));
    Ok(DbRun {
        me_hit,
        login12,
        rss: (rss_idle, rss_after),
    })
}
