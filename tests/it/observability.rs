//! What an operator watches: `GET /metrics` in Prometheus's text format, and an
//! `X-Request-Id` on every response and in every log line a request causes.

use latchkey_tests::{Client, DbKind, Fixture, capture_logs};

fn request_id(r: &latchkey_tests::Reply) -> String {
    r.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn metrics_text(client: &Client) -> String {
    let r = Client::send(client.request(reqwest::Method::GET, "", "/metrics")).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    r.raw
}

#[tokio::test]
async fn metrics_count_requests_by_route_logins_by_outcome_and_cache_lookups() {
    let f = Fixture::new(DbKind::Sqlite).await.unwrap();
    let c = f.client();
    let ok = c
        .fetch_api_key("zulip", "hamlet@zulip.com", latchkey_tests::PW)
        .await;
    ok.assert_success();
    let key = ok.body["api_key"].as_str().unwrap().to_owned();
    c.fetch_api_key("zulip", "hamlet@zulip.com", "wrong-password-1")
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "nobody@zulip.com", "wrong-password-1")
        .await
        .assert_bad_credentials();
    for _ in 0..2 {
        let r = Client::send(
            c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
                .basic_auth("hamlet@zulip.com", Some(&key)),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let text = metrics_text(&c).await;
    let has = |needle: &str| {
        assert!(
            text.lines().any(|l| l.starts_with(needle)),
            "no line starting {needle:?} in:\n{text}"
        )
    };
    has(
        "latchkey_http_requests_total{route=\"/api/v1/fetch_api_key\",method=\"POST\",status=\"200\"} 1",
    );
    has("latchkey_http_requests_total{route=\"/api/v1/users/me\",method=\"GET\",status=\"200\"} 2");
    has("latchkey_http_request_duration_seconds_bucket{route=\"/api/v1/users/me\",le=\"");
    has("latchkey_logins_total{backend=\"email\",outcome=\"success\"} 1");
    has("latchkey_logins_total{backend=\"none\",outcome=\"bad_credentials\"} 1");
    has("latchkey_logins_total{backend=\"none\",outcome=\"no_such_person\"} 1");
    has("latchkey_key_cache_lookups_total{result=\"hit\"}");
    has("latchkey_key_cache_lookups_total{result=\"miss\"}");
    has("latchkey_password_hash_jobs");
    // Database jobs in flight (the follower may be polling: any count), and their waits.
    has("latchkey_database_jobs ");
    has("latchkey_database_wait_seconds_count ");
    // Nothing a client typed becomes a label.
    assert!(!text.contains("nobody@zulip.com") && !text.contains(&key));

    // A regenerated key is an invalidation: the instance's follower reads it back from the log
    // and records how long that took (bounded wait: the poll interval is well under a second).
    let r = Client::send(
        c.request(
            reqwest::Method::POST,
            "zulip",
            "/api/v1/users/me/api_key/regenerate",
        )
        .basic_auth("hamlet@zulip.com", Some(&key)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = metrics_text(&c).await;
        if text
            .lines()
            .any(|l| l.starts_with("latchkey_invalidation_lag_seconds_count "))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no invalidation lag recorded in:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // An unknown path is one series, whatever the path.
    for p in ["/no/such/1", "/no/such/2"] {
        Client::send(c.request(reqwest::Method::GET, "zulip", p)).await;
    }
    let text = metrics_text(&c).await;
    assert!(!text.contains("/no/such"), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    f.server.stop().await;
}

#[tokio::test]
async fn every_response_has_a_request_id_that_the_log_lines_carry() {
    let logs = capture_logs();
    let f = Fixture::new(DbKind::Sqlite).await.unwrap();
    let c = f.client();
    let r = c
        .fetch_api_key("zulip", "hamlet@zulip.com", "wrong-password-2")
        .await;
    r.assert_bad_credentials();
    let id = request_id(&r);
    assert_eq!(id.len(), 32, "{:?}", r.headers);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = request_id(&c.get("zulip", "/api/v1/server_settings").await);
    assert_ne!(id, other);
    // A client that is not a trusted proxy cannot choose the id.
    let chosen = Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/server_settings")
            .header("X-Request-Id", "chosen-by-client"),
    )
    .await;
    assert_ne!(request_id(&chosen), "chosen-by-client");
    // The login's own log line (not only the request line) carries the id.
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("login failed") && l.contains(&id))
        .unwrap_or_else(|| panic!("no login line with request id {id}:\n{text}"));
    assert!(line.contains("request_id"), "{line}");
    f.server.stop().await;
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_kept_and_a_malformed_one_replaced() {
    let f = Fixture::with(DbKind::Sqlite, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    .unwrap();
    let c = f.client();
    let send = |id: &'static str| {
        Client::send(
            c.request(reqwest::Method::GET, "zulip", "/api/v1/server_settings")
                .header("X-Request-Id", id),
        )
    };
    let kept = send("f81d4fae-7dec-11d0-a765-00a0c91e6bf6").await;
    assert_eq!(request_id(&kept), "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
    let replaced = send("two words").await;
    let id = request_id(&replaced);
    assert_ne!(id, "two words");
    assert_eq!(id.len(), 32);
    f.server.stop().await;
}

/// Every metric the Grafana dashboard in deploy/grafana queries is one the server exports.
#[tokio::test]
async fn the_grafana_dashboard_queries_only_exported_metrics() {
    // A directory too, so that the LDAP bind metrics exist.
    let w = latchkey_tests::ldap_world::sqlite_world(|_, _| {}).await;
    let c = w.client();
    let ok = c
        .fetch_api_key("zulip", "hamlet", latchkey_tests::slapd::HAMLET.password)
        .await;
    ok.assert_success();
    let key = ok.body["api_key"].as_str().unwrap().to_owned();
    let email = ok.body["email"].as_str().unwrap().to_owned();
    Client::send(
        c.request(reqwest::Method::GET, "zulip", "/api/v1/users/me")
            .basic_auth(&email, Some(&key)),
    )
    .await
    .assert_success();
    // Past the login limit (5 per name), so the rate-limit counter exists.
    for _ in 0..6 {
        c.fetch_api_key("lear", "nobody@lear.com", "wrong-password-3")
            .await;
    }
    // An invalidation (a regenerated key), so that its lag is recorded.
    Client::send(
        c.request(
            reqwest::Method::POST,
            "zulip",
            "/api/v1/users/me/api_key/regenerate",
        )
        .basic_auth(&email, Some(&key)),
    )
    .await
    .assert_success();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !metrics_text(&c)
        .await
        .contains("latchkey_invalidation_lag_seconds_count ")
    {
        assert!(std::time::Instant::now() < deadline, "no invalidation lag");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = metrics_text(&c).await;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/latchkey.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("latchkey_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                queried.push(name);
            }
        }
    }
    assert!(queried.len() >= 16, "{queried:?}");
    for name in queried {
        assert!(
            text.lines().any(|l| l.starts_with(&name)),
            "the dashboard queries {name}, which /metrics does not export:\n{text}"
        );
    }
    w.server.stop().await;
}
