//! Each configured server on its own, without failover: can it be reached, and does it take the
//! first step a service connection takes (the service bind, or a root-DSE read when binding
//! anonymously)? For `config check --connect`, the check `serve` runs at start, and `/readyz`.
//!
//! Unlike [`Connector::with_server`] a probe neither moves on to the next server nor marks
//! servers failed, so it changes nothing the logins rely on, and it logs nothing: the caller
//! reports.

use std::time::Duration;

use auth_core::SecretString;
use ldap3::Ldap;

use crate::config::LdapConfig;
use crate::conn::{Connector, DirError, secs, service_op, service_step};

/// What one server said to a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerState {
    /// It answered the first step: the service account is bound (or the root DSE was read).
    Ok,
    /// No answer: the connection was refused, reset or closed, or timed out.
    Down(String),
    /// It answered with a refusal (the service account was refused, say).
    Refused(String),
}

impl ServerState {
    /// `ok`, `down` or `refused`.
    pub fn name(&self) -> &'static str {
        match self {
            ServerState::Ok => "ok",
            ServerState::Down(_) => "down",
            ServerState::Refused(_) => "refused",
        }
    }

    /// What went wrong, naming the server and the operation (never a password).
    pub fn detail(&self) -> Option<&str> {
        match self {
            ServerState::Ok => None,
            ServerState::Down(d) | ServerState::Refused(d) => Some(d),
        }
    }
}

/// One server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProbe {
    pub uri: String,
    pub state: ServerState,
}

/// Probes the configured servers one by one (concurrently), with the configured transport,
/// timeouts and service account.
pub struct Prober {
    uris: Vec<String>,
    connector: Connector,
    bind_dn: String,
    bind_password: SecretString,
    operation_timeout: Duration,
}

impl Prober {
    /// Fails only when the TLS settings cannot be used (an unreadable `ca_file`).
    pub fn new(cfg: &LdapConfig) -> Result<Prober, DirError> {
        Ok(Prober {
            uris: cfg.uris.clone(),
            connector: Connector::new(cfg)?,
            bind_dn: cfg.bind_dn.clone(),
            bind_password: cfg.bind_password.clone(),
            operation_timeout: cfg.operation_timeout,
        })
    }

    /// Whether the service account is anonymous.
    pub fn anonymous(&self) -> bool {
        self.bind_dn.is_empty()
    }

    /// A connection to `uri` that took the first step, or why not. Takes at most the connect
    /// timeout plus the operation timeout.
    pub(crate) async fn connect(&self, uri: &str) -> Result<Ldap, ServerState> {
        if !self.bind_dn.is_empty() && self.bind_password.is_empty() {
            return Err(ServerState::Refused(format!(
                "the LDAP service account `{}` has no password (an empty password would be an anonymous bind)",
                self.bind_dn
            )));
        }
        let ldap = self.connector.open(uri).await.map_err(ServerState::Down)?;
        let op = service_op(&self.bind_dn);
        let t = self.operation_timeout;
        service_step(ldap, uri.to_owned(), &self.bind_dn, &self.bind_password, t)
            .await
            .map_err(|e| match e {
                DirError::Timeout(t) => {
                    ServerState::Down(format!("{op} on {uri} timed out after {}", secs(t)))
                }
                DirError::Unreachable(why) => {
                    ServerState::Down(format!("{op} on {uri} failed: {why}"))
                }
                DirError::ServiceBind(msg) => ServerState::Refused(msg),
                other => ServerState::Refused(format!("{op} on {uri}: {other}")),
            })
    }

    /// Every server's state, in the configured order; the connection of the first server that
    /// is up is kept when `keep` is set (the others are closed).
    pub(crate) async fn probe_servers(&self, keep: bool) -> (Vec<ServerProbe>, Option<Ldap>) {
        let attempts = self.uris.iter().map(|uri| self.connect(uri));
        let results = futures_util::future::join_all(attempts).await;
        let mut kept = None;
        let mut probes = Vec::with_capacity(results.len());
        for (uri, result) in self.uris.iter().zip(results) {
            let state = match result {
                Ok(mut ldap) => {
                    if keep && kept.is_none() {
                        kept = Some(ldap);
                    } else {
                        let _ = tokio::time::timeout(self.operation_timeout, ldap.unbind()).await;
                    }
                    ServerState::Ok
                }
                Err(state) => state,
            };
            probes.push(ServerProbe {
                uri: uri.clone(),
                state,
            });
        }
        (probes, kept)
    }

    /// Every server's state, in the configured order: one connection and one service bind (or
    /// root-DSE read) each, all at once, each within the connect timeout plus the operation
    /// timeout.
    pub async fn probe_all(&self) -> Vec<ServerProbe> {
        self.probe_servers(false).await.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connect_is_down_and_names_the_server() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let uri = format!("ldap://127.0.0.1:{port}");
        let cfg = LdapConfig {
            uris: vec![uri.clone()],
            bind_dn: "cn=svc".into(),
            bind_password: SecretString::new("pw-not-shown"),
            connect_timeout: Duration::from_secs(2),
            ..LdapConfig::default()
        };
        let probes = Prober::new(&cfg).unwrap().probe_all().await;
        assert_eq!(probes.len(), 1);
        assert_eq!(probes[0].state.name(), "down");
        let detail = probes[0].state.detail().unwrap();
        assert!(detail.contains(&uri), "{detail}");
        assert!(!detail.contains("pw-not-shown"));
    }

    #[tokio::test]
    async fn a_service_account_without_password_is_refused_before_connecting() {
        let cfg = LdapConfig {
            uris: vec!["ldap://127.0.0.1:1".into()],
            bind_dn: "cn=svc".into(),
            ..LdapConfig::default()
        };
        let probes = Prober::new(&cfg).unwrap().probe_all().await;
        assert_eq!(probes[0].state.name(), "refused");
        assert!(probes[0].state.detail().unwrap().contains("no password"));
    }
}
