//! The organization's people and bots as its administrators manage them, and the realm's login
//! methods: Zulip's `/users` and `PATCH /realm` (`authentication_methods`) with Zulip's role
//! rules (`zerver/views/users.py`, `zerver/lib/users.py`, `zerver/views/realm.py`). One
//! function per action, shared by the API, the pages and the command line; each takes [`By`]
//! (who asks), checks the asker's right when a person asks, keeps the rules that keep a realm
//! usable whoever asks (an active human owner left, a login method left), writes through an
//! audited store change (whose invalidation row reaches every instance) and drops this
//! instance's cached copy at once.
//!
//! Who may do what, as in Zulip:
//! - list and read accounts: anyone of the realm (an address only where [`can_see_email`]);
//! - change a name or a role, deactivate, reactivate: administrators (and a bot's owner for
//!   the bot's name and reactivation); giving or taking the owner role, or deactivating an
//!   owner, needs an owner; the realm's only active human owner keeps the role and stays
//!   active;
//! - create an account with a password (Zulip's `can_create_users`): owners (see
//!   [`create_person`]);
//! - switch the realm's login methods: owners, leaving at least one on.

use auth_core::{AuthMethods, BackendKind, Password, Realm, Role, User, UserId, policy};
use auth_store::{Actor, NewUser, OwnerGuarded, StoreError, UserFilter};

use crate::App;
use crate::bots::{check_full_name, require_member, user_in_realm};
use crate::caller::Caller;
use crate::error::ServiceError;
use crate::host::realm_host_name;

/// Zulip's `OrganizationAdministratorRequiredError`.
pub const MUST_BE_ADMIN: &str = "Must be an organization administrator";
/// Zulip's `OrganizationOwnerRequiredError`.
pub const MUST_BE_OWNER: &str = "Must be an organization owner";
/// Zulip's refusal to deactivate the realm's only active human owner (`DELETE /users/{id}`).
const LAST_OWNER: &str = "Cannot deactivate the only organization owner";
const NO_SUCH_USER: &str = "No such user";
const INSUFFICIENT: &str = "Insufficient permission";

/// Who asks for a change.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// A person or bot through the API or the pages: Zulip's role rules apply.
    Caller(&'a Caller),
    /// The server's operator at the command line: no role rules (it can do what an owner can),
    /// but the rules that keep a realm usable still hold.
    Cli,
}

impl By<'_> {
    pub(crate) fn actor(&self) -> Actor {
        match self {
            By::Caller(c) => Actor::api(Some(c.user.id)),
            By::Cli => Actor::cli(),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unavailable("account administration failed", e)
}

/// Whether `viewer` may see `target`'s real address. Latchkey has no per-person setting: every
/// person's address is visible as under Zulip's "administrators only" setting — to the
/// realm's owners and administrators and to the person — and bots' addresses to everyone (as
/// Zulip creates bots).
pub fn can_see_email(viewer: &User, target: &User) -> bool {
    viewer.id == target.id || viewer.role.is_realm_admin() || target.is_bot()
}

/// The `email` Zulip shows for an account whose address the viewer may not see:
/// `user<id>@<realm host>`.
pub fn dummy_email(app: &App, realm: &Realm, user: UserId) -> String {
    format!(
        "user{}@{}",
        user.0,
        realm_host_name(&realm.subdomain, &app.hosts)
    )
}

/// Every account of the caller's realm, people and bots, active or not, oldest first (Zulip's
/// `GET /users`: anyone of the realm may list it).
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<User>, ServiceError> {
    app.store
        .list_users(caller.realm.id, UserFilter::All)
        .await
        .map_err(unavailable)
}

/// One account of the caller's realm, active or not (Zulip's `GET /users/{id}`).
pub async fn get(app: &App, caller: &Caller, raw_id: &str) -> Result<User, ServiceError> {
    user_in_realm(app, &caller.realm, raw_id, NO_SUCH_USER).await
}

/// Zulip's `access_user_by_id(…, for_admin=True)`: an account of the caller's realm that the
/// caller administers (an administrator, or the bot's owner).
async fn access_for_admin(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    allow_deactivated: bool,
    allow_bots: bool,
) -> Result<User, ServiceError> {
    let target = user_in_realm(app, &caller.realm, raw_id, NO_SUCH_USER).await?;
    if target.is_bot() && !allow_bots {
        return Err(ServiceError::Forbidden(NO_SUCH_USER));
    }
    if !target.is_active && !allow_deactivated {
        return Err(ServiceError::Forbidden("User is deactivated"));
    }
    let administers = caller.user.role.is_realm_admin()
        || (target.is_bot() && target.bot_owner_id == Some(caller.user.id));
    if !administers {
        return Err(ServiceError::Forbidden(INSUFFICIENT));
    }
    Ok(target)
}

/// What `PATCH /users/{id}` changes.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// A new name (an empty or unchanged one is ignored, as Zulip ignores it).
    pub full_name: Option<String>,
    pub role: Option<Role>,
}

