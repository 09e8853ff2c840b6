//! Row reads the write paths share inside their transactions: a user by id, a login record by
//! folded email, and whether a user is the realm's last active human owner. Kept apart from
//! users.rs and accounts.rs, which both use them, so neither module imports the other's
//! helpers both ways.

use auth_core::{LoginRecord, RealmId, Role, User, UserId};
use diesel::prelude::*;

use crate::models::UserRow;
use crate::schema::{realms, users};
use crate::{DbConnection, StoreError};

/// A user by id.
pub(crate) fn find_user(c: &mut DbConnection, id: UserId) -> QueryResult<Option<User>> {
    Ok(users::table
        .find(id.0)
        .select(UserRow::as_select())
        .first(c)
        .optional()?
        .map(UserRow::into_user))
}

/// The login record of `key` (a folded email) in `realm`.
pub(crate) fn find_login(
    c: &mut DbConnection,
    realm: RealmId,
    key: &str,
) -> QueryResult<Option<LoginRecord>> {
    Ok(users::table
        .filter(users::realm_id.eq(realm.0))
        .filter(users::email_key.eq(key))
        .select(UserRow::as_select())
        .first(c)
        .optional()?
        .map(UserRow::into_record))
}

/// Whether `user` is an owner and no other active human owner of its realm is left. Takes the
/// realm's row first (a no-op update), so that on PostgreSQL the transactions that ask this
/// about one realm run one after the other (SQLite serialises every write already).
pub(crate) fn is_last_owner(c: &mut DbConnection, user: &User) -> Result<bool, StoreError> {
    if user.role != Role::Owner || user.is_bot() {
        return Ok(false);
    }
    diesel::update(realms::table.find(user.realm_id.0))
        .set(realms::deactivated.eq(realms::deactivated))
        .execute(c)?;
    let others: i64 = users::table
        .filter(users::realm_id.eq(user.realm_id.0))
        .filter(users::role.eq(Role::Owner.as_i32()))
        .filter(users::is_active.eq(true))
        .filter(users::bot_type.is_null())
        .filter(users::id.ne(user.id.0))
        .count()
        .get_result(c)?;
    Ok(others == 0)
}
