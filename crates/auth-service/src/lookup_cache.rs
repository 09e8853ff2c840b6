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
//!   Keys in use therefore never expire; keys nobody uses do (an expired entry is not served,
//!   and is dropped when its key is next used or when room is needed).
//! - **One read per key.** Concurrent misses for one key wait for a single read (a table of
//!   reads in flight, each a `tokio::sync::OnceCell`): its answer, or its error, is shared. If
//!   the request doing the read is cancelled, one of those waiting does it instead.
//! - **Generations.** Every invalidation bumps a counter. A read that began before a bump may
//!   have seen the old row: it is inserted, then dropped if the counter moved (so a bump seen
//!   after the insert drops what was just cached, and one before it is seen by the check). A
//!   request that joined someone else's read which began before an invalidation this request
//!   already saw reads again instead of using that answer.
//!
//! **Memory.** Entries live inline in a [`quick_cache`] map (a slab and a hash table per shard:
//! the key, the value and two times, with a few bytes of bookkeeping, where moka's queues and
//! sketch took about 400 bytes an entry and each entry had an allocation of its own). Its
//! eviction keeps frequently used entries over ones seen once. Each shard holds an even part of
//! the capacity; the map is given [`SHARD_SLACK`] more room so that a working set of exactly
//! `capacity` keys, spread unevenly over the shards by their hashes, still fits. An expired
//! entry is dropped when it is next looked up, or when room is needed.

use std::any::Any;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{OnceCell, Semaphore};

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
/// The map is sized this fraction above `capacity`: its shards each hold an even part, and keys
/// do not spread evenly (with 100,000 keys over 8 shards, the fullest holds about 1% more than
/// its part).
pub const SHARD_SLACK: f64 = 0.06;

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

/// A found entry, kept inline in the map (no allocation of its own): the value and its life,
/// in milliseconds since the cache's epoch. Entries are told apart by `expires_at` (two reads
/// of one key ending in the same millisecond could be mistaken for each other; the worst that
/// does is one entry forgotten early, or a retry timed from the other's failure).
#[derive(Clone)]
struct Slot<V> {
    value: V,
    /// When this entry stops being used.
    expires_at: u64,
    /// When a hit starts a background refresh; [`REFRESHING`] while one runs.
    refresh_at: u64,
}

/// `refresh_at` while a refresh of the entry runs.
const REFRESHING: u64 = u64::MAX;

/// A cached (or just read) value, a clone of what the cache holds (values are cheap to clone:
/// the key cache's are two `Arc`s).
#[derive(Clone)]
pub struct Found<V>(V);

impl<V> Found<V> {
    /// The value itself (no clone).
    pub fn into_inner(self) -> V {
        self.0
    }
}

impl<V> std::ops::Deref for Found<V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.0
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

/// How a read ended, shared by every request that waited for it: the entry it made, or why
/// there is none.
enum Landed<V, E> {
    /// The entry, and the generation when its read began.
    Found(Slot<V>, u64),
    /// There is none; the read began at this generation.
    None(u64),
    Failed(E),
}

impl<V: Clone, E: Clone> Clone for Landed<V, E> {
    fn clone(&self) -> Self {
        match self {
            Landed::Found(slot, started) => Landed::Found(slot.clone(), *started),
            Landed::None(started) => Landed::None(*started),
            Landed::Failed(e) => Landed::Failed(e.clone()),
        }
    }
}

/// One read in flight, joined by the misses for its key. Stored type-erased (the error type
/// is the caller's), as `Arc<dyn Any>`.
type Flight<V, E> = OnceCell<Landed<V, E>>;

type Map<K, V> = quick_cache::sync::Cache<K, V>;

struct Inner<K, V> {
    found: Option<Map<K, Slot<V>>>,
    /// "There is none" answers, with when each ends (ms since `epoch`).
    missing: Option<Map<K, u64>>,
    flights: Mutex<HashMap<K, Arc<dyn Any + Send + Sync>>>,
    generation: AtomicU64,
    epoch: Instant,
    ttl_ms: u64,
    negative_ttl_ms: u64,
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

/// A map for `capacity` entries, with room for an uneven spread over its shards.
fn map<K: Hash + Eq, V: Clone>(capacity: u64) -> Map<K, V> {
    let room = capacity.saturating_add((capacity as f64 * SHARD_SLACK) as u64 + 64);
    Map::new(usize::try_from(room).unwrap_or(usize::MAX / 2))
}

impl<K, V> LookupCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(policy: &CachePolicy) -> Self {
        Self::with_refresh_hook(policy, None)
    }

