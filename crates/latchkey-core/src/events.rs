//! The security event log: who did what, when, from where. Its chain
//! (keyed, so only the server key extends it) is in [`chain`].

mod chain;

pub use chain::{
    current_head, same_chain, verify_chain, ChainCheck, ChainKey, ChainLink, ChainedEvent, Head, HeadError, Rechain,
    GENESIS,
};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::domain::UserId;
use crate::error::CoreError;
use crate::sessions::ClientInfo;
use crate::store::{EventLog, MfaStore, Store, UserStore};

/// What happened. Stored and shown as the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A sign-in completed (password, and code when MFA is on).
    SignedIn,
    /// A wrong password for an existing account.
    SignInFailed,
    /// The user logged out.
    SignedOut,
    /// A session was ended from another one.
    SessionRevoked,
    /// A new TOTP secret was handed out for enrolment.
    MfaEnrolmentStarted,
    /// A code confirmed the enrolment: MFA is on.
    MfaEnabled,
    /// MFA was turned off.
    MfaDisabled,
    /// A wrong TOTP or recovery code.
    WrongCode,
    /// A correct code whose step was already used (or a recovery code already spent).
    CodeReplayed,
    /// A recovery code was spent.
    RecoveryCodeUsed,
    /// A new set of recovery codes replaced the old.
    RecoveryCodesRegenerated,
    /// Failed guesses on the account reached the point where delays start.
    Lockout,
    /// 100 consecutive wrong codes: the TOTP factor takes no code until a
    /// recovery code or an operator clears it.
    MfaLocked,
    /// An operator turned MFA off (a lost device).
    MfaResetByOperator,
    /// An operator locked the account.
    AccountLocked,
    /// An operator unlocked the account.
    AccountUnlocked,
    /// The user answered the replayed-code alarm (by signing out everywhere else).
    ReplayAlarmCleared,
    /// A browser was trusted to skip the code.
    DeviceTrusted,
    /// Another authenticator was added to an account with MFA on.
    AuthenticatorAdded,
    /// One of several authenticators was removed.
    AuthenticatorRemoved,
    /// An operator added the user to a group.
    GroupMemberAdded,
    /// An operator removed the user from a group (or deleted the group).
    GroupMemberRemoved,
    /// An app token was made.
    AppTokenCreated,
    /// An app token was used from an address it had not been used from last.
    AppTokenUsedFromNewAddress,
    /// An app token was revoked.
    AppTokenRevoked,
    /// A passkey or security key was added.
    PasskeyAdded,
    /// A passkey or security key was removed.
    PasskeyRemoved,
    /// A passkey's signature counter did not grow: the key may have been
    /// copied (the use was refused).
    PasskeyCloneSuspected,
    /// The owner changed the password (every other session ended).
    PasswordChanged,
    /// The password was reset with a link mailed to the owner (every session ended).
    PasswordReset,
    /// The owner opened the link mailed to the account's address.
    EmailVerified,
    /// A change of the account's address was asked for (a link went to the new one).
    EmailChangeRequested,
    /// The account's address changed (the link mailed to the new one was opened).
    EmailChanged,
    /// The account was deleted (by its owner, or by the support team).
    AccountDeleted,
    /// The owner downloaded everything the service holds about the account.
    DataExported,
    /// The user let an OpenID Connect client have what it asked for (consent).
    OidcConsent,
    /// An OpenID Connect client was issued tokens for the user.
    OidcTokensIssued,
    /// An authorization code was used twice: what its first use issued is revoked.
    OidcCodeReused,
    /// A spent refresh token was used again: its whole family is revoked.
    OidcRefreshReused,
    /// The user disconnected an OpenID Connect client: its consent and tokens ended.
    OidcAccessRevoked,
}

