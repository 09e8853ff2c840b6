//! Settings → Account & privacy over HTTP (web.md §2, §8 case 8; zulip-auth.md §1.4): the
//! key only after the password is re-entered, `POST /json/fetch_api_key`, the zuliprc bytes,
//! a new key, "Change your password", and the checks every settings form has (session, CSRF,
//! origin, the login rate limit).

use latchkey_tests::pages::{Page, PageClient};
use latchkey_tests::{Client, DbKind, Fixture, PW, Reply, both_dbs, ldap_world, slapd};
use serde_json::json;

both_dbs!(
    settings_need_a_session,
    key_only_after_reauthentication_and_zuliprc_bytes,
    json_fetch_api_key_as_zulip_answers,
    reauthentication_counts_in_the_login_limit,
    new_key_refuses_the_old_one_at_once,
    password_change_keeps_only_this_session,
    directory_people_see_no_password_form,
);

/// `GET /api/v1/users/me` with HTTP Basic: the status.
pub async fn me_status(f: &Fixture, email: &str, key: &str) -> u16 {
    let c = f.client();
    let rb = c
        .request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
        .basic_auth(email, Some(key));
    Client::send(rb).await.status
}

/// The realm URL the server writes into zuliprc (`realm_uri` of server_settings).
pub async fn realm_uri(f: &Fixture) -> String {
    let s = f.client().get("zulip", "/api/v1/server_settings").await;
    s.body["realm_uri"].as_str().unwrap().to_owned()
}

