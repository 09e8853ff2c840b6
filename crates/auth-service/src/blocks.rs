//! Logins refused for too many failures, as administrators see and lift them: `latchkey limits
//! list` / `clear` and Organization → Rate-limit blocks share these two functions.
//!
//! The list reads the audit log: login refusals (429) are audited (the first per name and
//! minute on each instance), so it shows who was refused within the login limit's longest
//! window and not cleared since, whatever the limiter's storage; each name says how long the
//! limiter (Redis when shared, else the serving instance's memory) still refuses it, or, where
//! that cannot be known (the command line without Redis), the latest it can last.
//!
//! A clear forgets the failures counted under the name as typed and under every identity it
//! resolves to (the local accounts with that email, the directory entry), in Redis when it is
//! configured, and writes a `login_limit_cleared` audit row naming the keys. That row also goes
//! through the invalidation log, so every running instance forgets the keys in its memory
//! limiter within a poll interval: a clear works with or without Redis.

use std::collections::BTreeMap;
use std::time::Duration;

use auth_core::{BackendKind, RealmId, Timestamp};
use auth_store::{Actor, AuditEvent};
use serde_json::json;

use crate::App;
use crate::clock;
use crate::error::ServiceError;
use crate::limits::{account_keys, identity_key, name_key};
use crate::members::By;

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unavailable("rate-limit administration failed", e)
}

/// One login name refused lately for too many failures.
#[derive(Debug, Clone)]
pub struct Block {
    /// The name as the limit counts it ([`App::login_name`]).
    pub name: String,
    pub realm: Option<RealmId>,
    /// Refusals audited (one per name and minute on each instance).
    pub refusals: u64,
    pub last_refused: Timestamp,
    /// Whether [`Block::blocked_for`] is known: the limiter asked holds the counts (Redis, or
    /// this server's own memory when it serves the logins).
    pub known: bool,
    /// How long the limiter still refuses the name (`None`: a login would be let through now,
    /// or not [`Block::known`]).
    pub blocked_for: Option<Duration>,
    /// The latest the refusal can last: the last refusal plus the limit's longest window.
    pub ends_by: Timestamp,
}

impl Block {
    /// When the refusal ends, if it still holds.
    pub fn blocked_until(&self) -> Option<Timestamp> {
        self.blocked_for
            .map(|d| Timestamp(clock::now().0 + d.as_micros() as i64))
    }
}

/// The names refused within the login limit's longest window and not cleared since, by name
/// (of `realm` only, when given); with that window. `serving`: this process serves the logins
/// (a page), so its memory limiter holds counts; the command line's does not, and without Redis
/// it says only [`Block::ends_by`].
pub async fn list(
    app: &App,
    realm: Option<RealmId>,
    serving: bool,
) -> Result<(Vec<Block>, Duration), ServiceError> {
    let window = app.limits.login_window();
    let rows = app
        .store
        .audit_events_since(
            &[AuditEvent::UserLoginFailed, AuditEvent::LoginLimitCleared],
            clock::ago(window),
            100_000,
        )
        .await
        .map_err(unavailable)?;
    let mut blocks: BTreeMap<String, Block> = BTreeMap::new();
    for row in rows {
        let Some(typed) = row.detail["username"].as_str() else {
            continue;
        };
        let name = app.login_name(typed);
        if row.event_type == AuditEvent::LoginLimitCleared.as_str() {
            blocks.remove(&name);
            continue;
        }
        if row.detail["reason"] != "rate_limited" {
            continue;
        }
        if realm.is_some_and(|r| row.realm_id != Some(r)) {
            continue;
        }
        let b = blocks.entry(name.clone()).or_insert(Block {
            name,
            realm: row.realm_id,
            refusals: 0,
            last_refused: row.event_time,
            known: false,
            blocked_for: None,
            ends_by: row.event_time,
        });
        b.refusals += 1;
        b.last_refused = row.event_time;
        b.ends_by = Timestamp(row.event_time.0 + window.as_micros() as i64);
    }
    let mut out: Vec<Block> = blocks.into_values().collect();
    let known = serving || app.limits.mode().await == "shared";
    for b in &mut out {
        b.known = known;
        if known {
            b.blocked_for = app.limits.login_block(&b.name).await;
        }
    }
    Ok((out, window))
}

/// What a clear did.
#[derive(Debug, Clone)]
pub struct Cleared {
    /// The name as the limit counts it.
    pub name: String,
    /// Limiter keys forgotten.
    pub keys: usize,
    /// `shared`, `local` (Redis configured but unreachable: it keeps its counters until their
    /// window passes) or `memory`.
    pub mode: &'static str,
    /// The directory could not be asked who the name is (failures counted against its entry
    /// were not cleared).
    pub directory_error: Option<String>,
}

/// Lets `username` (and the people it resolves to) try again. A person asking (an
/// administrator on the organization pages) may lift only a name listed for their realm, and
/// only their realm's accounts are cleared; the command line clears every realm's.
pub async fn clear(app: &App, by: By<'_>, username: &str) -> Result<Cleared, ServiceError> {
    let name = app.login_name(username);
    let realm = match by {
        By::Caller(c) => {
            crate::admin::require_admin(c)?;
            let (listed, _) = list(app, Some(c.realm.id), true).await?;
            if !listed.iter().any(|b| b.name == name) {
                return Err(ServiceError::invalid(
                    "No login of that name is blocked in this organization.",
                ));
            }
            Some(c.realm.id)
        }
        By::Cli => None,
    };
    let mode = app.limits.mode().await;
    let mut keys = vec![name_key(&name)];
    // The failures also count against the people a backend resolves the name to.
    let records = app
        .store
        .login_records_any_realm(username)
        .await
        .map_err(unavailable)?;
    for record in records {
        if realm.is_none_or(|r| record.user.realm_id == r) {
            keys.extend(account_keys(&record.user));
        }
    }
    let mut entry = None;
    let mut directory_error = None;
    if let Some(dir) = &app.ldap {
        match auth_ldap::limit_identity_of(dir, username).await {
            Ok(Some(identity)) => {
                keys.push(identity_key(BackendKind::Ldap, &identity));
                entry = Some(identity);
            }
            Ok(None) => {}
            Err(e) => directory_error = Some(e.to_string()),
        }
    }
    keys.sort();
    keys.dedup();
    // Redis, when it answers; the audit row below reaches every instance's memory.
    app.limits.clear_keys(&keys).await;
    let (actor, realm_id) = match by {
        By::Caller(c) => (Actor::api(Some(c.user.id)), Some(c.realm.id)),
        By::Cli => (Actor::cli(), None),
    };
    app.store
        .record_event(
            realm_id,
            AuditEvent::LoginLimitCleared,
            actor,
            None,
            json!({
                "username": name,
                "directory_entry": entry,
                "keys": keys,
                "shared": mode == "shared",
            }),
        )
        .await
        .map_err(unavailable)?;
    tracing::info!(
        keys = keys.len(),
        "failed logins cleared by an administrator"
    );
    Ok(Cleared {
        name,
        keys: keys.len(),
        mode,
        directory_error,
    })
}
