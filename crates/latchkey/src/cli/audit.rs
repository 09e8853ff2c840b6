//! `latchkey audit list` (with filters) and `latchkey audit prune`.

use std::collections::HashSet;

use anyhow::Result;
use auth_store::{Actor, AuditEntry};

use super::{AuditCommand, find_realm};
use crate::open::AppState;

/// Rows read per page while filtering (the filters on details are applied here).
const PAGE: i64 = 1_000;

pub async fn run(state: AppState, cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Prune { older_than } => {
            let removed = state.store.prune_audit(older_than, Actor::cli()).await?;
            println!(
                "deleted {removed} audit entries older than {}",
                humantime::format_duration(older_than)
            );
            Ok(())
        }
        AuditCommand::List {
            realm,
            user,
            event,
            reason,
            since,
            limit,
            json,
        } => {
            let realm_id = match realm {
                Some(sub) => Some(find_realm(&state, &sub).await?.id),
                None => None,
            };
            let since = since.map(auth_service::clock::ago);
            let person = match &user {
                Some(email) => Some(Person {
                    ids: state
                        .store
                        .login_records_any_realm(email)
                        .await?
                        .into_iter()
                        .map(|r| r.user.id.0)
                        .collect(),
                    name: auth_core::fold_login_name(email),
                }),
                None => None,
            };
            let mut shown = 0;
            let mut before = None;
            while shown < limit {
                let page = state
                    .store
                    .audit_page(realm_id, event.clone(), since, before, PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                before = Some(last.id);
                for e in &page {
                    if shown >= limit {
                        break;
                    }
                    let about_person = person.as_ref().is_none_or(|p| p.matches(e));
                    let with_reason = reason
                        .as_deref()
                        .is_none_or(|r| e.detail["reason"].as_str() == Some(r));
                    if about_person && with_reason {
                        print_entry(e, json);
                        shown += 1;
                    }
                }
                if (page.len() as i64) < PAGE {
                    break;
                }
            }
            Ok(())
        }
    }
}

/// Whom `--user` names: the accounts with that email in any realm, and the name as typed at
/// failed logins.
struct Person {
    ids: HashSet<i64>,
    name: String,
}

impl Person {
    fn matches(&self, e: &AuditEntry) -> bool {
        let ids = [e.acting_user_id, e.modified_user_id];
        ids.iter().flatten().any(|u| self.ids.contains(&u.0))
            || e.detail["username"]
                .as_str()
                .is_some_and(|n| auth_core::fold_login_name(n) == self.name)
    }
}

fn print_entry(e: &AuditEntry, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": e.id,
                "realm_id": e.realm_id.map(|r| r.0),
                "event_type": e.event_type,
                "acting_user_id": e.acting_user_id.map(|u| u.0),
                "modified_user_id": e.modified_user_id.map(|u| u.0),
                "source": e.source,
                "detail": e.detail,
                "event_time_us": e.event_time.0,
            })
        );
        return;
    }
    let id = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    println!(
        "{:>6}  {}  {:<38} realm={} actor={} user={} via={} {}",
        e.id,
        auth_service::clock::rfc3339(e.event_time),
        e.event_type,
        id(e.realm_id.map(|r| r.0)),
        id(e.acting_user_id.map(|u| u.0)),
        id(e.modified_user_id.map(|u| u.0)),
        e.source,
        e.detail
    );
}
