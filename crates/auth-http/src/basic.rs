//! HTTP Basic authentication of API requests, as Zulip does it (spec §9): `Authorization: Basic
//! base64(<delivery email>:<api key>)`, every failure a 401 `UNAUTHORIZED` with
//! `WWW-Authenticate: Basic realm="zulip"` (a non-Basic scheme is a 400), then the per-user rate
//! limit.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest};
use auth_service::{App, Caller, Purpose};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::envelope::{ApiError, INVALID_HEADER, NOT_BASIC, NOT_LOGGED_IN};
use crate::limits::{count_failed_auth, noted};
use crate::logging::{note_realm, note_user};

/// The decoded `(username, key)` of a Basic header, or the Zulip error for it.
pub fn parse_header(value: Option<&str>) -> Result<(String, String), ApiError> {
    let value = value.ok_or_else(|| ApiError::unauthorized(NOT_LOGGED_IN))?;
    let tokens: Vec<&str> = value.split_whitespace().collect();
    let [scheme, credentials] = tokens.as_slice() else {
        return Err(ApiError::unauthorized(INVALID_HEADER));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::bad_request(NOT_BASIC));
    }
    // Python's lenient base64: characters outside the alphabet are discarded, padding must
    // still be right.
    let in_alphabet = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let decoded = if credentials.chars().all(in_alphabet) {
        STANDARD.decode(credentials.as_bytes())
    } else {
        let cleaned: String = credentials.chars().filter(|c| in_alphabet(*c)).collect();
        STANDARD.decode(cleaned.as_bytes())
    };
    let bytes = decoded.map_err(|_| ApiError::unauthorized(INVALID_HEADER))?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::unauthorized(INVALID_HEADER))?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(role), Some(key), None) => Ok((role.trim().to_owned(), key.trim().to_owned())),
        _ => Err(ApiError::unauthorized(INVALID_HEADER)),
    }
}

/// Authenticates the request's Basic credentials against the Host's realm.
pub async fn authenticate(
    req: &HttpRequest,
    app: &App,
    purpose: Purpose,
) -> Result<Caller, ApiError> {
    // A valid key is limited per user only: other clients' failures from the same address (one
    // NAT, one IPv6 /64) must not lock its owner out. Failures count per address below.
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let (email, key) = match parse_header(header) {
        Ok(creds) => creds,
        Err(e) => return Err(count_failed_auth(req, app, e).await),
    };
    let host = crate::request::host(req, app);
    let caller = match app.caller_for_key(&email, &key, &host, purpose).await {
        Ok(c) => c,
        Err(e) => return Err(count_failed_auth(req, app, e.into()).await),
    };
    note_realm(req, &caller.realm.subdomain);
    note_user(req, caller.user.id);
    if purpose == Purpose::Api {
        noted(req, app.limits.check_user(&caller.user).await)?;
    }
    Ok(caller)
}

/// The caller of an API endpoint, authenticated by HTTP Basic before the handler runs (and
/// before its body is read: an unauthenticated client learns nothing about its parameters, as
/// in Zulip). Handlers take it as an argument instead of authenticating themselves.
#[derive(Debug, Clone)]
pub struct ApiCaller(pub Caller);

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<ApiCaller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let app = crate::request::app(&req)?;
            authenticate(&req, &app, Purpose::Api).await.map(ApiCaller)
        })
    }
}

impl std::ops::Deref for ApiCaller {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn headers_parse_as_zulip_parses_them() {
        assert_eq!(
            parse_header(Some(&header("hamlet@zulip.com:abc"))).unwrap(),
            ("hamlet@zulip.com".to_string(), "abc".to_string())
        );
        assert_eq!(
            parse_header(Some(&format!("bAsIc {}", STANDARD.encode(" a@b.c : k ")))).unwrap(),
            ("a@b.c".to_string(), "k".to_string())
        );
        let msg = |r: Result<(String, String), ApiError>| r.unwrap_err().msg;
        assert_eq!(msg(parse_header(None)), NOT_LOGGED_IN);
        assert_eq!(msg(parse_header(Some("Basic"))), INVALID_HEADER);
        assert_eq!(msg(parse_header(Some("Basic a b"))), INVALID_HEADER);
        assert_eq!(msg(parse_header(Some(&header("nocolon")))), INVALID_HEADER);
        assert_eq!(msg(parse_header(Some(&header("a:b:c")))), INVALID_HEADER);
        assert_eq!(msg(parse_header(Some("Basic !!!"))), INVALID_HEADER);
        let digest = parse_header(Some("Digest username=x")).unwrap_err();
        assert_eq!(digest.status.as_u16(), 400);
        assert_eq!(digest.msg, NOT_BASIC);
        let e = parse_header(Some("Basic")).unwrap_err();
        assert_eq!(e.status.as_u16(), 401);
        assert_eq!(e.code, Some("UNAUTHORIZED"));
        assert!(
            e.headers
                .iter()
                .any(|(n, v)| n == actix_web::http::header::WWW_AUTHENTICATE
                    && v == "Basic realm=\"zulip\"")
        );
    }
}
