//! Accounts: unique by folded username and by email.

use async_trait::async_trait;
use latchkey_core::store::{NewUserRecord, PasswordResetRecord, StoreError, UserRecord, UserStore};
use latchkey_core::{Email, SessionId, User, UserId, Username};
use time::OffsetDateTime;

use sqlx::Row;

use crate::email::end_email_changes;
use crate::rows::{
    conflict_or_unavailable, corrupt, instant, seconds, user_id, user_record, OrUnavailable, USER_COLUMNS,
};
use crate::{delete_user_rows, lock_user_row, SqlStore};

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
        // The user's row is taken by this UPDATE: a session being written
        // for the old password waits, then finds it changed.
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
        end_email_changes(&mut tx, user).await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user.to_string())
            .bind(keep.as_str())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(ended.rows_affected()))
    }

    async fn insert_password_reset(&self, record: &PasswordResetRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        sqlx::query("DELETE FROM password_resets WHERE expires_at <= $1")
            .bind(seconds(now))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        let sql = "INSERT INTO password_resets (token_hash, user_id, password_fingerprint, expires_at) \
                   VALUES ($1, $2, $3, $4)";
        sqlx::query(sql)
            .bind(&record.token_hash)
            .bind(record.user_id.to_string())
            .bind(&record.password_fingerprint)
            .bind(seconds(record.expires_at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn find_password_reset(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(PasswordResetRecord, UserRecord)>, StoreError> {
        let sql = format!(
            "SELECT r.token_hash, r.user_id, r.password_fingerprint, r.expires_at, {USER_COLUMNS} \
             FROM password_resets r JOIN users ON users.id = r.user_id \
             WHERE r.token_hash = $1 AND r.expires_at > $2"
        );
        let row =
            sqlx::query(&sql).bind(token_hash).bind(seconds(now)).fetch_optional(&self.pool).await.or_unavailable()?;
        let Some(row) = row else { return Ok(None) };
        let reset = PasswordResetRecord {
            token_hash: row.try_get("token_hash").map_err(corrupt)?,
            user_id: user_id(&row, "user_id")?,
            password_fingerprint: row.try_get("password_fingerprint").map_err(corrupt)?,
            expires_at: instant(&row, "expires_at")?,
        };
        Ok(Some((reset, user_record(&row)?)))
    }

    async fn complete_password_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let sql = "DELETE FROM password_resets WHERE token_hash = $1 AND expires_at > $2 \
                   RETURNING user_id, password_fingerprint";
        let taken =
            sqlx::query(sql).bind(token_hash).bind(seconds(now)).fetch_optional(&mut *tx).await.or_unavailable()?;
        let Some(taken) = taken else { return Ok(None) };
        let user = user_id(&taken, "user_id")?;
        let issued_under: String = taken.try_get("password_fingerprint").map_err(corrupt)?;
        // The user's row first: a change or another reset racing this one
        // waits, so the check below reads the password as it stands.
        lock_user_row(&mut tx, user).await?;
        let current: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .or_unavailable()?
            .try_get("password_hash")
            .map_err(corrupt)?;
        if latchkey_core::token::token_hash(&current) != issued_under {
            // The password changed since the link was sent: the link is dead
            // (and stays used up).
            tx.commit().await.or_unavailable()?;
            return Ok(None);
        }
        // The link came to the account's address, so it proves that too.
        sqlx::query(
            "UPDATE users SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3",
        )
        .bind(password_hash)
        .bind(seconds(now))
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .or_unavailable()?;
        let tables = [
            "sessions",
            "trusted_devices",
            "pending_sign_ins",
            "app_tokens",
            "password_resets",
            "oidc_access_tokens",
            "oidc_refresh_tokens",
        ];
        delete_user_rows(&mut tx, user, tables).await?;
        end_email_changes(&mut tx, user).await?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(user))
    }

    async fn delete_user(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // The user's row first: a session being written for the user waits,
        // then finds no user to write it for.
        lock_user_row(&mut tx, user).await?;
        // Every table that names the user (the foreign keys would cascade,
        // but `webauthn_ceremonies` has none, and a list says what goes).
        let tables = [
            "sessions",
            "pending_sign_ins",
            "trusted_devices",
            "totp_enrolments",
            "authenticators",
            "recovery_codes",
            "totp_factors",
            "passkeys",
            "webauthn_ceremonies",
            "group_members",
            "app_tokens",
            "password_resets",
            "email_verifications",
            "oidc_consents",
            "oidc_codes",
            "oidc_access_tokens",
            "oidc_refresh_tokens",
        ];
        delete_user_rows(&mut tx, user, tables).await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(deleted.rows_affected() == 1)
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
        let tables = [
            "sessions",
            "pending_sign_ins",
            "trusted_devices",
            "webauthn_ceremonies",
            "oidc_access_tokens",
            "oidc_refresh_tokens",
        ];
        let [ended, ..] = delete_user_rows(&mut tx, user, tables).await?;
        end_email_changes(&mut tx, user).await?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(ended))
    }
}
