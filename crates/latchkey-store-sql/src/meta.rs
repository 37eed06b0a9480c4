//! The store's own metadata (the server key's check value) and its health.

use async_trait::async_trait;
use latchkey_core::store::{MetaStore, StoreError};

use crate::rows::OrUnavailable;
use crate::SqlStore;

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
}
