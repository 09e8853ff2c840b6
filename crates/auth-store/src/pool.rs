//! Connections: the multi-backend connection type, the pool and the migrations.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::result::ConnectionError;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;
use crate::reach::{self, Reachability};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary constant for the PostgreSQL advisory lock that serialises concurrent migrations
/// when several instances start at once.
const MIGRATION_LOCK_ID: i64 = 0x4c61_7463_686b_6579; // "Latchkey"

/// One connection type for both databases; every query in this crate is written against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgresql",
        }
    }
}

pub(crate) enum Target {
    Sqlite(String),
    Postgres(String),
}

impl Target {
    pub(crate) fn parse(url: &str, connect_timeout: Duration) -> Result<Target, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut url = url.to_owned();
            if !url.contains("connect_timeout=") {
                let sep = if url.contains('?') { '&' } else { '?' };
                let secs = connect_timeout.as_secs().max(1);
                url.push_str(&format!("{sep}connect_timeout={secs}"));
            }
            return Ok(Target::Postgres(url));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                StoreError::BadUrl("expected postgres://… or sqlite://PATH".to_owned())
            })?;
        if path.is_empty() || path.contains(":memory:") {
            return Err(StoreError::BadUrl(
                "sqlite needs a file path (an in-memory database cannot be shared by a pool)"
                    .to_owned(),
            ));
        }
        Ok(Target::Sqlite(path.to_owned()))
    }

    pub(crate) fn kind(&self) -> DbKind {
        match self {
            Target::Sqlite(_) => DbKind::Sqlite,
            Target::Postgres(_) => DbKind::Postgres,
        }
    }
}

/// A connection is pinged at checkout only when it has not proved alive (opened, answered a
/// ping, or ran a query without error) for this long. A ping on every checkout doubled the
/// round trips of a one-query read (an API key not yet cached); a connection that died since
/// its last proof fails its next query, which is then reported as usual and makes the
/// connection be pinged (and replaced) at its next checkout.
const TRUST_FOR: Duration = Duration::from_secs(1);

/// A pooled connection and when it last proved alive (see [`TRUST_FOR`]).
pub(crate) struct Conn {
    conn: DbConnection,
    /// `None`: ping at the next checkout.
    proved: Option<std::time::Instant>,
}

impl Conn {
    fn new(conn: DbConnection) -> Conn {
        Conn {
            conn,
            proved: Some(std::time::Instant::now()),
        }
    }

    /// What the last use says: a success proves the connection alive, an error makes the
    /// next checkout ping it.
    pub(crate) fn used(&mut self, ok: bool) {
        self.proved = ok.then(std::time::Instant::now);
    }
}

impl std::ops::Deref for Conn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Opens connections of the configured kind only (the derive's own `establish` would try every
/// kind in turn, and SQLite accepts any string as a file name), and tells [`Reachability`] how
/// each attempt went.
pub(crate) struct Manager {
    target: Target,
    reach: Arc<Reachability>,
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            Target::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            Target::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout (set first, so that
                // switching to WAL waits too) makes a second process (the CLI next to a running
                // server) wait instead of failing.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Conn, r2d2::Error> {
        let _attempt = self
            .reach
            .begin_attempt()
            .map_err(|why| r2d2::Error::ConnectionError(ConnectionError::BadConnection(why)))?;
        let result = self.open();
        match &result {
            Ok(_) => self.reach.connected(),
            // The database could not be opened or reached (a failed set-up statement on an
            // open SQLite file, such as a lock, says nothing about reachability).
            Err(r2d2::Error::ConnectionError(e)) => self.reach.failed(&e.to_string()),
            Err(r2d2::Error::QueryError(_)) => {}
        }
        result.map(Conn::new)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), r2d2::Error> {
        if conn.proved.is_some_and(|at| at.elapsed() < TRUST_FOR) {
            return Ok(());
        }
        conn.proved = None;
        conn.conn.ping().map_err(r2d2::Error::QueryError)?;
        conn.proved = Some(std::time::Instant::now());
        self.reach.connected();
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.conn.is_broken()
    }
}

/// The r2d2 pool with its [`Reachability`]: [`Pool::get`] gives up as soon as the database is
/// found unreachable (see `reach.rs`).
#[derive(Clone)]
pub(crate) struct Pool {
    inner: r2d2::Pool<Manager>,
    reach: Arc<Reachability>,
    /// The longest a checkout waits for a busy pool: `connect_timeout` + 1 s.
    cap: Duration,
}

impl Pool {
    pub(crate) fn get(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        reach::checkout(&self.inner, &self.reach, self.cap)
    }
}

pub(crate) fn build(target: Target, options: &crate::StoreOptions) -> Result<Pool, StoreError> {
    if let Target::Sqlite(path) = &target {
        crate::files::prepare_sqlite(path)?;
    }
    let reach = Arc::new(Reachability::default());
    let inner = r2d2::Pool::builder()
        .max_size(options.max_connections.max(1))
        // No idle minimum: r2d2 would otherwise open replacement connections on background
        // threads, and a short-lived process (a CLI command) can exit while libpq is inside
        // such a connect, which crashes in its exit handlers.
        .min_idle(Some(0))
        // r2d2 retries a failed connect on its own, pausing up to half this between attempts.
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(true)
        // Failures are logged by `Reachability`, once per outage (r2d2 would log every retry).
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build(Manager {
            target,
            reach: reach.clone(),
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Pool {
        inner,
        reach,
        cap: options.connect_timeout + Duration::from_secs(1),
    })
}

pub(crate) fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect())
            .map_err(|e| StoreError::Migration(e.to_string()))?,
        DbConnection::Postgres(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                .execute(c)?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect())
                .map_err(|e| StoreError::Migration(e.to_string()));
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                .execute(c)?;
            result?
        }
    };
    Ok(applied)
}

