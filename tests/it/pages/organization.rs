//! Organization settings over HTTP (issue 14 part 2, web.md §5 and decision 11): only owners and
//! administrators open `/organization/` (members, moderators and guests get the 403 page on
//! every page and every POST), the checks every POST has (CSRF token, same origin), the login
//! methods (owners change them, administrators read them, the owner's own method kept). The
//! Users page is in `organization_users.rs`, the other pages in `organization_log.rs`.

use auth_core::{Role, User};
use latchkey_tests::pages::{Page, PageClient};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};

use super::settings::signed_in;

both_dbs!(
    only_owners_and_administrators_get_in,
    owners_switch_methods_administrators_read_them,
);

const DENIED: &str =
    "Only the organization&#39;s owners and administrators can open the organization settings.";

/// Every organization page.
pub const PAGES: [&str; 7] = [
    "/organization/",
    "/organization/auth-methods",
    "/organization/users",
    "/organization/users/1",
    "/organization/bots",
    "/organization/audit",
    "/organization/limits",
];

/// An owner (`desdemona`) and an administrator (`iago`) of the zulip realm.
pub async fn staff(f: &Fixture) -> (User, User) {
    let owner = f
        .server
        .create_user(&f.zulip, "desdemona@zulip.com", Some(PW), Role::Owner)
        .await;
    let admin = f
        .server
        .create_user(&f.zulip, "iago@zulip.com", Some(PW), Role::Administrator)
        .await;
    (owner, admin)
}

/// The rows of the zulip realm's audit log of this event type, newest first.
pub async fn audited(f: &Fixture, event: &str) -> Vec<auth_store::AuditEntry> {
    f.server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == event)
        .collect()
}

/// A POST from an organization page: the form's CSRF token read from `from`.
pub async fn post_from(c: &PageClient, from: &str, path: &str, form: &[(&str, &str)]) -> Page {
    let page = c.get(from).await;
    assert_eq!(page.status, 200, "{from}: {}", page.body);
    let token = page.csrf_token();
    let mut fields = vec![("csrfmiddlewaretoken", token.as_str())];
    fields.extend_from_slice(form);
    c.post(path, &fields).await
}

pub async fn user(f: &Fixture, email: &str) -> User {
    f.server
        .admin
        .store
        .user_by_email(f.zulip.id, email)
        .await
        .unwrap()
        .unwrap()
}

