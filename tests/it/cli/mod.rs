//! The `latchkey` binary as an administrator uses it: init, config check, realm and user
//! commands (each audited), and `serve` answering the README's walk-through.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use latchkey_tests::{DbKind, TestDb, latchkey_bin};

fn latchkey(dir: &Path, db: &TestDb, args: &[&str]) -> Output {
    latchkey_with_stdin(dir, db, args, None)
}

fn latchkey_with_stdin(dir: &Path, db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(latchkey_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("LATCHKEY_CONFIG")
        .env("LATCHKEY__DATABASE__URL", db.url())
        .env("LATCHKEY__AUTH__BCRYPT_COST", "4")
        .env("LATCHKEY__SERVER__EXTERNAL_HOST", "example.test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn latchkey");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("latchkey output")
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn config_check_prints_masked_config_and_rejects_bad_ones() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    let out = Command::new(latchkey_bin())
        .args(["config", "check"])
        .current_dir(&dir)
        .env(
            "LATCHKEY__SECRETS__SERVER_SECRET",
            "a-very-secret-value-that-is-long-enough-123",
        )
        .env(
            "LATCHKEY__DATABASE__URL",
            "postgres://lk:hunter2@127.0.0.1/lk",
        )
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(
        text.contains("[server]") && text.contains("bcrypt_cost = 12"),
        "{text}"
    );
    assert!(
        !text.contains("a-very-secret") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(
        text.contains("postgres://lk:********@127.0.0.1/lk"),
        "{text}"
    );

    std::fs::write(
        dir.join("bad.toml"),
        "[auth]\nbackends = [\"email\", \"kerberos\"]\nbcrypt_cost = 2\n",
    )
    .unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "bad.toml", "config", "check"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("kerberos") && err.contains("bcrypt_cost"),
        "{err}"
    );

    std::fs::write(dir.join("typo.toml"), "[server]\nbnd = \"x\"\n").unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "typo.toml", "config", "check"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("bnd") && err.contains("typo.toml under [server]"),
        "{err}"
    );
    let out = Command::new(latchkey_bin())
        .args(["config", "check"])
        .current_dir(&dir)
        .env("LATCHKEY__LDAP__BIND_DNN", "x")
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("bind_dnn") && err.contains("environment variable LATCHKEY__LDAP__BIND_DNN"),
        "{err}"
    );
}

