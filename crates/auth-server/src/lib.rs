//! Latchkey's front end: the actix-web application that speaks Zulip's authentication API
//! (`fetch_api_key`, `server_settings`, the development endpoints), its configuration, logging and
//! the command-line interface behind the `latchkey` binary. It turns HTTP requests into calls on
//! the backend chain and the store, and typed outcomes into the Zulip JSON envelope; the mapping
//! from outcome to code, status and message lives in [`envelope`] and nowhere else.
//!
//! This is the only crate that knows HTTP and the Zulip envelope. Nothing in the workspace may
//! depend on it; it must not build SQL (that is `auth-store`'s) or speak a backend's protocol
//! (that is the backend crates').

pub mod accounts;
mod admin_cli;
mod audit_cli;
pub mod basic;
pub mod bots;
pub mod cli;
mod clock;
mod commands;
pub mod config;
mod config_origin;
pub mod envelope;
pub mod host;
pub mod invalidation;
pub mod keys;
pub mod ldap_check;
mod ldap_cli;
pub mod limits;
mod limits_cli;
pub mod logging;
pub mod lookup_cache;
pub mod params;
pub mod readiness;
mod routes;
pub mod server;
pub mod state;

pub use config::Settings;
pub use server::{RunningServer, start};
pub use state::{AppState, StartupError};
