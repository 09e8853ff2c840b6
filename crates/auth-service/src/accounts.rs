//! The core's `AccountStore` port over the store, with the key service for accounts that a
//! directory login or sync creates.

use async_trait::async_trait;
use auth_core::{
    AccountStore, AccountWriteError, DirectoryUpdate, LinkRefusal, LoginRecord, NewDirectoryUser,
    PasswordHash, Realm, RealmId, Role, StoreUnavailable, User, UserId,
};
use auth_store::{Actor, NewUser, Store, StoreError, UserFilter};

use crate::keys::KeyService;

/// What the backends see of the database.
#[derive(Clone)]
pub struct StoreAccounts {
    pub store: Store,
    pub keys: KeyService,
}

fn write_error(e: StoreError) -> AccountWriteError {
    match e {
        StoreError::Conflict(what) => AccountWriteError::Conflict(what.to_owned()),
        other => AccountWriteError::Unavailable(other.into()),
    }
}

#[async_trait]
impl AccountStore for StoreAccounts {
    async fn login_record(
        &self,
        realm: RealmId,
        email: &str,
    ) -> Result<Option<LoginRecord>, StoreUnavailable> {
        Ok(self.store.login_record(realm, email).await?)
    }

    async fn login_records_any_realm(
        &self,
        email: &str,
    ) -> Result<Vec<LoginRecord>, StoreUnavailable> {
        Ok(self.store.login_records_any_realm(email).await?)
    }

    async fn realm(&self, id: RealmId) -> Result<Option<Realm>, StoreUnavailable> {
        Ok(self.store.realm_by_id(id).await?)
    }

    async fn upgrade_password_hash(
        &self,
        user: UserId,
        hash: PasswordHash,
    ) -> Result<(), StoreUnavailable> {
        Ok(self.store.upgrade_password_hash(user, hash).await?)
    }

    async fn user_by_external_id(
        &self,
        realm: RealmId,
        external_id: &str,
    ) -> Result<Option<User>, StoreUnavailable> {
        Ok(self.store.user_by_external_id(realm, external_id).await?)
    }

    async fn realm_users(&self, realm: RealmId) -> Result<Vec<User>, StoreUnavailable> {
        Ok(self.store.list_users(realm, UserFilter::All).await?)
    }

    async fn create_directory_user(
        &self,
        new: NewDirectoryUser,
        source: &'static str,
    ) -> Result<User, AccountWriteError> {
        self.store
            .create_user(
                NewUser {
                    realm_id: new.realm,
                    delivery_email: new.email,
                    full_name: new.full_name,
                    password_hash: None,
                    role: Role::Member,
                    bot_type: None,
                    bot_owner_id: None,
                    external_id: new.external_id,
                },
                self.keys.sealer(),
                Actor { source, user: None },
            )
            .await
            .map_err(write_error)
    }

    /// Directory changes in one transaction; a role (`[ldap.role_by_group]`) goes through the
    /// store's owner check, so the directory never leaves a realm without an owner: the refusal
    /// is audited and the returned user keeps the role. This instance's cached copy of the
    /// person is dropped at once (a new role or name holds for the very next API call here;
    /// other instances follow through the invalidation log).
    async fn update_directory_user(
        &self,
        user: UserId,
        update: DirectoryUpdate,
        source: &'static str,
    ) -> Result<User, AccountWriteError> {
        let changes = !update.is_empty();
        let updated = self
            .store
            .update_user(user, update, Actor { source, user: None })
            .await
            .map_err(write_error)?;
        if changes {
            self.keys.invalidate_user(user);
        }
        Ok(updated)
    }

    async fn record_link_refusal(&self, refusal: LinkRefusal) -> Result<(), StoreUnavailable> {
        Ok(self.store.record_link_refusal(refusal).await?)
    }
}
