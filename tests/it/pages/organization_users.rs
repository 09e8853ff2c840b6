//! Organization → Users over HTTP: search and filters, and what an administrator does to a
//! person (role, deactivation with their bots, reactivation, a required password reset with its
//! mail, a replaced key), each audited with the acting administrator and seen at once by the
//! API; owners' rules; unknown ids and bad input as clear pages.

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::pages::{Page, PageClient};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};

use super::organization::{audited, post_from, staff, user};
use super::settings::{me_status, signed_in};

both_dbs!(
    users_are_searched_and_filtered,
    the_list_comes_in_pages,
    administrator_actions_on_a_person,
    bad_input_is_a_clear_page,
);

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

async fn the_list_comes_in_pages(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    for n in 0..120 {
        f.server
            .create_user(
                &f.zulip,
                &format!("crowd-{n:03}@zulip.com"),
                None,
                Role::Member,
            )
            .await;
    }
    let c = signed_in(&f, "iago@zulip.com").await;
    let shown = |p: &Page| p.body.matches("<td><a href=\"/organization/users/").count();
    let first = c.get("/organization/users?q=crowd-").await;
    assert_eq!(shown(&first), 100, "{}", first.body);
    assert!(
        first.body.contains("1–100 of 120 matching"),
        "{}",
        first.body
    );
    assert!(first.body.contains("Next page") && !first.body.contains("Previous page"));
    // The next page keeps the filters.
    let second = c.get("/organization/users?q=crowd-&page=2").await;
    assert_eq!(shown(&second), 20);
    assert!(
        second.body.contains("101–120 of 120 matching"),
        "{}",
        second.body
    );
    assert!(second.body.contains("Previous page") && !second.body.contains("Next page"));
    let unescaped = first.body.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        unescaped.contains(r#"href="/organization/users?q=crowd-&page=2" rel="next""#),
        "{}",
        first.body
    );
    // A page past the end shows the last one; garbage shows the first.
    assert_eq!(
        shown(&c.get("/organization/users?q=crowd-&page=99").await),
        20
    );
    assert_eq!(
        shown(&c.get("/organization/users?q=crowd-&page=x").await),
        100
    );
}
