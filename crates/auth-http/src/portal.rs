//! The login portal's HTTP side (docs/web.md "The login portal"; web.md §6 and decisions 6, 7,
//! 15): the portal cookie, which `rd` targets are followed, the protected app's original URL as
//! the proxy reports it, the 401 with `Location` that sends a browser to the portal, and the
//! identity headers `/api/v1/auth/verify` answers with. The pages that use it are in
//! `pages/portal.rs`; the sessions in `auth_service::portal`.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{Realm, User};
use auth_service::{App, PortalCookie, StartedSession};

use crate::HttpOptions;
use crate::envelope::{ApiError, success_of};

/// The longest `rd` followed (decision 7).
pub const MAX_TARGET: usize = 2048;

/// Whether the pages' cookies are `Secure` (assumed when no options are registered).
fn secure(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<HttpOptions>>()
        .is_none_or(|o| o.secure_cookies)
}

/// The portal cookie's name: `__Secure-latchkey_portal`, or `latchkey_portal` over plain HTTP
/// (decision 6: `__Host-` would forbid `Domain`).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-latchkey_portal"
    } else {
        "latchkey_portal"
    }
}

fn cookie(req: &HttpRequest, portal: &PortalCookie, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(cookie_name(secure(req)), value);
    c.set_domain(portal.domain.clone());
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(secure(req));
    c
}

/// The portal cookie's value, if the request has one.
pub fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(cookie_name(secure(req)))
        .map(|c| c.value().to_owned())
}

/// The cookie that carries a new portal session (`Domain=<cookie domain>`); persistent only
/// with "Keep me logged in".
pub fn new_cookie(
    req: &HttpRequest,
    portal: &PortalCookie,
    started: &StartedSession,
) -> Cookie<'static> {
    let mut c = cookie(req, portal, started.cookie.expose().to_owned());
    if let Some(age) = started.max_age {
        c.set_max_age(CookieDuration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        ));
    }
    c
}

/// A cookie that removes the portal cookie.
pub fn removed_cookie(req: &HttpRequest, portal: &PortalCookie) -> Cookie<'static> {
    let mut c = cookie(req, portal, String::new());
    c.make_removal();
    c
}

/// `raw` as a safe redirect target of this portal, normalised, or `None` (decision 7, web.md
/// §6.4): an absolute `https` URL (`http` too for a plain-HTTP development portal) whose host
/// is the cookie domain or under it; at most [`MAX_TARGET`] characters; no user name or
/// password; no backslash, whitespace or control character anywhere.
pub fn safe_target(portal: &PortalCookie, raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_TARGET {
        return None;
    }
    if raw
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    let scheme_ok = url.scheme() == "https" || (portal.allow_http && url.scheme() == "http");
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    match url.host() {
        Some(url::Host::Domain(d)) if portal.covers(d) => {}
        _ => return None,
    }
    let out = url.to_string();
    (out.len() <= MAX_TARGET).then_some(out)
}

/// Where a login on the portal goes: a safe `rd`, else the configured default, else the
/// portal's own start page.
pub fn after_login_target(portal: &PortalCookie, rd: Option<&str>) -> String {
    rd.and_then(|r| safe_target(portal, r))
        .or_else(|| portal.default_redirect.clone())
        .unwrap_or_else(|| "/".to_owned())
}

/// Where a logout on the portal goes: a safe `rd`, else the portal's login page.
pub fn after_logout_target(portal: &PortalCookie, rd: Option<&str>) -> String {
    rd.and_then(|r| safe_target(portal, r))
        .unwrap_or_else(|| "/login/".to_owned())
}

