//! "Test connection" for an administrator: each configured server taken step by step — TCP,
//! then TLS (`ldaps://`) or StartTLS, then the service bind (or, anonymous, a root-DSE read) —
//! so that a failure names the step that failed (`TLS: certificate not trusted`), then, on
//! the first server that passed, what the directory check reads (the people base, the groups,
//! the attribute names). Nothing here changes what logins use: no failover marks, no pool.

use std::time::Duration;

use crate::check::check_on;
use crate::config::LdapConfig;
use crate::conn::{Connector, DirError, secs, service_op, service_step};
use crate::finding::{Finding, Level};

/// One step on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `TCP`, `TLS`, `StartTLS`, `LDAP`, `service bind`, `root DSE read`.
    pub name: &'static str,
    pub ok: bool,
    /// What happened, naming the server (never a password).
    pub detail: String,
}

/// One server's steps, up to the first that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSteps {
    pub uri: String,
    pub steps: Vec<Step>,
}

impl ServerSteps {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    /// The failed step as `STEP: what`, e.g. `TLS: certificate not trusted (…)`.
    pub fn failure(&self) -> Option<String> {
        self.steps
            .iter()
            .find(|s| !s.ok)
            .map(|s| format!("{}: {}", s.name, s.detail))
    }
}

/// The whole test.
#[derive(Debug, Clone, Default)]
pub struct ConnectionTest {
    pub servers: Vec<ServerSteps>,
    /// The directory check on the first server that passed (people base, groups, attributes).
    pub findings: Vec<Finding>,
}

impl ConnectionTest {
    /// Every server passed and the check found no problem.
    pub fn passed(&self) -> bool {
        !self.servers.is_empty()
            && self.servers.iter().all(ServerSteps::passed)
            && !self.findings.iter().any(|f| f.level == Level::Problem)
    }
}

/// `host:port` of an `ldap://` or `ldaps://` URI (default ports 389 and 636).
fn host_port(uri: &str) -> Option<(String, u16)> {
    let (scheme, rest) = uri.split_once("://")?;
    let default = match scheme {
        "ldap" => 389,
        "ldaps" => 636,
        _ => return None,
    };
    let authority = rest.split('/').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

/// The TLS step's failure in an administrator's words: certificate problems first.
fn tls_failure(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("self signed") || lower.contains("issuer") {
        format!("certificate not trusted ({message})")
    } else {
        message.to_owned()
    }
}

async fn tcp_step(uri: &str, t: Duration) -> Step {
    let Some((host, port)) = host_port(uri) else {
        return Step {
            name: "TCP",
            ok: false,
            detail: format!("{uri} is not ldap://HOST[:PORT] or ldaps://HOST[:PORT]"),
        };
    };
    let target = format!("{host}:{port}");
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(t, connect).await {
        Ok(Ok(_)) => Step {
            name: "TCP",
            ok: true,
            detail: format!("connected to {target}"),
        },
        Ok(Err(e)) => Step {
            name: "TCP",
            ok: false,
            detail: format!("cannot connect to {target}: {e}"),
        },
        Err(_) => Step {
            name: "TCP",
            ok: false,
            detail: format!("connecting to {target} timed out after {}", secs(t)),
        },
    }
}

/// Tests every configured server step by step, then checks the directory on the first that
/// passed. Fails only when the TLS settings cannot be used (an unreadable `ca_file`).
pub async fn test_connection(cfg: &LdapConfig) -> Result<ConnectionTest, DirError> {
    let connector = Connector::new(cfg)?;
    let mut out = ConnectionTest::default();
    let mut kept = None;
    for uri in &cfg.uris {
        let mut steps = vec![tcp_step(uri, cfg.connect_timeout).await];
        if !steps[0].ok {
            out.servers.push(ServerSteps {
                uri: uri.clone(),
                steps,
            });
            continue;
        }
        let tls = if uri.starts_with("ldaps://") {
            Some("TLS")
        } else if cfg.starttls {
            Some("StartTLS")
        } else {
            None
        };
        let ldap = match connector.open(uri).await {
            Ok(ldap) => {
                if let Some(name) = tls {
                    steps.push(Step {
                        name,
                        ok: true,
                        detail: if cfg.tls_verify {
                            "the server's certificate is trusted".into()
                        } else {
                            "established WITHOUT certificate verification (tls_verify = false)"
                                .into()
                        },
                    });
                }
                Some(ldap)
            }
            Err(message) => {
                steps.push(match tls {
                    Some(name) => Step {
                        name,
                        ok: false,
                        detail: tls_failure(&message),
                    },
                    None => Step {
                        name: "LDAP",
                        ok: false,
                        detail: message,
                    },
                });
                None
            }
        };
        if let Some(ldap) = ldap {
            let op = service_op(&cfg.bind_dn);
            let result = if !cfg.bind_dn.is_empty() && cfg.bind_password.is_empty() {
                Err(format!(
                    "the service account `{}` has no password (an empty password would be an anonymous bind)",
                    cfg.bind_dn
                ))
            } else {
                service_step(
                    ldap,
                    uri.clone(),
                    &cfg.bind_dn,
                    &cfg.bind_password,
                    cfg.operation_timeout,
                )
                .await
                .map_err(|e| match e {
                    DirError::Timeout(t) => format!("{op} on {uri} timed out after {}", secs(t)),
                    DirError::ServiceBind(msg) => msg,
                    other => format!("{op} on {uri}: {other}"),
                })
            };
            match result {
                Ok(ldap) => {
                    steps.push(Step {
                        name: op,
                        ok: true,
                        detail: if cfg.bind_dn.is_empty() {
                            "root DSE read anonymously".into()
                        } else {
                            format!("bound as `{}`", cfg.bind_dn)
                        },
                    });
                    if kept.is_none() {
                        kept = Some(ldap);
                    } else {
                        let mut ldap = ldap;
                        let _ = tokio::time::timeout(cfg.operation_timeout, ldap.unbind()).await;
                    }
                }
                Err(detail) => steps.push(Step {
                    name: op,
                    ok: false,
                    detail,
                }),
            }
        }
        out.servers.push(ServerSteps {
            uri: uri.clone(),
            steps,
        });
    }
    match kept {
        Some(ldap) => out.findings = check_on(cfg, cfg.bind_dn.is_empty(), ldap).await,
        None => out.findings.push(Finding::new(
            Level::Problem,
            "no server passed every step: the search base, groups and attributes were not checked",
        )),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_give_host_and_port() {
        assert_eq!(
            host_port("ldap://127.0.0.1"),
            Some(("127.0.0.1".into(), 389))
        );
        assert_eq!(
            host_port("ldaps://ldap.example.org:1636/"),
            Some(("ldap.example.org".into(), 1636))
        );
        assert_eq!(host_port("ldaps://[::1]"), Some(("::1".into(), 636)));
        assert_eq!(host_port("ldap://[::1]:10389"), Some(("::1".into(), 10389)));
        assert_eq!(host_port("http://x"), None);
        assert_eq!(host_port("ldap://"), None);
    }

    #[test]
    fn certificate_failures_say_so() {
        assert!(
            tls_failure("connect to ldaps://x failed: error:0A000086:SSL routines::certificate verify failed")
                .starts_with("certificate not trusted")
        );
        assert_eq!(tls_failure("connection reset"), "connection reset");
    }
}
