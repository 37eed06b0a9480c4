//! Latchkey's store in SQL: SQLite (one file in the data dir, the default) and
//! PostgreSQL (shared by several processes), in one implementation.
//!
//! The statements are written once, in the portable subset of both dialects
//! (`$N` parameters, which SQLite reads as numbered parameters too;
//! `ON CONFLICT … RETURNING`; `CASE` instead of `LEAST`),
//! and run through sqlx's `Any` driver; the few places where the dialects
//! must differ (serialising appends to the event chain, the migrations) are
//! decided by [`Dialect`] here, never above the store. Everything several
//! processes could race on is one conditional statement or one transaction.

mod copy;

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use async_trait::async_trait;
use latchkey_core::events::{chain_hash, ChainedEvent, EventKind, EventRecord, GENESIS};
use latchkey_core::sessions::{ClientInfo, SessionRecord};
use latchkey_core::store::{
    AuthenticatorRecord, NewUserRecord, PendingSignInRecord, RecoveryCodeRecord, Reservation, Store, StoreError,
    TrustedDeviceRecord, UserRecord,
};
use latchkey_core::throttle::Policy;
use latchkey_core::{AuthenticatorId, Email, PublicId, SessionId, TrustedDeviceId, User, UserId, Username};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions as _, Connection as _, Executor as _, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// How long a request waits for a database connection before it is answered
/// 503: short, so a database that went away is reported quickly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Which SQL the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The dialect a database URL names, if Latchkey speaks it.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }
}

/// A Latchkey store in SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
    /// Opens a pool of at most `max_connections` to the database at `url`
    /// (`sqlite://PATH`, created if missing, or `postgres://…`, with TLS when
    /// the URL asks for it, e.g. `sslmode=require`). Does not migrate.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let dialect = Dialect::of_url(url)
            .ok_or_else(|| StoreError::Unavailable("expected a sqlite:// or postgres:// URL".into()))?;
        if dialect == Dialect::Sqlite {
            prepare_sqlite_file(url).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // Per connection: the journal mode is the file's, these are not.
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(unavailable)?;
        Ok(SqlStore { pool, dialect })
    }

    /// Opens a store that must already exist (an SQLite file is not created),
    /// e.g. the source of a copy, where a mistyped path must not pass as an
    /// empty store.
    pub async fn open_existing(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if Dialect::of_url(url) == Some(Dialect::Sqlite) {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path);
            if !std::path::Path::new(path).is_file() {
                return Err(StoreError::Unavailable(format!("there is no SQLite store at {path}")));
            }
        }
        Self::open(url, max_connections).await
    }

    /// Writes a consistent copy of a live SQLite store to `file` (`VACUUM
    /// INTO` reads one snapshot while the service keeps writing) and checks
    /// the copy with `PRAGMA integrity_check`. PostgreSQL has `pg_dump`.
    pub async fn backup_to(&self, file: &std::path::Path) -> Result<(), StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Err(StoreError::Unavailable("backup copies SQLite stores; use pg_dump for PostgreSQL".into()));
        }
        let path = file.to_str().ok_or_else(|| StoreError::Unavailable("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await.map_err(unavailable)?;
        let mut copy =
            SqliteConnectOptions::new().filename(file).read_only(true).connect().await.map_err(unavailable)?;
        let verdict: String =
            sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut copy).await.map_err(unavailable)?;
        copy.close().await.map_err(unavailable)?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("the backup failed its integrity check: {verdict}")))
        }
    }

    /// Applies the migrations not applied yet. On PostgreSQL the migrator
    /// holds an advisory lock, so processes starting together migrate once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&self.pool).await.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }
}