impl EventKind {
    /// Every kind, in the order they were introduced (tests and pages walk it).
    pub const ALL: [EventKind; 40] = [
        EventKind::SignedIn,
        EventKind::SignInFailed,
        EventKind::SignedOut,
        EventKind::SessionRevoked,
        EventKind::MfaEnrolmentStarted,
        EventKind::MfaEnabled,
        EventKind::MfaDisabled,
        EventKind::WrongCode,
        EventKind::CodeReplayed,
        EventKind::RecoveryCodeUsed,
        EventKind::RecoveryCodesRegenerated,
        EventKind::Lockout,
        EventKind::MfaLocked,
        EventKind::MfaResetByOperator,
        EventKind::AccountLocked,
        EventKind::AccountUnlocked,
        EventKind::ReplayAlarmCleared,
        EventKind::DeviceTrusted,
        EventKind::AuthenticatorAdded,
        EventKind::AuthenticatorRemoved,
        EventKind::GroupMemberAdded,
        EventKind::GroupMemberRemoved,
        EventKind::AppTokenCreated,
        EventKind::AppTokenUsedFromNewAddress,
        EventKind::AppTokenRevoked,
        EventKind::PasskeyAdded,
        EventKind::PasskeyRemoved,
        EventKind::PasskeyCloneSuspected,
        EventKind::PasswordChanged,
        EventKind::PasswordReset,
        EventKind::EmailVerified,
        EventKind::EmailChangeRequested,
        EventKind::EmailChanged,
        EventKind::AccountDeleted,
        EventKind::DataExported,
        EventKind::OidcConsent,
        EventKind::OidcTokensIssued,
        EventKind::OidcCodeReused,
        EventKind::OidcRefreshReused,
        EventKind::OidcAccessRevoked,
    ];

    /// The kind a stored name names; `None` for a name no version wrote.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignedIn => "signed_in",
            EventKind::SignInFailed => "sign_in_failed",
            EventKind::SignedOut => "signed_out",
            EventKind::SessionRevoked => "session_revoked",
            EventKind::MfaEnrolmentStarted => "mfa_enrolment_started",
            EventKind::MfaEnabled => "mfa_enabled",
            EventKind::MfaDisabled => "mfa_disabled",
            EventKind::WrongCode => "wrong_code",
            EventKind::CodeReplayed => "code_replayed",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            EventKind::Lockout => "lockout",
            EventKind::MfaLocked => "mfa_locked",
            EventKind::MfaResetByOperator => "mfa_reset_by_operator",
            EventKind::AccountLocked => "account_locked",
            EventKind::AccountUnlocked => "account_unlocked",
            EventKind::ReplayAlarmCleared => "replay_alarm_cleared",
            EventKind::DeviceTrusted => "device_trusted",
            EventKind::AuthenticatorAdded => "authenticator_added",
            EventKind::AuthenticatorRemoved => "authenticator_removed",
            EventKind::GroupMemberAdded => "group_member_added",
            EventKind::GroupMemberRemoved => "group_member_removed",
            EventKind::AppTokenCreated => "app_token_created",
            EventKind::AppTokenUsedFromNewAddress => "app_token_used_from_new_address",
            EventKind::AppTokenRevoked => "app_token_revoked",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRemoved => "passkey_removed",
            EventKind::PasskeyCloneSuspected => "passkey_clone_suspected",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordReset => "password_reset",
            EventKind::EmailVerified => "email_verified",
            EventKind::EmailChangeRequested => "email_change_requested",
            EventKind::EmailChanged => "email_changed",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::DataExported => "data_exported",
            EventKind::OidcConsent => "oidc_consent",
            EventKind::OidcTokensIssued => "oidc_tokens_issued",
            EventKind::OidcCodeReused => "oidc_code_reused",
            EventKind::OidcRefreshReused => "oidc_refresh_reused",
            EventKind::OidcAccessRevoked => "oidc_access_revoked",
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Whose account.
    pub user_id: UserId,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: OffsetDateTime,
    /// From where.
    pub client: ClientInfo,
}

