//! Bots as an application action, shared by the API routes and the CLI: creating one (name
//! checks, the `<short_name>-bot@<realm host>` email, a fresh key), the bots a person may see,
//! deactivating and reactivating one, and who may do which (Zulip's `access_bot_by_id`): the
//! `*_for` functions take the calling person and check their right first.

use auth_core::{ApiKey, BotType, Realm, Role, User, UserId, policy};
use auth_store::{Actor, NewUser, StoreError, UserFilter};

use crate::App;
use crate::caller::Caller;
use crate::error::ServiceError;
use crate::host::realm_host_name;

/// Why a bot could not be created (messages as Zulip words them).
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("Bad name or username")]
    BadName,
    #[error("Name too long!")]
    NameTooLong,
    #[error("Name too short!")]
    NameTooShort,
    #[error("Invalid characters in name!")]
    InvalidCharacters,
    #[error("Username already in use")]
    InUse,
    #[error(transparent)]
    Store(StoreError),
}

/// Zulip's `check_full_name`.
pub fn check_full_name(raw: &str) -> Result<String, BotError> {
    let name = raw.trim();
    if name.chars().count() > 100 {
        return Err(BotError::NameTooLong);
    }
    if name.chars().count() < 2 {
        return Err(BotError::NameTooShort);
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '*' | '`' | '\\' | '>' | '"' | '@'))
    {
        return Err(BotError::InvalidCharacters);
    }
    Ok(name.to_owned())
}

/// What a new bot is.
pub struct NewBot<'a> {
    pub realm: &'a Realm,
    pub owner: UserId,
    pub full_name: &'a str,
    pub short_name: &'a str,
    pub bot_type: BotType,
}

/// Creates a bot owned by `new.owner`, with a fresh key (audited as `actor`).
pub async fn create(app: &App, new: NewBot<'_>, actor: Actor) -> Result<User, BotError> {
    let short_name = new.short_name.trim();
    if short_name.is_empty() {
        return Err(BotError::BadName);
    }
    let full_name = check_full_name(new.full_name)?;
    let domain = realm_host_name(&new.realm.subdomain, &app.hosts);
    let email = format!("{short_name}-bot@{domain}");
    policy::validate_email(&email).map_err(|_| BotError::BadName)?;
    // An email already in use in the realm is the store's unique-constraint conflict.
    app.store
        .create_user(
            NewUser {
                realm_id: new.realm.id,
                delivery_email: email,
                full_name,
                password_hash: None,
                role: Role::Member,
                bot_type: Some(new.bot_type),
                bot_owner_id: Some(new.owner),
                external_id: None,
            },
            app.keys.sealer(),
            actor,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => BotError::InUse,
            other => BotError::Store(other),
        })
}

/// The realm's active bots that `viewer` may see (all of them for an administrator, else the
/// viewer's own; `None`: every bot, for the CLI), oldest first.
pub async fn visible(
    app: &App,
    realm: &Realm,
    viewer: Option<&User>,
    include_inactive: bool,
) -> Result<Vec<User>, StoreError> {
    let bots = app.store.list_users(realm.id, UserFilter::BotsOnly).await?;
    Ok(bots
        .into_iter()
        .filter(|b| include_inactive || b.is_active)
        .filter(|b| match viewer {
            None => true,
            Some(v) => v.role.is_realm_admin() || b.bot_owner_id == Some(v.id),
        })
        .collect())
}

/// Deactivates a bot: its key stops working at once here and within a second elsewhere.
pub async fn deactivate(app: &App, bot: &User, actor: Actor) -> Result<(), StoreError> {
    app.store.set_user_active(bot.id, false, actor).await?;
    app.keys.invalidate_user(bot.id);
    Ok(())
}

