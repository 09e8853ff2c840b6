//! Organization settings over HTTP (issue 14 part 2, web.md §5 and decision 11): only owners and
//! administrators open `/organization/` (members, moderators and guests get the 403 page on
//! every page and every POST), the checks every POST has (CSRF token, same origin), the login
//! methods (owners change them, administrators read them, the owner's own method kept), and
//! what an administrator does to a person from the Users page, each audited with the acting
//! administrator and seen at once by the API.

use auth_core::{Role, User};
use auth_store::Actor;
use latchkey_tests::pages::{Page, PageClient};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};

use super::settings::{me_status, signed_in};

both_dbs!(
    only_owners_and_administrators_get_in,
    owners_switch_methods_administrators_read_them,
    users_are_searched_and_filtered,
    administrator_actions_on_a_person,
    bad_input_is_a_clear_page,
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

async fn user(f: &Fixture, email: &str) -> User {
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

async fn users_are_searched_and_filtered(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    // A directory account and a deactivated one.
    let linked = f
        .server
        .create_user(&f.zulip, "dir@zulip.com", None, Role::Member)
        .await;
    f.server
        .admin
        .store
        .update_user(
            linked.id,
            auth_core::DirectoryUpdate {
                external_id: Some(Some("uid=dir".into())),
                ..Default::default()
            },
            Actor::cli(),
        )
        .await
        .unwrap();
    f.server
        .admin
        .store
        .set_user_active(f.cordelia.id, false, Actor::cli())
        .await
        .unwrap();
    let c = signed_in(&f, "iago@zulip.com").await;
    let names = |p: &Page| -> Vec<String> {
        ["hamlet", "cordelia", "desdemona", "iago", "dir", "othello"]
            .into_iter()
            .filter(|n| p.body.contains(&format!("{n}@")))
            .map(str::to_owned)
            .collect()
    };
    let all = c.get("/organization/users").await;
    assert_eq!(
        names(&all),
        ["hamlet", "cordelia", "desdemona", "iago", "dir"]
    );
    for label in [
        r#"<label for="id_q">Search by name or email</label>"#,
        r#"<label for="id_role">Role</label>"#,
        r#"<label for="id_state">State</label>"#,
        r#"<label for="id_backend">Password</label>"#,
    ] {
        assert!(all.body.contains(label), "{label}");
    }
    let q = |query: &str| {
        let c = &c;
        let path = format!("/organization/users?{query}");
        async move { c.get(&path).await }
    };
    assert_eq!(names(&q("q=HAMLET").await), ["hamlet"]);
    assert_eq!(names(&q("q=zulip.com&role=owner").await), ["desdemona"]);
    assert_eq!(names(&q("role=admin").await), ["iago"]);
    assert_eq!(names(&q("state=deactivated").await), ["cordelia"]);
    assert_eq!(
        names(&q("state=active&role=member").await),
        ["hamlet", "dir"]
    );
    assert_eq!(names(&q("backend=directory").await), ["dir"]);
    assert_eq!(
        names(&q("backend=local&state=active").await),
        ["hamlet", "desdemona", "iago"]
    );
    let none = q("q=nobody").await;
    assert!(none.body.contains("No one matches these filters."));
    // Unknown filter values filter nothing rather than fail.
    assert_eq!(q("role=emperor&state=x").await.status, 200);
    // A directory account has no reset button: its password is the directory's.
    let page = c.get(&format!("/organization/users/{}", linked.id.0)).await;
    assert!(
        page.body
            .contains("Managed by the organization&#39;s directory")
    );
    assert!(!page.body.contains("Require a password reset"));
    let r = post_from(
        &c,
        "/organization/users",
        &format!("/organization/users/{}/require-reset", linked.id.0),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.alerts()[0].contains("managed by the organization's directory"));
}

async fn administrator_actions_on_a_person(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (owner, admin) = staff(&f).await;
    let bot = auth_service::bots::create(
        &f.server.admin,
        auth_service::bots::NewBot {
            realm: &f.zulip,
            owner: f.hamlet.id,
            full_name: "Hamlet Bot",
            short_name: "hamlet",
            bot_type: auth_core::BotType::Generic,
        },
        Actor::cli(),
    )
    .await
    .unwrap();
    let c = signed_in(&f, "iago@zulip.com").await;
    let h = f.hamlet.id.0;
    let person = format!("/organization/users/{h}");
    let act = |action: &str, form: Vec<(&'static str, &'static str)>| {
        let (c, person) = (&c, person.clone());
        let path = format!("{person}/{action}");
        async move { post_from(c, &person, &path, &form).await }
    };
    let follow = |r: Page| {
        let c = &c;
        async move {
            assert_eq!(r.status, 302, "{}", r.body);
            c.get(r.location().unwrap()).await.alerts()
        }
    };
    let page = c.get(&person).await;
    for text in [
        r#"<label for="id_new_role">New role</label>"#,
        "Change role",
        "Deactivate account",
        "Require a password reset",
        "Replace API key",
    ] {
        assert!(page.body.contains(text), "{text} missing:\n{}", page.body);
    }
    // An administrator cannot give the owner role.
    assert!(!page.body.contains(r#"<option value="owner""#));
    let hamlet_key = f.server.key_of(&f.hamlet).await;
    assert_eq!(me_status(&f, "hamlet@zulip.com", &hamlet_key).await, 200);

    // The role: audited with the acting administrator.
    let alerts = follow(act("role", vec![("role", "moderator")]).await).await;
    assert_eq!(alerts, vec!["The role was changed.".to_owned()]);
    assert_eq!(user(&f, "hamlet@zulip.com").await.role, Role::Moderator);
    let row = &audited(&f, "user_role_changed").await[0];
    assert_eq!(row.acting_user_id, Some(admin.id));
    assert_eq!(row.modified_user_id, Some(f.hamlet.id));

    // Deactivation: the key refused at once, the bot with him; reactivation brings the key back.
    let bot_key = f.server.key_of(&bot).await;
    let alerts = follow(act("deactivate", vec![]).await).await;
    assert!(
        alerts[0].starts_with("The account was deactivated"),
        "{alerts:?}"
    );
    assert_eq!(me_status(&f, "hamlet@zulip.com", &hamlet_key).await, 401);
    assert_eq!(me_status(&f, &bot.delivery_email, &bot_key).await, 401);
    let deactivated = c.get(&person).await;
    assert!(deactivated.body.contains("Reactivate account"));
    let alerts = follow(act("reactivate", vec![]).await).await;
    assert_eq!(alerts, vec!["The account was reactivated.".to_owned()]);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &hamlet_key).await, 200);
    assert_eq!(
        audited(&f, "user_deactivated").await[0].acting_user_id,
        Some(admin.id)
    );
    assert_eq!(
        audited(&f, "user_reactivated").await[0].acting_user_id,
        Some(admin.id)
    );

    // A leaked key replaced: the old one refused at once.
    let alerts = follow(act("regenerate-key", vec![]).await).await;
    assert!(
        alerts[0].starts_with("The API key was replaced"),
        "{alerts:?}"
    );
    assert_eq!(me_status(&f, "hamlet@zulip.com", &hamlet_key).await, 401);
    let new_key = f.server.key_of(&f.hamlet).await;
    assert_ne!(new_key, hamlet_key);
    assert_eq!(me_status(&f, "hamlet@zulip.com", &new_key).await, 200);
    let row = &audited(&f, "user_api_key_changed").await[0];
    assert_eq!(
        (row.acting_user_id, row.modified_user_id),
        (Some(admin.id), Some(f.hamlet.id))
    );

    // A password reset required: his sessions end, the old password no longer logs in, and a
    // reset link is mailed to him.
    let hamlet_pages = signed_in(&f, "hamlet@zulip.com").await;
    let alerts = follow(act("require-reset", vec![]).await).await;
    assert!(
        alerts[0].contains("a reset link is being mailed to them"),
        "{alerts:?}"
    );
    assert!(user(&f, "hamlet@zulip.com").await.password_reset_needed);
    assert_eq!(hamlet_pages.get("/settings/account").await.status, 302);
    let login = PageClient::new(f.server.addr, "zulip")
        .log_in("hamlet@zulip.com", PW, None)
        .await;
    assert_eq!(login.status, 200);
    assert!(
        login.alerts()[0].contains("Reset your password"),
        "{:?}",
        login.alerts()
    );
    let row = &audited(&f, "user_password_reset_required").await[0];
    assert_eq!(row.acting_user_id, Some(admin.id));
    let mail_dir = f.db.dir().join("mail");
    let mailed = latchkey_tests::eventually(
        std::time::Duration::from_secs(10),
        || async {
            std::fs::read_dir(&mail_dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                        .any(|t| t.contains("To: hamlet@zulip.com"))
                })
                .unwrap_or(false)
        },
        |found: &bool| *found,
    )
    .await;
    assert!(mailed, "no reset mail for hamlet");

    // Owners are the owners' business, and the last owner stays one.
    let r = post_from(
        &c,
        &person,
        &format!("/organization/users/{}/role", owner.id.0),
        &[("role", "member")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Must be an organization owner"));
    let d = signed_in(&f, "desdemona@zulip.com").await;
    let own = format!("/organization/users/{}", owner.id.0);
    let r = post_from(&d, &own, &format!("{own}/role"), &[("role", "member")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.alerts(),
        vec!["The owner permission cannot be removed from the only organization owner.".to_owned()]
    );
    assert_eq!(user(&f, "desdemona@zulip.com").await.role, Role::Owner);
}

async fn bad_input_is_a_clear_page(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    let c = signed_in(&f, "iago@zulip.com").await;
    // Unknown, malformed and other realms' ids: a 404 page saying so.
    let othello = f.othello.id.0;
    for id in ["999999", "abc", "-1", &othello.to_string()] {
        let r = c.get(&format!("/organization/users/{id}")).await;
        assert_eq!(r.status, 404, "{id}: {}", r.body);
        assert!(r.body.contains("No such user"), "{id}");
        let r = post_from(
            &c,
            "/organization/users",
            &format!("/organization/users/{id}/deactivate"),
            &[],
        )
        .await;
        assert_eq!(r.status, 404, "{id}: {}", r.body);
    }
    let h = format!("/organization/users/{}", f.hamlet.id.0);
    // No role, an unknown role, an unknown action.
    for role in [None, Some("emperor")] {
        let form: Vec<(&str, &str)> = role.map(|r| ("role", r)).into_iter().collect();
        let r = post_from(&c, &h, &format!("{h}/role"), &form).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.alerts(), vec!["Please choose a role.".to_owned()]);
    }
    let r = post_from(&c, &h, &format!("{h}/explode"), &[]).await;
    assert_eq!(r.status, 404);
    // A GET of an action is refused, not run.
    assert_eq!(c.get(&format!("{h}/deactivate")).await.status, 405);
    assert!(user(&f, "hamlet@zulip.com").await.is_active);
    // Reactivating an active person, requiring a reset of a deactivated one: messages.
    let r = post_from(&c, &h, &format!("{h}/reactivate"), &[]).await;
    assert!(r.status == 302 || r.status == 400, "{}", r.body);
    f.server
        .admin
        .store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    let r = post_from(&c, &h, &format!("{h}/require-reset"), &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.alerts(), vec!["User is deactivated".to_owned()]);
    // The audit log's dates.
    let r = c.get("/organization/audit?since=yesterday").await;
    assert_eq!(r.status, 400);
    assert!(
        r.alerts()[0].contains("please write it as YYYY-MM-DD"),
        "{:?}",
        r.alerts()
    );
    assert_eq!(
        c.get("/organization/audit.csv?until=2026-13-45")
            .await
            .status,
        400
    );
    assert_eq!(
        c.get("/organization/audit?event=nonsense").await.status,
        400
    );
}
