//! The error answers (and the empty success) the `#[utoipa::path]` annotations on the handlers
//! name: each the Zulip error envelope with one status of [`crate::envelope`]. The sets that
//! recur ([`BasicErrors`], [`LoginErrors`], [`SessionErrors`], [`PublicErrors`]) are
//! `IntoResponses` types, so a handler names one set after its 200; each entry is a `$ref` to
//! the shared response. Kept apart from
//! [`crate::openapi`], which collects the handlers, so that handlers and the document do not
//! import each other.

use utoipa::{IntoResponses, ToResponse, ToSchema};

use crate::envelope::ErrorEnvelope;

/// The answer of an endpoint that says nothing more than success.
#[derive(ToSchema)]
pub struct Empty {}

/// 400 `BAD_REQUEST` (a refused value, a bad `Host`), `REQUEST_VARIABLE_MISSING` or
/// `REQUEST_VARIABLE_INVALID` (with `var_name`, and `bad_value`).
#[derive(ToResponse)]
#[allow(dead_code)] // A response of the document only.
pub struct BadRequest(ErrorEnvelope);

/// 401: the credentials are missing or wrong (`UNAUTHORIZED` for HTTP Basic,
/// `AUTHENTICATION_FAILED` and the account states for a login).
#[derive(ToResponse)]
#[response(headers((
    "WWW-Authenticate" = String,
    description = "`Basic realm=\"zulip\"` on a failed HTTP Basic authentication"
)))]
#[allow(dead_code)] // A response of the document only.
pub struct Unauthorized(ErrorEnvelope);

/// 401 `UNAUTHORIZED`: no live web session.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Session realm=\"zulip\"`")))]
#[allow(dead_code)] // A response of the document only.
pub struct SessionRequired(ErrorEnvelope);

/// 403 `CSRF_FAILED` (with `reason`): the CSRF token or the Origin check failed.
#[derive(ToResponse)]
#[allow(dead_code)] // A response of the document only.
pub struct CsrfFailed(ErrorEnvelope);

/// 404 `NONEXISTENT_SUBDOMAIN`: the host names no realm (or not the account's).
#[derive(ToResponse)]
#[allow(dead_code)] // A response of the document only.
pub struct NotFound(ErrorEnvelope);

/// 405 (no `code`, with `allowed_methods`): the path does not take this verb. Any path can
/// answer it, so no operation lists it.
#[derive(ToResponse)]
#[response(headers(("Allow" = String, description = "The verbs the path takes")))]
#[allow(dead_code)] // A response of the document only.
pub struct MethodNotAllowed(ErrorEnvelope);

/// 413 `BAD_REQUEST`: the body is over the configured limit.
#[derive(ToResponse)]
#[allow(dead_code)] // A response of the document only.
pub struct PayloadTooLarge(ErrorEnvelope);

/// 429 `RATE_LIMIT_HIT`, with `retry-after` (seconds) in the body.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = String, description = "Seconds to wait, fractional")))]
#[allow(dead_code)] // A response of the document only.
pub struct RateLimited(ErrorEnvelope);

/// 503 `AUTHENTICATION_BACKEND_UNAVAILABLE`: the database or the directory cannot be reached.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = String, description = "Seconds to wait")))]
#[allow(dead_code)] // A response of the document only.
pub struct Unavailable(ErrorEnvelope);

/// The error answers of an endpoint authenticated by HTTP Basic: a handler's annotation names
/// this type after its 200 (`responses((status = 200, …), BasicErrors)`).
#[derive(IntoResponses)]
#[allow(dead_code)] // Responses of the document only.
pub enum BasicErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
    #[response(status = 429)]
    RateLimited(#[ref_response] RateLimited),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The error answers of a login endpoint (`fetch_api_key`): those of [`BasicErrors`], and 404
/// for a host that names no realm.
#[derive(IntoResponses)]
#[allow(dead_code)] // Responses of the document only.
pub enum LoginErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
    #[response(status = 429)]
    RateLimited(#[ref_response] RateLimited),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The error answers of a `/json` endpoint of the web session: no session (401), a failed CSRF
/// check (403), a host that names no realm (404), and the rest as [`BasicErrors`].
#[derive(IntoResponses)]
#[allow(dead_code)] // Responses of the document only.
pub enum SessionErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    SessionRequired(#[ref_response] SessionRequired),
    #[response(status = 403)]
    CsrfFailed(#[ref_response] CsrfFailed),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
    #[response(status = 429)]
    RateLimited(#[ref_response] RateLimited),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The error answers of an unauthenticated read (`server_settings`, `dev_list_users`).
#[derive(IntoResponses)]
#[allow(dead_code)] // Responses of the document only.
pub enum PublicErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}
