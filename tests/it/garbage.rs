//! Garbage in, envelope out: a few hundred random requests (bounded in count and time) to every
//! endpoint — random verbs, hosts, content types, bodies, query strings and Authorization
//! headers. Never a 500, never a dropped connection, always the Zulip envelope; and the server
//! still serves a correct login afterwards.

use std::time::{Duration, Instant};

use base64::Engine;
use latchkey_tests::{Client, DbKind, Fixture, PW};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

const PATHS: &[&str] = &[
    "/api/v1/fetch_api_key",
    "/api/v1/server_settings",
    "/api/v1/dev_fetch_api_key",
    "/api/v1/dev_list_users",
    "/api/v1/users/me",
    "/api/v1/users/me/api_key/regenerate",
    "/api/v1/auth/verify",
    "/api/v1/bots",
    "/api/v1/bots/1",
    "/api/v1/bots/1/api_key",
    "/api/v1/bots/x/api_key/regenerate",
    "/api/v1/users/99999999999999999999/reactivate",
    "/api/v1/nothing",
    "/health",
];

const CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin1",
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "application/json",
    "text/plain",
    "",
    "\u{1}",
];

fn random_bytes(rng: &mut impl Rng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..max);
    (0..n).map(|_| rng.random()).collect()
}

fn random_form(rng: &mut impl Rng) -> Vec<u8> {
    let names = [
        "username",
        "password",
        "full_name",
        "short_name",
        "bot_type",
        "client",
        "x",
        "",
        "%ZZ",
    ];
    let values = [
        "hamlet@zulip.com",
        PW,
        "",
        "%FF",
        "*)(uid=*",
        "\0",
        "a".repeat(300).leak(),
        "1",
        "-1",
        "é",
    ];
    let mut out = Vec::new();
    for i in 0..rng.random_range(0..6) {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(names.choose(rng).unwrap_or(&"x").as_bytes());
        if rng.random_bool(0.8) {
            out.push(b'=');
            out.extend_from_slice(values.choose(rng).unwrap_or(&"v").as_bytes());
        }
    }
    if rng.random_bool(0.2) {
        out.extend(random_bytes(rng, 64));
    }
    out
}

fn random_auth(rng: &mut impl Rng, good: &str) -> Option<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    match rng.random_range(0..9) {
        0 => None,
        1 => Some(good.to_owned()),
        2 => Some(format!("Basic {}", b64("hamlet@zulip.com:short"))),
        3 => Some(format!("Basic {}", b64("nocolon"))),
        4 => Some("Basic".to_owned()),
        5 => Some("Bearer abc".to_owned()),
        6 => Some(format!("Basic {}", b64(&"x:".repeat(500)))),
        7 => Some(format!(
            "basic {}===",
            b64("a@b.c:VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp")
        )),
        _ => Some(String::from_utf8_lossy(&random_bytes(rng, 40)).replace(['\r', '\n', '\0'], " ")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_break_the_envelope() {
    let Some(f) = Fixture::with(DbKind::Sqlite, |s| {
        // Hundreds of requests from one address: count them, but don't let the limit hide the
        // endpoints' own answers.
        s.rate_limits.api_by_ip = "60:100000".parse().unwrap();
        s.rate_limits.api_by_user = "60:100000".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let key = f.server.key_of(&f.hamlet).await;
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("hamlet@zulip.com:{key}"))
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = format!("http://{}", f.server.addr);
    // Fixed by default (reproducible); LATCHKEY_GARBAGE_SEED and _ROUNDS explore further.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(env("LATCHKEY_GARBAGE_SEED", 0x01a7_c4e7));
    let rounds = env("LATCHKEY_GARBAGE_ROUNDS", 400);
    let deadline = Instant::now() + Duration::from_secs(120);
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    let hosts = [
        "zulip.example.test",
        "lear.example.test",
        "example.test",
        "nope.example.test",
        "",
        "ZULIP.EXAMPLE.TEST:1",
    ];
    let mut sent = 0;
    for _ in 0..rounds {
        if Instant::now() > deadline {
            break;
        }
        let path = *PATHS.choose(&mut rng).unwrap_or(&"/");
        let method =
            reqwest::Method::from_bytes(methods.choose(&mut rng).unwrap_or(&"GET").as_bytes())
                .unwrap_or(reqwest::Method::GET);
        let query = if rng.random_bool(0.3) {
            format!(
                "?{}",
                String::from_utf8_lossy(&random_form(&mut rng)).replace([' ', '#'], "+")
            )
        } else {
            String::new()
        };
        let mut rb = http
            .request(method.clone(), format!("{base}{path}{query}"))
            .header("host", *hosts.choose(&mut rng).unwrap_or(&""));
        let ctype = *CONTENT_TYPES.choose(&mut rng).unwrap_or(&"");
        if !ctype.is_empty() {
            rb = rb.header("content-type", ctype);
        }
        if let Some(a) = random_auth(&mut rng, &good) {
            rb = rb.header("authorization", a);
        }
        let body = if ctype.starts_with("multipart") && rng.random_bool(0.5) {
            let mut b =
                b"--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\n".to_vec();
            b.extend(random_bytes(&mut rng, 100));
            b.extend_from_slice(b"\r\n--b--\r\n");
            b
        } else {
            random_form(&mut rng)
        };
        let rb = rb.body(body);
        // Header values this client cannot even send are not a test of the server.
        if rb.try_clone().and_then(|r| r.build().ok()).is_none() {
            continue;
        }
        let r = Client::send(rb).await;
        sent += 1;
        assert!(r.status != 500, "{method} {path}: 500: {}", r.raw);
        assert!(
            r.status < 600 && r.status >= 200,
            "{method} {path}: {}",
            r.status
        );
        if method != reqwest::Method::HEAD {
            let result = r.body["result"].as_str();
            assert!(
                result == Some("success") || result == Some("error"),
                "{method} {path} -> {}: not the envelope: {:?}",
                r.status,
                r.raw
            );
            if result == Some("error") {
                assert!(
                    r.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
                    "{}",
                    r.raw
                );
            }
        }
    }
    assert!(sent >= 100, "only {sent} requests in the time budget");
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
}
