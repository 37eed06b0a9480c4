//! The storage port: what the services need from a database, nothing more.
//!
//! Each store crate implements [`Store`] in its own dialect. Anything that two
//! processes could race on is decided inside the database (unique constraints,
//! conditional updates), never by a read followed by a write here.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    AppTokenId, AppTokenScope, AuthenticatorId, Email, GroupName, PasskeyId, SessionId, TrustedDeviceId, User, UserId,
    Username,
};
use crate::events::{ChainKey, ChainedEvent, EventKind, EventRecord};
use crate::oidc::authorize::CodeRecord;
use crate::oidc::clients::ClientRecord;
use crate::oidc::keys::SigningKeyRecord;
use crate::sessions::{ClientInfo, SessionRecord};
use crate::throttle::Policy;

/// What writing a session found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// Written.
    Written,
    /// Not written: MFA was turned on meanwhile, and the sign-in passed no second factor.
    MfaIsOn,
    /// Not written: the password the sign-in checked was changed or reset meanwhile.
    PasswordChanged,
}

/// What reserving an attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted; this many consecutive failures, this attempt included.
    Granted {
        /// The count after this attempt.
        failures: u32,
    },
    /// Not counted: blocked until then, or locked (`None`).
    Refused {
        /// When the next attempt is allowed; `None` when locked.
        blocked_until: Option<OffsetDateTime>,
    },
}

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

/// A password reset link as stored: never the token, only its hash.
#[derive(Debug, Clone)]
pub struct PasswordResetRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Whose password it resets.
    pub user_id: UserId,
    /// SHA-256 of the password hash it was issued under.
    pub password_fingerprint: String,
    /// Dies at this instant.
    pub expires_at: OffsetDateTime,
}

/// What a mailed email link proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailLinkPurpose {
    /// That the owner reads the account's present address.
    Verify,
    /// That the owner reads the address the account is to change to.
    Change,
}

impl EmailLinkPurpose {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailLinkPurpose::Verify => "verify",
            EmailLinkPurpose::Change => "change",
        }
    }
}

/// An email link as stored: never the token, only its hash.
#[derive(Debug, Clone)]
pub struct EmailLinkRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Whose account.
    pub user_id: UserId,
    /// The address it was mailed to, and proves.
    pub email: Email,
    /// What it proves.
    pub purpose: EmailLinkPurpose,
    /// Dies at this instant.
    pub expires_at: OffsetDateTime,
}

/// What opening an email link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailLinkUse {
    /// The account's present address is verified from now.
    Verified(UserId),
    /// The account's address changed from `old` to the link's, verified.
    Changed {
        /// Whose.
        user: UserId,
        /// The address it had.
        old: Email,
    },
    /// Nothing changed: the link is unknown, used or expired, or proves an
    /// address the account no longer has.
    Dead,
}

/// A user row with its password hash, for sign-in.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// One of a user's confirmed authenticators (a TOTP app or token).
#[derive(Debug, Clone)]
pub struct AuthenticatorRecord {
    /// Public id (for listing and removing).
    pub id: AuthenticatorId,
    /// The name its owner gave it ("Pixel").
    pub name: String,
    /// The secret, sealed under the server key with the user id as associated data.
    pub secret_sealed: Vec<u8>,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// The last step accepted from this authenticator.
    pub last_used_step: i64,
    /// Its clock offset in steps, learned from accepted codes.
    pub drift_steps: i64,
    /// The address its last accepted code came from (a replay names it).
    pub last_used_ip: Option<String>,
}

/// One stored recovery code.
#[derive(Debug, Clone)]
pub struct RecoveryCodeRecord {
    /// Row id, to spend exactly this code.
    pub id: i64,
    /// Argon2id PHC string of the normalised code.
    pub code_hash: String,
}

/// A sign-in that passed the password and waits for the second factor.
#[derive(Debug, Clone)]
pub struct PendingSignInRecord {
    /// SHA-256 of the `mfa_token` (or the pending cookie).
    pub token_hash: String,
    /// Who is signing in.
    pub user_id: UserId,
    /// The CSRF token of the code form.
    pub csrf_token: String,
    /// Dies at this instant.
    pub expires_at: OffsetDateTime,
    /// Wrong codes so far.
    pub failures: u32,
    /// Where the password was typed.
    pub client: ClientInfo,
    /// SHA-256 of the password hash the password step checked: the session
    /// the code step makes is written only while it is still the user's.
    pub password_fingerprint: String,
}

