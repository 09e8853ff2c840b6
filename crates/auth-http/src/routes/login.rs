//! `POST /api/v1/fetch_api_key` and `POST /api/v1/dev_fetch_api_key`: a login through
//! [`auth_service::login`], answered with the account's key.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::Password;
use auth_service::{App, LoginResult};

use crate::envelope::{ApiError, success};
use crate::limits::note;
use crate::logging::{note_realm, note_user};
use crate::params::Params;
use crate::request;

pub async fn fetch_api_key(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    // Parameters are checked first, username before password, as Zulip's REQ framework does.
    let username = params.required("username")?.to_owned();
    let password = Password::new(params.required("password")?);
    let host = request::host(&req, &app);
    let result = app
        .password_login(request::client(&req, &app, &host), &username, &password)
        .await;
    key_response(&req, result, &params)
}

pub async fn dev_fetch_api_key(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let username = params.required("username")?.to_owned();
    let host = request::host(&req, &app);
    let result = app
        .dev_login(request::client(&req, &app, &host), &username)
        .await;
    key_response(&req, result, &params)
}

/// The answer to a login: `api_key`, the delivery `email` and `user_id`, or the error; the
/// limits evaluated on the way become headers, the realm and user go to the request log.
fn key_response(
    req: &HttpRequest,
    result: LoginResult,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    for d in &result.decisions {
        note(req, d);
    }
    if let Some(subdomain) = &result.subdomain {
        note_realm(req, subdomain);
    }
    let ok = result.outcome?;
    note_user(req, ok.user.id);
    let mut fields = serde_json::Map::new();
    fields.insert("api_key".into(), serde_json::json!(ok.key.expose()));
    fields.insert("email".into(), serde_json::json!(ok.user.delivery_email));
    fields.insert("user_id".into(), serde_json::json!(ok.user.id.0));
    Ok(success(fields, &params.ignored()))
}
