//! The checks that should catch an administrator's mistakes (issue 12): `latchkey config check
//! --connect` against a private slapd names a broken filter, a missing group, a misspelt
//! attribute and a server that is down, each on its own line with a non-zero exit; `serve`
//! refuses a broken filter and logs the directory check at start; `GET /readyz` follows the
//! directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use latchkey::Settings;
use latchkey_tests::ldap_world::{start_slapd, text, toml_head};
use latchkey_tests::process::{ServerProcess, free_port, run_with_timeout};
use latchkey_tests::slapd;
use latchkey_tests::{Client, DbKind, Reply, TestDb, TestServer, eventually, latchkey_bin};

/// A configuration that follows docs/ldap.md's OpenLDAP example, and is right.
fn good_config(db: &TestDb, uris: &[String], ca_file: &Path) -> String {
    let uris: Vec<String> = uris.iter().map(|u| format!("{u:?}")).collect();
    let head = toml_head(db, "info");
    format!(
        r#"{head}
[ldap]
uris = [{uris}]
ca_file = "{ca}"
bind_dn = "{svc}"
bind_password = "{svc_pw}"
user_search_base = "{people}"
user_search_filter = "(&(objectClass=inetOrgPerson)(uid={{user}}))"
email_attr = "mail"
reverse_email_search_filter = "(mail={{email}})"
username_attr = "uid"
require_group = "{staff}"
deny_group = "{banned}"
group_membership = "member"
connect_timeout_secs = 2
operation_timeout_secs = 3

[ldap.attributes]
full_name = "cn"
deactivated = "employeeType"
deactivated_values = ["disabled"]
unique_id = "entryUUID"
"#,
        uris = uris.join(", "),
        ca = ca_file.display(),
        svc = slapd::SERVICE_DN,
        svc_pw = slapd::SERVICE_PASSWORD,
        people = slapd::PEOPLE_DN,
        staff = slapd::STAFF_GROUP_DN,
        banned = slapd::BANNED_GROUP_DN,
    )
}

/// `text` with `from` replaced by `to` (which must be there).
#[track_caller]
fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the configuration");
    text.replacen(from, to, 1)
}

/// A loopback URI that refuses connections (nothing listens there).
fn refused_uri() -> String {
    format!("ldap://127.0.0.1:{}", free_port().unwrap())
}

