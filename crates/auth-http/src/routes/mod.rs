//! The route table: every path Latchkey answers, with the verbs each accepts. Anything else gets
//! the Zulip envelope (404 "Endpoint does not exist", or 405 with `allowed_methods`).

pub(crate) mod bots;
pub(crate) mod dev;
pub(crate) mod json;
pub(crate) mod login;
pub mod me;
pub(crate) mod realm;
pub(crate) mod settings;
pub(crate) mod users;

use actix_web::{HttpResponse, web};
use auth_service::App;

use crate::envelope::ApiError;

/// A handler answering 405 with the given verbs.
pub(crate) fn only(allowed: &'static [&'static str]) -> actix_web::Route {
    web::route()
        .to(move || async move { Err::<HttpResponse, _>(ApiError::method_not_allowed(allowed)) })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/fetch_api_key")
            .route(web::post().to(login::fetch_api_key))
            .default_service(only(&["POST"])),
    )
    .service(
        web::resource("/api/v1/server_settings")
            .route(web::get().to(settings::server_settings))
            .route(web::head().to(settings::server_settings))
            .default_service(only(&["GET", "HEAD"])),
    )
    .service(
        web::resource("/api/v1/dev_fetch_api_key")
            .route(web::post().to(login::dev_fetch_api_key))
            .default_service(only(&["POST"])),
    )
    .service(web::resource("/api/v1/dev_list_users").to(dev::dev_list_users))
    .service(
        web::resource("/api/v1/users/me")
            .route(web::get().to(me::get_me))
            .route(web::head().to(me::get_me))
            .route(web::delete().to(users::deactivate_own_user))
            .default_service(only(&["DELETE", "GET", "HEAD"])),
    )
    .service(
        web::resource("/api/v1/users/me/api_key/regenerate")
            .route(web::post().to(me::regenerate_own_key))
            .default_service(only(&["POST"])),
    )
    .service(web::resource("/api/v1/auth/verify").to(me::verify))
    .service(
        web::resource("/api/v1/bots")
            .route(web::get().to(bots::list_bots))
            .route(web::post().to(bots::create_bot))
            .default_service(only(&["GET", "POST"])),
    )
    .service(
        web::resource("/api/v1/bots/{bot_id}")
            .route(web::delete().to(bots::deactivate_bot))
            .default_service(only(&["DELETE"])),
    )
    .service(
        web::resource("/api/v1/bots/{bot_id}/api_key")
            .route(web::get().to(bots::get_bot_key))
            .default_service(only(&["GET"])),
    )
    .service(
        web::resource("/api/v1/bots/{bot_id}/api_key/regenerate")
            .route(web::post().to(bots::regenerate_bot_key))
            .default_service(only(&["POST"])),
    )
    .service(
        web::resource("/api/v1/users/{user_id}/reactivate")
            .route(web::post().to(bots::reactivate_user))
            .default_service(only(&["POST"])),
    )
    // After `/api/v1/users/me`, which is registered first and so wins over `{user_id}`.
    .service(
        web::resource("/api/v1/users")
            .route(web::get().to(users::list_users))
            .route(web::head().to(users::list_users))
            .route(web::post().to(users::create_user))
            .default_service(only(&["GET", "HEAD", "POST"])),
    )
    .service(
        web::resource("/api/v1/users/{user_id}")
            .route(web::get().to(users::get_user))
            .route(web::head().to(users::get_user))
            .route(web::patch().to(users::update_user))
            .route(web::delete().to(users::deactivate_user))
            .default_service(only(&["DELETE", "GET", "HEAD", "PATCH"])),
    )
    .service(
        web::resource("/api/v1/realm")
            .route(web::get().to(realm::get_realm))
            .route(web::head().to(realm::get_realm))
            .route(web::patch().to(realm::update_realm))
            .default_service(only(&["GET", "HEAD", "PATCH"])),
    )
    // The web app's twins of the administration API: the same handlers, authenticated by the
    // session (`crate::caller::Authed`). `/json/users/me` comes first, as under `/api/v1`.
    .service(
        web::resource("/json/users/me")
            .route(web::delete().to(users::deactivate_own_user))
            .default_service(only(&["DELETE"])),
    )
    .service(
        web::resource("/json/users/{user_id}/reactivate")
            .route(web::post().to(bots::reactivate_user))
            .default_service(only(&["POST"])),
    )
    .service(
        web::resource("/json/users")
            .route(web::get().to(users::list_users))
            .route(web::head().to(users::list_users))
            .route(web::post().to(users::create_user))
            .default_service(only(&["GET", "HEAD", "POST"])),
    )
    .service(
        web::resource("/json/users/{user_id}")
            .route(web::get().to(users::get_user))
            .route(web::head().to(users::get_user))
            .route(web::patch().to(users::update_user))
            .route(web::delete().to(users::deactivate_user))
            .default_service(only(&["DELETE", "GET", "HEAD", "PATCH"])),
    )
    .service(
        web::resource("/json/realm")
            .route(web::get().to(realm::get_realm))
            .route(web::head().to(realm::get_realm))
            .route(web::patch().to(realm::update_realm))
            .default_service(only(&["GET", "HEAD", "PATCH"])),
    )
    .service(
        web::resource("/json/fetch_api_key")
            .route(web::post().to(json::fetch_api_key))
            .default_service(only(&["POST"])),
    )
    .service(
        web::resource("/json/bots/{bot_id}/api_key/regenerate")
            .route(web::post().to(json::regenerate_bot_key))
            .default_service(only(&["POST"])),
    )
    .service(
        web::resource("/health")
            .route(web::get().to(health))
            .route(web::head().to(health))
            .default_service(only(&["GET", "HEAD"])),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .route(web::head().to(readyz))
            .default_service(only(&["GET", "HEAD"])),
    );
}

