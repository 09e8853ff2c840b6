//! `GET /api/v1/server_settings`: the spec's §12.5 cases and the fields real clients require.

use auth_core::Role;
use latchkey_tests::{Client, DbKind, Fixture, both_dbs};
use serde_json::Value;

both_dbs!(
    root_without_realm_has_exact_key_set,
    realm_host_adds_realm_fields_with_client_types,
    unknown_subdomain_is_400,
    email_only_realm_flags,
    landing_page_root_needs_subdomain,
    head_and_wrong_verbs,
    authorization_header_is_ignored,
    incompatible_client_flag,
    root_realm_is_served_at_root,
    a_new_realm_is_served_soon_after_it_is_created,
);

const ROOT_KEYS: &[&str] = &[
    "authentication_methods",
    "email_auth_enabled",
    "external_authentication_methods",
    "is_incompatible",
    "msg",
    "push_notifications_enabled",
    "realm_uri",
    "realm_url",
    "realm_web_public_access_enabled",
    "require_email_format_usernames",
    "result",
    "zulip_feature_level",
    "zulip_merge_base",
    "zulip_version",
];

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

async fn root_without_realm_has_exact_key_set(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f.client().get("", "/api/v1/server_settings").await;
    r.assert_success();
    assert_eq!(keys(&r.body), ROOT_KEYS);
    assert_eq!(r.body["realm_uri"], "http://example.test");
    assert_eq!(r.body["realm_url"], "http://example.test");
    assert_eq!(r.body["realm_web_public_access_enabled"], false);
    assert_eq!(r.body["is_incompatible"], false);
    assert!(r.body.get("ignored_parameters_unsupported").is_none());
}

async fn realm_host_adds_realm_fields_with_client_types(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f
        .client()
        .get("zulip", "/api/v1/server_settings?foo=1")
        .await;
    r.assert_success();
    let b = &r.body;
    let mut expected: Vec<&str> = ROOT_KEYS.to_vec();
    expected.extend(["realm_description", "realm_icon", "realm_name"]);
    expected.sort();
    assert_eq!(keys(b), expected);
    // Types exactly as zulip-flutter parses them (§10.1).
    assert!(b["authentication_methods"].is_object());
    for (_, v) in b["authentication_methods"].as_object().unwrap() {
        assert!(v.is_boolean());
    }
    assert!(b["authentication_methods"]["ldap"].is_boolean());
    assert!(b["authentication_methods"].get("openid connect").is_some());
    assert!(b["external_authentication_methods"].is_array());
    assert!(b["zulip_version"].is_string());
    assert!(b["zulip_merge_base"].is_string());
    assert!(b["zulip_feature_level"].as_u64().unwrap() >= 277);
    for flag in [
        "push_notifications_enabled",
        "is_incompatible",
        "email_auth_enabled",
        "require_email_format_usernames",
        "realm_web_public_access_enabled",
    ] {
        assert!(b[flag].is_boolean(), "{flag}");
    }
    assert_eq!(b["realm_uri"], "http://zulip.example.test");
    assert_eq!(b["realm_url"], "http://zulip.example.test");
    assert_eq!(b["realm_name"], "Zulip Dev");
    assert!(b["realm_icon"].as_str().unwrap().starts_with("https://"));
    assert!(b["realm_description"].is_string());
    // Each realm speaks for itself.
    let lear = f.client().get("lear", "/api/v1/server_settings").await;
    assert_eq!(lear.body["realm_name"], "Lear & Co.");
    assert_eq!(lear.body["realm_uri"], "http://lear.example.test");
}

async fn unknown_subdomain_is_400(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f.client().get("invalid", "/api/v1/server_settings").await;
    r.assert_error(400, "BAD_REQUEST", "Invalid subdomain");
}

