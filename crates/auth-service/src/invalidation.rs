//! Follows the store's invalidation log so that every instance drops cached identities soon
//! after any instance (or the CLI) changes them: woken by PostgreSQL NOTIFY when on PostgreSQL,
//! and polling every `poll_interval` in any case (SQLite has no notifications).
//!
//! Sequence numbers are handed out when a transaction inserts its row but become visible when
//! it commits, so a lower number can appear after a higher one was read. Each read therefore
//! also takes every row of the last [`LOOKBACK`], and rows already applied are skipped.
//!
//! While the log cannot be read (the database is down) it reads again after a pause that doubles
//! from 250 ms to 5 s, warning once; nothing is lost, as reading resumes from the last sequence
//! number, and meanwhile cached entries expire at their TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_store::{Invalidation, Store};

use crate::keys::KeyService;

/// Called for each user whose password changed (to clear their login rate-limit history).
pub type PasswordHook = Arc<
    dyn Fn(auth_core::UserId) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// How long invalidation rows are kept.
const KEEP_FOR: Duration = Duration::from_secs(3600);

/// How far back each read looks for rows that committed late.
pub const LOOKBACK: Duration = Duration::from_secs(10);

/// Called for each realm invalidation (to drop cached realms).
pub type RealmHook = Arc<dyn Fn() + Send + Sync>;

/// Called when an administrator cleared login limits (to forget them in memory limiters).
pub type LimitsHook =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// Called for each realm whose own directory settings changed (to rebuild its directory).
pub type RealmLdapHook = Arc<
    dyn Fn(auth_core::RealmId) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// What the follower calls besides the key cache.
#[derive(Clone, Default)]
pub struct Hooks {
    pub on_password: Option<PasswordHook>,
    pub on_realm: Option<RealmHook>,
    pub on_limits: Option<LimitsHook>,
    pub on_realm_ldap: Option<RealmLdapHook>,
}

/// While the log cannot be read (the database is down): the first pause before reading again,
/// doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until aborted.
pub async fn follow(store: Store, keys: KeyService, poll_interval: Duration, hooks: Hooks) {
    let Hooks {
        on_password,
        on_realm,
        on_limits,
        on_realm_ldap,
    } = hooks;
    let mut seq = match store.latest_invalidation().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the invalidation log; the key cache relies on its TTL until it can");
            0
        }
    };
    let mut applied: HashMap<i64, Instant> = HashMap::new();
    let mut notified = store.listen_for_invalidations();
    let mut last_prune = Instant::now();
    // While reads fail: since when, and the pause before reading again (instead of waiting for
    // a notification or the poll).
    let mut failing_since: Option<Instant> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        match notified.as_mut() {
            _ if failing_since.is_some() => tokio::time::sleep(backoff).await,
            Some(rx) => {
                tokio::select! {
                    msg = rx.recv() => {
                        if msg.is_none() {
                            notified = None;
                        }
                    }
                    _ = tokio::time::sleep(poll_interval) => {}
                }
            }
            None => tokio::time::sleep(poll_interval).await,
        }
        match store.invalidations_since(seq, LOOKBACK).await {
            Ok((newest, items)) => {
                if let Some(since) = failing_since.take() {
                    tracing::info!(
                        after_secs = since.elapsed().as_secs_f64(),
                        "reading the invalidation log again"
                    );
                    backoff = FIRST_BACKOFF;
                }
                seq = newest;
                // Caches first, all of them; the slower hooks after, off this loop.
                let mut passwords = Vec::new();
                let mut limits_cleared = false;
                let mut directories = Vec::new();
                for (n, item) in items {
                    if applied.insert(n, Instant::now()).is_some() {
                        continue;
                    }
                    match item {
                        Invalidation::User(u) => keys.invalidate_user(u),
                        Invalidation::Password(u) => {
                            keys.invalidate_user(u);
                            passwords.push(u);
                        }
                        Invalidation::Realm(r) => {
                            keys.invalidate_realm(r);
                            if let Some(hook) = &on_realm {
                                hook();
                            }
                        }
                        Invalidation::LoginLimits => limits_cleared = true,
                        Invalidation::RealmLdap(r) => {
                            if !directories.contains(&r) {
                                directories.push(r);
                            }
                        }
                    }
                }
                if let Some(hook) = &on_realm_ldap {
                    for r in directories {
                        tokio::spawn(hook(r));
                    }
                }
                if let (true, Some(hook)) = (limits_cleared, &on_limits) {
                    tokio::spawn(hook());
                }
                if let Some(hook) = &on_password {
                    for u in passwords {
                        tokio::spawn(hook(u));
                    }
                }
                applied.retain(|_, at| at.elapsed() < LOOKBACK * 3);
            }
            Err(e) => {
                // Nothing is lost: the next successful read starts from `seq`. Meanwhile cached
                // owners and realms expire at their TTL.
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    tracing::warn!(error = %e, "cannot read the invalidation log; retrying with a growing pause (cached entries expire at their TTL)");
                } else {
                    tracing::debug!(error = %e, "cannot read the invalidation log");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                continue;
            }
        }
        if last_prune.elapsed() > Duration::from_secs(600) {
            last_prune = Instant::now();
            if let Err(e) = store.prune_invalidations(KEEP_FOR).await {
                tracing::warn!(error = %e, "cannot prune the invalidation log");
            }
        }
    }
}