#[test]
fn admin_commands_change_state_and_write_audit_rows() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let Some(db) = TestDb::new(kind) else {
            continue;
        };
        let dir = db.dir();
        let text = ok(&latchkey(&dir, &db, &["migrate"]));
        assert!(text.contains("applied"), "{text}");
        let text = ok(&latchkey(&dir, &db, &["migrate"]));
        assert!(text.contains("up to date"), "{text}");
        let text = ok(&latchkey(&dir, &db, &["init"]));
        assert!(text.contains("root realm"), "{text}");
        let secret = dir.join("data/secret.key");
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // init is idempotent.
        ok(&latchkey(&dir, &db, &["init"]));

        ok(&latchkey(
            &dir,
            &db,
            &["realm", "create", "--subdomain", "zulip", "--name", "Zulip"],
        ));
        let err = fails(&latchkey(
            &dir,
            &db,
            &["realm", "create", "--subdomain", "zulip", "--name", "Again"],
        ));
        assert!(err.contains("already exists"), "{err}");
        let err = fails(&latchkey(
            &dir,
            &db,
            &["realm", "create", "--subdomain", "Bad_Name", "--name", "X"],
        ));
        assert!(err.contains("lower-case"), "{err}");
        let list = ok(&latchkey(&dir, &db, &["realm", "list"]));
        assert!(list.contains("zulip") && list.contains("(root)"), "{list}");
        // Development is off and LDAP not configured on this server: neither is listed as a
        // working method.
        let line = list.lines().find(|l| l.contains("zulip")).unwrap();
        assert!(
            line.contains(" email (switched on, unavailable here: ldap,dev)"),
            "{line}"
        );

        std::fs::write(dir.join("pw"), "f657gdGGk9\n").unwrap();
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "hamlet@zulip.com",
                "--full-name",
                "Hamlet",
                "--password-file",
                "pw",
            ],
        ));
        // Read-outs and JSON for administrators.
        let shown: serde_json::Value = serde_json::from_str(&ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "show",
                "hamlet@zulip.com",
                "--realm",
                "zulip",
                "--json",
            ],
        )))
        .unwrap();
        assert_eq!(shown["role"], "member");
        assert_eq!(shown["password_set"], true);
        assert_eq!(shown["bot"], false);
        let realm: serde_json::Value = serde_json::from_str(&ok(&latchkey(
            &dir,
            &db,
            &["realm", "show", "zulip", "--json"],
        )))
        .unwrap();
        assert_eq!(realm["methods"], serde_json::json!(["email"]));
        assert_eq!(realm["people_active"], 1);
        let realms = ok(&latchkey(&dir, &db, &["realm", "list", "--json"]));
        assert_eq!(realms.lines().count(), 2, "{realms}");
        for line in realms.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        // Bots, through the path the API uses.
        let made = ok(&latchkey(
            &dir,
            &db,
            &[
                "bot",
                "create",
                "--realm",
                "zulip",
                "--owner",
                "hamlet@zulip.com",
                "--full-name",
                "Helper Bot",
                "--short-name",
                "helper",
            ],
        ));
        assert!(made.contains("helper-bot@zulip.example.test"), "{made}");
        let err = fails(&latchkey(
            &dir,
            &db,
            &[
                "bot",
                "create",
                "--realm",
                "zulip",
                "--owner",
                "hamlet@zulip.com",
                "--full-name",
                "Helper Bot",
                "--short-name",
                "helper",
            ],
        ));
        assert!(err.contains("Username already in use"), "{err}");
        let bots = |extra: &[&str]| {
            let mut args = vec!["bot", "list", "--realm", "zulip", "--json"];
            args.extend_from_slice(extra);
            ok(&latchkey(&dir, &db, &args)).lines().count()
        };
        assert_eq!(bots(&[]), 1);
        assert_eq!(bots(&["--owner", "hamlet@zulip.com"]), 1);
        ok(&latchkey(
            &dir,
            &db,
            &[
                "bot",
                "deactivate",
                "helper-bot@zulip.example.test",
                "--realm",
                "zulip",
            ],
        ));
        assert_eq!(bots(&[]), 0);
        assert_eq!(bots(&["--all"]), 1);
        let users = ok(&latchkey(
            &dir,
            &db,
            &["user", "list", "--realm", "zulip", "--json"],
        ));
        assert_eq!(users.lines().count(), 2, "{users}");

        // No password source and no terminal: a clear refusal, nothing created.
        let err = fails(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "iago@zulip.com",
                "--full-name",
                "Iago",
            ],
        ));
        assert!(err.contains("--password-file"), "{err}");
        // A weak password is refused.
        let err = fails(&latchkey_with_stdin(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "iago@zulip.com",
                "--full-name",
                "Iago",
                "--password-stdin",
            ],
            Some("123\n"),
        ));
        assert!(err.contains("password refused"), "{err}");
        ok(&latchkey_with_stdin(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "iago@zulip.com",
                "--full-name",
                "Iago",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("Iago-Str0ng-pass\n"),
        ));
        let err = fails(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "not-an-email",
                "--full-name",
                "X",
                "--no-password",
            ],
        ));
        assert!(err.contains("not a valid email"), "{err}");
        let users = ok(&latchkey(&dir, &db, &["user", "list", "--realm", "zulip"]));
        assert!(
            users.contains("hamlet@zulip.com") && users.contains("admin"),
            "{users}"
        );

        ok(&latchkey(
            &dir,
            &db,
            &["user", "deactivate", "--realm", "zulip", "hamlet@zulip.com"],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &["user", "reactivate", "--realm", "zulip", "hamlet@zulip.com"],
        ));
        std::fs::write(dir.join("pw2"), "An0ther-g00d-one\n").unwrap();
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "set-password",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
                "--password-file",
                "pw2",
            ],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "require-password-reset",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
            ],
        ));
        ok(&latchkey(&dir, &db, &["realm", "deactivate", "zulip"]));
        ok(&latchkey(&dir, &db, &["realm", "reactivate", "zulip"]));
        ok(&latchkey(
            &dir,
            &db,
            &["realm", "set-auth", "zulip", "--ldap", "false"],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "regenerate-key",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
            ],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "set-role",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
                "admin",
            ],
        ));
        let users = ok(&latchkey(&dir, &db, &["user", "list", "--realm", "zulip"]));
        assert!(
            users
                .lines()
                .any(|l| l.contains("hamlet@zulip.com") && l.contains("admin")),
            "{users}"
        );
        let err = fails(&latchkey(
            &dir,
            &db,
            &["user", "deactivate", "--realm", "zulip", "ghost@zulip.com"],
        ));
        assert!(err.contains("no user"), "{err}");

        let pruned = ok(&latchkey(
            &dir,
            &db,
            &["audit", "prune", "--older-than", "30d"],
        ));
        assert!(pruned.contains("deleted 0 audit entries"), "{pruned}");
        let cleared = ok(&latchkey(
            &dir,
            &db,
            &["limits", "clear", "Hamlet@Zulip.com"],
        ));
        assert!(cleared.contains("cleared the failed logins"), "{cleared}");
        let audit = ok(&latchkey(
            &dir,
            &db,
            &["audit", "list", "--json", "--limit", "100"],
        ));
        let events: Vec<serde_json::Value> = audit
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        for expected in [
            "database_migrated",
            "realm_created",
            "user_created",
            "user_deactivated",
            "user_reactivated",
            "user_password_changed",
            "realm_deactivated",
            "realm_reactivated",
            "realm_authentication_methods_changed",
            "user_api_key_changed",
            "user_role_changed",
            "login_limit_cleared",
            "audit_pruned",
        ] {
            assert!(
                types.contains(&expected),
                "{expected} missing from {types:?}"
            );
        }
        // Two people and one bot.
        assert_eq!(types.iter().filter(|t| **t == "user_created").count(), 3);
        assert_eq!(types.iter().filter(|t| **t == "realm_created").count(), 2);
        assert!(events.iter().all(|e| e["source"] == "cli"));
        assert!(
            !audit.contains("f657gdGGk9") && !audit.contains("An0ther"),
            "{audit}"
        );
    }
}

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
