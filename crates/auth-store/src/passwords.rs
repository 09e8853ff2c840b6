//! What a password change does besides the new hash, in its own transaction: the user's web
//! sessions (all but the current one, when asked) and reset links end with the old password.

use auth_core::{PasswordHash, UserId};
use diesel::prelude::*;

use crate::changes::change_user;
use crate::schema::password_reset_tokens as tokens;
use crate::schema::users;
use crate::sessions::end_sessions_of;
use crate::{Actor, AuditEvent, DbConnection, StoreError};

/// A password change inside the caller's transaction: the hash, the audit row, the user's web
/// sessions (all but `keep`) and reset links ended.
pub(crate) fn set_password_tx(
    c: &mut DbConnection,
    user: UserId,
    hash: Option<&PasswordHash>,
    keep: Option<&str>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let detail = serde_json::json!({"usable": hash.is_some()});
    let event = AuditEvent::UserPasswordChanged;
    change_user(c, user, event, actor, detail, |c| {
        diesel::update(users::table.find(user.0))
            .set((
                users::password_hash.eq(hash.map(|h| h.0.clone())),
                users::password_reset_needed.eq(false),
            ))
            .execute(c)?;
        end_sessions_of(c, user, keep)
    })?;
    delete_user_tokens(c, user)
}

/// Deletes every reset token of the user (a newer one is issued, or the password changed).
pub(crate) fn delete_user_tokens(c: &mut DbConnection, user: UserId) -> Result<(), StoreError> {
    diesel::delete(tokens::table.filter(tokens::user_id.eq(user.0))).execute(c)?;
    Ok(())
}
