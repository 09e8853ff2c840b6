//! The `latchkey` binary's library: the configuration (`latchkey.toml` and the environment,
//! checked and turned into the service's options), the command line, logging set-up, and
//! starting the application and its HTTP server. Everything a request or a command does is the
//! service's (`auth-service`); everything HTTP is `auth-http`'s.
//!
//! Nothing in the workspace depends on this crate but the integration tests.

pub mod cli;
pub mod config;
mod config_origin;
pub mod ldap_check;
pub mod log_setup;
mod open;
pub mod reload;

pub use auth_http::RunningServer;
pub use config::Settings;
pub use open::{AppState, StartupError, http_options, service_options, start};
