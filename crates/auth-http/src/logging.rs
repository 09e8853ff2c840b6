//! The one-line-per-request log. Handlers add the realm and user to the line through
//! [`note_realm`] and [`note_user`]; the line carries the path without its query string, because
//! a client may put credentials there. (The subscriber and its escaping writer are the binary's.)
//!
//! Every request has a request id: the `X-Request-Id` a trusted proxy sent (when well formed),
//! else a new random one. It is on the response, in the request line, and in a span around the
//! handler, so every log line the request causes carries it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// A request id a proxy may hand on: 1 to 128 characters of letters, digits and `-_.:/+=`.
fn well_formed_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
}

/// The request's id: a trusted proxy's well-formed `X-Request-Id`, else 16 random bytes (hex).
fn request_id(req: &ServiceRequest) -> String {
    let trusted = req.peer_addr().is_some_and(|p| {
        req.app_data::<web::Data<auth_service::App>>()
            .is_some_and(|app| app.limits.is_trusted_proxy(p.ip()))
    });
    if trusted {
        if let Some(id) = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| well_formed_id(id))
        {
            return id.to_owned();
        }
    }
    hex::encode(rand::random::<[u8; 16]>())
}

/// What the request line says about who made the request.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub realm: Option<String>,
    pub user_id: Option<i64>,
}

pub fn note_realm(req: &HttpRequest, subdomain: &str) {
    let mut ext = req.extensions_mut();
    match ext.get_mut::<RequestContext>() {
        Some(ctx) => ctx.realm = Some(subdomain.to_owned()),
        None => {
            ext.insert(RequestContext {
                realm: Some(subdomain.to_owned()),
                user_id: None,
            });
        }
    }
}

pub fn note_user(req: &HttpRequest, user_id: auth_core::UserId) {
    let mut ext = req.extensions_mut();
    match ext.get_mut::<RequestContext>() {
        Some(ctx) => ctx.user_id = Some(user_id.0),
        None => {
            ext.insert(RequestContext {
                realm: None,
                user_id: Some(user_id.0),
            });
        }
    }
}

const RESET_LINKS: &str = "/accounts/password/reset/";

/// The path as logged: a password-reset link's token (`/accounts/password/reset/<token>/`) is
/// replaced by `[token]`, so the line never carries one.
pub fn loggable_path(path: &str) -> String {
    match path.strip_prefix(RESET_LINKS) {
        Some(rest) if !matches!(rest, "" | "done/" | "set-password/") => {
            format!("{RESET_LINKS}[token]/")
        }
        _ => path.to_owned(),
    }
}

/// A value of the request line, or `-` when there is none.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Middleware: one INFO line per request with method, path, status, latency, realm and user.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.path());
    let peer = req.peer_addr().map(|a| a.ip());
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id);
    let mut result = next.call(req).instrument(span).await;
    if let Ok(res) = &mut result {
        if let Ok(value) = HeaderValue::from_str(&id) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID), value);
        }
    }
    let elapsed = start.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    match &result {
        Ok(res) => {
            let request = res.request();
            crate::metrics::record_request(
                request.match_pattern(),
                request.method(),
                res.status().as_u16(),
                elapsed,
            );
            let ctx = request
                .extensions_mut()
                .remove::<RequestContext>()
                .unwrap_or_default();
            tracing::info!(
                target: "latchkey::request",
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                latency_ms = format_args!("{latency_ms:.2}"),
                realm = ctx.realm.as_deref().unwrap_or("-"),
                user_id = %OrDash(ctx.user_id),
                peer = %OrDash(peer),
                request_id = %id,
                "request"
            );
        }
        Err(e) => {
            tracing::warn!(
                target: "latchkey::request",
                method = %method,
                path = %path,
                status = e.as_response_error().status_code().as_u16(),
                latency_ms = format_args!("{latency_ms:.2}"),
                request_id = %id,
                "request failed"
            );
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::{loggable_path, well_formed_id};

    #[test]
    fn only_plain_request_ids_are_handed_on() {
        assert!(well_formed_id("3f2a9c1e-77b0-4d3e-9a51-0c6f6b7a2d10"));
        assert!(well_formed_id("Root=1-5759e988-bd862e3fe1be46a994272793"));
        for bad in [
            "",
            "a b",
            "x\r\ny",
            &"a".repeat(129),
            "<script>",
            "\u{1b}[31m",
        ] {
            assert!(!well_formed_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn reset_tokens_never_reach_the_request_line() {
        let token = "ab".repeat(32);
        assert_eq!(
            loggable_path(&format!("/accounts/password/reset/{token}/")),
            "/accounts/password/reset/[token]/"
        );
        assert_eq!(
            loggable_path(&format!("/accounts/password/reset/{token}")),
            "/accounts/password/reset/[token]/"
        );
        for kept in [
            "/accounts/password/reset/",
            "/accounts/password/reset/done/",
            "/accounts/password/reset/set-password/",
            "/accounts/login/",
        ] {
            assert_eq!(loggable_path(kept), kept);
        }
    }
}
