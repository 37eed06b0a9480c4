//! App tokens: stored as hashes, found with their user in one read.

use async_trait::async_trait;
use latchkey_core::access::app_tokens::Scope;
use latchkey_core::store::{AppTokenRecord, AppTokenStore, StoreError};
use latchkey_core::{AppTokenId, User, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{
    corrupt, instant, joined_user, maybe_instant, public_id, seconds, user_id, OrUnavailable, JOINED_USER_COLUMNS,
};
use crate::SqlStore;

const COLUMNS: &str = "t.id, t.user_id, t.name, t.token_hash, t.scopes, t.domains, t.two_factor, t.created_at, \
                       t.expires_at, t.last_used_at, t.last_used_ip";

fn words(row: &AnyRow, column: &str) -> Result<Vec<String>, StoreError> {
    let joined: String = row.try_get(column).map_err(corrupt)?;
    Ok(joined.split(',').filter(|w| !w.is_empty()).map(str::to_string).collect())
}

fn record(row: &AnyRow) -> Result<AppTokenRecord, StoreError> {
    let scopes = words(row, "scopes")?
        .iter()
        .map(|w| Scope::parse(w).ok_or_else(|| StoreError::Corrupt(format!("unknown app token scope {w:?}"))))
        .collect::<Result<_, _>>()?;
    let two_factor: i64 = row.try_get("two_factor").map_err(corrupt)?;
    Ok(AppTokenRecord {
        id: public_id(row, "id")?,
        user_id: user_id(row, "user_id")?,
        name: row.try_get("name").map_err(corrupt)?,
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        scopes,
        domains: words(row, "domains")?,
        two_factor: two_factor != 0,
        created_at: instant(row, "created_at")?,
        expires_at: maybe_instant(row, "expires_at")?,
        last_used_at: maybe_instant(row, "last_used_at")?,
        last_used_ip: row.try_get("last_used_ip").map_err(corrupt)?,
    })
}

#[async_trait]
impl AppTokenStore for SqlStore {
    async fn insert_app_token(&self, record: &AppTokenRecord, max: u32) -> Result<bool, StoreError> {
        // One statement: the count and the insert cannot be split by another
        // insert of the same user (SQLite serialises writers; PostgreSQL
        // re-checks nothing here, so two racing inserts may pass one over
        // the limit, which only bounds a list).
        let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
        let done = sqlx::query(
            "INSERT INTO app_tokens (id, user_id, name, token_hash, scopes, domains, two_factor, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE (SELECT COUNT(*) FROM app_tokens WHERE user_id = $2) < $10",
        )
        .bind(record.id.as_str())
        .bind(record.user_id.to_string())
        .bind(&record.name)
        .bind(&record.token_hash)
        .bind(scopes.join(","))
        .bind(record.domains.join(","))
        .bind(i64::from(record.two_factor))
        .bind(seconds(record.created_at))
        .bind(record.expires_at.map(seconds))
        .bind(i64::from(max))
        .execute(&self.pool)
        .await
        .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_app_tokens(&self, user: UserId) -> Result<Vec<AppTokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM app_tokens t WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id");
        let rows = sqlx::query(&sql).bind(user.to_string()).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter().map(record).collect()
    }

    async fn delete_app_token(&self, user: UserId, id: &AppTokenId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM app_tokens WHERE user_id = $1 AND id = $2")
            .bind(user.to_string())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn find_app_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(AppTokenRecord, User)>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, {JOINED_USER_COLUMNS} FROM app_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)"
        );
        let row =
            sqlx::query(&sql).bind(token_hash).bind(seconds(now)).fetch_optional(&self.pool).await.or_unavailable()?;
        let Some(row) = row else { return Ok(None) };
        let token = record(&row)?;
        let user = joined_user(&row, token.user_id)?;
        Ok(Some((token, user)))
    }

    async fn record_app_token_use(
        &self,
        id: &AppTokenId,
        at: OffsetDateTime,
        ip: Option<&str>,
    ) -> Result<bool, StoreError> {
        // The address first, conditionally: of several uses from a new
        // address at once, exactly one changes it (and is told so).
        let moved = sqlx::query(
            "UPDATE app_tokens SET last_used_ip = $1, last_used_at = $2 \
             WHERE id = $3 AND last_used_ip IS DISTINCT FROM $1",
        )
        .bind(ip)
        .bind(seconds(at))
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .or_unavailable()?;
        if moved.rows_affected() == 1 {
            return Ok(true);
        }
        sqlx::query(
            "UPDATE app_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(seconds(at))
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .or_unavailable()?;
        Ok(false)
    }
}
