//! What the organization's administrators do besides [`crate::members`]' Zulip API actions,
//! shared by the organization pages and the command line: require a person to reset their
//! password, replace a leaked API key, list every bot with its owner, and switch the login
//! methods from a web session without locking the acting owner out (web.md decision 11).
//! The rights are Zulip's, as in `members.rs`: administrators act on people and bots, and only
//! an owner acts on an owner.

use auth_core::{ApiKey, BackendKind, Realm, Role, User};
use auth_store::{Actor, UserFilter};

use crate::App;
use crate::bots::user_in_realm;
use crate::caller::Caller;
use crate::error::ServiceError;
use crate::members::{self, By, MUST_BE_ADMIN, MUST_BE_OWNER};

const NO_SUCH_USER: &str = "No such user";

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unavailable("account administration failed", e)
}

/// The organization pages' gate: owners and administrators (people, not bots).
pub fn require_admin(caller: &Caller) -> Result<(), ServiceError> {
    if caller.user.is_bot() || !caller.user.role.is_realm_admin() {
        return Err(ServiceError::Principal(MUST_BE_ADMIN));
    }
    Ok(())
}

/// An account of the caller's realm (person or bot, active or not) for an administrator.
pub async fn account_for_admin(
    app: &App,
    caller: &Caller,
    raw_id: &str,
) -> Result<User, ServiceError> {
    require_admin(caller)?;
    user_in_realm(app, &caller.realm, raw_id, NO_SUCH_USER).await
}

/// A person asking to act on `target` needs to be an administrator, and an owner when the
/// target is an owner.
fn check_rights(by: By<'_>, target: &User) -> Result<(), ServiceError> {
    if let By::Caller(c) = by {
        if !c.user.role.is_realm_admin() || c.user.is_bot() {
            return Err(ServiceError::Principal(MUST_BE_ADMIN));
        }
        if target.role == Role::Owner && c.user.role != Role::Owner {
            return Err(ServiceError::Principal(MUST_BE_OWNER));
        }
        if target.realm_id != c.realm.id {
            return Err(ServiceError::Forbidden(NO_SUCH_USER));
        }
    }
    Ok(())
}

fn actor(by: By<'_>) -> Actor {
    match by {
        By::Caller(c) => Actor::api(Some(c.user.id)),
        By::Cli => Actor::cli(),
    }
}

/// What became of the reset link after [`require_password_reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetLink {
    /// Queued for the reset worker (which mails it unless the address's reset limit is spent).
    Queued,
    /// The realm has the Email method off: no link can be used; the person is told nothing.
    EmailOff,
    /// None was asked for (the command line, whose process ends before the worker would run).
    NotSent,
}

/// Makes a local password unusable until its owner sets a new one through a reset link: the
/// account is marked "reset needed" (the right old password then only gets "Reset your
/// password"), every web session of the person and every older reset link ends, and, when
/// the realm uses Email passwords and `send_link`, a reset link is queued for their address. Directory
/// accounts are refused (their password is the directory's), and so are bots and deactivated
/// accounts. Audited (`user_password_reset_required`) with the acting administrator.
pub async fn require_password_reset(
    app: &App,
    by: By<'_>,
    realm: &Realm,
    target: &User,
    send_link: bool,
) -> Result<ResetLink, ServiceError> {
    check_rights(by, target)?;
    if target.is_bot() {
        return Err(ServiceError::invalid("Bots have no password."));
    }
    if !target.is_active {
        return Err(ServiceError::invalid("User is deactivated"));
    }
    if target.external_id.is_some() {
        return Err(ServiceError::invalid(
            "This person's password is managed by the organization's directory: reset it there.",
        ));
    }
    app.store
        .set_password_reset_needed(target.id, true, actor(by))
        .await
        .map_err(unavailable)?;
    app.keys.invalidate_user(target.id);
    tracing::info!(user_id = %target.id, "password reset required");
    if !send_link {
        Ok(ResetLink::NotSent)
    } else if app.method_enabled(BackendKind::Email, Some(realm)) {
        app.queue_reset_link(realm, &target.delivery_email);
        Ok(ResetLink::Queued)
    } else {
        Ok(ResetLink::EmailOff)
    }
}

