//! The MFA aggregate: enrolments, authenticators (with the per-user TOTP step), recovery codes and
//! trusted browsers; every change to a user's factors is serialised on the user's MFA row.

use async_trait::async_trait;
use latchkey_core::events::{ChainKey, ChainLink};
use latchkey_core::sessions::Factor;
use latchkey_core::store::{
    AuthenticatorRecord, MfaStore, RecoveryCodeRecord, Resealed, StoreError, TrustedDeviceRecord,
};
use latchkey_core::{AuthenticatorId, SessionId, TrustedDeviceId, UserId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{client, corrupt, factor_words, instant, public_id, seconds, user_id, OrUnavailable};
use crate::{delete_user_rows, lock_user_row, SqlStore};

/// Locks the user's MFA row for the rest of the transaction (PostgreSQL:
/// a row lock; SQLite: the write lock), so changes to the user's factors run
/// one after the other; false when MFA is off.
pub(crate) async fn lock_mfa_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, user: UserId) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE totp_factors SET last_used_step = last_used_step WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    Ok(done.rows_affected() == 1)
}

async fn insert_authenticator(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    record: &AuthenticatorRecord,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO authenticators \
               (id, user_id, name, secret_sealed, created_at, last_used_step, drift_steps, last_used_ip) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    sqlx::query(sql)
        .bind(record.id.as_str())
        .bind(user.to_string())
        .bind(&record.name)
        .bind(record.secret_sealed.clone())
        .bind(seconds(record.created_at))
        .bind(record.last_used_step)
        .bind(record.drift_steps)
        .bind(record.last_used_ip.clone())
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    Ok(())
}

async fn insert_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    hashes: &[String],
) -> Result<(), StoreError> {
    let sql = "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)";
    for hash in hashes {
        sqlx::query(sql).bind(user.to_string()).bind(hash).execute(&mut **tx).await.or_unavailable()?;
    }
    Ok(())
}

/// Turns MFA on inside `tx` (the user's row already locked): the MFA row
/// (`at`, the step already spent), the recovery codes in place of any, no
/// pending enrolment. False when MFA was on already (nothing written).
pub(crate) async fn turn_mfa_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    at: OffsetDateTime,
    spent_step: i64,
    recovery_hashes: &[String],
) -> Result<bool, StoreError> {
    let sql = "INSERT INTO totp_factors (user_id, confirmed_at, last_used_step) VALUES ($1, $2, $3) \
               ON CONFLICT (user_id) DO NOTHING";
    let inserted = sqlx::query(sql)
        .bind(user.to_string())
        .bind(seconds(at))
        .bind(spent_step)
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    if inserted.rows_affected() != 1 {
        return Ok(false);
    }
    delete_user_rows(tx, user, ["totp_enrolments", "recovery_codes"]).await?;
    insert_recovery_codes(tx, user, recovery_hashes).await?;
    Ok(true)
}

/// Ends every session of the user but `keep` (one opened before MFA,
/// perhaps by whoever had the password, must not outlive it), and records
/// that `keep` passed `factors`: it has just proven the new factor.
pub(crate) async fn keep_only_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    keep: &SessionId,
    factors: &[Factor],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user.to_string())
        .bind(keep.as_str())
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    sqlx::query("UPDATE sessions SET factors = $1 WHERE id = $2")
        .bind(factor_words(factors))
        .bind(keep.as_str())
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    Ok(())
}

/// The tables of a user's second factors.
#[derive(Clone, Copy)]
pub(crate) enum Factors {
    Authenticators,
    Passkeys,
}

