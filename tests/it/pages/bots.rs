//! Settings → Your bots over HTTP (web.md §3, §8 case 9): only the viewer's own bots, keys
//! only after the password is re-entered, "Add a new bot" and its errors, a new key from the
//! refresh icon (the old one refused at once), the bot's zuliprc, deactivation and
//! reactivation, and `POST /json/bots/{id}/api_key/regenerate`.

use auth_core::{BotType, Role, User};
use latchkey_tests::pages::PageClient;
use latchkey_tests::{DbKind, Fixture, both_dbs};

use super::settings::{me_status, realm_uri, reauth, signed_in};

both_dbs!(
    only_the_viewers_bots_and_keys_after_reauthentication,
    new_bot_key_refuses_the_old_one_at_once,
    deactivate_and_reactivate_a_bot,
    guests_have_no_bots,
);

/// Adds a bot through the page's form; the answer to the POST.
async fn add_bot(
    c: &PageClient,
    bot_type: &str,
    name: &str,
    short: &str,
) -> latchkey_tests::pages::Page {
    let token = c.get("/settings/your-bots").await.csrf_token();
    c.post(
        "/settings/your-bots",
        &[
            ("csrfmiddlewaretoken", &token),
            ("bot_type", bot_type),
            ("full_name", name),
            ("short_name", short),
        ],
    )
    .await
}

/// The bot of the zulip realm with this email.
async fn bot(f: &Fixture, email: &str) -> User {
    f.server
        .admin
        .store
        .user_by_email(f.zulip.id, email)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no bot {email}"))
}

