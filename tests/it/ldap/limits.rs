//! Login limits, lockouts and timing with LDAP: OpenLDAP's password policy, an outage that does
//! not lift the login limit, look-alike spellings sharing one limit, and failures that take as
//! long as successes (unknown names padded, no bcrypt for directory people).

use std::time::{Duration, Instant};

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::ldap_world::{sqlite_world, start_slapd_with, world_on};
use latchkey_tests::slapd::{self, Slapd};
use latchkey_tests::{DbKind, PW, TestDb};

/// OpenLDAP's password-policy overlay, for real: a lockout is reported whatever the password
/// (so it answers as a wrong password), and a password the administrator reset must be changed
/// (PASSWORD_RESET_REQUIRED, only with the right password).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openldap_password_policy() {
    let w = world_on(
        TestDb::new(DbKind::Sqlite).unwrap(),
        start_slapd_with(Slapd::start_with_ppolicy).await,
        |s, _| s.rate_limits.authenticate_enabled = false,
    )
    .await;
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    // Lock Aaron out with failed binds; then even his right password fails, as a wrong one.
    for _ in 0..slapd::PPOLICY_MAX_FAILURE {
        c.fetch_api_key("zulip", "aaron", "wrong")
            .await
            .assert_bad_credentials();
    }
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_bad_credentials();
    // The administrator sets Jose a new password: it must be changed first.
    w.slapd
        .set_password(slapd::JOSE.dn, "admin-set-Pw-1")
        .unwrap();
    c.fetch_api_key("zulip", "jose", "admin-set-Pw-1")
        .await
        .assert_error(
            401,
            "PASSWORD_RESET_REQUIRED",
            "Your password has expired and must be changed in the directory",
        );
    c.fetch_api_key("zulip", "jose", "not-it")
        .await
        .assert_bad_credentials();
    w.server.stop().await;
}

/// With the directory down, a password the Email backend rejects still counts toward the login
/// limit, although the answer shown is "unavailable": an outage cannot be used to guess freely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_does_not_lift_the_login_limit() {
    let mut w = sqlite_world(|s, _| {
        s.rate_limits.authenticate_by_username = "60:2".parse().unwrap();
    })
    .await;
    let c = w.client();
    // A local account whose address is in the LDAP append domain: both backends try it.
    w.server
        .create_user(&w.zulip, "polonius@zulip.com", Some(PW), Role::Member)
        .await;
    w.slapd.stop();
    for _ in 0..2 {
        let r = c
            .fetch_api_key("zulip", "polonius@zulip.com", "wrong")
            .await;
        assert_eq!(r.status, 503, "{}", r.raw);
    }
    c.fetch_api_key("zulip", "polonius@zulip.com", PW)
        .await
        .assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
    // An outage alone (no backend said "wrong": LDAP is the realm's only method) does not count.
    w.server
        .admin
        .store
        .set_realm_methods(
            w.lear.id,
            auth_core::AuthMethods {
                email: false,
                ldap: true,
                dev: false,
            },
            Actor::cli(),
        )
        .await
        .unwrap();
    let r = latchkey_tests::eventually(
        Duration::from_secs(3),
        || c.fetch_api_key("lear", "hamlet", slapd::HAMLET.password),
        |r: &latchkey_tests::Reply| r.status == 503,
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.raw);
    for _ in 0..3 {
        let r = c
            .fetch_api_key("lear", "hamlet", slapd::HAMLET.password)
            .await;
        assert_eq!(r.status, 503, "{}", r.raw);
    }
}

