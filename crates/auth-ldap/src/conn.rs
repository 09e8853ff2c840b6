//! Connections: TLS, connect and operation timeouts, failover across servers, and the pool of
//! bound service connections.
//!
//! `ldap3` gives none of these except the per-operation timeout: here every connect (TCP, TLS
//! and StartTLS together) is bounded by `connect_timeout`, and servers are tried in order
//! ([`Connector::with_server`]). A server counts as up only once the first step on a new
//! connection (the service bind, a root-DSE read for anonymous set-ups, or a person's bind) got
//! an answer: a refused or timed-out connect, a server that accepts and closes, or one that
//! accepts and never answers moves the attempt to the next server, and the failed one is
//! passed over for a while. Service connections that break (a server restart) are dropped and
//! replaced on the next use. Errors name the server and the operation.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};

use crate::config::LdapConfig;

/// How long a server that failed to connect is passed over while others are tried.
const SKIP_FAILED_FOR: Duration = Duration::from_secs(15);

/// A directory problem that is not about the credentials: the answer is "unknown".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirError {
    #[error("no LDAP server could be reached: {0}")]
    Unreachable(String),
    #[error("LDAP operation timed out after {0:?}")]
    Timeout(Duration),
    #[error("LDAP error: {0}")]
    Protocol(String),
    /// A search base (or a group read as one) that does not exist (result 32); holds the base.
    #[error("LDAP error: search base {0:?} does not exist (result 32)")]
    NoSuchBase(String),
    /// The whole message: which account, which server, which result.
    #[error("{0}")]
    ServiceBind(String),
    #[error("LDAP configuration: {0}")]
    Config(String),
}

/// Opens connections to the configured servers.
pub struct Connector {
    uris: Vec<String>,
    settings: LdapConnSettings,
    connect_timeout: Duration,
    failed_until: Mutex<Vec<Option<Instant>>>,
}

fn tls_connector(cfg: &LdapConfig) -> Result<native_tls::TlsConnector, DirError> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            DirError::Config(format!("cannot read ca_file {}: {e}", path.display()))
        })?;
        // A bundle may hold several CAs; `from_pem` reads only the first of what it is given.
        let text = String::from_utf8_lossy(&pem);
        let end = "-----END CERTIFICATE-----";
        let mut added = 0;
        for block in text.split_inclusive(end).filter(|b| b.contains(end)) {
            let cert =
                native_tls::Certificate::from_pem(block.trim_start().as_bytes()).map_err(|e| {
                    DirError::Config(format!(
                        "ca_file {} holds a certificate that does not parse: {e}",
                        path.display()
                    ))
                })?;
            builder.add_root_certificate(cert);
            added += 1;
        }
        if added == 0 {
            return Err(DirError::Config(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            )));
        }
        builder.disable_built_in_roots(true);
    }
    if !cfg.tls_verify {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder
        .build()
        .map_err(|e| DirError::Config(format!("TLS setup failed: {e}")))
}

impl Connector {
    pub fn new(cfg: &LdapConfig) -> Result<Connector, DirError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(cfg.connect_timeout)
            .set_starttls(cfg.starttls)
            .set_connector(tls_connector(cfg)?);
        Ok(Connector {
            uris: cfg.uris.clone(),
            settings,
            connect_timeout: cfg.connect_timeout,
            failed_until: Mutex::new(vec![None; cfg.uris.len()]),
        })
    }

    /// The servers in the order to try them now: those not recently failed first (in
    /// configured order), then the recently failed ones.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let failed = self.failed_until.lock().unwrap_or_else(|p| p.into_inner());
        let (fresh, stale): (Vec<usize>, Vec<usize>) = (0..self.uris.len())
            .partition(|&i| failed.get(i).copied().flatten().is_none_or(|t| t <= now));
        fresh.into_iter().chain(stale).collect()
    }

    fn mark(&self, i: usize, ok: bool) {
        let mut failed = self.failed_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = failed.get_mut(i) {
            *slot = if ok {
                None
            } else {
                Some(Instant::now() + SKIP_FAILED_FOR)
            };
        }
    }

    /// A new connection to one server (TCP, TLS, StartTLS), within `connect_timeout`; the
    /// error says which server and what happened.
    pub(crate) async fn open(&self, uri: &str) -> Result<Ldap, String> {
        let attempt = LdapConnAsync::with_settings(self.settings.clone(), uri);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok((conn, ldap))) => {
                ldap3::drive!(conn);
                Ok(ldap)
            }
            Ok(Err(e)) => Err(format!("connect to {uri} failed: {}", describe_ldap3(&e))),
            Err(_) => Err(format!(
                "connect to {uri} timed out after {}",
                secs(self.connect_timeout)
            )),
        }
    }

    /// Runs `step` (named `op` in errors) on a new connection to the first server that
    /// answers it: servers in order, those that failed lately last. A connect failure, or a
    /// transport failure or timeout of `step` (a server that accepts and closes, or never
    /// answers), marks the server failed and moves on; any other outcome of `step` (an answer,
    /// even a refusal) means the server is up. `step` gets the connection and the server's URI.
    pub async fn with_server<T, F, Fut>(&self, op: &str, mut step: F) -> Result<T, DirError>
    where
        F: FnMut(Ldap, String) -> Fut,
        Fut: Future<Output = Result<T, DirError>>,
    {
        let mut errors = Vec::new();
        for i in self.order() {
            let uri = &self.uris[i];
            let failure = match self.open(uri).await {
                Err(msg) => msg,
                Ok(ldap) => match step(ldap, uri.clone()).await {
                    Ok(v) => {
                        self.mark(i, true);
                        return Ok(v);
                    }
                    Err(DirError::Timeout(t)) => {
                        format!("{op} on {uri} timed out after {}", secs(t))
                    }
                    Err(DirError::Unreachable(why)) => format!("{op} on {uri} failed: {why}"),
                    Err(other) => {
                        // The server answered: it is up, and the next one would say the same.
                        self.mark(i, true);
                        return Err(other);
                    }
                },
            };
            tracing::warn!(error = %failure, "LDAP server failed; trying the next one");
            errors.push(failure);
            self.mark(i, false);
        }
        Err(DirError::Unreachable(errors.join("; ")))
    }
}

