//! The LDAP test worlds shared by the suites under `tests/it/ldap/`: a private slapd
//! ([`crate::slapd`]) and a Latchkey server pointed at it.
//!
//! - [`world`] (and [`sqlite_world`], [`world_on`]): settings built in code (tweaked per test),
//!   realms `zulip` and `lear`, a local Email user `othello@lear.com`.
//! - [`CliWorld`]: settings written to a TOML file that the test server and the real `latchkey`
//!   binary both read (for `ldap sync`, `ldap relink`, `user deactivate`...), realm `zulip`, and
//!   accounts made by real first logins.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use auth_core::{Realm, Role, User};
use auth_store::AuditEntry;
use latchkey::Settings;

use crate::slapd::{self, SeedUser, Slapd};
use crate::{Client, DbKind, PW, Reply, TestDb, TestServer, latchkey_bin};

/// A running slapd, a Latchkey server pointed at it, realms `zulip` and `lear`, and a local
/// Email user `othello@lear.com`.
pub struct LdapWorld {
    pub slapd: Slapd,
    pub server: TestServer,
    pub zulip: Realm,
    pub lear: Realm,
    pub db: TestDb,
}

/// Search-then-bind with the service account, `append_domain = zulip.com`, backends
/// `ldap, email`.
pub fn base_ldap(s: &mut Settings, d: &Slapd) {
    s.auth.backends = vec![auth_core::BackendKind::Ldap, auth_core::BackendKind::Email];
    let l = &mut s.ldap;
    l.uris = vec![d.uri().parse().unwrap()];
    l.bind_dn = Some(slapd::SERVICE_DN.into());
    l.bind_password =
        latchkey::config::Secret(auth_core::SecretString::new(slapd::SERVICE_PASSWORD));
    l.user_search_base = Some(slapd::PEOPLE_DN.into());
    l.user_search_filter = "(uid={user})".into();
    l.append_domain = Some("zulip.com".into());
    l.connect_timeout_secs = std::time::Duration::from_secs(2);
    l.operation_timeout_secs = std::time::Duration::from_secs(3);
}

/// Starts a slapd with the seed directory ([`Slapd::start`]) off the async runtime.
pub async fn start_slapd() -> Slapd {
    start_slapd_with(Slapd::start).await
}

/// Starts a slapd with `start` (e.g. [`Slapd::start_with_ppolicy`]) off the async runtime:
/// starting one shells out and waits.
pub async fn start_slapd_with(start: fn() -> anyhow::Result<Slapd>) -> Slapd {
    tokio::task::spawn_blocking(start)
        .await
        .expect("join")
        .expect("start slapd")
}

/// Starts slapd and a server with [`base_ldap`] settings changed by `tweak`; `None` when the
/// database kind is unavailable here (PostgreSQL outside CI).
pub async fn world(kind: DbKind, tweak: impl FnOnce(&mut Settings, &Slapd)) -> Option<LdapWorld> {
    let db = TestDb::new(kind)?;
    Some(world_on(db, start_slapd().await, tweak).await)
}

/// [`world`] on SQLite, which is always available.
pub async fn sqlite_world(tweak: impl FnOnce(&mut Settings, &Slapd)) -> LdapWorld {
    world(DbKind::Sqlite, tweak)
        .await
        .expect("SQLite is always available")
}

/// [`world`] with a database and a slapd of the caller's.
pub async fn world_on(
    db: TestDb,
    slapd: Slapd,
    tweak: impl FnOnce(&mut Settings, &Slapd),
) -> LdapWorld {
    let mut settings = db.settings();
    base_ldap(&mut settings, &slapd);
    tweak(&mut settings, &slapd);
    let server = TestServer::start(settings).await;
    let zulip = server.create_realm("zulip", "Zulip").await;
    let lear = server.create_realm("lear", "Lear").await;
    server
        .create_user(&lear, "othello@lear.com", Some(PW), Role::Member)
        .await;
    LdapWorld {
        slapd,
        server,
        zulip,
        lear,
        db,
    }
}

impl LdapWorld {
    pub fn client(&self) -> Client {
        self.server.client()
    }

    /// Realm `zulip`'s audit rows, newest first.
    pub async fn audit(&self) -> Vec<AuditEntry> {
        audit_of(&self.server, &self.zulip).await
    }
}

/// A realm's audit rows, newest first (up to 200: more than any test writes).
async fn audit_of(server: &TestServer, realm: &Realm) -> Vec<AuditEntry> {
    server
        .admin
        .store
        .audit_entries(Some(realm.id), 200)
        .await
        .expect("store")
}

