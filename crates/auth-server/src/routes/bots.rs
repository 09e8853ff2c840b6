//! Bots (spec §1.6): create, list, deactivate and reactivate them; read and regenerate their
//! keys. Only members and administrators (not guests, not bots) use these endpoints; a bot's
//! key is for its owner and the realm's administrators.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{BotType, Role, User, UserId};
use auth_store::Actor;
use serde_json::{Map, Value, json};

use crate::basic::{self, Caller};
use crate::bots::{self, BotError, NewBot};
use crate::envelope::{ApiError, success};
use crate::params::Params;
use crate::routes::me::{avatar_url, key_answer};
use crate::state::AppState;

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("bot operation failed", e)
}

/// Zulip's `require_member_or_admin`.
fn require_member(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Guest {
        return Err(ApiError::bad_request("Not allowed for guest users"));
    }
    if caller.user.is_bot() {
        return Err(ApiError::bad_request(
            "This endpoint does not accept bot requests.",
        ));
    }
    Ok(())
}

/// The account `raw_id` names in the caller's realm; `missing` is the message when there is none.
async fn user_in_realm(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    missing: &'static str,
) -> Result<User, ApiError> {
    let not_found = || ApiError::bad_request(missing);
    let id: i64 = raw_id.parse().map_err(|_| not_found())?;
    state
        .store
        .user_by_id(UserId(id))
        .await
        .map_err(unavailable)?
        .filter(|u| u.realm_id == caller.realm.id)
        .ok_or_else(not_found)
}

/// Zulip's `access_bot_by_id`: a bot of the caller's realm that the caller owns or administers.
async fn access_bot(state: &AppState, caller: &Caller, raw_id: &str) -> Result<User, ApiError> {
    require_member(caller)?;
    let bot = user_in_realm(state, caller, raw_id, "No such bot").await?;
    if !bot.is_bot() {
        return Err(ApiError::bad_request("No such bot"));
    }
    if !caller.user.role.is_realm_admin() && bot.bot_owner_id != Some(caller.user.id) {
        return Err(ApiError::bad_request("Insufficient permission"));
    }
    Ok(bot)
}

