//! Zulip's rate limits on one instance (spec §7, §12.3): the login limit by username, the
//! per-user API limit, the per-IP limit on unauthenticated and failed requests, and the
//! headers and body of a 429.

use std::time::Duration;

use auth_store::Actor;
use base64::Engine;
use latchkey_tests::{Client, DbKind, Fixture, PW, Reply, both_dbs};

both_dbs!(
    login_limit_by_username,
    password_change_clears_the_login_limit,
    api_limit_by_user,
    failed_basic_auth_is_limited_by_ip,
    limits_clear_reaches_running_servers_without_redis,
);

/// `latchkey` (another process) against the fixture's database and secret.
fn cli(f: &Fixture, args: &[&str]) -> String {
    let out = std::process::Command::new(latchkey_tests::latchkey_bin())
        .args(args)
        .current_dir(f.db.dir())
        .env_remove("LATCHKEY_CONFIG")
        .env("LATCHKEY__DATABASE__URL", f.db.url())
        .env(
            "LATCHKEY__SECRETS__SERVER_SECRET_FILE",
            f.db.dir().join("secret.key"),
        )
        .env("LATCHKEY__SERVER__EXTERNAL_HOST", "example.test")
        .env("LATCHKEY__RATE_LIMITS__AUTHENTICATE_BY_USERNAME", "1800:2")
        .output()
        .expect("run latchkey");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No Redis: each server counts in memory. An administrator's clear reaches it anyway (through
/// the invalidation log), for the name and for the account behind it; refusals are audited and
/// listed.
async fn limits_clear_reaches_running_servers_without_redis(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_by_username = "1800:2".parse().unwrap();
        s.cache.poll_interval_ms = Duration::from_millis(100);
    })
    .await
    else {
        return;
    };
    let c = f.client();
    for _ in 0..2 {
        c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong")
            .await
            .assert_bad_credentials();
    }
    for _ in 0..3 {
        limited_or_status(&c.fetch_api_key("zulip", "Hamlet@zulip.com", PW).await, 429);
    }
    let listed = cli(&f, &["limits", "list"]);
    assert!(listed.contains("\"hamlet@zulip.com\""), "{listed}");
    let json: serde_json::Value =
        serde_json::from_str(&cli(&f, &["limits", "list", "--json"])).unwrap();
    assert_eq!(json[0]["username"], "hamlet@zulip.com", "{json}");
    // One audited refusal per name and minute, however many requests were refused.
    assert_eq!(json[0]["refusals_audited"], 1, "{json}");
    // The command line holds no counts without Redis: the latest the refusal can last, from
    // the audit log (Organization → Rate-limit blocks, served by the server, says exactly).
    assert_eq!(json[0]["blocked_until"], serde_json::Value::Null, "{json}");
    assert!(json[0]["ends_by"].is_string(), "{json}");
    assert!(listed.contains("blocked at most until"), "{listed}");
    // The audit log, filtered as an administrator would.
    let rows = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["audit", "list", "--json"];
        all.extend_from_slice(args);
        cli(&f, &all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let limited = rows(&[
        "--user",
        "HAMLET@zulip.com",
        "--reason",
        "rate_limited",
        "--since",
        "1h",
    ]);
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0]["detail"]["realm"], "zulip");
    let wrong = rows(&[
        "--event",
        "user_login_failed",
        "--reason",
        "bad_credentials",
    ]);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong.iter().all(|r| r["modified_user_id"] == f.hamlet.id.0));
    assert!(
        rows(&[
            "--user",
            "cordelia@zulip.com",
            "--event",
            "user_login_failed"
        ])
        .is_empty()
    );
    let cleared = cli(&f, &["limits", "clear", "HAMLET@zulip.com"]);
    assert!(cleared.contains("cleared the failed logins"), "{cleared}");
    let r = latchkey_tests::eventually(
        Duration::from_secs(5),
        || c.fetch_api_key("zulip", "hamlet@zulip.com", PW),
        |r: &Reply| r.status == 200,
    )
    .await;
    r.assert_success();
    let listed = cli(&f, &["limits", "list"]);
    assert!(!listed.contains("hamlet@zulip.com"), "{listed}");
}

fn two_per_two_seconds(s: &mut latchkey::Settings) {
    s.rate_limits.authenticate_by_username = "2:2".parse().unwrap();
}

#[track_caller]
fn limited(r: &Reply) {
    r.assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
    let after = r.body["retry-after"]
        .as_f64()
        .expect("retry-after is a number");
    assert!(after > 0.0 && after <= 2.0, "{after}");
    let header: f64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((header - after).abs() < 0.01, "{header} vs {after}");
    assert_eq!(r.headers["x-ratelimit-remaining"], "0");
    assert!(r.headers.get("x-ratelimit-limit").is_some());
    assert!(r.headers.get("x-ratelimit-reset").is_some());
}

