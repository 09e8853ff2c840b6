//! The settings pages in a headless Chromium, as a person uses them (labels and button texts):
//! the API key after the password is re-entered, used for Basic auth; the downloaded zuliprc
//! used by the `zulip` Python bindings; a new key refusing the old one; a bot added and its key
//! renewed from the refresh icon; a directory person's page. Screenshots at desktop and phone
//! widths for docs/user-guide.md (`settings-*.png`). SQLite only: the HTTP suites cover both
//! databases.

use std::net::TcpListener;
use std::path::Path;

use fantoccini::Locator;
use latchkey_tests::browser::{Browser, wait_for_download};
use latchkey_tests::python::{run_python, venv_python_or_skip, with_loopback_resolver};
use latchkey_tests::{DbKind, Fixture, PW, ldap_world, slapd};

use super::settings::me_status;

/// A fixture whose realm URLs carry the server's real port, so that a downloaded zuliprc's
/// `site` can be followed by a client.
async fn fixture_with_real_port() -> Option<Fixture> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    Fixture::with(DbKind::Sqlite, |s| {
        s.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        s.server.external_host = format!("example.test:{port}");
    })
    .await
}

/// Logs in on the zulip realm by the form's labels.
async fn log_in(b: &Browser, label: &str, user: &str, password: &str) {
    b.log_in("zulip", label, user, password).await;
}

/// Re-enters the password on the "Show API key(s)" form.
async fn reenter_password(b: &Browser, password: &str) {
    b.wait_for_text("Please re-enter your password to confirm your identity.")
        .await;
    b.input_by_label("Your password")
        .await
        .send_keys(password)
        .await
        .unwrap();
    b.button("Get API key").await.click().await.unwrap();
}

/// The text of the first element matching `xpath`.
async fn text_of(b: &Browser, xpath: &str) -> String {
    b.find(xpath).await.text().await.unwrap().trim().to_owned()
}

