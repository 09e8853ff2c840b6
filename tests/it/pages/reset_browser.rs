//! "Forgot your password?" as a person does it, in a headless Chromium with mail through a
//! real SMTP server (aiosmtpd): ask for a link, read the mail, follow the link, choose a new
//! password, log in with it; the session opened before the reset is gone. Screenshots of each
//! page at desktop and phone widths (`target/screenshots/reset-*.png`, for docs/user-guide.md).
//! SQLite only: the HTTP suite (`reset.rs`) covers both databases.

use std::time::Duration;

use latchkey_tests::browser::Browser;
use latchkey_tests::smtp::SmtpSink;
use latchkey_tests::{DbKind, Fixture, PW};

const NEW_PW: &str = "Tq8-vanilla-Orbit";
const MAIL_WAIT: Duration = Duration::from_secs(20);

async fn log_in(b: &Browser, email: &str, password: &str) {
    b.log_in("zulip", "Email", email, password).await;
    b.wait_for_text("Your account").await;
}

async fn session_cookie(b: &Browser) -> String {
    b.client
        .get_named_cookie("latchkey_session")
        .await
        .expect("a session cookie")
        .value()
        .to_owned()
}

/// Replaces the browser's cookies with a session cookie of this value. (Chromedriver refuses
/// to add cookies for these hosts; a script may, once the HttpOnly one is gone.)
async fn put_session_cookie(b: &Browser, value: &str) {
    b.client.delete_all_cookies().await.unwrap();
    b.client
        .execute(
            "document.cookie = 'latchkey_session=' + arguments[0] + '; path=/';",
            vec![serde_json::json!(value)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_by_mail_then_log_in() {
    let sink = SmtpSink::start().expect("start aiosmtpd");
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| sink.route_mail(s)).await else {
        return;
    };
    let Some(b) = Browser::start(f.server.addr).await else {
        return;
    };
    // A session opened before the reset (another device, say).
    log_in(&b, "hamlet@zulip.com", PW).await;
    let before = session_cookie(&b).await;
    b.client.delete_all_cookies().await.unwrap();

    // "Forgot your password?" on the login page.
    b.goto("zulip", "/").await;
    b.wait_for_url("zulip", "/login/").await;
    b.find("//a[normalize-space(.)=\"Forgot your password?\"]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_url("zulip", "/accounts/password/reset/").await;
    b.wait_for_text("Reset your password").await;
    b.screenshots("reset-form").await;
    b.input_by_label("Email")
        .await
        .send_keys("hamlet@zulip.com")
        .await
        .unwrap();
    b.button("Reset password").await.click().await.unwrap();
    b.wait_for_url("zulip", "/accounts/password/reset/done/")
        .await;
    b.wait_for_text("Check your email").await;
    b.screenshots("reset-done").await;

    // The mail's link (its host is the realm's; the browser maps it to the test server).
    let got = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(got.len(), 1, "one mail");
    assert_eq!(got[0].to, ["hamlet@zulip.com"]);
    let link = got[0].reset_link().expect("a reset link");
    let path = link
        .strip_prefix("http://zulip.example.test")
        .unwrap_or_else(|| panic!("a link on the realm's host: {link}"));
    b.goto("zulip", path).await;
    b.wait_for_url("zulip", "/accounts/password/reset/set-password/")
        .await;
    b.wait_for_text("Choose a new password").await;
    let url = b.client.current_url().await.unwrap();
    let token = got[0].reset_token().unwrap();
    assert!(!url.as_str().contains(&token), "{url}");
    let email = b.input_by_label("Email").await;
    assert_eq!(
        email.prop("value").await.unwrap().as_deref(),
        Some("hamlet@zulip.com")
    );
    assert!(
        !email.is_enabled().await.unwrap(),
        "the email is shown, not edited"
    );
    b.screenshots("reset-set-password").await;

    // Two different passwords first: the form says so.
    b.input_by_label("New password")
        .await
        .send_keys(NEW_PW)
        .await
        .unwrap();
    b.input_by_label("Confirm password")
        .await
        .send_keys("something-else-91")
        .await
        .unwrap();
    b.button("Set new password").await.click().await.unwrap();
    b.wait_for_text("The two password fields didn’t match.")
        .await;
    b.input_by_label("New password")
        .await
        .send_keys(NEW_PW)
        .await
        .unwrap();
    b.input_by_label("Confirm password")
        .await
        .send_keys(NEW_PW)
        .await
        .unwrap();
    b.button("Set new password").await.click().await.unwrap();
    b.wait_for_url("zulip", "/accounts/password/done/").await;
    b.wait_for_text("We've reset your password!").await;
    b.screenshots("reset-complete").await;

    // Not logged in by the reset: "Log in" with the new password.
    b.find("//a[normalize-space(.)=\"Log in\"]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_url("zulip", "/login/").await;
    log_in(&b, "hamlet@zulip.com", NEW_PW).await;
    let after = session_cookie(&b).await;
    assert_ne!(before, after);

    // The session from before the reset is gone: its cookie lands on the login page, while
    // the new one's (the control: the cookie really is sent) shows the account.
    put_session_cookie(&b, &after).await;
    b.goto("zulip", "/").await;
    b.wait_for_text("Your account").await;
    assert_eq!(b.path().await, "/");
    put_session_cookie(&b, &before).await;
    b.goto("zulip", "/").await;
    b.wait_for_url("zulip", "/login/").await;
    b.close().await;
}
