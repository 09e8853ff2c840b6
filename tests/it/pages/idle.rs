//! Inactivity (web.md decision 5): a browser-session cookie's session that sees no request for
//! `web.session_inactivity_secs` ends, however long its lifetime; one that keeps being used
//! lives on, and a "Keep me logged in" session has no inactivity limit.

use std::time::{Duration, Instant};

use auth_service::{clock, sessions};
use latchkey_tests::pages::PageClient;
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};

both_dbs!(an_idle_session_is_refused);

const INACTIVITY: Duration = Duration::from_secs(2);

async fn an_idle_session_is_refused(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        s.web.session_lifetime_secs = Duration::from_secs(3600);
        s.web.session_inactivity_secs = INACTIVITY;
    })
    .await
    else {
        return;
    };
    let login = |user: &'static str, remember: bool| {
        let c = PageClient::new(f.server.addr, "zulip");
        async move {
            let token = c.get("/login/").await.csrf_token();
            let mut form = vec![
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", user),
                ("password", PW),
            ];
            if remember {
                form.push(("remember", "1"));
            }
            assert_eq!(c.post("/accounts/login/", &form).await.status, 302);
            assert_eq!(c.get("/").await.status, 200);
            c
        }
    };
    let idle = login("hamlet@zulip.com", false).await;
    let started = Instant::now();
    let busy = login("cordelia@zulip.com", false).await;
    let remembered = login("hamlet@zulip.com", true).await;
    let digest = sessions::cookie_digest(&idle.session_cookie().unwrap()).unwrap();
    let store = &f.server.admin.store;

    // The busy session makes a request every 250 ms until the idle one's row says it has not
    // been used for longer than the limit (by the server's clock), at most 15 s.
    let limit = i64::try_from(INACTIVITY.as_micros()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        assert_eq!(busy.get("/").await.status, 200, "a used session lives");
        let row = store.session(&digest).await.unwrap().expect("the row");
        if clock::now().0 - row.session.last_seen_at > limit + 200_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the idle session never aged");
    }
    assert!(started.elapsed() > INACTIVITY);

    let gone = idle.get("/").await;
    assert_eq!(gone.status, 302);
    assert_eq!(gone.location(), Some("/login/"));
    assert!(store.session(&digest).await.unwrap().is_none(), "deleted");
    assert_eq!(busy.get("/").await.status, 200);
    assert_eq!(remembered.get("/").await.status, 200);
}
