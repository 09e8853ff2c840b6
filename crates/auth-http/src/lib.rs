//! Latchkey's HTTP front end: the actix-web routes of Zulip's authentication API
//! (`fetch_api_key`, `server_settings`, users/me, bots, forward-auth, the development
//! endpoints), `/health` and `/readyz`, and the pages people use ([`pages`]: log in, log out,
//! the signed-in start page, the login portal for other apps: [`portal`]), rendered from
//! askama templates.
//!
//! Handlers are thin: read the parameters ([`params`]), take the authenticated caller
//! ([`basic::ApiCaller`]), call one service function (`auth_service`), and turn its outcome
//! into the Zulip envelope. The mapping from outcome to Zulip code, status and message lives in
//! [`envelope`] and nowhere else.
//!
//! Invariants: knows no SQL and no configuration file (it is handed an [`HttpOptions`]); nothing
//! in the workspace but the binary depends on it.

pub mod api_responses;
pub mod basic;
pub mod caller;
pub mod envelope;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod params;
pub mod portal;
pub mod request;
mod routes;
mod server;

pub use server::{RunningServer, ServeError, start};

/// What the HTTP layer needs besides the application.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The address to listen on (`127.0.0.1:9991`).
    pub bind: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// The largest request body read.
    pub max_body_bytes: usize,
    /// `server_settings` on the root domain without a realm says "Subdomain required".
    pub root_domain_landing_page: bool,
    /// The pages' cookies are `Secure` with the `__Host-` prefix (off only for plain-HTTP
    /// development, with a warning at start).
    pub secure_cookies: bool,
    /// What `server_settings` says about the Zulip server Latchkey stands in for.
    pub zulip: ZulipInfo,
}

/// The Zulip version and features `server_settings` reports.
#[derive(Debug, Clone)]
pub struct ZulipInfo {
    pub version: String,
    pub merge_base: String,
    pub feature_level: u32,
    pub push_notifications_enabled: bool,
}
