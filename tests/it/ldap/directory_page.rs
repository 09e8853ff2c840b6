//! Organization → Directory (`/organization/directory`): who may see and change it, CSRF, the
//! bind password never in the page (over HTTP); and in a headless Chromium, an owner filling
//! the form for the private slapd, testing the connection (and a wrong CA), testing a person,
//! and syncing with a preview then Apply. Screenshots for docs/admin-guide.md
//! (`admin-directory-*.png`).

use std::time::Duration;

use auth_core::{BackendKind, Role};
use latchkey::Settings;
use latchkey_tests::browser::Browser;
use latchkey_tests::ldap_world::start_slapd;
use latchkey_tests::pages::PageClient;
use latchkey_tests::slapd;
use latchkey_tests::{DbKind, PW, TestDb, TestServer};

const PAGE: &str = "/organization/directory";

fn settings(db: &TestDb) -> Settings {
    let mut s = db.settings();
    s.auth.backends = vec![BackendKind::Ldap, BackendKind::Email];
    s
}

/// The form's fields for the private slapd (plain LDAP), with the service password.
fn form_for<'a>(uri: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrfmiddlewaretoken", token),
        ("uris", uri),
        ("tls_verify", "on"),
        ("connect_timeout", "2"),
        ("operation_timeout", "3"),
        ("bind_dn", slapd::SERVICE_DN),
        ("bind_password", slapd::SERVICE_PASSWORD),
        ("user_search_base", slapd::PEOPLE_DN),
        ("user_search_filter", "(uid={user})"),
        ("user_search_scope", "sub"),
        ("username_attr", "uid"),
        ("append_domain", "zulip.com"),
        ("full_name_attr", "cn"),
        ("unique_id_attr", "entryUUID"),
        ("group_membership", "member"),
        ("max_deactivate_fraction", "0.1"),
        ("pool_size", "4"),
        ("bind_pool_size", "8"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_edit_admins_view_others_get_403_and_the_password_never_shows() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let d = start_slapd().await;
    let w = TestServer::start(settings(&db)).await;
    let zulip = w.create_realm("zulip", "Zulip").await;
    for (email, role) in [
        ("iago@zulip.com", Role::Owner),
        ("desdemona@zulip.com", Role::Administrator),
        ("polonius@zulip.com", Role::Member),
    ] {
        w.create_user(&zulip, email, Some(PW), role).await;
    }
    let visitor = |email: &'static str| async move {
        let c = PageClient::new(w.addr, "zulip");
        let r = c.log_in(email, PW, None).await;
        assert_eq!(r.status, 302, "{}", r.body);
        c
    };

    // Not signed in: the login page, coming back here.
    let anon = PageClient::new(w.addr, "zulip");
    let r = anon.get(PAGE).await;
    assert_eq!(r.status, 302);
    assert!(
        r.location()
            .unwrap()
            .contains("next=%2Forganization%2Fdirectory")
    );

    let member = visitor("polonius@zulip.com").await;
    assert_eq!(member.get(PAGE).await.status, 403);

    let owner = visitor("iago@zulip.com").await;
    let page = owner.get(PAGE).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("no directory settings of its own"));
    let token = page.csrf_token();
    // CSRF: without the token (or from another origin), refused.
    let uri = d.uri();
    let mut no_token = form_for(&uri, &token);
    no_token.remove(0);
    assert_eq!(owner.post(PAGE, &no_token).await.status, 403);
    let r = owner
        .post_with(PAGE, &form_for(&uri, &token), Some("http://evil.example"))
        .await;
    assert_eq!(r.status, 403);
    // A form the checks refuse comes back as typed, with the reasons.
    let mut bad = form_for(&uri, &token);
    bad[1] = ("uris", "http://x");
    bad[3] = ("connect_timeout", "soon");
    let r = owner.post(PAGE, &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("Connect timeout: &quot;soon&quot; is not a number")
            || r.body
                .contains("Connect timeout: &#34;soon&#34; is not a number"),
        "{}",
        r.body
    );
    let r = owner.post(PAGE, &form_for(&uri, &token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Saved."), "{}", r.body);
    assert!(!r.body.contains(slapd::SERVICE_PASSWORD));
    assert!(
        r.body.contains(r#"placeholder="(unchanged)""#),
        "{}",
        r.body
    );
    let view = w
        .admin
        .realm_ldap(auth_service::members::By::Cli, &zulip)
        .await
        .unwrap()
        .expect("saved");
    assert!(view.bind_password_set);

    // Administrators see the settings, disabled, and may test a person but not save.
    let admin = visitor("desdemona@zulip.com").await;
    let page = admin.get(PAGE).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Only organization owners can change these settings.")
    );
    assert!(page.body.contains(slapd::PEOPLE_DN));
    assert!(!page.body.contains(slapd::SERVICE_PASSWORD));
    assert!(!page.body.contains(">Save</button>"));
    let token = page.csrf_token();
    let r = admin.post(PAGE, &form_for(&uri, &token)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = admin
        .post(
            "/organization/directory/sync",
            &[("csrfmiddlewaretoken", token.as_str())],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = admin
        .post(
            "/organization/directory/test-person",
            &[
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", "hamlet"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("hamlet@zulip.com"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_sets_up_the_directory_tests_it_and_syncs_in_a_browser() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let d = start_slapd().await;
    let w = TestServer::start(settings(&db)).await;
    let zulip = w.create_realm("zulip", "Zulip").await;
    // The organization starts with Email only: the owner turns LDAP on from the pages.
    let email_only = auth_core::AuthMethods {
        email: true,
        ldap: false,
        dev: false,
    };
    w.admin
        .store
        .set_realm_methods(zulip.id, email_only, auth_store::Actor::cli())
        .await
        .unwrap();
    w.create_user(&zulip, "iago@zulip.com", Some(PW), Role::Owner)
        .await;
    let Some(b) = Browser::start(w.addr).await else {
        return;
    };
    b.log_in("zulip", "Email", "iago@zulip.com", PW).await;

    b.goto("zulip", "/organization/auth-methods").await;
    let ldap = b.input_by_label("LDAP").await;
    assert!(!ldap.is_selected().await.unwrap(), "LDAP starts off");
    ldap.click().await.unwrap();
    b.button("Save authentication methods")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_text("The authentication methods were saved.")
        .await;
    assert!(b.input_by_label("LDAP").await.is_selected().await.unwrap());
    let methods = w
        .admin
        .store
        .realm_by_id(zulip.id)
        .await
        .unwrap()
        .unwrap()
        .methods;
    assert!(methods.ldap && methods.email, "{methods:?}");

    b.goto("zulip", PAGE).await;
    b.wait_for_text("no directory settings of its own").await;
    let fill = |label: &'static str, value: String| {
        let b = &b;
        async move {
            let input = b.input_by_label(label).await;
            input.clear().await.unwrap();
            input.send_keys(&value).await.unwrap();
        }
    };
    fill("Servers (one a line, tried in order)", d.ldaps_uri()).await;
    fill(
        "CA certificate file (PEM, on the server)",
        d.wrong_ca_file().display().to_string(),
    )
    .await;
    fill("Bind DN", slapd::SERVICE_DN.into()).await;
    fill("Bind password", slapd::SERVICE_PASSWORD.into()).await;
    fill("User search base", slapd::PEOPLE_DN.into()).await;
    fill("Append domain", "zulip.com".into()).await;
    b.input_by_label("Sync deactivates people who left the directory")
        .await
        .click()
        .await
        .unwrap();
    fill("Largest share a sync may deactivate (0 to 1)", "1".into()).await;

    // A wrong CA: the TLS step fails and says so.
    b.button("Test connection").await.click().await.unwrap();
    b.wait_for_text("Test connection: failed").await;
    b.wait_for_text("TLS: certificate not trusted").await;
    b.screenshots("admin-directory-tls-failed").await;

    // The right CA (the form comes back as typed, the password field empty): passes.
    fill(
        "CA certificate file (PEM, on the server)",
        d.ca_file().display().to_string(),
    )
    .await;
    fill("Bind password", slapd::SERVICE_PASSWORD.into()).await;
    b.button("Test connection").await.click().await.unwrap();
    b.wait_for_text("Test connection: passed").await;
    b.wait_for_text(&format!("search base {} readable", slapd::PEOPLE_DN))
        .await;
    b.screenshots("admin-directory-connection").await;
    fill("Bind password", slapd::SERVICE_PASSWORD.into()).await;
    b.button("Save").await.click().await.unwrap();
    b.wait_for_text("Saved.").await;
    let password = b.input_by_label("Bind password").await;
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
    assert_eq!(
        password.attr("placeholder").await.unwrap().as_deref(),
        Some("(unchanged)")
    );

    // Test a person: hamlet's mapped email and groups.
    b.input_by_label("Username to test")
        .await
        .send_keys("hamlet")
        .await
        .unwrap();
    b.button("Test a person").await.click().await.unwrap();
    b.wait_for_text("hamlet@zulip.com").await;
    b.wait_for_text("allowed with the right password").await;
    if d.has_memberof() {
        b.wait_for_text(slapd::STAFF_GROUP_DN).await;
    }
    b.screenshots("admin-directory-person").await;

    // Accounts from real logins, then one person leaves the directory.
    let c = w.client();
    let start = std::time::Instant::now();
    loop {
        let r = c
            .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
            .await;
        if r.status == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{}", r.raw);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.fetch_api_key("zulip", "aaron", slapd::AARON.password)
        .await
        .assert_success();
    d.delete_dn(slapd::AARON.dn).unwrap();
    b.button("Sync now").await.click().await.unwrap();
    b.wait_for_text("Sync preview").await;
    b.wait_for_text("would change aaron@zulip.com").await;
    b.screenshots("admin-directory-sync-preview").await;
    let aaron = || async {
        w.admin
            .store
            .user_by_email(zulip.id, "aaron@zulip.com")
            .await
            .unwrap()
            .unwrap()
    };
    assert!(aaron().await.is_active, "a preview changes nothing");
    b.button("Apply").await.click().await.unwrap();
    b.wait_for_text("Sync applied").await;
    assert!(!aaron().await.is_active);
    b.close().await;
}
