//! Latchkey's storage: the diesel schema, embedded migrations and every query, over SQLite (the
//! embedded default) and PostgreSQL through one [`DbConnection`] (`diesel::MultiConnection`), so
//! each query is written once. It hands out core domain types, offers every query the core's
//! `AccountStore` port needs (the server adapts it), writes an audit row in the same transaction
//! as every change it makes, and never sees a plaintext API key: keys arrive sealed by the core's
//! vault.
//!
//! This is the only crate that knows SQL. It must never depend on HTTP, the Zulip envelope, LDAP or
//! any backend crate; it depends on `auth-core` alone within the workspace.
//!
//! One module per table family, each with its own `impl Store` block and the types only it uses:
//! `realms`, `users` (with `accounts`, the queries behind the `AccountStore` port), `keys`,
//! `reset_tokens` (password-reset links), `sessions` (web sessions), `audit`, `invalidations`
//! and `meta` (migrations, health, `server_meta`). Every query runs
//! through `tx` (a pooled connection off the async threads, and one transaction per change);
//! `pool` and `reach` open the connections, `models` holds the rows several modules read. This
//! file keeps the [`Store`] handle, its errors and options, and the re-exports that make up the
//! public API.

mod accounts;
mod audit;
mod changes;
mod files;
mod invalidations;
mod keys;
mod meta;
mod models;
mod passwords;
mod pool;
mod reach;
mod realm_ldap;
mod realms;
mod reset_tokens;
mod rows;
pub mod schema;
mod sessions;
mod tx;
mod users;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{SecretString, StoreUnavailable};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub use audit::{Actor, AuditEntry, AuditEvent};
pub use invalidations::{INVALIDATION_CHANNEL, Invalidation};
pub use pool::{DbConnection, DbKind};
pub use realm_ldap::{RealmLdapRow, SealedPasswordChange};
pub use realms::NewRealm;
pub use reset_tokens::ResetRequest;
pub use sessions::{NewSession, SessionWithUser, StoredSession};
pub use users::{KeySealer, NewUser, OwnerGuarded, UserFilter};

/// Storage failures. Messages name tables and constraints, never values or credentials. `Clone`
/// so that one failed read can be reported to every request that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("database error: {0}")]
    Query(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid database URL: {0}")]
    BadUrl(String),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict("a row with that key")
            }
            DieselError::NotFound => StoreError::NotFound("row"),
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Query(other.to_string()),
        }
    }
}

impl From<StoreError> for StoreUnavailable {
    fn from(e: StoreError) -> Self {
        StoreUnavailable(e.to_string())
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long to wait to connect (libpq's `connect_timeout` on PostgreSQL). A query waits
    /// for a pooled connection at most this plus one second, and gives up as soon as
    /// connecting fails: at once when connections are refused.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The storage handle: a connection pool plus the knowledge of which database it talks to.
#[derive(Clone)]
pub struct Store {
    pool: pool::Pool,
    kind: DbKind,
    /// SQLite allows one writer; serialising writes in-process avoids lock-upgrade failures.
    write_lock: Option<Arc<Mutex<()>>>,
    /// The PostgreSQL URL, for the LISTEN connection.
    listen_url: Option<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("kind", &self.kind).finish()
    }
}

/// This host's clock in microseconds since the epoch (0 before 1970).
pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Connects to `postgres://…`/`postgresql://…` or `sqlite://PATH` (also `sqlite:PATH`).
    pub fn connect(url: &SecretString, options: &StoreOptions) -> Result<Store, StoreError> {
        let target = pool::Target::parse(url.expose(), options.connect_timeout)?;
        let kind = target.kind();
        let listen_url = match &target {
            pool::Target::Postgres(u) => Some(u.clone()),
            pool::Target::Sqlite(_) => None,
        };
        let pool = pool::build(target, options)?;
        let write_lock = (kind == DbKind::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Store {
            pool,
            kind,
            write_lock,
            listen_url,
        })
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }
}

/// A unique-constraint failure reported as `what` already existing; other errors as they are.
fn conflict_as(e: DieselError, what: &'static str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}
