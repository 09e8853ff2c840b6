//! Issue 13's scenario, on PostgreSQL with rate limits off: 100,000 bots created through
//! `POST /api/v1/bots` (16 requests at a time), then `GET /api/v1/users/me` with Basic auth
//! rotating over all their keys (the wrk script prepares every request up front), five 8-second
//! passes back to back, each continuing the rotation where the last one ended; compared with
//! one key through the same script on the same server, just before.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use latchkey_tests::{Client, DbKind};

use crate::report::{Report, at_least, below};
use crate::server::{BenchServer, HAMLET_EMAIL, HAMLET_PW, HOST, REALM, ServerConfig, basic};
use crate::stats::{Stats, fmt_rate, ratio};
use crate::wrk::{Load, Wrk};

pub const BOTS: usize = 100_000;
const CREATORS: usize = 16;
/// Past this, the passes rotate over the bots created so far (the table says how many).
const CREATE_BUDGET: Duration = Duration::from_secs(300);
const PASSES: usize = 5;
const PASS_SECS: u32 = 8;

/// Creates `n` bots owned by the caller of `owner_auth`; answers their `Authorization` values
/// in creation order and the time it took.
async fn create_bots(
    client: &Client,
    owner_auth: &str,
    n: usize,
) -> Result<(Vec<String>, Duration)> {
    let start = Instant::now();
    let deadline = start + CREATE_BUDGET;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CREATORS {
        let client = client.clone();
        let owner_auth = owner_auth.to_owned();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    break;
                }
                let short = format!("k{i}");
                let resp = client
                    .request(reqwest::Method::POST, REALM, "/api/v1/bots")
                    .header("authorization", &owner_auth)
                    .form(&[
                        ("full_name", format!("Key bot {i}")),
                        ("short_name", short.clone()),
                    ])
                    .send()
                    .await
                    .context("POST /api/v1/bots")?;
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.context("bot creation answer")?;
                let Some(key) = body["api_key"].as_str() else {
                    bail!("POST /api/v1/bots answered {status}: {body}");
                };
                made.push((i, basic(&format!("{short}-bot@{HOST}"), key)));
            }
            Ok(made)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.context("a bot-creating task")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok((all.into_iter().map(|(_, a)| a).collect(), start.elapsed()))
}

/// The server's key-cache misses so far (`latchkey_key_cache_lookups_total{result="miss"}`).
async fn cache_misses(client: &Client) -> Result<u64> {
    let text = client
        .request(reqwest::Method::GET, REALM, "/metrics")
        .send()
        .await
        .context("GET /metrics")?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("latchkey_key_cache_lookups_total{result=\"miss\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64))
}

/// `VACUUM ANALYZE` of the bench database: PostgreSQL's own catch-up after 100,000 inserts
/// (autovacuum would do it within the next minutes), done before the passes rather than during
/// them, where it would share the two cores with the server and wrk.
fn vacuum(url: &str) -> Result<()> {
    use diesel::{Connection, RunQueryDsl};
    let mut c = diesel::PgConnection::establish(url).context("connecting to the bench database")?;
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut c)
        .context("VACUUM ANALYZE")?;
    Ok(())
}

/// Checks that a key of the file authenticates (the email and key are what the passes send).
async fn check_key(client: &Client, auth: &str) -> Result<()> {
    let resp = client
        .request(reqwest::Method::GET, REALM, "/api/v1/users/me")
        .header("authorization", auth)
        .send()
        .await?;
    if resp.status() != 200 {
        bail!("a bot key was refused: {}", resp.status());
    }
    Ok(())
}

