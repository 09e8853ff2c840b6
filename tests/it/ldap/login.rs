//! Logging in through the LDAP backend: search-then-bind and DN templates (accounts created on
//! the first login and reused after), wrong and empty passwords, filter and DN injection, the
//! username and email mappings, and a renamed entry keeping its account.

use auth_core::Role;
use latchkey_tests::ldap_world::{sqlite_world, world};
use latchkey_tests::slapd;
use latchkey_tests::{DbKind, PW, both_dbs};

both_dbs!(search_then_bind_creates_then_reuses_the_account);

async fn search_then_bind_creates_then_reuses_the_account(kind: DbKind) {
    let Some(w) = world(kind, |_, _| {}).await else {
        return;
    };
    let c = w.client();
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
    let audit = w.audit().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_empty_password_and_domain_mismatch() {
    let w = sqlite_world(|_, _| {}).await;
    let c = w.client();
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
    let w = sqlite_world(|_, _| {}).await;
    let c = w.client();
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
    let w = sqlite_world(|s, _| {
        s.ldap.user_dn_template = Some("uid={user},ou=people,dc=example,dc=org".into());
        s.ldap.user_search_base = None;
    })
    .await;
    let c = w.client();
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
    let w = sqlite_world(|s, _| {
        s.ldap.append_domain = None;
        s.ldap.email_attr = Some("mail".into());
        s.ldap.reverse_email_search_filter = Some("(mail={email})".into());
    })
    .await;
    let c = w.client();
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
    let w = sqlite_world(|s, _| {
        s.ldap.append_domain = None;
        s.ldap.user_search_filter = "(mail={user})".into();
    })
    .await;
    let c = w.client();
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
async fn renamed_person_keeps_the_account() {
    let w = sqlite_world(|_, _| {}).await;
    let c = w.client();
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
