//! Building and running the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::logging::request_log;
use crate::routes;
use crate::state::{AppState, StartupError};

/// A running server: its address, and the handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests, and waits for the workers to exit.
    pub async fn stop(self) {
        self.watcher.abort();
        self.handle.stop(true).await;
        let _ = self.task.await;
    }

    /// Asks the server to stop without waiting (for use where awaiting is impossible).
    pub fn stop_soon(&self) {
        self.watcher.abort();
        drop(self.handle.stop(false));
    }

    /// Runs until the server exits (for example on SIGINT/SIGTERM).
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self.task.await;
        self.watcher.abort();
        match result {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }
}

/// Binds `bind` (the settings' address unless given) and serves in the background.
pub async fn start(state: AppState, bind: Option<&str>) -> Result<RunningServer, StartupError> {
    let addr = bind
        .map(str::to_owned)
        .unwrap_or_else(|| state.settings.server.bind.to_string());
    let workers = match state.settings.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let data = web::Data::new(state);
    let watcher = {
        let data = data.clone();
        let poll = data
            .settings
            .cache
            .poll_interval_ms
            .max(Duration::from_millis(10));
        let hook_data = data.clone();
        let hook: crate::invalidation::PasswordHook = Arc::new(move |user| {
            let data = hook_data.clone();
            Box::pin(async move {
                // A new password starts with a clean login history (here, and in Redis).
                if let Ok(Some(u)) = data.store.user_by_id(user).await {
                    data.limits.clear_account(&u).await;
                }
            })
        });
        let realm_data = data.clone();
        let on_realm: crate::invalidation::RealmHook =
            Arc::new(move || realm_data.invalidate_realms());
        let limits_data = data.clone();
        let on_limits: crate::invalidation::LimitsHook = Arc::new(move || {
            let data = limits_data.clone();
            Box::pin(async move { data.limits.apply_clears(&data.store).await })
        });
        let hooks = crate::invalidation::Hooks {
            on_password: Some(hook),
            on_realm: Some(on_realm),
            on_limits: Some(on_limits),
        };
        tokio::spawn(async move {
            use futures_util::FutureExt;
            // The follower loops forever; should it panic, every cache would silently fall
            // back to its TTL, so it is restarted (with the caches emptied).
            loop {
                let run = crate::invalidation::follow(
                    data.store.clone(),
                    data.keys.clone(),
                    poll,
                    hooks.clone(),
                );
                if std::panic::AssertUnwindSafe(run)
                    .catch_unwind()
                    .await
                    .is_ok()
                {
                    break;
                }
                tracing::error!("the invalidation follower failed; restarting it");
                data.keys.invalidate_all();
                data.invalidate_realms();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(crate::limits::headers))
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .wrap(from_fn(request_log))
            .configure(routes::configure)
            .default_service(web::to(routes::not_found))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(10)
    .bind(&addr)
    .map_err(|e| StartupError::Bind {
        addr: addr.clone(),
        error: e.to_string(),
    })?;
    let bound = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| StartupError::Bind {
            addr: addr.clone(),
            error: "no address bound".into(),
        })?;
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(RunningServer {
        addr: bound,
        handle,
        task,
        watcher,
    })
}
