//! Unit tests of what the integration tests cannot see (the memory store's size, redaction).
//! The algorithm's scenarios run against both stores in `tests/scenarios.rs`.

use super::*;

fn limiter(capacity: usize) -> (RateLimiter, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let config = LimiterConfig {
        memory_capacity: capacity,
        ..LimiterConfig::default()
    };
    let limiter = RateLimiter::with_clock(config, clock.clone()).expect("memory limiter");
    (limiter, clock)
}

#[tokio::test]
async fn memory_stays_bounded_under_a_flood_of_keys() {
    let (rl, clock) = limiter(1000);
    let r = Rules::from_pairs(&[(1800, 5)]).expect("valid rules");
    for i in 0..5000 {
        clock.advance(Duration::from_millis(1));
        let d = rl
            .check_and_record(&format!("authenticate_by_username:user{i}"), &r)
            .await;
        assert!(d.allowed);
    }
    let len = rl.inner.local.len();
    assert!((900..=1000).contains(&len), "{len} keys");
    // The most recent histories are kept.
    let d = rl.peek("authenticate_by_username:user4999", &r).await;
    assert_eq!(d.remaining, 4);
}

#[test]
fn config_debug_hides_the_redis_password() {
    let config = LimiterConfig {
        redis_url: Some("redis://user:hunter2@redis.internal:6379/0".into()),
        ..LimiterConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("redis://[redacted]@redis.internal:6379/0"),
        "{shown}"
    );
    assert_eq!(
        redact_url("redis://127.0.0.1:6379"),
        "redis://127.0.0.1:6379"
    );

    let limiter = RateLimiter::try_new(config).expect("valid url");
    assert!(!format!("{limiter:?}").contains("hunter2"));
}

#[test]
fn bad_redis_urls_are_refused_without_repeating_them() {
    let config = LimiterConfig {
        redis_url: Some("http://user:hunter2@example".into()),
        ..LimiterConfig::default()
    };
    let err = RateLimiter::try_new(config.clone()).expect_err("not a redis url");
    assert!(matches!(err, RateLimitError::InvalidRedisUrl { .. }));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // `new` still answers, from memory.
    let limiter = RateLimiter::new(config);
    assert!(!limiter.is_redis_configured());

    let empty = LimiterConfig {
        redis_url: Some(" ".into()),
        ..LimiterConfig::default()
    };
    let limiter = RateLimiter::new(empty);
    assert!(!limiter.is_redis_configured());
    assert!(!limiter.is_shared());
}

#[test]
fn only_the_limiter_name_is_logged() {
    assert_eq!(
        limiter_name("authenticate_by_username:hamlet@zulip.com"),
        "authenticate_by_username"
    );
    assert_eq!(limiter_name("hamlet@zulip.com"), "-");
}

#[test]
fn limiter_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<RateLimiter>();
}
