//! Follows the store's invalidation log so that every instance drops cached identities soon
//! after any instance (or the CLI) changes them: woken by PostgreSQL NOTIFY when on PostgreSQL,
//! and polling every `poll_interval` in any case (SQLite has no notifications).

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_store::{Invalidation, Store};

use crate::keys::KeyService;

/// Called for each invalidated user (e.g. to clear their login rate-limit bucket).
pub type UserHook = Arc<
    dyn Fn(auth_core::UserId) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// How long invalidation rows are kept.
const KEEP_FOR: Duration = Duration::from_secs(3600);

/// Runs until aborted.
pub async fn follow(
    store: Store,
    keys: KeyService,
    poll_interval: Duration,
    on_user: Option<UserHook>,
) {
    let mut seq = match store.latest_invalidation().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the invalidation log; the key cache relies on its TTL until it can");
            0
        }
    };
    let mut notified = store.listen_for_invalidations();
    let mut last_prune = Instant::now();
    loop {
        match notified.as_mut() {
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
        match store.invalidations_since(seq).await {
            Ok((newest, items)) => {
                if newest < seq {
                    // The log was reset (a fresh database?): start over from scratch.
                    keys.invalidate_all();
                }
                seq = newest;
                for item in items {
                    match item {
                        Invalidation::User(u) => {
                            keys.invalidate_user(u);
                            if let Some(hook) = &on_user {
                                hook(u).await;
                            }
                        }
                        Invalidation::Realm(r) => keys.invalidate_realm(r),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the invalidation log"),
        }
        if last_prune.elapsed() > Duration::from_secs(600) {
            last_prune = Instant::now();
            if let Err(e) = store.prune_invalidations(KEEP_FOR).await {
                tracing::warn!(error = %e, "cannot prune the invalidation log");
            }
        }
    }
}
