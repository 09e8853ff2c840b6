//! The `api_keys` table: one sealed key per user, found by its digest. The store never sees a
//! plaintext key: the core's vault seals it before it arrives and opens it after it leaves.

use auth_core::{KeyDigest, Realm, SealedKey, User, UserId};
use diesel::prelude::*;

use crate::changes::change_user;
use crate::models::{RealmRow, UserRow};
use crate::schema::{api_keys, realms, users};
use crate::{Actor, AuditEvent, DbConnection, Store, StoreError, conflict_as, now_micros};

impl Store {
    /// The sealed copy of a user's key, to be opened by the vault.
    pub async fn sealed_key(&self, user: UserId) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_conn(move |c| {
            Ok(api_keys::table
                .find(user.0)
                .select(api_keys::sealed)
                .first::<Vec<u8>>(c)
                .optional()?)
        })
        .await
    }

    /// The owners of the keys with these digests, with their realms, in one query: each row
    /// is the digest (as stored), its owner and the owner's realm. Digests nobody owns have no
    /// row. For the key cache's batched misses.
    pub async fn users_by_key_digests(
        &self,
        digests: Vec<KeyDigest>,
    ) -> Result<Vec<(String, User, Realm)>, StoreError> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        self.with_conn(move |c| {
            let wanted: Vec<&str> = digests.iter().map(KeyDigest::as_str).collect();
            let rows = api_keys::table
                .inner_join(users::table.inner_join(realms::table))
                .filter(api_keys::digest.eq_any(wanted))
                .select((
                    api_keys::digest,
                    UserRow::as_select(),
                    RealmRow::as_select(),
                ))
                .load::<(String, UserRow, RealmRow)>(c)?;
            Ok(rows
                .into_iter()
                .map(|(d, u, r)| (d, u.into_user(), Realm::from(r)))
                .collect())
        })
        .await
    }

    /// Replaces a user's key (regeneration). The old digest stops matching at once.
    pub async fn replace_key(
        &self,
        user: UserId,
        sealed: SealedKey,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let event = AuditEvent::UserApiKeyChanged;
            change_user(c, user, event, &actor, serde_json::json!({}), |c| {
                diesel::delete(api_keys::table.find(user.0)).execute(c)?;
                insert_key(c, user, &sealed, now_micros())
            })
        })
        .await
    }
}

pub(crate) fn insert_key(
    c: &mut DbConnection,
    user: UserId,
    sealed: &SealedKey,
    now: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::user_id.eq(user.0),
            api_keys::digest.eq(sealed.digest.as_str()),
            api_keys::sealed.eq(&sealed.ciphertext),
            api_keys::created_at.eq(now),
        ))
        .execute(c)
        .map_err(|e| conflict_as(e, "an API key with that digest"))?;
    Ok(())
}
