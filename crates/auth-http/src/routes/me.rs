//! `GET /api/v1/users/me`, `POST /api/v1/users/me/api_key/regenerate`, and the forward-auth
//! check `/api/v1/auth/verify`.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::User;
use auth_service::{App, Purpose};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::basic::{self, ApiCaller};
use crate::envelope::{ApiError, success};
use crate::params::Params;

/// A Gravatar identicon for an email (Gravatar accepts SHA-256 hashes).
pub fn avatar_url(email: &str) -> String {
    let hash = hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()));
    format!("https://secure.gravatar.com/avatar/{hash}?d=identicon&version=1")
}

/// The user object of `GET /users/me` (Zulip's "get own user").
pub fn profile(user: &User) -> Map<String, Value> {
    let joined =
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(user.created_at.0.max(0) as u64);
    let mut f = Map::new();
    f.insert("user_id".into(), json!(user.id.0));
    f.insert("email".into(), json!(user.delivery_email));
    f.insert("delivery_email".into(), json!(user.delivery_email));
    f.insert("full_name".into(), json!(user.full_name));
    f.insert("avatar_url".into(), json!(avatar_url(&user.delivery_email)));
    f.insert("avatar_version".into(), json!(1));
    f.insert("role".into(), json!(user.role.as_i32()));
    f.insert(
        "is_owner".into(),
        json!(user.role == auth_core::Role::Owner),
    );
    f.insert("is_admin".into(), json!(user.role.is_realm_admin()));
    f.insert(
        "is_moderator".into(),
        json!(user.role == auth_core::Role::Moderator),
    );
    f.insert(
        "is_guest".into(),
        json!(user.role == auth_core::Role::Guest),
    );
    f.insert("is_bot".into(), json!(user.is_bot()));
    f.insert("is_active".into(), json!(user.is_active));
    f.insert(
        "bot_type".into(),
        json!(user.bot_type.map(auth_core::BotType::as_i32)),
    );
    if user.is_bot() {
        f.insert("bot_owner_id".into(), json!(user.bot_owner_id.map(|o| o.0)));
    }
    f.insert("timezone".into(), json!(""));
    f.insert(
        "date_joined".into(),
        json!(humantime::format_rfc3339_seconds(joined).to_string()),
    );
    f.insert("profile_data".into(), json!({}));
    f.insert("max_message_id".into(), json!(-1));
    f
}

/// `{"api_key": …}`, the answer of every endpoint that hands out a key.
pub fn key_answer(key: &auth_core::ApiKey, ignored: &[String]) -> HttpResponse {
    let mut f = Map::new();
    f.insert("api_key".into(), json!(key.expose()));
    success(f, ignored)
}

pub async fn get_me(
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    Ok(success(profile(&caller.user), &params.ignored()))
}

pub async fn regenerate_own_key(
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let key = app.regenerate_own_key(&caller).await?;
    Ok(key_answer(&key, &params.ignored()))
}

/// Forward-auth for reverse proxies. With `Authorization`: 200 with the identity headers
/// ([`crate::portal::identity_response`]) for a valid Basic credential on the Host's realm;
/// otherwise 401 with `WWW-Authenticate` and no `Location` (every authentication failure, so
/// that nginx's `auth_request` denies rather than errs), 429 when rate limited, 503 when the
/// database is unreachable. Without it, when portals are configured and the proxy names the
/// protected URL: the portal cookie ([`crate::portal::verify`]): 200, or 401 with `Location`
/// to the portal's login page.
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
    Ok(crate::portal::identity_response(
        &caller.user,
        &caller.realm,
    ))
}