async fn only_owners_and_administrators_get_in(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    // Nobody signed in: the login page, coming back here.
    let anon = PageClient::new(f.server.addr, "zulip");
    let r = anon.get("/organization/users").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location(), Some("/login/?next=%2Forganization%2Fusers"));

    // A member, a moderator and a guest: the 403 page on every page and every POST, even with
    // a valid CSRF token.
    let moderator = f
        .server
        .create_user(&f.zulip, "mod@zulip.com", Some(PW), Role::Moderator)
        .await;
    let guest = f
        .server
        .create_user(&f.zulip, "guest@zulip.com", Some(PW), Role::Guest)
        .await;
    let target = f.cordelia.id.0.to_string();
    let posts = [
        (
            "/organization/auth-methods".to_owned(),
            vec![("Email", "true")],
        ),
        (
            format!("/organization/users/{target}/role"),
            vec![("role", "guest")],
        ),
        (format!("/organization/users/{target}/deactivate"), vec![]),
        (format!("/organization/users/{target}/reactivate"), vec![]),
        (
            format!("/organization/users/{target}/require-reset"),
            vec![],
        ),
        (
            format!("/organization/users/{target}/regenerate-key"),
            vec![],
        ),
        ("/organization/limits".to_owned(), vec![("username", "x")]),
    ];
    for who in [
        "hamlet@zulip.com",
        &moderator.delivery_email,
        &guest.delivery_email,
    ] {
        let c = signed_in(&f, who).await;
        let settings = c.get("/settings/account").await;
        assert!(!settings.body.contains(r#"href="/organization/""#), "{who}");
        for path in PAGES.iter().copied().chain(["/organization/audit.csv"]) {
            let r = c.get(path).await;
            assert_eq!(r.status, 403, "{who} {path}: {}", r.body);
            assert!(r.body.contains("Permission denied"), "{path}");
            assert!(r.body.contains(DENIED), "{path}: {}", r.body);
        }
        for (path, form) in &posts {
            let r = post_from(&c, "/settings/account", path, form).await;
            assert_eq!(r.status, 403, "{who} POST {path}: {}", r.body);
            assert!(r.body.contains(DENIED), "{path}");
        }
    }
    // Nothing changed.
    let cordelia = user(&f, "cordelia@zulip.com").await;
    assert_eq!((cordelia.role, cordelia.is_active), (Role::Member, true));
    assert!(!cordelia.password_reset_needed);
    assert!(audited(&f, "user_api_key_changed").await.is_empty());

    // Owners and administrators: every page, linked from the settings navigation.
    for who in ["desdemona@zulip.com", "iago@zulip.com"] {
        let c = signed_in(&f, who).await;
        let settings = c.get("/settings/account").await;
        assert!(
            settings
                .body
                .contains(r#"<a href="/organization/">Organization</a>"#)
        );
        for path in PAGES {
            let r = c.get(path).await;
            assert_eq!(r.status, 200, "{who} {path}: {}", r.body);
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
    }
}

/// A server that offers LDAP (a directory nobody answers at: no login here needs it).
fn with_ldap(s: &mut latchkey::Settings) {
    s.auth.backends = vec![auth_core::BackendKind::Email, auth_core::BackendKind::Ldap];
    s.ldap.uris = vec!["ldap://127.0.0.1:9".parse().unwrap()];
    s.ldap.user_search_base = Some("ou=people,dc=example,dc=org".into());
    s.ldap.user_search_filter = "(uid={user})".into();
    s.ldap.connect_timeout_secs = std::time::Duration::from_millis(200);
}

async fn owners_switch_methods_administrators_read_them(kind: DbKind) {
    let Some(f) = Fixture::with(kind, with_ldap).await else {
        return;
    };
    let (owner, _admin) = staff(&f).await;
    // Email on, LDAP off.
    f.set_methods(&f.zulip, true, false).await;
    let methods = "/organization/auth-methods";
    // An administrator reads them; a change is the owners'.
    let iago = signed_in(&f, "iago@zulip.com").await;
    let page = iago.get(methods).await;
    assert!(
        page.body.contains("owners can change these."),
        "{}",
        page.body
    );
    assert!(!page.body.contains(r#"type="checkbox""#), "{}", page.body);
    assert!(page.body.contains("A directory configured on the server"));
    let r = post_from(&iago, methods, methods, &[("Email", "true")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("Must be an organization owner"),
        "{}",
        r.body
    );

    let d = signed_in(&f, "desdemona@zulip.com").await;
    let page = d.get(methods).await;
    for text in [
        r#"<label for="method-Email">Email</label>"#,
        r#"<label for="method-LDAP">LDAP</label>"#,
        "Save authentication methods",
        "You logged in with <strong>Email</strong>",
    ] {
        assert!(page.body.contains(text), "{text} missing:\n{}", page.body);
    }
    // Not a development server: no Dev method offered.
    assert!(!page.body.contains("method-Dev"));
    // The CSRF token and the origin are checked.
    let token = page.csrf_token();
    let no_token = d.post(methods, &[("Email", "true")]).await;
    assert_eq!(no_token.status, 403);
    let other_origin = d
        .post_with(
            methods,
            &[("csrfmiddlewaretoken", &token), ("Email", "true")],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(other_origin.status, 403);
    // Nothing ticked: Zulip's message, nothing changed.
    let none = post_from(&d, methods, methods, &[]).await;
    assert_eq!(none.status, 400, "{}", none.body);
    assert_eq!(
        none.alerts(),
        vec!["At least one authentication method must be enabled.".to_owned()]
    );
    // Decision 11: this owner logged in with Email and has no directory link, so LDAP alone
    // would lock them out.
    let locked_out = post_from(&d, methods, methods, &[("LDAP", "true")]).await;
    assert_eq!(locked_out.status, 400, "{}", locked_out.body);
    assert!(
        locked_out.alerts()[0].contains("switching it off would lock you out"),
        "{:?}",
        locked_out.alerts()
    );
    let realm = f
        .server
        .admin
        .store
        .realm_by_id(f.zulip.id)
        .await
        .unwrap()
        .unwrap();
    assert!(realm.methods.email && !realm.methods.ldap);
    let changes = audited(&f, "realm_authentication_methods_changed").await;
    assert_eq!(changes.len(), 1, "only the fixture's own change");
    // Unchanged: said so.
    let same = post_from(&d, methods, methods, &[("Email", "true")]).await;
    assert_eq!(same.status, 302);
    assert_eq!(
        same.location(),
        Some("/organization/auth-methods?done=unchanged")
    );
    assert_eq!(
        d.get(same.location().unwrap()).await.alerts(),
        vec!["Nothing changed.".to_owned()]
    );
    // Both on: saved, audited with the owner, the page shows it and so does the API.
    let both = post_from(&d, methods, methods, &[("Email", "true"), ("LDAP", "true")]).await;
    assert_eq!(both.status, 302, "{}", both.body);
    let after = d.get(both.location().unwrap()).await;
    assert_eq!(
        after.alerts(),
        vec!["The authentication methods were saved.".to_owned()]
    );
    assert!(
        after
            .body
            .contains(r#"id="method-LDAP" name="LDAP" value="true" checked"#)
    );
    let realm = f
        .server
        .admin
        .store
        .realm_by_id(f.zulip.id)
        .await
        .unwrap()
        .unwrap();
    assert!(realm.methods.email && realm.methods.ldap);
    let changes = audited(&f, "realm_authentication_methods_changed").await;
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].acting_user_id, Some(owner.id));
    let settings = f.client().get("zulip", "/api/v1/server_settings").await;
    assert_eq!(
        settings.body["authentication_methods"]["ldap"], true,
        "{}",
        settings.raw
    );
}