/// WAL mode is a property of the database file and switching to it needs an
/// exclusive lock, so it is set once, on a single connection, before the pool
/// opens; the same connection creates the file if it is missing.
async fn prepare_sqlite_file(url: &str) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let conn = options.connect().await.map_err(unavailable)?;
    conn.close().await.map_err(unavailable)
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a unique-constraint failure to the field it protects (PostgreSQL
/// names the constraint `users_username_key`, SQLite says `users.username`).
fn conflict_or_unavailable(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            let what = db.constraint().unwrap_or_else(|| db.message()).to_string();
            for field in ["username", "email"] {
                if what.contains(field) {
                    return StoreError::Conflict(field);
                }
            }
        }
    }
    unavailable(e)
}

fn seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn corrupt(e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn instant(row: &AnyRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    let secs: i64 = row.try_get(column).map_err(corrupt)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn user_id(row: &AnyRow, column: &str) -> Result<UserId, StoreError> {
    let text: String = row.try_get(column).map_err(corrupt)?;
    Uuid::parse_str(&text).map(UserId).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn count(row: &AnyRow, column: &str) -> Result<u32, StoreError> {
    let n: i64 = row.try_get(column).map_err(corrupt)?;
    u32::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const USER_COLUMNS: &str = "id, username, email, password_hash, created_at, locked_at, \
    CAST(CASE WHEN EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id) THEN 1 ELSE 0 END AS BIGINT) \
    AS mfa_enabled";

fn user_record(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let mfa: i64 = row.try_get("mfa_enabled").map_err(corrupt)?;
    Ok(UserRecord {
        user: User {
            id: user_id(row, "id")?,
            username: Username::from_trusted(row.try_get("username").map_err(corrupt)?),
            email: Email::from_trusted(row.try_get("email").map_err(corrupt)?),
            mfa_enabled: mfa != 0,
            locked: row.try_get::<Option<i64>, _>("locked_at").map_err(corrupt)?.is_some(),
            created_at: instant(row, "created_at")?,
        },
        password_hash: row.try_get("password_hash").map_err(corrupt)?,
    })
}

const SESSION_COLUMNS: &str =
    "id, user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent";

fn session_record(row: &AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: public_id(row, "id")?,
        user_id: user_id(row, "user_id")?,
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        csrf_token: row.try_get("csrf_token").map_err(corrupt)?,
        created_at: instant(row, "created_at")?,
        last_seen_at: instant(row, "last_seen_at")?,
        expires_at: instant(row, "expires_at")?,
        client: client(row)?,
    })
}

const PENDING_COLUMNS: &str = "token_hash, user_id, csrf_token, expires_at, failures, ip, user_agent";

fn pending_sign_in(row: &AnyRow) -> Result<PendingSignInRecord, StoreError> {
    Ok(PendingSignInRecord {
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        user_id: user_id(row, "user_id")?,
        csrf_token: row.try_get("csrf_token").map_err(corrupt)?,
        expires_at: instant(row, "expires_at")?,
        failures: count(row, "failures")?,
        client: client(row)?,
    })
}

fn event_record(row: &AnyRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        user_id: user_id(row, "user_id")?,
        kind: event_kind(row)?,
        at: instant(row, "at")?,
        client: client(row)?,
    })
}

/// A public id column, typed by what it names.
fn public_id<K>(row: &AnyRow, column: &str) -> Result<PublicId<K>, StoreError> {
    row.try_get::<String, _>(column).map(PublicId::from).map_err(corrupt)
}

/// A stored kind no version of Latchkey wrote is damage, not an event to show.
fn event_kind(row: &AnyRow) -> Result<EventKind, StoreError> {
    let name: String = row.try_get("kind").map_err(corrupt)?;
    EventKind::parse(&name).ok_or_else(|| StoreError::Corrupt(format!("unknown event kind {name:?}")))
}

fn client(row: &AnyRow) -> Result<ClientInfo, StoreError> {
    Ok(ClientInfo { ip: row.try_get("ip").map_err(corrupt)?, user_agent: row.try_get("user_agent").map_err(corrupt)? })
}

