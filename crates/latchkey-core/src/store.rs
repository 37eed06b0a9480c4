//! The storage port: what the services need from a database, nothing more.
//!
//! Each store crate implements [`Store`] in its own dialect. Anything that two
//! processes could race on is decided inside the database (unique constraints,
//! conditional updates), never by a read followed by a write here.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Email, User, UserId, Username};
use crate::sessions::SessionRecord;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken; names the field (`username`, `email`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database cannot be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be read back (a bug or a damaged database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A user row about to be written.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    /// The user as it will be shown.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A user row with its password hash, for sign-in.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// Persistence for accounts and sessions.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Reads a value of the store's own metadata.
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a metadata value unless one exists; true when this call wrote it.
    async fn put_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, StoreError>;

    /// Inserts a user; a taken username or email is [`StoreError::Conflict`].
    async fn insert_user(&self, record: &NewUserRecord) -> Result<(), StoreError>;
    /// The user with this (folded) username.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this (folded) email.
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this id.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Inserts a session; deletes the user's sessions that died before `now`.
    async fn insert_session(&self, record: &SessionRecord, idle_cutoff: OffsetDateTime) -> Result<(), StoreError>;
    /// The live session with this token hash, its `last_seen_at` moved to `now`
    /// in the same statement. Live: seen after `idle_cutoff`, expiring after `now`.
    async fn touch_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// The user's live sessions, newest first.
    async fn list_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes one of the user's sessions; false when there was none.
    async fn delete_session(&self, user: UserId, session_id: &str) -> Result<bool, StoreError>;
}
