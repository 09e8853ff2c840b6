//! The application: everything a route, a page or a CLI command needs, built once from
//! [`Options`] — the store, the backend chain, the key service and its cache, rate limits, the
//! directory and its readiness, realms by subdomain, and the mailer with the reset worker.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuthBackend, BackendChain, BackendKind, KeyVault, PasswordPolicy, Realm};
use auth_email::{EmailAuthBackend, PasswordHasher};
use auth_store::{Store, StoreError, StoreOptions};

use crate::accounts::StoreAccounts;
use crate::host::{self, Hosts, MalformedHost};
use crate::keys::KeyService;
use crate::lookup_cache::LookupCache;
use crate::options::Options;

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
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
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::MailError),
}

const SECRET_FINGERPRINT: &str = "server_secret_fingerprint";

/// The application, shared by every request and command.
pub struct App {
    pub store: Store,
    pub chain: BackendChain,
    pub keys: KeyService,
    pub hasher: PasswordHasher,
    pub policy: PasswordPolicy,
    /// A development server (the `dev` endpoints answer as on Zulip's development server).
    pub development: bool,
    /// Development server with the `dev` backend configured (passwordless logins).
    pub dev_backend: bool,
    /// The configured backends, in order.
    pub backends: Vec<BackendKind>,
    /// The server-wide directory (`[ldap]`), when configured.
    pub ldap: Option<Arc<auth_ldap::Directory>>,
    /// The server-wide directory and the realms' own (`realm_ldap.rs`): what serves each
    /// realm's LDAP logins.
    pub directories: Arc<auth_ldap::Directories>,
    /// Subdomains that mean the root realm, for the realms' own directories.
    pub ldap_root_aliases: Vec<String>,
    /// The version of each realm's own directory settings this instance runs.
    pub(crate) ldap_versions: crate::realm_ldap::Versions,
    /// The account port the backends use.
    pub accounts: Arc<StoreAccounts>,
    /// Rate limits (shared through Redis when configured).
    pub limits: crate::limits::Limits,
    /// The directory servers' states for `/readyz` (probed at most every few seconds).
    pub readiness: crate::readiness::Readiness,
    /// How this server's hosts map to realms.
    pub hosts: Hosts,
    /// Believe `X-Forwarded-Host` from trusted proxies.
    pub trust_forwarded_host: bool,
    /// How often the invalidation log is read besides notifications.
    pub poll_interval: Duration,
    /// Sends mail (reset links), over SMTP or into files.
    pub mailer: Arc<crate::mail::Mailer>,
    /// Password-reset requests waiting for the worker.
    pub(crate) resets: crate::reset::ResetQueue,
    /// Web session lifetimes.
    pub sessions: crate::sessions::SessionSettings,
    /// The login portal's cookie domains and session lifetimes.
    pub portal: crate::portal::PortalSettings,
    /// Realms by subdomain, and subdomains known to have none (kept briefly: anyone can make
    /// up host names), cleared by realm invalidations.
    realms: LookupCache<String, Arc<Realm>>,
}

