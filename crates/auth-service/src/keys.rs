//! API keys as the server uses them: generated and sealed for new users, opened to show their
//! owner, replaced on regeneration, and resolved back to their owner for Basic authentication.
//!
//! Resolving is the hot path: a bounded in-memory cache keyed by the key's HMAC digest answers
//! without touching the database on a hit. Every change that makes a cached owner stale
//! (regeneration, deactivation, a renamed email, a deactivated realm) is written to the store's
//! invalidation log, which every instance follows ([`crate::invalidation`]); a short TTL is the
//! safety net.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use auth_core::{ApiKey, KeyDigest, KeyVault, Realm, RealmId, User, UserId};
use auth_store::{Actor, KeySealer, Store, StoreError};
use moka::sync::Cache;

use crate::lookup_cache::LookupCache;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("user {0} has no API key")]
    Missing(UserId),
    #[error(transparent)]
    Vault(#[from] auth_core::VaultError),
}

/// Cache sizes and lifetimes.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub capacity: u64,
    /// How long a resolved owner is trusted without hearing of a change.
    pub ttl: Duration,
    /// How long "no such key" is remembered.
    pub negative_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
        }
    }
}

/// Counters for the benchmark and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

/// The vault (server secret) joined with the store, and the owner cache.
#[derive(Clone)]
pub struct KeyService {
    vault: Arc<KeyVault>,
    store: Store,
    owners: LookupCache<KeyDigest, (User, Realm)>,
    pub stats: Arc<CacheStats>,
}

impl KeyService {
    pub fn new(vault: KeyVault, store: Store, cache: &CacheSettings) -> Self {
        KeyService {
            vault: Arc::new(vault),
            store,
            owners: LookupCache::new(
                Cache::builder()
                    .max_capacity(cache.capacity)
                    .time_to_live(cache.ttl)
                    .support_invalidation_closures()
                    .build(),
                Cache::builder()
                    .max_capacity(cache.capacity / 10 + 1)
                    .time_to_live(cache.negative_ttl)
                    .build(),
            ),
            stats: Arc::new(CacheStats::default()),
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

    /// Replaces the user's key with a new random one and returns it. The old key stops
    /// resolving here at once, and on other instances when they read the invalidation.
    pub async fn regenerate(&self, user: UserId, actor: Actor) -> Result<ApiKey, KeyError> {
        let mut rng = rand::rng();
        let key = ApiKey::generate(&mut rng);
        let sealed = self.vault.seal(&key, user, &mut rng);
        self.store.replace_key(user, sealed, actor).await?;
        self.invalidate_user(user);
        Ok(key)
    }

    /// Who owns this key, with their realm: from the cache, else from the database.
    pub async fn owner_of(&self, key: &ApiKey) -> Result<Option<(User, Realm)>, KeyError> {
        let digest = self.vault.digest(key);
        if let Some(cached) = self.owners.cached(&digest) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::key_cache(true);
            return Ok(cached);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::key_cache(false);
        let read = self.store.user_by_key_digest(&digest);
        Ok(self.owners.load(&digest, read).await?)
    }

    /// Forgets cached owners that are this user.
    pub fn invalidate_user(&self, user: UserId) {
        self.owners.invalidate_where(move |_, (u, _)| u.id == user);
    }

    /// Forgets cached owners in this realm.
    pub fn invalidate_realm(&self, realm: RealmId) {
        self.owners.invalidate_where(move |_, (_, r)| r.id == realm);
    }

    /// Forgets everything (after missing invalidations, e.g. a lost listener connection).
    pub fn invalidate_all(&self) {
        self.owners.invalidate_all();
    }

    pub fn fingerprint(&self) -> String {
        self.vault.fingerprint()
    }
}
