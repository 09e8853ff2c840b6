//! The login paths under attack (issue 8 of the security review): malformed and forwarded
//! hosts, several forwarding header lines, per-address limits that must not lock out valid
//! keys, password oracles on closed accounts and cheap hashes, and control characters on their
//! way to a log.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auth_core::{Password, Role};
use auth_store::Actor;
use base64::Engine;
use latchkey_tests::{Client, DbKind, Fixture, PW, Reply, TestDb, both_dbs, latchkey_bin};

both_dbs!(
    malformed_hosts_are_refused_not_served_as_the_root_realm,
    every_forwarding_header_line_counts,
    bad_keys_from_one_address_do_not_lock_out_a_valid_key,
    closed_accounts_answer_as_a_wrong_password,
    overlong_and_control_character_usernames_are_refused,
);

fn basic(email: &str, key: &str) -> String {
    let raw = format!("{email}:{key}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A GET with a raw Host header and Basic credentials.
async fn get_as(c: &Client, host: &str, path: &str, email: &str, key: &str) -> Reply {
    Client::send(
        reqwest::Client::new()
            .get(c.url(path))
            .header("host", host)
            .header("authorization", basic(email, key)),
    )
    .await
}

async fn malformed_hosts_are_refused_not_served_as_the_root_realm(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let root = f.server.create_realm("", "Root Org").await;
    let boss = f
        .server
        .create_user(&root, "boss@example.test", Some(PW), Role::Owner)
        .await;
    let boss_key = f.server.key_of(&boss).await;
    let hamlet_key = f.server.key_of(&f.hamlet).await;
    for host in [
        "zulip.example.test:x",
        "zulip.example.test:",
        "zulip.example.test:99999",
        "ZULIP.example.test..",
        "zulip..example.test",
        ".example.test",
    ] {
        let r = get_as(&c, host, "/api/v1/users/me", "boss@example.test", &boss_key).await;
        r.assert_error(400, "BAD_REQUEST", "Invalid Host header");
        // Forward-auth answers only what nginx's auth_request understands: 401.
        let r = get_as(
            &c,
            host,
            "/api/v1/auth/verify",
            "boss@example.test",
            &boss_key,
        )
        .await;
        r.assert_error(401, "UNAUTHORIZED", "Invalid Host header");
        c.fetch_api_key_at(host, "boss@example.test", PW)
            .await
            .assert_error(400, "BAD_REQUEST", "Invalid Host header");
    }
    // One trailing dot is the same host: the zulip realm, not the root.
    for host in ["zulip.example.test.", "zulip.example.test.:9991"] {
        get_as(
            &c,
            host,
            "/api/v1/users/me",
            "hamlet@zulip.com",
            &hamlet_key,
        )
        .await
        .assert_success();
        let r = get_as(&c, host, "/api/v1/users/me", "boss@example.test", &boss_key).await;
        assert_eq!(r.status, 401, "{}", r.raw);
        c.fetch_api_key_at(host, "hamlet@zulip.com", PW)
            .await
            .assert_success();
    }
    get_as(
        &c,
        "example.test.",
        "/api/v1/auth/verify",
        "boss@example.test",
        &boss_key,
    )
    .await
    .assert_success();
    // Forward-auth answers only for a host that names a realm; API routes keep Zulip's
    // root-realm answer for hosts they do not recognise.
    for host in ["elsewhere.test", "127.0.0.1", "zulip.example.test.evil.com"] {
        let r = get_as(
            &c,
            host,
            "/api/v1/auth/verify",
            "boss@example.test",
            &boss_key,
        )
        .await;
        assert_eq!(r.status, 401, "{host}: {}", r.raw);
    }
    get_as(
        &c,
        "elsewhere.test",
        "/api/v1/users/me",
        "boss@example.test",
        &boss_key,
    )
    .await
    .assert_success();
}

async fn every_forwarding_header_line_counts(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.server.trust_forwarded_host = true;
        s.rate_limits.api_by_ip = "60:3".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let c = f.client();
    let othello_key = f.server.key_of(&f.othello).await;
    let hamlet_key = f.server.key_of(&f.hamlet).await;
    // The client sent its own X-Forwarded-Host line; the proxy appended another. The proxy's
    // (the last value over all lines) names the realm.
    let forwarded = |email: &str, key: &str| {
        reqwest::Client::new()
            .get(c.url("/api/v1/users/me"))
            .header("host", "backend.internal")
            .header("x-forwarded-host", "zulip.example.test")
            .header("x-forwarded-host", "lear.example.test")
            .header("authorization", basic(email, key))
    };
    Client::send(forwarded("othello@lear.com", &othello_key))
        .await
        .assert_success();
    let r = Client::send(forwarded("hamlet@zulip.com", &hamlet_key)).await;
    assert_eq!(r.status, 401, "{}", r.raw);
    // X-Forwarded-For on two lines: the client picks the first value of each request, the
    // proxy appends the real address; all share the real address's budget.
    let bad_key = |n: u32| {
        reqwest::Client::new()
            .get(c.url("/api/v1/users/me"))
            .header("host", "zulip.example.test")
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .header("x-forwarded-for", "203.0.113.7")
            .header(
                "authorization",
                basic("hamlet@zulip.com", "x".repeat(32).as_str()),
            )
    };
    for n in 0..3 {
        let r = Client::send(bad_key(n)).await;
        assert_eq!(r.status, 401, "{}", r.raw);
    }
    let r = Client::send(bad_key(99)).await;
    r.assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
}

async fn bad_keys_from_one_address_do_not_lock_out_a_valid_key(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.api_by_ip = "60:3".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let c = f.client();
    let key = f.server.key_of(&f.hamlet).await;
    let host = latchkey_tests::host_for("zulip");
    let wrong = "y".repeat(32);
    for _ in 0..3 {
        let r = get_as(&c, &host, "/api/v1/users/me", "cordelia@zulip.com", &wrong).await;
        assert_eq!(r.status, 401, "{}", r.raw);
    }
    get_as(&c, &host, "/api/v1/users/me", "cordelia@zulip.com", &wrong)
        .await
        .assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
    // Someone else behind the same address, with a valid key: served.
    get_as(&c, &host, "/api/v1/users/me", "hamlet@zulip.com", &key)
        .await
        .assert_success();
    get_as(&c, &host, "/api/v1/auth/verify", "hamlet@zulip.com", &key)
        .await
        .assert_success();
    // The failures still count: the next bad key is refused.
    get_as(&c, &host, "/api/v1/users/me", "cordelia@zulip.com", &wrong)
        .await
        .assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
}

async fn closed_accounts_answer_as_a_wrong_password(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_enabled = false;
    })
    .await
    else {
        return;
    };
    let c = f.client();
    let store = &f.server.admin.store;
    let both = |c: Client| async move {
        let right = c.fetch_api_key("zulip", "othello@lear.com", PW).await;
        let wrong = c.fetch_api_key("zulip", "othello@lear.com", "wrong").await;
        (right, wrong)
    };
    // Open: the right password names the other organization (Zulip's answer).
    let (right, wrong) = both(c.clone()).await;
    right.assert_error(404, "NONEXISTENT_SUBDOMAIN", "Invalid subdomain");
    wrong.assert_bad_credentials();
    // Realm closed, password login off there, account deactivated: nothing to tell apart.
    store
        .set_realm_deactivated(f.lear.id, true, Actor::cli())
        .await
        .unwrap();
    let (right, wrong) = both(c.clone()).await;
    right.assert_bad_credentials();
    wrong.assert_bad_credentials();
    assert_eq!(right.body, wrong.body);
    store
        .set_realm_deactivated(f.lear.id, false, Actor::cli())
        .await
        .unwrap();
    f.set_methods(&f.lear, false, false).await;
    let (right, wrong) = both(c.clone()).await;
    right.assert_bad_credentials();
    wrong.assert_bad_credentials();
    f.set_methods(&f.lear, true, false).await;
    store
        .set_user_active(f.othello.id, false, Actor::cli())
        .await
        .unwrap();
    let (right, wrong) = both(c.clone()).await;
    right.assert_bad_credentials();
    wrong.assert_bad_credentials();
}

