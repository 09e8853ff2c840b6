//! What the types cannot say: ranges, combinations of settings, files that must exist, and the
//! LDAP backend's own checks. [`Settings::problems`] lists every problem; `latchkey config check`
//! prints them all, and the server refuses to start with any.
//!
//! Values that cannot be read at all (an unknown `auth.backends` name, a bad duration, a rule
//! with a zero window) are refused earlier, when the settings are loaded (`load.rs`), and listed
//! there together with these.

use auth_core::BackendKind;
use auth_ratelimit::Rules;

use super::{ConfigError, Settings};

impl Settings {
    /// Every problem with the settings, or nothing. Each names its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let host = &self.server.external_host;
        if host.is_empty() || host.contains('/') || host.contains("://") || host.contains(' ') {
            p.push(format!(
                "server.external_host = {host:?} must be a host name with an optional port, such as latchkey.example.org"
            ));
        }
        if self.server.max_body_bytes < 1024 {
            p.push("server.max_body_bytes must be at least 1024".into());
        }
        if self.database.url_file.is_none() && self.database.url.0.is_empty() {
            p.push("database.url is empty".into());
        }
        let url = self.database.url.0.expose();
        if self.database.url_file.is_none()
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            p.push("database.url must start with sqlite:// or postgres://".into());
        }
        if self.database.max_connections == 0 {
            p.push("database.max_connections must be at least 1".into());
        }
        self.backend_problems(&mut p);
        self.web.problems(&mut p);
        self.portal.problems(self.secure_cookies(), &mut p);
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            p.push(format!(
                "auth.bcrypt_cost = {} must be between 4 and 31 (12 is a good default)",
                self.auth.bcrypt_cost
            ));
        }
        if self.auth.hash_threads > 256 {
            p.push(format!(
                "auth.hash_threads = {} is more than 256 (0 means one per CPU)",
                self.auth.hash_threads
            ));
        }
        if !(0..=19).contains(&self.auth.hash_nice) {
            p.push(format!(
                "auth.hash_nice = {} must be between 0 and 19",
                self.auth.hash_nice
            ));
        }
        let pp = &self.auth.password_policy;
        if pp.min_length == 0 || pp.min_length > pp.max_length {
            p.push("auth.password_policy: need 1 <= min_length <= max_length".into());
        }
        let url = self.redis.url.expose();
        let redis_ok = url.is_empty()
            || ["redis://", "rediss://", "unix://"]
                .iter()
                .any(|scheme| url.starts_with(scheme));
        if !redis_ok {
            p.push("redis.url must start with redis://, rediss:// or unix://".into());
        }
        // Loaded rules are checked already; these catch rules built in code.
        let r = &self.rate_limits;
        for (name, rules) in [
            ("authenticate_by_username", &r.authenticate_by_username),
            ("api_by_user", &r.api_by_user),
            ("api_by_ip", &r.api_by_ip),
            ("password_reset_by_email", &r.password_reset_by_email),
            ("password_reset_by_ip", &r.password_reset_by_ip),
        ] {
            if let Err(e) = Rules::new(rules.as_slice().iter().copied()) {
                p.push(format!("rate_limits.{name}: {e}"));
            }
        }
        if self.cache.poll_interval_ms.is_zero() {
            p.push("cache.poll_interval_ms must be positive".into());
        }
        if self.cache.ttl_secs.is_zero() {
            p.push("cache.ttl_secs must be positive".into());
        }
        if self.cache.ttl_jitter_percent > 50 {
            p.push("cache.ttl_jitter_percent must be at most 50".into());
        }
        self.mail.problems(&mut p);
        self.reset.problems(&mut p);
        if tracing_subscriber::EnvFilter::try_new(&self.logging.filter).is_err() {
            p.push(format!(
                "logging.filter = {:?} is not a valid filter",
                self.logging.filter
            ));
        }
        if self.secrets.server_secret.is_empty()
            && !self.secrets.server_secret_file.exists()
            && !self.secrets.generate_if_missing
        {
            p.push(format!(
                "no server secret: set secrets.server_secret, create {}, or set secrets.generate_if_missing = true",
                self.secrets.server_secret_file.display()
            ));
        }
        if !self.secrets.server_secret.is_empty()
            && self.secrets.server_secret.expose().trim().len()
                < auth_core::api_key::MIN_SERVER_SECRET_LEN
        {
            p.push("secrets.server_secret must be at least 32 characters".into());
        }
        p
    }

    /// `auth.backends`: at least one, each once, `dev` only on development servers, and the
    /// LDAP backend's own problems when it is listed.
    fn backend_problems(&self, p: &mut Vec<String>) {
        if self.auth.backends.is_empty() {
            p.push("auth.backends must name at least one backend (email, ldap, dev)".into());
        }
        let mut seen = Vec::new();
        for &kind in &self.auth.backends {
            if kind == BackendKind::Dev && !self.development.enabled {
                p.push(
                    "auth.backends: the dev backend logs anyone in without a password and needs development.enabled = true".into(),
                );
                continue;
            }
            if seen.contains(&kind) {
                p.push(format!("auth.backends: {:?} is listed twice", kind.name()));
            }
            seen.push(kind);
            // Without servers there is no server-wide directory (realms may have their own).
            if kind == BackendKind::Ldap && !self.ldap.uris.is_empty() {
                match self.ldap_config() {
                    Ok(cfg) => p.extend(cfg.problems()),
                    Err(e) => p.push(e.to_string()),
                }
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use auth_ratelimit::Rule;

    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Settings::default().problems(), Vec::<String>::new());
    }

    #[test]
    fn invalid_settings_are_explained() {
        let mut s = Settings::default();
        s.auth.backends = vec![BackendKind::Email, BackendKind::Dev, BackendKind::Email];
        s.auth.bcrypt_cost = 40;
        s.server.external_host = "https://x".into();
        s.cache.ttl_secs = Duration::ZERO;
        s.cache.ttl_jitter_percent = 51;
        s.rate_limits.api_by_ip = Rules(vec![Rule {
            window: Duration::from_secs(60),
            max: 0,
        }]);
        let problems = s.problems().join("\n");
        assert!(problems.contains("development.enabled"), "{problems}");
        assert!(problems.contains("\"email\" is listed twice"), "{problems}");
        assert!(problems.contains("bcrypt_cost"), "{problems}");
        assert!(problems.contains("server.external_host"), "{problems}");
        assert!(
            problems.contains("cache.ttl_secs must be positive"),
            "{problems}"
        );
        assert!(
            problems.contains("cache.ttl_jitter_percent must be at most 50"),
            "{problems}"
        );
        assert!(
            problems.contains("rate_limits.api_by_ip: rate-limit rule maximum must be at least 1"),
            "{problems}"
        );
    }

    #[test]
    fn ldap_problems_count_when_ldap_is_listed_with_servers() {
        let mut s = Settings::default();
        s.auth.backends = vec![BackendKind::Ldap];
        // No servers: no server-wide directory, realms bring their own.
        assert_eq!(s.problems(), Vec::<String>::new());
        assert!(!s.ldap_default_configured());
        s.ldap.uris = vec![url::Url::parse("ldap://127.0.0.1:389").unwrap()];
        let problems = s.problems().join("\n");
        assert!(problems.contains("user_search_base"), "{problems}");
        assert!(s.ldap_default_configured());
    }
}
