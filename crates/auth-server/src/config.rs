//! Over 600 lines for now: issue 9 turns this module into `config/` (typed settings, LDAP,
//! validation, secrets) in the new binary crate; splitting it here first would be redone there.
//!
//! Configuration: built-in defaults, then one TOML file, then `LATCHKEY__SECTION__KEY` environment
//! variables. Secrets can be given inline or read from files (`*_file` settings); they are held in
//! [`Secret`], which prints as `********`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use auth_core::{BackendKind, PasswordPolicy, SecretString};
use auth_ratelimit::{Rule, Rules};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret setting: deserialised from a string, serialised masked.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_empty() { "" } else { "********" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(SecretString::new(String::deserialize(d)?)))
    }
}

/// A database URL: serialised with any password in it masked.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DatabaseUrl(pub SecretString);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask_url_password(self.0.expose()))
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&mask_url_password(self.0.expose()))
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(DatabaseUrl(SecretString::new(String::deserialize(d)?)))
    }
}

/// `scheme://user:password@host/…` → `scheme://user:********@host/…`; also masks every
/// `password=` parameter. The user-info part ends at the last `@` before the query, so a
/// password holding `/`, `?`, `#` or `@` is masked whole.
pub fn mask_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let start = scheme_end + 3;
        // The last `@` that is followed by a host (not by query text) ends the user info, even
        // when a password holds characters a URL should have encoded.
        let at = out[start..]
            .match_indices('@')
            .map(|(i, _)| start + i)
            .rfind(|&i| {
                let host = out[i + 1..].split(['/', '?']).next().unwrap_or("");
                !host.is_empty() && !host.contains('=') && !host.contains('&')
            });
        if let Some(at) = at {
            if let Some(colon) = out[start..at].find(':') {
                out.replace_range(start + colon + 1..at, "********");
            }
        }
    }
    let mut from = 0;
    while let Some(i) = out[from..].find("password=") {
        let value = from + i + "password=".len();
        let end = out[value..]
            .find(['&', ' '])
            .map(|j| value + j)
            .unwrap_or(out.len());
        out.replace_range(value..end, "********");
        from = value + "********".len();
    }
    out
}

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
}

/// `[cache]`: the API-key owner cache on the Basic-auth hot path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Resolved keys kept in memory per instance.
    pub capacity: u64,
    /// Safety net: a cached owner is re-read at least this often.
    pub ttl_secs: u64,
    /// How long an unknown key is remembered as unknown.
    pub negative_ttl_secs: u64,
    /// How often each instance reads the invalidation log (PostgreSQL also wakes it at once).
    pub poll_interval_ms: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            ttl_secs: 30,
            negative_ttl_secs: 5,
            poll_interval_ms: 500,
        }
    }
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
    pub timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: Secret::default(),
            key_prefix: "latchkey:".into(),
            timeout_ms: 250,
        }
    }
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
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            authenticate_enabled: true,
            authenticate_by_username: default_rules(1800, 5),
            api_by_user: default_rules(60, 200),
            api_by_ip: default_rules(60, 100),
        }
    }
}

/// One built-in rule (Zulip's defaults); `problems()` checks them like configured ones.
fn default_rules(secs: u64, max: u32) -> Rules {
    Rules(vec![Rule {
        window: std::time::Duration::from_secs(secs),
        max,
    }])
}

