//! Configuration: built-in defaults, then one TOML file, then `LATCHKEY__SECTION__KEY` environment
//! variables (`load.rs`), read into typed settings: addresses, URLs, durations, rate-limit rules
//! and mode names are checked as they are read, and `validation.rs` checks the rest. Secrets can
//! be given inline or read from files (`*_file` settings); they are held in [`Secret`], which
//! prints as `********` (`secrets.rs`).
//!
//! * `sections.rs`: every section but `[ldap]`, with its defaults.
//! * `ldap.rs`: `[ldap]` and its conversion to `auth_ldap::LdapConfig`.
//! * `mail.rs`: `[mail]` (SMTP or `.eml` files) and `[reset]` (password reset).
//! * `values.rs`: the typed values and how each is read.
//! * `web.rs`: `[web]`, the pages' sessions and cookies.
//! * `portal.rs`: `[portal]` and `[[portal.cookie]]`, the login portal for other apps.

mod ldap;
mod load;
mod mail;
mod portal;
mod secrets;
mod sections;
mod validation;
mod values;
mod web;

use auth_core::{BackendKind, PasswordPolicy, SecretString};
use serde::{Deserialize, Serialize};

pub use ldap::{LdapAttributeSettings, LdapSettings, LdapSyncSettings};
pub use mail::{MailSecurity, MailSettings, MailTransport, ResetSettings};
pub use portal::{PortalCookieSettings, PortalSettings};
pub use secrets::{DatabaseUrl, Secret, mask_url_password, read_secret_file};
pub use sections::{
    AuthSettings, CacheSettings, DatabaseSettings, DevelopmentSettings, LoggingSettings,
    PasswordPolicySettings, RateLimitSettings, RedisSettings, SecretSettings, ServerSettings,
    ZulipSettings,
};
pub use values::{ExternalScheme, LogFormat};
pub use web::WebSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub secrets: SecretSettings,
    pub auth: AuthSettings,
    pub development: DevelopmentSettings,
    pub zulip: ZulipSettings,
    pub logging: LoggingSettings,
    pub ldap: LdapSettings,
    pub cache: CacheSettings,
    pub redis: RedisSettings,
    pub rate_limits: RateLimitSettings,
    pub mail: MailSettings,
    pub reset: ResetSettings,
    pub web: WebSettings,
    pub portal: PortalSettings,
}

/// A configuration that cannot be loaded or is not valid. The message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration: {0}")]
    Load(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
    #[error("cannot read {what} from {path}: {error}")]
    SecretFile {
        what: &'static str,
        path: String,
        error: String,
    },
}

/// Environment prefix: `LATCHKEY__SERVER__BIND=…` sets `server.bind`.
pub const ENV_PREFIX: &str = "LATCHKEY";

impl Settings {
    /// The database URL, from `database.url_file` when set.
    pub fn database_url(&self) -> Result<SecretString, ConfigError> {
        match &self.database.url_file {
            Some(path) => read_secret_file(path, "the database URL"),
            None => Ok(self.database.url.0.clone()),
        }
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        let p = &self.auth.password_policy;
        PasswordPolicy {
            min_length: p.min_length,
            max_length: p.max_length,
            min_guesses: p.min_guesses,
        }
    }

    /// The password hash threads: `auth.hash_threads` (0: one per CPU) with the idle policy
    /// (`auth.hash_idle`) or the nice value `auth.hash_nice`.
    pub fn hash_pool(&self) -> auth_email::PoolOptions {
        let mut pool = auth_email::PoolOptions::for_this_machine();
        if self.auth.hash_threads > 0 {
            pool.threads = self.auth.hash_threads;
        }
        pool.idle = self.auth.hash_idle;
        pool.nice = self.auth.hash_nice;
        pool
    }

    /// Whether `auth.backends` lists the LDAP backend.
    pub fn ldap_enabled(&self) -> bool {
        self.auth.backends.contains(&BackendKind::Ldap)
    }

    /// Whether there is a server-wide directory: `auth.backends` lists `ldap` and `[ldap]`
    /// names servers. Without one, only realms with their own directory settings (`latchkey
    /// ldap config set`, the Directory page) use LDAP.
    pub fn ldap_default_configured(&self) -> bool {
        self.ldap_enabled() && !self.ldap.uris.is_empty()
    }

    /// The configured backends, in order.
    pub fn backend_kinds(&self) -> Vec<BackendKind> {
        self.auth.backends.clone()
    }

    /// Whether the pages' cookies are `Secure` (with the `__Host-`/`__Secure-` prefixes):
    /// `web.secure_cookies`, by default on when the external scheme is `https`.
    pub fn secure_cookies(&self) -> bool {
        self.web
            .secure_cookies
            .unwrap_or(matches!(self.server.external_scheme, ExternalScheme::Https))
    }

    /// The settings as TOML, secrets masked: what `latchkey config check` prints.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}
