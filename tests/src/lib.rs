//! Test harness: real Latchkey servers on loopback over real databases.
//!
//! Longer than 600 lines on purpose: it is the one place every suite starts from (databases, the
//! in-process server and its seeding helpers, the HTTP client, the macros), and splitting it
//! would spread one fixture's setup across files that always change together.
//!
//! - [`TestDb`]: a fresh SQLite file or a fresh PostgreSQL database (created on the local
//!   server, dropped afterwards). When PostgreSQL cannot be reached the PostgreSQL half of a test
//!   is skipped, except when `CI` is set: then it fails.
//! - [`TestServer`]: `latchkey::start` on `127.0.0.1:0` with test settings, plus an admin
//!   [`AppState`] on the same database for fixtures (as the CLI would use it).
//! - [`Fixture`]: the spec's §12 world (realms `zulip` and `lear` under `example.test`, Hamlet,
//!   Cordelia, Othello).
//! - [`Client`]: a reqwest client that sets the Host header per realm; [`pages::PageClient`]
//!   one with a cookie jar for the pages, [`browser`] a headless Chromium over WebDriver.
//! - [`smtp::SmtpSink`]: a private SMTP server that keeps what it receives.
//! - [`portal_nginx::PortalNginx`]: nginx with TLS running the portal's worked example.
//!
//! Just over 600 lines: the harness's core types (database, server, fixture, client, replies)
//! that every test module uses; the specialised fixtures live in their own modules.

pub mod browser;
pub mod ldap_world;
pub mod nginx;
pub mod pages;
pub mod portal_nginx;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod python;
pub mod redis;
pub mod slapd;
pub mod smtp;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use auth_core::{AuthMethods, BotType, Password, Realm, Role, User};
use auth_store::{Actor, NewRealm, NewUser};
use latchkey::{AppState, RunningServer, Settings};
use serde_json::Value;

pub use auth_store::DbKind;

/// The external host every test server uses.
pub const EXTERNAL_HOST: &str = "example.test";

/// Default password of fixture users; strong enough for the default policy.
pub const PW: &str = "f657gdGGk9";

/// Where the local PostgreSQL is; override with `LATCHKEY_TEST_PG_URL`.
pub fn pg_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn pg_connect_admin() -> anyhow::Result<diesel::PgConnection> {
    use diesel::Connection;
    Ok(diesel::PgConnection::establish(&pg_admin_url())?)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh database for one test.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
    },
    Postgres {
        name: String,
        url: String,
        /// Holds the secret file and other scratch files.
        dir: tempfile::TempDir,
    },
}

impl TestDb {
    /// A fresh database of the given kind, or `None` when PostgreSQL is unreachable outside CI.
    pub fn new(kind: DbKind) -> Option<TestDb> {
        let dir = tempfile::Builder::new()
            .prefix("latchkey-test-")
            .tempdir()
            .expect("temp dir");
        match kind {
            DbKind::Sqlite => Some(TestDb::Sqlite { dir }),
            DbKind::Postgres => {
                use diesel::RunQueryDsl;
                let mut admin = match pg_connect_admin() {
                    Ok(c) => c,
                    Err(e) => {
                        if std::env::var_os("CI").is_some() {
                            panic!(
                                "PostgreSQL at {} is unreachable and CI is set: {e}",
                                pg_admin_url()
                            );
                        }
                        eprintln!(
                            "skipping the PostgreSQL half: {} unreachable: {e}",
                            pg_admin_url()
                        );
                        return None;
                    }
                };
                let name = format!(
                    "latchkey_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rand::random::<u32>()
                );
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                // Same server and credentials, the new database instead of the admin one.
                let base = pg_admin_url();
                let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(&base);
                let url = format!("{prefix}/{name}");
                Some(TestDb::Postgres { name, url, dir })
            }
        }
    }

