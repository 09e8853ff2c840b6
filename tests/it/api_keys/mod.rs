//! Keys at work: HTTP Basic authentication (spec §9, §12.7), `GET /users/me`, regeneration
//! (§12.8), bots (§1.6), forward-auth, and the audit rows each change writes. This module holds
//! what the suites share: Basic headers, requests with one, and the spec's cast of bots and roles.

use auth_core::{BotType, Role, User};
use auth_store::{Actor, NewUser};
use base64::Engine;

use latchkey_tests::{Client, Fixture, PW, Reply};

mod basic_auth;
mod batched_reads;
mod bots;
mod forward_auth;
mod regeneration;

fn basic(email: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"))
    )
}

async fn get_as(c: &Client, sub: &str, path: &str, auth: Option<&str>) -> Reply {
    let mut rb = c.request(reqwest::Method::GET, sub, path);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    Client::send(rb).await
}

async fn post_as(c: &Client, sub: &str, path: &str, auth: &str, form: &[(&str, &str)]) -> Reply {
    Client::send(
        c.request(reqwest::Method::POST, sub, path)
            .header("authorization", auth)
            .form(form),
    )
    .await
}

/// The extra people and bots of the spec's fixture: bot B owned by Hamlet, webhook bot W,
/// guest G, admin Iago, owner Desdemona.
struct Cast {
    bot: User,
    webhook: User,
    guest: User,
    iago: User,
    owner: User,
}

async fn cast(f: &Fixture) -> Cast {
    let s = &f.server;
    let bot = |email: &str, t: BotType, owner: &User| NewUser {
        realm_id: f.zulip.id,
        delivery_email: email.into(),
        full_name: email.into(),
        password_hash: None,
        role: Role::Member,
        bot_type: Some(t),
        bot_owner_id: Some(owner.id),
        external_id: None,
    };
    let b = s
        .admin
        .store
        .create_user(
            bot("b-bot@zulip.example.test", BotType::Generic, &f.hamlet),
            s.admin.keys.sealer(),
            Actor::cli(),
        )
        .await
        .unwrap();
    let w = s
        .admin
        .store
        .create_user(
            bot(
                "w-bot@zulip.example.test",
                BotType::IncomingWebhook,
                &f.hamlet,
            ),
            s.admin.keys.sealer(),
            Actor::cli(),
        )
        .await
        .unwrap();
    Cast {
        bot: b,
        webhook: w,
        guest: s
            .create_user(&f.zulip, "polonius@zulip.com", Some(PW), Role::Guest)
            .await,
        iago: s
            .create_user(&f.zulip, "iago@zulip.com", Some(PW), Role::Administrator)
            .await,
        owner: s
            .create_user(&f.zulip, "desdemona@zulip.com", Some(PW), Role::Owner)
            .await,
    }
}

async fn auth_of(f: &Fixture, u: &User) -> String {
    basic(&u.delivery_email, &f.server.key_of(u).await)
}

#[track_caller]
fn unauthorized(r: &Reply, msg: &str) {
    r.assert_error(401, "UNAUTHORIZED", msg);
    assert_eq!(
        r.headers["www-authenticate"], "Basic realm=\"zulip\"",
        "{}",
        r.raw
    );
}