impl From<BotError> for ServiceError {
    fn from(e: BotError) -> ServiceError {
        match e {
            BotError::Store(e) => ServiceError::unavailable("bot operation failed", e),
            other => ServiceError::Invalid(other.to_string()),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unavailable("bot operation failed", e)
}

/// Zulip's `require_member_or_admin`: not guests, not bots.
pub fn require_member(caller: &User) -> Result<(), ServiceError> {
    if caller.role == Role::Guest {
        return Err(ServiceError::Forbidden("Not allowed for guest users"));
    }
    if caller.is_bot() {
        return Err(ServiceError::Forbidden(
            "This endpoint does not accept bot requests.",
        ));
    }
    Ok(())
}

/// The account `raw_id` names in `realm`; `missing` is the message when there is none.
pub(crate) async fn user_in_realm(
    app: &App,
    realm: &Realm,
    raw_id: &str,
    missing: &'static str,
) -> Result<User, ServiceError> {
    let id: i64 = raw_id
        .parse()
        .map_err(|_| ServiceError::Forbidden(missing))?;
    app.store
        .user_by_id(UserId(id))
        .await
        .map_err(unavailable)?
        .filter(|u| u.realm_id == realm.id)
        .ok_or(ServiceError::Forbidden(missing))
}

/// Zulip's `access_bot_by_id`: a bot of the caller's realm that the caller owns or administers.
pub async fn access_bot(app: &App, caller: &Caller, raw_id: &str) -> Result<User, ServiceError> {
    require_member(&caller.user)?;
    let bot = user_in_realm(app, &caller.realm, raw_id, "No such bot").await?;
    if !bot.is_bot() {
        return Err(ServiceError::Forbidden("No such bot"));
    }
    if !caller.user.role.is_realm_admin() && bot.bot_owner_id != Some(caller.user.id) {
        return Err(ServiceError::Forbidden("Insufficient permission"));
    }
    Ok(bot)
}

/// The bots `caller` may see (see [`visible`]), each with its key.
pub async fn visible_with_keys(
    app: &App,
    caller: &Caller,
) -> Result<Vec<(User, ApiKey)>, ServiceError> {
    require_member(&caller.user)?;
    let bots = visible(app, &caller.realm, Some(&caller.user), false)
        .await
        .map_err(unavailable)?;
    let mut out = Vec::with_capacity(bots.len());
    for bot in bots {
        let key = app.keys.key_for(bot.id).await.map_err(unavailable)?;
        out.push((bot, key));
    }
    Ok(out)
}

/// Creates a bot for `caller` (a member or administrator) and returns it with its key.
pub async fn create_for(
    app: &App,
    caller: &Caller,
    full_name: &str,
    short_name: &str,
    bot_type: BotType,
) -> Result<(User, ApiKey), ServiceError> {
    require_member(&caller.user)?;
    let bot = create(
        app,
        NewBot {
            realm: &caller.realm,
            owner: caller.user.id,
            full_name,
            short_name,
            bot_type,
        },
        Actor::api(Some(caller.user.id)),
    )
    .await?;
    let key = app.keys.key_for(bot.id).await.map_err(unavailable)?;
    Ok((bot, key))
}

/// A bot's key, for its owner or an administrator.
pub async fn key_of(app: &App, caller: &Caller, raw_id: &str) -> Result<ApiKey, ServiceError> {
    let bot = access_bot(app, caller, raw_id).await?;
    app.keys.key_for(bot.id).await.map_err(unavailable)
}

/// Replaces a bot's key, for its owner or an administrator.
pub async fn regenerate_key(
    app: &App,
    caller: &Caller,
    raw_id: &str,
) -> Result<ApiKey, ServiceError> {
    let bot = access_bot(app, caller, raw_id).await?;
    let key = app
        .keys
        .regenerate(bot.id, Actor::api(Some(caller.user.id)))
        .await
        .map_err(unavailable)?;
    tracing::info!(bot_id = %bot.id, by = %caller.user.id, "bot API key regenerated");
    Ok(key)
}

/// Deactivates a bot, for its owner or an administrator.
pub async fn deactivate_for(app: &App, caller: &Caller, raw_id: &str) -> Result<(), ServiceError> {
    let bot = access_bot(app, caller, raw_id).await?;
    deactivate(app, &bot, Actor::api(Some(caller.user.id)))
        .await
        .map_err(unavailable)
}

/// The bots `caller` owns ("Your bots": only the caller's own, even for an administrator),
/// active or inactive ones, oldest first; each with its key when `with_keys` (a session that
/// has re-authenticated).
pub async fn owned(
    app: &App,
    caller: &Caller,
    active: bool,
    with_keys: bool,
) -> Result<Vec<(User, Option<ApiKey>)>, ServiceError> {
    require_member(&caller.user)?;
    let bots = app
        .store
        .list_users(caller.realm.id, UserFilter::BotsOnly)
        .await
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for bot in bots
        .into_iter()
        .filter(|b| b.bot_owner_id == Some(caller.user.id) && b.is_active == active)
    {
        let key = if with_keys {
            Some(app.keys.key_for(bot.id).await.map_err(unavailable)?)
        } else {
            None
        };
        out.push((bot, key));
    }
    Ok(out)
}

/// A bot's zuliprc (`site` is the realm URL), for its owner or an administrator.
pub async fn zuliprc_of(app: &App, caller: &Caller, raw_id: &str) -> Result<String, ServiceError> {
    let bot = access_bot(app, caller, raw_id).await?;
    let key = app.keys.key_for(bot.id).await.map_err(unavailable)?;
    let site = app.realm_site(&caller.realm);
    Ok(crate::account::zuliprc(&bot.delivery_email, &key, &site))
}
