//! The step every change to a user shares: run the update, then write its audit row in the
//! user's realm, in the caller's transaction.

use auth_core::{RealmId, UserId};
use diesel::prelude::*;

use crate::audit::audit;
use crate::schema::users;
use crate::{Actor, AuditEvent, DbConnection, StoreError};

pub(crate) fn user_realm(c: &mut DbConnection, user: UserId) -> Result<RealmId, StoreError> {
    users::table
        .find(user.0)
        .select(users::realm_id)
        .first::<i64>(c)
        .optional()?
        .map(RealmId)
        .ok_or(StoreError::NotFound("user"))
}

/// Runs `update` on user `user` and audits it as `event` in the user's realm, which is looked up
/// first (`NotFound("user")` when there is no such user).
pub(crate) fn change_user<T, E>(
    c: &mut DbConnection,
    user: UserId,
    event: AuditEvent,
    actor: &Actor,
    detail: serde_json::Value,
    update: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<(), StoreError>
where
    StoreError: From<E>,
{
    let realm = user_realm(c, user)?;
    update(c)?;
    audit(c, Some(realm), event, actor, Some(user), detail)
}