pub fn run(rt: &tokio::runtime::Runtime, wrk: &Wrk, report: &mut Report) -> Result<()> {
    let s = BenchServer::start(&ServerConfig {
        async_commit: true,
        ..ServerConfig::email(DbKind::Postgres, 12)
    })?
    .ok_or_else(|| anyhow!("PostgreSQL is unreachable"))?;
    let owner = rt.block_on(s.basic_auth_of(HAMLET_EMAIL, HAMLET_PW))?;
    let rss_start = s.rss_mib();
    let client = s.client();
    let (keys, took) = rt.block_on(create_bots(&client, &owner, BOTS))?;
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        bail!("no bot was created");
    };
    rt.block_on(async {
        check_key(&client, first).await?;
        check_key(&client, last).await
    })?;
    let total = keys.len() as u64;
    vacuum(&s.db.url())?;
    let rss_created = s.rss_mib();
    let keys_file = s.db.dir().join("keys.txt");
    std::fs::write(&keys_file, keys.join("\n") + "\n").context("writing the keys file")?;
    let one_file = s.db.dir().join("one-key.txt");
    std::fs::write(&one_file, format!("{owner}\n")).context("writing the one-key file")?;

    let base = Load::get(s.url("/api/v1/users/me"), HOST).conns(64, PASS_SECS);
    let one = Load {
        keys: Some((one_file, 0)),
        ..base.clone()
    };
    wrk.run(
        "warm-up",
        &Load {
            secs: 2,
            ..one.clone()
        },
    )?;
    let one_key = wrk.run(
        "PostgreSQL: GET users/me (Basic auth), one key (cache hit), same script, 64 connections",
        &one,
    )?;
    let mut passes: Vec<(Stats, u64, u64)> = Vec::new();
    let mut offset = 0u64;
    for pass in 1..=PASSES {
        let misses_before = rt.block_on(cache_misses(&client))?;
        let stats = wrk.run(
            &format!("pass {pass}"),
            &Load {
                keys: Some((keys_file.clone(), offset % total)),
                ..base.clone()
            },
        )?;
        // Keys sent for the first time in this pass: the part of [offset, offset + n) below
        // `total` (the rotation wraps after every key was sent once).
        let seen_before = offset.min(total);
        let seen_after = (offset + stats.requests).min(total);
        offset += stats.requests;
        let misses = rt
            .block_on(cache_misses(&client))?
            .saturating_sub(misses_before);
        passes.push((stats, seen_after - seen_before, misses));
    }
    let rss_after = s.rss_mib();
    s.stop();

    let mut t = format!(
        "### Issue 13: {total} keys (PostgreSQL, rate limits off, default `[cache]`)\n\n\
         {total} bots (of {BOTS} wanted; creation stops after {} s) created through \
         `POST /api/v1/bots` ({CREATORS} at a time; the database has \
         `synchronous_commit = off`, so rows do not wait for a WAL flush each) in {:.0} s \
         ({} bots/s), then `VACUUM ANALYZE` (PostgreSQL's catch-up after the inserts, done before \
         the passes instead of during them). Each pass: `GET /api/v1/users/me` with Basic auth, 64 connections, \
         {PASS_SECS} s, every request with the next key of the rotation (each pass goes on \
         where the last one ended; \"new keys\" were never sent before, \"cache misses\" are the \
         server's own count of lookups that went to the database).\n\n\
         | pass | requests | req/s | p50 ms | p90 ms | p99 ms | errors | new keys | cache misses | req/s / one key | p99 / one key |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | one key (reference) | {} | {} | {:.2} | {:.2} | {:.2} | {} | – | – | 1.00 | 1.00 |\n",
        CREATE_BUDGET.as_secs(),
        took.as_secs_f64(),
        fmt_rate(total as f64 / took.as_secs_f64()),
        one_key.requests,
        fmt_rate(one_key.rate()),
        one_key.p50_ms,
        one_key.p90_ms,
        one_key.p99_ms,
        one_key.errors
    );
    for (p, (st, new, misses)) in passes.iter().enumerate() {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {new} | {misses} | {:.2} | {:.2} |",
            p + 1,
            st.requests,
            fmt_rate(st.rate()),
            st.p50_ms,
            st.p90_ms,
            st.p99_ms,
            st.errors,
            ratio(st.rate(), one_key.rate()),
            ratio(st.p99_ms, one_key.p99_ms)
        );
    }
    report.raw_table(&t);

    let pass1 = &passes[0].0;
    report.target(
        format!("100k keys ({total} created): cold pass 1 throughput"),
        "≥ 4,894 req/s",
        format!(
            "{} req/s, p99 {:.2} ms ({} new keys)",
            fmt_rate(pass1.rate()),
            pass1.p99_ms,
            passes[0].1
        ),
        format!("{:.2} of 4,894", pass1.rate() / 4894.0),
        at_least(pass1.rate(), 4894.0),
    );
    let later = &passes[1..];
    let worst_rate = later
        .iter()
        .map(|(s, _, _)| ratio(s.rate(), one_key.rate()))
        .fold(f64::INFINITY, f64::min);
    let worst_p99 = later
        .iter()
        .map(|(s, _, _)| ratio(s.p99_ms, one_key.p99_ms))
        .fold(0.0, f64::max);
    let rates = later
        .iter()
        .map(|(s, _, _)| fmt_rate(s.rate()))
        .collect::<Vec<_>>()
        .join(", ");
    report.target(
        "100k keys: passes 2–5 throughput vs one key (same script, same server)",
        "≥ 0.80 each",
        format!("{rates} req/s vs {} req/s", fmt_rate(one_key.rate())),
        format!("{worst_rate:.2} (worst)"),
        at_least(worst_rate, 0.80),
    );
    let p99s = later
        .iter()
        .map(|(s, _, _)| format!("{:.2}", s.p99_ms))
        .collect::<Vec<_>>()
        .join(", ");
    report.target(
        "100k keys: passes 2–5 p99 vs one key",
        "< 3× each",
        format!("{p99s} ms vs {:.2} ms", one_key.p99_ms),
        format!("{worst_p99:.2}× (worst)"),
        below(worst_p99, 3.0),
    );
    report.target(
        "100k keys: RSS after the five passes (keys cached)",
        "< 80 MB",
        format!(
            "{rss_after:.1} MiB ({:.1} MB); {rss_start:.1} MiB before the bots, {rss_created:.1} MiB after creating them",
            rss_after * 1.048_576
        ),
        "–",
        below(rss_after * 1.048_576, 80.0),
    );
    report.rss.push((
        "PostgreSQL, 100k keys".into(),
        rss_start,
        rss_after,
        format!("{total} bots created, then five passes over their keys"),
    ));
    Ok(())
}
