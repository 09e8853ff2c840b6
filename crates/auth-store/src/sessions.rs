//! The `sessions` table: server-side web sessions, keyed by the SHA-256 digest of the cookie
//! value (the caller digests; this module never sees a cookie). Creating one can replace
//! another in the same transaction (the id rotates at login); sessions end at logout, and —
//! written by `users.rs`, `accounts.rs` and `realms.rs` in the change's own transaction — at a
//! password change or reset, a user's deactivation and a realm's deactivation.
//!
//! Sessions are not cached by the service: every page request reads its row, so a deleted row
//! is gone for every instance at once and needs no invalidation.

use auth_core::{RealmId, User, UserId};
use diesel::prelude::*;

use crate::models::UserRow;
use crate::schema::{sessions, users};
use crate::{DbConnection, Store, StoreError};

/// A session to create. Times are microseconds since the epoch.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Hex SHA-256 of the cookie value.
    pub digest: String,
    pub user: UserId,
    /// The per-session CSRF secret (random, hex).
    pub csrf_secret: String,
    /// The backend that proved the login (`"email"`, `"ldap"`).
    pub method: String,
    /// "Keep me logged in": a persistent cookie, no inactivity limit.
    pub persistent: bool,
    pub now: i64,
    pub expires_at: i64,
    /// A portal session: the configured cookie domain it was started for (`None`: a session
    /// of the realm's own pages).
    pub portal_domain: Option<String>,
}

/// A stored session. Times are microseconds since the epoch.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct StoredSession {
    pub id_digest: String,
    pub user_id: i64,
    pub csrf_secret: String,
    pub method: String,
    pub persistent: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub elevated_until: Option<i64>,
    /// The cookie domain of a portal session; `None` for the realm's own pages.
    pub portal_domain: Option<String>,
}

impl std::fmt::Debug for SessionWithUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWithUser")
            .field("user", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// A session and its user, read together.
#[derive(Clone)]
pub struct SessionWithUser {
    pub session: StoredSession,
    pub user: User,
}

impl Store {
    /// Stores a new session; when `replacing` names one (the visitor's previous session), it is
    /// deleted in the same transaction.
    pub async fn create_session(
        &self,
        new: NewSession,
        replacing: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            if let Some(old) = replacing {
                diesel::delete(sessions::table.find(old)).execute(c)?;
            }
            let row = StoredSession {
                id_digest: new.digest,
                user_id: new.user.0,
                csrf_secret: new.csrf_secret,
                method: new.method,
                persistent: new.persistent,
                created_at: new.now,
                last_seen_at: new.now,
                expires_at: new.expires_at,
                elevated_until: None,
                portal_domain: new.portal_domain,
            };
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(c)
                .map_err(|e| crate::conflict_as(e, "a session with that id"))?;
            Ok(())
        })
        .await
    }

    /// The session with this digest and its user, if the row exists (the caller checks
    /// expiry, inactivity and the user's and realm's state).
    pub async fn session(&self, digest: &str) -> Result<Option<SessionWithUser>, StoreError> {
        let digest = digest.to_owned();
        self.with_conn(move |c| {
            let found = sessions::table
                .inner_join(users::table)
                .filter(sessions::id_digest.eq(digest))
                .select((StoredSession::as_select(), UserRow::as_select()))
                .first::<(StoredSession, UserRow)>(c)
                .optional()?;
            Ok(found.map(|(session, user)| SessionWithUser {
                session,
                user: user.into_user(),
            }))
        })
        .await
    }

    /// Records activity on a session (for the inactivity limit).
    pub async fn touch_session(&self, digest: &str, now: i64) -> Result<(), StoreError> {
        let digest = digest.to_owned();
        self.write(move |c| {
            diesel::update(sessions::table.find(digest))
                .set(sessions::last_seen_at.eq(now))
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Marks a session as re-authenticated until `until` (microseconds).
    pub async fn set_session_elevated(&self, digest: &str, until: i64) -> Result<(), StoreError> {
        let digest = digest.to_owned();
        self.write(move |c| {
            diesel::update(sessions::table.find(digest))
                .set(sessions::elevated_until.eq(Some(until)))
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Ends one session; whether there was one.
    pub async fn end_session(&self, digest: &str) -> Result<bool, StoreError> {
        let digest = digest.to_owned();
        self.write(move |c| Ok(diesel::delete(sessions::table.find(digest)).execute(c)? > 0))
            .await
    }

    /// Ends every session of a user except the one with digest `keep`; how many ended.
    pub async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<String>,
    ) -> Result<usize, StoreError> {
        self.write(move |c| Ok(end_sessions_of(c, user, keep.as_deref())?))
            .await
    }

    /// How many sessions a user has (for tests and the CLI).
    pub async fn count_user_sessions(&self, user: UserId) -> Result<i64, StoreError> {
        self.with_conn(move |c| {
            Ok(sessions::table
                .filter(sessions::user_id.eq(user.0))
                .count()
                .get_result(c)?)
        })
        .await
    }

    /// Deletes sessions past their absolute expiry, or idle when not persistent: page sessions
    /// last seen before `idle_before`, portal sessions before `portal_idle_before` (their own
    /// inactivity limit); how many.
    pub async fn prune_sessions(
        &self,
        now: i64,
        idle_before: i64,
        portal_idle_before: i64,
    ) -> Result<usize, StoreError> {
        self.write(move |c| {
            let expired =
                diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(c)?;
            let idle_pages = diesel::delete(
                sessions::table
                    .filter(sessions::persistent.eq(false))
                    .filter(sessions::portal_domain.is_null())
                    .filter(sessions::last_seen_at.lt(idle_before)),
            )
            .execute(c)?;
            let idle_portal = diesel::delete(
                sessions::table
                    .filter(sessions::persistent.eq(false))
                    .filter(sessions::portal_domain.is_not_null())
                    .filter(sessions::last_seen_at.lt(portal_idle_before)),
            )
            .execute(c)?;
            Ok(expired + idle_pages + idle_portal)
        })
        .await
    }
}

/// Deletes a user's sessions (all but `keep`), inside the caller's transaction.
pub(crate) fn end_sessions_of(
    c: &mut DbConnection,
    user: UserId,
    keep: Option<&str>,
) -> QueryResult<usize> {
    let mine = sessions::table.filter(sessions::user_id.eq(user.0));
    match keep {
        Some(keep) => diesel::delete(mine.filter(sessions::id_digest.ne(keep))).execute(c),
        None => diesel::delete(mine).execute(c),
    }
}

/// Deletes the sessions of every user of a realm, inside the caller's transaction.
pub(crate) fn end_realm_sessions(c: &mut DbConnection, realm: RealmId) -> QueryResult<usize> {
    let members = users::table
        .filter(users::realm_id.eq(realm.0))
        .select(users::id);
    diesel::delete(sessions::table.filter(sessions::user_id.eq_any(members))).execute(c)
}
