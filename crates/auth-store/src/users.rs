//! The `users` table as administrators and the API see it: creating a user (or bot) with its
//! first key, finding and listing users, and changing password (which ends web sessions), reset
//! flag, role and active state, each change audited. The queries behind the core's `AccountStore` port, on the same
//! table, are in `accounts.rs`; the row lookups both share are here.

use auth_core::{
    BotType, DirectoryUpdate, PasswordHash, RealmId, Role, SealedKey, User, UserId,
    email_lookup_key,
};
use diesel::prelude::*;

use crate::accounts::update_user_tx;
use crate::audit::audit;
use crate::changes::change_user;
use crate::keys::insert_key;
use crate::models::UserRow;
use crate::passwords::{delete_user_tokens, set_password_tx};
use crate::rows::{find_login, find_user, is_last_owner};
use crate::schema::users;
use crate::sessions::end_sessions_of;
use crate::{Actor, AuditEvent, Store, StoreError, conflict_as, now_micros};

/// A user (or bot) to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub realm_id: RealmId,
    pub delivery_email: String,
    pub full_name: String,
    pub password_hash: Option<PasswordHash>,
    pub role: Role,
    pub bot_type: Option<BotType>,
    pub bot_owner_id: Option<UserId>,
    /// The directory's immutable id, for accounts created from a directory.
    pub external_id: Option<String>,
}

/// Seals a freshly generated key for the user id the database has just assigned.
pub type KeySealer = Box<dyn FnOnce(UserId) -> SealedKey + Send>;

/// The outcome of a change that must leave the realm an active human owner (Zulip's
/// `check_last_owner`): done, or refused because the user is the realm's only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerGuarded<T> {
    Done(T),
    LastOwner,
}

/// Which users a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFilter {
    All,
    PeopleOnly,
    BotsOnly,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    pub realm_id: i64,
    pub delivery_email: &'a str,
    pub email_key: &'a str,
    pub full_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: i32,
    pub is_active: bool,
    pub bot_type: Option<i32>,
    pub bot_owner_id: Option<i64>,
    pub password_reset_needed: bool,
    pub created_at: i64,
    pub external_id: Option<&'a str>,
}

impl Store {
    /// Creates a user and its first API key in one transaction.
    pub async fn create_user(
        &self,
        new: NewUser,
        sealer: KeySealer,
        actor: Actor,
    ) -> Result<User, StoreError> {
        self.write(move |c| {
            let delivery_email = new.delivery_email.trim().to_owned();
            let key = email_lookup_key(&delivery_email);
            let now = now_micros();
            let row = NewUserRow {
                realm_id: new.realm_id.0,
                delivery_email: &delivery_email,
                email_key: &key,
                full_name: &new.full_name,
                password_hash: new.password_hash.as_ref().map(|h| h.0.as_str()),
                role: new.role.as_i32(),
                is_active: true,
                bot_type: new.bot_type.map(BotType::as_i32),
                bot_owner_id: new.bot_owner_id.map(|u| u.0),
                password_reset_needed: false,
                created_at: now,
                external_id: new.external_id.as_deref(),
            };
            diesel::insert_into(users::table)
                .values(&row)
                .execute(c)
                .map_err(|e| conflict_as(e, "a user with that email in this realm"))?;
            let user = find_login(c, new.realm_id, &key)?
                .ok_or(StoreError::NotFound("user"))?
                .user;
            let sealed = sealer(user.id);
            insert_key(c, user.id, &sealed, now)?;
            audit(
                c,
                Some(user.realm_id),
                AuditEvent::UserCreated,
                &actor,
                Some(user.id),
                serde_json::json!({"role": user.role.name(), "bot": user.is_bot()}),
            )?;
            Ok(user)
        })
        .await
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.with_conn(move |c| Ok(find_user(c, id)?)).await
    }

    /// The user with this delivery email (case-insensitive, trimmed) in the realm.
    pub async fn user_by_email(
        &self,
        realm: RealmId,
        email: &str,
    ) -> Result<Option<User>, StoreError> {
        let key = email_lookup_key(email);
        self.with_conn(move |c| Ok(find_login(c, realm, &key)?.map(|r| r.user)))
            .await
    }

    pub async fn list_users(
        &self,
        realm: RealmId,
        filter: UserFilter,
    ) -> Result<Vec<User>, StoreError> {
        self.with_conn(move |c| {
            let mut q = users::table
                .filter(users::realm_id.eq(realm.0))
                .select(UserRow::as_select())
                .order(users::id.asc())
                .into_boxed();
            match filter {
                UserFilter::All => {}
                UserFilter::PeopleOnly => q = q.filter(users::bot_type.is_null()),
                UserFilter::BotsOnly => q = q.filter(users::bot_type.is_not_null()),
            }
            Ok(q.load(c)?.into_iter().map(UserRow::into_user).collect())
        })
        .await
    }

