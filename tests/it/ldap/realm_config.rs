//! A realm's own directory settings, set at run time (`auth_service::realm_ldap`): on a server
//! without a server-wide `[ldap]`, saved through the service (as the page does) and through
//! `latchkey ldap config`, followed by every instance within a second, the bind password
//! sealed and never shown; and the administrator's tools — test the connection by steps, test
//! a person, sync with a preview.

use std::time::{Duration, Instant};

use auth_core::{BackendKind, Password, Realm, Role, SecretString};
use auth_ldap::LdapConfig;
use auth_service::ServiceError;
use auth_service::members::By;
use auth_service::realm_ldap::{BindPassword, PersonTest};
use latchkey::Settings;
use latchkey_tests::ldap_world::{latchkey, start_slapd, text, toml_head};
use latchkey_tests::slapd::{self, Slapd};
use latchkey_tests::{Client, DbKind, PW, TestDb, TestServer};

/// Settings with the LDAP backend listed but no server-wide directory.
fn no_default_directory(db: &TestDb) -> Settings {
    let mut s = db.settings();
    s.auth.backends = vec![BackendKind::Ldap, BackendKind::Email];
    s
}

/// The realm's own settings for the private slapd: search-then-bind with the service account,
/// `append_domain = zulip.com`.
fn realm_cfg(d: &Slapd) -> LdapConfig {
    LdapConfig {
        uris: vec![d.uri()],
        bind_dn: slapd::SERVICE_DN.into(),
        user_search_base: slapd::PEOPLE_DN.into(),
        append_domain: Some("zulip.com".into()),
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(3),
        ..LdapConfig::default()
    }
}

fn service_password() -> BindPassword {
    BindPassword::Set(SecretString::new(slapd::SERVICE_PASSWORD))
}