/// Zulip's `update_user_backend` for the account `raw_id` names.
pub async fn update_for(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    change: UserChange,
) -> Result<User, ServiceError> {
    let target = access_for_admin(app, caller, raw_id, true, true).await?;
    update(app, By::Caller(caller), &target, change).await
}

/// Changes an account's role and/or name. A person asking needs Zulip's rights: an
/// administrator for a role, an owner when the owner role is given or taken; the name of a bot
/// may also be changed by its owner. The realm's only active human owner keeps the role.
/// The name is checked before anything changes.
pub async fn update(
    app: &App,
    by: By<'_>,
    target: &User,
    change: UserChange,
) -> Result<User, ServiceError> {
    let name = match &change.full_name {
        Some(n) if n.trim().is_empty() || *n == target.full_name => None,
        Some(n) => Some(check_full_name(n)?),
        None => None,
    };
    let mut user = target.clone();
    if let Some(role) = change.role.filter(|r| *r != target.role) {
        if let By::Caller(c) = by {
            let owner_role = role == Role::Owner || target.role == Role::Owner;
            if owner_role && c.user.role != Role::Owner {
                return Err(ServiceError::Principal(MUST_BE_OWNER));
            }
            if !c.user.role.is_realm_admin() {
                return Err(ServiceError::Principal(MUST_BE_ADMIN));
            }
        }
        user = match app
            .store
            .set_role_keeping_an_owner(target.id, role, by.actor())
            .await
            .map_err(unavailable)?
        {
            OwnerGuarded::Done(u) => u,
            OwnerGuarded::LastOwner => {
                return Err(ServiceError::invalid(
                    "The owner permission cannot be removed from the only organization owner.",
                ));
            }
        };
        // Its next request here sees the new role; other instances within a second.
        app.keys.invalidate_user(target.id);
        tracing::info!(user_id = %target.id, role = role.name(), "role changed");
    }
    if let Some(name) = name {
        let update = auth_core::DirectoryUpdate {
            full_name: Some(name),
            ..Default::default()
        };
        user = app
            .store
            .update_user(target.id, update, by.actor())
            .await
            .map_err(unavailable)?;
        app.keys.invalidate_user(target.id);
    }
    Ok(user)
}

/// Zulip's `deactivate_user_backend` for the person `raw_id` names (not a bot: bots have
/// `DELETE /bots/{id}`).
pub async fn deactivate_for(
    app: &App,
    caller: &Caller,
    raw_id: &str,
) -> Result<User, ServiceError> {
    let target = access_for_admin(app, caller, raw_id, false, false).await?;
    deactivate(app, By::Caller(caller), &target, None).await
}

