//! Restarts, the server secret, what is stored, bcrypt's 72-byte limit, hash upgrades and
//! timing equalisation of unknown users.

use std::time::{Duration, Instant};

use auth_core::Role;
use latchkey_tests::{DbKind, Fixture, PW, TestServer, both_dbs};

both_dbs!(
    restart_keeps_users_and_keys,
    wrong_secret_refuses_to_start,
    keys_are_not_stored_in_plaintext,
    bytes_after_72_matter,
    hash_is_upgraded_when_cost_changes,
    unknown_user_costs_a_password_check,
);

async fn restart_keeps_users_and_keys(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let first = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    first.assert_success();
    let settings = f.server.settings.clone();
    let Fixture { server, db, .. } = f;
    server.stop().await;
    let server = TestServer::start(settings).await;
    let again = server
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    again.assert_success();
    assert_eq!(again.body["api_key"], first.body["api_key"]);
    assert_eq!(again.body["user_id"], first.body["user_id"]);
    server.stop().await;
    drop(db);
}

async fn wrong_secret_refuses_to_start(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let mut settings = f.server.settings.clone();
    settings.secrets.server_secret = latchkey::config::Secret(auth_core::SecretString::new(
        "another-secret-that-is-long-enough-0123456789",
    ));
    let err = match latchkey::AppState::open(settings).await {
        Ok(_) => panic!("a server with a different secret must refuse to start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("does not match"), "{err}");
    assert!(!err.contains("another-secret"), "{err}");
}

async fn keys_are_not_stored_in_plaintext(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let key = f.server.key_of(&f.hamlet).await;
    match kind {
        DbKind::Sqlite => {
            let path = f.db.url().trim_start_matches("sqlite://").to_owned();
            f.server.admin.store.ping().await.unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend(wal);
            }
            let hay = String::from_utf8_lossy(&bytes);
            assert!(
                !hay.contains(&key),
                "plaintext key found in the SQLite file"
            );
            assert!(hay.contains("bcrypt-sha256$"), "sanity: the file was read");
        }
        DbKind::Postgres => {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                dump: String,
            }
            let mut c = diesel::PgConnection::establish(&f.db.url()).unwrap();
            let rows: Vec<Row> = diesel::sql_query(
                "SELECT digest || encode(sealed, 'escape') AS dump FROM api_keys",
            )
            .load(&mut c)
            .unwrap();
            assert_eq!(rows.len(), 3);
            for r in rows {
                assert!(!r.dump.contains(&key));
            }
        }
    }
}

async fn bytes_after_72_matter(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let prefix = "Ω".repeat(36); // 72 bytes of UTF-8
    let real = format!("{prefix}-the-real-ending");
    f.server
        .create_user(&f.zulip, "long@zulip.com", Some(&real), Role::Member)
        .await;
    let c = f.client();
    c.fetch_api_key("zulip", "long@zulip.com", &real)
        .await
        .assert_success();
    for other in [
        format!("{prefix}-another-ending"),
        prefix.clone(),
        format!("{prefix}x"),
    ] {
        c.fetch_api_key("zulip", "long@zulip.com", &other)
            .await
            .assert_bad_credentials();
    }
    // Zulip allows 100-character passwords; all 100 count.
    let hundred = "z".repeat(99) + "1";
    f.server
        .create_user(&f.zulip, "hundred@zulip.com", Some(&hundred), Role::Member)
        .await;
    c.fetch_api_key("zulip", "hundred@zulip.com", &hundred)
        .await
        .assert_success();
    let hundred_other = "z".repeat(99) + "2";
    c.fetch_api_key("zulip", "hundred@zulip.com", &hundred_other)
        .await
        .assert_bad_credentials();
}

async fn hash_is_upgraded_when_cost_changes(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let mut settings = f.server.settings.clone();
    settings.auth.bcrypt_cost = 5;
    let Fixture { server, db, .. } = f;
    server.stop().await;
    let server = TestServer::start(settings).await;
    let stored = |s: &TestServer| {
        let store = s.admin.store.clone();
        async move {
            store
                .login_records_any_realm("hamlet@zulip.com")
                .await
                .unwrap()[0]
                .password_hash
                .clone()
                .unwrap()
                .0
        }
    };
    assert!(stored(&server).await.contains("$04$"));
    server
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
    let after = stored(&server).await;
    assert!(after.contains("$05$"), "{}", &after[..20]);
    server
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
    server.stop().await;
    drop(db);
}

/// An unknown email must cost what a wrong password costs (one bcrypt at the configured cost).
/// Not a performance measurement: the bound is loose (a factor of two) and it would fail by a
/// factor of fifty if the dummy verification were missing.
async fn unknown_user_costs_a_password_check(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.auth.bcrypt_cost = 10;
        // Many failed attempts on one username: measure the backend, not the login limit.
        s.rate_limits.authenticate_enabled = false;
        s.rate_limits.api_by_ip = Default::default(); // unlimited
    })
    .await
    else {
        return;
    };
    // The fixture hashed at cost 10 too, so the stored hashes match the dummy's cost.
    let c = f.client();
    c.fetch_api_key("zulip", "hamlet@zulip.com", "warm-up")
        .await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..9 {
        if Instant::now() > deadline {
            break;
        }
        let t = Instant::now();
        c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong-password")
            .await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        c.fetch_api_key("zulip", "nobody-here@zulip.com", "wrong-password")
            .await;
        unknown.push(t.elapsed());
    }
    wrong.sort();
    unknown.sort();
    let (w, u) = (wrong[wrong.len() / 2], unknown[unknown.len() / 2]);
    let ratio = u.as_secs_f64() / w.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown-user median {u:?} vs wrong-password median {w:?} (ratio {ratio:.2})"
    );
}