impl App {
    /// Connects, migrates (when asked), checks the server secret against the database, and
    /// builds the backend chain.
    pub async fn open(options: Options) -> Result<App, OpenError> {
        let store = Store::connect(
            &options.database.url,
            &StoreOptions {
                max_connections: options.database.max_connections,
                connect_timeout: options.database.connect_timeout,
            },
        )?;
        if options.database.auto_migrate {
            let applied = store.migrate(auth_store::Actor::startup()).await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied database migrations");
            }
        }
        let vault =
            KeyVault::new(&options.server_secret).map_err(|e| OpenError::Secret(e.to_string()))?;
        let found = vault.fingerprint();
        let expected = store.meta_get_or_init(SECRET_FINGERPRINT, &found).await?;
        if expected != found {
            return Err(OpenError::SecretMismatch { expected, found });
        }
        let keys = KeyService::new(vault, store.clone(), &options.cache);
        let limits = crate::limits::Limits::new(&options.limits, &options.trusted_proxies);
        let accounts = Arc::new(StoreAccounts {
            store: store.clone(),
            keys: keys.clone(),
        });
        let hasher = PasswordHasher::with_pool(options.bcrypt_cost, options.hash_pool)?;
        let policy = options.password_policy;
        let ldap = match options.ldap {
            Some(cfg) => {
                for warning in cfg.warnings() {
                    tracing::warn!("{warning}");
                }
                Some(Arc::new(
                    auth_ldap::Directory::new(cfg).map_err(|e| OpenError::Ldap(e.to_string()))?,
                ))
            }
            None => None,
        };
        let readiness = crate::readiness::Readiness::new(ldap.as_ref().map(|d| d.config()))
            .map_err(|e| OpenError::Ldap(e.to_string()))?;
        let directories = Arc::new(auth_ldap::Directories::new(ldap.clone()));
        let mut backends: Vec<Arc<dyn AuthBackend>> = Vec::new();
        for kind in &options.backends {
            match kind {
                BackendKind::Email => backends.push(Arc::new(EmailAuthBackend::new(
                    accounts.clone(),
                    hasher.clone(),
                    policy,
                ))),
                // Not a password backend: the dev login handles it (see `dev_backend`).
                BackendKind::Dev => {}
                BackendKind::Ldap => {
                    // Serves the realms with a directory: their own, else the server-wide one.
                    backends.push(Arc::new(auth_ldap::LdapAuthBackend::new(
                        directories.clone(),
                        accounts.clone(),
                    )));
                }
            }
        }
        let dev_backend = options.development && options.backends.contains(&BackendKind::Dev);
        let mailer = Arc::new(crate::mail::Mailer::new(options.mail)?);
        let resets = crate::reset::ResetQueue::start(
            &crate::reset::AppParts {
                store: store.clone(),
                hosts: options.hosts.clone(),
                ldap: directories.clone(),
                backends: options.backends.clone(),
            },
            mailer.clone(),
            crate::reset::ResetLimits::new(&options.limits),
            options.reset,
        );
        // Realms are cached under the same rules as key owners (invalidated through the log,
        // the TTL a jittered safety net), in a smaller cache.
        let realm_policy = crate::lookup_cache::CachePolicy {
            capacity: 10_000,
            ttl: options.cache.ttl.max(Duration::from_secs(1)),
            negative_ttl: options.cache.negative_ttl.max(Duration::from_secs(1)),
            missing_capacity: 10_000,
            ..options.cache.policy()
        };
        let app = App {
            development: options.development,
            dev_backend,
            backends: options.backends,
            store,
            chain: BackendChain::new(backends).with_pad(Arc::new(hasher.clone())),
            keys,
            hasher,
            policy,
            ldap,
            directories,
            ldap_root_aliases: options.ldap_root_aliases,
            ldap_versions: Default::default(),
            accounts,
            limits,
            readiness,
            hosts: options.hosts,
            trust_forwarded_host: options.trust_forwarded_host,
            poll_interval: options.poll_interval,
            mailer,
            resets,
            sessions: options.sessions,
            portal: options.portal,
            realms: LookupCache::new(&realm_policy),
        };
        app.load_realm_directories().await?;
        Ok(app)
    }

    /// The subdomain a host value names ([`crate::host::subdomain_for_host`]): `None` for a host
    /// Latchkey does not recognise.
    pub fn recognised_subdomain(&self, host: &str) -> Result<Option<String>, MalformedHost> {
        host::subdomain_for_host(host, &self.hosts)
    }

    /// The realm for a subdomain, if there is one (cached; see [`LookupCache`]).
    pub async fn realm_for_subdomain(&self, subdomain: &str) -> Result<Option<Realm>, StoreError> {
        let answer = self
            .realms
            .get(subdomain, || {
                let (store, subdomain) = (self.store.clone(), subdomain.to_owned());
                move || {
                    let (store, subdomain) = (store.clone(), subdomain.clone());
                    async move {
                        let realm = store.realm_by_subdomain(&subdomain).await?;
                        Ok::<_, StoreError>(realm.map(Arc::new))
                    }
                }
            })
            .await?;
        Ok(answer.value.map(|realm| Realm::clone(&realm)))
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
    /// Whether usernames map to emails comes from the directory that serves the realm.
    pub fn require_email_format_usernames(&self, realm: Option<&Realm>) -> bool {
        let maps = match realm {
            Some(r) => self
                .directories
                .for_realm(r.id)
                .directory()
                .is_some_and(|d| d.config().maps_usernames()),
            None => self
                .ldap
                .as_ref()
                .is_some_and(|d| d.config().maps_usernames()),
        };
        auth_core::policy::require_email_format_usernames(
            self.chain.is_enabled(BackendKind::Ldap, realm),
            maps,
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
