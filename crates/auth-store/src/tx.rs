//! The connection and transaction helper every query goes through: `with_conn` runs a closure
//! on a pooled connection on tokio's blocking threads (a failed worker maps to `Unavailable`), and
//! `write` runs it in one transaction, serialised with this process's other writes on SQLite. The
//! closures return `StoreError`, so diesel's errors map through `From` at each `?`. Every job is
//! counted in `latchkey_database_jobs` (queued or running on the blocking threads) and its wait
//! for a thread and a connection in `latchkey_database_wait_seconds`.

use diesel::Connection;

use crate::{DbConnection, Store, StoreError};

impl Store {
    /// Runs `f` on a pooled connection, off the async threads.
    pub(crate) async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        // For `GET /metrics`: jobs waiting for a blocking thread or a connection, or running,
        // and how long each waited before it had a connection.
        let _in_flight = JobGauge::enter();
        let queued = std::time::Instant::now();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            metrics::histogram!("latchkey_database_wait_seconds")
                .record(queued.elapsed().as_secs_f64());
            let result = f(&mut conn);
            conn.used(result.is_ok());
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database worker failed: {e}")))?
    }

    /// Runs `f` in a transaction (serialised with other writes on SQLite).
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let lock = self.write_lock.clone();
        self.with_conn(move |c| {
            let _guard = lock
                .as_ref()
                .map(|l| l.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            c.transaction(f)
        })
        .await
    }
}

/// Counts one database job in `latchkey_database_jobs` while it lives (a drop guard: a
/// cancelled request leaves the count right).
struct JobGauge;

impl JobGauge {
    fn enter() -> JobGauge {
        metrics::gauge!("latchkey_database_jobs").increment(1.0);
        JobGauge
    }
}

impl Drop for JobGauge {
    fn drop(&mut self) {
        metrics::gauge!("latchkey_database_jobs").decrement(1.0);
    }
}