/// A browser the user chose to trust: signing in there skips the code.
#[derive(Debug, Clone)]
pub struct TrustedDeviceRecord {
    /// Public id (for listing and forgetting).
    pub id: TrustedDeviceId,
    /// Whose.
    pub user_id: UserId,
    /// SHA-256 of the cookie's token.
    pub token_hash: String,
    /// When it was trusted.
    pub created_at: OffsetDateTime,
    /// When the trust ends.
    pub expires_at: OffsetDateTime,
    /// Where it was trusted from.
    pub client: ClientInfo,
}

/// A `latchkey serve` process using the store, as it last said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingProcess {
    /// A random id, new each start.
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// The address it listens on.
    pub listen: String,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// When it last said it was still serving.
    pub seen_at: OffsetDateTime,
}

/// Re-encrypts one sealed secret under a new key: takes the associated
/// data it was sealed with and the sealed bytes; `None` when it does not open.
pub type Reseal<'a> = dyn for<'s> Fn(&'s [u8], &'s [u8]) -> Option<Vec<u8>> + Send + Sync + 'a;

/// What a re-encryption of every sealed secret did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resealed {
    /// Every secret is under the new key; this many were re-encrypted.
    Done(u64),
    /// Nothing changed: these processes serve the store with the old key.
    StillServing(Vec<ServingProcess>),
}

/// The store's own metadata and health.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Connections the store holds: (open, idle), if it pools them.
    fn connections(&self) -> Option<(u32, usize)> {
        None
    }

    /// Reads a value of the store's own metadata.
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a metadata value unless one exists; true when this call wrote it.
    async fn put_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, StoreError>;

    /// Records that `process` serves the store (its `seen_at` is the
    /// database's clock now, whatever the record says), serialised with
    /// [`MfaStore::reseal_secrets`]: a process that registers first is seen
    /// by a rotation; one that registers after finds the new key check.
    /// Forgets processes not seen for a day.
    async fn heartbeat_process(&self, process: &ServingProcess) -> Result<(), StoreError>;
    /// Forgets a process that stopped serving.
    async fn forget_process(&self, id: &str) -> Result<(), StoreError>;
}

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts a user; a taken username or email is [`StoreError::Conflict`].
    async fn insert_user(&self, record: &NewUserRecord) -> Result<(), StoreError>;
    /// The user with this (folded) username.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this (folded) email.
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this id.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Users ordered by username, after `after` (a username), at most `limit`.
    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError>;
    /// Locks (`Some`) or unlocks (`None`) an account; false when there is no such user.
    async fn set_user_locked(&self, user: UserId, locked_at: Option<OffsetDateTime>) -> Result<bool, StoreError>;
    /// Writes a new password hash and ends every other session and every
    /// pending sign-in of the user, in one transaction: returns how many
    /// sessions ended, or `None` when there is no such user.
    async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: &SessionId,
    ) -> Result<Option<u64>, StoreError>;
    /// Stores a password reset link; deletes the ones that died before `now`.
    async fn insert_password_reset(&self, record: &PasswordResetRecord, now: OffsetDateTime) -> Result<(), StoreError>;
    /// The live reset link with this token hash (not expired at `now`), and its user.
    async fn find_password_reset(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(PasswordResetRecord, UserRecord)>, StoreError>;
    /// Uses a reset link, in one transaction: takes it (of two racing uses,
    /// one), and only while it is alive at `now` and the user's password is
    /// still the one it was issued under, writes `password_hash` and ends
    /// every session, trusted browser, pending sign-in, app token and other
    /// reset link of the user. Returns whose password it reset, or `None` (nothing
    /// changed) when the link is dead.
    async fn complete_password_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError>;
    /// Deletes an account, in one transaction: every row that names the
    /// user (sessions, factors, recovery codes, passkeys, trusted browsers,
    /// tokens, memberships, pending flows) and the user's row, which frees
    /// the username and the address. The security log keeps its events,
    /// which name the user by id only. False when there is no such user.
    async fn delete_user(&self, user: UserId) -> Result<bool, StoreError>;
    /// Locks an account as an operator does, in one transaction: marks it
    /// locked and ends its sessions, pending sign-ins and trusted browsers.
    /// Returns how many sessions ended; `None` when there is no such user.
    async fn lock_user(&self, user: UserId, at: OffsetDateTime) -> Result<Option<u64>, StoreError>;
}

