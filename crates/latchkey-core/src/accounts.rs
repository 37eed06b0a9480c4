//! Sign-up and sign-in: the password rules and the password step of the
//! sign-in state machine; re-authentication is in [`proof`], the tokens of
//! clients that signed in before in [`known_clients`], changing the
//! password in [`password_change`], resetting it by email in
//! [`password_reset`], the address in [`email_address`], deleting the
//! account in [`deletion`].

mod deletion;
mod email_address;
mod known_clients;
mod password_change;
mod password_reset;
mod proof;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::domain::{Email, NewPassword, Password, PasswordPolicy, User, UserId, Username};
use crate::error::{CoreError, FieldErrors};
use crate::events::{EventKind, Events, Guesses};
use crate::mfa::{Mfa, PendingSignIn};
use crate::password::PasswordHasher;
use crate::sessions::{ClientInfo, Factor, Sessions, SignInFrom, SignedIn};
use crate::store::{EmailLinkStore, NewUserRecord, StoreError, UserRecord, UserStore};
use crate::throttle::{self, Throttle};
use crate::token::token_hash;

pub(crate) use deletion::erase;
pub use email_address::{EmailProven, EMAIL_LINK_LASTS};
pub use known_clients::{KnownClient, KnownClientKey, KNOWN_CLIENT_LASTS};
pub use password_reset::{LinkMailer, RESET_LINK_LASTS};
pub use proof::{Offered, RecentProof, PROOF_LASTS};

/// What a right password gives: the next step, and a fresh known-client
/// token for the client to keep.
#[derive(Debug)]
pub struct PasswordAccepted {
    /// Signed in, or the code step.
    pub next: SignIn,
    /// Lets this client through the name's and the address's limits next time.
    pub known_client: KnownClient,
}

/// Where a right password leads. `Debug` shows no token.
pub enum SignIn {
    /// Signed in (boxed: it is much larger than the other variant).
    Done(Box<SignedIn>),
    /// MFA is on: a pending sign-in that only a code completes.
    NeedsCode {
        /// The opaque token naming the pending sign-in (the API's `mfa_token`).
        token: String,
        /// The pending sign-in.
        pending: PendingSignIn,
    },
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignIn::Done(signed_in) => write!(f, "SignIn::Done({signed_in:?})"),
            SignIn::NeedsCode { pending, .. } => write!(f, "SignIn::NeedsCode({})", pending.user_id),
        }
    }
}

/// What a password check found: the account the login names (if any),
/// whether the password is its own, and the failures on the counter it was
/// reserved on, this one included.
struct PasswordCheck {
    record: Option<UserRecord>,
    verified: bool,
    failures: u32,
}

/// Whose turn a hash is taken in: the client's address (an IPv6 client's
/// /64 network), or one shared name for callers without one (the CLI).
pub(crate) fn hashing_client(client: &ClientInfo) -> String {
    client.ip.as_deref().map_or_else(|| "local".to_string(), throttle::address_bucket)
}

/// Creates accounts and checks passwords.
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    clock: SharedClock,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    sessions: Sessions,
    mfa: Mfa,
    events: Events,
    throttle: Throttle,
    known_clients: KnownClientKey,
    links: Option<Arc<dyn LinkMailer>>,
    email_links: Arc<dyn EmailLinkStore>,
}

/// The parts [`Accounts`] is built from.
pub struct AccountsParts {
    /// The accounts.
    pub users: Arc<dyn UserStore>,
    /// The clock.
    pub clock: SharedClock,
    /// Hashes passwords.
    pub hasher: PasswordHasher,
    /// Password rules.
    pub policy: PasswordPolicy,
    /// Starts sessions.
    pub sessions: Sessions,
    /// Opens pending sign-ins for MFA accounts.
    pub mfa: Mfa,
    /// The event log.
    pub events: Events,
    /// Counts failed guesses.
    pub throttle: Throttle,
    /// Signs known clients' tokens.
    pub known_clients: KnownClientKey,
    /// Mails password reset and email links; `None`: no mail configured.
    pub links: Option<Arc<dyn LinkMailer>>,
    /// Keeps the email links.
    pub email_links: Arc<dyn EmailLinkStore>,
}

impl Accounts {
    /// Builds the service.
    pub fn new(parts: AccountsParts) -> Self {
        let AccountsParts {
            users,
            clock,
            hasher,
            policy,
            sessions,
            mfa,
            events,
            throttle,
            known_clients,
            links,
            email_links,
        } = parts;
        Accounts { users, clock, hasher, policy, sessions, mfa, events, throttle, known_clients, links, email_links }
    }

    /// The password rules in force (the sign-up page states the minimum).
    pub fn password_policy(&self) -> PasswordPolicy {
        self.policy
    }

