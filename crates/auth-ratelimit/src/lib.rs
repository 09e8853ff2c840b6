//! Zulip's rate limiting for Latchkey (the login limit by username, the API limits by user and by
//! IP), shared across instances through Redis and falling back to per-instance memory whenever
//! Redis is not configured, unreachable or slow, so that a request is always answered and the
//! gate never opens wholesale. It must never depend on other workspace crates, and knows nothing
//! of HTTP, SQL or LDAP: callers turn a [`Decision`] into headers and status codes.
//!
//! # Algorithm (Zulip's `zerver/lib/rate_limiter.py`)
//!
//! Each key keeps the timestamps of its recent recorded attempts. For each [`Rule`] `(w, n)` an
//! attempt is refused when the n-th most recent recorded timestamp is within the last `w`
//! seconds; `retry_after` is that timestamp + `w` − now, the maximum over the refusing rules.
//! Refused attempts are not recorded. A key's history expires after its longest window. Empty
//! [`Rules`] mean unlimited: every attempt is allowed and nothing is recorded.
//!
//! # Stores
//!
//! * Redis (when `redis_url` is set): one sorted set per key (scores: epoch seconds; members:
//!   ticket ids), checked and updated by one Lua script, so that concurrent instances see each
//!   other's attempts; `withdraw` is `ZREM`, `clear` is `DEL`. Every call is bounded by
//!   `timeout` (default 250 ms).
//! * Memory: a bounded map (default 100 000 keys; expired histories are swept, then the ones
//!   closest to expiry are evicted) behind a mutex. It serves every call when Redis is not
//!   configured, and stands in while Redis fails: one `warn` when the limiter switches to it,
//!   one `info` when Redis works again; in between Redis is retried at most once per
//!   `retry_interval` (default 1 s) and other calls go straight to memory.
//!
//! Logs name the limiter (the part of the key before the first `:`), never the key itself, which
//! holds usernames, addresses or user ids.
//!
//! # Public API
//!
//! ```text
//! LimiterConfig { redis_url: Option<String>, key_prefix: String, timeout: Duration,
//!                 retry_interval: Duration, memory_capacity: usize }       (Default)
//! RateLimiter::new(LimiterConfig) -> RateLimiter        (bad Redis URL: logged, memory only)
//! RateLimiter::try_new(LimiterConfig) -> Result<RateLimiter, RateLimitError>
//! RateLimiter::with_clock(LimiterConfig, Arc<dyn Clock>) -> Result<RateLimiter, RateLimitError>
//! RateLimiter::check_and_record(&self, key: &str, rules: &Rules) -> Decision   (async)
//! RateLimiter::peek(&self, key: &str, rules: &Rules) -> Decision               (async)
//! RateLimiter::withdraw(&self, key: &str, ticket: Ticket)                      (async)
//! RateLimiter::clear(&self, key: &str)                                         (async)
//! RateLimiter::probe(&self) -> bool                                            (async)
//! RateLimiter::is_shared(&self) -> bool
//! RateLimiter::is_redis_configured(&self) -> bool
//! Rule { window: Duration, max: u32 }; Rule::new(Duration, u32) -> Result<Rule, RateLimitError>
//! Rules(pub Vec<Rule>); Rules::from_pairs(&[(u64, u32)]) -> Result<Rules, _>;
//!     Rules::new(iter of Rule) -> Result<Rules, _> (checked, sorted);
//!     Rules::unlimited(); "secs:count,…".parse::<Rules>(); as_slice, is_empty, limit,
//!     longest_window; serde: Deserialize from [[secs, count], …], "secs:count,…" or a list
//!     of such texts (checked), Serialize as [[secs, count], …]
//! Decision { allowed, retry_after: Option<Duration>, limit: u32, remaining: u32,
//!            reset: SystemTime, ticket: Option<Ticket> };
//!     retry_after_secs() -> Option<f64>, reset_epoch_secs() -> u64, is_unlimited() -> bool
//! Ticket (opaque, Copy): is_shared() -> bool
//! Clock (trait: now() -> SystemTime), SystemClock, ManualClock { new, starting_now, advance, set }
//! RateLimitError (thiserror): InvalidWindow, ZeroMax, BadRulesString, BadRulePair,
//!     InvalidRedisUrl
//! ```
//!
//! # Caveats
//!
//! * Timestamps come from each instance's clock (as in Zulip), so instances sharing a Redis need
//!   synchronised clocks.
//! * While Redis is down, limits are per instance and start from an empty history; what was
//!   recorded locally is not copied to Redis when it returns. A `clear` or `withdraw` that cannot
//!   reach Redis is not replayed later: the shared attempts stay counted until they expire (the
//!   safe side).
//! * A key is meant to be checked with one set of rules: a check prunes what its own longest
//!   window no longer sees.
//!
//! A login uses it as Zulip does: `check_and_record("authenticate_by_username:<username>", …)`
//! before the backends run (refused: 429 with `retry_after`); `withdraw` the ticket when the
//! attempt must not count (for instance the backend was unavailable); `clear` after a success or
//! a password change.

