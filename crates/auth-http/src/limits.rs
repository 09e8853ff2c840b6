//! Rate limits as HTTP shows them: every limit a request was checked against adds
//! `X-RateLimit-Limit`, `-Remaining` and `-Reset` to its response (the most restrictive one
//! seen), and a refusal is 429 `RATE_LIMIT_HIT`. The limits themselves are the service's
//! ([`auth_service::limits`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use auth_ratelimit::Decision;
use auth_service::App;
use auth_service::limits::Checked;

use crate::envelope::ApiError;
use crate::request::client_ip;

/// The decision whose headers the response carries (the most restrictive one seen).
#[derive(Debug, Clone)]
struct Noted(Decision);

/// Notes a decision for the response's headers.
pub fn note(req: &HttpRequest, d: &Decision) {
    let mut ext = req.extensions_mut();
    let replace = match ext.get::<Noted>() {
        Some(Noted(old)) => d.remaining < old.remaining,
        None => true,
    };
    if replace {
        ext.insert(Noted(d.clone()));
    }
}

/// Notes a limit check's decision; a refusal becomes the 429.
pub fn noted(req: &HttpRequest, checked: Checked) -> Result<(), ApiError> {
    match checked {
        Ok(Some(d)) => {
            note(req, &d);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(limited) => {
            note(req, &limited.0);
            Err(ApiError::rate_limited(limited.retry_after().as_secs_f64()))
        }
    }
}

/// Counts an unauthenticated request against the client's address.
pub async fn check_ip(req: &HttpRequest, app: &App) -> Result<(), ApiError> {
    noted(req, app.limits.check_ip(client_ip(req, app)).await)
}

/// A failed authentication counts against the address; once over the limit the answer is the
/// 429 instead of the authentication error.
pub async fn count_failed_auth(req: &HttpRequest, app: &App, error: ApiError) -> ApiError {
    match check_ip(req, app).await {
        Ok(()) => error,
        Err(limited) => limited,
    }
}

/// Middleware: the `X-RateLimit-*` headers of the noted decision, on success and error alike.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let noted = res.request().extensions().get::<Noted>().cloned();
    if let Some(Noted(d)) = noted.filter(|n| !n.0.is_unlimited()) {
        let h = res.headers_mut();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(HeaderName::from_static(name), v);
            }
        };
        put("x-ratelimit-limit", d.limit.to_string());
        put("x-ratelimit-remaining", d.remaining.to_string());
        put("x-ratelimit-reset", d.reset_epoch_secs().to_string());
    }
    Ok(res)
}
