//! `[portal]` and `[[portal.cookie]]`: the login portal for other web apps behind a
//! forward-auth proxy (docs/web.md "The login portal", web.md §6.5 and decisions 5–7, 15).
//!
//! ```toml
//! [portal]
//! expiration = "12h"    # a session without "Keep me logged in" ends after this …
//! inactivity = "1h"     # … or after this long without a verified request
//! remember_me = "14d"   # "Keep me logged in": a persistent cookie of this age
//!
//! [[portal.cookie]]
//! domain = "example.org"                  # the cookie's Domain: every host under it
//! portal_url = "https://auth.example.org" # where people log in (its host is under domain)
//! realm = "zulip"                         # whose people may log in (realm subdomain)
//! default_redirect = "https://app.example.org/"   # optional
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalSettings {
    /// Absolute lifetime of a portal session without "Keep me logged in".
    #[serde(with = "values::secs")]
    pub expiration: Duration,
    /// A portal session without "Keep me logged in" ends after this long without a verified
    /// request.
    #[serde(with = "values::secs")]
    pub inactivity: Duration,
    /// Lifetime of a "Keep me logged in" portal session and its cookie.
    #[serde(with = "values::secs")]
    pub remember_me: Duration,
    /// The cookie domains, each with its portal and realm.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookie: Vec<PortalCookieSettings>,
}

/// One `[[portal.cookie]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalCookieSettings {
    /// The parent domain the portal cookie is set for (`example.org`).
    pub domain: String,
    /// The portal's address (`https://auth.example.org`): its host must be `domain` or under it.
    pub portal_url: String,
    /// The subdomain of the realm whose people log in at this portal (`""`: the root realm).
    pub realm: String,
    /// Where a login goes when its `rd` is missing or unsafe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_redirect: Option<String>,
}

impl Default for PortalSettings {
    fn default() -> Self {
        let d = auth_service::PortalSettings::default();
        PortalSettings {
            expiration: d.expiration,
            inactivity: d.inactivity,
            remember_me: d.remember_me,
            cookie: Vec::new(),
        }
    }
}

/// A checked portal URL: its origin (no trailing slash), its host with the port, its host
/// name, and whether it is plain HTTP.
struct PortalUrl {
    origin: String,
    host: String,
    name: String,
    http: bool,
}

fn parse_portal_url(raw: &str) -> Result<PortalUrl, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    let http = match url.scheme() {
        "https" => false,
        "http" => true,
        _ => return Err("must start with https://".into()),
    };
    let name = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        _ => return Err("must name a host (not an IP address)".into()),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only, such as https://auth.example.org (the portal's pages are at its root)".into());
    }
    let host = match url.port() {
        Some(p) => format!("{name}:{p}"),
        None => name.clone(),
    };
    Ok(PortalUrl {
        origin: url.origin().ascii_serialization(),
        host,
        name,
        http,
    })
}

/// Whether `name` is `domain` or a host under it.
fn under(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
}

fn domain_problem(domain: &str) -> Option<&'static str> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.is_empty() {
        Some("is empty")
    } else if !domain.contains('.') {
        Some("must contain a dot (a parent domain such as example.org)")
    } else if domain == "localhost" || domain.ends_with(".localhost") {
        Some("must not be localhost")
    } else if domain.len() > 253 || !domain.split('.').all(label_ok) {
        Some(
            "must be a domain name such as example.org (no scheme, port, dot in front or wildcard)",
        )
    } else if domain
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("must be a domain name, not an IP address")
    } else {
        None
    }
}

impl PortalSettings {
    /// Every problem with `[portal]`, each naming its key. `secure` says whether cookies are
    /// `Secure` (plain-HTTP portals are allowed only without).
    pub fn problems(&self, secure: bool, p: &mut Vec<String>) {
        let second = Duration::from_secs(1);
        for (key, value) in [
            ("portal.expiration", self.expiration),
            ("portal.inactivity", self.inactivity),
            ("portal.remember_me", self.remember_me),
        ] {
            if value < second {
                p.push(format!("{key} must be at least one second"));
            }
            if value > Duration::from_secs(366 * 24 * 3600) {
                p.push(format!("{key} must be at most a year"));
            }
        }
        if self.inactivity > self.expiration {
            p.push("portal.inactivity must not exceed portal.expiration".into());
        }
        let mut domains: Vec<String> = Vec::new();
        let mut hosts: Vec<String> = Vec::new();
        for (i, c) in self.cookie.iter().enumerate() {
            let key = format!("portal.cookie[{i}]");
            let domain = c.domain.trim().to_ascii_lowercase();
            if let Some(why) = domain_problem(&domain) {
                p.push(format!("{key}.domain = {:?} {why}", c.domain));
            } else if domains.contains(&domain) {
                p.push(format!("{key}.domain = {:?} is configured twice", c.domain));
            }
            domains.push(domain.clone());
            match parse_portal_url(&c.portal_url) {
                Err(why) => p.push(format!("{key}.portal_url = {:?} {why}", c.portal_url)),
                Ok(u) => {
                    if u.http && secure {
                        p.push(format!(
                            "{key}.portal_url = {:?} must start with https:// (plain http only with web.secure_cookies = false, for development)",
                            c.portal_url
                        ));
                    }
                    if !under(&u.name, &domain) {
                        p.push(format!(
                            "{key}.portal_url = {:?}: its host must be {domain:?} or under it",
                            c.portal_url
                        ));
                    }
                    if hosts.contains(&u.name) {
                        p.push(format!(
                            "{key}.portal_url = {:?}: another portal has that host",
                            c.portal_url
                        ));
                    }
                    hosts.push(u.name);
                }
            }
            let realm_ok = c.realm.is_empty()
                || c.realm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !realm_ok {
                p.push(format!(
                    "{key}.realm = {:?} must be a realm's subdomain (lower-case letters, digits and dashes; \"\" for the root realm)",
                    c.realm
                ));
            }
            if let Some(target) = &c.default_redirect {
                let http_ok = !secure;
                let ok = url::Url::parse(target.trim()).is_ok_and(|u| {
                    (u.scheme() == "https" || (http_ok && u.scheme() == "http"))
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.host_str()
                            .is_some_and(|h| under(&h.to_ascii_lowercase(), &domain))
                });
                if !ok {
                    p.push(format!(
                        "{key}.default_redirect = {target:?} must be an https URL on {domain:?} or a host under it"
                    ));
                }
            }
        }
    }

