//! The security event log: a hash chain appended under one serialised transaction.

use async_trait::async_trait;
use latchkey_core::events::{ChainKey, ChainLink, ChainedEvent, EventKind, EventRecord, Rechain, GENESIS};
use latchkey_core::store::{EventLog, StoreError};
use latchkey_core::UserId;
use sqlx::Row;

use crate::rows::{corrupt, event_kind, event_record, seconds, OrUnavailable};
use crate::{Dialect, SqlStore};

impl SqlStore {
    /// A transaction serialised with every other append to the chain:
    /// SQLite takes its write lock up front, PostgreSQL an advisory lock held
    /// until commit, so no two writers read the same last hash.
    pub(crate) async fn begin_append(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
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
        Ok(tx)
    }
}

/// Re-links the whole chain from `old` to `new` inside `tx` (which holds
/// the append lock), up to the first event that did not fit `old`;
/// returns how many events were rewritten.
pub(crate) async fn rechain(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    old: ChainLink<'_>,
    new: &ChainKey,
) -> Result<u64, StoreError> {
    const PAGE: i64 = 1000;
    let mut rechain = Rechain::new(old, new);
    let (mut after, mut rewritten) = (0_i64, 0_u64);
    'pages: loop {
        let rows = sqlx::query(CHAINED_PAGE).bind(after).bind(PAGE).fetch_all(&mut **tx).await.or_unavailable()?;
        for row in &rows {
            let chained = chained_event(row)?;
            let Some((prev, hash)) = rechain.next(&chained) else { break 'pages };
            sqlx::query("UPDATE security_events SET prev_hash = $1, hash = $2 WHERE id = $3")
                .bind(prev)
                .bind(hash)
                .bind(chained.id)
                .execute(&mut **tx)
                .await
                .or_unavailable()?;
            after = chained.id;
            rewritten += 1;
        }
        if rows.len() < PAGE as usize {
            break;
        }
    }
    Ok(rewritten)
}

/// A page of the chain, in order: the events after id `$1`, at most `$2`.
const CHAINED_PAGE: &str = "SELECT id, user_id, kind, at, ip, user_agent, prev_hash, hash FROM security_events \
                            WHERE id > $1 ORDER BY id LIMIT $2";

/// A row of `security_events` with its links.
fn chained_event(row: &sqlx::any::AnyRow) -> Result<ChainedEvent, StoreError> {
    let id: i64 = row.try_get("id").map_err(corrupt)?;
    let event = event_record(row).map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?;
    Ok(ChainedEvent {
        id,
        event,
        prev_hash: row.try_get("prev_hash").map_err(corrupt)?,
        hash: row.try_get("hash").map_err(corrupt)?,
    })
}

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

    async fn insert_event(&self, event: &EventRecord, key: &ChainKey) -> Result<(), StoreError> {
        let mut tx = self.begin_append().await?;
        let prev: Option<String> = sqlx::query_scalar("SELECT hash FROM security_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let hash = key.link(&prev, event);
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

    async fn chain_head(&self) -> Result<(u64, Option<String>), StoreError> {
        // One statement, so the count and the hash are of the same moment.
        let sql = "SELECT (SELECT COUNT(*) FROM security_events) AS events, \
                   (SELECT hash FROM security_events ORDER BY id DESC LIMIT 1) AS hash";
        let row = sqlx::query(sql).fetch_one(&self.pool).await.or_unavailable()?;
        let events: i64 = row.try_get("events").map_err(corrupt)?;
        Ok((u64::try_from(events).unwrap_or_default(), row.try_get("hash").map_err(corrupt)?))
    }

    async fn key_event_chain(
        &self,
        key: &ChainKey,
        unkeyed_check: &[u8],
        keyed_check: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin_append().await?;
        let check: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'key_check'")
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        if check.as_deref() != Some(unkeyed_check) {
            return Ok(None);
        }
        let rewritten = rechain(&mut tx, ChainLink::Legacy, key).await?;
        sqlx::query("UPDATE meta SET value = $1 WHERE key = 'key_check'")
            .bind(keyed_check.to_vec())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(rewritten))
    }

    async fn chained_events(&self, after: i64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        let rows = sqlx::query(CHAINED_PAGE)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .or_unavailable()?;
        rows.iter().map(chained_event).collect()
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
