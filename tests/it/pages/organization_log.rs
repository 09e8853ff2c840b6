//! Organization → Bots, Audit log (filters and the CSV export) and Rate-limit blocks over
//! HTTP: every bot with its owner, failed logins in the log, the export's headers and quoting,
//! a block listed with its end and lifted (the same call as `latchkey limits clear`); a key
//! replaced and a role changed on one instance's page, seen by another within a second.

use std::time::{Duration, Instant};

use auth_core::{BotType, Role};
use auth_store::Actor;
use latchkey_tests::pages::PageClient;
use latchkey_tests::{
    Client, DbKind, Fixture, PW, Reply, TestDb, TestServer, both_dbs, eventually,
};

use super::organization::{audited, post_from, staff};
use super::settings::signed_in;

both_dbs!(
    every_bot_with_its_owner,
    audit_log_filters_and_csv_export,
    blocks_are_listed_and_lifted,
);

async fn every_bot_with_its_owner(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    for (owner, name, short) in [
        (f.hamlet.id, "Hamlet Bot", "hamlet"),
        (f.cordelia.id, "Cordelia Hook", "delia"),
    ] {
        auth_service::bots::create(
            &f.server.admin,
            auth_service::bots::NewBot {
                realm: &f.zulip,
                owner,
                full_name: name,
                short_name: short,
                bot_type: BotType::IncomingWebhook,
            },
            Actor::cli(),
        )
        .await
        .unwrap();
    }
    let c = signed_in(&f, "iago@zulip.com").await;
    let page = c.get("/organization/bots").await;
    assert_eq!(page.status, 200);
    for text in [
        "Hamlet Bot",
        "hamlet-bot@zulip.example.test",
        "Cordelia Hook",
        "Incoming webhook",
        &format!(
            r#"<a href="/organization/users/{}">hamlet</a>"#,
            f.hamlet.id.0
        ),
        &format!(
            r#"<a href="/organization/users/{}">cordelia</a>"#,
            f.cordelia.id.0
        ),
    ] {
        assert!(page.body.contains(text), "{text} missing:\n{}", page.body);
    }
    // A bot's page: its owner, no role or password actions.
    let bot = f
        .server
        .admin
        .store
        .user_by_email(f.zulip.id, "delia-bot@zulip.example.test")
        .await
        .unwrap()
        .unwrap();
    let path = format!("/organization/users/{}", bot.id.0);
    let bot_page = c.get(&path).await;
    assert!(bot_page.body.contains("Owner"));
    assert!(!bot_page.body.contains("Change role"));
    assert!(!bot_page.body.contains("Require a password reset"));
    let r = post_from(&c, &path, &format!("{path}/deactivate"), &[]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let after = c.get("/organization/bots").await;
    assert!(after.body.contains("Deactivated"));
}

/// `fetch_api_key` with a wrong password.
async fn fail_login(f: &Fixture, username: &str) -> Reply {
    f.client().fetch_api_key("zulip", username, "wrong").await
}

async fn audit_log_filters_and_csv_export(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let (_owner, admin) = staff(&f).await;
    fail_login(&f, "hamlet@zulip.com")
        .await
        .assert_bad_credentials();
    // A name that starts as a spreadsheet formula does, as typed.
    fail_login(&f, "=cmd+x@zulip.com").await;
    let c = signed_in(&f, "iago@zulip.com").await;
    // An action by the administrator, to filter by actor.
    let h = format!("/organization/users/{}", f.hamlet.id.0);
    let r = post_from(&c, &h, &format!("{h}/role"), &[("role", "guest")]).await;
    assert_eq!(r.status, 302, "{}", r.body);

    let page = c.get("/organization/audit").await;
    assert_eq!(page.status, 200);
    for text in [
        r#"<label for="id_person">"#,
        r#"<label for="id_actor">"#,
        r#"<label for="id_event">Event type</label>"#,
        r#"<label for="id_since">"#,
        r#"<label for="id_until">"#,
        "user_login_failed",
        "user_role_changed",
        "Export as CSV",
    ] {
        assert!(page.body.contains(text), "{text} missing");
    }
    let failed = c
        .get("/organization/audit?person=hamlet%40zulip.com&event=user_login_failed")
        .await;
    assert_eq!(failed.status, 200);
    assert_eq!(failed.body.matches("<td>user_login_failed</td>").count(), 1);
    assert!(failed.body.contains("bad_credentials"));
    assert!(!failed.body.contains("user_role_changed</td>"));
    let by_admin = c.get("/organization/audit?actor=iago%40zulip.com").await;
    assert!(by_admin.body.contains("<td>user_role_changed</td>"));
    assert!(!by_admin.body.contains("<td>user_login_failed</td>"));
    // Dates: today holds everything, a day long past nothing.
    let today =
        humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_owned();
    let all_today = c
        .get(&format!("/organization/audit?since={today}&until={today}"))
        .await;
    assert!(all_today.body.contains("<td>user_role_changed</td>"));
    let past = c.get("/organization/audit?until=2001-01-01").await;
    assert!(past.body.contains("No entries match these filters."));

    // The export: an attachment of text/csv with the page's filters.
    let csv_page = c
        .get("/organization/audit.csv?event=user_login_failed")
        .await;
    assert_eq!(csv_page.status, 200, "{}", csv_page.body);
    assert_eq!(
        csv_page.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        csv_page.header("content-disposition"),
        Some(r#"attachment; filename="audit-log.csv""#)
    );
    let mut reader = csv::Reader::from_reader(csv_page.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["time", "event", "actor", "person", "source", "details"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2, "{}", csv_page.body);
    assert!(rows.iter().all(|r| &r[1] == "user_login_failed"));
    // The details (JSON: quotes and commas) survive the quoting intact (newest first); a
    // cell that would start with `=` is neutralised.
    let odd: serde_json::Value = serde_json::from_str(&rows[0][5]).unwrap();
    assert_eq!(odd["username"], "=cmd+x@zulip.com");
    assert_eq!(&rows[0][3], "'=cmd+x@zulip.com (typed at login)");
    assert!(
        csv_page.body.contains(r#""{""realm"":""zulip"","#),
        "{}",
        csv_page.body
    );
    assert_eq!(&rows[1][3], "hamlet <hamlet@zulip.com>");
    // The other realm's rows are not in this realm's log.
    f.client()
        .fetch_api_key("lear", "othello@lear.com", "wrong")
        .await
        .assert_bad_credentials();
    let mine = c.get("/organization/audit.csv").await;
    assert!(!mine.body.contains("othello"));
    assert!(
        mine.body
            .contains(&format!("iago <{}>", admin.delivery_email))
    );
}

async fn blocks_are_listed_and_lifted(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_by_username = "1800:2".parse().unwrap();
        s.cache.poll_interval_ms = Duration::from_millis(100);
    })
    .await
    else {
        return;
    };
    let (_owner, _admin) = staff(&f).await;
    for _ in 0..2 {
        fail_login(&f, "hamlet@zulip.com")
            .await
            .assert_bad_credentials();
    }
    let refused = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    assert_eq!(refused.status, 429, "{}", refused.raw);
    let c = signed_in(&f, "iago@zulip.com").await;
    let page = c.get("/organization/limits").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<td>hamlet@zulip.com</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Lift block"));
    assert!(!page.body.contains("Not blocked now"), "{}", page.body);
    // Unknown names are refused, on this page.
    let r = post_from(
        &c,
        "/organization/limits",
        "/organization/limits",
        &[("username", "cordelia@zulip.com")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.alerts(),
        vec!["No login of that name is blocked in this organization.".to_owned()]
    );
    let r = post_from(
        &c,
        "/organization/limits",
        "/organization/limits",
        &[("username", "hamlet@zulip.com")],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let after = c.get(r.location().unwrap()).await;
    assert_eq!(
        after.alerts(),
        vec!["The block was lifted: that name can try to log in again.".to_owned()]
    );
    assert!(after.body.contains("No login is blocked."));
    let row = &audited(&f, "login_limit_cleared").await[0];
    assert_eq!(row.acting_user_id.map(|u| u.0), Some(_admin.id.0));
    let client = f.client();
    let ok = latchkey_tests::eventually(
        Duration::from_secs(5),
        || client.fetch_api_key("zulip", "hamlet@zulip.com", PW),
        |r: &Reply| r.status == 200,
    )
    .await;
    ok.assert_success();
}

/// Two instances on one PostgreSQL database: a key an administrator replaces on A's page, and a
/// role changed there, reach B within a second (the invalidation log), with B's cache warm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_key_and_a_new_role_reach_the_other_instance() {
    let Some(db) = TestDb::new(DbKind::Postgres) else {
        return;
    };
    let settings = db.settings();
    let a = TestServer::start(settings.clone()).await;
    let b = TestServer::start(settings).await;
    let zulip = a.create_realm("zulip", "Zulip").await;
    let hamlet = a
        .create_user(&zulip, "hamlet@zulip.com", Some(PW), Role::Member)
        .await;
    a.create_user(&zulip, "iago@zulip.com", Some(PW), Role::Administrator)
        .await;
    let key = a.key_of(&hamlet).await;
    let me = |key: String| {
        let c = b.client();
        async move {
            let rb = c
                .request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
                .basic_auth("hamlet@zulip.com", Some(key));
            Client::send(rb).await
        }
    };
    let warm = me(key.clone()).await;
    warm.assert_success();
    assert_eq!(warm.body["role"], 400);

    let admin = PageClient::new(a.addr, "zulip");
    assert_eq!(admin.log_in("iago@zulip.com", PW, None).await.status, 302);
    let person = format!("/organization/users/{}", hamlet.id.0);
    let r = post_from(
        &admin,
        &person,
        &format!("{person}/role"),
        &[("role", "moderator")],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let changed = Instant::now();
    let seen = eventually(
        Duration::from_secs(1),
        || me(key.clone()),
        |r: &Reply| r.body["role"] == 300,
    )
    .await;
    assert_eq!(
        seen.body["role"],
        300,
        "B still says {} after {:?}",
        seen.raw,
        changed.elapsed()
    );

    let r = post_from(&admin, &person, &format!("{person}/regenerate-key"), &[]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let replaced = Instant::now();
    let refused = eventually(
        Duration::from_secs(1),
        || me(key.clone()),
        |r: &Reply| r.status == 401,
    )
    .await;
    assert_eq!(
        refused.status,
        401,
        "B still accepts the old key after {:?}",
        replaced.elapsed()
    );
    let new_key = a.key_of(&hamlet).await;
    me(new_key).await.assert_success();
    a.stop().await;
    b.stop().await;
}