/// Zulip's `deactivate_user_own_backend` (`DELETE /users/me`): the caller deactivates their own
/// account, as [`deactivate`] does (key refused at once, sessions ended, their bots with them,
/// audited as their own act); refused with Zulip's `CannotDeactivateLastUserError` for the
/// realm's only active account and for its only active human owner.
pub async fn deactivate_own(app: &App, caller: &Caller) -> Result<User, ServiceError> {
    let active = app
        .store
        .list_users(caller.realm.id, UserFilter::All)
        .await
        .map_err(unavailable)?
        .iter()
        .filter(|u| u.is_active)
        .count();
    if active <= 1 {
        return Err(ServiceError::LastUser { owner: false });
    }
    match deactivate(app, By::Caller(caller), &caller.user, None).await {
        Err(ServiceError::Invalid(msg)) if msg == LAST_OWNER => {
            Err(ServiceError::LastUser { owner: true })
        }
        other => other,
    }
}

/// Deactivates an account: its key is refused at once here and within a second on every
/// instance, its web sessions end, and a person's active bots go with them. Only an owner may
/// deactivate an owner, and the realm's only active human owner stays.
pub async fn deactivate(
    app: &App,
    by: By<'_>,
    target: &User,
    reason: Option<String>,
) -> Result<User, ServiceError> {
    if let By::Caller(c) = by {
        if target.role == Role::Owner && c.user.role != Role::Owner {
            return Err(ServiceError::Principal(MUST_BE_OWNER));
        }
    }
    let bots: Vec<UserId> = if target.is_bot() {
        Vec::new()
    } else {
        app.store
            .list_users(target.realm_id, UserFilter::BotsOnly)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|b| b.bot_owner_id == Some(target.id))
            .map(|b| b.id)
            .collect()
    };
    let user = match app
        .store
        .deactivate_keeping_an_owner(target.id, reason, by.actor())
        .await
        .map_err(unavailable)?
    {
        OwnerGuarded::Done(u) => u,
        OwnerGuarded::LastOwner => {
            return Err(ServiceError::invalid(LAST_OWNER));
        }
    };
    app.keys.invalidate_user(target.id);
    for bot in bots {
        app.keys.invalidate_user(bot);
    }
    tracing::info!(user_id = %target.id, "account deactivated");
    Ok(user)
}

/// Zulip's `reactivate_user_backend` for the account `raw_id` names: a bot by its owner or an
/// administrator, a person by an administrator (members only: not guests, not bots).
pub async fn reactivate_for(
    app: &App,
    caller: &Caller,
    raw_id: &str,
) -> Result<User, ServiceError> {
    require_member(&caller.user)?;
    let target = access_for_admin(app, caller, raw_id, true, true).await?;
    reactivate(app, By::Caller(caller), &target).await
}

/// Reactivates an account (its key works again; nothing else of it changed).
pub async fn reactivate(app: &App, by: By<'_>, target: &User) -> Result<User, ServiceError> {
    let user = app
        .store
        .set_user_active(target.id, true, by.actor())
        .await
        .map_err(unavailable)?;
    app.keys.invalidate_user(target.id);
    Ok(user)
}

/// Whether `caller` may create accounts ([`create_person`]): Zulip's `require_realm_admin`
/// then `can_create_users`, which Latchkey gives to owners. Checked before the request's
/// parameters are read, as Zulip's decorator does.
pub fn may_create_users(caller: &Caller) -> Result<(), ServiceError> {
    if !caller.user.role.is_realm_admin() {
        return Err(ServiceError::Principal(MUST_BE_ADMIN));
    }
    if caller.user.role != Role::Owner {
        return Err(ServiceError::invalid("User not authorized to create users"));
    }
    Ok(())
}

/// A person to create.
pub struct NewPerson<'a> {
    pub email: &'a str,
    pub full_name: &'a str,
    /// `None`: no password (a directory account, or one whose owner sets it by a reset link).
    pub password: Option<&'a Password>,
    pub role: Role,
}

