//! Reading the audit log as administrators filter it: `latchkey audit list` and Organization →
//! Audit log (and its CSV export) share [`search`]. The store pages through the log newest first
//! by realm, event type and start time; the filters on people and details are applied here.

use std::collections::HashSet;

use auth_core::{RealmId, Timestamp, fold_login_name};
pub use auth_store::{AuditEntry, AuditEvent};

use crate::App;
use crate::error::ServiceError;

/// Rows read per page while filtering.
const PAGE: i64 = 1_000;

/// What to look for. Every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub realm: Option<RealmId>,
    /// An event type name (`user_login_failed`, ...).
    pub event: Option<String>,
    /// Written at or after.
    pub since: Option<Timestamp>,
    /// Written at or before.
    pub until: Option<Timestamp>,
    /// The person an entry is about or by: the accounts with this email (any realm), or the name
    /// as typed at a failed login.
    pub person: Option<String>,
    /// Who acted: the accounts with this email.
    pub actor: Option<String>,
    /// The `reason` of the entry's details (`rate_limited`, `bad_credentials`, ...).
    pub reason: Option<String>,
    /// At most this many entries.
    pub limit: usize,
}

/// The accounts an email names, in any realm, and the name as a login would count it.
struct Person {
    ids: HashSet<i64>,
    name: String,
}

impl Person {
    async fn of(app: &App, email: &str) -> Result<Person, ServiceError> {
        let ids = app
            .store
            .login_records_any_realm(email.trim())
            .await
            .map_err(|e| ServiceError::unavailable("audit log search failed", e))?
            .into_iter()
            .map(|r| r.user.id.0)
            .collect();
        Ok(Person {
            ids,
            name: fold_login_name(email),
        })
    }

    fn about(&self, e: &AuditEntry) -> bool {
        let ids = [e.acting_user_id, e.modified_user_id];
        ids.iter().flatten().any(|u| self.ids.contains(&u.0))
            || e.detail["username"]
                .as_str()
                .is_some_and(|n| fold_login_name(n) == self.name)
    }

    fn acted(&self, e: &AuditEntry) -> bool {
        e.acting_user_id.is_some_and(|u| self.ids.contains(&u.0))
    }
}

/// The entries that match `q`, newest first.
pub async fn search(app: &App, q: &AuditQuery) -> Result<Vec<AuditEntry>, ServiceError> {
    let person = match q.person.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(email) => Some(Person::of(app, email).await?),
        None => None,
    };
    let actor = match q.actor.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(email) => Some(Person::of(app, email).await?),
        None => None,
    };
    let mut out = Vec::new();
    let mut before = None;
    while out.len() < q.limit {
        let page = app
            .store
            .audit_page(q.realm, q.event.clone(), q.since, before, PAGE)
            .await
            .map_err(|e| ServiceError::unavailable("audit log search failed", e))?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        let full = page.len() as i64 == PAGE;
        for e in page {
            if out.len() >= q.limit {
                break;
            }
            let keep = q.until.is_none_or(|t| e.event_time.0 <= t.0)
                && person.as_ref().is_none_or(|p| p.about(&e))
                && actor.as_ref().is_none_or(|a| a.acted(&e))
                && q.reason
                    .as_deref()
                    .is_none_or(|r| e.detail["reason"].as_str() == Some(r));
            if keep {
                out.push(e);
            }
        }
        if !full {
            break;
        }
    }
    Ok(out)
}
