//! What only Redis does: counts shared between limiters (instances), the stored layout, and
//! atomicity under concurrent checks. Uses the shared test Redis with a fresh key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_ratelimit::{Clock, LimiterConfig, ManualClock, RateLimiter, Rules};

fn limiter(url: &str, prefix: &str, clock: Arc<dyn Clock>) -> RateLimiter {
    let config = LimiterConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: prefix.to_owned(),
        ..LimiterConfig::default()
    };
    RateLimiter::with_clock(config, clock).expect("redis limiter")
}

fn rules(pairs: &[(u64, u32)]) -> Rules {
    Rules::from_pairs(pairs).expect("valid rules")
}

#[tokio::test]
async fn two_instances_share_counts() {
    let Some(url) = common::shared_redis_url().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let clock = Arc::new(ManualClock::starting_now());
    let a = limiter(&url, &prefix, clock.clone());
    let b = limiter(&url, &prefix, clock.clone());
    let other = common::unique_prefix();
    let other_prefix = limiter(&url, &other, clock.clone());
    let r = rules(&[(10, 2)]);
    let key = "authenticate_by_username:hamlet@zulip.com";

    let first = a.check_and_record(key, &r).await;
    clock.advance(Duration::from_secs(1));
    let d = b.check_and_record(key, &r).await;
    assert!(first.allowed && d.allowed);
    assert_eq!(d.remaining, 0, "B counts A's attempt");
    let second = d.ticket.expect("recorded");
    assert!(second.is_shared());

    clock.advance(Duration::from_secs(1));
    let d = a.check_and_record(key, &r).await;
    assert!(!d.allowed, "A counts B's attempt");
    assert!((d.retry_after_secs().unwrap_or(0.0) - 8.0).abs() < 1e-3);
    assert!(
        other_prefix.check_and_record(key, &r).await.allowed,
        "another prefix is another namespace"
    );

    // A withdraws the attempt B recorded: one attempt is left, everywhere.
    a.withdraw(key, second).await;
    let d = b.peek(key, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);

    // B clears: A starts from scratch.
    assert!(a.check_and_record(key, &r).await.allowed);
    assert!(!b.peek(key, &r).await.allowed);
    b.clear(key).await;
    let d = a.check_and_record(key, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);

    assert!(a.is_shared() && b.is_shared());
    common::delete_prefix(&url, &prefix).await;
    common::delete_prefix(&url, &other).await;
}

#[tokio::test]
async fn stored_as_an_expiring_sorted_set() {
    let Some(url) = common::shared_redis_url().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let clock = Arc::new(ManualClock::starting_now());
    let rl = limiter(&url, &prefix, clock.clone());
    let mut conn = common::connect(&url).await;
    let r = rules(&[(10, 2)]);
    let key = "authenticate_by_username:iago@zulip.com";
    let stored = format!("{prefix}{key}");
    let zcard = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        let stored = stored.clone();
        async move {
            redis::cmd("ZCARD")
                .arg(&stored)
                .query_async::<i64>(&mut conn)
                .await
                .expect("ZCARD")
        }
    };

    let first = rl.check_and_record(key, &r).await.ticket.expect("recorded");
    clock.advance(Duration::from_millis(500));
    rl.check_and_record(key, &r).await;
    assert!(!rl.check_and_record(key, &r).await.allowed);
    assert_eq!(zcard(&mut conn).await, 2, "the refusal was not recorded");

    let pttl: i64 = redis::cmd("PTTL")
        .arg(&stored)
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    assert!(
        pttl > 0 && pttl <= 11_000,
        "expires after the longest window: {pttl} ms"
    );

    // Scores are the fractional timestamps.
    let scores: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(&stored)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE");
    assert_eq!(scores.len(), 2);
    assert!((scores[1].1 - scores[0].1 - 0.5).abs() < 1e-3, "{scores:?}");

    rl.withdraw(key, first).await;
    assert_eq!(zcard(&mut conn).await, 1);
    rl.clear(key).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&stored)
        .query_async(&mut conn)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0);

    // Peeking creates nothing.
    rl.peek(key, &r).await;
    assert_eq!(zcard(&mut conn).await, 0);
    common::delete_prefix(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_never_overshoot() {
    let Some(url) = common::shared_redis_url().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let clock: Arc<dyn Clock> = Arc::new(auth_ratelimit::SystemClock);
    let instances = [
        limiter(&url, &prefix, clock.clone()),
        limiter(&url, &prefix, clock.clone()),
    ];
    let r = rules(&[(60, 5)]);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let rl = instances[i % 2].clone();
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            rl.check_and_record("api_by_ip:127.0.0.1", &r).await.allowed
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        if task.await.expect("task") {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
    assert!(instances.iter().all(RateLimiter::is_shared));
    common::delete_prefix(&url, &prefix).await;
}