/// What the account owner (by mail) and the operator (by webhook) are told
/// out of band, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// MFA was turned on.
    MfaEnabled,
    /// MFA was turned off by the user.
    MfaDisabled,
    /// The support team turned MFA off (a lost device).
    MfaResetByOperator,
    /// Another authenticator was added.
    AuthenticatorAdded,
    /// One of the authenticators was removed.
    AuthenticatorRemoved,
    /// A recovery code was spent.
    RecoveryCodeUsed,
    /// Two or fewer recovery codes are left.
    RecoveryCodesLow {
        /// How many.
        left: usize,
    },
    /// A code that was already used was entered again: perhaps phishing.
    CodeReplayed {
        /// The address the code was first used from, when known.
        first_from: Option<String>,
    },
    /// Wrong guesses started the delays (or, for codes, locked the factor).
    Lockout {
        /// What was guessed.
        of: Guesses,
    },
    /// A sign-in from a browser or app not seen on this account before.
    NewDevice,
    /// A browser was trusted to skip the code (wanted or phished, the owner should know).
    DeviceTrusted,
    /// A passkey or security key was added.
    PasskeyAdded,
    /// A passkey or security key was removed.
    PasskeyRemoved,
    /// A passkey answered with a signature counter that did not grow: it
    /// may have been copied.
    PasskeyCloneSuspected,
    /// The password was changed.
    PasswordChanged,
    /// The password was reset by email.
    PasswordReset,
    /// A change of the address was asked for (told to the old address).
    EmailChangeRequested {
        /// The address it is to change to.
        to: String,
    },
    /// The address changed (told to the old address).
    EmailChanged {
        /// The address it changed to.
        to: String,
    },
    /// The account was deleted.
    AccountDeleted,
    /// The account's data was downloaded.
    DataExported,
    /// An application (OpenID Connect) was let in.
    AppConnected {
        /// Which.
        app: AppName,
    },
    /// A code or refresh token an application had used was used again: its
    /// sign-in's tokens were ended.
    AppTokenReused {
        /// Which.
        app: AppName,
    },
}

/// An OpenID Connect client as a notice names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName {
    /// Its `client_id`.
    pub client_id: String,
    /// What the consent page calls it.
    pub name: String,
}

impl Notice {
    /// A stable snake_case name (the webhook's `event`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Notice::MfaEnabled => "mfa_enabled",
            Notice::MfaDisabled => "mfa_disabled",
            Notice::MfaResetByOperator => "mfa_reset_by_operator",
            Notice::AuthenticatorAdded => "authenticator_added",
            Notice::AuthenticatorRemoved => "authenticator_removed",
            Notice::RecoveryCodeUsed => "recovery_code_used",
            Notice::RecoveryCodesLow { .. } => "recovery_codes_low",
            Notice::CodeReplayed { .. } => "code_replayed",
            Notice::Lockout { .. } => "lockout",
            Notice::NewDevice => "new_device",
            Notice::DeviceTrusted => "device_trusted",
            Notice::PasskeyAdded => "passkey_added",
            Notice::PasskeyRemoved => "passkey_removed",
            Notice::PasskeyCloneSuspected => "passkey_clone_suspected",
            Notice::PasswordChanged => "password_changed",
            Notice::PasswordReset => "password_reset",
            Notice::EmailChangeRequested { .. } => "email_change_requested",
            Notice::EmailChanged { .. } => "email_changed",
            Notice::AccountDeleted => "account_deleted",
            Notice::DataExported => "data_exported",
            Notice::AppConnected { .. } => "app_connected",
            Notice::AppTokenReused { .. } => "app_token_reused",
        }
    }
}

/// What a lockout counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guesses {
    /// Authentication codes (TOTP or recovery).
    Codes,
    /// Passwords.
    Passwords,
}

impl Guesses {
    /// A stable name (the webhook's `details.of`).
    pub fn as_str(self) -> &'static str {
        match self {
            Guesses::Codes => "codes",
            Guesses::Passwords => "passwords",
        }
    }
}

/// Recovery codes left at or below which the owner is warned.
pub const RECOVERY_CODES_LOW: usize = 2;

/// Sends notices out of band. Implementations must not block the caller
/// (queue or spawn), and must never fail the operation that caused the notice.
pub trait Notifier: Send + Sync + 'static {
    /// Tells about `notice` to `user`'s account, which happened at `at` from `client`.
    fn notify(&self, user: &crate::User, notice: &Notice, at: OffsetDateTime, client: &ClientInfo);
}

