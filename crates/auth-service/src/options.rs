//! What the application is built from: plain typed values, not a configuration file. The binary
//! reads `latchkey.toml` and the environment, checks them and hands over these; tests build them
//! directly.

use std::net::IpAddr;
use std::time::Duration;

use auth_core::{BackendKind, PasswordPolicy, SecretBytes, SecretString};
use auth_ratelimit::Rules;

use crate::host::Hosts;
use crate::keys::CacheSettings;

/// Everything [`crate::App::open`] needs.
pub struct Options {
    pub database: DatabaseOptions,
    /// The server secret's bytes (already read from its file or the configuration).
    pub server_secret: SecretBytes,
    pub hosts: Hosts,
    /// Reverse proxies whose `X-Forwarded-For` (and, with `trust_forwarded_host`,
    /// `X-Forwarded-Host`) is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub trust_forwarded_host: bool,
    pub cache: CacheSettings,
    /// How often the invalidation log is read besides PostgreSQL's notifications.
    pub poll_interval: Duration,
    pub limits: LimitOptions,
    /// The configured backends, in order.
    pub backends: Vec<BackendKind>,
    /// A development server (the `dev` backend and endpoints may be used).
    pub development: bool,
    pub bcrypt_cost: u32,
    /// The threads password hashes run on.
    pub hash_pool: auth_email::PoolOptions,
    pub password_policy: PasswordPolicy,
    /// The server-wide directory (`[ldap]`), when configured.
    pub ldap: Option<auth_ldap::LdapConfig>,
    /// Subdomains that mean the root realm (`org_membership` in the realms' own directories).
    pub ldap_root_aliases: Vec<String>,
    /// How mail leaves (SMTP or files) and who it is from.
    pub mail: crate::mail::MailOptions,
    pub reset: ResetOptions,
    /// Web session lifetimes.
    pub sessions: crate::sessions::SessionSettings,
    /// The login portal's cookie domains and session lifetimes.
    pub portal: crate::portal::PortalSettings,
}

/// The database connection.
pub struct DatabaseOptions {
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// Apply pending migrations at start.
    pub auto_migrate: bool,
}

/// Zulip's rate limits, and where their counters live.
#[derive(Debug, Clone, Default)]
pub struct LimitOptions {
    /// Request limits (`api_by_user`, `api_by_ip`) at all.
    pub enabled: bool,
    /// The failed-login limit (`authenticate_by_username`, and by resolved identity).
    pub authenticate_enabled: bool,
    pub by_username: Rules,
    pub by_user: Rules,
    pub by_ip: Rules,
    /// Password-reset requests per address and per client IP (counted by the reset worker).
    pub reset_by_email: Rules,
    pub reset_by_ip: Rules,
    /// Redis, shared by every instance; `None` keeps counters in memory.
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    pub redis_timeout: Duration,
}

/// How resets behave.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// How long a link works.
    pub token_lifetime: Duration,
    /// Mail a notice to addresses without a resettable account (Zulip's behaviour).
    pub notify_unknown: bool,
    /// Requests waiting for the worker; past this they are dropped.
    pub queue_capacity: usize,
}

impl Default for ResetOptions {
    fn default() -> Self {
        ResetOptions {
            token_lifetime: Duration::from_secs(3600),
            notify_unknown: false,
            queue_capacity: 1000,
        }
    }
}
