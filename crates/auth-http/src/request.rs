//! What a request says about where it comes from and which realm it is for: the client's
//! address and the host, read from the headers a trusted proxy may set.

use std::net::IpAddr;

use actix_web::HttpRequest;
use auth_core::Realm;
use auth_service::App;

use crate::envelope::ApiError;
use crate::logging::note_realm;

/// The application a request is served by (every route is; its absence is a server bug, a 500).
pub fn app(req: &HttpRequest) -> Result<actix_web::web::Data<App>, ApiError> {
    req.app_data::<actix_web::web::Data<App>>()
        .cloned()
        .ok_or_else(ApiError::internal)
}

/// Every comma-separated value of a header over all its lines, in order, trimmed. A line that
/// is not visible ASCII becomes one value that parses as nothing (it must stop a walk, not
/// vanish from it).
pub fn header_list(req: &HttpRequest, name: &str) -> Vec<String> {
    req.headers()
        .get_all(name)
        .flat_map(|line| {
            line.to_str()
                .unwrap_or("\u{0}")
                .split(',')
                .map(|v| v.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The client's address: the peer, or behind a trusted proxy what `X-Forwarded-For` says
/// ([`auth_service::limits::Limits::client_ip`]).
pub fn client_ip(req: &HttpRequest, app: &App) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    let from_proxy = peer.is_some_and(|p| app.limits.is_trusted_proxy(p));
    let forwarded = if from_proxy {
        header_list(req, "x-forwarded-for")
    } else {
        Vec::new()
    };
    app.limits.client_ip(peer, &forwarded)
}

/// The host a request names: the last `X-Forwarded-Host` value from a trusted proxy (when
/// `server.trust_forwarded_host`), else `Host`, else HTTP/2's `:authority`; `""` when none.
pub fn host(req: &HttpRequest, app: &App) -> String {
    let forwarded = app.trust_forwarded_host
        && req
            .peer_addr()
            .is_some_and(|p| app.limits.is_trusted_proxy(p.ip()));
    forwarded
        .then(|| header_list(req, "x-forwarded-host"))
        .and_then(|values| values.last().cloned())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            req.headers()
                .get("host")
                .map(|h| h.to_str().unwrap_or("\u{0}").to_owned())
        })
        // HTTP/2 carries the host as the :authority pseudo-header.
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// The subdomain the request's host names, `None` for a host Latchkey does not recognise; a
/// malformed host is a 400.
pub fn recognised_subdomain(req: &HttpRequest, app: &App) -> Result<Option<String>, ApiError> {
    let host = host(req, app);
    app.recognised_subdomain(&host).map_err(|e| {
        tracing::info!(host = ?host, "refused a malformed host");
        ApiError::bad_request(e.to_string())
    })
}

/// [`recognised_subdomain`], an unrecognised host served as the root realm (Zulip's
/// `get_subdomain`).
pub fn subdomain(req: &HttpRequest, app: &App) -> Result<String, ApiError> {
    Ok(recognised_subdomain(req, app)?.unwrap_or_default())
}

/// The realm of a subdomain the request named (noted for the request log), if there is one.
pub async fn realm_for_subdomain(
    req: &HttpRequest,
    app: &App,
    subdomain: &str,
) -> Result<Option<Realm>, ApiError> {
    note_realm(req, subdomain);
    app.realm_for_subdomain(subdomain)
        .await
        .map_err(|e| ApiError::unavailable("realm lookup failed", e))
}

/// The service's view of the client: its address and the host it named.
pub fn client<'a>(req: &HttpRequest, app: &App, host: &'a str) -> auth_service::Client<'a> {
    auth_service::Client {
        ip: client_ip(req, app),
        host,
    }
}
