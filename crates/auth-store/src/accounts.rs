//! The queries the core's `AccountStore` port is built on (the server adapts them): login
//! records, directory ids, directory-sourced updates (each change audited, deactivations with
//! who and why, roles from directory groups that never leave a realm without an owner), refused
//! claims on linked accounts.

use auth_core::{
    DirectoryUpdate, LinkRefusal, LoginRecord, PasswordHash, RealmId, Role, User, UserId,
    email_lookup_key,
};
use diesel::prelude::*;

use crate::audit::audit;
use crate::changes::change_user;
use crate::models::UserRow;
use crate::rows::{find_login, find_user, is_last_owner};
use crate::schema::users;
use crate::sessions::end_sessions_of;
use crate::{Actor, AuditEvent, DbConnection, Store, StoreError, conflict_as};

impl Store {
    /// The account with this delivery email in the realm, with its password hash.
    pub async fn login_record(
        &self,
        realm: RealmId,
        email: &str,
    ) -> Result<Option<LoginRecord>, StoreError> {
        let key = email_lookup_key(email);
        self.with_conn(move |c| Ok(find_login(c, realm, &key)?))
            .await
    }

    /// Every account with this delivery email, in any realm, oldest first.
    pub async fn login_records_any_realm(
        &self,
        email: &str,
    ) -> Result<Vec<LoginRecord>, StoreError> {
        let key = email_lookup_key(email);
        self.with_conn(move |c| {
            Ok(users::table
                .filter(users::email_key.eq(key))
                .order(users::id.asc())
                .select(UserRow::as_select())
                .load(c)?
                .into_iter()
                .map(UserRow::into_record)
                .collect())
        })
        .await
    }

    /// Replaces a password hash after a login with an outdated one (audited).
    pub async fn upgrade_password_hash(
        &self,
        user: UserId,
        hash: PasswordHash,
    ) -> Result<(), StoreError> {
        let actor = Actor {
            source: "login",
            user: Some(user),
        };
        self.write(move |c| {
            let event = AuditEvent::UserPasswordHashUpgraded;
            change_user(c, user, event, &actor, serde_json::json!({}), |c| {
                diesel::update(users::table.find(user.0))
                    .set(users::password_hash.eq(Some(hash.0.clone())))
                    .execute(c)
            })
        })
        .await
    }

    /// The account in the realm with this directory id.
    pub async fn user_by_external_id(
        &self,
        realm: RealmId,
        external_id: &str,
    ) -> Result<Option<User>, StoreError> {
        let id = external_id.to_owned();
        self.with_conn(move |c| {
            Ok(users::table
                .filter(users::realm_id.eq(realm.0))
                .filter(users::external_id.eq(id))
                .select(UserRow::as_select())
                .first(c)
                .optional()?
                .map(UserRow::into_user))
        })
        .await
    }

    /// Changes email, name, directory id and/or active state, one audit row per changed field.
    pub async fn update_user(
        &self,
        user: UserId,
        update: DirectoryUpdate,
        actor: Actor,
    ) -> Result<User, StoreError> {
        self.write(move |c| update_user_tx(c, user, &update, &actor))
            .await
    }

    /// Audits a directory entry's refused claim on an account linked to another entry.
    pub async fn record_link_refusal(&self, r: LinkRefusal) -> Result<(), StoreError> {
        let detail = serde_json::json!({
            "linked_id": r.linked_id,
            "linked_entry": r.linked_dn,
            "linked_entry_exists": r.linked_dn.is_some(),
            "claimant_entry": r.claimant_dn,
            "claimant_id": r.claimant_id,
        });
        let actor = Actor {
            source: r.source,
            user: None,
        };
        self.write(move |c| {
            audit(
                c,
                Some(r.realm),
                AuditEvent::UserDirectoryLinkRefused,
                &actor,
                Some(r.user),
                detail,
            )
        })
        .await
    }
}

/// Sets the active flag; a deactivation records who (the actor's source) and why and ends the
/// user's web sessions, a reactivation clears both.
fn set_active(
    c: &mut DbConnection,
    user: UserId,
    active: bool,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let (by, reason) = if active {
        (None, None)
    } else {
        (Some(actor.source), reason)
    };
    diesel::update(users::table.find(user.0))
        .set((
            users::is_active.eq(active),
            users::deactivated_by.eq(by),
            users::deactivation_reason.eq(reason),
        ))
        .execute(c)?;
    if !active {
        end_sessions_of(c, user, None)?;
    }
    Ok(())
}

