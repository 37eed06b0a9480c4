//! The embedded SQLite store: Latchkey's default, one file in the data dir, in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use latchkey_core::events::{chain_hash, ChainedEvent, EventRecord, GENESIS};
use latchkey_core::sessions::{ClientInfo, SessionRecord};
use latchkey_core::store::{
    NewUserRecord, PendingSignInRecord, RecoveryCodeRecord, Reservation, Store, StoreError, TotpFactorRecord,
    UserRecord,
};
use latchkey_core::throttle::Policy;
use latchkey_core::{Email, User, UserId, Username};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

/// How long a statement waits for SQLite's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A Latchkey store in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite://` URL, in WAL mode
    /// with foreign keys on. Does not migrate: call [`SqliteStore::migrate`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await.map_err(unavailable)?;
        Ok(SqliteStore { pool })
    }

    /// Applies the schema migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a unique-constraint failure to the field it protects.
fn conflict_or_unavailable(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            if db.message().contains("users.username") {
                return StoreError::Conflict("username");
            }
            if db.message().contains("users.email") {
                return StoreError::Conflict("email");
            }
        }
    }
    unavailable(e)
}

fn seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn instant(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    let secs: i64 = row.try_get(column).map_err(corrupt)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn corrupt(e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn user_id(row: &SqliteRow, column: &str) -> Result<UserId, StoreError> {
    let text: String = row.try_get(column).map_err(corrupt)?;
    Uuid::parse_str(&text).map(UserId).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const USER_COLUMNS: &str = "id, username, email, password_hash, created_at, \
    EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id) AS mfa_enabled";

fn user_record(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user: User {
            id: user_id(row, "id")?,
            username: Username::from_trusted(row.try_get("username").map_err(corrupt)?),
            email: Email::from_trusted(row.try_get("email").map_err(corrupt)?),
            mfa_enabled: row.try_get("mfa_enabled").map_err(corrupt)?,
            created_at: instant(row, "created_at")?,
        },
        password_hash: row.try_get("password_hash").map_err(corrupt)?,
    })
}

const SESSION_COLUMNS: &str =
    "id, user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent";

fn session_record(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("id").map_err(corrupt)?,
        user_id: user_id(row, "user_id")?,
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        csrf_token: row.try_get("csrf_token").map_err(corrupt)?,
        created_at: instant(row, "created_at")?,
        last_seen_at: instant(row, "last_seen_at")?,
        expires_at: instant(row, "expires_at")?,
        client: client(row)?,
    })
}

fn pending_sign_in(row: &SqliteRow) -> Result<PendingSignInRecord, StoreError> {
    Ok(PendingSignInRecord {
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        user_id: user_id(row, "user_id")?,
        csrf_token: row.try_get("csrf_token").map_err(corrupt)?,
        expires_at: instant(row, "expires_at")?,
        failures: row.try_get("failures").map_err(corrupt)?,
        client: client(row)?,
    })
}

fn event_record(row: &SqliteRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        user_id: user_id(row, "user_id")?,
        kind: row.try_get("kind").map_err(corrupt)?,
        at: instant(row, "at")?,
        client: client(row)?,
    })
}