/// `[ldap]`: the LDAP backend (used when `auth.backends` lists `ldap`). Names follow Zulip's
/// settings; empty strings mean "not set". See docs/ldap.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSettings {
    /// Servers tried in order (failover): `ldap://host:389`, `ldaps://host:636`.
    pub uris: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
    /// PEM file with the CA that signed the directory's certificate (only it is trusted).
    pub ca_file: Option<PathBuf>,
    /// Certificate verification. `false` is insecure and logged loudly at every start.
    pub tls_verify: bool,
    pub connect_timeout_secs: f64,
    pub operation_timeout_secs: f64,
    /// Service account for searches (Zulip's `AUTH_LDAP_BIND_DN`); empty: anonymous searches.
    pub bind_dn: String,
    pub bind_password: Secret,
    /// Read the service account's password from this file instead.
    pub bind_password_file: Option<PathBuf>,
    /// Search-then-bind (Zulip's `AUTH_LDAP_USER_SEARCH`): base, filter with `{user}`, scope.
    pub user_search_base: String,
    pub user_search_filter: String,
    /// `sub` or `one`.
    pub user_search_scope: String,
    /// Direct bind instead of a search: `uid={user},ou=people,dc=example,dc=org`.
    pub user_dn_template: String,
    /// Where an account's linked entry is looked up by its immutable id to tell whether it still
    /// exists; empty: the directory's naming context holding the people base (root DSE).
    pub link_search_base: String,
    /// `LDAP_APPEND_DOMAIN`.
    pub append_domain: String,
    /// `LDAP_EMAIL_ATTR`.
    pub email_attr: String,
    /// `AUTH_LDAP_REVERSE_EMAIL_SEARCH`, with `{email}`: `(mail={email})`.
    pub reverse_email_search_filter: String,
    /// `AUTH_LDAP_USERNAME_ATTR`.
    pub username_attr: String,
    /// Only members of this group (a DN) may log in.
    pub require_group: String,
    /// Members of this group (a DN) may not log in.
    pub deny_group: String,
    /// `member` (groupOfNames), `uniqueMember` (groupOfUniqueNames), `memberUid` (posixGroup)
    /// or `memberOf` (Active Directory, OpenLDAP memberof overlay).
    pub group_membership: String,
    /// Nested groups through AD's `1.2.840.113556.1.4.1941` (with `memberOf`).
    pub nested_groups: bool,
    /// Idle service connections kept open.
    pub pool_size: usize,
    pub attributes: LdapAttributeSettings,
    /// `AUTH_LDAP_ADVANCED_REALM_ACCESS_CONTROL`: subdomain = [ {attribute = "value", …}, … ].
    pub realm_access: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    pub sync: LdapSyncSettings,
}

/// `[ldap.attributes]`: Zulip's `AUTH_LDAP_USER_ATTR_MAP`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapAttributeSettings {
    pub full_name: String,
    pub first_name: String,
    pub last_name: String,
    /// Active Directory: `userAccountControl` (bit value 2 = disabled).
    pub user_account_control: String,
    /// An attribute that marks disabled accounts.
    pub deactivated: String,
    /// Values of `deactivated` meaning disabled; empty: TRUE/YES vs FALSE/NO.
    pub deactivated_values: Vec<String>,
    /// Multi-valued attribute listing the subdomains a person may enter.
    pub org_membership: String,
    /// `entryUUID` (OpenLDAP) or `objectGUID` (Active Directory).
    pub unique_id: String,
}

/// `[ldap.sync]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSyncSettings {
    /// `LDAP_DEACTIVATE_NON_MATCHING_USERS`.
    pub deactivate_non_matching: bool,
    /// Stop a run that would deactivate more than this share of a realm's active people.
    pub max_deactivate_fraction: f64,
}

impl Default for LdapSettings {
    fn default() -> Self {
        let d = auth_ldap::LdapConfig::default();
        LdapSettings {
            uris: Vec::new(),
            starttls: false,
            ca_file: None,
            tls_verify: true,
            connect_timeout_secs: d.connect_timeout.as_secs_f64(),
            operation_timeout_secs: d.operation_timeout.as_secs_f64(),
            bind_dn: String::new(),
            bind_password: Secret::default(),
            bind_password_file: None,
            user_search_base: String::new(),
            user_search_filter: d.user_search_filter,
            user_search_scope: "sub".into(),
            user_dn_template: String::new(),
            link_search_base: String::new(),
            append_domain: String::new(),
            email_attr: String::new(),
            reverse_email_search_filter: String::new(),
            username_attr: d.username_attr,
            require_group: String::new(),
            deny_group: String::new(),
            group_membership: "member".into(),
            nested_groups: false,
            pool_size: d.pool_size,
            attributes: LdapAttributeSettings::default(),
            realm_access: BTreeMap::new(),
            sync: LdapSyncSettings::default(),
        }
    }
}

impl Default for LdapAttributeSettings {
    fn default() -> Self {
        LdapAttributeSettings {
            full_name: "cn".into(),
            first_name: String::new(),
            last_name: String::new(),
            user_account_control: String::new(),
            deactivated: String::new(),
            deactivated_values: Vec::new(),
            org_membership: String::new(),
            unique_id: "entryUUID".into(),
        }
    }
}

