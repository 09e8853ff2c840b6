//! What a person does on the pages, in a headless Chromium: log in by the labels, a wrong
//! password, the signed-in page, log out, keyboard-only use, and screenshots at desktop and
//! phone widths (`target/screenshots/`). SQLite only: the HTTP suite covers both databases.

use latchkey_tests::browser::{Browser, ENTER, TAB};
use latchkey_tests::{DbKind, Fixture, PW};

const BAD: &str = "Please enter a correct email and password.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_by_labels_then_log_out() {
    let Some(f) = Fixture::new(DbKind::Sqlite).await else {
        return;
    };
    let Some(b) = Browser::start(f.server.addr).await else {
        return;
    };
    b.goto("zulip", "/login/").await;
    b.wait_for_text("Log in to Zulip Dev").await;
    b.screenshots("login").await;

    // A wrong password: the one message, nothing about the account.
    let email = b.input_by_label("Email").await;
    email.send_keys("hamlet@zulip.com").await.unwrap();
    let password = b.input_by_label("Password").await;
    password.send_keys("not-the-password").await.unwrap();
    b.button("Log in").await.click().await.unwrap();
    b.wait_for_text(BAD).await;
    b.screenshots("login-failed").await;

    // The right one (the typed email is kept), with "Keep me logged in".
    let password = b.input_by_label("Password").await;
    password.send_keys(PW).await.unwrap();
    b.input_by_label("Keep me logged in")
        .await
        .click()
        .await
        .unwrap();
    b.button("Log in").await.click().await.unwrap();
    b.wait_for_url("zulip", "/").await;
    b.wait_for_text("Your account").await;
    let page = b.client.source().await.unwrap();
    assert!(page.contains("hamlet@zulip.com"), "{page}");
    b.screenshots("signed-in").await;

    // Log out ends the session: the start page sends the visitor to log in.
    b.button("Log out").await.click().await.unwrap();
    b.wait_for_url("zulip", "/accounts/login/").await;
    b.goto("zulip", "/").await;
    b.wait_for_url("zulip", "/login/").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only_login() {
    let Some(f) = Fixture::new(DbKind::Sqlite).await else {
        return;
    };
    let Some(b) = Browser::start(f.server.addr).await else {
        return;
    };
    b.goto("zulip", "/login/").await;
    b.wait_for_text("Log in to Zulip Dev").await;
    // The name field has the focus; Tab moves through the form in reading order.
    assert_eq!(b.focused_id().await, "id_username");
    b.type_keys("cordelia@zulip.com").await;
    b.type_keys(TAB).await;
    assert_eq!(b.focused_id().await, "id_password");
    b.type_keys(PW).await;
    b.type_keys(TAB).await;
    assert_eq!(b.focused_id().await, "id_remember");
    // Focus is visible: the focused control has an outline.
    let outline = b
        .client
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle;",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(outline, serde_json::json!("none"));
    b.type_keys(TAB).await;
    b.type_keys(ENTER).await;
    b.wait_for_url("zulip", "/").await;
    b.wait_for_text("cordelia@zulip.com").await;
    b.close().await;
}
