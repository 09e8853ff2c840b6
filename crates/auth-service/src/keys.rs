//! API keys as the server uses them: generated and sealed for new users, opened to show their
//! owner, replaced on regeneration, and resolved back to their owner for Basic authentication.
//!
//! Resolving is the hot path: a bounded in-memory cache keyed by the key's HMAC digest answers
//! without touching the database on a hit. Every change that makes a cached owner stale
//! (regeneration, deactivation, a renamed email, a deactivated realm) is written to the store's
//! invalidation log, which every instance follows ([`crate::invalidation`]); the TTL is only a
//! safety net, jittered and refreshed ahead of expiry for keys in use ([`crate::lookup_cache`]).
//!
//! Memory: an entry is the 32-byte digest, the owner's [`User`] and a shared [`Arc`] of the
//! realm (one copy per realm, not per key). `cache_memory` in this crate's tests measures the
//! whole cost per entry, the map's bookkeeping included; docs/deploy.md gives sizing advice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::{ApiKey, KeyDigest, KeyVault, Realm, RealmId, User, UserId};
use auth_store::{Actor, KeySealer, Store, StoreError};

use crate::lookup_cache::{CachePolicy, LookupCache};
use crate::owner_reads::OwnerReads;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("user {0} has no API key")]
    Missing(UserId),
    #[error(transparent)]
    Vault(#[from] auth_core::VaultError),
}

/// The cache's key: the digest's 32 bytes (not its 64 hex characters on the heap).
pub type KeyId = [u8; 32];

/// What the cache keeps for a key: its owner, and the owner's realm, shared by every owner in
/// that realm.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub user: Arc<User>,
    pub realm: Arc<Realm>,
}

/// Cache sizes and lifetimes.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub capacity: u64,
    /// The longest a resolved owner is trusted without a re-read (the safety net behind the
    /// invalidation log; keys in use are re-read before, in the background).
    pub ttl: Duration,
    /// Each entry's life is `ttl` shortened by a random fraction up to this (0 to 0.5), so that
    /// entries read together do not expire together.
    pub jitter: f64,
    /// How long "no such key" is remembered.
    pub negative_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            ttl: Duration::from_secs(300),
            jitter: 0.2,
            negative_ttl: Duration::from_secs(5),
        }
    }
}

impl CacheSettings {
    /// The owner cache's policy: "no such key" answers take at most a tenth of the room.
    pub fn policy(&self) -> CachePolicy {
        CachePolicy {
            capacity: self.capacity,
            ttl: self.ttl,
            jitter: self.jitter,
            negative_ttl: self.negative_ttl,
            missing_capacity: self.capacity / 10 + 1,
        }
    }
}

/// A database read of a key's owner, as the cache runs it.
type OwnerRead =
    std::pin::Pin<Box<dyn Future<Output = Result<Option<KeyOwner>, StoreError>> + Send>>;

/// One shared copy of each realm the cached owners belong to.
#[derive(Default)]
struct RealmCopies(Mutex<HashMap<RealmId, Arc<Realm>>>);

impl RealmCopies {
    /// Bounds the map should realms come and go by the thousand.
    const MAX: usize = 10_000;

    /// The shared copy of `realm`, replaced when the row changed.
    fn share(&self, realm: Realm) -> Arc<Realm> {
        let mut copies = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(copy) = copies.get(&realm.id).filter(|c| ***c == realm) {
            return copy.clone();
        }
        if copies.len() >= Self::MAX {
            copies.clear();
        }
        let copy = Arc::new(realm);
        copies.insert(copy.id, copy.clone());
        copy
    }

    fn forget(&self, realm: RealmId) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&realm);
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
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
    owners: LookupCache<KeyId, KeyOwner>,
    reads: Arc<OwnerReads>,
    realms: Arc<RealmCopies>,
    pub stats: Arc<CacheStats>,
}

impl KeyService {
    pub fn new(vault: KeyVault, store: Store, cache: &CacheSettings) -> Self {
        KeyService {
            vault: Arc::new(vault),
            store: store.clone(),
            owners: LookupCache::with_refresh_hook(
                &cache.policy(),
                Some(crate::telemetry::key_cache_refresh),
            ),
            reads: OwnerReads::new(store.clone()),
            realms: Arc::default(),
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

    /// Seals a secret other than a key (a realm's LDAP bind password), bound to `context`.
    pub fn seal_secret(&self, secret: &auth_core::SecretString, context: &str) -> Vec<u8> {
        self.vault.seal_secret(secret, context, &mut rand::rng())
    }

    /// Opens what [`KeyService::seal_secret`] sealed with the same `context`.
    pub fn open_secret(
        &self,
        sealed: &[u8],
        context: &str,
    ) -> Result<auth_core::SecretString, auth_core::VaultError> {
        self.vault.open_secret(sealed, context)
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

    /// Who owns this key, with their realm: from the cache, else from the database (one read,
    /// shared by concurrent requests for the same key).
    pub async fn owner_of(
        &self,
        key: &ApiKey,
    ) -> Result<Option<(Arc<User>, Arc<Realm>)>, KeyError> {
        let id: KeyId = self.vault.digest_bytes(key);
        let answer = self
            .owners
            .get(&id, || self.loader(KeyDigest::of_bytes(&id)))
            .await?;
        self.stats
            .hits
            .fetch_add(u64::from(answer.hit), Ordering::Relaxed);
        self.stats
            .misses
            .fetch_add(u64::from(!answer.hit), Ordering::Relaxed);
        crate::telemetry::key_cache(answer.hit);
        Ok(answer.value.map(|owner| {
            let KeyOwner { user, realm } = owner.into_inner();
            (user, realm)
        }))
    }

    /// The database read of a key's owner, as the cache calls it (on a miss, and again to
    /// refresh the entry), batched with other keys' reads ([`crate::owner_reads`]).
    fn loader(&self, digest: KeyDigest) -> impl Fn() -> OwnerRead + Send + Sync + 'static {
        let reads = self.reads.clone();
        let realms = self.realms.clone();
        move || {
            let (reads, realms, digest) = (reads.clone(), realms.clone(), digest.clone());
            Box::pin(async move {
                let owner = reads.read(digest).await?;
                Ok(owner.map(|(user, realm)| KeyOwner {
                    user: Arc::new(user),
                    realm: realms.share(realm),
                }))
            })
        }
    }

    /// Forgets cached owners that are this user.
    pub fn invalidate_user(&self, user: UserId) {
        self.owners.invalidate_where(move |_, o| o.user.id == user);
    }

    /// Forgets cached owners in this realm.
    pub fn invalidate_realm(&self, realm: RealmId) {
        self.realms.forget(realm);
        self.owners
            .invalidate_where(move |_, o| o.realm.id == realm);
    }

    /// Forgets everything (after missing invalidations, e.g. a lost listener connection).
    pub fn invalidate_all(&self) {
        self.realms.clear();
        self.owners.invalidate_all();
    }

    /// Owners cached now (approximate).
    pub fn cached_owners(&self) -> u64 {
        self.owners.entry_count()
    }

    pub fn fingerprint(&self) -> String {
        self.vault.fingerprint()
    }
}
