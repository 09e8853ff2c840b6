//! `latchkey audit list` (with filters: `auth_service::audit_log`, as the organization pages
//! filter it) and `latchkey audit prune`.

use anyhow::Result;
use auth_service::audit_log::{self, AuditQuery};
use auth_store::{Actor, AuditEntry};

use super::{AuditCommand, find_realm};
use crate::open::AppState;

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
            let query = AuditQuery {
                realm: realm_id,
                event,
                since: since.map(auth_service::clock::ago),
                until: None,
                person: user,
                actor: None,
                reason,
                limit: usize::try_from(limit).unwrap_or(0),
            };
            for e in audit_log::search(&state, &query).await? {
                print_entry(&e, json);
            }
            Ok(())
        }
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
