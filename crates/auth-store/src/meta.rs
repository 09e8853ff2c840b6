//! The database as a whole: its migrations (applied ones audited), the health check, and the
//! `server_meta` table of values set once per database.

use diesel::prelude::*;

use crate::schema::server_meta;
use crate::{Actor, AuditEvent, Store, StoreError, pool};

impl Store {
    /// Applies pending migrations; returns the versions applied. Applied migrations are
    /// recorded in the audit log.
    pub async fn migrate(&self, actor: Actor) -> Result<Vec<String>, StoreError> {
        let applied = self.with_conn(pool::run_migrations).await?;
        if !applied.is_empty() {
            self.record_event(
                None,
                AuditEvent::DatabaseMigrated,
                actor,
                None,
                serde_json::json!({"applied": applied}),
            )
            .await?;
        }
        Ok(applied)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|c| {
            diesel::sql_query("SELECT 1").execute(c)?;
            Ok(())
        })
        .await
    }

    /// Stores `value` under `name` unless a value is already there; returns the stored value.
    pub async fn meta_get_or_init(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write(move |c| {
            let existing = server_meta::table
                .find(&name)
                .select(server_meta::value)
                .first::<String>(c)
                .optional()?;
            if let Some(v) = existing {
                return Ok(v);
            }
            diesel::insert_into(server_meta::table)
                .values((server_meta::name.eq(&name), server_meta::value.eq(&value)))
                .execute(c)?;
            Ok(value)
        })
        .await
    }
}
