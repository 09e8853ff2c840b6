//! Whether the database can be reached, as the pool's own connection attempts find it, and the
//! checkout built on that: a caller gives up as soon as connecting fails instead of waiting out
//! a timeout, so a request answers "unavailable" at once when connections are refused and after
//! libpq's `connect_timeout` when the server's host does not answer.
//!
//! r2d2 opens connections on its own threads and retries a failed one with a growing pause (up
//! to half its connection timeout); its `get` learns of a failure only when its own timeout
//! ends. So the connection manager reports every attempt here ([`Reachability::begin_attempt`],
//! [`Reachability::failed`], [`Reachability::connected`]), and [`checkout`] waits for a pooled
//! connection in short slices, looking between slices whether the last attempt failed; once the
//! database is known to be down, a checkout takes an idle connection or fails at once.
//!
//! While the database is down, at most one real connection attempt is under way at a time and
//! attempts are at least [`RETRY_EVERY`] apart (the others fail at once without touching the
//! network), so a pool of many connections does not hammer a server that is down. A successful
//! connection, or a successful check of a pooled one, marks the database reachable again.
//!
//! The outage is logged once when it starts and once when it ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use diesel::r2d2::{ManageConnection, Pool, PooledConnection};

use crate::StoreError;

/// How long one wait for a pooled connection lasts before the reachability is looked at again.
const SLICE: Duration = Duration::from_millis(50);

/// While the database is down: the least pause between the end of one real connection attempt
/// and the start of the next.
pub(crate) const RETRY_EVERY: Duration = Duration::from_millis(500);

/// What the connection attempts found (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Reachability {
    /// The last connection attempt failed, and nothing has succeeded since.
    down: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    down_since: Option<Instant>,
    /// The last failure's message (libpq's or SQLite's: it names the host, never a password).
    last_error: String,
    in_flight: u32,
    last_attempt_end: Option<Instant>,
}

/// A real connection attempt under way; dropping it ends the attempt.
pub(crate) struct Attempt<'a> {
    reach: &'a Reachability,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut inner = self.reach.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        inner.last_attempt_end = Some(Instant::now());
    }
}

impl Reachability {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the database is down right now, with the last failure's message.
    pub(crate) fn failing(&self) -> Option<String> {
        if !self.down.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.lock();
        self.down
            .load(Ordering::Acquire)
            .then(|| inner.last_error.clone())
    }

    /// Starts a real connection attempt, or says why none goes out now (the database is down
    /// and another attempt is under way or has just ended).
    pub(crate) fn begin_attempt(&self) -> Result<Attempt<'_>, String> {
        let mut inner = self.lock();
        if self.down.load(Ordering::Acquire) {
            let recent = inner
                .last_attempt_end
                .is_some_and(|t| t.elapsed() < RETRY_EVERY);
            if inner.in_flight > 0 || recent {
                return Err(format!(
                    "the database is unreachable ({}); not retried yet",
                    inner.last_error.trim_end()
                ));
            }
        }
        inner.in_flight += 1;
        Ok(Attempt { reach: self })
    }

    /// A connection attempt failed.
    pub(crate) fn failed(&self, error: &str) {
        let mut inner = self.lock();
        inner.last_error = error.trim_end().to_owned();
        if !self.down.swap(true, Ordering::AcqRel) {
            inner.down_since = Some(Instant::now());
            tracing::error!(
                error = %inner.last_error,
                "cannot connect to the database; requests that need it answer 503 until it is back"
            );
        }
    }

    /// A connection was opened, or a pooled one answered: the database is reachable.
    pub(crate) fn connected(&self) {
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        let mut inner = self.lock();
        if self.down.swap(false, Ordering::AcqRel) {
            let secs = inner
                .down_since
                .take()
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            tracing::info!(down_for_secs = secs, "the database is reachable again");
        }
    }
}

/// A pooled connection: an idle one, or a new one. Waits at most `cap` (for a busy pool), and
/// gives up as soon as the database is found unreachable; while it is known to be unreachable,
/// only an idle connection is taken, without waiting (r2d2 keeps retrying in the background,
/// and the first connection it opens marks the database reachable).
pub(crate) fn checkout<M: ManageConnection>(
    pool: &Pool<M>,
    reach: &Reachability,
    cap: Duration,
) -> Result<PooledConnection<M>, StoreError> {
    if let Some(why) = reach.failing() {
        return pool
            .try_get()
            .ok_or_else(|| StoreError::Unavailable(format!("cannot connect: {why}")));
    }
    let began = Instant::now();
    loop {
        let left = cap.saturating_sub(began.elapsed());
        match pool.get_timeout(left.clamp(Duration::from_millis(1), SLICE)) {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                if let Some(why) = reach.failing() {
                    return Err(StoreError::Unavailable(format!("cannot connect: {why}")));
                }
                if began.elapsed() >= cap {
                    return Err(StoreError::Unavailable(format!(
                        "no connection free within {} ms: {e}",
                        cap.as_millis()
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_marks_down_and_a_success_marks_up() {
        let r = Reachability::default();
        assert_eq!(r.failing(), None);
        let a = r.begin_attempt().unwrap();
        r.failed("connection refused\n");
        drop(a);
        assert_eq!(r.failing().as_deref(), Some("connection refused"));
        r.connected();
        assert_eq!(r.failing(), None);
    }

    #[test]
    fn while_down_one_attempt_at_a_time_and_spaced() {
        let r = Reachability::default();
        // Up: attempts run side by side.
        let a = r.begin_attempt().unwrap();
        let b = r.begin_attempt().unwrap();
        r.failed("refused");
        drop(b);
        // Down, one still under way: no other goes out.
        let why = r.begin_attempt().err().unwrap();
        assert!(why.contains("refused"), "{why}");
        drop(a);
        // Down, the last one has just ended: not yet.
        assert!(r.begin_attempt().is_err());
        std::thread::sleep(RETRY_EVERY + Duration::from_millis(20));
        let c = r.begin_attempt().unwrap();
        r.connected();
        // Up again: no limit.
        let d = r.begin_attempt().unwrap();
        drop((c, d));
    }
}