/// A zuliprc used by python-zulip-api: the profile's email.
async fn python_profile_email(rc: &Path) -> String {
    let script = with_loopback_resolver(
        r#"
import json, sys
import zulip
client = zulip.Client(config_file=sys.argv[1], client="LatchkeyTest/1.0")
print(json.dumps(client.get_profile()))
"#,
    );
    let rc = rc.display().to_string();
    let out = tokio::task::spawn_blocking(move || run_python(&script, &[&rc], &[]))
        .await
        .unwrap()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["result"], "success", "{v}");
    v["email"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_after_the_password_then_zuliprc_and_a_new_key() {
    let Some(f) = fixture_with_real_port().await else {
        return;
    };
    let downloads = f.db.dir().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let Some(b) = Browser::start_with_downloads(f.server.addr, &downloads).await else {
        return;
    };
    log_in(&b, "Email", "hamlet@zulip.com", PW).await;
    // Zulip's settings link lands on the account page.
    b.goto("zulip", "/#settings/account-and-privacy").await;
    b.wait_for_text("Manage your API key").await;
    b.screenshots("settings-account").await;
    let old = f.server.key_of(&f.hamlet).await;
    assert!(!b.client.source().await.unwrap().contains(&old));

    b.button("Manage your API key").await.click().await.unwrap();
    b.wait_for_text("If you don't know your password, you can reset it.")
        .await;
    b.screenshots("settings-reauth").await;
    reenter_password(&b, PW).await;
    b.wait_for_text("Your API key:").await;
    // The Copy button is there with JavaScript.
    assert!(b.button("Copy").await.is_displayed().await.unwrap());
    b.screenshots("settings-api-key").await;
    let key = text_of(&b, "//code[@id='api_key_value']").await;
    assert_eq!(key, old);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &key).await, 200);

    // The zuliprc download, used by the Python bindings.
    b.button("Download zuliprc").await.click().await.unwrap();
    let rc = wait_for_download(&downloads, "zuliprc").await;
    let site = format!("http://zulip.example.test:{}", f.server.addr.port());
    assert_eq!(
        String::from_utf8(rc).unwrap(),
        format!("[api]\nemail=hamlet@zulip.com\nkey={key}\nsite={site}\n")
    );
    if venv_python_or_skip().is_some() {
        assert_eq!(
            python_profile_email(&downloads.join("zuliprc")).await,
            "hamlet@zulip.com"
        );
    }

    // A new key, after a confirmation: the old one is refused at once.
    b.button("Generate new API key")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_text("Your current API key will stop working at once")
        .await;
    b.screenshots("settings-regenerate-key").await;
    b.button("Generate new API key")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_text("Your API key:").await;
    let new = text_of(&b, "//code[@id='api_key_value']").await;
    assert_ne!(new, old);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &old).await, 401);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &new).await, 200);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_bot_and_renew_its_key_from_the_refresh_icon() {
    let Some(f) = Fixture::new(DbKind::Sqlite).await else {
        return;
    };
    let Some(b) = Browser::start(f.server.addr).await else {
        return;
    };
    log_in(&b, "Email", "hamlet@zulip.com", PW).await;
    b.find("//nav//a[normalize-space(.)='Your bots']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_text("You have no active bots.").await;
    b.input_by_label("Name")
        .await
        .send_keys("Crumb Bot")
        .await
        .unwrap();
    b.input_by_label("Bot email (a-z, 0-9, and dashes only)")
        .await
        .send_keys("crumb")
        .await
        .unwrap();
    b.button("Add").await.click().await.unwrap();
    b.wait_for_text("crumb-bot@zulip.example.test").await;
    b.screenshots("settings-your-bots").await;

    // Keys are hidden until the password is re-entered.
    b.button("Show API keys").await.click().await.unwrap();
    b.screenshots("settings-reauth-bots").await;
    reenter_password(&b, PW).await;
    b.wait_for_url("zulip", "/settings/your-bots").await;
    let xpath = "//dd[contains(@class, 'key-line')]/code";
    let old = text_of(&b, xpath).await;
    let email = "crumb-bot@zulip.example.test";
    assert_eq!(me_status(&f, email, &old).await, 200);
    b.screenshots("settings-your-bots-keys").await;

    // The refresh icon: its accessible name, a confirmation, a new key shown in place.
    let icon = b
        .client
        .find(Locator::XPath("//a[@aria-label='Generate new API key']"))
        .await
        .unwrap();
    assert_eq!(
        icon.attr("title").await.unwrap().as_deref(),
        Some("Generate new API key")
    );
    icon.click().await.unwrap();
    b.wait_for_text("Generate a new API key for Crumb Bot?")
        .await;
    b.screenshots("settings-bot-regenerate").await;
    b.button("Generate new API key")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_url("zulip", "/settings/your-bots").await;
    let new = text_of(&b, xpath).await;
    assert_ne!(new, old);
    assert_eq!(me_status(&f, email, &old).await, 401);
    assert_eq!(me_status(&f, email, &new).await, 200);

    // Deactivate, then find it under "Inactive bots".
    b.find("//a[normalize-space(.)='Deactivate bot']")
        .await
        .click()
        .await
        .unwrap();
    b.button("Deactivate bot").await.click().await.unwrap();
    b.wait_for_text("You have no active bots.").await;
    b.find("//a[normalize-space(.)='Inactive bots']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_text("Reactivate bot").await;
    b.screenshots("settings-inactive-bots").await;
    assert_eq!(me_status(&f, email, &new).await, 401);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_person_sees_the_directorys_notice() {
    let w = ldap_world::sqlite_world(|_, _| {}).await;
    let Some(b) = Browser::start(w.server.addr).await else {
        return;
    };
    log_in(&b, "Email or username", "hamlet", slapd::HAMLET.password).await;
    b.goto("zulip", "/settings/account").await;
    b.wait_for_text("Your password is managed by your organization's directory.")
        .await;
    let page = b.client.source().await.unwrap();
    assert!(!page.contains("Old password"));
    b.screenshots("settings-account-directory").await;
    b.button("Manage your API key").await.click().await.unwrap();
    b.wait_for_text("Please re-enter your password to confirm your identity.")
        .await;
    let form = b.client.source().await.unwrap();
    assert!(!form.contains("you can reset it"));
    reenter_password(&b, slapd::HAMLET.password).await;
    b.wait_for_text("Your API key:").await;
    let key = text_of(&b, "//code[@id='api_key_value']").await;
    let user = w
        .server
        .admin
        .store
        .user_by_email(w.zulip.id, "hamlet@zulip.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key, w.server.key_of(&user).await);
    b.close().await;
}
