//! Bots (spec §1.6): creation, ownership and deactivation, who may see or regenerate a bot's key,
//! and a person's bots deactivated with the person.

use std::time::Duration;

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::{Client, DbKind, Fixture, PW, Reply, both_dbs, eventually};

use super::{auth_of, basic, cast, get_as, post_as, unauthorized};

both_dbs!(
    bots_lifecycle_and_ownership,
    bot_key_permissions,
    deactivating_a_person_deactivates_their_bots,
);

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
