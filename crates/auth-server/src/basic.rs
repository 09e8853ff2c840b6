//! HTTP Basic authentication of API requests, as Zulip does it (spec §9): `Authorization: Basic
//! base64(<delivery email>:<api key>)`, every failure a 401 `UNAUTHORIZED` with
//! `WWW-Authenticate: Basic realm="zulip"` (a non-Basic scheme is a 400), then the per-user rate
//! limit.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use auth_core::{ApiKey, BotType, Realm, User};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::envelope::ApiError;
use crate::logging::note_user;
use crate::state::AppState;

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub realm: Realm,
}

/// Messages of the Basic-auth path, exactly as Zulip words them.
pub const NOT_LOGGED_IN: &str = "Not logged in: API authentication or user session required";
pub const INVALID_HEADER: &str = "Invalid authorization header for basic auth";
pub const NOT_BASIC: &str = "This endpoint requires HTTP basic authentication.";
pub const INVALID_KEY: &str = "Invalid API key";
pub const MALFORMED_KEY: &str = "Malformed API key";
pub const REALM_DEACTIVATED: &str = "This organization has been deactivated";
pub const USER_DEACTIVATED: &str = "Account is deactivated";
pub const WRONG_SUBDOMAIN: &str = "Account is not associated with this subdomain";
pub const WEBHOOK_BOT: &str = "This API is not available to incoming webhook bots.";

/// What a request authenticates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An ordinary API endpoint: incoming-webhook bots are refused, and the request counts
    /// toward the caller's `api_by_user` limit.
    Api,
    /// A reverse proxy checking a credential for another service (`/api/v1/auth/verify`): any
    /// active account, and it does not spend the caller's API budget (a browser behind the
    /// proxy makes many requests).
    ForwardAuth,
}

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
    let cleaned: String = credentials
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let bytes = STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|_| ApiError::unauthorized(INVALID_HEADER))?;
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
    state: &AppState,
    purpose: Purpose,
) -> Result<Caller, ApiError> {
    // A valid key is limited per user only: other clients' failures from the same address (one
    // NAT, one IPv6 /64) must not lock its owner out. Failures count per address below.
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let (role, key) = match parse_header(header) {
        Ok(creds) => creds,
        Err(e) => return Err(state.limits.count_failed_auth(req, e).await),
    };
    let caller = resolve(req, state, &role, &key, purpose).await;
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return Err(state.limits.count_failed_auth(req, e).await),
    };
    note_user(req, caller.user.id);
    if purpose == Purpose::Api {
        state.limits.check_user(req, &caller.user).await?;
    }
    Ok(caller)
}

/// Authenticates (for an API endpoint), then reads the parameters: authentication first, as
/// Zulip does, so an unauthenticated client learns nothing about its body.
pub async fn authenticate_with_params(
    req: &HttpRequest,
    payload: actix_web::web::Payload,
    state: &AppState,
) -> Result<(Caller, crate::params::Params), ApiError> {
    let caller = authenticate(req, state, Purpose::Api).await?;
    let params =
        crate::params::Params::read(req, payload, state.settings.server.max_body_bytes).await?;
    Ok((caller, params))
}

async fn resolve(
    req: &HttpRequest,
    state: &AppState,
    role: &str,
    key: &str,
    purpose: Purpose,
) -> Result<Caller, ApiError> {
    let key = ApiKey::parse(key).map_err(|_| ApiError::unauthorized(MALFORMED_KEY))?;
    let owner = state
        .keys
        .owner_of(&key)
        .await
        .map_err(|e| ApiError::unavailable("API key lookup failed", e))?;
    let Some((user, realm)) = owner else {
        return Err(ApiError::unauthorized(INVALID_KEY));
    };
    if role.to_lowercase() != user.delivery_email.to_lowercase() {
        return Err(ApiError::unauthorized(INVALID_KEY));
    }
    if realm.deactivated {
        return Err(ApiError::unauthorized(REALM_DEACTIVATED));
    }
    if !user.is_active {
        return Err(ApiError::unauthorized(USER_DEACTIVATED));
    }
    // Forward-auth answers for the host the protected app serves: a host that names no realm
    // is refused, not served as the root realm.
    let subdomain = match state.recognised_subdomain_of(req)? {
        Some(s) => s,
        None if purpose == Purpose::ForwardAuth => {
            tracing::info!(user_id = %user.id, "forward-auth for a host that names no realm");
            return Err(ApiError::unauthorized(WRONG_SUBDOMAIN));
        }
        None => String::new(),
    };
    if realm.subdomain != subdomain {
        tracing::warn!(
            user_id = %user.id,
            user_realm = %realm.subdomain,
            request_realm = ?subdomain,
            "attempted to access the API on the wrong subdomain"
        );
        return Err(ApiError::unauthorized(WRONG_SUBDOMAIN));
    }
    crate::logging::note_realm(req, &realm.subdomain);
    if purpose == Purpose::Api && user.bot_type == Some(BotType::IncomingWebhook) {
        return Err(ApiError::unauthorized(WEBHOOK_BOT));
    }
    Ok(Caller { user, realm })
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