mod clock;
mod decision;
mod error;
mod memory;
mod redis_store;
mod rules;
mod rules_serde;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use clock::{Clock, ManualClock, SystemClock};
pub use decision::{Decision, Ticket};
pub use error::RateLimitError;
pub use rules::{MAX_WINDOW, Rule, Rules};

use clock::epoch_secs;
use decision::Origin;
use error::StoreError;
use memory::MemoryStore;
use redis_store::RedisStore;

/// How a [`RateLimiter`] is built.
#[derive(Clone)]
pub struct LimiterConfig {
    /// `redis://host:port[/db]`, `rediss://…` or `unix://…`; `None` or empty: memory only.
    pub redis_url: Option<String>,
    /// Put before every key, e.g. `latchkey:`.
    pub key_prefix: String,
    /// Bound on every Redis call, connecting included (default 250 ms).
    pub timeout: Duration,
    /// While Redis is failing, how often it is tried again (default 1 s).
    pub retry_interval: Duration,
    /// Keys the memory store holds at most (default 100 000).
    pub memory_capacity: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            redis_url: None,
            key_prefix: "latchkey:".into(),
            timeout: Duration::from_millis(250),
            retry_interval: Duration::from_secs(1),
            memory_capacity: 100_000,
        }
    }
}

impl fmt::Debug for LimiterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterConfig")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("retry_interval", &self.retry_interval)
            .field("memory_capacity", &self.memory_capacity)
            .finish()
    }
}

/// The URL with its user-info (which may hold a password) replaced.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}[redacted]{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Zulip's rate limiter: cheap to clone (all clones share the same state), `Send + Sync`.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    clock: Arc<dyn Clock>,
    local: MemoryStore,
    redis: Option<RedisStore>,
    health: Health,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.inner.prefix)
            .field("redis", &self.inner.redis)
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

/// Whether Redis is in use, and when a failing Redis may be tried again.
struct Health {
    up: AtomicBool,
    next_try: Mutex<Option<Instant>>,
    retry_interval: Duration,
}

impl Health {
    /// True when this call should go to Redis: always while it works; while it fails, for one
    /// call per retry interval.
    fn should_try(&self) -> bool {
        if self.up.load(Ordering::Acquire) {
            return true;
        }
        let mut next = self.next_try.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match *next {
            Some(at) if now < at => false,
            _ => {
                *next = Some(now + self.retry_interval);
                true
            }
        }
    }

    fn succeeded(&self) {
        if self
            .up
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::info!("Redis is back; rate limits are shared again");
        }
    }

    fn failed(&self, error: &StoreError, limiter: &str) {
        *self.next_try.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + self.retry_interval);
        if self
            .up
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::warn!(
                limiter,
                %error,
                "Redis unavailable; rate limits are per instance until it returns"
            );
        } else {
            tracing::debug!(limiter, %error, "Redis still unavailable");
        }
    }
}

/// The limiter's name in a key (`authenticate_by_username:hamlet` → `authenticate_by_username`);
/// never the rest, which identifies a person.
fn limiter_name(key: &str) -> &str {
    key.split_once(':').map_or("-", |(name, _)| name)
}

impl RateLimiter {
    /// A limiter on the system clock. It does not connect (the first call does), so a Redis that
    /// is down at start is not an error. A Redis URL the client cannot use is logged (without
    /// the URL) and the limiter runs on memory only; use [`RateLimiter::try_new`] to refuse it
    /// instead (configuration checks).
    pub fn new(config: LimiterConfig) -> RateLimiter {
        match RateLimiter::try_new(config.clone()) {
            Ok(limiter) => limiter,
            Err(error) => {
                tracing::error!(
                    %error,
                    "unusable Redis URL; rate limits are per instance"
                );
                let memory_only = LimiterConfig {
                    redis_url: None,
                    ..config
                };
                RateLimiter::build(memory_only, Arc::new(SystemClock), None)
            }
        }
    }

    /// Like [`RateLimiter::new`], but a Redis URL the client cannot parse is an error.
    pub fn try_new(config: LimiterConfig) -> Result<RateLimiter, RateLimitError> {
        RateLimiter::with_clock(config, Arc::new(SystemClock))
    }

