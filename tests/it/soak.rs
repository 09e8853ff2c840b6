//! Load and soak: two `latchkey serve` processes sharing one PostgreSQL database and a private
//! Redis, with a private slapd, under mixed traffic — logins right and wrong on the Email and
//! LDAP backends, Basic-auth requests, key regenerations, bot creation, server_settings —
//! sent to both instances in turn from several tasks, on loopback only.
//!
//! It runs for `LATCHKEY_SOAK_SECS` seconds: 8 in `make test`, 60 in `make soak`. It asserts no
//! 5xx, no lost write (every regeneration is seen by both instances, and every bot created
//! through one is listed by the other), and that each instance's RSS at the end is at most
//! 1.2× its RSS after the first quarter (the warm-up).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latchkey_tests::ldap_world::{CliConfig, latchkey, start_slapd, text, toml_config};
use latchkey_tests::process::{ServerProcess, free_port};
use latchkey_tests::redis::PrivateRedis;
use latchkey_tests::{Client, DbKind, TestDb, latchkey_bin, slapd};
use tokio::sync::Mutex;

const ALICE: &str = "alice@zulip.com";
const ALICE_PW: &str = "soak-alice-password-1";
const BOB: &str = "bob@zulip.com";

fn soak_secs() -> u64 {
    std::env::var("LATCHKEY_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
        .clamp(2, 600)
}

/// The resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Instance {
    process: ServerProcess,
    client: Client,
}

fn start_instance(config: &std::path::Path) -> Instance {
    let port = free_port().unwrap();
    let log = std::fs::File::create(config.with_extension(format!("{port}.log"))).unwrap();
    let mut process = ServerProcess::spawn(
        Command::new(latchkey_bin())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("LATCHKEY_CONFIG")
            .env_remove("RUST_LOG")
            .env("LATCHKEY__SERVER__BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log),
        "latchkey",
    )
    .unwrap();
    let ready = process.wait_ready(
        Instant::now() + Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(drop)
                .map_err(Into::into)
        },
    );
    assert!(ready.is_ok(), "an instance did not start");
    Instance {
        process,
        client: Client::new(([127, 0, 0, 1], port).into()),
    }
}

/// What every task counts.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
    regenerations: AtomicU64,
    bots: AtomicU64,
}

