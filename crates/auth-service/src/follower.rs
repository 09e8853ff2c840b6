//! Starts the invalidation follower for a running application: the key cache, the realm cache,
//! cleared login limits, new passwords and realms' own directories of every instance follow
//! the database's log.

use std::sync::Arc;
use std::time::Duration;

use crate::App;
use crate::invalidation::{Hooks, LimitsHook, PasswordHook, RealmHook, RealmLdapHook, follow};

impl App {
    /// Spawns the follower on the current runtime; it runs until the handle is aborted. Should
    /// it panic, every cache would silently fall back to its TTL, so it is restarted (with the
    /// caches emptied).
    pub fn spawn_follower(self: &Arc<App>) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        let poll = app.poll_interval.max(Duration::from_millis(10));
        let hook_app = app.clone();
        let on_password: PasswordHook = Arc::new(move |user| {
            let app = hook_app.clone();
            Box::pin(async move {
                // A new password starts with a clean login history (here, and in Redis).
                if let Ok(Some(u)) = app.store.user_by_id(user).await {
                    app.limits.clear_account(&u).await;
                }
            })
        });
        let realm_app = app.clone();
        let on_realm: RealmHook = Arc::new(move || realm_app.invalidate_realms());
        let limits_app = app.clone();
        let on_limits: LimitsHook = Arc::new(move || {
            let app = limits_app.clone();
            Box::pin(async move { app.limits.apply_clears(&app.store).await })
        });
        let ldap_app = app.clone();
        let on_realm_ldap: RealmLdapHook = Arc::new(move |realm| {
            let app = ldap_app.clone();
            Box::pin(async move { app.reload_realm_ldap(realm).await })
        });
        let hooks = Hooks {
            on_password: Some(on_password),
            on_realm: Some(on_realm),
            on_limits: Some(on_limits),
            on_realm_ldap: Some(on_realm_ldap),
        };
        tokio::spawn(async move {
            use futures_util::FutureExt;
            loop {
                let run = follow(app.store.clone(), app.keys.clone(), poll, hooks.clone());
                if std::panic::AssertUnwindSafe(run)
                    .catch_unwind()
                    .await
                    .is_ok()
                {
                    break;
                }
                tracing::error!("the invalidation follower failed; restarting it");
                app.keys.invalidate_all();
                app.invalidate_realms();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}
