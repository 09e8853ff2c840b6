//! The `invalidations` table: what each change made stale, for the caches of every instance.
//! A change writes its row in its own transaction (see `invalidate_for`, called by the audit
//! writer); instances poll for rows since their cursor, and on PostgreSQL also hear of new ones
//! on [`INVALIDATION_CHANNEL`].

use std::time::Duration;

use auth_core::{RealmId, UserId};
use diesel::prelude::*;

use crate::schema::invalidations;
use crate::{AuditEvent, DbConnection, Store, StoreError, now_micros, pool};

/// The PostgreSQL channel on which changes are announced.
pub const INVALIDATION_CHANNEL: &str = "latchkey_invalidate";

/// What a change made stale, for the caches of every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invalidation {
    /// One user's cached identity (key, email, state) is stale.
    User(UserId),
    /// The user's password changed: stale like `User`, and their login history restarts.
    Password(UserId),
    /// Every cached identity of the realm's users is stale.
    Realm(RealmId),
    /// An administrator cleared login limits: every instance forgets the keys named by the
    /// recent `login_limit_cleared` audit rows it has not applied yet (memory limiters have no
    /// other way to hear of it).
    LoginLimits,
    /// The realm's own directory settings changed: every instance rebuilds its directory for
    /// the realm (cached identities are not stale).
    RealmLdap(RealmId),
}

impl Invalidation {
    /// How it is stored: the `kind` and `target` columns of an `invalidations` row.
    fn to_row(self) -> (&'static str, i64) {
        match self {
            Invalidation::User(u) => ("user", u.0),
            Invalidation::Password(u) => ("user_password", u.0),
            Invalidation::Realm(r) => ("realm", r.0),
            Invalidation::LoginLimits => ("login_limits", 0),
            Invalidation::RealmLdap(r) => ("realm_ldap", r.0),
        }
    }

    /// Reads a stored row back; `None` for a kind this version does not know.
    fn from_row(kind: &str, target: i64) -> Option<Invalidation> {
        Some(match kind {
            "user" => Invalidation::User(UserId(target)),
            "user_password" => Invalidation::Password(UserId(target)),
            "realm" => Invalidation::Realm(RealmId(target)),
            "login_limits" => Invalidation::LoginLimits,
            "realm_ldap" => Invalidation::RealmLdap(RealmId(target)),
            _ => return None,
        })
    }
}

impl Store {
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
            let now = db_now_micros(c)?;
            let recent = now - lookback.as_micros() as i64;
            let columns = (
                invalidations::seq,
                invalidations::kind,
                invalidations::target,
            );
            // What is new, in order (a burst larger than a batch is read over several polls)...
            let fresh: Vec<(i64, String, i64, i64)> = invalidations::table
                .filter(invalidations::seq.gt(seq))
                .order(invalidations::seq.asc())
                .limit(BATCH)
                .select((
                    invalidations::seq,
                    invalidations::kind,
                    invalidations::target,
                    invalidations::created_at,
                ))
                .load(c)?;
            // How long each new invalidation took to reach this instance (both times from the
            // database's clock): `latchkey_invalidation_lag_seconds` in `GET /metrics`.
            for (_, _, _, created_at) in &fresh {
                metrics::histogram!("latchkey_invalidation_lag_seconds")
                    .record((now - created_at).max(0) as f64 / 1e6);
            }
            let mut rows: Vec<(i64, String, i64)> = fresh
                .into_iter()
                .map(|(seq, kind, target, _)| (seq, kind, target))
                .collect();
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
}

/// Writes the invalidation an audited change calls for, if any, in the change's transaction; on
/// PostgreSQL it is also announced on [`INVALIDATION_CHANNEL`] when the transaction commits.
pub(crate) fn invalidate_for(
    c: &mut DbConnection,
    event: AuditEvent,
    realm: Option<RealmId>,
    modified_user: Option<UserId>,
) -> Result<(), StoreError> {
    if !event.invalidates() {
        return Ok(());
    }
    let (kind, target) = match modified_user {
        _ if event == AuditEvent::LoginLimitCleared => Invalidation::LoginLimits,
        _ if event == AuditEvent::RealmLdapChanged => match realm {
            Some(r) => Invalidation::RealmLdap(r),
            None => return Ok(()),
        },
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
        diesel::sql_query(format!("SELECT pg_notify('{INVALIDATION_CHANNEL}', '')")).execute(pg)?;
    }
    Ok(())
}

/// The database's clock in microseconds since the epoch: PostgreSQL's on PostgreSQL (shared by
/// every instance), this host's on SQLite (one host by nature).
pub(crate) fn db_now_micros(c: &mut DbConnection) -> Result<i64, StoreError> {
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
