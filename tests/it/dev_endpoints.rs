//! `dev_fetch_api_key` and `dev_list_users`: the spec's §12.4 cases.

use auth_store::Actor;
use latchkey_tests::{Client, DbKind, Fixture, both_dbs};

both_dbs!(
    dev_server_issues_keys_without_password,
    dev_errors,
    production_answers,
    dev_backend_not_configured,
    dev_list_users_lists_active_people,
);

fn dev(s: &mut latchkey::Settings) {
    s.development.enabled = true;
    s.auth.backends = vec![auth_core::BackendKind::Email, auth_core::BackendKind::Dev];
}

async fn dev_server_issues_keys_without_password(kind: DbKind) {
    let Some(f) = Fixture::with(kind, dev).await else {
        return;
    };
    let r = f
        .client()
        .post_form(
            "zulip",
            "/api/v1/dev_fetch_api_key",
            &[("username", "hamlet@zulip.com")],
        )
        .await;
    r.assert_success();
    assert_eq!(r.body["api_key"], f.server.key_of(&f.hamlet).await.as_str());
    assert_eq!(r.body["email"], "hamlet@zulip.com");
    assert_eq!(r.body["user_id"], f.hamlet.id.0);
    let s = f.client().get("zulip", "/api/v1/server_settings").await;
    assert_eq!(s.body["authentication_methods"]["dev"], true);
}

async fn dev_errors(kind: DbKind) {
    let Some(f) = Fixture::with(kind, dev).await else {
        return;
    };
    let c = f.client();
    let post = |sub: &'static str, user: &'static str| {
        let c = c.clone();
        async move {
            c.post_form(sub, "/api/v1/dev_fetch_api_key", &[("username", user)])
                .await
        }
    };
    post("zulip", "hamlet")
        .await
        .assert_error(400, "BAD_REQUEST", "Enter a valid email address.");
    // The email check comes before the realm check here.
    post("nope", "hamlet")
        .await
        .assert_error(400, "BAD_REQUEST", "Enter a valid email address.");
    post("nope", "hamlet@zulip.com").await.assert_error(
        404,
        "NONEXISTENT_SUBDOMAIN",
        "Invalid subdomain",
    );
    post("zulip", "foo@zulip.com")
        .await
        .assert_bad_credentials();
    post("zulip", "othello@lear.com").await.assert_error(
        404,
        "NONEXISTENT_SUBDOMAIN",
        "Invalid subdomain",
    );
    let r =
        Client::send(c.request(reqwest::Method::GET, "zulip", "/api/v1/dev_fetch_api_key")).await;
    assert_eq!(r.status, 405);
    f.server
        .admin
        .store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    post("zulip", "hamlet@zulip.com").await.assert_error(
        401,
        "USER_DEACTIVATED",
        "Account is deactivated",
    );
    f.server
        .admin
        .store
        .set_realm_deactivated(f.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    latchkey_tests::eventually(
        std::time::Duration::from_secs(3),
        || post("zulip", "cordelia@zulip.com"),
        |r: &latchkey_tests::Reply| r.body["code"] == "REALM_DEACTIVATED",
    )
    .await
    .assert_error(
        401,
        "REALM_DEACTIVATED",
        "This organization has been deactivated",
    );
    let r = c.post_form("zulip", "/api/v1/dev_fetch_api_key", &[]).await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'username' argument",
    );
}

async fn production_answers(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f
        .client()
        .post_form(
            "zulip",
            "/api/v1/dev_fetch_api_key",
            &[("username", "hamlet@zulip.com")],
        )
        .await;
    r.assert_error(400, "BAD_REQUEST", "Endpoint not available in production.");
    let r = f.client().get("zulip", "/api/v1/dev_list_users").await;
    r.assert_error(400, "BAD_REQUEST", "Endpoint not available in production.");
}

async fn dev_backend_not_configured(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| s.development.enabled = true).await else {
        return;
    };
    let r = f
        .client()
        .post_form(
            "zulip",
            "/api/v1/dev_fetch_api_key",
            &[("username", "hamlet@zulip.com")],
        )
        .await;
    r.assert_error(400, "BAD_REQUEST", "DevAuthBackend not enabled.");
}

async fn dev_list_users_lists_active_people(kind: DbKind) {
    let Some(f) = Fixture::with(kind, dev).await else {
        return;
    };
    let boss = f
        .server
        .create_user(
            &f.zulip,
            "iago@zulip.com",
            None,
            auth_core::Role::Administrator,
        )
        .await;
    f.server
        .admin
        .store
        .set_user_active(f.cordelia.id, false, Actor::cli())
        .await
        .unwrap();
    let r = f.client().get("zulip", "/api/v1/dev_list_users").await;
    r.assert_success();
    let admins = r.body["direct_admins"].as_array().unwrap();
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0]["email"], boss.delivery_email.as_str());
    assert_eq!(admins[0]["realm_url"], "http://zulip.example.test");
    let users: Vec<&str> = r.body["direct_users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(users.contains(&"hamlet@zulip.com"));
    assert!(users.contains(&"othello@lear.com"));
    assert!(!users.contains(&"cordelia@zulip.com"));
}
