//! Sessions, and the pending sign-ins that become them.

use async_trait::async_trait;
use latchkey_core::sessions::SessionRecord;
use latchkey_core::store::{PendingSignInRecord, SessionStore, SessionWrite, StoreError};
use latchkey_core::{SessionId, User, UserId};
use time::OffsetDateTime;

use crate::rows::{
    factor_words, joined_user, pending_sign_in, seconds, session_record, OrUnavailable, JOINED_USER_COLUMNS,
    PENDING_COLUMNS, SESSION_COLUMNS,
};
use crate::{delete_user_rows, lock_user_row, SqlStore};

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(
        &self,
        record: &SessionRecord,
        idle_cutoff: OffsetDateTime,
    ) -> Result<SessionWrite, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // The user's row first: MFA being turned on and the password being
        // changed or reset take it too, so the checks below see either the
        // state before (and the change, after us, ends this session) or the
        // state after (and nothing is written).
        lock_user_row(&mut tx, record.user_id).await?;
        if !record.passed_second_factor() {
            let mfa_on: Option<i64> = sqlx::query_scalar("SELECT 1 FROM totp_factors WHERE user_id = $1")
                .bind(record.user_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .or_unavailable()?;
            if mfa_on.is_some() {
                return Ok(SessionWrite::MfaIsOn);
            }
        }
        if let Some(checked) = &record.password_fingerprint {
            let current: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(record.user_id.to_string())
                .fetch_one(&mut *tx)
                .await
                .or_unavailable()?;
            if &latchkey_core::token::token_hash(&current) != checked {
                return Ok(SessionWrite::PasswordChanged);
            }
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen_at <= $3)")
            .bind(record.user_id.to_string())
            .bind(seconds(record.created_at))
            .bind(seconds(idle_cutoff))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        let sql =
            format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
        sqlx::query(&sql)
            .bind(record.id.as_str())
            .bind(record.user_id.to_string())
            .bind(&record.token_hash)
            .bind(&record.csrf_token)
            .bind(seconds(record.created_at))
            .bind(seconds(record.last_seen_at))
            .bind(seconds(record.expires_at))
            .bind(record.client.ip.clone())
            .bind(record.client.user_agent.clone())
            .bind(factor_words(&record.factors))
            .bind(seconds(record.proven_at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(SessionWrite::Written)
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
        touch_before: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        let sql = format!(
            "SELECT s.id, s.user_id, s.token_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, \
             s.ip, s.user_agent, s.factors, s.proven_at, {JOINED_USER_COLUMNS} \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.last_seen_at > $2 AND s.expires_at > $3"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(seconds(idle_cutoff))
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        let Some(row) = row else { return Ok(None) };
        let mut session = session_record(&row)?;
        let user = joined_user(&row, session.user_id)?;
        if session.last_seen_at < touch_before {
            // Two requests may both touch; the later time wins either way.
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1")
                .bind(seconds(now))
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .or_unavailable()?;
            session.last_seen_at = now;
        }
        Ok(Some((session, user)))
    }

    async fn list_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = $1 AND last_seen_at > $2 AND expires_at > $3 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(user.to_string())
            .bind(seconds(idle_cutoff))
            .bind(seconds(now))
            .fetch_all(&self.pool)
            .await
            .or_unavailable()?;
        rows.iter().map(session_record).collect()
    }

    async fn mark_session_proven(&self, session_id: &SessionId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE sessions SET proven_at = $1 WHERE id = $2")
            .bind(seconds(at))
            .bind(session_id.as_str())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_session(&self, user: UserId, session_id: &SessionId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(session_id.as_str())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_sessions_and_trust(&self, user: UserId, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let keep = keep.map(SessionId::as_str).unwrap_or("");
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user.to_string())
            .bind(keep)
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        delete_user_rows(&mut tx, user, ["trusted_devices"]).await?;
        tx.commit().await.or_unavailable()?;
        Ok(ended.rows_affected())
    }

    async fn insert_pending_sign_in(
        &self,
        record: &PendingSignInRecord,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at <= $1")
            .bind(seconds(now))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        let sql = format!("INSERT INTO pending_sign_ins ({PENDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        sqlx::query(&sql)
            .bind(&record.token_hash)
            .bind(record.user_id.to_string())
            .bind(&record.csrf_token)
            .bind(seconds(record.expires_at))
            .bind(i64::from(record.failures))
            .bind(record.client.ip.clone())
            .bind(record.client.user_agent.clone())
            .bind(&record.password_fingerprint)
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn get_pending_sign_in(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<PendingSignInRecord>, StoreError> {
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM pending_sign_ins WHERE token_hash = $1 AND expires_at > $2 AND failures < $3"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(seconds(now))
            .bind(i64::from(max_failures))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        row.as_ref().map(pending_sign_in).transpose()
    }

    async fn claim_pending_attempt(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<PendingSignInRecord>, StoreError> {
        let sql = format!(
            "UPDATE pending_sign_ins SET failures = failures + 1 \
             WHERE token_hash = $1 AND expires_at > $2 AND failures < $3 RETURNING {PENDING_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(seconds(now))
            .bind(i64::from(max_failures))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        row.as_ref().map(pending_sign_in).transpose()
    }

    async fn take_pending_sign_in(&self, token_hash: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM pending_sign_ins WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(seconds(now))
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }
}