/// Creates a person with a fresh key (Zulip's `create_user_backend`: `POST /users`). Zulip
/// gives this right (`can_create_users`) to no one by default, and only a server
/// administrator grants it, because accounts made this way skip invitations; Latchkey gives
/// it to the realm's owners: an administrator who is not an owner gets Zulip's "User not
/// authorized to create users". A password needs the Email method on for the realm (else it
/// could never be used) and must meet the password policy.
pub async fn create_person(
    app: &App,
    by: By<'_>,
    realm: &Realm,
    new: NewPerson<'_>,
) -> Result<User, ServiceError> {
    if let By::Caller(c) = by {
        may_create_users(c)?;
    }
    let full_name = check_full_name(new.full_name)?;
    let email = new.email.trim();
    policy::validate_email(email).map_err(|_| ServiceError::invalid("Bad name or username"))?;
    let in_use = || ServiceError::invalid(format!("Email '{email}' already in use"));
    if app
        .store
        .user_by_email(realm.id, email)
        .await
        .map_err(unavailable)?
        .is_some()
    {
        return Err(in_use());
    }
    let password_hash = match new.password {
        None => None,
        Some(pw) => {
            if !app.method_enabled(BackendKind::Email, Some(realm)) {
                return Err(ServiceError::invalid(
                    "Email authentication is disabled in this organization: an account's \
                     password could not be used",
                ));
            }
            if app.policy.check(pw, &[email, &full_name]).is_err() {
                return Err(ServiceError::invalid("The password is too weak."));
            }
            Some(app.hasher.hash(pw).await.map_err(unavailable)?)
        }
    };
    let user = app
        .store
        .create_user(
            NewUser {
                realm_id: realm.id,
                delivery_email: email.to_owned(),
                full_name,
                password_hash,
                role: new.role,
                bot_type: None,
                bot_owner_id: None,
                external_id: None,
            },
            app.keys.sealer(),
            by.actor(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => in_use(),
            other => unavailable(other),
        })?;
    tracing::info!(user_id = %user.id, "account created");
    Ok(user)
}

/// Zulip's `require_realm_admin` in front of `update_realm` (`PATCH /realm`), checked before
/// the request's parameters are read.
pub fn may_change_realm(caller: &Caller) -> Result<(), ServiceError> {
    if !caller.user.role.is_realm_admin() {
        return Err(ServiceError::Principal(MUST_BE_ADMIN));
    }
    Ok(())
}

/// The login methods of `PATCH /realm`'s `authentication_methods`, by Zulip's names: those this
/// server offers (Zulip accepts only the backends the server has), sorted.
pub fn available_methods(app: &App) -> Vec<(&'static str, BackendKind)> {
    let mut out: Vec<(&'static str, BackendKind)> = [
        ("Dev", BackendKind::Dev),
        ("Email", BackendKind::Email),
        ("LDAP", BackendKind::Ldap),
    ]
    .into_iter()
    .filter(|(_, kind)| app.method_enabled(*kind, None))
    .collect();
    out.sort_by_key(|(name, _)| *name);
    out
}

/// The realm's login methods as `GET /realm` shows them to its administrators: each method of
/// [`available_methods`] and whether it is on, read from the store (not the cached realm).
pub async fn auth_methods_for(
    app: &App,
    caller: &Caller,
) -> Result<Vec<(&'static str, bool)>, ServiceError> {
    may_change_realm(caller)?;
    let realm = app
        .store
        .realm_by_id(caller.realm.id)
        .await
        .map_err(unavailable)?
        .ok_or(ServiceError::NoSuchRealm)?;
    Ok(available_methods(app)
        .into_iter()
        .map(|(name, kind)| {
            let on = match kind {
                BackendKind::Email => realm.methods.email,
                BackendKind::Ldap => realm.methods.ldap,
                BackendKind::Dev => realm.methods.dev,
            };
            (name, on)
        })
        .collect())
}

