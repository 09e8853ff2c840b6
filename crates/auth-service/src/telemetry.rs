//! The service's Prometheus metrics, named in one place (the HTTP crate renders them at
//! `GET /metrics`; docs/deploy.md lists them). Recording goes through the `metrics` facade, so
//! without a recorder (the CLI, unit tests) it costs next to nothing.
//!
//! Labels take values from small fixed sets only (backend names, outcome words, rule names),
//! never a username, address or key.

/// A password or development login's outcome (`success` or the audit row's failure reason).
pub fn login(backend: &str, outcome: &'static str) {
    let backend = match backend {
        "" => "none",
        "email" => "email",
        "ldap" => "ldap",
        "dev" => "dev",
        _ => "other",
    };
    metrics::counter!("latchkey_logins_total", "backend" => backend, "outcome" => outcome)
        .increment(1);
}

/// A request refused by a rate limit, by the rule set whose key refused it.
pub fn rate_limited(key: &str) {
    let rule = match key.split(':').next().unwrap_or_default() {
        "authenticate_by_username" => "authenticate_by_username",
        "authenticate_by_identity" => "authenticate_by_identity",
        "api_by_user" => "api_by_user",
        "api_by_ip" => "api_by_ip",
        "password_reset_by_email" => "password_reset_by_email",
        "password_reset_by_ip" => "password_reset_by_ip",
        _ => "other",
    };
    metrics::counter!("latchkey_rate_limited_total", "rule" => rule).increment(1);
}

/// An API-key owner lookup answered from the cache (`hit`) or the database (`miss`).
pub fn key_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("latchkey_key_cache_lookups_total", "result" => result).increment(1);
}

/// A background refresh of a cached API-key owner, by how it ended.
pub fn key_cache_refresh(outcome: crate::lookup_cache::Refreshed) {
    use crate::lookup_cache::Refreshed;
    let outcome = match outcome {
        Refreshed::Fresh => "fresh",
        Refreshed::Gone => "gone",
        Refreshed::Dropped => "dropped",
        Refreshed::Failed => "failed",
    };
    metrics::counter!("latchkey_key_cache_refreshes_total", "outcome" => outcome).increment(1);
}
