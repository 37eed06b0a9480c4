//! The security event log: who did what, when, from where.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::domain::UserId;
use crate::error::CoreError;
use crate::sessions::ClientInfo;
use crate::store::Store;

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
}

impl EventKind {
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
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Whose account.
    pub user_id: UserId,
    /// What happened ([`EventKind::as_str`]).
    pub kind: String,
    /// When.
    pub at: OffsetDateTime,
    /// From where.
    pub client: ClientInfo,
}

/// Records and lists security events.
#[derive(Clone)]
pub struct Events {
    store: Arc<dyn Store>,
    clock: SharedClock,
}

/// How many events a user sees at most.
const LIST_LIMIT: u32 = 100;

impl Events {
    /// Builds the service.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock) -> Self {
        Events { store, clock }
    }

    /// Records an event now. A failure to record fails the operation: an
    /// account change that leaves no trace must not happen.
    pub async fn record(&self, user: UserId, kind: EventKind, client: &ClientInfo) -> Result<(), CoreError> {
        let event = EventRecord {
            user_id: user,
            kind: kind.as_str().to_string(),
            at: self.clock.now(),
            client: client.clone(),
        };
        tracing::info!(user_id = %user, event = kind.as_str(), ip = ?client.ip, "security event");
        Ok(self.store.insert_event(&event).await?)
    }

    /// The user's most recent events, newest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<EventRecord>, CoreError> {
        Ok(self.store.list_events(user, LIST_LIMIT).await?)
    }
}
