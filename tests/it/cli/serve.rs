//! `latchkey serve` answering the README's walk-through: `init`, a user created from stdin, a
//! login over HTTP, a graceful stop on SIGTERM, and one JSON log line per request with no secret.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latchkey_tests::{DbKind, TestDb, latchkey_bin};

use super::{free_port, latchkey, latchkey_with_stdin, ok};

#[test]
fn serve_answers_the_readme_walkthrough() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    ok(&latchkey(&dir, &db, &["init"]));
    ok(&latchkey_with_stdin(
        &dir,
        &db,
        &[
            "user",
            "create",
            "--email",
            "alice@example.org",
            "--full-name",
            "Alice",
            "--password-stdin",
        ],
        Some("correct-horse-battery\n"),
    ));
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let server = Command::new(latchkey_bin())
        .args(["serve", "--bind", &bind])
        .current_dir(&dir)
        .env("LATCHKEY__DATABASE__URL", db.url())
        .env(
            "LATCHKEY__SERVER__EXTERNAL_HOST",
            format!("localhost:{port}"),
        )
        .env("LATCHKEY__LOGGING__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://localhost:{port}/api/v1/fetch_api_key");
    let mut answered = None;
    while Instant::now() < deadline {
        match client
            .post(&url)
            .form(&[
                ("username", "alice@example.org"),
                ("password", "correct-horse-battery"),
            ])
            .send()
        {
            Ok(r) => {
                answered = Some(r);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let resp = answered.expect("server did not answer within 20 s");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["result"], "success");
    assert_eq!(body["email"], "alice@example.org");
    assert_eq!(body["api_key"].as_str().unwrap().len(), 32);
    let key = body["api_key"].as_str().unwrap().to_owned();
    // A wrong password, for the log below.
    let _ = client
        .post(&url)
        .form(&[
            ("username", "alice@example.org"),
            ("password", "wrong-guess-xyz"),
        ])
        .send()
        .unwrap();
    // SIGTERM: a graceful stop.
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let out = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    // One JSON line per request with the request facts, and never a secret.
    let request_lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "latchkey::request")
        .collect();
    assert!(request_lines.len() >= 2, "{log}");
    let first = &request_lines[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/api/v1/fetch_api_key");
    assert_eq!(first["status"], 200);
    assert!(first["latency_ms"].is_string() || first["latency_ms"].is_number());
    assert_eq!(first["realm"], "");
    assert_eq!(first["user_id"], "1");
    assert!(
        !log.contains("correct-horse-battery")
            && !log.contains("wrong-guess-xyz")
            && !log.contains(&key)
    );
}
