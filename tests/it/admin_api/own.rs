//! `DELETE /users/me` (Zulip's "deactivate own user") under `/api/v1` with Basic credentials and
//! under `/json` with the session: refused for the realm's only owner and its only account with
//! Zulip's `CANNOT_DEACTIVATE_LAST_USER`; otherwise the key is refused at once, the sessions end,
//! the person's bots go with them, and the audit log records the person's own act.

use latchkey_tests::pages::PageClient;
use latchkey_tests::{DbKind, Fixture, PW, Reply, both_dbs};
use reqwest::Method;

use super::{audited, auth_of, call, cast};

both_dbs!(people_deactivate_themselves);

const DEACTIVATED: &str = "Account is deactivated";

#[track_caller]
fn last(r: &Reply, owner: bool) {
    let entity = if owner { "organization owner" } else { "user" };
    r.assert_error(
        400,
        "CANNOT_DEACTIVATE_LAST_USER",
        &format!("Cannot deactivate the only {entity}."),
    );
    assert_eq!(r.body["is_last_owner"], owner, "{}", r.raw);
    assert_eq!(r.body["entity"], entity, "{}", r.raw);
}

async fn people_deactivate_themselves(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let cast = cast(&f).await;
    let (h, o, bot) = (
        auth_of(&f, &f.hamlet).await,
        auth_of(&f, &cast.owner).await,
        auth_of(&f, &cast.bot).await,
    );

    // The realm's only owner stays (and so does the only account of a realm).
    last(
        &call(&c, Method::DELETE, "/api/v1/users/me", &o, &[]).await,
        true,
    );
    call(&c, Method::GET, "/api/v1/users/me", &o, &[])
        .await
        .assert_success();
    let othello = auth_of(&f, &f.othello).await;
    let lone = c
        .request(Method::DELETE, "lear", "/api/v1/users/me")
        .header("authorization", othello.as_str());
    last(&latchkey_tests::Client::send(lone).await, false);

    // Hamlet, signed in on the web too, leaves through the API.
    let web = PageClient::new(f.server.addr, "zulip");
    assert_eq!(web.log_in("hamlet@zulip.com", PW, None).await.status, 302);
    assert_eq!(web.get("/settings/your-bots").await.status, 200);
    call(&c, Method::DELETE, "/api/v1/users/me", &h, &[])
        .await
        .assert_success();
    for auth in [&h, &bot] {
        call(&c, Method::GET, "/api/v1/users/me", auth, &[])
            .await
            .assert_error(401, "UNAUTHORIZED", DEACTIVATED);
    }
    let page = web.get("/settings/your-bots").await;
    assert_eq!(page.status, 302, "the session ended: {}", page.body);
    let gone = audited(&f, "user_deactivated").await;
    assert!(
        gone.contains(&(Some(f.hamlet.id.0), Some(f.hamlet.id.0))),
        "{gone:?}"
    );
    assert!(
        gone.contains(&(Some(f.hamlet.id.0), Some(cast.bot.id.0))),
        "{gone:?}"
    );

    // Cordelia leaves from the web app: the session's token is needed, then the session ends.
    let cordelia = PageClient::new(f.server.addr, "zulip");
    assert_eq!(
        cordelia.log_in("cordelia@zulip.com", PW, None).await.status,
        302
    );
    let token = cordelia.get("/settings/your-bots").await.csrf_token();
    let key = auth_of(&f, &f.cordelia).await;
    let r = cordelia
        .json(Method::DELETE, "/json/users/me", &[], None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = cordelia
        .json(Method::DELETE, "/json/users/me", &[], Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    call(&c, Method::GET, "/api/v1/users/me", &key, &[])
        .await
        .assert_error(401, "UNAUTHORIZED", DEACTIVATED);
    let r = cordelia
        .json(Method::DELETE, "/json/users/me", &[], Some(&token))
        .await;
    assert_eq!(r.status, 401, "the session ended: {}", r.body);
    let gone = audited(&f, "user_deactivated").await;
    assert!(
        gone.contains(&(Some(f.cordelia.id.0), Some(f.cordelia.id.0))),
        "{gone:?}"
    );

    // The owner may leave once there is another owner.
    call(
        &c,
        Method::PATCH,
        &format!("/api/v1/users/{}", cast.iago.id.0),
        &o,
        &[("role", "100")],
    )
    .await
    .assert_success();
    call(&c, Method::DELETE, "/api/v1/users/me", &o, &[])
        .await
        .assert_success();
    let i = auth_of(&f, &cast.iago).await;
    last(
        &call(&c, Method::DELETE, "/api/v1/users/me", &i, &[]).await,
        true,
    );
    f.server.stop().await;
}