fn client(row: &SqliteRow) -> Result<ClientInfo, StoreError> {
    Ok(ClientInfo { ip: row.try_get("ip").map_err(corrupt)?, user_agent: row.try_get("user_agent").map_err(corrupt)? })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn put_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_user(&self, record: &NewUserRecord) -> Result<(), StoreError> {
        let user = &record.user;
        sqlx::query("INSERT INTO users (id, username, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)")
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
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?");
        let row = sqlx::query(&sql).bind(username.as_str()).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?");
        let row = sqlx::query(&sql).bind(email.as_str()).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await.map_err(unavailable)?;
        Ok(row.as_ref().map(user_record).transpose()?.map(|r| r.user))
    }

    async fn insert_session(&self, record: &SessionRecord, idle_cutoff: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND (expires_at <= ? OR last_seen_at <= ?)")
            .bind(record.user_id.to_string())
            .bind(seconds(record.created_at))
            .bind(seconds(idle_cutoff))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.id)
        .bind(record.user_id.to_string())
        .bind(&record.token_hash)
        .bind(&record.csrf_token)
        .bind(seconds(record.created_at))
        .bind(seconds(record.last_seen_at))
        .bind(seconds(record.expires_at))
        .bind(&record.client.ip)
        .bind(&record.client.user_agent)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!(
            "UPDATE sessions SET last_seen_at = ? \
             WHERE token_hash = ? AND last_seen_at > ? AND expires_at > ? RETURNING {SESSION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(seconds(now))
            .bind(token_hash)
            .bind(seconds(idle_cutoff))
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(session_record).transpose()
    }

    async fn list_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = ? AND last_seen_at > ? AND expires_at > ? ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(user.to_string())
            .bind(seconds(idle_cutoff))
            .bind(seconds(now))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(session_record).collect()
    }

    async fn delete_session(&self, user: UserId, session_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ? AND user_id = ?")
            .bind(session_id)
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_other_sessions(&self, user: UserId, keep: Option<&str>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?")
            .bind(user.to_string())
            .bind(keep)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn put_totp_enrolment(
        &self,
        user: UserId,
        secret_sealed: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO totp_enrolments (user_id, secret_sealed, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, expires_at = excluded.expires_at",
        )
        .bind(user.to_string())
        .bind(secret_sealed)
        .bind(seconds(expires_at))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn get_totp_enrolment(&self, user: UserId, now: OffsetDateTime) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT secret_sealed FROM totp_enrolments WHERE user_id = ? AND expires_at > ?")
            .bind(user.to_string())
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        secret_sealed: &[u8],
        step: i64,
        confirmed_at: OffsetDateTime,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let inserted = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret_sealed, confirmed_at, last_used_step) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.to_string())
        .bind(secret_sealed)
        .bind(seconds(confirmed_at))
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if inserted.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM totp_enrolments WHERE user_id = ?")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_recovery_codes(&mut tx, user, recovery_hashes).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn get_totp_factor(&self, user: UserId) -> Result<Option<TotpFactorRecord>, StoreError> {
        let row = sqlx::query("SELECT secret_sealed, last_used_step FROM totp_factors WHERE user_id = ?")
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| {
            Ok(TotpFactorRecord {
                secret_sealed: row.try_get("secret_sealed").map_err(corrupt)?,
                last_used_step: row.try_get("last_used_step").map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE totp_factors SET last_used_step = ? WHERE user_id = ? AND last_used_step < ?")
            .bind(step)
            .bind(user.to_string())
            .bind(step)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_totp_factor(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let deleted = sqlx::query("DELETE FROM totp_factors WHERE user_id = ?")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, user: UserId) -> Result<Vec<RecoveryCodeRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL ORDER BY id")
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(RecoveryCodeRecord {
                    id: row.try_get("id").map_err(corrupt)?,
                    code_hash: row.try_get("code_hash").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn use_recovery_code(&self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL")
            .bind(seconds(now))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&self, user: UserId, hashes: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_recovery_codes(&mut tx, user, hashes).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn insert_pending_sign_in(
        &self,
        record: &PendingSignInRecord,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at <= ?")
            .bind(seconds(now))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO pending_sign_ins (token_hash, user_id, csrf_token, expires_at, failures, ip, user_agent) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.token_hash)
        .bind(record.user_id.to_string())
        .bind(&record.csrf_token)
        .bind(seconds(record.expires_at))
        .bind(record.failures)
        .bind(&record.client.ip)
        .bind(&record.client.user_agent)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn get_pending_sign_in(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<PendingSignInRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, csrf_token, expires_at, failures, ip, user_agent FROM pending_sign_ins \
             WHERE token_hash = ? AND expires_at > ? AND failures < ?",
        )
        .bind(token_hash)
        .bind(seconds(now))
        .bind(max_failures)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(pending_sign_in).transpose()
    }

    async fn claim_pending_attempt(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<PendingSignInRecord>, StoreError> {
        let row = sqlx::query(
            "UPDATE pending_sign_ins SET failures = failures + 1 \
             WHERE token_hash = ? AND expires_at > ? AND failures < ? \
             RETURNING token_hash, user_id, csrf_token, expires_at, failures, ip, user_agent",
        )
        .bind(token_hash)
        .bind(seconds(now))
        .bind(max_failures)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(pending_sign_in).transpose()
    }

    async fn take_pending_sign_in(&self, token_hash: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM pending_sign_ins WHERE token_hash = ? AND expires_at > ?")
            .bind(token_hash)
            .bind(seconds(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reserve_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Reservation, StoreError> {
        // `counted` is the count after this attempt: 1 when the last failure is
        // older than `forget_after`. Past `free`, the same statement sets the
        // delay: first_delay doubled per failure beyond `free`, capped.
        const COUNTED: &str = "(CASE WHEN throttles.updated_at <= ?2 - ?7 THEN 1 ELSE throttles.failures + 1 END)";
        let sql = format!(
            "INSERT INTO throttles (key, failures, blocked_until, updated_at) \
             VALUES (?1, 1, CASE WHEN ?3 <= 1 THEN ?2 + ?4 ELSE 0 END, ?2) \
             ON CONFLICT (key) DO UPDATE SET \
                 failures = {COUNTED}, \
                 blocked_until = CASE WHEN {COUNTED} >= ?3 \
                     THEN ?2 + MIN(?5, ?4 << MIN({COUNTED} - ?3, 20)) ELSE 0 END, \
                 updated_at = ?2 \
             WHERE throttles.blocked_until <= ?2 AND throttles.failures < ?6 \
             RETURNING failures"
        );
        let never = i64::from(u32::MAX);
        // A refusal is explained by a second read; if a success cleared the
        // key in between, the attempt is simply tried again.
        for _ in 0..3 {
            let granted: Option<i64> = sqlx::query_scalar(&sql)
                .bind(key)
                .bind(seconds(now))
                .bind(i64::from(policy.free))
                .bind(policy.first_delay.whole_seconds())
                .bind(policy.max_delay.whole_seconds())
                .bind(policy.lock_after.map_or(never, i64::from))
                .bind(policy.forget_after.map_or(never, |d| d.whole_seconds()))
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            if let Some(failures) = granted {
                return Ok(Reservation::Granted { failures: u32::try_from(failures).unwrap_or(u32::MAX) });
            }
            let row = sqlx::query("SELECT failures, blocked_until FROM throttles WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            if let Some(row) = row {
                let failures: i64 = row.try_get("failures").map_err(corrupt)?;
                let locked = policy.lock_after.is_some_and(|lock| failures >= i64::from(lock));
                let blocked_until = if locked { None } else { Some(instant(&row, "blocked_until")?) };
                return Ok(Reservation::Refused { blocked_until });
            }
        }
        Err(StoreError::Unavailable(format!("throttle key {key} keeps changing")))
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttles WHERE key = ?").bind(key).execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }

    async fn refund_attempt(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE throttles SET failures = MAX(failures - 1, 0) WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        // IMMEDIATE takes the write lock before the read of the last hash, so
        // no other writer can append between that read and this insert.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let prev: Option<String> = sqlx::query_scalar("SELECT hash FROM security_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let hash = chain_hash(&prev, event);
        sqlx::query(
            "INSERT INTO security_events (user_id, kind, at, ip, user_agent, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.user_id.to_string())
        .bind(&event.kind)
        .bind(seconds(event.at))
        .bind(&event.client.ip)
        .bind(&event.client.user_agent)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn chained_events(&self, after: i64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, kind, at, ip, user_agent, prev_hash, hash FROM security_events \
             WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(ChainedEvent {
                    id: row.try_get("id").map_err(corrupt)?,
                    event: event_record(row)?,
                    prev_hash: row.try_get("prev_hash").map_err(corrupt)?,
                    hash: row.try_get("hash").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn list_events(&self, user: UserId, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, kind, at, ip, user_agent FROM security_events WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(user.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(event_record).collect()
    }
}

async fn insert_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    user: UserId,
    hashes: &[String],
) -> Result<(), StoreError> {
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)")
            .bind(user.to_string())
            .bind(hash)
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}
