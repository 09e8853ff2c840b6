//! `POST /api/v1/fetch_api_key` and `POST /api/v1/dev_fetch_api_key`: a login through
//! [`auth_service::login`], answered with the account's key.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::Password;
use auth_service::{App, LoginResult};

use crate::envelope::{ApiError, success_of};
use crate::limits::note;
use crate::logging::{note_realm, note_user};
use crate::params::Params;
use crate::request;

/// The form of `fetch_api_key`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct FetchApiKeyForm {
    /// The email address (or, with LDAP, the directory username) to log in as.
    username: String,
    /// The account's password.
    #[schema(format = Password)]
    password: String,
}

/// The form of `dev_fetch_api_key`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct DevFetchApiKeyForm {
    /// The email address of the account to log in as.
    username: String,
}

/// The answer to a login: the account's key.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LoginAnswer {
    /// The API key, for HTTP Basic authentication with `email`.
    api_key: String,
    /// The account's delivery email.
    email: String,
    /// The account's id.
    user_id: i64,
}

/// Log in with a username and password and get the account's API key (Zulip's
/// `fetch_api_key`). Parameters in the form body or the query string.
#[utoipa::path(
    post,
    path = "/api/v1/fetch_api_key",
    tag = "authentication",
    request_body(content = FetchApiKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The account's key", body = LoginAnswer),
        crate::api_responses::LoginErrors,
    ),
    security(()),
)]
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

/// Log in without a password on a development server (Zulip's `dev_fetch_api_key`); a
/// production server refuses it.
#[utoipa::path(
    post,
    path = "/api/v1/dev_fetch_api_key",
    tag = "development",
    request_body(content = DevFetchApiKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The account's key", body = LoginAnswer),
        crate::api_responses::LoginErrors,
    ),
    security(()),
)]
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
    success_of(
        &LoginAnswer {
            api_key: ok.key.expose().to_owned(),
            email: ok.user.delivery_email.clone(),
            user_id: ok.user.id.0,
        },
        &params.ignored(),
    )
}
