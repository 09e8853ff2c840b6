//! `GET /api/v1/users/me`, `POST /api/v1/users/me/api_key/regenerate`, and the forward-auth
//! check `/api/v1/auth/verify`.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::User;
use auth_service::{App, Purpose};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::basic::{self, ApiCaller};
use crate::envelope::{ApiError, success_of};
use crate::params::Params;

/// A Gravatar identicon for an email (Gravatar accepts SHA-256 hashes).
pub fn avatar_url(email: &str) -> String {
    let hash = hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()));
    format!("https://secure.gravatar.com/avatar/{hash}?d=identicon&version=1")
}

/// The user object of `GET /users/me` (Zulip's "get own user").
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Profile {
    user_id: i64,
    email: String,
    delivery_email: String,
    full_name: String,
    avatar_url: String,
    avatar_version: i32,
    /// Zulip's role number: 100 owner, 200 administrator, 300 moderator, 400 member, 600 guest.
    role: i32,
    is_owner: bool,
    is_admin: bool,
    is_moderator: bool,
    is_guest: bool,
    is_bot: bool,
    is_active: bool,
    /// 1 generic, 2 incoming webhook, …; null for a person.
    bot_type: Option<i32>,
    /// The bot's owner (null if it has none); absent for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, required = false)]
    bot_owner_id: Option<Value>,
    /// Always empty.
    timezone: String,
    /// RFC 3339, to the second.
    date_joined: String,
    /// Always empty.
    #[schema(value_type = Object)]
    profile_data: Map<String, Value>,
    /// Always -1 (Latchkey has no messages).
    max_message_id: i64,
}

pub fn profile(user: &User) -> Profile {
    let joined =
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(user.created_at.0.max(0) as u64);
    Profile {
        user_id: user.id.0,
        email: user.delivery_email.clone(),
        delivery_email: user.delivery_email.clone(),
        full_name: user.full_name.clone(),
        avatar_url: avatar_url(&user.delivery_email),
        avatar_version: 1,
        role: user.role.as_i32(),
        is_owner: user.role == auth_core::Role::Owner,
        is_admin: user.role.is_realm_admin(),
        is_moderator: user.role == auth_core::Role::Moderator,
        is_guest: user.role == auth_core::Role::Guest,
        is_bot: user.is_bot(),
        is_active: user.is_active,
        bot_type: user.bot_type.map(auth_core::BotType::as_i32),
        bot_owner_id: user.is_bot().then(|| json!(user.bot_owner_id.map(|o| o.0))),
        timezone: String::new(),
        date_joined: humantime::format_rfc3339_seconds(joined).to_string(),
        profile_data: Map::new(),
        max_message_id: -1,
    }
}

/// `{"api_key": …}`, the answer of every endpoint that hands out a key.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct KeyAnswer {
    /// The API key.
    api_key: String,
}

/// `{"api_key": …}`, the answer of every endpoint that hands out a key.
pub fn key_answer(key: &auth_core::ApiKey, ignored: &[String]) -> Result<HttpResponse, ApiError> {
    success_of(
        &KeyAnswer {
            api_key: key.expose().to_owned(),
        },
        ignored,
    )
}

/// The caller's own account (Zulip's "get own user"). Also answers `HEAD`.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    responses(
        (status = 200, description = "The caller's account", body = Profile),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn get_me(
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    success_of(&profile(&caller.user), &params.ignored())
}

/// A new API key for the caller; the old one stops working at once.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/api_key/regenerate",
    tag = "users",
    responses(
        (status = 200, description = "The new key", body = KeyAnswer),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn regenerate_own_key(
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let key = app.regenerate_own_key(&caller).await?;
    key_answer(&key, &params.ignored())
}

/// Forward-auth for reverse proxies. With `Authorization`: 200 with the identity headers
/// ([`crate::portal::identity_response`]) for a valid Basic credential on the Host's realm;
/// otherwise 401 with `WWW-Authenticate` and no `Location` (every authentication failure, so
/// that nginx's `auth_request` denies rather than errs), 429 when rate limited, 503 when the
/// database is unreachable. Without it, when portals are configured and the proxy names the
/// protected URL: the portal cookie ([`crate::portal::verify`]): 200, or 401 with `Location`
/// to the portal's login page.
#[utoipa::path(
    get,
    path = "/api/v1/auth/verify",
    tag = "forward-auth",
    responses(
        (status = 200, description = "Allowed: the caller's identity, also in headers", body = crate::portal::Identity,
            headers(
                ("X-Latchkey-User" = String, description = "The user id"),
                ("X-Latchkey-User-Id" = String, description = "The user id"),
                ("X-Latchkey-Email" = String, description = "The delivery email"),
                ("X-Latchkey-Name" = String, description = "The full name"),
                ("X-Latchkey-Realm" = String, description = "The realm's subdomain"),
                ("X-Latchkey-Role" = String, description = "owner, administrator, moderator, member or guest"),
            )),
        (status = 401, response = crate::api_responses::Unauthorized),
        (status = 429, response = crate::api_responses::RateLimited),
        (status = 503, response = crate::api_responses::Unavailable),
    ),
    security(("basic" = []), ("portal_cookie" = [])),
)]
pub async fn verify(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let basic = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION);
    if !basic && app.portal_configured() {
        if let Some(resp) = crate::portal::verify(&req, &app).await? {
            return Ok(resp);
        }
    }
    let caller = basic::authenticate(&req, &app, Purpose::ForwardAuth)
        .await
        .map_err(ApiError::as_forward_auth_denial)?;
    crate::portal::identity_response(&caller.user, &caller.realm)
}
