//! The `realm_ldap` table: a realm's own LDAP directory settings. The store keeps them as it is
//! given them — the settings as a JSON text the service writes and reads, and the service
//! account's password already sealed by the caller (the store never sees it in clear) — and
//! audits every change as `realm_ldap_changed`, which also writes the `realm_ldap`
//! invalidation every instance follows to rebuild the realm's directory.

use auth_core::RealmId;
use diesel::prelude::*;

use crate::audit::audit;
use crate::schema::{realm_ldap, realms};
use crate::{Actor, AuditEvent, Store, StoreError, now_micros};

/// A realm's stored directory settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RealmLdapRow {
    pub realm: RealmId,
    /// The settings as the service serialised them (no secret).
    pub settings: String,
    /// The sealed bind password, when the realm's service account has one.
    pub sealed_bind_password: Option<Vec<u8>>,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

impl std::fmt::Debug for RealmLdapRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealmLdapRow")
            .field("realm", &self.realm)
            .field("settings", &self.settings)
            .field("bind_password", &self.sealed_bind_password.is_some())
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// What a save does to the stored bind password.
#[derive(Clone, PartialEq, Eq)]
pub enum SealedPasswordChange {
    /// Keep the stored one (a form left empty).
    Keep,
    /// Replace it with this sealed value.
    Set(Vec<u8>),
    /// Remove it (anonymous searches, or no service password).
    Clear,
}

impl std::fmt::Debug for SealedPasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.audit_word())
    }
}

impl SealedPasswordChange {
    /// How the audit row describes it (never the value).
    fn audit_word(&self) -> &'static str {
        match self {
            SealedPasswordChange::Keep => "unchanged",
            SealedPasswordChange::Set(_) => "changed",
            SealedPasswordChange::Clear => "cleared",
        }
    }
}

type Row = (i64, String, Option<Vec<u8>>, i64);

fn from_row((realm, settings, sealed, updated_at): Row) -> RealmLdapRow {
    RealmLdapRow {
        realm: RealmId(realm),
        settings,
        sealed_bind_password: sealed,
        updated_at,
    }
}

const COLUMNS: (
    realm_ldap::realm_id,
    realm_ldap::settings,
    realm_ldap::bind_password,
    realm_ldap::updated_at,
) = (
    realm_ldap::realm_id,
    realm_ldap::settings,
    realm_ldap::bind_password,
    realm_ldap::updated_at,
);

impl Store {
    /// The realm's own directory settings, if it has them.
    pub async fn realm_ldap(&self, realm: RealmId) -> Result<Option<RealmLdapRow>, StoreError> {
        self.with_conn(move |c| {
            Ok(realm_ldap::table
                .find(realm.0)
                .select(COLUMNS)
                .first::<Row>(c)
                .optional()?
                .map(from_row))
        })
        .await
    }

    /// Every realm's own directory settings (read at start).
    pub async fn all_realm_ldap(&self) -> Result<Vec<RealmLdapRow>, StoreError> {
        self.with_conn(move |c| {
            Ok(realm_ldap::table
                .select(COLUMNS)
                .order(realm_ldap::realm_id.asc())
                .load::<Row>(c)?
                .into_iter()
                .map(from_row)
                .collect())
        })
        .await
    }

    /// Saves the realm's directory settings (creating or replacing them) and audits the change
    /// with `audit_detail` (which must hold no secret) and what happened to the password.
    /// `Keep` on a realm without stored settings keeps nothing: there is no password yet.
    pub async fn set_realm_ldap(
        &self,
        realm: RealmId,
        settings: String,
        password: SealedPasswordChange,
        audit_detail: serde_json::Value,
        actor: Actor,
    ) -> Result<RealmLdapRow, StoreError> {
        self.write(move |c| {
            let exists: Option<i64> = realms::table
                .find(realm.0)
                .select(realms::id)
                .first(c)
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound("realm"));
            }
            let old: Option<Option<Vec<u8>>> = realm_ldap::table
                .find(realm.0)
                .select(realm_ldap::bind_password)
                .first(c)
                .optional()?;
            let sealed = match &password {
                SealedPasswordChange::Keep => old.clone().flatten(),
                SealedPasswordChange::Set(v) => Some(v.clone()),
                SealedPasswordChange::Clear => None,
            };
            let now = now_micros();
            if old.is_some() {
                diesel::update(realm_ldap::table.find(realm.0))
                    .set((
                        realm_ldap::settings.eq(&settings),
                        realm_ldap::bind_password.eq(&sealed),
                        realm_ldap::updated_at.eq(now),
                    ))
                    .execute(c)?;
            } else {
                diesel::insert_into(realm_ldap::table)
                    .values((
                        realm_ldap::realm_id.eq(realm.0),
                        realm_ldap::settings.eq(&settings),
                        realm_ldap::bind_password.eq(&sealed),
                        realm_ldap::updated_at.eq(now),
                    ))
                    .execute(c)?;
            }
            let detail = serde_json::json!({
                "action": if old.is_some() { "changed" } else { "created" },
                "settings": audit_detail,
                "bind_password": password.audit_word(),
            });
            audit(
                c,
                Some(realm),
                AuditEvent::RealmLdapChanged,
                &actor,
                None,
                detail,
            )?;
            Ok(RealmLdapRow {
                realm,
                settings,
                sealed_bind_password: sealed,
                updated_at: now,
            })
        })
        .await
    }

    /// Removes the realm's own directory settings (it uses the server-wide `[ldap]` again);
    /// false when it had none (nothing is audited then).
    pub async fn unset_realm_ldap(&self, realm: RealmId, actor: Actor) -> Result<bool, StoreError> {
        self.write(move |c| {
            let removed = diesel::delete(realm_ldap::table.find(realm.0)).execute(c)?;
            if removed == 0 {
                return Ok(false);
            }
            audit(
                c,
                Some(realm),
                AuditEvent::RealmLdapChanged,
                &actor,
                None,
                serde_json::json!({"action": "removed"}),
            )?;
            Ok(true)
        })
        .await
    }
}
