//! The per-instance store: a bounded map of recent attempts behind a mutex.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::decision::{Recent, Verdict, evaluate};
use crate::rules::Rules;

/// How often (seconds) a full sweep of expired histories may run when the map is not full.
const SWEEP_EVERY_SECS: f64 = 60.0;

/// Recent attempts per key, at most `capacity` keys.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, History>,
    last_sweep: f64,
}

#[derive(Debug)]
struct History {
    /// (timestamp, ticket id), oldest first. A deque: expired attempts leave from the front and
    /// new ones join at the back, each in constant time, however long the history.
    attempts: VecDeque<(f64, u128)>,
    /// When the whole history stops mattering (newest attempt + longest window).
    expires_at: f64,
}

impl History {
    /// Drops attempts no rule can see any more: older than the longest window, or beyond the
    /// `keep` newest.
    fn prune(&mut self, now: f64, longest_window: f64, keep: usize) {
        let cutoff = now - longest_window;
        while self
            .attempts
            .front()
            .is_some_and(|&(ts, _)| ts <= cutoff || self.attempts.len() > keep)
        {
            self.attempts.pop_front();
        }
    }

    /// Records an attempt at `now`, keeping the order (almost always at the back).
    fn record(&mut self, now: f64, id: u128) {
        if self.attempts.back().is_none_or(|&(ts, _)| ts <= now) {
            self.attempts.push_back((now, id));
        } else {
            let at = self.attempts.partition_point(|&(ts, _)| ts <= now);
            self.attempts.insert(at, (now, id));
        }
    }
}

impl Recent for History {
    fn nth_newest(&self, i: usize) -> Option<f64> {
        let len = self.attempts.len();
        i.checked_add(1)
            .and_then(|n| len.checked_sub(n))
            .and_then(|at| self.attempts.get(at))
            .map(|&(ts, _)| ts)
    }

    fn count_after(&self, cutoff: f64) -> usize {
        self.attempts.len() - self.attempts.partition_point(|&(ts, _)| ts <= cutoff)
    }
}

impl MemoryStore {
    pub(crate) fn new(capacity: usize) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a consistent map: keep using it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks `rules` for `key` at `now` and, when allowed and `record` is `Some(id)`, records
    /// the attempt under `id`. `rules` must not be empty.
    pub(crate) fn check(
        &self,
        key: &str,
        rules: &Rules,
        now: f64,
        record: Option<u128>,
    ) -> Verdict {
        let longest = rules.longest_window().as_secs_f64();
        let keep = rules.largest_max() as usize;
        let mut inner = self.lock();
        if now - inner.last_sweep >= SWEEP_EVERY_SECS {
            inner.sweep(now);
        }

        let verdict = match inner.map.get_mut(key) {
            Some(history) => {
                history.prune(now, longest, keep);
                evaluate(now, &*history, rules, None, record.is_some())
            }
            None => evaluate(now, &[] as &[f64], rules, None, record.is_some()),
        };

        match (verdict.allowed, record) {
            (true, Some(id)) => {
                if !inner.map.contains_key(key) {
                    inner.make_room(now, self.capacity);
                }
                let history = inner.map.entry(key.to_owned()).or_insert(History {
                    attempts: VecDeque::new(),
                    expires_at: now,
                });
                history.record(now, id);
                history.expires_at = history.expires_at.max(now + longest);
            }
            _ => {
                if inner.map.get(key).is_some_and(|h| h.attempts.is_empty()) {
                    inner.map.remove(key);
                }
            }
        }
        verdict
    }

    /// Removes the one attempt recorded under `id`, if it is still there.
    pub(crate) fn withdraw(&self, key: &str, id: u128) {
        let mut inner = self.lock();
        if let Some(history) = inner.map.get_mut(key) {
            // Withdrawn tickets are recent: look from the back.
            if let Some(at) = history.attempts.iter().rposition(|&(_, i)| i == id) {
                history.attempts.remove(at);
            }
            if history.attempts.is_empty() {
                inner.map.remove(key);
            }
        }
    }

