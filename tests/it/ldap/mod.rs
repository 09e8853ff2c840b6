//! The LDAP backend against a real, private slapd, over HTTP: search-then-bind and DN templates,
//! username mappings, provisioning, groups and access rules, hostile input, TLS, failover,
//! outages and timeouts.

use std::time::{Duration, Instant};

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::ldap_world::{base_ldap, world};
use latchkey_tests::slapd::{self, Slapd};
use latchkey_tests::{BlackHole, DbKind, PW, TestDb, TestServer};

mod check;
mod cli;
mod failover;
mod links;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_then_bind_creates_then_reuses_the_account() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let Some(w) = world(kind, |_, _| {}).await else {
            continue;
        };
        let c = w.server.client();
        // Append domain: usernames need not be emails, and the form says so.
        let settings = c.get("zulip", "/api/v1/server_settings").await;
        assert_eq!(settings.body["require_email_format_usernames"], false);
        assert_eq!(settings.body["authentication_methods"]["ldap"], true);
        assert_eq!(settings.body["email_auth_enabled"], true);
        let r = c
            .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await;
        r.assert_success();
        assert_eq!(r.body["email"], "hamlet@zulip.com");
        let id = r.body["user_id"].as_i64().unwrap();
        let user = w
            .server
            .admin
            .store
            .user_by_email(w.zulip.id, "hamlet@zulip.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.full_name, "King Hamlet");
        assert_eq!(user.role, Role::Member);
        assert!(user.external_id.is_some(), "entryUUID remembered");
        // The email form of the username works too, and it is the same account and key.
        let again = c
            .fetch_api_key("zulip", "hamlet@zulip.com", slapd::HAMLET.password)
            .await;
        again.assert_success();
        assert_eq!(again.body["user_id"], id);
        assert_eq!(again.body["api_key"], r.body["api_key"]);
        // No local password was given to the account.
        let rec = w
            .server
            .admin
            .store
            .login_record(w.zulip.id, "hamlet@zulip.com")
            .await
            .unwrap()
            .unwrap();
        assert!(rec.password_hash.is_none());
        // Non-ASCII names and passwords.
        let j = c.fetch_api_key("zulip", "jose", slapd::JOSE.password).await;
        j.assert_success();
        let jose = w
            .server
            .admin
            .store
            .user_by_email(w.zulip.id, "jose@zulip.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(jose.full_name, slapd::JOSE.cn);
        // The same person gets a separate account in a second realm.
        let l = c
            .fetch_api_key("lear", "hamlet", slapd::HAMLET.password)
            .await;
        l.assert_success();
        assert_ne!(l.body["user_id"], id);
        // Audit rows name the LDAP backend.
        let audit = w
            .server
            .admin
            .store
            .audit_entries(Some(w.zulip.id), 50)
            .await
            .unwrap();
        assert!(
            audit
                .iter()
                .any(|e| e.event_type == "user_created" && e.source == "ldap")
        );
        assert!(
            audit
                .iter()
                .any(|e| e.event_type == "user_logged_in" && e.detail["backend"] == "ldap")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_empty_password_and_domain_mismatch() {
    let Some(w) = world(DbKind::Sqlite, |_, _| {}).await else {
        return;
    };
    let c = w.server.client();
    c.fetch_api_key("zulip", "hamlet", "wrong")
        .await
        .assert_bad_credentials();
    // A prefix of the real password is not the password.
    c.fetch_api_key("zulip", "hamlet", "lpw-haml")
        .await
        .assert_bad_credentials();
    // This slapd accepts a DN with an empty password as an anonymous bind; Latchkey never sends one.
    c.fetch_api_key("zulip", "hamlet", "")
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "hamlet@zulip.com", "")
        .await
        .assert_bad_credentials();
    // An email in another domain than the append domain fails silently.
    c.fetch_api_key("zulip", "hamlet@example.com", slapd::HAMLET.password)
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "nobody", "whatever")
        .await
        .assert_bad_credentials();
    // No account was created by any of that.
    let users = w
        .server
        .admin
        .store
        .list_users(w.zulip.id, auth_store::UserFilter::All)
        .await
        .unwrap();
    assert!(users.is_empty(), "{users:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_injection_and_metacharacters() {
    let Some(w) = world(DbKind::Sqlite, |_, _| {}).await else {
        return;
    };
    let c = w.server.client();
    for evil in ["*", "h*", ")(uid=*", "*)(|(uid=*", "hamlet)(uid=*"] {
        for pw in [slapd::HAMLET.password, slapd::AARON.password] {
            c.fetch_api_key("zulip", evil, pw)
                .await
                .assert_bad_credentials();
        }
    }
    // Control characters never reach the directory.
    for evil in ["hamlet\0", "\0"] {
        c.fetch_api_key("zulip", evil, slapd::HAMLET.password)
            .await
            .assert_envelope_error(400);
    }
    // The user whose uid holds filter metacharacters logs in with his (metacharacter-laden)
    // password: escaping happens exactly once and never touches the password.
    let r = c
        .fetch_api_key("zulip", slapd::STAR.uid, slapd::STAR.password)
        .await;
    r.assert_success();
    // Not a dot-atom, so the local part is quoted (as Zulip does).
    let quoted = format!("\"{}\"@zulip.com", slapd::STAR.uid.replace('\\', "\\\\"));
    assert_eq!(r.body["email"], quoted.as_str());
    // The quoted email form logs in as the same person.
    let again = c
        .fetch_api_key("zulip", &quoted, slapd::STAR.password)
        .await;
    again.assert_success();
    assert_eq!(again.body["user_id"], r.body["user_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dn_template_direct_bind() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.user_dn_template = "uid={user},ou=people,dc=example,dc=org".into();
        s.ldap.user_search_base = String::new();
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    let r = c
        .fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await;
    r.assert_success();
    assert_eq!(r.body["email"], "aaron@zulip.com");
    c.fetch_api_key("zulip", "aaron", "nope")
        .await
        .assert_bad_credentials();
    // DN-escaped exactly once: a uid with a backslash and parentheses.
    c.fetch_api_key("zulip", slapd::STAR.uid, slapd::STAR.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "aaron,ou=people", slapd::AARON.password)
        .await
        .assert_bad_credentials();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_attribute_mapping_and_reverse_search() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.append_domain = String::new();
        s.ldap.email_attr = "mail".into();
        s.ldap.reverse_email_search_filter = "(mail={email})".into();
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    let settings = c.get("zulip", "/api/v1/server_settings").await;
    assert_eq!(settings.body["require_email_format_usernames"], false);
    assert_eq!(settings.body["authentication_methods"]["ldap"], true);
    assert_eq!(settings.body["authentication_methods"]["password"], true);
    let r = c
        .fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await;
    r.assert_success();
    assert_eq!(r.body["email"], "aaron@zulip.com");
    // By email: the reverse search finds the uid.
    let r2 = c
        .fetch_api_key("zulip", "aaron@zulip.com", slapd::AARON.password)
        .await;
    r2.assert_success();
    assert_eq!(r2.body["user_id"], r.body["user_id"]);
    // An entry without the email attribute cannot make an account: a clear refusal.
    let r = c
        .fetch_api_key("zulip", "nomail", slapd::NOMAIL.password)
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    assert!(
        r.body["msg"].as_str().unwrap().contains("email"),
        "{}",
        r.raw
    );
    // A person absent from the directory logs in with the local password (Email backend).
    c.fetch_api_key("lear", "othello@lear.com", PW)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_format_required_without_a_mapping() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.append_domain = String::new();
        s.ldap.user_search_filter = "(mail={user})".into();
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    let settings = c.get("zulip", "/api/v1/server_settings").await;
    assert_eq!(settings.body["require_email_format_usernames"], true);
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_error(400, "BAD_REQUEST", "Enter a valid email address.");
    let r = c
        .fetch_api_key("zulip", "hamlet@zulip.com", slapd::HAMLET.password)
        .await;
    r.assert_success();
    assert_eq!(r.body["email"], "hamlet@zulip.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_can_be_switched_off_per_realm() {
    let Some(w) = world(DbKind::Sqlite, |_, _| {}).await else {
        return;
    };
    let c = w.server.client();
    w.server
        .admin
        .store
        .set_realm_ldap_auto_create(w.zulip.id, false, Actor::cli())
        .await
        .unwrap();
    let r = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    r.assert_error(
        401,
        "AUTHENTICATION_FAILED",
        "You have no account in this organization; ask an administrator to create one",
    );
    // An administrator creates the account; the directory password then works.
    w.server
        .create_user(&w.zulip, "hamlet@zulip.com", None, Role::Member)
        .await;
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_account_and_disabled_directory_entry() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.attributes.deactivated = slapd::DISABLED_ATTR.0.into();
        s.ldap.attributes.deactivated_values = vec![slapd::DISABLED_ATTR.1.into()];
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    c.fetch_api_key("zulip", "disabled", slapd::DISABLED.password)
        .await
        .assert_error(401, "USER_DEACTIVATED", "Account is deactivated");
    // Never before the password is proven.
    c.fetch_api_key("zulip", "disabled", "wrong")
        .await
        .assert_bad_credentials();
    let r = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    r.assert_success();
    let id = auth_core::UserId(r.body["user_id"].as_i64().unwrap());
    w.server
        .admin
        .store
        .set_user_active(id, false, Actor::cli())
        .await
        .unwrap();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_error(401, "USER_DEACTIVATED", "Account is deactivated");
    c.fetch_api_key("zulip", "hamlet", "wrong")
        .await
        .assert_bad_credentials();
    w.server
        .admin
        .store
        .set_realm_deactivated(w.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    latchkey_tests::eventually(
        Duration::from_secs(3),
        || c.fetch_api_key("zulip", "aaron", slapd::AARON.password),
        |r: &latchkey_tests::Reply| r.body["code"] == "REALM_DEACTIVATED",
    )
    .await
    .assert_error(
        401,
        "REALM_DEACTIVATED",
        "This organization has been deactivated",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_deny_groups() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.require_group = slapd::STAFF_GROUP_DN.into();
        s.ldap.deny_group = slapd::BANNED_GROUP_DN.into();
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    let refused = "Your account is not allowed to log in to this organization";
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "cordelia", slapd::CORDELIA.password)
        .await
        .assert_error(401, "AUTHENTICATION_FAILED", refused);
    c.fetch_api_key("zulip", "nomail", slapd::NOMAIL.password)
        .await
        .assert_error(401, "AUTHENTICATION_FAILED", refused);
    // Group refusals come only after the password.
    c.fetch_api_key("zulip", "cordelia", "wrong")
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "nobody-here", "wrong")
        .await
        .assert_bad_credentials();
    // The audit log (only an administrator reads it) says which rule refused, and tells an
    // unknown name from a wrong password; answers never do.
    let audit = w.server.admin.store.audit_entries(None, 20).await.unwrap();
    let failed: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| e.event_type == "user_login_failed")
        .map(|e| &e.detail)
        .collect();
    let of = |name: &str, reason: &str| {
        failed
            .iter()
            .find(|d| d["username"] == name && d["reason"] == reason)
            .copied()
            .unwrap_or_else(|| panic!("no {reason} row for {name}: {failed:?}"))
    };
    let why = of("cordelia", "not_allowed_in_realm")["why"]
        .as_str()
        .unwrap_or("");
    assert!(why.contains("required group"), "{why}");
    assert_eq!(of("cordelia", "bad_credentials")["realm"], "zulip");
    of("nobody-here", "no_such_person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_group_kinds() {
    // posixGroup memberUid.
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.require_group = slapd::POSIX_GROUP_DN.into();
        s.ldap.group_membership = "memberUid".into();
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_error(
            401,
            "AUTHENTICATION_FAILED",
            "Your account is not allowed to log in to this organization",
        );
    drop(w);
    // groupOfUniqueNames uniqueMember.
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.require_group = slapd::UNIQ_GROUP_DN.into();
        s.ldap.group_membership = "uniqueMember".into();
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    assert_eq!(
        c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
            .await
            .status,
        401
    );
    let has_memberof = w.slapd.has_memberof();
    drop(w);
    // memberOf on the person (OpenLDAP's memberof overlay, as Active Directory has it).
    if has_memberof {
        let Some(w) = world(DbKind::Sqlite, |s, _| {
            s.ldap.deny_group = slapd::BANNED_GROUP_DN.into();
            s.ldap.group_membership = "memberOf".into();
        })
        .await
        else {
            return;
        };
        let c = w.server.client();
        c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await
            .assert_success();
        assert_eq!(
            c.fetch_api_key("zulip", "cordelia", slapd::CORDELIA.password)
                .await
                .status,
            401
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_membership_and_realm_access_rules() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.attributes.org_membership = slapd::DEPARTMENT_ATTR.into();
        let mut rule = std::collections::BTreeMap::new();
        rule.insert("sn".to_string(), "Lear".to_string());
        s.ldap.realm_access.insert("lear".into(), vec![rule]);
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    let refused = "Your account is not allowed to log in to this organization";
    // departmentNumber: zulip.
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "cordelia", slapd::CORDELIA.password)
        .await
        .assert_error(401, "AUTHENTICATION_FAILED", refused);
    c.fetch_api_key("zulip", "nomail", slapd::NOMAIL.password)
        .await
        .assert_error(401, "AUTHENTICATION_FAILED", refused);
    // lear's rule: sn = Lear admits Cordelia, not Hamlet.
    c.fetch_api_key("lear", "cordelia", slapd::CORDELIA.password)
        .await
        .assert_success();
    c.fetch_api_key("lear", "hamlet", slapd::HAMLET.password)
        .await
        .assert_error(401, "AUTHENTICATION_FAILED", refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_person_keeps_the_account() {
    let Some(w) = world(DbKind::Sqlite, |_, _| {}).await else {
        return;
    };
    let c = w.server.client();
    let first = c
        .fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await;
    first.assert_success();
    let uuid = w.slapd.entry_uuid(slapd::AARON.dn).unwrap();
    w.slapd.rename(slapd::AARON.dn, "uid=aaron2").unwrap();
    assert_eq!(
        w.slapd
            .entry_uuid("uid=aaron2,ou=people,dc=example,dc=org")
            .unwrap(),
        uuid
    );
    let after = c
        .fetch_api_key("zulip", "aaron2", slapd::AARON.password)
        .await;
    after.assert_success();
    assert_eq!(after.body["user_id"], first.body["user_id"]);
    assert_eq!(after.body["api_key"], first.body["api_key"]);
    assert_eq!(after.body["email"], "aaron2@zulip.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_outage_is_unavailable_then_recovers() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let Some(mut w) = world(kind, |_, _| {}).await else {
            continue;
        };
        let c = w.server.client();
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_server_honours_the_connect_timeout() {
    let hole = BlackHole::new();
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.ldap.uris = vec![format!("ldap://{}", hole.addr)];
        s.ldap.connect_timeout_secs = 1.0;
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
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
    let Some(w) = world(DbKind::Sqlite, |s, _| s.ldap.operation_timeout_secs = 1.0).await else {
        return;
    };
    let c = w.server.client();
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
async fn failover_to_the_second_server() {
    let Some(w) = world(DbKind::Sqlite, |s, d| {
        s.ldap.uris = vec!["ldap://127.0.0.1:1".into(), d.uri()];
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_ldaps_verify_the_certificate() {
    for (starttls, ldaps) in [(true, false), (false, true)] {
        for right_ca in [true, false] {
            let Some(w) = world(DbKind::Sqlite, |s, d| {
                s.ldap.uris = vec![if ldaps { d.ldaps_uri() } else { d.uri() }];
                s.ldap.starttls = starttls;
                s.ldap.ca_file = Some(if right_ca {
                    d.ca_file()
                } else {
                    d.wrong_ca_file()
                });
            })
            .await
            else {
                return;
            };
            let r = w
                .server
                .client()
                .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
                .await;
            if right_ca {
                r.assert_success();
            } else {
                assert_eq!(
                    r.status, 503,
                    "starttls={starttls} ldaps={ldaps}: {}",
                    r.raw
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_padded_towards_a_successful_login() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.auth.backends = vec!["ldap".into()];
        // Repeated failures on one username: measure the padding, not the login limit.
        s.rate_limits.authenticate_enabled = false;
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
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

/// OpenLDAP's password-policy overlay, for real: a lockout is reported whatever the password
/// (so it answers as a wrong password), and a password the administrator reset must be changed
/// (PASSWORD_RESET_REQUIRED, only with the right password).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openldap_password_policy() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let slapd = tokio::task::spawn_blocking(Slapd::start_with_ppolicy)
        .await
        .expect("join")
        .expect("start slapd with ppolicy");
    let mut settings = db.settings();
    base_ldap(&mut settings, &slapd);
    settings.rate_limits.authenticate_enabled = false;
    let server = TestServer::start(settings).await;
    server.create_realm("zulip", "Zulip").await;
    let c = server.client();
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
    slapd
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
    server.stop().await;
}

/// With the directory down, a password the Email backend rejects still counts toward the login
/// limit, although the answer shown is "unavailable": an outage cannot be used to guess freely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_does_not_lift_the_login_limit() {
    let Some(mut w) = world(DbKind::Sqlite, |s, _| {
        s.rate_limits.authenticate_by_username = vec![(60, 2)];
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
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
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.rate_limits.authenticate_by_username = vec![(1800, 5)];
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
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

/// With Email before LDAP (Zulip's usual order) a directory person's login costs no bcrypt,
/// while an unknown name and a wrong directory password still take as long as a local wrong
/// password. Timing bounds are generous: the difference checked is one bcrypt at cost 10
/// (tens of milliseconds) against an LDAP round trip (about a millisecond).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_people_pay_no_bcrypt_and_failures_still_look_alike() {
    let Some(w) = world(DbKind::Sqlite, |s, _| {
        s.auth.backends = vec!["email".into(), "ldap".into()];
        s.auth.bcrypt_cost = 10;
        s.rate_limits.enabled = false;
        s.rate_limits.authenticate_enabled = false;
    })
    .await
    else {
        return;
    };
    let c = w.server.client();
    w.server
        .create_user(&w.zulip, "polonius@zulip.com", Some(PW), Role::Member)
        .await;
    async fn median(c: &latchkey_tests::Client, user: &str, pw: &str, status: u16) -> Duration {
        let mut took = Vec::new();
        for _ in 0..7 {
            let start = Instant::now();
            let r = c.fetch_api_key("zulip", user, pw).await;
            took.push(start.elapsed());
            assert_eq!(r.status, status, "{user}: {}", r.raw);
        }
        took.sort();
        took[3]
    }
    // Warm-up: the account is created, connections are open, the padder has samples.
    median(&c, "hamlet", slapd::HAMLET.password, 200).await;
    let ldap_ok = median(&c, "hamlet", slapd::HAMLET.password, 200).await;
    let local_wrong = median(&c, "polonius@zulip.com", "wrong", 401).await;
    let unknown = median(&c, "nobody", "wrong", 401).await;
    let ldap_wrong = median(&c, "hamlet", "wrong", 401).await;
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
