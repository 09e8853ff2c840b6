//! The algorithm's scenarios (Zulip's, spec §7), each run on the memory store and on Redis, on a
//! hand-driven clock: nothing sleeps. Redis runs use the shared test Redis with a fresh key
//! prefix (see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auth_ratelimit::{Clock, LimiterConfig, ManualClock, RateLimiter, Rules};

struct Setup {
    limiter: RateLimiter,
    clock: Arc<ManualClock>,
    shared: bool,
    redis: Option<(String, String)>,
}

impl Setup {
    fn memory() -> Setup {
        let clock = Arc::new(ManualClock::starting_now());
        let limiter = RateLimiter::with_clock(LimiterConfig::default(), clock.clone())
            .expect("memory limiter");
        Setup {
            limiter,
            clock,
            shared: false,
            redis: None,
        }
    }

    async fn redis() -> Option<Setup> {
        let url = common::shared_redis_url().await?;
        let prefix = common::unique_prefix();
        let clock = Arc::new(ManualClock::starting_now());
        let config = LimiterConfig {
            redis_url: Some(url.clone()),
            key_prefix: prefix.clone(),
            ..LimiterConfig::default()
        };
        let limiter = RateLimiter::with_clock(config, clock.clone()).expect("redis limiter");
        assert!(limiter.probe().await, "Redis answered a moment ago");
        Some(Setup {
            limiter,
            clock,
            shared: true,
            redis: Some((url, prefix)),
        })
    }

    async fn finish(self) {
        assert_eq!(
            self.limiter.is_shared(),
            self.shared,
            "the store did not change during the scenario"
        );
        if let Some((url, prefix)) = &self.redis {
            common::delete_prefix(url, prefix).await;
        }
    }
}

/// A test per store for each scenario.
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn memory() {
                let setup = super::Setup::memory();
                super::$scenario(&setup).await;
                setup.finish().await;
            }

            #[tokio::test]
            async fn redis() {
                let Some(setup) = super::Setup::redis().await else { return };
                super::$scenario(&setup).await;
                setup.finish().await;
            }
        }
    )*};
}

on_both_stores!(
    two_allowed_third_refused_and_not_recorded,
    clear_withdraw_peek_and_unlimited,
    most_restrictive_rule_wins,
    keys_are_independent_and_expire,
);

fn rules(pairs: &[(u64, u32)]) -> Rules {
    Rules::from_pairs(pairs).expect("valid rules")
}

fn secs(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64())
}

fn assert_close(a: SystemTime, b: SystemTime) {
    let diff = a.duration_since(b).unwrap_or_else(|e| e.duration());
    assert!(diff < Duration::from_millis(1), "{a:?} vs {b:?}");
}

async fn two_allowed_third_refused_and_not_recorded(s: &Setup) {
    let (rl, clock) = (&s.limiter, &s.clock);
    let r = rules(&[(10, 2)]);
    let start = clock.now();
    let key = "authenticate_by_username:hamlet@zulip.com";

    let d = rl.check_and_record(key, &r).await;
    assert!(d.allowed);
    assert_eq!((d.limit, d.remaining, d.retry_after), (2, 1, None));
    assert_close(d.reset, start + Duration::from_secs(10));
    let ticket = d.ticket.expect("recorded");
    assert_eq!(ticket.is_shared(), s.shared);

    clock.advance(Duration::from_secs(1));
    let d = rl.check_and_record(key, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);

    clock.advance(Duration::from_secs(1));
    let d = rl.check_and_record(key, &r).await;
    assert!(!d.allowed);
    assert!((secs(d.retry_after) - 8.0).abs() < 1e-3, "{d:?}");
    assert_eq!((d.limit, d.remaining, d.ticket), (2, 0, None));
    assert!(d.reset_epoch_secs().abs_diff(rl_secs(start) + 10) <= 1);

    clock.advance(Duration::from_secs(3));
    let d = rl.check_and_record(key, &r).await;
    assert!(!d.allowed);
    assert!((secs(d.retry_after) - 5.0).abs() < 1e-3);

    // 10.5 s after the first attempt: had the refusals been recorded, the second most recent
    // attempt would be 5.5 s old and this would be refused.
    clock.set(start + Duration::from_millis(10_500));
    let d = rl.check_and_record(key, &r).await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.remaining, 0);
    clock.advance(Duration::from_millis(100));
    let d = rl.check_and_record(key, &r).await;
    assert!(!d.allowed);
    assert!((secs(d.retry_after) - 0.4).abs() < 1e-3, "{d:?}");
}

