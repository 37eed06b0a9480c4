//! Email links: the proof that an owner reads an address, and the one place
//! an account's address changes.

use async_trait::async_trait;
use latchkey_core::store::{EmailLinkPurpose, EmailLinkRecord, EmailLinkStore, EmailLinkUse, StoreError};
use latchkey_core::{Email, UserId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{conflict_or_unavailable, corrupt, seconds, user_id, OrUnavailable};
use crate::{delete_user_rows, lock_user_row, SqlStore};

/// Ends the user's pending address changes, in the transaction of a change
/// to how the account is proven (a password change or reset, a lock, an
/// operator's MFA reset): whoever asked for a change with the old proof must
/// not move the account to their mailbox after the owner took it back.
pub(crate) async fn end_email_changes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM email_verifications WHERE user_id = $1 AND purpose = $2")
        .bind(user.to_string())
        .bind(EmailLinkPurpose::Change.as_str())
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    Ok(())
}

#[async_trait]
impl EmailLinkStore for SqlStore {
    async fn insert_email_link(&self, record: &EmailLinkRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // The user's row first, as every change to the account takes it: two
        // racing requests leave one live link of a purpose, not two.
        lock_user_row(&mut tx, record.user_id).await?;
        sqlx::query("DELETE FROM email_verifications WHERE expires_at <= $1 OR (user_id = $2 AND purpose = $3)")
            .bind(seconds(now))
            .bind(record.user_id.to_string())
            .bind(record.purpose.as_str())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        let sql = "INSERT INTO email_verifications (token_hash, user_id, email, purpose, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        sqlx::query(sql)
            .bind(&record.token_hash)
            .bind(record.user_id.to_string())
            .bind(record.email.as_str())
            .bind(record.purpose.as_str())
            .bind(seconds(record.expires_at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn use_email_link(&self, token_hash: &str, now: OffsetDateTime) -> Result<EmailLinkUse, StoreError> {
        let mut tx = self.begin_write().await?;
        // Whose link it is, then the user's row, then the link: the order
        // every change to the account takes (a deletion racing this one
        // cannot deadlock with it), and the address read below is the one
        // the account has.
        let owner = sqlx::query("SELECT user_id FROM email_verifications WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        let Some(owner) = owner else { return Ok(EmailLinkUse::Dead) };
        lock_user_row(&mut tx, user_id(&owner, "user_id")?).await?;
        let sql = "DELETE FROM email_verifications WHERE token_hash = $1 AND expires_at > $2 \
                   RETURNING user_id, email, purpose";
        let taken =
            sqlx::query(sql).bind(token_hash).bind(seconds(now)).fetch_optional(&mut *tx).await.or_unavailable()?;
        let Some(taken) = taken else { return Ok(EmailLinkUse::Dead) };
        let user = user_id(&taken, "user_id")?;
        let proven: String = taken.try_get("email").map_err(corrupt)?;
        let purpose: String = taken.try_get("purpose").map_err(corrupt)?;
        let present: Option<String> = sqlx::query("SELECT email FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?
            .map(|row| row.try_get("email"))
            .transpose()
            .map_err(corrupt)?;
        let Some(present) = present else { return Ok(EmailLinkUse::Dead) };
        let done = if purpose == EmailLinkPurpose::Change.as_str() && present != proven {
            sqlx::query("UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3")
                .bind(&proven)
                .bind(seconds(now))
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(conflict_or_unavailable)?;
            // Links mailed to the old address stop working with it.
            delete_user_rows(&mut tx, user, ["email_verifications", "password_resets"]).await?;
            EmailLinkUse::Changed { user, old: Email::from_trusted(present) }
        } else if purpose == EmailLinkPurpose::Verify.as_str() && present == proven {
            sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2")
                .bind(seconds(now))
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .or_unavailable()?;
            EmailLinkUse::Verified(user)
        } else {
            // A link for an address the account no longer has (or has already).
            EmailLinkUse::Dead
        };
        tx.commit().await.or_unavailable()?;
        Ok(done)
    }

    async fn pending_email_change(&self, user: UserId, now: OffsetDateTime) -> Result<Option<Email>, StoreError> {
        let sql = "SELECT email FROM email_verifications WHERE user_id = $1 AND purpose = $2 AND expires_at > $3";
        let row = sqlx::query(sql)
            .bind(user.to_string())
            .bind(EmailLinkPurpose::Change.as_str())
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        row.map(|row| row.try_get("email").map(Email::from_trusted)).transpose().map_err(corrupt)
    }
}