/// What `/health` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` (a 503 says `down`).
    database: &'static str,
    /// Rate limits shared through Redis (`shared`), per instance because Redis is unreachable
    /// (`local`), or per instance by configuration (`memory`).
    rate_limits: &'static str,
}

/// Load-balancer health check: 200 when the database answers, 503 with `"database":"down"`
/// otherwise (at once when the database is known to be unreachable). Also says whether rate
/// limits are shared through Redis right now (`shared`), per instance because Redis is
/// unreachable (`local`), or per instance by configuration (`memory`). Also answers `HEAD`.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, response = crate::api_responses::Unavailable),
    ),
    security(()),
)]
async fn health(state: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let health = state.health().await;
    if let Err(e) = health.database {
        tracing::warn!(error = %e, "health check: database unreachable");
        return Err(ApiError::backend_unavailable()
            .with("database", serde_json::json!("down"))
            .with("rate_limits", serde_json::json!(health.rate_limits)));
    }
    let answer = Health {
        database: "ok",
        rate_limits: health.rate_limits,
    };
    crate::envelope::success_of(&answer, &[])
}

/// What `/readyz` answers (a 503 carries the same fields in the error envelope).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` or `down`.
    database: &'static str,
    /// `ok`, `down` or `not configured`.
    directory: &'static str,
    /// Each directory server's state (only with LDAP configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    directory_servers: Option<Vec<DirectoryServer>>,
}

/// One directory server of `/readyz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DirectoryServer {
    uri: String,
    state: &'static str,
}

/// Load-balancer readiness: 200 when the database answers and, with LDAP configured, at least
/// one directory server answers; 503 otherwise. Says `database` (`ok`/`down`), `directory`
/// (`ok`/`down`/`not configured`) and each server's state (`directory_servers`). The directory
/// is probed at most every [`auth_service::readiness::TTL`]. Also answers `HEAD`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, response = crate::api_responses::Unavailable),
    ),
    security(()),
)]
async fn readyz(state: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let ready = state.ready().await;
    let answer = Readiness {
        database: if ready.database_up { "ok" } else { "down" },
        directory: match &ready.directory {
            None => "not configured",
            Some(_) if ready.directory_up() => "ok",
            Some(_) => "down",
        },
        directory_servers: ready.directory.as_ref().map(|servers| {
            servers
                .iter()
                .map(|s| DirectoryServer {
                    uri: s.uri.clone(),
                    state: s.state.name(),
                })
                .collect()
        }),
    };
    if ready.is_ready() {
        return crate::envelope::success_of(&answer, &[]);
    }
    let fields = match serde_json::to_value(&answer) {
        Ok(serde_json::Value::Object(f)) => f,
        _ => serde_json::Map::new(),
    };
    Err(fields
        .into_iter()
        .fold(ApiError::backend_unavailable(), |e, (k, v)| e.with(&k, v)))
}

/// Fallback for unknown paths.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_such_endpoint())
}
