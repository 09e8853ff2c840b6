//! A read-through cache of database lookups (API-key owners, realms by subdomain) that remembers
//! both answers — "found" and, for a shorter time, "there is none" (anyone can make up keys and
//! host names) — and never keeps an answer read before an invalidation.
//!
//! Correctness comes from the invalidation log (the follower calls [`LookupCache::invalidate_where`]);
//! the time to live is only a safety net, and this cache makes sure it never costs a collapse:
//!
//! - **Jitter.** Each found entry lives for the TTL shortened by a random fraction (at most
//!   `jitter`), so entries filled together do not expire together.
//! - **Refresh ahead.** A hit on an entry past a random point between [`REFRESH_FROM`] and
//!   [`REFRESH_TO`] of its life starts one background read of that key (never two at once for
//!   one key, at most [`MAX_REFRESHES`] at once in all); the fresh answer replaces the entry.
//!   Keys in use therefore never expire; keys nobody uses do, and leave memory.
//! - **One read per key.** Concurrent misses for one key wait for a single read (moka's
//!   `try_get_with`): its answer, or its error, is shared.
//! - **Generations.** Every invalidation bumps a counter. A read that began before a bump may
//!   have seen the old row: it is inserted, then dropped if the counter moved (so a bump seen
//!   after the insert drops what was just cached, and one before it is seen by the check). A
//!   request that joined someone else's read which began before an invalidation this request
//!   already saw reads again instead of using that answer.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::future::Cache;
use rand::Rng;
use tokio::sync::Semaphore;

/// A hit past this fraction of an entry's life (at the earliest) refreshes it in the background.
pub const REFRESH_FROM: f64 = 0.5;
/// ... and at the latest past this fraction (each entry draws its point in between).
pub const REFRESH_TO: f64 = 0.8;
/// Background refreshes running at once, per cache: they share the database pool with requests.
pub const MAX_REFRESHES: usize = 4;
/// After a failed background refresh, the next hit tries again no sooner than this.
const REFRESH_RETRY: Duration = Duration::from_secs(2);
/// Jitter is capped so that every entry lives at least half the TTL.
pub const MAX_JITTER: f64 = 0.5;

/// Sizes and lifetimes of one cache.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// Found entries kept at most (0: nothing is cached, every lookup reads).
    pub capacity: u64,
    /// The longest a found entry is trusted without a re-read.
    pub ttl: Duration,
    /// Each found entry's life is `ttl` shortened by a random fraction up to this (0 to 0.5).
    pub jitter: f64,
    /// How long "there is none" is remembered (0: not remembered).
    pub negative_ttl: Duration,
    /// "There is none" answers kept at most: fewer than found entries, so that a flood of
    /// made-up keys cannot push real ones out.
    pub missing_capacity: u64,
}

/// A found entry: the value and when it was read.
pub struct Slot<V> {
    value: V,
    /// The generation when the read that produced `value` began.
    generation: u64,
    /// When this entry stops being used, in milliseconds since the cache's epoch.
    expires_at: u64,
    /// When a hit starts a background refresh; `u64::MAX` while one runs.
    refresh_at: AtomicU64,
}

impl<V> Slot<V> {
    pub fn value(&self) -> &V {
        &self.value
    }
}

/// A cached (or just read) value, shared with the cache: cloning it costs a reference count.
pub struct Found<V>(Arc<Slot<V>>);

impl<V> Clone for Found<V> {
    fn clone(&self) -> Self {
        Found(self.0.clone())
    }
}

impl<V> std::ops::Deref for Found<V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.0.value
    }
}

/// What a lookup answered, and whether the cache knew it.
pub struct Answer<V> {
    pub value: Option<Found<V>>,
    /// Answered from memory, without waiting for the database.
    pub hit: bool,
}

/// How a background refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// The entry now holds what the database says.
    Fresh,
    /// The database has no such row any more: the entry was forgotten.
    Gone,
    /// An invalidation ran during the read: the entry was forgotten.
    Dropped,
    /// The read failed: the entry is kept until its end, and a later hit tries again.
    Failed,
}

/// Why a read did not produce an entry (shared by every request that waited for it).
enum Miss<E> {
    /// There is none; the read began at this generation.
    None(u64),
    Failed(E),
}

