//! The login portal for other web apps (docs/web.md "The login portal"; web.md §6 and
//! decisions 5, 6, 7, 15). A configured cookie domain (`[[portal.cookie]]`) names the portal's
//! host, the realm whose people may log in there and an optional default target. A login on
//! the portal host starts a *portal session* besides the page session: a row of the same
//! `sessions` table marked with the cookie domain, whose cookie is sent to every host under that
//! domain, so that `/api/v1/auth/verify` can vouch for the person to a reverse proxy in front
//! of another app.
//!
//! A portal session is accepted only for its own cookie domain and only while its user belongs
//! to that domain's realm: a session for realm A is never accepted for realm B's domain. Lookups
//! read the row (one database read; the realm comes from the cache), refuse expired and idle
//! sessions (web.md §6.3: remembered sessions skip the inactivity limit) and record activity
//! when the last record is older than a tenth of the inactivity limit or a minute, whichever is
//! shorter (so most checks do not write).
//!
//! URLs are parsed above this crate (auth-http); here are the host rules and the sessions.

use std::time::Duration;

use auth_core::{Realm, SecretString, User};
use auth_store::NewSession;

use crate::error::ServiceError;
use crate::sessions::{StartedSession, cookie_digest, random_token};
use crate::{App, LoggedIn, clock};

/// One configured cookie domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalCookie {
    /// The parent domain the cookie is set for (`example.org`), lower case, no leading dot.
    pub domain: String,
    /// The portal's origin, `https://auth.example.org` (a port when not the default), without
    /// a trailing slash.
    pub portal_url: String,
    /// The portal's host as requests name it (`auth.example.org`, with the port if any), lower
    /// case.
    pub portal_host: String,
    /// The subdomain of the realm whose people log in here.
    pub realm: String,
    /// Where a login goes when `rd` is missing or unsafe (itself a safe target).
    pub default_redirect: Option<String>,
    /// `http` targets count as safe too: only for a plain-HTTP development portal.
    pub allow_http: bool,
}

impl PortalCookie {
    /// Whether a host name (no port) is the cookie domain or under it (case-insensitive).
    pub fn covers(&self, host_name: &str) -> bool {
        let host = host_name.trim_end_matches('.').to_ascii_lowercase();
        host == self.domain
            || host
                .strip_suffix(&self.domain)
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
    }
}

/// The portal's cookie domains and session lifetimes (decision 5: Authelia's knobs, the pages'
/// defaults).
#[derive(Debug, Clone)]
pub struct PortalSettings {
    pub cookies: Vec<PortalCookie>,
    /// Absolute lifetime of a session without "Keep me logged in".
    pub expiration: Duration,
    /// Such a session ends after this long without a verified request.
    pub inactivity: Duration,
    /// "Keep me logged in": the persistent cookie's age (no inactivity limit).
    pub remember_me: Duration,
}

impl Default for PortalSettings {
    fn default() -> Self {
        let pages = crate::sessions::SessionSettings::default();
        PortalSettings {
            cookies: Vec::new(),
            expiration: pages.lifetime,
            inactivity: pages.inactivity,
            remember_me: pages.persistent_lifetime,
        }
    }
}