    /// Also calls `on_refresh` as each background refresh ends (for metrics).
    pub fn with_refresh_hook(policy: &CachePolicy, on_refresh: Option<fn(Refreshed)>) -> Self {
        let ttl = policy.ttl.max(Duration::from_millis(1));
        let found = (policy.capacity > 0).then(|| map(policy.capacity));
        let missing = (policy.capacity > 0 && !policy.negative_ttl.is_zero())
            .then(|| map(policy.missing_capacity.max(1)));
        LookupCache(Arc::new(Inner {
            found,
            missing,
            flights: Mutex::default(),
            generation: AtomicU64::new(0),
            epoch: Instant::now(),
            ttl_ms: millis(ttl),
            negative_ttl_ms: millis(policy.negative_ttl),
            jitter: policy.jitter.clamp(0.0, MAX_JITTER),
            refreshes: Arc::new(Semaphore::new(MAX_REFRESHES)),
            on_refresh,
        }))
    }

    fn now_ms(&self) -> u64 {
        millis(self.0.epoch.elapsed())
    }

    /// A new entry for a value, with its jittered end and refresh point.
    fn slot(&self, value: V) -> Slot<V> {
        let now = self.now_ms();
        let mut rng = rand::rng();
        let shorten = if self.0.jitter > 0.0 {
            rng.random_range(0.0..self.0.jitter)
        } else {
            0.0
        };
        let life = (self.0.ttl_ms as f64 * (1.0 - shorten)) as u64;
        let refresh = (life as f64 * rng.random_range(REFRESH_FROM..REFRESH_TO)) as u64;
        Slot {
            value,
            expires_at: now.saturating_add(life.max(1)),
            refresh_at: now.saturating_add(refresh),
        }
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
            let value = make_load()().await?.map(Found);
            return Ok(Answer { value, hit: false });
        };
        // Whatever this request uses must not predate an invalidation it has already seen.
        let seen = self.generation();
        let mut expired = None;
        if let Some(slot) = found.get(key) {
            let now = self.now_ms();
            if now < slot.expires_at {
                self.maybe_refresh(key, &slot, now, make_load);
                return Ok(Answer {
                    value: Some(Found(slot.value)),
                    hit: true,
                });
            }
            expired = Some(slot);
        }
        if let Some(missing) = &self.0.missing
            && let Some(until) = missing.get(key)
        {
            if self.now_ms() < until {
                return Ok(Answer {
                    value: None,
                    hit: true,
                });
            }
            missing.remove_if(key, |u| *u == until);
        }
        if let Some(old) = expired {
            // Removed only if it is still the expired entry (not one another request just read).
            found.remove_if(key, |current| current.expires_at == old.expires_at);
        }
        let load = make_load();
        let flight = self.join::<Q, E>(key);
        let mut read_here = false;
        let landed = {
            let _leave = Leave {
                cache: self,
                key,
                flight: &flight,
            };
            match &flight {
                Some(flight) => flight
                    .get_or_init(|| {
                        read_here = true;
                        self.read(key, &load)
                    })
                    .await
                    .clone(),
                None => {
                    read_here = true;
                    self.read(key, &load).await
                }
            }
        };
        match landed {
            Landed::Failed(e) => Err(e),
            Landed::Found(slot, started) if read_here || started >= seen => Ok(Answer {
                value: Some(Found(slot.value)),
                hit: false,
            }),
            Landed::None(started) if read_here || started >= seen => Ok(Answer {
                value: None,
                hit: false,
            }),
            // Joined a read that began before an invalidation this request saw: read again,
            // alone, and keep nothing.
            _ => {
                let value = load().await?.map(Found);
                Ok(Answer { value, hit: false })
            }
        }
    }

    /// Reads `key` and remembers the answer: insert, then check the generation (see the
    /// module documentation).
    async fn read<Q, L, Fut, E>(&self, key: &Q, load: &L) -> Landed<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        L: Fn() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let started = self.generation();
        match load().await {
            Ok(Some(v)) => {
                let slot = self.slot(v);
                if let Some(found) = &self.0.found {
                    found.insert(key.to_owned(), slot.clone());
                    if self.generation() != started {
                        found.remove_if(key, |current| current.expires_at == slot.expires_at);
                    }
                }
                Landed::Found(slot, started)
            }
            Ok(None) => {
                if let Some(missing) = &self.0.missing {
                    let until = self.now_ms().saturating_add(self.0.negative_ttl_ms);
                    missing.insert(key.to_owned(), until);
                    if self.generation() != started {
                        missing.remove(key);
                    }
                }
                Landed::None(started)
            }
            Err(e) => Landed::Failed(e),
        }
    }

    /// The read in flight for `key`, joined (or started: an empty cell others will join).
    /// `None` only if a flight of another error type holds the key (never, in practice: a
    /// cache has one loader type).
    fn join<Q, E>(&self, key: &Q) -> Option<Arc<Flight<V, E>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        E: Send + Sync + 'static,
    {
        let mut flights = self.0.flights.lock().unwrap_or_else(|p| p.into_inner());
        match flights.get(key) {
            Some(flight) => flight.clone().downcast::<Flight<V, E>>().ok(),
            None => {
                let flight = Arc::new(Flight::<V, E>::new());
                flights.insert(key.to_owned(), flight.clone());
                Some(flight)
            }
        }
    }

    /// Starts a background read of `key` if its entry is due and no refresh of it runs.
    fn maybe_refresh<Q, M, L, Fut, E>(&self, key: &Q, slot: &Slot<V>, now: u64, make_load: M)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        M: FnOnce() -> L,
        L: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Send + 'static,
    {
        if now < slot.refresh_at {
            return;
        }
        let Some(found) = &self.0.found else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The cache's refresh budget first, then this entry's claim (undone by dropping the
        // permit if another request claimed it).
        let Ok(permit) = self.0.refreshes.clone().try_acquire_owned() else {
            return;
        };
        let claimed = found.entry(key, Some(Duration::ZERO), |_, current| {
            let due = current.expires_at == slot.expires_at
                && current.refresh_at != REFRESHING
                && now >= current.refresh_at;
            if due {
                current.refresh_at = REFRESHING;
            }
            quick_cache::sync::EntryAction::Retain(due)
        });
        if !matches!(claimed, quick_cache::sync::EntryResult::Retained(true)) {
            return;
        }
        let cache = self.clone();
        let key = key.to_owned();
        let expires_at = slot.expires_at;
        let load = make_load();
        runtime.spawn(async move {
            let _permit = permit;
            cache.refresh(key, expires_at, load).await;
        });
    }

    /// Reads `key` again for its entry that ends at `expires_at`.
    async fn refresh<L, Fut, E>(&self, key: K, expires_at: u64, load: L)
    where
        L: Fn() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let Some(found) = &self.0.found else { return };
        let started = self.generation();
        let outcome = match load().await {
            Ok(Some(v)) => {
                let fresh = self.slot(v);
                let fresh_end = fresh.expires_at;
                found.insert(key.clone(), fresh);
                if self.generation() != started {
                    found.remove_if(&key, |current| current.expires_at == fresh_end);
                    Refreshed::Dropped
                } else {
                    Refreshed::Fresh
                }
            }
            // Gone (a regenerated key, say): forget it now rather than at the invalidation.
            Ok(None) => {
                found.remove(&key);
                Refreshed::Gone
            }
            // Keep serving the entry until its end; a later hit tries again.
            Err(_) => {
                let retry_at = self.now_ms().saturating_add(millis(REFRESH_RETRY));
                let _ = found.entry(&key, Some(Duration::ZERO), |_, current| {
                    if current.expires_at == expires_at {
                        current.refresh_at = retry_at;
                    }
                    quick_cache::sync::EntryAction::Retain(())
                });
                Refreshed::Failed
            }
        };
        if let Some(hook) = self.0.on_refresh {
            hook(outcome);
        }
    }

    /// Forgets the found entries `stale` picks (one pass over the map, a shard at a time).
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool + Send + Sync + 'static) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(found) = &self.0.found {
            found.retain(|k, slot| !stale(k, &slot.value));
        }
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(found) = &self.0.found {
            found.clear();
        }
        if let Some(missing) = &self.0.missing {
            missing.clear();
        }
    }

    /// Found entries held now (expired ones included until they are dropped).
    pub fn entry_count(&self) -> u64 {
        self.0.found.as_ref().map_or(0, |f| f.len() as u64)
    }
}

/// Takes a finished (or abandoned) read out of the table of reads in flight as the request
/// that joined it leaves, cancelled or not: once it has an answer, or when nobody else waits
/// for it. While others wait on an unfinished read, it stays, and one of them does it.
struct Leave<'a, K, V, Q, E>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    cache: &'a LookupCache<K, V>,
    key: &'a Q,
    flight: &'a Option<Arc<Flight<V, E>>>,
}

impl<K, V, Q, E> Drop for Leave<'_, K, V, Q, E>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    fn drop(&mut self) {
        let Some(flight) = self.flight else { return };
        let mut flights = self
            .cache
            .0
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(listed) = flights.get(self.key) else {
            return;
        };
        // The table's handle and this request's: nobody else can join without the lock.
        let alone = Arc::strong_count(flight) <= 2;
        let same = std::ptr::addr_eq(Arc::as_ptr(listed), Arc::as_ptr(flight));
        if same && (flight.initialized() || alone) {
            flights.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests;