/// `CASE n WHEN 0 THEN d0 WHEN 1 THEN d1 … ELSE longest END`: the policy's
/// delays as SQL (numbers from our own constants, never from a request).
/// The upsert that counts an attempt on a throttle key: `$1` key, `$2` now,
/// `$3` free attempts, `$4` lock-after, `$5` forget-after. `counted` is the
/// count after this attempt (1 when the last failure is older than
/// `forget_after`); past `free`, the same statement sets the delay from the
/// policy's table. `condition` (a `WHERE` on the existing row) makes it a
/// reservation that a delayed key refuses.
fn count_attempt_sql(policy: &Policy, condition: &str) -> String {
    const COUNTED: &str = "(CASE WHEN throttles.updated_at <= $2 - $5 THEN 1 ELSE throttles.failures + 1 END)";
    let delay = delay_case(&format!("({COUNTED} - $3)"), policy);
    let first_delay = policy.delays().first().map_or(0, |d| d.whole_seconds());
    format!(
        "INSERT INTO throttles (key, failures, blocked_until, updated_at) \
         VALUES ($1, 1, CASE WHEN $3 <= 1 THEN $2 + {first_delay} ELSE 0 END, $2) \
         ON CONFLICT (key) DO UPDATE SET \
             failures = {COUNTED}, \
             blocked_until = CASE WHEN {COUNTED} >= $3 THEN $2 + {delay} ELSE 0 END, \
             updated_at = $2 \
         {condition} \
         RETURNING failures"
    )
}

fn delay_case(n: &str, policy: &Policy) -> String {
    let delays = policy.delays();
    let mut case = format!("CASE {n}");
    for (i, delay) in delays.iter().enumerate() {
        case.push_str(&format!(" WHEN {i} THEN {}", delay.whole_seconds()));
    }
    case.push_str(&format!(" ELSE {} END", policy.max_delay.whole_seconds()));
    case
}

/// The largest count the store keeps for a lock that is not set.
const NEVER: i64 = u32::MAX as i64;

/// Locks the user's MFA row for the rest of the transaction (PostgreSQL:
/// a row lock; SQLite: the write lock), so changes to the user's factors run
/// one after the other; false when MFA is off.
async fn lock_mfa_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, user: UserId) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE totp_factors SET last_used_step = last_used_step WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?;
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
        .map_err(unavailable)?;
    Ok(())
}

