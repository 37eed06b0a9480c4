//! Sessions: opaque 256-bit tokens, stored only as hashes, with idle and absolute timeouts.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::clock::SharedClock;
use crate::domain::{SessionId, User, UserId};
use crate::error::{CoreError, Refusal};
use crate::events::{EventKind, Events};
use crate::store::{SessionStore, SessionWrite};
use crate::token::{random_token, token_hash};

/// The longest user agent kept with a session or event; the rest is cut.
const USER_AGENT_MAX: usize = 256;

/// Idle timeout and absolute lifetime (30 minutes and 12 hours by default, both configurable).
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long is dead.
    pub idle_timeout: Duration,
    /// A session older than this is dead however busy.
    pub absolute_lifetime: Duration,
    /// Whether an account signs in only once its address is verified.
    pub require_verified_email: bool,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_timeout: Duration::minutes(30),
            absolute_lifetime: Duration::hours(12),
            require_verified_email: false,
        }
    }
}

/// Where a request came from, as recorded with sessions and events.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client address (from the socket, or a trusted proxy's header).
    pub ip: Option<String>,
    /// The `User-Agent` header, cut to a sane length.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Builds client info, cutting an over-long user agent.
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| ua.chars().take(USER_AGENT_MAX).collect());
        ClientInfo { ip, user_agent }
    }

    /// The device, as pages and mails name it ("Chrome on Linux"): never
    /// the raw header.
    pub fn device_name(&self) -> String {
        crate::device_name::short_name(self.user_agent.as_deref())
    }
}

/// A proof a session passed, in the order passed. The words are stored;
/// OpenID Connect's `amr` and the forward-auth rules read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// The account's password.
    Password,
    /// A TOTP code.
    Totp,
    /// A recovery code.
    RecoveryCode,
    /// A browser trusted after an earlier code step.
    TrustedBrowser,
    /// A passkey or security key signed the challenge (proof of possession).
    Passkey,
    /// The passkey's authenticator verified the person (PIN or biometrics).
    UserVerified,
}

impl Factor {
    /// Every factor, for parsing.
    pub const ALL: [Factor; 6] = [
        Factor::Password,
        Factor::Totp,
        Factor::RecoveryCode,
        Factor::TrustedBrowser,
        Factor::Passkey,
        Factor::UserVerified,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
            Factor::TrustedBrowser => "trusted_browser",
            Factor::Passkey => "passkey",
            Factor::UserVerified => "user_verified",
        }
    }

    /// Its RFC 8176 authentication method reference (`amr`), as OpenID
    /// Connect reports what a sign-in passed: a recovery code is a one-time
    /// password, a trusted browser a proof of possession of its cookie. RFC
    /// 8176 has no one value for WebAuthn's user verification (a PIN or a
    /// biometric, the authenticator does not say which): `user` (a test of
    /// the user's presence) is the value it includes, as the passkeys issue
    /// asks; an `mfa` next to it is the OpenID Connect layer's to add.
    pub fn amr(self) -> &'static str {
        match self {
            Factor::Password => "pwd",
            Factor::Totp | Factor::RecoveryCode => "otp",
            Factor::TrustedBrowser => "swk",
            Factor::Passkey => "hwk",
            Factor::UserVerified => "user",
        }
    }

    /// The factor a stored word names.
    pub fn parse(word: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.as_str() == word)
    }

    /// Whether it is a second factor (anything but the password).
    pub fn is_second(self) -> bool {
        self != Factor::Password
    }
}

/// A session row as stored: the token itself is never kept, only its hash.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Public id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the bearer token.
    pub token_hash: String,
    /// The CSRF token every form of this session carries.
    pub csrf_token: String,
    /// When it was made (the sign-in).
    pub created_at: OffsetDateTime,
    /// When it was last used.
    pub last_seen_at: OffsetDateTime,
    /// The end of its absolute lifetime.
    pub expires_at: OffsetDateTime,
    /// Where it was made.
    pub client: ClientInfo,
    /// What its sign-in passed, in order.
    pub factors: Vec<Factor>,
    /// When it last proved the account (its sign-in, or a re-authentication).
    pub proven_at: OffsetDateTime,
    /// SHA-256 of the password hash its sign-in checked, if it checked one:
    /// it is written only while that password is still the user's, so a
    /// sign-in racing a password change or reset cannot outlive it. Not
    /// stored: `None` once read back.
    pub password_fingerprint: Option<String>,
}

impl SessionRecord {
    /// Whether its sign-in passed a second factor.
    pub fn passed_second_factor(&self) -> bool {
        self.factors.iter().any(|f| f.is_second())
    }

