//! Typed login outcomes: the backends Latchkey knows, why a login failed (`AuthFailure`, ranked
//! so the chain in `chain.rs` can report the most specific), directory refusals, and the account
//! checks every password backend makes once the password is proven (`admit`).

use std::fmt;
use std::time::Duration;

use crate::domain::{Realm, User};

/// The login backends Latchkey knows, by their configuration name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Email,
    Ldap,
    Dev,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Email => "email",
            BackendKind::Ldap => "ldap",
            BackendKind::Dev => "dev",
        }
    }

    pub fn from_name(name: &str) -> Option<BackendKind> {
        Some(match name {
            "email" => BackendKind::Email,
            "ldap" => BackendKind::Ldap,
            "dev" => BackendKind::Dev,
            _ => return None,
        })
    }

    /// Password backends take part in `fetch_api_key`; the dev backend does not.
    pub fn is_password_backend(self) -> bool {
        matches!(self, BackendKind::Email | BackendKind::Ldap)
    }

    /// Whether the realm has switched this method on.
    pub fn enabled_in(self, realm: &Realm) -> bool {
        match self {
            BackendKind::Email => realm.methods.email,
            BackendKind::Ldap => realm.methods.ldap,
            BackendKind::Dev => realm.methods.dev,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a directory login was refused although the password was right (or, for a lockout, the
/// directory would not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryRefusal {
    /// Disabled in the directory (AD `userAccountControl` bit 2, a `deactivated` attribute,
    /// AD bind sub-code 533).
    AccountDisabled,
    /// AD 701.
    AccountExpired,
    /// AD 532, ppolicy `passwordExpired`.
    PasswordExpired,
    /// AD 773, ppolicy `changeAfterReset`.
    PasswordMustChange,
    /// AD 530 (logon hours) and 531 (workstation).
    NotPermittedNow,
    /// Organization membership, realm access rules, require-group or deny-group.
    NotAllowedInRealm,
    /// No account in the realm and the realm does not create them from the directory.
    ProvisioningDisabled,
    /// The entry lacks an attribute the mapping needs (the email attribute).
    MissingAttribute,
    /// The mapped name or email cannot make an account.
    InvalidProfile,
}

/// A login attempt that did not produce a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// Wrong password, unknown user, or empty password: the only failure that counts toward
    /// the login rate limit.
    #[error("bad credentials")]
    BadCredentials,
    /// The password was right but the account is deactivated.
    #[error("user deactivated")]
    UserDeactivated,
    /// The password was right but the organization is deactivated.
    #[error("realm deactivated")]
    RealmDeactivated,
    /// Neither Email nor LDAP is enabled for the realm.
    #[error("password authentication disabled")]
    PasswordAuthDisabled,
    /// The password was right but must be reset before it is accepted again.
    #[error("password reset required")]
    PasswordResetRequired,
    /// The password was right for an account that lives only in another organization.
    #[error("account belongs to another organization")]
    WrongRealm,
    /// The password was right but the directory refuses the account.
    #[error("refused by the directory: {0:?}")]
    Refused(DirectoryRefusal),
    /// The backend could not decide (directory or database unreachable, timeout).
    #[error("{backend} backend unavailable: {reason}")]
    Unavailable {
        backend: BackendKind,
        reason: String,
    },
    /// The identity a backend resolved (a directory entry, an account) is over its login limit;
    /// the password was not checked. Ends the chain at once.
    #[error("too many failed logins for this identity; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
}

impl AuthFailure {
    /// Lower is more specific; the chain reports the most specific failure it saw.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            AuthFailure::RateLimited { .. } => 0,
            AuthFailure::UserDeactivated => 0,
            AuthFailure::RealmDeactivated => 1,
            AuthFailure::PasswordAuthDisabled => 2,
            AuthFailure::PasswordResetRequired => 3,
            AuthFailure::WrongRealm => 4,
            AuthFailure::Refused(_) => 5,
            AuthFailure::Unavailable { .. } => 6,
            AuthFailure::BadCredentials => 7,
        }
    }

    /// True only for a real credential failure; infrastructure errors never count toward
    /// a login rate limit.
    pub fn is_credential_failure(&self) -> bool {
        matches!(self, AuthFailure::BadCredentials)
    }

    /// The `backend` could not decide; `reason` is for logs and must never hold secrets.
    pub fn unavailable(backend: BackendKind, reason: impl fmt::Display) -> AuthFailure {
        AuthFailure::Unavailable {
            backend,
            reason: reason.to_string(),
        }
    }
}

/// The account checks every password backend makes once the password is proven, in this order:
/// a deactivated realm, a deactivated account, then a bot (bots have no password, so a password
/// login as one is a bad-credentials failure).
pub fn admit(realm: &Realm, user: &User) -> Result<(), AuthFailure> {
    if realm.deactivated {
        return Err(AuthFailure::RealmDeactivated);
    }
    if !user.is_active {
        return Err(AuthFailure::UserDeactivated);
    }
    if user.is_bot() {
        return Err(AuthFailure::BadCredentials);
    }
    Ok(())
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct AuthSuccess {
    pub user: User,
    pub backend: BackendKind,
}
