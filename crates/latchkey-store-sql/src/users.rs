//! Accounts: unique by folded username and by email.

use async_trait::async_trait;
use latchkey_core::store::{NewUserRecord, StoreError, UserRecord, UserStore};
use latchkey_core::{Email, SessionId, User, UserId, Username};
use time::OffsetDateTime;

use crate::rows::{conflict_or_unavailable, seconds, user_record, OrUnavailable, USER_COLUMNS};
use crate::{delete_user_rows, SqlStore};

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, record: &NewUserRecord) -> Result<(), StoreError> {
        let user = &record.user;
        let sql = "INSERT INTO users (id, username, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)";
        sqlx::query(sql)
            .bind(user.id.to_string())
            .bind(user.username.as_str())
            .bind(user.email.as_str())
            .bind(&record.password_hash)
            .bind(seconds(user.created_at))
            .execute(&self.pool)
            .await
            .map_err(conflict_or_unavailable)?;
        Ok(())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = sqlx::query(&sql).bind(username.as_str()).fetch_optional(&self.pool).await.or_unavailable()?;
        row.as_ref().map(user_record).transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql).bind(email.as_str()).fetch_optional(&self.pool).await.or_unavailable()?;
        row.as_ref().map(user_record).transpose()
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await.or_unavailable()?;
        Ok(row.as_ref().map(user_record).transpose()?.map(|r| r.user))
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username > $1 ORDER BY username LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .or_unavailable()?;
        rows.iter().map(|row| user_record(row).map(|r| r.user)).collect()
    }

    async fn set_user_locked(&self, user: UserId, locked_at: Option<OffsetDateTime>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET locked_at = $1 WHERE id = $2")
            .bind(locked_at.map(seconds))
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: &SessionId,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        if changed.rows_affected() != 1 {
            return Ok(None);
        }
        let [_] = delete_user_rows(&mut tx, user, ["pending_sign_ins"]).await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user.to_string())
            .bind(keep.as_str())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(ended.rows_affected()))
    }

    async fn lock_user(&self, user: UserId, at: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let locked = sqlx::query("UPDATE users SET locked_at = $1 WHERE id = $2")
            .bind(seconds(at))
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        if locked.rows_affected() != 1 {
            return Ok(None);
        }
        let tables = ["sessions", "pending_sign_ins", "trusted_devices", "webauthn_ceremonies"];
        let [ended, ..] = delete_user_rows(&mut tx, user, tables).await?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(ended))
    }
}
