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

mod app_tokens;
mod copy;
mod email;
mod events;
mod groups;
mod meta;
mod mfa;
mod oidc;
mod passkeys;
mod rows;
mod sessions;
mod throttle;
mod users;

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use latchkey_core::store::StoreError;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions as _, Connection as _, Executor as _};

use crate::rows::OrUnavailable;

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
    /// The database's clock now, in Unix seconds, as an SQL expression: one
    /// clock for every process (the machines' may disagree).
    pub(crate) fn now_seconds(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
            // The statement's time, not the transaction's (which may have waited for a lock).
            Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS BIGINT)",
        }
    }

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

/// The file an `sqlite:` URL names (without its `?options`); `None` for
/// any other URL.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(std::path::PathBuf::from(path.split('?').next().unwrap_or(path)))
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
            .or_unavailable()?;
        Ok(SqlStore { pool, dialect })
    }

    /// Opens a store that must already exist (an SQLite file is not created),
    /// e.g. the source of a copy, where a mistyped path must not pass as an
    /// empty store.
    pub async fn open_existing(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if let Some(path) = sqlite_path(url) {
            if !path.is_file() {
                return Err(StoreError::Unavailable(format!("there is no SQLite store at {}", path.display())));
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
        // Absolute, so that SQLite (which opens with URIs allowed) never reads
        // a name such as `file:copy.db` as a URI and writes somewhere else.
        let file = std::path::absolute(file).map_err(|e| StoreError::Unavailable(format!("the backup path: {e}")))?;
        // VACUUM INTO fills an empty file and keeps its mode: a copy of every
        // password hash and sealed secret is born readable by its owner only.
        create_private_file(&file)?;
        let copied = self.copy_and_check(&file).await;
        if copied.is_err() {
            // An empty or unchecked file must not block the next try.
            let _ = std::fs::remove_file(&file);
        }
        copied
    }

    async fn copy_and_check(&self, file: &std::path::Path) -> Result<(), StoreError> {
        let path = file.to_str().ok_or_else(|| StoreError::Unavailable("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await.or_unavailable()?;
        let mut copy = SqliteConnectOptions::new().filename(file).read_only(true).connect().await.or_unavailable()?;
        let verdict: String =
            sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut copy).await.or_unavailable()?;
        copy.close().await.or_unavailable()?;
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
    if let Some(path) = sqlite_path(url) {
        make_private(&path)?;
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let conn = options.connect().await.or_unavailable()?;
    conn.close().await.or_unavailable()
}

/// The store's files hold password hashes and sealed secrets: readable by
/// their owner only, whatever the umask. A new database file is made 0600
/// before SQLite opens it, and SQLite gives its WAL and shared-memory files
/// the database file's mode. Existing files lose their group and other bits;
/// where that is not allowed (a file of another owner, a filesystem without
/// modes) a warning says so and the store still opens.
fn make_private(database: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(database) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", database.display()))),
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", database.display()));
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700)) {
                    tracing::warn!(path = %file.display(), error = %e, "a store file is open to other users and cannot be made private");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = database;
    Ok(())
}

/// Creates `file`, empty and readable by its owner only, for a backup to
/// fill; an existing file is an error (a backup never overwrites).
fn create_private_file(file: &std::path::Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file).map(drop).map_err(|e| StoreError::Unavailable(format!("{}: {e}", file.display())))
}

/// Deletes the user's rows of each table inside `tx`; returns how many rows
/// each table lost, in order. Table names come from this crate, never from a
/// request.
async fn delete_user_rows<const N: usize>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: latchkey_core::UserId,
    tables: [&str; N],
) -> Result<[u64; N], StoreError> {
    let mut deleted = [0; N];
    for (table, count) in tables.iter().zip(deleted.iter_mut()) {
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user.to_string())
            .execute(&mut **tx)
            .await
            .or_unavailable()?;
        *count = done.rows_affected();
    }
    Ok(deleted)
}

impl SqlStore {
    /// A transaction that reads before it writes: on SQLite it takes the
    /// write lock up front (a read snapshot cannot be upgraded once another
    /// connection wrote), on PostgreSQL the row locks it takes do.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .or_unavailable()
    }
}

/// Takes the user's row for the rest of `tx` (a no-op write): the steps
/// that must not interleave for one user (a password-only session being
/// written, MFA being turned on) each take it first. On SQLite every write
/// transaction is serialised anyway; on PostgreSQL this is the row lock.
async fn lock_user_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: latchkey_core::UserId,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET locked_at = locked_at WHERE id = $1")
        .bind(user.to_string())
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    Ok(())
}