/// The links that prove an owner reads an address (contract section 6).
#[async_trait]
pub trait EmailLinkStore: Send + Sync + 'static {
    /// Stores a link, replacing the user's other links of the same purpose
    /// (the newest one works); deletes the links that died before `now`.
    async fn insert_email_link(&self, record: &EmailLinkRecord, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Uses a link alive at `now`, in one transaction: takes it (of two
    /// racing uses, one). A verification link verifies the account's
    /// address while it is still the one it was mailed to; a change link
    /// makes its address the account's, verified, and ends the user's other
    /// links and password reset links (they went to the old address). An
    /// address another account took meanwhile is [`StoreError::Conflict`]
    /// (`email`), and nothing changes.
    async fn use_email_link(&self, token_hash: &str, now: OffsetDateTime) -> Result<EmailLinkUse, StoreError>;
    /// The address a live change link of the user proves, if one waits.
    async fn pending_email_change(&self, user: UserId, now: OffsetDateTime) -> Result<Option<Email>, StoreError>;
}

/// An OpenID Connect access token as stored: never the token, only its hash.
#[derive(Debug, Clone)]
pub struct AccessTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// SHA-256 of the code it was issued for (a second use of the code revokes it).
    pub grant_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Whose.
    pub user_id: UserId,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Dies at this instant.
    pub expires_at: OffsetDateTime,
}

/// An OpenID Connect refresh token as stored: never the token, only its hash.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The grant it descends from (the code's hash): a reuse revokes them all.
    pub family: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Whose.
    pub user_id: UserId,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// When the user signed in for the grant.
    pub auth_time: OffsetDateTime,
    /// What that sign-in passed (RFC 8176 words).
    pub amr: Vec<String>,
    /// Dies at this instant.
    pub expires_at: OffsetDateTime,
}

/// The tokens one exchange issues: written in the transaction that spends
/// the code or refresh token they are issued for, so a second use racing it
/// finds them to revoke.
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    /// The access token.
    pub access: &'a AccessTokenRecord,
    /// The next refresh token, with `offline_access`.
    pub refresh: Option<&'a RefreshTokenRecord>,
}

/// What spending a code or a refresh token found.
#[derive(Debug, Clone)]
pub enum Spend<T> {
    /// Spent now, by its client, alive: what it was issued for.
    Taken(Box<T>),
    /// Spent before: the tokens of its grant (for a refresh token, its
    /// whole family) are revoked now.
    Reused {
        /// Whose it was.
        user: UserId,
        /// Tokens revoked.
        revoked: u64,
    },
    /// Unknown, expired, revoked, or another client's.
    Dead,
}

impl<T> Spend<T> {
    /// The same finding with what was taken read into a `U` (a store reads
    /// its row into the record).
    pub fn try_map<U, E>(self, read: impl FnOnce(T) -> Result<U, E>) -> Result<Spend<U>, E> {
        Ok(match self {
            Spend::Taken(taken) => Spend::Taken(Box::new(read(*taken)?)),
            Spend::Reused { user, revoked } => Spend::Reused { user, revoked },
            Spend::Dead => Spend::Dead,
        })
    }

    /// For a second use: whose it was, and how many tokens it revoked.
    pub fn second_use(&self) -> Option<(UserId, u64)> {
        match self {
            Spend::Reused { user, revoked } => Some((*user, *revoked)),
            _ => None,
        }
    }
}

/// What spending an authorization code found.
pub type CodeUse = Spend<CodeRecord>;

/// What spending a refresh token found.
pub type RefreshUse = Spend<RefreshTokenRecord>;