    /// A limiter on the given clock (tests use a [`ManualClock`]).
    pub fn with_clock(
        config: LimiterConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<RateLimiter, RateLimitError> {
        let redis = match config.redis_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Some(RedisStore::new(url, config.timeout)?),
            _ => None,
        };
        Ok(RateLimiter::build(config, clock, redis))
    }

    fn build(
        config: LimiterConfig,
        clock: Arc<dyn Clock>,
        redis: Option<RedisStore>,
    ) -> RateLimiter {
        let up = redis.is_some();
        RateLimiter {
            inner: Arc::new(Inner {
                prefix: config.key_prefix,
                clock,
                local: MemoryStore::new(config.memory_capacity),
                redis,
                health: Health {
                    up: AtomicBool::new(up),
                    next_try: Mutex::new(None),
                    retry_interval: config.retry_interval,
                },
            }),
        }
    }

    /// True while Redis is configured and the last call to it worked (counts are shared across
    /// instances); false when memory only, or while Redis is failing. Optimistic before the
    /// first call: use [`RateLimiter::probe`] to know for sure.
    pub fn is_shared(&self) -> bool {
        self.inner.redis.is_some() && self.inner.health.up.load(Ordering::Acquire)
    }

    /// True when a Redis URL was configured.
    pub fn is_redis_configured(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// Pings Redis now (bounded by the timeout, ignoring the retry interval), updates
    /// [`RateLimiter::is_shared`] and returns it. For health checks and start-up.
    pub async fn probe(&self) -> bool {
        let Some(redis) = &self.inner.redis else {
            return false;
        };
        match redis.ping().await {
            Ok(()) => self.inner.health.succeeded(),
            Err(e) => self.inner.health.failed(&e, "-"),
        }
        self.is_shared()
    }

    /// Checks `key` against `rules` and, when allowed, records the attempt (atomically with the
    /// check when shared). The returned ticket withdraws exactly that attempt.
    pub async fn check_and_record(&self, key: &str, rules: &Rules) -> Decision {
        self.check(key, rules, true).await
    }

    /// Checks `key` against `rules` without recording anything.
    pub async fn peek(&self, key: &str, rules: &Rules) -> Decision {
        self.check(key, rules, false).await
    }

    async fn check(&self, key: &str, rules: &Rules, record: bool) -> Decision {
        let inner = &self.inner;
        let now_time = inner.clock.now();
        if rules.is_empty() {
            return Decision::unlimited(now_time);
        }
        let now = epoch_secs(now_time);
        let full = self.full_key(key);
        let id = record.then(rand::random::<u128>);

        if let Some(verdict) = self
            .via_redis(key, |redis| redis.check(&full, rules, now, id))
            .await
        {
            let ticket = id.map(|id| Ticket {
                id,
                origin: Origin::Shared,
            });
            return Decision::from_verdict(verdict, ticket);
        }

        let verdict = inner.local.check(&full, rules, now, id);
        let ticket = id.map(|id| Ticket {
            id,
            origin: Origin::Local,
        });
        Decision::from_verdict(verdict, ticket)
    }

    /// Removes the one attempt `ticket` recorded, from the store that recorded it. If that is
    /// Redis and Redis is failing, the attempt stays counted (the safe side).
    pub async fn withdraw(&self, key: &str, ticket: Ticket) {
        let inner = &self.inner;
        let full = self.full_key(key);
        match ticket.origin {
            Origin::Local => inner.local.withdraw(&full, ticket.id),
            Origin::Shared => {
                self.via_redis(key, |redis| redis.withdraw(&full, ticket.id))
                    .await;
            }
        }
    }

    /// Forgets the key's history, in memory and (when reachable) in Redis.
    pub async fn clear(&self, key: &str) {
        let inner = &self.inner;
        let full = self.full_key(key);
        inner.local.clear(&full);
        self.via_redis(key, |redis| redis.clear(&full)).await;
    }

    /// Runs `op` on Redis when it is configured and [`Health::should_try`] allows it, and records
    /// how that went: `Some` with its result when it worked; `None` when Redis was not asked or
    /// failed (the failure is logged under `key`'s limiter name).
    async fn via_redis<'a, T, Fut>(
        &'a self,
        key: &str,
        op: impl FnOnce(&'a RedisStore) -> Fut,
    ) -> Option<T>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let inner = &self.inner;
        let redis = inner.redis.as_ref()?;
        if !inner.health.should_try() {
            return None;
        }
        match op(redis).await {
            Ok(value) => {
                inner.health.succeeded();
                Some(value)
            }
            Err(e) => {
                inner.health.failed(&e, limiter_name(key));
                None
            }
        }
    }

    fn full_key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.inner.prefix.len() + key.len());
        full.push_str(&self.inner.prefix);
        full.push_str(key);
        full
    }
}

#[cfg(test)]
mod tests;
