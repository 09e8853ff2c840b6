//! The layout every page extends (`templates/layout.html`) and the response every page is sent
//! in: the security headers of web.md §7.3 and decision 13 (a CSP without `unsafe-inline`,
//! `frame-ancestors 'none'`, `Cache-Control: no-store`, ...), HTML content type, and any cookies.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use super::PageError;
use super::assets;

/// A message shown above a page's content.
#[derive(Debug, Clone)]
pub struct Flash {
    /// `error` or `info` (the CSS class `alert-<kind>`).
    pub kind: &'static str,
    pub text: String,
}

impl Flash {
    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            kind: "error",
            text: text.into(),
        }
    }

    pub fn info(text: impl Into<String>) -> Flash {
        Flash {
            kind: "info",
            text: text.into(),
        }
    }
}

/// What the layout shows around every page.
#[derive(Debug, Clone)]
pub struct Shell {
    pub site_name: String,
    pub css_url: &'static str,
    pub js_url: &'static str,
    /// The CSRF token forms on this page carry (the session's, or the pre-session cookie's).
    pub csrf: Option<String>,
    pub flashes: Vec<Flash>,
    /// Who is signed in (shown with a "Log out" button).
    pub signed_in: Option<String>,
    /// The visitor is one of the organization's owners or administrators (the settings
    /// navigation links the organization pages).
    pub org_admin: bool,
}

impl Shell {
    pub fn new(site_name: impl Into<String>) -> Shell {
        Shell {
            site_name: site_name.into(),
            css_url: assets::css_url(),
            js_url: assets::js_url(),
            csrf: None,
            flashes: Vec::new(),
            signed_in: None,
            org_admin: false,
        }
    }

    /// The hidden CSRF field, for `{{ shell.csrf_input()|safe }}` (the token is hex, so it
    /// needs no escaping; anything else is refused).
    pub fn csrf_input(&self) -> String {
        match &self.csrf {
            Some(t) if t.bytes().all(|b| b.is_ascii_hexdigit()) => format!(
                r#"<input type="hidden" name="{}" value="{t}">"#,
                super::csrf::FORM_FIELD
            ),
            _ => String::new(),
        }
    }
}

const CSP: &str = "default-src 'self'; base-uri 'none'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; frame-src 'none'; \
                   object-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'";

/// The headers of every page. `Referrer-Policy` keeps the origin on same-site requests, so
/// browsers send the `Origin` the CSRF check reads (with `no-referrer` a POST's Origin is
/// `null`).
pub fn page_headers(b: &mut HttpResponseBuilder) {
    b.insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "strict-origin-when-cross-origin"))
        .insert_header((
            "Permissions-Policy",
            "accelerometer=(), autoplay=(), camera=(), geolocation=(), gyroscope=(), \
             magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
        ))
        .insert_header(("X-DNS-Prefetch-Control", "off"))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
}

/// A rendered page with the page headers and the given cookies.
pub fn render(
    status: StatusCode,
    page: &impl Template,
    cookies: Vec<Cookie<'static>>,
) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(|e| {
        tracing::error!(error = %e, "a page template failed to render");
        PageError::Internal
    })?;
    let mut b = HttpResponse::build(status);
    page_headers(&mut b);
    for c in cookies {
        b.cookie(c);
    }
    Ok(b.content_type("text/html; charset=utf-8").body(body))
}

/// A 302 to `location` (a path on this host) with the page headers and the given cookies.
pub fn redirect(location: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut b = HttpResponse::Found();
    page_headers(&mut b);
    for c in cookies {
        b.cookie(c);
    }
    b.insert_header(("Location", location)).finish()
}
