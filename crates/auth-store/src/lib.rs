//! Over 600 lines for now: the one `impl Store` is split by table family (realms, users, keys,
//! audit, invalidations) in issue 9, which reshapes the crates in one step; splitting it alone
//! here would be redone there.
//!
//! Latchkey's storage: the diesel schema, embedded migrations and every query, over SQLite (the
//! embedded default) and PostgreSQL through one [`DbConnection`] (`diesel::MultiConnection`), so
//! each query is written once. It hands out core domain types, offers every query the core's
//! `AccountStore` port needs (the server adapts it), writes an audit row in the same transaction
//! as every change it makes, and never sees a plaintext API key: keys arrive sealed by the core's
//! vault.
//!
//! This is the only crate that knows SQL. It must never depend on HTTP, the Zulip envelope, LDAP or
//! any backend crate; it depends on `auth-core` alone within the workspace.

mod accounts;
mod audit;
mod files;
mod keys;
mod models;
mod pool;
mod reach;
mod realms;
pub mod schema;
mod tx;
mod users;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{RealmId, SecretString, StoreUnavailable, UserId};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub use audit::{Actor, AuditEntry, AuditEvent, Invalidation};
pub use pool::{DbConnection, DbKind};
pub use realms::NewRealm;
pub use users::{KeySealer, NewUser, UserFilter};

use models::{AuditRow, NewAuditRow};
use schema::{audit_log, invalidations, server_meta};

