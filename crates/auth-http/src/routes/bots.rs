//! Bots (spec §1.6): create, list, deactivate and reactivate them; read and regenerate their
//! keys. Only members and administrators (not guests, not bots) use these endpoints; a bot's
//! key is for its owner and the realm's administrators.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{BotType, User};
use auth_service::{App, bots};
use serde_json::{Map, Value, json};

use crate::basic::ApiCaller;
use crate::envelope::{ApiError, success};
use crate::params::Params;
use crate::routes::me::{avatar_url, key_answer};

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
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
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
    let (bot, key) = bots::create_for(&app, &caller, &full_name, &short_name, bot_type).await?;
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
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let bots = bots::visible_with_keys(&app, &caller).await?;
    let out = bots
        .iter()
        .map(|(bot, key)| bot_entry(bot, key.expose()))
        .collect();
    let mut f = Map::new();
    f.insert("bots".into(), Value::Array(out));
    Ok(success(f, &params.ignored()))
}

/// `GET /api/v1/bots/{bot_id}/api_key`.
pub async fn get_bot_key(
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let key = bots::key_of(&app, &caller, &path).await?;
    Ok(key_answer(&key, &params.ignored()))
}

/// `POST /api/v1/bots/{bot_id}/api_key/regenerate`.
pub async fn regenerate_bot_key(
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let key = bots::regenerate_key(&app, &caller, &path).await?;
    Ok(key_answer(&key, &params.ignored()))
}

/// `DELETE /api/v1/bots/{bot_id}`: deactivates the bot (its key stops working at once).
pub async fn deactivate_bot(
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    bots::deactivate_for(&app, &caller, &path).await?;
    Ok(success(Map::new(), &params.ignored()))
}

/// `POST /api/v1/users/{user_id}/reactivate`: a bot by its owner or an administrator; a person
/// by an administrator.
pub async fn reactivate_user(
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    bots::reactivate_for(&app, &caller, &path).await?;
    Ok(success(Map::new(), &params.ignored()))
}