async fn email_only_realm_flags(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f.client().get("zulip", "/api/v1/server_settings").await;
    let b = &r.body;
    assert_eq!(b["require_email_format_usernames"], true);
    assert_eq!(b["email_auth_enabled"], true);
    assert_eq!(b["authentication_methods"]["password"], true);
    assert_eq!(b["authentication_methods"]["email"], true);
    assert_eq!(b["authentication_methods"]["ldap"], false);
    assert_eq!(b["authentication_methods"]["dev"], false);
    // Switch Email off for the realm: both flags follow.
    f.set_methods(&f.zulip, false, true).await;
    // An administrator's change reaches the server's realm cache through the invalidation log.
    let c = f.client();
    let r = latchkey_tests::eventually(
        std::time::Duration::from_secs(3),
        || c.get("zulip", "/api/v1/server_settings"),
        |r: &latchkey_tests::Reply| r.body["email_auth_enabled"] == false,
    )
    .await;
    assert_eq!(r.body["email_auth_enabled"], false);
    assert_eq!(r.body["authentication_methods"]["password"], false);
}

async fn landing_page_root_needs_subdomain(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| s.server.root_domain_landing_page = true).await else {
        return;
    };
    let r = f.client().get("", "/api/v1/server_settings").await;
    r.assert_error(400, "BAD_REQUEST", "Subdomain required");
    f.client()
        .get("zulip", "/api/v1/server_settings")
        .await
        .assert_success();
}

async fn head_and_wrong_verbs(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let r =
        Client::send(c.request(reqwest::Method::HEAD, "zulip", "/api/v1/server_settings")).await;
    assert_eq!(r.status, 200);
    assert!(r.raw.is_empty());
    let r =
        Client::send(c.request(reqwest::Method::POST, "zulip", "/api/v1/server_settings")).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.body["allowed_methods"],
        serde_json::json!(["GET", "HEAD"])
    );
    assert_eq!(r.headers["allow"], "GET, HEAD");
}

async fn authorization_header_is_ignored(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = Client::send(
        f.client()
            .request(reqwest::Method::GET, "zulip", "/api/v1/server_settings")
            .basic_auth("hamlet@zulip.com", Some("not-a-real-key")),
    )
    .await;
    r.assert_success();
}

async fn incompatible_client_flag(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = Client::send(
        f.client()
            .request(reqwest::Method::GET, "zulip", "/api/v1/server_settings")
            .header("user-agent", "ZulipInvalid/1.0"),
    )
    .await;
    assert_eq!(r.body["is_incompatible"], true);
    let r = Client::send(
        f.client()
            .request(reqwest::Method::GET, "zulip", "/api/v1/server_settings")
            .header("user-agent", "ZulipMobile/27.200 (Android 14)"),
    )
    .await;
    assert_eq!(r.body["is_incompatible"], false);
}

async fn root_realm_is_served_at_root(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let root = f.server.create_realm("", "Root Org").await;
    f.server
        .create_user(
            &root,
            "king@example.test",
            Some(latchkey_tests::PW),
            Role::Owner,
        )
        .await;
    let r = f.client().get("", "/api/v1/server_settings").await;
    assert_eq!(r.body["realm_name"], "Root Org");
    assert_eq!(r.body["realm_uri"], "http://example.test");
    // www is an alias of the root.
    let r = f.client().get("www", "/api/v1/server_settings").await;
    assert_eq!(r.body["realm_name"], "Root Org");
    f.client()
        .fetch_api_key("", "king@example.test", latchkey_tests::PW)
        .await
        .assert_success();
}

async fn a_new_realm_is_served_soon_after_it_is_created(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    // Asked for before it exists: remembered as unknown for a moment...
    c.get("newco", "/api/v1/server_settings")
        .await
        .assert_error(400, "BAD_REQUEST", "Invalid subdomain");
    f.server.create_realm("newco", "New Co").await;
    // ...until the creation reaches the server through the invalidation log.
    let started = std::time::Instant::now();
    let r = latchkey_tests::eventually(
        std::time::Duration::from_secs(3),
        || c.get("newco", "/api/v1/server_settings"),
        |r: &latchkey_tests::Reply| r.status == 200,
    )
    .await;
    r.assert_success();
    assert_eq!(r.body["realm_name"], "New Co");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
