//! Reading rows back into the core's records, and the store's error mapping:
//! a value that does not read back is [`StoreError::Corrupt`], never a guess.

use latchkey_core::events::{EventKind, EventRecord};
use latchkey_core::sessions::{ClientInfo, Factor, SessionRecord};
use latchkey_core::store::{PendingSignInRecord, StoreError, UserRecord};
use latchkey_core::{Email, GroupName, PublicId, User, UserId, Username};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

/// A driver error as the port reports it: the database could not be reached
/// or refused (details for the log, never for a client).
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// `.or_unavailable()?` on every driver call: one name for the one mapping.
pub(crate) trait OrUnavailable<T> {
    /// The driver's error as [`StoreError::Unavailable`].
    fn or_unavailable(self) -> Result<T, StoreError>;
}

impl<T> OrUnavailable<T> for Result<T, sqlx::Error> {
    fn or_unavailable(self) -> Result<T, StoreError> {
        self.map_err(unavailable)
    }
}

/// Maps a unique-constraint failure to the field it protects (PostgreSQL
/// names the constraint `users_username_key`, SQLite says `users.username`).
pub(crate) fn conflict_or_unavailable(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            let what = db.constraint().unwrap_or_else(|| db.message()).to_string();
            for field in ["username", "email", "credential_id"] {
                if what.contains(field) {
                    return StoreError::Conflict(field);
                }
            }
        }
    }
    unavailable(e)
}

pub(crate) fn seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn corrupt(e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// An optional instant (Unix seconds or `NULL`).
pub(crate) fn maybe_instant(row: &AnyRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let secs: Option<i64> = row.try_get(column).map_err(corrupt)?;
    secs.map(|s| OffsetDateTime::from_unix_timestamp(s).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}

pub(crate) fn instant(row: &AnyRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    let secs: i64 = row.try_get(column).map_err(corrupt)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn user_id(row: &AnyRow, column: &str) -> Result<UserId, StoreError> {
    let text: String = row.try_get(column).map_err(corrupt)?;
    Uuid::parse_str(&text).map(UserId).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A flag kept as 0 or 1.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(column).map_err(corrupt)? != 0)
}

pub(crate) fn count(row: &AnyRow, column: &str) -> Result<u32, StoreError> {
    let n: i64 = row.try_get(column).map_err(corrupt)?;
    u32::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) const USER_COLUMNS: &str = "id, username, email, email_verified_at, password_hash, created_at, locked_at, \
    CAST(CASE WHEN EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id) THEN 1 ELSE 0 END AS BIGINT) \
    AS mfa_enabled, (SELECT string_agg(m.group_name, ',') FROM group_members m WHERE m.user_id = users.id) AS group_names";

/// The user's groups, read in the same statement as the user (`string_agg`,
/// which SQLite has since 3.44): a comma-joined column, `NULL` for none.
/// Group names hold no comma.
pub(crate) fn groups(row: &AnyRow) -> Result<Vec<GroupName>, StoreError> {
    let joined: Option<String> = row.try_get("group_names").map_err(corrupt)?;
    let mut groups: Vec<GroupName> =
        joined.iter().flat_map(|j| j.split(',')).map(|g| GroupName::from_trusted(g.to_string())).collect();
    groups.sort();
    Ok(groups)
}

pub(crate) fn user_record(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let mfa: i64 = row.try_get("mfa_enabled").map_err(corrupt)?;
    Ok(UserRecord {
        user: User {
            id: user_id(row, "id")?,
            username: Username::from_trusted(row.try_get("username").map_err(corrupt)?),
            email: Email::from_trusted(row.try_get("email").map_err(corrupt)?),
            email_verified: row.try_get::<Option<i64>, _>("email_verified_at").map_err(corrupt)?.is_some(),
            mfa_enabled: mfa != 0,
            locked: row.try_get::<Option<i64>, _>("locked_at").map_err(corrupt)?.is_some(),
            created_at: instant(row, "created_at")?,
            groups: groups(row)?,
        },
        password_hash: row.try_get("password_hash").map_err(corrupt)?,
    })
}

/// The user's columns when read joined as `u` to what names the user (a
/// session, an app token): everything [`joined_user`] reads, in one read.
pub(crate) const JOINED_USER_COLUMNS: &str =
    "u.username, u.email, u.email_verified_at, u.created_at AS user_created_at, \
    u.locked_at, \
    CAST(CASE WHEN EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = u.id) THEN 1 ELSE 0 END AS BIGINT) \
    AS mfa_enabled, (SELECT string_agg(m.group_name, ',') FROM group_members m WHERE m.user_id = u.id) AS group_names";

/// The user `id` of a row holding [`JOINED_USER_COLUMNS`].
pub(crate) fn joined_user(row: &AnyRow, id: UserId) -> Result<User, StoreError> {
    let mfa: i64 = row.try_get("mfa_enabled").map_err(corrupt)?;
    Ok(User {
        id,
        username: Username::from_trusted(row.try_get("username").map_err(corrupt)?),
        email: Email::from_trusted(row.try_get("email").map_err(corrupt)?),
        email_verified: row.try_get::<Option<i64>, _>("email_verified_at").map_err(corrupt)?.is_some(),
        mfa_enabled: mfa != 0,
        locked: row.try_get::<Option<i64>, _>("locked_at").map_err(corrupt)?.is_some(),
        created_at: instant(row, "user_created_at")?,
        groups: groups(row)?,
    })
}

pub(crate) const SESSION_COLUMNS: &str =
    "id, user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent, factors, proven_at";

/// A session's factors as stored: their words, comma-separated.
pub(crate) fn factor_words(factors: &[Factor]) -> String {
    factors.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
}

fn factors(row: &AnyRow) -> Result<Vec<Factor>, StoreError> {
    let words: String = row.try_get("factors").map_err(corrupt)?;
    words
        .split(',')
        .map(|word| Factor::parse(word).ok_or_else(|| StoreError::Corrupt(format!("unknown session factor {word:?}"))))
        .collect()
}

pub(crate) fn session_record(row: &AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: public_id(row, "id")?,
        user_id: user_id(row, "user_id")?,
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        csrf_token: row.try_get("csrf_token").map_err(corrupt)?,
        created_at: instant(row, "created_at")?,
        last_seen_at: instant(row, "last_seen_at")?,
        expires_at: instant(row, "expires_at")?,
        client: client(row)?,
        factors: factors(row)?,
        proven_at: instant(row, "proven_at")?,
        password_fingerprint: None,
    })
}