impl Default for LdapSyncSettings {
    fn default() -> Self {
        let d = auth_ldap::SyncPolicy::default();
        LdapSyncSettings {
            deactivate_non_matching: d.deactivate_non_matching,
            max_deactivate_fraction: d.max_deactivate_fraction,
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn seconds(v: f64) -> std::time::Duration {
    if v.is_finite() && v > 0.0 {
        std::time::Duration::from_secs_f64(v.min(3600.0))
    } else {
        std::time::Duration::ZERO
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: String,
    /// Zulip's `EXTERNAL_HOST`: realms live at `<subdomain>.<external_host>`, the root realm at
    /// `<external_host>` itself. May include a port.
    pub external_host: String,
    /// `http` or `https`, for the realm URLs Latchkey reports.
    pub external_scheme: String,
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
    pub trusted_proxies: Vec<String>,
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
    pub connect_timeout_secs: u64,
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
    pub backends: Vec<String>,
    /// bcrypt cost for new hashes; existing hashes are upgraded on the next successful login.
    pub bcrypt_cost: u32,
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
    pub format: String,
    /// An `EnvFilter` directive; `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: "127.0.0.1:9991".into(),
            external_host: "localhost:9991".into(),
            external_scheme: "http".into(),
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
            connect_timeout_secs: 5,
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
            backends: vec!["email".into()],
            bcrypt_cost: 12,
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
            format: "human".into(),
            filter: "info".into(),
        }
    }
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
    /// Defaults, then the file (required when named explicitly), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let load = |e: config::ConfigError| ConfigError::Load(e.to_string());
        let defaults = config::Config::try_from(&Settings::default()).map_err(load)?;
        let mut builder = config::Config::builder().add_source(defaults);
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Load(format!(
                        "configuration file {} does not exist",
                        path.display()
                    )));
                }
                builder = builder.add_source(
                    config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
                );
            }
            None => {
                builder = builder.add_source(
                    config::File::with_name("latchkey.toml")
                        .format(config::FileFormat::Toml)
                        .required(false),
                );
            }
        }
        let env: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let env_names: Vec<String> = env.keys().cloned().collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("auth.backends")
                .with_list_parse_key("server.root_subdomain_aliases")
                .with_list_parse_key("ldap.uris")
                .with_list_parse_key("server.trusted_proxies")
                .source(Some(env)),
        );
        let settings: Settings = builder
            .build()
            .map_err(load)?
            .try_deserialize()
            .map_err(|e| {
                let msg = e.to_string();
                match crate::config_origin::unknown_key_origin(&msg, file, &env_names) {
                    Some(origin) => ConfigError::Load(format!("{msg} ({origin})")),
                    None => ConfigError::Load(msg),
                }
            })?;
        Ok(settings)
    }

    /// Every problem with the settings, or nothing.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.server.bind.parse::<SocketAddr>().is_err() {
            p.push(format!(
                "server.bind = {:?} is not an address like 127.0.0.1:9991",
                self.server.bind
            ));
        }
        let host = &self.server.external_host;
        if host.is_empty() || host.contains('/') || host.contains("://") || host.contains(' ') {
            p.push(format!(
                "server.external_host = {host:?} must be a host name with an optional port, such as latchkey.example.org"
            ));
        }
        if !matches!(self.server.external_scheme.as_str(), "http" | "https") {
            p.push("server.external_scheme must be \"http\" or \"https\"".into());
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
        if self.auth.backends.is_empty() {
            p.push("auth.backends must name at least one backend (email, ldap, dev)".into());
        }
        let mut seen = Vec::new();
        for name in &self.auth.backends {
            let Some(kind) = BackendKind::from_name(name) else {
                p.push(format!(
                    "auth.backends: unknown backend {name:?} (known: email, ldap, dev)"
                ));
                continue;
            };
            if kind == BackendKind::Dev && !self.development.enabled {
                p.push(
                    "auth.backends: the dev backend logs anyone in without a password and needs development.enabled = true".into(),
                );
                continue;
            }
            if seen.contains(&kind) {
                p.push(format!("auth.backends: {name:?} is listed twice"));
            }
            seen.push(kind);
            if kind == BackendKind::Ldap {
                match self.ldap_config() {
                    Ok(cfg) => p.extend(cfg.problems()),
                    Err(e) => p.push(e.to_string()),
                }
            }
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            p.push(format!(
                "auth.bcrypt_cost = {} must be between 4 and 31 (12 is a good default)",
                self.auth.bcrypt_cost
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
        for proxy in &self.server.trusted_proxies {
            if proxy.parse::<std::net::IpAddr>().is_err() {
                p.push(format!(
                    "server.trusted_proxies: {proxy:?} is not an IP address"
                ));
            }
        }
        for (name, rules) in [
            (
                "authenticate_by_username",
                &self.rate_limits.authenticate_by_username,
            ),
            ("api_by_user", &self.rate_limits.api_by_user),
            ("api_by_ip", &self.rate_limits.api_by_ip),
        ] {
            // Loaded rules are checked already; this catches rules built in code.
            if let Err(e) = Rules::new(rules.as_slice().iter().copied()) {
                p.push(format!("rate_limits.{name}: {e}"));
            }
        }
        if self.cache.poll_interval_ms == 0 || self.cache.ttl_secs == 0 {
            p.push("cache.poll_interval_ms and cache.ttl_secs must be positive".into());
        }
        if !matches!(self.logging.format.as_str(), "human" | "json") {
            p.push("logging.format must be \"human\" or \"json\"".into());
        }
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

    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

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

    /// Whether `auth.backends` lists the LDAP backend.
    pub fn ldap_enabled(&self) -> bool {
        self.backend_kinds().contains(&BackendKind::Ldap)
    }

    /// The LDAP backend's configuration (the bind password read from its file when set).
    pub fn ldap_config(&self) -> Result<auth_ldap::LdapConfig, ConfigError> {
        let l = &self.ldap;
        let bind_password = match &l.bind_password_file {
            Some(path) => read_secret_file(path, "the LDAP bind password")?,
            None => l.bind_password.0.clone(),
        };
        let user_search_scope = match l.user_search_scope.as_str() {
            "sub" | "subtree" => auth_ldap::SearchScope::Subtree,
            "one" | "onelevel" => auth_ldap::SearchScope::OneLevel,
            other => {
                return Err(ConfigError::Invalid(vec![format!(
                    "ldap.user_search_scope = {other:?} must be \"sub\" or \"one\""
                )]));
            }
        };
        let group_membership = auth_ldap::GroupMembership::from_name(&l.group_membership)
            .ok_or_else(|| {
                ConfigError::Invalid(vec![format!(
                    "ldap.group_membership = {:?} must be member, uniqueMember, memberUid or memberOf",
                    l.group_membership
                )])
            })?;
        let a = &l.attributes;
        Ok(auth_ldap::LdapConfig {
            uris: l.uris.clone(),
            starttls: l.starttls,
            ca_file: l.ca_file.clone(),
            tls_verify: l.tls_verify,
            connect_timeout: seconds(l.connect_timeout_secs),
            operation_timeout: seconds(l.operation_timeout_secs),
            bind_dn: l.bind_dn.trim().to_owned(),
            bind_password,
            user_search_base: l.user_search_base.trim().to_owned(),
            user_search_filter: l.user_search_filter.trim().to_owned(),
            user_search_scope,
            user_dn_template: non_empty(&l.user_dn_template),
            link_search_base: non_empty(&l.link_search_base),
            append_domain: non_empty(&l.append_domain),
            email_attr: non_empty(&l.email_attr),
            reverse_email_search_filter: non_empty(&l.reverse_email_search_filter),
            username_attr: l.username_attr.trim().to_owned(),
            attributes: auth_ldap::AttributeMap {
                full_name: non_empty(&a.full_name),
                first_name: non_empty(&a.first_name),
                last_name: non_empty(&a.last_name),
                user_account_control: non_empty(&a.user_account_control),
                deactivated: non_empty(&a.deactivated),
                deactivated_values: a.deactivated_values.clone(),
                org_membership: non_empty(&a.org_membership),
                unique_id: a.unique_id.trim().to_owned(),
            },
            realm_access: l.realm_access.clone(),
            require_group: non_empty(&l.require_group),
            deny_group: non_empty(&l.deny_group),
            group_membership,
            nested_groups: l.nested_groups,
            sync: auth_ldap::SyncPolicy {
                deactivate_non_matching: l.sync.deactivate_non_matching,
                max_deactivate_fraction: l.sync.max_deactivate_fraction,
            },
            pool_size: l.pool_size,
            root_aliases: self.server.root_subdomain_aliases.clone(),
        })
    }

    /// The configured backends, in order (unknown names were refused by validation).
    pub fn backend_kinds(&self) -> Vec<BackendKind> {
        self.auth
            .backends
            .iter()
            .filter_map(|n| BackendKind::from_name(n))
            .collect()
    }

    /// The settings as TOML, secrets masked: what `latchkey config check` prints.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Reads a secret from a file, trimming surrounding whitespace.
pub fn read_secret_file(path: &Path, what: &'static str) -> Result<SecretString, ConfigError> {
    let mut text = std::fs::read_to_string(path).map_err(|e| ConfigError::SecretFile {
        what,
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    let secret = SecretString::new(text.trim());
    zeroize::Zeroize::zeroize(&mut text);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.problems(), Vec::<String>::new());
        assert_eq!(s.auth.bcrypt_cost, 12);
    }

    #[test]
    fn environment_overrides() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("LATCHKEY__SERVER__EXTERNAL_HOST", "example.test"),
                ("LATCHKEY__AUTH__BCRYPT_COST", "5"),
                ("LATCHKEY__AUTH__BACKENDS", "email"),
                ("LATCHKEY__DEVELOPMENT__ENABLED", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.external_host, "example.test");
        assert_eq!(s.auth.bcrypt_cost, 5);
        assert!(s.development.enabled);
    }

    #[test]
    fn rate_limit_rules_from_text() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("LATCHKEY__RATE_LIMITS__AUTHENTICATE_BY_USERNAME", "10:2"),
                ("LATCHKEY__RATE_LIMITS__API_BY_USER", "60:5,3600:100"),
            ]),
        )
        .unwrap();
        let rules = |pairs: &[(u64, u32)]| Rules::from_pairs(pairs).unwrap();
        assert_eq!(s.rate_limits.authenticate_by_username, rules(&[(10, 2)]));
        assert_eq!(s.rate_limits.api_by_user, rules(&[(60, 5), (3600, 100)]));
        assert_eq!(s.rate_limits.api_by_ip, rules(&[(60, 100)]));
        let err =
            Settings::load_with_env(None, env(&[("LATCHKEY__RATE_LIMITS__API_BY_IP", "sixty")]))
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("\"sixty\" (item 1) is not SECONDS:COUNT"),
            "{err}"
        );
        let err =
            Settings::load_with_env(None, env(&[("LATCHKEY__RATE_LIMITS__API_BY_IP", "60:0")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("maximum must be at least 1"), "{err}");
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile_dir();
        let path = dir.join("latchkey.toml");
        std::fs::write(
            &path,
            "[server]\nexternal_host = \"file.test\"\n[auth]\nbcrypt_cost = 6\n",
        )
        .unwrap();
        let s = Settings::load_with_env(Some(&path), env(&[("LATCHKEY__AUTH__BCRYPT_COST", "7")]))
            .unwrap();
        assert_eq!(s.server.external_host, "file.test");
        assert_eq!(s.auth.bcrypt_cost, 7);
        std::fs::write(&path, "[server]\nno_such_key = 1\n").unwrap();
        assert!(Settings::load_with_env(Some(&path), env(&[])).is_err());
        assert!(Settings::load_with_env(Some(&dir.join("missing.toml")), env(&[])).is_err());
    }

    #[test]
    fn invalid_settings_are_explained() {
        let mut s = Settings::default();
        s.auth.backends = vec!["email".into(), "kerberos".into(), "dev".into()];
        s.auth.bcrypt_cost = 40;
        s.server.bind = "nowhere".into();
        let problems = s.problems().join("\n");
        assert!(problems.contains("kerberos"));
        assert!(problems.contains("development.enabled"));
        assert!(problems.contains("bcrypt_cost"));
        assert!(problems.contains("server.bind"));
    }

    #[test]
    fn secrets_are_masked() {
        let mut s = Settings::default();
        s.secrets.server_secret = Secret(SecretString::new("x".repeat(40)));
        s.database.url = DatabaseUrl(SecretString::new("postgres://lk:hunter2@db/lk"));
        let text = s.to_masked_toml();
        assert!(!text.contains("xxxx"));
        assert!(!text.contains("hunter2"));
        assert!(text.contains("postgres://lk:********@db/lk"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            mask_url_password("postgres://h/db?user=a&password=pw&x=1"),
            "postgres://h/db?user=a&password=********&x=1"
        );
        assert_eq!(
            mask_url_password("postgres://u:p/a?s#s@h/db?password=1&password=2"),
            "postgres://u:********@h/db?password=********&password=********"
        );
        assert_eq!(
            mask_url_password("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }

    #[test]
    fn example_config_lists_the_defaults() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/latchkey.example.toml");
        let loaded = Settings::load_with_env(Some(&example), env(&[])).unwrap();
        assert_eq!(
            loaded.to_masked_toml(),
            Settings::default().to_masked_toml()
        );
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-config-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
