//! Everything a request handler or a CLI command needs, built once from the settings.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use auth_core::{
    AuthBackend, BackendChain, BackendKind, KeyVault, PasswordPolicy, Realm, SecretBytes,
};
use auth_email::{EmailAuthBackend, PasswordHasher};
use auth_store::{Store, StoreError, StoreOptions};

use crate::accounts::StoreAccounts;
use crate::config::{ConfigError, Settings, read_secret_file};
use crate::envelope::ApiError;
use crate::host;
use crate::keys::KeyService;
use crate::lookup_cache::LookupCache;

/// Why the server (or a CLI command) could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("server secret: {0}")]
    Secret(String),
    #[error("password hashing: {0}")]
    Hasher(#[from] auth_email::HashError),
    #[error(
        "the server secret does not match the one this database was set up with \
         (fingerprint {found} != {expected}); every stored API key would be unreadable. \
         Use the original secret, or a fresh database"
    )]
    SecretMismatch { expected: String, found: String },
    #[error("LDAP: {0}")]
    Ldap(String),
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: String },
}

const SECRET_FINGERPRINT: &str = "server_secret_fingerprint";

/// Shared application state.
pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub chain: BackendChain,
    pub keys: KeyService,
    pub hasher: PasswordHasher,
    pub policy: PasswordPolicy,
    /// Whether the LDAP configuration maps usernames to emails (append domain or email
    /// attribute); feeds `require_email_format_usernames`.
    pub ldap_maps_usernames: bool,
    /// Development server with the `dev` backend configured (passwordless logins).
    pub dev_backend: bool,
    /// The directory, when the LDAP backend is configured (for `ldap sync` and `ldap query`).
    pub ldap: Option<Arc<auth_ldap::Directory>>,
    /// The account port the backends use.
    pub accounts: Arc<StoreAccounts>,
    /// Rate limits (shared through Redis when configured).
    pub limits: crate::limits::Limits,
    /// The directory servers' states for `/readyz` (probed at most every few seconds).
    pub readiness: crate::readiness::Readiness,
    /// Realms by subdomain, and subdomains known to have none (kept briefly: anyone can make
    /// up host names), cleared by realm invalidations.
    realms: LookupCache<String, Realm>,
}

