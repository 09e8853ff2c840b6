//! What `GET /readyz` knows about the directory: every configured server probed on its own
//! (one connection and one service bind, or root-DSE read, each), at most once per [`TTL`]
//! however often it is asked, so a load balancer polling `/readyz` cannot hammer the directory.
//! One probe runs at a time; requests that arrive meanwhile wait for its answer. A server's
//! change of state is logged once (a warning when it goes down or refuses the service account,
//! information when it is back), not at every probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_ldap::{DirError, LdapConfig, Prober, ServerProbe, ServerState};

/// How long a probe's answer is reused.
pub const TTL: Duration = Duration::from_secs(5);

pub type Snapshot = Arc<Vec<ServerProbe>>;

/// The directory servers' states for `/readyz`.
pub struct Readiness {
    prober: Option<Prober>,
    last: tokio::sync::Mutex<Option<(Instant, Snapshot)>>,
}

impl Readiness {
    /// For the LDAP configuration, when LDAP is configured. Fails only when the TLS settings
    /// cannot be used.
    pub fn new(ldap: Option<&LdapConfig>) -> Result<Readiness, DirError> {
        Ok(Readiness {
            prober: ldap.map(Prober::new).transpose()?,
            last: tokio::sync::Mutex::new(None),
        })
    }

    /// Every server's state, in the configured order (at most [`TTL`] old), or `None` when
    /// LDAP is not configured. A fresh probe takes at most the connect timeout plus the
    /// operation timeout.
    pub async fn directory(&self) -> Option<Snapshot> {
        let prober = self.prober.as_ref()?;
        let mut last = self.last.lock().await;
        if let Some((at, snapshot)) = last.as_ref() {
            if at.elapsed() < TTL {
                return Some(snapshot.clone());
            }
        }
        let probes: Snapshot = Arc::new(prober.probe_all().await);
        log_changes(last.as_ref().map(|(_, p)| p.as_slice()), &probes);
        *last = Some((Instant::now(), probes.clone()));
        Some(probes)
    }
}

/// Whether at least one server answers.
pub fn any_up(probes: &[ServerProbe]) -> bool {
    probes.iter().any(|p| p.state == ServerState::Ok)
}

fn log_changes(before: Option<&[ServerProbe]>, now: &[ServerProbe]) {
    for (i, p) in now.iter().enumerate() {
        let was = before.and_then(|b| b.get(i)).map(|b| b.state.name());
        if was == Some(p.state.name()) {
            continue;
        }
        match (&p.state, was) {
            (ServerState::Ok, None) => {}
            (ServerState::Ok, Some(_)) => {
                tracing::info!(server = %p.uri, "readiness: the LDAP server answers again")
            }
            (state, _) => tracing::warn!(
                server = %p.uri,
                state = state.name(),
                error = state.detail().unwrap_or_default(),
                "readiness: the LDAP server cannot be used"
            ),
        }
    }
}

/// What `/health` reports: whether the database answers, and where rate-limit counters live.
#[derive(Debug, Clone)]
pub struct Health {
    /// The database's error, when it does not answer (for the log).
    pub database: Result<(), String>,
    /// `shared`, `local` or `memory` ([`crate::limits::Limits::mode`]).
    pub rate_limits: &'static str,
}

/// What `/readyz` reports: the database, and each directory server when LDAP is configured.
#[derive(Debug, Clone)]
pub struct Ready {
    pub database_up: bool,
    pub directory: Option<Snapshot>,
}

impl Ready {
    /// Ready: the database answers and, with LDAP, at least one directory server does.
    pub fn is_ready(&self) -> bool {
        self.database_up && self.directory_up()
    }

    /// No directory configured, or at least one server up.
    pub fn directory_up(&self) -> bool {
        self.directory.as_deref().is_none_or(|s| any_up(s))
    }
}

impl crate::App {
    pub async fn health(&self) -> Health {
        let (db, mode) = tokio::join!(self.store.ping(), self.limits.mode());
        Health {
            database: db.map_err(|e| e.to_string()),
            rate_limits: mode,
        }
    }

    pub async fn ready(&self) -> Ready {
        let (db, directory) = tokio::join!(self.store.ping(), self.readiness.directory());
        Ready {
            database_up: db.is_ok(),
            directory,
        }
    }
}
