//! The `realms` table: creating, finding and listing realms, and changing their state, login
//! methods and settings, each change audited in its own transaction.

use auth_core::{AuthMethods, Realm, RealmId};
use diesel::prelude::*;

use crate::audit::audit;
use crate::models::RealmRow;
use crate::schema::realms;
use crate::sessions::end_realm_sessions;
use crate::{Actor, AuditEvent, DbConnection, Store, StoreError, conflict_as, now_micros};

/// A realm to create.
#[derive(Debug, Clone)]
pub struct NewRealm {
    pub subdomain: String,
    pub name: String,
    pub description: String,
    pub methods: AuthMethods,
    pub ldap_auto_create: bool,
}

#[derive(Insertable)]
#[diesel(table_name = realms)]
struct NewRealmRow<'a> {
    pub subdomain: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub deactivated: bool,
    pub email_auth_enabled: bool,
    pub ldap_auth_enabled: bool,
    pub dev_auth_enabled: bool,
    pub created_at: i64,
    pub ldap_auto_create: bool,
}

impl Store {
    pub async fn realm_by_subdomain(&self, subdomain: &str) -> Result<Option<Realm>, StoreError> {
        let subdomain = subdomain.to_owned();
        self.with_conn(move |c| {
            Ok(realms::table
                .filter(realms::subdomain.eq(subdomain))
                .select(RealmRow::as_select())
                .first(c)
                .optional()?
                .map(Realm::from))
        })
        .await
    }

    pub async fn realm_by_id(&self, id: RealmId) -> Result<Option<Realm>, StoreError> {
        self.with_conn(move |c| Ok(find_realm(c, id)?)).await
    }

    pub async fn list_realms(&self) -> Result<Vec<Realm>, StoreError> {
        self.with_conn(|c| {
            Ok(realms::table
                .order(realms::id.asc())
                .select(RealmRow::as_select())
                .load(c)?
                .into_iter()
                .map(Realm::from)
                .collect())
        })
        .await
    }

    pub async fn create_realm(&self, new: NewRealm, actor: Actor) -> Result<Realm, StoreError> {
        self.write(move |c| {
            let row = NewRealmRow {
                subdomain: &new.subdomain,
                name: &new.name,
                description: &new.description,
                deactivated: false,
                email_auth_enabled: new.methods.email,
                ldap_auth_enabled: new.methods.ldap,
                dev_auth_enabled: new.methods.dev,
                created_at: now_micros(),
                ldap_auto_create: new.ldap_auto_create,
            };
            // RETURNING is not available through the multi-backend connection; the subdomain is
            // unique, so read the row back inside the same transaction.
            diesel::insert_into(realms::table)
                .values(&row)
                .execute(c)
                .map_err(|e| conflict_as(e, "a realm with that subdomain"))?;
            let realm: Realm = realms::table
                .filter(realms::subdomain.eq(&new.subdomain))
                .select(RealmRow::as_select())
                .first(c)?
                .into();
            audit(
                c,
                Some(realm.id),
                AuditEvent::RealmCreated,
                &actor,
                None,
                serde_json::json!({"subdomain": realm.subdomain, "name": realm.name}),
            )?;
            Ok(realm)
        })
        .await
    }

    pub async fn set_realm_deactivated(
        &self,
        id: RealmId,
        deactivated: bool,
        actor: Actor,
    ) -> Result<Realm, StoreError> {
        let event = if deactivated {
            AuditEvent::RealmDeactivated
        } else {
            AuditEvent::RealmReactivated
        };
        self.write(move |c| {
            let detail = serde_json::json!({});
            change_realm(c, id, event, &actor, detail, |c| {
                let changed = diesel::update(realms::table.find(id.0))
                    .set(realms::deactivated.eq(deactivated))
                    .execute(c)?;
                // A deactivated realm's web sessions end with it.
                if deactivated && changed > 0 {
                    end_realm_sessions(c, id)?;
                }
                Ok(changed)
            })
        })
        .await
    }

    pub async fn set_realm_methods(
        &self,
        id: RealmId,
        methods: AuthMethods,
        actor: Actor,
    ) -> Result<Realm, StoreError> {
        self.write(move |c| {
            let detail =
                serde_json::json!({"email": methods.email, "ldap": methods.ldap, "dev": methods.dev});
            let event = AuditEvent::RealmAuthMethodsChanged;
            change_realm(c, id, event, &actor, detail, |c| {
                diesel::update(realms::table.find(id.0))
                    .set((
                        realms::email_auth_enabled.eq(methods.email),
                        realms::ldap_auth_enabled.eq(methods.ldap),
                        realms::dev_auth_enabled.eq(methods.dev),
                    ))
                    .execute(c)
            })
        })
        .await
    }

    /// Whether a first directory login creates an account in the realm.
    pub async fn set_realm_ldap_auto_create(
        &self,
        id: RealmId,
        enabled: bool,
        actor: Actor,
    ) -> Result<Realm, StoreError> {
        self.write(move |c| {
            let detail = serde_json::json!({"ldap_auto_create": enabled});
            let event = AuditEvent::RealmSettingsChanged;
            change_realm(c, id, event, &actor, detail, |c| {
                diesel::update(realms::table.find(id.0))
                    .set(realms::ldap_auto_create.eq(enabled))
                    .execute(c)
            })
        })
        .await
    }
}

/// Runs `update` on realm `id` (it returns how many rows it changed), audits the change as
/// `event`, and returns the realm as it now is; `NotFound("realm")` when there is no such realm.
fn change_realm(
    c: &mut DbConnection,
    id: RealmId,
    event: AuditEvent,
    actor: &Actor,
    detail: serde_json::Value,
    update: impl FnOnce(&mut DbConnection) -> QueryResult<usize>,
) -> Result<Realm, StoreError> {
    if update(c)? == 0 {
        return Err(StoreError::NotFound("realm"));
    }
    audit(c, Some(id), event, actor, None, detail)?;
    find_realm(c, id)?.ok_or(StoreError::NotFound("realm"))
}

pub(crate) fn find_realm(c: &mut DbConnection, id: RealmId) -> QueryResult<Option<Realm>> {
    Ok(realms::table
        .find(id.0)
        .select(RealmRow::as_select())
        .first(c)
        .optional()?
        .map(Realm::from))
}
