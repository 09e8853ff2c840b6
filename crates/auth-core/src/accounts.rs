//! The `AccountStore` port: what backends (and directory sync) need from account storage, and
//! the values that cross it. Implemented over the database by the server; faked in tests
//! (`testing::MemoryAccounts`).

use async_trait::async_trait;

use crate::domain::{LoginRecord, PasswordHash, Realm, RealmId, Role, User, UserId};

/// The store could not be reached or failed; the message is for logs and never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account store unavailable: {0}")]
pub struct StoreUnavailable(pub String);

/// A write to the account store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountWriteError {
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
    /// Another account already has that email (or directory id) in the realm.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// An account to create from a directory entry (no usable password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDirectoryUser {
    pub realm: RealmId,
    pub email: String,
    pub full_name: String,
    pub external_id: Option<String>,
}

/// Changes to an account that the directory is the source of; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryUpdate {
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// `Some(Some(id))` links the account to that entry id, `Some(None)` removes its link (a
    /// relink to an entry that carries no id).
    pub external_id: Option<Option<String>>,
    pub active: Option<bool>,
    /// Why `active` changes (stored with a deactivation, and audited), e.g. `in deny group`.
    pub reason: Option<String>,
    /// The role the directory's groups give (`[ldap.role_by_group]`). The store never takes
    /// the owner role from a realm's last active owner: it keeps the role and audits the
    /// refusal, so the returned user shows whether the change was made.
    pub role: Option<Role>,
    /// Why `role` changes (audited), e.g. `in role group cn=admins,ou=groups,dc=example,dc=org`.
    pub role_reason: Option<String>,
}

impl DirectoryUpdate {
    pub fn is_empty(&self) -> bool {
        self == &DirectoryUpdate::default()
    }
}

/// A directory entry refused the account of another entry (the account's link): written to
/// the audit log, so that an administrator sees who tried and can relink with
/// `latchkey ldap relink` when that is right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRefusal {
    pub realm: RealmId,
    /// The account, linked to another entry.
    pub user: UserId,
    /// The entry id the account is linked to.
    pub linked_id: String,
    /// Where the linked entry is now; `None` when the directory no longer has it (only an
    /// administrator relinks the account then).
    pub linked_dn: Option<String>,
    /// The entry that claimed the account (by email) and was refused.
    pub claimant_dn: String,
    pub claimant_id: Option<String>,
    /// The path that refused it (`"ldap"` at login).
    pub source: &'static str,
}

/// What backends (and directory sync) need from account storage. Implemented over the store by
/// the server, which also seals the keys of accounts created here; faked in tests.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The account with this delivery email (compared case-insensitively, whitespace trimmed)
    /// in the realm.
    async fn login_record(
        &self,
        realm: RealmId,
        email: &str,
    ) -> Result<Option<LoginRecord>, StoreUnavailable>;

    /// Every account with this delivery email, in any realm, oldest first. One query serves both
    /// the realm's own account and "exists only in another organization", so a login costs the
    /// same whichever it finds.
    async fn login_records_any_realm(
        &self,
        email: &str,
    ) -> Result<Vec<LoginRecord>, StoreUnavailable>;

    /// A realm by id, whatever its state (to tell whether an account elsewhere is usable).
    async fn realm(&self, id: RealmId) -> Result<Option<Realm>, StoreUnavailable>;

    /// Replaces a user's password hash after a successful login with an outdated one.
    async fn upgrade_password_hash(
        &self,
        user: UserId,
        hash: PasswordHash,
    ) -> Result<(), StoreUnavailable>;

    /// The account in the realm that carries this directory id.
    async fn user_by_external_id(
        &self,
        realm: RealmId,
        external_id: &str,
    ) -> Result<Option<User>, StoreUnavailable>;

    /// Every account of the realm (people and bots, active or not), oldest first.
    async fn realm_users(&self, realm: RealmId) -> Result<Vec<User>, StoreUnavailable>;

    /// Creates an account from a directory entry, with a fresh API key; `source` names the path
    /// (`"ldap"` at login, `"ldap-sync"`) for the audit log.
    async fn create_directory_user(
        &self,
        new: NewDirectoryUser,
        source: &'static str,
    ) -> Result<User, AccountWriteError>;

    /// Applies directory-sourced changes to an account (each audited under `source`).
    async fn update_directory_user(
        &self,
        user: UserId,
        update: DirectoryUpdate,
        source: &'static str,
    ) -> Result<User, AccountWriteError>;

    /// Audits a refused claim on a linked account (changes nothing else).
    async fn record_link_refusal(&self, refusal: LinkRefusal) -> Result<(), StoreUnavailable>;
}
