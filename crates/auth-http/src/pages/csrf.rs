//! Cookies and CSRF (web.md decisions 6 and 12). The session cookie is
//! `__Host-latchkey_session` (host-only, `Path=/`, `Secure`, `HttpOnly`, `SameSite=Lax`); a
//! session carries its own CSRF secret, sent back in the form field `csrfmiddlewaretoken` or
//! the header `X-CSRFToken`. Before there is a session (the login form) the token is a
//! double-submit cookie, `__Host-latchkey_csrf`. Every unsafe request must also come from this
//! origin (`Origin`, else `Referer`). Over plain HTTP (`secure_cookies = false`) the cookies
//! drop the `__Host-` prefix and `Secure`.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, web};
use auth_service::{App, StartedSession, sessions};
use subtle::ConstantTimeEq;

use super::PageError;
use crate::HttpOptions;

pub const FORM_FIELD: &str = "csrfmiddlewaretoken";
pub const HEADER: &str = "X-CSRFToken";

/// Whether cookies are `Secure` with the `__Host-` prefix.
pub(super) fn secure(req: &HttpRequest) -> bool {
    // Without options (never in a running server) assume the strict form.
    req.app_data::<web::Data<HttpOptions>>()
        .is_none_or(|o| o.secure_cookies)
}

/// The session cookie's name.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-latchkey_session"
    } else {
        "latchkey_session"
    }
}

/// The pre-session CSRF cookie's name.
pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-latchkey_csrf"
    } else {
        "latchkey_csrf"
    }
}

/// A host-only `HttpOnly`, `SameSite=Lax` cookie on `/` (`Secure` when cookies are).
pub(super) fn cookie(req: &HttpRequest, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(secure(req));
    c
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(session_cookie_name(secure(req)))
        .map(|c| c.value().to_owned())
}

/// The cookie that carries a new session: a browser-session cookie unless persistent.
pub fn new_session_cookie(req: &HttpRequest, started: &StartedSession) -> Cookie<'static> {
    let name = session_cookie_name(secure(req));
    let mut c = cookie(req, name, started.cookie.expose().to_owned());
    if let Some(age) = started.max_age {
        c.set_max_age(CookieDuration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        ));
    }
    c
}

/// A cookie that removes the session cookie.
pub fn removed_session_cookie(req: &HttpRequest) -> Cookie<'static> {
    let mut c = cookie(req, session_cookie_name(secure(req)), String::new());
    c.make_removal();
    c
}

/// A cookie that removes the pre-session CSRF cookie (once a session has its own secret).
pub fn removed_csrf_cookie(req: &HttpRequest) -> Cookie<'static> {
    let mut c = cookie(req, csrf_cookie_name(secure(req)), String::new());
    c.make_removal();
    c
}

fn well_shaped(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The pre-session token: the visitor's CSRF cookie if it has a usable one, else a new one
/// with the cookie to set.
pub fn pre_session_token(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    let name = csrf_cookie_name(secure(req));
    if let Some(c) = req.cookie(name) {
        if well_shaped(c.value()) {
            return (c.value().to_owned(), None);
        }
    }
    let token = sessions::random_token().expose().to_owned();
    let c = cookie(req, name, token.clone());
    (token, Some(c))
}

/// The pre-session CSRF cookie's value, if well shaped.
pub fn pre_session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(csrf_cookie_name(secure(req)))
        .map(|c| c.value().to_owned())
        .filter(|v| well_shaped(v))
}

/// The token a request submitted: the form field, else the `X-CSRFToken` header.
pub fn submitted(req: &HttpRequest, field: Option<&str>) -> Option<String> {
    field.map(str::to_owned).or_else(|| {
        req.headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// The token check: `submitted` must equal `expected` (compared in constant time).
pub fn check_token(expected: &str, submitted: Option<&str>) -> Result<(), PageError> {
    match submitted {
        Some(s) if !expected.is_empty() && bool::from(s.as_bytes().ct_eq(expected.as_bytes())) => {
            Ok(())
        }
        _ => {
            tracing::info!("refused a form without a valid CSRF token");
            Err(PageError::Csrf)
        }
    }
}

/// The origin check of an unsafe request: `Origin`, else `Referer`, must be this scheme and
/// host. With neither (some privacy tools strip both) the token alone decides, as Django does
/// over plain HTTP; over HTTPS one of them is required.
pub fn check_origin(req: &HttpRequest, app: &App) -> Result<(), PageError> {
    let host = crate::request::host(req, app).to_ascii_lowercase();
    let ours = format!("{}://{}", app.hosts.external_scheme, host);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
    };
    let same = |value: &str| {
        url::Url::parse(value)
            .is_ok_and(|u| u.origin().ascii_serialization().eq_ignore_ascii_case(&ours))
    };
    let ok = match (header("origin"), header("referer")) {
        (Some(o), _) => same(&o),
        (None, Some(r)) => same(&r),
        (None, None) => !secure(req),
    };
    if ok {
        Ok(())
    } else {
        tracing::info!("refused a cross-origin form");
        Err(PageError::Csrf)
    }
}
