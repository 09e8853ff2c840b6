//! Bots as an application action, shared by the API routes and the CLI: creating one (name
//! checks, the `<short_name>-bot@<realm host>` email, a fresh key), the bots a person may see,
//! and deactivating one. Callers decide who may act; this module decides what is valid.

use auth_core::{BotType, Realm, Role, User, UserId, policy};
use auth_store::{Actor, NewUser, StoreError, UserFilter};

use crate::host::realm_host_name;
use crate::state::AppState;

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
pub async fn create(state: &AppState, new: NewBot<'_>, actor: Actor) -> Result<User, BotError> {
    let short_name = new.short_name.trim();
    if short_name.is_empty() {
        return Err(BotError::BadName);
    }
    let full_name = check_full_name(new.full_name)?;
    let domain = realm_host_name(&new.realm.subdomain, &state.settings.server);
    let email = format!("{short_name}-bot@{domain}");
    policy::validate_email(&email).map_err(|_| BotError::BadName)?;
    // An email already in use in the realm is the store's unique-constraint conflict.
    state
        .store
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
            state.keys.sealer(),
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
    state: &AppState,
    realm: &Realm,
    viewer: Option<&User>,
    include_inactive: bool,
) -> Result<Vec<User>, StoreError> {
    let bots = state
        .store
        .list_users(realm.id, UserFilter::BotsOnly)
        .await?;
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
pub async fn deactivate(state: &AppState, bot: &User, actor: Actor) -> Result<(), StoreError> {
    state.store.set_user_active(bot.id, false, actor).await?;
    state.keys.invalidate_user(bot.id);
    Ok(())
}