async fn get_me(c: &Client, email: &str, key: &str) -> u16 {
    Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
            .basic_auth(email, Some(key)),
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_traffic_on_two_instances() {
    let Some(db) = TestDb::new(DbKind::Postgres) else {
        return;
    };
    let slapd = start_slapd().await;
    let redis = PrivateRedis::start().unwrap();
    let config = db.dir().join("latchkey.toml");
    let mut toml = toml_config(&db, &slapd, &CliConfig::default());
    toml.push_str(&format!(
        "\n[redis]\nurl = \"{}\"\n\n[rate_limits]\nauthenticate_by_username = [[60, 1000000]]\n\
         api_by_user = [[60, 1000000]]\napi_by_ip = [[60, 1000000]]\n",
        redis.url()
    ));
    std::fs::write(&config, toml).unwrap();
    let out = latchkey(
        &config,
        &["realm", "create", "--subdomain", "zulip", "--name", "Zulip"],
    );
    assert!(out.status.success(), "{}", text(&out));
    for (email, pw) in [(ALICE, ALICE_PW), (BOB, ALICE_PW)] {
        let out = Command::new(latchkey_bin())
            .arg("--config")
            .arg(&config)
            .args(["user", "create", "--realm", "zulip", "--email", email])
            .args(["--full-name", "Soak", "--password-stdin"])
            .env_remove("LATCHKEY_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{pw}\n").as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let a = start_instance(&config);
    let b = start_instance(&config);
    let clients = [a.client.clone(), b.client.clone()];
    let key_of = |r: latchkey_tests::Reply| {
        r.assert_success();
        r.body["api_key"].as_str().unwrap().to_owned()
    };
    let alice_key = key_of(clients[0].fetch_api_key("zulip", ALICE, ALICE_PW).await);
    let bob_key = Arc::new(Mutex::new(key_of(
        clients[1].fetch_api_key("zulip", BOB, ALICE_PW).await,
    )));
    let old_bob_keys = Arc::new(Mutex::new(Vec::<String>::new()));
    let tally = Arc::new(Tally::default());

    let secs = soak_secs();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let warm = start + Duration::from_secs(secs / 4);
    let pids = [a.process.id(), b.process.id()];
    let rss_warm = Arc::new(Mutex::new([0u64; 2]));
    let mut tasks = Vec::new();
    for task in 0..6u64 {
        let clients = clients.clone();
        let tally = tally.clone();
        let alice_key = alice_key.clone();
        let bob_key = bob_key.clone();
        let old_bob_keys = old_bob_keys.clone();
        let rss_warm = rss_warm.clone();
        tasks.push(tokio::spawn(async move {
            // Bounded in count as well as in time.
            for n in 0..200_000u64 {
                if Instant::now() >= deadline {
                    break;
                }
                if task == 0 && Instant::now() >= warm && rss_warm.lock().await[0] == 0 {
                    *rss_warm.lock().await = [rss_kib(pids[0]), rss_kib(pids[1])];
                }
                let c = &clients[usize::from(n % 2 == 1)];
                let status = match (task + n) % 9 {
                    0 => c.fetch_api_key("zulip", ALICE, ALICE_PW).await.status,
                    1 => c.fetch_api_key("zulip", ALICE, "wrong-pw").await.status,
                    2 => {
                        c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
                            .await
                            .status
                    }
                    3 => c.fetch_api_key("zulip", "hamlet", "wrong-pw").await.status,
                    4 | 5 => get_me(c, ALICE, &alice_key).await,
                    6 => c.get("zulip", "/api/v1/server_settings").await.status,
                    7 if task == 1 => {
                        // One task regenerates, so the current key is always known.
                        let mut key = bob_key.lock().await;
                        let r = Client::send(
                            c.request(
                                reqwest::Method::POST,
                                "zulip",
                                "/api/v1/users/me/api_key/regenerate",
                            )
                            .basic_auth(BOB, Some(key.as_str())),
                        )
                        .await;
                        if r.status == 200 {
                            let new = r.body["api_key"].as_str().unwrap().to_owned();
                            old_bob_keys
                                .lock()
                                .await
                                .push(std::mem::replace(&mut *key, new));
                            tally.regenerations.fetch_add(1, Ordering::Relaxed);
                        }
                        r.status
                    }
                    7 => get_me(c, BOB, bob_key.lock().await.as_str()).await,
                    _ => {
                        let short = format!("soak{task}x{n}");
                        let r = Client::send(
                            c.request(reqwest::Method::POST, "zulip", "/api/v1/bots")
                                .basic_auth(ALICE, Some(&alice_key))
                                .form(&[("full_name", short.as_str()), ("short_name", &short)]),
                        )
                        .await;
                        if r.status == 200 {
                            tally.bots.fetch_add(1, Ordering::Relaxed);
                        }
                        r.status
                    }
                };
                tally.requests.fetch_add(1, Ordering::Relaxed);
                if status >= 500 {
                    tally.server_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rss_end = [rss_kib(pids[0]), rss_kib(pids[1])];
    let rss_warm = *rss_warm.lock().await;
    let requests = tally.requests.load(Ordering::Relaxed);
    let regenerations = tally.regenerations.load(Ordering::Relaxed);
    let bots = tally.bots.load(Ordering::Relaxed);
    eprintln!(
        "soak: {requests} requests in {secs} s, {regenerations} regenerations, {bots} bots, \
         RSS after warm-up {rss_warm:?} KiB, at the end {rss_end:?} KiB"
    );
    assert_eq!(
        tally.server_errors.load(Ordering::Relaxed),
        0,
        "5xx answers"
    );
    assert!(requests > 50 && regenerations > 0 && bots > 0);

    // No lost write: the last key works on both instances, every earlier one is refused on
    // both (within the invalidation log's poll), and both list every bot.
    let current = bob_key.lock().await.clone();
    let olds = old_bob_keys.lock().await.clone();
    for c in &clients {
        assert_eq!(get_me(c, BOB, &current).await, 200);
        let settle = Instant::now() + Duration::from_secs(5);
        for old in olds.iter().rev().take(20) {
            loop {
                let s = get_me(c, BOB, old).await;
                if s == 401 {
                    break;
                }
                assert!(Instant::now() < settle, "an old key still works: {s}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let r = Client::send(
            c.request(reqwest::Method::GET, "zulip", "/api/v1/bots")
                .basic_auth(ALICE, Some(&alice_key)),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["bots"].as_array().unwrap().len() as u64, bots);
    }
    for i in 0..2 {
        assert!(rss_warm[i] > 0 && rss_end[i] > 0);
        assert!(
            rss_end[i] as f64 <= rss_warm[i] as f64 * 1.2,
            "instance {i}: RSS {} KiB at the end against {} KiB after warm-up",
            rss_end[i],
            rss_warm[i]
        );
    }
    drop(a);
    drop(b);
}
