//! Passkeys and the WebAuthn ceremonies in progress. Adding the first passkey
//! turns MFA on exactly as confirming a first authenticator does; every
//! change to a user's factors is serialised on the user's MFA row.

use async_trait::async_trait;
use latchkey_core::sessions::Factor;
use latchkey_core::store::{CeremonyRecord, PasskeyAdded, PasskeyRecord, PasskeyStore, StoreError};
use latchkey_core::{PasskeyId, SessionId, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::mfa::{keep_only_session, lock_mfa_row, remove_factor, turn_mfa_on, Factors};
use crate::rows::{
    conflict_or_unavailable, corrupt, flag, instant, maybe_instant, public_id, seconds, user_id, OrUnavailable,
};
use crate::{lock_user_row, SqlStore};

const COLUMNS: &str = "id, user_id, credential_id, name, credential, sign_count, backup_eligible, backed_up, \
                       created_at, last_used_at";

fn record(row: &AnyRow) -> Result<PasskeyRecord, StoreError> {
    let count: i64 = row.try_get("sign_count").map_err(corrupt)?;
    Ok(PasskeyRecord {
        id: public_id(row, "id")?,
        user_id: user_id(row, "user_id")?,
        credential_id: row.try_get("credential_id").map_err(corrupt)?,
        name: row.try_get("name").map_err(corrupt)?,
        credential: row.try_get("credential").map_err(corrupt)?,
        sign_count: u32::try_from(count).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        backup_eligible: flag(row, "backup_eligible")?,
        backed_up: flag(row, "backed_up")?,
        created_at: instant(row, "created_at")?,
        last_used_at: maybe_instant(row, "last_used_at")?,
    })
}

fn ceremony(row: &AnyRow) -> Result<CeremonyRecord, StoreError> {
    let user: Option<String> = row.try_get("user_id").map_err(corrupt)?;
    Ok(CeremonyRecord {
        key: row.try_get("key").map_err(corrupt)?,
        purpose: row.try_get("purpose").map_err(corrupt)?,
        user_id: match user {
            Some(_) => Some(user_id(row, "user_id")?),
            None => None,
        },
        bound_to: row.try_get("bound_to").map_err(corrupt)?,
        state: row.try_get("state").map_err(corrupt)?,
        expires_at: instant(row, "expires_at")?,
    })
}

#[async_trait]
impl PasskeyStore for SqlStore {
    async fn put_ceremony(&self, record: &CeremonyRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
            .bind(seconds(now))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        let sql = "INSERT INTO webauthn_ceremonies (key, purpose, user_id, bound_to, state, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) \
                   ON CONFLICT (key) DO UPDATE SET purpose = excluded.purpose, user_id = excluded.user_id, \
                   bound_to = excluded.bound_to, state = excluded.state, expires_at = excluded.expires_at";
        sqlx::query(sql)
            .bind(&record.key)
            .bind(&record.purpose)
            .bind(record.user_id.map(|u| u.to_string()))
            .bind(&record.bound_to)
            .bind(&record.state)
            .bind(seconds(record.expires_at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn take_ceremony(
        &self,
        key: &str,
        purpose: &str,
        bound_to: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        // One statement: of two processes finishing the same challenge, one
        // deletes the row and gets it, the other gets nothing; and only what
        // the ceremony is bound to can take it (nobody else can burn it).
        let sql = "DELETE FROM webauthn_ceremonies \
                   WHERE key = $1 AND purpose = $2 AND bound_to = $3 AND expires_at > $4 \
                   RETURNING key, purpose, user_id, bound_to, state, expires_at";
        let row = sqlx::query(sql)
            .bind(key)
            .bind(purpose)
            .bind(bound_to)
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        row.as_ref().map(ceremony).transpose()
    }

    async fn add_passkey(
        &self,
        record: &PasskeyRecord,
        recovery_hashes: &[String],
        keep: &SessionId,
        max: u32,
    ) -> Result<PasskeyAdded, StoreError> {
        let user = record.user_id;
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // Serialised with a password-only session being written, and with
        // any other change to the user's factors.
        lock_user_row(&mut tx, user).await?;
        let mfa_was_on = lock_mfa_row(&mut tx, user).await?;
        if !mfa_was_on && recovery_hashes.is_empty() {
            // MFA is off: this passkey turns it on, with recovery codes, or
            // nothing is written (the caller thought MFA was on and made none).
            return Ok(PasskeyAdded::MfaIsOff);
        }
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .or_unavailable()?
            .try_get("n")
            .map_err(corrupt)?;
        if count >= i64::from(max) {
            return Ok(PasskeyAdded::TooMany);
        }
        let sql = format!("INSERT INTO passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        sqlx::query(&sql)
            .bind(record.id.as_str())
            .bind(user.to_string())
            .bind(&record.credential_id)
            .bind(&record.name)
            .bind(&record.credential)
            .bind(i64::from(record.sign_count))
            .bind(i64::from(record.backup_eligible))
            .bind(i64::from(record.backed_up))
            .bind(seconds(record.created_at))
            .bind(record.last_used_at.map(seconds))
            .execute(&mut *tx)
            .await
            .map_err(conflict_or_unavailable)?;
        if !mfa_was_on {
            turn_mfa_on(&mut tx, user, record.created_at, 0, recovery_hashes).await?;
            keep_only_session(&mut tx, user, keep, &[Factor::Password, Factor::Passkey, Factor::UserVerified]).await?;
        }
        tx.commit().await.or_unavailable()?;
        Ok(if mfa_was_on { PasskeyAdded::Added } else { PasskeyAdded::TurnedMfaOn })
    }

    async fn list_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(user.to_string()).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter().map(record).collect()
    }

    async fn find_passkey(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1");
        let row = sqlx::query(&sql).bind(credential_id).fetch_optional(&self.pool).await.or_unavailable()?;
        row.as_ref().map(record).transpose()
    }

    async fn record_passkey_use(&self, record: &PasskeyRecord, previous_count: u32) -> Result<bool, StoreError> {
        // The counter only moves forward: of two uses racing from the same
        // stored counter, one is written; a passkey that keeps no counter
        // (always 0) is written every time.
        let sql = "UPDATE passkeys SET credential = $1, sign_count = $2, backup_eligible = $3, backed_up = $4, \
                   last_used_at = $5 WHERE id = $6 AND sign_count = $7 AND ($2 > $7 OR ($2 = 0 AND $7 = 0))";
        let done = sqlx::query(sql)
            .bind(&record.credential)
            .bind(i64::from(record.sign_count))
            .bind(i64::from(record.backup_eligible))
            .bind(i64::from(record.backed_up))
            .bind(record.last_used_at.map(seconds))
            .bind(record.id.as_str())
            .bind(i64::from(previous_count))
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn rename_passkey(&self, user: UserId, id: &PasskeyId, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id.as_str())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_passkey(&self, user: UserId, id: &PasskeyId) -> Result<bool, StoreError> {
        remove_factor(&self.pool, Factors::Passkeys, user, id.as_str()).await
    }
}
