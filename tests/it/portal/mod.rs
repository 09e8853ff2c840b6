//! The login portal for other web apps (docs/web.md "The login portal", web.md §6 and §8 cases
//! 13–14): `http.rs` talks to Latchkey directly (the proxy's headers written by the test),
//! `nginx.rs` goes through the shipped worked example `deploy/nginx/latchkey-portal.conf` over
//! TLS, `browser.rs` is a person logging in through it in a headless Chromium.

mod browser;
mod http;
mod nginx;

use latchkey::Settings;
use latchkey::config::{ExternalScheme, PortalCookieSettings};

/// Portal settings: cookie domain `domain` (portal `auth.<domain>`, realm zulip, default
/// target `https://app.<domain>/home`) and `other.test` (portal `auth.other.test`, realm
/// lear). `port` is added to the URLs (the nginx tests' listening port) when given. Secure
/// cookies, https.
///
/// The HTTP tests use `example.test` (web.md §8's names); the browser tests need a domain
/// under a public suffix Chromium knows (`example.org`), since it refuses `Domain=` cookies
/// for hosts under an unknown top-level domain such as `.test`.
pub fn portal_settings(s: &mut Settings, port: Option<u16>, domain: &str) {
    let at = |host: &str| match port {
        Some(p) => format!("https://{host}:{p}"),
        None => format!("https://{host}"),
    };
    s.server.external_scheme = ExternalScheme::Https;
    s.portal.cookie = vec![
        PortalCookieSettings {
            domain: domain.into(),
            portal_url: at(&format!("auth.{domain}")),
            realm: "zulip".into(),
            default_redirect: Some(format!("{}/home", at(&format!("app.{domain}")))),
        },
        PortalCookieSettings {
            domain: "other.test".into(),
            portal_url: at("auth.other.test"),
            realm: "lear".into(),
            default_redirect: None,
        },
    ];
}
