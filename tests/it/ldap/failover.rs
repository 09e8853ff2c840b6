//! LDAP failover against a real slapd behind a first server that refuses the connection, or
//! misbehaves after accepting it: one that closes it at once, one that never answers. A server
//! counts as up only once it answered the first step (the service bind, or a person's bind);
//! otherwise the attempt moves to the next server, and the failed one is passed over for a while.
//! Errors name each server and what happened there.

use std::time::{Duration, Instant};

use latchkey_tests::Client;
use latchkey_tests::ldap_world::{LdapWorld, sqlite_world, start_slapd};
use latchkey_tests::proxy::TcpProxy;
use latchkey_tests::slapd;

use super::Outcome::Success;
use super::check_logins;

const OPERATION_TIMEOUT: f64 = 2.0;

/// How the first of the two configured servers fails.
#[derive(Debug, Clone, Copy)]
enum FirstServer {
    /// Nothing listens there: the connection is refused.
    Refuses,
    /// A proxy to a closed port: it accepts, fails to reach its upstream, and closes.
    AcceptsAndCloses,
    /// A proxy that accepts and never answers: one operation timeout, then the good server.
    NeverAnswers,
}

impl FirstServer {
    /// The URI of such a server, and the proxy that plays it (to keep while it is used).
    fn start(self) -> (String, Option<TcpProxy>) {
        if let FirstServer::Refuses = self {
            return ("ldap://127.0.0.1:1".into(), None);
        }
        let proxy = TcpProxy::start("127.0.0.1:1".parse().unwrap()).unwrap();
        if let FirstServer::NeverAnswers = self {
            proxy.blackhole();
        }
        (format!("ldap://127.0.0.1:{}", proxy.port()), Some(proxy))
    }

    /// How long the first login may take.
    fn first_login_within(self) -> Duration {
        match self {
            FirstServer::NeverAnswers => Duration::from_secs_f64(OPERATION_TIMEOUT + 1.5),
            FirstServer::Refuses | FirstServer::AcceptsAndCloses => Duration::from_secs(2),
        }
    }
}

/// A world with `uris = [first, slapd]`: search-then-bind as the service account, or (without
/// one) a DN template and the person's own bind.
async fn world_behind(first: String, service_account: bool) -> LdapWorld {
    sqlite_world(|s, d| {
        let l = &mut s.ldap;
        l.uris = vec![first.parse().unwrap(), d.uri().parse().unwrap()];
        l.operation_timeout_secs = Duration::from_secs_f64(OPERATION_TIMEOUT);
        if !service_account {
            l.bind_dn = None;
            l.bind_password = Default::default();
            l.user_search_base = None;
            l.user_dn_template = Some("uid={user},ou=people,dc=example,dc=org".into());
        }
    })
    .await
}

/// Three logins: the first may pay one timeout on the bad server (within `first_within`), the
/// next two go straight to the good one. `case` leads every failure message.
async fn logins_fail_over(c: &Client, case: &str, first_within: Duration) {
    let start = Instant::now();
    check_logins(c, case, &[("zulip", &slapd::HAMLET, Success)]).await;
    let first = start.elapsed();
    assert!(
        first < first_within,
        "{case}: the first login took {first:?} (bound {first_within:?})"
    );
    let start = Instant::now();
    check_logins(
        c,
        case,
        &[
            ("zulip", &slapd::AARON, Success),
            ("zulip", &slapd::HAMLET, Success),
        ],
    )
    .await;
    let next = start.elapsed();
    assert!(
        next < Duration::from_secs(1),
        "{case}: later logins should skip the failed server: {next:?} for two"
    );
}

/// Every way the first server can fail, with and without a service account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_first_server_is_passed_over() {
    for first in [
        FirstServer::Refuses,
        FirstServer::AcceptsAndCloses,
        FirstServer::NeverAnswers,
    ] {
        for service_account in [true, false] {
            let case = format!(
                "{first:?}, {}",
                if service_account {
                    "search as the service account"
                } else {
                    "DN template"
                }
            );
            let (uri, _proxy) = first.start();
            let w = world_behind(uri, service_account).await;
            logins_fail_over(&w.client(), &case, first.first_login_within()).await;
            w.server.stop().await;
        }
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