/// A live portal session.
#[derive(Debug, Clone)]
pub struct PortalSession {
    digest: String,
    pub user: User,
    pub realm: Realm,
    /// The session's own CSRF secret (the portal's logout form may carry it).
    pub csrf_secret: SecretString,
    pub persistent: bool,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl App {
    /// The portal served on this host (the `Host` of a login page), if any.
    pub fn portal_for_host(&self, host: &str) -> Option<&PortalCookie> {
        let name = host_name(host);
        self.portal
            .cookies
            .iter()
            .find(|p| host_name(&p.portal_host) == name)
    }

    /// The cookie domain a protected app's host name (no port) is under; the most specific
    /// one when several are.
    pub fn portal_for_target(&self, host_name: &str) -> Option<&PortalCookie> {
        self.portal
            .cookies
            .iter()
            .filter(|p| p.covers(host_name))
            .max_by_key(|p| p.domain.len())
    }

    /// Whether any cookie domain is configured.
    pub fn portal_configured(&self) -> bool {
        !self.portal.cookies.is_empty()
    }

    /// Starts a portal session for a login on the portal (replacing the visitor's previous
    /// portal session, if its cookie is given).
    pub async fn start_portal_session(
        &self,
        portal: &PortalCookie,
        login: &LoggedIn,
        remember: bool,
        previous: Option<&str>,
    ) -> Result<StartedSession, ServiceError> {
        let now = clock::now().0;
        let life = if remember {
            self.portal.remember_me
        } else {
            self.portal.expiration
        };
        let cookie = random_token();
        let digest = cookie_digest(cookie.expose())
            .ok_or_else(|| ServiceError::unavailable("session id", "bad shape"))?;
        let new = NewSession {
            digest,
            user: login.user.id,
            csrf_secret: random_token().expose().to_owned(),
            method: login.backend.to_owned(),
            persistent: remember,
            now,
            expires_at: now.saturating_add(micros(life)),
            portal_domain: Some(portal.domain.clone()),
        };
        // Only a portal session of the same domain is replaced.
        let replacing = match previous.and_then(cookie_digest) {
            Some(d) => match self.store.session(&d).await {
                Ok(Some(f)) if f.session.portal_domain.as_deref() == Some(&portal.domain) => {
                    Some(d)
                }
                Ok(_) => None,
                Err(e) => return Err(ServiceError::unavailable("session lookup failed", e)),
            },
            None => None,
        };
        self.store
            .create_session(new, replacing)
            .await
            .map_err(|e| ServiceError::unavailable("starting a portal session failed", e))?;
        Ok(StartedSession {
            cookie,
            max_age: remember.then_some(life),
        })
    }

    /// The live portal session a cookie names for this cookie domain, if any. A session of
    /// another domain, a page session, a user outside the domain's realm, a deactivated user or
    /// realm are refused; an expired or idle one is deleted.
    pub async fn portal_session(
        &self,
        portal: &PortalCookie,
        cookie: &str,
    ) -> Result<Option<PortalSession>, ServiceError> {
        let realm = self
            .realm_for_subdomain(&portal.realm)
            .await
            .map_err(|e| ServiceError::unavailable("realm lookup failed", e))?;
        let Some(realm) = realm else {
            return Ok(None);
        };
        let live = self
            .live_session_row(
                cookie,
                Some(&portal.domain),
                self.portal.inactivity,
                |user| user.realm_id == realm.id && !realm.deactivated,
            )
            .await?;
        let Some((digest, found)) = live else {
            return Ok(None);
        };
        Ok(Some(PortalSession {
            csrf_secret: SecretString::new(found.session.csrf_secret),
            persistent: found.session.persistent,
            user: found.user,
            realm,
            digest,
        }))
    }

    /// Ends a portal session (the portal's logout).
    pub async fn end_portal_session(&self, session: &PortalSession) -> Result<(), ServiceError> {
        self.store
            .end_session(&session.digest)
            .await
            .map(|_| ())
            .map_err(|e| ServiceError::unavailable("ending a session failed", e))
    }
}

/// The host name of a host value, lower case, without its port.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host.as_str(),
    };
    name.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(domain: &str) -> PortalCookie {
        PortalCookie {
            domain: domain.into(),
            portal_url: format!("https://auth.{domain}"),
            portal_host: format!("auth.{domain}"),
            realm: "zulip".into(),
            default_redirect: None,
            allow_http: false,
        }
    }

    #[test]
    fn a_domain_covers_itself_and_its_subdomains_only() {
        let c = cookie("example.test");
        for yes in [
            "example.test",
            "app.example.test",
            "A.B.Example.Test",
            "app.example.test.",
        ] {
            assert!(c.covers(yes), "{yes}");
        }
        for no in [
            "evilexample.test",
            "example.test.evil",
            "test",
            ".example.test",
            "",
        ] {
            assert!(!c.covers(no), "{no}");
        }
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("Auth.Example.Test:8443"), "auth.example.test");
        assert_eq!(host_name("auth.example.test"), "auth.example.test");
    }
}