/// The start of every `/bots/{bot_id}` endpoint: the authenticated caller, the parameters and
/// the bot the caller may manage.
async fn bot_request(
    req: &HttpRequest,
    bot_id: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<(Caller, Params, User), ApiError> {
    let (caller, params) = basic::authenticate_with_params(req, payload, state).await?;
    let bot = access_bot(state, &caller, bot_id).await?;
    Ok((caller, params, bot))
}

fn bot_error(e: BotError) -> ApiError {
    match e {
        BotError::Store(e) => unavailable(e),
        other => ApiError::bad_request(other.to_string()),
    }
}

fn bot_entry(bot: &User, key: &str) -> Value {
    json!({
        "username": bot.delivery_email,
        "full_name": bot.full_name,
        "api_key": key,
        "avatar_url": avatar_url(&bot.delivery_email),
        "default_sending_stream": Value::Null,
        "default_events_register_stream": Value::Null,
        "default_all_public_streams": false,
        "user_id": bot.id.0,
        "bot_type": bot.bot_type.map(BotType::as_i32),
        "owner_id": bot.bot_owner_id.map(|o| o.0),
        "is_active": bot.is_active,
    })
}

/// `POST /api/v1/bots`: `full_name`, `short_name`, optional `bot_type` (1 generic, 2 incoming
/// webhook). The bot's email is `<short_name>-bot@<realm host>`.
pub async fn create_bot(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (caller, params) = basic::authenticate_with_params(&req, payload, &state).await?;
    let full_name = params.required("full_name")?.to_owned();
    let short_name = params.required("short_name")?.trim().to_owned();
    let bot_type = match params.optional("bot_type") {
        None => BotType::Generic,
        Some(raw) => match raw.trim().parse::<i32>().ok().and_then(BotType::from_i32) {
            Some(t @ (BotType::Generic | BotType::IncomingWebhook)) => t,
            Some(_) => return Err(ApiError::bad_request("Invalid bot type")),
            None => return Err(ApiError::invalid_argument("bot_type", raw)),
        },
    };
    require_member(&caller)?;
    let bot = bots::create(
        &state,
        NewBot {
            realm: &caller.realm,
            owner: caller.user.id,
            full_name: &full_name,
            short_name: &short_name,
            bot_type,
        },
        Actor::api(Some(caller.user.id)),
    )
    .await
    .map_err(bot_error)?;
    let key = state.keys.key_for(bot.id).await.map_err(unavailable)?;
    let mut f = Map::new();
    f.insert("user_id".into(), json!(bot.id.0));
    f.insert("api_key".into(), json!(key.expose()));
    f.insert("avatar_url".into(), json!(avatar_url(&bot.delivery_email)));
    f.insert("default_sending_stream".into(), Value::Null);
    f.insert("default_events_register_stream".into(), Value::Null);
    f.insert("default_all_public_streams".into(), json!(false));
    Ok(success(f, &params.ignored()))
}

/// `GET /api/v1/bots`: the caller's active bots (an administrator sees every bot of the realm),
/// oldest first, with their keys.
pub async fn list_bots(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (caller, params) = basic::authenticate_with_params(&req, payload, &state).await?;
    require_member(&caller)?;
    let bots = bots::visible(&state, &caller.realm, Some(&caller.user), false)
        .await
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for bot in bots {
        let key = state.keys.key_for(bot.id).await.map_err(unavailable)?;
        out.push(bot_entry(&bot, key.expose()));
    }
    let mut f = Map::new();
    f.insert("bots".into(), Value::Array(out));
    Ok(success(f, &params.ignored()))
}

/// `GET /api/v1/bots/{bot_id}/api_key`.
pub async fn get_bot_key(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_caller, params, bot) = bot_request(&req, &path, payload, &state).await?;
    let key = state.keys.key_for(bot.id).await.map_err(unavailable)?;
    Ok(key_answer(&key, &params.ignored()))
}

/// `POST /api/v1/bots/{bot_id}/api_key/regenerate`.
pub async fn regenerate_bot_key(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (caller, params, bot) = bot_request(&req, &path, payload, &state).await?;
    let key = state
        .keys
        .regenerate(bot.id, Actor::api(Some(caller.user.id)))
        .await
        .map_err(unavailable)?;
    tracing::info!(bot_id = %bot.id, by = %caller.user.id, "bot API key regenerated");
    Ok(key_answer(&key, &params.ignored()))
}

/// `DELETE /api/v1/bots/{bot_id}`: deactivates the bot (its key stops working at once).
pub async fn deactivate_bot(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (caller, params, bot) = bot_request(&req, &path, payload, &state).await?;
    bots::deactivate(&state, &bot, Actor::api(Some(caller.user.id)))
        .await
        .map_err(unavailable)?;
    Ok(success(Map::new(), &params.ignored()))
}

/// `POST /api/v1/users/{user_id}/reactivate`: a bot by its owner or an administrator; a person
/// by an administrator.
pub async fn reactivate_user(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (caller, params) = basic::authenticate_with_params(&req, payload, &state).await?;
    require_member(&caller)?;
    let target = user_in_realm(&state, &caller, &path, "No such user").await?;
    let allowed = caller.user.role.is_realm_admin()
        || (target.is_bot() && target.bot_owner_id == Some(caller.user.id));
    if !allowed {
        return Err(ApiError::bad_request("Insufficient permission"));
    }
    state
        .store
        .set_user_active(target.id, true, Actor::api(Some(caller.user.id)))
        .await
        .map_err(unavailable)?;
    state.keys.invalidate_user(target.id);
    Ok(success(Map::new(), &params.ignored()))
}
