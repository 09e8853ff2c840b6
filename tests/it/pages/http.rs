//! The login and logout pages and sessions over HTTP (web.md §8 cases 1–5 and 7).

use auth_core::PasswordHash;
use auth_store::Actor;
use latchkey_tests::pages::PageClient;
use std::time::Duration;

use latchkey_tests::{DbKind, Fixture, PW, both_dbs, eventually};

both_dbs!(
    login_form_headers_and_cookie,
    login_rotates_the_session_and_logout_ends_it,
    every_credential_failure_says_the_same,
    deactivated_account_only_after_the_right_password,
    forms_without_csrf_or_from_elsewhere_are_refused,
    off_site_next_is_not_followed,
    deactivation_and_password_changes_end_sessions,
    too_many_failures_say_when_to_try_again,
);

const BAD: &str =
    "Please enter a correct email and password. Note that both fields may be case-sensitive.";

async fn login_form_headers_and_cookie(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    let p = c.get("/login/").await;
    assert_eq!(p.status, 200);
    for field in [
        r#"name="username""#,
        r#"name="password""#,
        r#"name="next""#,
        r#"name="csrfmiddlewaretoken""#,
        r#"<label for="id_username">Email</label>"#,
        r#"href="/accounts/password/reset/""#,
    ] {
        assert!(p.body.contains(field), "{field} missing:\n{}", p.body);
    }
    let csp = p.header("content-security-policy").unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(p.header("cache-control"), Some("no-store"));
    assert_eq!(p.header("x-content-type-options"), Some("nosniff"));
    assert!(p.header("referrer-policy").is_some());
    let cookies = p.set_cookies();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("latchkey_csrf=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    // The stylesheet the page names is served, cached for long.
    let css = p.body.split(r#"href="/static/"#).nth(1).unwrap();
    let css = format!("/static/{}", css.split('"').next().unwrap());
    let asset = c.get(&css).await;
    assert_eq!(asset.status, 200);
    assert!(asset.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(c.get("/static/nothing.css").await.status, 404);
    // Email off: no "Forgot your password?", and an unknown subdomain is a 404 page.
    f.set_methods(&f.zulip, false, true).await;
    let p = eventually(
        Duration::from_secs(10),
        || c.get("/login/"),
        |p| !p.body.contains("/accounts/password/reset/"),
    )
    .await;
    assert!(!p.body.contains("/accounts/password/reset/"), "{}", p.body);
    let unknown = PageClient::new(f.server.addr, "nowhere")
        .get("/login/")
        .await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown
            .body
            .contains("There is no Zulip organization hosted at this subdomain.")
    );
    assert!(
        unknown
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
}

async fn login_rotates_the_session_and_logout_ends_it(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    let r = c.log_in("hamlet@zulip.com", PW, Some("/#settings")).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some("/#settings"));
    let set = r.set_cookies().join("\n");
    assert!(
        set.contains("latchkey_session=") && set.contains("HttpOnly"),
        "{set}"
    );
    assert!(
        set.contains("SameSite=Lax") && !set.contains("Domain="),
        "{set}"
    );
    let first = c.session_cookie().expect("a session cookie");
    let home = c.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("hamlet@zulip.com") && home.body.contains("Member"));

    // A login replaces the session the browser had: a new id, the old row gone.
    let d = PageClient::new(f.server.addr, "zulip");
    let token = d.get("/login/").await.csrf_token();
    d.set_session_cookie(&first);
    assert_eq!(
        d.get("/login/").await.status,
        302,
        "a live session skips the form"
    );
    let r = d.submit_login(&token, "hamlet@zulip.com", PW, None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let second = d.session_cookie().expect("a new session cookie");
    assert_ne!(first, second);
    assert_eq!(c.get("/").await.status, 302, "the replaced session is gone");
    assert_eq!(
        f.server
            .admin
            .store
            .count_user_sessions(f.hamlet.id)
            .await
            .unwrap(),
        1
    );
    let c = d;
    let first = second;
    let fresh = PageClient::new(f.server.addr, "zulip");

    // A GET on logout shows a button and changes nothing.
    let confirm = c.get("/accounts/logout/").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(">Log out</button>"));
    assert_eq!(c.get("/").await.status, 200);
    let token = confirm.csrf_token();
    let out = c
        .post("/accounts/logout/", &[("csrfmiddlewaretoken", &token)])
        .await;
    assert_eq!(out.status, 302);
    assert_eq!(out.location(), Some("/accounts/login/"));
    // The old cookie no longer works.
    fresh.set_session_cookie(&first);
    let after = fresh.get("/").await;
    assert_eq!(after.status, 302);
    assert_eq!(after.location(), Some("/login/"));
    assert_eq!(
        f.server
            .admin
            .store
            .count_user_sessions(f.hamlet.id)
            .await
            .unwrap(),
        0
    );
}

async fn every_credential_failure_says_the_same(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    let mut bodies = Vec::new();
    for (user, pw) in [
        ("nobody@zulip.com", PW),
        ("hamlet@zulip.com", "wrong-password"),
        ("othello@lear.com", PW),
    ] {
        let r = c.log_in(user, pw, None).await;
        assert_eq!(r.status, 200, "{user}");
        assert_eq!(r.alerts(), vec![BAD.to_owned()], "{user}");
        assert!(c.session_cookie().is_none());
        bodies.push(r.body.replace(user, "USER"));
    }
    // Apart from the typed name and the token, the pages are identical.
    let strip = |b: &str| {
        b.lines()
            .filter(|l| !l.contains("csrfmiddlewaretoken"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&bodies[0]), strip(&bodies[1]));
    assert_eq!(strip(&bodies[0]), strip(&bodies[2]));
}

async fn deactivated_account_only_after_the_right_password(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let store = &f.server.admin.store;
    store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    let c = PageClient::new(f.server.addr, "zulip");
    let wrong = c.log_in("hamlet@zulip.com", "wrong-password", None).await;
    assert_eq!(wrong.alerts(), vec![BAD.to_owned()]);
    let right = c.log_in("hamlet@zulip.com", PW, None).await;
    assert_eq!(right.status, 200);
    let alerts = right.alerts().join(" ");
    assert!(alerts.contains("has been deactivated"), "{alerts}");
    assert!(c.session_cookie().is_none());
}

async fn forms_without_csrf_or_from_elsewhere_are_refused(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    let token = c.get("/login/").await.csrf_token();
    let creds = [("username", "hamlet@zulip.com"), ("password", PW)];
    // No token.
    let r = c.post("/accounts/login/", &creds).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF verification failed"), "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    // A wrong token.
    let wrong = "0".repeat(64);
    let mut fields = creds.to_vec();
    fields.push(("csrfmiddlewaretoken", &wrong));
    assert_eq!(c.post("/accounts/login/", &fields).await.status, 403);
    // The right token from another origin.
    let mut fields = creds.to_vec();
    fields.push(("csrfmiddlewaretoken", &token));
    let r = c
        .post_with("/accounts/login/", &fields, Some("https://evil.example"))
        .await;
    assert_eq!(r.status, 403);
    assert!(c.session_cookie().is_none());
    // Logged in, a logout without the session's token is refused and ends nothing.
    assert_eq!(c.log_in("hamlet@zulip.com", PW, None).await.status, 302);
    let r = c
        .post("/accounts/logout/", &[("csrfmiddlewaretoken", &token)])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(c.get("/").await.status, 200);
}

async fn off_site_next_is_not_followed(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    for next in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "\u{1}/x",
    ] {
        let c = PageClient::new(f.server.addr, "zulip");
        let r = c.log_in("hamlet@zulip.com", PW, Some(next)).await;
        assert_eq!(r.status, 302, "{next:?}");
        assert_eq!(r.location(), Some("/"), "{next:?}");
    }
}

async fn deactivation_and_password_changes_end_sessions(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let store = &f.server.admin.store;
    let login = |user: &'static str| {
        let c = PageClient::new(f.server.addr, "zulip");
        async move {
            assert_eq!(c.log_in(user, PW, None).await.status, 302);
            assert_eq!(c.get("/").await.status, 200);
            c
        }
    };
    // Deactivating the user ends the session.
    let c = login("hamlet@zulip.com").await;
    store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    assert_eq!(c.get("/").await.status, 302);
    store
        .set_user_active(f.hamlet.id, true, Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        c.get("/").await.status,
        302,
        "reactivation brings nothing back"
    );

    // A password set by an administrator (or a reset) ends every session.
    let a = login("cordelia@zulip.com").await;
    let b = login("cordelia@zulip.com").await;
    let hash: PasswordHash = f
        .server
        .admin
        .hasher
        .hash(&auth_core::Password::new(PW))
        .await
        .unwrap();
    // From a logged-in session: every other session ends, this one stays.
    let keep = auth_service_digest(&b.session_cookie().unwrap());
    store
        .set_password_keeping_session(f.cordelia.id, Some(hash.clone()), keep, Actor::cli())
        .await
        .unwrap();
    assert_eq!(a.get("/").await.status, 302);
    assert_eq!(b.get("/").await.status, 200);
    store
        .set_password(f.cordelia.id, Some(hash), Actor::cli())
        .await
        .unwrap();
    assert_eq!(b.get("/").await.status, 302);

    // Deactivating the realm ends its sessions.
    let c = login("hamlet@zulip.com").await;
    store
        .set_realm_deactivated(f.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    assert_eq!(store.count_user_sessions(f.hamlet.id).await.unwrap(), 0);
    drop(c);
}

/// The row key of a cookie value, as the service computes it.
fn auth_service_digest(cookie: &str) -> String {
    auth_service::sessions::cookie_digest(cookie).expect("a well-shaped cookie")
}

/// With `web.secure_cookies` (the default behind HTTPS) the cookies take the `__Host-` prefix
/// and `Secure`, and an unsafe request needs an `Origin` or `Referer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_take_the_host_prefix() {
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| s.web.secure_cookies = Some(true)).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    let p = c.get("/login/").await;
    let cookies = p.set_cookies();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-latchkey_csrf=")
                && c.contains("Secure")
                && c.contains("Path=/")
                && !c.contains("Domain")),
        "{cookies:?}"
    );
    let r = c
        .post_with(
            "/accounts/login/",
            &[("username", "hamlet@zulip.com"), ("password", PW)],
            None,
        )
        .await;
    assert_eq!(r.status, 403);
}