/// Storage failures. Messages name tables and constraints, never values or credentials.
#[derive(Debug, thiserror::Error)]
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

    /// Applies pending migrations; returns the versions applied. Applied migrations are
    /// recorded in the audit log.
    pub async fn migrate(&self, actor: Actor) -> Result<Vec<String>, StoreError> {
        let applied = self.with_conn(pool::run_migrations).await?;
        if !applied.is_empty() {
            self.record_event(
                None,
                AuditEvent::DatabaseMigrated,
                actor,
                None,
                serde_json::json!({"applied": applied}),
            )
            .await?;
        }
        Ok(applied)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|c| {
            diesel::sql_query("SELECT 1").execute(c)?;
            Ok(())
        })
        .await
    }

    // ----------------------------------------------------------- server meta

    /// Stores `value` under `name` unless a value is already there; returns the stored value.
    pub async fn meta_get_or_init(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write(move |c| {
            let existing = server_meta::table
                .find(&name)
                .select(server_meta::value)
                .first::<String>(c)
                .optional()?;
            if let Some(v) = existing {
                return Ok(v);
            }
            diesel::insert_into(server_meta::table)
                .values((server_meta::name.eq(&name), server_meta::value.eq(&value)))
                .execute(c)?;
            Ok(value)
        })
        .await
    }

    // ----------------------------------------------------------- invalidations

    /// The newest invalidation's sequence number (0 when there is none).
    pub async fn latest_invalidation(&self) -> Result<i64, StoreError> {
        self.with_conn(|c| {
            Ok(invalidations::table
                .select(invalidations::seq)
                .order(invalidations::seq.desc())
                .first::<i64>(c)
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    /// Invalidations after `seq`, and also every one written in the last `lookback` (a
    /// transaction that took a lower sequence number may commit after a higher one was read),
    /// oldest first, each with its sequence number; plus the newest sequence number seen.
    pub async fn invalidations_since(
        &self,
        seq: i64,
        lookback: Duration,
    ) -> Result<(i64, Vec<(i64, Invalidation)>), StoreError> {
        const BATCH: i64 = 10_000;
        self.with_conn(move |c| {
            let recent = db_now_micros(c)? - lookback.as_micros() as i64;
            let columns = (
                invalidations::seq,
                invalidations::kind,
                invalidations::target,
            );
            // What is new, in order (a burst larger than a batch is read over several polls)...
            let mut rows: Vec<(i64, String, i64)> = invalidations::table
                .filter(invalidations::seq.gt(seq))
                .order(invalidations::seq.asc())
                .limit(BATCH)
                .select(columns)
                .load(c)?;
            // Ordered by seq and all above `seq`: the last is the newest.
            let newest = rows.last().map_or(seq, |r| r.0);
            // ...and what committed late below the cursor.
            let late: Vec<(i64, String, i64)> = invalidations::table
                .filter(invalidations::seq.le(seq))
                .filter(invalidations::created_at.gt(recent))
                .order(invalidations::seq.asc())
                .limit(BATCH)
                .select(columns)
                .load(c)?;
            rows.extend(late);
            let items = rows
                .into_iter()
                .filter_map(|(seq, kind, target)| {
                    Some((seq, Invalidation::from_row(&kind, target)?))
                })
                .collect();
            Ok((newest, items))
        })
        .await
    }

    /// Deletes invalidations older than `age`.
    pub async fn prune_invalidations(&self, age: Duration) -> Result<usize, StoreError> {
        self.write(move |c| {
            let cutoff = db_now_micros(c)? - age.as_micros() as i64;
            Ok(
                diesel::delete(invalidations::table.filter(invalidations::created_at.lt(cutoff)))
                    .execute(c)?,
            )
        })
        .await
    }

    /// On PostgreSQL, a listener on the invalidation channel: the receiver gets a message soon
    /// after each change commits (on any instance or CLI). `None` on SQLite (poll instead).
    /// The listener thread reconnects after errors and ends when the receiver is dropped.
    pub fn listen_for_invalidations(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        let url = self.listen_url.clone()?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let spawned = std::thread::Builder::new()
            .name("latchkey-pg-listen".into())
            .spawn(move || pool::listen_loop(&url, &tx));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the PostgreSQL listener; relying on polling");
        }
        Some(rx)
    }

    // ------------------------------------------------------------- audit log

    /// Records an event that changes nothing else (a login, a failed login).
    pub async fn record_event(
        &self,
        realm: Option<RealmId>,
        event: AuditEvent,
        actor: Actor,
        modified_user: Option<UserId>,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(move |c| audit(c, realm, event, &actor, modified_user, detail))
            .await
    }

    /// Deletes audit entries older than `age`, and records that it did (with the count).
    pub async fn prune_audit(&self, age: Duration, actor: Actor) -> Result<usize, StoreError> {
        let cutoff = now_micros() - age.as_micros().min(i64::MAX as u128) as i64;
        self.write(move |c| {
            let removed = diesel::delete(audit_log::table.filter(audit_log::event_time.lt(cutoff)))
                .execute(c)?;
            let detail =
                serde_json::json!({"removed": removed, "older_than_us": age.as_micros() as u64});
            audit(c, None, AuditEvent::AuditPruned, &actor, None, detail)?;
            Ok(removed)
        })
        .await
    }

    /// Newest first.
    pub async fn audit_entries(
        &self,
        realm: Option<RealmId>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_conn(move |c| {
            let mut q = audit_log::table
                .select(AuditRow::as_select())
                .order(audit_log::id.desc())
                .limit(limit)
                .into_boxed();
            if let Some(r) = realm {
                q = q.filter(audit_log::realm_id.eq(r.0));
            }
            Ok(q.load(c)?.into_iter().map(AuditRow::into_entry).collect())
        })
        .await
    }

    /// One page of the audit log, newest first: rows with an id below `before` (all when
    /// `None`), of this realm and event type when given, written at or after `since`.
    pub async fn audit_page(
        &self,
        realm: Option<RealmId>,
        event: Option<String>,
        since: Option<auth_core::Timestamp>,
        before: Option<i64>,
        page: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_conn(move |c| {
            let mut q = audit_log::table
                .select(AuditRow::as_select())
                .order(audit_log::id.desc())
                .limit(page)
                .into_boxed();
            if let Some(r) = realm {
                q = q.filter(audit_log::realm_id.eq(r.0));
            }
            if let Some(e) = event {
                q = q.filter(audit_log::event_type.eq(e));
            }
            if let Some(t) = since {
                q = q.filter(audit_log::event_time.ge(t.0));
            }
            if let Some(id) = before {
                q = q.filter(audit_log::id.lt(id));
            }
            Ok(q.load(c)?.into_iter().map(AuditRow::into_entry).collect())
        })
        .await
    }

    /// The audit rows of these events written at or after `since`, oldest first (at most
    /// `limit`).
    pub async fn audit_events_since(
        &self,
        events: &[AuditEvent],
        since: auth_core::Timestamp,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let names: Vec<&'static str> = events.iter().map(|e| e.as_str()).collect();
        self.with_conn(move |c| {
            Ok(audit_log::table
                .select(AuditRow::as_select())
                .filter(audit_log::event_type.eq_any(names))
                .filter(audit_log::event_time.ge(since.0))
                .order(audit_log::id.asc())
                .limit(limit)
                .load(c)?
                .into_iter()
                .map(AuditRow::into_entry)
                .collect())
        })
        .await
    }
}

impl AuditRow {
    fn into_entry(self) -> AuditEntry {
        AuditEntry {
            id: self.id,
            realm_id: self.realm_id.map(RealmId),
            event_type: self.event_type,
            acting_user_id: self.acting_user_id.map(UserId),
            modified_user_id: self.modified_user_id.map(UserId),
            source: self.source,
            detail: serde_json::from_str(&self.detail).unwrap_or(serde_json::Value::Null),
            event_time: auth_core::Timestamp(self.event_time),
        }
    }
}

fn conflict_as(e: DieselError, what: &'static str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

fn audit(
    c: &mut DbConnection,
    realm: Option<RealmId>,
    event: AuditEvent,
    actor: &Actor,
    modified_user: Option<UserId>,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    let detail = detail.to_string();
    diesel::insert_into(audit_log::table)
        .values(&NewAuditRow {
            realm_id: realm.map(|r| r.0),
            event_type: event.as_str(),
            acting_user_id: actor.user.map(|u| u.0),
            modified_user_id: modified_user.map(|u| u.0),
            source: actor.source,
            detail: &detail,
            event_time: now_micros(),
        })
        .execute(c)?;
    if event.invalidates() {
        let (kind, target) = match modified_user {
            _ if event == AuditEvent::LoginLimitCleared => Invalidation::LoginLimits,
            Some(u) if event == AuditEvent::UserPasswordChanged => Invalidation::Password(u),
            Some(u) => Invalidation::User(u),
            None => match realm {
                Some(r) => Invalidation::Realm(r),
                None => return Ok(()),
            },
        }
        .to_row();
        // Stamped with the database's clock, which every reader compares against (hosts'
        // clocks may disagree).
        let stamp = db_now_micros(c)?;
        diesel::insert_into(invalidations::table)
            .values((
                invalidations::kind.eq(kind),
                invalidations::target.eq(target),
                invalidations::created_at.eq(stamp),
            ))
            .execute(c)?;
        if let DbConnection::Postgres(pg) = c {
            // Delivered to listeners when the transaction commits.
            diesel::sql_query(format!("SELECT pg_notify('{INVALIDATION_CHANNEL}', '')"))
                .execute(pg)?;
        }
    }
    Ok(())
}

/// The database's clock in microseconds since the epoch: PostgreSQL's on PostgreSQL (shared by
/// every instance), this host's on SQLite (one host by nature).
fn db_now_micros(c: &mut DbConnection) -> Result<i64, StoreError> {
    match c {
        DbConnection::Postgres(pg) => {
            #[derive(QueryableByName)]
            struct Now {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                now: i64,
            }
            let row: Now = diesel::sql_query(
                "SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint AS now",
            )
            .get_result(pg)?;
            Ok(row.now)
        }
        DbConnection::Sqlite(_) => Ok(now_micros()),
    }
}

/// The PostgreSQL channel on which changes are announced.
pub const INVALIDATION_CHANNEL: &str = "latchkey_invalidate";
