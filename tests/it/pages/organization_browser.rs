//! The organization pages in a headless Chromium, as an administrator uses them (links,
//! labels and button texts): Settings → Organization → Users, a search, one person's page and
//! a demotion, which that person's very next API call sees; an owner's tour of the other pages
//! (screenshots `admin-*.png` for docs/admin-guide.md); a member sent away with the 403 page.

use std::time::Duration;

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::browser::Browser;
use latchkey_tests::{Client, DbKind, Fixture, PW};

use super::organization::staff;

/// Logs in on the zulip realm by the form's labels.
async fn log_in(b: &Browser, user: &str) {
    b.log_in("zulip", "Email", user, PW).await;
}

async fn log_out(b: &Browser) {
    b.button("Log out").await.click().await.unwrap();
    b.wait_for_text("Log in").await;
}

/// Follows the link with this text.
async fn click_link(b: &Browser, text: &str) {
    b.find(&format!("//a[normalize-space(.)='{text}']"))
        .await
        .click()
        .await
        .unwrap();
}

/// `GET /api/v1/users/me` with the key: the role number.
async fn role_seen_by_api(f: &Fixture, email: &str, key: &str) -> i64 {
    let rb = f
        .client()
        .request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
        .basic_auth(email, Some(key));
    let r = Client::send(rb).await;
    r.assert_success();
    r.body["role"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_demotes_someone_and_a_member_is_turned_away() {
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| {
        s.rate_limits.authenticate_by_username = "1800:2".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    f.server
        .admin
        .store
        .set_role(f.cordelia.id, Role::Administrator, Actor::cli())
        .await
        .unwrap();
    // Cordelia's key is in use (the key cache holds her as an administrator).
    let key = f.server.key_of(&f.cordelia).await;
    assert_eq!(role_seen_by_api(&f, "cordelia@zulip.com", &key).await, 200);
    // A name refused for too many failures, for the blocks page.
    for _ in 0..3 {
        f.client()
            .fetch_api_key("zulip", "yorick@zulip.com", "wrong")
            .await;
    }
    let Some(b) = Browser::start(f.server.addr).await else {
        return;
    };

    log_in(&b, "iago@zulip.com").await;
    b.goto("zulip", "/settings/account").await;
    click_link(&b, "Organization").await;
    b.wait_for_text("Organization settings").await;
    b.screenshots("admin-index").await;
    click_link(&b, "Users").await;
    b.wait_for_text("Search by name or email").await;
    b.screenshots("admin-users").await;
    b.input_by_label("Search by name or email")
        .await
        .send_keys("cordelia")
        .await
        .unwrap();
    b.button("Filter").await.click().await.unwrap();
    b.wait_for_text("1 of 4 people.").await;
    click_link(&b, "cordelia").await;
    b.wait_for_text("Change role").await;
    b.input_by_label("New role")
        .await
        .select_by_label("Member")
        .await
        .unwrap();
    b.button("Change role").await.click().await.unwrap();
    b.wait_for_text("The role was changed.").await;
    b.screenshots("admin-user").await;
    // Her very next API call sees it: this server dropped its cached copy at once.
    assert_eq!(role_seen_by_api(&f, "cordelia@zulip.com", &key).await, 400);
    log_out(&b).await;

    // An owner's tour: methods (which an owner may change), bots, the audit log, blocks.
    log_in(&b, "desdemona@zulip.com").await;
    b.goto("zulip", "/organization/auth-methods").await;
    b.wait_for_text("Save authentication methods").await;
    b.screenshots("admin-auth-methods").await;
    click_link(&b, "Audit log").await;
    b.wait_for_text("Export as CSV").await;
    b.input_by_label("Event type")
        .await
        .select_by_label("user_role_changed")
        .await
        .unwrap();
    b.button("Filter").await.click().await.unwrap();
    b.wait_for_text("iago <iago@zulip.com>").await;
    b.screenshots("admin-audit").await;
    click_link(&b, "Rate-limit blocks").await;
    b.wait_for_text("yorick@zulip.com").await;
    b.screenshots("admin-limits").await;
    b.find("//button[@aria-label='Lift block of yorick@zulip.com']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_text("The block was lifted").await;
    log_out(&b).await;

    // A member: the 403 page, and no link to it.
    log_in(&b, "hamlet@zulip.com").await;
    b.goto("zulip", "/settings/account").await;
    b.wait_for_text("Account & privacy").await;
    let source = b.client.source().await.unwrap();
    assert!(!source.contains("/organization/"));
    b.goto("zulip", "/organization/").await;
    b.wait_for_text("Permission denied").await;
    b.wait_for_text("Only the organization's owners and administrators")
        .await;
    b.screenshots("admin-denied").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    b.close().await;
}
