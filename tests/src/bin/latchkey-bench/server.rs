//! A Latchkey server as an administrator runs it: the release `latchkey` binary in its own
//! process, a configuration file, `latchkey realm create` and `latchkey user create` for the
//! fixtures, then `latchkey serve`, its log in a file.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use latchkey_tests::process::{NotReady, ServerProcess, free_port, run_with_timeout, tail};
use latchkey_tests::{Client, DbKind, TestDb};

/// The realm every scenario uses and its Host header.
pub const REALM: &str = "zulip";
pub const HOST: &str = "zulip.example.test";
/// The local account (Email backend) of every server.
pub const HAMLET_EMAIL: &str = "hamlet@zulip.com";
pub const HAMLET_PW: &str = latchkey_tests::PW;

/// Binaries next to this one (`make bench` builds them all in release).
pub fn sibling_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("current exe")?;
    let dir = exe.parent().ok_or_else(|| anyhow!("no directory"))?;
    let bin = dir.join(name);
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (`make bench` runs cargo build --release for it)",
            bin.display()
        );
    }
    Ok(bin)
}

/// What differs between the servers of the scenarios.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub kind: DbKind,
    pub bcrypt_cost: u32,
    pub backends: &'static [&'static str],
    /// `[cache] capacity`; `None`: the default.
    pub cache_capacity: Option<u64>,
    /// The `[ldap]` section, when LDAP is configured.
    pub ldap: Option<String>,
    /// PostgreSQL only: `synchronous_commit = off` for this database (set before the server
    /// connects), so that mass creation does not wait for a WAL flush per row. Reads are
    /// unaffected.
    pub async_commit: bool,
}

impl ServerConfig {
    pub fn email(kind: DbKind, bcrypt_cost: u32) -> ServerConfig {
        ServerConfig {
            kind,
            bcrypt_cost,
            backends: &["email"],
            cache_capacity: None,
            ldap: None,
            async_commit: false,
        }
    }
}

/// A running `latchkey serve` and its database.
pub struct BenchServer {
    process: ServerProcess,
    pub port: u16,
    // Last: the database is dropped after the process is gone.
    pub db: TestDb,
}

/// Every server runs with 2 HTTP workers (the constant handler too), `info` logging (the
/// default) to a file, and rate limits off: one client address and one username send
/// thousands of requests, which the limits would turn into a measurement of 429s.
fn toml(db: &TestDb, port: u16, c: &ServerConfig) -> String {
    let backends = c
        .backends
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let cache = c
        .cache_capacity
        .map(|n| format!("\n[cache]\ncapacity = {n}\n"))
        .unwrap_or_default();
    format!(
        r#"[server]
external_host = "example.test"
bind = "127.0.0.1:{port}"
workers = 2

[database]
url = "{url}"

[secrets]
server_secret_file = "{secret}"

[auth]
backends = [{backends}]
bcrypt_cost = {cost}

[logging]
filter = "info"

[rate_limits]
enabled = false
authenticate_enabled = false
{cache}
{ldap}
"#,
        url = db.url(),
        secret = db.dir().join("secret.key").display(),
        cost = c.bcrypt_cost,
        ldap = c.ldap.as_deref().unwrap_or(""),
    )
}

