//! `GET /metrics`: the process's metrics in Prometheus's text format. The recorder is installed
//! when the first server starts (one per process; the `metrics` facade is global); the service
//! crates record through the facade (auth-service `telemetry`, the password hasher), and the
//! request middleware ([`crate::logging::request_log`]) records each request here.
//!
//! Routes are labelled by their pattern (`/api/v1/bots/{bot_id}/api_key/regenerate`), never by
//! the raw path, and methods outside the standard set as `other`, so a client cannot grow the
//! number of series.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: from half a millisecond (a cached key) to ten seconds (an LDAP
/// timeout).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use; `None` if another recorder was installed
/// first (then `/metrics` says so).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    // Histograms keep raw samples until upkeep folds them into buckets.
                    let h = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(Duration::from_secs(5));
                                h.run_upkeep();
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "metrics upkeep thread not started");
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The request metrics of one route, method and status.
struct RequestMetrics {
    count: metrics::Counter,
    duration: metrics::Histogram,
}

thread_local! {
    /// Each worker thread keeps the handles it has used, so that a request costs a map lookup
    /// rather than a registration (label strings built and hashed, the registry locked). The map
    /// is bounded by the routes, methods and statuses there are.
    static REQUEST_METRICS: std::cell::RefCell<
        std::collections::HashMap<(String, &'static str, u16), RequestMetrics>,
    > = std::cell::RefCell::default();
}

/// Records one answered request (`route`: the matched pattern, `None` when no route matched).
pub fn record_request(route: Option<String>, method: &Method, status: u16, elapsed: Duration) {
    let method = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let key = (
        route.unwrap_or_else(|| "unmatched".to_owned()),
        method,
        status,
    );
    REQUEST_METRICS.with_borrow_mut(|known| {
        let handles = known
            .entry(key)
            .or_insert_with_key(|(route, method, status)| RequestMetrics {
                count: metrics::counter!(
                    "latchkey_http_requests_total",
                    "route" => route.clone(),
                    "method" => *method,
                    "status" => status.to_string()
                ),
                duration: metrics::histogram!(
                    "latchkey_http_request_duration_seconds",
                    "route" => route.clone()
                ),
            });
        handles.count.increment(1);
        handles.duration.record(elapsed.as_secs_f64());
    });
}

/// The process's metrics in Prometheus's text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        (status = 503, description = "No metrics recorder in this process", body = String, content_type = "text/plain"),
    ),
    security(()),
)]
pub async fn serve() -> HttpResponse {
    match handle() {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(h.render()),
        None => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("metrics are not available in this process\n"),
    }
}
