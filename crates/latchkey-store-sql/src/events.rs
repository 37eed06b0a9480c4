//! The security event log: a hash chain appended under one serialised transaction.

use async_trait::async_trait;
use latchkey_core::events::{chain_hash, ChainedEvent, EventKind, EventRecord, GENESIS};
use latchkey_core::store::{EventLog, StoreError};
use latchkey_core::UserId;
use sqlx::Row;

use crate::rows::{corrupt, event_kind, event_record, seconds, OrUnavailable};
use crate::{Dialect, SqlStore};

#[async_trait]
impl EventLog for SqlStore {
    async fn latest_event_kind(&self, user: UserId, kinds: &[EventKind]) -> Result<Option<EventKind>, StoreError> {
        let placeholders: Vec<String> = (2..kinds.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT kind FROM security_events WHERE user_id = $1 AND kind IN ({}) ORDER BY id DESC LIMIT 1",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_scalar(&sql).bind(user.to_string());
        for kind in kinds {
            query = query.bind(kind.as_str());
        }
        let latest: Option<String> = query.fetch_optional(&self.pool).await.or_unavailable()?;
        Ok(latest.and_then(|name| EventKind::parse(&name)))
    }

    async fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        // Appends are serialised, so no two writers read the same last hash:
        // SQLite takes its write lock up front, PostgreSQL an advisory lock
        // held until commit.
        let mut tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .or_unavailable()?;
        if self.dialect == Dialect::Postgres {
            // A stuck holder must not stall every process's appends for long.
            sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut *tx).await.or_unavailable()?;
            sqlx::query("SELECT CAST(pg_advisory_xact_lock(7205759403792793) AS TEXT)")
                .execute(&mut *tx)
                .await
                .or_unavailable()?;
        }
        let prev: Option<String> = sqlx::query_scalar("SELECT hash FROM security_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let hash = chain_hash(&prev, event);
        let sql = "INSERT INTO security_events (user_id, kind, at, ip, user_agent, prev_hash, hash) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        sqlx::query(sql)
            .bind(event.user_id.to_string())
            .bind(event.kind.as_str())
            .bind(seconds(event.at))
            .bind(event.client.ip.clone())
            .bind(event.client.user_agent.clone())
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn chained_events(&self, after: i64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        let sql = "SELECT id, user_id, kind, at, ip, user_agent, prev_hash, hash FROM security_events \
                   WHERE id > $1 ORDER BY id LIMIT $2";
        let rows = sqlx::query(sql).bind(after).bind(i64::from(limit)).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id").map_err(corrupt)?;
                let event = event_record(row).map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?;
                Ok(ChainedEvent {
                    id,
                    event,
                    prev_hash: row.try_get("prev_hash").map_err(corrupt)?,
                    hash: row.try_get("hash").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn list_events(&self, user: UserId, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let sql = "SELECT user_id, kind, at, ip, user_agent FROM security_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2";
        let rows = sqlx::query(sql)
            .bind(user.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .or_unavailable()?;
        // A kind this version does not know (written by a newer one before a
        // rollback) is left out of the list, as `latest_event_kind` leaves it
        // out; `audit verify` still reads it, and names its id.
        let known = rows.iter().filter(|row| {
            let known = event_kind(row).is_ok();
            if !known {
                tracing::warn!("a security event of a kind this version does not know is not listed");
            }
            known
        });
        known.map(event_record).collect()
    }
}