fn write_config(db: &TestDb, name: &str, text: &str) -> PathBuf {
    let path = db.dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn latchkey(config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(latchkey_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LATCHKEY_CONFIG")
        .env_remove("RUST_LOG");
    // `serve` with a broken configuration must refuse at once, not run until killed.
    run_with_timeout(&mut cmd, None, Duration::from_secs(60)).unwrap()
}

fn problem_lines(t: &str) -> Vec<&str> {
    t.lines()
        .filter(|l| l.starts_with("ldap: problem:"))
        .collect()
}

async fn check(config: PathBuf) -> Output {
    tokio::task::spawn_blocking(move || latchkey(&config, &["config", "check", "--connect"]))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_configuration_passes_and_lists_every_server() {
    let d = start_slapd().await;
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let uris = [d.uri(), d.ldaps_uri()];
    let cfg = write_config(&db, "good.toml", &good_config(&db, &uris, &d.ca_file()));
    let out = check(cfg).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for uri in &uris {
        assert!(
            t.contains(&format!(
                "ldap: connected to {uri}, bound as the service account `{}`\n",
                slapd::SERVICE_DN
            )),
            "{t}"
        );
    }
    for line in [
        format!("ldap: search base {} readable\n", slapd::PEOPLE_DN),
        format!("ldap: ldap.require_group {} exists\n", slapd::STAFF_GROUP_DN),
        format!("ldap: ldap.deny_group {} exists\n", slapd::BANNED_GROUP_DN),
        "ldap: attributes checked against the directory's schema (cn=Subschema): uid, mail, cn, entryUUID, employeeType, member, objectClass found\n".to_owned(),
        "configuration is valid\n".to_owned(),
    ] {
        assert!(t.contains(&line), "{line:?} missing from:\n{t}");
    }
    assert!(!t.contains("problem"), "{t}");
    assert!(!t.contains("note:"), "{t}");
    assert!(
        !t.contains(slapd::SERVICE_PASSWORD),
        "the bind password is masked: {t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mistake_exits_non_zero_with_a_line_naming_it() {
    let d = start_slapd().await;
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let good = good_config(&db, &[d.uri()], &d.ca_file());
    let missing = "cn=stafff,ou=groups,dc=example,dc=org";
    let cases: [(&str, String, &str); 5] = [
        (
            "unbalanced filter",
            with(
                &good,
                "(&(objectClass=inetOrgPerson)(uid={user}))",
                "(&(objectClass=inetOrgPerson)(uid={user})",
            ),
            "  - ldap.user_search_filter = \"(&(objectClass=inetOrgPerson)(uid={user})\" is not a valid LDAP filter (RFC 4515): unbalanced parentheses (3 opening, 2 closing)",
        ),
        (
            "missing require_group",
            with(&good, slapd::STAFF_GROUP_DN, missing),
            "ldap: problem: ldap.require_group cn=stafff,ou=groups,dc=example,dc=org does not exist (result 32, no such object), or the service account may not see it: nobody could log in",
        ),
        (
            "missing deny_group",
            with(&good, slapd::BANNED_GROUP_DN, missing),
            "ldap: problem: ldap.deny_group cn=stafff,ou=groups,dc=example,dc=org does not exist (result 32, no such object), or the service account may not see it: nobody would be denied",
        ),
        (
            "misspelt email_attr",
            with(&good, "email_attr = \"mail\"", "email_attr = \"mial\""),
            "ldap: problem: ldap.email_attr = \"mial\" is not an attribute type in the directory's schema (cn=Subschema)",
        ),
        (
            "misspelt unique_id",
            with(
                &good,
                "unique_id = \"entryUUID\"",
                "unique_id = \"entryUUDI\"",
            ),
            "ldap: problem: ldap.attributes.unique_id = \"entryUUDI\" is not an attribute type in the directory's schema (cn=Subschema)",
        ),
    ];
    for (i, (name, config, expected)) in cases.into_iter().enumerate() {
        let out = check(write_config(&db, &format!("mistake-{i}.toml"), &config)).await;
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {t}");
        assert!(
            t.lines().any(|l| l == expected),
            "{name}: no line {expected:?} in:\n{t}"
        );
        // Only that mistake is reported.
        let listed = problem_lines(&t).len() + t.matches("\n  - ").count();
        assert_eq!(listed, 1, "{name}: {t}");
        assert!(!t.contains(slapd::SERVICE_PASSWORD), "{name}: {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_named_and_the_next_one_checked() {
    let d = start_slapd().await;
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let down = refused_uri();
    let config = good_config(&db, &[down.clone(), d.uri()], &d.ca_file());
    let out = check(write_config(&db, "down-first.toml", &config)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert_eq!(
        problem_lines(&t),
        [format!(
            "ldap: problem: {down} is down: connect to {down} failed: connection refused"
        )],
        "{t}"
    );
    let up = t
        .find(&format!("ldap: connected to {}, bound", d.uri()))
        .expect(&t);
    let first = t.find(&format!("ldap: problem: {down}")).expect(&t);
    assert!(
        first < up,
        "servers are listed in the configured order: {t}"
    );
    // The rest is checked on the server that is up.
    assert!(
        t.contains(&format!("ldap: search base {} readable", slapd::PEOPLE_DN)),
        "{t}"
    );
    assert!(
        t.contains("the directory check found 1 problem (the `ldap: problem:` lines above)"),
        "{t}"
    );

    // With every server down, nothing else can be checked, and the check says so.
    let config = good_config(&db, std::slice::from_ref(&down), &d.ca_file());
    let out = check(write_config(&db, "all-down.toml", &config)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("ldap: problem: no server could be used: the search base, groups and attributes were not checked"),
        "{t}"
    );

    // A refused service account names the account and the server, never the password.
    let config = with(
        &good_config(&db, &[d.uri()], &d.ca_file()),
        &format!("bind_password = \"{}\"", slapd::SERVICE_PASSWORD),
        "bind_password = \"not-the-password\"",
    );
    let out = check(write_config(&db, "refused.toml", &config)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "ldap: problem: the LDAP service account `{}` was refused by `{}`: invalid credentials (49)",
            slapd::SERVICE_DN,
            d.uri()
        )),
        "{t}"
    );
    assert!(!t.contains("not-the-password"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_broken_filter() {
    // No directory is needed: the filter is refused when the configuration is loaded.
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let config = with(
        &good_config(&db, &[refused_uri()], Path::new("/dev/null")),
        "(mail={email})",
        "(mail={email}))",
    );
    let config = with(&config, "ca_file = \"/dev/null\"\n", "");
    let path = write_config(&db, "broken.toml", &config);
    let out = tokio::task::spawn_blocking(move || latchkey(&path, &["serve"]))
        .await
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("ldap.reverse_email_search_filter = \"(mail={email}))\" is not a valid LDAP filter (RFC 4515): unbalanced parentheses (1 opening, 2 closing)"),
        "{t}"
    );
}

/// Reads a growing file until it holds every needle or `within` passes (100 ms apart).
fn wait_for_file(path: &Path, needles: &[&str], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let t = std::fs::read_to_string(path).unwrap_or_default();
        if needles.iter().all(|n| t.contains(n)) || Instant::now() >= deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_the_check_at_start_and_serves_anyway() {
    let d = start_slapd().await;
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let down = refused_uri();
    let config = with(
        &good_config(&db, &[down.clone(), d.uri()], &d.ca_file()),
        "email_attr = \"mail\"",
        "email_attr = \"mial\"",
    );
    let path = write_config(&db, "serve.toml", &config);
    let port = free_port().unwrap();
    let log = db.dir().join("serve.log");
    let out = db.dir().join("serve.out");
    let bind = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(latchkey_bin());
    cmd.arg("--config")
        .arg(&path)
        .args(["serve", "--bind", &bind])
        .env_remove("LATCHKEY_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&log).unwrap());
    let server = ServerProcess::spawn(&mut cmd, "latchkey-serve").unwrap();
    let (log_text, out_text) = tokio::task::spawn_blocking({
        let (log, out) = (log.clone(), out.clone());
        move || {
            let o = wait_for_file(&out, &["Latchkey listening"], Duration::from_secs(30));
            let l = wait_for_file(
                &log,
                &["the LDAP check at start found problems"],
                Duration::from_secs(30),
            );
            (l, o)
        }
    })
    .await
    .unwrap();
    assert!(
        out_text.contains("Latchkey listening"),
        "{out_text}\n{log_text}"
    );
    for needle in [
        format!("WARN latchkey::ldap_check: LDAP check at start: {down} is down: connect to {down} failed: connection refused"),
        format!("INFO latchkey::ldap_check: LDAP check at start: connected to {}, bound as the service account", d.uri()),
        "WARN latchkey::ldap_check: LDAP check at start: ldap.email_attr = \"mial\" is not an attribute type in the directory's schema (cn=Subschema)".to_owned(),
        "the LDAP check at start found problems; run `latchkey config check --connect` for details problems=2".to_owned(),
    ] {
        assert!(log_text.contains(&needle), "{needle:?} missing from:\n{log_text}");
    }
    assert!(!log_text.contains(slapd::SERVICE_PASSWORD), "{log_text}");

    // It serves, and /readyz gives each server's state.
    let r = Client::send(
        reqwest::Client::new()
            .get(format!("http://{bind}/readyz"))
            .timeout(Duration::from_secs(20)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        r.body["directory_servers"],
        serde_json::json!([{"uri": down, "state": "down"}, {"uri": d.uri(), "state": "ok"}])
    );
    drop(server);
}

async fn readyz(c: &Client) -> Reply {
    c.get("", "/readyz").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_directory() {
    let mut d = start_slapd().await;
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let down = refused_uri();
    let path = write_config(
        &db,
        "readyz.toml",
        &good_config(&db, &[down.clone(), d.uri()], &d.ca_file()),
    );
    let settings = Settings::load_with_env(Some(&path), Vec::new()).unwrap();
    let server = TestServer::start(settings).await;
    let c = server.client();

    let asked = Instant::now();
    let r = readyz(&c).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["result"], "success");
    assert_eq!(r.body["database"], "ok");
    assert_eq!(r.body["directory"], "ok");
    assert_eq!(
        r.body["directory_servers"],
        serde_json::json!([{"uri": down, "state": "down"}, {"uri": d.uri(), "state": "ok"}])
    );

    d.stop();
    // The answer is reused for a few seconds: a load balancer polling cannot hammer the
    // directory (checked only while well inside that time).
    let r = readyz(&c).await;
    if asked.elapsed() < Duration::from_secs(3) {
        assert_eq!(r.status, 200, "the cached answer: {}", r.raw);
    }
    let r = eventually(Duration::from_secs(20), || readyz(&c), |r| r.status == 503).await;
    assert_eq!(r.status, 503, "{}", r.raw);
    assert_eq!(r.body["code"], "AUTHENTICATION_BACKEND_UNAVAILABLE");
    assert_eq!(r.body["database"], "ok");
    assert_eq!(r.body["directory"], "down");
    assert_eq!(
        r.body["directory_servers"],
        serde_json::json!([{"uri": down, "state": "down"}, {"uri": d.uri(), "state": "down"}])
    );

    let _d = tokio::task::spawn_blocking(move || {
        d.restart().unwrap();
        d
    })
    .await
    .unwrap();
    let r = eventually(Duration::from_secs(20), || readyz(&c), |r| r.status == 200).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["directory"], "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_without_ldap_says_not_configured() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let server = TestServer::start(db.settings()).await;
    let r = readyz(&server.client()).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["database"], "ok");
    assert_eq!(r.body["directory"], "not configured");
    assert!(r.body.get("directory_servers").is_none(), "{}", r.raw);
    let r = Client::send(
        server
            .client()
            .request(reqwest::Method::POST, "", "/readyz"),
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.raw);
    server.stop().await;
}