impl AppState {
    /// Validates the settings, connects, migrates (when configured), loads the server secret
    /// and checks it against the database, and builds the backend chain.
    pub async fn open(settings: Settings) -> Result<AppState, StartupError> {
        settings.validate()?;
        let store = Store::connect(
            &settings.database_url()?,
            &StoreOptions {
                max_connections: settings.database.max_connections,
                connect_timeout: settings.database.connect_timeout_secs,
            },
        )?;
        if settings.database.auto_migrate {
            let applied = store.migrate(auth_store::Actor::startup()).await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied database migrations");
            }
        }
        let secret = load_or_create_secret(&settings)?;
        let vault = KeyVault::new(&secret).map_err(|e| StartupError::Secret(e.to_string()))?;
        let found = vault.fingerprint();
        let expected = store.meta_get_or_init(SECRET_FINGERPRINT, &found).await?;
        if expected != found {
            return Err(StartupError::SecretMismatch { expected, found });
        }
        let keys = KeyService::new(
            vault,
            store.clone(),
            &crate::keys::CacheSettings {
                capacity: settings.cache.capacity,
                ttl: settings.cache.ttl_secs,
                negative_ttl: settings.cache.negative_ttl_secs,
            },
        );
        let limits = crate::limits::Limits::new(&settings);
        let settings_ttl = settings.cache.ttl_secs.max(Duration::from_secs(1));
        let negative_ttl = settings.cache.negative_ttl_secs.max(Duration::from_secs(1));
        let accounts = Arc::new(StoreAccounts {
            store: store.clone(),
            keys: keys.clone(),
        });
        let hasher = PasswordHasher::new(settings.auth.bcrypt_cost)?;
        let policy = settings.password_policy();
        let ldap = if settings.ldap_enabled() {
            let cfg = settings.ldap_config()?;
            for warning in cfg.warnings() {
                tracing::warn!("{warning}");
            }
            Some(Arc::new(
                auth_ldap::Directory::new(cfg).map_err(|e| StartupError::Ldap(e.to_string()))?,
            ))
        } else {
            None
        };
        let readiness = crate::readiness::Readiness::new(ldap.as_ref().map(|d| d.config()))
            .map_err(|e| StartupError::Ldap(e.to_string()))?;
        let ldap_maps_usernames = ldap.as_ref().is_some_and(|d| d.config().maps_usernames());
        let mut backends: Vec<Arc<dyn AuthBackend>> = Vec::new();
        for kind in settings.backend_kinds() {
            match kind {
                BackendKind::Email => backends.push(Arc::new(EmailAuthBackend::new(
                    accounts.clone(),
                    hasher.clone(),
                    policy,
                ))),
                // Not a password backend: `dev_fetch_api_key` handles it (see `dev_backend`).
                BackendKind::Dev => {}
                BackendKind::Ldap => {
                    if let Some(dir) = &ldap {
                        backends.push(Arc::new(auth_ldap::LdapAuthBackend::new(
                            dir.clone(),
                            accounts.clone(),
                        )));
                    }
                }
            }
        }
        let dev_backend =
            settings.development.enabled && settings.backend_kinds().contains(&BackendKind::Dev);
        Ok(AppState {
            dev_backend,
            settings,
            store,
            chain: BackendChain::new(backends).with_pad(Arc::new(hasher.clone())),
            keys,
            hasher,
            policy,
            ldap_maps_usernames,
            ldap,
            accounts,
            limits,
            readiness,
            realms: LookupCache::new(
                moka::sync::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(settings_ttl)
                    .build(),
                moka::sync::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(negative_ttl)
                    .build(),
            ),
        })
    }

    /// The subdomain the request's Host header names (or, from a trusted proxy and with
    /// `server.trust_forwarded_host`, the last `X-Forwarded-Host` value over all its header
    /// lines: the one the nearest proxy set). `None` for a host Latchkey does not recognise; a
    /// malformed host is a 400.
    pub fn recognised_subdomain_of(&self, req: &HttpRequest) -> Result<Option<String>, ApiError> {
        let host = self.request_host(req);
        host::subdomain_for_host(&host, &self.settings.server).map_err(|e| {
            tracing::info!(host = ?host, "refused a malformed host");
            ApiError::bad_request(e.to_string())
        })
    }

    /// The host a request names: `X-Forwarded-Host` from a trusted proxy (when trusted), else
    /// `Host`, else HTTP/2's `:authority`; `""` when there is none.
    fn request_host(&self, req: &HttpRequest) -> String {
        let forwarded = self.settings.server.trust_forwarded_host
            && req
                .peer_addr()
                .is_some_and(|p| self.limits.is_trusted_proxy(p.ip()));
        forwarded
            .then(|| crate::limits::header_list(req, "x-forwarded-host"))
            .and_then(|values| values.last().cloned())
            .filter(|v| !v.is_empty())
            .or_else(|| {
                req.headers()
                    .get("host")
                    .map(|h| h.to_str().unwrap_or("\u{0}").to_owned())
            })
            // HTTP/2 carries the host as the :authority pseudo-header.
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default()
    }

    /// [`Self::recognised_subdomain_of`], with an unrecognised host served as the root realm
    /// (Zulip's `get_subdomain`).
    pub fn subdomain_of(&self, req: &HttpRequest) -> Result<String, ApiError> {
        Ok(self.recognised_subdomain_of(req)?.unwrap_or_default())
    }

    /// The realm for the request's Host, if there is one. A database failure is a 503.
    pub async fn realm_for(&self, req: &HttpRequest) -> Result<Option<Realm>, ApiError> {
        self.realm_for_subdomain(req, &self.subdomain_of(req)?)
            .await
    }

    /// [`Self::realm_for`] when the caller already has the request's subdomain.
    pub async fn realm_for_subdomain(
        &self,
        req: &HttpRequest,
        subdomain: &str,
    ) -> Result<Option<Realm>, ApiError> {
        crate::logging::note_realm(req, subdomain);
        if let Some(cached) = self.realms.cached(subdomain) {
            return Ok(cached);
        }
        self.realms
            .load(subdomain, self.store.realm_by_subdomain(subdomain))
            .await
            .map_err(|e| ApiError::unavailable("realm lookup failed", e))
    }

    /// Forgets every cached realm (a realm was created, deactivated or changed somewhere).
    pub fn invalidate_realms(&self) {
        self.realms.invalidate_all();
    }

    /// Whether a login method is on for the realm (or, with no realm, on the server).
    pub fn method_enabled(&self, kind: BackendKind, realm: Option<&Realm>) -> bool {
        match kind {
            BackendKind::Dev => self.dev_backend && realm.is_none_or(|r| r.methods.dev),
            other => self.chain.is_enabled(other, realm),
        }
    }

    /// Zulip's `require_email_format_usernames(realm)`.
    pub fn require_email_format_usernames(&self, realm: Option<&Realm>) -> bool {
        auth_core::policy::require_email_format_usernames(
            self.chain.is_enabled(BackendKind::Ldap, realm),
            self.ldap_maps_usernames,
        )
    }

    /// The name a username's failed logins count under ([`crate::limits::login_name`] with the
    /// LDAP append domain, when there is one).
    pub fn login_name(&self, username: &str) -> String {
        let append_domain = self
            .ldap
            .as_ref()
            .and_then(|d| d.config().append_domain.as_deref());
        crate::limits::login_name(username, append_domain)
    }
}

/// The server secret: inline, from its file, or newly generated into its file (mode 0600).
pub fn load_or_create_secret(settings: &Settings) -> Result<SecretBytes, StartupError> {
    let s = &settings.secrets;
    let text = if !s.server_secret.is_empty() {
        s.server_secret.0.clone()
    } else if s.server_secret_file.exists() {
        warn_if_readable_by_others(&s.server_secret_file);
        read_secret_file(&s.server_secret_file, "the server secret")?
    } else if s.generate_if_missing {
        generate_secret_file(&s.server_secret_file)?;
        tracing::info!(path = %s.server_secret_file.display(), "generated a new server secret");
        read_secret_file(&s.server_secret_file, "the server secret")?
    } else {
        return Err(StartupError::Secret(format!(
            "{} does not exist and secrets.generate_if_missing is false",
            s.server_secret_file.display()
        )));
    };
    let bytes = text.expose().as_bytes().to_vec();
    if bytes.len() < auth_core::api_key::MIN_SERVER_SECRET_LEN {
        return Err(StartupError::Secret(format!(
            "the server secret must be at least {} characters",
            auth_core::api_key::MIN_SERVER_SECRET_LEN
        )));
    }
    Ok(SecretBytes::new(bytes))
}

fn generate_secret_file(path: &Path) -> Result<(), StartupError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail =
        |e: std::io::Error| StartupError::Secret(format!("cannot create {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(fail)?;
        }
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let mut text = hex::encode(bytes);
    text.push('\n');
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match result {
        Ok(mut f) => f.write_all(text.as_bytes()).map_err(fail)?,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    zeroize::Zeroize::zeroize(&mut text);
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok(())
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the server secret file is readable by group or others; chmod 600 it"
            );
        }
    }
}
