//! Two Latchkey instances on one PostgreSQL database and one (private) Redis: keys regenerated
//! on one are refused by the other within a second; failed logins count across instances;
//! with Redis stopped both keep serving with per-instance limits (and say so), and share again
//! when it returns.

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
