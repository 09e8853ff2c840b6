//! API keys as the server uses them: generated and sealed for new users, opened to show their
//! owner, replaced on regeneration, and resolved back to their owner for Basic authentication.

use std::sync::Arc;

use auth_core::{ApiKey, KeyVault, Realm, User, UserId};
use auth_store::{Actor, KeySealer, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("user {0} has no API key")]
    Missing(UserId),
    #[error(transparent)]
    Vault(#[from] auth_core::VaultError),
}

/// The vault (server secret) joined with the store.
#[derive(Clone)]
pub struct KeyService {
    vault: Arc<KeyVault>,
    store: Store,
}

impl KeyService {
    pub fn new(vault: KeyVault, store: Store) -> Self {
        KeyService {
            vault: Arc::new(vault),
            store,
        }
    }

    /// A sealer that makes a fresh random key for a new user.
    pub fn sealer(&self) -> KeySealer {
        let vault = self.vault.clone();
        Box::new(move |owner| {
            let mut rng = rand::rng();
            let key = ApiKey::generate(&mut rng);
            vault.seal(&key, owner, &mut rng)
        })
    }

    /// The user's current key, decrypted.
    pub async fn key_for(&self, user: UserId) -> Result<ApiKey, KeyError> {
        let sealed = self
            .store
            .sealed_key(user)
            .await?
            .ok_or(KeyError::Missing(user))?;
        Ok(self.vault.open(&sealed, user)?)
    }

    /// Replaces the user's key with a new random one and returns it.
    pub async fn regenerate(&self, user: UserId, actor: Actor) -> Result<ApiKey, KeyError> {
        let mut rng = rand::rng();
        let key = ApiKey::generate(&mut rng);
        let sealed = self.vault.seal(&key, user, &mut rng);
        self.store.replace_key(user, sealed, actor).await?;
        Ok(key)
    }

    /// Who owns this key (by its digest), with their realm.
    pub async fn owner_of(&self, key: &ApiKey) -> Result<Option<(User, Realm)>, KeyError> {
        Ok(self
            .store
            .user_by_key_digest(&self.vault.digest(key))
            .await?)
    }

    pub fn fingerprint(&self) -> String {
        self.vault.fingerprint()
    }
}