    /// Whether its sign-in passed two factors of its own, as OpenID
    /// Connect's `mfa` (RFC 8176) and `acr_values=mfa` mean it: a password
    /// and a code or passkey, or a passkey and its user verification. A
    /// remembered browser is not counted (it stands in for a code step that
    /// did not happen), nor is a passkey alone without user verification.
    pub fn passed_two_factors(&self) -> bool {
        let counted = self.factors.iter().filter(|f| **f != Factor::TrustedBrowser);
        counted.count() >= 2
    }
}

/// A live session as the HTTP layer sees it.
pub type Session = SessionRecord;

/// A session just made: the token goes to the client once and is not kept.
/// `Debug` does not show the token.
pub struct NewSession {
    /// The bearer token / cookie value.
    pub token: String,
    /// The stored session.
    pub session: Session,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSession({})", self.session.id)
    }
}

/// Where a sign-in comes from, and what the client already holds.
#[derive(Debug, Clone, Copy)]
pub struct SignInFrom<'a> {
    /// The client's address and user agent.
    pub client: &'a ClientInfo,
    /// A trusted-device token from an earlier code step: skips the code.
    pub device_token: Option<&'a str>,
    /// A known-client token from an earlier right password for the account:
    /// counted on its own, past the name's and the address's limits.
    pub known_client: Option<&'a str>,
    /// The session token the client held before (a browser signing in
    /// again): it ends once the new session starts, so every sign-in gets a
    /// fresh session id and the old one cannot be reused.
    pub replaces: Option<&'a str>,
}

impl<'a> SignInFrom<'a> {
    /// A client that holds nothing yet (an API call, a first visit).
    pub fn client(client: &'a ClientInfo) -> Self {
        SignInFrom { client, device_token: None, known_client: None, replaces: None }
    }
}

/// A browser trusted to skip the code: the token its cookie (or the API
/// client) keeps, and for how long.
pub struct DeviceTrust {
    /// The token, shown this once.
    pub token: String,
    /// How long the trust lasts.
    pub lasts: Duration,
}

/// A completed sign-in: who, the new session, and the trusted-device token
/// when the code step asked for one and it was saved. `Debug` shows no token.
pub struct SignedIn {
    /// Who signed in.
    pub user: User,
    /// The new session.
    pub session: NewSession,
    /// The browser's trust, when asked for and saved.
    pub device: Option<DeviceTrust>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedIn({}, {:?})", self.user.id, self.session)
    }
}

/// Starts, checks, lists and ends sessions.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    clock: SharedClock,
    policy: SessionPolicy,
    events: Events,
}

impl Sessions {
    /// Builds the service.
    pub fn new(store: Arc<dyn SessionStore>, clock: SharedClock, policy: SessionPolicy, events: Events) -> Self {
        Sessions { store, clock, policy, events }
    }