/// The OpenID Connect provider's keys, clients, consents, codes and tokens.
#[async_trait]
pub trait OidcStore: Send + Sync + 'static {
    /// The scopes `user` let `client_id` have, if ever.
    async fn consented_scopes(&self, user: UserId, client_id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Records (or widens) what `user` let `client_id` have.
    async fn save_consent(
        &self,
        user: UserId,
        client_id: &str,
        scopes: &[String],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The clients `user` let in: (client id, scopes, when), newest first.
    async fn list_consents(&self, user: UserId) -> Result<Vec<(String, Vec<String>, OffsetDateTime)>, StoreError>;
    /// Ends what `client_id` holds for `user`, in one transaction: the
    /// consent, codes, access and refresh tokens. False when it held nothing.
    async fn revoke_client_access(&self, user: UserId, client_id: &str) -> Result<bool, StoreError>;
    /// Stores a code; deletes the codes and access tokens that died long before `now`.
    async fn insert_code(&self, record: &CodeRecord, now: OffsetDateTime) -> Result<(), StoreError>;
    /// The live, unspent code with this hash of `client_id` (a read: its
    /// checks come before it is spent).
    async fn find_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CodeRecord>, StoreError>;
    /// Spends a code of `client_id` and writes what it `issues`, in one
    /// transaction (of two racing uses, one). A code spent before revokes
    /// the tokens its grant issued ([`CodeUse::Reused`]).
    async fn spend_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
        issues: Option<Issued<'_>>,
    ) -> Result<CodeUse, StoreError>;
    /// The live, unspent refresh token with this hash of `client_id`.
    async fn find_refresh_token(
        &self,
        token_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// Spends a refresh token of `client_id` and writes what it `issues`, in
    /// one transaction (of two racing uses, one). One spent before revokes
    /// its whole family and their access tokens ([`RefreshUse::Reused`]).
    async fn spend_refresh_token(
        &self,
        token_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
        issues: Option<Issued<'_>>,
    ) -> Result<RefreshUse, StoreError>;
    /// Ends a token of `client_id`, in one transaction: a refresh token
    /// with its whole grant (the family and its access tokens), an access
    /// token alone. The token's user when something ended; `None` for a
    /// token unknown, dead already or another client's.
    async fn revoke_token(&self, token_hash: &str, client_id: &str) -> Result<Option<UserId>, StoreError>;
    /// The live access token with this hash, and its user.
    async fn find_access_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(AccessTokenRecord, User)>, StoreError>;
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a signing key unless its algorithm has one that signs already
    /// (another process made it first); true when this one was added.
    async fn add_signing_key(&self, record: &SigningKeyRecord) -> Result<bool, StoreError>;
    /// In one transaction: retires the signing keys at `at`, adds `fresh`,
    /// and deletes the keys retired before `forget_before`.
    async fn rotate_signing_keys(
        &self,
        fresh: &[SigningKeyRecord],
        at: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Adds a client; a taken id is [`StoreError::Conflict`] (`client`).
    async fn insert_client(&self, record: &ClientRecord) -> Result<(), StoreError>;
    /// Every client, by name.
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// The client with this id.
    async fn find_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Removes a client; false when there is none.
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
}

/// What adding a member to a group found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The user is a member from now.
    Added,
    /// The user was a member already; nothing changed.
    AlreadyMember,
    /// There is no such group; nothing changed.
    NoSuchGroup,
}

/// Groups of users.
#[async_trait]
pub trait GroupStore: Send + Sync + 'static {
    /// Every group with its number of members, by name.
    async fn list_groups(&self) -> Result<Vec<(GroupName, u64)>, StoreError>;
    /// Creates a group; a taken name is [`StoreError::Conflict`] (`group`).
    async fn create_group(&self, name: &GroupName, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Deletes a group with its memberships, in one transaction; the
    /// members it had, or `None` when there is no such group.
    async fn delete_group(&self, name: &GroupName) -> Result<Option<Vec<UserId>>, StoreError>;
    /// The members' usernames, sorted; `None` when there is no such group.
    async fn group_members(&self, name: &GroupName) -> Result<Option<Vec<Username>>, StoreError>;
    /// Adds the user to the group, in one statement.
    async fn add_group_member(
        &self,
        name: &GroupName,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Membership, StoreError>;
    /// Removes the user from the group; false when the user was not in it.
    async fn remove_group_member(&self, name: &GroupName, user: UserId) -> Result<bool, StoreError>;
}

/// An app token as stored: never the token, only its hash.
#[derive(Debug, Clone)]
pub struct AppTokenRecord {
    /// Public id (for listing and revoking).
    pub id: AppTokenId,
    /// Whose.
    pub user_id: UserId,
    /// The name its owner gave it.
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: String,
    /// What it may be used for.
    pub scopes: Vec<AppTokenScope>,
    /// Hosts (exact, or `*.` and a domain) it passes forward authentication
    /// for; empty: any.
    pub domains: Vec<String>,
    /// Whether the session that made it had passed a second factor.
    pub two_factor: bool,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops working; `None`: never.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// The address it was last used from.
    pub last_used_ip: Option<String>,
}

/// App tokens.
#[async_trait]
pub trait AppTokenStore: Send + Sync + 'static {
    /// Inserts a token unless the user has `max` already; false then.
    async fn insert_app_token(&self, record: &AppTokenRecord, max: u32) -> Result<bool, StoreError>;
    /// The user's tokens, newest first.
    async fn list_app_tokens(&self, user: UserId) -> Result<Vec<AppTokenRecord>, StoreError>;
    /// Deletes one of the user's tokens; false when the user has no such token.
    async fn delete_app_token(&self, user: UserId, id: &AppTokenId) -> Result<bool, StoreError>;
    /// The token with this hash, unexpired at `now`, with its user (and the
    /// user's groups), in one read.
    async fn find_app_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(AppTokenRecord, User)>, StoreError>;
    /// Records a use at `at` from `ip`. Returns true when this call is the
    /// one that changed the recorded address (one of several racing uses
    /// from a new address).
    async fn record_app_token_use(
        &self,
        id: &AppTokenId,
        at: OffsetDateTime,
        ip: Option<&str>,
    ) -> Result<bool, StoreError>;
}

/// Sessions, and the pending sign-ins that become them.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a session; deletes the user's sessions that died before `now`.
    /// Serialised on the user's row with [`MfaStore::confirm_totp`] and with
    /// every password change or reset: a session whose factors hold no
    /// second factor is written only while the user has MFA off, and one
    /// whose sign-in checked a password only while that password is still
    /// the user's (`record.password_fingerprint`); else nothing is written.
    async fn insert_session(
        &self,
        record: &SessionRecord,
        idle_cutoff: OffsetDateTime,
    ) -> Result<SessionWrite, StoreError>;
    /// The live session with this token hash (seen after `idle_cutoff`,
    /// expiring after `now`) and its user, in one read; its `last_seen_at`
    /// moved to `now` when it is older than `touch_before`: a busy session
    /// costs one read, not a write, per request.
    async fn touch_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
        touch_before: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError>;
    /// The user's live sessions, newest first.
    async fn list_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Records that the session proved the account again at `at` (a
    /// re-authentication); false when the session is gone.
    async fn mark_session_proven(&self, session_id: &SessionId, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Deletes one of the user's sessions; false when there was none.
    async fn delete_session(&self, user: UserId, session_id: &SessionId) -> Result<bool, StoreError>;
    /// "Everywhere else": deletes every session of the user but `keep` and
    /// forgets every trusted browser of the user, in one transaction;
    /// returns how many sessions went.
    async fn end_sessions_and_trust(&self, user: UserId, keep: Option<&SessionId>) -> Result<u64, StoreError>;

    /// Stores a pending sign-in; deletes those that expired before `now`.
    async fn insert_pending_sign_in(&self, record: &PendingSignInRecord, now: OffsetDateTime)
        -> Result<(), StoreError>;
    /// The pending sign-in with this token hash, if alive: not expired before
    /// `now` and fewer than `max_failures` wrong codes.
    async fn get_pending_sign_in(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<PendingSignInRecord>, StoreError>;
    /// Counts an attempt against a live pending sign-in before its code is
    /// checked (one conditional update, so parallel guesses cannot exceed
    /// `max_failures`); `None` when it is unknown, expired or used up.
    async fn claim_pending_attempt(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<PendingSignInRecord>, StoreError>;
    /// Deletes a pending sign-in that has not expired; true for exactly one
    /// caller, so it completes once.
    async fn take_pending_sign_in(&self, token_hash: &str, now: OffsetDateTime) -> Result<bool, StoreError>;
}

/// The MFA aggregate: enrolments, authenticators, recovery codes and trusted browsers.
#[async_trait]
pub trait MfaStore: Send + Sync + 'static {
    /// Stores (replacing any) the user's pending TOTP enrolment, started by `session`.
    async fn put_totp_enrolment(
        &self,
        user: UserId,
        session: &SessionId,
        secret_sealed: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The user's pending enrolment if `session` started it and it did not expire before `now`.
    async fn get_totp_enrolment(
        &self,
        user: UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether the user has a live pending enrolment that another session
    /// than `session` started (which replaced this session's, if any).
    async fn totp_enrolment_elsewhere(
        &self,
        user: UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// In one transaction, serialised on the user's row with
    /// [`SessionStore::insert_session`]: turns MFA on with `first` as the
    /// only authenticator (its step used), drops the pending enrolment,
    /// stores the recovery codes and ends every session of the user but
    /// `keep`. False when MFA is already on (a concurrent confirmation won).
    async fn confirm_totp(
        &self,
        user: UserId,
        first: &AuthenticatorRecord,
        recovery_hashes: &[String],
        keep: &SessionId,
    ) -> Result<bool, StoreError>;
    /// Adds an authenticator to a user with MFA on and drops the pending
    /// enrolment, unless the user already has `max` of them. False when MFA
    /// is off or the limit is reached (nothing is written).
    async fn add_authenticator(&self, user: UserId, record: &AuthenticatorRecord, max: u32)
        -> Result<bool, StoreError>;
    /// The user's authenticators, oldest first (none: MFA is off).
    async fn list_authenticators(&self, user: UserId) -> Result<Vec<AuthenticatorRecord>, StoreError>;
    /// Removes one of the user's authenticators unless it is the user's last
    /// factor (a passkey counts), serialised on the user's MFA row; false
    /// when there is no such authenticator or it is the last.
    async fn remove_authenticator(&self, user: UserId, id: &AuthenticatorId) -> Result<bool, StoreError>;
    /// Marks `step` used if it is later than the last step the user used with
    /// any authenticator, and records this authenticator's step and `drift`,
    /// and the address `ip` it came from, in one transaction; false means the
    /// step was used already (or there is no such authenticator).
    async fn use_totp_step(
        &self,
        user: UserId,
        authenticator: &AuthenticatorId,
        step: i64,
        drift: i64,
        ip: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Turns MFA off: removes every authenticator and passkey, the recovery
    /// codes and the trusted devices in one transaction; false when MFA was off.
    async fn delete_totp_factor(&self, user: UserId) -> Result<bool, StoreError>;
    /// The user's unspent recovery codes.
    async fn unused_recovery_codes(&self, user: UserId) -> Result<Vec<RecoveryCodeRecord>, StoreError>;
    /// Spends one of the user's recovery codes if it is still that code and
    /// unspent; false when it was spent or replaced meanwhile.
    async fn use_recovery_code(
        &self,
        user: UserId,
        code: &RecoveryCodeRecord,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Replaces all the user's recovery codes with new ones, serialised on the
    /// user's factor; false when the user has no factor (nothing is written).
    async fn replace_recovery_codes(&self, user: UserId, hashes: &[String]) -> Result<bool, StoreError>;

    /// Stores a trusted device, serialised on the user's MFA row so that it
    /// cannot outlive MFA being turned off at the same moment; false when
    /// the user has MFA off (nothing is written).
    async fn insert_trusted_device(&self, record: &TrustedDeviceRecord) -> Result<bool, StoreError>;
    /// Whether the token names a device of this user trusted until after `now`.
    async fn is_trusted_device(&self, user: UserId, token_hash: &str, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// The user's trusted devices, newest first.
    async fn list_trusted_devices(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<TrustedDeviceRecord>, StoreError>;
    /// Forgets one of the user's trusted devices; false when there was none.
    async fn delete_trusted_device(&self, user: UserId, id: &TrustedDeviceId) -> Result<bool, StoreError>;
    /// Forgets every trusted device of every user (trusting was turned off).
    async fn delete_all_trusted_devices(&self) -> Result<u64, StoreError>;

    /// The lost-device reset, in one transaction: MFA off (authenticators,
    /// passkeys, recovery codes, trusted browsers, a pending enrolment), every pending
    /// sign-in and every session of the user gone. Returns how many
    /// sessions ended, and whether MFA was on; when it was off, nothing
    /// changes at all.
    async fn reset_mfa(&self, user: UserId) -> Result<(u64, bool), StoreError>;

    /// Re-encrypts every sealed secret (TOTP secrets of authenticators and
    /// pending enrolments, under the user id's bytes; ID token signing keys,
    /// under [`crate::oidc::keys::sealing_context`]) with `reseal`, which
    /// takes the associated data and the sealed bytes, replaces the key check, and re-links the security
    /// log's chain from `chains.0` to `chains.1` (up to a break, which stays),
    /// all in one transaction serialised with appends and with
    /// [`MetaStore::heartbeat_process`]. Changes nothing when any process
    /// was seen serving within the last `serving_within` seconds (by the
    /// database's clock, which every process shares), or when a secret does
    /// not reseal ([`StoreError::Corrupt`]).
    async fn reseal_secrets(
        &self,
        reseal: &Reseal<'_>,
        key_check: &[u8],
        chains: (&ChainKey, &ChainKey),
        serving_within: i64,
    ) -> Result<Resealed, StoreError>;
}

/// A passkey as stored: its public key, never a secret.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    /// Public id (for listing, renaming and removing).
    pub id: PasskeyId,
    /// Whose.
    pub user_id: UserId,
    /// The credential id, base64url (what the browser names it by).
    pub credential_id: String,
    /// The name its owner gave it.
    pub name: String,
    /// The WebAuthn library's record of it (JSON): public key, counter, flags.
    pub credential: String,
    /// The signature counter last accepted (0: the authenticator keeps none).
    pub sign_count: u32,
    /// Whether it may be synced to other devices (a passkey manager's).
    pub backup_eligible: bool,
    /// Whether it is synced now.
    pub backed_up: bool,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// When it last signed someone in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// A WebAuthn ceremony begun and not yet finished.
#[derive(Debug, Clone)]
pub struct CeremonyRecord {
    /// SHA-256 of the challenge id (or of the pending sign-in's token).
    pub key: String,
    /// What it is for (`register`, `sign_in`, `second_factor`).
    pub purpose: String,
    /// The account it is for, when known at the start.
    pub user_id: Option<UserId>,
    /// What must finish it (the session that began a registration).
    pub bound_to: String,
    /// The library's state (JSON), challenge included.
    pub state: String,
    /// Dies at this instant.
    pub expires_at: OffsetDateTime,
}

/// What adding a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAdded {
    /// Added to an account that had MFA on already.
    Added,
    /// Added as the first factor: MFA is on from now.
    TurnedMfaOn,
    /// Not added: the user has as many as allowed.
    TooMany,
    /// Not added: MFA is off and no recovery codes came along (MFA was
    /// turned off since the caller looked); try again with codes.
    MfaIsOff,
}

/// Passkeys and the ceremonies that add and use them.
#[async_trait]
pub trait PasskeyStore: Send + Sync + 'static {
    /// Stores (replacing one under the same key) a ceremony; deletes those
    /// that died before `now`.
    async fn put_ceremony(&self, record: &CeremonyRecord, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Deletes and returns the live ceremony under `key` with this purpose,
    /// bound to `bound_to`: of two racing callers exactly one gets it.
    async fn take_ceremony(
        &self,
        key: &str,
        purpose: &str,
        bound_to: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CeremonyRecord>, StoreError>;
    /// Adds a passkey, serialised on the user's row, unless the user has
    /// `max` already. With MFA off it turns MFA on in the same transaction,
    /// as [`MfaStore::confirm_totp`] does: stores `recovery_hashes`, ends
    /// every session of the user but `keep`, and marks `keep` as having
    /// passed the passkey. A credential id already stored (any user's) is
    /// [`StoreError::Conflict`] (`credential_id`).
    async fn add_passkey(
        &self,
        record: &PasskeyRecord,
        recovery_hashes: &[String],
        keep: &SessionId,
        max: u32,
    ) -> Result<PasskeyAdded, StoreError>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// The passkey with this credential id, whoever's.
    async fn find_passkey(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError>;
    /// Records a use: the new library record, counter and backup state, and
    /// the time, only while the stored counter is still `previous_count` and
    /// below the new one (or both are 0). False when another use moved it
    /// first (nothing written).
    async fn record_passkey_use(&self, record: &PasskeyRecord, previous_count: u32) -> Result<bool, StoreError>;
    /// Renames one of the user's passkeys; false when there is no such passkey.
    async fn rename_passkey(&self, user: UserId, id: &PasskeyId, name: &str) -> Result<bool, StoreError>;
    /// Removes one of the user's passkeys unless it is the user's last
    /// factor (passkeys and authenticators together), serialised on the
    /// user's MFA row; false when there is no such passkey or it is the last.
    async fn remove_passkey(&self, user: UserId, id: &PasskeyId) -> Result<bool, StoreError>;
}

/// Throttle windows, keyed by what is throttled.
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// Counts an attempt on a throttle key in one atomic statement, unless the
    /// key is blocked or locked. Past `policy.free` failures it also starts the
    /// delay, in the same statement, so parallel attempts see it at once.
    async fn reserve_attempt(&self, key: &str, now: OffsetDateTime, policy: &Policy)
        -> Result<Reservation, StoreError>;
    /// Forgets the failures counted on a key.
    async fn clear_attempts(&self, key: &str) -> Result<(), StoreError>;
    /// Counts a failure on a key whatever its state (a failure seen after
    /// the fact, even while delayed), extending the delay past `policy.free`.
    async fn count_failure(&self, key: &str, now: OffsetDateTime, policy: &Policy) -> Result<(), StoreError>;
    /// Until when `key` is delayed, if it is after `now`; counts nothing.
    async fn blocked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, StoreError>;
}

/// The hash-chained security event log.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends a security event to the hash chain: reads the last hash and
    /// writes the new event in one serialised transaction, so two writers
    /// never fork the chain.
    async fn insert_event(&self, event: &EventRecord, key: &ChainKey) -> Result<(), StoreError>;
    /// How many events the chain holds and the last one's hash (`None`
    /// when empty), read together.
    async fn chain_head(&self) -> Result<(u64, Option<String>), StoreError>;
    /// Once per store: rewrites a chain of the versions before the log was
    /// keyed (plain SHA-256) under `key`, up to the first event that did not
    /// fit it, and replaces the key check `unkeyed_check` with `keyed_check`,
    /// in one transaction serialised with appends. `None` (and nothing
    /// changed) when the key check is no longer `unkeyed_check`; else how
    /// many events were rewritten.
    async fn key_event_chain(
        &self,
        key: &ChainKey,
        unkeyed_check: &[u8],
        keyed_check: &[u8],
    ) -> Result<Option<u64>, StoreError>;
    /// Events in chain order with ids above `after`, at most `limit`.
    async fn chained_events(&self, after: i64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError>;
    /// The user's most recent events, newest first.
    async fn list_events(&self, user: UserId, limit: u32) -> Result<Vec<EventRecord>, StoreError>;
    /// Which of `kinds` the user's newest event of those kinds is, if any.
    async fn latest_event_kind(&self, user: UserId, kinds: &[EventKind]) -> Result<Option<EventKind>, StoreError>;
}

/// The whole store: every port. Services take only the ports they use; the
/// wiring, the CLI and the tests hold the whole store.
pub trait Store:
    MetaStore
    + UserStore
    + EmailLinkStore
    + OidcStore
    + GroupStore
    + AppTokenStore
    + SessionStore
    + MfaStore
    + PasskeyStore
    + ThrottleStore
    + EventLog
{
}

impl<T> Store for T where
    T: MetaStore
        + UserStore
        + EmailLinkStore
        + OidcStore
        + GroupStore
        + AppTokenStore
        + SessionStore
        + MfaStore
        + PasskeyStore
        + ThrottleStore
        + EventLog
{
}
