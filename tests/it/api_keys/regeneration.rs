//! Regenerating an API key (spec §12.8; a POST under /api/v1 with Basic authentication only):
//! the old key stops working at once, `fetch_api_key` returns the new one, and one audit row
//! records it.

use latchkey_tests::{Client, DbKind, Fixture, PW, both_dbs};

use super::{basic, get_as, post_as, unauthorized};

both_dbs!(regeneration_replaces_the_key_at_once,);

async fn regeneration_replaces_the_key_at_once(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let k_h = f.server.key_of(&f.hamlet).await;
    let old = basic("hamlet@zulip.com", &k_h);
    // Warm the cache with the old key.
    get_as(&c, "zulip", "/api/v1/users/me", Some(&old))
        .await
        .assert_success();
    let r = post_as(
        &c,
        "zulip",
        "/api/v1/users/me/api_key/regenerate",
        &old,
        &[],
    )
    .await;
    r.assert_success();
    let k2 = r.body["api_key"].as_str().unwrap().to_owned();
    assert_ne!(k2, k_h);
    assert_eq!(k2.len(), 32);
    assert!(k2.bytes().all(|b| b.is_ascii_alphanumeric()));
    unauthorized(
        &get_as(&c, "zulip", "/api/v1/users/me", Some(&old)).await,
        "Invalid API key",
    );
    get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&basic("hamlet@zulip.com", &k2)),
    )
    .await
    .assert_success();
    // fetch_api_key now returns the new key.
    let fetched = c.fetch_api_key("zulip", "hamlet@zulip.com", PW).await;
    assert_eq!(fetched.body["api_key"], k2.as_str());
    // One audit row, acting = modified = Hamlet.
    let audit = f
        .server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 20)
        .await
        .unwrap();
    let changed: Vec<_> = audit
        .iter()
        .filter(|e| e.event_type == "user_api_key_changed")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].acting_user_id, Some(f.hamlet.id));
    assert_eq!(changed[0].modified_user_id, Some(f.hamlet.id));
    assert!(!changed[0].detail.to_string().contains(&k2));
    // Only POST, only under /api/v1, only with Basic auth.
    let r = get_as(
        &c,
        "zulip",
        "/api/v1/users/me/api_key/regenerate",
        Some(&old),
    )
    .await;
    assert_eq!(r.status, 405);
    let r = Client::send(c.request(
        reqwest::Method::POST,
        "zulip",
        "/json/users/me/api_key/regenerate",
    ))
    .await;
    assert_eq!(r.status, 404);
    let r = Client::send(c.request(
        reqwest::Method::POST,
        "zulip",
        "/api/v1/users/me/api_key/regenerate",
    ))
    .await;
    unauthorized(
        &r,
        "Not logged in: API authentication or user session required",
    );
}