/// The role the directory gives, with its reason in the audit row; refused (and the refusal
/// audited as `user_role_change_refused`) when it would take the owner role from the realm's
/// last active owner — the same check, in the same transaction, as
/// [`Store::set_role_keeping_an_owner`].
fn set_directory_role(
    c: &mut DbConnection,
    current: &User,
    role: Role,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<(), StoreError> {
    if role == current.role {
        return Ok(());
    }
    let realm = Some(current.realm_id);
    if role != Role::Owner && is_last_owner(c, current)? {
        let detail = serde_json::json!({
            "role": role.name(),
            "kept": current.role.name(),
            "reason": reason,
            "refused": "the realm's last active owner",
        });
        let event = AuditEvent::UserRoleChangeRefused;
        return audit(c, realm, event, actor, Some(current.id), detail);
    }
    diesel::update(users::table.find(current.id.0))
        .set(users::role.eq(role.as_i32()))
        .execute(c)?;
    let detail =
        serde_json::json!({"role": role.name(), "old": current.role.name(), "reason": reason});
    audit(
        c,
        realm,
        AuditEvent::UserRoleChanged,
        actor,
        Some(current.id),
        detail,
    )
}

/// [`Store::update_user`] inside the caller's transaction: one audit row per changed field; a
/// person's deactivation takes their active bots with them (as Zulip's does) and ends their web
/// sessions.
pub(crate) fn update_user_tx(
    c: &mut DbConnection,
    user: UserId,
    update: &DirectoryUpdate,
    actor: &Actor,
) -> Result<User, StoreError> {
    let current = find_user(c, user)?.ok_or(StoreError::NotFound("user"))?;
    // Every audit row it writes: this realm, this actor, the user it changed.
    let realm = Some(current.realm_id);
    let log = |c: &mut DbConnection, event, changed: UserId, detail| {
        audit(c, realm, event, actor, Some(changed), detail)
    };
    if let Some(email) = &update.email {
        let email = email.trim();
        if email != current.delivery_email {
            diesel::update(users::table.find(user.0))
                .set((
                    users::delivery_email.eq(email),
                    users::email_key.eq(email_lookup_key(email)),
                ))
                .execute(c)
                .map_err(|e| conflict_as(e, "a user with that email in this realm"))?;
            let detail = serde_json::json!({"old": current.delivery_email, "new": email});
            log(c, AuditEvent::UserEmailChanged, user, detail)?;
        }
    }
    if let Some(name) = &update.full_name {
        if *name != current.full_name {
            diesel::update(users::table.find(user.0))
                .set(users::full_name.eq(name))
                .execute(c)?;
            let detail = serde_json::json!({"old": current.full_name, "new": name});
            log(c, AuditEvent::UserFullNameChanged, user, detail)?;
        }
    }
    if let Some(id) = &update.external_id {
        if current.external_id != *id {
            diesel::update(users::table.find(user.0))
                .set(users::external_id.eq(id))
                .execute(c)
                .map_err(|e| conflict_as(e, "a user with that directory id in this realm"))?;
            let detail = serde_json::json!({"external_id": id, "old": current.external_id});
            log(c, AuditEvent::UserExternalIdChanged, user, detail)?;
        }
    }
    if let Some(role) = update.role {
        set_directory_role(c, &current, role, update.role_reason.as_deref(), actor)?;
    }
    if let Some(active) = update.active {
        if active != current.is_active {
            set_active(c, user, active, actor, update.reason.as_deref())?;
            let event = if active {
                AuditEvent::UserReactivated
            } else {
                AuditEvent::UserDeactivated
            };
            let detail = serde_json::json!({"reason": update.reason});
            log(c, event, user, detail)?;
            if !active && !current.is_bot() {
                // As Zulip does: a deactivated person's bots go with them.
                let bots: Vec<i64> = users::table
                    .filter(users::bot_owner_id.eq(user.0))
                    .filter(users::is_active.eq(true))
                    .select(users::id)
                    .load(c)?;
                for bot in bots {
                    set_active(c, UserId(bot), false, actor, Some("owner deactivated"))?;
                    let detail = serde_json::json!({"because_owner_deactivated": user.0});
                    log(c, AuditEvent::UserDeactivated, UserId(bot), detail)?;
                }
            }
        }
    }
    // Diesel's own "not found", as a plain `first` would report it.
    find_user(c, user)?.ok_or(StoreError::NotFound("row"))
}
