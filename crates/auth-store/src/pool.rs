//! Connections: the multi-backend connection type, the pool and the migrations.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;

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

/// Opens connections of the configured kind only (the derive's own `establish` would try every
/// kind in turn, and SQLite accepts any string as a file name).
pub(crate) struct Manager {
    target: Target,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            Target::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            Target::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes a second process
                // (the CLI next to a running server) wait instead of failing.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub(crate) type Pool = r2d2::Pool<Manager>;

pub(crate) fn build(target: Target, options: &crate::StoreOptions) -> Result<Pool, StoreError> {
    if let Target::Sqlite(path) = &target {
        crate::files::prepare_sqlite(path)?;
    }
    r2d2::Pool::builder()
        .max_size(options.max_connections.max(1))
        // No idle minimum: r2d2 would otherwise open replacement connections on background
        // threads, and a short-lived process (a CLI command) can exit while libpq is inside
        // such a connect, which crashes in its exit handlers.
        .min_idle(Some(0))
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(true)
        .build(Manager { target })
        .map_err(|e| StoreError::Unavailable(e.to_string()))
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
/// no query) every 50 ms; reconnects with a growing pause after errors.
pub(crate) fn listen_loop(url: &str, tx: &tokio::sync::mpsc::Sender<()>) {
    let mut pause = Duration::from_millis(200);
    loop {
        if tx.is_closed() {
            return;
        }
        let mut conn = match PgConnection::establish(url) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL listener cannot connect; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) =
            diesel::sql_query(format!("LISTEN {}", crate::INVALIDATION_CHANNEL)).execute(&mut conn)
        {
            tracing::warn!(error = %e, "PostgreSQL LISTEN failed; retrying");
            std::thread::sleep(pause);
            continue;
        }
        pause = Duration::from_millis(200);
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