struct Inner<K, V> {
    found: Option<Cache<K, Arc<Slot<V>>>>,
    missing: Option<moka::sync::Cache<K, ()>>,
    generation: AtomicU64,
    epoch: Instant,
    ttl_ms: u64,
    jitter: f64,
    refreshes: Arc<Semaphore>,
    on_refresh: Option<fn(Refreshed)>,
}

/// See the module documentation. Cheap to clone (shared).
pub struct LookupCache<K, V>(Arc<Inner<K, V>>);

impl<K, V> Clone for LookupCache<K, V> {
    fn clone(&self) -> Self {
        LookupCache(self.0.clone())
    }
}

impl<K, V> LookupCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    pub fn new(policy: &CachePolicy) -> Self {
        Self::with_refresh_hook(policy, None)
    }

    /// Also calls `on_refresh` as each background refresh ends (for metrics).
    pub fn with_refresh_hook(policy: &CachePolicy, on_refresh: Option<fn(Refreshed)>) -> Self {
        let ttl = policy.ttl.max(Duration::from_millis(1));
        let found = (policy.capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(policy.capacity)
                // moka forgets entries at the full TTL; the jittered end is checked on each hit.
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        let missing = (policy.capacity > 0 && !policy.negative_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(policy.missing_capacity.max(1))
                .time_to_live(policy.negative_ttl)
                .build()
        });
        LookupCache(Arc::new(Inner {
            found,
            missing,
            generation: AtomicU64::new(0),
            epoch: Instant::now(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX / 4),
            jitter: policy.jitter.clamp(0.0, MAX_JITTER),
            refreshes: Arc::new(Semaphore::new(MAX_REFRESHES)),
            on_refresh,
        }))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 4)
    }

    /// A new entry for a value whose read began at `generation`, with its jittered end and
    /// refresh point.
    fn slot(&self, value: V, generation: u64) -> Arc<Slot<V>> {
        let now = self.now_ms();
        let mut rng = rand::rng();
        let shorten = if self.0.jitter > 0.0 {
            rng.random_range(0.0..self.0.jitter)
        } else {
            0.0
        };
        let life = (self.0.ttl_ms as f64 * (1.0 - shorten)) as u64;
        let refresh = (life as f64 * rng.random_range(REFRESH_FROM..REFRESH_TO)) as u64;
        Arc::new(Slot {
            value,
            generation,
            expires_at: now.saturating_add(life.max(1)),
            refresh_at: AtomicU64::new(now.saturating_add(refresh)),
        })
    }

    fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// The value for `key`: from memory, else from the loader `make_load` makes (a database
    /// read), whose answer is then remembered. The loader is made only when needed (a miss, a
    /// refresh); it may run again later, in the background, so it owns what it needs.
    pub async fn get<Q, M, L, Fut, E>(&self, key: &Q, make_load: M) -> Result<Answer<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        M: FnOnce() -> L,
        L: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let Some(found) = &self.0.found else {
            // No cache: every lookup reads.
            let value = make_load()().await?.map(|v| Found(self.slot(v, 0)));
            return Ok(Answer { value, hit: false });
        };
        // Whatever this request uses must not predate an invalidation it has already seen.
        let seen = self.generation();
        let mut expired = None;
        if let Some(slot) = found.get(key).await {
            let now = self.now_ms();
            if now < slot.expires_at {
                self.maybe_refresh(key, &slot, now, make_load);
                return Ok(Answer {
                    value: Some(Found(slot)),
                    hit: true,
                });
            }
            expired = Some(slot);
        }
        if self.0.missing.as_ref().is_some_and(|m| m.contains_key(key)) {
            return Ok(Answer {
                value: None,
                hit: true,
            });
        }
        if let Some(old) = expired {
            // Removed only if it is still the expired entry (not one another request just read).
            self.remove_if_same(key, &old).await;
        }
        let load = make_load();
        let mut read_here = false;
        let answer = found
            .try_get_with_by_ref(key, async {
                read_here = true;
                let started = self.generation();
                match load().await {
                    Ok(Some(v)) => Ok(self.slot(v, started)),
                    Ok(None) => Err(Miss::None(started)),
                    Err(e) => Err(Miss::Failed(e)),
                }
            })
            .await;
        let (value, started) = match answer {
            Ok(slot) => {
                let started = slot.generation;
                (Some(slot), started)
            }
            Err(miss) => match &*miss {
                Miss::None(started) => (None, *started),
                Miss::Failed(e) => return Err(e.clone()),
            },
        };
        if read_here {
            // Insert, then check (see the module documentation).
            if let (None, Some(missing)) = (&value, &self.0.missing) {
                missing.insert(key.to_owned(), ());
            }
            if self.generation() != started {
                self.forget(key).await;
            }
        } else if started < seen {
            // Joined a read that began before an invalidation this request saw: read again,
            // alone, and keep nothing.
            let value = load().await?.map(|v| Found(self.slot(v, seen)));
            return Ok(Answer { value, hit: false });
        }
        Ok(Answer {
            value: value.map(Found),
            hit: false,
        })
    }

    /// Starts a background read of `key` if its entry is due and no refresh of it runs.
    fn maybe_refresh<Q, M, L, Fut, E>(&self, key: &Q, slot: &Arc<Slot<V>>, now: u64, make_load: M)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        M: FnOnce() -> L,
        L: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Send + 'static,
    {
        let due = slot.refresh_at.load(Ordering::Relaxed);
        if now < due {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The cache's refresh budget first, then this entry's claim (undone by dropping the
        // permit if another request claimed it).
        let Ok(permit) = self.0.refreshes.clone().try_acquire_owned() else {
            return;
        };
        if slot
            .refresh_at
            .compare_exchange(due, u64::MAX, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let cache = self.clone();
        let key = key.to_owned();
        let slot = slot.clone();
        let load = make_load();
        runtime.spawn(async move {
            let _permit = permit;
            cache.refresh(key, &slot, load).await;
        });
    }

    async fn refresh<L, Fut, E>(&self, key: K, slot: &Slot<V>, load: L)
    where
        L: Fn() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let Some(found) = &self.0.found else { return };
        let started = self.generation();
        let outcome = match load().await {
            Ok(Some(v)) => {
                found.insert(key.clone(), self.slot(v, started)).await;
                if self.generation() != started {
                    found.invalidate(&key).await;
                    Refreshed::Dropped
                } else {
                    Refreshed::Fresh
                }
            }
            // Gone (a regenerated key, say): forget it now rather than at the invalidation.
            Ok(None) => {
                found.invalidate(&key).await;
                Refreshed::Gone
            }
            // Keep serving the entry until its end; a later hit tries again.
            Err(_) => {
                let retry = u64::try_from(REFRESH_RETRY.as_millis()).unwrap_or(u64::MAX / 4);
                slot.refresh_at
                    .store(self.now_ms().saturating_add(retry), Ordering::Relaxed);
                Refreshed::Failed
            }
        };
        if let Some(hook) = self.0.on_refresh {
            hook(outcome);
        }
    }

    async fn remove_if_same<Q>(&self, key: &Q, old: &Arc<Slot<V>>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        use moka::ops::compute::Op;
        let Some(found) = &self.0.found else { return };
        found
            .entry_by_ref(key)
            .and_compute_with(|current| {
                let same = current.is_some_and(|c| Arc::ptr_eq(c.value(), old));
                std::future::ready(if same { Op::Remove } else { Op::Nop })
            })
            .await;
    }

    async fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(found) = &self.0.found {
            found.invalidate(key).await;
        }
        if let Some(missing) = &self.0.missing {
            missing.invalidate(key);
        }
    }

    /// Forgets the found entries `stale` picks, or all of them should that fail.
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool + Send + Sync + 'static) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        let Some(found) = &self.0.found else { return };
        if let Err(e) = found.invalidate_entries_if(move |k, slot| stale(k, &slot.value)) {
            tracing::warn!(error = %e, "cache invalidation failed; dropping the whole cache");
            found.invalidate_all();
        }
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(found) = &self.0.found {
            found.invalidate_all();
        }
        if let Some(missing) = &self.0.missing {
            missing.invalidate_all();
        }
    }

    /// Found entries held now (approximate: moka counts lazily).
    pub fn entry_count(&self) -> u64 {
        self.0.found.as_ref().map_or(0, |f| f.entry_count())
    }

    /// Applies moka's pending work (evictions, invalidations); for tests and measurements.
    pub async fn run_pending_tasks(&self) {
        if let Some(found) = &self.0.found {
            found.run_pending_tasks().await;
        }
    }
}

#[cfg(test)]
mod tests;