/// The `[ldap]` and `[ldap.sync]` parts of a [`CliWorld`]'s configuration file, beyond the
/// servers, the service account and the timeouts.
#[derive(Debug, Clone, Copy)]
pub struct CliConfig<'a> {
    /// `user_search_base` (empty with a DN template).
    pub base: &'a str,
    /// How usernames map to emails: `append_domain = "zulip.com"` by default.
    pub mapping: &'a str,
    /// More `[ldap]` lines (groups, a DN template, attributes as dotted keys...).
    pub ldap: &'a str,
    /// `[ldap.sync]` lines.
    pub sync: &'a str,
}

impl Default for CliConfig<'_> {
    fn default() -> Self {
        CliConfig {
            base: slapd::PEOPLE_DN,
            mapping: "append_domain = \"zulip.com\"",
            ldap: "",
            sync: "",
        }
    }
}

/// The sections of a configuration file before `[ldap]`: a server on `127.0.0.1:0` for
/// `example.test` on `db`, backends `ldap, email`, bcrypt cost 4, and this log filter.
pub fn toml_head(db: &TestDb, log_filter: &str) -> String {
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
filter = "{log_filter}"
"#,
        url = db.url(),
        secret = db.dir().join("secret.key").display(),
    )
}

/// The whole configuration file for `db` and `d`.
pub fn toml_config(db: &TestDb, d: &Slapd, c: &CliConfig) -> String {
    let head = toml_head(db, "warn");
    format!(
        r#"{head}
[ldap]
uris = ["{uri}"]
bind_dn = "{svc}"
bind_password = "{svc_pw}"
user_search_base = "{base}"
user_search_filter = "(uid={{user}})"
connect_timeout_secs = 2
operation_timeout_secs = 3
{mapping}
{extra_ldap}

[ldap.sync]
{extra_sync}
"#,
        uri = d.uri(),
        svc = slapd::SERVICE_DN,
        svc_pw = slapd::SERVICE_PASSWORD,
        base = c.base,
        mapping = c.mapping,
        extra_ldap = c.ldap,
        extra_sync = c.sync,
    )
}

/// Runs the `latchkey` binary with this configuration file.
pub fn latchkey(config: &Path, args: &[&str]) -> Output {
    Command::new(latchkey_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LATCHKEY_CONFIG")
        .output()
        .expect("run latchkey")
}

/// Standard output and error of a command, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A slapd, a SQLite database, a configuration file for both the test server and the CLI,
/// realm `zulip`, and the accounts that first logins of the given people made.
pub struct CliWorld {
    pub slapd: Slapd,
    pub db: TestDb,
    pub config: PathBuf,
    pub server: TestServer,
    pub zulip: Realm,
}

impl CliWorld {
    pub async fn start(c: CliConfig<'_>, people: &[&SeedUser]) -> CliWorld {
        let db = TestDb::new(DbKind::Sqlite).expect("SQLite is always available");
        let slapd = start_slapd().await;
        let config = db.dir().join("latchkey.toml");
        std::fs::write(&config, toml_config(&db, &slapd, &c)).expect("write the configuration");
        let settings =
            Settings::load_with_env(Some(&config), Vec::new()).expect("load the configuration");
        let server = TestServer::start(settings).await;
        let zulip = server.create_realm("zulip", "Zulip").await;
        let client = server.client();
        for u in people {
            client
                .fetch_api_key("zulip", u.uid, u.password)
                .await
                .assert_success();
        }
        CliWorld {
            slapd,
            db,
            config,
            server,
            zulip,
        }
    }

    /// Rewrites the configuration file (for the CLI; the running server keeps its settings).
    pub fn reconfigure(&self, c: CliConfig<'_>) {
        std::fs::write(&self.config, toml_config(&self.db, &self.slapd, &c))
            .expect("write the configuration");
    }

    /// Runs `latchkey` with the world's configuration file.
    pub fn latchkey(&self, args: &[&str]) -> Output {
        latchkey(&self.config, args)
    }

    pub fn client(&self) -> Client {
        self.server.client()
    }

    /// The account of realm `zulip` with this email.
    pub async fn user(&self, email: &str) -> User {
        self.server
            .admin
            .store
            .user_by_email(self.zulip.id, email)
            .await
            .expect("store")
            .unwrap_or_else(|| panic!("no account {email}"))
    }

    pub async fn active(&self, email: &str) -> bool {
        self.user(email).await.is_active
    }

    /// Realm `zulip`'s audit rows, newest first.
    pub async fn audit(&self) -> Vec<AuditEntry> {
        audit_of(&self.server, &self.zulip).await
    }
}

/// `GET path` in realm `sub` with HTTP Basic `email:key`.
pub async fn get_with_key(c: &Client, sub: &str, path: &str, email: &str, key: &str) -> Reply {
    Client::send(
        c.request(reqwest::Method::GET, sub, path)
            .basic_auth(email, Some(key)),
    )
    .await
}
