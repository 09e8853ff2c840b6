//! Latchkey's application layer: what a person, a client or an administrator can do, as plain
//! async functions on typed inputs, shared by the HTTP routes (`auth-http`), the pages and the
//! command line (`latchkey`). One service path per action: a login, a key regeneration or a new
//! bot goes through the same function whoever asks.
//!
//! - [`App`] holds the store, the backend chain, the key service, the limits and the caches,
//!   built once from [`Options`].
//! - [`login`]: password and development logins (limits by typed name and by resolved
//!   identity, the chain, the audit row, the key).
//! - [`keys`]: sealed keys and the owner cache; [`invalidation`] keeps every instance's caches
//!   true to the database's invalidation log.
//! - [`sessions`]: web sessions (start, look up, end) for the pages; [`account`]: the
//!   settings page's re-authentication, zuliprc and password change; [`portal`]: the login
//!   portal's sessions for other apps behind a forward-auth proxy.
//! - [`members`]: the realm's people and bots as administrators manage them (list, read,
//!   name and role, deactivate, reactivate, create) and its login methods, with Zulip's role
//!   rules, for the API, the pages and the CLI; [`admin`]: what administrators do besides
//!   (require a password reset, replace a key, every bot with its owner, login methods from a
//!   session without locking oneself out); [`audit_log`]: the audit log as administrators
//!   filter it; [`blocks`]: logins refused for too many failures, listed and lifted.
//! - [`bots`], [`host`] (realms by host), [`limits`] (Zulip's rate limits), [`readiness`].
//! - [`realm_ldap`]: a realm's own LDAP directory set at run time (owners), its connection and
//!   person tests and sync, for the page and the CLI.
//! - [`reset`]: password reset by email (queued work, hashed single-use tokens) over [`mail`].
//!
//! Invariants: no HTTP (no actix), no command-line parsing, no configuration files; failures
//! are typed ([`ServiceError`]) and mapped to Zulip codes by the HTTP crate alone.

pub mod account;
pub mod accounts;
pub mod admin;
mod app;
pub mod audit_log;
pub mod blocks;
pub mod bots;
pub mod caller;
pub mod clock;
mod error;
mod follower;
pub mod host;
pub mod invalidation;
pub mod keys;
pub mod limits;
pub mod login;
pub mod lookup_cache;
pub mod mail;
pub mod members;
mod options;
pub mod owner_reads;
pub mod portal;
pub mod readiness;
pub mod realm_ldap;
pub mod reset;
pub mod sessions;
pub mod telemetry;

pub use app::{App, OpenError};
pub use caller::{Caller, Purpose};
pub use error::{KeyRefusal, ServiceError};
pub use login::{Client, LoggedIn, LoginResult};
pub use options::{DatabaseOptions, LimitOptions, Options};
pub use portal::{PortalCookie, PortalSession, PortalSettings};
pub use sessions::{SessionSettings, StartedSession, WebSession};