    /// Creates an account. Every broken rule is reported at once, by field;
    /// a username or email taken in any case is [`CoreError::Conflict`].
    /// Well-formed attempts are counted per address before anything is
    /// looked up, and a taken name or address is found before the costly
    /// hash, which then waits its turn fairly (docs/SECURITY.md, row DOS-01).
    pub async fn sign_up(
        &self,
        username: &str,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User, CoreError> {
        let signup_key = client.ip.as_deref().map(throttle::signup_key_for_address);
        if let Some(key) = &signup_key {
            // A blocked address is refused before the password's checks run.
            self.throttle.check_remembered(key, &throttle::SIGNUPS_PER_ADDRESS).await?;
        }
        let mut fields = FieldErrors::new();
        let username = Username::parse(username).map_err(|e| fields.insert("username", e)).ok();
        let email = Email::parse(email).map_err(|e| fields.insert("email", e)).ok();
        let password =
            NewPassword::parse(password, username.as_ref(), self.policy).map_err(|e| fields.insert("password", e)).ok();
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(CoreError::Validation(fields));
        };
        if let Some(key) = &signup_key {
            self.throttle.check_slowly(key, &throttle::SIGNUPS_PER_ADDRESS).await?;
            self.throttle.reserve(key, &throttle::SIGNUPS_PER_ADDRESS).await?;
        }
        if self.users.find_user_by_username(&username).await?.is_some() {
            return Err(CoreError::Conflict("username"));
        }
        if self.users.find_user_by_email(&email).await?.is_some() {
            return Err(CoreError::Conflict("email"));
        }
        let password_hash = self.hasher.admit_sign_up(&hashing_client(client)).await?.hash(&password).await?;
        let user = User {
            id: UserId::random(),
            username,
            email,
            email_verified: false,
            mfa_enabled: false,
            locked: false,
            created_at: self.clock.now(),
            groups: Vec::new(),
        };
        let record = NewUserRecord { user: user.clone(), password_hash };
        match self.users.insert_user(&record).await {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "account created");
                self.mail_first_verification_link(&user, client).await;
                Ok(user)
            }
            Err(StoreError::Conflict(field)) => Err(CoreError::Conflict(field)),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an account and signs it in, as the sign-up page does: the
    /// session and the `signed_in` event in the same call.
    pub async fn sign_up_and_sign_in(
        &self,
        username: &str,
        email: &str,
        password: &str,
        from: &SignInFrom<'_>,
    ) -> Result<SignedIn, CoreError> {
        let user = self.sign_up(username, email, password, from.client).await?;
        self.sessions.open(user, from, vec![Factor::Password], None).await
    }

