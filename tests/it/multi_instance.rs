//! Two Latchkey instances on one PostgreSQL database and one (private) Redis: keys regenerated
//! on one are refused by the other within a second — also while the other's cached entry is
//! being refreshed, or after it expired (with jitter) and was read again; failed logins count
//! across instances; with Redis stopped both keep serving with per-instance limits (and say
//! so), and share again when it returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::Role;
use base64::Engine;
use latchkey_tests::redis::PrivateRedis;
use latchkey_tests::{Client, DbKind, PW, Reply, TestDb, TestServer, capture_logs, eventually};

fn basic(email: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"))
    )
}

async fn me(c: &Client, auth: &str) -> Reply {
    Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
            .header("authorization", auth),
    )
    .await
}

async fn health(c: &Client) -> String {
    c.get("zulip", "/health").await.body["rate_limits"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_keys_and_limits() {
    let logs = capture_logs();
    let Some(db) = TestDb::new(DbKind::Postgres) else {
        return;
    };
    let mut redis = tokio::task::spawn_blocking(PrivateRedis::start)
        .await
        .unwrap()
        .expect("private redis");
    let mut settings = db.settings();
    settings.redis.url = latchkey::config::Secret(auth_core::SecretString::new(redis.url()));
    settings.redis.key_prefix = format!("latchkey-test-{}:", std::process::id());
    settings.rate_limits.authenticate_by_username = "60:3".parse().unwrap();
    let a = TestServer::start(settings.clone()).await;
    let b = TestServer::start(settings.clone()).await;
    let zulip = a.create_realm("zulip", "Zulip").await;
    let hamlet = a
        .create_user(&zulip, "hamlet@zulip.com", Some(PW), Role::Member)
        .await;
    a.create_user(&zulip, "cordelia@zulip.com", Some(PW), Role::Member)
        .await;
    let (ca, cb) = (a.client(), b.client());
    assert_eq!(health(&ca).await, "shared");
    assert_eq!(health(&cb).await, "shared");

    // A key regenerated on A is refused by B within one second.
    let k1 = a.key_of(&hamlet).await;
    let old = basic("hamlet@zulip.com", &k1);
    me(&cb, &old).await.assert_success(); // B has it cached now
    let r = Client::send(
        ca.request(
            reqwest::Method::POST,
            "zulip",
            "/api/v1/users/me/api_key/regenerate",
        )
        .header("authorization", &old),
    )
    .await;
    r.assert_success();
    let regenerated = Instant::now();
    let k2 = r.body["api_key"].as_str().unwrap().to_owned();
    let refused = eventually(
        Duration::from_secs(3),
        || me(&cb, &old),
        |r: &Reply| r.status == 401,
    )
    .await;
    let took = regenerated.elapsed();
    refused.assert_error(401, "UNAUTHORIZED", "Invalid API key");
    assert!(
        took < Duration::from_secs(1),
        "B refused the old key only after {took:?}"
    );
    me(&cb, &basic("hamlet@zulip.com", &k2))
        .await
        .assert_success();

    // Failed logins on A count on B: two on A, one on B, then A refuses even the right password.
    for c in [&ca, &ca, &cb] {
        c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong")
            .await
            .assert_bad_credentials();
    }
    ca.fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
    cb.fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");

    // Redis stops: both keep serving, with per-instance limits, and the switch is logged.
    redis.stop();
    for c in [&ca, &cb] {
        c.fetch_api_key("zulip", "cordelia@zulip.com", PW)
            .await
            .assert_success();
        me(c, &basic("hamlet@zulip.com", &k2))
            .await
            .assert_success();
    }
    assert_eq!(health(&ca).await, "local");
    assert_eq!(health(&cb).await, "local");
    assert!(
        logs.contains("Redis unavailable"),
        "the fallback is logged: {}",
        logs.text()
    );
    // Local limits still hold the gate: three failures on A close A (not B).
    for _ in 0..3 {
        assert_eq!(
            ca.fetch_api_key("zulip", "cordelia@zulip.com", "wrong")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        ca.fetch_api_key("zulip", "cordelia@zulip.com", "wrong")
            .await
            .status,
        429
    );
    assert_eq!(
        cb.fetch_api_key("zulip", "cordelia@zulip.com", "wrong")
            .await
            .status,
        401
    );

    // Redis is back: shared again.
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart().expect("restart redis");
        redis
    })
    .await
    .expect("join");
    for c in [&ca, &cb] {
        let mode = eventually(
            Duration::from_secs(5),
            || health(c),
            |m: &String| m == "shared",
        )
        .await;
        assert_eq!(mode, "shared");
    }
    for c in [&ca, &ca, &cb] {
        assert_eq!(
            c.fetch_api_key("zulip", "othello@zulip.com", "wrong")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        cb.fetch_api_key("zulip", "othello@zulip.com", "wrong")
            .await
            .status,
        429
    );
    a.stop().await;
    b.stop().await;
    drop(redis);
}

/// B serves keys from a cache whose entries live 300-600 ms and are refreshed in the background
/// from 150 ms on, while a client keeps using some keys ("in use": their entries are refreshed
/// again and again) and leaves others alone ("idle": their entries expire, then are read
/// again). A regenerates each key: B refuses the old key within a second, and never accepts it
/// again — a refresh that read the old row just before the change must not bring it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerated_keys_are_refused_while_their_entries_refresh_or_after_they_expire() {
    let Some(db) = TestDb::new(DbKind::Postgres) else {
        return;
    };
    let mut settings = db.settings();
    settings.cache.ttl_secs = Duration::from_millis(600);
    settings.cache.ttl_jitter_percent = 50;
    settings.rate_limits.api_by_user = Default::default(); // unlimited
    settings.rate_limits.api_by_ip = Default::default();
    let a = TestServer::start(settings.clone()).await;
    let b = TestServer::start(settings).await;
    let zulip = a.create_realm("zulip", "Zulip").await;
    let mut people = Vec::new();
    for n in 0..7 {
        let email = format!("person{n}@zulip.com");
        let user = a.create_user(&zulip, &email, None, Role::Member).await;
        let key = a.key_of(&user).await;
        people.push((email.clone(), basic(&email, &key)));
    }
    let (in_use, idle) = people.split_at(4);
    let (ca, cb) = (a.client(), b.client());
    for (_, auth) in &people {
        me(&cb, auth).await.assert_success();
    }

    // The client on B: every in-use key, over and over (for at most 60 s). It notes when B
    // first refused each key, and any success after that.
    let stop = Arc::new(AtomicBool::new(false));
    let refused_at: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let accepted_again: Arc<Mutex<Vec<usize>>> = Arc::default();
    let client = {
        let (cb, stop) = (cb.clone(), stop.clone());
        let (refused_at, accepted_again) = (refused_at.clone(), accepted_again.clone());
        let auths: Vec<String> = in_use.iter().map(|(_, auth)| auth.clone()).collect();
        tokio::spawn(async move {
            let end = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < end {
                for (i, auth) in auths.iter().enumerate() {
                    let status = me(&cb, auth).await.status;
                    let mut refused = refused_at.lock().unwrap();
                    match status {
                        401 => {
                            refused.entry(i).or_insert_with(Instant::now);
                        }
                        200 if refused.contains_key(&i) => accepted_again.lock().unwrap().push(i),
                        200 => {}
                        other => panic!("B answered {other}"),
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    // Several refresh rounds for the keys in use; the idle keys' entries expire meanwhile.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let regenerate = |auth: String| {
        let ca = ca.clone();
        async move {
            let r = Client::send(
                ca.request(
                    reqwest::Method::POST,
                    "zulip",
                    "/api/v1/users/me/api_key/regenerate",
                )
                .header("authorization", &auth),
            )
            .await;
            r.assert_success();
            r.body["api_key"].as_str().unwrap().to_owned()
        }
    };
    for (i, (email, auth)) in in_use.iter().enumerate() {
        let new_key = regenerate(auth.clone()).await;
        let regenerated = Instant::now();
        let end = regenerated + Duration::from_secs(3);
        let refused = loop {
            if let Some(at) = refused_at.lock().unwrap().get(&i) {
                break *at;
            }
            assert!(Instant::now() < end, "B still accepts {email}'s old key");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let took = refused.saturating_duration_since(regenerated);
        assert!(
            took < Duration::from_secs(1),
            "B refused {email}'s old key after {took:?}"
        );
        me(&cb, &basic(email, &new_key)).await.assert_success();
        // A few refresh rounds of the other keys before the next one.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (email, auth) in idle {
        // Expired (idle since the start): read again, then regenerated.
        me(&cb, auth).await.assert_success();
        regenerate(auth.clone()).await;
        let regenerated = Instant::now();
        let refused = eventually(
            Duration::from_secs(3),
            || me(&cb, auth),
            |r: &Reply| r.status == 401,
        )
        .await;
        let took = regenerated.elapsed();
        refused.assert_error(401, "UNAUTHORIZED", "Invalid API key");
        assert!(
            took < Duration::from_secs(1),
            "B refused {email}'s old key after {took:?}"
        );
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(
                me(&cb, auth).await.status,
                401,
                "{email}'s old key came back"
            );
        }
    }
    // More refresh rounds with the old keys still being tried: none comes back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop.store(true, Ordering::SeqCst);
    client.await.unwrap();
    assert_eq!(refused_at.lock().unwrap().len(), in_use.len());
    assert!(
        accepted_again.lock().unwrap().is_empty(),
        "old keys accepted again after B refused them: {:?}",
        accepted_again.lock().unwrap()
    );
    // The entries were refreshed in the background (the count is per process: A's cache
    // counts too).
    let metrics = Client::send(cb.request(reqwest::Method::GET, "", "/metrics")).await;
    assert!(
        metrics
            .raw
            .lines()
            .any(|l| l.starts_with("latchkey_key_cache_refreshes_total{outcome=\"fresh\"}")),
        "no background refresh: {}",
        metrics.raw
    );
    a.stop().await;
    b.stop().await;
}
