//! A cold key cache under load: misses for many different keys at once are read from the
//! database in batches (one `WHERE digest IN (...)` query for whatever waits), and every request
//! still gets its own key's owner — not a neighbour's in the same batch, not "no such key" for
//! a key asked twice in one batch, and a refusal for a made-up key among real ones.

use std::sync::Arc;

use auth_core::User;
use futures_util::StreamExt;
use latchkey_tests::{DbKind, Fixture, both_dbs};

use super::{basic, get_as, unauthorized};

both_dbs!(concurrent_misses_for_many_keys_each_find_their_own_owner);

const BOTS: usize = 200;

async fn concurrent_misses_for_many_keys_each_find_their_own_owner(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.server;
    let mut bots: Vec<(User, String)> = Vec::with_capacity(BOTS);
    for i in 0..BOTS {
        let email = format!("batch{i}-bot@zulip.example.test");
        let bot = s
            .create_bot(&f.hamlet, &email, &format!("Batch bot {i}"))
            .await;
        let key = s.key_of(&bot).await;
        bots.push((bot, basic(&email, &key)));
    }
    // Every bot's key once, some twice (adjacent, so likely in one batch), and made-up keys in
    // between; 64 requests in flight at once, on a cache that has seen none of these keys.
    let mut asks: Vec<(Option<usize>, String)> = Vec::new();
    for (i, (_, auth)) in bots.iter().enumerate() {
        asks.push((Some(i), auth.clone()));
        if i % 10 == 0 {
            asks.push((Some(i), auth.clone()));
            let fake = format!("{:032}", i);
            asks.push((
                None,
                basic(&format!("batch{i}-bot@zulip.example.test"), &fake),
            ));
        }
    }
    let c = Arc::new(f.client());
    let replies: Vec<_> = futures_util::stream::iter(asks.into_iter().map(|(who, auth)| {
        let c = c.clone();
        async move {
            let r = get_as(&c, "zulip", "/api/v1/users/me", Some(&auth)).await;
            (who, r)
        }
    }))
    .buffer_unordered(64)
    .collect()
    .await;
    for (who, r) in &replies {
        match who {
            Some(i) => {
                r.assert_success();
                assert_eq!(r.body["user_id"], bots[*i].0.id.0, "bot {i}: {}", r.raw);
                assert_eq!(r.body["email"], bots[*i].0.delivery_email.as_str());
            }
            None => unauthorized(r, "Invalid API key"),
        }
    }
    // Read once: a second round is all hits and still right.
    let hits: Vec<_> = futures_util::stream::iter(bots.iter().map(|(bot, auth)| {
        let c = c.clone();
        async move {
            let r = get_as(&c, "zulip", "/api/v1/users/me", Some(auth)).await;
            (bot.id.0, r)
        }
    }))
    .buffer_unordered(64)
    .collect()
    .await;
    for (id, r) in &hits {
        r.assert_success();
        assert_eq!(r.body["user_id"], *id);
    }
}
