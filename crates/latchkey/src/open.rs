//! From settings to a running application: the configuration turned into the service's typed
//! [`Options`] (the server secret read, generated or refused here), the application opened, and
//! the HTTP server started. The CLI and `serve` both start here.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use auth_core::SecretBytes;
use auth_http::{HttpOptions, RunningServer, ZulipInfo};
use auth_service::host::Hosts;
use auth_service::keys::CacheSettings;
use auth_service::mail::{MailOptions, MailTransport, SmtpOptions, SmtpSecurity};
use auth_service::reset::ResetOptions;
use auth_service::{App, DatabaseOptions, LimitOptions, OpenError, Options};

use crate::config::{ConfigError, MailSecurity, Settings, read_secret_file};

/// Why the server (or a CLI command) could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("server secret: {0}")]
    Secret(String),
    #[error(transparent)]
    Serve(#[from] auth_http::ServeError),
}

/// The application with the settings it was built from (the CLI prints some of them). Derefs
/// to the [`App`].
pub struct AppState {
    pub app: Arc<App>,
    pub settings: Settings,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    /// Validates the settings, then opens the application: connects, migrates (when
    /// configured), loads the server secret and checks it against the database, and builds the
    /// backend chain.
    pub async fn open(settings: Settings) -> Result<AppState, StartupError> {
        settings.validate()?;
        let options = service_options(&settings)?;
        let app = App::open(options).await?;
        Ok(AppState {
            app: Arc::new(app),
            settings,
        })
    }
}

/// Serves the application on `bind` (the settings' address unless given).
pub async fn start(state: AppState, bind: Option<&str>) -> Result<RunningServer, StartupError> {
    let options = http_options(&state.settings, bind);
    if !options.secure_cookies {
        tracing::warn!(
            "web.secure_cookies is off (plain HTTP): the pages' cookies lose their __Host- \
             prefix and the Secure flag; use this only for local development"
        );
    }
    for url in state.settings.portal.plain_http_portals() {
        tracing::warn!(
            portal_url = ?url,
            "a login portal is served over plain HTTP: its cookie travels in clear text; use \
             this only for local development"
        );
    }
    Ok(auth_http::start(state.app, options).await?)
}

/// What the HTTP layer is given.
pub fn http_options(settings: &Settings, bind: Option<&str>) -> HttpOptions {
    let server = &settings.server;
    let zulip = &settings.zulip;
    HttpOptions {
        bind: bind.map_or_else(|| server.bind.to_string(), str::to_owned),
        workers: server.workers,
        max_body_bytes: server.max_body_bytes,
        root_domain_landing_page: server.root_domain_landing_page,
        secure_cookies: secure_cookies(settings),
        zulip: ZulipInfo {
            version: zulip.version.clone(),
            merge_base: zulip.merge_base.clone(),
            feature_level: zulip.feature_level,
            push_notifications_enabled: zulip.push_notifications_enabled,
        },
    }
}

/// Whether the pages' cookies are `Secure` (with the `__Host-` prefix): `web.secure_cookies`,
/// by default on when the external scheme is `https`.
pub fn secure_cookies(settings: &Settings) -> bool {
    settings.secure_cookies()
}

/// How the server's hosts map to realms.
pub fn hosts(settings: &Settings) -> Hosts {
    let server = &settings.server;
    Hosts {
        external_host: server.external_host.clone(),
        external_scheme: server.external_scheme.to_string(),
        root_subdomain_aliases: server.root_subdomain_aliases.clone(),
        realm_hosts: server.realm_hosts.clone(),
        portal_hosts: settings
            .portal
            .to_service()
            .cookies
            .into_iter()
            .map(|c| (c.portal_host, c.realm))
            .collect(),
    }
}

/// The service's options from valid settings (the server secret read or generated).
pub fn service_options(settings: &Settings) -> Result<Options, StartupError> {
    let r = &settings.rate_limits;
    let redis = settings.redis.url.expose();
    Ok(Options {
        database: DatabaseOptions {
            url: settings.database_url()?,
            max_connections: settings.database.max_connections,
            connect_timeout: settings.database.connect_timeout_secs,
            auto_migrate: settings.database.auto_migrate,
        },
        server_secret: load_or_create_secret(settings)?,
        hosts: hosts(settings),
        trusted_proxies: settings.server.trusted_proxies.clone(),
        trust_forwarded_host: settings.server.trust_forwarded_host,
        cache: CacheSettings {
            capacity: settings.cache.capacity,
            ttl: settings.cache.ttl_secs,
            jitter: f64::from(settings.cache.ttl_jitter_percent) / 100.0,
            negative_ttl: settings.cache.negative_ttl_secs,
        },
        poll_interval: settings.cache.poll_interval_ms,
        limits: LimitOptions {
            enabled: r.enabled,
            authenticate_enabled: r.authenticate_enabled,
            by_username: r.authenticate_by_username.clone(),
            by_user: r.api_by_user.clone(),
            by_ip: r.api_by_ip.clone(),
            reset_by_email: r.password_reset_by_email.clone(),
            reset_by_ip: r.password_reset_by_ip.clone(),
            redis_url: (!redis.is_empty()).then(|| redis.to_owned()),
            redis_key_prefix: settings.redis.key_prefix.clone(),
            redis_timeout: settings.redis.timeout_ms,
        },
        backends: settings.backend_kinds(),
        development: settings.development.enabled,
        bcrypt_cost: settings.auth.bcrypt_cost,
        hash_pool: settings.hash_pool(),
        password_policy: settings.password_policy(),
        ldap: if settings.ldap_default_configured() {
            Some(settings.ldap_config()?)
        } else {
            None
        },
        ldap_root_aliases: settings.server.root_subdomain_aliases.clone(),
        mail: mail_options(settings)?,
        reset: ResetOptions {
            token_lifetime: settings.reset.token_lifetime,
            notify_unknown: settings.reset.notify_unknown,
            ..ResetOptions::default()
        },
        sessions: settings.web.sessions(),
        portal: settings.portal.to_service(),
    })
}

/// `[mail]` as the service takes it: the SMTP password read from its file.
pub fn mail_options(settings: &Settings) -> Result<MailOptions, StartupError> {
    let m = &settings.mail;
    let from = auth_service::mail::parse_mailbox(&m.from).map_err(|_| {
        ConfigError::Invalid(vec![format!("mail.from = {:?} is not a mailbox", m.from)])
    })?;
    let transport = match m.transport {
        crate::config::MailTransport::File => MailTransport::File(m.file_dir.clone()),
        crate::config::MailTransport::Smtp => {
            let credentials = match &m.password_file {
                Some(path) if !m.username.is_empty() => Some((
                    m.username.clone(),
                    read_secret_file(path, "the SMTP password")?,
                )),
                _ => None,
            };
            MailTransport::Smtp(SmtpOptions {
                host: m
                    .host
                    .trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port: m.effective_port(),
                security: match m.security {
                    MailSecurity::Starttls => SmtpSecurity::Starttls,
                    MailSecurity::Tls => SmtpSecurity::Tls,
                    MailSecurity::None => SmtpSecurity::None,
                },
                credentials,
                timeout: m.timeout_secs,
            })
        }
    };
    Ok(MailOptions { transport, from })
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