async fn overlong_and_control_character_usernames_are_refused(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let long = format!("{}@zulip.com", "a".repeat(250));
    for name in [
        long.as_str(),
        "\"\u{1b}[31mred\"@zulip.com",
        "\"a\u{7}b\"@zulip.com",
        "hamlet@zulip.com\u{0}",
    ] {
        let r = c.fetch_api_key("zulip", name, PW).await;
        r.assert_envelope_error(400);
        assert_eq!(r.body["code"], "BAD_REQUEST", "{}", r.raw);
    }
    // 254 characters is still a name (here an unknown one).
    let fits = format!("{}@zulip.com", "a".repeat(244));
    c.fetch_api_key("zulip", &fits, PW)
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
}

/// An account whose hash predates a raised `auth.bcrypt_cost` answers a wrong password as
/// slowly as an unknown email. Generous bounds: a cost-4 hash is ~1 ms, cost 10 ~60 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_bcrypt_cost_does_not_tell_accounts_apart() {
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| {
        s.auth.bcrypt_cost = 10;
        s.rate_limits.authenticate_enabled = false;
    })
    .await
    else {
        return;
    };
    let old = auth_email::PasswordHasher::new(4)
        .unwrap()
        .hash(&Password::new(PW))
        .await
        .unwrap();
    f.server
        .admin
        .store
        .set_password(f.cordelia.id, Some(old), Actor::cli())
        .await
        .unwrap();
    let c = f.client();
    // The three kinds are measured in turns, round after round, so a change in the machine's
    // load (other tests run beside this one) falls on all three alike; then the medians.
    let users = ["nobody@zulip.com", "cordelia@zulip.com", "hamlet@zulip.com"];
    let mut took: [Vec<Duration>; 3] = Default::default();
    for round in 0..10 {
        for (i, user) in users.iter().enumerate() {
            let start = Instant::now();
            c.fetch_api_key("zulip", user, "wrong-password")
                .await
                .assert_bad_credentials();
            // The first round warms up (connections, caches) and is not counted.
            if round > 0 {
                took[i].push(start.elapsed());
            }
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let unknown = median(&mut took[0]);
    let cheap = median(&mut took[1]);
    let current = median(&mut took[2]);
    for (what, t) in [("cost-4 account", cheap), ("current account", current)] {
        let ratio = t.as_secs_f64() / unknown.as_secs_f64();
        assert!(
            (0.6..1.7).contains(&ratio),
            "{what}: {t:?} against {unknown:?} for an unknown email (ratio {ratio:.2})"
        );
    }
}

/// The real binary, human log format: a username with terminal escapes is refused, and nothing
/// a client sends (a username, a Host header) reaches the log with a raw control character.
#[test]
fn control_characters_never_reach_the_log_raw() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let envs = |cmd: &mut Command| {
        cmd.current_dir(&dir)
            .env_remove("LATCHKEY_CONFIG")
            .env_remove("RUST_LOG")
            .env("LATCHKEY__DATABASE__URL", db.url())
            .env("LATCHKEY__AUTH__BCRYPT_COST", "4")
            .env(
                "LATCHKEY__SERVER__EXTERNAL_HOST",
                format!("localhost:{port}"),
            )
            .env("LATCHKEY__LOGGING__FORMAT", "human");
    };
    let mut init = Command::new(latchkey_bin());
    init.arg("init");
    envs(&mut init);
    assert!(init.output().unwrap().status.success());
    let mut serve = Command::new(latchkey_bin());
    serve
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    envs(&mut serve);
    let mut server = serve.spawn().unwrap();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/fetch_api_key");
    let login = |host: &[u8], username: &str| {
        client
            .post(&url)
            .header(
                "host",
                reqwest::header::HeaderValue::from_bytes(host).unwrap(),
            )
            .form(&[("username", username), ("password", "whatever-pw")])
            .send()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let plain = format!("localhost:{port}");
    let mut up = false;
    while Instant::now() < deadline {
        if login(plain.as_bytes(), "nobody@example.org").is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "server did not answer within 20 s");
    let r = login(plain.as_bytes(), "\"\u{1b}[31mred\u{1b}[0m\"@example.org").unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = login(b"zu\tlip.localhost", "nobody@example.org").unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = login(b"zu\xc2\x9blip.localhost", "nobody@example.org").unwrap();
    assert_eq!(r.status().as_u16(), 400);
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let mut log = Vec::new();
    server.stderr.take().unwrap().read_to_end(&mut log).unwrap();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("malformed host"), "{text}");
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(raw.is_empty(), "raw control characters {raw:?} in:\n{text}");
}
