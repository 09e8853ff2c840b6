//! The web app's twins of the administration API (`/json/users…`, `/json/realm`): the same
//! handlers and role rules, authenticated by the session cookie — no session is a 401, an unsafe
//! request without the session's `X-CSRFToken` (or from another origin) a 403 — and HTTP Basic
//! credentials count for nothing there.

use latchkey_tests::pages::{Page, PageClient};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};
use reqwest::Method;
use serde_json::Value;

use super::{auth_of, basic, call, cast};

both_dbs!(json_twins_follow_the_api_with_the_session);

/// A signed-in visitor of the zulip realm and the session's CSRF token.
async fn session_of(f: &Fixture, email: &str) -> (PageClient, String) {
    let c = PageClient::new(f.server.addr, "zulip");
    let r = c.log_in(email, PW, None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let token = c.get("/settings/your-bots").await.csrf_token();
    (c, token)
}

fn body(p: &Page) -> Value {
    serde_json::from_str(&p.body).unwrap_or_else(|e| panic!("{e}: {}", p.body))
}

#[track_caller]
fn error(p: &Page, status: u16, code: &str, msg: &str) {
    let v = body(p);
    assert_eq!(
        (
            p.status,
            v["result"].as_str(),
            v["code"].as_str(),
            v["msg"].as_str()
        ),
        (status, Some("error"), Some(code), Some(msg)),
        "{}",
        p.body
    );
}

#[track_caller]
fn success(p: &Page) -> Value {
    let v = body(p);
    assert_eq!(
        (p.status, v["result"].as_str()),
        (200, Some("success")),
        "{}",
        p.body
    );
    v
}

async fn json_twins_follow_the_api_with_the_session(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.development.enabled = true;
        s.auth.backends = vec![auth_core::BackendKind::Email, auth_core::BackendKind::Dev];
    })
    .await
    else {
        return;
    };
    let cast = cast(&f).await;
    let hamlet = format!("/json/users/{}", f.hamlet.id.0);

    // No session: 401 with the session challenge, whatever Basic credentials come along.
    let anon = PageClient::new(f.server.addr, "zulip");
    let r = anon.json(Method::GET, "/json/users", &[], None).await;
    error(
        &r,
        401,
        "UNAUTHORIZED",
        "Not logged in: API authentication or user session required",
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("Session realm=\"zulip\"")
    );
    let c = f.client();
    let with_basic = c
        .request(Method::GET, "zulip", "/json/users")
        .header("authorization", auth_of(&f, &cast.iago).await);
    assert_eq!(latchkey_tests::Client::send(with_basic).await.status, 401);

    // An administrator's session reads the realm as the API does; GET needs no token.
    let (iago, token) = session_of(&f, "iago@zulip.com").await;
    let list = success(&iago.json(Method::GET, "/json/users", &[], None).await);
    let api = call(
        &c,
        Method::GET,
        "/api/v1/users",
        &auth_of(&f, &cast.iago).await,
        &[],
    )
    .await;
    assert_eq!(list["members"], api.body["members"]);
    let one = success(&iago.json(Method::GET, &hamlet, &[], None).await);
    assert_eq!(one["user"]["delivery_email"], "hamlet@zulip.com");

    // An unsafe request needs the session's token, from this origin.
    let rename = [("full_name", "Prince Hamlet")];
    let r = iago.json(Method::PATCH, &hamlet, &rename, None).await;
    error(&r, 403, "CSRF_FAILED", "CSRF error: CSRF token missing.");
    let r = iago
        .json(
            Method::PATCH,
            &hamlet,
            &rename,
            Some("x".repeat(32).as_str()),
        )
        .await;
    error(&r, 403, "CSRF_FAILED", "CSRF error: CSRF token incorrect.");
    let cross = f
        .client()
        .request(Method::PATCH, "zulip", &hamlet)
        .header("cookie", iago.cookies())
        .header("x-csrftoken", &token)
        .header("origin", "http://evil.example.com")
        .form(&rename);
    let r = latchkey_tests::Client::send(cross).await;
    r.assert_error(403, "CSRF_FAILED", "CSRF error: Origin checking failed.");
    success(
        &iago
            .json(Method::PATCH, &hamlet, &rename, Some(&token))
            .await,
    );
    let h = auth_of(&f, &f.hamlet).await;
    let me = call(&c, Method::GET, "/api/v1/users/me", &h, &[]).await;
    assert_eq!(me.body["full_name"], "Prince Hamlet");

    // The same role rules and refusals as the API.
    let new = [
        ("email", "ophelia@zulip.com"),
        ("password", "Nunnery-2-go!"),
        ("full_name", "Ophelia"),
    ];
    let r = iago
        .json(Method::POST, "/json/users", &new, Some(&token))
        .await;
    error(
        &r,
        400,
        "BAD_REQUEST",
        "User not authorized to create users",
    );
    let methods = [("authentication_methods", r#"{"Email":true}"#)];
    let r = iago
        .json(Method::PATCH, "/json/realm", &methods, Some(&token))
        .await;
    error(
        &r,
        400,
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization owner",
    );
    let realm = success(&iago.json(Method::GET, "/json/realm", &[], None).await);
    assert_eq!(realm["authentication_methods"]["Email"], true, "{realm}");
    let (member, member_token) = session_of(&f, "cordelia@zulip.com").await;
    let r = member.json(Method::GET, "/json/realm", &[], None).await;
    error(
        &r,
        400,
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization administrator",
    );
    let r = member
        .json(Method::DELETE, &hamlet, &[], Some(&member_token))
        .await;
    error(&r, 400, "BAD_REQUEST", "Insufficient permission");

    // Deactivation refuses the key at once; reactivation brings it back.
    success(&iago.json(Method::DELETE, &hamlet, &[], Some(&token)).await);
    call(&c, Method::GET, "/api/v1/users/me", &h, &[])
        .await
        .assert_error(401, "UNAUTHORIZED", "Account is deactivated");
    let reactivate = format!("{hamlet}/reactivate");
    success(
        &iago
            .json(Method::POST, &reactivate, &[], Some(&token))
            .await,
    );
    call(&c, Method::GET, "/api/v1/users/me", &h, &[])
        .await
        .assert_success();

    // The owner's session creates people and switches the realm's methods.
    let (owner, owner_token) = session_of(&f, &cast.owner.delivery_email).await;
    let created = success(
        &owner
            .json(Method::POST, "/json/users", &new, Some(&owner_token))
            .await,
    );
    let id = created["user_id"].as_i64().unwrap();
    let api = call(
        &c,
        Method::GET,
        &format!("/api/v1/users/{id}"),
        &basic(
            &cast.owner.delivery_email,
            &f.server.key_of(&cast.owner).await,
        ),
        &[],
    )
    .await;
    assert_eq!(api.body["user"]["full_name"], "Ophelia");
    let dev_on = realm["authentication_methods"]["Dev"]
        .as_bool()
        .expect("Dev offered");
    let flip = format!(r#"{{"Email":true,"Dev":{}}}"#, !dev_on);
    let patch = [("authentication_methods", flip.as_str())];
    let changed = success(
        &owner
            .json(Method::PATCH, "/json/realm", &patch, Some(&owner_token))
            .await,
    );
    assert_eq!(
        changed["authentication_methods"]["Dev"], !dev_on,
        "{changed}"
    );
    let now = success(&owner.json(Method::GET, "/json/realm", &[], None).await);
    assert_eq!(now["authentication_methods"]["Dev"], !dev_on, "{now}");
    f.server.stop().await;
}