/// A method name as `rm` carries it: an HTTP token of letters, else `GET`.
pub fn method_name(raw: Option<&str>) -> String {
    match raw.map(str::trim) {
        Some(m) if !m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
            m.to_ascii_uppercase()
        }
        _ => "GET".to_owned(),
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// What the proxy says the protected request was.
#[derive(Debug)]
pub enum Target {
    /// No `X-Original-URL` and no `X-Forwarded-Host`: not a portal check.
    Unknown,
    /// Headers that do not make an absolute http(s) URL with a host name (kept for the log).
    Malformed(String),
    Url {
        url: url::Url,
        method: String,
    },
}

/// The protected request: `X-Original-URL`, else `X-Forwarded-Proto` (default `https`) +
/// `X-Forwarded-Host` + `X-Forwarded-Uri` (default `/`); the method from `X-Original-Method`
/// or `X-Forwarded-Method`.
pub fn target(req: &HttpRequest) -> Target {
    let raw = match (
        header(req, "x-original-url"),
        header(req, "x-forwarded-host"),
    ) {
        (Some(u), _) => u.to_owned(),
        (None, Some(host)) => {
            let proto = header(req, "x-forwarded-proto").unwrap_or("https");
            let uri = header(req, "x-forwarded-uri").unwrap_or("/");
            format!("{proto}://{host}{uri}")
        }
        (None, None) => return Target::Unknown,
    };
    let method =
        method_name(header(req, "x-original-method").or_else(|| header(req, "x-forwarded-method")));
    match url::Url::parse(&raw) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && matches!(url.host(), Some(url::Host::Domain(_))) =>
        {
            Target::Url { url, method }
        }
        _ => Target::Malformed(raw),
    }
}

/// `<portal>/login/?rd=<url>&rm=<method>` (web.md §8 case 13); `rd` is left out when it is
/// too long to be followed.
pub fn login_location(portal: &PortalCookie, url: &url::Url, method: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if url.as_str().len() <= MAX_TARGET {
        q.append_pair("rd", url.as_str());
    }
    q.append_pair("rm", method);
    format!("{}/login/?{}", portal.portal_url, q.finish())
}

/// A text as a header value: unchanged when it is printable ASCII without `%`, else
/// percent-encoded UTF-8 (so percent-decoding the value is always right, and no byte can end
/// the header or start another).
pub fn header_text(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'%') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a role is named in `X-Latchkey-Role`.
pub fn role_name(role: auth_core::Role) -> &'static str {
    use auth_core::Role;
    match role {
        Role::Owner => "owner",
        Role::Administrator => "administrator",
        Role::Moderator => "moderator",
        Role::Member => "member",
        Role::Guest => "guest",
    }
}

/// The body of forward-auth's 200.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Identity {
    user_id: i64,
    email: String,
    /// The realm's subdomain.
    realm: String,
}