    /// Whether a cookie entry's portal is plain HTTP (warned about at start).
    pub fn plain_http_portals(&self) -> Vec<String> {
        self.cookie
            .iter()
            .filter(|c| parse_portal_url(&c.portal_url).is_ok_and(|u| u.http))
            .map(|c| c.portal_url.clone())
            .collect()
    }

    /// What the service is given (for valid settings; an entry that does not parse is left
    /// out, which validation has already refused).
    pub fn to_service(&self) -> auth_service::PortalSettings {
        let cookies = self
            .cookie
            .iter()
            .filter_map(|c| {
                let u = parse_portal_url(&c.portal_url).ok()?;
                Some(auth_service::PortalCookie {
                    domain: c.domain.trim().to_ascii_lowercase(),
                    portal_url: u.origin,
                    portal_host: u.host,
                    realm: c.realm.clone(),
                    default_redirect: c
                        .default_redirect
                        .as_ref()
                        .map(|d| d.trim().to_owned())
                        .filter(|d| !d.is_empty()),
                    allow_http: u.http,
                })
            })
            .collect();
        auth_service::PortalSettings {
            cookies,
            expiration: self.expiration,
            inactivity: self.inactivity,
            remember_me: self.remember_me,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(domain: &str, portal_url: &str) -> PortalCookieSettings {
        PortalCookieSettings {
            domain: domain.into(),
            portal_url: portal_url.into(),
            realm: "zulip".into(),
            default_redirect: None,
        }
    }

    fn problems(s: &PortalSettings, secure: bool) -> String {
        let mut p = Vec::new();
        s.problems(secure, &mut p);
        p.join("\n")
    }

    #[test]
    fn a_good_portal_has_no_problems_and_reaches_the_service() {
        let s: PortalSettings = toml::from_str(
            "inactivity = \"5m\"\n[[cookie]]\ndomain = \"Example.org\"\nportal_url = \"https://auth.example.org:8443\"\nrealm = \"zulip\"\ndefault_redirect = \"https://app.example.org/\"\n",
        )
        .unwrap();
        assert_eq!(problems(&s, true), "");
        let svc = s.to_service();
        assert_eq!(svc.inactivity, Duration::from_secs(300));
        let c = &svc.cookies[0];
        assert_eq!(c.domain, "example.org");
        assert_eq!(c.portal_url, "https://auth.example.org:8443");
        assert_eq!(c.portal_host, "auth.example.org:8443");
        assert!(!c.allow_http);
        assert!(toml::from_str::<PortalSettings>("[[cookie]]\ndomian = \"x\"\n").is_err());
    }

    #[test]
    fn bad_entries_are_named() {
        let mut s = PortalSettings {
            cookie: vec![
                entry("localhost", "https://auth.localhost"),
                entry("org", "https://auth.org"),
                entry("example.org", "https://auth.other.org"),
                entry("example.org", "http://auth.example.org"),
                entry(".example.net", "https://example.net/login"),
                entry("example.com", "ftp://auth.example.com"),
            ],
            ..PortalSettings::default()
        };
        s.cookie[0].default_redirect = Some("https://evil.test/".into());
        s.cookie[1].realm = "Not A Realm".into();
        let all = problems(&s, true);
        for needle in [
            "portal.cookie[0].domain = \"localhost\" must contain a dot",
            "portal.cookie[0].default_redirect",
            "portal.cookie[1].domain = \"org\" must contain a dot",
            "portal.cookie[1].realm",
            "portal.cookie[2].portal_url = \"https://auth.other.org\": its host must be \"example.org\"",
            "portal.cookie[3].domain = \"example.org\" is configured twice",
            "portal.cookie[3].portal_url = \"http://auth.example.org\" must start with https://",
            "portal.cookie[4].domain = \".example.net\" must be a domain name",
            "portal.cookie[4].portal_url = \"https://example.net/login\" must be an origin only",
            "portal.cookie[5].portal_url = \"ftp://auth.example.com\" must start with https://",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        // Plain HTTP is for development, without Secure cookies.
        let dev = PortalSettings {
            cookie: vec![entry("example.test", "http://auth.example.test:9991")],
            ..PortalSettings::default()
        };
        assert_eq!(problems(&dev, false), "");
        assert_eq!(dev.plain_http_portals().len(), 1);
        assert!(dev.to_service().cookies[0].allow_http);
        let short = PortalSettings {
            inactivity: Duration::from_secs(7200),
            expiration: Duration::from_secs(3600),
            ..PortalSettings::default()
        };
        assert!(problems(&short, true).contains("portal.inactivity must not exceed"));
    }
}