/// Records and lists security events, counts them for `/metrics`, and
/// notifies the account owner of the ones that call for it.
#[derive(Clone)]
pub struct Events {
    log: Arc<dyn EventLog>,
    users: Arc<dyn UserStore>,
    factors: Arc<dyn MfaStore>,
    clock: SharedClock,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    notifiers: Arc<[Arc<dyn Notifier>]>,
    chain: ChainKey,
}

/// How many events a user sees at most.
const LIST_LIMIT: u32 = 100;

/// How many events an export holds at most (a guessing flood can write
/// more; the newest are the ones kept).
pub const EXPORT_LIMIT: u32 = 10_000;

impl Events {
    /// Builds the service.
    pub fn new(store: &Arc<dyn Store>, clock: SharedClock, notifiers: Vec<Arc<dyn Notifier>>, chain: ChainKey) -> Self {
        Events {
            chain,
            log: store.clone(),
            users: store.clone(),
            factors: store.clone(),
            clock,
            counts: Arc::default(),
            notifiers: notifiers.into(),
        }
    }

    /// Records an event now. A failure to record fails the operation: an
    /// account change that leaves no trace must not happen.
    pub async fn record(&self, user: UserId, kind: EventKind, client: &ClientInfo) -> Result<(), CoreError> {
        let notices = self.notices_for(user, kind, client).await?;
        self.record_noting(user, kind, client, notices).await
    }

    /// Records a replayed code, naming in the notice where it was first used.
    pub async fn record_replay(
        &self,
        user: UserId,
        client: &ClientInfo,
        first_from: Option<String>,
    ) -> Result<(), CoreError> {
        let notices = vec![Notice::CodeReplayed { first_from }];
        self.record_noting(user, EventKind::CodeReplayed, client, notices).await
    }

    /// Records an event with its one notice to `owner` as given (not as
    /// stored now): the old address of a changed one, the address of a
    /// deleted account.
    pub async fn record_telling(
        &self,
        owner: &crate::User,
        kind: EventKind,
        notice: Notice,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        self.record_noting_owner(owner.id, kind, client, vec![notice], Some(owner)).await
    }

    /// Records an event with a notice only the caller can word (one that
    /// names an application).
    pub async fn record_noticed(
        &self,
        user: UserId,
        kind: EventKind,
        notice: Notice,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        self.record_noting(user, kind, client, vec![notice]).await
    }

    /// Records a lockout: guesses (of codes or of passwords) started the delays.
    pub async fn record_lockout(&self, user: UserId, of: Guesses, client: &ClientInfo) -> Result<(), CoreError> {
        self.record_noticed(user, EventKind::Lockout, Notice::Lockout { of }, client).await
    }

    async fn record_noting(
        &self,
        user: UserId,
        kind: EventKind,
        client: &ClientInfo,
        notices: Vec<Notice>,
    ) -> Result<(), CoreError> {
        self.record_noting_owner(user, kind, client, notices, None).await
    }