async fn insert_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    hashes: &[String],
) -> Result<(), StoreError> {
    let sql = "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)";
    for hash in hashes {
        sqlx::query(sql).bind(user.to_string()).bind(hash).execute(&mut **tx).await.map_err(unavailable)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(unavailable)?;
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
            .map_err(unavailable)
    }

    async fn put_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value.to_vec())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

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
        let row = sqlx::query(&sql).bind(username.as_str()).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql).bind(email.as_str()).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await.map_err(unavailable)?;
        Ok(row.as_ref().map(user_record).transpose()?.map(|r| r.user))
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username > $1 ORDER BY username LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(|row| user_record(row).map(|r| r.user)).collect()
    }

    async fn set_user_locked(&self, user: UserId, locked_at: Option<OffsetDateTime>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET locked_at = $1 WHERE id = $2")
            .bind(locked_at.map(seconds))
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_session(&self, record: &SessionRecord, idle_cutoff: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen_at <= $3)")
            .bind(record.user_id.to_string())
            .bind(seconds(record.created_at))
            .bind(seconds(idle_cutoff))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let sql = format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
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
        touch_before: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        let sql = "SELECT s.id, s.user_id, s.token_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, \
                   s.ip, s.user_agent, u.username, u.email, u.created_at AS user_created_at, u.locked_at, \
                   CAST(CASE WHEN EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = u.id) THEN 1 ELSE 0 END \
                   AS BIGINT) AS mfa_enabled \
                   FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.token_hash = $1 AND s.last_seen_at > $2 AND s.expires_at > $3";
        let row = sqlx::query(sql)
            .bind(token_hash)
            .bind(seconds(idle_cutoff))
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let mut session = session_record(&row)?;
        let mfa: i64 = row.try_get("mfa_enabled").map_err(corrupt)?;
        let user = User {
            id: session.user_id,
            username: Username::from_trusted(row.try_get("username").map_err(corrupt)?),
            email: Email::from_trusted(row.try_get("email").map_err(corrupt)?),
            mfa_enabled: mfa != 0,
            locked: row.try_get::<Option<i64>, _>("locked_at").map_err(corrupt)?.is_some(),
            created_at: instant(&row, "user_created_at")?,
        };
        if session.last_seen_at < touch_before {
            // Two requests may both touch; the later time wins either way.
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1")
                .bind(seconds(now))
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
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
            .map_err(unavailable)?;
        rows.iter().map(session_record).collect()
    }

    async fn delete_session(&self, user: UserId, session_id: &SessionId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(session_id.as_str())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_other_sessions(&self, user: UserId, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let done = match keep {
            Some(keep) => {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                    .bind(user.to_string())
                    .bind(keep.as_str())
                    .execute(&self.pool)
                    .await
            }
            None => {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.to_string()).execute(&self.pool).await
            }
        };
        Ok(done.map_err(unavailable)?.rows_affected())
    }

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
            .map_err(unavailable)?;
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
            .map_err(unavailable)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        first: &AuthenticatorRecord,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let sql = "INSERT INTO totp_factors (user_id, confirmed_at, last_used_step) VALUES ($1, $2, $3) \
                   ON CONFLICT (user_id) DO NOTHING";
        let inserted = sqlx::query(sql)
            .bind(user.to_string())
            .bind(seconds(first.created_at))
            .bind(first.last_used_step)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if inserted.rows_affected() != 1 {
            return Ok(false);
        }
        for table in ["authenticators", "totp_enrolments", "recovery_codes"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        insert_authenticator(&mut tx, user, first).await?;
        insert_recovery_codes(&mut tx, user, recovery_hashes).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn add_authenticator(
        &self,
        user: UserId,
        record: &AuthenticatorRecord,
        max: u32,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        if !lock_mfa_row(&mut tx, user).await? {
            return Ok(false);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authenticators WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        if count >= i64::from(max) {
            return Ok(false);
        }
        // The new authenticator's confirming step is spent for the user too.
        let sql = "UPDATE totp_factors SET last_used_step = $2 WHERE user_id = $1 AND last_used_step < $2";
        sqlx::query(sql)
            .bind(user.to_string())
            .bind(record.last_used_step)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_authenticator(&mut tx, user, record).await?;
        sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn list_authenticators(&self, user: UserId) -> Result<Vec<AuthenticatorRecord>, StoreError> {
        let sql = "SELECT id, name, secret_sealed, created_at, last_used_step, drift_steps, last_used_ip FROM authenticators \
                   WHERE user_id = $1 ORDER BY created_at, id";
        let rows = sqlx::query(sql).bind(user.to_string()).fetch_all(&self.pool).await.map_err(unavailable)?;
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
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // Serialised on the MFA row: two removals at once cannot take the last two.
        if !lock_mfa_row(&mut tx, user).await? {
            return Ok(false);
        }
        let sql = "DELETE FROM authenticators WHERE id = $1 AND user_id = $2 \
                   AND (SELECT COUNT(*) FROM authenticators WHERE user_id = $2) > 1";
        let done =
            sqlx::query(sql).bind(id.as_str()).bind(user.to_string()).execute(&mut *tx).await.map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_totp_step(
        &self,
        user: UserId,
        authenticator: &AuthenticatorId,
        step: i64,
        drift: i64,
        ip: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // The per-user step first: it takes the row lock, so of two uses of
        // one step (from any authenticators, in any processes) one wins.
        let used =
            sqlx::query("UPDATE totp_factors SET last_used_step = $1 WHERE user_id = $2 AND last_used_step < $1")
                .bind(step)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
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
            .map_err(unavailable)?;
        if mine.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_totp_factor(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let deleted = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        for table in ["authenticators", "recovery_codes", "trusted_devices", "totp_enrolments"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, user: UserId) -> Result<Vec<RecoveryCodeRecord>, StoreError> {
        let sql = "SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY id";
        let rows = sqlx::query(sql).bind(user.to_string()).fetch_all(&self.pool).await.map_err(unavailable)?;
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
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&self, user: UserId, hashes: &[String]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // Locks the factor's row first: two replacements at once (or one racing
        // a removal of the factor) run one after the other, on both databases.
        if !lock_mfa_row(&mut tx, user).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_recovery_codes(&mut tx, user, hashes).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn insert_pending_sign_in(
        &self,
        record: &PendingSignInRecord,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at <= $1")
            .bind(seconds(now))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let sql = format!("INSERT INTO pending_sign_ins ({PENDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        sqlx::query(&sql)
            .bind(&record.token_hash)
            .bind(record.user_id.to_string())
            .bind(&record.csrf_token)
            .bind(seconds(record.expires_at))
            .bind(i64::from(record.failures))
            .bind(record.client.ip.clone())
            .bind(record.client.user_agent.clone())
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
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM pending_sign_ins WHERE token_hash = $1 AND expires_at > $2 AND failures < $3"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(seconds(now))
            .bind(i64::from(max_failures))
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
            .map_err(unavailable)?;
        row.as_ref().map(pending_sign_in).transpose()
    }

    async fn delete_pending_sign_ins(&self, user: UserId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_sign_ins WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_pending_sign_in(&self, token_hash: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM pending_sign_ins WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(seconds(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_trusted_device(&self, record: &TrustedDeviceRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
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
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
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
            .map_err(unavailable)?;
        Ok(found.is_some())
    }

    async fn list_trusted_devices(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<TrustedDeviceRecord>, StoreError> {
        let sql = "SELECT id, user_id, token_hash, created_at, expires_at, ip, user_agent FROM trusted_devices \
                   WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id";
        let rows = sqlx::query(sql)
            .bind(user.to_string())
            .bind(seconds(now))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
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
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_trusted_devices(&self, user: UserId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn delete_all_trusted_devices(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM trusted_devices").execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn latest_event_kind(&self, user: UserId, kinds: &[EventKind]) -> Result<Option<EventKind>, StoreError> {
        let placeholders: Vec<String> = (2..kinds.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT kind FROM security_events WHERE user_id = $1 AND kind IN ({}) ORDER BY id DESC LIMIT 1",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_scalar(&sql).bind(user.to_string());
        for kind in kinds {
            query = query.bind(kind.as_str());
        }
        let latest: Option<String> = query.fetch_optional(&self.pool).await.map_err(unavailable)?;
        Ok(latest.and_then(|name| EventKind::parse(&name)))
    }

    async fn reserve_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Reservation, StoreError> {
        let sql = count_attempt_sql(policy, "WHERE throttles.blocked_until <= $2 AND throttles.failures < $4");
        // A refusal is explained by a second read; if a success cleared the
        // key in between, the attempt is simply tried again.
        for _ in 0..3 {
            let granted: Option<i64> = sqlx::query_scalar(&sql)
                .bind(key)
                .bind(seconds(now))
                .bind(i64::from(policy.free))
                .bind(policy.lock_after.map_or(NEVER, i64::from))
                .bind(policy.forget_after.map_or(NEVER, |d| d.whole_seconds()))
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            if let Some(failures) = granted {
                return Ok(Reservation::Granted { failures: u32::try_from(failures).unwrap_or(u32::MAX) });
            }
            let row = sqlx::query("SELECT failures, blocked_until FROM throttles WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            if let Some(row) = row {
                let failures = count(&row, "failures")?;
                let locked = policy.lock_after.is_some_and(|lock| failures >= lock);
                let blocked_until = if locked { None } else { Some(instant(&row, "blocked_until")?) };
                return Ok(Reservation::Refused { blocked_until });
            }
        }
        Err(StoreError::Unavailable("a throttle key keeps changing".into()))
    }

    async fn count_failure(&self, key: &str, now: OffsetDateTime, policy: &Policy) -> Result<(), StoreError> {
        let sql = count_attempt_sql(policy, "");
        sqlx::query(&sql)
            .bind(key)
            .bind(seconds(now))
            .bind(i64::from(policy.free))
            .bind(policy.lock_after.map_or(NEVER, i64::from))
            .bind(policy.forget_after.map_or(NEVER, |d| d.whole_seconds()))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttles WHERE key = $1").bind(key).execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }

    async fn blocked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT blocked_until FROM throttles WHERE key = $1 AND blocked_until > $2")
                .bind(key)
                .bind(seconds(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        until
            .map(|t| OffsetDateTime::from_unix_timestamp(t).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn reseal_secrets(
        &self,
        reseal: &(dyn for<'s> Fn(UserId, &'s [u8]) -> Option<Vec<u8>> + Send + Sync),
        key_check: &[u8],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut resealed = 0u64;
        for (table, key) in [("authenticators", "id"), ("totp_enrolments", "user_id")] {
            let rows = sqlx::query(&format!("SELECT {key} AS row_key, user_id, secret_sealed FROM {table}"))
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
            for row in &rows {
                let user = user_id(row, "user_id")?;
                let sealed: Vec<u8> = row.try_get("secret_sealed").map_err(corrupt)?;
                let fresh = reseal(user, &sealed)
                    .ok_or_else(|| StoreError::Corrupt(format!("the secret of user {user} does not open")))?;
                sqlx::query(&format!("UPDATE {table} SET secret_sealed = $1 WHERE {key} = $2"))
                    .bind(fresh)
                    .bind(row.try_get::<String, _>("row_key").map_err(corrupt)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                resealed += 1;
                if resealed % 1000 == 0 {
                    tracing::info!(resealed, "re-encrypting TOTP secrets");
                }
            }
        }
        sqlx::query("UPDATE meta SET value = $1 WHERE key = 'key_check'")
            .bind(key_check.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(resealed)
    }

    async fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        // Appends are serialised, so no two writers read the same last hash:
        // SQLite takes its write lock up front, PostgreSQL an advisory lock
        // held until commit.
        let mut tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .map_err(unavailable)?;
        if self.dialect == Dialect::Postgres {
            // A stuck holder must not stall every process's appends for long.
            sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut *tx).await.map_err(unavailable)?;
            sqlx::query("SELECT CAST(pg_advisory_xact_lock(7205759403792793) AS TEXT)")
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let prev: Option<String> = sqlx::query_scalar("SELECT hash FROM security_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let hash = chain_hash(&prev, event);
        let sql = "INSERT INTO security_events (user_id, kind, at, ip, user_agent, prev_hash, hash) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        sqlx::query(sql)
            .bind(event.user_id.to_string())
            .bind(event.kind.as_str())
            .bind(seconds(event.at))
            .bind(event.client.ip.clone())
            .bind(event.client.user_agent.clone())
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn chained_events(&self, after: i64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        let sql = "SELECT id, user_id, kind, at, ip, user_agent, prev_hash, hash FROM security_events \
                   WHERE id > $1 ORDER BY id LIMIT $2";
        let rows =
            sqlx::query(sql).bind(after).bind(i64::from(limit)).fetch_all(&self.pool).await.map_err(unavailable)?;
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
        let sql = "SELECT user_id, kind, at, ip, user_agent FROM security_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2";
        let rows = sqlx::query(sql)
            .bind(user.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(event_record).collect()
    }
}
