//! Reaching the directory: StartTLS and LDAPS verify the certificate, the connect and operation
//! timeouts are honoured, and an outage answers 503 (the Email backend keeps serving) until the
//! directory is back, without restarting Latchkey.

use std::time::{Duration, Instant};

use latchkey_tests::ldap_world::{sqlite_world, world};
use latchkey_tests::slapd;
use latchkey_tests::{BlackHole, DbKind, PW, both_dbs};

use super::Outcome::{Success, Unavailable};
use super::check_logins;

both_dbs!(directory_outage_is_unavailable_then_recovers);

async fn directory_outage_is_unavailable_then_recovers(kind: DbKind) {
    let Some(mut w) = world(kind, |_, _| {}).await else {
        return;
    };
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    w.slapd.stop();
    let r = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    r.assert_envelope_error(503);
    assert_eq!(r.body["code"], "AUTHENTICATION_BACKEND_UNAVAILABLE");
    // Wrong passwords are "unknown" too while the directory is away, never "wrong".
    let r = c.fetch_api_key("zulip", "hamlet", "wrong").await;
    assert_eq!(r.status, 503, "{}", r.raw);
    // The Email backend keeps serving local passwords.
    c.fetch_api_key("lear", "othello@lear.com", PW)
        .await
        .assert_success();
    w.slapd.restart().unwrap();
    // Recovery without restarting Latchkey (the pooled service connection is replaced).
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_server_honours_the_connect_timeout() {
    let hole = BlackHole::new();
    let w = sqlite_world(|s, _| {
        s.ldap.uris = vec![format!("ldap://{}", hole.addr).parse().unwrap()];
        s.ldap.connect_timeout_secs = std::time::Duration::from_secs(1);
    })
    .await;
    let c = w.client();
    let started = Instant::now();
    let r = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.raw);
    assert!(
        took >= Duration::from_millis(900),
        "gave up too early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "connect timeout not honoured: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_honours_the_operation_timeout() {
    let w = sqlite_world(|s, _| s.ldap.operation_timeout_secs = std::time::Duration::from_secs(1))
        .await;
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    w.slapd.pause().unwrap();
    let started = Instant::now();
    let r = c
        .fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await;
    let took = started.elapsed();
    w.slapd.resume().unwrap();
    assert_eq!(r.status, 503, "{}", r.raw);
    assert!(
        took < Duration::from_secs(5),
        "operation timeout not honoured: {took:?}"
    );
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_ldaps_verify_the_certificate() {
    // (case, LDAPS, StartTLS, the CA that signed slapd's certificate): a login, or 503.
    for (case, ldaps, starttls, right_ca, outcome) in [
        ("StartTLS, the right CA", false, true, true, Success),
        ("StartTLS, a wrong CA", false, true, false, Unavailable),
        ("LDAPS, the right CA", true, false, true, Success),
        ("LDAPS, a wrong CA", true, false, false, Unavailable),
    ] {
        let w = sqlite_world(|s, d| {
            s.ldap.uris = vec![if ldaps { d.ldaps_uri() } else { d.uri() }.parse().unwrap()];
            s.ldap.starttls = starttls;
            s.ldap.ca_file = Some(if right_ca {
                d.ca_file()
            } else {
                d.wrong_ca_file()
            });
        })
        .await;
        check_logins(&w.client(), case, &[("zulip", &slapd::HAMLET, outcome)]).await;
    }
}

/// The `latchkey_ldap_bind_seconds` count for `connection` in the server's metrics.
async fn binds_on(c: &latchkey_tests::Client, connection: &str) -> u64 {
    let r = latchkey_tests::Client::send(c.request(reqwest::Method::GET, "", "/metrics")).await;
    let prefix = format!("latchkey_ldap_bind_seconds_count{{connection=\"{connection}\"}} ");
    r.raw
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Person binds reuse idle bind connections: after the first login, binds (right and wrong
/// passwords, one person after another) happen on a pooled connection, and a wrong password
/// on a connection last bound as someone else is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_binds_reuse_pooled_connections() {
    let w = sqlite_world(|_, _| {}).await;
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    assert_eq!(binds_on(&c, "new").await, 1);
    c.fetch_api_key("zulip", "aaron", slapd::HAMLET.password)
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "hamlet", "wrong-password")
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    assert_eq!(binds_on(&c, "new").await, 1, "binds opened new connections");
    assert_eq!(binds_on(&c, "reused").await, 4);
}

/// `bind_pool_size = 0`: every bind on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_pool_of_zero_opens_a_connection_per_bind() {
    let w = sqlite_world(|s, _| s.ldap.bind_pool_size = 0).await;
    let c = w.client();
    for _ in 0..3 {
        c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await
            .assert_success();
    }
    assert_eq!(binds_on(&c, "new").await, 3);
    assert_eq!(binds_on(&c, "reused").await, 0);
}
