//! Page failures: **the one place** where a page's failure becomes an HTTP status and a page
//! (a clear page, never the JSON envelope), and where the login form's failure messages are
//! worded (web.md §1.5 and decision 1: one message for every credential failure; account
//! state only after the right password, which the backend chain guarantees).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use auth_core::AuthFailure;
use auth_service::ServiceError;

use super::shell::{Shell, page_headers};
use crate::envelope::ApiError;

/// The one message for a wrong password, an unknown user and an account of another realm.
pub const BAD_CREDENTIALS: &str =
    "Please enter a correct email and password. Note that both fields may be case-sensitive.";
/// Django's words for a refused CSRF check.
pub const CSRF_FAILED: &str = "CSRF verification failed. Request aborted.";
pub const NO_SUCH_REALM: &str = "There is no Zulip organization hosted at this subdomain.";

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The CSRF token or the Origin/Referer check failed.
    #[error("CSRF check failed")]
    Csrf,
    #[error("no such realm")]
    NoSuchRealm,
    /// The organization is deactivated: its pages send visitors to `/accounts/deactivated/`.
    #[error("realm deactivated")]
    RealmDeactivated,
    #[error("not found")]
    NotFound,
    /// Signed in, but the page or action needs a role the visitor does not have.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A page's own "not found", with what was missing (an unknown user id).
    #[error("missing: {0}")]
    Missing(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The database or a directory could not be reached.
    #[error("unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    shell: Shell,
    title: &'a str,
    message: &'a str,
}

impl PageError {
    fn shown(&self) -> (&'static str, &str) {
        match self {
            PageError::BadRequest(msg) => ("Bad request", msg),
            PageError::Csrf => ("Forbidden", CSRF_FAILED),
            PageError::NoSuchRealm => ("Organization not found", NO_SUCH_REALM),
            PageError::RealmDeactivated => (
                "Organization deactivated",
                "This organization has been deactivated.",
            ),
            PageError::NotFound => ("Page not found", "There is no page at this address."),
            PageError::Forbidden(msg) => ("Permission denied", msg),
            PageError::Missing(msg) => ("Not found", msg),
            PageError::MethodNotAllowed => (
                "Method not allowed",
                "This page does not accept that kind of request.",
            ),
            PageError::Unavailable => (
                "Temporarily unavailable",
                "The server cannot do this right now. Please try again in a moment.",
            ),
            PageError::Internal => (
                "Something went wrong",
                "The server could not show this page. Please try again.",
            ),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Csrf | PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Missing(_) => StatusCode::NOT_FOUND,
            PageError::RealmDeactivated => StatusCode::FOUND,
            PageError::NoSuchRealm | PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, PageError::RealmDeactivated) {
            return super::shell::redirect("/accounts/deactivated/", Vec::new());
        }
        let (title, message) = self.shown();
        let page = ErrorPage {
            shell: Shell::new("Latchkey"),
            title,
            message,
        };
        let mut b = HttpResponse::build(self.status_code());
        page_headers(&mut b);
        if matches!(self, PageError::MethodNotAllowed) {
            b.insert_header(("Allow", "GET, HEAD, POST"));
        }
        match page.render() {
            Ok(html) => b.content_type("text/html; charset=utf-8").body(html),
            Err(_) => b
                .content_type("text/plain; charset=utf-8")
                .body(message.to_owned()),
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> PageError {
        match e {
            ServiceError::Invalid(msg) => PageError::BadRequest(msg),
            ServiceError::Principal(msg) => PageError::BadRequest(msg.to_owned()),
            ServiceError::LastUser { .. } => PageError::BadRequest(e.to_string()),
            ServiceError::MalformedHost => PageError::BadRequest("Invalid Host header".into()),
            ServiceError::NoSuchRealm => PageError::NoSuchRealm,
            ServiceError::Unavailable { context, error } => {
                tracing::warn!(context, error = %error, "a page could not be served");
                PageError::Unavailable
            }
            ServiceError::Auth(AuthFailure::Unavailable { .. }) => PageError::Unavailable,
            ServiceError::Key(_) | ServiceError::Forbidden(_) | ServiceError::Auth(_) => {
                PageError::Csrf
            }
        }
    }
}

/// A form that could not be read (too large, malformed, invalid UTF-8): its message as a page.
impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        if e.status.is_server_error() {
            PageError::Internal
        } else {
            PageError::BadRequest(e.msg)
        }
    }
}

/// What the login form says when a login fails, and the status it is shown with; `None` when
/// the failure is a page of its own (no realm, a malformed host).
pub fn login_failure(e: &ServiceError, username: &str) -> Option<(StatusCode, String)> {
    let ok = StatusCode::OK;
    let msg = match e {
        ServiceError::Invalid(msg) => msg.clone(),
        ServiceError::Auth(f) => match f {
            AuthFailure::BadCredentials
            | AuthFailure::WrongRealm
            | AuthFailure::PasswordAuthDisabled => BAD_CREDENTIALS.to_owned(),
            AuthFailure::UserDeactivated => format!(
                "Your account {username} has been deactivated. Please contact your \
                 organization administrator to reactivate it."
            ),
            AuthFailure::RealmDeactivated => "This organization has been deactivated.".to_owned(),
            AuthFailure::PasswordResetRequired => "Your password has been disabled because it \
                is too weak. Reset your password to create a new one."
                .to_owned(),
            AuthFailure::Refused(_) => ApiError::from_auth_failure(f).msg,
            AuthFailure::RateLimited { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                format!(
                    "You're making too many attempts to sign in. Try again in {} seconds or \
                     contact your organization administrator for help.",
                    secs.max(1)
                )
            }
            AuthFailure::Unavailable { .. } => {
                return Some((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The login service is unavailable right now. Please try again in a moment."
                        .to_owned(),
                ));
            }
        },
        ServiceError::Unavailable { context, error } => {
            tracing::warn!(context, error = %error, "a login could not be completed");
            return Some((
                StatusCode::SERVICE_UNAVAILABLE,
                "The login service is unavailable right now. Please try again in a moment."
                    .to_owned(),
            ));
        }
        ServiceError::NoSuchRealm | ServiceError::MalformedHost => return None,
        ServiceError::Key(_)
        | ServiceError::Forbidden(_)
        | ServiceError::Principal(_)
        | ServiceError::LastUser { .. } => BAD_CREDENTIALS.to_owned(),
    };
    Some((ok, msg))
}
