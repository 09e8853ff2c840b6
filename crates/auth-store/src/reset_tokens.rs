//! The `password_reset_tokens` table: reset links, kept as the SHA-256 digest of their token.
//! A user has at most one: issuing a token deletes the older ones, and a password change by any
//! path (`set_password_tx`) deletes them all. A token is used once: the request that consumes it
//! marks it used, and sets the new password, in one transaction.

use std::time::Duration;

use auth_core::{PasswordHash, User, UserId};
use diesel::prelude::*;

use crate::audit::audit;
use crate::passwords::{delete_user_tokens, set_password_tx};
use crate::rows::find_user;
use crate::schema::password_reset_tokens as tokens;
use crate::{Actor, AuditEvent, Store, StoreError, now_micros};

/// A reset link to record for a user.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    pub user: UserId,
    /// The token's digest (`auth_core::ResetToken::digest`), never the token.
    pub digest: String,
    pub lifetime: Duration,
    /// The audit row's detail (the client's address, say); never the address or the token.
    pub detail: serde_json::Value,
}

impl Store {
    /// Records a new reset token for the user, deleting their older ones, and audits the
    /// request.
    pub async fn issue_reset_token(
        &self,
        request: ResetRequest,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let user = find_user(c, request.user)?.ok_or(StoreError::NotFound("user"))?;
            delete_user_tokens(c, user.id)?;
            let now = now_micros();
            let lifetime = i64::try_from(request.lifetime.as_micros()).unwrap_or(i64::MAX);
            diesel::insert_into(tokens::table)
                .values((
                    tokens::digest.eq(&request.digest),
                    tokens::user_id.eq(user.id.0),
                    tokens::created_at.eq(now),
                    tokens::expires_at.eq(now.saturating_add(lifetime)),
                ))
                .execute(c)?;
            audit(
                c,
                Some(user.realm_id),
                AuditEvent::PasswordResetRequested,
                &actor,
                Some(user.id),
                request.detail,
            )
        })
        .await
    }

    /// The user a valid token (unused, unexpired) belongs to.
    pub async fn reset_token_user(&self, digest: &str) -> Result<Option<User>, StoreError> {
        let digest = digest.to_owned();
        self.with_conn(move |c| {
            let owner: Option<i64> = tokens::table
                .filter(tokens::digest.eq(&digest))
                .filter(tokens::used_at.is_null())
                .filter(tokens::expires_at.gt(now_micros()))
                .select(tokens::user_id)
                .first(c)
                .optional()?;
            match owner {
                Some(id) => Ok(find_user(c, UserId(id))?),
                None => Ok(None),
            }
        })
        .await
    }

    /// Consumes a valid token and sets its user's password, in one transaction: `None` (and
    /// nothing changed) when the token is unknown, used, expired or its user no longer passes
    /// `still_allowed` (deactivated since, say). The password change deletes every reset token
    /// of the user and is audited as any password change, plus a `password_reset_done` row.
    pub async fn reset_password_with_token(
        &self,
        digest: &str,
        hash: PasswordHash,
        still_allowed: impl FnOnce(&User) -> bool + Send + 'static,
    ) -> Result<Option<User>, StoreError> {
        let digest = digest.to_owned();
        self.write(move |c| {
            let now = now_micros();
            let valid = tokens::table
                .filter(tokens::digest.eq(&digest))
                .filter(tokens::used_at.is_null())
                .filter(tokens::expires_at.gt(now));
            let Some(id) = valid.select(tokens::user_id).first::<i64>(c).optional()? else {
                return Ok(None);
            };
            // The claim: of two requests with one token, only one updates the row (PostgreSQL
            // re-checks the condition after waiting for the other's lock).
            if diesel::update(valid)
                .set(tokens::used_at.eq(now))
                .execute(c)?
                != 1
            {
                return Ok(None);
            }
            let user = match find_user(c, UserId(id))? {
                Some(u) if still_allowed(&u) => u,
                // Rolled back with the claim: the token stays as it was.
                _ => return Err(StoreError::NotFound("user")),
            };
            let actor = Actor {
                source: "reset",
                user: Some(user.id),
            };
            set_password_tx(c, user.id, Some(&hash), None, &actor)?;
            audit(
                c,
                Some(user.realm_id),
                AuditEvent::PasswordResetDone,
                &actor,
                Some(user.id),
                serde_json::json!({}),
            )?;
            Ok(Some(user))
        })
        .await
        .or_else(|e| match e {
            StoreError::NotFound("user") => Ok(None),
            other => Err(other),
        })
    }
}