/// Body of the LISTEN thread: one dedicated connection, polled for notifications (a socket read,
/// no query) every 50 ms; after an error it reconnects with a pause that doubles up to 5 s (the
/// first failure of an outage is a warning, the retries are debug lines, and the reconnection is
/// logged).
pub(crate) fn listen_loop(url: &str, tx: &tokio::sync::mpsc::Sender<()>) {
    const FIRST_PAUSE: Duration = Duration::from_millis(200);
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    let fail = |what: &str, e: &dyn std::fmt::Display, failing: &mut bool, pause: &mut Duration| {
        if std::mem::replace(failing, true) {
            tracing::debug!(error = %e, "PostgreSQL listener: {what}; retrying");
        } else {
            tracing::warn!(error = %e, "PostgreSQL listener: {what}; retrying with a growing pause");
        }
        std::thread::sleep(*pause);
        *pause = (*pause * 2).min(Duration::from_secs(5));
    };
    loop {
        if tx.is_closed() {
            return;
        }
        let mut conn = match PgConnection::establish(url) {
            Ok(c) => c,
            Err(e) => {
                fail("cannot connect", &e, &mut failing, &mut pause);
                continue;
            }
        };
        if let Err(e) =
            diesel::sql_query(format!("LISTEN {}", crate::INVALIDATION_CHANNEL)).execute(&mut conn)
        {
            fail("LISTEN failed", &e, &mut failing, &mut pause);
            continue;
        }
        if std::mem::take(&mut failing) {
            tracing::info!("PostgreSQL listener connected again");
        }
        pause = FIRST_PAUSE;
        // Anything may have changed while we were not listening.
        let _ = tx.try_send(());
        'poll: loop {
            if tx.is_closed() {
                return;
            }
            let mut woke = false;
            for item in conn.notifications_iter() {
                match item {
                    Ok(_) => woke = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "PostgreSQL listener lost its connection; reconnecting");
                        failing = true;
                        break 'poll;
                    }
                }
            }
            if woke {
                let _ = tx.try_send(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::{Store, StoreOptions};
    use auth_core::SecretString;

    fn options(connect_timeout_secs: u64, max_connections: u32) -> StoreOptions {
        StoreOptions {
            max_connections,
            connect_timeout: Duration::from_secs(connect_timeout_secs),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_connections_fail_at_once_not_after_the_timeout() {
        // A port nobody listens on: connections are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let url = SecretString::new(format!("postgres://nobody@127.0.0.1:{port}/none"));
        let store = Store::connect(&url, &options(5, 4)).unwrap();
        for _ in 0..3 {
            let t = Instant::now();
            let err = store.ping().await.unwrap_err();
            assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        }
    }

    #[test]
    fn a_busy_pool_waits_up_to_the_timeout_plus_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let target = Target::parse(&format!("sqlite://{}", path.display()), Duration::ZERO);
        let pool = build(target.unwrap(), &options(1, 1)).unwrap();
        let held = pool.get().unwrap();
        let t = Instant::now();
        let err = pool.get().err().unwrap().to_string();
        let waited = t.elapsed();
        assert!(err.contains("no connection free"), "{err}");
        assert!(
            (Duration::from_millis(1900)..Duration::from_secs(4)).contains(&waited),
            "{waited:?}"
        );
        drop(held);
        assert!(pool.get().is_ok());
    }
}