/// `3 s`, `1.5 s`, `250 ms`.
pub(crate) fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// An `ldap3` transport error in words an administrator can act on (never "channel closed").
fn describe_ldap3(e: &ldap3::LdapError) -> String {
    match e {
        ldap3::LdapError::EndOfStream
        | ldap3::LdapError::OpSend { .. }
        | ldap3::LdapError::ResultRecv { .. } => "the server closed the connection".into(),
        ldap3::LdapError::Io { source } => match source.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
            std::io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
            _ => format!("I/O error: {source}"),
        },
        other => other.to_string(),
    }
}

/// The name of an LDAP result code an administrator may meet on a service bind.
pub fn result_name(rc: u32) -> &'static str {
    match rc {
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        _ => "refused",
    }
}

/// What the first step on a service connection is called in errors.
pub(crate) fn service_op(bind_dn: &str) -> &'static str {
    if bind_dn.is_empty() {
        "root DSE read"
    } else {
        "service bind"
    }
}

/// The first step on a new service connection, the one that shows the server is up: the
/// service bind, or a root-DSE read when binding anonymously. A refused bind is
/// [`DirError::ServiceBind`], naming the account and the server (never the password).
pub(crate) async fn service_step(
    mut ldap: Ldap,
    uri: String,
    bind_dn: &str,
    bind_password: &auth_core::SecretString,
    t: Duration,
) -> Result<Ldap, DirError> {
    if bind_dn.is_empty() {
        // Anonymous: a server counts as up once it answers a search.
        bounded(
            t,
            ldap.with_timeout(t)
                .search("", ldap3::Scope::Base, "(objectClass=*)", vec!["1.1"]),
        )
        .await?;
        return Ok(ldap);
    }
    let res = bounded(
        t,
        ldap.with_timeout(t)
            .simple_bind(bind_dn, bind_password.expose()),
    )
    .await?;
    if res.rc != 0 {
        let _ = ldap.unbind().await;
        return Err(DirError::ServiceBind(format!(
            "the LDAP service account `{bind_dn}` was refused by `{uri}`: {} ({})",
            result_name(res.rc),
            res.rc
        )));
    }
    Ok(ldap)
}

/// Service connections, bound as the service account (or anonymous) and shared: ldap3 tags
/// each operation with its message id, so one connection carries the searches of many logins
/// at once, and slapd or AD answers them in parallel. Up to `pool_size` connections are kept
/// and handed out in turn (a clone of the handle each time); a new one is opened only while
/// there are fewer, so a burst of logins never opens (and then drops) a connection per login.
/// Only searches run on them, never a person's bind: their identity never changes.
pub struct ServicePool {
    connector: std::sync::Arc<Connector>,
    bind_dn: String,
    bind_password: auth_core::SecretString,
    operation_timeout: Duration,
    shared: Mutex<Vec<Ldap>>,
    next: std::sync::atomic::AtomicUsize,
    max_shared: usize,
}

