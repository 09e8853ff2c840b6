//! Forward-auth (`/api/v1/auth/verify`, for a reverse proxy): the headers it answers with, any
//! method, and a client's own `X-Forwarded-Host` never choosing the realm.

use latchkey_tests::{Client, DbKind, Fixture, both_dbs};

use super::{auth_of, get_as, post_as};

both_dbs!(
    forward_auth_verify,
    forward_auth_ignores_a_clients_forwarded_host,
);

async fn forward_auth_verify(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let h = auth_of(&f, &f.hamlet).await;
    let r = get_as(&c, "zulip", "/api/v1/auth/verify", Some(&h)).await;
    r.assert_success();
    assert_eq!(
        r.headers["x-latchkey-user-id"],
        f.hamlet.id.0.to_string().as_str()
    );
    assert_eq!(r.headers["x-latchkey-email"], "hamlet@zulip.com");
    assert_eq!(r.headers["x-latchkey-realm"], "zulip");
    // Any method (proxies may forward the original one).
    let r = post_as(&c, "zulip", "/api/v1/auth/verify", &h, &[]).await;
    r.assert_success();
    for bad in [None, Some("Digest x=y"), Some("Basic Zm9v")] {
        let r = get_as(&c, "zulip", "/api/v1/auth/verify", bad).await;
        assert_eq!(r.status, 401, "{}", r.raw);
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"zulip\"");
        assert!(r.headers.get("x-latchkey-user-id").is_none());
    }
    let r = get_as(&c, "lear", "/api/v1/auth/verify", Some(&h)).await;
    assert_eq!(r.status, 401);
}

async fn forward_auth_ignores_a_clients_forwarded_host(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    // Othello's (lear) key, sent to zulip's host with a forged X-Forwarded-Host naming lear.
    let o = auth_of(&f, &f.othello).await;
    let r = Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/auth/verify")
            .header("authorization", &o)
            .header("x-forwarded-host", "lear.example.test"),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    assert!(r.headers.get("x-latchkey-user-id").is_none());
}