    /// Records an event and sends its notices to `owner`, or (`None`) to
    /// the account as stored.
    async fn record_noting_owner(
        &self,
        user: UserId,
        kind: EventKind,
        client: &ClientInfo,
        notices: Vec<Notice>,
        owner: Option<&crate::User>,
    ) -> Result<(), CoreError> {
        let event = EventRecord { user_id: user, kind, at: self.clock.now(), client: client.clone() };
        tracing::info!(user_id = %user, event = kind.as_str(), ip = client.ip.as_deref(), "security event");
        self.log.insert_event(&event, &self.chain).await?;
        if !self.notifiers.is_empty() && !notices.is_empty() {
            let owner = match owner {
                Some(owner) => Some(owner.clone()),
                None => self.users.find_user(user).await?,
            };
            if let Some(owner) = owner {
                for notice in &notices {
                    for notifier in self.notifiers.iter() {
                        notifier.notify(&owner, notice, event.at, client);
                    }
                }
            }
        }
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(kind.as_str()).or_default() += 1;
        }
        Ok(())
    }

    /// Whether a replayed code (a sign of real-time phishing) awaits the
    /// user's answer: a `code_replayed` event newer than the last time the
    /// alarm was cleared.
    pub async fn replay_alarm(&self, user: UserId) -> Result<bool, CoreError> {
        Ok(self.alarm(user).await?.is_some())
    }

    /// What raised the alarm that awaits the user's answer, if one does: a
    /// replayed code (`code_replayed`) or a passkey whose counter did not
    /// grow (`passkey_clone_suspected`), newer than the last answer.
    pub async fn alarm(&self, user: UserId) -> Result<Option<EventKind>, CoreError> {
        let kinds = [EventKind::CodeReplayed, EventKind::PasskeyCloneSuspected, EventKind::ReplayAlarmCleared];
        let latest = self.log.latest_event_kind(user, &kinds).await?;
        Ok(latest.filter(|kind| *kind != EventKind::ReplayAlarmCleared))
    }

    /// The notices an event calls for, if notices are sent at all. A sign-in
    /// is from a new device when the account signed in before, but never with
    /// this user agent (checked before this event is written).
    async fn notices_for(&self, user: UserId, kind: EventKind, client: &ClientInfo) -> Result<Vec<Notice>, CoreError> {
        if self.notifiers.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match kind {
            EventKind::MfaEnabled => vec![Notice::MfaEnabled],
            EventKind::MfaDisabled => vec![Notice::MfaDisabled],
            EventKind::MfaResetByOperator => vec![Notice::MfaResetByOperator],
            EventKind::AuthenticatorAdded => vec![Notice::AuthenticatorAdded],
            EventKind::AuthenticatorRemoved => vec![Notice::AuthenticatorRemoved],
            EventKind::RecoveryCodeUsed => {
                let left = self.factors.unused_recovery_codes(user).await?.len();
                let mut notices = vec![Notice::RecoveryCodeUsed];
                if left <= RECOVERY_CODES_LOW {
                    notices.push(Notice::RecoveryCodesLow { left });
                }
                notices
            }
            EventKind::CodeReplayed => vec![Notice::CodeReplayed { first_from: None }],
            EventKind::MfaLocked => vec![Notice::Lockout { of: Guesses::Codes }],
            EventKind::Lockout => Vec::new(), // Recorded through `record_lockout`, which says of what.
            EventKind::DeviceTrusted => vec![Notice::DeviceTrusted],
            EventKind::PasskeyAdded => vec![Notice::PasskeyAdded],
            EventKind::PasskeyRemoved => vec![Notice::PasskeyRemoved],
            EventKind::PasskeyCloneSuspected => vec![Notice::PasskeyCloneSuspected],
            EventKind::PasswordChanged => vec![Notice::PasswordChanged],
            EventKind::PasswordReset => vec![Notice::PasswordReset],
            EventKind::DataExported => vec![Notice::DataExported],
            EventKind::SignedIn => {
                let earlier = self.log.list_events(user, LIST_LIMIT).await?;
                let sign_ins: Vec<_> = earlier.iter().filter(|e| e.kind == EventKind::SignedIn).collect();
                let known = sign_ins.iter().any(|e| e.client.user_agent == client.user_agent);
                if !sign_ins.is_empty() && !known {
                    vec![Notice::NewDevice]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        })
    }

    /// How many events of each kind this process recorded since it started.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        self.counts.lock().map(|counts| counts.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default()
    }

    /// The chain's head now, and the signed line to keep outside the
    /// database that `audit verify --head` reads back.
    pub async fn signed_head(&self) -> Result<(Head, String), CoreError> {
        let head = current_head(self.log.as_ref()).await?;
        let line = head.line(&self.chain);
        Ok((head, line))
    }

    /// The user's most recent events, newest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<EventRecord>, CoreError> {
        Ok(self.log.list_events(user, LIST_LIMIT).await?)
    }

    /// The user's events for an export of the account's data, newest first:
    /// all of them up to [`EXPORT_LIMIT`].
    pub async fn list_for_export(&self, user: UserId) -> Result<Vec<EventRecord>, CoreError> {
        Ok(self.log.list_events(user, EXPORT_LIMIT).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("kind_from_the_future"), None);
    }
}
