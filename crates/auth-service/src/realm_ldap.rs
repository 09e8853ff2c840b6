//! A realm's own LDAP directory, set at run time (docs/ldap.md, "Per-organization
//! directories"): the one path the command line and the `/organization/directory` page share
//! to read, save and remove it, and to rebuild the directory every instance uses for the realm.
//!
//! - Owners change the settings; administrators may read them (without the bind password, which
//!   is write-only: sealed with the server's `KeyVault`, bound to the realm, never returned).
//! - A save is checked as `[ldap]` is at start (`LdapConfig::problems`, the TLS settings), the
//!   change is audited (`realm_ldap_changed`, the settings without the secret) and written to
//!   the invalidation log in the same transaction, so every instance rebuilds the realm's
//!   directory within its poll interval; this instance swaps it at once.
//! - A realm without its own settings uses the server-wide `[ldap]`.

mod stored;
mod tools;

use std::collections::HashMap;
use std::sync::Arc;

use auth_core::{Realm, RealmId, SecretString, Timestamp};
use auth_ldap::{Directory, RealmDirectory, Serving};
use auth_store::{RealmLdapRow, SealedPasswordChange, StoreError};

// The directory types the page and the CLI fill and show, so that they need no LDAP crate.
pub use auth_ldap::{
    AttributeMap, ConnectionTest, Finding, GroupMembership, LdapConfig, Level, RoleGroups,
    SearchScope, ServerSteps, Step, SyncPolicy,
};
pub use stored::{StoredAttributes, StoredRoles, StoredSettings, StoredSync};
pub use tools::{PersonTest, SyncPreview};

use crate::App;
use crate::error::ServiceError;
use crate::members::{By, MUST_BE_ADMIN, MUST_BE_OWNER};

/// What a save does to the service account's password.
#[derive(Clone)]
pub enum BindPassword {
    /// Keep the stored one (the page's field left empty).
    Keep,
    /// A new password (an empty one counts as `Clear`).
    Set(SecretString),
    /// No password (anonymous searches).
    Clear,
}

/// A realm's own directory settings as administrators see them.
#[derive(Debug, Clone)]
pub struct RealmLdapView {
    pub settings: StoredSettings,
    /// Whether a bind password is stored (its value is never shown).
    pub bind_password_set: bool,
    pub updated_at: Timestamp,
    /// Why this instance cannot use them, when it cannot.
    pub broken: Option<String>,
}

/// The context a realm's sealed bind password is bound to.
fn seal_context(realm: RealmId) -> String {
    format!("realm-ldap-bind/{}", realm.0)
}

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unavailable("the organization's directory settings", e)
}

/// The realm's installed versions (`updated_at` of the row each instance built from), so that
/// the invalidation of this instance's own save does not rebuild the directory again.
#[derive(Default)]
pub(crate) struct Versions(std::sync::Mutex<HashMap<RealmId, i64>>);

impl Versions {
    fn get(&self, realm: RealmId) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&realm)
            .copied()
    }

    fn set(&self, realm: RealmId, v: Option<i64>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match v {
            Some(v) => map.insert(realm, v),
            None => map.remove(&realm),
        };
    }
}

/// Refuses a caller of another realm, or below `owner`/administrator.
pub(crate) fn check_role(by: By<'_>, realm: &Realm, owner: bool) -> Result<(), ServiceError> {
    if let By::Caller(c) = by {
        if c.realm.id != realm.id {
            return Err(ServiceError::Forbidden("Not allowed for this organization"));
        }
        if owner && c.user.role != auth_core::Role::Owner {
            return Err(ServiceError::Principal(MUST_BE_OWNER));
        }
        if !c.user.role.is_realm_admin() {
            return Err(ServiceError::Principal(MUST_BE_ADMIN));
        }
    }
    Ok(())
}

/// The checks `[ldap]` gets at start, and the service account's password.
pub fn validate(cfg: &LdapConfig) -> Result<(), ServiceError> {
    let mut p = cfg.problems();
    if !cfg.bind_dn.trim().is_empty() && cfg.bind_password.is_empty() {
        p.push(
            "ldap.bind_password: the service account (bind_dn) needs its password (an empty one would be an anonymous bind)"
                .into(),
        );
    }
    if p.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::invalid(p.join("; ")))
    }
}

impl App {
    /// What serves the realm's LDAP logins: its own directory, else the server-wide one.
    pub fn directory_for(&self, realm: &Realm) -> Serving {
        self.directories.for_realm(realm.id)
    }