/// A signed-in visitor of the zulip realm.
pub async fn signed_in(f: &Fixture, email: &str) -> PageClient {
    let c = PageClient::new(f.server.addr, "zulip");
    let r = c.log_in(email, PW, None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    c
}

/// Re-enters `password` on the re-authentication form; the answer to the POST.
pub async fn reauth(c: &PageClient, password: &str, next: &str) -> Page {
    let form = c.get(&format!("/settings/reauth?next={next}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.csrf_token();
    c.post(
        "/settings/reauth",
        &[
            ("csrfmiddlewaretoken", &token),
            ("password", password),
            ("next", next),
        ],
    )
    .await
}

/// `POST /json/fetch_api_key` from a page client (its cookies), with the CSRF field.
async fn json_fetch(c: &PageClient, token: Option<&str>, password: &str) -> Reply {
    let mut form = vec![("password", password)];
    if let Some(t) = token {
        form.push(("csrfmiddlewaretoken", t));
    }
    let p = c.post("/json/fetch_api_key", &form).await;
    reply(p)
}

fn reply(p: Page) -> Reply {
    Reply {
        status: p.status,
        body: serde_json::from_str(&p.body).unwrap_or(serde_json::Value::Null),
        raw: p.body,
        headers: p.headers,
    }
}

async fn settings_need_a_session(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    for (path, to) in [
        ("/settings/account", "/login/?next=%2Fsettings%2Faccount"),
        (
            "/settings/your-bots",
            "/login/?next=%2Fsettings%2Fyour-bots",
        ),
        ("/", "/login/"),
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.location(), Some(to), "{path}");
    }
    // The login comes back to the page.
    let r = c
        .log_in("hamlet@zulip.com", PW, Some("/settings/account"))
        .await;
    assert_eq!(r.location(), Some("/settings/account"));
    let page = c.get("/settings/account").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for text in [
        "Account &amp; privacy",
        "Your bots",
        "hamlet@zulip.com",
        "Member",
        "API key",
        "Manage your API key",
        "Change your password",
    ] {
        assert!(page.body.contains(text), "{text} missing:\n{}", page.body);
    }
    assert!(!page.body.contains("style="), "no inline style");
    assert!(!page.body.contains("<script>"), "no inline script");
    // Every settings POST without the session's token is refused, and one from elsewhere.
    let token = page.csrf_token();
    for path in [
        "/settings/reauth",
        "/settings/account/zuliprc",
        "/settings/account/regenerate",
        "/settings/account/password",
        "/settings/your-bots",
    ] {
        let r = c.post(path, &[("password", PW)]).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        let evil = c
            .post_with(
                path,
                &[("csrfmiddlewaretoken", &token), ("password", PW)],
                Some("https://evil.example"),
            )
            .await;
        assert_eq!(evil.status, 403, "{path}");
    }
    assert_eq!(
        c.get("/").await.status,
        200,
        "`/` shows the account settings"
    );
}

async fn key_only_after_reauthentication_and_zuliprc_bytes(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let key = f.server.key_of(&f.hamlet).await;
    let c = signed_in(&f, "hamlet@zulip.com").await;
    let page = c.get("/settings/account").await;
    assert!(
        !page.body.contains(&key),
        "the key before re-authentication"
    );
    assert!(!c.get("/").await.body.contains(&key));
    let token = page.csrf_token();
    // The download needs the password first.
    let early = c
        .post(
            "/settings/account/zuliprc",
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(early.status, 302);
    assert!(!early.body.contains(&key));
    assert_eq!(
        early.location(),
        Some("/settings/reauth?next=%2Fsettings%2Faccount")
    );
    // The form: Zulip's words, the reset link for an Email account.
    let form = c.get("/settings/reauth?next=/settings/account").await;
    for text in [
        "Please re-enter your password to confirm your identity.",
        r#"<label for="get_api_key_password">Your password</label>"#,
        r#"href="/accounts/password/reset/""#,
        "Get API key",
    ] {
        assert!(form.body.contains(text), "{text} missing:\n{}", form.body);
    }
    let wrong = reauth(&c, "not-the-password", "/settings/account").await;
    assert_eq!(wrong.status, 200);
    assert_eq!(wrong.alerts(), vec!["Password is incorrect.".to_owned()]);
    assert!(!c.get("/settings/account").await.body.contains(&key));
    let right = reauth(&c, PW, "/settings/account#api-key").await;
    assert_eq!(right.status, 302, "{}", right.body);
    assert_eq!(right.location(), Some("/settings/account#api-key"));
    let shown = c.get("/settings/account").await;
    assert!(shown.body.contains("Your API key:"), "{}", shown.body);
    assert!(shown.body.contains(&key));
    assert!(shown.body.contains("Download zuliprc"));
    assert!(shown.body.contains("Generate new API key"));
    // An off-site next goes to the account page instead.
    let off = reauth(&c, PW, "https://evil.example/").await;
    assert_eq!(off.location(), Some("/settings/account"));

    let file = c
        .post(
            "/settings/account/zuliprc",
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(file.status, 200, "{}", file.body);
    assert_eq!(
        file.header("content-disposition"),
        Some("attachment; filename=\"zuliprc\"")
    );
    assert_eq!(file.header("cache-control"), Some("no-store"));
    let site = realm_uri(&f).await;
    assert!(!site.ends_with('/'), "{site}");
    assert_eq!(
        file.body,
        format!("[api]\nemail=hamlet@zulip.com\nkey={key}\nsite={site}\n")
    );
}

async fn json_fetch_api_key_as_zulip_answers(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let key = f.server.key_of(&f.hamlet).await;
    // No session: 401 with the Session challenge.
    let anon = PageClient::new(f.server.addr, "zulip");
    let r = json_fetch(&anon, None, PW).await;
    r.assert_error(
        401,
        "UNAUTHORIZED",
        "Not logged in: API authentication or user session required",
    );
    assert_eq!(
        r.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Session realm=\"zulip\"")
    );
    let c = signed_in(&f, "hamlet@zulip.com").await;
    let token = c.get("/settings/account").await.csrf_token();
    // No token, a wrong one: 403 CSRF_FAILED in the envelope.
    let r = json_fetch(&c, None, PW).await;
    r.assert_error(403, "CSRF_FAILED", "CSRF error: CSRF token missing.");
    let r = json_fetch(&c, Some(&"0".repeat(64)), PW).await;
    r.assert_error(403, "CSRF_FAILED", "CSRF error: CSRF token incorrect.");
    let wrong = json_fetch(&c, Some(&token), "not-the-password").await;
    wrong.assert_error(400, "BAD_REQUEST", "Password is incorrect.");
    let ok = json_fetch(&c, Some(&token), PW).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(
        ok.body,
        json!({"api_key": key, "email": "hamlet@zulip.com", "msg": "", "result": "success"})
    );
    // It re-authenticated the session: the page shows the key now.
    assert!(c.get("/settings/account").await.body.contains(&key));
    // Cordelia's session gets Cordelia's key, whatever password Hamlet knows.
    let d = signed_in(&f, "cordelia@zulip.com").await;
    let t = d.get("/settings/account").await.csrf_token();
    let mine = json_fetch(&d, Some(&t), PW).await;
    assert_eq!(mine.body["email"], "cordelia@zulip.com");
    assert_eq!(
        mine.body["api_key"],
        f.server.key_of(&f.cordelia).await.as_str()
    );
}

async fn reauthentication_counts_in_the_login_limit(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_by_username = "1800:3".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let c = signed_in(&f, "hamlet@zulip.com").await;
    for _ in 0..2 {
        let r = reauth(&c, "not-the-password", "/settings/account").await;
        assert_eq!(r.alerts(), vec!["Password is incorrect.".to_owned()]);
    }
    let token = c.get("/settings/account").await.csrf_token();
    json_fetch(&c, Some(&token), "still-wrong")
        .await
        .assert_error(400, "BAD_REQUEST", "Password is incorrect.");
    // Over the limit: the right password is refused too, on the page, the JSON route and the
    // API.
    let r = reauth(&c, PW, "/settings/account").await;
    assert_eq!(r.status, 200);
    let alerts = r.alerts().join(" ");
    assert!(
        alerts.contains("You're making too many attempts to sign in. Try again in "),
        "{alerts}"
    );
    assert_eq!(json_fetch(&c, Some(&token), PW).await.status, 429);
    let api = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    assert_eq!(api.status, 429, "{api:?}");
}

async fn new_key_refuses_the_old_one_at_once(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let old = f.server.key_of(&f.hamlet).await;
    assert_eq!(me_status(&f, "hamlet@zulip.com", &old).await, 200);
    let c = signed_in(&f, "hamlet@zulip.com").await;
    // Without re-authentication the confirmation sends to the password form.
    let r = c.get("/settings/account/regenerate").await;
    assert_eq!(r.status, 302);
    assert!(r.location().unwrap().starts_with("/settings/reauth?next="));
    assert_eq!(reauth(&c, PW, "/settings/account").await.status, 302);
    let confirm = c.get("/settings/account/regenerate").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(">Generate new API key</button>"));
    let token = confirm.csrf_token();
    let r = c
        .post(
            "/settings/account/regenerate",
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some("/settings/account#api-key"));
    let new = f.server.key_of(&f.hamlet).await;
    assert_ne!(new, old);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &old).await, 401);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &new).await, 200);
    let page = c.get("/settings/account").await;
    assert!(page.body.contains(&new) && !page.body.contains(&old));
    // A new key does not end web sessions.
    assert_eq!(c.get("/").await.status, 200);
}

