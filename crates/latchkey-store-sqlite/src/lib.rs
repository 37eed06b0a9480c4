//! The embedded SQLite store: Latchkey's default, one file in the data dir, in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use latchkey_core::sessions::{ClientInfo, SessionRecord};
use latchkey_core::store::{NewUserRecord, Store, StoreError, UserRecord};
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

const USER_COLUMNS: &str = "id, username, email, password_hash, created_at";

fn user_record(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user: User {
            id: user_id(row, "id")?,
            username: Username::from_trusted(row.try_get("username").map_err(corrupt)?),
            email: Email::from_trusted(row.try_get("email").map_err(corrupt)?),
            mfa_enabled: false,
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
        client: ClientInfo {
            ip: row.try_get("ip").map_err(corrupt)?,
            user_agent: row.try_get("user_agent").map_err(corrupt)?,
        },
    })
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
}
