//! Keys at work: HTTP Basic authentication (spec §9, §12.7), `GET /users/me`, regeneration
//! (§12.8), bots (§1.6), forward-auth, and the audit rows each change writes.

use auth_core::{BotType, Role, User};
use auth_store::{Actor, NewUser};
use base64::Engine;
use std::time::Duration;

use latchkey_tests::{Client, DbKind, Fixture, PW, Reply, both_dbs, eventually};

both_dbs!(
    basic_auth_accepts_the_delivery_email_and_key,
    basic_auth_errors_match_zulip,
    regeneration_replaces_the_key_at_once,
    bots_lifecycle_and_ownership,
    bot_key_permissions,
    forward_auth_verify,
    forward_auth_ignores_a_clients_forwarded_host,
    users_me_profile_fields,
    deactivating_a_person_deactivates_their_bots,
);

fn basic(email: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"))
    )
}

async fn get_as(c: &Client, sub: &str, path: &str, auth: Option<&str>) -> Reply {
    let mut rb = c.request(reqwest::Method::GET, sub, path);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    Client::send(rb).await
}

async fn post_as(c: &Client, sub: &str, path: &str, auth: &str, form: &[(&str, &str)]) -> Reply {
    Client::send(
        c.request(reqwest::Method::POST, sub, path)
            .header("authorization", auth)
            .form(form),
    )
    .await
}

/// The extra people and bots of the spec's fixture: bot B owned by Hamlet, webhook bot W,
/// guest G, admin Iago, owner Desdemona.
struct Cast {
    bot: User,
    webhook: User,
    guest: User,
    iago: User,
    owner: User,
}

async fn cast(f: &Fixture) -> Cast {
    let s = &f.server;
    let bot = |email: &str, t: BotType, owner: &User| NewUser {
        realm_id: f.zulip.id,
        delivery_email: email.into(),
        full_name: email.into(),
        password_hash: None,
        role: Role::Member,
        bot_type: Some(t),
        bot_owner_id: Some(owner.id),
        external_id: None,
    };
    let b = s
        .admin
        .store
        .create_user(
            bot("b-bot@zulip.example.test", BotType::Generic, &f.hamlet),
            s.admin.keys.sealer(),
            Actor::cli(),
        )
        .await
        .unwrap();
    let w = s
        .admin
        .store
        .create_user(
            bot(
                "w-bot@zulip.example.test",
                BotType::IncomingWebhook,
                &f.hamlet,
            ),
            s.admin.keys.sealer(),
            Actor::cli(),
        )
        .await
        .unwrap();
    Cast {
        bot: b,
        webhook: w,
        guest: s
            .create_user(&f.zulip, "polonius@zulip.com", Some(PW), Role::Guest)
            .await,
        iago: s
            .create_user(&f.zulip, "iago@zulip.com", Some(PW), Role::Administrator)
            .await,
        owner: s
            .create_user(&f.zulip, "desdemona@zulip.com", Some(PW), Role::Owner)
            .await,
    }
}

async fn auth_of(f: &Fixture, u: &User) -> String {
    basic(&u.delivery_email, &f.server.key_of(u).await)
}

#[track_caller]
fn unauthorized(r: &Reply, msg: &str) {
    r.assert_error(401, "UNAUTHORIZED", msg);
    assert_eq!(
        r.headers["www-authenticate"], "Basic realm=\"zulip\"",
        "{}",
        r.raw
    );
}

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