async fn only_the_viewers_bots_and_keys_after_reauthentication(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let h = signed_in(&f, "hamlet@zulip.com").await;
    let empty = h.get("/settings/your-bots").await;
    assert_eq!(empty.status, 200);
    for text in [
        "Active bots",
        "Inactive bots",
        "You have no active bots.",
        "Add a new bot",
        r#"<label for="id_bot_type">Bot type</label>"#,
        r#"<label for="id_full_name">Name</label>"#,
        "Bot email (a-z, 0-9, and dashes only)",
        "-bot@zulip.example.test",
        ">Generic bot</option>",
        ">Incoming webhook</option>",
    ] {
        assert!(empty.body.contains(text), "{text} missing:\n{}", empty.body);
    }
    let r = add_bot(&h, "1", "Crumb Bot", "cookie").await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some("/settings/your-bots"));
    let r = add_bot(&h, "2", "Hook Bot", "hook").await;
    assert_eq!(r.status, 302, "{}", r.body);
    // Errors are shown on the form, with what was typed.
    let taken = add_bot(&h, "1", "Other Crumb", "cookie").await;
    assert_eq!(taken.status, 400);
    assert_eq!(taken.alerts(), vec!["Username already in use".to_owned()]);
    assert!(taken.body.contains(r#"value="Other Crumb""#));
    let bad = add_bot(&h, "1", "X", "shorty").await;
    assert_eq!(bad.alerts(), vec!["Name too short!".to_owned()]);
    let bad = add_bot(&h, "1", "Spaced Bot", "has space").await;
    assert_eq!(bad.alerts(), vec!["Bad name or username".to_owned()]);
    let bad = add_bot(&h, "9", "Typed Bot", "typed").await;
    assert_eq!(bad.alerts(), vec!["Please choose a bot type.".to_owned()]);

    // Cordelia's bot is not on Hamlet's page, nor Hamlet's on hers.
    let d = signed_in(&f, "cordelia@zulip.com").await;
    assert_eq!(add_bot(&d, "1", "Cordelia Bot", "delia").await.status, 302);
    let cookie = bot(&f, "cookie-bot@zulip.example.test").await;
    let hook = bot(&f, "hook-bot@zulip.example.test").await;
    let delia = bot(&f, "delia-bot@zulip.example.test").await;
    assert_eq!(cookie.bot_type, Some(BotType::Generic));
    assert_eq!(hook.bot_type, Some(BotType::IncomingWebhook));
    let page = h.get("/settings/your-bots").await;
    for text in [
        "Crumb Bot",
        "cookie-bot@zulip.example.test",
        "Hook Bot",
        "Incoming webhook",
        "Show API keys",
        r#"title="Generate new API key""#,
        "Download zuliprc",
        "Deactivate bot",
    ] {
        assert!(page.body.contains(text), "{text} missing:\n{}", page.body);
    }
    assert!(!page.body.contains("Cordelia Bot"));
    assert!(
        !d.get("/settings/your-bots")
            .await
            .body
            .contains("Crumb Bot")
    );
    // No key before the password is re-entered.
    let k_cookie = f.server.key_of(&cookie).await;
    let k_hook = f.server.key_of(&hook).await;
    let k_delia = f.server.key_of(&delia).await;
    assert!(!page.body.contains(&k_cookie) && !page.body.contains(&k_hook));
    let token = page.csrf_token();
    let early = h
        .post(
            &format!("/settings/your-bots/{}/zuliprc", cookie.id.0),
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(early.status, 302);
    assert!(!early.body.contains(&k_cookie));
    let back = reauth(&h, latchkey_tests::PW, "/settings/your-bots").await;
    assert_eq!(back.location(), Some("/settings/your-bots"));
    let page = h.get("/settings/your-bots").await;
    assert!(page.body.contains(&k_cookie) && page.body.contains(&k_hook));
    assert!(!page.body.contains(&k_delia));
    assert!(!page.body.contains("Show API keys"));
    // The bot's zuliprc, byte for byte.
    let file = h
        .post(
            &format!("/settings/your-bots/{}/zuliprc", cookie.id.0),
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(
        file.header("content-disposition"),
        Some("attachment; filename=\"zuliprc\"")
    );
    assert_eq!(file.header("cache-control"), Some("no-store"));
    let site = realm_uri(&f).await;
    assert_eq!(
        file.body,
        format!("[api]\nemail=cookie-bot@zulip.example.test\nkey={k_cookie}\nsite={site}\n")
    );
    // Someone else's bot is not found.
    let theirs = h
        .post(
            &format!("/settings/your-bots/{}/zuliprc", delia.id.0),
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(theirs.status, 404);
    assert!(!theirs.body.contains(&k_delia));
    assert_eq!(
        h.get(&format!("/settings/your-bots/{}/deactivate", delia.id.0))
            .await
            .status,
        404
    );
}

async fn new_bot_key_refuses_the_old_one_at_once(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let h = signed_in(&f, "hamlet@zulip.com").await;
    assert_eq!(add_bot(&h, "1", "Crumb Bot", "cookie").await.status, 302);
    let email = "cookie-bot@zulip.example.test";
    let cookie = bot(&f, email).await;
    let old = f.server.key_of(&cookie).await;
    assert_eq!(me_status(&f, email, &old).await, 200);
    // The refresh icon leads to a confirmation, whose button makes the new key.
    let path = format!("/settings/your-bots/{}/regenerate", cookie.id.0);
    let confirm = h.get(&path).await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm
            .body
            .contains("Generate a new API key for Crumb Bot?")
    );
    let token = confirm.csrf_token();
    assert_eq!(h.post(&path, &[]).await.status, 403, "no CSRF token");
    let r = h.post(&path, &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some("/settings/your-bots"));
    let new = f.server.key_of(&cookie).await;
    assert_ne!(new, old);
    assert_eq!(me_status(&f, email, &old).await, 401);
    assert_eq!(me_status(&f, email, &new).await, 200);

    // The JSON route does the same with the session and its token.
    let json_path = format!("/json/bots/{}/api_key/regenerate", cookie.id.0);
    let refused = h.post(&json_path, &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let anon = PageClient::new(f.server.addr, "zulip")
        .post(&json_path, &[])
        .await;
    assert_eq!(anon.status, 401);
    let r = h.post(&json_path, &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let third = v["api_key"].as_str().unwrap().to_owned();
    assert_eq!(third, f.server.key_of(&cookie).await);
    assert_eq!(me_status(&f, email, &new).await, 401);
    assert_eq!(me_status(&f, email, &third).await, 200);
    // Not someone else's bot.
    let d = signed_in(&f, "cordelia@zulip.com").await;
    let t = d.get("/settings/your-bots").await.csrf_token();
    let r = d.post(&json_path, &[("csrfmiddlewaretoken", &t)]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(me_status(&f, email, &third).await, 200);
}

async fn deactivate_and_reactivate_a_bot(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let h = signed_in(&f, "hamlet@zulip.com").await;
    assert_eq!(add_bot(&h, "1", "Crumb Bot", "cookie").await.status, 302);
    let email = "cookie-bot@zulip.example.test";
    let cookie = bot(&f, email).await;
    let key = f.server.key_of(&cookie).await;
    let path = format!("/settings/your-bots/{}/deactivate", cookie.id.0);
    let confirm = h.get(&path).await;
    assert!(confirm.body.contains("Deactivate Crumb Bot?"));
    assert!(confirm.body.contains(">Deactivate bot</button>"));
    let token = confirm.csrf_token();
    let r = h.post(&path, &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(r.status, 302);
    assert_eq!(me_status(&f, email, &key).await, 401);
    let active = h.get("/settings/your-bots").await;
    assert!(!active.body.contains("Crumb Bot"));
    assert!(active.body.contains("You have no active bots."));
    let inactive = h.get("/settings/your-bots?inactive").await;
    assert!(inactive.body.contains("Crumb Bot"));
    assert!(inactive.body.contains("Reactivate bot"));
    assert!(!inactive.body.contains("Add a new bot"));
    let path = format!("/settings/your-bots/{}/reactivate", cookie.id.0);
    let confirm = h.get(&path).await;
    assert!(confirm.body.contains(">Reactivate bot</button>"));
    let r = h.post(&path, &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location(), Some("/settings/your-bots?inactive"));
    assert_eq!(me_status(&f, email, &key).await, 200);
    assert!(
        h.get("/settings/your-bots")
            .await
            .body
            .contains("Crumb Bot")
    );
    // A person is not a bot here, even one's own account.
    let me = format!("/settings/your-bots/{}/deactivate", f.hamlet.id.0);
    assert_eq!(h.get(&me).await.status, 404);
    assert_eq!(
        h.post(&me, &[("csrfmiddlewaretoken", &token)]).await.status,
        404
    );
}

/// A guest may not have bots (Zulip's `require_member_or_admin`): the page says so, and a
/// guest's form is refused.
async fn guests_have_no_bots(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    f.server
        .create_user(
            &f.zulip,
            "guest@zulip.com",
            Some(latchkey_tests::PW),
            Role::Guest,
        )
        .await;
    let g = signed_in(&f, "guest@zulip.com").await;
    let page = g.get("/settings/your-bots").await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("Not allowed for guest users"),
        "{}",
        page.body
    );
    let token = g.get("/settings/account").await.csrf_token();
    let r = g
        .post(
            "/settings/your-bots",
            &[
                ("csrfmiddlewaretoken", &token),
                ("bot_type", "1"),
                ("full_name", "Guest Bot"),
                ("short_name", "guestly"),
            ],
        )
        .await;
    assert!(r.status >= 400, "{}", r.status);
    assert!(
        f.server
            .admin
            .store
            .user_by_email(f.zulip.id, "guestly-bot@zulip.example.test")
            .await
            .unwrap()
            .is_none()
    );
}
