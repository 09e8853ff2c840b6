//! Audit-log vocabulary: what happened, who did it, and from where.

use auth_core::{RealmId, Timestamp, UserId};

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
    UserEmailChanged,
    UserFullNameChanged,
    UserExternalIdChanged,
    /// A directory entry claimed an account linked to another entry and was refused.
    UserDirectoryLinkRefused,
    RealmSettingsChanged,
    UserLoggedIn,
    UserLoginFailed,
    LoginLimitCleared,
    AuditPruned,
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
                | AuditEvent::UserDirectoryLinkRefused
                | AuditEvent::AuditPruned
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
            AuditEvent::UserEmailChanged => "user_email_changed",
            AuditEvent::UserFullNameChanged => "user_full_name_changed",
            AuditEvent::UserExternalIdChanged => "user_external_id_changed",
            AuditEvent::UserDirectoryLinkRefused => "user_directory_link_refused",
            AuditEvent::RealmSettingsChanged => "realm_settings_changed",
            AuditEvent::UserLoggedIn => "user_logged_in",
            AuditEvent::UserLoginFailed => "user_login_failed",
            AuditEvent::LoginLimitCleared => "login_limit_cleared",
            AuditEvent::AuditPruned => "audit_pruned",
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
}

impl Invalidation {
    /// How it is stored: the `kind` and `target` columns of an `invalidations` row.
    pub(crate) fn to_row(self) -> (&'static str, i64) {
        match self {
            Invalidation::User(u) => ("user", u.0),
            Invalidation::Password(u) => ("user_password", u.0),
            Invalidation::Realm(r) => ("realm", r.0),
            Invalidation::LoginLimits => ("login_limits", 0),
        }
    }

    /// Reads a stored row back; `None` for a kind this version does not know.
    pub(crate) fn from_row(kind: &str, target: i64) -> Option<Invalidation> {
        Some(match kind {
            "user" => Invalidation::User(UserId(target)),
            "user_password" => Invalidation::Password(UserId(target)),
            "realm" => Invalidation::Realm(RealmId(target)),
            "login_limits" => Invalidation::LoginLimits,
            _ => return None,
        })
    }
}
