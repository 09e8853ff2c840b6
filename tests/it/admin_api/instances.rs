//! Two Latchkey instances on one PostgreSQL database: a deactivation, a role change and a
//! switch of login methods made through one are in force on the other within a second.

use std::time::{Duration, Instant};

use auth_core::Role;
use reqwest::Method;

use latchkey_tests::{Client, DbKind, PW, Reply, TestDb, TestServer, eventually};

use super::{basic, call};

async fn me(c: &Client, auth: &str) -> Reply {
    call(c, Method::GET, "/api/v1/users/me", auth, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_every_instance_within_a_second() {
    let Some(db) = TestDb::new(DbKind::Postgres) else {
        return;
    };
    let a = TestServer::start(db.settings()).await;
    let b = TestServer::start(db.settings()).await;
    let zulip = a.create_realm("zulip", "Zulip").await;
    let owner = a
        .create_user(&zulip, "desdemona@zulip.com", Some(PW), Role::Owner)
        .await;
    let iago = a
        .create_user(&zulip, "iago@zulip.com", Some(PW), Role::Administrator)
        .await;
    let hamlet = a
        .create_user(&zulip, "hamlet@zulip.com", Some(PW), Role::Member)
        .await;
    let (ca, cb) = (a.client(), b.client());
    let o = basic(&owner.delivery_email, &a.key_of(&owner).await);
    let i = basic(&iago.delivery_email, &a.key_of(&iago).await);
    let h = basic(&hamlet.delivery_email, &a.key_of(&hamlet).await);
    // B has both keys' owners cached.
    assert_eq!(me(&cb, &i).await.body["is_admin"], true);
    me(&cb, &h).await.assert_success();

    // Demoted on A: B sees the member within a second.
    call(
        &ca,
        Method::PATCH,
        &format!("/api/v1/users/{}", iago.id.0),
        &o,
        &[("role", "400")],
    )
    .await
    .assert_success();
    let changed = Instant::now();
    let r = eventually(
        Duration::from_secs(3),
        || me(&cb, &i),
        |r| r.body["role"] == 400,
    )
    .await;
    let took = changed.elapsed();
    assert_eq!(r.body["is_admin"], false, "{}", r.raw);
    assert!(
        took < Duration::from_secs(1),
        "B saw the new role after {took:?}"
    );

    // Deactivated on A: B refuses the key within a second.
    call(
        &ca,
        Method::DELETE,
        &format!("/api/v1/users/{}", hamlet.id.0),
        &o,
        &[],
    )
    .await
    .assert_success();
    let changed = Instant::now();
    let r = eventually(Duration::from_secs(3), || me(&cb, &h), |r| r.status == 401).await;
    let took = changed.elapsed();
    r.assert_error(401, "UNAUTHORIZED", "Account is deactivated");
    assert!(
        took < Duration::from_secs(1),
        "B refused the key after {took:?}"
    );
    a.stop().await;
    b.stop().await;
}
