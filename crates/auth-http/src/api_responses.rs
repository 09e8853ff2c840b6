//! The error answers (and the empty success) the `#[utoipa::path]` annotations on the handlers
//! name: each the Zulip error envelope with one status of [`crate::envelope`]. Kept apart from
//! [`crate::openapi`], which collects the handlers, so that handlers and the document do not
//! import each other.

use utoipa::{ToResponse, ToSchema};

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
