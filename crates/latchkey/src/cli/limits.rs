//! `latchkey limits clear` and `latchkey limits list`.
//!
//! A clear forgets the failures counted under the name as typed and under every identity it
//! resolves to (the local accounts with that email, the directory entry), in Redis when it is
//! configured, and writes a `login_limit_cleared` audit row naming the keys. That row also goes
//! through the invalidation log, so every running instance forgets the keys in its memory
//! limiter within a poll interval: a clear works with or without Redis.
//!
//! The list reads the audit log: login refusals (429) are audited (the first per name and minute
//! on each instance), so it shows who was refused within the longest login-limit window and not
//! cleared since, whatever the limiter's storage.

use std::collections::BTreeMap;

use anyhow::Result;
use auth_core::BackendKind;
use auth_store::{Actor, AuditEvent};
use serde_json::json;

use crate::open::AppState;
use auth_service::clock::{self, rfc3339};
use auth_service::limits::{account_keys, identity_key, name_key};

pub async fn clear(state: &AppState, username: &str) -> Result<()> {
    let name = state.login_name(username);
    let mode = state.limits.mode().await;
    let mut keys = vec![name_key(&name)];
    // The failures also count against the people a backend resolves the name to.
    for record in state.store.login_records_any_realm(username).await? {
        keys.extend(account_keys(&record.user));
    }
    let mut entry = None;
    if let Some(dir) = &state.ldap {
        match auth_ldap::limit_identity_of(dir, username).await {
            Ok(Some(identity)) => {
                keys.push(identity_key(BackendKind::Ldap, &identity));
                entry = Some(identity);
            }
            Ok(None) => {}
            Err(e) => eprintln!(
                "warning: the directory could not be asked who {username:?} is ({e}); \
                 failures counted against the directory entry were not cleared"
            ),
        }
    }
    keys.sort();
    keys.dedup();
    // Redis, when it answers; the audit row below reaches every instance's memory.
    state.limits.clear_keys(&keys).await;
    state
        .store
        .record_event(
            None,
            AuditEvent::LoginLimitCleared,
            Actor::cli(),
            None,
            json!({
                "username": name,
                "directory_entry": entry,
                "keys": keys,
                "shared": mode == "shared",
            }),
        )
        .await?;
    if mode == "local" {
        eprintln!(
            "warning: Redis is configured but unreachable: running instances forget these \
             failures, but Redis keeps its counters until their window passes"
        );
    }
    println!(
        "cleared the failed logins of {name:?} ({} limiter keys); running instances forget them within a poll interval",
        keys.len()
    );
    Ok(())
}

/// One name that was refused lately.
struct Block {
    name: String,
    realm: Option<i64>,
    refusals: u64,
    last: auth_core::Timestamp,
}

pub async fn list(state: &AppState, as_json: bool) -> Result<()> {
    let window = state
        .settings
        .rate_limits
        .authenticate_by_username
        .longest_window()
        .as_secs();
    let since = clock::ago(std::time::Duration::from_secs(window));
    let rows = state
        .store
        .audit_events_since(
            &[AuditEvent::UserLoginFailed, AuditEvent::LoginLimitCleared],
            since,
            100_000,
        )
        .await?;
    let mut blocks: BTreeMap<String, Block> = BTreeMap::new();
    for row in rows {
        let Some(typed) = row.detail["username"].as_str() else {
            continue;
        };
        let name = state.login_name(typed);
        if row.event_type == AuditEvent::LoginLimitCleared.as_str() {
            blocks.remove(&name);
            continue;
        }
        if row.detail["reason"] != "rate_limited" {
            continue;
        }
        let b = blocks.entry(name.clone()).or_insert(Block {
            name,
            realm: row.realm_id.map(|r| r.0),
            refusals: 0,
            last: row.event_time,
        });
        b.refusals += 1;
        b.last = row.event_time;
    }
    if as_json {
        let list: Vec<_> = blocks
            .values()
            .map(|b| {
                json!({
                    "username": b.name,
                    "realm_id": b.realm,
                    "refusals_audited": b.refusals,
                    "last_refused": rfc3339(b.last),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if blocks.is_empty() {
        println!("no login was refused for too many failures in the last {window} s");
        return Ok(());
    }
    println!("refused for too many failed logins in the last {window} s (not cleared since):");
    for b in blocks.values() {
        println!(
            "  {:<40} last refused {}  ({} audited refusals)",
            format!("{:?}", b.name),
            rfc3339(b.last),
            b.refusals
        );
    }
    println!(
        "`latchkey limits clear <username>` lets a name (and the people it resolves to) try again."
    );
    Ok(())
}
