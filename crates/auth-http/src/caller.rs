//! The caller of an endpoint Zulip serves twice: under `/api/v1/` to API clients (HTTP Basic)
//! and under `/json/` to its web app (the session cookie). One handler serves both paths and
//! takes [`Authed`], which authenticates the request the way its path asks before the handler
//! runs (and before the body is read), so the handler, its role rules and its errors are the
//! same whichever way the caller came in.
//!
//! - `/api/v1/…`: HTTP Basic ([`crate::basic::authenticate`]), then the per-user rate limit.
//! - `/json/…`: the live web session of the Host's realm (401 `UNAUTHORIZED` without one); an
//!   unsafe method (not GET/HEAD/OPTIONS) must also pass the CSRF check — the Origin (or
//!   Referer) is this host and the `X-CSRFToken` header is the session's token (403
//!   `CSRF_FAILED` otherwise), as Zulip's web app sends it on every such request; then the same
//!   per-user rate limit.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest};
use auth_service::{App, Caller, Purpose};

use crate::envelope::ApiError;
use crate::limits::noted;
use crate::routes::json::{check_csrf, live_session};

/// The `/json/` prefix: endpoints under it authenticate by the web session.
pub const JSON_PREFIX: &str = "/json/";

/// The authenticated caller of an endpoint served under both `/api/v1/` and `/json/`.
#[derive(Debug, Clone)]
pub struct Authed(pub Caller);

impl Authed {
    /// Authenticates `req` by HTTP Basic, or by the session (and CSRF) under `/json/`.
    pub async fn of(req: &HttpRequest, app: &App) -> Result<Authed, ApiError> {
        if !req.path().starts_with(JSON_PREFIX) {
            return crate::basic::authenticate(req, app, Purpose::Api)
                .await
                .map(Authed);
        }
        let session = live_session(req, app).await?;
        if !req.method().is_safe() {
            check_csrf(req, app, &session, None)?;
        }
        noted(req, app.limits.check_user(&session.user).await)?;
        Ok(Authed(session.as_caller()))
    }
}

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Authed, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let app = crate::request::app(&req)?;
            Authed::of(&req, &app).await
        })
    }
}

impl std::ops::Deref for Authed {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}
