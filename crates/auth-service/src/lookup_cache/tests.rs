//! The cache against a fake database whose reads can be held at a gate: one read per key for
//! concurrent misses, shared failures, refresh ahead, jittered lives, and no answer kept (or
//! used) that was read before an invalidation — during a miss or during a refresh.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::*;

/// The fake database: one value for every key, read counts, a gate and a failure switch.
struct Db {
    value: Mutex<Option<u32>>,
    reads: AtomicU64,
    /// Reads wait here for a permit while `gated`.
    gate: Semaphore,
    gated: AtomicBool,
    fail: AtomicBool,
}

impl Db {
    fn new(value: Option<u32>) -> Arc<Db> {
        Arc::new(Db {
            value: Mutex::new(value),
            reads: AtomicU64::new(0),
            gate: Semaphore::new(0),
            gated: AtomicBool::new(false),
            fail: AtomicBool::new(false),
        })
    }

    fn set(&self, v: Option<u32>) {
        *self.value.lock().unwrap() = v;
    }

    fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    fn hold(&self) {
        self.gated.store(true, Ordering::SeqCst);
    }

    fn release(&self) {
        self.gated.store(false, Ordering::SeqCst);
        self.gate.add_permits(1_000);
    }
}

type Load = std::pin::Pin<Box<dyn Future<Output = Result<Option<u32>, String>> + Send>>;

/// A loader over `db`: the row is read when the read starts (so a held read returns what the
/// database said before any change made while it waits).
fn loader(db: &Arc<Db>) -> impl FnOnce() -> Box<dyn Fn() -> Load + Send + Sync> {
    let db = db.clone();
    move || {
        Box::new(move || {
            let db = db.clone();
            Box::pin(async move {
                db.reads.fetch_add(1, Ordering::SeqCst);
                let seen = *db.value.lock().unwrap();
                let failing = db.fail.load(Ordering::SeqCst);
                if db.gated.load(Ordering::SeqCst) {
                    db.gate.acquire().await.unwrap().forget();
                }
                if failing {
                    Err("database down".to_owned())
                } else {
                    Ok(seen)
                }
            })
        })
    }
}

fn policy(ttl_ms: u64, jitter: f64) -> CachePolicy {
    CachePolicy {
        capacity: 1_000,
        ttl: Duration::from_millis(ttl_ms),
        jitter,
        negative_ttl: Duration::from_secs(60),
        missing_capacity: 100,
    }
}

async fn get(cache: &LookupCache<u32, u32>, key: u32, db: &Arc<Db>) -> Result<Answer<u32>, String> {
    cache.get(&key, loader(db)).await
}

fn value(a: &Answer<u32>) -> Option<u32> {
    a.value.as_deref().copied()
}

