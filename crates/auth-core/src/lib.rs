//! Latchkey's domain model, with no I/O: realms, users, API keys and the vault that seals them,
//! the [`AuthBackend`] trait with its typed outcomes, the account checks every password backend
//! makes once the password is proven ([`admit`]), the [`BackendChain`] that runs backends in
//! order, the [`AccountStore`] port through which backends read accounts, and the username and
//! password policy (Django-compatible email validation, `require_email_format_usernames`).
//!
//! This crate must never depend on a database, an HTTP framework, an LDAP client or any other
//! crate of the workspace; it does no I/O (callers supply clocks and random number generators),
//! and every secret it handles lives in a type whose `Debug` and `Display` redact it.

pub mod accounts;
pub mod api_key;
pub mod attempt;
pub mod auth;
pub mod chain;
pub mod domain;
pub mod policy;
pub mod reset_token;
pub mod secret;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use accounts::{
    AccountStore, AccountWriteError, DirectoryUpdate, LinkRefusal, NewDirectoryUser,
    StoreUnavailable,
};
pub use api_key::{ApiKey, KeyDigest, KeyVault, MalformedApiKey, SealedKey, VaultError};
pub use attempt::{AttemptContext, AttemptGuard, TimingPad};
pub use auth::{AuthFailure, AuthSuccess, BackendKind, DirectoryRefusal, admit};
pub use chain::{AuthBackend, BackendChain, ChainOutcome, LoginAttempt};
pub use domain::{
    AuthMethods, BotType, Deactivation, LoginRecord, PasswordHash, Realm, RealmId, Role, Timestamp,
    User, UserId, email_lookup_key, fold_login_name,
};
pub use policy::{InvalidEmail, InvalidSubdomain, InvalidUsername, PasswordPolicy, WeakPassword};
pub use reset_token::{MalformedResetToken, ResetToken};
pub use secret::{Password, SecretBytes, SecretString};
