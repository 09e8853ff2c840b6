//! `latchkey ldap sync`, `latchkey ldap query` and `latchkey config check --connect` against a
//! private slapd, with accounts created by real logins.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use auth_core::Realm;
use auth_server::Settings;
use latchkey_tests::slapd::{self, Slapd};
use latchkey_tests::{DbKind, TestDb, TestServer, latchkey_bin};

struct Setup {
    slapd: Slapd,
    db: TestDb,
    config: PathBuf,
    server: TestServer,
    zulip: Realm,
}

fn toml_config(db: &TestDb, d: &Slapd, extra_ldap: &str, extra_sync: &str, base: &str) -> String {
    format!(
        r#"
[server]
external_host = "example.test"
bind = "127.0.0.1:0"

[database]
url = "{url}"

[secrets]
server_secret_file = "{secret}"

[auth]
backends = ["ldap", "email"]
bcrypt_cost = 4

[logging]
filter = "warn"

[ldap]
uris = ["{uri}"]
bind_dn = "{svc}"
bind_password = "{svc_pw}"
user_search_base = "{base}"
user_search_filter = "(uid={{user}})"
append_domain = "zulip.com"
connect_timeout_secs = 2
operation_timeout_secs = 3
{extra_ldap}

[ldap.sync]
{extra_sync}
"#,
        url = db.url(),
        secret = db.dir().join("secret.key").display(),
        uri = d.uri(),
        svc = slapd::SERVICE_DN,
        svc_pw = slapd::SERVICE_PASSWORD,
    )
}

