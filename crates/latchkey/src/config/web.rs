//! `[web]`: the pages' sessions and cookies (docs/web.md). Lifetimes follow web.md decision 5:
//! a browser-session cookie whose session ends after `session_lifetime_secs` or
//! `session_inactivity_secs` without a request, or, with "Keep me logged in", a persistent
//! cookie of `persistent_lifetime_secs`. Cookies are `Secure` (and `__Host-` prefixed) unless
//! `secure_cookies = false`; the default follows `server.external_scheme`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// Absolute lifetime of a session without "Keep me logged in".
    #[serde(with = "values::secs")]
    pub session_lifetime_secs: Duration,
    /// A session without "Keep me logged in" ends after this long without a request.
    #[serde(with = "values::secs")]
    pub session_inactivity_secs: Duration,
    /// Lifetime of a "Keep me logged in" session and its cookie.
    #[serde(with = "values::secs")]
    pub persistent_lifetime_secs: Duration,
    /// How long a password re-entry lets a session show keys.
    #[serde(with = "values::secs")]
    pub elevation_secs: Duration,
    /// `Secure` cookies with the `__Host-` prefix; unset: on when `server.external_scheme` is
    /// `https`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_cookies: Option<bool>,
}

impl Default for WebSettings {
    fn default() -> Self {
        let d = auth_service::SessionSettings::default();
        WebSettings {
            session_lifetime_secs: d.lifetime,
            session_inactivity_secs: d.inactivity,
            persistent_lifetime_secs: d.persistent_lifetime,
            elevation_secs: d.elevation,
            secure_cookies: None,
        }
    }
}

impl WebSettings {
    /// What the service is given.
    pub fn sessions(&self) -> auth_service::SessionSettings {
        auth_service::SessionSettings {
            lifetime: self.session_lifetime_secs,
            inactivity: self.session_inactivity_secs,
            persistent_lifetime: self.persistent_lifetime_secs,
            elevation: self.elevation_secs,
        }
    }

    /// Problems, each naming its key.
    pub fn problems(&self, p: &mut Vec<String>) {
        let second = Duration::from_secs(1);
        for (key, value) in [
            ("web.session_lifetime_secs", self.session_lifetime_secs),
            ("web.session_inactivity_secs", self.session_inactivity_secs),
            (
                "web.persistent_lifetime_secs",
                self.persistent_lifetime_secs,
            ),
            ("web.elevation_secs", self.elevation_secs),
        ] {
            if value < second {
                p.push(format!("{key} must be at least one second"));
            }
            if value > Duration::from_secs(366 * 24 * 3600) {
                p.push(format!("{key} must be at most a year"));
            }
        }
        if self.session_inactivity_secs > self.session_lifetime_secs {
            p.push("web.session_inactivity_secs must not exceed web.session_lifetime_secs".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_decision_5_and_bad_values_are_named() {
        let w = WebSettings::default();
        let mut p = Vec::new();
        w.problems(&mut p);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(w.session_lifetime_secs, Duration::from_secs(12 * 3600));
        assert_eq!(w.session_inactivity_secs, Duration::from_secs(3600));
        assert_eq!(w.persistent_lifetime_secs, Duration::from_secs(14 * 86400));
        let bad = WebSettings {
            session_lifetime_secs: Duration::from_secs(60),
            session_inactivity_secs: Duration::from_secs(120),
            persistent_lifetime_secs: Duration::ZERO,
            ..WebSettings::default()
        };
        let mut p = Vec::new();
        bad.problems(&mut p);
        let all = p.join("\n");
        assert!(
            all.contains("web.persistent_lifetime_secs must be at least"),
            "{all}"
        );
        assert!(
            all.contains("must not exceed web.session_lifetime_secs"),
            "{all}"
        );
    }

    #[test]
    fn read_from_toml_with_durations() {
        let w: WebSettings = toml::from_str(
            "session_lifetime_secs = \"8h\"\nsession_inactivity_secs = 900\nsecure_cookies = false\n",
        )
        .unwrap();
        assert_eq!(w.session_lifetime_secs, Duration::from_secs(8 * 3600));
        assert_eq!(w.session_inactivity_secs, Duration::from_secs(900));
        assert_eq!(w.secure_cookies, Some(false));
        assert!(toml::from_str::<WebSettings>("session_lifetme_secs = 1\n").is_err());
    }
}