fn rl_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

async fn clear_withdraw_peek_and_unlimited(s: &Setup) {
    let (rl, clock) = (&s.limiter, &s.clock);
    let r = rules(&[(10, 2)]);
    let key = "authenticate_by_username:iago@zulip.com";

    // clear resets.
    rl.check_and_record(key, &r).await;
    rl.check_and_record(key, &r).await;
    assert!(!rl.peek(key, &r).await.allowed);
    rl.clear(key).await;
    let d = rl.check_and_record(key, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);

    // withdraw removes exactly one attempt, once.
    clock.advance(Duration::from_millis(10));
    let second = rl.check_and_record(key, &r).await.ticket.expect("recorded");
    rl.withdraw(key, second).await;
    rl.withdraw(key, second).await;
    let d = rl.peek(key, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);
    assert!(rl.check_and_record(key, &r).await.allowed);
    assert!(!rl.check_and_record(key, &r).await.allowed);

    // peek never records.
    let other = "authenticate_by_username:othello@zulip.com";
    for _ in 0..5 {
        let d = rl.peek(other, &r).await;
        assert!(d.allowed);
        assert_eq!((d.remaining, d.ticket), (2, None));
    }

    // Keys are independent.
    assert!(rl.check_and_record(other, &r).await.allowed);

    // Empty rules: unlimited, nothing recorded.
    let none = Rules::unlimited();
    for _ in 0..50 {
        let d = rl.check_and_record(key, &none).await;
        assert!(d.allowed && d.is_unlimited());
        assert_eq!(d.ticket, None);
    }
    assert!(!rl.check_and_record(key, &r).await.allowed);
}

async fn most_restrictive_rule_wins(s: &Setup) {
    let (rl, clock) = (&s.limiter, &s.clock);
    let r = rules(&[(60, 3), (10, 2)]);
    let start = clock.now();
    let key = "api_by_user:42";
    let at = |s: f64| start + Duration::from_secs_f64(s);

    let d = rl.check_and_record(key, &r).await;
    assert_eq!((d.allowed, d.limit, d.remaining), (true, 2, 1));
    clock.set(at(20.0));
    let d = rl.check_and_record(key, &r).await;
    // 10 s rule: 1 left; 60 s rule: 1 left.
    assert_eq!((d.allowed, d.remaining), (true, 1));
    clock.set(at(21.0));
    let d = rl.check_and_record(key, &r).await;
    assert_eq!((d.allowed, d.remaining), (true, 0));
    // Both rules refuse: retry_after is the larger wait (60 s rule: 0 + 60 - 22).
    clock.set(at(22.0));
    let d = rl.check_and_record(key, &r).await;
    assert!(!d.allowed);
    assert!((secs(d.retry_after) - 38.0).abs() < 1e-3, "{d:?}");
    assert_close(d.reset, at(60.0));
    // Only the 60 s rule refuses now.
    clock.set(at(30.5));
    let d = rl.check_and_record(key, &r).await;
    assert!(!d.allowed);
    assert!((secs(d.retry_after) - 29.5).abs() < 1e-3, "{d:?}");
    // Free again once the first attempt has left the 60 s window.
    clock.set(at(60.001));
    let d = rl.check_and_record(key, &r).await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.remaining, 0);
}

async fn keys_are_independent_and_expire(s: &Setup) {
    let (rl, clock) = (&s.limiter, &s.clock);
    let r = rules(&[(1800, 5)]);
    let hamlet = "authenticate_by_username:hamlet@zulip.com";
    // Zulip's key is the username exactly as submitted: no case folding.
    let hamlet_upper = "authenticate_by_username:Hamlet@zulip.com";
    for i in 0..5u32 {
        let d = rl.check_and_record(hamlet, &r).await;
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (5, 4 - i));
        clock.advance(Duration::from_secs(60));
    }
    let d = rl.check_and_record(hamlet, &r).await;
    assert!(!d.allowed);
    // The first attempt was 300 s ago.
    assert!((secs(d.retry_after) - 1500.0).abs() < 1e-3, "{d:?}");
    assert!(rl.check_and_record(hamlet_upper, &r).await.allowed);
    assert!(rl.peek("api_by_user:hamlet@zulip.com", &r).await.allowed);

    // Past the window, the whole history is gone.
    clock.advance(Duration::from_secs(1800));
    let d = rl.check_and_record(hamlet, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 4);
}
