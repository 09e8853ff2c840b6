//! The connection and transaction helper every query goes through: `with_conn` runs a closure
//! on a pooled connection on tokio's blocking threads (a failed worker maps to `Unavailable`), and
//! `write` runs it in one transaction, serialised with this process's other writes on SQLite. The
//! closures return `StoreError`, so diesel's errors map through `From` at each `?`.

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
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
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