    pub fn kind(&self) -> DbKind {
        match self {
            TestDb::Sqlite { .. } => DbKind::Sqlite,
            TestDb::Postgres { .. } => DbKind::Postgres,
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => {
                format!("sqlite://{}", dir.path().join("latchkey.sqlite3").display())
            }
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        match self {
            TestDb::Sqlite { dir } | TestDb::Postgres { dir, .. } => dir.path().to_owned(),
        }
    }

    /// Settings for a test server on this database: fast bcrypt, example.test, a secret file
    /// in the scratch directory.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        s.server.bind = "127.0.0.1:0".parse().unwrap();
        s.server.external_host = EXTERNAL_HOST.into();
        s.server.workers = 2;
        s.database.url = latchkey::config::DatabaseUrl(auth_core::SecretString::new(self.url()));
        s.database.max_connections = 4;
        s.secrets.server_secret_file = self.dir().join("secret.key");
        s.auth.bcrypt_cost = 4;
        s.logging.filter = "warn".into();
        // Mail (the file transport by default) stays in the scratch directory.
        s.mail.file_dir = self.dir().join("mail");
        s
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            use diesel::RunQueryDsl;
            if let Ok(mut admin) = pg_connect_admin() {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// A running server and an admin handle on its database.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub admin: AppState,
    pub settings: Settings,
    running: Option<RunningServer>,
}

impl TestServer {
    pub async fn start(settings: Settings) -> TestServer {
        let admin = AppState::open(settings.clone())
            .await
            .expect("open admin state");
        let state = AppState::open(settings.clone())
            .await
            .expect("open server state");
        let running = latchkey::start(state, None).await.expect("start server");
        TestServer {
            addr: running.addr,
            admin,
            settings,
            running: Some(running),
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    pub async fn create_realm(&self, subdomain: &str, name: &str) -> Realm {
        self.admin
            .store
            .create_realm(
                NewRealm {
                    subdomain: subdomain.into(),
                    name: name.into(),
                    description: String::new(),
                    methods: AuthMethods::default(),
                    ldap_auto_create: true,
                },
                Actor::cli(),
            )
            .await
            .expect("create realm")
    }

    /// Creates a person with the given password (or none).
    pub async fn create_user(
        &self,
        realm: &Realm,
        email: &str,
        password: Option<&str>,
        role: Role,
    ) -> User {
        let hash = match password {
            Some(pw) => Some(
                self.admin
                    .hasher
                    .hash(&Password::new(pw))
                    .await
                    .expect("hash"),
            ),
            None => None,
        };
        self.admin
            .store
            .create_user(
                NewUser {
                    realm_id: realm.id,
                    delivery_email: email.into(),
                    full_name: email.split('@').next().unwrap_or("x").to_owned(),
                    password_hash: hash,
                    role,
                    bot_type: None,
                    bot_owner_id: None,
                    external_id: None,
                },
                self.admin.keys.sealer(),
                Actor::cli(),
            )
            .await
            .expect("create user")
    }

    /// A generic bot owned by `owner`, as `POST /bots` would make it (through the store).
    pub async fn create_bot(&self, owner: &User, email: &str, full_name: &str) -> User {
        self.admin
            .store
            .create_user(
                NewUser {
                    realm_id: owner.realm_id,
                    delivery_email: email.into(),
                    full_name: full_name.into(),
                    password_hash: None,
                    role: Role::Member,
                    bot_type: Some(BotType::Generic),
                    bot_owner_id: Some(owner.id),
                    external_id: None,
                },
                self.admin.keys.sealer(),
                Actor::cli(),
            )
            .await
            .expect("create bot")
    }

    /// The user's key as the server would return it.
    pub async fn key_of(&self, user: &User) -> String {
        self.admin
            .keys
            .key_for(user.id)
            .await
            .expect("key")
            .expose()
            .to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // When a test ends (or panics) without stop(): ask the workers to exit.
        if let Some(r) = self.running.take() {
            r.stop_soon();
        }
    }
}

/// The spec's §12 fixture.
pub struct Fixture {
    pub server: TestServer,
    pub zulip: Realm,
    pub lear: Realm,
    pub hamlet: User,
    pub cordelia: User,
    pub othello: User,
    pub db: TestDb,
}

impl Fixture {
    /// Starts a server on a fresh database of `kind` and seeds it; `None` when skipped.
    pub async fn new(kind: DbKind) -> Option<Fixture> {
        Self::with(kind, |_| {}).await
    }

    pub async fn with(kind: DbKind, customize: impl FnOnce(&mut Settings)) -> Option<Fixture> {
        let db = TestDb::new(kind)?;
        let mut settings = db.settings();
        customize(&mut settings);
        let server = TestServer::start(settings).await;
        let zulip = server.create_realm("zulip", "Zulip Dev").await;
        let lear = server.create_realm("lear", "Lear & Co.").await;
        let hamlet = server
            .create_user(&zulip, "hamlet@zulip.com", Some(PW), Role::Member)
            .await;
        let cordelia = server
            .create_user(&zulip, "cordelia@zulip.com", Some(PW), Role::Member)
            .await;
        let othello = server
            .create_user(&lear, "othello@lear.com", Some(PW), Role::Member)
            .await;
        Some(Fixture {
            server,
            zulip,
            lear,
            hamlet,
            cordelia,
            othello,
            db,
        })
    }

    pub fn client(&self) -> Client {
        self.server.client()
    }

    /// Switches the realm's Email and LDAP methods (dev stays on), as an administrator would.
    pub async fn set_methods(&self, realm: &Realm, email: bool, ldap: bool) {
        self.server
            .admin
            .store
            .set_realm_methods(
                realm.id,
                AuthMethods {
                    email,
                    ldap,
                    dev: true,
                },
                Actor::cli(),
            )
            .await
            .expect("set realm methods");
    }
}

/// An HTTP response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    /// Asserts a Zulip error envelope with this status, code and message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, msg: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.raw);
        assert_eq!(self.body["result"], "error", "{}", self.raw);
        assert_eq!(self.body["code"], code, "{}", self.raw);
        assert_eq!(self.body["msg"], msg, "{}", self.raw);
    }

    /// Asserts a well-formed error envelope (any code) with this status.
    #[track_caller]
    pub fn assert_envelope_error(&self, status: u16) {
        assert_eq!(self.status, status, "status; body: {}", self.raw);
        assert_eq!(self.body["result"], "error", "{}", self.raw);
        assert!(
            self.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.raw
        );
        assert!(self.body["code"].as_str().is_some(), "{}", self.raw);
    }

    /// Asserts Zulip's answer to a wrong password or an unknown user (the same for both).
    #[track_caller]
    pub fn assert_bad_credentials(&self) {
        self.assert_error(
            401,
            "AUTHENTICATION_FAILED",
            "Your username or password is incorrect",
        );
    }

    #[track_caller]
    pub fn assert_success(&self) {
        assert_eq!(self.status, 200, "{}", self.raw);
        assert_eq!(self.body["result"], "success", "{}", self.raw);
        assert_eq!(self.body["msg"], "", "{}", self.raw);
    }
}

/// HTTP client bound to one server; every call names the realm's host.
#[derive(Clone)]
pub struct Client {
    addr: std::net::SocketAddr,
    http: reqwest::Client,
}

/// The Host header for a subdomain (`""` is the root domain).
pub fn host_for(subdomain: &str) -> String {
    if subdomain.is_empty() {
        EXTERNAL_HOST.to_owned()
    } else {
        format!("{subdomain}.{EXTERNAL_HOST}")
    }
}

impl Client {
    pub fn new(addr: std::net::SocketAddr) -> Client {
        Client {
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        subdomain: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(reqwest::header::HOST, host_for(subdomain))
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> Reply {
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.text().await.expect("body");
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    /// POST a urlencoded form.
    pub async fn post_form(&self, subdomain: &str, path: &str, form: &[(&str, &str)]) -> Reply {
        Self::send(
            self.request(reqwest::Method::POST, subdomain, path)
                .form(form),
        )
        .await
    }

    pub async fn get(&self, subdomain: &str, path: &str) -> Reply {
        Self::send(self.request(reqwest::Method::GET, subdomain, path)).await
    }

    /// `fetch_api_key` with a raw `Host` header (malformed and foreign hosts included).
    pub async fn fetch_api_key_at(&self, host: &str, username: &str, password: &str) -> Reply {
        Self::send(
            self.http
                .post(self.url("/api/v1/fetch_api_key"))
                .header(reqwest::header::HOST, host)
                .form(&[("username", username), ("password", password)]),
        )
        .await
    }

    pub async fn fetch_api_key(&self, subdomain: &str, username: &str, password: &str) -> Reply {
        self.post_form(
            subdomain,
            "/api/v1/fetch_api_key",
            &[("username", username), ("password", password)],
        )
        .await
    }
}

/// Repeats `attempt` until `done` holds for its result, at most for `within` (50 ms apart), and
/// returns the last result. For changes made by another process (an admin command, another
/// instance) that servers learn of through the invalidation log.
pub async fn eventually<T, F, Fut>(within: Duration, mut attempt: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        let result = attempt().await;
        if done(&result) || std::time::Instant::now() >= deadline {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs an async test body once per database kind.
#[macro_export]
macro_rules! both_dbs {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::DbKind::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::DbKind::Postgres).await }
            )*
        }
    };
}

/// Path of the built `latchkey` binary (next to the test executable's `deps/` folder), built
/// first when a bare `cargo test` did not build it.
pub fn latchkey_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current exe");
            let dir = exe
                .parent()
                .and_then(|d| d.parent())
                .expect("target dir")
                .to_owned();
            let bin = dir.join("latchkey");
            if !bin.exists() {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let status = std::process::Command::new(cargo)
                    .args(["build", "--quiet", "--bin", "latchkey"])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .status()
                    .expect("run cargo build");
                assert!(status.success(), "cargo build --bin latchkey failed");
            }
            assert!(
                bin.exists(),
                "{} not found after building it",
                bin.display()
            );
            bin
        })
        .clone()
}

/// A loopback address whose `connect()` hangs: a socket listening with a backlog of zero, its
/// queue filled by a few connections it never accepts. For connect-timeout tests.
pub struct BlackHole {
    pub addr: std::net::SocketAddr,
    _listener: socket2::Socket,
    _fillers: Vec<socket2::Socket>,
}

impl BlackHole {
    pub fn new() -> BlackHole {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        listener.bind(&any.into()).expect("bind");
        listener.listen(0).expect("listen");
        let addr = listener
            .local_addr()
            .expect("local addr")
            .as_socket()
            .expect("inet addr");
        let mut fillers = Vec::new();
        for _ in 0..8 {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
            s.set_nonblocking(true).expect("nonblocking");
            let _ = s.connect(&addr.into());
            fillers.push(s);
        }
        // Let the handshakes that can complete complete.
        std::thread::sleep(Duration::from_millis(100));
        BlackHole {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }
}

impl Default for BlackHole {
    fn default() -> Self {
        Self::new()
    }
}

/// Log lines of this test process, captured (install once per process with [`capture_logs`]).
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a global subscriber that records every log line at INFO and above.
pub fn capture_logs() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let writer = capture.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init();
            capture
        })
        .clone()
}
