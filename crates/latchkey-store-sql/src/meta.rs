//! The store's own metadata (the server key's check value), its health,
//! and the processes serving it.

use crate::rows::{corrupt, instant, seconds, OrUnavailable};
use crate::{Dialect, SqlStore};
use async_trait::async_trait;
use latchkey_core::store::{MetaStore, ServingProcess, StoreError};
use sqlx::Row;

/// How long a process not seen is remembered at all.
const FORGOTTEN_AFTER_SECS: i64 = 24 * 3600;

/// The processes seen serving within the last `within` seconds by the
/// database's clock, read inside `tx`.
pub(crate) async fn serving_within(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    within: i64,
) -> Result<Vec<ServingProcess>, StoreError> {
    let sql = format!(
        "SELECT id, host, pid, listen, started_at, seen_at FROM serving_processes \
         WHERE seen_at >= {} - $1 ORDER BY started_at, id",
        dialect.now_seconds()
    );
    let rows = sqlx::query(&sql).bind(within).fetch_all(&mut **tx).await.or_unavailable()?;
    rows.iter()
        .map(|row| {
            let pid: i64 = row.try_get("pid").map_err(corrupt)?;
            Ok(ServingProcess {
                id: row.try_get("id").map_err(corrupt)?,
                host: row.try_get("host").map_err(corrupt)?,
                pid: u32::try_from(pid).unwrap_or_default(),
                listen: row.try_get("listen").map_err(corrupt)?,
                started_at: instant(row, "started_at")?,
                seen_at: instant(row, "seen_at")?,
            })
        })
        .collect()
}

#[async_trait]
impl MetaStore for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.or_unavailable()?;
        Ok(())
    }

    fn connections(&self) -> Option<(u32, usize)> {
        Some((self.pool.size(), self.pool.num_idle()))
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()
    }

    async fn put_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value.to_vec())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn heartbeat_process(&self, process: &ServingProcess) -> Result<(), StoreError> {
        // Under the append lock, which a key rotation holds throughout.
        let mut tx = self.begin_append().await?;
        let now = self.dialect.now_seconds();
        let sql = format!(
            "INSERT INTO serving_processes (id, host, pid, listen, started_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, {now}) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at"
        );
        sqlx::query(&sql)
            .bind(&process.id)
            .bind(&process.host)
            .bind(i64::from(process.pid))
            .bind(&process.listen)
            .bind(seconds(process.started_at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        sqlx::query(&format!("DELETE FROM serving_processes WHERE seen_at < {now} - $1"))
            .bind(FORGOTTEN_AFTER_SECS)
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn forget_process(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM serving_processes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(())
    }
}
