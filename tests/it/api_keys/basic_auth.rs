//! HTTP Basic authentication with a person's delivery email and API key (spec §9, §12.7): what
//! it accepts, the errors Zulip gives for everything else, and the profile `GET /users/me` returns.

use std::time::Duration;

use auth_store::Actor;
use base64::Engine;
use latchkey_tests::{DbKind, Fixture, PW, Reply, both_dbs, eventually};

use super::{auth_of, basic, cast, get_as, unauthorized};

both_dbs!(
    basic_auth_accepts_the_delivery_email_and_key,
    basic_auth_errors_match_zulip,
    users_me_profile_fields,
);

async fn basic_auth_accepts_the_delivery_email_and_key(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    // The key fetch_api_key returns works for Basic authentication (§12.1 case 21).
    let key = c.fetch_api_key("zulip", "hamlet@zulip.com", PW).await.body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&basic("hamlet@zulip.com", &key)),
    )
    .await;
    r.assert_success();
    assert_eq!(r.body["user_id"], f.hamlet.id.0);
    assert_eq!(r.body["email"], "hamlet@zulip.com");
    // Case-insensitive email, whitespace around both parts.
    get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&basic("HAMLET@ZULIP.COM", &key)),
    )
    .await
    .assert_success();
    get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&basic(" hamlet@zulip.com ", &format!(" {key} "))),
    )
    .await
    .assert_success();
    // A numeric user id is not accepted (Zulip neither).
    unauthorized(
        &get_as(
            &c,
            "zulip",
            "/api/v1/users/me",
            Some(&basic(&f.hamlet.id.0.to_string(), &key)),
        )
        .await,
        "Invalid API key",
    );
    // Rate-limit headers on authenticated responses.
    let r = get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&basic("hamlet@zulip.com", &key)),
    )
    .await;
    assert!(
        r.headers.get("x-ratelimit-limit").is_some(),
        "{:?}",
        r.headers
    );
    assert!(r.headers.get("x-ratelimit-remaining").is_some());
    assert!(r.headers.get("x-ratelimit-reset").is_some());
}

async fn basic_auth_errors_match_zulip(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let k_h = f.server.key_of(&f.hamlet).await;
    let me = "/api/v1/users/me";
    // 67: someone else's email with Hamlet's key.
    unauthorized(
        &get_as(&c, "zulip", me, Some(&basic("cordelia@zulip.com", &k_h))).await,
        "Invalid API key",
    );
    // 68: an unknown well-formed key.
    unauthorized(
        &get_as(
            &c,
            "zulip",
            me,
            Some(&basic(
                "hamlet@zulip.com",
                "VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp",
            )),
        )
        .await,
        "Invalid API key",
    );
    // 69: malformed keys.
    for bad in [
        "not_32_length",
        "VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkpX",
        "VIzRVw2CspUOnEm9Yu5vQiQtJNkvETk-",
    ] {
        unauthorized(
            &get_as(&c, "zulip", me, Some(&basic("hamlet@zulip.com", bad))).await,
            "Malformed API key",
        );
    }
    // 70: no header.
    unauthorized(
        &get_as(&c, "zulip", me, None).await,
        "Not logged in: API authentication or user session required",
    );
    // 71: another scheme is a 400.
    get_as(&c, "zulip", me, Some("Digest username=\"hamlet\""))
        .await
        .assert_error(
            400,
            "BAD_REQUEST",
            "This endpoint requires HTTP basic authentication.",
        );
    // Malformed Basic headers.
    for h in ["Basic", "Basic a b", "Basic !!!!"] {
        unauthorized(
            &get_as(&c, "zulip", me, Some(h)).await,
            "Invalid authorization header for basic auth",
        );
    }
    let nocolon = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("hamlet@zulip.com")
    );
    unauthorized(
        &get_as(&c, "zulip", me, Some(&nocolon)).await,
        "Invalid authorization header for basic auth",
    );
    // 73: the right credentials on another realm's host, or the root.
    let good = basic("hamlet@zulip.com", &k_h);
    unauthorized(
        &get_as(&c, "lear", me, Some(&good)).await,
        "Account is not associated with this subdomain",
    );
    unauthorized(
        &get_as(&c, "", me, Some(&good)).await,
        "Account is not associated with this subdomain",
    );
    // Incoming-webhook bots may not use ordinary endpoints.
    unauthorized(
        &get_as(&c, "zulip", me, Some(&auth_of(&f, &cast.webhook).await)).await,
        "This API is not available to incoming webhook bots.",
    );
    // 74: deactivated user, then deactivated realm (checked first). These changes come from
    // another process (an admin command); the server hears of them through the invalidation
    // log within a second.
    let store = &f.server.admin.store;
    let within = Duration::from_secs(3);
    let until = |status: u16| move |r: &Reply| r.status == status;
    store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    let r = eventually(within, || get_as(&c, "zulip", me, Some(&good)), until(401)).await;
    unauthorized(&r, "Account is deactivated");
    store
        .set_realm_deactivated(f.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    let r = eventually(
        within,
        || get_as(&c, "zulip", me, Some(&good)),
        |r: &Reply| r.raw.contains("organization"),
    )
    .await;
    unauthorized(&r, "This organization has been deactivated");
    store
        .set_realm_deactivated(f.zulip.id, false, Actor::cli())
        .await
        .unwrap();
    store
        .set_user_active(f.hamlet.id, true, Actor::cli())
        .await
        .unwrap();
    eventually(within, || get_as(&c, "zulip", me, Some(&good)), until(200))
        .await
        .assert_success();
    // A deactivated bot's key stops working too.
    store
        .set_user_active(cast.bot.id, false, Actor::cli())
        .await
        .unwrap();
    let bot_auth = auth_of(&f, &cast.bot).await;
    let r = eventually(
        within,
        || get_as(&c, "zulip", me, Some(&bot_auth)),
        until(401),
    )
    .await;
    unauthorized(&r, "Account is deactivated");
}

async fn users_me_profile_fields(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let r = get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&auth_of(&f, &cast.iago).await),
    )
    .await;
    r.assert_success();
    let b = &r.body;
    for k in [
        "avatar_url",
        "avatar_version",
        "email",
        "delivery_email",
        "full_name",
        "user_id",
        "role",
        "is_owner",
        "is_admin",
        "is_guest",
        "is_bot",
        "is_active",
        "timezone",
        "date_joined",
        "profile_data",
        "max_message_id",
    ] {
        assert!(b.get(k).is_some(), "{k} missing: {}", r.raw);
    }
    assert_eq!(b["role"], 200);
    assert_eq!(b["is_admin"], true);
    assert_eq!(b["is_owner"], false);
    let r = get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&auth_of(&f, &cast.owner).await),
    )
    .await;
    assert_eq!(r.body["is_owner"], true);
    assert_eq!(r.body["role"], 100);
    let r = get_as(
        &c,
        "zulip",
        "/api/v1/users/me",
        Some(&auth_of(&f, &cast.guest).await),
    )
    .await;
    assert_eq!(r.body["is_guest"], true);
}
