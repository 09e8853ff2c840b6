//! The sections of the configuration other than `[ldap]` (see `ldap.rs`), each with its
//! defaults: `[server]`, `[database]`, `[secrets]`, `[auth]`, `[development]`, `[zulip]`,
//! `[logging]`, `[cache]`, `[redis]` and `[rate_limits]`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use auth_core::{BackendKind, PasswordPolicy, SecretString};
use auth_ratelimit::{Rule, Rules};
use serde::{Deserialize, Serialize};

use super::secrets::{DatabaseUrl, Secret};
use super::values::{self, ExternalScheme, LogFormat};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on: an IP address and a port.
    #[serde(deserialize_with = "values::socket_addr")]
    pub bind: SocketAddr,
    /// Zulip's `EXTERNAL_HOST`: realms live at `<subdomain>.<external_host>`, the root realm at
    /// `<external_host>` itself. May include a port.
    pub external_host: String,
    /// `http` or `https`, for the realm URLs Latchkey reports.
    pub external_scheme: ExternalScheme,
    /// Subdomains that mean the root domain (Zulip's `ROOT_SUBDOMAIN_ALIASES`).
    pub root_subdomain_aliases: Vec<String>,
    /// Realms served on their own host names (Zulip's `REALM_HOSTS`): subdomain → host.
    pub realm_hosts: BTreeMap<String, String>,
    /// Zulip's `ROOT_DOMAIN_LANDING_PAGE`: no realm at the root domain.
    pub root_domain_landing_page: bool,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed (for per-IP limits).
    #[serde(deserialize_with = "values::ip_list")]
    pub trusted_proxies: Vec<IpAddr>,
    /// Take the realm from `X-Forwarded-Host` (its last value) on requests from a trusted
    /// proxy, for proxies that call forward-auth with their own `Host` (Traefik). Only for
    /// proxies that overwrite that header: otherwise a client could name another realm.
    pub trust_forwarded_host: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (the default) or `postgres://user@host/db`.
    pub url: DatabaseUrl,
    /// Read the URL from this file instead (for URLs carrying a password).
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
    /// Seconds, or a duration such as `"5s"`.
    #[serde(with = "values::secs")]
    pub connect_timeout_secs: Duration,
    /// Apply pending migrations when the server starts.
    pub auto_migrate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretSettings {
    /// The server secret inline (at least 32 bytes). Prefer `server_secret_file`.
    pub server_secret: Secret,
    /// File holding the server secret.
    pub server_secret_file: PathBuf,
    /// Create the secret file (mode 0600) when it does not exist.
    pub generate_if_missing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Password backends in the order they are tried (`email`, `ldap`), plus `dev` for
    /// development servers.
    #[serde(with = "values::backend_list")]
    pub backends: Vec<BackendKind>,
    /// bcrypt cost for new hashes; existing hashes are upgraded on the next successful login.
    pub bcrypt_cost: u32,
    /// Threads that hash passwords (at most this many hashes at once); 0 means one per CPU.
    pub hash_threads: usize,
    /// The hash threads take Linux's `SCHED_IDLE` policy: they use only CPU time no other
    /// thread wants, so a flood of logins does not slow down API-key checks.
    pub hash_idle: bool,
    /// Without `hash_idle` (or where it cannot be set): added to the hash threads' nice value
    /// (0 to 19); 0 runs them at the priority of the request threads.
    pub hash_nice: i32,
    pub password_policy: PasswordPolicySettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicySettings {
    pub min_length: usize,
    pub max_length: usize,
    /// Minimum zxcvbn guess estimate; 0 turns the guessability check off.
    pub min_guesses: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct DevelopmentSettings {
    /// A development server: `dev_fetch_api_key` and `dev_list_users` answer (with the `dev`
    /// backend configured). Never on in production.
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZulipSettings {
    /// Reported as `zulip_version` in server_settings.
    pub version: String,
    pub merge_base: String,
    pub feature_level: u32,
    pub push_notifications_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` overrides it.
    pub filter: String,
}

/// `[cache]`: the API-key owner cache on the Basic-auth hot path. Durations are numbers in the
/// key's unit or texts such as `"30s"`. Revocations reach the cache through the invalidation log
/// (within about a second); the TTL is only the safety net behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Resolved keys kept in memory per instance (about 0.5 KB each; see docs/deploy.md).
    pub capacity: u64,
    /// Safety net: a cached owner is re-read at least this often. Keys in use are re-read in
    /// the background before then, so they never expire; this is also how long a cached key
    /// keeps working while the database is down.
    #[serde(with = "values::secs")]
    pub ttl_secs: Duration,
    /// Each cached owner's life is `ttl_secs` shortened by a random 0 to this many percent
    /// (at most 50), so that owners read together do not expire together.
    pub ttl_jitter_percent: u32,
    /// How long an unknown key is remembered as unknown.
    #[serde(with = "values::secs")]
    pub negative_ttl_secs: Duration,
    /// How often each instance reads the invalidation log (PostgreSQL also wakes it at once).
    #[serde(with = "values::millis")]
    pub poll_interval_ms: Duration,
}

/// `[redis]`: shared state between instances (rate-limit counters).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`; empty: no Redis (limits are per instance).
    pub url: Secret,
    /// Prefix of every key Latchkey writes.
    pub key_prefix: String,
    /// Per-call timeout; past it the instance falls back to local limits.
    #[serde(with = "values::millis")]
    pub timeout_ms: Duration,
}

/// `[rate_limits]`: Zulip's rules, each a list of `[window_seconds, max_requests]`, or texts
/// such as `"60:5,3600:50"` (see `auth_ratelimit::Rules`; checked when read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Zulip's `RATE_LIMITING`: the per-user and per-IP API limits.
    pub enabled: bool,
    /// Zulip's `RATE_LIMITING_AUTHENTICATE`: the login limit by username.
    pub authenticate_enabled: bool,
    /// Failed logins per username (only real credential failures count; success clears).
    pub authenticate_by_username: Rules,
    /// Requests per authenticated user.
    pub api_by_user: Rules,
    /// Unauthenticated requests (logins, failed Basic authentications) per client IP.
    pub api_by_ip: Rules,
    /// Password-reset requests per address (Zulip's `password_reset_form_by_email`).
    pub password_reset_by_email: Rules,
    /// Password-reset requests per client IP (Zulip's `sends_email_by_ip`).
    pub password_reset_by_ip: Rules,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 9991)),
            external_host: "localhost:9991".into(),
            external_scheme: ExternalScheme::Http,
            root_subdomain_aliases: vec!["www".into()],
            realm_hosts: BTreeMap::new(),
            root_domain_landing_page: false,
            workers: 0,
            max_body_bytes: 64 * 1024,
            trusted_proxies: Vec::new(),
            trust_forwarded_host: false,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: DatabaseUrl(SecretString::new("sqlite://data/latchkey.sqlite3")),
            url_file: None,
            max_connections: 10,
            connect_timeout_secs: Duration::from_secs(5),
            auto_migrate: true,
        }
    }
}

