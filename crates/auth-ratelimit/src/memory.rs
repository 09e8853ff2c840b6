//! The per-instance store: a bounded map of recent attempts behind a mutex.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::decision::{Verdict, evaluate};
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
    /// (timestamp, ticket id), oldest first.
    attempts: Vec<(f64, u128)>,
    /// When the whole history stops mattering (newest attempt + longest window).
    expires_at: f64,
}

impl History {
    /// Drops attempts no rule can see any more: older than the longest window, or beyond the
    /// `keep` newest.
    fn prune(&mut self, now: f64, longest_window: f64, keep: usize) {
        let cutoff = now - longest_window;
        let old = self.attempts.partition_point(|&(ts, _)| ts <= cutoff);
        let excess = self.attempts.len().saturating_sub(keep);
        let drop = old.max(excess);
        if drop > 0 {
            self.attempts.drain(..drop);
        }
    }

    fn recent_desc(&self, keep: usize) -> Vec<f64> {
        self.attempts
            .iter()
            .rev()
            .take(keep)
            .map(|&(ts, _)| ts)
            .collect()
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

        let recent = match inner.map.get_mut(key) {
            Some(history) => {
                history.prune(now, longest, keep);
                history.recent_desc(keep)
            }
            None => Vec::new(),
        };
        let verdict = evaluate(now, &recent, rules, None, record.is_some());

        match (verdict.allowed, record) {
            (true, Some(id)) => {
                if !inner.map.contains_key(key) {
                    inner.make_room(now, self.capacity);
                }
                let history = inner.map.entry(key.to_owned()).or_insert(History {
                    attempts: Vec::new(),
                    expires_at: now,
                });
                let at = history.attempts.partition_point(|&(ts, _)| ts <= now);
                history.attempts.insert(at, (now, id));
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
            history.attempts.retain(|&(_, i)| i != id);
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
}