/// Zulip's `update_realm` with `authentication_methods`: each named method (a name of
/// [`available_methods`]) switched on or off in the caller's realm, at least one of them on.
/// Returns the realm when something changed, `None` when nothing did.
pub async fn set_auth_methods_for(
    app: &App,
    caller: &Caller,
    requested: &[(String, bool)],
) -> Result<Option<Realm>, ServiceError> {
    may_change_realm(caller)?;
    if caller.user.role != Role::Owner {
        return Err(ServiceError::Principal(MUST_BE_OWNER));
    }
    let available = available_methods(app);
    let realm = app
        .store
        .realm_by_id(caller.realm.id)
        .await
        .map_err(unavailable)?
        .ok_or(ServiceError::NoSuchRealm)?;
    let mut methods = realm.methods;
    for (name, on) in requested {
        let Some((_, kind)) = available.iter().find(|(n, _)| n == name) else {
            let names: Vec<String> = available.iter().map(|(n, _)| format!("'{n}'")).collect();
            return Err(ServiceError::invalid(format!(
                "Invalid authentication method: {name}. Valid methods are: [{}]",
                names.join(", ")
            )));
        };
        match kind {
            BackendKind::Email => methods.email = *on,
            BackendKind::Ldap => methods.ldap = *on,
            BackendKind::Dev => methods.dev = *on,
        }
    }
    if !requested.iter().any(|(_, on)| *on) {
        return Err(ServiceError::invalid(
            "At least one authentication method must be enabled.",
        ));
    }
    set_auth_methods(app, By::Caller(caller), &realm, methods).await
}

/// Switches the realm's login methods to `methods` (audited; every instance's cached realm and
/// keys of the realm are dropped). An owner (or the command line) only, and at least one
/// method stays on. Returns the realm when something changed, `None` when nothing did.
pub async fn set_auth_methods(
    app: &App,
    by: By<'_>,
    realm: &Realm,
    methods: AuthMethods,
) -> Result<Option<Realm>, ServiceError> {
    if let By::Caller(c) = by {
        if c.user.role != Role::Owner {
            return Err(ServiceError::Principal(MUST_BE_OWNER));
        }
    }
    if !(methods.email || methods.ldap || methods.dev) {
        return Err(ServiceError::invalid(
            "At least one authentication method must be enabled.",
        ));
    }
    if methods == realm.methods {
        return Ok(None);
    }
    let realm = app
        .store
        .set_realm_methods(realm.id, methods, by.actor())
        .await
        .map_err(unavailable)?;
    app.invalidate_realms();
    app.keys.invalidate_realm(realm.id);
    tracing::info!(realm = ?realm.subdomain, "authentication methods changed");
    Ok(Some(realm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::{RealmId, Timestamp};

    fn user(id: i64, role: Role, bot: bool) -> User {
        User {
            id: UserId(id),
            realm_id: RealmId(1),
            delivery_email: format!("u{id}@example.org"),
            full_name: "U".into(),
            role,
            is_active: true,
            bot_type: bot.then_some(auth_core::BotType::Generic),
            bot_owner_id: None,
            password_reset_needed: false,
            external_id: None,
            deactivation: None,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn addresses_are_for_administrators_the_person_and_bots() {
        let member = user(1, Role::Member, false);
        let other = user(2, Role::Member, false);
        let admin = user(3, Role::Administrator, false);
        let owner = user(4, Role::Owner, false);
        let bot = user(5, Role::Member, true);
        assert!(can_see_email(&member, &member));
        assert!(!can_see_email(&member, &other));
        assert!(!can_see_email(&user(6, Role::Moderator, false), &other));
        assert!(!can_see_email(&user(7, Role::Guest, false), &other));
        assert!(can_see_email(&admin, &other));
        assert!(can_see_email(&owner, &other));
        assert!(can_see_email(&member, &bot));
    }
}