/// The directory matches many spellings to one entry (fullwidth and mathematical letters fold
/// onto ASCII, the username translation strips quotes): failed logins count against the entry
/// the search found, so no spelling gets a fresh budget, and a blocked person stays blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_spellings_share_one_login_limit() {
    let w = sqlite_world(|s, _| {
        s.rate_limits.authenticate_by_username = "1800:5".parse().unwrap();
    })
    .await;
    let c = w.client();
    for _ in 0..5 {
        c.fetch_api_key("zulip", "hamlet", "wrong")
            .await
            .assert_bad_credentials();
    }
    let right = slapd::HAMLET.password;
    for spelling in [
        "hamlet",
        "ｈａｍｌｅｔ",
        "𝐡𝐚𝐦𝐥𝐞𝐭",
        "hａmlet",
        "HAMLET",
        "\"hamlet\"@zulip.com",
        "hamlet@zulip.com",
    ] {
        let r = c.fetch_api_key("zulip", spelling, right).await;
        r.assert_error(429, "RATE_LIMIT_HIT", "API usage exceeded rate limit");
        assert!(
            r.body["retry-after"].as_f64().unwrap_or(0.0) > 0.0,
            "{}",
            r.raw
        );
    }
    // Someone else is not affected.
    c.fetch_api_key("zulip", "cordelia", slapd::CORDELIA.password)
        .await
        .assert_success();
    // A spelling the directory folds counts toward the one budget before anything is blocked.
    c.fetch_api_key("zulip", "ｃｏｒｄｅｌｉａ", "wrong")
        .await
        .assert_bad_credentials();
    let quoted = c
        .fetch_api_key("zulip", "\"cordelia\"@zulip.com", "wrong")
        .await;
    assert!(quoted.status == 401, "{}", quoted.raw);
    // Names no directory holds are refused before any backend: too long, or with controls.
    let long = "a".repeat(255);
    for bad in [long.as_str(), "ham\u{1b}[31mlet", "ham\nlet"] {
        let r = c.fetch_api_key("zulip", bad, right).await;
        r.assert_envelope_error(400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_padded_towards_a_successful_login() {
    let w = sqlite_world(|s, _| {
        s.auth.backends = vec![auth_core::BackendKind::Ldap];
        // Repeated failures on one username: measure the padding, not the login limit.
        s.rate_limits.authenticate_enabled = false;
    })
    .await;
    let c = w.client();
    // Successful logins teach the padding its target.
    for _ in 0..5 {
        c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await
            .assert_success();
    }
    let mut ok = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await;
        ok.push(t.elapsed());
        let t = Instant::now();
        c.fetch_api_key("zulip", "no-such-person", "whatever").await;
        unknown.push(t.elapsed());
    }
    ok.sort();
    unknown.sort();
    let ratio = unknown[3].as_secs_f64() / ok[3].as_secs_f64();
    assert!(
        ratio > 0.6,
        "unknown {:?} vs success {:?} (ratio {ratio:.2})",
        unknown[3],
        ok[3]
    );
}

/// With Email before LDAP (Zulip's usual order) a directory person's login costs no bcrypt,
/// while an unknown name and a wrong directory password still take as long as a local wrong
/// password. Timing bounds are generous: the difference checked is one bcrypt at cost 10
/// (tens of milliseconds) against an LDAP round trip (about a millisecond).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_people_pay_no_bcrypt_and_failures_still_look_alike() {
    let w = sqlite_world(|s, _| {
        s.auth.backends = vec![auth_core::BackendKind::Email, auth_core::BackendKind::Ldap];
        s.auth.bcrypt_cost = 10;
        s.rate_limits.enabled = false;
        s.rate_limits.authenticate_enabled = false;
    })
    .await;
    let c = w.client();
    w.server
        .create_user(&w.zulip, "polonius@zulip.com", Some(PW), Role::Member)
        .await;
    // The four kinds are measured in turns, round after round, so a change in the machine's
    // load (other tests run beside this one; the hashing threads run at the lowest priority)
    // falls on all of them alike; the first round warms up (the account is created,
    // connections open, the padder has samples) and is not counted.
    let kinds: [(&str, &str, u16); 4] = [
        ("hamlet", slapd::HAMLET.password, 200),
        ("polonius@zulip.com", "wrong", 401),
        ("nobody", "wrong", 401),
        ("hamlet", "wrong", 401),
    ];
    let mut took: [Vec<Duration>; 4] = Default::default();
    for round in 0..10 {
        for (i, (user, pw, status)) in kinds.iter().enumerate() {
            let start = Instant::now();
            let r = c.fetch_api_key("zulip", user, pw).await;
            let elapsed = start.elapsed();
            assert_eq!(r.status, *status, "{user}: {}", r.raw);
            if round > 0 {
                took[i].push(elapsed);
            }
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let ldap_ok = median(&mut took[0]);
    let local_wrong = median(&mut took[1]);
    let unknown = median(&mut took[2]);
    let ldap_wrong = median(&mut took[3]);
    assert!(
        ldap_ok * 3 < local_wrong,
        "an LDAP login ({ldap_ok:?}) should cost no bcrypt (local wrong password: {local_wrong:?})"
    );
    for (what, t) in [
        ("unknown name", unknown),
        ("wrong LDAP password", ldap_wrong),
    ] {
        let ratio = t.as_secs_f64() / local_wrong.as_secs_f64();
        assert!(
            (0.6..1.7).contains(&ratio),
            "{what}: {t:?} vs a local wrong password {local_wrong:?} (ratio {ratio:.2})"
        );
    }
}
