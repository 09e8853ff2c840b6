//! The password-reset pages over HTTP (web.md §4 and §8 cases 10–11), mail through a real SMTP
//! server (aiosmtpd), on SQLite and PostgreSQL: the form answers every address alike, the
//! mailed link works once through a token-free form, and a reset ends every session.
//!
//! The worker handles requests one at a time in order, so a request whose mail arrives last is
//! a barrier: once it arrived, every earlier request was decided.

use std::time::Duration;

use auth_store::Actor;
use latchkey_tests::pages::{Page, PageClient};
use latchkey_tests::smtp::{Received, SmtpSink};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs, capture_logs, eventually};

both_dbs!(
    every_address_gets_the_same_answer,
    the_link_works_once_and_ends_every_session,
    a_deactivated_organization_has_its_own_page,
);

const WAIT: Duration = Duration::from_secs(20);
const NEW_PW: &str = "Tq8-vanilla-Orbit";
const FORM: &str = "/accounts/password/reset/";
const DONE: &str = "/accounts/password/reset/done/";
const SET_PASSWORD: &str = "/accounts/password/reset/set-password/";
const COMPLETE: &str = "/accounts/password/done/";
const INVALID: &str = "Sorry, the link you provided is invalid or has already been used.";
const MISMATCH: &str = "The two password fields didn’t match.";

async fn world(kind: DbKind) -> Option<(Fixture, SmtpSink)> {
    let sink = SmtpSink::start().expect("start aiosmtpd");
    // Every request here comes from 127.0.0.1: only the limit by address applies.
    let f = Fixture::with(kind, |s| {
        sink.route_mail(s);
        s.rate_limits.password_reset_by_ip = "86400:100".parse().unwrap();
    })
    .await?;
    Some((f, sink))
}

/// A fresh visitor's reset request for `email` on `subdomain`: the form, then its POST.
async fn ask(f: &Fixture, subdomain: &str, email: &str) -> Page {
    let c = PageClient::new(f.server.addr, subdomain);
    let form = c.get(FORM).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.csrf_token();
    c.post(FORM, &[("csrfmiddlewaretoken", &token), ("email", email)])
        .await
}

/// Status, Location and body: what must not differ between addresses.
fn answer(p: &Page) -> (u16, Option<String>, String) {
    (p.status, p.location().map(str::to_owned), p.body.clone())
}