/// Forward-auth's 200: the identity as JSON and as headers — `X-Latchkey-User` and
/// `X-Latchkey-User-Id` (the user id), `X-Latchkey-Email`, `X-Latchkey-Name`,
/// `X-Latchkey-Realm` (subdomain), `X-Latchkey-Role` — texts through [`header_text`].
pub fn identity_response(user: &User, realm: &Realm) -> Result<HttpResponse, ApiError> {
    let identity = Identity {
        user_id: user.id.0,
        email: user.delivery_email.clone(),
        realm: realm.subdomain.clone(),
    };
    let mut resp = success_of(&identity, &[])?;
    let h = resp.headers_mut();
    let id = user.id.0.to_string();
    for (name, value) in [
        ("x-latchkey-user", id.clone()),
        ("x-latchkey-user-id", id),
        ("x-latchkey-email", header_text(&user.delivery_email)),
        ("x-latchkey-name", header_text(&user.full_name)),
        ("x-latchkey-realm", header_text(&realm.subdomain)),
        ("x-latchkey-role", role_name(user.role).to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    Ok(resp)
}

/// The portal half of forward-auth, for a request without `Authorization`: `Ok(None)` when
/// the proxy named no target (the Basic answer applies); the identity for a live portal session
/// of the target's cookie domain; otherwise a 401 — with `Location` to the portal's login
/// page, or, for a target outside every cookie domain, without (and a warning).
pub async fn verify(req: &HttpRequest, app: &App) -> Result<Option<HttpResponse>, ApiError> {
    let (url, method) = match target(req) {
        Target::Unknown => return Ok(None),
        Target::Malformed(raw) => {
            // Not the value itself: a URL may carry secrets in its query string.
            tracing::warn!(
                length = raw.len(),
                "forward-auth: the proxy's original URL is not an absolute http(s) URL"
            );
            return Err(no_portal());
        }
        Target::Url { url, method } => (url, method),
    };
    let host = url.host_str().unwrap_or_default();
    let Some(portal) = app.portal_for_target(host) else {
        tracing::warn!(host = ?host, "forward-auth: the protected host is under no configured portal cookie domain");
        return Err(no_portal());
    };
    if let Some(cookie) = cookie_value(req) {
        let session = app.portal_session(portal, &cookie).await?;
        if let Some(s) = session {
            crate::logging::note_realm(req, &s.realm.subdomain);
            crate::logging::note_user(req, s.user.id);
            return identity_response(&s.user, &s.realm).map(Some);
        }
    }
    Err(ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "Not logged in: log in at the portal",
    )
    .with_header(LOCATION, login_location(portal, &url, &method)))
}

fn no_portal() -> ApiError {
    ApiError::unauthorized("Not logged in: API authentication or user session required")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal() -> PortalCookie {
        PortalCookie {
            domain: "example.test".into(),
            portal_url: "https://auth.example.test".into(),
            portal_host: "auth.example.test".into(),
            realm: "zulip".into(),
            default_redirect: Some("https://app.example.test/home".into()),
            allow_http: false,
        }
    }

    #[test]
    fn only_https_targets_under_the_domain_are_followed() {
        let p = portal();
        for ok in [
            "https://app.example.test/x?y=1",
            "https://example.test/",
            "https://a.b.example.test:8443/p#f",
            "https://APP.Example.Test/",
        ] {
            assert!(safe_target(&p, ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "http://app.example.test/",
            "https://evil.test/",
            "https://example.test.evil.test/",
            "https://evilexample.test/",
            "https://user:pw@app.example.test/",
            "https://user@app.example.test/",
            "https://app.example.test\\@evil.test/",
            "https:\\\\app.example.test/",
            "https://app.example.test/\u{1}",
            "https://app.example.test/ x",
            "//app.example.test/",
            "/relative",
            "javascript:alert(1)",
            "https://127.0.0.1/",
            &format!("https://app.example.test/{}", "a".repeat(2048)),
        ] {
            assert_eq!(safe_target(&p, bad), None, "{bad:?}");
        }
        assert_eq!(
            after_login_target(&p, Some("https://evil.test/")),
            "https://app.example.test/home"
        );
        let mut no_default = portal();
        no_default.default_redirect = None;
        assert_eq!(after_login_target(&no_default, None), "/");
        assert_eq!(
            after_logout_target(&p, Some("http://app.example.test/")),
            "/login/"
        );
        let mut dev = portal();
        dev.allow_http = true;
        assert!(safe_target(&dev, "http://app.example.test/").is_some());
    }

    #[test]
    fn the_login_location_is_web_md_case_13() {
        let url = url::Url::parse("https://app.example.test/x?y=1").unwrap();
        assert_eq!(
            login_location(&portal(), &url, "GET"),
            "https://auth.example.test/login/?rd=https%3A%2F%2Fapp.example.test%2Fx%3Fy%3D1&rm=GET"
        );
        assert_eq!(method_name(Some("post")), "POST");
        assert_eq!(method_name(Some("GET\r\nX: y")), "GET");
        assert_eq!(method_name(None), "GET");
    }

    #[test]
    fn header_texts_cannot_inject() {
        assert_eq!(header_text("Prince Hamlet"), "Prince Hamlet");
        assert_eq!(header_text("Zoë"), "Zo%C3%AB");
        assert_eq!(header_text("a\r\nX-Evil: 1"), "a%0D%0AX-Evil:%201");
        assert_eq!(header_text("100%"), "100%25");
        for t in ["Zoë", "a\r\nb", "\u{0}", "100%"] {
            assert!(HeaderValue::from_str(&header_text(t)).is_ok(), "{t:?}");
        }
    }
}