/// Removes one of the user's factors (an authenticator or a passkey) unless
/// it is the last of both kinds together, serialised on the MFA row: two
/// removals at once cannot take the last two. False when there is no such
/// factor of the user's, or it is the last.
pub(crate) async fn remove_factor(
    pool: &sqlx::AnyPool,
    table: Factors,
    user: UserId,
    id: &str,
) -> Result<bool, StoreError> {
    let table = match table {
        Factors::Authenticators => "authenticators",
        Factors::Passkeys => "passkeys",
    };
    let mut tx = pool.begin().await.or_unavailable()?;
    if !lock_mfa_row(&mut tx, user).await? {
        return Ok(false);
    }
    let sql = format!(
        "DELETE FROM {table} WHERE id = $1 AND user_id = $2 \
         AND (SELECT COUNT(*) FROM authenticators WHERE user_id = $2) \
         + (SELECT COUNT(*) FROM passkeys WHERE user_id = $2) > 1"
    );
    let done = sqlx::query(&sql).bind(id).bind(user.to_string()).execute(&mut *tx).await.or_unavailable()?;
    tx.commit().await.or_unavailable()?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl MfaStore for SqlStore {
    async fn put_totp_enrolment(
        &self,
        user: UserId,
        session: &SessionId,
        secret_sealed: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO totp_enrolments (user_id, session_id, secret_sealed, expires_at) VALUES ($1, $4, $2, $3) \
                   ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
                   expires_at = excluded.expires_at, session_id = excluded.session_id";
        sqlx::query(sql)
            .bind(user.to_string())
            .bind(secret_sealed.to_vec())
            .bind(seconds(expires_at))
            .bind(session.as_str())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(())
    }

    async fn get_totp_enrolment(
        &self,
        user: UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let sql =
            "SELECT secret_sealed FROM totp_enrolments WHERE user_id = $1 AND expires_at > $2 AND session_id = $3";
        sqlx::query_scalar(sql)
            .bind(user.to_string())
            .bind(seconds(now))
            .bind(session.as_str())
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()
    }

    async fn totp_enrolment_elsewhere(
        &self,
        user: UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = "SELECT 1 FROM totp_enrolments WHERE user_id = $1 AND expires_at > $2 AND session_id <> $3";
        let found: Option<i64> = sqlx::query_scalar(sql)
            .bind(user.to_string())
            .bind(seconds(now))
            .bind(session.as_str())
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        Ok(found.is_some())
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        first: &AuthenticatorRecord,
        recovery_hashes: &[String],
        keep: &SessionId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // Serialised with a password-only session being written (insert_session).
        lock_user_row(&mut tx, user).await?;
        if !turn_mfa_on(&mut tx, user, first.created_at, first.last_used_step, recovery_hashes).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM authenticators WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        insert_authenticator(&mut tx, user, first).await?;
        // The session that confirmed has just proven the authenticator with a
        // code: it counts as signed in with both (a two_factor access rule
        // lets it through without signing in again).
        keep_only_session(&mut tx, user, keep, &[Factor::Password, Factor::Totp]).await?;
        tx.commit().await.or_unavailable()?;
        Ok(true)
    }

    async fn add_authenticator(
        &self,
        user: UserId,
        record: &AuthenticatorRecord,
        max: u32,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        if !lock_mfa_row(&mut tx, user).await? {
            return Ok(false);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authenticators WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .or_unavailable()?;
        if count >= i64::from(max) {
            return Ok(false);
        }
        // The new authenticator's confirming step is spent for the user too.
        let sql = "UPDATE totp_factors SET last_used_step = $2 WHERE user_id = $1 AND last_used_step < $2";
        sqlx::query(sql).bind(user.to_string()).bind(record.last_used_step).execute(&mut *tx).await.or_unavailable()?;
        insert_authenticator(&mut tx, user, record).await?;
        sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(true)
    }

    async fn list_authenticators(&self, user: UserId) -> Result<Vec<AuthenticatorRecord>, StoreError> {
        let sql = "SELECT id, name, secret_sealed, created_at, last_used_step, drift_steps, last_used_ip FROM authenticators \
                   WHERE user_id = $1 ORDER BY created_at, id";
        let rows = sqlx::query(sql).bind(user.to_string()).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter()
            .map(|row| {
                Ok(AuthenticatorRecord {
                    id: public_id(row, "id")?,
                    name: row.try_get("name").map_err(corrupt)?,
                    secret_sealed: row.try_get("secret_sealed").map_err(corrupt)?,
                    created_at: instant(row, "created_at")?,
                    last_used_step: row.try_get("last_used_step").map_err(corrupt)?,
                    drift_steps: row.try_get("drift_steps").map_err(corrupt)?,
                    last_used_ip: row.try_get("last_used_ip").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn remove_authenticator(&self, user: UserId, id: &AuthenticatorId) -> Result<bool, StoreError> {
        remove_factor(&self.pool, Factors::Authenticators, user, id.as_str()).await
    }

    async fn use_totp_step(
        &self,
        user: UserId,
        authenticator: &AuthenticatorId,
        step: i64,
        drift: i64,
        ip: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // The per-user step first: it takes the row lock, so of two uses of
        // one step (from any authenticators, in any processes) one wins.
        let used =
            sqlx::query("UPDATE totp_factors SET last_used_step = $1 WHERE user_id = $2 AND last_used_step < $1")
                .bind(step)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .or_unavailable()?;
        if used.rows_affected() != 1 {
            return Ok(false);
        }
        let sql = "UPDATE authenticators SET last_used_step = $1, drift_steps = $2, last_used_ip = $5 \
                   WHERE id = $3 AND user_id = $4 AND last_used_step < $1";
        let mine = sqlx::query(sql)
            .bind(step)
            .bind(drift)
            .bind(authenticator.as_str())
            .bind(user.to_string())
            .bind(ip.map(str::to_string))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        if mine.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await.or_unavailable()?;
        Ok(true)
    }

    async fn delete_totp_factor(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let tables =
            ["totp_factors", "authenticators", "passkeys", "recovery_codes", "trusted_devices", "totp_enrolments"];
        let [was_on, ..] = delete_user_rows(&mut tx, user, tables).await?;
        tx.commit().await.or_unavailable()?;
        Ok(was_on == 1)
    }

    async fn reset_mfa(&self, user: UserId) -> Result<(u64, bool), StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // The MFA row first: it serialises with every other change to the factors.
        let [was_on] = delete_user_rows(&mut tx, user, ["totp_factors"]).await?;
        if was_on == 0 {
            // MFA was off: nothing to reset, and nothing else is touched (the transaction rolls back).
            return Ok((0, false));
        }
        let tables = [
            "authenticators",
            "passkeys",
            "recovery_codes",
            "trusted_devices",
            "totp_enrolments",
            "pending_sign_ins",
            "webauthn_ceremonies",
            "sessions",
        ];
        let [.., ended] = delete_user_rows(&mut tx, user, tables).await?;
        crate::email::end_email_changes(&mut tx, user).await?;
        tx.commit().await.or_unavailable()?;
        Ok((ended, true))
    }

    async fn unused_recovery_codes(&self, user: UserId) -> Result<Vec<RecoveryCodeRecord>, StoreError> {
        let sql = "SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY id";
        let rows = sqlx::query(sql).bind(user.to_string()).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter()
            .map(|row| {
                Ok(RecoveryCodeRecord {
                    id: row.try_get("id").map_err(corrupt)?,
                    code_hash: row.try_get("code_hash").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        code: &RecoveryCodeRecord,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // Matching the hash too: a row id can be reused after a replacement.
        let sql = "UPDATE recovery_codes SET used_at = $1 \
                   WHERE id = $2 AND user_id = $3 AND code_hash = $4 AND used_at IS NULL";
        let done = sqlx::query(sql)
            .bind(seconds(now))
            .bind(code.id)
            .bind(user.to_string())
            .bind(&code.code_hash)
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&self, user: UserId, hashes: &[String]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        // Locks the factor's row first: two replacements at once (or one racing
        // a removal of the factor) run one after the other, on both databases.
        if !lock_mfa_row(&mut tx, user).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        insert_recovery_codes(&mut tx, user, hashes).await?;
        tx.commit().await.or_unavailable()?;
        Ok(true)
    }

    async fn insert_trusted_device(&self, record: &TrustedDeviceRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        if !lock_mfa_row(&mut tx, record.user_id).await? {
            return Ok(false);
        }
        let sql = "INSERT INTO trusted_devices (id, user_id, token_hash, created_at, expires_at, ip, user_agent) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        sqlx::query(sql)
            .bind(record.id.as_str())
            .bind(record.user_id.to_string())
            .bind(&record.token_hash)
            .bind(seconds(record.created_at))
            .bind(seconds(record.expires_at))
            .bind(record.client.ip.clone())
            .bind(record.client.user_agent.clone())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()?;
        Ok(true)
    }

    async fn is_trusted_device(&self, user: UserId, token_hash: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let sql = "SELECT id FROM trusted_devices WHERE user_id = $1 AND token_hash = $2 AND expires_at > $3";
        let found: Option<String> = sqlx::query_scalar(sql)
            .bind(user.to_string())
            .bind(token_hash)
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        Ok(found.is_some())
    }

    async fn list_trusted_devices(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<TrustedDeviceRecord>, StoreError> {
        let sql = "SELECT id, user_id, token_hash, created_at, expires_at, ip, user_agent FROM trusted_devices \
                   WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id";
        let rows =
            sqlx::query(sql).bind(user.to_string()).bind(seconds(now)).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter()
            .map(|row| {
                Ok(TrustedDeviceRecord {
                    id: public_id(row, "id")?,
                    user_id: user_id(row, "user_id")?,
                    token_hash: row.try_get("token_hash").map_err(corrupt)?,
                    created_at: instant(row, "created_at")?,
                    expires_at: instant(row, "expires_at")?,
                    client: client(row)?,
                })
            })
            .collect()
    }

    async fn delete_trusted_device(&self, user: UserId, id: &TrustedDeviceId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM trusted_devices WHERE id = $1 AND user_id = $2")
            .bind(id.as_str())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_all_trusted_devices(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM trusted_devices").execute(&self.pool).await.or_unavailable()?;
        Ok(done.rows_affected())
    }

    async fn reseal_secrets(
        &self,
        reseal: &latchkey_core::store::Reseal<'_>,
        key_check: &[u8],
        (old_chain, new_chain): (&ChainKey, &ChainKey),
        serving_within: i64,
    ) -> Result<Resealed, StoreError> {
        let mut tx = self.begin_append().await?;
        let serving = crate::meta::serving_within(&mut tx, self.dialect, serving_within).await?;
        if !serving.is_empty() {
            return Ok(Resealed::StillServing(serving));
        }
        let mut resealed = 0u64;
        for (table, key) in [("authenticators", "id"), ("totp_enrolments", "user_id")] {
            let rows = sqlx::query(&format!("SELECT {key} AS row_key, user_id, secret_sealed FROM {table}"))
                .fetch_all(&mut *tx)
                .await
                .or_unavailable()?;
            for row in &rows {
                let user = user_id(row, "user_id")?;
                let sealed: Vec<u8> = row.try_get("secret_sealed").map_err(corrupt)?;
                let fresh = reseal(user.0.as_bytes(), &sealed)
                    .ok_or_else(|| StoreError::Corrupt(format!("the secret of user {user} does not open")))?;
                sqlx::query(&format!("UPDATE {table} SET secret_sealed = $1 WHERE {key} = $2"))
                    .bind(fresh)
                    .bind(row.try_get::<String, _>("row_key").map_err(corrupt)?)
                    .execute(&mut *tx)
                    .await
                    .or_unavailable()?;
                resealed += 1;
                if resealed % 1000 == 0 {
                    tracing::info!(resealed, "re-encrypting TOTP secrets");
                }
            }
        }
        resealed += crate::oidc::reseal_signing_keys(&mut tx, reseal).await?;
        sqlx::query("UPDATE meta SET value = $1 WHERE key = 'key_check'")
            .bind(key_check.to_vec())
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        let relinked = crate::events::rechain(&mut tx, ChainLink::Keyed(old_chain), new_chain).await?;
        tracing::info!(relinked, "re-linked the security log under the new key");
        tx.commit().await.or_unavailable()?;
        Ok(Resealed::Done(resealed))
    }
}
