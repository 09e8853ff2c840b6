//! Deactivating and reactivating people (`DELETE /users/{id}`, `POST /users/{id}/reactivate`),
//! creating them (`POST /users`) and switching the realm's login methods (`PATCH /realm`), on
//! both databases.

use std::time::Duration;

use auth_core::BackendKind;
use reqwest::Method;

use latchkey_tests::pages::PageClient;
use latchkey_tests::{DbKind, Fixture, PW, both_dbs, eventually};

use super::{audited, auth_of, basic, call, cast, must_be, user_path};

both_dbs!(
    deactivation_ends_keys_sessions_and_bots,
    owners_create_people,
    owners_switch_login_methods,
);

const DEACTIVATED: &str = "Account is deactivated";

async fn deactivation_ends_keys_sessions_and_bots(kind: DbKind) {
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
    let bot = auth_of(&f, &cast.bot).await;
    let delete = |auth: &str, who: &auth_core::User| {
        let (c, auth, path) = (c.clone(), auth.to_owned(), user_path(who, ""));
        async move { call(&c, Method::DELETE, &path, &auth, &[]).await }
    };

    // Who may not.
    delete(&h, &f.cordelia)
        .await
        .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    must_be(&delete(&i, &cast.owner).await, "owner");
    delete(&i, &cast.bot)
        .await
        .assert_error(400, "BAD_REQUEST", "No such user");
    delete(&o, &cast.owner).await.assert_error(
        400,
        "BAD_REQUEST",
        "Cannot deactivate the only organization owner",
    );
    delete(&i, &f.othello)
        .await
        .assert_error(400, "BAD_REQUEST", "No such user");

    // Hamlet's key and bot work, and he has a web session...
    call(&c, Method::GET, "/api/v1/users/me", &h, &[])
        .await
        .assert_success();
    call(&c, Method::GET, "/api/v1/users/me", &bot, &[])
        .await
        .assert_success();
    let pages = PageClient::new(f.server.addr, "zulip");
    assert_eq!(pages.log_in("hamlet@zulip.com", PW, None).await.status, 302);
    assert_eq!(pages.get("/settings/account").await.status, 200);
    // ...until an administrator deactivates him: all end at once.
    delete(&i, &f.hamlet).await.assert_success();
    for auth in [&h, &bot] {
        let r = call(&c, Method::GET, "/api/v1/users/me", auth, &[]).await;
        r.assert_error(401, "UNAUTHORIZED", DEACTIVATED);
    }
    let sessions = f.server.admin.store.count_user_sessions(f.hamlet.id).await;
    assert_eq!(sessions.unwrap(), 0, "his web sessions ended");
    let page = pages.get("/settings/account").await;
    assert_eq!(page.status, 302, "{}", page.body);
    delete(&i, &f.hamlet)
        .await
        .assert_error(400, "BAD_REQUEST", "User is deactivated");
    let gone = audited(&f, "user_deactivated").await;
    assert!(
        gone.contains(&(Some(cast.iago.id.0), Some(f.hamlet.id.0))),
        "{gone:?}"
    );
    assert!(
        gone.contains(&(Some(cast.iago.id.0), Some(cast.bot.id.0))),
        "{gone:?}"
    );

    // Reactivation: administrators (members get Zulip's refusal); the bot stays deactivated.
    let reactivate = user_path(&f.hamlet, "/reactivate");
    let cordelia = auth_of(&f, &f.cordelia).await;
    call(&c, Method::POST, &reactivate, &cordelia, &[])
        .await
        .assert_error(400, "BAD_REQUEST", "Insufficient permission");
    call(&c, Method::POST, &reactivate, &i, &[])
        .await
        .assert_success();
    call(&c, Method::GET, "/api/v1/users/me", &h, &[])
        .await
        .assert_success();
    call(&c, Method::GET, "/api/v1/users/me", &bot, &[])
        .await
        .assert_error(401, "UNAUTHORIZED", DEACTIVATED);
    // An owner deactivates another owner (not the last one).
    call(
        &c,
        Method::PATCH,
        &user_path(&cast.iago, ""),
        &o,
        &[("role", "100")],
    )
    .await
    .assert_success();
    delete(&o, &cast.iago).await.assert_success();
    f.server.stop().await;
}

