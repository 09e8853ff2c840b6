//! A person reaching a protected app through the nginx example: sent to the portal, logs in
//! by the labels, comes back to the page asked for, which shows who they are. Screenshots
//! `portal-login` (desktop and 360 px).

use latchkey_tests::PW;
use latchkey_tests::browser::Browser;

use super::nginx::portal_behind_nginx;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_at_the_portal_and_comes_back_to_the_app() {
    let Some((f, n)) = portal_behind_nginx().await else {
        return;
    };
    let Some(b) = Browser::start_with(
        f.server.addr,
        &[
            "--ignore-certificate-errors",
            "--host-resolver-rules=MAP *.example.test 127.0.0.1,MAP *.example.org 127.0.0.1",
        ],
    )
    .await
    else {
        return;
    };
    let app = n.url("app.example.org", "/x?y=1");
    b.client.goto(&app).await.expect("navigate");
    b.wait_for_text("Log in to Zulip Dev").await;
    let at = b.client.current_url().await.unwrap();
    assert_eq!(at.host_str(), Some("auth.example.org"));
    assert_eq!(at.path(), "/login/");
    b.screenshots("portal-login").await;

    b.input_by_label("Email")
        .await
        .send_keys("hamlet@zulip.com")
        .await
        .unwrap();
    b.input_by_label("Password")
        .await
        .send_keys(PW)
        .await
        .unwrap();
    b.button("Log in").await.click().await.unwrap();
    b.wait_for_text("The example app").await;
    let at = b.client.current_url().await.unwrap();
    assert_eq!(at.as_str(), app);
    b.wait_for_text("email: hamlet@zulip.com").await;
    b.wait_for_text(&format!("user: {}", f.hamlet.id.0)).await;
    b.wait_for_text("realm: zulip").await;
    b.screenshots("portal-app").await;
    b.close().await;
}
