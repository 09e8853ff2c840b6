//! A read-through cache of database lookups (API-key owners, realms by subdomain) that remembers
//! both answers — "found" and, for a shorter time, "there is none" (anyone can make up keys and
//! host names) — and never keeps an answer read before an invalidation.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::sync::Cache;

#[derive(Clone)]
pub struct LookupCache<K, V> {
    found: Cache<K, V>,
    missing: Cache<K, ()>,
    /// Bumped by every invalidation: a read that started before a bump may have seen the old
    /// row, so its answer is not kept.
    generation: Arc<AtomicU64>,
}

impl<K, V> LookupCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `found` and `missing` come configured (capacity, time to live, invalidation closures).
    pub fn new(found: Cache<K, V>, missing: Cache<K, ()>) -> Self {
        LookupCache {
            found,
            missing,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The cached answer: `Some(Some(v))` found, `Some(None)` known to be missing, `None` not
    /// cached.
    pub fn cached<Q>(&self, key: &Q) -> Option<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(hit) = self.found.get(key) {
            return Some(Some(hit));
        }
        self.missing.contains_key(key).then_some(None)
    }

    /// Runs the database read `load` and caches its answer, unless an invalidation ran while it
    /// read (or between the read and the insert).
    pub async fn load<Q, E>(
        &self,
        key: &Q,
        load: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let generation = self.generation.load(Ordering::Acquire);
        let answer = load.await?;
        // Insert, then check: a bump seen after the insert drops what was just cached.
        match &answer {
            Some(v) => self.found.insert(key.to_owned(), v.clone()),
            None => self.missing.insert(key.to_owned(), ()),
        }
        if self.generation.load(Ordering::Acquire) != generation {
            self.found.invalidate(key);
            self.missing.invalidate(key);
        }
        Ok(answer)
    }

    /// Forgets the found entries `stale` picks (the `found` cache needs invalidation closures),
    /// or all of them should that fail.
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool + Send + Sync + 'static) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.found.invalidate_entries_if(stale) {
            tracing::warn!(error = %e, "cache invalidation failed; dropping the whole cache");
            self.found.invalidate_all();
        }
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.found.invalidate_all();
        self.missing.invalidate_all();
    }
}
