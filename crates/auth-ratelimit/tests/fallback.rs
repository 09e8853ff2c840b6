//! Redis going away and coming back, with a private redis-server per test (a free loopback port,
//! no persistence), and a Redis that accepts connections but never answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use std::time::{Duration, Instant};

use auth_ratelimit::{LimiterConfig, RateLimiter, Rules};

const KEY: &str = "authenticate_by_username:hamlet@zulip.com";

fn limiter(url: String) -> RateLimiter {
    let config = LimiterConfig {
        redis_url: Some(url),
        key_prefix: common::unique_prefix(),
        timeout: Duration::from_millis(250),
        retry_interval: Duration::from_secs(1),
        ..LimiterConfig::default()
    };
    RateLimiter::try_new(config).expect("valid url")
}

#[tokio::test]
async fn falls_back_to_memory_and_returns_to_redis() {
    let Some(binary) = common::redis_server_binary() else {
        return;
    };
    let test_started = Instant::now();
    let logs = common::Logs::default();
    let _capture = logs.capture();
    let mut server = common::PrivateRedis::start(binary, common::free_port()).await;
    let rl = limiter(server.url());
    let r = Rules::from_pairs(&[(60, 3)]).expect("valid rules");

    assert!(rl.probe().await);
    let d = rl.check_and_record(KEY, &r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 2);
    let shared_ticket = d.ticket.expect("recorded");
    assert!(shared_ticket.is_shared());

    // Redis dies: the next call is answered from memory, within the timeout.
    server.stop();
    let t = Instant::now();
    let d = rl.check_and_record(KEY, &r).await;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(d.allowed);
    assert_eq!(d.remaining, 2, "memory starts without the shared history");
    assert!(!d.ticket.expect("recorded").is_shared());
    assert!(!rl.is_shared());

    // While it is down, calls go straight to memory, and memory still limits.
    let t = Instant::now();
    assert!(rl.check_and_record(KEY, &r).await.allowed);
    assert!(rl.check_and_record(KEY, &r).await.allowed);
    let d = rl.check_and_record(KEY, &r).await;
    assert!(!d.allowed, "the gate does not open: {d:?}");
    assert!(d.retry_after_secs().is_some_and(|s| s > 59.0));
    rl.withdraw(KEY, shared_ticket).await;
    rl.clear("authenticate_by_username:someone-else").await;
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert!(!rl.is_shared());

    // Redis returns (empty: it had no persistence): within about the retry interval, counts are
    // shared again.
    server.restart().await;
    let t = Instant::now();
    let mut d = rl.peek(KEY, &r).await;
    while !rl.is_shared() {
        assert!(
            t.elapsed() < Duration::from_millis(2500),
            "still local after {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        d = rl.peek(KEY, &r).await;
    }
    assert!(d.allowed);
    assert_eq!(d.remaining, 3, "answered by the (new, empty) Redis");
    let d = rl.check_and_record(KEY, &r).await;
    assert!(d.ticket.expect("recorded").is_shared());

    assert_eq!(
        logs.count("Redis unavailable; rate limits are per instance until it returns"),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(
        logs.count("Redis is back; rate limits are shared again"),
        1,
        "{}",
        logs.text()
    );
    let text = logs.text();
    assert!(text.contains("authenticate_by_username"), "{text}");
    assert!(!text.contains("hamlet"), "keys are never logged: {text}");
    assert!(test_started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_redis_that_never_answers_costs_one_timeout_per_retry_interval() {
    // Accepts connections (the kernel does) but never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "redis://127.0.0.1:{}",
        silent.local_addr().expect("addr").port()
    );
    let rl = limiter(url);
    let r = Rules::from_pairs(&[(60, 2)]).expect("valid rules");

    let t = Instant::now();
    let d = rl.check_and_record(KEY, &r).await;
    let first = t.elapsed();
    assert!(d.allowed);
    assert!(!rl.is_shared());
    assert!(
        first >= Duration::from_millis(200) && first < Duration::from_secs(1),
        "bounded by the timeout: {first:?}"
    );

    // Within the retry interval nothing waits for Redis again.
    let t = Instant::now();
    assert!(rl.check_and_record(KEY, &r).await.allowed);
    assert!(!rl.check_and_record(KEY, &r).await.allowed);
    assert!(!rl.peek(KEY, &r).await.allowed);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );

    // A probe after the interval waits one timeout again, and the answer is still local.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let t = Instant::now();
    assert!(!rl.check_and_record(KEY, &r).await.allowed);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(!rl.is_shared());
}

#[tokio::test]
async fn redis_down_at_start_is_not_an_error() {
    let rl = limiter(format!("redis://127.0.0.1:{}", common::free_port()));
    assert!(rl.is_redis_configured());
    let t = Instant::now();
    let d = rl
        .check_and_record(KEY, &Rules::from_pairs(&[(10, 1)]).expect("valid"))
        .await;
    assert!(d.allowed);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(!rl.is_shared());
    assert!(!rl.probe().await);
}
