//! What the support team does from the command line: find and list
//! accounts, reset a lost device's MFA, lock and unlock, end sessions,
//! delete an account. Each change is a security event that names the
//! operator.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::domain::{Email, User, Username};
use crate::error::CoreError;
use crate::events::{EventKind, Events};
use crate::sessions::{ClientInfo, Sessions};
use crate::store::Store;
use crate::throttle::{self, Throttle};

/// Who ran a command, as the event log records it.
#[derive(Debug, Clone)]
pub struct Operator(pub String);

impl Operator {
    /// The operator as the event's "device": the log has no other place for it.
    fn client(&self) -> ClientInfo {
        ClientInfo::new(None, Some(&format!("latchkey CLI, operator {}", self.0)))
    }

    /// The same, naming what the change was about ("group admins").
    pub(crate) fn client_about(&self, what: &str) -> ClientInfo {
        ClientInfo::new(None, Some(&format!("latchkey CLI, operator {}, {what}", self.0)))
    }
}

/// A user with what support wants to know at a glance.
#[derive(Debug, Clone)]
pub struct UserSummary {
    /// The user.
    pub user: User,
    /// Live sessions.
    pub sessions: usize,
    /// Unspent recovery codes.
    pub recovery_codes_left: usize,
}

/// Operator actions.
#[derive(Clone)]
pub struct Admin {
    store: Arc<dyn Store>,
    clock: SharedClock,
    sessions: Sessions,
    events: Events,
    throttle: Throttle,
}

/// Users read per page when listing.
const PAGE: u32 = 500;

impl Admin {
    /// Builds the service.
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        sessions: Sessions,
        events: Events,
        throttle: Throttle,
    ) -> Self {
        Admin { store, clock, sessions, events, throttle }
    }

    /// The user with this username or email.
    pub async fn find(&self, login: &str) -> Result<User, CoreError> {
        let found = match (Username::parse(login), Email::parse(login)) {
            (Ok(name), _) => self.store.find_user_by_username(&name).await?,
            (_, Ok(email)) => self.store.find_user_by_email(&email).await?,
            _ => None,
        };
        found.map(|r| r.user).ok_or(CoreError::NotFound)
    }

    /// Every user, by username.
    pub async fn list(&self) -> Result<Vec<User>, CoreError> {
        let mut users = Vec::new();
        loop {
            let after = users.last().map(|u: &User| u.username.to_string());
            let page = self.store.list_users(after.as_deref(), PAGE).await?;
            let done = page.len() < PAGE as usize;
            users.extend(page);
            if done {
                return Ok(users);
            }
        }
    }

    /// The user with session and recovery-code counts.
    pub async fn summary(&self, user: User) -> Result<UserSummary, CoreError> {
        let sessions = self.sessions.list(user.id).await?.len();
        let recovery_codes_left = self.store.unused_recovery_codes(user.id).await?.len();
        Ok(UserSummary { user, sessions, recovery_codes_left })
    }

    /// The lost-device workflow: MFA off, recovery codes void, every session
    /// and pending sign-in ended (one transaction), then the code throttle
    /// cleared. The user signs in with the password and enrols again.
    /// Returns how many sessions ended; `None` when MFA was off: then
    /// nothing changed and nothing is recorded.
    pub async fn reset_mfa(&self, user: &User, operator: &Operator) -> Result<Option<u64>, CoreError> {
        let (ended, was_on) = self.store.reset_mfa(user.id).await?;
        if !was_on {
            return Ok(None);
        }
        self.throttle.clear(&throttle::code_key_for_account(user.id)).await?;
        self.events.record(user.id, EventKind::MfaResetByOperator, &operator.client()).await?;
        Ok(Some(ended))
    }

    /// Locks an account (its right password then gets 403 `account_locked`),
    /// ends its sessions and pending sign-ins and forgets its trusted
    /// browsers, in one transaction; returns how many sessions ended.
    pub async fn lock(&self, user: &User, operator: &Operator) -> Result<u64, CoreError> {
        let ended = self.store.lock_user(user.id, self.clock.now()).await?.ok_or(CoreError::NotFound)?;
        self.events.record(user.id, EventKind::AccountLocked, &operator.client()).await?;
        Ok(ended)
    }

    /// Unlocks an account and clears its throttles, including a TOTP factor
    /// locked after 100 wrong codes.
    pub async fn unlock(&self, user: &User, operator: &Operator) -> Result<(), CoreError> {
        self.store.set_user_locked(user.id, None).await?;
        for key in [
            throttle::code_key_for_account(user.id),
            throttle::password_key_for_login(user.username.as_str()),
            throttle::password_key_for_login(user.email.as_str()),
        ] {
            self.throttle.clear(&key).await?;
        }
        self.events.record(user.id, EventKind::AccountUnlocked, &operator.client()).await
    }

    /// Deletes the account as its owner can (contract section 6): what names
    /// the person goes, the security log keeps its chain.
    pub async fn delete(&self, user: &User, operator: &Operator) -> Result<(), CoreError> {
        crate::accounts::erase(self.store.as_ref(), &self.throttle, &self.events, user, &operator.client()).await
    }

    /// Ends every session of the user and forgets the browsers trusted to
    /// skip the code; returns how many sessions ended.
    pub async fn revoke_sessions(&self, user: &User, operator: &Operator) -> Result<u64, CoreError> {
        let ended = self.store.end_sessions_and_trust(user.id, None).await?;
        self.events.record(user.id, EventKind::SessionRevoked, &operator.client()).await?;
        Ok(ended)
    }
}
