//! The `/json/*` endpoints the settings pages' scripts may call: authenticated by the web
//! session (not HTTP Basic) and CSRF-checked like a page's form (`X-CSRFToken` header or the
//! `csrfmiddlewaretoken` field, plus the Origin check), answered in the Zulip envelope.
//!
//! - `POST /json/fetch_api_key` (spec zulip-auth.md §1.4): the password re-entered; the key and
//!   the delivery email, and the session is re-authenticated (web.md decision 8).
//! - `POST /json/bots/{bot_id}/api_key/regenerate`: a new key for a bot the session's person
//!   owns (or administers).

use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::Password;
use auth_service::{App, WebSession, bots};
use serde_json::json;

use crate::envelope::{ApiError, NOT_LOGGED_IN, success_of};
use crate::logging::{note_realm, note_user};
use crate::pages::csrf;
use crate::params::Params;
use crate::routes::me::key_answer;

/// 403 `CSRF_FAILED` as Zulip answers a refused `/json` request.
fn csrf_failed(reason: &str) -> ApiError {
    tracing::info!(reason, "refused a /json request without a valid CSRF token");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "CSRF_FAILED",
        format!("CSRF error: {reason}"),
    )
    .with("reason", json!(reason))
}

/// The request's live session, CSRF-checked: 401 without one, 403 when the check fails.
async fn session_for_json(
    req: &HttpRequest,
    app: &App,
    params: &Params,
) -> Result<WebSession, ApiError> {
    let session = live_session(req, app).await?;
    check_csrf(req, app, &session, params.optional(csrf::FORM_FIELD))?;
    Ok(session)
}

/// The live web session of the request's cookie on the Host's realm: 401 `UNAUTHORIZED`
/// (`WWW-Authenticate: Session`) without one.
pub(crate) async fn live_session(req: &HttpRequest, app: &App) -> Result<WebSession, ApiError> {
    let host = crate::request::host(req, app);
    let (subdomain, realm) = app.realm_of_host(&host).await?;
    note_realm(req, &subdomain);
    let realm = realm.ok_or_else(ApiError::invalid_subdomain_400)?;
    let not_logged_in = || {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", NOT_LOGGED_IN)
            .with_header(WWW_AUTHENTICATE, "Session realm=\"zulip\"")
    };
    let Some(cookie) = csrf::session_cookie(req) else {
        return Err(not_logged_in());
    };
    let session = app
        .session(&realm, &cookie)
        .await?
        .ok_or_else(not_logged_in)?;
    note_user(req, session.user.id);
    Ok(session)
}

/// The CSRF check of an unsafe `/json` request: the Origin (or Referer) is this host, and the
/// token (`field`, the form's, else the `X-CSRFToken` header) is the session's; 403
/// `CSRF_FAILED` otherwise.
pub(crate) fn check_csrf(
    req: &HttpRequest,
    app: &App,
    session: &WebSession,
    field: Option<&str>,
) -> Result<(), ApiError> {
    csrf::check_origin(req, app).map_err(|_| csrf_failed("Origin checking failed."))?;
    match csrf::submitted(req, field) {
        None => Err(csrf_failed("CSRF token missing.")),
        Some(token) => csrf::check_token(session.csrf_secret.expose(), Some(&token))
            .map_err(|_| csrf_failed("CSRF token incorrect.")),
    }
}

/// `POST /json/fetch_api_key`: `password` (optional, empty by default) checked as a login of
/// the session's person would check it; a wrong one is 400 "Password is incorrect.".
/// The form of `POST /json/fetch_api_key`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct JsonFetchApiKeyForm {
    /// The session's person's password, re-entered (empty by default).
    #[schema(format = Password, required = false)]
    password: String,
    /// The session's CSRF token, unless sent as `X-CSRFToken`.
    #[schema(required = false)]
    csrfmiddlewaretoken: String,
}

/// The form of `POST /json/bots/{bot_id}/api_key/regenerate`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct JsonCsrfForm {
    /// The session's CSRF token, unless sent as `X-CSRFToken`.
    #[schema(required = false)]
    csrfmiddlewaretoken: String,
}

/// What `POST /json/fetch_api_key` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct JsonKeyAnswer {
    api_key: String,
    /// The delivery email.
    email: String,
}

#[utoipa::path(
    post,
    path = "/json/fetch_api_key",
    tag = "web session",
    request_body(content = JsonFetchApiKeyForm, content_type = "application/x-www-form-urlencoded"),
    params(("X-CSRFToken" = Option<String>, Header, description = "The session's CSRF token")),
    responses(
        (status = 200, description = "The key", body = JsonKeyAnswer),
        crate::api_responses::SessionErrors,
    ),
    security(("session" = [])),
)]
pub async fn fetch_api_key(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let mut session = session_for_json(&req, &app, &params).await?;
    let password = Password::new(params.optional("password").unwrap_or_default());
    let host = crate::request::host(&req, &app);
    let client = crate::request::client(&req, &app, &host);
    let result = app.reauthenticate(&mut session, client, &password).await;
    for d in &result.decisions {
        crate::limits::note(&req, d);
    }
    let key = result.outcome?;
    let answer = JsonKeyAnswer {
        api_key: key.expose().to_owned(),
        email: session.user.delivery_email.clone(),
    };
    success_of(&answer, &params.ignored())
}

/// `POST /json/bots/{bot_id}/api_key/regenerate`: as the API route, with the session.
#[utoipa::path(
    post,
    path = "/json/bots/{bot_id}/api_key/regenerate",
    tag = "web session",
    request_body(content = JsonCsrfForm, content_type = "application/x-www-form-urlencoded"),
    params(
        ("bot_id" = i64, Path, description = "The bot's user id"),
        ("X-CSRFToken" = Option<String>, Header, description = "The session's CSRF token"),
    ),
    responses(
        (status = 200, description = "The bot's new key", body = crate::routes::me::KeyAnswer),
        crate::api_responses::SessionErrors,
    ),
    security(("session" = [])),
)]
pub async fn regenerate_bot_key(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let session = session_for_json(&req, &app, &params).await?;
    let key = bots::regenerate_key(&app, &session.as_caller(), &path).await?;
    key_answer(&key, &params.ignored())
}