/// Polls `done` every 5 ms for at most 3 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(3);
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_key_share_one_read() {
    let cache = LookupCache::new(&policy(60_000, 0.2));
    let db = Db::new(Some(7));
    db.hold();
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let (cache, db) = (cache.clone(), db.clone());
            tokio::spawn(async move { get(&cache, 1, &db).await })
        })
        .collect();
    until("the first read", || db.reads() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(db.reads(), 1, "the other misses wait for the first read");
    db.release();
    for w in waiting {
        let a = w.await.unwrap().unwrap();
        assert_eq!(value(&a), Some(7));
        assert!(!a.hit);
    }
    assert_eq!(db.reads(), 1);
    let a = get(&cache, 1, &db).await.unwrap();
    assert!(a.hit);
    assert_eq!((value(&a), db.reads()), (Some(7), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_is_shared_by_its_waiters_and_not_remembered() {
    let cache = LookupCache::new(&policy(60_000, 0.2));
    let db = Db::new(Some(7));
    db.fail.store(true, Ordering::SeqCst);
    db.hold();
    let waiting: Vec<_> = (0..10)
        .map(|_| {
            let (cache, db) = (cache.clone(), db.clone());
            tokio::spawn(async move { get(&cache, 1, &db).await })
        })
        .collect();
    until("the first read", || db.reads() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.release();
    for w in waiting {
        assert_eq!(w.await.unwrap().err().as_deref(), Some("database down"));
    }
    assert_eq!(db.reads(), 1);
    db.fail.store(false, Ordering::SeqCst);
    assert_eq!(value(&get(&cache, 1, &db).await.unwrap()), Some(7));
    assert_eq!(db.reads(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn there_is_none_is_remembered_and_forgotten_by_an_invalidation() {
    let cache = LookupCache::new(&policy(60_000, 0.2));
    let db = Db::new(None);
    let a = get(&cache, 1, &db).await.unwrap();
    assert_eq!((value(&a), a.hit), (None, false));
    let a = get(&cache, 1, &db).await.unwrap();
    assert_eq!((value(&a), a.hit, db.reads()), (None, true, 1));
    db.set(Some(3));
    cache.invalidate_all();
    assert_eq!(value(&get(&cache, 1, &db).await.unwrap()), Some(3));
    assert_eq!(db.reads(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_read_that_raced_an_invalidation_is_not_kept() {
    let cache = LookupCache::new(&policy(60_000, 0.2));
    let db = Db::new(Some(1));
    db.hold();
    let first = {
        let (cache, db) = (cache.clone(), db.clone());
        tokio::spawn(async move { get(&cache, 1, &db).await })
    };
    until("the read", || db.reads() == 1).await;
    // The row changes and the follower applies the invalidation while the read is out.
    db.set(Some(2));
    cache.invalidate_where(|_, _| true);
    // A request that starts now must not take the older read's answer.
    let second = {
        let (cache, db) = (cache.clone(), db.clone());
        tokio::spawn(async move { get(&cache, 1, &db).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.release();
    // The first request began before the change: either answer is true for it.
    first.await.unwrap().unwrap();
    assert_eq!(value(&second.await.unwrap().unwrap()), Some(2));
    // And nothing older than the invalidation stayed cached.
    let a = get(&cache, 1, &db).await.unwrap();
    assert_eq!(value(&a), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_use_are_refreshed_once_in_the_background_and_never_miss() {
    let ttl = 400;
    let cache = LookupCache::new(&policy(ttl, 0.0));
    let db = Db::new(Some(1));
    assert_eq!(value(&get(&cache, 1, &db).await.unwrap()), Some(1));
    db.set(Some(2));
    db.hold();
    // Hits until the refresh point has passed (at most 80% of the life): still hits, and one
    // refresh read started, however many hits came after the point.
    let end = Instant::now() + Duration::from_millis(ttl * 9 / 10);
    while Instant::now() < end {
        let a = get(&cache, 1, &db).await.unwrap();
        assert!(
            a.hit,
            "a key in use is served from memory while it refreshes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(db.reads(), 2, "exactly one refresh read for the key");
    db.release();
    until("the refreshed value", || db.reads() == 2).await;
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let a = get(&cache, 1, &db).await.unwrap();
        assert!(a.hit);
        if value(&a) == Some(2) {
            break;
        }
        assert!(Instant::now() < end, "the refresh never replaced the entry");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Past the first entry's end: still cached, because it was replaced.
    tokio::time::sleep(Duration::from_millis(ttl / 4)).await;
    assert!(get(&cache, 1, &db).await.unwrap().hit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_raced_an_invalidation_is_dropped() {
    let ttl = 400;
    let cache = LookupCache::new(&policy(ttl, 0.0));
    let db = Db::new(Some(1));
    get(&cache, 1, &db).await.unwrap();
    db.hold();
    // Past the refresh point: a hit starts the refresh, which reads the old row and waits.
    tokio::time::sleep(Duration::from_millis(ttl * 81 / 100)).await;
    assert!(get(&cache, 1, &db).await.unwrap().hit);
    until("the refresh read", || db.reads() == 2).await;
    // The key is regenerated: the row is gone and the follower applies the invalidation.
    db.set(None);
    cache.invalidate_where(|_, _| true);
    db.release();
    // The refresh's old answer must not come back, now or when it lands.
    for _ in 0..20 {
        assert_eq!(value(&get(&cache, 1, &db).await.unwrap()), None);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lives_are_jittered_and_an_expired_entry_is_read_again() {
    let ttl = 300;
    let cache = LookupCache::new(&policy(ttl, 0.5));
    let db = Db::new(Some(1));
    for key in 0..200 {
        get(&cache, key, &db).await.unwrap();
    }
    let now = cache.now_ms();
    let mut lives = Vec::new();
    for key in 0..200 {
        let slot = cache.0.found.as_ref().unwrap().get(&key).unwrap();
        lives.push(slot.expires_at.saturating_sub(now));
        let refresh = slot.refresh_at;
        assert!(refresh < slot.expires_at, "refreshed before its end");
    }
    let (min, max) = (*lives.iter().min().unwrap(), *lives.iter().max().unwrap());
    assert!(max <= ttl && min >= ttl / 2 - 50, "lives {min}..{max} ms");
    assert!(max - min >= ttl / 4, "lives spread over {min}..{max} ms");
    // Unused, every entry expires; the key was regenerated meanwhile.
    db.set(None);
    tokio::time::sleep(Duration::from_millis(ttl + 20)).await;
    let reads = db.reads();
    let a = get(&cache, 3, &db).await.unwrap();
    assert_eq!((value(&a), a.hit, db.reads()), (None, false, reads + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_entry_until_its_end() {
    let ttl = 400;
    let cache = LookupCache::new(&policy(ttl, 0.0));
    let db = Db::new(Some(1));
    get(&cache, 1, &db).await.unwrap();
    db.fail.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ttl * 81 / 100)).await;
    let a = get(&cache, 1, &db).await.unwrap();
    assert_eq!((value(&a), a.hit), (Some(1), true));
    until("the refresh read", || db.reads() == 2).await;
    // The retry waits (REFRESH_RETRY is longer than the rest of this life).
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(get(&cache, 1, &db).await.unwrap().hit);
    assert_eq!(db.reads(), 2);
    tokio::time::sleep(Duration::from_millis(ttl / 4)).await;
    // Past its end the entry is not served: a read, which fails.
    assert!(get(&cache, 1, &db).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_zero_reads_every_time() {
    let cache = LookupCache::new(&CachePolicy {
        capacity: 0,
        ..policy(60_000, 0.2)
    });
    let db = Db::new(Some(4));
    for n in 1..=3 {
        let a = get(&cache, 1, &db).await.unwrap();
        assert_eq!((value(&a), a.hit, db.reads()), (Some(4), false, n));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_read_is_taken_over_by_a_waiting_request() {
    let cache = LookupCache::new(&policy(60_000, 0.2));
    let db = Db::new(Some(9));
    db.hold();
    let first = {
        let (cache, db) = (cache.clone(), db.clone());
        tokio::spawn(async move { get(&cache, 1, &db).await })
    };
    until("the first read", || db.reads() == 1).await;
    let second = {
        let (cache, db) = (cache.clone(), db.clone());
        tokio::spawn(async move { get(&cache, 1, &db).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        db.reads(),
        1,
        "the second request waits for the first's read"
    );
    // The first request goes away mid-read (its client hung up): the waiting one reads.
    first.abort();
    until("the waiting request's own read", || db.reads() == 2).await;
    db.release();
    let a = second.await.unwrap().unwrap();
    assert_eq!((value(&a), a.hit), (Some(9), false));
    assert!(get(&cache, 1, &db).await.unwrap().hit);
    assert!(
        cache.0.flights.lock().unwrap().is_empty(),
        "no read is left in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_set_as_large_as_the_capacity_stays_whole() {
    // Keys spread unevenly over the map's shards; none is evicted while the set fits.
    let capacity = 20_000u32;
    let cache = LookupCache::new(&CachePolicy {
        capacity: u64::from(capacity),
        ..policy(60_000, 0.2)
    });
    let db = Db::new(Some(1));
    for round in 0..2 {
        for key in 0..capacity {
            get(&cache, key, &db).await.unwrap();
        }
        assert_eq!(db.reads(), u64::from(capacity), "round {round}: reads");
    }
    assert_eq!(cache.entry_count(), u64::from(capacity));
    assert!(cache.0.flights.lock().unwrap().is_empty());
}
