//! The one-line-per-request log. Handlers add the realm and user to the line through
//! [`note_realm`] and [`note_user`]; the line carries the path without its query string, because
//! a client may put credentials there. (The subscriber and its escaping writer are the binary's.)

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};

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

/// Middleware: one INFO line per request with method, path, status, latency, realm and user.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = loggable_path(req.path());
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let result = next.call(req).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(res) => {
            let ctx = res
                .request()
                .extensions()
                .get::<RequestContext>()
                .cloned()
                .unwrap_or_default();
            tracing::info!(
                target: "latchkey::request",
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                latency_ms = format_args!("{latency_ms:.2}"),
                realm = ctx.realm.as_deref().unwrap_or("-"),
                user_id = ctx.user_id.map(|u| u.to_string()).as_deref().unwrap_or("-"),
                peer = peer.as_deref().unwrap_or("-"),
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
                "request failed"
            );
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

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