    /// Forgets the key's history.
    pub(crate) fn clear(&self, key: &str) {
        self.lock().map.remove(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

impl Inner {
    fn sweep(&mut self, now: f64) {
        self.map.retain(|_, h| h.expires_at > now);
        self.last_sweep = now;
    }

    /// Called before adding a key: when the map is full, drops expired histories, then the
    /// ones closest to expiry, down to 90 % of `capacity` (so the work is amortised).
    fn make_room(&mut self, now: f64, capacity: usize) {
        if self.map.len() < capacity {
            return;
        }
        self.sweep(now);
        let target = capacity - (capacity / 10).max(1);
        if self.map.len() <= target {
            return;
        }
        let excess = self.map.len() - target;
        let mut by_expiry: Vec<(f64, &String)> =
            self.map.iter().map(|(k, h)| (h.expires_at, k)).collect();
        by_expiry.select_nth_unstable_by(excess - 1, |a, b| a.0.total_cmp(&b.0));
        let victims: Vec<String> = by_expiry[..excess]
            .iter()
            .map(|&(_, k)| k.clone())
            .collect();
        for k in &victims {
            self.map.remove(k);
        }
        tracing::warn!(
            evicted = victims.len(),
            capacity,
            "rate-limit memory store is full; forgot the histories closest to expiry"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(u64, u32)]) -> Rules {
        Rules::from_pairs(pairs).expect("valid rules")
    }

    #[test]
    fn stays_bounded_when_flooded() {
        let store = MemoryStore::new(1000);
        let r = rules(&[(10, 1)]);
        let mut id = 0u128;
        for i in 0..5000 {
            id += 1;
            let now = 1000.0 + f64::from(i) * 0.001;
            let v = store.check(&format!("k{i}"), &r, now, Some(id));
            assert!(v.allowed);
            assert!(store.len() <= 1000, "{} keys after {i}", store.len());
        }
        // The most recent keys survived the evictions.
        let v = store.check("k4999", &r, 1005.0, Some(id + 1));
        assert!(!v.allowed);
        assert!(store.len() >= 900);
    }

    #[test]
    fn expired_histories_are_swept() {
        let store = MemoryStore::new(100);
        let r = rules(&[(10, 5)]);
        for i in 0..50u128 {
            store.check(&format!("k{i}"), &r, 1000.0, Some(i));
        }
        assert_eq!(store.len(), 50);
        // Past the window and the sweep interval, the next call sweeps everything stale.
        store.check("fresh", &r, 1000.0 + SWEEP_EVERY_SECS + 11.0, Some(99));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn refused_and_peeked_attempts_leave_no_entry() {
        let store = MemoryStore::new(10);
        let r = rules(&[(10, 1)]);
        store.check("a", &r, 100.0, None);
        assert_eq!(store.len(), 0);
        store.check("a", &r, 100.0, Some(1));
        store.check("a", &r, 101.0, Some(2));
        store.withdraw("a", 2);
        assert_eq!(store.len(), 1);
        store.withdraw("a", 1);
        assert_eq!(store.len(), 0);
    }

    /// A generous rule is answered from the history without copying it: the counts and the
    /// refusal still come out right with thousands of attempts recorded.
    #[test]
    fn long_histories_count_right() {
        let store = MemoryStore::new(10);
        let generous = rules(&[(60, 1_000_000)]);
        for i in 0..5000u128 {
            let v = store.check("k", &generous, 1000.0 + i as f64 * 0.001, Some(i));
            assert!(v.allowed);
            assert_eq!(v.remaining, 1_000_000 - 1 - i as u32);
        }
        let tight = rules(&[(60, 5000)]);
        let v = store.check("k", &tight, 1006.0, Some(9999));
        assert!(
            !v.allowed,
            "the 5001st attempt within the window is refused"
        );
        // Past the window of the oldest attempt, one slot frees up.
        let v = store.check("k", &tight, 1060.0005, Some(10_000));
        assert!(v.allowed, "{v:?}");
    }
}