pub(crate) const PENDING_COLUMNS: &str =
    "token_hash, user_id, csrf_token, expires_at, failures, ip, user_agent, password_fingerprint";

pub(crate) fn pending_sign_in(row: &AnyRow) -> Result<PendingSignInRecord, StoreError> {
    Ok(PendingSignInRecord {
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        user_id: user_id(row, "user_id")?,
        csrf_token: row.try_get("csrf_token").map_err(corrupt)?,
        expires_at: instant(row, "expires_at")?,
        failures: count(row, "failures")?,
        client: client(row)?,
        password_fingerprint: row.try_get("password_fingerprint").map_err(corrupt)?,
    })
}

pub(crate) fn event_record(row: &AnyRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        user_id: user_id(row, "user_id")?,
        kind: event_kind(row)?,
        at: instant(row, "at")?,
        client: client(row)?,
    })
}

/// A public id column, typed by what it names.
pub(crate) fn public_id<K>(row: &AnyRow, column: &str) -> Result<PublicId<K>, StoreError> {
    row.try_get::<String, _>(column).map(PublicId::from).map_err(corrupt)
}

/// A stored kind no version of Latchkey wrote is damage, not an event to show.
pub(crate) fn event_kind(row: &AnyRow) -> Result<EventKind, StoreError> {
    let name: String = row.try_get("kind").map_err(corrupt)?;
    EventKind::parse(&name).ok_or_else(|| StoreError::Corrupt(format!("unknown event kind {name:?}")))
}

pub(crate) fn client(row: &AnyRow) -> Result<ClientInfo, StoreError> {
    Ok(ClientInfo { ip: row.try_get("ip").map_err(corrupt)?, user_agent: row.try_get("user_agent").map_err(corrupt)? })
}