async fn bots_lifecycle_and_ownership(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let h = auth_of(&f, &f.hamlet).await;
    let r = post_as(
        &c,
        "zulip",
        "/api/v1/bots",
        &h,
        &[("full_name", "Helper Bot"), ("short_name", "helper")],
    )
    .await;
    r.assert_success();
    let bot_id = r.body["user_id"].as_i64().unwrap();
    let bot_key = r.body["api_key"].as_str().unwrap().to_owned();
    assert!(
        r.body.get("email").is_none(),
        "Zulip's create-bot answer has no email"
    );
    for k in [
        "avatar_url",
        "default_sending_stream",
        "default_events_register_stream",
        "default_all_public_streams",
    ] {
        assert!(r.body.get(k).is_some(), "{k}");
    }
    // The bot's email is derived as Zulip derives it, and its key works for Basic auth.
    let bot_auth = basic("helper-bot@zulip.example.test", &bot_key);
    let me = get_as(&c, "zulip", "/api/v1/users/me", Some(&bot_auth)).await;
    me.assert_success();
    assert_eq!(me.body["user_id"], bot_id);
    assert_eq!(me.body["is_bot"], true);
    // Bots cannot log in with a password.
    c.fetch_api_key("zulip", "helper-bot@zulip.example.test", "anything")
        .await
        .assert_bad_credentials();
    // Name checks.
    post_as(
        &c,
        "zulip",
        "/api/v1/bots",
        &h,
        &[("full_name", "Helper Two"), ("short_name", "helper")],
    )
    .await
    .assert_error(400, "BAD_REQUEST", "Username already in use");
    post_as(
        &c,
        "zulip",
        "/api/v1/bots",
        &h,
        &[("full_name", "Bad"), ("short_name", "no spaces please")],
    )
    .await
    .assert_error(400, "BAD_REQUEST", "Bad name or username");
    post_as(&c, "zulip", "/api/v1/bots", &h, &[("full_name", "Bad")])
        .await
        .assert_error(
            400,
            "REQUEST_VARIABLE_MISSING",
            "Missing 'short_name' argument",
        );
    // Guests and bots cannot create bots.
    post_as(
        &c,
        "zulip",
        "/api/v1/bots",
        &auth_of(&f, &cast.guest).await,
        &[("full_name", "G Bot"), ("short_name", "g")],
    )
    .await
    .assert_error(400, "BAD_REQUEST", "Not allowed for guest users");
    post_as(
        &c,
        "zulip",
        "/api/v1/bots",
        &bot_auth,
        &[("full_name", "B Bot"), ("short_name", "bb")],
    )
    .await
    .assert_error(
        400,
        "BAD_REQUEST",
        "This endpoint does not accept bot requests.",
    );
    // GET /bots: Hamlet sees his bots with keys; Cordelia sees none; an admin sees all.
    let mine = get_as(&c, "zulip", "/api/v1/bots", Some(&h)).await;
    mine.assert_success();
    let names: Vec<&str> = mine.body["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"helper-bot@zulip.example.test"));
    assert!(names.contains(&"b-bot@zulip.example.test"));
    assert!(
        mine.body["bots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["api_key"].as_str().unwrap().len() == 32)
    );
    let theirs = get_as(
        &c,
        "zulip",
        "/api/v1/bots",
        Some(&auth_of(&f, &f.cordelia).await),
    )
    .await;
    assert_eq!(theirs.body["bots"].as_array().unwrap().len(), 0);
    let all = get_as(
        &c,
        "zulip",
        "/api/v1/bots",
        Some(&auth_of(&f, &cast.iago).await),
    )
    .await;
    assert!(all.body["bots"].as_array().unwrap().len() >= 3);
    // Deactivate (owner), key stops; reactivate (owner), key works again.
    let del = Client::send(
        c.request(
            reqwest::Method::DELETE,
            "zulip",
            &format!("/api/v1/bots/{bot_id}"),
        )
        .header("authorization", &h),
    )
    .await;
    del.assert_success();
    unauthorized(
        &get_as(&c, "zulip", "/api/v1/users/me", Some(&bot_auth)).await,
        "Account is deactivated",
    );
    let cordelia_auth = auth_of(&f, &f.cordelia).await;
    post_as(
        &c,
        "zulip",
        &format!("/api/v1/users/{bot_id}/reactivate"),
        &cordelia_auth,
        &[],
    )
    .await
    .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    post_as(
        &c,
        "zulip",
        &format!("/api/v1/users/{bot_id}/reactivate"),
        &h,
        &[],
    )
    .await
    .assert_success();
    get_as(&c, "zulip", "/api/v1/users/me", Some(&bot_auth))
        .await
        .assert_success();
    // Audit rows for creation, deactivation, reactivation, acting = Hamlet.
    let audit = f
        .server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 50)
        .await
        .unwrap();
    for event in ["user_created", "user_deactivated", "user_reactivated"] {
        assert!(
            audit.iter().any(|e| e.event_type == event
                && e.modified_user_id.map(|u| u.0) == Some(bot_id)
                && e.acting_user_id == Some(f.hamlet.id)),
            "{event}"
        );
    }
    let _ = cast.owner;
}

async fn bot_key_permissions(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let b = cast.bot.id.0;
    let k_b = f.server.key_of(&cast.bot).await;
    let regen = format!("/api/v1/bots/{b}/api_key/regenerate");
    let read = format!("/api/v1/bots/{b}/api_key");
    // Owner reads and regenerates; the old bot key dies at once.
    let h = auth_of(&f, &f.hamlet).await;
    let r = get_as(&c, "zulip", &read, Some(&h)).await;
    r.assert_success();
    assert_eq!(r.body["api_key"], k_b.as_str());
    let r = post_as(&c, "zulip", &regen, &h, &[]).await;
    r.assert_success();
    let k_b2 = r.body["api_key"].as_str().unwrap().to_owned();
    assert_ne!(k_b2, k_b);
    unauthorized(
        &get_as(
            &c,
            "zulip",
            "/api/v1/users/me",
            Some(&basic(&cast.bot.delivery_email, &k_b)),
        )
        .await,
        "Invalid API key",
    );
    // An administrator may too.
    post_as(&c, "zulip", &regen, &auth_of(&f, &cast.iago).await, &[])
        .await
        .assert_success();
    get_as(&c, "zulip", &read, Some(&auth_of(&f, &cast.owner).await))
        .await
        .assert_success();
    // A member who is not the owner may not (83).
    let cordelia = auth_of(&f, &f.cordelia).await;
    post_as(&c, "zulip", &regen, &cordelia, &[])
        .await
        .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    get_as(&c, "zulip", &read, Some(&cordelia))
        .await
        .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    // Guests, and the bot itself.
    post_as(&c, "zulip", &regen, &auth_of(&f, &cast.guest).await, &[])
        .await
        .assert_error(400, "BAD_REQUEST", "Not allowed for guest users");
    post_as(&c, "zulip", &regen, &auth_of(&f, &cast.bot).await, &[])
        .await
        .assert_error(
            400,
            "BAD_REQUEST",
            "This endpoint does not accept bot requests.",
        );
    // A human, a nonexistent id, another realm's bot: "No such bot".
    for target in [f.cordelia.id.0.to_string(), "999999".into(), "abc".into()] {
        post_as(
            &c,
            "zulip",
            &format!("/api/v1/bots/{target}/api_key/regenerate"),
            &h,
            &[],
        )
        .await
        .assert_error(400, "BAD_REQUEST", "No such bot");
    }
    let lear_owner = f
        .server
        .create_user(&f.lear, "lear@lear.com", Some(PW), Role::Owner)
        .await;
    let lear_bot = post_as(
        &c,
        "lear",
        "/api/v1/bots",
        &auth_of(&f, &lear_owner).await,
        &[("full_name", "Lear Bot"), ("short_name", "lb")],
    )
    .await;
    lear_bot.assert_success();
    let lb = lear_bot.body["user_id"].as_i64().unwrap();
    post_as(
        &c,
        "zulip",
        &format!("/api/v1/bots/{lb}/api_key/regenerate"),
        &auth_of(&f, &cast.iago).await,
        &[],
    )
    .await
    .assert_error(400, "BAD_REQUEST", "No such bot");
    // Audit rows: each regeneration, acting = the caller, modified = the bot.
    let audit = f
        .server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 50)
        .await
        .unwrap();
    let rows: Vec<_> = audit
        .iter()
        .filter(|e| {
            e.event_type == "user_api_key_changed" && e.modified_user_id == Some(cast.bot.id)
        })
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().any(|e| e.acting_user_id == Some(f.hamlet.id)));
    assert!(rows.iter().any(|e| e.acting_user_id == Some(cast.iago.id)));
}