    /// A new session for `user` with a fresh token: every sign-in gets a new id.
    /// A session that passed no second factor is written only while the
    /// account has MFA off, decided in the store against MFA being turned on
    /// at the same moment (docs/SECURITY.md, row MFA-14): a sign-in that saw
    /// MFA off before it went on is refused, never left behind.
    async fn start(
        &self,
        user: &User,
        client: &ClientInfo,
        factors: Vec<Factor>,
        password_fingerprint: Option<String>,
    ) -> Result<NewSession, CoreError> {
        let now = self.clock.now();
        let token = random_token();
        let session = SessionRecord {
            id: SessionId::random(),
            user_id: user.id,
            token_hash: token_hash(&token),
            csrf_token: random_token(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.policy.absolute_lifetime,
            client: client.clone(),
            factors,
            proven_at: now,
            password_fingerprint,
        };
        match self.store.insert_session(&session, self.idle_cutoff(now)).await? {
            SessionWrite::Written => {}
            SessionWrite::MfaIsOn => {
                tracing::info!(user_id = %user.id, "a password-only sign-in lost the race with MFA being turned on");
                return Err(CoreError::Refused(Refusal::MfaTurnedOnMeanwhile));
            }
            SessionWrite::PasswordChanged => {
                tracing::info!(user_id = %user.id, "a sign-in lost the race with a password change");
                return Err(CoreError::InvalidCredentials);
            }
        }
        tracing::info!(user_id = %user.id, session_id = %session.id, "session started");
        Ok(NewSession { token, session })
    }

    /// Whether an account signs in only once its address is verified.
    pub fn requires_verified_email(&self) -> bool {
        self.policy.require_verified_email
    }

    /// The last step of every sign-in (password alone, the code step, a new
    /// account): a new session, the `signed_in` event, and the end of the
    /// session the client held before. Ending that one cannot fail the
    /// sign-in: it is logged. `factors` are what this sign-in passed.
    pub(crate) async fn open(
        &self,
        user: User,
        from: &SignInFrom<'_>,
        factors: Vec<Factor>,
        password_fingerprint: Option<String>,
    ) -> Result<SignedIn, CoreError> {
        // Every sign-in ends here (password, code step, passkey, sign-up), so
        // the rule holds on every path.
        if self.policy.require_verified_email && !user.email_verified {
            return Err(CoreError::EmailUnverified);
        }
        let session = self.start(&user, from.client, factors, password_fingerprint).await?;
        self.events.record(user.id, EventKind::SignedIn, from.client).await?;
        if let Some(previous) = from.replaces {
            if let Err(e) = self.end_token(previous, from.client).await {
                tracing::warn!(user_id = %user.id, error = %e, "could not end the session signed in over");
            }
        }
        Ok(SignedIn { user, session, device: None })
    }

    /// Ends the session behind a token, if it is live.
    async fn end_token(&self, token: &str, client: &ClientInfo) -> Result<(), CoreError> {
        match self.authenticate(token).await {
            Ok((session, _)) => self.end(&session, client).await,
            Err(CoreError::Unauthenticated) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The live session and user behind a token, marking the session as used.
    pub async fn authenticate(&self, token: &str) -> Result<(Session, User), CoreError> {
        let now = self.clock.now();
        let (session, user) = self
            .store
            .touch_session(&token_hash(token), now, self.idle_cutoff(now), now - self.touch_interval())
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        // A session opened before `require_verified_email` was set ends with
        // it, as a locked account's do.
        if user.locked || (self.policy.require_verified_email && !user.email_verified) {
            return Err(CoreError::Unauthenticated);
        }
        Ok((session, user))
    }

    /// Records a re-authentication of the session at `at`; false when it is gone.
    pub(crate) async fn mark_proven(&self, id: &SessionId, at: OffsetDateTime) -> Result<bool, CoreError> {
        Ok(self.store.mark_session_proven(id, at).await?)
    }

    /// The user's live sessions, newest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<Session>, CoreError> {
        let now = self.clock.now();
        Ok(self.store.list_sessions(user, now, self.idle_cutoff(now)).await?)
    }

    /// Ends one of the user's sessions from another; another user's id is
    /// [`CoreError::NotFound`].
    pub async fn revoke(&self, user: UserId, session_id: &SessionId, client: &ClientInfo) -> Result<(), CoreError> {
        if !self.store.delete_session(user, session_id).await? {
            return Err(CoreError::NotFound);
        }
        self.events.record(user, EventKind::SessionRevoked, client).await
    }

    /// "Sign out everywhere else": ends every session of the user but `keep`;
    /// returns how many ended.
    pub async fn revoke_others(&self, user: UserId, keep: &SessionId, client: &ClientInfo) -> Result<u64, CoreError> {
        // Everywhere means trusted browsers too: they will be asked for a code.
        let ended = self.store.end_sessions_and_trust(user, Some(keep)).await?;
        if ended > 0 {
            self.events.record(user, EventKind::SessionRevoked, client).await?;
        }
        Ok(ended)
    }

    /// The answer to the replayed-code alarm: every other session ends (and
    /// every trusted browser is forgotten), and the alarm is cleared.
    /// Returns how many sessions ended.
    pub async fn clear_replay_alarm(
        &self,
        user: UserId,
        keep: &SessionId,
        client: &ClientInfo,
    ) -> Result<u64, CoreError> {
        let ended = self.revoke_others(user, keep, client).await?;
        self.events.record(user, EventKind::ReplayAlarmCleared, client).await?;
        Ok(ended)
    }

    /// Logs out: ends the caller's own session. Ending one already gone is fine.
    pub async fn end(&self, session: &Session, client: &ClientInfo) -> Result<(), CoreError> {
        if self.store.delete_session(session.user_id, &session.id).await? {
            self.events.record(session.user_id, EventKind::SignedOut, client).await?;
        }
        Ok(())
    }

    fn idle_cutoff(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.policy.idle_timeout
    }

    /// How stale `last_seen_at` may get before a request writes it again: a
    /// minute, or a tenth of the idle timeout if that is shorter, so a session
    /// idles out at most that much early.
    fn touch_interval(&self) -> Duration {
        (self.policy.idle_timeout / 10_i32).min(Duration::minutes(1))
    }
}