    /// The realm's own settings, if it has them (administrators may read them).
    pub async fn realm_ldap(
        &self,
        by: By<'_>,
        realm: &Realm,
    ) -> Result<Option<RealmLdapView>, ServiceError> {
        check_role(by, realm, false)?;
        let Some(row) = self.store.realm_ldap(realm.id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let settings: StoredSettings = serde_json::from_str(&row.settings)
            .map_err(|e| unavailable(format!("stored settings unreadable: {e}")))?;
        let broken = match self.directories.for_realm(realm.id) {
            Serving::Broken(why) => Some(why),
            _ => None,
        };
        Ok(Some(RealmLdapView {
            settings,
            bind_password_set: row.sealed_bind_password.is_some(),
            updated_at: Timestamp(row.updated_at),
            broken,
        }))
    }

    /// The configuration a save would use: `cfg` with the bind password `password` says
    /// (the stored one for `Keep`) and the server's root aliases.
    pub async fn realm_ldap_candidate(
        &self,
        realm: &Realm,
        mut cfg: LdapConfig,
        password: &BindPassword,
    ) -> Result<LdapConfig, ServiceError> {
        cfg.bind_password = match password {
            BindPassword::Set(s) => s.clone(),
            BindPassword::Clear => SecretString::default(),
            BindPassword::Keep => {
                match self.store.realm_ldap(realm.id).await.map_err(unavailable)? {
                    Some(RealmLdapRow {
                        sealed_bind_password: Some(sealed),
                        ..
                    }) => self
                        .keys
                        .open_secret(&sealed, &seal_context(realm.id))
                        .map_err(unavailable)?,
                    _ => SecretString::default(),
                }
            }
        };
        cfg.root_aliases = self.ldap_root_aliases.clone();
        Ok(cfg)
    }

    /// Saves the realm's own directory settings (owners only): checked as `[ldap]` is,
    /// audited without the secret, followed by every instance; this one swaps its directory at
    /// once (logins in flight finish on the old one).
    pub async fn set_realm_ldap(
        &self,
        by: By<'_>,
        realm: &Realm,
        cfg: LdapConfig,
        password: BindPassword,
    ) -> Result<RealmLdapView, ServiceError> {
        check_role(by, realm, true)?;
        let password = match password {
            BindPassword::Set(s) if s.is_empty() => BindPassword::Clear,
            other => other,
        };
        let cfg = self.realm_ldap_candidate(realm, cfg, &password).await?;
        validate(&cfg)?;
        let dir = Directory::new(cfg.clone()).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let sealed = match &password {
            BindPassword::Keep => SealedPasswordChange::Keep,
            BindPassword::Clear => SealedPasswordChange::Clear,
            BindPassword::Set(s) => {
                SealedPasswordChange::Set(self.keys.seal_secret(s, &seal_context(realm.id)))
            }
        };
        let settings = StoredSettings::of(&cfg);
        let text = serde_json::to_string(&settings).map_err(unavailable)?;
        let detail = serde_json::to_value(&settings).map_err(unavailable)?;
        let row = self
            .store
            .set_realm_ldap(realm.id, text, sealed, detail, by.actor())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::NoSuchRealm,
                other => unavailable(other),
            })?;
        for w in cfg.warnings() {
            tracing::warn!(realm = %realm.subdomain, "{w}");
        }
        self.install_realm_directory(
            realm.id,
            Some(RealmDirectory::Ready(Arc::new(dir))),
            Some(row.updated_at),
        );
        tracing::info!(realm = %realm.subdomain, "the organization's directory settings were saved");
        Ok(RealmLdapView {
            settings,
            bind_password_set: row.sealed_bind_password.is_some(),
            updated_at: Timestamp(row.updated_at),
            broken: None,
        })
    }

    /// Removes the realm's own settings (owners only): it uses the server-wide `[ldap]` again.
    /// False when it had none.
    pub async fn unset_realm_ldap(&self, by: By<'_>, realm: &Realm) -> Result<bool, ServiceError> {
        check_role(by, realm, true)?;
        let removed = self
            .store
            .unset_realm_ldap(realm.id, by.actor())
            .await
            .map_err(unavailable)?;
        if removed {
            self.install_realm_directory(realm.id, None, None);
            tracing::info!(realm = %realm.subdomain, "the organization's directory settings were removed");
        }
        Ok(removed)
    }

    fn install_realm_directory(
        &self,
        realm: RealmId,
        own: Option<RealmDirectory>,
        version: Option<i64>,
    ) {
        self.directories.set_realm(realm, own);
        self.ldap_versions.set(realm, version);
    }

    /// The directory a stored row makes (or why it cannot be used; the reason names no secret).
    fn build_realm_directory(&self, row: &RealmLdapRow) -> RealmDirectory {
        let built = (|| {
            let settings: StoredSettings = serde_json::from_str(&row.settings)
                .map_err(|e| format!("the stored settings cannot be read: {e}"))?;
            let password = match &row.sealed_bind_password {
                Some(sealed) => self
                    .keys
                    .open_secret(sealed, &seal_context(row.realm))
                    .map_err(|e| e.to_string())?,
                None => SecretString::default(),
            };
            let cfg = settings.to_config(password, self.ldap_root_aliases.clone())?;
            Directory::new(cfg).map_err(|e| e.to_string())
        })();
        match built {
            Ok(dir) => RealmDirectory::Ready(Arc::new(dir)),
            Err(why) => {
                tracing::warn!(realm_id = row.realm.0, reason = %why, "the organization's directory settings cannot be used; its LDAP logins are unavailable");
                RealmDirectory::Broken(why)
            }
        }
    }

    /// Rebuilds the realm's directory from the database (another instance or the command line
    /// changed it); nothing when this instance already runs that version. On a read error the
    /// current directory stays.
    pub async fn reload_realm_ldap(&self, realm: RealmId) {
        match self.store.realm_ldap(realm).await {
            Ok(None) => {
                if self.directories.has_own(realm) {
                    self.install_realm_directory(realm, None, None);
                    tracing::info!(
                        realm_id = realm.0,
                        "the organization's own directory settings were removed; it uses the server-wide [ldap]"
                    );
                }
            }
            Ok(Some(row)) => {
                if self.ldap_versions.get(realm) == Some(row.updated_at) {
                    return;
                }
                let own = self.build_realm_directory(&row);
                self.install_realm_directory(realm, Some(own), Some(row.updated_at));
                tracing::info!(
                    realm_id = realm.0,
                    "the organization's directory settings changed; its directory was rebuilt"
                );
            }
            Err(e) => {
                tracing::warn!(realm_id = realm.0, error = %e, "cannot read the organization's directory settings; keeping the current ones");
            }
        }
    }

    /// Builds every realm's own directory (at start).
    pub(crate) async fn load_realm_directories(&self) -> Result<(), StoreError> {
        for row in self.store.all_realm_ldap().await? {
            let own = self.build_realm_directory(&row);
            self.install_realm_directory(row.realm, Some(own), Some(row.updated_at));
        }
        Ok(())
    }
}