/// Logs hamlet in to `zulip` until the status is `status`; returns how long that took, or
/// panics after `limit`.
async fn hamlet_until(c: &Client, status: u16, limit: Duration, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        let r = c
            .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await;
        if r.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what}: still {} after {limit:?}: {}",
            r.status,
            r.raw
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls realm `zulip`'s `server_settings` until `require_email_format_usernames` is `want`;
/// returns how long that took (panics after 5 s).
async fn email_usernames_until(c: &Client, want: bool) -> Duration {
    let start = Instant::now();
    loop {
        let r = c.get("zulip", "/api/v1/server_settings").await;
        if r.body["require_email_format_usernames"] == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{}", r.raw);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_instances(kind: DbKind) {
    let Some(db) = TestDb::new(kind) else {
        return;
    };
    let d = start_slapd().await;
    let mut settings = no_default_directory(&db);
    // Polling for the change makes failed logins by the dozen: not what is tested here.
    settings.rate_limits.authenticate_by_username = "60:1000".parse().unwrap();
    let a = TestServer::start(settings.clone()).await;
    let b = TestServer::start(settings).await;
    let zulip = a.create_realm("zulip", "Zulip").await;
    let cb = b.client();
    // No directory for the realm: LDAP counts as off, so usernames must be emails (never
    // "unavailable")...
    let r = cb
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(r.body["msg"], "Enter a valid email address.", "{}", r.raw);
    // ...and a directory person's address is a wrong password.
    let r = cb
        .fetch_api_key("zulip", "hamlet@zulip.com", slapd::HAMLET.password)
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    assert_eq!(r.body["code"], "AUTHENTICATION_FAILED", "{}", r.raw);

    // Saved through one instance (`a.admin`, as the page and the CLI do), used by the other
    // within a second: timed on `server_settings` (no directory or bcrypt work in the request),
    // whose `require_email_format_usernames` turns false once the realm's directory (with an
    // append domain) serves it; then a login proves it.
    a.admin
        .set_realm_ldap(By::Cli, &zulip, realm_cfg(&d), service_password())
        .await
        .expect("save");
    let took = email_usernames_until(&cb, false).await;
    assert!(took <= Duration::from_secs(1), "{kind:?}: took {took:?}");
    hamlet_until(&cb, 200, Duration::from_secs(5), "after the save").await;

    // A change (a people base nobody is under) reaches it too.
    let mut elsewhere = realm_cfg(&d);
    elsewhere.user_search_base = "ou=services,dc=example,dc=org".into();
    a.admin
        .set_realm_ldap(By::Cli, &zulip, elsewhere, BindPassword::Keep)
        .await
        .expect("save");
    hamlet_until(&cb, 401, Duration::from_secs(5), "after the change").await;

    // Back, then removed: the realm has no directory again.
    a.admin
        .set_realm_ldap(By::Cli, &zulip, realm_cfg(&d), BindPassword::Keep)
        .await
        .expect("save");
    hamlet_until(&cb, 200, Duration::from_secs(5), "after the second change").await;
    assert!(a.admin.unset_realm_ldap(By::Cli, &zulip).await.unwrap());
    let took = email_usernames_until(&cb, true).await;
    assert!(
        took <= Duration::from_secs(1),
        "{kind:?}: removal took {took:?}"
    );
    // No directory: usernames must be emails again.
    hamlet_until(&cb, 400, Duration::from_secs(5), "after the removal").await;
    assert!(!a.admin.unset_realm_ldap(By::Cli, &zulip).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_settings_changed_on_one_instance_are_used_by_another_within_a_second() {
    two_instances(DbKind::Sqlite).await;
    two_instances(DbKind::Postgres).await;
}

/// A caller of realm `zulip` with `role`.
async fn caller(w: &TestServer, realm: &Realm, email: &str, role: Role) -> auth_service::Caller {
    let user = w.create_user(realm, email, Some(PW), role).await;
    auth_service::Caller {
        user: user.into(),
        realm: realm.clone().into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_validated_audited_and_the_bind_password_is_sealed_and_never_shown() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let d = start_slapd().await;
    let w = TestServer::start(no_default_directory(&db)).await;
    let zulip = w.create_realm("zulip", "Zulip").await;
    let app = &w.admin;

    // The checks `[ldap]` gets, with clear sentences; nothing is stored.
    let mut bad = realm_cfg(&d);
    bad.uris = vec!["http://x".into()];
    bad.user_search_filter = "uid=x".into();
    let err = app
        .set_realm_ldap(By::Cli, &zulip, bad, service_password())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");
    assert!(msg.contains("\"http://x\" is not ldap://"), "{msg}");
    assert!(
        msg.contains("user_search_filter must contain {user}"),
        "{msg}"
    );
    let err = app
        .set_realm_ldap(By::Cli, &zulip, realm_cfg(&d), BindPassword::Keep)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ldap.bind_password"), "{err}");
    let mut missing_ca = realm_cfg(&d);
    missing_ca.ca_file = Some("/nonexistent/ca.pem".into());
    let err = app
        .set_realm_ldap(By::Cli, &zulip, missing_ca, service_password())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ca_file"), "{err}");
    assert!(app.realm_ldap(By::Cli, &zulip).await.unwrap().is_none());

    // Who may: owners change, administrators read, members neither.
    let owner = caller(&w, &zulip, "iago@zulip.com", Role::Owner).await;
    let admin = caller(&w, &zulip, "desdemona@zulip.com", Role::Administrator).await;
    let member = caller(&w, &zulip, "polonius@zulip.com", Role::Member).await;
    let err = app
        .set_realm_ldap(
            By::Caller(&admin),
            &zulip,
            realm_cfg(&d),
            service_password(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Principal(_)), "{err:?}");
    let err = app
        .realm_ldap(By::Caller(&member), &zulip)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Principal(_)), "{err:?}");

    let view = app
        .set_realm_ldap(
            By::Caller(&owner),
            &zulip,
            realm_cfg(&d),
            service_password(),
        )
        .await
        .expect("save");
    assert!(view.bind_password_set);
    let view = app
        .realm_ldap(By::Caller(&admin), &zulip)
        .await
        .unwrap()
        .expect("stored");
    assert!(view.bind_password_set);
    assert_eq!(view.settings.uris, vec![d.uri()]);
    assert!(!format!("{view:?}").contains(slapd::SERVICE_PASSWORD));

    // At rest: sealed, not in clear; the audit row has the settings, not the secret.
    let row = app.store.realm_ldap(zulip.id).await.unwrap().unwrap();
    let sealed = row.sealed_bind_password.clone().expect("sealed");
    let secret = slapd::SERVICE_PASSWORD.as_bytes();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    assert!(!row.settings.contains(slapd::SERVICE_PASSWORD));
    let audit = app.store.audit_entries(Some(zulip.id), 50).await.unwrap();
    let changed: Vec<_> = audit
        .iter()
        .filter(|e| e.event_type == "realm_ldap_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{audit:?}");
    let detail = changed[0].detail.to_string();
    assert!(!detail.contains(slapd::SERVICE_PASSWORD), "{detail}");
    assert!(detail.contains(slapd::PEOPLE_DN), "{detail}");
    assert_eq!(changed[0].detail["bind_password"], "changed", "{detail}");
    assert_eq!(changed[0].acting_user_id, Some(owner.user.id));

    // Saved again with the password left alone: the stored one keeps working.
    app.set_realm_ldap(By::Cli, &zulip, realm_cfg(&d), BindPassword::Keep)
        .await
        .expect("save");
    let t = app
        .test_realm_ldap_connection(By::Cli, &zulip, None)
        .await
        .expect("test");
    assert!(t.passed(), "{t:?}");
    let c = w.client();
    hamlet_until(&c, 200, Duration::from_secs(5), "with the kept password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_names_the_failing_step() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let d = start_slapd().await;
    let w = TestServer::start(no_default_directory(&db)).await;
    let zulip = w.create_realm("zulip", "Zulip").await;
    let app = &w.admin;
    // Settings about to be saved, over LDAPS with the right CA: every step passes.
    let mut tls = realm_cfg(&d);
    tls.uris = vec![d.ldaps_uri()];
    tls.ca_file = Some(d.ca_file());
    let t = app
        .test_realm_ldap_connection(By::Cli, &zulip, Some((tls.clone(), service_password())))
        .await
        .expect("test");
    assert!(t.passed(), "{t:?}");
    let names: Vec<_> = t.servers[0].steps.iter().map(|s| s.name).collect();
    assert_eq!(names, ["TCP", "TLS", "service bind"]);
    assert!(
        t.findings.iter().any(|f| f
            .text
            .contains(&format!("search base {} readable", slapd::PEOPLE_DN))),
        "{t:?}"
    );
    // A wrong CA: the TLS step fails and says why.
    tls.ca_file = Some(d.wrong_ca_file());
    let t = app
        .test_realm_ldap_connection(By::Cli, &zulip, Some((tls, service_password())))
        .await
        .expect("test");
    assert!(!t.passed());
    let failure = t.servers[0].failure().expect("a failed step");
    assert!(
        failure.starts_with("TLS: certificate not trusted"),
        "{failure}"
    );
    // A wrong service password: the bind step.
    let t = app
        .test_realm_ldap_connection(
            By::Cli,
            &zulip,
            Some((
                realm_cfg(&d),
                BindPassword::Set(SecretString::new("not-the-password")),
            )),
        )
        .await
        .expect("test");
    let failure = t.servers[0].failure().expect("a failed step");
    assert!(failure.starts_with("service bind: "), "{failure}");
    assert!(failure.contains("invalid credentials"), "{failure}");
    assert!(!failure.contains("not-the-password"), "{failure}");
    // Nothing listening: TCP.
    let mut closed = realm_cfg(&d);
    closed.uris = vec!["ldap://127.0.0.1:1".into()];
    let t = app
        .test_realm_ldap_connection(By::Cli, &zulip, Some((closed, service_password())))
        .await
        .expect("test");
    let failure = t.servers[0].failure().expect("a failed step");
    assert!(failure.starts_with("TCP: "), "{failure}");
}

fn email(t: &PersonTest) -> &str {
    t.email
        .as_ref()
        .and_then(|e| e.as_ref().ok())
        .map(String::as_str)
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_person_and_sync_with_a_preview() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let d = start_slapd().await;
    let w = TestServer::start(no_default_directory(&db)).await;
    let zulip = w.create_realm("zulip", "Zulip").await;
    let app = &w.admin;
    let mut cfg = realm_cfg(&d);
    cfg.require_group = Some(slapd::STAFF_GROUP_DN.into());
    cfg.sync.deactivate_non_matching = true;
    cfg.sync.max_deactivate_fraction = 1.0;
    app.set_realm_ldap(By::Cli, &zulip, cfg, service_password())
        .await
        .expect("save");

    let t = app
        .test_ldap_person(By::Cli, &zulip, "hamlet", None)
        .await
        .expect("test");
    assert!(t.found && t.allowed, "{t:?}");
    assert_eq!(t.dn.as_deref(), Some(slapd::HAMLET.dn));
    assert_eq!(email(&t), "hamlet@zulip.com");
    assert_eq!(
        t.require_group,
        Some((slapd::STAFF_GROUP_DN.to_owned(), true))
    );
    assert!(t.password.is_none());
    let t = app
        .test_ldap_person(By::Cli, &zulip, "nobody-here", None)
        .await
        .expect("test");
    assert!(!t.found && !t.allowed, "{t:?}");
    // With a password: one bind, counted like a login, audited without the password.
    let right = Password::new(slapd::HAMLET.password);
    let t = app
        .test_ldap_person(By::Cli, &zulip, "hamlet", Some(&right))
        .await
        .expect("test");
    assert_eq!(
        t.password.as_ref().map(|p| p.describe()).as_deref(),
        Some("right")
    );
    let wrong = Password::new("not-hamlets-password");
    let t = app
        .test_ldap_person(By::Cli, &zulip, "hamlet", Some(&wrong))
        .await
        .expect("test");
    assert_eq!(
        t.password.as_ref().map(|p| p.describe()).as_deref(),
        Some("wrong")
    );
    let audit = app.store.audit_entries(Some(zulip.id), 50).await.unwrap();
    let tests: Vec<_> = audit
        .iter()
        .filter(|e| e.event_type == "ldap_person_tested")
        .collect();
    assert_eq!(tests.len(), 4, "{audit:?}");
    assert_eq!(tests[0].detail["password_checked"], "wrong");
    assert!(
        !audit
            .iter()
            .any(|e| e.detail.to_string().contains("not-hamlets-password"))
    );

    // Accounts from real logins (once the server has followed the save), then one person
    // leaves the directory.
    let c = w.client();
    hamlet_until(&c, 200, Duration::from_secs(5), "after the save").await;
    for who in [&slapd::HAMLET, &slapd::AARON] {
        c.fetch_api_key("zulip", who.uid, who.password)
            .await
            .assert_success();
    }
    d.delete_dn(slapd::AARON.dn).unwrap();
    let preview = app
        .sync_realm_ldap(By::Cli, &zulip, false, false)
        .await
        .expect("preview");
    assert!(!preview.applied);
    assert_eq!(preview.deactivations, 1, "{}", preview.summary());
    assert!(
        preview
            .changes
            .iter()
            .any(|ch| ch.user.delivery_email == "aaron@zulip.com"),
        "{}",
        preview.summary()
    );
    let aaron = app
        .store
        .user_by_email(zulip.id, "aaron@zulip.com")
        .await
        .unwrap()
        .unwrap();
    assert!(aaron.is_active, "a preview changes nothing");
    let done = app
        .sync_realm_ldap(By::Cli, &zulip, true, false)
        .await
        .expect("sync");
    assert!(done.applied, "{}", done.summary());
    let aaron = app
        .store
        .user_by_email(zulip.id, "aaron@zulip.com")
        .await
        .unwrap()
        .unwrap();
    assert!(!aaron.is_active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sets_shows_tests_and_unsets_a_realms_directory_without_printing_the_secret() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let d = start_slapd().await;
    let config = db.dir().join("latchkey.toml");
    std::fs::write(&config, toml_head(&db, "warn")).unwrap();
    let settings = Settings::load_with_env(Some(&config), Vec::new()).unwrap();
    let w = TestServer::start(settings).await;
    w.create_realm("zulip", "Zulip").await;
    let pw_file = db.dir().join("bind.pw");
    std::fs::write(&pw_file, format!("{}\n", slapd::SERVICE_PASSWORD)).unwrap();
    let uri = d.uri();
    let pw_path = pw_file.display().to_string();
    let no_secret = |out: &std::process::Output| {
        assert!(
            !text(out).contains(slapd::SERVICE_PASSWORD),
            "the secret was printed: {}",
            text(out)
        );
    };

    let out = latchkey(
        &config,
        &[
            "ldap",
            "config",
            "set",
            "--realm",
            "zulip",
            "--uri",
            &uri,
            "--bind-dn",
            slapd::SERVICE_DN,
            "--bind-password-file",
            &pw_path,
            "--user-search-base",
            slapd::PEOPLE_DN,
            "--append-domain",
            "zulip.com",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    no_secret(&out);
    // The running server picks it up from the invalidation log.
    let took = email_usernames_until(&w.client(), false).await;
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    hamlet_until(
        &w.client(),
        200,
        Duration::from_secs(5),
        "after `ldap config set`",
    )
    .await;

    let out = latchkey(&config, &["ldap", "config", "show", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    no_secret(&out);
    let shown = text(&out);
    assert!(shown.contains("bind_password = \"(set)\""), "{shown}");
    assert!(shown.contains(&uri), "{shown}");
    assert!(shown.contains("[ldap]"), "{shown}");

    let out = latchkey(&config, &["ldap", "query", "hamlet", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("hamlet@zulip.com"), "{}", text(&out));

    let out = latchkey(&config, &["ldap", "config", "test", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("service bind"), "{}", text(&out));
    no_secret(&out);

    // From a file in the `[ldap]` format; the stored password is kept.
    let file = db.dir().join("realm-ldap.toml");
    std::fs::write(
        &file,
        format!(
            "[ldap]\nuris = [\"{uri}\"]\nbind_dn = \"{}\"\nuser_search_base = \"{}\"\nappend_domain = \"zulip.com\"\nrequire_group = \"{}\"\n",
            slapd::SERVICE_DN,
            slapd::PEOPLE_DN,
            slapd::STAFF_GROUP_DN
        ),
    )
    .unwrap();
    let file_path = file.display().to_string();
    let out = latchkey(
        &config,
        &[
            "ldap",
            "config",
            "set",
            "--realm",
            "zulip",
            "--from-file",
            &file_path,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = latchkey(&config, &["ldap", "config", "show", "--realm", "zulip"]);
    assert!(text(&out).contains(slapd::STAFF_GROUP_DN), "{}", text(&out));
    assert!(text(&out).contains("(set)"), "{}", text(&out));

    // Refused with the reason; nothing changes.
    let out = latchkey(
        &config,
        &[
            "ldap", "config", "set", "--realm", "zulip", "--uri", "http://x",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ldap.uris"), "{}", text(&out));
    let out = latchkey(
        &config,
        &[
            "ldap",
            "config",
            "set",
            "--realm",
            "nosuchrealm",
            "--uri",
            &uri,
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));

    let out = latchkey(&config, &["ldap", "config", "unset", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = latchkey(&config, &["ldap", "config", "show", "--realm", "zulip"]);
    assert!(
        text(&out).contains("no directory settings of its own"),
        "{}",
        text(&out)
    );
    // No directory: usernames must be emails again.
    let took = email_usernames_until(&w.client(), true).await;
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    hamlet_until(
        &w.client(),
        400,
        Duration::from_secs(5),
        "after `ldap config unset`",
    )
    .await;
}