/// Replaces an account's API key (a person's or a bot's, e.g. one that leaked): the old key is
/// refused at once here and, through the invalidation log, within a second on every instance.
/// Audited (`user_api_key_changed`) with the acting administrator. The new key is returned for
/// the command line; the pages do not show another person's key.
pub async fn regenerate_key(app: &App, by: By<'_>, target: &User) -> Result<ApiKey, ServiceError> {
    check_rights(by, target)?;
    let key = app
        .keys
        .regenerate(target.id, actor(by))
        .await
        .map_err(unavailable)?;
    tracing::info!(user_id = %target.id, "API key replaced by an administrator");
    Ok(key)
}

/// Every bot of the caller's realm, active or not, with its owner (Organization → Bots:
/// administrators see all), oldest first.
pub async fn all_bots(
    app: &App,
    caller: &Caller,
) -> Result<Vec<(User, Option<User>)>, ServiceError> {
    require_admin(caller)?;
    let everyone = app
        .store
        .list_users(caller.realm.id, UserFilter::All)
        .await
        .map_err(unavailable)?;
    let owner_of = |bot: &User| {
        bot.bot_owner_id
            .and_then(|o| everyone.iter().find(|u| u.id == o).cloned())
    };
    Ok(everyone
        .iter()
        .filter(|u| u.is_bot())
        .map(|b| (b.clone(), owner_of(b)))
        .collect())
}

/// `PATCH /realm authentication_methods` ([`members::set_auth_methods_for`]) from a web session
/// that logged in with `used` (a backend name): decision 11 refuses to switch that method off
/// unless another method left on lets the owner log in (a usable local password for Email, a
/// directory link for LDAP, the development login for Dev).
pub async fn set_auth_methods_from_session(
    app: &App,
    caller: &Caller,
    used: &str,
    requested: &[(String, bool)],
) -> Result<Option<Realm>, ServiceError> {
    members::may_change_realm(caller)?;
    if caller.user.role != Role::Owner {
        return Err(ServiceError::Principal(MUST_BE_OWNER));
    }
    let available = members::available_methods(app);
    let state = |kind: BackendKind| {
        let current = match kind {
            BackendKind::Email => caller.realm.methods.email,
            BackendKind::Ldap => caller.realm.methods.ldap,
            BackendKind::Dev => caller.realm.methods.dev,
        };
        available
            .iter()
            .find(|(_, k)| *k == kind)
            .and_then(|(name, _)| requested.iter().find(|(n, _)| n == name))
            .map_or(current, |(_, on)| *on)
    };
    // Nothing switched on: Zulip's own refusal, from the shared path below.
    let some_on = requested.iter().any(|(_, on)| *on);
    if let Some(used) = BackendKind::from_name(used).filter(|k| some_on && !state(*k)) {
        let mut others = false;
        for kind in [BackendKind::Email, BackendKind::Ldap, BackendKind::Dev] {
            if kind != used && state(kind) && can_use(app, caller, kind).await? {
                others = true;
            }
        }
        if !others {
            return Err(ServiceError::invalid(
                "You logged in with this method and no other method left on would let you \
                 log in: switching it off would lock you out.",
            ));
        }
    }
    members::set_auth_methods_for(app, caller, requested).await
}

/// Whether the caller could log in with `kind` (on the server, ignoring the realm's switch).
async fn can_use(app: &App, caller: &Caller, kind: BackendKind) -> Result<bool, ServiceError> {
    if !app.method_enabled(kind, None) {
        return Ok(false);
    }
    Ok(match kind {
        BackendKind::Dev => true,
        BackendKind::Ldap => caller.user.external_id.is_some(),
        BackendKind::Email => {
            let record = app
                .store
                .login_record(caller.realm.id, &caller.user.delivery_email)
                .await
                .map_err(unavailable)?;
            record.is_some_and(|r| {
                r.password_hash.is_some()
                    && !r.user.password_reset_needed
                    && r.user.external_id.is_none()
            })
        }
    })
}
