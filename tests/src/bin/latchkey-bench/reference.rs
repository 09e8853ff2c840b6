//! The references each target row is compared with, measured in the same run:
//!
//! - a constant actix-web handler (`bench-constant`, its own process) under the same wrk load;
//! - raw `bcrypt::verify` at cost 12 on every core (threads in this process);
//! - raw ldap3 search + bind against the bench's slapd: on reused connections (a bound service
//!   connection for the search, a second connection for the person's bind), and on a new
//!   connection per login (connect, service bind, search, person bind, unbind);
//! - django-auth-ldap's `authenticate()` (tests/bench/django_ldap.py, its own processes).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use latchkey_tests::process::{ServerProcess, free_port, run_with_timeout};
use latchkey_tests::slapd;
use serde::Deserialize;

use crate::server::sibling_bin;
use crate::stats::Stats;
use crate::wrk::{Load, Wrk};

/// The constant handler under `load` (its URL's port replaced by the handler's), after a 2 s
/// warm-up like the server's.
pub fn constant_handler(wrk: &Wrk, load: &Load, label: &str) -> Result<Stats> {
    let bin = sibling_bin("bench-constant")?;
    let port = free_port()?;
    let mut process = ServerProcess::spawn(
        Command::new(bin)
            .arg(port.to_string())
            .arg("2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "bench-constant",
    )?;
    process
        .wait_ready(
            Instant::now() + Duration::from_secs(10),
            Duration::from_millis(50),
            || {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .map(drop)
                    .map_err(Into::into)
            },
        )
        .map_err(|_| anyhow!("bench-constant did not listen"))?;
    let load = Load {
        url: format!("http://127.0.0.1:{port}/api/v1/users/me"),
        ..load.clone()
    };
    wrk.run(
        "warm-up",
        &Load {
            secs: 2,
            ..load.clone()
        },
    )?;
    let stats = wrk.run(label, &load)?;
    drop(process);
    Ok(stats)
}

/// `bcrypt::verify` of a cost-12 hash on one thread per core, for `secs` (at most 2,000
/// verifications per thread).
pub fn raw_bcrypt(secs: u64) -> Result<Stats> {
    let password = "f657gdGGk9-raw-bcrypt";
    let hash = bcrypt::hash(password, 12).context("bcrypt::hash")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                for _ in 0..2_000 {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    if !matches!(bcrypt::verify(password, &hash), Ok(true)) {
                        errors += 1;
                    }
                    lat.push(t.elapsed());
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (lat, e) = t.join().map_err(|_| anyhow!("a bcrypt thread panicked"))?;
        all.extend(lat);
        errors += e;
    }
    Ok(Stats::from_latencies(
        &format!("raw `bcrypt::verify`, cost 12, {cores} threads (all cores)"),
        all,
        errors,
        start.elapsed(),
    ))
}

/// How the raw ldap3 reference treats connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Connections {
    /// A bound service connection for searches and one for the person's binds, per task.
    Reused,
    /// Connect, service bind, search, person bind, unbind: per login.
    New,
}

/// One login as Latchkey does it without the HTTP and database parts: search for `uid` as the
/// service account on `svc`, then bind as the entry found on `person`.
async fn search_then_bind(
    svc: &mut ldap3::Ldap,
    person: &mut ldap3::Ldap,
    uid: &str,
    password: &str,
) -> Result<()> {
    let filter = format!("(uid={})", ldap3::ldap_escape(uid));
    let (entries, _) = svc
        .search(
            slapd::PEOPLE_DN,
            ldap3::Scope::Subtree,
            &filter,
            vec!["uid", "mail", "cn", "givenName", "sn"],
        )
        .await?
        .success()?;
    let entry = entries
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no entry for {uid}"))?;
    let dn = ldap3::SearchEntry::construct(entry).dn;
    person.simple_bind(&dn, password).await?.success()?;
    Ok(())
}

async fn connect(uri: &str, bind: Option<(&str, &str)>) -> Result<ldap3::Ldap> {
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(uri).await?;
    ldap3::drive!(conn);
    if let Some((dn, pw)) = bind {
        ldap.simple_bind(dn, pw).await?.success()?;
    }
    Ok(ldap)
}

/// Raw ldap3 logins of `uid` from `tasks` tasks for `secs` (at most 100,000 each).
pub async fn raw_ldap3(
    uri: &str,
    mode: Connections,
    tasks: usize,
    secs: u64,
    (uid, password): (&'static str, &'static str),
) -> Result<Stats> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let uri = uri.to_owned();
        handles.push(tokio::spawn(async move {
            let service = Some((slapd::SERVICE_DN, slapd::SERVICE_PASSWORD));
            let mut pair = match mode {
                Connections::Reused => {
                    Some((connect(&uri, service).await?, connect(&uri, None).await?))
                }
                Connections::New => None,
            };
            let mut lat = Vec::new();
            let mut errors = 0u64;
            for _ in 0..100_000 {
                if Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                let ok = match &mut pair {
                    Some((svc, person)) => search_then_bind(svc, person, uid, password).await,
                    None => {
                        async {
                            let mut c = connect(&uri, service).await?;
                            let mut same = c.clone();
                            let r = search_then_bind(&mut c, &mut same, uid, password).await;
                            let _ = c.unbind().await;
                            r
                        }
                        .await
                    }
                };
                if ok.is_err() {
                    errors += 1;
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>((lat, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.await.context("a raw ldap3 task")??;
        all.extend(lat);
        errors += e;
    }
    let label = match mode {
        Connections::Reused => {
            format!("raw ldap3 search + bind, reused connections, {tasks} tasks")
        }
        Connections::New => {
            format!("raw ldap3 search + bind, a new connection per login, {tasks} tasks")
        }
    };
    Ok(Stats::from_latencies(&label, all, errors, start.elapsed()))
}

/// What tests/bench/django_ldap.py prints.
#[derive(Debug, Deserialize)]
struct DjangoSummary {
    requests: u64,
    errors: u64,
    seconds: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    versions: String,
}

/// django-auth-ldap's `authenticate()` in `procs` processes for `secs`, against `uri`.
/// Answers the stats and the versions used.
pub fn django_auth_ldap(
    uri: &str,
    procs: u32,
    secs: u32,
    (uid, password): (&str, &str),
) -> Result<(Stats, String)> {
    let python = crate::django_python()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/django_ldap.py");
    let out = run_with_timeout(
        Command::new(python)
            .arg(script)
            .args(["--uri", uri])
            .args(["--bind-dn", slapd::SERVICE_DN])
            .args(["--search-base", slapd::PEOPLE_DN])
            .args(["--username", uid])
            .args(["--processes", &procs.to_string()])
            .args(["--seconds", &secs.to_string()])
            // Passwords on standard input, not in the process list.
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        Some(&format!("{}\n{password}\n", slapd::SERVICE_PASSWORD)),
        Duration::from_secs(u64::from(secs) + 120),
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(json) = stdout.lines().find_map(|l| l.strip_prefix("DJANGO_JSON ")) else {
        bail!(
            "django_ldap.py printed no summary ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s: DjangoSummary = serde_json::from_str(json).context("parsing django_ldap.py")?;
    Ok((
        Stats {
            label: format!("django-auth-ldap `authenticate()`, {procs} processes"),
            requests: s.requests,
            errors: s.errors,
            secs: s.seconds,
            p50_ms: s.p50_ms,
            p90_ms: s.p90_ms,
            p99_ms: s.p99_ms,
        },
        s.versions,
    ))
}