/// Over the `authenticate_by_username` limit the form says how long to wait, and the right
/// password is refused too (web.md §8 case 6): the same limit as `fetch_api_key`.
async fn too_many_failures_say_when_to_try_again(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_by_username = "1800:2".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    for _ in 0..2 {
        let r = c.log_in("hamlet@zulip.com", "wrong-password", None).await;
        assert_eq!(r.alerts(), vec![BAD.to_owned()]);
    }
    let r = c.log_in("hamlet@zulip.com", PW, None).await;
    assert_eq!(r.status, 200);
    let alerts = r.alerts().join(" ");
    assert!(
        alerts.contains("You're making too many attempts to sign in. Try again in "),
        "{alerts}"
    );
    assert!(c.session_cookie().is_none());
    // The API shares the limit.
    let api = f
        .client()
        .post_form(
            "zulip",
            "/api/v1/fetch_api_key",
            &[("username", "hamlet@zulip.com"), ("password", PW)],
        )
        .await;
    assert_eq!(api.status, 429, "{api:?}");
}

/// A session ends at its absolute lifetime however busy it is; "Keep me logged in" gives a
/// persistent cookie of `persistent_lifetime_secs`, without it the cookie has no age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_remember_me_persists() {
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| {
        s.web.session_lifetime_secs = Duration::from_secs(1);
        s.web.session_inactivity_secs = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    let r = c.log_in("hamlet@zulip.com", PW, None).await;
    let set = r.set_cookies().join("\n");
    assert!(
        set.contains("latchkey_session=") && !set.contains("Max-Age=1"),
        "{set}"
    );
    let gone = eventually(Duration::from_secs(10), || c.get("/"), |p| p.status == 302).await;
    assert_eq!(gone.location(), Some("/login/"));
    assert_eq!(
        f.server
            .admin
            .store
            .count_user_sessions(f.hamlet.id)
            .await
            .unwrap(),
        0
    );

    let remember = PageClient::new(f.server.addr, "zulip");
    let form = remember.get("/login/").await.csrf_token();
    let r = remember
        .post(
            "/accounts/login/",
            &[
                ("csrfmiddlewaretoken", &form),
                ("username", "cordelia@zulip.com"),
                ("password", PW),
                ("remember", "1"),
            ],
        )
        .await;
    let set = r.set_cookies().join("\n");
    assert!(set.contains(&format!("Max-Age={}", 14 * 86400)), "{set}");
}
