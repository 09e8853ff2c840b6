//! Bots (spec §1.6): create, list, deactivate and reactivate them; read and regenerate their
//! keys. Only members and administrators (not guests, not bots) use these endpoints; a bot's
//! key is for its owner and the realm's administrators.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{BotType, User};
use auth_service::{App, bots, members};
use serde_json::Map;

use crate::basic::ApiCaller;
use crate::caller::Authed;
use crate::envelope::{ApiError, success, success_of};
use crate::params::Params;
use crate::routes::me::{avatar_url, key_answer};

/// One bot of `GET /api/v1/bots`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BotEntry {
    /// The bot's email.
    username: String,
    full_name: String,
    api_key: String,
    avatar_url: String,
    /// Always null.
    #[schema(value_type = Option<String>)]
    default_sending_stream: Option<()>,
    /// Always null.
    #[schema(value_type = Option<String>)]
    default_events_register_stream: Option<()>,
    /// Always false.
    default_all_public_streams: bool,
    user_id: i64,
    /// 1 generic, 2 incoming webhook, …
    bot_type: Option<i32>,
    owner_id: Option<i64>,
    is_active: bool,
}

fn bot_entry(bot: &User, key: &str) -> BotEntry {
    BotEntry {
        username: bot.delivery_email.clone(),
        full_name: bot.full_name.clone(),
        api_key: key.to_owned(),
        avatar_url: avatar_url(&bot.delivery_email),
        default_sending_stream: None,
        default_events_register_stream: None,
        default_all_public_streams: false,
        user_id: bot.id.0,
        bot_type: bot.bot_type.map(BotType::as_i32),
        owner_id: bot.bot_owner_id.map(|o| o.0),
        is_active: bot.is_active,
    }
}

/// What `GET /api/v1/bots` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BotList {
    bots: Vec<BotEntry>,
}

/// The form of `POST /api/v1/bots`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct CreateBotForm {
    /// The bot's name.
    full_name: String,
    /// The bot's email becomes `<short_name>-bot@<realm host>`.
    short_name: String,
    /// 1 generic (the default), 2 incoming webhook.
    #[schema(required = false)]
    bot_type: i32,
}

/// What `POST /api/v1/bots` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CreatedBot {
    user_id: i64,
    api_key: String,
    avatar_url: String,
    /// Always null.
    #[schema(value_type = Option<String>)]
    default_sending_stream: Option<()>,
    /// Always null.
    #[schema(value_type = Option<String>)]
    default_events_register_stream: Option<()>,
    /// Always false.
    default_all_public_streams: bool,
}

/// `POST /api/v1/bots`: `full_name`, `short_name`, optional `bot_type` (1 generic, 2 incoming
/// webhook). The bot's email is `<short_name>-bot@<realm host>`.
#[utoipa::path(
    post,
    path = "/api/v1/bots",
    tag = "bots",
    request_body(content = CreateBotForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The new bot and its key", body = CreatedBot),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
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
    let answer = CreatedBot {
        user_id: bot.id.0,
        api_key: key.expose().to_owned(),
        avatar_url: avatar_url(&bot.delivery_email),
        default_sending_stream: None,
        default_events_register_stream: None,
        default_all_public_streams: false,
    };
    success_of(&answer, &params.ignored())
}

/// `GET /api/v1/bots`: the caller's active bots (an administrator sees every bot of the realm),
/// oldest first, with their keys.
#[utoipa::path(
    get,
    path = "/api/v1/bots",
    tag = "bots",
    responses(
        (status = 200, description = "The bots", body = BotList),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn list_bots(
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let bots = bots::visible_with_keys(&app, &caller).await?;
    let answer = BotList {
        bots: bots
            .iter()
            .map(|(bot, key)| bot_entry(bot, key.expose()))
            .collect(),
    };
    success_of(&answer, &params.ignored())
}

/// `GET /api/v1/bots/{bot_id}/api_key`.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{bot_id}/api_key",
    tag = "bots",
    params(("bot_id" = i64, Path, description = "The bot's user id")),
    responses(
        (status = 200, description = "The bot's key", body = crate::routes::me::KeyAnswer),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn get_bot_key(
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let key = bots::key_of(&app, &caller, &path).await?;
    key_answer(&key, &params.ignored())
}

/// `POST /api/v1/bots/{bot_id}/api_key/regenerate`.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{bot_id}/api_key/regenerate",
    tag = "bots",
    params(("bot_id" = i64, Path, description = "The bot's user id")),
    responses(
        (status = 200, description = "The bot's new key", body = crate::routes::me::KeyAnswer),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn regenerate_bot_key(
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let key = bots::regenerate_key(&app, &caller, &path).await?;
    key_answer(&key, &params.ignored())
}

/// `DELETE /api/v1/bots/{bot_id}`: deactivates the bot (its key stops working at once).
#[utoipa::path(
    delete,
    path = "/api/v1/bots/{bot_id}",
    tag = "bots",
    params(("bot_id" = i64, Path, description = "The bot's user id")),
    responses(
        (status = 200, description = "Deactivated", body = crate::api_responses::Empty),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/users/{user_id}/reactivate",
    tag = "bots",
    params(("user_id" = i64, Path, description = "The account's user id")),
    responses(
        (status = 200, description = "Reactivated", body = crate::api_responses::Empty),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn reactivate_user(
    caller: Authed,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    // One path for every account: a bot by its owner or an administrator.
    members::reactivate_for(&app, &caller, &path).await?;
    Ok(success(Map::new(), &params.ignored()))
}
