//! The `audit_log` table: its vocabulary (what happened, who did it, and from where), the writer
//! every change calls inside its own transaction, recording events that change nothing else,
//! reading the log back and pruning it.

use std::time::Duration;

use auth_core::{RealmId, Timestamp, UserId};
use diesel::prelude::*;

use crate::invalidations::invalidate_for;
use crate::schema::audit_log;
use crate::{DbConnection, Store, StoreError, now_micros};

/// Kinds of audited events. Stored as their `as_str()` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    DatabaseMigrated,
    RealmCreated,
    RealmDeactivated,
    RealmReactivated,
    RealmAuthMethodsChanged,
    UserCreated,
    UserDeactivated,
    UserReactivated,
    UserPasswordChanged,
    UserPasswordResetRequired,
    UserPasswordHashUpgraded,
    UserApiKeyChanged,
    UserRoleChanged,
    /// A directory role change refused: it would have left the realm without an active owner.
    UserRoleChangeRefused,
    UserEmailChanged,
    UserFullNameChanged,
    UserExternalIdChanged,
    /// A directory entry claimed an account linked to another entry and was refused.
    UserDirectoryLinkRefused,
    RealmSettingsChanged,
    /// The realm's own LDAP directory settings were set or removed (never with the bind
    /// password); every instance rebuilds the realm's directory.
    RealmLdapChanged,
    /// An administrator tested a person against the realm's directory (with or without their
    /// password; never the password itself).
    LdapPersonTested,
    /// An administrator ran a directory sync (its preview, or applied).
    LdapSyncRun,
    UserLoggedIn,
    UserLoginFailed,
    LoginLimitCleared,
    AuditPruned,
    /// A reset link was mailed to an account (only real accounts get a row).
    PasswordResetRequested,
    /// A password was set through a reset link (next to its `UserPasswordChanged` row).
    PasswordResetDone,
}

impl AuditEvent {
    /// Whether the event makes cached copies of the modified user (or, for realm events, of
    /// the realm and its users) stale. A new realm counts: instances may have cached its
    /// subdomain as unknown.
    pub(crate) fn invalidates(self) -> bool {
        !matches!(
            self,
            AuditEvent::DatabaseMigrated
                | AuditEvent::UserCreated
                | AuditEvent::UserPasswordHashUpgraded
                | AuditEvent::UserLoggedIn
                | AuditEvent::UserLoginFailed
                | AuditEvent::LdapPersonTested
                | AuditEvent::LdapSyncRun
                | AuditEvent::UserDirectoryLinkRefused
                | AuditEvent::UserRoleChangeRefused
                | AuditEvent::AuditPruned
                | AuditEvent::PasswordResetRequested
                | AuditEvent::PasswordResetDone
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::DatabaseMigrated => "database_migrated",
            AuditEvent::RealmCreated => "realm_created",
            AuditEvent::RealmDeactivated => "realm_deactivated",
            AuditEvent::RealmReactivated => "realm_reactivated",
            AuditEvent::RealmAuthMethodsChanged => "realm_authentication_methods_changed",
            AuditEvent::UserCreated => "user_created",
            AuditEvent::UserDeactivated => "user_deactivated",
            AuditEvent::UserReactivated => "user_reactivated",
            AuditEvent::UserPasswordChanged => "user_password_changed",
            AuditEvent::UserPasswordResetRequired => "user_password_reset_required",
            AuditEvent::UserPasswordHashUpgraded => "user_password_hash_upgraded",
            AuditEvent::UserApiKeyChanged => "user_api_key_changed",
            AuditEvent::UserRoleChanged => "user_role_changed",
            AuditEvent::UserRoleChangeRefused => "user_role_change_refused",
            AuditEvent::UserEmailChanged => "user_email_changed",
            AuditEvent::UserFullNameChanged => "user_full_name_changed",
            AuditEvent::UserExternalIdChanged => "user_external_id_changed",
            AuditEvent::UserDirectoryLinkRefused => "user_directory_link_refused",
            AuditEvent::RealmSettingsChanged => "realm_settings_changed",
            AuditEvent::RealmLdapChanged => "realm_ldap_changed",
            AuditEvent::LdapPersonTested => "ldap_person_tested",
            AuditEvent::LdapSyncRun => "ldap_sync_run",
            AuditEvent::UserLoggedIn => "user_logged_in",
            AuditEvent::UserLoginFailed => "user_login_failed",
            AuditEvent::LoginLimitCleared => "login_limit_cleared",
            AuditEvent::AuditPruned => "audit_pruned",
            AuditEvent::PasswordResetRequested => "password_reset_requested",
            AuditEvent::PasswordResetDone => "password_reset_done",
        }
    }
}

/// Who caused a change: the interface it came through and, when known, the acting user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `"cli"`, `"api"`, `"login"`, ...
    pub source: &'static str,
    pub user: Option<UserId>,
}

impl Actor {
    /// An administrator at the command line.
    pub fn cli() -> Actor {
        Actor {
            source: "cli",
            user: None,
        }
    }

    /// The server itself, while starting.
    pub fn startup() -> Actor {
        Actor {
            source: "startup",
            user: None,
        }
    }

    /// A request made by (or on behalf of) a user through the API.
    pub fn api(user: Option<UserId>) -> Actor {
        Actor {
            source: "api",
            user,
        }
    }
}

/// One audit-log row as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub realm_id: Option<RealmId>,
    pub event_type: String,
    pub acting_user_id: Option<UserId>,
    pub modified_user_id: Option<UserId>,
    pub source: String,
    /// A JSON object with event details; never a password, a key or a hash.
    pub detail: serde_json::Value,
    pub event_time: Timestamp,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    pub id: i64,
    pub realm_id: Option<i64>,
    pub event_type: String,
    pub acting_user_id: Option<i64>,
    pub modified_user_id: Option<i64>,
    pub source: String,
    pub detail: String,
    pub event_time: i64,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow<'a> {
    pub realm_id: Option<i64>,
    pub event_type: &'a str,
    pub acting_user_id: Option<i64>,
    pub modified_user_id: Option<i64>,
    pub source: &'a str,
    pub detail: &'a str,
    pub event_time: i64,
}

impl Store {
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

    /// The newest `limit` entries (of this realm when given), newest first: the first page.
    pub async fn audit_entries(
        &self,
        realm: Option<RealmId>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_page(realm, None, None, None, limit).await
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

/// Writes an audit row, and the invalidation the event calls for, on `c` (inside the change's
/// own transaction).
pub(crate) fn audit(
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
    invalidate_for(c, event, realm, modified_user)
}