    /// Sets (or, with `None`, removes) a user's password and clears any reset request; every
    /// web session of the user and every reset link ends in the same transaction (a reset, an
    /// administrator).
    pub async fn set_password(
        &self,
        user: UserId,
        hash: Option<PasswordHash>,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |c| set_password_tx(c, user, hash.as_ref(), None, &actor))
            .await
    }

    /// [`Store::set_password`] from a logged-in session ("change your password"): every web
    /// session of the user but `keep` (the session's digest) ends in the same transaction.
    pub async fn set_password_keeping_session(
        &self,
        user: UserId,
        hash: Option<PasswordHash>,
        keep: String,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |c| set_password_tx(c, user, hash.as_ref(), Some(&keep), &actor))
            .await
    }

    /// Forces (or lifts) a password reset: the old password is refused until a new one is set.
    /// Forcing one also ends every web session of the user and every reset link issued before
    /// (a password thought leaked must not keep a session open), in the same transaction.
    pub async fn set_password_reset_needed(
        &self,
        user: UserId,
        needed: bool,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let detail = serde_json::json!({"reset_needed": needed});
            let event = AuditEvent::UserPasswordResetRequired;
            change_user(c, user, event, &actor, detail, |c| {
                diesel::update(users::table.find(user.0))
                    .set(users::password_reset_needed.eq(needed))
                    .execute(c)?;
                if needed {
                    end_sessions_of(c, user, None)?;
                }
                Ok::<(), StoreError>(())
            })?;
            if needed {
                delete_user_tokens(c, user)?;
            }
            Ok(())
        })
        .await
    }

    /// Changes a user's role (audited).
    pub async fn set_role(&self, user: UserId, role: Role, actor: Actor) -> Result<(), StoreError> {
        self.write(move |c| {
            let detail = serde_json::json!({"role": role.name()});
            change_user(c, user, AuditEvent::UserRoleChanged, &actor, detail, |c| {
                diesel::update(users::table.find(user.0))
                    .set(users::role.eq(role.as_i32()))
                    .execute(c)
            })
        })
        .await
    }

    /// Changes a user's role (audited), unless that takes the owner role from the realm's only
    /// active human owner. Checked and changed in one transaction that holds the realm's row,
    /// so two owners demoting each other at once cannot both succeed.
    pub async fn set_role_keeping_an_owner(
        &self,
        user: UserId,
        role: Role,
        actor: Actor,
    ) -> Result<OwnerGuarded<User>, StoreError> {
        self.write(move |c| {
            let current = find_user(c, user)?.ok_or(StoreError::NotFound("user"))?;
            if role != Role::Owner && is_last_owner(c, &current)? {
                return Ok(OwnerGuarded::LastOwner);
            }
            if current.role != role {
                let detail = serde_json::json!({"role": role.name(), "old": current.role.name()});
                change_user(c, user, AuditEvent::UserRoleChanged, &actor, detail, |c| {
                    diesel::update(users::table.find(user.0))
                        .set(users::role.eq(role.as_i32()))
                        .execute(c)
                })?;
            }
            Ok(OwnerGuarded::Done(
                find_user(c, user)?.ok_or(StoreError::NotFound("user"))?,
            ))
        })
        .await
    }

    /// Deactivates a user (with their bots, ending their web sessions; audited, with the reason
    /// given), unless they are the realm's only active human owner; checked and changed in one
    /// transaction that holds the realm's row.
    pub async fn deactivate_keeping_an_owner(
        &self,
        user: UserId,
        reason: Option<String>,
        actor: Actor,
    ) -> Result<OwnerGuarded<User>, StoreError> {
        self.write(move |c| {
            let current = find_user(c, user)?.ok_or(StoreError::NotFound("user"))?;
            if is_last_owner(c, &current)? {
                return Ok(OwnerGuarded::LastOwner);
            }
            let update = DirectoryUpdate {
                active: Some(false),
                reason,
                ..DirectoryUpdate::default()
            };
            update_user_tx(c, user, &update, &actor).map(OwnerGuarded::Done)
        })
        .await
    }

    /// Deactivates or reactivates a user (audited when it changes anything).
    pub async fn set_user_active(
        &self,
        user: UserId,
        active: bool,
        actor: Actor,
    ) -> Result<User, StoreError> {
        self.update_user(
            user,
            DirectoryUpdate {
                active: Some(active),
                ..DirectoryUpdate::default()
            },
            actor,
        )
        .await
    }
}