impl BenchServer {
    /// A fresh database, realm `zulip` with Hamlet (password [`HAMLET_PW`]) made by the CLI,
    /// then `latchkey serve`, ready. `None` when PostgreSQL is unreachable.
    pub fn start(c: &ServerConfig) -> Result<Option<BenchServer>> {
        let bin = sibling_bin("latchkey")?;
        let Some(db) = TestDb::new(c.kind) else {
            return Ok(None);
        };
        if c.async_commit {
            async_commit(&db)?;
        }
        let port = free_port()?;
        let config = db.dir().join("latchkey.toml");
        std::fs::write(&config, toml(&db, port, c)).context("writing latchkey.toml")?;
        let log = db.dir().join("latchkey.log");
        let cli = |args: &[&str], stdin: Option<&str>| -> Result<()> {
            let out = run_with_timeout(
                Command::new(&bin)
                    .arg("--config")
                    .arg(&config)
                    .args(args)
                    .env_remove("LATCHKEY_CONFIG")
                    .env_remove("RUST_LOG"),
                stdin,
                Duration::from_secs(60),
            )?;
            if !out.status.success() {
                bail!(
                    "latchkey {}: {}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(())
        };
        cli(
            &["realm", "create", "--subdomain", REALM, "--name", "Zulip"],
            None,
        )?;
        // The local account logs in with a password only where Email is on (Latchkey refuses a
        // password that could never be used); directory-only servers get him without one.
        let mut create = vec![
            "user",
            "create",
            "--realm",
            REALM,
            "--email",
            HAMLET_EMAIL,
            "--full-name",
            "King Hamlet",
        ];
        let password = format!("{HAMLET_PW}\n");
        let stdin = if c.backends.contains(&"email") {
            create.push("--password-stdin");
            Some(password.as_str())
        } else {
            create.push("--no-password");
            None
        };
        cli(&create, stdin)?;
        let log_file = std::fs::File::create(&log).context("creating the server log")?;
        let mut process = ServerProcess::spawn(
            Command::new(&bin)
                .arg("--config")
                .arg(&config)
                .arg("serve")
                .env_remove("LATCHKEY_CONFIG")
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file),
            "latchkey",
        )?;
        let ready = process.wait_ready(
            Instant::now() + Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .map(drop)
                    .map_err(Into::into)
            },
        );
        match ready {
            Ok(()) => {}
            Err(NotReady::Exited(s)) => bail!("latchkey serve exited ({s}):\n{}", tail(&log, 20)),
            Err(NotReady::TimedOut(e)) => {
                bail!(
                    "latchkey serve did not listen in 30 s ({e}):\n{}",
                    tail(&log, 20)
                )
            }
        }
        Ok(Some(BenchServer { process, port, db }))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn client(&self) -> Client {
        Client::new(([127, 0, 0, 1], self.port).into())
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The server's resident set size in MiB (0 when it cannot be read).
    pub fn rss_mib(&self) -> f64 {
        rss_kib(self.pid()) as f64 / 1024.0
    }

    /// Logs in with `fetch_api_key` and answers the `Authorization: Basic` value of the key.
    pub async fn basic_auth_of(&self, username: &str, password: &str) -> Result<String> {
        let reply = self.client().fetch_api_key(REALM, username, password).await;
        let key = reply.body["api_key"]
            .as_str()
            .ok_or_else(|| anyhow!("fetch_api_key answered {}: {}", reply.status, reply.raw))?;
        let email = reply.body["email"].as_str().unwrap_or(username);
        Ok(basic(email, key))
    }

    pub fn stop(self) {
        drop(self);
    }
}

/// `ALTER DATABASE … SET synchronous_commit = off` on a PostgreSQL test database.
fn async_commit(db: &TestDb) -> Result<()> {
    use diesel::{Connection, RunQueryDsl};
    let url = db.url();
    let name = url
        .rsplit_once('/')
        .map(|(_, n)| n.to_owned())
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .ok_or_else(|| anyhow!("not a PostgreSQL test database"))?;
    let mut admin = diesel::PgConnection::establish(&latchkey_tests::pg_admin_url())
        .context("connecting to PostgreSQL")?;
    diesel::sql_query(format!(
        "ALTER DATABASE {name} SET synchronous_commit = off"
    ))
    .execute(&mut admin)
    .context("ALTER DATABASE … SET synchronous_commit")?;
    Ok(())
}

/// `Basic base64(email:key)`.
pub fn basic(email: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"))
    )
}

/// The resident set size of a process, in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The `[ldap]` section for a private slapd: search as the service account, then one bind as
/// the person; `append_domain = "zulip.com"`.
pub fn ldap_section(uri: &str) -> String {
    use latchkey_tests::slapd;
    format!(
        r#"[ldap]
uris = ["{uri}"]
bind_dn = "{svc}"
bind_password = "{pw}"
user_search_base = "{base}"
user_search_filter = "(uid={{user}})"
append_domain = "zulip.com"
"#,
        svc = slapd::SERVICE_DN,
        pw = slapd::SERVICE_PASSWORD,
        base = slapd::PEOPLE_DN,
    )
}