impl ServicePool {
    pub fn new(connector: std::sync::Arc<Connector>, cfg: &LdapConfig) -> ServicePool {
        ServicePool {
            connector,
            bind_dn: cfg.bind_dn.clone(),
            bind_password: cfg.bind_password.clone(),
            operation_timeout: cfg.operation_timeout,
            shared: Mutex::new(Vec::new()),
            next: std::sync::atomic::AtomicUsize::new(0),
            max_shared: cfg.pool_size.max(1),
        }
    }

    /// A bound service connection; `reused` says whether it is one kept before (and so may
    /// have gone stale since).
    pub async fn get(&self) -> Result<(Ldap, bool), DirError> {
        {
            let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            shared.retain_mut(|ldap| !ldap.is_closed());
            if shared.len() >= self.max_shared {
                let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(ldap) = shared.get(turn % shared.len()) {
                    return Ok((ldap.clone(), true));
                }
            }
        }
        if !self.bind_dn.is_empty() && self.bind_password.is_empty() {
            return Err(DirError::ServiceBind(format!(
                "the LDAP service account `{}` has no password (an empty password would be an anonymous bind)",
                self.bind_dn
            )));
        }
        let t = self.operation_timeout;
        let ldap = self
            .connector
            .with_server(service_op(&self.bind_dn), |ldap, uri| {
                service_step(ldap, uri, &self.bind_dn, &self.bind_password, t)
            })
            .await?;
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if shared.len() < self.max_shared {
            shared.push(ldap.clone());
        }
        Ok((ldap, false))
    }

    /// Hands a connection back after a successful operation. The pool keeps its own handles,
    /// so this only drops the caller's.
    pub fn put(&self, ldap: Ldap) {
        drop(ldap);
    }

    /// Drops every kept connection (after an error that suggests the server went away).
    pub fn clear(&self) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Idle connections for person binds. A bind replaces the connection's previous identity (and
/// a failed bind leaves it anonymous), so a connection can carry one person's bind after
/// another's; these connections are **never used for a search**, so nobody ever reads with
/// another person's rights. A connection that failed at transport level is not given back, and
/// the other idle ones are dropped with it (they likely lead to the same dead server).
pub struct BindPool {
    idle: Mutex<Vec<Ldap>>,
    max_idle: usize,
}

impl BindPool {
    pub fn new(cfg: &LdapConfig) -> BindPool {
        BindPool {
            idle: Mutex::new(Vec::new()),
            max_idle: cfg.bind_pool_size,
        }
    }

    /// An idle connection that still looks open, if any.
    pub fn take(&self) -> Option<Ldap> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut ldap) = idle.pop() {
            if !ldap.is_closed() {
                metrics::gauge!("latchkey_ldap_bind_pool_idle").set(idle.len() as f64);
                return Some(ldap);
            }
        }
        metrics::gauge!("latchkey_ldap_bind_pool_idle").set(0.0);
        None
    }

    /// Gives a connection back after a bind (whatever the bind's answer), if there is room.
    pub fn put(&self, mut ldap: Ldap) {
        if ldap.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(ldap);
            metrics::gauge!("latchkey_ldap_bind_pool_idle").set(idle.len() as f64);
        }
    }

    /// Drops every idle connection.
    pub fn clear(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        metrics::gauge!("latchkey_ldap_bind_pool_idle").set(0.0);
    }
}

/// Runs one `ldap3` operation bounded by `t` (on top of `ldap3`'s own per-operation timeout):
/// running out of time is [`DirError::Timeout`], an `ldap3` error is classified.
pub async fn bounded<T>(
    t: Duration,
    f: impl Future<Output = ldap3::result::Result<T>>,
) -> Result<T, DirError> {
    tokio::time::timeout(t, f)
        .await
        .map_err(|_| DirError::Timeout(t))?
        .map_err(|e| classify_transport(&e, t))
}

/// Maps an `ldap3` error to a directory error.
pub fn classify_transport(e: &ldap3::LdapError, op_timeout: Duration) -> DirError {
    match e {
        ldap3::LdapError::Timeout { .. } => DirError::Timeout(op_timeout),
        ldap3::LdapError::Io { .. }
        | ldap3::LdapError::OpSend { .. }
        | ldap3::LdapError::ResultRecv { .. }
        | ldap3::LdapError::EndOfStream => DirError::Unreachable(describe_ldap3(e)),
        other => DirError::Protocol(other.to_string()),
    }
}

/// Directory diagnostic messages can echo what was sent; keep only the leading code part.
pub fn redact_diagnostic(text: &str) -> String {
    text.split(':')
        .next()
        .unwrap_or("")
        .chars()
        .take(60)
        .collect()
}
