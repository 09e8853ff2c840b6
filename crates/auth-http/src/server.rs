//! Building and running the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::HttpOptions;
use crate::logging::request_log;
use crate::routes;

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

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {error}")]
pub struct ServeError {
    pub addr: String,
    pub error: String,
}

/// Binds `options.bind` and serves in the background, with the application's invalidation
/// follower running beside it.
pub async fn start(
    app: Arc<auth_service::App>,
    options: HttpOptions,
) -> Result<RunningServer, ServeError> {
    let addr = options.bind.clone();
    let workers = match options.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    // Before the first request, so that nothing recorded is lost.
    let _ = crate::metrics::handle();
    let watcher = app.spawn_follower();
    let data = web::Data::from(app);
    let options = web::Data::new(options);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(options.clone())
            .wrap(from_fn(crate::limits::headers))
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .wrap(from_fn(request_log))
            .service(web::resource("/metrics").route(web::get().to(crate::metrics::serve)))
            // Registered here, not in routes/, so that the handlers and the document that
            // collects them do not import each other.
            .service(
                web::resource("/api/v1/openapi.json")
                    .route(web::get().to(crate::openapi::serve))
                    .route(web::head().to(crate::openapi::serve))
                    .default_service(routes::only(&["GET", "HEAD"])),
            )
            .configure(routes::configure)
            .configure(crate::pages::configure)
            .default_service(web::to(routes::not_found))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(10)
    .bind(&addr);
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            watcher.abort();
            return Err(ServeError {
                addr,
                error: e.to_string(),
            });
        }
    };
    let Some(bound) = server.addrs().first().copied() else {
        watcher.abort();
        return Err(ServeError {
            addr,
            error: "no address bound".into(),
        });
    };
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
