//! The administration API (issue 14): `GET/POST /users`, `GET/PATCH/DELETE /users/{id}`,
//! `POST /users/{id}/reactivate` and `PATCH /realm` with `authentication_methods`, with Zulip's
//! role rules — members refused and owners or administrators allowed exactly where Zulip
//! refuses and allows them — on both databases (`http.rs`, `people.rs`), across two instances
//! (`instances.rs`), and through the `zulip` Python bindings' own methods (`python.rs`). This
//! file holds what the suites share: Basic headers, requests with a verb, and the cast.

use auth_core::{Role, User};
use base64::Engine;
use latchkey_tests::{Client, Fixture, PW, Reply};

mod http;
mod instances;
mod own;
mod people;
mod python;
mod session;

fn basic(email: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"))
    )
}

/// A request with Basic credentials and a form body (none for GET: the query string).
async fn call(
    c: &Client,
    method: reqwest::Method,
    path: &str,
    auth: &str,
    form: &[(&str, &str)],
) -> Reply {
    let rb = c
        .request(method.clone(), "zulip", path)
        .header("authorization", auth);
    let rb = if method == reqwest::Method::GET {
        rb.query(form)
    } else {
        rb.form(form)
    };
    Client::send(rb).await
}

/// The realm `zulip` of the spec's fixture with every role: owner Desdemona, administrator
/// Iago, members Hamlet and Cordelia, guest Polonius, and Hamlet's bot.
struct Cast {
    owner: User,
    iago: User,
    guest: User,
    bot: User,
}

async fn cast(f: &Fixture) -> Cast {
    let s = &f.server;
    let bot = s
        .create_bot(&f.hamlet, "helper-bot@zulip.example.test", "Helper Bot")
        .await;
    Cast {
        owner: s
            .create_user(&f.zulip, "desdemona@zulip.com", Some(PW), Role::Owner)
            .await,
        iago: s
            .create_user(&f.zulip, "iago@zulip.com", Some(PW), Role::Administrator)
            .await,
        guest: s
            .create_user(&f.zulip, "polonius@zulip.com", Some(PW), Role::Guest)
            .await,
        bot,
    }
}

async fn auth_of(f: &Fixture, u: &User) -> String {
    basic(&u.delivery_email, &f.server.key_of(u).await)
}

/// `/api/v1/users/{id}` (and what follows it).
fn user_path(u: &User, rest: &str) -> String {
    format!("/api/v1/users/{}{rest}", u.id.0)
}

#[track_caller]
fn must_be(r: &Reply, who: &str) {
    r.assert_error(
        400,
        "UNAUTHORIZED_PRINCIPAL",
        &format!("Must be an organization {who}"),
    );
}

/// The audit rows of the realm `event`, newest first, as `(acting, modified)` user ids.
async fn audited(f: &Fixture, event: &str) -> Vec<(Option<i64>, Option<i64>)> {
    f.server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 500)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.event_type == event)
        .map(|e| {
            (
                e.acting_user_id.map(|u| u.0),
                e.modified_user_id.map(|u| u.0),
            )
        })
        .collect()
}
