//! LDAP failover against a real slapd behind a first server that refuses the connection, or
//! misbehaves after accepting it: one that closes it at once, one that never answers. A server
//! counts as up only once it answered the first step (the service bind, or a person's bind);
//! otherwise the attempt moves to the next server, and the failed one is passed over for a while.
//! Errors name each server and what happened there.

use std::time::{Duration, Instant};

use auth_core::Role;
use latchkey_tests::ldap_world::{sqlite_world, start_slapd};
use latchkey_tests::proxy::TcpProxy;
use latchkey_tests::slapd::{self, Slapd};
use latchkey_tests::{DbKind, PW, TestDb, TestServer};

const OPERATION_TIMEOUT: f64 = 2.0;

/// A server in front of slapd with `uris = [first, slapd]`, search-then-bind as the service
/// account (or anonymously), realm `zulip`.
async fn server_behind(
    first: String,
    service_account: bool,
) -> Option<(Slapd, TestServer, TestDb)> {
    let db = TestDb::new(DbKind::Sqlite)?;
    let slapd = start_slapd().await;
    let mut s = db.settings();
    s.auth.backends = vec!["ldap".into(), "email".into()];
    let l = &mut s.ldap;
    l.uris = vec![first, slapd.uri()];
    if service_account {
        l.bind_dn = slapd::SERVICE_DN.into();
        l.bind_password =
            auth_server::config::Secret(auth_core::SecretString::new(slapd::SERVICE_PASSWORD));
        l.user_search_base = slapd::PEOPLE_DN.into();
        l.user_search_filter = "(uid={user})".into();
    } else {
        l.user_dn_template = "uid={user},ou=people,dc=example,dc=org".into();
    }
    l.append_domain = "zulip.com".into();
    l.connect_timeout_secs = 2.0;
    l.operation_timeout_secs = OPERATION_TIMEOUT;
    let server = TestServer::start(s).await;
    let zulip = server.create_realm("zulip", "Zulip").await;
    server
        .create_user(&zulip, "polonius@zulip.com", Some(PW), Role::Member)
        .await;
    Some((slapd, server, db))
}

/// Two logins: the first may pay one timeout on the bad server, the second goes straight to
/// the good one.
async fn logins_fail_over(server: &TestServer, first_within: Duration) {
    let c = server.client();
    let start = Instant::now();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    let first = start.elapsed();
    assert!(
        first < first_within,
        "the first login took {first:?} (bound {first_within:?})"
    );
    let start = Instant::now();
    for (who, pw) in [
        ("aaron", slapd::AARON.password),
        ("hamlet", slapd::HAMLET.password),
    ] {
        c.fetch_api_key("zulip", who, pw).await.assert_success();
    }
    let next = start.elapsed();
    assert!(
        next < Duration::from_secs(1),
        "later logins should skip the failed server: {next:?} for two"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_second_server() {
    let w = sqlite_world(|s, d| {
        s.ldap.uris = vec!["ldap://127.0.0.1:1".into(), d.uri()];
    })
    .await;
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_and_closes_is_passed_over() {
    // A proxy to a closed port: it accepts, fails to reach its upstream, and closes.
    let closing = TcpProxy::start("127.0.0.1:1".parse().unwrap()).unwrap();
    for service_account in [true, false] {
        let uri = format!("ldap://127.0.0.1:{}", closing.port());
        let Some((_slapd, server, _db)) = server_behind(uri, service_account).await else {
            return;
        };
        logins_fail_over(&server, Duration::from_secs(2)).await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_passed_over_after_one_timeout() {
    for service_account in [true, false] {
        let silent = TcpProxy::start("127.0.0.1:1".parse().unwrap()).unwrap();
        silent.blackhole();
        let uri = format!("ldap://127.0.0.1:{}", silent.port());
        let Some((_slapd, server, _db)) = server_behind(uri, service_account).await else {
            return;
        };
        // One operation timeout on the silent server, then the good one.
        logins_fail_over(&server, Duration::from_secs_f64(OPERATION_TIMEOUT + 1.5)).await;
        server.stop().await;
    }
}

/// A refused service bind names the account, the server and the result; an unreachable
/// directory names each server and what happened there, in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_errors_name_the_server_and_the_operation() {
    let slapd = start_slapd().await;
    let closing = TcpProxy::start("127.0.0.1:1".parse().unwrap()).unwrap();
    let mut cfg = auth_ldap::LdapConfig {
        uris: vec![format!("ldap://127.0.0.1:{}", closing.port())],
        bind_dn: slapd::SERVICE_DN.into(),
        bind_password: auth_core::SecretString::new("not-the-password"),
        user_search_base: slapd::PEOPLE_DN.into(),
        user_search_filter: "(uid={user})".into(),
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(2),
        ..auth_ldap::LdapConfig::default()
    };
    let dir = auth_ldap::Directory::new(cfg.clone()).unwrap();
    let err = dir.check().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "service bind on ldap://127.0.0.1:{}",
            closing.port()
        )) && err.contains("closed the connection")
            && !err.contains("channel closed")
            && !err.contains("()"),
        "{err}"
    );
    cfg.uris = vec![slapd.uri()];
    let dir = auth_ldap::Directory::new(cfg).unwrap();
    let err = dir.check().await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "the LDAP service account `{}` was refused by `{}`: invalid credentials (49)",
            slapd::SERVICE_DN,
            slapd.uri()
        )
    );
}
