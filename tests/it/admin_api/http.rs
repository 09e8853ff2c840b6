//! Reading accounts (`GET /users`, `GET /users/{id}`) and changing names and roles
//! (`PATCH /users/{id}`) over HTTP, on both databases.

use reqwest::Method;

use latchkey_tests::{DbKind, Fixture, both_dbs};

use super::{audited, auth_of, call, cast, must_be, user_path};

both_dbs!(
    members_list_and_read_the_realm,
    names_and_roles_follow_zulips_rules,
    a_demoted_administrator_is_refused_at_once,
);

async fn members_list_and_read_the_realm(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let h = auth_of(&f, &f.hamlet).await;
    let i = auth_of(&f, &cast.iago).await;

    // A member lists the realm (only it): every account, with addresses only where Zulip's
    // "administrators only" visibility lets a member see them.
    let r = call(&c, Method::GET, "/api/v1/users", &h, &[]).await;
    r.assert_success();
    let members = r.body["members"].as_array().unwrap();
    assert_eq!(members.len(), 6, "{}", r.raw);
    assert!(
        !r.raw.contains("othello"),
        "another realm's account: {}",
        r.raw
    );
    let of = |id: i64| {
        members
            .iter()
            .find(|m| m["user_id"] == id)
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    let me = of(f.hamlet.id.0);
    assert_eq!(me["email"], "hamlet@zulip.com");
    assert_eq!(me["delivery_email"], "hamlet@zulip.com");
    assert_eq!(me["role"], 400);
    assert_eq!(
        (me["is_admin"].clone(), me["is_owner"].clone()),
        (false.into(), false.into())
    );
    assert!(me.get("bot_type").is_none() && me.get("bot_owner_id").is_none());
    assert!(
        me["avatar_url"].is_null(),
        "client_gravatar defaults to true"
    );
    let cordelia = of(f.cordelia.id.0);
    assert_eq!(
        cordelia["email"],
        format!("user{}@zulip.example.test", f.cordelia.id.0)
    );
    assert!(cordelia["delivery_email"].is_null(), "{cordelia}");
    let owner = of(cast.owner.id.0);
    assert_eq!(
        (owner["role"].clone(), owner["is_owner"].clone()),
        (100.into(), true.into())
    );
    assert_eq!(owner["is_admin"], true);
    assert_eq!(of(cast.guest.id.0)["is_guest"], true);
    let bot = of(cast.bot.id.0);
    assert_eq!(bot["email"], "helper-bot@zulip.example.test");
    assert_eq!(bot["delivery_email"], "helper-bot@zulip.example.test");
    assert_eq!(
        (bot["bot_type"].clone(), bot["is_bot"].clone()),
        (1.into(), true.into())
    );
    assert_eq!(bot["bot_owner_id"], f.hamlet.id.0);
    for field in [
        "date_joined",
        "full_name",
        "timezone",
        "avatar_version",
        "is_active",
    ] {
        assert!(bot.get(field).is_some(), "{field}: {bot}");
    }

    // An administrator sees every address; the Gravatar and profile-field options.
    let r = call(
        &c,
        Method::GET,
        "/api/v1/users",
        &i,
        &[
            ("client_gravatar", "false"),
            ("include_custom_profile_fields", "true"),
        ],
    )
    .await;
    r.assert_success();
    let cordelia = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == f.cordelia.id.0)
        .unwrap()
        .clone();
    assert_eq!(cordelia["email"], "cordelia@zulip.com");
    assert_eq!(cordelia["delivery_email"], "cordelia@zulip.com");
    assert!(
        cordelia["avatar_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(cordelia["profile_data"], serde_json::json!({}));
    let bad = call(
        &c,
        Method::GET,
        "/api/v1/users",
        &i,
        &[("client_gravatar", "yes")],
    )
    .await;
    bad.assert_error(
        400,
        "BAD_REQUEST",
        "Argument \"client_gravatar\" is not valid JSON.",
    );

    // One account: any of the realm's, deactivated ones too; another realm's is no one's.
    let r = call(&c, Method::GET, &user_path(&cast.bot, ""), &h, &[]).await;
    r.assert_success();
    assert_eq!(r.body["user"]["user_id"], cast.bot.id.0);
    for missing in [
        user_path(&f.othello, ""),
        "/api/v1/users/999999".to_owned(),
        "/api/v1/users/not-a-number".to_owned(),
    ] {
        call(&c, Method::GET, &missing, &h, &[]).await.assert_error(
            400,
            "BAD_REQUEST",
            "No such user",
        );
    }
    call(&c, Method::DELETE, &user_path(&f.cordelia, ""), &i, &[])
        .await
        .assert_success();
    let r = call(&c, Method::GET, &user_path(&f.cordelia, ""), &h, &[]).await;
    r.assert_success();
    assert_eq!(r.body["user"]["is_active"], false);
    // A guest and a bot may list too (Zulip's `GET /users` has no role check).
    for who in [&cast.guest, &cast.bot] {
        let auth = auth_of(&f, who).await;
        call(&c, Method::GET, "/api/v1/users", &auth, &[])
            .await
            .assert_success();
    }
    // Unknown verbs get Zulip's 405.
    let r = call(&c, Method::PUT, "/api/v1/users", &h, &[]).await;
    assert_eq!(r.status, 405, "{}", r.raw);
    assert_eq!(
        r.body["allowed_methods"],
        serde_json::json!(["GET", "HEAD", "POST"])
    );
    f.server.stop().await;
}

async fn names_and_roles_follow_zulips_rules(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let (h, i, o) = (
        auth_of(&f, &f.hamlet).await,
        auth_of(&f, &cast.iago).await,
        auth_of(&f, &cast.owner).await,
    );
    let patch = |auth: &str, who: &auth_core::User, form: &[(&str, &str)]| {
        let (c, auth, path) = (c.clone(), auth.to_owned(), user_path(who, ""));
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        async move {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            call(&c, Method::PATCH, &path, &auth, &form).await
        }
    };

    // A member administers no one but their bots, and gives no role even to those.
    patch(&h, &f.cordelia, &[("role", "200")])
        .await
        .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    patch(&h, &f.cordelia, &[("full_name", "Cordelia Two")])
        .await
        .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    must_be(
        &patch(&h, &cast.bot, &[("role", "200")]).await,
        "administrator",
    );
    patch(&h, &cast.bot, &[("full_name", "Renamed Bot")])
        .await
        .assert_success();
    // An administrator changes roles, but not to or from owner.
    patch(&i, &f.cordelia, &[("role", "200")])
        .await
        .assert_success();
    must_be(&patch(&i, &f.hamlet, &[("role", "100")]).await, "owner");
    must_be(&patch(&i, &cast.owner, &[("role", "400")]).await, "owner");
    // An owner does; the only owner keeps the role.
    let r = patch(&o, &cast.owner, &[("role", "400")]).await;
    r.assert_error(
        400,
        "BAD_REQUEST",
        "The owner permission cannot be removed from the only organization owner.",
    );
    patch(&o, &cast.iago, &[("role", "100")])
        .await
        .assert_success();
    patch(&o, &cast.owner, &[("role", "200")])
        .await
        .assert_success();
    // Values as Zulip checks them.
    patch(&o, &f.hamlet, &[("role", "250")])
        .await
        .assert_error(400, "BAD_REQUEST", "Invalid role");
    patch(&o, &f.hamlet, &[("role", "admin")])
        .await
        .assert_error(400, "BAD_REQUEST", "Argument \"role\" is not valid JSON.");
    patch(&i, &f.hamlet, &[("full_name", "Ham*let")])
        .await
        .assert_error(400, "BAD_REQUEST", "Invalid characters in name!");
    let r = patch(
        &i,
        &f.hamlet,
        &[("full_name", "Prince Hamlet"), ("profile_data", "[]")],
    )
    .await;
    r.assert_success();
    assert_eq!(
        r.body["ignored_parameters_unsupported"],
        serde_json::json!(["profile_data"])
    );

    let user = |u: &auth_core::User| {
        let (c, i, path) = (c.clone(), i.clone(), user_path(u, ""));
        async move { call(&c, Method::GET, &path, &i, &[]).await.body["user"].clone() }
    };
    assert_eq!(user(&f.hamlet).await["full_name"], "Prince Hamlet");
    assert_eq!(user(&cast.bot).await["full_name"], "Renamed Bot");
    assert_eq!(user(&f.cordelia).await["role"], 200);
    assert_eq!(user(&cast.iago).await["role"], 100);
    assert_eq!(user(&cast.owner).await["role"], 200);
    // Each change is audited with who made it.
    let roles = audited(&f, "user_role_changed").await;
    assert!(
        roles.contains(&(Some(cast.iago.id.0), Some(f.cordelia.id.0))),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(Some(cast.owner.id.0), Some(cast.owner.id.0))),
        "{roles:?}"
    );
    let names = audited(&f, "user_full_name_changed").await;
    assert!(
        names.contains(&(Some(f.hamlet.id.0), Some(cast.bot.id.0))),
        "{names:?}"
    );
    f.server.stop().await;
}

/// A demoted administrator's next call sees the new role (the key's cached owner is dropped).
async fn a_demoted_administrator_is_refused_at_once(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let (i, o) = (
        auth_of(&f, &cast.iago).await,
        auth_of(&f, &cast.owner).await,
    );
    let me = call(&c, Method::GET, "/api/v1/users/me", &i, &[]).await;
    assert_eq!(me.body["is_admin"], true, "{}", me.raw);
    call(
        &c,
        Method::PATCH,
        &user_path(&f.hamlet, ""),
        &i,
        &[("role", "300")],
    )
    .await
    .assert_success();
    call(
        &c,
        Method::PATCH,
        &user_path(&cast.iago, ""),
        &o,
        &[("role", "400")],
    )
    .await
    .assert_success();
    let me = call(&c, Method::GET, "/api/v1/users/me", &i, &[]).await;
    assert_eq!(
        (me.body["role"].clone(), me.body["is_admin"].clone()),
        (400.into(), false.into())
    );
    call(
        &c,
        Method::PATCH,
        &user_path(&f.hamlet, ""),
        &i,
        &[("role", "400")],
    )
    .await
    .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    let r = call(&c, Method::GET, &user_path(&f.cordelia, ""), &i, &[]).await;
    assert!(r.body["user"]["delivery_email"].is_null(), "{}", r.raw);
    f.server.stop().await;
}