async fn every_address_gets_the_same_answer(kind: DbKind) {
    let Some((f, sink)) = world(kind).await else {
        return;
    };
    // The form: one labelled field, one button, the pre-session CSRF cookie.
    let c = PageClient::new(f.server.addr, "zulip");
    let form = c.get(FORM).await;
    assert_eq!(form.status, 200);
    for part in [
        "<h1>Reset your password</h1>",
        r#"<label for="id_email">Email</label>"#,
        r#"name="email""#,
        ">Reset password</button>",
    ] {
        assert!(form.body.contains(part), "{part} missing:\n{}", form.body);
    }
    assert_eq!(form.header("cache-control"), Some("no-store"));
    assert!(
        form.set_cookies()
            .iter()
            .any(|c| c.starts_with("latchkey_csrf="))
    );
    // Not an address: the form again, with Django's message.
    let token = form.csrf_token();
    let bad = c
        .post(
            FORM,
            &[("csrfmiddlewaretoken", &token), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(bad.status, 200);
    assert_eq!(
        bad.alerts(),
        vec!["Enter a valid email address.".to_owned()]
    );
    // Without the token, or from another origin: refused.
    let r = c.post(FORM, &[("email", "hamlet@zulip.com")]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF verification failed"), "{}", r.body);
    let fields = [
        ("csrfmiddlewaretoken", token.as_str()),
        ("email", "hamlet@zulip.com"),
    ];
    let r = c
        .post_with(FORM, &fields, Some("https://evil.example"))
        .await;
    assert_eq!(r.status, 403);
    let unknown_host = PageClient::new(f.server.addr, "nowhere").get(FORM).await;
    assert_eq!(unknown_host.status, 404);

    // Unknown, deactivated, other-realm and directory-managed addresses answer exactly as a
    // real one does (web.md decision 1), and get nothing (decision 2).
    let store = &f.server.admin.store;
    store
        .set_user_active(f.cordelia.id, false, Actor::cli())
        .await
        .unwrap();
    crate::reset::directory_user(&f, "dir@zulip.com").await;
    let real = answer(&ask(&f, "zulip", "hamlet@zulip.com").await);
    assert_eq!(real.0, 302);
    assert_eq!(real.1.as_deref(), Some(DONE));
    for email in [
        "nobody@zulip.com",
        "cordelia@zulip.com",
        "othello@lear.com",
        "dir@zulip.com",
        "Hamlet@Zulip.com",
    ] {
        assert_eq!(answer(&ask(&f, "zulip", email).await), real, "{email}");
    }
    // Hamlet's third request within the hour is over the limit by address: the same answer,
    // no mail (web.md §8 case 11).
    assert_eq!(answer(&ask(&f, "zulip", "hamlet@zulip.com").await), real);
    // The barrier: Othello on his own realm.
    assert_eq!(ask(&f, "lear", "othello@lear.com").await.status, 302);
    let got = sink.wait_for(3, WAIT).await;
    let to: Vec<&str> = got.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(
        to,
        ["hamlet@zulip.com", "hamlet@zulip.com", "othello@lear.com"],
        "{got:?}"
    );

    let done = c.get(DONE).await;
    assert_eq!(done.status, 200);
    assert!(
        done.body
            .contains("Check your email in a few minutes to finish the process."),
        "{}",
        done.body
    );
    assert_eq!(done.header("referrer-policy"), Some("no-referrer"));
}

/// Hamlet's mailed link, requested through the form.
async fn mailed_token(f: &Fixture, sink: &SmtpSink) -> (Received, String) {
    assert_eq!(ask(f, "zulip", "hamlet@zulip.com").await.status, 302);
    let got = sink.wait_for(1, WAIT).await;
    let mail = got.first().cloned().expect("a reset mail");
    let token = mail.reset_token().expect("a link in the mail");
    (mail, token)
}

async fn set_password(c: &PageClient, new1: &str, new2: &str) -> Page {
    let form = c.get(SET_PASSWORD).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.csrf_token();
    c.post(
        SET_PASSWORD,
        &[
            ("csrfmiddlewaretoken", &token),
            ("new_password1", new1),
            ("new_password2", new2),
        ],
    )
    .await
}

async fn the_link_works_once_and_ends_every_session(kind: DbKind) {
    let logs = capture_logs();
    let Some((f, sink)) = world(kind).await else {
        return;
    };
    let key_before = f.server.key_of(&f.hamlet).await;
    // Hamlet is logged in twice.
    let mut open = Vec::new();
    for _ in 0..2 {
        let s = PageClient::new(f.server.addr, "zulip");
        assert_eq!(s.log_in("hamlet@zulip.com", PW, None).await.status, 302);
        assert_eq!(s.get("/").await.status, 200);
        open.push(s);
    }
    let (mail, token) = mailed_token(&f, &sink).await;
    let link = mail.reset_link().unwrap();
    let path = link.split("example.test").nth(1).unwrap().to_owned();
    assert_eq!(path, format!("/accounts/password/reset/{token}/"));

    // The link: the token goes into a cookie, the browser to a token-free URL, no Referer.
    let c = PageClient::new(f.server.addr, "zulip");
    let moved = c.get(&path).await;
    assert_eq!(moved.status, 302, "{}", moved.body);
    assert_eq!(moved.location(), Some(SET_PASSWORD));
    assert_eq!(moved.header("referrer-policy"), Some("no-referrer"));
    let set = moved.set_cookies().join("\n");
    assert!(
        set.contains("latchkey_reset=") && set.contains("HttpOnly") && set.contains("Max-Age="),
        "{set}"
    );
    assert_eq!(c.cookie("latchkey_reset").as_deref(), Some(token.as_str()));

    // The form shows whose password it sets; the token is nowhere in it.
    let form = c.get(SET_PASSWORD).await;
    assert_eq!(form.status, 200);
    assert!(!form.body.contains(&token));
    assert!(
        form.body.contains(r#"value="hamlet@zulip.com" disabled"#),
        "{}",
        form.body
    );
    for part in [
        r#"<label for="id_new_password1">New password</label>"#,
        r#"<label for="id_new_password2">Confirm password</label>"#,
        r#"name="new_password1""#,
        r#"name="new_password2""#,
    ] {
        assert!(form.body.contains(part), "{part} missing:\n{}", form.body);
    }
    // Its form posts back, so it keeps the policy that lets the browser send `Origin`.
    assert_ne!(form.header("referrer-policy"), Some("no-referrer"));

    // Refused: no CSRF token, two different passwords, a weak one, one over 100 characters.
    let r = c
        .post(
            SET_PASSWORD,
            &[("new_password1", NEW_PW), ("new_password2", NEW_PW)],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = set_password(&c, NEW_PW, "Tq8-vanilla-0rbit").await;
    assert_eq!(r.alerts(), vec![MISMATCH.to_owned()]);
    let r = set_password(&c, "hamlet", "hamlet").await;
    assert_eq!(r.alerts(), vec!["The password is too weak.".to_owned()]);
    let long = "x".repeat(101);
    let r = set_password(&c, &long, &long).await;
    assert_eq!(
        r.alerts(),
        vec!["Ensure this value has at most 100 characters (it has 101).".to_owned()]
    );
    for s in &open {
        assert_eq!(s.get("/").await.status, 200, "refusals end nothing");
    }

    // Success: the cookie is forgotten, the person is not logged in, every session ended.
    let r = set_password(&c, NEW_PW, NEW_PW).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some(COMPLETE));
    assert!(c.cookie("latchkey_reset").is_none());
    assert!(c.session_cookie().is_none());
    let complete = c.get(COMPLETE).await;
    assert!(
        complete.body.contains("We&#39;ve reset your password!"),
        "{}",
        complete.body
    );
    assert!(complete.body.contains(r#"<a href="/login/">Log in</a>"#));
    for s in &open {
        let gone = s.get("/").await;
        assert_eq!(gone.status, 302);
        assert_eq!(gone.location(), Some("/login/"));
    }
    let store = &f.server.admin.store;
    assert_eq!(store.count_user_sessions(f.hamlet.id).await.unwrap(), 0);
    // The new password works; the API key is unchanged (as Zulip).
    let api = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", NEW_PW)
        .await;
    api.assert_success();
    assert_eq!(api.body["api_key"], key_before.as_str());
    assert_eq!(f.server.key_of(&f.hamlet).await, key_before);

    // Used once: the link, and the token cookie replayed, show the invalid-link page.
    let again = c.get(&path).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains(INVALID), "{}", again.body);
    assert_eq!(again.header("referrer-policy"), Some("no-referrer"));
    let replay = PageClient::new(f.server.addr, "zulip");
    replay.set_cookie("latchkey_reset", &token);
    let r = replay.get(SET_PASSWORD).await;
    assert!(r.body.contains(INVALID), "{}", r.body);
    let csrf = replay.get(FORM).await.csrf_token();
    replay.set_cookie("latchkey_reset", &token);
    let r = replay
        .post(
            SET_PASSWORD,
            &[
                ("csrfmiddlewaretoken", &csrf),
                ("new_password1", "Another-Pw-91z"),
                ("new_password2", "Another-Pw-91z"),
            ],
        )
        .await;
    assert!(r.body.contains(INVALID), "{}", r.body);
    // Garbage and no token at all: the same page, never a 500.
    for p in [
        "/accounts/password/reset/nonsense/",
        "/accounts/password/reset/%00/",
    ] {
        let r = c.get(p).await;
        assert_eq!(r.status, 200, "{p}");
        assert!(r.body.contains(INVALID), "{p}");
    }
    let r = PageClient::new(f.server.addr, "zulip")
        .get(SET_PASSWORD)
        .await;
    assert!(r.body.contains(INVALID), "{}", r.body);
    // The token reached no log line (the request line masks it).
    let text = logs.text();
    assert!(text.contains("/accounts/password/reset/[token]/"), "{text}");
    assert!(!text.contains(&token), "a reset token was logged");
}

/// A deactivated organization's login and reset pages go to `/accounts/deactivated/`, which
/// names it; an active one's deactivated page is its login page.
async fn a_deactivated_organization_has_its_own_page(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = PageClient::new(f.server.addr, "zulip");
    assert_eq!(
        c.get("/accounts/deactivated/").await.location(),
        Some("/login/")
    );
    f.server
        .admin
        .store
        .set_realm_deactivated(f.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    let login = eventually(
        Duration::from_secs(10),
        || c.get("/login/"),
        |p| p.status == 302,
    )
    .await;
    assert_eq!(login.location(), Some("/accounts/deactivated/"));
    assert_eq!(c.get(FORM).await.location(), Some("/accounts/deactivated/"));
    let page = c.get("/accounts/deactivated/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("The organization you are trying to join, Zulip Dev, has been deactivated."),
        "{}",
        page.body
    );
    let lear = PageClient::new(f.server.addr, "lear");
    assert_eq!(lear.get("/login/").await.status, 200);
    assert_eq!(
        lear.get("/accounts/deactivated/").await.location(),
        Some("/login/")
    );
}

/// With secure cookies the token cookie takes the `__Host-` prefix and `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_cookie_is_host_only_and_secure() {
    let sink = SmtpSink::start().expect("start aiosmtpd");
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| {
        sink.route_mail(s);
        s.web.secure_cookies = Some(true);
    })
    .await
    else {
        return;
    };
    let client = auth_service::Client {
        ip: None,
        host: "zulip.example.test",
    };
    f.server
        .admin
        .request_reset(client, "hamlet@zulip.com")
        .await
        .unwrap();
    let got = sink.wait_for(1, WAIT).await;
    let token = got[0].reset_token().expect("a link");
    let c = PageClient::new(f.server.addr, "zulip");
    let r = c.get(&format!("/accounts/password/reset/{token}/")).await;
    assert_eq!(r.status, 302);
    let set = r.set_cookies().join("\n");
    assert!(
        set.contains("__Host-latchkey_reset=")
            && set.contains("Secure")
            && set.contains("Path=/")
            && !set.contains("Domain"),
        "{set}"
    );
}