fn write_config(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn latchkey(config: &Path, args: &[&str]) -> Output {
    Command::new(latchkey_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LATCHKEY_CONFIG")
        .output()
        .expect("run latchkey")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn setup(extra_ldap: &str, people: &[&slapd::SeedUser]) -> Setup {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let slapd = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .unwrap();
    let config = db.dir().join("latchkey.toml");
    write_config(
        &config,
        &toml_config(&db, &slapd, extra_ldap, "", slapd::PEOPLE_DN),
    );
    let settings = Settings::load_with_env(Some(&config), Vec::new()).unwrap();
    let server = TestServer::start(settings).await;
    let zulip = server.create_realm("zulip", "Zulip").await;
    // Accounts made by first logins.
    let c = server.client();
    for u in people {
        c.fetch_api_key("zulip", u.uid, u.password)
            .await
            .assert_success();
    }
    Setup {
        slapd,
        db,
        config,
        server,
        zulip,
    }
}

async fn active(s: &Setup, email: &str) -> bool {
    s.server
        .admin
        .store
        .user_by_email(s.zulip.id, email)
        .await
        .unwrap()
        .unwrap()
        .is_active
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_updates_deactivates_reactivates_and_refuses_to_guess() {
    let mut s = setup(
        "",
        &[
            &slapd::HAMLET,
            &slapd::AARON,
            &slapd::JOSE,
            &slapd::CORDELIA,
        ],
    )
    .await;
    let cfg = s.config.clone();

    // A changed name: shown by a dry run, applied by a run.
    s.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: cn\ncn: Aaron the Elder\n",
            slapd::AARON.dn
        ))
        .unwrap();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("would change aaron@zulip.com: full name"),
        "{}",
        text(&out)
    );
    let aaron = s
        .server
        .admin
        .store
        .user_by_email(s.zulip.id, "aaron@zulip.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(aaron.full_name, "Aaron Smith", "a dry run changes nothing");
    let out = latchkey(&cfg, &["ldap", "sync"]);
    assert!(out.status.success(), "{}", text(&out));
    let aaron = s
        .server
        .admin
        .store
        .user_by_email(s.zulip.id, "aaron@zulip.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(aaron.full_name, "Aaron the Elder");

    // Hamlet leaves the directory. Without deactivate_non_matching he is kept, and said so.
    s.slapd.delete_dn(slapd::HAMLET.dn).unwrap();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not in the directory (kept"),
        "{}",
        text(&out)
    );
    assert!(active(&s, "hamlet@zulip.com").await);

    // With it, one of four active people is more than 10%: the run stops, changing nothing.
    write_config(
        &cfg,
        &toml_config(
            &s.db,
            &s.slapd,
            "",
            "deactivate_non_matching = true",
            slapd::PEOPLE_DN,
        ),
    );
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("STOPPED"), "{}", text(&out));
    assert!(active(&s, "hamlet@zulip.com").await);
    // --force applies it.
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!active(&s, "hamlet@zulip.com").await);
    let r = s
        .server
        .client()
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    assert_eq!(r.status, 401);

    // Hamlet comes back (a new entry, a new entryUUID): reactivated and relinked.
    s.slapd.restore_seed_entry(slapd::HAMLET.dn).unwrap();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("back in the directory"),
        "{}",
        text(&out)
    );
    assert!(active(&s, "hamlet@zulip.com").await);
    s.server
        .client()
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();

    // The directory is down: the run fails, nobody is deactivated.
    s.slapd.stop();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing was changed"), "{}", text(&out));
    for email in [
        "hamlet@zulip.com",
        "aaron@zulip.com",
        "jose@zulip.com",
        "cordelia@zulip.com",
    ] {
        assert!(active(&s, email).await, "{email}");
    }
    s.slapd.restart().unwrap();

    // A search base that lists nobody is an outage or a mistake, never "everyone left".
    write_config(
        &cfg,
        &toml_config(
            &s.db,
            &s.slapd,
            "",
            "deactivate_non_matching = true",
            slapd::SERVICES_DN,
        ),
    );
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("listed nobody"), "{}", text(&out));
    for email in [
        "hamlet@zulip.com",
        "aaron@zulip.com",
        "jose@zulip.com",
        "cordelia@zulip.com",
    ] {
        assert!(active(&s, email).await, "{email}");
    }

    // Every change the sync made is in the audit log, under ldap-sync.
    let audit = s
        .server
        .admin
        .store
        .audit_entries(Some(s.zulip.id), 100)
        .await
        .unwrap();
    for event in [
        "user_full_name_changed",
        "user_deactivated",
        "user_reactivated",
        "user_external_id_changed",
    ] {
        assert!(
            audit
                .iter()
                .any(|e| e.event_type == event && e.source == "ldap-sync"),
            "{event} missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_connection_check() {
    let mut s = setup(
        &format!("deny_group = \"{}\"", slapd::BANNED_GROUP_DN),
        &[&slapd::HAMLET],
    )
    .await;
    let cfg = s.config.clone();
    let out = latchkey(&cfg, &["ldap", "query", "hamlet", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(slapd::HAMLET.dn), "{t}");
    assert!(t.contains("hamlet@zulip.com"), "{t}");
    assert!(t.contains("King Hamlet"), "{t}");
    assert!(t.contains("not a member"), "{t}");
    assert!(t.contains("allowed with the right password"), "{t}");
    if s.slapd.has_memberof() {
        assert!(t.contains(slapd::STAFF_GROUP_DN), "{t}");
    }
    let out = latchkey(&cfg, &["ldap", "query", "cordelia", "--realm", "zulip"]);
    let t = text(&out);
    assert!(t.contains("refused (NotAllowedInRealm)"), "{t}");
    let out = latchkey(&cfg, &["ldap", "query", "nobody", "--realm", "zulip"]);
    assert!(text(&out).contains("no such user"), "{}", text(&out));
    // Never the bind password.
    assert!(!t.contains(slapd::SERVICE_PASSWORD));
    // Hamlet's entry renamed away and a new "hamlet" entry added: the account stays with the
    // entry it is linked to, as a login would decide.
    s.slapd.rename(slapd::HAMLET.dn, "uid=hamlet-old").unwrap();
    s.slapd
        .add_ldif(&format!(
            "dn: uid=hamlet,{}\nobjectClass: inetOrgPerson\nuid: hamlet\ncn: New Hamlet\n\
             sn: Hamlet\nuserPassword: lpw-new-hamlet\n",
            slapd::PEOPLE_DN
        ))
        .unwrap();
    let out = latchkey(&cfg, &["ldap", "query", "hamlet", "--realm", "zulip"]);
    let t = text(&out);
    assert!(
        t.contains("refused (the account belongs to another directory entry)"),
        "{t}"
    );
    s.server
        .client()
        .fetch_api_key("zulip", "hamlet", "lpw-new-hamlet")
        .await
        .assert_error(
            401,
            "AUTHENTICATION_FAILED",
            "Your directory entry's name or email cannot be used for an account here; contact your administrator",
        );

    let out = latchkey(&cfg, &["config", "check", "--connect"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ldap: connected"), "{t}");
    assert!(
        !t.contains(slapd::SERVICE_PASSWORD),
        "the bind password is masked: {t}"
    );
    s.slapd.stop();
    let out = latchkey(&cfg, &["config", "check", "--connect"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ldap:"), "{}", text(&out));
}