async fn password_change_keeps_only_this_session(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let a = signed_in(&f, "hamlet@zulip.com").await;
    let b = signed_in(&f, "hamlet@zulip.com").await;
    let token = a.get("/settings/account").await.csrf_token();
    let change = |old: &'static str, new: &'static str, again: &'static str| {
        let a = &a;
        let token = token.clone();
        async move {
            a.post(
                "/settings/account/password",
                &[
                    ("csrfmiddlewaretoken", token.as_str()),
                    ("old_password", old),
                    ("new_password", new),
                    ("new_password_confirm", again),
                ],
            )
            .await
        }
    };
    const NEW: &str = "Tw0-new-Horses-jump";
    let wrong = change("not-the-password", NEW, NEW).await;
    assert_eq!(wrong.status, 200);
    assert_eq!(wrong.alerts(), vec!["Wrong password!".to_owned()]);
    let mismatch = change(PW, NEW, "something-else").await;
    assert_eq!(
        mismatch.alerts(),
        vec!["The two password fields didn’t match.".to_owned()]
    );
    let weak = change(PW, "abc", "abc").await;
    assert_eq!(weak.alerts(), vec!["New password is too weak!".to_owned()]);
    // Nothing changed so far.
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
    let ok = change(PW, NEW, NEW).await;
    assert_eq!(ok.status, 302, "{}", ok.body);
    assert_eq!(ok.location(), Some("/settings/account?password_changed"));
    let after = a.get("/settings/account?password_changed").await;
    assert_eq!(after.status, 200, "this session stays");
    assert!(
        after
            .alerts()
            .contains(&"Your password has been changed.".to_owned())
    );
    assert_eq!(b.get("/").await.status, 302, "the other session ended");
    assert_eq!(
        f.server
            .admin
            .store
            .count_user_sessions(f.hamlet.id)
            .await
            .unwrap(),
        1
    );
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_bad_credentials();
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", NEW)
        .await
        .assert_success();
}

/// A directory person (LDAP, private slapd): the page says who manages the password and has
/// no form to change it, the re-authentication offers no reset link and takes the directory
/// password.
async fn directory_people_see_no_password_form(kind: DbKind) {
    let Some(w) = ldap_world::world(kind, |_, _| {}).await else {
        return;
    };
    let c = PageClient::new(w.server.addr, "zulip");
    let r = c.log_in("hamlet", slapd::HAMLET.password, None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let page = c.get("/settings/account").await;
    assert!(
        page.body
            .contains("Your password is managed by your organization's directory."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Old password"));
    let form = c.get("/settings/reauth?next=/settings/account").await;
    assert!(form.body.contains("Your password"));
    assert!(!form.body.contains("/accounts/password/reset/"));
    let token = form.csrf_token();
    let r = c
        .post(
            "/settings/account/password",
            &[
                ("csrfmiddlewaretoken", &token),
                ("old_password", slapd::HAMLET.password),
                ("new_password", "Tw0-new-Horses-jump"),
                ("new_password_confirm", "Tw0-new-Horses-jump"),
            ],
        )
        .await;
    assert!(
        r.body.contains("managed by your organization"),
        "{}",
        r.body
    );
    let wrong = reauth(&c, "not-the-password", "/settings/account").await;
    assert_eq!(wrong.alerts(), vec!["Password is incorrect.".to_owned()]);
    let ok = json_fetch(&c, Some(&token), slapd::HAMLET.password).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(ok.body["email"], "hamlet@zulip.com");
    let key = ok.body["api_key"].as_str().unwrap().to_owned();
    assert!(c.get("/settings/account").await.body.contains(&key));
}