async fn login_limit_by_username(kind: DbKind) {
    let Some(f) = Fixture::with(kind, two_per_two_seconds).await else {
        return;
    };
    let c = f.client();
    let wrong = || c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong");
    // 37: two wrong passwords are 401; the third attempt, even with the right password, is 429.
    let first = wrong().await;
    first.assert_bad_credentials();
    assert_eq!(first.headers["x-ratelimit-limit"], "2");
    assert_eq!(first.headers["x-ratelimit-remaining"], "1");
    wrong().await.assert_bad_credentials();
    limited(&c.fetch_api_key("zulip", "hamlet@zulip.com", PW).await);
    // Another spelling of the same address is the same bucket (Zulip keys the raw string;
    // Latchkey folds case), and other users are unaffected.
    limited(&c.fetch_api_key("zulip", "HAMLET@Zulip.com", "wrong").await);
    c.fetch_api_key("zulip", "cordelia@zulip.com", PW)
        .await
        .assert_success();
    // 39: after the window, wrong → 401, right → 200 and the history is cleared.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    wrong().await.assert_bad_credentials();
    c.fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
    wrong().await.assert_bad_credentials();
    wrong().await.assert_bad_credentials();
    limited(&wrong().await);
    // Account states shown after a right password are not credential failures.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    f.server
        .admin
        .store
        .set_user_active(f.cordelia.id, false, Actor::cli())
        .await
        .unwrap();
    for _ in 0..4 {
        c.fetch_api_key("zulip", "cordelia@zulip.com", PW)
            .await
            .assert_error(401, "USER_DEACTIVATED", "Account is deactivated");
    }
}

async fn password_change_clears_the_login_limit(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_by_username = "60:2".parse().unwrap()
    })
    .await
    else {
        return;
    };
    let c = f.client();
    for _ in 0..2 {
        c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong").await;
    }
    limited_or_status(
        &c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong").await,
        429,
    );
    // 40: an administrator sets a new password (another process); the next attempt is judged
    // on its merits again.
    let hash = f
        .server
        .admin
        .hasher
        .hash(&auth_core::Password::new("brand-new-Pw-42"))
        .await
        .unwrap();
    f.server
        .admin
        .store
        .set_password(f.hamlet.id, Some(hash), Actor::cli())
        .await
        .unwrap();
    let r = latchkey_tests::eventually(
        Duration::from_secs(3),
        || c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong"),
        |r: &Reply| r.status == 401,
    )
    .await;
    r.assert_bad_credentials();
    c.fetch_api_key("zulip", "hamlet@zulip.com", "brand-new-Pw-42")
        .await
        .assert_success();
}

#[track_caller]
fn limited_or_status(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.raw);
}

async fn api_limit_by_user(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.api_by_user = "60:3".parse().unwrap()
    })
    .await
    else {
        return;
    };
    let c = f.client();
    let key = f.server.key_of(&f.hamlet).await;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("hamlet@zulip.com:{key}"))
    );
    let me = || {
        Client::send(
            c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
                .header("authorization", &auth),
        )
    };
    for remaining in ["2", "1", "0"] {
        let r = me().await;
        r.assert_success();
        assert_eq!(r.headers["x-ratelimit-limit"], "3");
        assert_eq!(r.headers["x-ratelimit-remaining"], remaining);
    }
    let r = me().await;
    r.assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
    assert!(r.body["retry-after"].as_f64().unwrap() > 50.0);
    // Other users have their own budget.
    let k_c = f.server.key_of(&f.cordelia).await;
    let auth_c = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("cordelia@zulip.com:{k_c}"))
    );
    Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
            .header("authorization", &auth_c),
    )
    .await
    .assert_success();
}

async fn failed_basic_auth_is_limited_by_ip(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| s.rate_limits.api_by_ip = "60:3".parse().unwrap()).await
    else {
        return;
    };
    let c = f.client();
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode("hamlet@zulip.com:VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp")
    );
    let guess = || {
        Client::send(
            c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
                .header("authorization", &bad),
        )
    };
    for _ in 0..3 {
        assert_eq!(guess().await.status, 401);
    }
    let r = guess().await;
    r.assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
    // A valid key from the same address is still served (one NAT or IPv6 /64 holds many
    // people): it is limited per user, never by another client's failures.
    let key = f.server.key_of(&f.hamlet).await;
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("hamlet@zulip.com:{key}"))
    );
    Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
            .header("authorization", &good),
    )
    .await
    .assert_success();
    assert_eq!(guess().await.status, 429);
    // Logins from the address are unauthenticated requests too.
    c.fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
}