async fn owners_create_people(kind: DbKind) {
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
    let new = [
        ("email", "ophelia@zulip.com"),
        ("password", "Nunnery-2-go!"),
        ("full_name", "Ophelia"),
    ];
    let create = |auth: &str, form: Vec<(&'static str, &'static str)>| {
        let (c, auth) = (c.clone(), auth.to_owned());
        async move { call(&c, Method::POST, "/api/v1/users", &auth, &form).await }
    };
    // Zulip's `require_realm_admin`, before the parameters are read; then `can_create_users`.
    must_be(&create(&h, vec![]).await, "administrator");
    create(&i, new.to_vec()).await.assert_error(
        400,
        "BAD_REQUEST",
        "User not authorized to create users",
    );
    let r = create(&o, vec![("email", "ophelia@zulip.com")]).await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'password' argument",
    );
    let with = |k: &'static str, v: &'static str| {
        new.iter()
            .map(|(a, b)| (*a, if *a == k { v } else { *b }))
            .collect::<Vec<_>>()
    };
    create(&o, with("email", "not-an-address"))
        .await
        .assert_error(400, "BAD_REQUEST", "Bad name or username");
    create(&o, with("email", "Hamlet@Zulip.com"))
        .await
        .assert_error(
            400,
            "BAD_REQUEST",
            "Email 'Hamlet@Zulip.com' already in use",
        );
    create(&o, with("password", "123")).await.assert_error(
        400,
        "BAD_REQUEST",
        "The password is too weak.",
    );
    create(&o, with("full_name", "O"))
        .await
        .assert_error(400, "BAD_REQUEST", "Name too short!");

    let r = create(&o, new.to_vec()).await;
    r.assert_success();
    let id = r.body["user_id"].as_i64().unwrap();
    // She logs in with her password, as a member.
    let login = c
        .fetch_api_key("zulip", "ophelia@zulip.com", "Nunnery-2-go!")
        .await;
    login.assert_success();
    assert_eq!(login.body["user_id"], id);
    let mine = basic("ophelia@zulip.com", login.body["api_key"].as_str().unwrap());
    let me = call(&c, Method::GET, "/api/v1/users/me", &mine, &[]).await;
    assert_eq!(
        (me.body["role"].clone(), me.body["full_name"].clone()),
        (400.into(), "Ophelia".into())
    );
    let created = audited(&f, "user_created").await;
    assert!(
        created.contains(&(Some(cast.owner.id.0), Some(id))),
        "{created:?}"
    );
    // A realm without the Email method takes no passwords (once the server has heard of it).
    f.set_methods(&f.zulip, false, true).await;
    let settings = eventually(
        Duration::from_secs(5),
        || c.get("zulip", "/api/v1/server_settings"),
        |r| r.body["email_auth_enabled"] == false,
    )
    .await;
    assert_eq!(
        settings.body["email_auth_enabled"], false,
        "{}",
        settings.raw
    );
    let r = create(&o, with("email", "laertes@zulip.com")).await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert!(
        r.body["msg"]
            .as_str()
            .unwrap()
            .contains("Email authentication is disabled"),
        "{}",
        r.raw
    );
    f.server.stop().await;
}

async fn owners_switch_login_methods(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.development.enabled = true;
        s.auth.backends = vec![BackendKind::Email, BackendKind::Dev];
    })
    .await
    else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let (h, i, o) = (
        auth_of(&f, &f.hamlet).await,
        auth_of(&f, &cast.iago).await,
        auth_of(&f, &cast.owner).await,
    );
    let patch = |auth: &str, methods: &'static str| {
        let (c, auth) = (c.clone(), auth.to_owned());
        async move {
            call(
                &c,
                Method::PATCH,
                "/api/v1/realm",
                &auth,
                &[("authentication_methods", methods)],
            )
            .await
        }
    };
    must_be(&patch(&h, r#"{"Dev":false}"#).await, "administrator");
    must_be(&patch(&i, r#"{"Dev":false}"#).await, "owner");
    for (bad, msg) in [
        (
            r#"{"Dev":false}"#,
            "At least one authentication method must be enabled.",
        ),
        ("{}", "At least one authentication method must be enabled."),
        (
            r#"{"GitHub":true}"#,
            "Invalid authentication method: GitHub. Valid methods are: ['Dev', 'Email']",
        ),
        (
            r#"{"LDAP":true}"#,
            "Invalid authentication method: LDAP. Valid methods are: ['Dev', 'Email']",
        ),
        ("[1]", "authentication_methods is not a dict"),
        (
            r#"{"Email":1}"#,
            "authentication_methods['Email'] is not a boolean",
        ),
        (
            "Email",
            "Argument \"authentication_methods\" is not valid JSON.",
        ),
    ] {
        patch(&o, bad).await.assert_error(400, "BAD_REQUEST", msg);
    }
    // Nothing to change: nothing said.
    let r = patch(&o, r#"{"Email":true}"#).await;
    r.assert_success();
    assert!(r.body.get("authentication_methods").is_none(), "{}", r.raw);
    // Dev off: the realm's server_settings says so, and the change is audited.
    let r = patch(&o, r#"{"Email":true,"Dev":false}"#).await;
    r.assert_success();
    assert_eq!(
        r.body["authentication_methods"],
        serde_json::json!({"Dev": false, "Email": true})
    );
    let settings = c.get("zulip", "/api/v1/server_settings").await;
    assert_eq!(
        settings.body["authentication_methods"]["dev"], false,
        "{}",
        settings.raw
    );
    assert_eq!(settings.body["authentication_methods"]["email"], true);
    let changed = audited(&f, "realm_authentication_methods_changed").await;
    assert!(
        changed.contains(&(Some(cast.owner.id.0), None)),
        "{changed:?}"
    );
    // Email off: passwords stop working at once (the server cached the realm before).
    c.fetch_api_key("zulip", "cordelia@zulip.com", PW)
        .await
        .assert_success();
    patch(&o, r#"{"Email":false,"Dev":true}"#)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "cordelia@zulip.com", PW)
        .await
        .assert_error(
            401,
            "PASSWORD_AUTH_DISABLED",
            "Password authentication is disabled in this organization",
        );
    // Other settings are Zulip's, not Latchkey's: reported back as ignored.
    let r = call(
        &c,
        Method::PATCH,
        "/api/v1/realm",
        &o,
        &[("name", "Elsinore")],
    )
    .await;
    r.assert_success();
    assert_eq!(
        r.body["ignored_parameters_unsupported"],
        serde_json::json!(["name"])
    );
    f.server.stop().await;
}
