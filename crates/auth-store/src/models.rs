//! Row types and their conversion into the core's domain types.

use auth_core::{
    AuthMethods, BotType, Deactivation, LoginRecord, PasswordHash, Realm, RealmId, Role, Timestamp,
    User, UserId,
};
use diesel::prelude::*;

use crate::schema::{realms, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = realms)]
pub(crate) struct RealmRow {
    pub id: i64,
    pub subdomain: String,
    pub name: String,
    pub description: String,
    pub deactivated: bool,
    pub email_auth_enabled: bool,
    pub ldap_auth_enabled: bool,
    pub dev_auth_enabled: bool,
    pub created_at: i64,
    pub ldap_auto_create: bool,
}

impl From<RealmRow> for Realm {
    fn from(r: RealmRow) -> Realm {
        Realm {
            id: RealmId(r.id),
            subdomain: r.subdomain,
            name: r.name,
            description: r.description,
            deactivated: r.deactivated,
            methods: AuthMethods {
                email: r.email_auth_enabled,
                ldap: r.ldap_auth_enabled,
                dev: r.dev_auth_enabled,
            },
            ldap_auto_create: r.ldap_auto_create,
            created_at: Timestamp(r.created_at),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: i64,
    pub realm_id: i64,
    pub delivery_email: String,
    #[allow(dead_code)]
    pub email_key: String,
    pub full_name: String,
    pub password_hash: Option<String>,
    pub role: i32,
    pub is_active: bool,
    pub bot_type: Option<i32>,
    pub bot_owner_id: Option<i64>,
    pub password_reset_needed: bool,
    pub created_at: i64,
    pub external_id: Option<String>,
    pub deactivated_by: Option<String>,
    pub deactivation_reason: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> User {
        self.into_record().user
    }

    pub(crate) fn into_record(self) -> LoginRecord {
        let user = User {
            id: UserId(self.id),
            realm_id: RealmId(self.realm_id),
            delivery_email: self.delivery_email,
            full_name: self.full_name,
            // An unknown role number can only come from a hand-edited row; treat it as the
            // least privileged role rather than failing every request for that user.
            role: Role::from_i32(self.role).unwrap_or(Role::Guest),
            is_active: self.is_active,
            bot_type: self
                .bot_type
                .map(|t| BotType::from_i32(t).unwrap_or(BotType::Generic)),
            bot_owner_id: self.bot_owner_id.map(UserId),
            password_reset_needed: self.password_reset_needed,
            external_id: self.external_id,
            // Kept only while the account is deactivated.
            deactivation: match self.deactivated_by {
                Some(by) if !self.is_active => Some(Box::new(Deactivation {
                    by,
                    reason: self.deactivation_reason,
                })),
                _ => None,
            },
            created_at: Timestamp(self.created_at),
        };
        LoginRecord {
            user,
            password_hash: self.password_hash.map(PasswordHash),
        }
    }
}
