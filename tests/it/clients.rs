//! Real clients: the `zulip` Python bindings with a zuliprc written from a `fetch_api_key`
//! answer, as zulip-terminal writes one (spec §11), and the nginx forward-auth example run
//! against Latchkey on loopback.

use std::net::TcpListener;

use auth_core::Role;
use latchkey_tests::nginx::{self, PrivateNginx};
use latchkey_tests::python::{
    run_python, venv_python_or_skip, with_loopback_resolver, write_zuliprc,
};
use latchkey_tests::{Client, DbKind, PW, TestDb, TestServer, host_for};

/// A server whose realm URLs carry its real port, so that a client can follow `realm_uri`.
async fn server_with_real_port() -> (TestDb, TestServer, u16) {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = db.settings();
    s.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
    s.server.external_host = format!("example.test:{port}");
    let server = TestServer::start(s).await;
    let zulip = server.create_realm("zulip", "Zulip").await;
    server
        .create_user(&zulip, "hamlet@zulip.com", Some(PW), Role::Member)
        .await;
    (db, server, port)
}

/// What zulip-terminal does at login, then what a bot author does with the zuliprc: the
/// python-zulip-api client builds from it, `get_server_settings()` and `get_profile()` work.
const LOGIN_THEN_PROFILE: &str = r#"
import json, sys, urllib.parse, urllib.request
import zulip

site, username, password, rcdir = sys.argv[1:5]
# zulip-terminal: server_settings first, then fetch_api_key at <realm_uri>/api/v1/fetch_api_key.
settings = json.load(urllib.request.urlopen(site + "/api/v1/server_settings"))
realm_uri = settings["realm_uri"]
body = urllib.parse.urlencode({"username": username, "password": password}).encode()
answer = json.load(urllib.request.urlopen(realm_uri + "/api/v1/fetch_api_key", data=body))
rc = rcdir + "/zuliprc"
with open(rc, "w") as f:
    f.write("[api]\nemail=%s\nkey=%s\nsite=%s\n" % (answer["email"], answer["api_key"], realm_uri))

client = zulip.Client(config_file=rc, client="LatchkeyTest/1.0")
server = client.get_server_settings()
profile = client.get_profile()
print(json.dumps({"login": answer, "server": server, "profile": profile}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_zulip_bindings_log_in_and_read_the_profile() {
    let Some(_py) = venv_python_or_skip() else {
        return;
    };
    let (db, server, port) = server_with_real_port().await;
    let site = format!("http://zulip.example.test:{port}");
    let dir = db.dir();
    let script = with_loopback_resolver(LOGIN_THEN_PROFILE);
    let out = tokio::task::spawn_blocking(move || {
        run_python(
            &script,
            &[&site, "hamlet@zulip.com", PW, dir.to_str().unwrap()],
            &[],
        )
    })
    .await
    .unwrap()
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json from python");
    assert_eq!(v["login"]["result"], "success");
    assert_eq!(v["server"]["result"], "success");
    assert_eq!(v["server"]["realm_name"], "Zulip");
    assert_eq!(v["profile"]["result"], "success", "{}", v["profile"]);
    assert_eq!(v["profile"]["email"], "hamlet@zulip.com");
    assert_eq!(v["profile"]["user_id"], v["login"]["user_id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_with_a_bad_key_fails_on_its_first_authenticated_call() {
    let Some(_py) = venv_python_or_skip() else {
        return;
    };
    let (db, server, port) = server_with_real_port().await;
    let site = format!("http://zulip.example.test:{port}");
    let rc = write_zuliprc(
        &db.dir(),
        "hamlet@zulip.com",
        "VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp",
        &site,
    );
    let script = with_loopback_resolver(
        r#"
import json, sys, zulip
client = zulip.Client(config_file=sys.argv[1])
print(json.dumps(client.get_profile()))
"#,
    );
    let rc = rc.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || run_python(&script, &[&rc], &[]))
        .await
        .unwrap()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["result"], "error");
    assert_eq!(v["code"], "UNAUTHORIZED");
    assert_eq!(v["msg"], "Invalid API key");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_forward_auth_example_lets_valid_keys_through() {
    if !nginx::nginx_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is missing (tests/setup/install-nginx.sh)"
        );
        eprintln!("skipping: nginx is not installed");
        return;
    }
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let server = TestServer::start(db.settings()).await;
    let zulip = server.create_realm("zulip", "Zulip").await;
    let hamlet = server
        .create_user(&zulip, "hamlet@zulip.com", Some(PW), Role::Member)
        .await;
    let key = server.key_of(&hamlet).await;
    let upstream = server.addr;
    let proxy = tokio::task::spawn_blocking(move || PrivateNginx::start(upstream))
        .await
        .unwrap()
        .expect("nginx starts");
    let http = reqwest::Client::new();
    let get = |auth: Option<(&str, &str)>| {
        let mut rb = http
            .get(proxy.url("/protected/page"))
            .header("host", format!("{}:{}", host_for("zulip"), proxy.port()));
        if let Some((u, p)) = auth {
            rb = rb.basic_auth(u, Some(p));
        }
        Client::send(rb)
    };
    let ok = get(Some(("hamlet@zulip.com", &key))).await;
    assert_eq!(ok.status, 200, "{}\n{}", ok.raw, proxy.log_tail());
    assert_eq!(ok.raw, nginx::PROTECTED_BODY);
    assert_eq!(
        ok.headers["x-authenticated-user"],
        hamlet.id.0.to_string().as_str()
    );
    assert_eq!(
        ok.headers[nginx::APP_USER_ID],
        hamlet.id.0.to_string().as_str()
    );
    assert_eq!(ok.headers[nginx::APP_EMAIL], "hamlet@zulip.com");
    for bad in [
        Some(("hamlet@zulip.com", "VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp")),
        Some(("hamlet@zulip.com", "short")),
        Some(("cordelia@zulip.com", key.as_str())),
        None,
    ] {
        let r = get(bad).await;
        assert_eq!(r.status, 401, "{bad:?}: {}", r.raw);
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"zulip\"");
        assert!(!r.raw.contains("protected content"));
    }
    drop(proxy);
    server.stop().await;
}