    /// Checks a login (username or email) and password: starts a session, or
    /// for an account with MFA on, a pending sign-in that only a code completes;
    /// either way with a fresh known-client token. An unknown login and a wrong
    /// password give the same error after the same work: an Argon2
    /// verification against a dummy hash. Guesses are counted per address and
    /// per login name (existing or not) before the hash runs, unless the
    /// client holds a known-client token of this account (`from.known_client`):
    /// then on that token alone. A browser or client that holds a
    /// trusted-device token of this account (`from.device_token`) skips the code.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        from: &SignInFrom<'_>,
    ) -> Result<PasswordAccepted, CoreError> {
        let client = from.client;
        let PasswordCheck { record, verified, failures } =
            self.check_password(login, password, client, from.known_client).await?;
        let record = match record {
            Some(record) if verified => record,
            Some(record) => {
                self.password_failed(record.user.id, failures, client).await?;
                return Err(CoreError::InvalidCredentials);
            }
            None => {
                tracing::info!(ip = client.ip.as_deref(), "sign-in for an unknown login");
                return Err(CoreError::InvalidCredentials);
            }
        };
        if record.user.locked {
            self.events.record(record.user.id, EventKind::SignInFailed, client).await?;
            return Err(CoreError::AccountLocked);
        }
        if self.sessions.requires_verified_email() && !record.user.email_verified {
            // The password proved the owner: a fresh link is what they need
            // (counted per account, so signing in again does not flood the mailbox).
            if let Err(e) = self.send_verification_link(&record.user, client).await {
                tracing::info!(user_id = %record.user.id, error = %e, "no new verification link at sign-in");
            }
            return Err(CoreError::EmailUnverified);
        }
        let known_client = self.known_clients.issue(record.user.id, &record.password_hash, self.clock.now());
        // The session is written only while this password is still the user's.
        let checked = token_hash(&record.password_hash);
        let next = if !record.user.mfa_enabled {
            let factors = vec![Factor::Password];
            SignIn::Done(Box::new(self.sessions.open(record.user, from, factors, Some(checked)).await?))
        } else if self.trusted(&record.user, from.device_token).await? {
            let factors = vec![Factor::Password, Factor::TrustedBrowser];
            SignIn::Done(Box::new(self.sessions.open(record.user, from, factors, Some(checked)).await?))
        } else {
            let (token, pending) = self.mfa.begin_sign_in(&record.user, checked, client).await?;
            SignIn::NeedsCode { token, pending }
        };
        Ok(PasswordAccepted { next, known_client })
    }

    /// Checks a password for a login under every throttle a sign-in has:
    /// admitted to the hash queue first and checked against the address's
    /// limit after, so a burst from one address is checked a few at a time,
    /// each seeing the failures of those before it (docs/SECURITY.md, row
    /// DOS-02); the login's limit is reserved before the hash. A client
    /// known to the account the login names is reserved on its own counter
    /// instead of both (row AA-08). An unknown login costs the same hash,
    /// against a dummy.
    async fn check_password(
        &self,
        login: &str,
        password: &str,
        client: &ClientInfo,
        known_client: Option<&str>,
    ) -> Result<PasswordCheck, CoreError> {
        let password = Password::new(password);
        if password.is_over_long() {
            return Err(CoreError::InvalidCredentials);
        }
        let login_key = throttle::password_key_for_login(login);
        let (record, known_key) = match known_client {
            // The account is looked up first only for a client that says it is known.
            Some(token) => {
                let record = self.find_by_login(login).await?;
                let nonce = record
                    .as_ref()
                    .and_then(|r| self.known_clients.check(token, r.user.id, &r.password_hash, self.clock.now()));
                (Some(record), nonce.map(|nonce| throttle::password_key_for_known_client(&nonce)))
            }
            None => (None, None),
        };
        // A known client is not held to its address's limit.
        let address_key =
            if known_key.is_some() { None } else { client.ip.as_deref().map(throttle::password_key_for_address) };
        if let Some(key) = &address_key {
            // A blocked address waits for no hashing slot to be refused.
            self.throttle.check_remembered(key, &throttle::PASSWORDS_PER_ADDRESS).await?;
        }
        let admission = self.hasher.admit(&hashing_client(client)).await?;
        if let Some(key) = &address_key {
            if let Err(refused) = self.throttle.check(key, &throttle::PASSWORDS_PER_ADDRESS).await {
                drop(admission);
                return Err(throttle::answered_slowly(refused).await);
            }
        }
        let failures = match &known_key {
            Some(key) => self.throttle.reserve(key, &throttle::PASSWORDS_PER_KNOWN_CLIENT).await?,
            None => self.throttle.reserve(&login_key, &throttle::PASSWORDS_PER_LOGIN).await?,
        };
        let record = match record {
            Some(looked_up) => looked_up,
            None => self.find_by_login(login).await?,
        };
        let verified = admission.verify(&password, record.as_ref().map(|r| r.password_hash.as_str())).await?;
        if verified {
            // The owner is in: the name's delays (perhaps a stranger's doing) end too.
            self.throttle.clear(&login_key).await?;
            if let Some(key) = &known_key {
                self.throttle.clear(key).await?;
            }
        } else if let Some(key) = &address_key {
            self.throttle.count_failure(key, &throttle::PASSWORDS_PER_ADDRESS).await?;
        }
        Ok(PasswordCheck { record, verified, failures })
    }

    /// A wrong password for an existing account: a `sign_in_failed` event,
    /// and the lockout notice when it is the one that starts the delay.
    async fn password_failed(&self, user: UserId, failures: u32, client: &ClientInfo) -> Result<(), CoreError> {
        self.events.record(user, EventKind::SignInFailed, client).await?;
        if failures == throttle::PASSWORDS_PER_LOGIN.free {
            self.events.record_lockout(user, Guesses::Passwords, client).await?;
        }
        Ok(())
    }

    async fn trusted(&self, user: &User, device: Option<&str>) -> Result<bool, CoreError> {
        match device {
            Some(token) => self.mfa.is_trusted_device(user.id, token).await,
            None => Ok(false),
        }
    }

    /// A login with an `@` is an email, anything else a username; a login that
    /// breaks either rule cannot name an account.
    async fn find_by_login(&self, login: &str) -> Result<Option<UserRecord>, CoreError> {
        let found = if login.contains('@') {
            match Email::parse(login) {
                Ok(email) => self.users.find_user_by_email(&email).await?,
                Err(_) => None,
            }
        } else {
            match Username::parse(login.trim()) {
                Ok(username) => self.users.find_user_by_username(&username).await?,
                Err(_) => None,
            }
        };
        Ok(found)
    }
}