async fn forward_auth_verify(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let h = auth_of(&f, &f.hamlet).await;
    let r = get_as(&c, "zulip", "/api/v1/auth/verify", Some(&h)).await;
    r.assert_success();
    assert_eq!(
        r.headers["x-latchkey-user-id"],
        f.hamlet.id.0.to_string().as_str()
    );
    assert_eq!(r.headers["x-latchkey-email"], "hamlet@zulip.com");
    assert_eq!(r.headers["x-latchkey-realm"], "zulip");
    // Any method (proxies may forward the original one).
    let r = post_as(&c, "zulip", "/api/v1/auth/verify", &h, &[]).await;
    r.assert_success();
    for bad in [None, Some("Digest x=y"), Some("Basic Zm9v")] {
        let r = get_as(&c, "zulip", "/api/v1/auth/verify", bad).await;
        assert_eq!(r.status, 401, "{}", r.raw);
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"zulip\"");
        assert!(r.headers.get("x-latchkey-user-id").is_none());
    }
    let r = get_as(&c, "lear", "/api/v1/auth/verify", Some(&h)).await;
    assert_eq!(r.status, 401);
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

async fn forward_auth_ignores_a_clients_forwarded_host(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    // Othello's (lear) key, sent to zulip's host with a forged X-Forwarded-Host naming lear.
    let o = auth_of(&f, &f.othello).await;
    let r = Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/auth/verify")
            .header("authorization", &o)
            .header("x-forwarded-host", "lear.example.test"),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    assert!(r.headers.get("x-latchkey-user-id").is_none());
}

async fn deactivating_a_person_deactivates_their_bots(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let bot_auth = auth_of(&f, &cast.bot).await;
    get_as(&c, "zulip", "/api/v1/users/me", Some(&bot_auth))
        .await
        .assert_success();
    f.server
        .admin
        .store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    let r = eventually(
        Duration::from_secs(3),
        || get_as(&c, "zulip", "/api/v1/users/me", Some(&bot_auth)),
        |r: &Reply| r.status == 401,
    )
    .await;
    unauthorized(&r, "Account is deactivated");
    let bot = f
        .server
        .admin
        .store
        .user_by_id(cast.bot.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!bot.is_active);
    let audit = f
        .server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 50)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.event_type == "user_deactivated" && e.modified_user_id == Some(cast.bot.id))
    );
}