impl Default for SecretSettings {
    fn default() -> Self {
        SecretSettings {
            server_secret: Secret::default(),
            server_secret_file: PathBuf::from("data/secret.key"),
            generate_if_missing: true,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            backends: vec![BackendKind::Email],
            bcrypt_cost: 12,
            hash_threads: 0,
            hash_idle: true,
            hash_nice: auth_email::PoolOptions::DEFAULT_NICE,
            password_policy: PasswordPolicySettings::default(),
        }
    }
}

impl Default for PasswordPolicySettings {
    fn default() -> Self {
        let p = PasswordPolicy::default();
        PasswordPolicySettings {
            min_length: p.min_length,
            max_length: p.max_length,
            min_guesses: p.min_guesses,
        }
    }
}

impl Default for ZulipSettings {
    fn default() -> Self {
        ZulipSettings {
            version: format!("latchkey-{}", env!("CARGO_PKG_VERSION")),
            merge_base: format!("latchkey-{}", env!("CARGO_PKG_VERSION")),
            feature_level: 463,
            push_notifications_enabled: false,
        }
    }
}

impl Default for LoggingSettings {
    fn default() -> Self {
        LoggingSettings {
            format: LogFormat::Human,
            filter: "info".into(),
        }
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            ttl_secs: Duration::from_secs(300),
            ttl_jitter_percent: 20,
            negative_ttl_secs: Duration::from_secs(5),
            poll_interval_ms: Duration::from_millis(500),
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: Secret::default(),
            key_prefix: "latchkey:".into(),
            timeout_ms: Duration::from_millis(250),
        }
    }
}

/// One built-in rule (Zulip's defaults); `problems()` checks them like configured ones.
fn default_rules(secs: u64, max: u32) -> Rules {
    Rules(vec![Rule {
        window: Duration::from_secs(secs),
        max,
    }])
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            authenticate_enabled: true,
            authenticate_by_username: default_rules(1800, 5),
            api_by_user: default_rules(60, 200),
            api_by_ip: default_rules(60, 100),
            password_reset_by_email: Rules(vec![
                Rule {
                    window: Duration::from_secs(3600),
                    max: 2,
                },
                Rule {
                    window: Duration::from_secs(86400),
                    max: 5,
                },
            ]),
            password_reset_by_ip: default_rules(86400, 5),
        }
    }
}
